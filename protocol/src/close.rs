//! WebSocket close codes the server ends a connection with, and what a client does on
//! each (docs/protocol.md, "Close codes"). Plain numbers: ts-rs exports types, not
//! constants, so the web client keeps its own copy (`web-client/src/app/conn.ts`: the
//! codes after which reconnecting is pointless, and the longer pause after 4004).

/// Too slow to keep up: reconnect and resume.
pub const RESUME: u16 = 4000;
/// The token is missing, forged or for another room.
pub const UNAUTHORIZED: u16 = 4001;
/// The token expired: get a new link.
pub const TOKEN_EXPIRED: u16 = 4002;
/// The protocol was not followed (no hello, wrong version).
pub const PROTOCOL: u16 = 4003;
/// The room's actor stopped (store failure or shutdown): reconnect and resume.
pub const UNAVAILABLE: u16 = 4004;
/// The same participant joined from another device: this connection is replaced.
pub const DISPLACED: u16 = 4005;
/// The message was larger than the server accepts.
pub const TOO_LARGE: u16 = 1009;
/// The peer broke a rule of the connection (a flood of control frames, a write buffer
/// it never drains).
pub const POLICY: u16 = 1008;
