//! Property tests of the room engine: random command sequences from random actors, with
//! the clock jumping and people dropping out, must never break the room's invariants.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use yishi::room::{Actor, Room, SealedBallot};
use yishi_protocol::{
    Base, Choice, Command, CommentId, Decision, Electorate, EntryId, EntryKind, Event, EventBody,
    FloorMode, ItemStatus, Majority, MajorityRule, Millis, OrderingPolicy, Participant,
    ParticipantId, PollId, PollMethod, PollSpec, QuestionId, Quorum, RejectReason, RequestId,
    ResultsVisibility, Role, SettingsPatch, View, YesNo,
};

fn cast() -> Vec<Actor> {
    let p = |id: &str, name: &str, role: Role, sector: Option<&str>, venue: Option<&str>| {
        let mut p = Participant::new(id, name, role);
        p.sector = sector.map(str::to_owned);
        p.venue = venue.map(str::to_owned);
        Actor::new(p)
    };
    vec![
        p("host", "主持人", Role::Host, None, Some("主会场")),
        p("cohost", "副主持人", Role::Host, None, None),
        p("m1", "张三", Role::Member, Some("经济界"), Some("主会场")),
        p("m2", "李四", Role::Member, Some("经济界"), Some("东区")),
        p("m3", "王五", Role::Member, Some("教育界"), Some("西区")),
        p("m4", "赵六", Role::Member, Some("医卫界"), Some("东区")),
        p("r1", "局长", Role::Respondent, None, None),
        p("v1", "东区分会场", Role::Venue, None, Some("东区")),
        p("o1", "列席", Role::Observer, None, None),
        p("rec", "记录员", Role::Recorder, None, None),
        p("a1", "网民甲", Role::Audience, None, None),
        p("a2", "网民乙", Role::Audience, None, None),
    ]
}

const PEOPLE: usize = 12;

fn specs() -> Vec<PollSpec> {
    let majority = Majority {
        rule: MajorityRule::Simple,
        of: Base::Cast,
    };
    vec![
        PollSpec {
            question: "是否同意该建议".into(),
            method: PollMethod::YesNoAbstain,
            binding: true,
            advisory: true,
            secret: true,
            visibility: ResultsVisibility::AfterClose,
            allow_change: false,
            deadline_s: Some(60),
            quorum: Some(Quorum {
                percent: 50,
                of: Base::Present,
            }),
            majority,
        },
        PollSpec {
            question: "优先议题".into(),
            method: PollMethod::Single {
                options: vec!["养老".into(), "交通".into(), "教育".into()],
            },
            binding: true,
            advisory: false,
            secret: false,
            visibility: ResultsVisibility::Live,
            allow_change: true,
            deadline_s: None,
            quorum: None,
            majority: Majority {
                rule: MajorityRule::Absolute,
                of: Base::Present,
            },
        },
        PollSpec {
            question: "满意度".into(),
            method: PollMethod::Rating,
            binding: false,
            advisory: true,
            secret: false,
            visibility: ResultsVisibility::HostsUntilPublished,
            allow_change: false,
            deadline_s: Some(30),
            quorum: None,
            majority,
        },
        PollSpec {
            question: "关注领域".into(),
            method: PollMethod::Multiple {
                options: vec!["a".into(), "b".into(), "c".into()],
                min: 1,
                max: 2,
            },
            binding: true,
            advisory: true,
            secret: true,
            visibility: ResultsVisibility::HostsUntilPublished,
            allow_change: false,
            deadline_s: None,
            quorum: None,
            majority: Majority {
                rule: MajorityRule::TwoThirds,
                of: Base::Entitled,
            },
        },
    ]
}

fn kind() -> impl Strategy<Value = EntryKind> {
    prop::sample::select(EntryKind::ALL.to_vec())
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        (0u8..4).prop_map(|option| Choice::Single { option }),
        prop::collection::vec(0u8..4, 0..4).prop_map(|options| Choice::Multiple { options }),
        prop::sample::select(vec![YesNo::Yes, YesNo::No, YesNo::Abstain])
            .prop_map(|vote| Choice::YesNoAbstain { vote }),
        (0u8..7).prop_map(|stars| Choice::Rating { stars }),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "同意",
        "建议增加养老床位",
        "广告 spam",
        "",
        "问题\u{7}",
    ])
    .prop_map(str::to_owned)
}

fn reason() -> impl Strategy<Value = RejectReason> {
    prop::sample::select(vec![
        RejectReason::Duplicate,
        RejectReason::OffTopic,
        RejectReason::Abusive,
    ])
}

fn command() -> impl Strategy<Value = Command> {
    let entry = (1u32..12).prop_map(EntryId);
    let poll = (1u32..5).prop_map(PollId);
    let comment = (1u32..6).prop_map(CommentId);
    let question = (1u32..6).prop_map(QuestionId);
    let who = (0..PEOPLE).prop_map(|i| ParticipantId::new(cast()[i].id().0.clone()));
    prop_oneof![
        1 => prop::sample::select(vec![
            Command::OpenCheckIn,
            Command::StartSession,
            Command::PauseSession,
            Command::ResumeSession,
            Command::EndTurn,
            Command::PauseTurn,
            Command::ResumeTurn,
        ]),
        8 => kind().prop_map(|kind| Command::RequestFloor { kind, speaker: None, replying_to: None }),
        1 => kind().prop_map(|kind| Command::Withdraw { kind }),
        2 => (who.clone(), kind(), prop::option::of(0u32..4)).prop_map(|(participant, kind, position)| {
            Command::AddEntry { participant, kind, speaker: None, position, reason: "主持人安排".into() }
        }),
        2 => (entry.clone(), 0u32..5).prop_map(|(entry, position)| Command::MoveEntry { entry, position, reason: "调整".into() }),
        1 => entry.clone().prop_map(|entry| Command::RemoveEntry { entry, reason: "放弃".into() }),
        6 => prop::option::of(entry).prop_map(|entry| Command::GrantFloor { entry, reason: Some("指定".into()) }),
        2 => Just(Command::GrantFloor { entry: None, reason: None }),
        1 => (1u32..200).prop_map(|seconds| Command::ExtendTurn { seconds }),
        1 => (1u32..200).prop_map(|seconds| Command::ShortenTurn { seconds }),
        1 => (10u32..300).prop_map(|limit_s| Command::ShortenAll { limit_s }),
        1 => prop::sample::select(vec![
            OrderingPolicy::FirstCome,
            OrderingPolicy::FewestTurns,
            OrderingPolicy::LeastTime,
            OrderingPolicy::RotateSectors,
            OrderingPolicy::RotateVenues,
        ])
        .prop_map(|policy| Command::SetOrdering { policy }),
        1 => prop::sample::select(vec![FloorMode::Moderated, FloorMode::OpenDiscussion]).prop_map(|mode| Command::SetFloorMode { mode }),
        1 => prop::option::of(1u32..5).prop_map(|head_count| Command::CheckIn { head_count }),
        1 => Just(Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                overrun: Some(yishi_protocol::Overrun::Hard),
                sector_budget_s: Some(300),
                ..Default::default()
            },
        }),
        8 => (0..4usize).prop_map(|i| Command::CreatePoll { spec: specs()[i].clone() }),
        12 => poll.clone().prop_map(|poll| Command::OpenPoll { poll }),
        2 => poll.clone().prop_map(|poll| Command::ClosePoll { poll }),
        1 => poll.clone().prop_map(|poll| Command::PublishPoll { poll }),
        1 => poll.clone().prop_map(|poll| Command::ResetPoll { poll, reason: "重新表决".into() }),
        10 => (poll, choice()).prop_map(|(poll, choice)| Command::CastBallot { poll, choice }),
        2 => text().prop_map(|text| Command::SendChat { text }),
        3 => text().prop_map(|text| Command::PostComment { text }),
        3 => text().prop_map(|text| Command::AskQuestion { text }),
        2 => (comment, prop::option::of(reason())).prop_map(|(comment, r)| Command::ModerateComment {
            comment,
            decision: r.map_or(Decision::Approve, |reason| Decision::Reject { reason }),
        }),
        2 => (question.clone(), prop::option::of(reason())).prop_map(|(question, r)| Command::ModerateQuestion {
            question,
            decision: r.map_or(Decision::Approve, |reason| Decision::Reject { reason }),
        }),
        2 => question.clone().prop_map(|question| Command::Upvote { question }),
        1 => (question.clone(), question).prop_map(|(question, into)| Command::MergeQuestion { question, into }),
        1 => Just(Command::SetWordList { words: vec!["spam".into()] }),
    ]
}

/// A ballot that fits `method`, picked by `seed`.
fn fitting(method: &PollMethod, seed: u8) -> Choice {
    match method {
        PollMethod::Single { options } => Choice::Single {
            option: seed % options.len() as u8,
        },
        PollMethod::Multiple { options, min, max } => {
            let n = *min + seed % (*max - *min + 1);
            Choice::Multiple {
                options: (0..n)
                    .map(|i| (seed / 3 + i) % options.len() as u8)
                    .collect(),
            }
        }
        PollMethod::YesNoAbstain => Choice::YesNoAbstain {
            vote: [YesNo::Yes, YesNo::No, YesNo::Abstain][usize::from(seed % 3)],
        },
        PollMethod::Rating => Choice::Rating {
            stars: 1 + seed % 5,
        },
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Someone sends a command; ballots reuse a small set of request ids so retries happen.
    Cmd(usize, Command, u8),
    /// Someone votes in a poll with a ballot made to fit its method (or not, when
    /// `fit` is false); `retry` picks one of a few request ids so retries happen.
    Vote {
        who: usize,
        poll: u32,
        seed: u8,
        fit: bool,
        retry: u8,
    },
    Advance(u64),
    Leave(usize),
    Join(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Half the commands come from a host, so that polls open and the floor moves.
        70 => (0..2usize, command(), 0u8..3).prop_map(|(who, c, r)| Op::Cmd(who, c, r)),
        90 => (0..PEOPLE, command(), 0u8..3).prop_map(|(who, c, r)| Op::Cmd(who, c, r)),
        1 => Just(Op::Cmd(0, Command::CloseSession, 0)),
        150 => (2..PEOPLE, 1u32..4, any::<u8>(), prop::bool::weighted(0.9), 0u8..3)
            .prop_map(|(who, poll, seed, fit, retry)| Op::Vote { who, poll, seed, fit, retry }),
        30 => prop_oneof![0u64..2_000, 2_000u64..120_000].prop_map(Op::Advance),
        8 => (0..PEOPLE).prop_map(Op::Leave),
        8 => (0..PEOPLE).prop_map(Op::Join),
    ]
}

/// A room driven the way the hub drives it, keeping the record and the sealed ballot box.
struct Harness {
    room: Room,
    now: Millis,
    people: Vec<Actor>,
    events: Vec<Event>,
    /// The ballot box as the store keeps it: a reset empties the poll's ballots.
    sealed: Vec<SealedBallot>,
    next_req: u32,
}

impl Harness {
    fn new() -> Harness {
        let mut h = Harness {
            room: Room::new("性质测试"),
            now: Millis(1_700_000_000_000),
            people: cast(),
            events: Vec::new(),
            sealed: Vec::new(),
            next_req: 0,
        };
        for i in 0..PEOPLE {
            let p = h.people[i].participant.clone();
            let out = h.room.join(&p, h.now);
            h.record(out);
        }
        h
    }

    fn record(&mut self, out: yishi::room::Applied) {
        for event in &out.events {
            if let EventBody::PollReset { poll, .. } = &event.body {
                self.sealed.retain(|b| b.poll != *poll);
            }
        }
        self.events.extend(out.events);
        self.sealed.extend(out.sealed);
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Advance(ms) => {
                self.now = self.now.plus(*ms);
                let out = self.room.tick(self.now);
                self.record(out);
            }
            Op::Leave(i) => {
                let id = self.people[*i].id().clone();
                let out = self.room.leave(&id, self.now);
                self.record(out);
            }
            Op::Join(i) => {
                let p = self.people[*i].participant.clone();
                let out = self.room.join(&p, self.now);
                self.record(out);
            }
            Op::Vote {
                who,
                poll,
                seed,
                fit,
                retry,
            } => {
                let poll = PollId(*poll);
                let method = self
                    .room
                    .snapshot(View::Host, self.people[0].id())
                    .polls
                    .into_iter()
                    .find(|p| p.id == poll)
                    .map(|p| p.spec.method);
                let choice = match (method, fit) {
                    (Some(method), true) => fitting(&method, *seed),
                    _ => Choice::Rating { stars: seed % 8 },
                };
                self.run(&Op::Cmd(*who, Command::CastBallot { poll, choice }, *retry));
            }
            Op::Cmd(i, command, retry) => {
                let req = if matches!(command, Command::CastBallot { .. }) {
                    RequestId(format!("ballot-{i}-{retry}"))
                } else {
                    self.next_req += 1;
                    RequestId(format!("r{}", self.next_req))
                };
                let ticked = self.room.tick(self.now);
                self.record(ticked);
                let actor = self.people[*i].clone();
                let before = self.room.clone();
                match self.room.apply(&actor, &req, command, self.now) {
                    Ok(out) => self.record(out),
                    Err(_) => assert_eq!(self.room, before, "a refused command changed the room"),
                }
            }
        }
    }

    fn check(&self) {
        let host = self.people[0].id().clone();
        let snap = self.room.snapshot(View::Host, &host);

        // At most one floor holder; a turn is never both holding and suspended.
        let mut turns = BTreeSet::new();
        for t in snap.floor.iter().chain(&snap.suspended) {
            assert!(turns.insert(t.id), "turn {:?} appears twice", t.id);
        }
        if snap.floor_mode == FloorMode::Moderated {
            let heard: Vec<_> = self
                .people
                .iter()
                .filter(|a| a.participant.role != Role::Host && self.room.may_send_audio(a.id()))
                .collect();
            assert!(
                heard.len() <= 1,
                "two non-hosts may be heard in moderated mode"
            );
        }

        // No participant waits twice in one kind.
        let mut waiting = BTreeSet::new();
        for e in &snap.queue {
            assert!(
                waiting.insert((e.participant.clone(), e.kind)),
                "{:?} waits twice as {:?}",
                e.participant,
                e.kind
            );
        }

        // Speaking-time totals add up to the ended turns of the record.
        let mut started = BTreeMap::new();
        let (mut total, mut by_sector, mut by_venue) = (0u64, BTreeMap::new(), BTreeMap::new());
        for e in &self.events {
            match &e.body {
                EventBody::TurnStarted { turn, .. } => {
                    started.insert(turn.id, (turn.sector.clone(), turn.venue.clone()));
                }
                EventBody::TurnEnded {
                    turn, spoken_ms, ..
                } => {
                    total += u64::from(*spoken_ms);
                    let (sector, venue) = &started[turn];
                    if let Some(s) = sector {
                        *by_sector.entry(s.clone()).or_insert(0u64) += u64::from(*spoken_ms);
                    }
                    if let Some(v) = venue {
                        *by_venue.entry(v.clone()).or_insert(0u64) += u64::from(*spoken_ms);
                    }
                }
                _ => {}
            }
        }
        let speaking = &snap.speaking;
        assert_eq!(
            speaking
                .participants
                .iter()
                .map(|p| u64::from(p.spoken_ms))
                .sum::<u64>(),
            total
        );
        for g in &speaking.sectors {
            assert_eq!(
                u64::from(g.spoken_ms),
                by_sector.get(&g.name).copied().unwrap_or(0),
                "sector {}",
                g.name
            );
        }
        for g in &speaking.venues {
            assert_eq!(
                u64::from(g.spoken_ms),
                by_venue.get(&g.name).copied().unwrap_or(0),
                "venue {}",
                g.name
            );
        }

        // Every ballot counted once: turnout is the number of distinct voters since the
        // poll last opened, and a closed poll's tally counts exactly those ballots.
        let mut voters: BTreeMap<(PollId, Electorate), BTreeSet<ParticipantId>> = BTreeMap::new();
        let mut closed: BTreeMap<PollId, yishi_protocol::PollResult> = BTreeMap::new();
        let mut secret = BTreeSet::new();
        for e in &self.events {
            match &e.body {
                EventBody::PollCreated { poll, spec } | EventBody::PollUpdated { poll, spec } => {
                    if spec.secret {
                        secret.insert(*poll);
                    } else {
                        secret.remove(poll);
                    }
                }
                EventBody::PollOpened { poll, .. } | EventBody::PollReset { poll, .. } => {
                    voters.retain(|(p, _), _| p != poll);
                    closed.remove(poll);
                }
                EventBody::BallotCast {
                    poll,
                    electorate,
                    voter,
                    choice,
                    ..
                } => {
                    assert!(
                        !(secret.contains(poll) && choice.is_some()),
                        "a secret poll's ballot stands next to its voter"
                    );
                    voters
                        .entry((*poll, *electorate))
                        .or_default()
                        .insert(voter.clone());
                }
                EventBody::PollClosed {
                    poll,
                    result: Some(result),
                    ..
                } => {
                    closed.insert(*poll, result.clone());
                }
                _ => {}
            }
        }
        for poll in &snap.polls {
            let cast = |e| voters.get(&(poll.id, e)).map_or(0, |v| v.len() as u32);
            assert_eq!(
                poll.turnout_binding,
                cast(Electorate::Binding),
                "binding turnout of {:?}",
                poll.id
            );
            assert_eq!(
                poll.turnout_advisory,
                cast(Electorate::Advisory),
                "advisory turnout of {:?}",
                poll.id
            );
            if let Some(result) = closed.get(&poll.id) {
                assert_eq!(
                    result.binding.as_ref().map_or(0, |t| t.ballots),
                    cast(Electorate::Binding)
                );
                assert_eq!(
                    result.advisory.as_ref().map_or(0, |t| t.ballots),
                    cast(Electorate::Advisory)
                );
            }
        }

        // Replaying the record and the ballot box rebuilds the room exactly.
        let replayed = Room::replay("性质测试", &self.events, &self.sealed);
        assert_eq!(replayed, self.room, "replay differs from the live room");

        // No view ever holds a secret ballot's choice or another person's pending item.
        self.check_views();
    }

    fn check_views(&self) {
        let pending_authors: BTreeMap<String, ParticipantId> = self
            .events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::CommentPosted { comment } => {
                    Some((format!("c{}", comment.id.0), comment.author.clone()))
                }
                EventBody::QuestionAsked { question } => {
                    Some((format!("q{}", question.id.0), question.author.clone()))
                }
                _ => None,
            })
            .collect();
        for viewer in &self.people {
            let view = viewer.view();
            if view == View::Host {
                continue;
            }
            let me = viewer.id();
            for event in &self.events {
                let Some(seen) = self.room.event_for_viewer(event, view, me) else {
                    continue;
                };
                match &seen.body {
                    EventBody::CommentPosted { comment }
                        if comment.status != ItemStatus::Approved =>
                    {
                        assert_eq!(&comment.author, me, "{me:?} saw someone's pending comment");
                    }
                    EventBody::QuestionAsked { question }
                        if question.status != ItemStatus::Approved =>
                    {
                        assert_eq!(
                            &question.author, me,
                            "{me:?} saw someone's pending question"
                        );
                    }
                    EventBody::CommentRejected { comment, .. } => {
                        assert_eq!(pending_authors.get(&format!("c{}", comment.0)), Some(me));
                    }
                    EventBody::QuestionRejected { question, .. } => {
                        assert_eq!(pending_authors.get(&format!("q{}", question.0)), Some(me));
                    }
                    EventBody::BallotCast { voter, .. } => {
                        assert_eq!(voter, me, "{me:?} saw someone else's ballot");
                    }
                    EventBody::ChatSent { .. } | EventBody::Joined { .. } => {
                        assert_ne!(view, View::Audience, "the audience saw members' business");
                    }
                    EventBody::WordListSet { .. }
                    | EventBody::Annotated { .. }
                    | EventBody::PollCreated { .. } => {
                        panic!("{me:?} saw a hosts-only event");
                    }
                    _ => {}
                }
            }
            let snap = self.room.snapshot(view, me);
            for c in &snap.comments {
                assert!(
                    c.status == ItemStatus::Approved || &c.author == me,
                    "pending comment in {me:?}'s snapshot"
                );
            }
            for q in &snap.questions {
                assert!(
                    q.status == ItemStatus::Approved || &q.author == me,
                    "pending question in {me:?}'s snapshot"
                );
            }
            assert!(snap.word_list.is_none());
            if view == View::Audience {
                assert!(snap.chat.is_empty() && snap.attendance.is_empty());
            }
            for poll in &snap.polls {
                if poll.spec.secret {
                    assert!(poll.my_choice.is_none() && poll.named_ballots.is_empty());
                }
                if poll.state == yishi_protocol::PollState::Closed
                    && poll.spec.visibility == ResultsVisibility::HostsUntilPublished
                {
                    assert!(poll.results.is_none(), "hosts-only results reached {me:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn random_sessions_keep_every_invariant(ops in prop::collection::vec(op(), 1..200)) {
        let mut h = Harness::new();
        let start = h.people[0].clone();
        let out = h.room.apply(&start, &RequestId("start".into()), &Command::StartSession, h.now).expect("start");
        h.record(out);
        for (i, op) in ops.iter().enumerate() {
            h.run(op);
            if i % 20 == 19 {
                h.check();
            }
        }
        h.check();
        // `PROP_STATS=1 cargo test --test engine_properties -- --nocapture` shows what the
        // generator reached (ballots, sealed ballots, turns), to keep it honest.
        if std::env::var("PROP_STATS").is_ok() {
            let count = |f: &dyn Fn(&EventBody) -> bool| h.events.iter().filter(|e| f(&e.body)).count();
            eprintln!(
                "ops {} events {} sealed {} ballots {} opened {} turns {} comments {}",
                ops.len(),
                h.events.len(),
                h.sealed.len(),
                count(&|b| matches!(b, EventBody::BallotCast { .. })),
                count(&|b| matches!(b, EventBody::PollOpened { .. })),
                count(&|b| matches!(b, EventBody::TurnStarted { .. })),
                count(&|b| matches!(b, EventBody::CommentPosted { .. })),
            );
        }
    }
}
