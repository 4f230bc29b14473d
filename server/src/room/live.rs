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
        let mut cx = Cx {
            actor,
            now: now.max(self.last_at),
            out: &mut out,
        };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use yishi_protocol::View;

    use super::*;
    use crate::room::tests::Fixture;

    fn started() -> LiveFact {
        LiveFact::Started {
            playlist: "/live/forum/index.m3u8".into(),
        }
    }

    fn recording() -> Recording {
        Recording {
            file: "rec-1.ts".into(),
            bytes: 1234,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn a_host_starts_the_livestream_and_the_audience_sees_where() {
        let mut f = Fixture::new();
        let host = f.host.clone();
        let out = f.room.livestream(Some(&host), &started(), f.now).unwrap();
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].actor.as_ref(), Some(host.id()));
        let seen = f.room.event_for(&out.events[0], View::Audience);
        assert!(seen.is_some(), "the audience is told the stream is on");
        let snapshot = f.room.snapshot(View::Audience, f.audience.id());
        let live = snapshot.livestream.unwrap();
        assert_eq!(live.playlist, "/live/forum/index.m3u8");
        assert_eq!(live.since, f.now);
        // Started twice: nothing more.
        assert!(
            f.room
                .livestream(Some(&host), &started(), f.now)
                .unwrap()
                .events
                .is_empty()
        );
    }

    #[test]
    fn only_a_host_starts_or_stops_it() {
        let mut f = Fixture::new();
        let m1 = f.m1.clone();
        let refused = f.room.livestream(Some(&m1), &started(), f.now).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        assert!(f.room.live().is_none());
        // The operator (no participant) may.
        f.room.livestream(None, &started(), f.now).unwrap();
        let refused = f
            .room
            .livestream(Some(&m1), &LiveFact::Stopped(LivestreamEnd::Stopped), f.now)
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        assert!(f.room.live().is_some());
    }

    #[test]
    fn gaps_and_the_recording_are_recorded_and_replayed() {
        let mut f = Fixture::new();
        let mut record: Vec<Event> = Vec::new();
        let t = f.now;
        for fact in [
            started(),
            LiveFact::Gap {
                from: t.plus(5_000),
                to: t.plus(6_000),
            },
            LiveFact::Stopped(LivestreamEnd::Stopped),
            LiveFact::Archived(recording()),
        ] {
            f.now = f.now.plus(10_000);
            record.extend(f.room.livestream(None, &fact, f.now).unwrap().events);
        }
        let bodies: Vec<_> = record.iter().map(|e| e.body.clone()).collect();
        assert_eq!(
            bodies[1],
            EventBody::LivestreamGap {
                from: t.plus(5_000),
                to: t.plus(6_000)
            }
        );
        assert_eq!(
            bodies[2],
            EventBody::LivestreamStopped {
                reason: LivestreamEnd::Stopped
            }
        );
        assert_eq!(
            bodies[3],
            EventBody::RecordingArchived {
                recording: recording()
            }
        );
        assert!(f.room.live().is_none());
        // A gap while it is off is nothing; a malformed hash is refused.
        let gap = LiveFact::Gap { from: t, to: t };
        assert!(
            f.room
                .livestream(None, &gap, f.now)
                .unwrap()
                .events
                .is_empty()
        );
        let bad = LiveFact::Archived(Recording {
            sha256: "not a hash".into(),
            ..recording()
        });
        assert_eq!(
            f.room.livestream(None, &bad, f.now).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn closing_the_session_ends_the_livestream_and_nothing_is_recorded_after() {
        let mut f = Fixture::new();
        f.room.livestream(None, &started(), f.now).unwrap();
        let host = f.host.clone();
        let closed = f.ok(&host, Command::CloseSession);
        let ended = closed
            .events
            .iter()
            .position(|e| {
                e.body
                    == EventBody::LivestreamStopped {
                        reason: LivestreamEnd::SessionClosed,
                    }
            })
            .expect("the close ends the livestream");
        assert_eq!(
            ended + 1,
            closed.events.len() - 1,
            "just before the close itself"
        );
        assert!(f.room.live().is_none());
        let late = f
            .room
            .livestream(None, &LiveFact::Archived(recording()), f.now)
            .unwrap_err();
        assert_eq!(late.code, ErrorCode::RoomClosed);
    }

    #[test]
    fn a_close_while_live_waits_for_the_stream_to_stop_and_its_recording() {
        let mut f = Fixture::new();
        let (host, m1) = (f.host.clone(), f.m1.clone());
        let close = Command::CloseSession;
        // Off: a close does not wait.
        assert!(!f.room.close_waits_for_livestream(&host, &close));
        f.room.livestream(None, &started(), f.now).unwrap();
        assert!(f.room.close_waits_for_livestream(&host, &close));
        // Not a close, or a close that is refused anyway: no wait.
        assert!(
            !f.room
                .close_waits_for_livestream(&host, &Command::PauseSession)
        );
        assert!(!f.room.close_waits_for_livestream(&m1, &close));
        // The server stops it for the close and archives the recording; then the close
        // records no second stop, and the record ends in the close.
        let stopped = f
            .room
            .livestream(
                Some(&host),
                &LiveFact::Stopped(LivestreamEnd::SessionClosed),
                f.now,
            )
            .unwrap();
        assert_eq!(stopped.events.len(), 1);
        assert_eq!(stopped.events[0].actor.as_ref(), Some(host.id()));
        let archived = f
            .room
            .livestream(None, &LiveFact::Archived(recording()), f.now)
            .unwrap();
        assert_eq!(archived.events.len(), 1);
        assert!(!f.room.close_waits_for_livestream(&host, &close));
        let closed = f.ok(&host, close);
        assert!(
            !closed
                .events
                .iter()
                .any(|e| matches!(e.body, EventBody::LivestreamStopped { .. })),
            "stopped once"
        );
        assert_eq!(
            closed.events.last().unwrap().body,
            EventBody::SessionChanged {
                state: yishi_protocol::SessionState::Closed
            }
        );
    }

    #[test]
    fn a_server_without_the_worker_ends_the_stream_in_the_record() {
        let mut f = Fixture::new();
        f.room.livestream(None, &started(), f.now).unwrap();
        let out = f
            .room
            .livestream(
                None,
                &LiveFact::Stopped(LivestreamEnd::ServerRestarted),
                f.now,
            )
            .unwrap();
        assert_eq!(
            out.events[0].body,
            EventBody::LivestreamStopped {
                reason: LivestreamEnd::ServerRestarted
            }
        );
        assert_eq!(out.events[0].actor, None);
        assert!(
            f.room
                .snapshot(View::Audience, f.audience.id())
                .livestream
                .is_none()
        );
    }
}
