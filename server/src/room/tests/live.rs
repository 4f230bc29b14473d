//! The livestream in the record: its facts, who may report them, the session's close.

use yishi_protocol::{Command, ErrorCode, Event, EventBody, LivestreamEnd, Recording, View};

use super::Fixture;
use crate::room::LiveFact;

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
