//! Minutes (会议纪要) generated from a room's hash-chained record, never typed again.
//!
//! [`Minutes::build`] folds a room's record entries into a document model: the meeting,
//! attendance, agenda, every speech, polls with their declared results, questions,
//! moderation in numbers, the recorder's annotations and how to verify the record. It is
//! pure: no I/O, no clock; the same record always gives the same minutes. [`layout`]
//! turns the model into headings, paragraphs and tables, which [`to_markdown`],
//! [`to_docx`] and [`to_pdf`] render, so every format carries the same facts.
//!
//! Secret polls (不记名): the record holds who voted (`ballot_cast` without a choice) and
//! the declared counts (`poll_closed`); the minutes show the counts only, never a voter.
//! The sealed ballot box is not read at all: the declared result already has the counts.

mod docx;
pub mod item;
mod layout;
mod markdown;
mod pdf;
pub mod time;

use std::collections::BTreeMap;

use yishi_protocol::{
    Choice, Electorate, EndReason, EntryKind, EventBody, ItemId, ItemStatus, Majority, Millis,
    ParticipantId, PollId, PollMethod, PollResult, QuestionId, Quorum, RecordEntry, RejectReason,
    Role, Seq, SessionState, TurnId, YesNo,
};

use crate::room::{GENESIS, verify_chain};
use crate::store::{RoomKind, StoredRoom};

pub use docx::to_docx;
pub use item::{ItemPoll, ItemQuestion, ItemRecord, ItemResult, ItemSpeech};
pub use layout::{Block, kind_name, kind_title, layout};
pub use markdown::to_markdown;
pub use pdf::{blocks_to_pdf, to_pdf};

/// The media type of the Markdown minutes.
pub const MARKDOWN_MEDIA_TYPE: &str = "text/markdown; charset=utf-8";
/// The media type of a .docx file.
pub const DOCX_MEDIA_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The minutes of one room, as its record tells them.
#[derive(Debug, Clone, PartialEq)]
pub struct Minutes {
    pub room: String,
    pub title: String,
    pub kind: RoomKind,
    /// Where the meeting took place, if the room's settings say (`"place"`).
    pub place: Option<String>,
    /// Check-in (签到) opened.
    pub check_in_at: Option<Millis>,
    /// The session opened (first `in_session`).
    pub opened_at: Option<Millis>,
    /// The session closed, from the record or, failing that, from the store.
    pub closed_at: Option<Millis>,
    /// The event that closed the session, if the record has it.
    pub closed_seq: Option<Seq>,
    /// The host who opened the session (主持人).
    pub chair: Option<String>,
    /// Times the session was paused.
    pub pauses: u32,
    pub attendance: Vec<Attendee>,
    pub agenda: Vec<AgendaEntry>,
    pub speeches: Vec<Speech>,
    pub polls: Vec<PollMinutes>,
    /// Questions that were approved (published), in the order they were asked.
    pub questions: Vec<QuestionMinutes>,
    pub moderation: Moderation,
    pub annotations: Vec<Annotation>,
    pub verification: Verification,
}

/// Someone the record knows (the audience is counted, never recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct Attendee {
    /// Who this is in the record (for an invitee, the id their link was minted with).
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    pub sector: Option<String>,
    pub venue: Option<String>,
    pub first_joined_at: Millis,
    pub checked_in_at: Option<Millis>,
    /// The event of that first check-in.
    pub checked_in_seq: Option<Seq>,
    /// For a venue: the people in its hall at check-in.
    pub head_count: Option<u32>,
    /// Time connected, up to the close (or the last event).
    pub present_ms: u64,
}

impl Attendee {
    /// Whether this person is expected to check in (hosts and recorders run the meeting).
    pub fn expected_to_check_in(&self) -> bool {
        !matches!(self.role, Role::Host | Role::Recorder | Role::Audience)
    }
}

/// Check-in at one venue (会场): of the people the record knows there (a venue's own
/// connection included), those expected to check in and those who did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueAttendance {
    pub venue: String,
    pub checked_in: u32,
    pub known: u32,
    /// The people in the venue's hall at check-in, as its connection said.
    pub head_count: Option<u32>,
}

/// An agenda item (议程).
#[derive(Debug, Clone, PartialEq)]
pub struct AgendaEntry {
    pub id: ItemId,
    pub title: String,
    /// When it first became the current item.
    pub started_at: Option<Millis>,
}

/// One turn at the floor (发言).
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    pub turn: TurnId,
    /// The event that gave the floor (`turn_started`).
    pub seq: Seq,
    /// The participant who had the floor.
    pub participant: ParticipantId,
    /// Their name.
    pub name: String,
    /// For a venue: the person there who spoke.
    pub speaker: Option<String>,
    pub kind: EntryKind,
    pub sector: Option<String>,
    pub venue: Option<String>,
    /// The agenda item it was given under, if the meeting had an agenda.
    pub item: Option<String>,
    pub started_at: Millis,
    pub limit_ms: u32,
    /// Time spoken, once the turn ended.
    pub spoken_ms: Option<u32>,
    pub ended: Option<EndReason>,
    /// For a reply: who it answered.
    pub replying_to: Option<String>,
    /// For an interjection: whose turn it paused.
    pub interrupts: Option<String>,
    /// The chair's reason, when the floor was given out of order.
    pub override_reason: Option<String>,
}

impl Speech {
    /// Who spoke, as printed: `李委员`, or for a venue `王某（东区分会场）`.
    pub fn who(&self) -> String {
        match &self.speaker {
            Some(speaker) => format!("{speaker}（{}）", self.name),
            None => self.name.clone(),
        }
    }
}

/// A poll (表决) and its declared result.
#[derive(Debug, Clone, PartialEq)]
pub struct PollMinutes {
    pub id: PollId,
    pub question: String,
    pub method: PollMethod,
    pub binding: bool,
    pub advisory: bool,
    pub secret: bool,
    pub majority: Majority,
    pub quorum: Option<Quorum>,
    /// The agenda item it was last opened under (or created under, if never opened), if
    /// the meeting had an agenda.
    pub item: Option<String>,
    pub opened_at: Option<Millis>,
    pub closed_at: Option<Millis>,
    pub by_deadline: bool,
    /// The result declared at close (the record always holds it).
    pub result: Option<PollResult>,
    /// For a named (记名) binding poll only: who chose what. Always empty for a secret
    /// poll.
    pub named: Vec<NamedVote>,
    /// Reasons of resets (ballots discarded, back to draft).
    pub resets: Vec<String>,
    pub published: bool,
    /// Who took part in the binding electorate since the last reset (with the event of
    /// their first ballot), never what they chose: the record says who voted even in a
    /// secret poll. For participation records (履职档案); the minutes never print it
    /// for a secret poll.
    pub took_part: Vec<(ParticipantId, Seq)>,
}

impl PollMinutes {
    /// The labels of the counters of a tally, in order.
    pub fn labels(&self) -> Vec<String> {
        option_labels(&self.method)
    }
}

/// One member's ballot in a named binding poll.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedVote {
    pub name: String,
    pub choice: String,
}

/// A published question (提问).
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionMinutes {
    pub id: QuestionId,
    /// The event that asked it (`question_asked`).
    pub seq: Seq,
    pub author_id: ParticipantId,
    pub author: String,
    pub text: String,
    pub at: Millis,
    /// The agenda item that was current when it was asked, if the meeting had an agenda.
    pub item: Option<String>,
    pub upvotes: u32,
    pub answered: bool,
    /// The respondent it was put to.
    pub forwarded_to: Option<String>,
    /// Merged into this question as a duplicate.
    pub merged_into: Option<QuestionId>,
}

/// Moderation in numbers (审核统计).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Moderation {
    pub comments_approved: u32,
    pub comments_rejected: BTreeMap<RejectReason, u32>,
    pub comments_pending: u32,
    pub questions_approved: u32,
    pub questions_rejected: BTreeMap<RejectReason, u32>,
    pub questions_pending: u32,
    pub questions_merged: u32,
    pub flagged: u32,
}

/// A recorder's note in the record (记录员批注).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub seq: Seq,
    pub at: Millis,
    pub by: String,
    pub text: String,
}

/// What the minutes were made from, and how to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Sequence numbers of the first and last events (none for an empty record).
    pub range: Option<(Seq, Seq)>,
    /// Hash of the last entry (64 zeros for an empty record).
    pub final_hash: String,
    /// The final hash published when the room was closed, if it was.
    pub published_hash: Option<String>,
    /// The chain checked from its first entry: `Err` names the first broken link.
    pub chain: Result<(), String>,
}

impl Verification {
    /// The chain is intact and ends where the published hash (if any) says.
    pub fn intact(&self) -> bool {
        self.chain.is_ok()
            && self
                .published_hash
                .as_deref()
                .is_none_or(|p| p == self.final_hash)
    }
}

/// Someone the fold has seen join.
struct Person {
    attendee: Attendee,
    present_since: Option<Millis>,
}

#[derive(Default)]
struct PollFold {
    poll: Option<PollMinutes>,
    /// Named binding ballots since the last reset: voter → choice.
    ballots: BTreeMap<ParticipantId, Choice>,
    /// Binding voters since the last reset, with the event of their first ballot.
    voters: BTreeMap<ParticipantId, Seq>,
}

struct QuestionFold {
    question: QuestionMinutes,
    status: ItemStatus,
    /// Who upvoted it (a merge brings the duplicate's along; one upvote per person).
    upvoters: std::collections::BTreeSet<ParticipantId>,
}

impl Minutes {
    /// The minutes of `room` from its record `entries` (in order, as the store loads them).
    pub fn build(room: &StoredRoom, entries: &[RecordEntry]) -> Minutes {
        let mut people: BTreeMap<ParticipantId, Person> = BTreeMap::new();
        let mut order: Vec<ParticipantId> = Vec::new();
        let name_of = |people: &BTreeMap<ParticipantId, Person>, id: &ParticipantId| {
            people
                .get(id)
                .map_or_else(|| id.0.clone(), |p| p.attendee.name.clone())
        };

        let mut m = Minutes {
            room: room.id.clone(),
            title: room.title.clone(),
            kind: room.kind,
            place: room
                .settings
                .get("place")
                .and_then(|p| p.as_str())
                .map(str::to_owned),
            check_in_at: None,
            opened_at: None,
            closed_at: None,
            closed_seq: None,
            chair: None,
            pauses: 0,
            attendance: Vec::new(),
            agenda: Vec::new(),
            speeches: Vec::new(),
            polls: Vec::new(),
            questions: Vec::new(),
            moderation: Moderation::default(),
            annotations: Vec::new(),
            verification: verification(room, entries),
        };
        let mut current_item = ItemId(0);
        let mut turns: BTreeMap<TurnId, usize> = BTreeMap::new();
        let mut polls: BTreeMap<PollId, PollFold> = BTreeMap::new();
        let mut questions: BTreeMap<QuestionId, QuestionFold> = BTreeMap::new();
        let mut comments: BTreeMap<yishi_protocol::CommentId, ItemStatus> = BTreeMap::new();

        for entry in entries {
            let event = &entry.event;
            let at = event.at;
            match &event.body {
                EventBody::SessionChanged { state } => match state {
                    SessionState::CheckIn => {
                        m.check_in_at.get_or_insert(at);
                    }
                    SessionState::InSession if m.opened_at.is_none() => {
                        m.opened_at = Some(at);
                        m.chair = event.actor.as_ref().map(|a| name_of(&people, a));
                    }
                    SessionState::Paused => m.pauses += 1,
                    SessionState::Closed => {
                        m.closed_at = Some(at);
                        m.closed_seq = Some(event.seq);
                    }
                    _ => {}
                },
                EventBody::AgendaItemAdded { item } => m.agenda.push(AgendaEntry {
                    id: item.id,
                    title: item.title.clone(),
                    started_at: None,
                }),
                EventBody::CurrentItemChanged { item } => {
                    current_item = *item;
                    if let Some(a) = m.agenda.iter_mut().find(|a| a.id == *item) {
                        a.started_at.get_or_insert(at);
                    }
                }
                EventBody::Joined { participant } => {
                    let person = people.entry(participant.id.clone()).or_insert_with(|| {
                        order.push(participant.id.clone());
                        Person {
                            attendee: Attendee {
                                id: participant.id.clone(),
                                name: participant.name.clone(),
                                role: participant.role,
                                sector: participant.sector.clone(),
                                venue: participant.venue.clone(),
                                first_joined_at: at,
                                checked_in_at: None,
                                checked_in_seq: None,
                                head_count: None,
                                present_ms: 0,
                            },
                            present_since: None,
                        }
                    });
                    person.present_since.get_or_insert(at);
                }
                EventBody::Left { participant } => {
                    if let Some(p) = people.get_mut(participant)
                        && let Some(since) = p.present_since.take()
                    {
                        p.attendee.present_ms += at.since(since);
                    }
                }
                EventBody::CheckedIn {
                    participant,
                    head_count,
                } => {
                    if let Some(p) = people.get_mut(participant) {
                        if p.attendee.checked_in_at.is_none() {
                            p.attendee.checked_in_at = Some(at);
                            p.attendee.checked_in_seq = Some(event.seq);
                        }
                        if head_count.is_some() {
                            p.attendee.head_count = *head_count;
                        }
                    }
                }
                EventBody::TurnStarted {
                    turn,
                    reason,
                    interrupts,
                    ..
                } => {
                    let speech_of = |t: &TurnId| turns.get(t).and_then(|&i| m.speeches.get(i));
                    let speech = Speech {
                        turn: turn.id,
                        seq: event.seq,
                        participant: turn.participant.clone(),
                        name: turn.name.clone(),
                        speaker: turn.speaker.clone(),
                        kind: turn.kind,
                        sector: turn.sector.clone(),
                        venue: turn.venue.clone(),
                        item: item_title(&m.agenda, current_item),
                        started_at: turn.started_at,
                        limit_ms: turn.limit_ms,
                        spoken_ms: None,
                        ended: None,
                        replying_to: turn
                            .replying_to
                            .as_ref()
                            .and_then(speech_of)
                            .map(Speech::who),
                        interrupts: interrupts.as_ref().and_then(speech_of).map(Speech::who),
                        override_reason: reason.clone(),
                    };
                    turns.insert(turn.id, m.speeches.len());
                    m.speeches.push(speech);
                }
                EventBody::TurnEnded {
                    turn,
                    spoken_ms,
                    reason,
                } => {
                    if let Some(s) = turns.get(turn).and_then(|&i| m.speeches.get_mut(i)) {
                        s.spoken_ms = Some(*spoken_ms);
                        s.ended = Some(*reason);
                    }
                }
                EventBody::PollCreated { poll, spec } | EventBody::PollUpdated { poll, spec } => {
                    let fold = polls.entry(*poll).or_default();
                    let (resets, opened_at, item) = fold
                        .poll
                        .as_ref()
                        .map(|p| (p.resets.clone(), p.opened_at, p.item.clone()))
                        .unwrap_or_default();
                    fold.poll = Some(PollMinutes {
                        id: *poll,
                        question: spec.question.clone(),
                        method: spec.method.clone(),
                        binding: spec.binding,
                        advisory: spec.advisory,
                        secret: spec.secret,
                        majority: spec.majority,
                        quorum: spec.quorum,
                        item: item.or_else(|| item_title(&m.agenda, current_item)),
                        opened_at,
                        closed_at: None,
                        by_deadline: false,
                        result: None,
                        named: Vec::new(),
                        resets,
                        published: false,
                        took_part: Vec::new(),
                    });
                }
                EventBody::PollOpened { poll, spec, .. } => {
                    let fold = polls.entry(*poll).or_default();
                    let resets = fold
                        .poll
                        .as_ref()
                        .map(|p| p.resets.clone())
                        .unwrap_or_default();
                    fold.ballots.clear();
                    fold.voters.clear();
                    fold.poll = Some(PollMinutes {
                        id: *poll,
                        question: spec.question.clone(),
                        method: spec.method.clone(),
                        binding: spec.binding,
                        advisory: spec.advisory,
                        secret: spec.secret,
                        majority: spec.majority,
                        quorum: spec.quorum,
                        item: item_title(&m.agenda, current_item),
                        opened_at: Some(at),
                        closed_at: None,
                        by_deadline: false,
                        result: None,
                        named: Vec::new(),
                        resets,
                        published: false,
                        took_part: Vec::new(),
                    });
                }
                EventBody::BallotCast {
                    poll,
                    electorate: Electorate::Binding,
                    voter,
                    choice,
                    ..
                } => {
                    let fold = polls.entry(*poll).or_default();
                    fold.voters.entry(voter.clone()).or_insert(event.seq);
                    // Only named polls carry a choice here; a secret ballot never does.
                    if let Some(choice) = choice
                        && fold.poll.as_ref().is_some_and(|p| !p.secret)
                    {
                        fold.ballots.insert(voter.clone(), choice.clone());
                    }
                }
                EventBody::BallotsVoided {
                    poll,
                    electorate: Electorate::Binding,
                    voters,
                } => {
                    // Their ballots never reached the box: they did not vote (yet).
                    let fold = polls.entry(*poll).or_default();
                    for voter in voters {
                        fold.voters.remove(voter);
                    }
                }
                EventBody::PollClosed {
                    poll,
                    result,
                    by_deadline,
                } => {
                    let fold = polls.entry(*poll).or_default();
                    if let Some(p) = fold.poll.as_mut() {
                        p.closed_at = Some(at);
                        p.by_deadline = *by_deadline;
                        p.result = result.clone();
                        if !p.secret {
                            let labels = option_labels(&p.method);
                            p.named = fold
                                .ballots
                                .iter()
                                .map(|(voter, choice)| NamedVote {
                                    name: name_of(&people, voter),
                                    choice: choice_label(choice, &labels),
                                })
                                .collect();
                        }
                    }
                }
                EventBody::PollPublished { poll, result } => {
                    if let Some(p) = polls.get_mut(poll).and_then(|f| f.poll.as_mut()) {
                        p.published = true;
                        p.result.get_or_insert_with(|| result.clone());
                    }
                }
                EventBody::PollReset { poll, reason } => {
                    let fold = polls.entry(*poll).or_default();
                    fold.ballots.clear();
                    fold.voters.clear();
                    if let Some(p) = fold.poll.as_mut() {
                        p.resets.push(reason.clone());
                        p.opened_at = None;
                        p.closed_at = None;
                        p.result = None;
                        p.named.clear();
                        p.published = false;
                    }
                }
                EventBody::CommentPosted { comment } => {
                    comments.insert(comment.id, comment.status);
                    if comment.status == ItemStatus::Approved {
                        m.moderation.comments_approved += 1;
                    }
                    if comment.flagged {
                        m.moderation.flagged += 1;
                    }
                }
                EventBody::CommentApproved { comment } => {
                    if let Some(status) = comments.get_mut(&comment.id) {
                        *status = ItemStatus::Approved;
                        m.moderation.comments_approved += 1;
                    }
                }
                EventBody::CommentRejected { comment, reason } => {
                    if let Some(status) = comments.get_mut(comment) {
                        *status = ItemStatus::Rejected;
                        *m.moderation.comments_rejected.entry(*reason).or_default() += 1;
                    }
                }
                EventBody::QuestionAsked { question } => {
                    if question.status == ItemStatus::Approved {
                        m.moderation.questions_approved += 1;
                    }
                    if question.flagged {
                        m.moderation.flagged += 1;
                    }
                    questions.insert(
                        question.id,
                        QuestionFold {
                            question: QuestionMinutes {
                                id: question.id,
                                seq: event.seq,
                                author_id: question.author.clone(),
                                author: question.author_name.clone(),
                                text: question.text.clone(),
                                at: question.at,
                                item: item_title(&m.agenda, current_item),
                                upvotes: question.upvotes,
                                answered: question.answered,
                                forwarded_to: None,
                                merged_into: None,
                            },
                            status: question.status,
                            upvoters: Default::default(),
                        },
                    );
                }
                EventBody::QuestionApproved { question } => {
                    if let Some(q) = questions.get_mut(&question.id) {
                        q.status = ItemStatus::Approved;
                        m.moderation.questions_approved += 1;
                    }
                }
                EventBody::QuestionRejected { question, reason } => {
                    if let Some(q) = questions.get_mut(question) {
                        q.status = ItemStatus::Rejected;
                        *m.moderation.questions_rejected.entry(*reason).or_default() += 1;
                    }
                }
                EventBody::QuestionUpvoted { question, by } => {
                    if let Some(q) = questions.get_mut(question) {
                        q.upvoters.insert(by.clone());
                        q.question.upvotes = count(&q.upvoters);
                    }
                }
                EventBody::QuestionAnswered { question } => {
                    if let Some(q) = questions.get_mut(question) {
                        q.question.answered = true;
                    }
                }
                EventBody::QuestionForwarded { question, to } => {
                    let to = name_of(&people, to);
                    if let Some(q) = questions.get_mut(question) {
                        q.question.forwarded_to = Some(to);
                    }
                }
                EventBody::QuestionMerged { question, into } => {
                    let moved = questions.get_mut(question).map(|q| {
                        q.question.merged_into = Some(*into);
                        q.question.upvotes = 0;
                        std::mem::take(&mut q.upvoters)
                    });
                    if let Some(q) = questions.get_mut(into) {
                        q.upvoters.extend(moved.unwrap_or_default());
                        q.question.upvotes = count(&q.upvoters);
                    }
                    m.moderation.questions_merged += 1;
                }
                EventBody::Annotated { text } => m.annotations.push(Annotation {
                    seq: event.seq,
                    at,
                    by: event
                        .actor
                        .as_ref()
                        .map_or_else(String::new, |a| name_of(&people, a)),
                    text: text.clone(),
                }),
                _ => {}
            }
        }

        let end = m
            .closed_at
            .or(room.closed_at)
            .or_else(|| entries.last().map(|e| e.event.at));
        m.closed_at = m.closed_at.or(room.closed_at);
        for id in &order {
            if let Some(mut p) = people.remove(id) {
                if let (Some(since), Some(end)) = (p.present_since, end) {
                    p.attendee.present_ms += end.since(since);
                }
                m.attendance.push(p.attendee);
            }
        }
        m.polls = polls
            .into_values()
            .filter_map(|f| {
                let mut poll = f.poll?;
                let mut voters: Vec<_> = f.voters.into_iter().collect();
                voters.sort_by_key(|(_, seq)| *seq);
                poll.took_part = voters;
                Some(poll)
            })
            .collect();
        m.moderation.comments_pending = comments
            .values()
            .filter(|s| **s == ItemStatus::Pending)
            .count() as u32;
        m.moderation.questions_pending = questions
            .values()
            .filter(|q| q.status == ItemStatus::Pending)
            .count() as u32;
        m.questions = questions
            .into_values()
            .filter(|q| q.status == ItemStatus::Approved)
            .map(|q| q.question)
            .collect();
        m
    }
}

impl Minutes {
    /// Check-in per venue, in the order each venue's first person arrived: everyone
    /// expected to check in with a venue (or who is a venue), never the remote.
    pub fn venues(&self) -> Vec<VenueAttendance> {
        let mut venues: Vec<VenueAttendance> = Vec::new();
        for a in self.attendance.iter().filter(|a| a.expected_to_check_in()) {
            let venue = match (&a.venue, a.role) {
                (Some(v), _) => v.clone(),
                (None, Role::Venue) => a.name.clone(),
                (None, _) => continue,
            };
            let i = match venues.iter().position(|v| v.venue == venue) {
                Some(i) => i,
                None => {
                    venues.push(VenueAttendance {
                        venue,
                        checked_in: 0,
                        known: 0,
                        head_count: None,
                    });
                    venues.len() - 1
                }
            };
            let v = &mut venues[i];
            v.known += 1;
            v.checked_in += u32::from(a.checked_in_at.is_some());
            if let Some(n) = a.head_count {
                v.head_count = Some(v.head_count.unwrap_or(0) + n);
            }
        }
        venues
    }
}

fn verification(room: &StoredRoom, entries: &[RecordEntry]) -> Verification {
    let range = entries
        .first()
        .zip(entries.last())
        .map(|(a, b)| (a.event.seq, b.event.seq));
    Verification {
        range,
        final_hash: entries
            .last()
            .map_or_else(|| GENESIS.to_owned(), |e| e.hash.clone()),
        published_hash: room.final_hash.clone(),
        chain: verify_chain(entries).map(|_| ()).map_err(|e| e.to_string()),
    }
}

/// The title of the agenda item `id`, if the agenda has it (item 0 is "no agenda").
fn item_title(agenda: &[AgendaEntry], id: ItemId) -> Option<String> {
    agenda.iter().find(|a| a.id == id).map(|a| a.title.clone())
}

fn count<T>(set: &std::collections::BTreeSet<T>) -> u32 {
    u32::try_from(set.len()).unwrap_or(u32::MAX)
}

/// The labels of a method's counters: its options, 赞成/反对/弃权, or one to five stars.
pub fn option_labels(method: &PollMethod) -> Vec<String> {
    match method {
        PollMethod::Single { options } | PollMethod::Multiple { options, .. } => options.clone(),
        PollMethod::YesNoAbstain => ["赞成", "反对", "弃权"].map(str::to_owned).to_vec(),
        PollMethod::Rating => (1..=5).map(|n| format!("{n}星")).collect(),
    }
}

/// A named ballot's choice in words.
fn choice_label(choice: &Choice, labels: &[String]) -> String {
    let label = |i: u8| {
        labels
            .get(usize::from(i))
            .cloned()
            .unwrap_or_else(|| format!("选项{}", u32::from(i) + 1))
    };
    match choice {
        Choice::Single { option } => label(*option),
        Choice::Multiple { options } => options
            .iter()
            .map(|o| label(*o))
            .collect::<Vec<_>>()
            .join("、"),
        Choice::YesNoAbstain { vote } => match vote {
            YesNo::Yes => "赞成",
            YesNo::No => "反对",
            YesNo::Abstain => "弃权",
        }
        .to_owned(),
        Choice::Rating { stars } => format!("{stars}星"),
    }
}

#[cfg(test)]
pub(crate) mod tests;
