//! The builder and renderers on a record made by hand.

use std::io::Read;

use yishi_protocol::{
    Base, Choice, Electorate, EndReason, EntryKind, Event, EventBody, Majority, MajorityRule,
    Millis, Outcome, Participant, ParticipantId, PauseReason, PollId, PollMethod, PollResult,
    PollSpec, RequestId, ResultsVisibility, Role, SessionState, Tally, Turn, TurnId, YesNo,
};

use super::*;
use crate::room::Chain;

/// 2026-12-06 14:30 in Shanghai.
pub(crate) const T0: u64 = 1_796_538_600_000;

pub(crate) fn at(seconds: u64) -> Millis {
    Millis(T0 + seconds * 1000)
}

pub(crate) fn host() -> Participant {
    Participant::new("h1", "张主席", Role::Host)
}
pub(crate) fn li() -> Participant {
    Participant::new("m1", "李委员", Role::Member)
        .with_sector("经济界")
        .with_venue("主会场")
}
pub(crate) fn wang() -> Participant {
    Participant::new("m2", "王委员", Role::Member).with_sector("教育界")
}
pub(crate) fn zhao() -> Participant {
    Participant::new("m3", "赵委员", Role::Member)
}
pub(crate) fn east() -> Participant {
    Participant::new("v1", "东区分会场", Role::Venue).with_venue("东区分会场")
}

fn turn(id: u32, who: &Participant, kind: EntryKind, started: Millis) -> Turn {
    Turn {
        id: TurnId(id),
        participant: who.id.clone(),
        name: who.name.clone(),
        kind,
        speaker: None,
        sector: who.sector.clone(),
        venue: who.venue.clone(),
        replying_to: None,
        started_at: started,
        limit_ms: 480_000,
        elapsed_ms: 0,
        running_since: Some(started),
        paused: None,
        warned: false,
        overran: false,
    }
}

fn spec(secret: bool) -> PollSpec {
    PollSpec {
        question: "是否同意该项人事安排？".into(),
        method: PollMethod::Single {
            options: vec!["同意".into(), "不同意".into(), "弃权".into()],
        },
        binding: true,
        advisory: false,
        secret,
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

/// A short meeting: check-in, a scheduled speech with an interjection, a poll (secret or
/// named), a note, the close.
pub(crate) fn meeting(secret: bool) -> Vec<RecordEntry> {
    let h = Some(host().id);
    let m1 = Some(li().id);
    let m2 = Some(wang().id);
    let v1 = Some(east().id);
    let choice = |option| (!secret).then_some(Choice::Single { option });
    let bodies: Vec<(u64, Option<ParticipantId>, EventBody)> = vec![
        (
            0,
            None,
            EventBody::Joined {
                participant: host(),
            },
        ),
        (1, None, EventBody::Joined { participant: li() }),
        (
            2,
            None,
            EventBody::Joined {
                participant: wang(),
            },
        ),
        (
            3,
            None,
            EventBody::Joined {
                participant: zhao(),
            },
        ),
        (
            3,
            None,
            EventBody::Joined {
                participant: east(),
            },
        ),
        (
            5,
            h.clone(),
            EventBody::SessionChanged {
                state: SessionState::CheckIn,
            },
        ),
        (
            10,
            m1.clone(),
            EventBody::CheckedIn {
                participant: li().id,
                head_count: None,
            },
        ),
        (
            12,
            m2.clone(),
            EventBody::CheckedIn {
                participant: wang().id,
                head_count: None,
            },
        ),
        (
            13,
            v1.clone(),
            EventBody::CheckedIn {
                participant: east().id,
                head_count: Some(30),
            },
        ),
        (
            60,
            h.clone(),
            EventBody::SessionChanged {
                state: SessionState::InSession,
            },
        ),
        (
            70,
            h.clone(),
            EventBody::TurnStarted {
                turn: turn(1, &li(), EntryKind::Scheduled, at(70)),
                entry: None,
                reason: None,
                interrupts: None,
            },
        ),
        (
            100,
            h.clone(),
            EventBody::TurnPaused {
                turn: TurnId(1),
                reason: PauseReason::Interjection,
            },
        ),
        (
            100,
            h.clone(),
            EventBody::TurnStarted {
                turn: turn(2, &wang(), EntryKind::Interjection, at(100)),
                entry: None,
                reason: None,
                interrupts: Some(TurnId(1)),
            },
        ),
        (
            145,
            m2.clone(),
            EventBody::TurnEnded {
                turn: TurnId(2),
                spoken_ms: 45_000,
                reason: EndReason::Yielded,
            },
        ),
        (145, None, EventBody::TurnResumed { turn: TurnId(1) }),
        (
            300,
            m1.clone(),
            EventBody::TurnEnded {
                turn: TurnId(1),
                spoken_ms: 185_000,
                reason: EndReason::Yielded,
            },
        ),
        (
            310,
            h.clone(),
            EventBody::PollCreated {
                poll: PollId(1),
                spec: spec(secret),
            },
        ),
        (
            320,
            h.clone(),
            EventBody::PollOpened {
                poll: PollId(1),
                spec: spec(secret),
                deadline: None,
                eligible: vec![li().id, wang().id],
                entitled: 3,
            },
        ),
        (
            330,
            m1.clone(),
            EventBody::BallotCast {
                poll: PollId(1),
                electorate: Electorate::Binding,
                voter: li().id,
                req: RequestId("b1".into()),
                choice: choice(0),
            },
        ),
        (
            331,
            m2.clone(),
            EventBody::BallotCast {
                poll: PollId(1),
                electorate: Electorate::Binding,
                voter: wang().id,
                req: RequestId("b2".into()),
                choice: choice(1),
            },
        ),
        (
            340,
            h.clone(),
            EventBody::PollClosed {
                poll: PollId(1),
                result: Some(PollResult {
                    binding: Some(Tally {
                        ballots: 2,
                        counts: vec![1, 1, 0],
                    }),
                    advisory: None,
                    outcome: Outcome::Failed,
                    winner: None,
                    present: 2,
                    entitled: 3,
                }),
                by_deadline: false,
            },
        ),
        (
            350,
            h.clone(),
            EventBody::Annotated {
                text: "会后将意见汇总转交 <办公室> & 相关部门".into(),
            },
        ),
        (
            360,
            m2.clone(),
            EventBody::Left {
                participant: wang().id,
            },
        ),
        (
            600,
            h.clone(),
            EventBody::SessionChanged {
                state: SessionState::Closed,
            },
        ),
    ];
    let mut chain = Chain::default();
    bodies
        .into_iter()
        .zip(1..)
        .map(|((s, actor, body), seq)| {
            chain.seal(Event {
                seq,
                at: at(s),
                actor,
                body,
            })
        })
        .collect()
}

pub(crate) fn stored(entries: &[RecordEntry]) -> StoredRoom {
    StoredRoom {
        id: "cppcc-test".into(),
        title: "关于老旧小区改造的远程协商会".into(),
        kind: RoomKind::Consultation,
        created_at: Millis(T0 - 3_600_000),
        closed_at: Some(at(600)),
        final_hash: entries.last().map(|e| e.hash.clone()),
        settings: serde_json::json!({ "place": "市政协三楼会议室" }),
    }
}

/// The text of a Markdown section: from its `## heading` to the next `## `.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("## {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading} in\n{md}"));
    let rest = &md[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn the_model_holds_what_the_record_says() {
    let record = meeting(true);
    let m = Minutes::build(&stored(&record), &record);
    assert_eq!(m.chair.as_deref(), Some("张主席"));
    assert_eq!(m.opened_at, Some(at(60)));
    assert_eq!(m.closed_at, Some(at(600)));
    assert_eq!(m.place.as_deref(), Some("市政协三楼会议室"));
    let names: Vec<_> = m.attendance.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["张主席", "李委员", "王委员", "赵委员", "东区分会场"]
    );
    let wang = &m.attendance[2];
    assert_eq!(wang.checked_in_at, Some(at(12)));
    assert_eq!(wang.present_ms, 358_000, "joined at 2 s, left at 360 s");
    assert_eq!(
        m.attendance[1].present_ms, 599_000,
        "present until the close"
    );
    assert_eq!(m.attendance[4].head_count, Some(30));

    assert_eq!(m.speeches.len(), 2);
    assert_eq!(m.speeches[0].name, "李委员");
    assert_eq!(m.speeches[0].kind, EntryKind::Scheduled);
    assert_eq!(m.speeches[0].spoken_ms, Some(185_000));
    assert_eq!(m.speeches[1].kind, EntryKind::Interjection);
    assert_eq!(m.speeches[1].interrupts.as_deref(), Some("李委员"));

    assert_eq!(m.polls.len(), 1);
    assert!(m.polls[0].secret);
    assert!(m.polls[0].named.is_empty(), "a secret poll names no voter");
    assert_eq!(m.annotations.len(), 1);
    assert_eq!(m.annotations[0].by, "张主席");

    let v = &m.verification;
    assert_eq!(v.range, Some((1, record.len() as u32)));
    assert_eq!(v.final_hash, record[record.len() - 1].hash);
    assert!(v.intact());
}

#[test]
fn markdown_minutes_read_as_minutes() {
    let record = meeting(true);
    let md = to_markdown(&Minutes::build(&stored(&record), &record));
    assert!(
        md.starts_with("# 关于老旧小区改造的远程协商会　会议纪要\n"),
        "{md}"
    );
    assert!(md.contains("**主持人**：张主席"), "{md}");
    assert!(md.contains("**开会时间**：2026-12-06 14:31"), "{md}");
    assert!(md.contains("**闭会时间**：2026-12-06 14:40"), "{md}");
    assert!(md.contains("**地点**：市政协三楼会议室"), "{md}");

    let attendance = section(&md, "出席情况");
    assert!(
        attendance.contains("**未签到**：赵委员（委员）"),
        "{attendance}"
    );
    let order: Vec<&str> = attendance
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .collect();
    assert_eq!(
        order,
        [
            "姓名",
            "---",
            "张主席",
            "王委员",
            "赵委员",
            "李委员",
            "东区分会场"
        ],
        "no venue first, then by venue in order of arrival"
    );
    assert!(
        attendance.contains("**各会场签到**：主会场：签到 1/1；东区分会场：签到 1/1，现场 30 人"),
        "{attendance}"
    );

    let speeches = section(&md, "发言");
    assert!(
        speeches.contains("| 1 | 李委员 | 经济界 / 主会场 | 预约发言 | 14:31:10 | 3分05秒 |"),
        "{speeches}"
    );
    assert!(
        speeches.contains("| 2 | 王委员 | 教育界 | 插话 | 14:31:40 | 45秒 | 于李委员发言中插话 |"),
        "{speeches}"
    );

    let polls = section(&md, "表决");
    assert!(
        polls.contains("### 表决 1：是否同意该项人事安排？"),
        "{polls}"
    );
    assert!(polls.contains("**表决结果**：未通过"), "{polls}");
    assert!(polls.contains("| 同意 | 1 |"), "{polls}");
    assert!(polls.contains("| 不同意 | 1 |"), "{polls}");
    assert!(polls.contains("| 投票总数 | 2 |"), "{polls}");
    assert!(polls.contains("不记名"), "{polls}");
    for name in ["李委员", "王委员", "赵委员"] {
        assert!(
            !polls.contains(name),
            "{name} appears in the secret poll:\n{polls}"
        );
    }

    let notes = section(&md, "记录员批注");
    assert!(
        notes.contains("会后将意见汇总转交 \\<办公室\\> \\& 相关部门"),
        "{notes}"
    );

    let check = section(&md, "记录核验");
    assert!(check.contains(&record[record.len() - 1].hash), "{check}");
    assert!(check.contains("第 1 至 24 号事件"), "{check}");
    assert!(check.contains("yishi record verify cppcc-test"), "{check}");
    assert!(check.contains("与最终哈希一致"), "{check}");
}

#[test]
fn a_named_poll_lists_who_chose_what() {
    let record = meeting(false);
    let md = to_markdown(&Minutes::build(&stored(&record), &record));
    let polls = section(&md, "表决");
    assert!(polls.contains("| 李委员 | 同意 |"), "{polls}");
    assert!(polls.contains("| 王委员 | 不同意 |"), "{polls}");
}

#[test]
fn a_tampered_record_says_so() {
    let mut record = meeting(true);
    record[9].event.at = at(61);
    let m = Minutes::build(&stored(&record), &record);
    assert!(!m.verification.intact());
    let md = to_markdown(&m);
    assert!(
        section(&md, "记录核验").contains("不完整：entry 10 was altered"),
        "{md}"
    );
}

#[test]
fn record_text_cannot_become_markup() {
    let record = meeting(true);
    let mut room = stored(&record);
    room.title = "# 标题 | with *stars* and [a](link) <b>".into();
    let m = Minutes::build(&room, &record);
    let md = to_markdown(&m);
    assert!(
        md.starts_with("# \\# 标题 \\| with \\*stars\\* and \\[a\\](link) \\<b\\>"),
        "{md}"
    );
    let docx = to_docx(&m).unwrap();
    let xml = part(&docx, "word/document.xml");
    assert!(
        xml.contains("# 标题 | with *stars* and [a](link) &lt;b&gt;"),
        "{xml}"
    );
    assert!(xml.contains("&lt;办公室&gt; &amp; 相关部门"));
}

fn part(docx: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx)).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn the_docx_is_a_word_package_with_the_same_facts() {
    let record = meeting(true);
    let docx = to_docx(&Minutes::build(&stored(&record), &record)).unwrap();
    assert_eq!(&docx[..2], b"PK");
    let types = part(&docx, "[Content_Types].xml");
    assert!(types.contains("wordprocessingml.document.main+xml"));
    assert!(part(&docx, "_rels/.rels").contains("word/document.xml"));
    assert!(part(&docx, "word/styles.xml").contains(r#"w:eastAsia="宋体""#));
    let xml = part(&docx, "word/document.xml");
    for fact in [
        "会议纪要",
        "张主席",
        "李委员",
        "3分05秒",
        "45秒",
        "是否同意该项人事安排？",
        "未通过",
        &record[record.len() - 1].hash,
    ] {
        assert!(xml.contains(fact), "{fact} not in document.xml");
    }
    // Same input, same bytes: nothing depends on the clock.
    assert_eq!(
        docx,
        to_docx(&Minutes::build(&stored(&record), &record)).unwrap()
    );
}

#[test]
fn an_empty_record_still_makes_minutes() {
    let room = StoredRoom {
        closed_at: None,
        final_hash: None,
        settings: serde_json::json!({}),
        ..stored(&[])
    };
    let m = Minutes::build(&room, &[]);
    assert_eq!(m.verification.final_hash, GENESIS);
    let md = to_markdown(&m);
    assert!(md.contains("记录为空"), "{md}");
    assert!(md.contains("会议尚未关闭"), "{md}");
    assert!(to_docx(&m).is_ok());
}

#[test]
fn option_labels_of_each_method() {
    assert_eq!(
        option_labels(&PollMethod::YesNoAbstain),
        ["赞成", "反对", "弃权"]
    );
    assert_eq!(option_labels(&PollMethod::Rating)[4], "5星");
    let labels = option_labels(&PollMethod::YesNoAbstain);
    assert_eq!(
        choice_label(&Choice::YesNoAbstain { vote: YesNo::No }, &labels),
        "反对"
    );
    assert_eq!(
        choice_label(
            &Choice::Multiple {
                options: vec![0, 2]
            },
            &labels
        ),
        "赞成、弃权"
    );
}

fn sealed(bodies: Vec<(Option<ParticipantId>, EventBody)>) -> Vec<RecordEntry> {
    let mut chain = Chain::default();
    bodies
        .into_iter()
        .zip(1..)
        .map(|((actor, body), seq)| {
            chain.seal(Event {
                seq,
                at: at(u64::from(seq)),
                actor,
                body,
            })
        })
        .collect()
}

/// A meeting under way: the host, 李委员 and `third` joined, the host added the agenda's
/// `items` (numbered from 1) and opened the session.
fn meeting_in_session(
    third: Participant,
    items: &[&str],
) -> Vec<(Option<ParticipantId>, EventBody)> {
    use yishi_protocol::{AgendaItem, ItemId, SettingsPatch};
    let h = Some(host().id);
    let mut bodies = vec![
        (
            None,
            EventBody::Joined {
                participant: host(),
            },
        ),
        (None, EventBody::Joined { participant: li() }),
        (None, EventBody::Joined { participant: third }),
    ];
    for (id, title) in (1..).zip(items) {
        let item = AgendaItem {
            id: ItemId(id),
            title: (*title).into(),
            settings: SettingsPatch::default(),
        };
        bodies.push((h.clone(), EventBody::AgendaItemAdded { item }));
    }
    bodies.push((
        h,
        EventBody::SessionChanged {
            state: SessionState::InSession,
        },
    ));
    bodies
}

fn question(id: u32, author: &str, text: &str) -> yishi_protocol::Question {
    yishi_protocol::Question {
        id: QuestionId(id),
        author: ParticipantId::new(author),
        author_name: format!("市民{author}"),
        text: text.into(),
        at: at(u64::from(id)),
        status: ItemStatus::Pending,
        flagged: id == 3,
        upvotes: 0,
        answered: false,
        pinned: false,
        forwarded_to: None,
        merged_into: None,
        rejected: None,
    }
}

#[test]
fn questions_and_moderation_in_numbers() {
    use yishi_protocol::{Comment, CommentId};
    let respondent = Participant::new("r1", "住建局刘局长", Role::Respondent);
    let a = Some(ParticipantId::new("a"));
    let b = Some(ParticipantId::new("b"));
    let h = Some(host().id);
    let approved = |id, author, text| EventBody::QuestionApproved {
        question: yishi_protocol::Question {
            status: ItemStatus::Approved,
            ..question(id, author, text)
        },
    };
    let record = sealed(vec![
        (
            None,
            EventBody::Joined {
                participant: host(),
            },
        ),
        (
            None,
            EventBody::Joined {
                participant: respondent.clone(),
            },
        ),
        (
            a.clone(),
            EventBody::QuestionAsked {
                question: question(1, "a", "电梯补贴何时到位？"),
            },
        ),
        (
            b.clone(),
            EventBody::QuestionAsked {
                question: question(2, "b", "电梯补贴什么时候发？"),
            },
        ),
        (
            b.clone(),
            EventBody::QuestionAsked {
                question: question(3, "b", "不文明的话"),
            },
        ),
        (h.clone(), approved(1, "a", "电梯补贴何时到位？")),
        (h.clone(), approved(2, "b", "电梯补贴什么时候发？")),
        (
            h.clone(),
            EventBody::QuestionRejected {
                question: QuestionId(3),
                reason: RejectReason::Abusive,
            },
        ),
        (
            a.clone(),
            EventBody::QuestionUpvoted {
                question: QuestionId(1),
                by: ParticipantId::new("a"),
            },
        ),
        (
            a.clone(),
            EventBody::QuestionUpvoted {
                question: QuestionId(2),
                by: ParticipantId::new("a"),
            },
        ),
        (
            b.clone(),
            EventBody::QuestionUpvoted {
                question: QuestionId(2),
                by: ParticipantId::new("b"),
            },
        ),
        (
            h.clone(),
            EventBody::QuestionMerged {
                question: QuestionId(2),
                into: QuestionId(1),
            },
        ),
        (
            h.clone(),
            EventBody::QuestionForwarded {
                question: QuestionId(1),
                to: respondent.id.clone(),
            },
        ),
        (
            h.clone(),
            EventBody::QuestionAnswered {
                question: QuestionId(1),
            },
        ),
        (
            a.clone(),
            EventBody::CommentPosted {
                comment: Comment {
                    id: CommentId(1),
                    author: ParticipantId::new("a"),
                    author_name: "市民a".into(),
                    text: "支持".into(),
                    at: at(20),
                    status: ItemStatus::Pending,
                    flagged: false,
                    rejected: None,
                },
            },
        ),
        (
            a.clone(),
            EventBody::CommentPosted {
                comment: Comment {
                    id: CommentId(2),
                    author: ParticipantId::new("a"),
                    author_name: "市民a".into(),
                    text: "广告".into(),
                    at: at(21),
                    status: ItemStatus::Pending,
                    flagged: false,
                    rejected: None,
                },
            },
        ),
        (
            h.clone(),
            EventBody::CommentRejected {
                comment: CommentId(2),
                reason: RejectReason::Advertising,
            },
        ),
    ]);
    let room = StoredRoom {
        closed_at: None,
        final_hash: None,
        ..stored(&record)
    };
    let m = Minutes::build(&room, &record);
    assert_eq!(m.questions.len(), 2, "the rejected one is not published");
    let q1 = &m.questions[0];
    assert_eq!(q1.upvotes, 2, "a and b, once each, after the merge");
    assert!(q1.answered);
    assert_eq!(q1.forwarded_to.as_deref(), Some("住建局刘局长"));
    assert_eq!(m.questions[1].merged_into, Some(QuestionId(1)));
    assert_eq!(m.moderation.questions_merged, 1);
    assert_eq!(m.moderation.flagged, 1);

    let md = to_markdown(&m);
    let questions = section(&md, "提问");
    assert!(
        questions.contains("公开提问 2 条，已答复 1 条，转交 1 条。"),
        "{questions}"
    );
    assert!(
        questions.contains(
            "| 1 | 市民a | 电梯补贴何时到位？ | 14:30:01 | 2 | 已答复；转交住建局刘局长 |"
        ),
        "{questions}"
    );
    assert!(questions.contains("并入第 1 号问题"), "{questions}");
    assert!(!questions.contains("不文明的话"), "{questions}");
    let moderation = section(&md, "审核统计");
    assert!(
        moderation.contains("| 评论 | 0 | 1（广告 1） | 1 | — |"),
        "{moderation}"
    );
    assert!(
        moderation.contains("| 提问 | 2 | 1（不文明用语 1） | 0 | 1 |"),
        "{moderation}"
    );
    assert!(md.contains("**闭会公布哈希**：会议尚未关闭"), "{md}");
}

#[test]
fn agenda_items_venues_replies_and_how_turns_ended() {
    use yishi_protocol::ItemId;
    let h = Some(host().id);
    let mut venue_turn = turn(2, &east(), EntryKind::Reply, at(200));
    venue_turn.speaker = Some("王某".into());
    venue_turn.replying_to = Some(TurnId(1));
    let mut bodies = meeting_in_session(east(), &["情况通报", "委员发言", "自由讨论"]);
    bodies.extend([
        (h.clone(), EventBody::CurrentItemChanged { item: ItemId(2) }),
        (
            h.clone(),
            EventBody::TurnStarted {
                turn: turn(1, &li(), EntryKind::Impromptu, at(100)),
                entry: None,
                reason: Some("按界别轮换".into()),
                interrupts: None,
            },
        ),
        (
            h.clone(),
            EventBody::TurnEnded {
                turn: TurnId(1),
                spoken_ms: 500_000,
                reason: EndReason::Host,
            },
        ),
        (
            h.clone(),
            EventBody::TurnStarted {
                turn: venue_turn,
                entry: None,
                reason: None,
                interrupts: None,
            },
        ),
    ]);
    let record = sealed(bodies);
    let room = StoredRoom {
        closed_at: None,
        final_hash: None,
        ..stored(&record)
    };
    let md = to_markdown(&Minutes::build(&room, &record));
    let agenda = section(&md, "议程");
    assert!(agenda.contains("- 1\\. 情况通报（未进行）"), "{agenda}");
    assert!(
        agenda.contains("- 2\\. 委员发言（14:30:08 开始）"),
        "{agenda}"
    );
    let speeches = section(&md, "发言");
    assert!(
        speeches.contains(
            "| 1 | 李委员 | 经济界 / 主会场 | 即席发言 | 14:31:40 | 8分20秒 | 委员发言 | 主持人指定：按界别轮换；主持人结束；超出限时 8分00秒 |"
        ),
        "{speeches}"
    );
    assert!(
        speeches.contains(
            "| 2 | 王某（东区分会场） | 东区分会场 | 回应 | 14:33:20 | — | 委员发言 | 回应李委员；记录截止时未结束 |"
        ),
        "{speeches}"
    );
    assert!(md.contains("**闭会时间**：—"), "{md}");
}

/// A meeting with two agenda items: a speech, a published poll, an unpublished one and
/// three questions under the topic's item; a speech, a poll and a question under the other.
fn two_items() -> Vec<RecordEntry> {
    use yishi_protocol::ItemId;
    let h = Some(host().id);
    let approved = |id, text: &str| {
        let mut q = question(id, "r9", text);
        q.status = ItemStatus::Approved;
        EventBody::QuestionAsked { question: q }
    };
    let published = |poll, counts: Vec<u32>, outcome| {
        let result = PollResult {
            binding: Some(Tally {
                ballots: counts.iter().sum(),
                counts,
            }),
            advisory: None,
            outcome,
            winner: None,
            present: 2,
            entitled: 3,
        };
        EventBody::PollPublished { poll, result }
    };
    let opened = |poll, question: &str| EventBody::PollOpened {
        poll,
        spec: PollSpec {
            question: question.into(),
            method: PollMethod::YesNoAbstain,
            ..spec(true)
        },
        deadline: None,
        eligible: vec![li().id, wang().id],
        entitled: 3,
    };
    let speech = |id, who: &Participant| EventBody::TurnStarted {
        turn: turn(id, who, EntryKind::Impromptu, at(u64::from(id) * 100)),
        entry: None,
        reason: None,
        interrupts: None,
    };
    let ended = |id, spoken_ms| EventBody::TurnEnded {
        turn: TurnId(id),
        spoken_ms,
        reason: EndReason::Yielded,
    };
    let mut bodies = meeting_in_session(wang(), &["部门情况通报", "议题：老旧小区加装电梯"]);
    bodies.extend([
        (h.clone(), EventBody::CurrentItemChanged { item: ItemId(1) }),
        (h.clone(), speech(1, &wang())),
        (h.clone(), ended(1, 60_000)),
        (h.clone(), opened(PollId(1), "是否同意通报？")),
        (
            h.clone(),
            published(PollId(1), vec![2, 0, 0], Outcome::Passed),
        ),
        (None, approved(1, "通报材料何时公开？")),
        (h.clone(), EventBody::CurrentItemChanged { item: ItemId(2) }),
        (h.clone(), speech(2, &li())),
        (h.clone(), ended(2, 95_000)),
        // Created under the topic's item, opened and published there.
        (
            h.clone(),
            EventBody::PollCreated {
                poll: PollId(2),
                spec: PollSpec {
                    question: "是否同意加装电梯方案？".into(),
                    method: PollMethod::YesNoAbstain,
                    ..spec(true)
                },
            },
        ),
        (h.clone(), opened(PollId(2), "是否同意加装电梯方案？")),
        (
            h.clone(),
            published(PollId(2), vec![1, 0, 1], Outcome::Passed),
        ),
        // Opened and closed, but its result never published.
        (h.clone(), opened(PollId(3), "是否同意补贴标准？")),
        (
            h.clone(),
            EventBody::PollClosed {
                poll: PollId(3),
                result: None,
                by_deadline: false,
            },
        ),
        // A draft never opened.
        (
            h.clone(),
            EventBody::PollCreated {
                poll: PollId(4),
                spec: spec(false),
            },
        ),
        (None, approved(2, "补贴标准是多少？")),
        (
            None,
            EventBody::QuestionAsked {
                question: question(3, "r8", "没通过审核的提问"),
            },
        ),
        (None, approved(4, "补贴标准是多少钱？")),
        (
            h.clone(),
            EventBody::QuestionMerged {
                question: QuestionId(4),
                into: QuestionId(2),
            },
        ),
        (
            h.clone(),
            EventBody::QuestionAnswered {
                question: QuestionId(2),
            },
        ),
        // Back to the first item: what follows is not the topic's.
        (h.clone(), EventBody::CurrentItemChanged { item: ItemId(1) }),
        (h.clone(), speech(3, &wang())),
    ]);
    sealed(bodies)
}

#[test]
fn a_topics_item_keeps_what_was_done_while_it_was_current() {
    let record = two_items();
    let minutes = Minutes::build(&stored(&record), &record);
    let r = ItemRecord::of(&minutes, "议题：老旧小区加装电梯");
    assert_eq!(r.item, "议题：老旧小区加装电梯");
    assert_eq!(r.title, minutes.title);
    assert_eq!(
        r.started_at,
        Some(at(13)),
        "when the item first became current"
    );
    let speeches: Vec<_> = r
        .speeches
        .iter()
        .map(|s| (s.name.as_str(), s.spoken_ms))
        .collect();
    assert_eq!(speeches, [("李委员", Some(95_000))]);
    assert_eq!(r.speeches[0].sector.as_deref(), Some("经济界"));
    let polls: Vec<_> = r.polls.iter().map(|p| p.question.as_str()).collect();
    assert_eq!(polls, ["是否同意加装电梯方案？", "是否同意补贴标准？"]);
    let published = r.polls[0].result.as_ref().expect("published");
    assert_eq!(
        published.binding.as_ref().map(|t| t.counts.clone()),
        Some(vec![1, 0, 1])
    );
    assert_eq!(published.outcome, Outcome::Passed);
    assert_eq!(r.polls[0].method, "yes_no_abstain");
    assert_eq!(r.polls[0].labels, ["赞成", "反对", "弃权"]);
    let questions: Vec<_> = r
        .questions
        .iter()
        .map(|q| (q.text.as_str(), q.answered))
        .collect();
    assert_eq!(questions, [("补贴标准是多少？", true)]);
}

#[test]
fn an_unpublished_result_and_a_voters_choice_are_never_shown() {
    let record = two_items();
    let minutes = Minutes::build(&stored(&record), &record);
    let r = ItemRecord::of(&minutes, "议题：老旧小区加装电梯");
    assert_eq!(r.polls[1].result, None, "closed but not published");
    let json = serde_json::to_string(&r).expect("serialises");
    for hidden in [
        "没通过审核的提问",
        "补贴标准是多少钱？",
        "m1",
        "m2",
        "是否同意该项人事安排",
    ] {
        assert!(!json.contains(hidden), "{hidden} is not public: {json}");
    }
}

#[test]
fn an_item_the_meeting_has_not_reached_is_empty() {
    let record = two_items();
    let minutes = Minutes::build(&stored(&record), &record);
    let r = ItemRecord::of(&minutes, "议题：另一个议题");
    assert_eq!(r.started_at, None);
    assert!(r.speeches.is_empty() && r.polls.is_empty() && r.questions.is_empty());
    // The other item has its own.
    let other = ItemRecord::of(&minutes, "部门情况通报");
    assert_eq!(other.speeches.len(), 2);
    assert_eq!(other.polls.len(), 1);
    assert_eq!(other.questions.len(), 1);
}
