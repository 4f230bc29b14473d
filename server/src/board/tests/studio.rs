//! Members' studios: opened by staff, messages pre-moderated, public and private
//! replies, the reply deadline and the overdue list, a message made a topic or a
//! 社情民意 item, notices.

use super::*;

/// Roster member 1: the identity of [`member`] (`m-1`).
pub(super) const ZHANG: MemberId = MemberId(1);
const DAY: u64 = 86_400_000;

pub(super) fn open(f: &mut Fixture, member: MemberId, deadline_days: Option<u32>) {
    f.ok(
        &staff(),
        Command::OpenStudio(OpenStudio {
            member,
            name: "张委员".into(),
            sector: "经济界".into(),
            photo: Some("https://example.org/zhang.jpg".into()),
            interests: vec!["养老".into(), "交通".into()],
            deadline_days,
        }),
    );
}

pub(super) fn post(f: &mut Fixture, who: &Actor, text: &str) -> MessageId {
    let events = f.ok(
        who,
        Command::PostMessage(PostMessage {
            member: ZHANG,
            title: Some(format!("关于{text}")),
            text: text.into(),
        }),
    );
    match &events[0].body {
        EventBody::MessagePosted { message } => message.id,
        other => panic!("unexpected {other:?}"),
    }
}

pub(super) fn moderate(f: &mut Fixture, message: MessageId, decision: Decision) {
    f.ok(
        &staff(),
        Command::ModerateMessage(ModerateMessage { message, decision }),
    );
}

fn reply(message: MessageId, text: &str, public: bool) -> Command {
    Command::ReplyMessage(ReplyMessage {
        message,
        text: text.into(),
        public,
    })
}

/// A studio for member 1 and a published message from resident 2.
pub(super) fn published_message(f: &mut Fixture) -> MessageId {
    open(f, ZHANG, None);
    let id = post(f, &resident(2), "小区加装电梯");
    moderate(f, id, Decision::Publish);
    id
}

#[test]
fn staff_open_a_studio_with_a_default_deadline() {
    let mut f = Fixture::new();
    assert_eq!(
        f.refused(
            &member(),
            Command::OpenStudio(OpenStudio {
                member: ZHANG,
                name: "张委员".into(),
                sector: String::new(),
                photo: None,
                interests: vec![],
                deadline_days: None,
            })
        ),
        ErrorCode::Forbidden
    );
    open(&mut f, ZHANG, None);
    let page = f.board.studio_page(ZHANG).unwrap();
    assert_eq!(page.deadline_days, DEFAULT_DEADLINE_DAYS);
    assert_eq!(page.interests, ["养老", "交通"]);
    assert_eq!(f.board.studios().len(), 1);
    // Opening again changes the settings and keeps one studio.
    open(&mut f, ZHANG, Some(3));
    assert_eq!(f.board.studio_page(ZHANG).unwrap().deadline_days, 3);
    assert_eq!(f.board.studios().len(), 1);
}

#[test]
fn a_studios_settings_are_checked() {
    let mut f = Fixture::new();
    let bad = |photo: Option<&str>, interests: usize, days: Option<u32>| {
        Command::OpenStudio(OpenStudio {
            member: ZHANG,
            name: "张委员".into(),
            sector: "经济界".into(),
            photo: photo.map(Into::into),
            interests: (0..interests).map(|i| format!("领域{i}")).collect(),
            deadline_days: days,
        })
    };
    for command in [
        bad(Some("javascript:alert(1)"), 0, None),
        bad(Some("https://x.org/a b.jpg"), 0, None),
        bad(Some("//evil.org/a.jpg"), 0, None),
        bad(None, MAX_INTERESTS + 1, None),
        bad(None, 0, Some(0)),
        bad(None, 0, Some(MAX_DEADLINE_DAYS + 1)),
    ] {
        assert_eq!(f.refused(&staff(), command), ErrorCode::InvalidArgument);
    }
    f.ok(
        &staff(),
        bad(Some("/media/zhang.png"), MAX_INTERESTS, Some(1)),
    );
}

#[test]
fn a_message_is_pre_moderated_and_the_sender_told() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let id = post(&mut f, &resident(2), "小区加装电梯");
    assert!(f.board.studio_page(ZHANG).unwrap().messages.is_empty());
    assert_eq!(f.board.queue().messages.len(), 1);
    // The sender sees it, pending.
    let mine = f.board.sent_messages(ZHANG, &resident(2).identity());
    assert_eq!(mine[0].moderation, Moderation::Pending);
    assert!(
        f.board
            .sent_messages(ZHANG, &resident(3).identity())
            .is_empty()
    );
    assert_eq!(
        f.refused(
            &resident(2),
            Command::ModerateMessage(ModerateMessage {
                message: id,
                decision: Decision::Publish
            })
        ),
        ErrorCode::Forbidden
    );
    moderate(&mut f, id, Decision::Publish);
    let page = f.board.studio_page(ZHANG).unwrap();
    assert_eq!(page.messages[0].text, "小区加装电梯");
    assert_eq!(page.messages[0].sender_name, "居民2");
    assert!(f.board.queue().messages.is_empty());
    let feed = f.board.feed(&resident(2).identity());
    assert_eq!(feed[0].kind, NoticeKind::MessagePublished);
    assert_eq!(feed[0].message, Some(id));
    assert_eq!(feed[0].studio, Some(ZHANG));
    assert_eq!(feed[0].topic, None);
    assert_eq!(feed[0].topic_title, "关于小区加装电梯");
    // Once only.
    assert_eq!(
        f.refused(
            &staff(),
            Command::ModerateMessage(ModerateMessage {
                message: id,
                decision: Decision::Publish
            })
        ),
        ErrorCode::InvalidState
    );
}

#[test]
fn a_rejected_message_never_shows_and_the_sender_gets_the_reason() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let id = post(&mut f, &resident(2), "广告");
    moderate(
        &mut f,
        id,
        Decision::Reject {
            reason: "与履职无关".into(),
        },
    );
    assert!(f.board.studio_page(ZHANG).unwrap().messages.is_empty());
    assert_eq!(f.board.studios()[0].messages, 0);
    let feed = f.board.feed(&resident(2).identity());
    assert_eq!(feed[0].kind, NoticeKind::MessageRejected);
    assert_eq!(feed[0].text, "与履职无关");
    // Not repliable either.
    assert_eq!(
        f.refused(&member(), reply(id, "x", true)),
        ErrorCode::InvalidState
    );
}

#[test]
fn who_may_leave_a_message() {
    let mut f = Fixture::new();
    let to = |member| {
        Command::PostMessage(PostMessage {
            member,
            title: None,
            text: "你好".into(),
        })
    };
    assert_eq!(f.refused(&resident(1), to(ZHANG)), ErrorCode::NotFound);
    open(&mut f, ZHANG, None);
    assert_eq!(f.refused(&staff(), to(ZHANG)), ErrorCode::Forbidden);
    let chair = Actor::Presiding {
        meeting: "m1".into(),
        identity: Identity::new("host"),
        name: "主持人".into(),
        role: PresidingRole::Chair,
    };
    assert_eq!(f.refused(&chair, to(ZHANG)), ErrorCode::Forbidden);
    f.ok(&member(), to(ZHANG));
    f.ok(&resident(1), to(ZHANG));
    assert_eq!(
        f.refused(
            &resident(1),
            Command::PostMessage(PostMessage {
                member: ZHANG,
                title: Some("  ".into()),
                text: "  ".into(),
            })
        ),
        ErrorCode::TextEmpty
    );
    assert_eq!(
        f.refused(
            &resident(1),
            Command::PostMessage(PostMessage {
                member: ZHANG,
                title: None,
                text: "议".repeat(2_001),
            })
        ),
        ErrorCode::TextTooLong
    );
    // A blank title is no title.
    f.ok(
        &resident(1),
        Command::PostMessage(PostMessage {
            member: ZHANG,
            title: Some(" ".into()),
            text: "你好".into(),
        }),
    );
    assert_eq!(f.board.queue().messages[2].title, None);
}

#[test]
fn a_private_reply_is_seen_by_the_sender_and_staff_only() {
    let mut f = Fixture::new();
    let id = published_message(&mut f);
    f.ok(&member(), reply(id, "请留下联系方式，我来了解情况", false));
    let page = f.board.studio_page(ZHANG).unwrap();
    assert!(
        page.messages[0].replies.is_empty(),
        "not on the public page"
    );
    assert_eq!(f.board.studios()[0].replied, 1);
    let mine = f.board.sent_messages(ZHANG, &resident(2).identity());
    assert_eq!(mine[0].replies[0].text, "请留下联系方式，我来了解情况");
    assert!(!mine[0].replies[0].public);
    assert_eq!(
        f.board.inbox(ZHANG)[0].replies.len(),
        1,
        "the member sees it"
    );
    let feed = f.board.feed(&resident(2).identity());
    assert_eq!(feed[0].kind, NoticeKind::Replied);
    assert_eq!(feed[0].text, "请留下联系方式，我来了解情况");
    assert!(
        f.board.feed(&resident(3).identity()).is_empty(),
        "no one else is told"
    );
}

#[test]
fn a_public_reply_shows_under_the_message() {
    let mut f = Fixture::new();
    let id = published_message(&mut f);
    f.ok(&member(), reply(id, "已向住建部门反映", true));
    f.ok(&staff(), reply(id, "工作室已登记", true));
    let page = f.board.studio_page(ZHANG).unwrap();
    let replies = &page.messages[0].replies;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].by_name, "张委员");
    assert!(!replies[0].by_staff);
    assert!(replies[1].by_staff);
}

#[test]
fn only_the_studios_member_or_staff_reply() {
    let mut f = Fixture::new();
    let id = published_message(&mut f);
    let other_member = Actor::Member {
        identity: MemberId(2).identity(),
        name: "李委员".into(),
    };
    for who in [resident(2), other_member] {
        assert_eq!(f.refused(&who, reply(id, "x", true)), ErrorCode::Forbidden);
    }
    assert_eq!(
        f.refused(&member(), reply(MessageId(99), "x", true)),
        ErrorCode::NotFound
    );
    assert_eq!(
        f.refused(&member(), reply(id, " ", true)),
        ErrorCode::TextEmpty
    );
    // Not before publication.
    let pending = post(&mut f, &resident(3), "路灯");
    assert_eq!(
        f.refused(&member(), reply(pending, "x", true)),
        ErrorCode::InvalidState
    );
}

#[test]
fn the_deadline_runs_from_publication_and_a_reply_ends_it() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, Some(2));
    let a = post(&mut f, &resident(2), "电梯");
    let b = post(&mut f, &resident(3), "路灯");
    let c = post(&mut f, &resident(4), "垃圾分类");
    // Published a day after it was posted: the deadline counts from publication.
    f.now = f.now.plus(DAY);
    moderate(&mut f, a, Decision::Publish);
    let published = f.now;
    moderate(&mut f, b, Decision::Publish);
    let due = published.plus(2 * DAY);
    assert_eq!(f.board.inbox(ZHANG).last().unwrap().due, Some(due));
    assert!(f.board.overdue(due).is_empty(), "due, not yet overdue");
    let late = f.board.overdue(due.plus(1));
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].id, a);
    assert_eq!(late[0].studio_name, "张委员");
    // A pending message is never overdue; a replied one is no longer.
    assert!(
        f.board
            .overdue(due.plus(10 * DAY))
            .iter()
            .all(|m| m.id != c)
    );
    f.ok(&member(), reply(a, "收到", false));
    let late = f.board.overdue(due.plus(10 * DAY));
    assert_eq!(late.iter().map(|m| m.id).collect::<Vec<_>>(), [b]);
}

#[test]
fn a_new_deadline_applies_to_messages_published_after() {
    let mut f = Fixture::new();
    let a = published_message(&mut f);
    open(&mut f, ZHANG, Some(1));
    let b = post(&mut f, &resident(3), "路灯");
    moderate(&mut f, b, Decision::Publish);
    let inbox = f.board.inbox(ZHANG);
    let due = |id| inbox.iter().find(|m| m.id == id).unwrap().due.unwrap();
    assert!(due(a) > due(b), "a keeps its 7 days, b has 1");
}

#[test]
fn staff_make_a_message_a_topic_with_a_link_back() {
    let mut f = Fixture::new();
    let id = published_message(&mut f);
    let to_topic = |title: Option<&str>| {
        Command::MessageToTopic(MessageToTopic {
            message: id,
            title: title.map(Into::into),
            area: "东城街道".into(),
            category: "城建".into(),
        })
    };
    assert_eq!(f.refused(&member(), to_topic(None)), ErrorCode::Forbidden);
    let events = f.ok(&staff(), to_topic(None));
    let EventBody::TopicSubmitted { topic } = &events[0].body else {
        panic!("{events:?}")
    };
    assert_eq!(topic.from_message, Some(id));
    assert_eq!(
        topic.author,
        resident(2).identity(),
        "the sender is its author"
    );
    let page = f.board.topic_page(topic.id).expect("published at once");
    assert_eq!(page.title, "关于小区加装电梯");
    assert_eq!(page.text, "小区加装电梯");
    assert_eq!(
        f.board.studio_page(ZHANG).unwrap().messages[0].topic,
        Some(topic.id)
    );
    assert_eq!(
        f.board.feed(&resident(2).identity())[0].kind,
        NoticeKind::Published,
        "the sender is told their topic is published"
    );
    assert_eq!(
        f.refused(&staff(), to_topic(Some("再来一次"))),
        ErrorCode::InvalidState
    );
}

#[test]
fn a_message_without_a_title_needs_one_to_become_a_topic() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let events = f.ok(
        &resident(2),
        Command::PostMessage(PostMessage {
            member: ZHANG,
            title: None,
            text: "小区路灯坏了很久".into(),
        }),
    );
    let EventBody::MessagePosted { message } = &events[0].body else {
        panic!()
    };
    let id = message.id;
    let to_topic = |title: Option<&str>| {
        Command::MessageToTopic(MessageToTopic {
            message: id,
            title: title.map(Into::into),
            area: "东城街道".into(),
            category: "城建".into(),
        })
    };
    assert_eq!(
        f.refused(&staff(), to_topic(Some("路灯"))),
        ErrorCode::InvalidState,
        "not published yet"
    );
    moderate(&mut f, id, Decision::Publish);
    assert_eq!(f.refused(&staff(), to_topic(None)), ErrorCode::TextEmpty);
    f.ok(&staff(), to_topic(Some("小区路灯维修")));
    assert_eq!(
        f.board.feed(&resident(2).identity())[1].topic_title,
        "小区路灯坏了很久",
        "a notice about a message without a title names it by its text"
    );
}

fn to_report(message: MessageId, title: &str, text: Option<&str>) -> Command {
    Command::MessageToReport(MessageToReport {
        message,
        title: title.into(),
        text: text.map(Into::into),
    })
}

#[test]
fn staff_file_a_published_message_as_a_report_once_and_the_sender_is_told() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let pending = post(&mut f, &resident(3), "路口没有红绿灯");
    let id = post(&mut f, &resident(2), "小区加装电梯");
    moderate(&mut f, id, Decision::Publish);
    assert_eq!(
        f.refused(&member(), to_report(id, "老旧小区加装电梯难", None)),
        ErrorCode::Forbidden
    );
    assert_eq!(
        f.refused(&staff(), to_report(pending, "红绿灯", None)),
        ErrorCode::InvalidState,
        "only a published message"
    );
    assert_eq!(
        f.refused(&staff(), to_report(id, "  ", None)),
        ErrorCode::TextEmpty
    );
    assert_eq!(
        f.refused(&staff(), to_report(MessageId(99), "无", None)),
        ErrorCode::NotFound
    );
    let events = f.ok(&staff(), to_report(id, "老旧小区加装电梯难", None));
    let EventBody::ReportFiled { report } = &events[0].body else {
        panic!("{events:?}")
    };
    assert_eq!(report.text, "小区加装电梯", "the message's text by default");
    // The staff's list: the item with its message and sender; the message links to it.
    let reports = f.board.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].title, "老旧小区加装电梯难");
    assert_eq!(reports[0].by_name, "clerk");
    assert_eq!(reports[0].message.sender_name, "居民2");
    assert_eq!(reports[0].message.report, Some(report.id));
    assert!(f.board.studio_page(ZHANG).unwrap().messages[0].reported);
    assert_eq!(
        f.board.sent_messages(ZHANG, &resident(2).identity())[0].report,
        Some(report.id)
    );
    // The sender is told, with the item's title.
    let notice = &f.board.feed(&resident(2).identity())[0];
    assert_eq!(notice.kind, NoticeKind::ReportFiled);
    assert_eq!(notice.text, "老旧小区加装电梯难");
    assert_eq!((notice.studio, notice.message), (Some(ZHANG), Some(id)));
    // Once per message.
    assert_eq!(
        f.refused(&staff(), to_report(id, "再报一次", None)),
        ErrorCode::InvalidState
    );
    // A text of staff's own replaces the message's.
    let other = post(&mut f, &resident(3), "菜市场噪音");
    moderate(&mut f, other, Decision::Publish);
    f.ok(
        &staff(),
        to_report(
            other,
            "早市噪音扰民",
            Some("群众反映早市五点卸货，建议错峰。"),
        ),
    );
    let reports = f.board.reports();
    assert_eq!(
        reports[0].text, "群众反映早市五点卸货，建议错峰。",
        "newest first"
    );
    assert_eq!(f.replayed(), f.board);
}

#[test]
fn replay_equals_live() {
    let mut f = Fixture::new();
    let id = published_message(&mut f);
    f.ok(&member(), reply(id, "收到", false));
    f.ok(
        &staff(),
        Command::MessageToTopic(MessageToTopic {
            message: id,
            title: None,
            area: "东城街道".into(),
            category: "城建".into(),
        }),
    );
    assert_eq!(f.replayed(), f.board);
}
