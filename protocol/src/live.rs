//! The livestream (直播) as a room's record knows it: when it was on, where its
//! playlist is, the gaps of its encoder and the archived recording of the stage.
//!
//! Clients never cause these facts: the server's livestream reports them to the room
//! (no command carries them), and the room records them like any other event.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Millis;

/// A room's livestream while it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Livestream {
    /// The HLS playlist, a path on the server (`/live/ROOM/index.m3u8`).
    pub playlist: String,
    pub since: Millis,
}

/// Why a livestream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum LivestreamEnd {
    /// A host (or the operator) stopped it.
    Stopped,
    /// The session closed (the server stopped it and archived its recording first).
    SessionClosed,
    /// The server serving the room was restarted (or, in a cluster, the room moved to
    /// another node) while the stream was on: no worker runs for it any more.
    ServerRestarted,
}

/// A recording of the stage, archived when its livestream ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Recording {
    /// Its file name, as `GET /live/ROOM/recordings/FILE` serves it.
    pub file: String,
    #[ts(type = "number")]
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}
