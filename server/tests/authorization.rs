//! The authorization matrix over real WebSockets: every role × every command. A role
//! whose default grants lack the grant a command needs must be refused with `forbidden`
//! (and nothing else: the grant is checked before any other rule, so a refused role
//! learns nothing about the room's state); a role that has the grant must never get
//! `forbidden` (it may get another rule's error, such as `not_found`).
//!
//! Each command runs in a room of its own, set up the same way (in session, someone on
//! the floor, a waiting entry, an open poll, a pending comment, a pending and an approved
//! question), twice: once naming things that exist and once naming things that do not.
//! The roles expected to be refused go first, so the room they see is the one set up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Backend, Client, TestServer};
use yishi::hub::HubConfig;
use yishi_protocol::{
    Base, Choice, Command, CommentId, Decision, EntryId, EntryKind, ErrorCode, FloorMode, Grant,
    ItemId, Majority, MajorityRule, OrderingPolicy, Participant, ParticipantId, PollId, PollMethod,
    PollSpec, QuestionId, ResultsVisibility, Role, SettingsPatch, YesNo,
};

const ROLES: [Role; 7] = [
    Role::Host,
    Role::Member,
    Role::Respondent,
    Role::Venue,
    Role::Observer,
    Role::Recorder,
    Role::Audience,
];

/// What a command needs, as the room's handlers check it.
#[derive(Debug, Clone, Copy)]
enum Need {
    Grant(Grant),
    /// Any one of these (a ballot: the binding or the advisory vote).
    AnyOf(&'static [Grant]),
    /// No grant beyond being in the room.
    Nothing,
}

/// The grant each command needs. Exhaustive on purpose: a new command does not compile
/// until it has a row here.
fn needs(command: &Command) -> Need {
    use Grant::*;
    use Need::Grant as G;
    match command {
        // session.rs: every session command needs ManageSession.
        Command::OpenCheckIn
        | Command::StartSession
        | Command::PauseSession
        | Command::ResumeSession
        | Command::CloseSession
        | Command::AddAgendaItem { .. }
        | Command::SetCurrentItem { .. }
        | Command::UpdateSettings { .. } => G(ManageSession),
        // attendance.rs: Join (every role has it; see the audience exception below).
        Command::CheckIn { .. } => G(Join),
        // floor.rs
        Command::RequestFloor { .. } => G(RequestFloor),
        Command::Withdraw { .. } => Need::Nothing, // one's own entry
        Command::AddEntry { .. }
        | Command::MoveEntry { .. }
        | Command::RemoveEntry { .. }
        | Command::GrantFloor { .. }
        | Command::PauseTurn
        | Command::ResumeTurn
        | Command::ExtendTurn { .. }
        | Command::ShortenTurn { .. }
        | Command::ShortenAll { .. }
        | Command::SetOrdering { .. }
        | Command::SetFloorMode { .. } => G(ManageFloor),
        // Someone else's turn (the matrix's rooms give the floor to another member); one's
        // own turn needs nothing, which `own_turn_and_own_entry_need_no_grant` checks.
        Command::EndTurn => G(ManageFloor),
        // polls.rs
        Command::CreatePoll { .. }
        | Command::UpdatePoll { .. }
        | Command::OpenPoll { .. }
        | Command::ClosePoll { .. }
        | Command::PublishPoll { .. }
        | Command::ResetPoll { .. } => G(ManagePolls),
        Command::CastBallot { .. } => Need::AnyOf(&[VoteBinding, VoteAdvisory]),
        // talk.rs
        Command::SendChat { .. } => G(Chat),
        Command::PostComment { .. } => G(Comment),
        Command::AskQuestion { .. } | Command::Upvote { .. } => G(Ask),
        Command::ModerateComment { .. }
        | Command::ModerateQuestion { .. }
        | Command::MarkAnswered { .. }
        | Command::ForwardQuestion { .. }
        | Command::MergeQuestion { .. }
        | Command::PinQuestion { .. }
        | Command::SetWordList { .. } => G(Moderate),
        Command::Annotate { .. } => G(Annotate),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Forbidden,
    NotForbidden,
}

fn has(role: Role, need: Need) -> bool {
    let grants = role.default_grants();
    match need {
        Need::Grant(g) => grants.contains(&g),
        Need::AnyOf(gs) => gs.iter().any(|g| grants.contains(g)),
        Need::Nothing => true,
    }
}

fn expect(role: Role, command: &Command) -> Expect {
    match (command, role) {
        // The audience holds Join but is not on the roster: check-in is for members,
        // venues and guests (DESIGN §3 Attendance). Refused with `forbidden` by that rule.
        (Command::CheckIn { .. }, Role::Audience) => Expect::Forbidden,
        _ if has(role, needs(command)) => Expect::NotForbidden,
        _ => Expect::Forbidden,
    }
}

/// What the commands name.
#[derive(Debug, Clone)]
struct Ids {
    item: ItemId,
    /// A waiting entry (not the speaker's).
    entry: EntryId,
    poll: PollId,
    comment: CommentId,
    pending: QuestionId,
    approved: QuestionId,
    respondent: ParticipantId,
}

fn spec() -> PollSpec {
    PollSpec {
        question: "是否同意？".into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: true,
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

/// One of every command.
fn commands(ids: &Ids) -> Vec<Command> {
    let reason = |s: &str| s.to_owned();
    vec![
        Command::OpenCheckIn,
        Command::StartSession,
        Command::PauseSession,
        Command::ResumeSession,
        Command::CloseSession,
        Command::AddAgendaItem {
            title: "新增议题".into(),
            settings: SettingsPatch::default(),
        },
        Command::SetCurrentItem { item: ids.item },
        Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                warning_s: Some(30),
                ..SettingsPatch::default()
            },
        },
        Command::CheckIn { head_count: None },
        Command::RequestFloor {
            kind: EntryKind::Impromptu,
            speaker: None,
            replying_to: None,
        },
        Command::Withdraw {
            kind: EntryKind::Impromptu,
        },
        Command::AddEntry {
            participant: ids.respondent.clone(),
            kind: EntryKind::Scheduled,
            speaker: None,
            position: None,
            reason: reason("主持人安排"),
        },
        Command::MoveEntry {
            entry: ids.entry,
            position: 0,
            reason: reason("调整顺序"),
        },
        Command::RemoveEntry {
            entry: ids.entry,
            reason: reason("撤下"),
        },
        Command::GrantFloor {
            entry: Some(ids.entry),
            reason: Some(reason("指定发言")),
        },
        Command::EndTurn,
        Command::PauseTurn,
        Command::ResumeTurn,
        Command::ExtendTurn { seconds: 60 },
        Command::ShortenTurn { seconds: 30 },
        Command::ShortenAll { limit_s: 120 },
        Command::SetOrdering {
            policy: OrderingPolicy::FewestTurns,
        },
        Command::SetFloorMode {
            mode: FloorMode::OpenDiscussion,
        },
        Command::CreatePoll { spec: spec() },
        Command::UpdatePoll {
            poll: ids.poll,
            spec: spec(),
        },
        Command::OpenPoll { poll: ids.poll },
        Command::ClosePoll { poll: ids.poll },
        Command::PublishPoll { poll: ids.poll },
        Command::ResetPoll {
            poll: ids.poll,
            reason: reason("重新表决"),
        },
        Command::CastBallot {
            poll: ids.poll,
            choice: Choice::YesNoAbstain { vote: YesNo::Yes },
        },
        Command::SendChat {
            text: "大家好".into(),
        },
        Command::PostComment {
            text: "一条评论".into(),
        },
        Command::ModerateComment {
            comment: ids.comment,
            decision: Decision::Approve,
        },
        Command::AskQuestion {
            text: "一个问题".into(),
        },
        Command::ModerateQuestion {
            question: ids.pending,
            decision: Decision::Approve,
        },
        Command::Upvote {
            question: ids.approved,
        },
        Command::MarkAnswered {
            question: ids.approved,
        },
        Command::ForwardQuestion {
            question: ids.approved,
            to: ids.respondent.clone(),
        },
        Command::MergeQuestion {
            question: ids.pending,
            into: ids.approved,
        },
        Command::PinQuestion {
            question: ids.approved,
            pinned: true,
        },
        Command::SetWordList {
            words: vec!["广告".into()],
        },
        Command::Annotate {
            text: "记录员批注".into(),
        },
    ]
}

fn ids(existing: bool) -> Ids {
    if existing {
        Ids {
            item: ItemId(1),
            entry: EntryId(2),
            poll: PollId(1),
            comment: CommentId(1),
            pending: QuestionId(1),
            approved: QuestionId(2),
            respondent: ParticipantId::new("resp"),
        }
    } else {
        Ids {
            item: ItemId(999),
            entry: EntryId(999),
            poll: PollId(999),
            comment: CommentId(999),
            pending: QuestionId(998),
            approved: QuestionId(999),
            respondent: ParticipantId::new("nobody"),
        }
    }
}

/// A room in session: `spk` holds the floor (turn 1, entry 1), `spk2` waits (entry 2),
/// poll 1 is open, comment 1 is pending, question 1 is pending and question 2 approved,
/// and the respondent `resp` is known to the room. The clients are returned so that
/// nobody leaves while the matrix runs.
async fn set_up(server: &TestServer, room: &str) -> Vec<Client> {
    server.create_room(room, "授权矩阵").await;
    let mut h = server
        .connect(room, &Participant::new("host", "主持人", Role::Host))
        .await;
    let mut spk = server
        .connect(room, &Participant::new("spk", "发言委员", Role::Member))
        .await;
    let mut spk2 = server
        .connect(room, &Participant::new("spk2", "候场委员", Role::Member))
        .await;
    let resp = server
        .connect(
            room,
            &Participant::new("resp", "部门负责人", Role::Respondent),
        )
        .await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;
    h.ok(Command::AddAgendaItem {
        title: "议题一".into(),
        settings: SettingsPatch::default(),
    })
    .await;
    let impromptu = Command::RequestFloor {
        kind: EntryKind::Impromptu,
        speaker: None,
        replying_to: None,
    };
    spk.ok(impromptu.clone()).await;
    h.grant_next().await;
    spk2.ok(impromptu).await;
    h.ok(Command::CreatePoll { spec: spec() }).await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    h.ok(Command::PostComment {
        text: "待审评论".into(),
    })
    .await;
    spk.ok(Command::AskQuestion {
        text: "问题一".into(),
    })
    .await;
    spk.ok(Command::AskQuestion {
        text: "问题二".into(),
    })
    .await;
    h.ok(Command::ModerateQuestion {
        question: QuestionId(2),
        decision: Decision::Approve,
    })
    .await;
    let snapshot = server
        .state
        .hub
        .room(room)
        .await
        .unwrap()
        .inspect()
        .await
        .unwrap();
    assert_eq!(
        snapshot.floor.as_ref().map(|t| t.participant.0.as_str()),
        Some("spk")
    );
    assert!(snapshot.queue.iter().any(|e| e.id == EntryId(2)));
    assert_eq!(snapshot.polls.len(), 1);
    assert_eq!(snapshot.comments.len(), 1);
    assert_eq!(snapshot.questions.len(), 2);
    vec![h, spk, spk2, resp]
}

fn role_client(role: Role) -> Participant {
    let id = format!("r-{role:?}").to_lowercase();
    let mut p = Participant::new(id, format!("{role:?}"), role);
    if role == Role::Venue {
        p = p.with_venue("东区分会场");
    }
    p
}

/// One cell of the matrix as it came out.
#[derive(Debug, Clone)]
struct Cell {
    command: &'static str,
    role: Role,
    existing: bool,
    answer: Result<(), ErrorCode>,
    expected: Expect,
}

impl Cell {
    fn ok(&self) -> bool {
        match (self.expected, self.answer) {
            (Expect::Forbidden, Err(ErrorCode::Forbidden)) => true,
            (Expect::Forbidden, _) => false,
            (Expect::NotForbidden, Err(ErrorCode::Forbidden)) => false,
            (Expect::NotForbidden, _) => true,
        }
    }
}

async fn run_one(server: Arc<TestServer>, index: usize, existing: bool) -> Vec<Cell> {
    let ids = ids(existing);
    let command = commands(&ids).swap_remove(index);
    let room = format!("m{}-{}", index, if existing { "e" } else { "m" });
    let _keep = set_up(&server, &room).await;
    let mut clients = Vec::new();
    for role in ROLES {
        clients.push((role, server.connect(&room, &role_client(role)).await));
    }
    // Those who must be refused first: a refusal changes nothing, so each of them meets
    // the room as it was set up.
    clients.sort_by_key(|(role, _)| expect(*role, &command) == Expect::NotForbidden);
    let mut cells = Vec::new();
    for (role, client) in clients.iter_mut() {
        let answer = client.cmd(command.clone()).await.map(|_| ()).map_err(|e| {
            assert!(e.req.is_some());
            e.code
        });
        assert_ne!(
            answer,
            Err(ErrorCode::RateLimited),
            "the test must stay under the rate limits"
        );
        cells.push(Cell {
            command: command.name(),
            role: *role,
            existing,
            answer,
            expected: expect(*role, &command),
        });
    }
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_times_every_command() {
    let started = std::time::Instant::now();
    let hub = HubConfig {
        commands_per_ip: 1_000_000,
        joins_per_ip: 1_000_000,
        ..HubConfig::default()
    };
    let server = Arc::new(TestServer::start_with(Backend::Sqlite, hub).await);
    let all = commands(&ids(true));
    let names: std::collections::BTreeSet<&str> = all.iter().map(|c| c.name()).collect();
    assert_eq!(names.len(), all.len(), "one of each command");
    assert_eq!(
        all.len(),
        42,
        "every command of the protocol is in the matrix"
    );

    let limit = Arc::new(tokio::sync::Semaphore::new(6));
    let mut tasks = tokio::task::JoinSet::new();
    for existing in [true, false] {
        for index in 0..all.len() {
            let server = server.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                run_one(server, index, existing).await
            });
        }
    }
    let mut cells = Vec::new();
    while let Some(result) = tasks.join_next().await {
        cells.extend(result.unwrap());
    }
    assert_eq!(cells.len(), 2 * all.len() * ROLES.len());

    // The matrix as it came out (existing targets), for the reader of the test log.
    cells.sort_by_key(|c| (!c.existing, c.command, c.role));
    let mut table = String::from("command               ");
    for role in ROLES {
        table.push_str(&format!("{:<14}", format!("{role:?}")));
    }
    for chunk in cells.chunk_by(|a, b| a.existing == b.existing && a.command == b.command) {
        if !chunk[0].existing {
            continue;
        }
        table.push_str(&format!("\n{:<22}", chunk[0].command));
        for cell in chunk {
            let shown = match cell.answer {
                Ok(()) => "ok".to_owned(),
                Err(code) => code.as_str().to_owned(),
            };
            table.push_str(&format!("{shown:<14}"));
        }
    }
    println!("{table}");

    let wrong: Vec<String> = cells
        .iter()
        .filter(|c| !c.ok())
        .map(|c| {
            format!(
                "{} by {:?} ({} targets): got {:?}, expected {:?}",
                c.command,
                c.role,
                if c.existing { "existing" } else { "missing" },
                c.answer,
                c.expected
            )
        })
        .collect();
    let forbidden = cells
        .iter()
        .filter(|c| c.answer == Err(ErrorCode::Forbidden))
        .count();
    println!(
        "{} cells, {forbidden} refused with forbidden, in {:?}",
        cells.len(),
        started.elapsed()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The commands that need no grant do act on one's own things: ending one's own turn and
/// withdrawing one's own request, even for an observer who may not ask for the floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_turn_and_own_entry_need_no_grant() {
    let server = TestServer::start(Backend::Sqlite).await;
    let room = "own";
    server.create_room(room, "自己的发言").await;
    let mut h = server
        .connect(room, &Participant::new("host", "主持人", Role::Host))
        .await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;
    for role in ROLES {
        if role == Role::Audience {
            continue; // not on the roster: a host cannot put the audience on the list
        }
        let who = role_client(role);
        let mut c = server.connect(room, &who).await;
        // Withdraw one's own entry, put there by the host.
        h.ok(Command::AddEntry {
            participant: who.id.clone(),
            kind: EntryKind::Impromptu,
            speaker: None,
            position: None,
            reason: "主持人点名".into(),
        })
        .await;
        c.ok(Command::Withdraw {
            kind: EntryKind::Impromptu,
        })
        .await;
        // End one's own turn.
        h.ok(Command::AddEntry {
            participant: who.id.clone(),
            kind: EntryKind::Impromptu,
            speaker: None,
            position: None,
            reason: "主持人点名".into(),
        })
        .await;
        h.grant_next().await;
        c.ok(Command::EndTurn).await;
    }
    // The audience cannot be put on the list.
    let viewer = role_client(Role::Audience);
    let _a = server.connect(room, &viewer).await;
    let refused = h
        .cmd(Command::AddEntry {
            participant: viewer.id.clone(),
            kind: EntryKind::Impromptu,
            speaker: None,
            position: None,
            reason: "点名观众".into(),
        })
        .await
        .unwrap_err();
    assert_ne!(refused.code, ErrorCode::Forbidden);
}

/// A token may carry grants other than its role's defaults: the grants decide, not the
/// role. A member given Moderate may approve; a host stripped of ManageFloor may not
/// grant the floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_in_the_token_decide_not_the_role() {
    let server = TestServer::start(Backend::Sqlite).await;
    let room = "grants";
    server.create_room(room, "自定义授权").await;
    let mut h = server
        .connect(room, &Participant::new("host", "主持人", Role::Host))
        .await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;

    let mut moderator = Participant::new("mod", "委员兼审核", Role::Member);
    moderator.grants.push(Grant::Moderate);
    let mut m = server.connect(room, &moderator).await;
    m.ok(Command::AskQuestion {
        text: "问题".into(),
    })
    .await;
    m.ok(Command::ModerateQuestion {
        question: QuestionId(1),
        decision: Decision::Approve,
    })
    .await;

    let mut cohost = Participant::new("cohost", "副主持", Role::Host);
    cohost.grants.retain(|g| *g != Grant::ManageFloor);
    let mut c = server.connect(room, &cohost).await;
    let e = c
        .cmd(Command::GrantFloor {
            entry: None,
            reason: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    // Its other host grants still work.
    c.ok(Command::AddAgendaItem {
        title: "议题".into(),
        settings: SettingsPatch::default(),
    })
    .await;

    // A member with no grants at all beyond Join is refused chat.
    let mut muted = Participant::new("muted", "禁言委员", Role::Member);
    muted.grants = vec![Grant::Join];
    let mut mm = server.connect(room, &muted).await;
    let e = mm
        .cmd(Command::SendChat { text: "hi".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
}
