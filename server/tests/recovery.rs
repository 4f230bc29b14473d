//! Crash recovery, with the real binary: a consultation runs on `yishi serve`, the process
//! is killed with SIGKILL right after an acknowledgement, and a new process on the same
//! store must show every acknowledged ballot, comment, question, chat message and queue
//! entry, keep the speaker on the floor with the clock going on from its recorded
//! deadline, and hold a record whose hash chain verifies. On SQLite (WAL,
//! `synchronous=FULL`) and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use common::{Backend, Client};
use yishi::auth::{Claims, Keys};
use yishi::hub::now;
use yishi::room::verify_chain;
use yishi_protocol::{
    Base, Choice, Command, Decision, EntryKind, EventBody, ItemStatus, KindLimits, Majority,
    MajorityRule, Millis, Participant, PollId, PollMethod, PollSpec, PollState, Quorum,
    RecordEntry, RequestId, ResultsVisibility, Resume, Role, Seq, ServerMessage, SessionState,
    SettingsPatch, YesNo,
};

const KEYS: &str = "k1:recovery-test-secret-0123456789";
const ADMIN_KEY: &str = "recovery-admin-key-0123456789";
const ROOM: &str = "crash1";

/// The `yishi` binary with no `YISHI_*` variable from the outside, its data dir in `data`,
/// our token keys and admin key.
fn yishi(data: &Path) -> Process {
    let mut cmd = Process::new(env!("CARGO_BIN_EXE_yishi"));
    for (key, _) in std::env::vars() {
        if key.starts_with("YISHI_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("YISHI_DATA_DIR", data)
        .env("YISHI_TOKEN_KEYS", KEYS)
        .env("YISHI_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn");
    cmd
}

/// Run a CLI command to completion: exit code and stdout (stderr is passed through).
fn run(cmd: &mut Process) -> (Option<i32>, String) {
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// A `yishi serve` process on a fixed port and store, which can be killed and restarted.
struct Server {
    addr: SocketAddr,
    database: String,
    data: tempfile::TempDir,
    keys: Keys,
    child: Option<Child>,
}

impl Server {
    async fn new(backend: Backend) -> Server {
        let data = tempfile::tempdir().unwrap();
        let database = common::database(backend, data.path()).await;
        // A free port: bind, take it, let it go.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        Server {
            addr,
            database,
            data,
            keys: Keys::parse_list(KEYS).unwrap(),
            child: None,
        }
    }

    fn cli(&self) -> Process {
        let mut cmd = yishi(self.data.path());
        cmd.args(["--database", &self.database]);
        cmd
    }

    fn create_room(&self, id: &str, title: &str) {
        let (code, out) = run(self
            .cli()
            .args(["room", "create", "--id", id, "--title", title]));
        assert_eq!(code, Some(0), "room create: {out}");
        assert_eq!(out.trim(), id);
    }

    /// Start `yishi serve` and wait until `/healthz` answers.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let listen = self.addr.to_string();
        let child = self
            .cli()
            .args(["serve", "--listen", &listen])
            // Secret ballots reach the box in pairs: the crash catches two waiting.
            .args(["--ballot-batch", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = reqwest::Client::new();
        let url = format!("http://{}/healthz", self.addr);
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("yishi serve exited: {status}");
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "yishi serve did not come up"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn token(&self, room: &str, who: &Participant) -> String {
        self.keys
            .mint(&Claims::new(room, who, now(), Duration::from_secs(3600)))
    }

    async fn connect(&self, room: &str, who: &Participant) -> Client {
        Client::connect(self.addr, &self.token(room, who), None)
            .await
            .expect("welcome")
    }

    /// `yishi record export ROOM`: the record as the store holds it.
    fn export(&self, room: &str) -> Vec<RecordEntry> {
        let (code, out) = run(self.cli().args(["record", "export", room]));
        assert_eq!(code, Some(0), "record export failed");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `yishi record verify ROOM`: exit code and what it printed.
    fn verify(&self, room: &str) -> (Option<i32>, String) {
        run(self.cli().args(["record", "verify", room]))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `type` tag of an event body, as on the wire.
fn type_of(body: &EventBody) -> String {
    serde_json::to_value(body).unwrap()["type"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What was acknowledged before the crash: sequence number → the type of event it must be.
#[derive(Default)]
struct Acks(BTreeMap<Seq, &'static str>);

impl Acks {
    async fn ok(&mut self, c: &mut Client, expect: &'static str, command: Command) -> Seq {
        let seq = c.ok(command).await.expect("an acknowledged event");
        self.0.insert(seq, expect);
        seq
    }
}

fn secret_spec() -> PollSpec {
    PollSpec {
        question: "是否同意将社区助餐点纳入民生实事项目？".into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: true,
        secret: true,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: Some(Quorum {
            percent: 50,
            of: Base::Present,
        }),
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}

fn named_spec() -> PollSpec {
    PollSpec {
        question: "是否同意调整议程顺序？".into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: false,
        secret: false,
        visibility: ResultsVisibility::Live,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}

fn yes_no(vote: YesNo) -> Choice {
    Choice::YesNoAbstain { vote }
}

const BURST: usize = 20;

async fn kill_nine_mid_session(backend: Backend) {
    let mut server = Server::new(backend).await;
    server.create_room(ROOM, "社区养老服务专题协商会");
    server.start().await;

    let host = Participant::new("host", "主持人", Role::Host);
    let m1 = Participant::new("m1", "张委员", Role::Member).with_sector("经济界");
    let m2 = Participant::new("m2", "李委员", Role::Member).with_sector("教育界");
    let m3 = Participant::new("m3", "王委员", Role::Member).with_sector("科技界");
    let viewer = Participant::new("a1", "网民甲", Role::Audience);
    let mut h = server.connect(ROOM, &host).await;
    let mut c1 = server.connect(ROOM, &m1).await;
    let mut c2 = server.connect(ROOM, &m2).await;
    let mut c3 = server.connect(ROOM, &m3).await;
    let mut a = server.connect(ROOM, &viewer).await;
    let mut acks = Acks::default();

    // Impromptu turns of 60 s with the warning 50 s before the end: the warning is due
    // 10 s after the grant, which will be after the restart.
    acks.ok(
        &mut h,
        "settings_updated",
        Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                limits: Some(KindLimits {
                    impromptu_s: 60,
                    ..KindLimits::default()
                }),
                warning_s: Some(50),
                ..Default::default()
            },
        },
    )
    .await;
    acks.ok(&mut h, "session_changed", Command::OpenCheckIn)
        .await;
    for c in [&mut c1, &mut c2, &mut c3] {
        acks.ok(c, "checked_in", Command::CheckIn { head_count: None })
            .await;
    }
    acks.ok(&mut h, "session_changed", Command::StartSession)
        .await;

    // The speaking queue: three hands up, first come first served.
    let request = Command::RequestFloor {
        kind: EntryKind::Impromptu,
        speaker: None,
        replying_to: None,
    };
    for c in [&mut c1, &mut c2, &mut c3] {
        acks.ok(c, "entry_added", request.clone()).await;
    }

    // A named poll and a secret poll (binding and advisory), with ballots.
    acks.ok(
        &mut h,
        "poll_created",
        Command::CreatePoll { spec: named_spec() },
    )
    .await;
    acks.ok(&mut h, "poll_opened", Command::OpenPoll { poll: PollId(1) })
        .await;
    acks.ok(
        &mut h,
        "poll_created",
        Command::CreatePoll {
            spec: secret_spec(),
        },
    )
    .await;
    acks.ok(&mut h, "poll_opened", Command::OpenPoll { poll: PollId(2) })
        .await;
    let ballot = |poll: u32, vote: YesNo| Command::CastBallot {
        poll: PollId(poll),
        choice: yes_no(vote),
    };
    acks.ok(&mut c1, "ballot_cast", ballot(1, YesNo::Yes)).await;
    acks.ok(&mut c2, "ballot_cast", ballot(1, YesNo::No)).await;
    // Secret ballots are acknowledged in batches (of two here): m1's waits for m2's.
    let m1_secret = RequestId("m1-secret-ballot".into());
    c1.send_with(m1_secret.clone(), ballot(2, YesNo::Yes)).await;
    acks.ok(&mut c2, "ballot_cast", ballot(2, YesNo::Yes)).await;
    let m1_secret_seq = c1.answer(&m1_secret).await.unwrap().unwrap();
    acks.0.insert(m1_secret_seq, "ballot_cast");
    // The audience's ballot waits for another advisory one, which never comes before the
    // crash: it is recorded as cast, never acknowledged.
    let a_secret = RequestId("a1-secret-ballot".into());
    a.send_with(a_secret.clone(), ballot(2, YesNo::Yes)).await;

    // Moderated comments and questions, members' chat.
    acks.ok(
        &mut a,
        "comment_posted",
        Command::PostComment {
            text: "希望增加老年食堂的覆盖面".into(),
        },
    )
    .await;
    let posted = h
        .until("the pending comment", |e| {
            matches!(e.body, EventBody::CommentPosted { .. })
        })
        .await;
    let EventBody::CommentPosted { comment } = posted.body else {
        unreachable!()
    };
    acks.ok(
        &mut h,
        "comment_approved",
        Command::ModerateComment {
            comment: comment.id,
            decision: Decision::Approve,
        },
    )
    .await;
    acks.ok(
        &mut a,
        "comment_posted",
        Command::PostComment {
            text: "建议公开助餐点的补贴明细".into(),
        },
    )
    .await;
    acks.ok(
        &mut a,
        "question_asked",
        Command::AskQuestion {
            text: "助餐点的运营补贴标准是多少？".into(),
        },
    )
    .await;
    let asked = h
        .until("the pending question", |e| {
            matches!(e.body, EventBody::QuestionAsked { .. })
        })
        .await;
    let EventBody::QuestionAsked { question } = asked.body else {
        unreachable!()
    };
    acks.ok(
        &mut h,
        "question_approved",
        Command::ModerateQuestion {
            question: question.id,
            decision: Decision::Approve,
        },
    )
    .await;
    acks.ok(
        &mut c2,
        "question_upvoted",
        Command::Upvote {
            question: question.id,
        },
    )
    .await;
    acks.ok(
        &mut c1,
        "question_asked",
        Command::AskQuestion {
            text: "农村地区的助餐服务如何保障？".into(),
        },
    )
    .await;
    acks.ok(
        &mut c1,
        "chat_sent",
        Command::SendChat {
            text: "请大家准备发言".into(),
        },
    )
    .await;

    // The floor to m1 (first in the queue), then the last ballot, then a burst of chat.
    acks.ok(
        &mut h,
        "turn_started",
        Command::GrantFloor {
            entry: None,
            reason: None,
        },
    )
    .await;
    let started = h
        .until(
            "m1 has the floor",
            |e| matches!(&e.body, EventBody::TurnStarted { turn, .. } if turn.participant == m1.id),
        )
        .await;
    let EventBody::TurnStarted { turn, .. } = started.body else {
        unreachable!()
    };
    let granted_at = turn.running_since.expect("the clock runs");
    let warning_due = Millis(granted_at.0 + 10_000);
    // m3's ballot waits for a partner too.
    let m3_secret = RequestId("m3-secret-ballot".into());
    c3.send_with(m3_secret.clone(), ballot(2, YesNo::No)).await;
    while h
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::BallotCast { poll, .. } if poll == PollId(2)))
        .count()
        < 4
    {
        h.recv().await.expect("the ballots are recorded");
    }

    // A burst of chat from m2, sent without waiting; the process dies right after the
    // first acknowledgement of the burst, with the rest possibly in flight.
    for i in 0..BURST {
        c2.send_with(
            RequestId(format!("burst-{i}")),
            Command::SendChat {
                text: format!("连发消息 {i}"),
            },
        )
        .await;
    }
    let mut burst_acked: BTreeMap<usize, Seq> = BTreeMap::new();
    while burst_acked.is_empty() {
        match c2.recv().await.expect("acks before the crash") {
            ServerMessage::Ack(ack) => {
                if let Some(i) = ack.req.0.strip_prefix("burst-") {
                    burst_acked.insert(i.parse().unwrap(), ack.seq.unwrap());
                }
            }
            ServerMessage::Error(e) if e.req.is_some() => panic!("refused: {e:?}"),
            _ => {}
        }
    }
    server.kill();
    let killed_at = now();
    for (i, seq) in &burst_acked {
        acks.0.insert(*seq, "chat_sent");
        assert!(*i < BURST);
    }
    assert!(
        killed_at < warning_due,
        "the machine was too slow: the warning fell due before the crash"
    );

    // ----- the store as the crash left it -----
    let (code, out) = server.verify(ROOM);
    assert_eq!(code, Some(0), "the record after the crash: {out}");
    let record = server.export(ROOM);
    assert!(verify_chain(&record).is_ok());
    for (seq, expect) in &acks.0 {
        let entry = record
            .get(*seq as usize - 1)
            .unwrap_or_else(|| panic!("acknowledged event {seq} ({expect}) lost"));
        assert_eq!(entry.event.seq, *seq);
        assert_eq!(
            type_of(&entry.event.body),
            *expect,
            "event {seq} is not what was acknowledged"
        );
    }
    // Durability before visibility: whatever any client saw is in the record, as seen.
    for client in [&h, &c1, &c2, &c3, &a] {
        for e in &client.events {
            let stored = &record[e.seq as usize - 1].event;
            assert_eq!(
                (stored.seq, stored.at, &stored.actor, type_of(&stored.body)),
                (e.seq, e.at, &e.actor, type_of(&e.body)),
                "an event was shown that the record does not hold"
            );
        }
    }
    assert!(
        !record
            .iter()
            .any(|e| matches!(e.event.body, EventBody::TurnWarned { .. })),
        "the warning was due after the crash"
    );
    let crashed_seq = record.len() as Seq;
    let m2_left_at = c2.through;
    let m2_session = c2.welcome.session.clone();
    drop((h, c1, c2, c3, a));

    // ----- restart on the same store and port -----
    server.start().await;
    let restarted_at = now();
    let mut h = server.connect(ROOM, &host).await;
    let snap = h.welcome.snapshot.clone().unwrap();
    assert_eq!(
        snap.seq,
        crashed_seq + 2,
        "the restarted room continues the record (with the two voidings)"
    );
    assert_eq!(snap.session, SessionState::InSession);

    // The speaker still holds the floor, on the clock that started before the crash.
    let floor = snap.floor.clone().expect("the turn survived the crash");
    assert_eq!(floor.id, turn.id);
    assert_eq!(floor.participant, m1.id);
    assert_eq!(floor.limit_ms, 60_000);
    assert_eq!(floor.running_since, Some(granted_at), "the clock goes on");
    assert_eq!(floor.elapsed_ms, 0);
    assert!(!floor.warned);
    let remaining = floor.remaining_at(h.welcome.server_time);
    let expected = 60_000 - (h.welcome.server_time.0 as i64 - granted_at.0 as i64);
    assert_eq!(remaining, expected);
    assert!(
        remaining > 0 && remaining <= 60_000 - (restarted_at.0 - granted_at.0) as i64 + 1000,
        "remaining {remaining} ms does not count the time since the grant"
    );

    // Every queue entry acknowledged, in order.
    let queue: Vec<_> = snap
        .queue
        .iter()
        .map(|e| (e.participant.0.as_str(), e.kind))
        .collect();
    assert_eq!(
        queue,
        [("m2", EntryKind::Impromptu), ("m3", EntryKind::Impromptu)],
        "the queue after m1 was given the floor"
    );

    // Polls: the named ballots with their choices, the secret turnout.
    let named = snap.polls.iter().find(|p| p.id == PollId(1)).unwrap();
    assert_eq!(named.state, PollState::Open);
    assert_eq!(named.turnout_binding, 2);
    let mut ballots: Vec<_> = named
        .named_ballots
        .iter()
        .map(|b| (b.voter.0.as_str(), b.choice.clone()))
        .collect();
    ballots.sort_by(|x, y| x.0.cmp(y.0));
    assert_eq!(
        ballots,
        [("m1", yes_no(YesNo::Yes)), ("m2", yes_no(YesNo::No))]
    );
    // The two secret ballots that never reached the box (nor an acknowledgement) are
    // voided, in the record: m3 and a1 may vote again; the two sealed ones stand.
    let secret = snap.polls.iter().find(|p| p.id == PollId(2)).unwrap();
    assert_eq!(secret.state, PollState::Open);
    assert_eq!((secret.turnout_binding, secret.turnout_advisory), (2, 0));
    let after = server.export(ROOM);
    let voided: Vec<_> = after[crashed_seq as usize..]
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::BallotsVoided { voters, .. } => Some(voters.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        voided,
        [vec![m3.id.clone()], vec![viewer.id.clone()]],
        "binding first, then advisory"
    );

    // Comments and questions with their moderation.
    let comments: Vec<_> = snap
        .comments
        .iter()
        .map(|c| (c.text.as_str(), c.status))
        .collect();
    assert_eq!(
        comments,
        [
            ("希望增加老年食堂的覆盖面", ItemStatus::Approved),
            ("建议公开助餐点的补贴明细", ItemStatus::Pending)
        ]
    );
    let questions: Vec<_> = snap
        .questions
        .iter()
        .map(|q| (q.text.as_str(), q.status, q.upvotes))
        .collect();
    assert_eq!(
        questions,
        [
            ("助餐点的运营补贴标准是多少？", ItemStatus::Approved, 1),
            ("农村地区的助餐服务如何保障？", ItemStatus::Pending, 0)
        ]
    );

    // Chat: every acknowledged message of the burst, and what survived is a prefix of
    // what was sent (the store never holds a later command without an earlier one).
    let burst: Vec<usize> = snap
        .chat
        .iter()
        .filter_map(|m| m.text.strip_prefix("连发消息 "))
        .map(|i| i.parse().unwrap())
        .collect();
    assert_eq!(burst, (0..burst.len()).collect::<Vec<_>>());
    let acked: BTreeSet<usize> = burst_acked.keys().copied().collect();
    assert!(
        acked.iter().all(|i| *i < burst.len()),
        "acknowledged {acked:?}, kept {burst:?}"
    );
    assert!(snap.chat.iter().any(|m| m.text == "请大家准备发言"));

    // A member resuming across the restart gets exactly what it missed, from the record.
    let mut c2 = Client::connect(
        server.addr,
        &server.token(ROOM, &m2),
        Some(Resume {
            session: m2_session,
            last_seq: m2_left_at,
        }),
    )
    .await
    .expect("welcome");
    assert!(
        c2.welcome.snapshot.is_none(),
        "the restarted room has the recent record for resume"
    );
    // Once a command of its own is answered, every earlier batch has arrived.
    c2.ok(Command::SendChat {
        text: "我回来了".into(),
    })
    .await;
    let missed: Vec<Seq> = c2
        .events
        .iter()
        .map(|e| e.seq)
        .filter(|s| *s <= after.len() as Seq)
        .collect();
    let visible_to_members =
        |e: &&RecordEntry| !matches!(e.event.body, EventBody::BallotsVoided { .. });
    let expected_missed: Vec<Seq> = after
        .iter()
        .filter(visible_to_members)
        .map(|e| e.event.seq)
        .filter(|s| *s > m2_left_at)
        .collect();
    assert_eq!(missed, expected_missed);
    for e in c2.events.iter().filter(|e| e.seq <= after.len() as Seq) {
        assert_eq!(*e, after[e.seq as usize - 1].event);
    }

    // The client sends the whole burst again with its request ids, as a client does for
    // commands it had no answer to: those applied before the crash are acknowledged with
    // their first seq and not applied again (the request ids are in the store), the rest
    // are applied now. Every message is there exactly once.
    for i in 0..BURST {
        c2.send_with(
            RequestId(format!("burst-{i}")),
            Command::SendChat {
                text: format!("连发消息 {i}"),
            },
        )
        .await;
    }
    for i in 0..BURST {
        let seq = c2.answer(&RequestId(format!("burst-{i}"))).await.unwrap();
        if let Some(first) = burst_acked.get(&i) {
            assert_eq!(
                seq,
                Some(*first),
                "burst-{i} was acknowledged before the crash"
            );
        }
    }
    let chat = server_snapshot(&server, &host).await.chat;
    for i in 0..BURST {
        let text = format!("连发消息 {i}");
        let n = chat.iter().filter(|m| m.text == text).count();
        assert_eq!(n, 1, "{text} is in the chat {n} times");
    }

    // A ballot retried after the restart is recognised from the record: same seq, once.
    let mut c1 = server.connect(ROOM, &m1).await;
    let again = c1.cmd_with(m1_secret, ballot(2, YesNo::Yes)).await.unwrap();
    assert_eq!(again, Some(m1_secret_seq));
    // The voided voters' clients send their ballots again, with the same request ids:
    // counted now (acknowledged at the close, in the last batch).
    let mut c3 = server.connect(ROOM, &m3).await;
    let mut a = server.connect(ROOM, &viewer).await;
    c3.send_with(m3_secret.clone(), ballot(2, YesNo::No)).await;
    a.send_with(a_secret.clone(), ballot(2, YesNo::Yes)).await;

    // The warning comes when the recorded clock says, not 10 s after the restart.
    let warned = h
        .until("the warning after the restart", |e| {
            matches!(e.body, EventBody::TurnWarned { .. })
        })
        .await;
    let arrived = now();
    assert_eq!(
        warned.at, warning_due,
        "the warning is stamped with its deadline"
    );
    let due = warning_due.0.max(restarted_at.0);
    assert!(
        arrived.0 + 50 >= warning_due.0,
        "the warning came {} ms early",
        warning_due.0 - arrived.0
    );
    assert!(
        arrived.0 <= due + 3_000,
        "the warning came {} ms late",
        arrived.0 - due
    );
    let now_snap = server_snapshot(&server, &host).await;
    let floor = now_snap.floor.unwrap();
    assert!(floor.warned);
    assert_eq!(floor.remaining_at(warned.at), 50_000);

    // Close the secret poll: the sealed ballot box came back whole.
    acks.ok(
        &mut h,
        "poll_closed",
        Command::ClosePoll { poll: PollId(2) },
    )
    .await;
    let closed = h
        .until(
            "the result",
            |e| matches!(e.body, EventBody::PollClosed { poll, .. } if poll == PollId(2)),
        )
        .await;
    let EventBody::PollClosed {
        result: Some(result),
        ..
    } = closed.body
    else {
        panic!("the host sees the result at close")
    };
    let binding = result.binding.unwrap();
    let advisory = result.advisory.unwrap();
    assert_eq!((binding.ballots, binding.counts), (3, vec![2, 1, 0]));
    assert_eq!((advisory.ballots, advisory.counts), (1, vec![1, 0, 0]));
    c3.answer(&m3_secret).await.unwrap();
    a.answer(&a_secret).await.unwrap();

    // Close the session; the record verifies against the published final hash, over the
    // admin API and with `yishi record verify`.
    let last = h.ok(Command::CloseSession).await.unwrap();
    let body = reqwest::Client::new()
        .get(format!("http://{}/api/v1/rooms/{ROOM}/record", server.addr))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    let record: Vec<RecordEntry> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(record.len() as Seq, last);
    let final_hash = verify_chain(&record).unwrap();
    drop((h, c1, c2, c3, a));
    server.kill();
    let (code, out) = server.verify(ROOM);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&final_hash), "{out}");
}

/// The room as a host sees it now, from a fresh connection of a co-host (a second
/// connection of the same host would replace the first).
async fn server_snapshot(server: &Server, host: &Participant) -> yishi_protocol::RoomSnapshot {
    let cohost = Participant {
        id: yishi_protocol::ParticipantId::new(format!("{}-cohost", host.id.0)),
        ..host.clone()
    };
    let c = server.connect(ROOM, &cohost).await;
    c.welcome.snapshot.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_session_loses_nothing_acknowledged_on_sqlite() {
    kill_nine_mid_session(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn kill_9_mid_session_loses_nothing_acknowledged_on_postgresql() {
    kill_nine_mid_session(Backend::Postgres).await;
}

/// The process may die after the commit of the session's close and before the room is
/// marked closed with its final hash: the restarted server publishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_committed_but_not_published_before_a_crash_is_published_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Sqlite, dir.path()).await;
    let store = yishi::store::Store::open(&database).await.unwrap();
    store
        .create_room(&yishi::store::NewRoom {
            id: ROOM.into(),
            title: "已闭会".into(),
            kind: yishi::store::RoomKind::Consultation,
            created_at: now(),
            settings: serde_json::json!({}),
        })
        .await
        .unwrap();
    let mut chain = yishi::room::Chain::default();
    let host = yishi_protocol::ParticipantId::new("host");
    let entries: Vec<RecordEntry> = [
        SessionState::CheckIn,
        SessionState::InSession,
        SessionState::Closed,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, state)| {
        chain.seal(yishi_protocol::Event {
            seq: i as Seq + 1,
            at: Millis(now().0 + i as u64),
            actor: Some(host.clone()),
            body: EventBody::SessionChanged { state },
        })
    })
    .collect();
    store
        .append(&[yishi::store::Append {
            room: ROOM.into(),
            epoch: Default::default(),
            entries,
            requests: Vec::new(),
            sealed: Vec::new(),
        }])
        .await
        .unwrap();
    store.close().await;

    let server =
        common::TestServer::start_on(database, dir, yishi::hub::HubConfig::default()).await;
    let started = std::time::Instant::now();
    let stored = loop {
        let stored = server.state.store.room(ROOM).await.unwrap().unwrap();
        if stored.final_hash.is_some() || started.elapsed() > Duration::from_secs(10) {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stored.final_hash, Some(chain.head()));
    assert!(stored.closed_at.is_some());
}
