//! Members' chat, comments, questions, moderation, the word list and annotations.

use yishi_protocol::{
    Command, Decision, ErrorCode, Event, EventBody, ItemStatus, ModerationMode, Participant,
    ParticipantId, QuestionId, ReasonCount, RejectReason, RequestId, Role, SettingsPatch,
};

use super::Fixture;
use crate::room::talk::CHAT_KEPT;
use crate::room::{Actor, Applied, Room};
use yishi_protocol::{CommentId, View};

fn second_audience() -> Actor {
    Actor::new(Participant::new("a2", "网民乙", Role::Audience))
}

/// The one event a command caused.
fn only(applied: &Applied) -> &Event {
    assert_eq!(applied.events.len(), 1, "{:?}", applied.events);
    &applied.events[0]
}

/// Whether `who` gets `event` live.
fn reaches(room: &Room, event: &Event, who: &Actor) -> bool {
    room.event_for_viewer(event, who.view(), who.id()).is_some()
}

fn auto_moderation(f: &mut Fixture) {
    let host = f.host.clone();
    f.ok(
        &host,
        Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                moderation: Some(ModerationMode::Auto),
                ..SettingsPatch::default()
            },
        },
    );
}

fn comment(f: &mut Fixture, who: &Actor, text: &str) -> (CommentId, Event) {
    let applied = f.ok(who, Command::PostComment { text: text.into() });
    let event = only(&applied).clone();
    let EventBody::CommentPosted { comment } = &event.body else {
        panic!("not a comment: {event:?}");
    };
    (comment.id, event)
}

fn ask(f: &mut Fixture, who: &Actor, text: &str) -> QuestionId {
    let applied = f.ok(who, Command::AskQuestion { text: text.into() });
    let EventBody::QuestionAsked { question } = &only(&applied).body else {
        panic!("not a question: {:?}", applied.events);
    };
    question.id
}

/// An approved question by `who`.
fn approved_question(f: &mut Fixture, who: &Actor, text: &str) -> QuestionId {
    let id = ask(f, who, text);
    let host = f.host.clone();
    f.ok(
        &host,
        Command::ModerateQuestion {
            question: id,
            decision: Decision::Approve,
        },
    );
    id
}

fn upvotes(f: &Fixture, id: QuestionId) -> u32 {
    f.room.talk.questions[&id].question.upvotes
}

#[test]
fn a_pending_comment_reaches_hosts_and_its_author_and_nobody_else() {
    let mut f = Fixture::new();
    let (a1, a2) = (f.audience.clone(), second_audience());
    let (id, event) = comment(&mut f, &a1, "建议增加社区养老服务点");
    let EventBody::CommentPosted { comment } = &event.body else {
        unreachable!()
    };
    assert_eq!(comment.status, ItemStatus::Pending);
    assert_eq!(comment.author, *a1.id());
    assert_eq!(comment.author_name, "网民甲");
    assert_eq!(comment.at, f.now);
    assert!(!comment.flagged);

    assert!(reaches(&f.room, &event, &f.host));
    assert!(reaches(&f.room, &event, &f.recorder));
    assert!(reaches(&f.room, &event, &a1));
    assert!(!reaches(&f.room, &event, &a2));
    assert!(!reaches(&f.room, &event, &f.m1));
    assert!(!reaches(&f.room, &event, &f.observer));

    let seen = |f: &Fixture, who: &Actor| {
        f.room
            .snapshot(who.view(), who.id())
            .comments
            .iter()
            .any(|c| c.id == id)
    };
    assert!(seen(&f, &f.host));
    assert!(seen(&f, &a1));
    assert!(!seen(&f, &a2));
    assert!(!seen(&f, &f.m1));
}

#[test]
fn an_approved_comment_reaches_the_audience_with_its_text() {
    let mut f = Fixture::new();
    let (host, a1, a2) = (f.host.clone(), f.audience.clone(), second_audience());
    let (id, _) = comment(&mut f, &a1, "公交线路太少");
    let applied = f.ok(
        &host,
        Command::ModerateComment {
            comment: id,
            decision: Decision::Approve,
        },
    );
    let event = only(&applied);
    let EventBody::CommentApproved { comment } = &event.body else {
        panic!("{event:?}")
    };
    assert_eq!(comment.text, "公交线路太少");
    assert_eq!(comment.status, ItemStatus::Approved);
    assert_eq!(comment.author_name, "网民甲");
    assert!(reaches(&f.room, event, &a2));
    assert!(reaches(&f.room, event, &f.m1));
    let snap = f.room.snapshot(View::Audience, a2.id());
    assert_eq!(snap.comments.len(), 1);
    assert_eq!(snap.comments[0].text, "公交线路太少");
    assert_eq!(snap.moderation.comments_approved, 1);

    // Moderated once only.
    let again = f.refused(
        &host,
        Command::ModerateComment {
            comment: id,
            decision: Decision::Reject {
                reason: RejectReason::Other,
            },
        },
    );
    assert_eq!(again.code, ErrorCode::InvalidState);
    let unknown = f.refused(
        &host,
        Command::ModerateComment {
            comment: CommentId(99),
            decision: Decision::Approve,
        },
    );
    assert_eq!(unknown.code, ErrorCode::NotFound);
}

#[test]
fn the_author_of_a_rejected_item_sees_why_in_the_snapshot() {
    let mut f = Fixture::new();
    let (host, a1, m1) = (f.host.clone(), f.audience.clone(), f.m1.clone());
    let (id, _) = comment(&mut f, &a1, "加微信领红包");
    f.ok(
        &host,
        Command::ModerateComment {
            comment: id,
            decision: Decision::Reject {
                reason: RejectReason::Advertising,
            },
        },
    );
    let q = ask(&mut f, &m1, "重复的问题");
    f.ok(
        &host,
        Command::ModerateQuestion {
            question: q,
            decision: Decision::Reject {
                reason: RejectReason::Duplicate,
            },
        },
    );
    let mine = f.room.snapshot(View::Audience, a1.id());
    assert_eq!(mine.comments[0].rejected, Some(RejectReason::Advertising));
    let mine = f.room.snapshot(View::Member, m1.id());
    assert_eq!(mine.questions[0].rejected, Some(RejectReason::Duplicate));
    assert!(
        f.room
            .snapshot(View::Member, f.m2.id())
            .questions
            .is_empty(),
        "nobody else sees it"
    );
}

#[test]
fn a_rejection_is_counted_by_reason() {
    let mut f = Fixture::new();
    let (host, a1, a2, m1) = (
        f.host.clone(),
        f.audience.clone(),
        second_audience(),
        f.m1.clone(),
    );
    let reject = |reason| Decision::Reject { reason };
    let mut last = None;
    for (text, reason) in [
        ("加微信领红包", RejectReason::Advertising),
        ("骂人的话", RejectReason::Abusive),
        ("又一个广告", RejectReason::Advertising),
    ] {
        let (id, _) = comment(&mut f, &a1, text);
        let applied = f.ok(
            &host,
            Command::ModerateComment {
                comment: id,
                decision: reject(reason),
            },
        );
        last = Some(only(&applied).clone());
    }
    let rejected = last.unwrap();
    assert!(reaches(&f.room, &rejected, &a1), "the author learns it");
    assert!(reaches(&f.room, &rejected, &f.recorder));
    assert!(!reaches(&f.room, &rejected, &a2));
    assert!(!reaches(&f.room, &rejected, &f.m1));

    let q = ask(&mut f, &m1, "重复的问题");
    f.ok(
        &host,
        Command::ModerateQuestion {
            question: q,
            decision: reject(RejectReason::Duplicate),
        },
    );

    let stats = f.room.snapshot(View::Audience, a2.id()).moderation;
    assert_eq!(
        stats.comments_rejected,
        vec![
            ReasonCount {
                reason: RejectReason::Abusive,
                count: 1
            },
            ReasonCount {
                reason: RejectReason::Advertising,
                count: 2
            },
        ]
    );
    assert_eq!(
        stats.questions_rejected,
        vec![ReasonCount {
            reason: RejectReason::Duplicate,
            count: 1
        }]
    );
    assert_eq!(stats.comments_approved, 0);
    // The author still sees their own rejected item; others do not.
    assert_eq!(f.room.snapshot(View::Audience, a1.id()).comments.len(), 3);
    assert!(f.room.snapshot(View::Audience, a2.id()).comments.is_empty());
    assert_eq!(f.room.snapshot(View::Host, host.id()).comments.len(), 3);
}

#[test]
fn the_word_list_holds_back_an_item_even_in_auto_mode() {
    let mut f = Fixture::new();
    let (host, a1, a2) = (f.host.clone(), f.audience.clone(), second_audience());
    auto_moderation(&mut f);
    let applied = f.ok(
        &host,
        Command::SetWordList {
            words: vec![" SPAM ".into(), "spam".into(), "".into(), "广告".into()],
        },
    );
    let event = only(&applied);
    assert_eq!(
        event.body,
        EventBody::WordListSet {
            words: vec!["spam".into(), "广告".into()]
        }
    );
    assert!(reaches(&f.room, event, &f.recorder));
    assert!(!reaches(&f.room, event, &f.m1));
    assert!(!reaches(&f.room, event, &a1));
    // The same list again changes nothing.
    let same = f.ok(
        &host,
        Command::SetWordList {
            words: vec!["spam".into(), "广告".into()],
        },
    );
    assert!(same.events.is_empty());

    let (clean_id, clean) = comment(&mut f, &a1, "支持这个方案");
    assert!(reaches(&f.room, &clean, &a2), "auto mode publishes at once");
    let (held_id, held) = comment(&mut f, &a1, "Cheap Spam here");
    let EventBody::CommentPosted { comment } = &held.body else {
        unreachable!()
    };
    assert_eq!(comment.status, ItemStatus::Pending);
    assert!(comment.flagged);
    assert!(!reaches(&f.room, &held, &a2));
    assert!(reaches(&f.room, &held, &a1));

    let m1 = f.m1.clone();
    let q = ask(&mut f, &m1, "这是广告吗");
    assert_eq!(
        f.room.talk.questions[&q].question.status,
        ItemStatus::Pending
    );

    let snap = f.room.snapshot(View::Audience, a2.id());
    assert_eq!(
        snap.comments.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![clean_id]
    );
    assert_eq!(snap.moderation.flagged, 2);
    assert_eq!(snap.moderation.comments_approved, 1);
    assert_eq!(snap.word_list, None);
    let host_snap = f.room.snapshot(View::Host, host.id());
    assert_eq!(
        host_snap.word_list,
        Some(vec!["spam".to_owned(), "广告".to_owned()])
    );
    assert!(host_snap.comments.iter().any(|c| c.id == held_id));
}

#[test]
fn pre_moderation_flags_but_holds_everything() {
    let mut f = Fixture::new();
    let (host, a1) = (f.host.clone(), f.audience.clone());
    f.ok(
        &host,
        Command::SetWordList {
            words: vec!["广告".into()],
        },
    );
    let (_, plain) = comment(&mut f, &a1, "普通意见");
    let (_, flagged) = comment(&mut f, &a1, "这是广告");
    for (event, flag) in [(plain, false), (flagged, true)] {
        let EventBody::CommentPosted { comment } = &event.body else {
            unreachable!()
        };
        assert_eq!(comment.status, ItemStatus::Pending);
        assert_eq!(comment.flagged, flag);
    }
}

#[test]
fn one_upvote_per_participant() {
    let mut f = Fixture::new();
    let (m1, m2, a1) = (f.m1.clone(), f.m2.clone(), f.audience.clone());
    let q = approved_question(&mut f, &m1, "养老金什么时候调整？");
    let applied = f.ok(&m2, Command::Upvote { question: q });
    assert!(reaches(&f.room, only(&applied), &a1));
    let twice = f.refused(&m2, Command::Upvote { question: q });
    assert_eq!(twice.code, ErrorCode::AlreadyUpvoted);
    // The author may back their own question.
    f.ok(&m1, Command::Upvote { question: q });
    f.ok(&a1, Command::Upvote { question: q });
    assert_eq!(upvotes(&f, q), 3);

    let pending = ask(&mut f, &a1, "还没审核的问题");
    let refused = f.refused(&m2, Command::Upvote { question: pending });
    assert_eq!(refused.code, ErrorCode::InvalidState);
    let unknown = f.refused(
        &m2,
        Command::Upvote {
            question: QuestionId(42),
        },
    );
    assert_eq!(unknown.code, ErrorCode::NotFound);
}

#[test]
fn a_merged_duplicate_hands_its_upvotes_to_the_target_without_counting_anyone_twice() {
    let mut f = Fixture::new();
    let (host, m1, m2, m3, a1) = (
        f.host.clone(),
        f.m1.clone(),
        f.m2.clone(),
        f.m3.clone(),
        f.audience.clone(),
    );
    let target = approved_question(&mut f, &m1, "学区划分怎么定？");
    let dup = approved_question(&mut f, &a1, "学区是怎么划的？");
    f.ok(&m2, Command::Upvote { question: target });
    f.ok(&m3, Command::Upvote { question: target });
    f.ok(&m3, Command::Upvote { question: dup });
    f.ok(&a1, Command::Upvote { question: dup });
    f.ok(
        &host,
        Command::PinQuestion {
            question: dup,
            pinned: true,
        },
    );

    let itself = f.refused(
        &host,
        Command::MergeQuestion {
            question: dup,
            into: dup,
        },
    );
    assert_eq!(itself.code, ErrorCode::InvalidArgument);
    let merged = f.ok(
        &host,
        Command::MergeQuestion {
            question: dup,
            into: target,
        },
    );
    // The pinned duplicate is unpinned first, then merged.
    assert_eq!(merged.events.len(), 2);
    assert!(merged.events.iter().all(|e| reaches(&f.room, e, &a1)));

    assert_eq!(upvotes(&f, target), 3, "m2, m3 and a1, m3 once");
    let d = &f.room.talk.questions[&dup].question;
    assert_eq!(d.merged_into, Some(target));
    assert_eq!(d.upvotes, 0);
    assert!(!d.pinned);
    assert_eq!(
        f.room
            .snapshot(View::Audience, a1.id())
            .moderation
            .questions_merged,
        1
    );
    // Those who backed the duplicate back the target now.
    for who in [&m3, &a1] {
        let e = f.refused(who, Command::Upvote { question: target });
        assert_eq!(e.code, ErrorCode::AlreadyUpvoted);
    }
    let e = f.refused(&m1, Command::Upvote { question: dup });
    assert_eq!(e.code, ErrorCode::InvalidState);
    let e = f.refused(
        &host,
        Command::MergeQuestion {
            question: dup,
            into: target,
        },
    );
    assert_eq!(e.code, ErrorCode::InvalidState);

    // A pending duplicate may be merged too; only hosts and its author hear of it.
    let hidden = ask(&mut f, &m2, "学区问题");
    let e = f.refused(
        &host,
        Command::MergeQuestion {
            question: target,
            into: hidden,
        },
    );
    assert_eq!(
        e.code,
        ErrorCode::InvalidState,
        "the target must be approved"
    );
    let applied = f.ok(
        &host,
        Command::MergeQuestion {
            question: hidden,
            into: target,
        },
    );
    let event = only(&applied);
    assert!(reaches(&f.room, event, &m2));
    assert!(reaches(&f.room, event, &f.recorder));
    assert!(!reaches(&f.room, event, &m1));
    assert!(!reaches(&f.room, event, &a1));
    let e = f.refused(
        &host,
        Command::ModerateQuestion {
            question: hidden,
            decision: Decision::Approve,
        },
    );
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert_eq!(
        f.room
            .snapshot(View::Host, host.id())
            .moderation
            .questions_merged,
        2
    );
}

#[test]
fn hosts_answer_pin_and_forward_approved_questions_once() {
    let mut f = Fixture::new();
    let (host, m1, m2, a1) = (
        f.host.clone(),
        f.m1.clone(),
        f.m2.clone(),
        f.audience.clone(),
    );
    let first = approved_question(&mut f, &m1, "第一个问题");
    let second = approved_question(&mut f, &a1, "第二个问题");
    let third = approved_question(&mut f, &m2, "第三个问题");
    f.ok(&m1, Command::Upvote { question: third });

    let pin = Command::PinQuestion {
        question: second,
        pinned: true,
    };
    assert_eq!(f.ok(&host, pin.clone()).events.len(), 1);
    assert!(f.ok(&host, pin).events.is_empty(), "already pinned");
    let answered = Command::MarkAnswered { question: first };
    let event = only(&f.ok(&host, answered.clone())).clone();
    assert!(reaches(&f.room, &event, &a1));
    assert!(f.ok(&host, answered).events.is_empty(), "answered twice");

    let respondent = f.respondent.id().clone();
    let forward = Command::ForwardQuestion {
        question: third,
        to: respondent.clone(),
    };
    assert_eq!(f.ok(&host, forward.clone()).events.len(), 1);
    assert!(f.ok(&host, forward).events.is_empty());
    let nobody = f.refused(
        &host,
        Command::ForwardQuestion {
            question: third,
            to: ParticipantId::new("nobody"),
        },
    );
    assert_eq!(nobody.code, ErrorCode::NotFound);

    let pending = ask(&mut f, &a1, "待审问题");
    for command in [
        Command::MarkAnswered { question: pending },
        Command::PinQuestion {
            question: pending,
            pinned: true,
        },
        Command::ForwardQuestion {
            question: pending,
            to: respondent.clone(),
        },
    ] {
        assert_eq!(f.refused(&host, command).code, ErrorCode::InvalidState);
    }

    let snap = f.room.snapshot(View::Member, m2.id());
    let order: Vec<_> = snap.questions.iter().map(|q| q.id).collect();
    assert_eq!(order, vec![second, third, first], "pinned, upvotes, id");
    let q3 = &snap.questions[1];
    assert_eq!(q3.forwarded_to, Some(respondent));
    assert!(snap.questions[2].answered);
    assert!(
        f.room
            .snapshot(View::Audience, a1.id())
            .questions
            .iter()
            .any(|q| q.id == pending),
        "the author sees their own pending question"
    );
}

#[test]
fn members_chat_never_reaches_the_audience() {
    let mut f = Fixture::new();
    let (m1, a1) = (f.m1.clone(), f.audience.clone());
    let applied = f.ok(
        &m1,
        Command::SendChat {
            text: "休会后到201室".into(),
        },
    );
    let event = only(&applied);
    let EventBody::ChatSent { message } = &event.body else {
        panic!("{event:?}")
    };
    assert_eq!(message.id.0, 1);
    assert_eq!(message.from_name, "张三");
    assert!(reaches(&f.room, event, &f.m2));
    assert!(reaches(&f.room, event, &f.host));
    assert!(reaches(&f.room, event, &f.observer));
    assert!(!reaches(&f.room, event, &a1));
    assert!(f.room.snapshot(View::Audience, a1.id()).chat.is_empty());
    assert_eq!(f.room.snapshot(View::Member, f.m2.id()).chat.len(), 1);
    let e = f.refused(&a1, Command::SendChat { text: "hi".into() });
    assert_eq!(e.code, ErrorCode::Forbidden);
}

#[test]
fn the_chat_snapshot_holds_the_latest_messages_oldest_first() {
    let mut f = Fixture::new();
    let m1 = f.m1.clone();
    for i in 1..=CHAT_KEPT + 5 {
        f.ok(
            &m1,
            Command::SendChat {
                text: format!("消息{i}"),
            },
        );
    }
    let chat = f.room.snapshot(View::Member, m1.id()).chat;
    assert_eq!(chat.len(), CHAT_KEPT);
    assert_eq!(chat[0].text, "消息6");
    assert_eq!(chat[CHAT_KEPT - 1].id.0 as usize, CHAT_KEPT + 5);
}

#[test]
fn text_over_500_characters_is_refused() {
    let mut f = Fixture::new();
    let (m1, a1, rec) = (f.m1.clone(), f.audience.clone(), f.recorder.clone());
    let long = "议".repeat(501);
    let before = f.room.clone();
    for (who, command) in [
        (&a1, Command::PostComment { text: long.clone() }),
        (&a1, Command::AskQuestion { text: long.clone() }),
        (&m1, Command::SendChat { text: long.clone() }),
        (&rec, Command::Annotate { text: long.clone() }),
    ] {
        assert_eq!(f.refused(who, command).code, ErrorCode::TextTooLong);
    }
    assert_eq!(f.room, before, "a refusal changes nothing");
    let e = f.refused(&a1, Command::PostComment { text: "  ".into() });
    assert_eq!(e.code, ErrorCode::TextEmpty);
    let (_, event) = comment(&mut f, &a1, &"议".repeat(500));
    let EventBody::CommentPosted { comment } = &event.body else {
        unreachable!()
    };
    assert_eq!(comment.text.chars().count(), 500);
}

#[test]
fn commands_need_their_grant() {
    let mut f = Fixture::new();
    let (host, m1, a1, o1, rec) = (
        f.host.clone(),
        f.m1.clone(),
        f.audience.clone(),
        f.observer.clone(),
        f.recorder.clone(),
    );
    let q = approved_question(&mut f, &m1, "一个问题");
    let (c, _) = comment(&mut f, &a1, "一条意见");
    let before = f.room.clone();
    let moderation = |q| {
        vec![
            Command::ModerateComment {
                comment: c,
                decision: Decision::Approve,
            },
            Command::ModerateQuestion {
                question: q,
                decision: Decision::Approve,
            },
            Command::MarkAnswered { question: q },
            Command::PinQuestion {
                question: q,
                pinned: true,
            },
            Command::ForwardQuestion {
                question: q,
                to: ParticipantId::new("r1"),
            },
            Command::MergeQuestion {
                question: q,
                into: q,
            },
            Command::SetWordList {
                words: vec!["x".into()],
            },
        ]
    };
    let mut cases: Vec<(&Actor, Command)> = vec![
        (&o1, Command::SendChat { text: "x".into() }),
        (&o1, Command::PostComment { text: "x".into() }),
        (&o1, Command::AskQuestion { text: "x".into() }),
        (&o1, Command::Upvote { question: q }),
        (&m1, Command::PostComment { text: "x".into() }),
        (&a1, Command::SendChat { text: "x".into() }),
        (&m1, Command::Annotate { text: "x".into() }),
        (&a1, Command::Annotate { text: "x".into() }),
    ];
    for who in [&m1, &a1, &o1, &rec] {
        cases.extend(moderation(q).into_iter().map(|c| (who, c)));
    }
    for (who, command) in cases {
        let name = command.name();
        let e = f.refused(who, command);
        assert_eq!(e.code, ErrorCode::Forbidden, "{} {name}", who.id().0);
    }
    assert_eq!(f.room, before, "a refusal changes nothing");

    // The recorder annotates; only host views hear of it.
    let applied = f.ok(
        &rec,
        Command::Annotate {
            text: "  第二项议程开始 ".into(),
        },
    );
    let event = only(&applied);
    assert_eq!(
        event.body,
        EventBody::Annotated {
            text: "第二项议程开始".into()
        }
    );
    assert!(reaches(&f.room, event, &host));
    assert!(!reaches(&f.room, event, &m1));
    assert!(!reaches(&f.room, event, &a1));
}

#[test]
fn replaying_the_record_rebuilds_the_talk_state() {
    let f = Fixture::new();
    let mut room = Room::new("测试协商会");
    let mut record: Vec<Event> = Vec::new();
    let mut now = f.now;
    for a in [
        &f.host,
        &f.m1,
        &f.m2,
        &f.m3,
        &f.respondent,
        &f.observer,
        &f.recorder,
        &f.audience,
    ] {
        record.extend(room.join(&a.participant, now).events);
    }
    let mut req = 0;
    let mut run = |room: &mut Room, now, who: &Actor, command: Command| {
        req += 1;
        let applied = room
            .apply(who, &RequestId(format!("r{req}")), &command, now)
            .unwrap();
        record.extend(applied.events);
    };
    run(&mut room, now, &f.host, Command::StartSession);
    let q = |n| QuestionId(n);
    let approve = Decision::Approve;
    let steps: Vec<(&Actor, Command)> = vec![
        (&f.m1, Command::SendChat { text: "早".into() }),
        (
            &f.host,
            Command::SetWordList {
                words: vec!["广告".into()],
            },
        ),
        (
            &f.audience,
            Command::PostComment {
                text: "意见一".into(),
            },
        ),
        (
            &f.audience,
            Command::PostComment {
                text: "广告".into(),
            },
        ),
        (
            &f.host,
            Command::ModerateComment {
                comment: CommentId(1),
                decision: approve,
            },
        ),
        (
            &f.host,
            Command::ModerateComment {
                comment: CommentId(2),
                decision: Decision::Reject {
                    reason: RejectReason::Advertising,
                },
            },
        ),
        (
            &f.m1,
            Command::AskQuestion {
                text: "问一".into(),
            },
        ),
        (
            &f.audience,
            Command::AskQuestion {
                text: "问二".into(),
            },
        ),
        (
            &f.m2,
            Command::AskQuestion {
                text: "问三".into(),
            },
        ),
        (
            &f.host,
            Command::ModerateQuestion {
                question: q(1),
                decision: approve,
            },
        ),
        (
            &f.host,
            Command::ModerateQuestion {
                question: q(2),
                decision: approve,
            },
        ),
        (&f.m2, Command::Upvote { question: q(1) }),
        (&f.m3, Command::Upvote { question: q(2) }),
        (&f.m2, Command::Upvote { question: q(2) }),
        (
            &f.host,
            Command::PinQuestion {
                question: q(2),
                pinned: true,
            },
        ),
        (
            &f.host,
            Command::MergeQuestion {
                question: q(2),
                into: q(1),
            },
        ),
        (
            &f.host,
            Command::MergeQuestion {
                question: q(3),
                into: q(1),
            },
        ),
        (&f.host, Command::MarkAnswered { question: q(1) }),
        (
            &f.host,
            Command::ForwardQuestion {
                question: q(1),
                to: f.respondent.id().clone(),
            },
        ),
        (
            &f.recorder,
            Command::Annotate {
                text: "备注".into(),
            },
        ),
    ];
    for (who, command) in steps {
        now = now.plus(1_000);
        run(&mut room, now, who, command);
    }

    assert_eq!(room.talk.questions[&q(1)].question.upvotes, 2);
    let replayed = Room::replay("测试协商会", &record, &[]);
    assert_eq!(replayed.talk, room.talk);
    assert_eq!(replayed, room);
    for view in [View::Host, View::Member, View::Audience] {
        assert_eq!(
            replayed.snapshot(view, f.audience.id()),
            room.snapshot(view, f.audience.id())
        );
    }
}
