//! Participation records on records made by hand (the minutes' test meeting): one test
//! per rule, caps, the deduction, points linked to their events, and secret polls.

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use yishi_protocol::{
    Event, EventBody, ItemStatus, Millis, Participant, Question, QuestionId, RecordEntry, Role,
};

use super::*;
use crate::minutes::tests::{at, meeting, stored};
use crate::room::Chain;

pub(crate) fn member(id: i64, number: &str, name: &str, sector: &str) -> Member {
    Member {
        id,
        number: Some(number.into()),
        name: name.into(),
        sector: sector.into(),
        venue: "主会场".into(),
        phone: String::new(),
        active: true,
        created_at: 0,
        updated_at: 0,
    }
}

/// 李委员 (m1), 王委员 (m2) and 赵委员 (m3) are in the test meeting; 钱委员 was invited and
/// never came; 孙委员 was not invited; 张主席 chairs (the host checks in to nothing).
pub(crate) fn roster() -> Vec<Member> {
    vec![
        member(1, "001", "李委员", "经济界"),
        member(2, "002", "王委员", "教育界"),
        member(3, "003", "赵委员", "医卫界"),
        member(4, "004", "钱委员", "文艺界"),
        member(5, "005", "=孙委员", "农业界"),
        member(6, "006", "张主席", ""),
    ]
}

fn invitee(room: &str, member_id: i64, participant: &str, role: &str) -> Invitee {
    Invitee {
        id: member_id,
        room_id: room.into(),
        member_id: Some(member_id),
        participant: participant.into(),
        name: String::new(),
        sector: String::new(),
        venue: String::new(),
        role: role.into(),
        jti: String::new(),
        serial: 1,
        issued_at: 0,
        not_before: 0,
        expires_at: 0,
    }
}

pub(crate) fn invitees(room: &str) -> Vec<Invitee> {
    vec![
        invitee(room, 1, "m1", "member"),
        invitee(room, 2, "m2", "member"),
        invitee(room, 3, "m3", "member"),
        invitee(room, 4, "m4", "member"),
        invitee(room, 6, "h1", "host"),
    ]
}

pub(crate) fn december() -> Period {
    Period {
        from: LocalDate::parse("2026-12-01").unwrap(),
        to: LocalDate::parse("2026-12-31").unwrap(),
    }
}

/// A room of the test meeting with its own id, its record shifted by `days`.
pub(crate) struct Held {
    pub room: StoredRoom,
    pub entries: Vec<RecordEntry>,
    pub invitees: Vec<Invitee>,
}

pub(crate) fn held(id: &str, days: u64, entries: Vec<RecordEntry>) -> Held {
    let shift = days * 86_400_000;
    let events: Vec<Event> = entries
        .into_iter()
        .map(|e| Event {
            at: Millis(e.event.at.0 + shift),
            ..e.event
        })
        .collect();
    let entries = seal(events);
    let mut room = stored(&entries);
    room.id = id.into();
    room.closed_at = room.closed_at.map(|c| Millis(c.0 + shift));
    Held {
        room,
        entries,
        invitees: invitees(id),
    }
}

pub(crate) fn seal(events: Vec<Event>) -> Vec<RecordEntry> {
    let mut chain = Chain::default();
    events
        .into_iter()
        .zip(1..)
        .map(|(e, seq)| chain.seal(Event { seq, ..e }))
        .collect()
}

/// The test meeting with `extra` events just before the close.
fn with_before_close(secret: bool, extra: Vec<(u64, Participant, EventBody)>) -> Vec<RecordEntry> {
    let mut events: Vec<Event> = meeting(secret).into_iter().map(|e| e.event).collect();
    let close = events.pop().unwrap();
    for (s, who, body) in extra {
        events.push(Event {
            seq: 0,
            at: at(s),
            actor: Some(who.id),
            body,
        });
    }
    events.push(close);
    seal(events)
}

/// What a report reads of `meetings`.
pub(crate) fn inputs(meetings: &[Held]) -> Vec<MeetingInput<'_>> {
    meetings
        .iter()
        .map(|h| MeetingInput {
            room: &h.room,
            entries: &h.entries,
            invitees: &h.invitees,
        })
        .collect()
}

fn build(rules: &Rules, meetings: &[Held]) -> Report {
    Report::build(rules, december(), &roster(), &inputs(meetings))
}

fn record<'a>(report: &'a Report, name: &str) -> &'a MemberRecord {
    report
        .members
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} in the report"))
}

fn event(h: &Held, seq: Seq) -> &EventBody {
    &h.entries
        .iter()
        .find(|e| e.event.seq == seq)
        .unwrap_or_else(|| panic!("no event {seq}"))
        .event
        .body
}

#[test]
fn attendance_and_speeches_earn_the_rules_points() {
    let h = held("r1", 0, meeting(true));
    let report = build(&Rules::default(), std::slice::from_ref(&h));
    assert_eq!(report.meetings.len(), 1);
    let li = record(&report, "李委员");
    assert_eq!((li.invited, li.attended, li.absent), (1, 1, 0));
    assert_eq!((li.speeches, li.speech_ms), (1, 185_000));
    assert_eq!(li.polls, 1);
    // 2 for the check-in, 3 for the speech; the poll gives 0 by default (no line).
    assert_eq!(li.points, 5);
    let kinds: Vec<Kind> = li.lines.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, [Kind::Attendance, Kind::Speech]);
    let wang = record(&report, "王委员");
    assert_eq!((wang.speeches, wang.speech_ms, wang.points), (1, 45_000, 5));
    assert!(wang.present_ms > 0);
}

#[test]
fn every_point_links_to_the_event_it_came_from() {
    let h = held("r1", 0, meeting(true));
    let report = build(&Rules::default(), std::slice::from_ref(&h));
    let mut checked = 0;
    for m in &report.members {
        let participant = h
            .invitees
            .iter()
            .find(|i| i.member_id == Some(m.member_id))
            .map(|i| ParticipantId(i.participant.clone()));
        for line in &m.lines {
            assert_eq!(line.room, "r1");
            let body = event(&h, line.seq);
            let who = participant.clone().unwrap();
            match line.kind {
                Kind::Attendance => assert!(
                    matches!(body, EventBody::CheckedIn { participant, .. } if *participant == who),
                    "{line:?} → {body:?}"
                ),
                Kind::Speech => assert!(
                    matches!(body, EventBody::TurnStarted { turn, .. } if turn.participant == who),
                    "{line:?} → {body:?}"
                ),
                Kind::Absence => assert!(
                    matches!(
                        body,
                        EventBody::SessionChanged {
                            state: yishi_protocol::SessionState::Closed
                        }
                    ),
                    "{line:?} → {body:?}"
                ),
                Kind::Question | Kind::Poll => unreachable!("none by default here"),
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 6,
        "2 + 2 lines for 李 and 王, 1 absence each for 赵 and 钱"
    );
}

#[test]
fn an_invitee_who_never_checked_in_loses_the_absence_points() {
    let h = held("r1", 0, meeting(true));
    let report = build(&Rules::default(), &[h]);
    // 赵委员 joined but never checked in; 钱委员 never came.
    let zhao = record(&report, "赵委员");
    assert_eq!((zhao.invited, zhao.attended, zhao.absent), (1, 0, 1));
    assert_eq!(zhao.points, -2);
    assert_eq!(zhao.lines[0].note, "进入会议但未签到");
    let qian = record(&report, "钱委员");
    assert_eq!((qian.absent, qian.points), (1, -2));
    assert_eq!(qian.lines[0].note, "受邀未出席");
    // Not invited: nothing either way. The host runs the meeting: no absence.
    let sun = record(&report, "=孙委员");
    assert_eq!((sun.invited, sun.points, sun.lines.len()), (0, 0, 0));
    let chair = record(&report, "张主席");
    assert_eq!((chair.invited, chair.absent, chair.points), (0, 0, 0));
}

#[test]
fn caps_limit_a_kind_over_the_whole_period_and_later_events_still_show() {
    let mut rules = Rules::default();
    rules.speech.cap = Some(4);
    rules.absence.cap = Some(3);
    let meetings = [
        held("r1", 0, meeting(true)),
        held("r2", 7, meeting(true)),
        held("r3", 14, meeting(true)),
    ];
    let report = build(&rules, &meetings);
    assert_eq!(report.meetings.len(), 3);
    let li = record(&report, "李委员");
    let speech: Vec<(String, i64)> = li
        .lines
        .iter()
        .filter(|l| l.kind == Kind::Speech)
        .map(|l| (l.room.clone(), l.points))
        .collect();
    assert_eq!(
        speech,
        [("r1".into(), 3), ("r2".into(), 1), ("r3".into(), 0)],
        "in time order, up to the cap"
    );
    assert!(li.lines.iter().any(|l| l.note.contains("已达上限 4 分")));
    assert_eq!(li.points, 3 * 2 + 4);
    // A deduction's cap is the most deducted.
    let qian = record(&report, "钱委员");
    let absences: Vec<i64> = qian.lines.iter().map(|l| l.points).collect();
    assert_eq!(absences, [-2, -1, 0]);
    assert_eq!(qian.points, -3);
    assert_eq!(qian.absent, 3);
}

#[test]
fn speeches_count_for_points_only_of_the_kinds_and_length_the_rules_say() {
    let mut rules = Rules::default();
    rules.speech.kinds = vec![yishi_protocol::EntryKind::Scheduled];
    let report = build(&rules, &[held("r1", 0, meeting(true))]);
    let wang = record(&report, "王委员");
    // The interjection is counted as a speech, but earns nothing.
    assert_eq!((wang.speeches, wang.points), (1, 2));
    rules = Rules::default();
    rules.speech.min_seconds = 60;
    let report = build(&rules, &[held("r1", 0, meeting(true))]);
    assert_eq!(record(&report, "王委员").points, 2, "45 s is too short");
    assert_eq!(record(&report, "李委员").points, 5, "185 s is long enough");
}

#[test]
fn published_questions_earn_points_and_rejected_ones_do_not() {
    let question = |id: u32, status: ItemStatus, text: &str| EventBody::QuestionAsked {
        question: Question {
            id: QuestionId(id),
            author: ParticipantId("m3".into()),
            author_name: "赵委员".into(),
            text: text.into(),
            at: at(400),
            status,
            flagged: false,
            upvotes: 0,
            answered: false,
            pinned: false,
            forwarded_to: None,
            merged_into: None,
            rejected: None,
        },
    };
    let zhao = Participant::new("m3", "赵委员", Role::Member);
    let entries = with_before_close(
        true,
        vec![
            (
                400,
                zhao.clone(),
                question(1, ItemStatus::Approved, "补贴何时到位？"),
            ),
            (410, zhao, question(2, ItemStatus::Pending, "还有一个问题")),
        ],
    );
    let h = held("r1", 0, entries);
    let report = build(&Rules::default(), std::slice::from_ref(&h));
    let zhao = record(&report, "赵委员");
    assert_eq!(zhao.questions, 1);
    assert_eq!(zhao.points, -2 + 1);
    let line = zhao
        .lines
        .iter()
        .find(|l| l.kind == Kind::Question)
        .unwrap();
    assert!(matches!(
        event(&h, line.seq),
        EventBody::QuestionAsked { question } if question.id == QuestionId(1)
    ));
}

#[test]
fn a_poll_gives_participation_and_never_a_choice() {
    let mut rules = Rules::default();
    rules.poll.points = 1;
    for secret in [true, false] {
        let h = held("r1", 0, meeting(secret));
        let report = build(&rules, std::slice::from_ref(&h));
        for name in ["李委员", "王委员"] {
            let m = record(&report, name);
            assert_eq!(m.polls, 1);
            let line = m.lines.iter().find(|l| l.kind == Kind::Poll).unwrap();
            assert_eq!(line.points, 1);
            assert!(matches!(event(&h, line.seq), EventBody::BallotCast { .. }));
            let kind = if secret { "不记名" } else { "记名" };
            assert_eq!(line.note, format!("表决 1（{kind}）"));
        }
        // The options' words appear nowhere in any output, named or secret.
        let xlsx = to_xlsx(&report).unwrap();
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
        let mut cells = Vec::new();
        for name in book.sheet_names() {
            let range = book.worksheet_range(&name).unwrap();
            cells.extend(range.cells().map(|(_, _, c)| c.to_string()));
        }
        for text in [
            to_csv(&report, Table::Members),
            to_csv(&report, Table::Points),
            cells.join("\n"),
        ] {
            for option in ["同意", "不同意", "弃权"] {
                assert!(!text.contains(option), "{option} in\n{text}");
            }
        }
    }
}

#[test]
fn meetings_outside_the_period_or_still_open_are_left_out() {
    let open = {
        let mut h = held("open", 0, meeting(true));
        h.room.closed_at = None;
        h
    };
    let report = build(
        &Rules::default(),
        &[held("before", 30, meeting(true)), open],
    );
    // 2027-01-05 is past the period; the open meeting is not over.
    assert!(report.meetings.is_empty());
    assert!(
        report
            .members
            .iter()
            .all(|m| m.points == 0 && m.invited == 0)
    );
    // A day in Shanghai starts at 16:00 UTC the day before.
    let period = Period {
        from: LocalDate::parse("2026-12-06").unwrap(),
        to: LocalDate::parse("2026-12-06").unwrap(),
    };
    assert!(period.contains(at(0)));
    assert!(!period.contains(period.to.end()));
    assert!(period.contains(period.from.start()));
}

#[test]
fn the_csv_has_a_bom_a_row_per_member_and_the_rules_version_on_every_row() {
    let report = build(&Rules::default(), &[held("r1", 0, meeting(true))]);
    let csv = to_csv(&report, Table::Members);
    assert!(csv.starts_with("\u{feff}委员编号,姓名,界别,分会场,状态,应出席,出席,缺席,"));
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 1 + 6);
    assert_eq!(
        lines[1],
        "001,李委员,经济界,主会场,在册,1,1,0,10,1,185,0,1,5,2026-12-01至2026-12-31,第1版 默认积分规则"
    );
    // A name that looks like a formula is text.
    assert!(lines.iter().any(|l| l.starts_with("005,'=孙委员,")));
    let points = to_csv(&report, Table::Points);
    let rows: Vec<&str> = points.trim_end().split("\r\n").collect();
    assert!(
        rows[0].starts_with("\u{feff}委员编号,姓名,项目,积分,说明,时间,会议名称,会议编号,事件序号")
    );
    assert_eq!(rows.len(), 1 + 6);
    assert!(
        rows.iter()
            .skip(1)
            .all(|r| r.ends_with(",第1版 默认积分规则"))
    );
    assert!(
        rows.contains(&"003,赵委员,缺席,-2,进入会议但未签到,2026-12-06 14:40,关于老旧小区改造的远程协商会,r1,24,2026-12-01至2026-12-31,第1版 默认积分规则"),
        "{points}"
    );
}

#[test]
fn the_workbook_has_both_tables_and_what_it_covers_and_the_same_bytes_each_time() {
    let report = build(&Rules::default(), &[held("r1", 0, meeting(true))]);
    let bytes = to_xlsx(&report).unwrap();
    assert_eq!(bytes, to_xlsx(&report).unwrap(), "deterministic");
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), ["履职档案", "积分明细", "说明"]);
    let members = book.worksheet_range("履职档案").unwrap();
    assert_eq!(members.get_value((0, 13)).unwrap().to_string(), "积分");
    assert_eq!(members.get_value((1, 1)).unwrap().to_string(), "李委员");
    assert_eq!(
        members.get_value((1, 13)).unwrap(),
        &calamine::Data::Float(5.0)
    );
    assert_eq!(
        members.get_value((1, 15)).unwrap().to_string(),
        "第1版 默认积分规则"
    );
    let points = book.worksheet_range("积分明细").unwrap();
    assert_eq!(points.height(), 1 + 6);
    let about = book.worksheet_range("说明").unwrap();
    assert_eq!(about.get_value((2, 1)).unwrap().to_string(), "1");
}

#[test]
fn voided_ballots_and_a_reset_poll_are_not_taking_part() {
    let mut rules = Rules::default();
    rules.poll.points = 1;
    let host = crate::minutes::tests::host();
    let entries = with_before_close(
        true,
        vec![
            // 王委员's secret ballot never reached the box: voided, and not cast again.
            (
                400,
                host.clone(),
                EventBody::BallotsVoided {
                    poll: yishi_protocol::PollId(1),
                    electorate: yishi_protocol::Electorate::Binding,
                    voters: vec![ParticipantId("m2".into())],
                },
            ),
        ],
    );
    let report = build(&rules, &[held("r1", 0, entries)]);
    assert_eq!(record(&report, "李委员").polls, 1);
    assert_eq!(record(&report, "王委员").polls, 0);
    assert!(
        !record(&report, "王委员")
            .lines
            .iter()
            .any(|l| l.kind == Kind::Poll)
    );

    // A reset discards every ballot: nobody took part in the poll as it stands.
    let entries = with_before_close(
        true,
        vec![(
            400,
            host,
            EventBody::PollReset {
                poll: yishi_protocol::PollId(1),
                reason: "表决器故障".into(),
            },
        )],
    );
    let report = build(&rules, &[held("r1", 0, entries)]);
    assert!(report.members.iter().all(|m| m.polls == 0));
}
