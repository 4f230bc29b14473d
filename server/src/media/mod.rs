//! Media: the SFU (selective forwarding unit) on str0m, where the floor decides who is
//! heard.
//!
//! One task owns one UDP socket and every peer's [`str0m::Rtc`]; nothing else touches
//! them. Connections hand it their signalling ([`Sfu::signal`]), room actors tell it
//! whose audio may be forwarded ([`Sfu::floor`]), and it answers on each connection's
//! own queue (`media_answer`, `media_offer`, `media_state`). Which track carries whom,
//! the stage and who is speaking are decided in [`routing`], without I/O.
//!
//! Audio of anyone the floor does not allow is dropped where it arrives, before any
//! subscriber sees it; a change of floor applies to the next packet. Nothing reaches
//! those who only receive (the audience, a venue's projector) before the session opens,
//! and closing the session ends every media session of the room ([`Sfu::session`]).

mod offer;
pub use offer::answer_offer;

// The rest is the shell's (tokio, sockets): without the `shell` feature only the offer's
// answer is built, for the fuzz targets.
#[cfg(feature = "shell")]
mod live;
#[cfg(feature = "shell")]
mod peer;
#[cfg(feature = "shell")]
mod rewrite;
#[cfg(feature = "shell")]
pub mod routing;
#[cfg(feature = "shell")]
mod sfu;
#[cfg(feature = "shell")]
mod turn;
#[cfg(feature = "shell")]
mod unit;
#[cfg(feature = "shell")]
mod wire;

#[cfg(feature = "shell")]
pub use live::{AUDIO_PAYLOAD_TYPE, KEYFRAME_EVERY, LiveTarget, VIDEO_PAYLOAD_TYPE};
#[cfg(feature = "shell")]
use sfu::Control;
#[cfg(feature = "shell")]
pub use sfu::{DEFAULT_MAX_PEERS, MediaConfig, Sfu};
#[cfg(feature = "shell")]
pub(crate) use sfu::{Owner, Signal};
#[cfg(feature = "shell")]
pub use turn::TurnConfig;
