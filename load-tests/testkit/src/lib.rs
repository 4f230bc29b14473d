//! Test peers for Yishi (议事), shared by the server's integration tests (`server/tests`)
//! and the load tool (`load-tests`): the protocol client ([`client::Client`]), WebSocket
//! connections from a chosen loopback address ([`net`]), the webrtc-rs media bot
//! ([`media_peer::MediaPeer`]) with the VP8 clips it can send ([`clip`]), and where
//! nats-server is installed.
//!
//! It speaks to a server only over the wire: it depends on `yishi-protocol`, never on
//! `yishi-server`, so that the server's tests can use it without a dependency cycle.

pub mod client;
pub mod clip;
pub mod media_peer;
pub mod net;

pub use client::Client;
pub use net::{LOCALHOST, Ws, ws_connect};

use std::path::PathBuf;

/// Debian's nats-server binary, if installed (the cluster's tests and the load tool run
/// one of their own).
pub fn nats_server() -> Option<PathBuf> {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}
