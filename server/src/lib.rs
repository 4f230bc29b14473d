//! Yishi (议事): the room engine and, around it, the server shell.
//!
//! `room` is the pure engine (and `board` its between-meetings sibling) and `minutes` the
//! minutes (会议纪要) built from its record, pure too, as are `participation`'s records
//! (履职档案) built from the same reading; `hub` runs one actor per live room and the
//! WebSocket connections; `store` is
//! the durable record; `http` serves the API, metrics and the web client; `auth` and
//! `config` are the edges.

pub mod apikeys;
pub mod auth;
pub mod board;
pub mod bus;
pub mod config;
pub mod http;
pub mod hub;
pub mod live;
pub mod media;
pub mod minutes;
pub mod outbox;
pub mod participation;
pub mod pdf;
pub mod reports;
pub mod room;
pub mod roster;
pub mod staff;
pub mod statistics;
pub mod store;
pub mod webhooks;

pub use http::serve;
