//! Yishi (议事): the room engine and, around it, the server shell.
//!
//! `room` is the pure engine (and `board` its between-meetings sibling) and `minutes` the
//! minutes (会议纪要) built from its record, pure too, as are `participation`'s records
//! (履职档案) built from the same reading; `hub` runs one actor per live room and the
//! WebSocket connections; `store` is
//! the durable record; `http` serves the API, metrics and the web client; `auth` and
//! `config` are the edges.

// The pure engine and the media offer's answer build alone (`--no-default-features`:
// the fuzz targets); everything else is the shell's (the `shell` feature, on by default).
pub mod media;
pub mod room;

#[cfg(feature = "shell")]
pub mod apikeys;
#[cfg(feature = "shell")]
pub mod auth;
#[cfg(feature = "shell")]
pub mod board;
#[cfg(feature = "shell")]
pub mod bus;
#[cfg(feature = "shell")]
pub mod config;
#[cfg(feature = "shell")]
pub mod http;
#[cfg(feature = "shell")]
pub mod hub;
#[cfg(feature = "shell")]
pub mod live;
#[cfg(feature = "shell")]
pub mod minutes;
#[cfg(feature = "shell")]
pub mod outbox;
#[cfg(feature = "shell")]
pub mod participation;
#[cfg(feature = "shell")]
pub mod pdf;
#[cfg(feature = "shell")]
pub mod reports;
#[cfg(feature = "shell")]
pub mod roster;
#[cfg(feature = "shell")]
pub mod staff;
#[cfg(feature = "shell")]
pub mod statistics;
#[cfg(feature = "shell")]
pub mod store;
#[cfg(feature = "shell")]
pub mod webhooks;

#[cfg(feature = "shell")]
pub use http::serve;
