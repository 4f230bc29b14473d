//! What a room's actor needs of the server's livestreams (`live/`), which run beside the
//! rooms, not in them: whether this process runs a room's worker, and stopping it for
//! the session's close. A trait, so the hub does not depend on how livestreams work; set
//! once the livestreams exist ([`Hub::control_livestreams`](super::Hub)).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use yishi_protocol::Participant;

/// How long a close waits for the livestream to stop and its recording to be archived
/// before it closes anyway (then the close records the stop, and the recording's hash is
/// only beside the file). A worker gets 5 s to finish; archiving copies the segments.
pub const CLOSE_WAIT: Duration = Duration::from_secs(30);

pub trait LiveControl: Send + Sync {
    /// Whether this process runs the livestream worker of `room`.
    fn runs(&self, room: &str) -> bool;

    /// Stop the livestream of `room` for its session's close (`by`: the host closing it;
    /// `None`: the operator): the worker finishes, the recording is archived, and the
    /// room is told both (`livestream_stopped` with `session_closed`,
    /// `recording_archived`) before the future ends.
    fn stop_for_close(
        &self,
        room: String,
        by: Option<Participant>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    /// Start the livestream of `room`, whose session has just opened and whose meeting
    /// is set to stream (no host asked: the record has no actor).
    fn start_with_session(
        &self,
        room: String,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// The livestreams, once they are known to the hub (shared with every room's actor).
pub type LiveSlot = Arc<OnceLock<Arc<dyn LiveControl>>>;
