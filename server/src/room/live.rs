//! The livestream (直播) in the record: when it went on and off and who did it, the gaps
//! of its encoder, the archived recording of the stage and its SHA-256.
//!
//! The server's livestream (`live/`) reports these facts with [`Room::livestream`], the
//! way the hub reports arrivals with [`Room::join`]: no client command carries them, so
//! no client can forge one. The room checks them (a started stream needs a host's
//! `manage_session`, nothing is recorded once the session is closed) and records them;
//! the audience learns from the snapshot and the events that the stream is on, and
//! where its playlist is. Closing the session ends the livestream in the same events.

use yishi_protocol::{
    Command, ErrorCode, Event, EventBody, Grant, Livestream, LivestreamEnd, Millis, Recording,
};

use super::{Actor, Applied, Cx, Rejection, Room, reject};

/// What the server's livestream reports to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveFact {
    /// The stage goes out at `playlist`.
    Started { playlist: String },
    /// It stopped: a host or the operator stopped it (`Stopped`), the server stopped it
    /// for the session's close (`SessionClosed`, before the close), or the room was
    /// loaded by a server that runs no worker for it (`ServerRestarted`).
    Stopped(LivestreamEnd),
    /// The encoder exited at `from`; a new one ran from `to`.
    Gap { from: Millis, to: Millis },
    /// The recording of the stretch that just ended, finalized and hashed.
    Archived(Recording),
}

impl Room {
    /// Record a fact of the livestream, reported by the server (by `actor`, a host, when
    /// one asked for it; `None`: the operator or the server itself). A fact that changes
    /// nothing (a start while it is on, a stop while it is off) records nothing.
    pub fn livestream(
        &mut self,
        actor: Option<&Actor>,
        fact: &LiveFact,
        now: Millis,
    ) -> Result<Applied, Rejection> {
        if self.session.is_closed() {
            return reject(
                ErrorCode::RoomClosed,
                "the session is closed; its record is read-only",
            );
        }
        if let (Some(actor), LiveFact::Started { .. } | LiveFact::Stopped(_)) = (actor, fact) {
            actor.require(Grant::ManageSession)?;
        }
        let mut out = Applied::default();
        let mut cx = self.cx(actor.map(Actor::id), now, &mut out);
        let body = match fact {
            LiveFact::Started { .. } | LiveFact::Gap { .. } | LiveFact::Stopped(_)
                if !self.live_on_fits(fact) =>
            {
                return Ok(out);
            }
            LiveFact::Started { playlist } => EventBody::LivestreamStarted {
                playlist: playlist.clone(),
            },
            LiveFact::Stopped(reason) => EventBody::LivestreamStopped { reason: *reason },
            LiveFact::Gap { from, to } if from > to => {
                return reject(ErrorCode::InvalidArgument, "a gap ends after it starts");
            }
            LiveFact::Gap { from, to } => EventBody::LivestreamGap {
                from: *from,
                to: *to,
            },
            LiveFact::Archived(recording) => {
                let hex = recording.sha256.len() == 64
                    && recording
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hex || recording.file.is_empty() {
                    return reject(
                        ErrorCode::InvalidArgument,
                        "a recording needs a file and its SHA-256",
                    );
                }
                EventBody::RecordingArchived {
                    recording: recording.clone(),
                }
            }
        };
        self.emit(&mut cx, body);
        Ok(out)
    }

    /// Whether a start, stop or gap fits the stream's state: a start while it is off, a
    /// stop or gap while it is on.
    fn live_on_fits(&self, fact: &LiveFact) -> bool {
        match fact {
            LiveFact::Started { .. } => self.live.is_none(),
            _ => self.live.is_some(),
        }
    }

    /// The livestream while it is on.
    pub fn live(&self) -> Option<&Livestream> {
        self.live.as_ref()
    }

    /// Whether `command` by `actor` closes the session while its livestream is on. Then
    /// the server stops the stream and archives its recording first (recording
    /// [`LiveFact::Stopped`] with `SessionClosed` and [`LiveFact::Archived`]) and applies
    /// the close after, so the recording's hash enters the record before the close seals
    /// it. A close that would be refused anyway (no `manage_session`, already closed)
    /// does not wait.
    pub fn close_waits_for_livestream(&self, actor: &Actor, command: &Command) -> bool {
        matches!(command, Command::CloseSession)
            && self.live.is_some()
            && !self.session.is_closed()
            && actor.can(Grant::ManageSession)
    }

    /// Closing the session ends its livestream (before the close itself, which seals the
    /// record) if the server has not stopped it first (it had no stream to stop, or the
    /// stop took too long).
    pub(crate) fn end_livestream_for_close(&mut self, cx: &mut Cx) {
        if self.live.is_some() {
            self.emit(
                cx,
                EventBody::LivestreamStopped {
                    reason: LivestreamEnd::SessionClosed,
                },
            );
        }
    }

    pub(crate) fn fold_live(&mut self, event: &Event) {
        match &event.body {
            EventBody::LivestreamStarted { playlist } => {
                self.live = Some(Livestream {
                    playlist: playlist.clone(),
                    since: event.at,
                });
            }
            EventBody::LivestreamStopped { .. } => self.live = None,
            _ => {}
        }
    }
}
