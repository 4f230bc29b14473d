//! Library side of the load-test crate: reusable test peers and the clips they send.

pub mod clip;
pub mod media_peer;
