//! Library side of the load-test crate: reusable test peers.

pub mod media_peer;
