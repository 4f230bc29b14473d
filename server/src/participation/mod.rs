//! Participation records (履职档案): for each member of the roster over a period, what
//! the records of the period's meetings say they did (meetings attended, time present,
//! speeches, questions, polls taken part in) and the credit points the [`Rules`] give
//! for it, each point linked to the event it came from (room and sequence number).
//!
//! Pure: no I/O, no clock. Each meeting's record is read by [`Minutes::build`], the same
//! reading the minutes print, never a second one; a participant is a roster member
//! through the meeting's invitation (the link minted for the member). An absence is an
//! invitation, as one who checks in, to a meeting whose session opened and closed,
//! without a check-in.
//!
//! Secret polls: only whether someone took part is read (the record holds that); no
//! choice is read, named or secret, and the sealed ballot box is never looked at.

mod export;
mod pdf;
pub mod rules;

use std::collections::{BTreeMap, HashMap};

use yishi_protocol::{Millis, ParticipantId, Seq};

use crate::minutes::Minutes;
use crate::minutes::time::LocalDate;
use crate::store::{Invitee, Member, StoredRoom};

pub(crate) use export::{Cell, csv_table, num, text};
pub use export::{Table, XLSX_MEDIA_TYPE, to_csv, to_xlsx};
pub use pdf::{member_blocks, to_pdf};
pub use rules::{DEFAULT_RULES, Rules, RulesError};

/// The days a report covers, in Shanghai, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: LocalDate,
    pub to: LocalDate,
}

impl Period {
    /// Whether `at` falls on one of the period's days.
    pub fn contains(&self, at: Millis) -> bool {
        at >= self.from.start() && at < self.to.end()
    }
}

/// One meeting as the report reads it: the room, its record and who was invited.
pub struct MeetingInput<'a> {
    pub room: &'a StoredRoom,
    pub entries: &'a [yishi_protocol::RecordEntry],
    pub invitees: &'a [Invitee],
}

/// A meeting a report covers, read: its minutes, when it was held (check-in opened, or
/// else the session opened) and who was invited.
pub struct HeldMeeting<'a> {
    pub minutes: Minutes,
    pub at: Millis,
    pub invitees: &'a [Invitee],
}

/// The meetings of `meetings` a report over `period` covers, read by [`Minutes::build`]:
/// those closed and held on a day of the period, in the order given.
pub fn held<'a>(period: Period, meetings: &[MeetingInput<'a>]) -> Vec<HeldMeeting<'a>> {
    meetings
        .iter()
        .filter(|input| input.room.closed_at.is_some())
        .filter_map(|input| {
            let minutes = Minutes::build(input.room, input.entries);
            let at = minutes.check_in_at.or(minutes.opened_at)?;
            period.contains(at).then_some(HeldMeeting {
                minutes,
                at,
                invitees: input.invitees,
            })
        })
        .collect()
}

/// The kinds of participation that earn (or lose) points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Attendance,
    Absence,
    Speech,
    Question,
    Poll,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Attendance => "出席",
            Kind::Absence => "缺席",
            Kind::Speech => "发言",
            Kind::Question => "提问",
            Kind::Poll => "表决",
        }
    }
}

/// A meeting the report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRef {
    pub room: String,
    pub title: String,
    /// When it took place: check-in opened, or else the session opened.
    pub at: Millis,
}

/// One line of a member's points, and the event it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointLine {
    pub kind: Kind,
    pub room: String,
    pub title: String,
    /// The event in that room's record: the check-in, the turn's start, the question,
    /// the first ballot; for an absence, the close of the session.
    pub seq: Seq,
    pub at: Millis,
    /// Points given; less than the rule's when its cap was reached.
    pub points: i64,
    /// What the event was, and a cap reached.
    pub note: String,
}

/// One member's participation record over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub member_id: i64,
    pub number: Option<String>,
    pub name: String,
    pub sector: String,
    pub venue: String,
    pub active: bool,
    /// Meetings invited to as one who checks in.
    pub invited: u32,
    /// Meetings checked in at.
    pub attended: u32,
    /// Meetings invited to and never checked in at.
    pub absent: u32,
    /// Time connected to the meetings.
    pub present_ms: u64,
    pub speeches: u32,
    pub speech_ms: u64,
    /// Published questions.
    pub questions: u32,
    /// Binding polls taken part in.
    pub polls: u32,
    pub points: i64,
    /// In time order.
    pub lines: Vec<PointLine>,
}

/// Participation records of the whole roster over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub period: Period,
    pub rules: Rules,
    /// The meetings of the period, in time order.
    pub meetings: Vec<MeetingRef>,
    /// One per roster member (those no longer active only if they have a line), in the
    /// roster's order.
    pub members: Vec<MemberRecord>,
}

/// A line before caps: the rule's full points.
struct Candidate {
    member: i64,
    line: PointLine,
}

impl Report {
    /// The records of `roster` from `meetings`: those closed whose session opened on a
    /// day of `period` (others are ignored), by `rules`.
    pub fn build(
        rules: &Rules,
        period: Period,
        roster: &[Member],
        meetings: &[MeetingInput<'_>],
    ) -> Report {
        Report::from_held(rules, period, roster, &held(period, meetings))
    }

    /// The records of `roster` from meetings already read by [`held`].
    pub fn from_held(
        rules: &Rules,
        period: Period,
        roster: &[Member],
        meetings: &[HeldMeeting<'_>],
    ) -> Report {
        let mut records: BTreeMap<i64, MemberRecord> = roster
            .iter()
            .map(|m| {
                (
                    m.id,
                    MemberRecord {
                        member_id: m.id,
                        number: m.number.clone(),
                        name: m.name.clone(),
                        sector: m.sector.clone(),
                        venue: m.venue.clone(),
                        active: m.active,
                        invited: 0,
                        attended: 0,
                        absent: 0,
                        present_ms: 0,
                        speeches: 0,
                        speech_ms: 0,
                        questions: 0,
                        polls: 0,
                        points: 0,
                        lines: Vec::new(),
                    },
                )
            })
            .collect();
        let mut candidates = Vec::new();
        let mut covered = Vec::new();

        for meeting in meetings {
            let minutes = &meeting.minutes;
            covered.push(MeetingRef {
                room: minutes.room.clone(),
                title: minutes.title.clone(),
                at: meeting.at,
            });
            read_meeting(
                rules,
                minutes,
                meeting.invitees,
                &mut records,
                &mut candidates,
            );
        }

        // Caps count in time order over the whole period.
        candidates.sort_by(|a, b| {
            (a.line.at, &a.line.room, a.line.seq).cmp(&(b.line.at, &b.line.room, b.line.seq))
        });
        let mut used: HashMap<(i64, Kind), i64> = HashMap::new();
        for Candidate { member, mut line } in candidates {
            let rule = match line.kind {
                Kind::Attendance => rules.attendance.clone(),
                Kind::Absence => rules.absence.clone(),
                Kind::Speech => rules.speech.rule(),
                Kind::Question => rules.question.clone(),
                Kind::Poll => rules.poll.clone(),
            };
            let so_far = used.entry((member, line.kind)).or_default();
            if let Some(cap) = rule.cap {
                let left = (cap - *so_far).max(0);
                if line.points.abs() > left {
                    line.points = left * line.points.signum();
                    line.note.push_str(&format!("（已达上限 {cap} 分）"));
                }
            }
            *so_far += line.points.abs();
            if let Some(record) = records.get_mut(&member) {
                record.points += line.points;
                record.lines.push(line);
            }
        }

        covered.sort_by(|a, b| (a.at, &a.room).cmp(&(b.at, &b.room)));
        Report {
            period,
            rules: rules.clone(),
            meetings: covered,
            members: roster
                .iter()
                .filter_map(|m| records.remove(&m.id))
                .filter(|r| r.active || !r.lines.is_empty() || r.invited > 0)
                .collect(),
        }
    }
}

/// What one meeting's minutes say of each invited roster member: counts into `records`,
/// lines (at the rule's full points) into `candidates`.
fn read_meeting(
    rules: &Rules,
    minutes: &Minutes,
    invitees: &[Invitee],
    records: &mut BTreeMap<i64, MemberRecord>,
    candidates: &mut Vec<Candidate>,
) {
    let members: HashMap<ParticipantId, (i64, &str)> = invitees
        .iter()
        .filter_map(|i| {
            Some((
                ParticipantId(i.participant.clone()),
                (i.member_id?, i.role.as_str()),
            ))
        })
        .collect();
    let mut line = |member: i64, kind: Kind, points: i64, seq: Seq, at: Millis, note: String| {
        if points != 0 {
            candidates.push(Candidate {
                member,
                line: PointLine {
                    kind,
                    room: minutes.room.clone(),
                    title: minutes.title.clone(),
                    seq,
                    at,
                    points,
                    note,
                },
            });
        }
    };

    // Attendance and absence: every invited member, whether the record saw them or not.
    let close_seq = minutes
        .closed_seq
        .or(minutes.verification.range.map(|(_, last)| last))
        .unwrap_or_default();
    let close_at = minutes.closed_at.unwrap_or_default();
    for (participant, &(member, role)) in &members {
        let Some(record) = records.get_mut(&member) else {
            continue;
        };
        let attendee = minutes.attendance.iter().find(|a| &a.id == participant);
        if let Some(a) = attendee {
            record.present_ms += a.present_ms;
        }
        let checks_in = !matches!(role, "host" | "recorder");
        match attendee.and_then(|a| a.checked_in_at.zip(a.checked_in_seq)) {
            Some((at, seq)) => {
                record.attended += 1;
                record.invited += u32::from(checks_in);
                line(
                    member,
                    Kind::Attendance,
                    rules.attendance.points,
                    seq,
                    at,
                    "签到".into(),
                );
            }
            None if checks_in => {
                record.invited += 1;
                record.absent += 1;
                let note = if attendee.is_some() {
                    "进入会议但未签到"
                } else {
                    "受邀未出席"
                };
                line(
                    member,
                    Kind::Absence,
                    rules.absence.points,
                    close_seq,
                    close_at,
                    note.into(),
                );
            }
            None => {}
        }
    }

    for speech in &minutes.speeches {
        let Some(&(member, _)) = members.get(&speech.participant) else {
            continue;
        };
        let Some(record) = records.get_mut(&member) else {
            continue;
        };
        let spoken = speech.spoken_ms.unwrap_or(0);
        record.speeches += 1;
        record.speech_ms += u64::from(spoken);
        let counts = rules.speech.kinds.contains(&speech.kind)
            && u64::from(spoken) >= u64::from(rules.speech.min_seconds) * 1000;
        let points = if counts { rules.speech.points } else { 0 };
        let note = format!(
            "{}，{}",
            crate::minutes::kind_name(speech.kind),
            crate::minutes::time::duration(spoken.into())
        );
        line(
            member,
            Kind::Speech,
            points,
            speech.seq,
            speech.started_at,
            note,
        );
    }

    for question in &minutes.questions {
        let Some(&(member, _)) = members.get(&question.author_id) else {
            continue;
        };
        let Some(record) = records.get_mut(&member) else {
            continue;
        };
        record.questions += 1;
        line(
            member,
            Kind::Question,
            rules.question.points,
            question.seq,
            question.at,
            format!("提问 {}", question.id.0),
        );
    }

    for poll in &minutes.polls {
        for (voter, seq) in &poll.took_part {
            let Some(&(member, _)) = members.get(voter) else {
                continue;
            };
            let Some(record) = records.get_mut(&member) else {
                continue;
            };
            record.polls += 1;
            // Never the choice: only that they took part.
            let at = poll.opened_at.unwrap_or_default();
            line(
                member,
                Kind::Poll,
                rules.poll.points,
                *seq,
                at,
                format!(
                    "表决 {}（{}）",
                    poll.id.0,
                    if poll.secret { "不记名" } else { "记名" }
                ),
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
