//! Statistics from the record (统计): over a period, per meeting (invited, present,
//! absent, the attendance rate, check-in per venue, speeches and their time), speaking
//! time per sector (界别), and per roster member (meetings invited to and attended,
//! speeches and their time; the top speakers). For the console's charts and as CSV.
//!
//! Pure: no I/O, no clock. The meetings are those a participation report covers, read
//! by the same fold ([`crate::participation::held`], [`crate::minutes::Minutes`]); the
//! members' figures are the participation report's own counts (invitation, check-in,
//! turns), so the two reports never disagree.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::minutes::time::local_date;
use crate::minutes::{Minutes, kind_title};
use crate::participation::{
    Cell, HeldMeeting, MeetingInput, Period, Report, Rules, csv_table, held, num, text,
};
use crate::store::{Invitee, Member, RoomKind};

/// How many members the top speakers list holds.
pub const TOP_SPEAKERS: usize = 10;

/// What the sector column says of a speaker with no sector (a guest, a venue).
pub const NO_SECTOR: &str = "未注明界别";

/// The statistics of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statistics {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// In time order.
    pub meetings: Vec<MeetingFigures>,
    /// Most speaking time first.
    pub sectors: Vec<SectorFigures>,
    /// One per roster member the participation report lists, in the roster's order.
    pub members: Vec<MemberFigures>,
    /// The members who spoke, most speaking time first (then more speeches, then the
    /// roster's order), at most [`TOP_SPEAKERS`].
    pub top_speakers: Vec<MemberFigures>,
}

/// One meeting's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingFigures {
    pub room: String,
    pub title: String,
    /// The day it was held (check-in opened, or else the session), `YYYY-MM-DD`.
    pub date: String,
    /// `consultation` or `lecture`.
    pub kind: RoomKind,
    /// Expected to check in: invited as one who checks in (not the host or recorder),
    /// and anyone else the record saw join who checks in (a link from `yishi token`).
    pub invited: u32,
    /// Of those, checked in.
    pub present: u32,
    pub absent: u32,
    /// `present / invited` in thousandths, rounded half up; none when no one was
    /// expected.
    pub attendance_permille: Option<u32>,
    /// Check-in per venue (会场), from the minutes.
    pub venues: Vec<VenueFigures>,
    /// Turns at the floor, of every kind.
    pub speeches: u32,
    pub speech_ms: u64,
}

/// Check-in at one venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenueFigures {
    pub venue: String,
    /// Checked in.
    pub present: u32,
    /// Expected to check in there, of those the record saw.
    pub known: u32,
    /// The people in the hall at check-in, if the venue said.
    pub head_count: Option<u32>,
}

/// One sector's speeches over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectorFigures {
    /// The sector the speaker's link carried; empty for none.
    pub sector: String,
    pub speeches: u32,
    pub speech_ms: u64,
    /// Different people who spoke.
    pub speakers: u32,
}

/// One roster member's figures over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberFigures {
    pub member_id: i64,
    pub number: Option<String>,
    pub name: String,
    pub sector: String,
    pub venue: String,
    /// Meetings invited to as one who checks in.
    pub invited: u32,
    /// Meetings checked in at.
    pub attended: u32,
    pub absent: u32,
    /// Of the meetings invited to, the share checked in at (`invited - absent`), in
    /// thousandths; none for a member invited to none.
    pub attendance_permille: Option<u32>,
    pub speeches: u32,
    pub speech_ms: u64,
}

/// Which table of the statistics, as CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatTable {
    Meetings,
    Sectors,
    Members,
}

impl StatTable {
    pub fn parse(text: &str) -> Option<StatTable> {
        match text {
            "meetings" => Some(StatTable::Meetings),
            "sectors" => Some(StatTable::Sectors),
            "members" => Some(StatTable::Members),
            _ => None,
        }
    }

    /// The table's name, for a file name: `界别发言统计`.
    pub fn title(self) -> &'static str {
        match self {
            StatTable::Meetings => "会议出席与发言统计",
            StatTable::Sectors => "界别发言统计",
            StatTable::Members => "委员出席与发言统计",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatTable::Meetings => "meetings",
            StatTable::Sectors => "sectors",
            StatTable::Members => "members",
        }
    }
}

/// `part / whole` in thousandths, rounded half up; none for an empty whole.
pub fn permille(part: u32, whole: u32) -> Option<u32> {
    (whole > 0)
        .then(|| ((u64::from(part) * 2000 + u64::from(whole)) / (2 * u64::from(whole))) as u32)
}

/// `66.7%`, `100%`: thousandths as a percentage with at most one decimal.
pub fn percent(permille: u32) -> String {
    match permille % 10 {
        0 => format!("{}%", permille / 10),
        d => format!("{}.{d}%", permille / 10),
    }
}

impl Statistics {
    /// The statistics of `roster` and `meetings` over `period` (meetings not closed or
    /// held outside it are ignored).
    pub fn build(period: Period, roster: &[Member], meetings: &[MeetingInput<'_>]) -> Statistics {
        let mut held = held(period, meetings);
        held.sort_by(|a, b| (a.at, &a.minutes.room).cmp(&(b.at, &b.minutes.room)));
        // The counts of the participation report do not depend on its rules.
        let report = Report::from_held(&Rules::default(), period, roster, &held);

        let mut sectors: BTreeMap<String, (SectorFigures, BTreeSet<String>)> = BTreeMap::new();
        for speech in held.iter().flat_map(|h| &h.minutes.speeches) {
            let sector = speech.sector.clone().unwrap_or_default();
            let (figures, speakers) = sectors.entry(sector.clone()).or_insert_with(|| {
                let figures = SectorFigures {
                    sector,
                    speeches: 0,
                    speech_ms: 0,
                    speakers: 0,
                };
                (figures, BTreeSet::new())
            });
            figures.speeches += 1;
            figures.speech_ms += u64::from(speech.spoken_ms.unwrap_or(0));
            speakers.insert(speech.who());
        }
        let mut sectors: Vec<SectorFigures> = sectors
            .into_values()
            .map(|(mut f, speakers)| {
                f.speakers = speakers.len() as u32;
                f
            })
            .collect();
        sectors.sort_by(|a, b| b.speech_ms.cmp(&a.speech_ms).then(a.sector.cmp(&b.sector)));

        let members: Vec<MemberFigures> = report
            .members
            .iter()
            .map(|m| MemberFigures {
                member_id: m.member_id,
                number: m.number.clone(),
                name: m.name.clone(),
                sector: m.sector.clone(),
                venue: m.venue.clone(),
                invited: m.invited,
                attended: m.attended,
                absent: m.absent,
                attendance_permille: permille(m.invited - m.absent, m.invited),
                speeches: m.speeches,
                speech_ms: m.speech_ms,
            })
            .collect();
        let mut top_speakers: Vec<MemberFigures> =
            members.iter().filter(|m| m.speeches > 0).cloned().collect();
        // A stable sort: equal figures keep the roster's order.
        top_speakers.sort_by_key(|m| std::cmp::Reverse((m.speech_ms, m.speeches)));
        top_speakers.truncate(TOP_SPEAKERS);

        Statistics {
            from: period.from.to_string(),
            to: period.to.to_string(),
            meetings: held.iter().map(meeting).collect(),
            sectors,
            members,
            top_speakers,
        }
    }
}

/// One meeting's figures from its minutes and invitation.
fn meeting(h: &HeldMeeting<'_>) -> MeetingFigures {
    let m: &Minutes = &h.minutes;
    let expected = expected(m, h.invitees);
    let present = m
        .attendance
        .iter()
        .filter(|a| a.checked_in_at.is_some() && expected.contains(a.id.0.as_str()))
        .count() as u32;
    let invited = expected.len() as u32;
    MeetingFigures {
        room: m.room.clone(),
        title: m.title.clone(),
        date: local_date(h.at),
        kind: m.kind,
        invited,
        present,
        absent: invited - present,
        attendance_permille: permille(present, invited),
        venues: m
            .venues()
            .into_iter()
            .map(|v| VenueFigures {
                venue: v.venue,
                present: v.checked_in,
                known: v.known,
                head_count: v.head_count,
            })
            .collect(),
        speeches: m.speeches.len() as u32,
        speech_ms: m
            .speeches
            .iter()
            .map(|s| u64::from(s.spoken_ms.unwrap_or(0)))
            .sum(),
    }
}

/// Who was expected to check in: the invitees who check in (all but the host and the
/// recorder, who run the meeting) and whoever else the record saw who checks in.
fn expected<'a>(m: &'a Minutes, invitees: &'a [Invitee]) -> HashSet<&'a str> {
    invitees
        .iter()
        .filter(|i| !matches!(i.role.as_str(), "host" | "recorder"))
        .map(|i| i.participant.as_str())
        .chain(
            m.attendance
                .iter()
                .filter(|a| a.expected_to_check_in())
                .map(|a| a.id.0.as_str()),
        )
        .collect()
}

fn seconds(ms: u64) -> Cell {
    num((ms + 500) / 1000)
}

fn period_text(s: &Statistics) -> String {
    format!("{}至{}", s.from, s.to)
}

/// One table of the statistics as CSV: UTF-8 with a BOM, CRLF line ends, numbers as
/// numbers (times in seconds, rates as `66.7%`).
pub fn to_csv(s: &Statistics, table: StatTable) -> String {
    let (headers, rows): (&[&str], Vec<Vec<Cell>>) = match table {
        StatTable::Meetings => (
            &[
                "会议名称",
                "日期",
                "类型",
                "应到",
                "实到",
                "缺席",
                "出席率",
                "各会场签到",
                "发言次数",
                "发言时长（秒）",
                "会议编号",
                "统计期间",
            ],
            s.meetings
                .iter()
                .map(|m| {
                    let venues: Vec<String> = m
                        .venues
                        .iter()
                        .map(|v| match v.head_count {
                            Some(n) => {
                                format!("{} {}/{}（现场 {n} 人）", v.venue, v.present, v.known)
                            }
                            None => format!("{} {}/{}", v.venue, v.present, v.known),
                        })
                        .collect();
                    vec![
                        text(&m.title),
                        text(&m.date),
                        text(kind_title(m.kind)),
                        num(m.invited),
                        num(m.present),
                        num(m.absent),
                        text(
                            m.attendance_permille
                                .map_or_else(|| "—".to_owned(), percent),
                        ),
                        text(venues.join("；")),
                        num(m.speeches),
                        seconds(m.speech_ms),
                        text(&m.room),
                        text(period_text(s)),
                    ]
                })
                .collect(),
        ),
        StatTable::Sectors => (
            &["界别", "发言次数", "发言时长（秒）", "发言人数", "统计期间"],
            s.sectors
                .iter()
                .map(|f| {
                    vec![
                        text(if f.sector.is_empty() {
                            NO_SECTOR
                        } else {
                            &f.sector
                        }),
                        num(f.speeches),
                        seconds(f.speech_ms),
                        num(f.speakers),
                        text(period_text(s)),
                    ]
                })
                .collect(),
        ),
        StatTable::Members => (
            &[
                "委员编号",
                "姓名",
                "界别",
                "分会场",
                "应出席",
                "出席",
                "缺席",
                "出席率",
                "发言次数",
                "发言时长（秒）",
                "统计期间",
            ],
            s.members
                .iter()
                .map(|m| {
                    vec![
                        text(m.number.clone().unwrap_or_default()),
                        text(&m.name),
                        text(&m.sector),
                        text(&m.venue),
                        num(m.invited),
                        num(m.attended),
                        num(m.absent),
                        text(
                            m.attendance_permille
                                .map_or_else(|| "—".to_owned(), percent),
                        ),
                        num(m.speeches),
                        seconds(m.speech_ms),
                        text(period_text(s)),
                    ]
                })
                .collect(),
        ),
    };
    csv_table(headers, &rows)
}

#[cfg(test)]
mod tests;
