//! Random sessions through the room engine: the input bytes are read as a sequence of
//! operations (a command from one of twelve people, a ballot, the clock moving on,
//! someone leaving or coming back), driven the way the hub drives a room (`tick(now)`
//! before every `apply`). Checked:
//!
//! - nothing panics (the build has debug assertions: the engine's own checks count);
//! - a refused command changes nothing;
//! - every event is numbered in order and folded (the room's `seq` is the last event's);
//! - replaying the record and the sealed ballot box rebuilds the live room exactly, every
//!   64 operations and at the end, also from the record as stored (JSON).
//!
//! The same idea as `server/tests/engine_properties.rs` (a proptest generator), with a
//! generator of its own that reaches every command, not only the common ones.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use yishi::room::{Actor, Applied, Room, SealedBallot};
use yishi_protocol::{
    Base, Choice, Command, CommentId, Decision, EntryId, EntryKind, Event, EventBody, FloorMode,
    ItemId, KindLimits, Majority, MajorityRule, Millis, ModerationMode, OnDrop, OrderingPolicy,
    Overrun, Participant, ParticipantId, PollId, PollMethod, PollSpec, QuestionId, Quorum,
    RejectReason, RequestId, ResultsVisibility, Role, SettingsPatch, TurnId, View, YesNo,
};

const TITLE: &str = "模糊测试";
/// Operations per input at most: long enough for polls, turns and deadlines to interact.
const MAX_OPS: usize = 400;

fn cast() -> Vec<Actor> {
    let p = |id: &str, role: Role, sector: Option<&str>, venue: Option<&str>| {
        let mut p = Participant::new(id, id, role);
        p.sector = sector.map(str::to_owned);
        p.venue = venue.map(str::to_owned);
        Actor::new(p)
    };
    vec![
        p("host", Role::Host, None, Some("主会场")),
        p("cohost", Role::Host, None, None),
        p("m1", Role::Member, Some("经济界"), Some("主会场")),
        p("m2", Role::Member, Some("经济界"), Some("东区")),
        p("m3", Role::Member, Some("教育界"), Some("西区")),
        p("m4", Role::Member, Some("医卫界"), Some("东区")),
        p("r1", Role::Respondent, None, None),
        p("v1", Role::Venue, None, Some("东区")),
        p("o1", Role::Observer, None, None),
        p("rec", Role::Recorder, None, None),
        p("a1", Role::Audience, None, None),
        p("a2", Role::Audience, None, None),
    ]
}

fn pick<T: Clone>(u: &mut Unstructured, of: &[T]) -> Result<T> {
    Ok(u.choose(of)?.clone())
}

fn small(u: &mut Unstructured, max: u32) -> Result<u32> {
    u.int_in_range(0..=max)
}

/// Now and then any value, else a plausible one.
fn seconds(u: &mut Unstructured) -> Result<u32> {
    if u.ratio(1, 16)? {
        u.arbitrary()
    } else {
        small(u, 600)
    }
}

fn text(u: &mut Unstructured) -> Result<String> {
    if u.ratio(1, 4)? {
        let s: &str = u.arbitrary()?;
        Ok(s.chars().take(600).collect())
    } else {
        pick(
            u,
            &[
                "同意",
                "建议增加养老床位",
                "广告 spam",
                "",
                "问题\u{7}",
                "e\u{301}",
            ],
        )
        .map(str::to_owned)
    }
}

fn kind(u: &mut Unstructured) -> Result<EntryKind> {
    pick(u, &EntryKind::ALL)
}

fn who(u: &mut Unstructured) -> Result<ParticipantId> {
    let ids = [
        "host", "cohost", "m1", "m2", "m3", "m4", "r1", "v1", "o1", "rec", "a1", "a2", "nobody",
    ];
    Ok(ParticipantId::new(pick(u, &ids)?))
}

fn opt<T>(
    u: &mut Unstructured,
    f: impl FnOnce(&mut Unstructured) -> Result<T>,
) -> Result<Option<T>> {
    if u.arbitrary()? {
        Ok(Some(f(u)?))
    } else {
        Ok(None)
    }
}

fn base(u: &mut Unstructured) -> Result<Base> {
    pick(u, &[Base::Cast, Base::Present, Base::Entitled])
}

fn reason(u: &mut Unstructured) -> Result<RejectReason> {
    pick(
        u,
        &[
            RejectReason::Duplicate,
            RejectReason::OffTopic,
            RejectReason::Abusive,
            RejectReason::Advertising,
            RejectReason::PersonalInformation,
            RejectReason::Other,
        ],
    )
}

fn decision(u: &mut Unstructured) -> Result<Decision> {
    Ok(match opt(u, reason)? {
        None => Decision::Approve,
        Some(reason) => Decision::Reject { reason },
    })
}

fn options(u: &mut Unstructured) -> Result<Vec<String>> {
    let n = u.int_in_range(0..=22)?;
    Ok((0..n).map(|i| format!("选项{}", i % 21)).collect())
}

fn spec(u: &mut Unstructured) -> Result<PollSpec> {
    let method = match u.int_in_range(0..=3)? {
        0 => PollMethod::Single {
            options: options(u)?,
        },
        1 => PollMethod::Multiple {
            options: options(u)?,
            min: u.int_in_range(0..=4)?,
            max: u.int_in_range(0..=5)?,
        },
        2 => PollMethod::YesNoAbstain,
        _ => PollMethod::Rating,
    };
    Ok(PollSpec {
        question: text(u)?,
        method,
        binding: u.arbitrary()?,
        advisory: u.arbitrary()?,
        secret: u.arbitrary()?,
        visibility: pick(
            u,
            &[
                ResultsVisibility::Live,
                ResultsVisibility::AfterClose,
                ResultsVisibility::HostsUntilPublished,
            ],
        )?,
        allow_change: u.arbitrary()?,
        deadline_s: opt(u, seconds)?,
        quorum: opt(u, |u| {
            Ok(Quorum {
                percent: u.int_in_range(0..=120)?,
                of: base(u)?,
            })
        })?,
        majority: Majority {
            rule: pick(
                u,
                &[
                    MajorityRule::Simple,
                    MajorityRule::Absolute,
                    MajorityRule::TwoThirds,
                ],
            )?,
            of: base(u)?,
        },
    })
}

fn patch(u: &mut Unstructured) -> Result<SettingsPatch> {
    Ok(SettingsPatch {
        limits: opt(u, |u| {
            Ok(KindLimits {
                point_of_order_s: seconds(u)?,
                interjection_s: seconds(u)?,
                reply_s: seconds(u)?,
                scheduled_s: seconds(u)?,
                impromptu_s: seconds(u)?,
            })
        })?,
        warning_s: opt(u, seconds)?,
        overrun: opt(u, |u| pick(u, &[Overrun::Soft, Overrun::Hard]))?,
        grace_s: opt(u, seconds)?,
        drop_grace_s: opt(u, seconds)?,
        on_drop: opt(u, |u| pick(u, &[OnDrop::End, OnDrop::ChairDecides]))?,
        ordering: opt(u, ordering)?,
        sector_budget_s: opt(u, seconds)?,
        moderation: opt(u, |u| pick(u, &[ModerationMode::Pre, ModerationMode::Auto]))?,
        roll_size: opt(u, |u| small(u, 50))?,
    })
}

fn ordering(u: &mut Unstructured) -> Result<OrderingPolicy> {
    pick(
        u,
        &[
            OrderingPolicy::FirstCome,
            OrderingPolicy::FewestTurns,
            OrderingPolicy::LeastTime,
            OrderingPolicy::RotateSectors,
            OrderingPolicy::RotateVenues,
        ],
    )
}

fn choice(u: &mut Unstructured) -> Result<Choice> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Choice::Single {
            option: u.int_in_range(0..=22)?,
        },
        1 => {
            let n = u.int_in_range(0..=6)?;
            let mut options = Vec::new();
            for _ in 0..n {
                options.push(u.int_in_range(0..=22)?);
            }
            Choice::Multiple { options }
        }
        2 => Choice::YesNoAbstain {
            vote: pick(u, &[YesNo::Yes, YesNo::No, YesNo::Abstain])?,
        },
        _ => Choice::Rating {
            stars: u.int_in_range(0..=7)?,
        },
    })
}

/// A ballot that fits `method`, picked by `seed`.
fn fitting(method: &PollMethod, seed: u8) -> Choice {
    match method {
        PollMethod::Single { options } if !options.is_empty() => Choice::Single {
            option: seed % options.len() as u8,
        },
        PollMethod::Multiple { options, min, max } if !options.is_empty() && min <= max => {
            let n = *min + seed % (*max - *min + 1);
            Choice::Multiple {
                options: (0..n)
                    .map(|i| (seed / 3).wrapping_add(i) % options.len() as u8)
                    .collect(),
            }
        }
        PollMethod::YesNoAbstain => Choice::YesNoAbstain {
            vote: [YesNo::Yes, YesNo::No, YesNo::Abstain][usize::from(seed % 3)],
        },
        _ => Choice::Rating {
            stars: 1 + seed % 5,
        },
    }
}

fn command(u: &mut Unstructured) -> Result<Command> {
    let entry = |u: &mut Unstructured| Ok(EntryId(u.int_in_range(0..=12)?));
    let poll = |u: &mut Unstructured| Ok(PollId(u.int_in_range(0..=6)?));
    let comment = |u: &mut Unstructured| Ok(CommentId(u.int_in_range(0..=6)?));
    let question = |u: &mut Unstructured| Ok(QuestionId(u.int_in_range(0..=6)?));
    let reason_text = |u: &mut Unstructured| pick(u, &["", "主持人安排"]).map(str::to_owned);
    Ok(match u.int_in_range(0..=41)? {
        0 => Command::OpenCheckIn,
        1 => Command::StartSession,
        2 => Command::PauseSession,
        3 => Command::ResumeSession,
        4 => Command::CloseSession,
        5 => Command::AddAgendaItem {
            title: text(u)?,
            settings: patch(u)?,
        },
        6 => Command::SetCurrentItem {
            item: ItemId(small(u, 4)?),
        },
        7 => Command::UpdateSettings {
            item: opt(u, |u| Ok(ItemId(small(u, 4)?)))?,
            patch: patch(u)?,
        },
        8 => Command::CheckIn {
            head_count: opt(u, |u| small(u, 500))?,
        },
        9 => Command::RequestFloor {
            kind: kind(u)?,
            speaker: opt(u, text)?,
            replying_to: opt(u, |u| Ok(TurnId(small(u, 12)?)))?,
        },
        10 => Command::Withdraw { kind: kind(u)? },
        11 => Command::AddEntry {
            participant: who(u)?,
            kind: kind(u)?,
            speaker: opt(u, text)?,
            position: opt(u, |u| small(u, 6))?,
            reason: reason_text(u)?,
        },
        12 => Command::MoveEntry {
            entry: entry(u)?,
            position: small(u, 6)?,
            reason: reason_text(u)?,
        },
        13 => Command::RemoveEntry {
            entry: entry(u)?,
            reason: reason_text(u)?,
        },
        14 => Command::GrantFloor {
            entry: opt(u, entry)?,
            reason: opt(u, reason_text)?,
        },
        15 => Command::EndTurn,
        16 => Command::PauseTurn,
        17 => Command::ResumeTurn,
        18 => Command::ExtendTurn {
            seconds: seconds(u)?,
        },
        19 => Command::ShortenTurn {
            seconds: seconds(u)?,
        },
        20 => Command::ShortenAll {
            limit_s: seconds(u)?,
        },
        21 => Command::SetOrdering {
            policy: ordering(u)?,
        },
        22 => Command::SetFloorMode {
            mode: pick(u, &[FloorMode::Moderated, FloorMode::OpenDiscussion])?,
        },
        23 => Command::CreatePoll { spec: spec(u)? },
        24 => Command::UpdatePoll {
            poll: poll(u)?,
            spec: spec(u)?,
        },
        25 => Command::OpenPoll { poll: poll(u)? },
        26 => Command::ClosePoll { poll: poll(u)? },
        27 => Command::PublishPoll { poll: poll(u)? },
        28 => Command::ResetPoll {
            poll: poll(u)?,
            reason: reason_text(u)?,
        },
        29 => Command::CastBallot {
            poll: poll(u)?,
            choice: choice(u)?,
        },
        30 => Command::SendChat { text: text(u)? },
        31 => Command::PostComment { text: text(u)? },
        32 => Command::ModerateComment {
            comment: comment(u)?,
            decision: decision(u)?,
        },
        33 => Command::AskQuestion { text: text(u)? },
        34 => Command::ModerateQuestion {
            question: question(u)?,
            decision: decision(u)?,
        },
        35 => Command::Upvote {
            question: question(u)?,
        },
        36 => Command::MarkAnswered {
            question: question(u)?,
        },
        37 => Command::ForwardQuestion {
            question: question(u)?,
            to: who(u)?,
        },
        38 => Command::MergeQuestion {
            question: question(u)?,
            into: question(u)?,
        },
        39 => Command::PinQuestion {
            question: question(u)?,
            pinned: u.arbitrary()?,
        },
        40 => Command::SetWordList {
            words: {
                let n = u.int_in_range(0..=3)?;
                let mut words = Vec::new();
                for _ in 0..n {
                    words.push(text(u)?);
                }
                words
            },
        },
        _ => Command::Annotate { text: text(u)? },
    })
}

/// A room driven the way the hub drives it, keeping the record and the sealed ballot box
/// as the store does.
struct Harness {
    room: Room,
    now: Millis,
    people: Vec<Actor>,
    events: Vec<Event>,
    sealed: Vec<SealedBallot>,
    next_req: u32,
}

impl Harness {
    fn record(&mut self, out: Applied) {
        for event in &out.events {
            let expected = self.events.last().map_or(1, |e| e.seq + 1);
            assert_eq!(event.seq, expected, "events out of order: {event:?}");
            if let EventBody::PollReset { poll, .. } = &event.body {
                self.sealed.retain(|b| b.poll != *poll);
            }
            self.events.push(event.clone());
        }
        let last = self.events.last().map_or(0, |e| e.seq);
        assert_eq!(
            self.room.seq(),
            last,
            "an event was not folded (or one too many)"
        );
        self.sealed.extend(out.sealed);
    }

    fn command(&mut self, who: usize, command: &Command, retry: u8) {
        // Ballots reuse a few request ids so that retries happen; other commands too, now
        // and then.
        let req = if matches!(command, Command::CastBallot { .. }) || retry >= 3 {
            RequestId(format!("retry-{who}-{}", retry % 3))
        } else {
            self.next_req += 1;
            RequestId(format!("r{}", self.next_req))
        };
        let ticked = self.room.tick(self.now);
        self.record(ticked);
        let actor = self.people[who].clone();
        let before = self.room.clone();
        match self.room.apply(&actor, &req, command, self.now) {
            Ok(out) => self.record(out),
            Err(_) => assert!(self.room == before, "a refused command changed the room"),
        }
    }

    fn step(&mut self, u: &mut Unstructured) -> Result<()> {
        match u.int_in_range(0..=15)? {
            // Commands, from a host a third of the time.
            0..=2 => {
                let c = command(u)?;
                let who = u.int_in_range(0..=1)?;
                let retry = u.int_in_range(0..=4)?;
                self.command(who, &c, retry);
            }
            3..=6 => {
                let c = command(u)?;
                let who = u.int_in_range(0..=self.people.len() - 1)?;
                let retry = u.int_in_range(0..=4)?;
                self.command(who, &c, retry);
            }
            // A ballot made to fit its poll.
            7..=9 => {
                let who = u.int_in_range(0..=self.people.len() - 1)?;
                let poll = PollId(u.int_in_range(1..=4)?);
                let seed: u8 = u.arbitrary()?;
                let retry = u.int_in_range(0..=2)?;
                let host = self.people[0].id().clone();
                let method = self
                    .room
                    .snapshot(View::Host, &host)
                    .polls
                    .into_iter()
                    .find(|p| p.id == poll)
                    .map(|p| p.spec.method);
                let choice = match method {
                    Some(method) => fitting(&method, seed),
                    None => Choice::Rating { stars: seed % 8 },
                };
                self.command(who, &Command::CastBallot { poll, choice }, retry);
            }
            // The clock moves on.
            10..=12 => {
                let ms = match u.int_in_range(0..=7)? {
                    0..=3 => u.int_in_range(0..=2_000)?,
                    4..=6 => u.int_in_range(2_000..=120_000)?,
                    _ => u.int_in_range(0..=u64::from(u32::MAX))?,
                };
                self.now = self.now.plus(ms);
                let out = self.room.tick(self.now);
                self.record(out);
            }
            13 | 14 => {
                let i = u.int_in_range(0..=self.people.len() - 1)?;
                let id = self.people[i].id().clone();
                let out = self.room.leave(&id, self.now);
                self.record(out);
            }
            _ => {
                let i = u.int_in_range(0..=self.people.len() - 1)?;
                let p = self.people[i].participant.clone();
                let out = self.room.join(&p, self.now);
                self.record(out);
            }
        }
        Ok(())
    }

    /// Replaying the record and the ballot box rebuilds the live room, also from the
    /// record as it is stored.
    fn check_replay(&self) {
        let replayed = Room::replay(TITLE, &self.events, &self.sealed);
        assert!(replayed == self.room, "replay differs from the live room");
        let json = serde_json::to_string(&self.events).expect("events serialise");
        let stored: Vec<Event> = serde_json::from_str(&json).expect("events deserialise");
        assert!(stored == self.events, "an event changed through JSON");
        let sealed_json = serde_json::to_string(&self.sealed).expect("ballots serialise");
        let sealed: Vec<SealedBallot> =
            serde_json::from_str(&sealed_json).expect("ballots deserialise");
        assert!(
            Room::replay(TITLE, &stored, &sealed) == self.room,
            "replay of the stored record differs from the live room"
        );
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let mut h = Harness {
        room: Room::new(TITLE),
        now: Millis(1_700_000_000_000),
        people: cast(),
        events: Vec::new(),
        sealed: Vec::new(),
        next_req: 0,
    };
    // Who is there at the start, and whether the session is already open.
    let present: u16 = u.arbitrary()?;
    for i in 0..h.people.len() {
        if present & (1 << i) == 0 {
            let p = h.people[i].participant.clone();
            let out = h.room.join(&p, h.now);
            h.record(out);
        }
    }
    if u.ratio(3, 4)? {
        h.command(0, &Command::StartSession, 0);
    }
    let mut ops = 0;
    while !u.is_empty() && ops < MAX_OPS {
        let step = h.step(u);
        ops += 1;
        if ops % 64 == 0 {
            h.check_replay();
        }
        if step.is_err() {
            break;
        }
    }
    h.check_replay();
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
