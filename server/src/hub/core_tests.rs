//! The core without a network or a clock: real outboxes read back, commits stood in for
//! by calling `committed` (a store that always succeeds), time as an argument. After
//! every step the core's invariants are checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::sync::oneshot;
use yishi_protocol::{
    Base, Choice, Command, ErrorCode, Majority, MajorityRule, Millis, Participant, PollId,
    PollMethod, PollSpec, RequestId, ResultsVisibility, Role, ServerMessage, YesNo,
};

use super::{Attach, ConnId, Input, RoomCore};
use crate::hub::HubConfig;
use crate::outbox::{Inbox, Out, close, outbox};
use crate::store::{Loaded, RoomKind, StoredRoom};

const T0: Millis = Millis(1_750_000_000_000);

/// A connection as the core sees it: what it was sent, and how it was closed.
struct Conn {
    id: ConnId,
    /// Close frames queued after what was sent.
    closes: Vec<u16>,
    inbox: Inbox,
    kill: oneshot::Receiver<(u16, &'static str)>,
    reply: oneshot::Receiver<Result<Participant, yishi_protocol::ErrorMessage>>,
}

impl Conn {
    /// The messages sent to it since the last look, and a close, if any.
    fn sent(&mut self) -> Vec<ServerMessage> {
        let mut sent = Vec::new();
        for out in self.inbox.drain() {
            match out {
                Out::Frame(t) => sent.push(serde_json::from_str(t.as_str()).unwrap()),
                Out::Close(code, _) => self.closes.push(code),
            }
        }
        sent
    }

    /// How it was closed: a close frame after what was queued, or cut at once.
    fn closed_with(&mut self) -> Option<u16> {
        self.sent();
        self.closes
            .first()
            .copied()
            .or_else(|| self.kill.try_recv().ok().map(|(code, _)| code))
    }
}

struct Room {
    core: RoomCore,
    now: Millis,
    next: ConnId,
}

impl Room {
    fn new(config: HubConfig) -> Room {
        let stored = StoredRoom {
            id: "r1".into(),
            title: "协商会".into(),
            kind: RoomKind::Consultation,
            created_at: T0,
            closed_at: None,
            final_hash: None,
            settings: serde_json::json!({}),
        };
        Room {
            core: RoomCore::new(&stored, Loaded::default(), config, T0),
            now: T0,
            next: 1,
        }
    }

    /// A turn with these inputs, committed.
    fn turn(&mut self, inputs: Vec<Input>) {
        self.now = self.now.plus(10);
        let turn = self.core.apply(inputs, self.now);
        let committed = self.core.committed(turn, self.now);
        if let Some(sealing) = committed.sealing {
            self.core.sealed(sealing);
        }
        self.core.check_invariants();
    }

    fn join(&mut self, who: Participant, queue: usize) -> Conn {
        let (out, inbox) = outbox(queue);
        let (kill_tx, kill) = oneshot::channel();
        let (reply_tx, reply) = oneshot::channel();
        let id = self.next;
        self.next += 1;
        self.turn(vec![Input::Attach(Box::new(Attach {
            conn: id,
            participant: who,
            resume: None,
            outbox: out,
            kill: kill_tx,
            reply: reply_tx,
        }))]);
        let mut c = Conn {
            id,
            closes: Vec::new(),
            inbox,
            kill,
            reply,
        };
        assert!(matches!(c.reply.try_recv(), Ok(Ok(_))), "attached");
        let first = c.sent();
        assert!(
            matches!(first.first(), Some(ServerMessage::Welcome(_))),
            "{first:?}"
        );
        c
    }

    fn command(&self, c: &Conn, req: &str, command: Command) -> Input {
        Input::Command {
            conn: c.id,
            req: RequestId(req.into()),
            command: Box::new(command),
        }
    }

    /// `c` adds agenda item `i` in a turn of its own.
    fn add_item(&mut self, c: &Conn, i: usize) {
        let input = self.command(
            c,
            &format!("q{i}"),
            Command::AddAgendaItem {
                title: format!("议程{i}"),
                settings: Default::default(),
            },
        );
        self.turn(vec![input]);
    }
}

fn host() -> Participant {
    Participant::new("host", "主持人", Role::Host)
}

fn member(id: &str) -> Participant {
    Participant::new(id, format!("委员{id}"), Role::Member)
}

fn acks(sent: &[ServerMessage]) -> Vec<String> {
    sent.iter()
        .filter_map(|m| match m {
            ServerMessage::Ack(a) => Some(a.req.0.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_command_is_shown_and_acknowledged_only_once_its_turn_is_committed() {
    let mut r = Room::new(HubConfig::default());
    let mut h = r.join(host(), 64);
    let mut m = r.join(member("m1"), 64);
    h.sent();
    let input = r.command(&h, "q1", Command::StartSession);
    let turn = r.core.apply(vec![input], r.now);
    assert!(turn.append.is_some(), "an event to commit");
    assert!(
        h.sent().is_empty() && m.sent().is_empty(),
        "nothing before the commit"
    );
    let committed = r.core.committed(turn, r.now);
    assert!(committed.sealing.is_none() && committed.closed_at.is_none());
    let to_host = h.sent();
    assert!(
        matches!(to_host[0], ServerMessage::Events(_)),
        "{to_host:?}"
    );
    assert_eq!(acks(&to_host), ["q1"], "the ack after the batch");
    assert!(matches!(m.sent()[..], [ServerMessage::Events(_)]));
    r.core.check_invariants();
}

#[test]
fn a_refusal_is_sent_at_once_and_a_retry_is_acknowledged_without_being_applied() {
    let mut r = Room::new(HubConfig::default());
    let mut m = r.join(member("m1"), 64);
    let refused = r.command(&m, "q1", Command::StartSession);
    let turn = r.core.apply(vec![refused], r.now);
    assert!(turn.append.is_none());
    let sent = m.sent();
    assert!(
        matches!(&sent[..], [ServerMessage::Error(e)] if e.code == ErrorCode::Forbidden),
        "{sent:?}"
    );
    let _ = r.core.committed(turn, r.now);
    let chat = |r: &Room, m: &Conn| {
        r.command(
            m,
            "q2",
            Command::SendChat {
                text: "大家好".into(),
            },
        )
    };
    let first = chat(&r, &m);
    r.turn(vec![first]);
    let seq = r.core.seq();
    m.sent();
    let again = chat(&r, &m);
    let turn = r.core.apply(vec![again], r.now);
    assert!(turn.append.is_none(), "a retry changes nothing");
    let _ = r.core.committed(turn, r.now);
    let sent = m.sent();
    assert!(
        matches!(&sent[..], [ServerMessage::Ack(a)] if a.seq == Some(seq)),
        "{sent:?}"
    );
}

#[test]
fn each_view_gets_only_what_it_may_see() {
    let mut r = Room::new(HubConfig::default());
    let mut h = r.join(host(), 64);
    let mut m = r.join(member("m1"), 64);
    let mut a = r.join(Participant::new("a1", "网民", Role::Audience), 64);
    h.sent();
    m.sent();
    a.sent();
    let chat = r.command(
        &m,
        "q1",
        Command::SendChat {
            text: "委员之间的交流".into(),
        },
    );
    r.turn(vec![chat]);
    assert!(matches!(h.sent()[..], [ServerMessage::Events(_)]));
    assert_eq!(acks(&m.sent()), ["q1"]);
    assert!(a.sent().is_empty(), "the audience never sees members' chat");
}

#[test]
fn a_full_queue_resynchronises_a_viewer_and_tells_a_member_to_resume() {
    let mut r = Room::new(HubConfig::default());
    let mut h = r.join(host(), 1024);
    let mut m = r.join(member("m1"), 2);
    let mut a = r.join(Participant::new("a1", "网民", Role::Audience), 2);
    h.sent();
    // Nobody reads m's and a's queues while the host talks.
    let open = r.command(&h, "o", Command::OpenCheckIn);
    r.turn(vec![open]);
    let start = r.command(&h, "s", Command::StartSession);
    r.turn(vec![start]);
    for i in 0..4 {
        r.add_item(&h, i);
    }
    assert_eq!(m.closed_with(), Some(close::RESUME));
    // The viewer, once it has room again, gets a fresh snapshot instead of what it missed.
    a.sent();
    r.core.timers(r.now.plus(200));
    let sent = a.sent();
    assert!(
        matches!(&sent[..], [ServerMessage::Welcome(w)] if w.snapshot.as_ref().is_some_and(|s| s.seq == r.core.seq())),
        "{sent:?}"
    );
    r.core.check_invariants();
}

#[test]
fn a_second_device_of_a_member_displaces_the_first() {
    let mut r = Room::new(HubConfig::default());
    let mut laptop = r.join(member("m1"), 64);
    let _phone = r.join(member("m1"), 64);
    let sent = laptop.sent();
    assert!(
        sent.iter()
            .any(|m| matches!(m, ServerMessage::Error(e) if e.code == ErrorCode::Displaced)),
        "{sent:?}"
    );
    assert_eq!(laptop.closed_with(), Some(close::DISPLACED));
    // The laptop's commands are ignored; it gets nothing more.
    let ignored = r.command(
        &laptop,
        "q1",
        Command::SendChat {
            text: "旧设备".into(),
        },
    );
    let turn = r.core.apply(vec![ignored], r.now);
    assert!(turn.append.is_none());
    let _ = r.core.committed(turn, r.now);
    assert!(laptop.sent().is_empty());
    // When it goes, the member is still present: the phone is connected.
    r.turn(vec![Input::Detach { conn: laptop.id }]);
    assert!(r.core.seq() > 0);
}

fn secret_poll() -> PollSpec {
    PollSpec {
        question: "无记名表决".into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: false,
        secret: true,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}

#[test]
fn secret_ballots_are_acknowledged_when_their_batch_is_sealed_apart_from_their_voters() {
    let mut r = Room::new(HubConfig {
        ballot_batch: 2,
        ..HubConfig::default()
    });
    let mut h = r.join(host(), 256);
    let mut m1 = r.join(member("m1"), 256);
    let mut m2 = r.join(member("m2"), 256);
    let mut m3 = r.join(member("m3"), 256);
    for (c, req) in [(&m1, "c1"), (&m2, "c2"), (&m3, "c3")] {
        let input = r.command(c, req, Command::CheckIn { head_count: None });
        r.turn(vec![input]);
    }
    for (req, command) in [
        ("o", Command::OpenCheckIn),
        ("s", Command::StartSession),
        (
            "p",
            Command::CreatePoll {
                spec: secret_poll(),
            },
        ),
        ("o1", Command::OpenPoll { poll: PollId(1) }),
    ] {
        let input = r.command(&h, req, command);
        r.turn(vec![input]);
    }
    let ballot = |r: &Room, c: &Conn, req: &str| {
        r.command(
            c,
            req,
            Command::CastBallot {
                poll: PollId(1),
                choice: Choice::YesNoAbstain { vote: YesNo::Yes },
            },
        )
    };
    // m1 votes: its voter is recorded, nothing goes to the box, no ack yet.
    let input = ballot(&r, &m1, "b1");
    let turn = r.core.apply(vec![input], r.now);
    let append = turn.append.as_ref().unwrap();
    assert!(
        append.sealed.is_empty(),
        "the voter's transaction holds no choice"
    );
    let committed = r.core.committed(turn, r.now);
    assert!(committed.sealing.is_none());
    assert!(acks(&m1.sent()).is_empty());
    // m2 votes: the batch of two is sealed in a transaction of its own, then both acked.
    let input = ballot(&r, &m2, "b2");
    let turn = r.core.apply(vec![input], r.now);
    assert!(turn.append.as_ref().unwrap().sealed.is_empty());
    let committed = r.core.committed(turn, r.now);
    let sealing = committed.sealing.expect("a full batch");
    assert!(
        sealing.append.entries.is_empty(),
        "no event beside the choices"
    );
    assert_eq!(sealing.append.sealed.len(), 2);
    assert!(acks(&m1.sent()).is_empty() && acks(&m2.sent()).is_empty());
    r.core.sealed(sealing);
    assert_eq!(acks(&m1.sent()), ["b1"]);
    assert_eq!(acks(&m2.sent()), ["b2"]);
    // m3 votes alone; its retry waits with it; the close seals it, the last batch of one.
    let input = ballot(&r, &m3, "b3");
    r.turn(vec![input]);
    let retry = ballot(&r, &m3, "b3");
    r.turn(vec![retry]);
    assert!(acks(&m3.sent()).is_empty());
    h.sent();
    let close = r.command(&h, "c", Command::ClosePoll { poll: PollId(1) });
    let turn = r.core.apply(vec![close], r.now);
    let committed = r.core.committed(turn, r.now);
    let sealing = committed.sealing.expect("the last ballot at the close");
    assert_eq!(sealing.append.sealed.len(), 1);
    r.core.sealed(sealing);
    assert_eq!(acks(&m3.sent()), ["b3", "b3"]);
    r.core.check_invariants();
}

#[test]
fn a_departed_viewer_is_forgotten_after_the_grace() {
    let mut r = Room::new(HubConfig {
        resume_grace: std::time::Duration::from_secs(30),
        ..HubConfig::default()
    });
    let a = r.join(Participant::new("a1", "网民", Role::Audience), 16);
    r.turn(vec![Input::Detach { conn: a.id }]);
    let left = r.now;
    assert_eq!(r.core.sessions.len(), 1);
    r.core.timers(left.plus(29_000));
    assert_eq!(r.core.sessions.len(), 1, "kept within the grace");
    r.core.timers(left.plus(30_000));
    assert_eq!(r.core.sessions.len(), 0, "forgotten after it");
}

#[test]
fn a_close_while_live_is_held_until_the_stream_has_stopped_and_its_recording_is_recorded() {
    use crate::room::LiveFact;
    use yishi_protocol::{EventBody, LivestreamEnd, Recording, SessionState};
    let mut r = Room::new(HubConfig::default());
    let mut h = r.join(host(), 64);
    let start = r.command(&h, "s", Command::StartSession);
    r.turn(vec![start]);
    let fact = |fact: LiveFact| Input::Livestream {
        by: None,
        fact,
        reply: oneshot::channel().0,
    };
    r.turn(vec![fact(LiveFact::Started {
        playlist: "/live/r1/index.m3u8".into(),
    })]);
    assert!(r.core.live_on());
    h.sent();
    // The close is held: nothing recorded or acknowledged, and the stop is asked for by
    // the host who closed.
    let close = r.command(&h, "c", Command::CloseSession);
    let turn = r.core.apply(vec![close], r.now);
    assert!(turn.append.is_none(), "the close waits");
    let _ = r.core.committed(turn, r.now);
    assert_eq!(
        r.core.take_live_stop().map(|by| by.map(|p| p.id.0)),
        Some(Some("host".to_owned()))
    );
    assert!(acks(&h.sent()).is_empty());
    // The server stops the stream and archives the recording: both recorded.
    r.turn(vec![
        fact(LiveFact::Stopped(LivestreamEnd::SessionClosed)),
        fact(LiveFact::Archived(Recording {
            file: "stage-1.ts".into(),
            bytes: 1,
            sha256: "ab".repeat(32),
        })),
    ]);
    // Released: the close applies after them, and is acknowledged.
    h.sent();
    r.turn(vec![Input::LiveStopped]);
    let sent = h.sent();
    assert_eq!(acks(&sent), ["c"]);
    let bodies: Vec<EventBody> = sent
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Events(batch) => Some(batch.events.iter().map(|e| e.body.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        !bodies
            .iter()
            .any(|b| matches!(b, EventBody::LivestreamStopped { .. })),
        "stopped once: {bodies:?}"
    );
    assert_eq!(
        bodies.last(),
        Some(&EventBody::SessionChanged {
            state: SessionState::Closed
        })
    );
    assert!(r.core.take_live_stop().is_none());
}

/// What a viewer saw, checked as the client checks it: each batch follows the one
/// before, or a welcome's snapshot starts over.
#[derive(Default)]
struct Seen {
    through: u32,
    events: Vec<yishi_protocol::Event>,
    welcomes: usize,
}

impl Seen {
    fn take(&mut self, sent: Vec<ServerMessage>) {
        for message in sent {
            match message {
                ServerMessage::Welcome(w) => {
                    self.through = w.snapshot.expect("a snapshot").seq;
                    self.welcomes += 1;
                }
                ServerMessage::Events(batch) => {
                    assert_eq!(batch.from, self.through + 1, "a batch follows the last");
                    self.through = batch.through;
                    self.events.extend(batch.events);
                }
                _ => {}
            }
        }
    }

    fn after(&self, seq: u32) -> Vec<yishi_protocol::Event> {
        self.events
            .iter()
            .filter(|e| e.seq > seq)
            .cloned()
            .collect()
    }
}

/// A mirror fed by the room's broadcast, as NATS would carry it, and the stream that
/// keeps the event broadcasts (by subject, the last of each, as JetStream would).
struct Mirrored {
    core: crate::hub::mirror_core::MirrorCore,
    next: ConnId,
    stream: std::collections::HashMap<String, (async_nats::HeaderMap, bytes::Bytes)>,
    /// Event broadcasts still to be lost on the way to this mirror (the stream keeps
    /// them).
    lose: usize,
}

impl Mirrored {
    fn new() -> Mirrored {
        Mirrored {
            core: crate::hub::mirror_core::MirrorCore::new(),
            next: 1,
            stream: std::collections::HashMap::new(),
            lose: 0,
        }
    }

    fn feed(&mut self, r: &mut Room) -> Vec<crate::hub::mirror_core::Next> {
        let mut next = Vec::new();
        for item in r.core.take_broadcast() {
            let node = crate::bus::NodeId::new("owner").unwrap();
            let (subject, headers, payload) = crate::hub::mirror::publication(item, "room", &node);
            let events = subject.contains(".e.");
            if events {
                self.stream
                    .entry(subject)
                    .or_insert((headers.clone(), payload.clone()));
            }
            if events && self.lose > 0 {
                self.lose -= 1;
                continue;
            }
            let published = crate::hub::mirror::decode(&headers, &payload).expect("a broadcast");
            next.push(self.core.published(published, r.now).0);
        }
        next
    }

    /// Fill a gap from the stream, as the mirror's task does.
    fn fill(&mut self, r: &Room, from: yishi_protocol::Seq) -> crate::hub::mirror_core::Next {
        use crate::hub::mirror_core::Published;
        let mut found = Vec::new();
        let mut next = from;
        while let Some((headers, payload)) = self
            .stream
            .get(&format!("yishi.room.room.audience.e.{next}"))
        {
            let published = crate::hub::mirror::decode(headers, payload).expect("a broadcast");
            let Published::Events { through, .. } = &published else {
                unreachable!("only events are kept")
            };
            next = through + 1;
            found.push(published);
        }
        self.core.filled(from, found, r.now)
    }

    fn snapshot(&mut self, r: &mut Room) {
        let (reply, mut rx) = oneshot::channel();
        r.turn(vec![Input::AudienceSnapshot { reply }]);
        let state = rx.try_recv().expect("answered once committed");
        let snapshot = crate::hub::mirror_core::Snapshot {
            seq: state.seq,
            through: state.through,
            snapshot: state.snapshot,
            viewers: state.viewers,
        };
        self.feed(r);
        self.core.snapshot(snapshot, r.now);
    }

    fn join(&mut self, r: &Room, queue: usize) -> Conn {
        let (out, inbox) = outbox(queue);
        let (kill_tx, kill) = oneshot::channel();
        let (reply_tx, reply) = oneshot::channel();
        let id = self.next;
        self.next += 1;
        let who = Participant::new(format!("aud-{id}"), "观众", Role::Audience);
        let attach = Attach {
            conn: id,
            participant: who.clone(),
            resume: None,
            outbox: out,
            kill: kill_tx,
            reply: reply_tx,
        };
        self.core.attach(attach, who, format!("s{id}"));
        // The owner answers the heartbeat sent for it at once.
        assert!(self.core.wants_heartbeat());
        let n = self.core.heartbeat();
        self.core.heard(n, r.core.seq(), false, r.now);
        Conn {
            id,
            closes: Vec::new(),
            inbox,
            kill,
            reply,
        }
    }
}

#[test]
fn a_mirror_fed_by_the_broadcast_shows_its_viewers_what_a_local_viewer_sees() {
    use crate::hub::mirror_core::Next;
    let mut r = Room::new(HubConfig::default());
    r.core.broadcast_audience();
    let mut h = r.join(host(), 1024);
    let mut local = r.join(Participant::new("a1", "网民", Role::Audience), 1024);
    let mut local_seen = Seen {
        through: r.core.seq(),
        ..Seen::default()
    };
    h.sent();
    local.sent();
    let mut mirror = Mirrored::new();
    // A viewer waits for the first snapshot; a turn's broadcast meanwhile is held.
    let mut early = mirror.join(&r, 1024);
    let open = r.command(&h, "o", Command::OpenCheckIn);
    r.turn(vec![open]);
    assert_eq!(mirror.feed(&mut r), [Next::Nothing]);
    assert!(early.sent().is_empty(), "nothing before the snapshot");
    mirror.snapshot(&mut r);
    assert!(matches!(early.reply.try_recv(), Ok(Ok(_))), "welcomed");
    let mut early_seen = Seen::default();
    early_seen.take(early.sent());
    let start = r.command(&h, "s", Command::StartSession);
    r.turn(vec![start]);
    mirror.feed(&mut r);
    for i in 0..3 {
        r.add_item(&h, i);
        assert_eq!(mirror.feed(&mut r), [Next::Nothing]);
    }
    // A viewer joining now gets the snapshot and the tail since it.
    let mut late = mirror.join(&r, 1024);
    let mut late_seen = Seen::default();
    late_seen.take(late.sent());
    assert_eq!(late_seen.through, r.core.seq(), "caught up at once");
    r.add_item(&h, 3);
    mirror.feed(&mut r);
    local_seen.take(local.sent());
    early_seen.take(early.sent());
    late_seen.take(late.sent());
    let from = early_seen.through.min(local_seen.through);
    assert!(!local_seen.after(0).is_empty());
    assert_eq!(early_seen.through, r.core.seq());
    assert_eq!(
        local_seen.after(from),
        early_seen.after(from),
        "the same events"
    );
    assert_eq!(
        late_seen.after(late_seen.events[0].seq - 1),
        local_seen.after(late_seen.events[0].seq - 1)
    );

    // A broadcast lost on the way to this node: the next one shows the gap, which is
    // filled from the stream before anything later is delivered: the viewers see the
    // events they missed, in order, without being resynchronised.
    mirror.lose = 1;
    let gap = r.core.seq() + 1;
    r.add_item(&h, 4);
    assert!(mirror.feed(&mut r).is_empty(), "lost");
    r.add_item(&h, 5);
    assert_eq!(mirror.feed(&mut r), [Next::Fill(gap)]);
    assert_eq!(mirror.fill(&r, gap), Next::Nothing);
    early_seen.take(early.sent());
    late_seen.take(late.sent());
    assert_eq!((early_seen.welcomes, late_seen.welcomes), (1, 1));
    assert_eq!(early_seen.through, r.core.seq());
    assert_eq!(late_seen.through, r.core.seq());

    // A broadcast the owner never published (the stream does not have it either): the
    // gap is resynchronised from a snapshot, and the viewers go on in order.
    r.turn(vec![Input::LoseNextBroadcast]);
    let gap = r.core.seq() + 1;
    r.add_item(&h, 6);
    assert!(mirror.feed(&mut r).is_empty(), "lost");
    r.add_item(&h, 7);
    assert_eq!(mirror.feed(&mut r), [Next::Fill(gap)]);
    assert_eq!(mirror.fill(&r, gap), Next::Fetch);
    mirror.snapshot(&mut r);
    r.add_item(&h, 8);
    mirror.feed(&mut r);
    early_seen.take(early.sent());
    late_seen.take(late.sent());
    assert_eq!((early_seen.welcomes, late_seen.welcomes), (2, 2));
    assert_eq!(early_seen.through, r.core.seq());
    assert_eq!(late_seen.through, r.core.seq());

    // A mirrored viewer's command is applied as that viewer and answered after its
    // commit, with the broadcast it must be shown after.
    let asker = Participant::new("aud-9", "观众", Role::Audience);
    let (reply, mut answered) = oneshot::channel();
    let ask = Input::Remote {
        participant: asker,
        req: RequestId("ask-1".into()),
        command: Box::new(Command::AskQuestion {
            text: "镜像节点上的提问".into(),
        }),
        reply,
    };
    let turn = r.core.apply(vec![ask], r.now);
    assert!(answered.try_recv().is_err(), "not before the commit");
    let _ = r.core.committed(turn, r.now);
    let (outcome, through) = answered.try_recv().expect("answered");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(through <= r.core.seq());
    r.core.check_invariants();

    // The owner stops: every mirrored viewer is told to come back.
    r.core.dismiss();
    assert!(mirror.feed(&mut r).contains(&Next::End));
    assert_eq!(early.closed_with(), Some(close::UNAVAILABLE));
}

#[test]
fn a_slow_mirrored_viewer_is_resynchronised_once_it_has_room() {
    let mut r = Room::new(HubConfig::default());
    r.core.broadcast_audience();
    let h = r.join(host(), 1024);
    let mut mirror = Mirrored::new();
    mirror.snapshot(&mut r);
    let mut slow = mirror.join(&r, 4);
    let mut fast = mirror.join(&r, 1024);
    let (mut slow_seen, mut fast_seen) = (Seen::default(), Seen::default());
    slow_seen.take(slow.sent());
    fast_seen.take(fast.sent());
    assert!(!mirror.core.lagging(), "nobody behind");
    let start = r.command(&h, "s", Command::StartSession);
    r.turn(vec![start]);
    mirror.feed(&mut r);
    let agenda = |r: &mut Room, mirror: &mut Mirrored, i: usize| {
        r.add_item(&h, i);
        mirror.feed(r);
    };
    for i in 0..6 {
        agenda(&mut r, &mut mirror, i);
    }
    assert!(mirror.core.lagging(), "the slow viewer fell behind");
    slow_seen.take(slow.sent());
    // Its welcome and the tail since the snapshot do not fit its queue: still behind.
    mirror.core.catch_up(r.now);
    assert!(mirror.core.lagging(), "still behind");
    slow_seen.take(slow.sent());
    // A fresher snapshot shortens the tail: the next catch-up gets it through.
    mirror.snapshot(&mut r);
    mirror.core.catch_up(r.now);
    assert!(!mirror.core.lagging(), "nobody behind once resynchronised");
    agenda(&mut r, &mut mirror, 6);
    slow_seen.take(slow.sent());
    fast_seen.take(fast.sent());
    assert_eq!(fast_seen.welcomes, 1, "the fast viewer was never held up");
    assert_eq!(fast_seen.through, r.core.seq());
    assert!(slow_seen.welcomes >= 2, "resynchronised from a snapshot");
    assert_eq!(slow_seen.through, r.core.seq(), "and in step again");
}

#[test]
fn mirrored_viewers_are_counted_by_the_owner_until_their_count_expires() {
    let mut r = Room::new(HubConfig::default());
    r.core.broadcast_audience();
    let mut h = r.join(host(), 1024);
    let (reply, _) = oneshot::channel();
    r.turn(vec![Input::MirrorViewers {
        node: "n2".into(),
        count: 5,
        reply,
    }]);
    let counts = |sent: Vec<ServerMessage>| -> Vec<u32> {
        sent.into_iter()
            .filter_map(|m| match m {
                ServerMessage::Viewers { count } => Some(count),
                _ => None,
            })
            .collect()
    };
    h.sent();
    r.core.timers(r.now.plus(1_000));
    assert_eq!(counts(h.sent()), [5]);
    // Not renewed: gone after 3 s.
    r.core.timers(r.now.plus(3_100));
    r.core.timers(r.now.plus(4_200));
    assert_eq!(counts(h.sent()), [0]);
}

#[test]
fn recent_forgets_the_participant_seen_longest_ago() {
    use yishi_protocol::ParticipantId;
    let id = |n: u32| ParticipantId(format!("p{n}"));
    let mut recent = super::Recent::new(3);
    for n in 0..3 {
        recent.saw(&id(n));
    }
    // p0 is seen again: p1 is now the one seen longest ago.
    recent.saw(&id(0));
    recent.saw(&id(3));
    assert!(!recent.contains(&id(1)));
    assert!([0, 2, 3].into_iter().all(|n| recent.contains(&id(n))));
    // Seen over and over, one participant keeps the others and itself.
    for _ in 0..100 {
        recent.saw(&id(3));
    }
    assert!([0, 2, 3].into_iter().all(|n| recent.contains(&id(n))));
    assert!(recent.order.len() <= 6, "stale sightings are dropped");
    recent.saw(&id(4));
    assert!(!recent.contains(&id(2)), "p2 was seen before p0");
    assert!([0, 3, 4].into_iter().all(|n| recent.contains(&id(n))));
}

#[test]
fn a_mirrored_viewer_gets_its_private_events_as_an_audience_subscriber_of_the_owner() {
    use yishi_protocol::{CommentId, Decision, EventBody, ItemStatus, RejectReason};
    let mut r = Room::new(HubConfig::default());
    r.core.broadcast_audience();
    let mut h = r.join(host(), 1024);
    let mut mirror = Mirrored::new();
    mirror.snapshot(&mut r);
    // Two viewers on the mirror; on the owner, an audience connection of the first
    // viewer's identity (an audience token may be used twice), the standard to meet.
    let mut author = mirror.join(&r, 1024);
    let mut other = mirror.join(&r, 1024);
    let author_id = Participant::new(format!("aud-{}", author.id), "观众", Role::Audience);
    let mut local = r.join(author_id.clone(), 1024);
    let base = r.core.seq();
    mirror.feed(&mut r);
    let mut seen: [Seen; 3] = Default::default();
    for (s, c) in seen.iter_mut().zip([&mut author, &mut other]) {
        s.take(c.sent());
    }
    seen[2].through = base;
    h.sent();
    let remote = |text: &str, req: &str| {
        let (reply, answered) = oneshot::channel();
        let input = Input::Remote {
            participant: author_id.clone(),
            req: RequestId(req.into()),
            command: Box::new(Command::PostComment { text: text.into() }),
            reply,
        };
        (input, answered)
    };
    let mut look = |r: &mut Room, mirror: &mut Mirrored, seen: &mut [Seen; 3]| {
        mirror.feed(r);
        seen[0].take(author.sent());
        seen[1].take(other.sent());
        seen[2].take(local.sent());
    };

    // A comment held for moderation: its author sees it pending, with the
    // acknowledgement after it; nobody else sees it.
    let (input, mut answered) = remote("镜像上的评论", "c1");
    r.turn(vec![input]);
    let (outcome, through) = answered.try_recv().expect("answered");
    let posted = outcome.unwrap().expect("a sequence number");
    assert!(through >= posted, "answered after its broadcast");
    look(&mut r, &mut mirror, &mut seen);
    let pending = |s: &Seen| -> Vec<CommentId> {
        s.events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::CommentPosted { comment } if comment.status == ItemStatus::Pending => {
                    Some(comment.id)
                }
                _ => None,
            })
            .collect()
    };
    let first = pending(&seen[0]);
    assert_eq!(first.len(), 1, "{:?}", seen[0].events);
    assert!(seen[1].after(base).is_empty(), "{:?}", seen[1].events);
    assert_eq!(seen[0].through, r.core.seq());

    // A second comment in the same turn as events every viewer sees: the author gets
    // them merged in order, the other viewer only the public ones.
    let (input, _answered) = remote("第二条评论", "c2");
    let open = r.command(&h, "o", Command::OpenCheckIn);
    let start = r.command(&h, "s", Command::StartSession);
    r.turn(vec![open, input, start]);
    look(&mut r, &mut mirror, &mut seen);
    assert_eq!(pending(&seen[0]).len(), 2);
    assert!(pending(&seen[1]).is_empty() && !seen[1].after(base).is_empty());

    // The host rejects the first with a reason and approves the second: the rejection
    // reaches its author alone, the approval everyone.
    let comment = first[0];
    let reject = r.command(
        &h,
        "m1",
        Command::ModerateComment {
            comment,
            decision: Decision::Reject {
                reason: RejectReason::OffTopic,
            },
        },
    );
    r.turn(vec![reject]);
    let approve = r.command(
        &h,
        "m2",
        Command::ModerateComment {
            comment: pending(&seen[0])[1],
            decision: Decision::Approve,
        },
    );
    r.turn(vec![approve]);
    look(&mut r, &mut mirror, &mut seen);
    let rejected = |s: &Seen| {
        s.events.iter().any(|e| {
            e.body
                == EventBody::CommentRejected {
                    comment,
                    reason: RejectReason::OffTopic,
                }
        })
    };
    let approved = |s: &Seen| {
        s.events
            .iter()
            .any(|e| matches!(&e.body, EventBody::CommentApproved { .. }))
    };
    assert!(rejected(&seen[0]) && !rejected(&seen[1]));
    assert!(approved(&seen[0]) && approved(&seen[1]));

    // Exactly what the owner sent its own subscriber of that identity, batch for batch.
    assert_eq!(seen[0].after(base), seen[2].after(base));
    assert_eq!(seen[0].through, r.core.seq());
    assert_eq!(seen[1].through, r.core.seq());
    r.core.check_invariants();
}
