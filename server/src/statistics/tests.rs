//! The statistics of the minutes' test meeting (made by hand): one test per figure.
//!
//! In that meeting 张主席 (h1) chairs; 李委员 (m1, 经济界, 主会场) and 王委员 (m2, 教育界)
//! check in and speak 185 s and 45 s; 赵委员 (m3) joins and never checks in; 钱委员 (m4)
//! is invited and never comes; the 东区分会场 venue (v1, not invited) checks in with 30
//! people in its hall; 孙委员 (m5) is not invited.

use yishi_protocol::{EventBody, RecordEntry};

use super::*;
use crate::minutes::tests::meeting;
use crate::participation::tests::{Held, december, held, inputs, roster, seal};

fn build(meetings: &[Held]) -> Statistics {
    Statistics::build(december(), &roster(), &inputs(meetings))
}

fn member<'a>(s: &'a Statistics, name: &str) -> &'a MemberFigures {
    s.members
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} in the statistics"))
}

/// The test meeting without any turn at the floor.
fn without_speeches() -> Vec<RecordEntry> {
    seal(
        meeting(true)
            .into_iter()
            .map(|e| e.event)
            .filter(|e| {
                !matches!(
                    e.body,
                    EventBody::TurnStarted { .. }
                        | EventBody::TurnEnded { .. }
                        | EventBody::TurnPaused { .. }
                        | EventBody::TurnResumed { .. }
                )
            })
            .collect(),
    )
}

#[test]
fn the_attendance_rate_counts_absent_invitees_and_uninvited_arrivals() {
    let s = build(&[held("r1", 0, meeting(true))]);
    let [m] = s.meetings.as_slice() else {
        panic!("one meeting: {:?}", s.meetings)
    };
    // Expected: m1..m4 invited, v1 arrived with another link; the host is not counted.
    assert_eq!((m.invited, m.present, m.absent), (5, 3, 2));
    assert_eq!(m.attendance_permille, Some(600));
    assert_eq!(percent(600), "60%");
    assert_eq!(
        (m.date.as_str(), m.kind),
        ("2026-12-06", RoomKind::Consultation)
    );
    assert_eq!(m.room, "r1");
}

#[test]
fn rates_round_half_up_to_a_thousandth_and_none_without_anyone_expected() {
    assert_eq!(permille(2, 3), Some(667));
    assert_eq!(permille(1, 3), Some(333));
    assert_eq!(permille(1, 8), Some(125));
    assert_eq!(permille(1, 2000), Some(1));
    assert_eq!(permille(0, 4), Some(0));
    assert_eq!(permille(0, 0), None);
    assert_eq!(percent(667), "66.7%");
    assert_eq!(percent(1000), "100%");
    assert_eq!(percent(5), "0.5%");
}

#[test]
fn check_in_per_venue_comes_from_the_minutes() {
    let s = build(&[held("r1", 0, meeting(true))]);
    let venues = &s.meetings[0].venues;
    assert_eq!(
        venues,
        &[
            VenueFigures {
                venue: "主会场".into(),
                present: 1,
                known: 1,
                head_count: None,
            },
            VenueFigures {
                venue: "东区分会场".into(),
                present: 1,
                known: 1,
                head_count: Some(30),
            },
        ]
    );
}

#[test]
fn a_meetings_speeches_and_their_time_are_summed() {
    let s = build(&[held("r1", 0, meeting(true))]);
    assert_eq!(
        (s.meetings[0].speeches, s.meetings[0].speech_ms),
        (2, 230_000)
    );
}

#[test]
fn a_meeting_with_no_speech_has_zero_and_adds_no_sector() {
    let s = build(&[held("r1", 0, without_speeches())]);
    let m = &s.meetings[0];
    assert_eq!((m.speeches, m.speech_ms), (0, 0));
    assert_eq!((m.invited, m.present), (5, 3));
    assert!(s.sectors.is_empty(), "{:?}", s.sectors);
    assert!(s.top_speakers.is_empty());
    let csv = to_csv(&s, StatTable::Sectors);
    assert_eq!(
        csv,
        "\u{feff}界别,发言次数,发言时长（秒）,发言人数,统计期间\r\n"
    );
}

#[test]
fn speaking_time_is_summed_per_sector_over_the_period() {
    // The same meeting on two days of December: each sector's time doubles.
    let s = build(&[held("r1", 0, meeting(true)), held("r2", 3, meeting(true))]);
    assert_eq!(s.meetings.len(), 2);
    assert_eq!(
        s.sectors,
        [
            SectorFigures {
                sector: "经济界".into(),
                speeches: 2,
                speech_ms: 370_000,
                speakers: 1,
            },
            SectorFigures {
                sector: "教育界".into(),
                speeches: 2,
                speech_ms: 90_000,
                speakers: 1,
            },
        ]
    );
    let total: u64 = s.meetings.iter().map(|m| m.speech_ms).sum();
    assert_eq!(total, s.sectors.iter().map(|f| f.speech_ms).sum::<u64>());
}

#[test]
fn members_attendance_counts_meetings_invited_to_and_attended() {
    let s = build(&[
        held("r1", 0, meeting(true)),
        held("r2", 3, without_speeches()),
    ]);
    let li = member(&s, "李委员");
    assert_eq!((li.invited, li.attended, li.absent), (2, 2, 0));
    assert_eq!(li.attendance_permille, Some(1000));
    let zhao = member(&s, "赵委员");
    assert_eq!((zhao.invited, zhao.attended, zhao.absent), (2, 0, 2));
    assert_eq!(zhao.attendance_permille, Some(0));
    // Not invited: no rate rather than 0%.
    let sun = member(&s, "=孙委员");
    assert_eq!(
        (sun.invited, sun.attended, sun.attendance_permille),
        (0, 0, None)
    );
}

#[test]
fn members_who_never_spoke_have_zero_and_are_not_top_speakers() {
    let s = build(&[held("r1", 0, meeting(true))]);
    let qian = member(&s, "钱委员");
    assert_eq!((qian.speeches, qian.speech_ms), (0, 0));
    let zhao = member(&s, "赵委员");
    assert_eq!((zhao.speeches, zhao.speech_ms), (0, 0));
    let top: Vec<(&str, u64)> = s
        .top_speakers
        .iter()
        .map(|m| (m.name.as_str(), m.speech_ms))
        .collect();
    assert_eq!(top, [("李委员", 185_000), ("王委员", 45_000)]);
    // Every roster member is listed all the same, in the roster's order.
    let names: Vec<&str> = s.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["李委员", "王委员", "赵委员", "钱委员", "=孙委员", "张主席"]
    );
}

#[test]
fn meetings_outside_the_period_are_left_out() {
    // Shifted into January: outside December.
    let s = build(&[held("r1", 0, meeting(true)), held("r2", 40, meeting(true))]);
    assert_eq!(s.meetings.len(), 1);
    assert_eq!(s.sectors.iter().map(|f| f.speeches).sum::<u32>(), 1 + 1);
    let empty = build(&[held("r2", 40, meeting(true))]);
    assert!(empty.meetings.is_empty() && empty.sectors.is_empty());
    assert!(
        empty
            .members
            .iter()
            .all(|m| m.invited == 0 && m.speeches == 0)
    );
}

#[test]
fn the_csv_tables_have_a_bom_numbers_and_no_formula() {
    let s = build(&[held("r1", 0, meeting(true))]);
    let meetings = to_csv(&s, StatTable::Meetings);
    let lines: Vec<&str> = meetings
        .strip_prefix('\u{feff}')
        .unwrap()
        .split("\r\n")
        .collect();
    assert_eq!(
        lines[0],
        "会议名称,日期,类型,应到,实到,缺席,出席率,各会场签到,发言次数,发言时长（秒）,会议编号,统计期间"
    );
    assert_eq!(
        lines[1],
        "关于老旧小区改造的远程协商会,2026-12-06,协商议事,5,3,2,60%,主会场 1/1；东区分会场 1/1（现场 30 人）,2,230,r1,2026-12-01至2026-12-31"
    );
    let sectors = to_csv(&s, StatTable::Sectors);
    assert!(
        sectors.contains("\r\n经济界,1,185,1,2026-12-01至2026-12-31\r\n教育界,1,45,1,"),
        "{sectors}"
    );
    let members = to_csv(&s, StatTable::Members);
    assert!(
        members.contains("\r\n001,李委员,经济界,主会场,1,1,0,100%,1,185,"),
        "{members}"
    );
    // A name that would start a formula gets a leading quote.
    assert!(
        members.contains("\r\n005,'=孙委员,农业界,主会场,0,0,0,—,0,0,"),
        "{members}"
    );
}

#[test]
fn the_json_names_every_figure() {
    let s = build(&[held("r1", 0, meeting(true))]);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["from"], "2026-12-01");
    assert_eq!(json["meetings"][0]["attendance_permille"], 600);
    assert_eq!(json["meetings"][0]["kind"], "consultation");
    assert_eq!(json["meetings"][0]["venues"][1]["head_count"], 30);
    assert_eq!(json["sectors"][0]["sector"], "经济界");
    assert_eq!(json["top_speakers"][0]["speech_ms"], 185_000);
    assert_eq!(
        json["members"][4]["attendance_permille"],
        serde_json::Value::Null
    );
}
