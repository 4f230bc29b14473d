//! Wire types of Yishi (议事): what a client sends, what the server answers, and the
//! events of a room's record.
//!
//! This crate holds types only: no I/O, no async, no rules. The rules live in the
//! server's room engine; this crate only says what the messages look like. Every type
//! derives `ts_rs::TS`, and the TypeScript bindings in `web-client/src/protocol/` are
//! generated from it, so the web client cannot drift from the server.
//!
//! JSON shapes: enums are internally tagged by `type` (messages, commands, events) or
//! `kind` (poll methods and ballots), names in `snake_case`. Integers are at most 32 bits
//! except times, which are milliseconds since the Unix epoch typed as `number` in
//! TypeScript (exact up to 2^53).

pub mod close;
mod command;
mod error;
mod event;
mod floor;
mod ids;
mod live;
mod media;
mod message;
mod parse;
mod poll;
mod snapshot;
mod talk;

pub use command::*;
pub use error::*;
pub use event::*;
pub use floor::*;
pub use ids::*;
pub use live::*;
pub use media::*;
pub use message::*;
pub use poll::*;
pub use snapshot::*;
pub use talk::*;

/// The protocol version a client announces in its `hello`. A client speaking another
/// version is refused with [`ErrorCode::ProtocolVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The most characters a chat message, comment, question or annotation may have
/// (after Unicode NFC normalisation).
pub const MAX_TEXT_CHARS: usize = 500;
