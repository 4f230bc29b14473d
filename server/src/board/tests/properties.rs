//! Property tests over random command sequences: whatever the order of submissions,
//! moderation, supports, merges, workflow and outcomes, the invariants hold and replaying
//! the record rebuilds the same board.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Submit {
        area: u8,
        category: u8,
    },
    Moderate {
        topic: u32,
        publish: bool,
    },
    Support {
        topic: u32,
    },
    Comment {
        topic: u32,
        stance: u8,
    },
    ModerateComment {
        comment: u32,
        publish: bool,
    },
    Merge {
        duplicate: u32,
        into: u32,
    },
    Advance {
        topic: u32,
    },
    Select {
        topic: u32,
    },
    Opinion {
        topic: u32,
    },
    CreateOutcome {
        topic: u32,
        parent: Option<u32>,
    },
    Progress {
        outcome: u32,
        percent: u8,
    },
    Follow {
        topic: u32,
        on: bool,
    },
    OpenStudio {
        member: i64,
    },
    PostMessage {
        member: i64,
    },
    ModerateMessage {
        message: u32,
        publish: bool,
    },
    Reply {
        message: u32,
        public: bool,
    },
    MessageToTopic {
        message: u32,
    },
    MessageToReport {
        message: u32,
    },
    ScheduleDuty {
        member: i64,
        start_min: u64,
        minutes: u64,
    },
    CancelDuty {
        slot: u32,
    },
}

/// Areas and categories topics are submitted with.
const AREAS: [&str; 3] = ["东城", "西城", "南城"];
const CATEGORIES: [&str; 2] = ["交通", "民生"];

fn op() -> impl Strategy<Value = Op> {
    op_over(3)
}

/// An operation on topics `1..=topics` (and a few outcomes, comments and messages).
fn op_over(topics: u32) -> impl Strategy<Value = Op> {
    let t = 1..topics + 1;
    prop_oneof![
        2 => (0..AREAS.len() as u8, 0..CATEGORIES.len() as u8)
            .prop_map(|(area, category)| Op::Submit { area, category }),
        2 => (t.clone(), any::<bool>()).prop_map(|(topic, publish)| Op::Moderate { topic, publish }),
        4 => t.clone().prop_map(|topic| Op::Support { topic }),
        1 => (t.clone(), 0..4u8).prop_map(|(topic, stance)| Op::Comment { topic, stance }),
        1 => (1..6u32, any::<bool>()).prop_map(|(comment, publish)| Op::ModerateComment { comment, publish }),
        1 => (t.clone(), t.clone()).prop_map(|(duplicate, into)| Op::Merge { duplicate, into }),
        1 => t.clone().prop_map(|topic| Op::Advance { topic }),
        1 => t.clone().prop_map(|topic| Op::Select { topic }),
        1 => t.clone().prop_map(|topic| Op::Opinion { topic }),
        2 => (t.clone(), proptest::option::of(1..5u32)).prop_map(|(topic, parent)| Op::CreateOutcome { topic, parent }),
        2 => (1..6u32, 0..=100u8).prop_map(|(outcome, percent)| Op::Progress { outcome, percent }),
        1 => (t, any::<bool>()).prop_map(|(topic, on)| Op::Follow { topic, on }),
        1 => (1..3i64).prop_map(|member| Op::OpenStudio { member }),
        2 => (1..3i64).prop_map(|member| Op::PostMessage { member }),
        2 => (1..5u32, any::<bool>()).prop_map(|(message, publish)| Op::ModerateMessage { message, publish }),
        2 => (1..5u32, any::<bool>()).prop_map(|(message, public)| Op::Reply { message, public }),
        1 => (1..5u32).prop_map(|message| Op::MessageToTopic { message }),
        1 => (1..5u32).prop_map(|message| Op::MessageToReport { message }),
        1 => (1..3i64, 0..600u64, 0..300u64)
            .prop_map(|(member, start_min, minutes)| Op::ScheduleDuty { member, start_min, minutes }),
        1 => (1..4u32).prop_map(|slot| Op::CancelDuty { slot }),
    ]
}

fn actor(n: u8) -> Actor {
    match n {
        0..=3 => resident(u32::from(n)),
        4 => member(),
        5 => Actor::Presiding {
            meeting: "m1".into(),
            identity: Identity::new("host"),
            name: "主持人".into(),
            role: PresidingRole::Chair,
        },
        _ => staff(),
    }
}

/// Who sends `op`: staff's commands mostly come from staff (so that sequences get far),
/// and now and then from someone else (who must be refused).
fn sender(op: &Op, who: u8) -> Actor {
    let staffs = matches!(
        op,
        Op::Moderate { .. }
            | Op::ModerateComment { .. }
            | Op::Merge { .. }
            | Op::Advance { .. }
            | Op::Select { .. }
            | Op::Opinion { .. }
            | Op::CreateOutcome { .. }
            | Op::Progress { .. }
            | Op::OpenStudio { .. }
            | Op::ModerateMessage { .. }
            | Op::MessageToTopic { .. }
            | Op::MessageToReport { .. }
            | Op::ScheduleDuty { .. }
            | Op::CancelDuty { .. }
    );
    // Replies come from the member (`m-1`, the studio of member 1), staff, or others.
    if matches!(op, Op::Reply { .. }) && who != 0 && who != 5 {
        return if who.is_multiple_of(2) {
            member()
        } else {
            staff()
        };
    }
    if staffs && who != 0 && who != 5 {
        staff()
    } else {
        actor(who)
    }
}

fn command(op: &Op, board: &Board, now: Millis) -> Command {
    if let Some(command) = studio_command(op, now) {
        return command;
    }
    match op.clone() {
        Op::Submit { area, category } => Command::SubmitTopic(SubmitTopic {
            title: "小区停车难".into(),
            text: "说明".into(),
            area: AREAS[usize::from(area)].into(),
            category: CATEGORIES[usize::from(category)].into(),
        }),
        Op::Moderate { topic, publish } => Command::ModerateTopic(ModerateTopic {
            topic: TopicId(topic),
            decision: if publish {
                Decision::Publish
            } else {
                Decision::Reject {
                    reason: "无关".into(),
                }
            },
        }),
        Op::Support { topic } => Command::Support(Support {
            topic: TopicId(topic),
        }),
        Op::Comment { topic, stance } => Command::PostComment(PostComment {
            topic: TopicId(topic),
            text: "意见".into(),
            stance: [
                None,
                Some(Stance::For),
                Some(Stance::Against),
                Some(Stance::Suggestion),
            ][usize::from(stance)],
        }),
        Op::ModerateComment { comment, publish } => Command::ModerateComment(ModerateComment {
            comment: CommentId(comment),
            decision: if publish {
                Decision::Publish
            } else {
                Decision::Reject {
                    reason: "不文明".into(),
                }
            },
        }),
        Op::Merge { duplicate, into } => Command::MergeTopic(MergeTopic {
            duplicate: TopicId(duplicate),
            into: TopicId(into),
        }),
        Op::Advance { topic } => {
            let stage = board
                .topics
                .get(&TopicId(topic))
                .map_or(Stage::Collecting, |t| t.topic.stage);
            Command::AdvanceStage(AdvanceStage {
                topic: TopicId(topic),
                to: stage.next().unwrap_or(Stage::Done),
                note: "说明".into(),
            })
        }
        Op::Select { topic } => Command::SelectIntoMeeting(SelectIntoMeeting {
            topic: TopicId(topic),
            meeting: "m1".into(),
        }),
        Op::Opinion { topic } => Command::RecordOpinion(RecordOpinion {
            topic: TopicId(topic),
            text: "意见".into(),
        }),
        Op::CreateOutcome { topic, parent } => Command::CreateOutcome(CreateOutcome {
            topic: TopicId(topic),
            title: "成果".into(),
            unit: "单位".into(),
            due: None,
            review: Some(Day("2026-01-01".into())),
            parent: parent.map(OutcomeId),
        }),
        Op::Progress { outcome, percent } => Command::ReportProgress(ReportProgress {
            outcome: OutcomeId(outcome),
            percent: Some(percent),
            status: None,
            note: "进展".into(),
        }),
        Op::OpenStudio { .. }
        | Op::PostMessage { .. }
        | Op::ModerateMessage { .. }
        | Op::Reply { .. }
        | Op::MessageToTopic { .. }
        | Op::MessageToReport { .. }
        | Op::ScheduleDuty { .. }
        | Op::CancelDuty { .. } => unreachable!("studio_command"),
        Op::Follow { topic, on } => {
            let f = Follow {
                topic: TopicId(topic),
            };
            if on {
                Command::Follow(f)
            } else {
                Command::Unfollow(f)
            }
        }
    }
}

fn studio_command(op: &Op, now: Millis) -> Option<Command> {
    Some(match op.clone() {
        Op::MessageToReport { message } => Command::MessageToReport(MessageToReport {
            message: MessageId(message),
            title: "社情民意".into(),
            text: None,
        }),
        Op::ScheduleDuty {
            member,
            start_min,
            minutes,
        } => {
            // Some in the past, some too long: refused; the rest may overlap.
            let starts_at = Millis((now.0 + start_min * 60_000).saturating_sub(60 * 60_000));
            Command::ScheduleDuty(ScheduleDuty {
                member: MemberId(member),
                title: "会客".into(),
                starts_at,
                ends_at: starts_at.plus(minutes * 60_000),
            })
        }
        Op::CancelDuty { slot } => Command::CancelDuty(CancelDuty { slot: SlotId(slot) }),
        Op::OpenStudio { member } => Command::OpenStudio(OpenStudio {
            member: MemberId(member),
            name: "委员".into(),
            sector: "界别".into(),
            photo: None,
            interests: vec!["养老".into()],
            deadline_days: Some(2),
        }),
        Op::PostMessage { member } => Command::PostMessage(PostMessage {
            member: MemberId(member),
            title: None,
            text: "留言".into(),
        }),
        Op::ModerateMessage { message, publish } => Command::ModerateMessage(ModerateMessage {
            message: MessageId(message),
            decision: if publish {
                Decision::Publish
            } else {
                Decision::Reject {
                    reason: "无关".into(),
                }
            },
        }),
        Op::Reply { message, public } => Command::ReplyMessage(ReplyMessage {
            message: MessageId(message),
            text: "答复".into(),
            public,
        }),
        Op::MessageToTopic { message } => Command::MessageToTopic(MessageToTopic {
            message: MessageId(message),
            title: Some("议题".into()),
            area: "东城".into(),
            category: "民生".into(),
        }),
        _ => return None,
    })
}

fn check_invariants(f: &Fixture) {
    let board = &f.board;
    // Supports: each topic's count is its distinct supporters, and a merged duplicate's
    // supporters all count for its target (once each: the target's set holds them).
    for t in board.topics.values() {
        assert_eq!(t.topic.supports as usize, t.supporters.len());
        if let Some(into) = t.topic.merged_into {
            let target = &board.topics[&into];
            assert!(
                t.supporters.is_subset(&target.supporters),
                "merged supports carried over"
            );
        }
    }
    // One support per identity and topic in the whole record.
    let mut seen = std::collections::BTreeSet::new();
    for e in &f.record {
        if let EventBody::Supported { topic, by } = &e.body {
            assert!(
                seen.insert((*topic, by.clone())),
                "{by:?} supported {topic:?} twice"
            );
        }
    }
    // Roll-up.
    for o in board.outcomes.values() {
        if !o.children.is_empty() {
            let sum: u32 = o
                .children
                .iter()
                .map(|c| u32::from(board.progress(*c)))
                .sum();
            assert_eq!(
                u32::from(board.progress(o.outcome.id)),
                sum / o.children.len() as u32
            );
        }
        assert!(board.progress(o.outcome.id) <= 100);
    }
    // Public views hold nothing unpublished.
    let (list, _) = board.public_topics(&Filter::default(), 0, usize::MAX);
    for s in &list {
        assert_eq!(board.topics[&s.id].topic.moderation, Moderation::Published);
    }
    for (id, t) in &board.topics {
        let page = board.topic_page(*id);
        assert_eq!(page.is_some(), t.topic.moderation == Moderation::Published);
        for c in page.map(|p| p.comments).unwrap_or_default() {
            assert_eq!(board.comments[&c.id].moderation, Moderation::Published);
        }
    }
    // Studio pages hold published messages and public replies only; the counts agree;
    // the overdue list holds published messages without a reply.
    for s in board.studios() {
        let page = board.studio_page(s.member).unwrap();
        assert_eq!(page.messages.len() as u32, s.messages);
        for m in &page.messages {
            let state = &board.messages[&m.id];
            assert_eq!(state.moderation, Moderation::Published);
            assert_eq!(state.message.member, s.member);
            assert!(m.replies.iter().all(|r| r.public));
            assert_eq!(
                m.replies.len(),
                state.replies.iter().filter(|r| r.public).count()
            );
        }
    }
    for m in board.overdue(f.now.plus(100 * 86_400_000)) {
        assert_eq!(m.moderation, Moderation::Published);
        assert!(m.replies.is_empty());
    }
    // A 社情民意 item is made of a published message, which links to it; one per message;
    // the public page says so.
    for (id, r) in &board.reports {
        let m = &board.messages[&r.report.message];
        assert_eq!(m.report, Some(*id));
        assert_eq!(m.moderation, Moderation::Published);
    }
    let filed = board
        .messages
        .values()
        .filter(|m| m.report.is_some())
        .count();
    assert_eq!(filed, board.reports.len());
    for s in board.studios() {
        for m in board.studio_page(s.member).unwrap().messages {
            assert_eq!(m.reported, board.messages[&m.id].report.is_some());
        }
    }
    // Duty slots: a studio's slots that stand never overlap, each lasts at most four
    // hours, each names its own room; the listed ones are the standing, unended ones.
    let standing: Vec<&DutySlot> = board
        .duty
        .values()
        .filter(|d| !d.cancelled)
        .map(|d| &d.slot)
        .collect();
    for a in &standing {
        assert!(a.starts_at < a.ends_at && a.ends_at.since(a.starts_at) <= MAX_DUTY_MS);
        for b in &standing {
            if a.id != b.id && a.member == b.member {
                assert!(
                    a.ends_at <= b.starts_at || b.ends_at <= a.starts_at,
                    "{a:?} {b:?}"
                );
            }
        }
    }
    let rooms: std::collections::BTreeSet<&str> =
        board.duty.values().map(|d| d.slot.room.as_str()).collect();
    assert_eq!(rooms.len(), board.duty.len());
    for v in board.duty_slots(None, f.now) {
        assert!(!board.duty[&v.id].cancelled && v.ends_at > f.now);
    }
    // A message made a topic links both ways.
    for t in board.topics.values() {
        if let Some(m) = t.topic.from_message {
            assert_eq!(board.messages[&m].topic, Some(t.topic.id));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn invariants_hold_and_replay_equals_live(
        ops in proptest::collection::vec((0..7u8, op()), 1..80),
    ) {
        let mut f = Fixture::new();
        for (who, op) in &ops {
            let command = command(op, &f.board, f.now);
            let _ = f.try_cmd(&sender(op, *who), command);
            check_invariants(&f);
        }
        prop_assert_eq!(&f.replayed(), &f.board);
        // And through the hash chain: what is sealed verifies and replays the same.
        let mut chain = Chain::default();
        let entries: Vec<BoardEntry> = f.record.iter().cloned().map(|e| chain.seal(e)).collect();
        prop_assert!(verify_chain(&entries).is_ok());
        let json = serde_json::to_string(&entries).unwrap();
        let back: Vec<BoardEntry> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(Board::replay(back.iter().map(|e| &e.event)), f.board.clone());
    }
}

/// What the public list shows, by a plain scan of every topic: published and not merged,
/// matching the filter, newest (the latest submitted) first.
fn scanned_list(board: &Board, filter: &Filter) -> Vec<TopicId> {
    let mut found: Vec<&Topic> = board
        .topics
        .values()
        .map(|t| &t.topic)
        .filter(|t| {
            t.moderation == Moderation::Published
                && t.merged_into.is_none()
                && filter.stage.is_none_or(|s| t.stage == s)
                && filter.area.as_ref().is_none_or(|a| &t.area == a)
                && filter.category.as_ref().is_none_or(|c| &t.category == c)
        })
        .collect();
    found.sort_by_key(|t| std::cmp::Reverse((t.submitted_at, t.id)));
    found.into_iter().map(|t| t.id).collect()
}

/// A list request: a filter (with an area and a category no topic has, now and then),
/// an offset and a limit.
fn list_request() -> impl Strategy<Value = (Filter, usize, usize)> {
    let stages = [
        Stage::Collecting,
        Stage::Selecting,
        Stage::Consulted,
        Stage::Handling,
        Stage::Done,
    ];
    (
        proptest::option::of(proptest::sample::select(stages.to_vec())),
        proptest::option::of(0..AREAS.len() + 1),
        proptest::option::of(0..CATEGORIES.len() + 1),
        0..10usize,
        prop_oneof![0..10usize, Just(usize::MAX)],
    )
        .prop_map(|(stage, area, category, offset, limit)| {
            let named = |names: &[&str], i: usize| names.get(i).map_or("北城", |n| n).to_owned();
            let filter = Filter {
                stage,
                area: area.map(|i| named(&AREAS, i)),
                category: category.map(|i| named(&CATEGORIES, i)),
                only: None,
            };
            (filter, offset, limit)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_public_list_shows_what_a_scan_finds_live_and_replayed(
        ops in proptest::collection::vec((0..7u8, op_over(8)), 1..120),
        requests in proptest::collection::vec(list_request(), 1..6),
    ) {
        let mut f = Fixture::new();
        let check = |board: &Board| {
            for (filter, offset, limit) in &requests {
                let all = scanned_list(board, filter);
                let want: Vec<TopicId> = all.iter().skip(*offset).take(*limit).copied().collect();
                let (page, total) = board.public_topics(filter, *offset, *limit);
                let got: Vec<TopicId> = page.iter().map(|t| t.id).collect();
                assert_eq!((got, total), (want, all.len()), "{filter:?} from {offset}, {limit}");
            }
        };
        for (who, op) in &ops {
            let command = command(op, &f.board, f.now);
            let _ = f.try_cmd(&sender(op, *who), command);
            check(&f.board);
        }
        let replayed = f.replayed();
        check(&replayed);
        prop_assert_eq!(&replayed, &f.board);
    }
}
