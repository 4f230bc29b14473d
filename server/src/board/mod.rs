//! The board (码上议事): the between-meetings engine, pure and deterministic like
//! `room/`. Topics (议题) collected from residents, members and staff, moderated apart
//! from their workflow, supported once per person, commented with a stance, merged when
//! duplicated, selected into consultations where an opinion (协商意见) is recorded, and
//! the outcomes (成果) that follow, with their progress and review (回头看). Followers of
//! a topic get a notice for every change that matters to them. Members' studios (委员网上
//! 工作室) take messages from the public, pre-moderated, replied to publicly or privately
//! within a deadline; they hold duty slots (会客时间) that open a live Q&A room at the set
//! time, and staff may file a message as a social-conditions report (社情民意).
//!
//! `Board::apply(actor, command, now)` decides a command and returns the events it
//! causes, or a [`Rejection`]; each event is folded as it is emitted, and
//! [`Board::fold`] is the only way state changes, so replaying the record rebuilds the
//! board exactly (notices included). One match dispatches each command to one function,
//! with the actor passed in.
//!
//! This module must never do I/O, read a clock, spawn, lock or draw randomness.

mod comments;
mod duty;
mod follows;
mod listing;
mod live;
mod merge;
mod moderation;
mod outcomes;
mod record;
pub mod search;
mod studio;
mod supports;
mod text;
mod topics;
mod types;
mod view;
mod workflow;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use imbl::{OrdMap, OrdSet};

use yishi_protocol::Millis;

pub use duty::{DutyPhase, DutyView};
pub use follows::{notice_kind, webhook_kind};
pub use live::Changed;
pub use record::{BoardEntry, Chain, verify_chain};
pub use studio::{MessageView, PublicMessage, ReportView, StudioPage, StudioSummary};
pub use types::*;
pub use view::{Filter, OutcomeView, PublicComment, Queue, TimelineEntry, TopicPage, TopicSummary};

/// Supports that put a topic on the staff's shortlist until staff set another number.
pub const DEFAULT_THRESHOLD: u32 = 50;
/// Days a member has to reply to a published message unless the studio says otherwise.
pub const DEFAULT_DEADLINE_DAYS: u32 = 7;
/// The longest reply deadline a studio may set, in days.
pub const MAX_DEADLINE_DAYS: u32 = 90;
/// Topics of interest a studio shows at most.
pub const MAX_INTERESTS: usize = 8;
/// A duty room opens this long before the slot's start (进入会客室 is offered).
pub const DUTY_OPENS_BEFORE_MS: u64 = 5 * 60_000;
/// The longest duty slot.
pub const MAX_DUTY_MS: u64 = 4 * 3_600_000;
/// A slot may start this long before it is scheduled (a form filled in the current
/// minute); anything earlier is in the past.
pub const DUTY_START_GRACE_MS: u64 = 5 * 60_000;
/// Notices kept per identity: the latest ones.
pub const FEED_LEN: usize = 200;

/// What a client can act on when a command is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// This actor may not do this.
    Forbidden,
    /// No such topic, comment, outcome, studio or message (or not public).
    NotFound,
    /// Not now: the item is not in a state that allows it.
    InvalidState,
    /// This identity supports the topic already.
    AlreadySupported,
    /// The topic was merged into another: act on that one.
    Merged,
    /// The text is empty.
    TextEmpty,
    /// The text has characters that are not allowed.
    TextInvalid,
    /// The text is too long.
    TextTooLong,
    /// A value is out of range or malformed.
    InvalidArgument,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::AlreadySupported => "already_supported",
            ErrorCode::Merged => "merged",
            ErrorCode::TextEmpty => "text_empty",
            ErrorCode::TextInvalid => "text_invalid",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::InvalidArgument => "invalid_argument",
        }
    }
}

use serde::{Deserialize, Serialize};

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

/// Shorthand for a refusal.
pub(crate) fn reject<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        code,
        message: message.into(),
    })
}

/// A topic and what the engine keeps beside it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TopicState {
    pub topic: Topic,
    /// Who supports it, those of duplicates merged into it included; `topic.supports`
    /// is always its size.
    pub supporters: OrdSet<Identity>,
    pub followers: OrdSet<Identity>,
    /// Its public timeline: (seq, at, what).
    pub timeline: Vec<TimelineEntry>,
    pub comments: Vec<CommentId>,
    pub outcomes: Vec<OutcomeId>,
}

/// An outcome and its timeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutcomeState {
    pub outcome: Outcome,
    pub children: Vec<OutcomeId>,
    pub timeline: Vec<TimelineEntry>,
}

/// A studio message and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageState {
    pub message: Message,
    pub moderation: Moderation,
    pub published_at: Option<Millis>,
    /// When the reply is due: set at publication.
    pub due: Option<Millis>,
    pub replies: Vec<Reply>,
    /// The topic staff made of it.
    pub topic: Option<TopicId>,
    /// The 社情民意 item staff filed from it.
    pub report: Option<ReportId>,
}

/// A duty slot and whether it was cancelled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DutyState {
    pub slot: DutySlot,
    pub cancelled: bool,
}

/// A 社情民意 item, when and by whom it was filed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReportState {
    pub report: SocialReport,
    pub at: Millis,
    pub by_name: String,
}

/// The board: the fold of its record so far. Its maps and sets are persistent
/// (`imbl`): a copy costs nothing until it changes, and a change copies only its path,
/// so the server decides each command on a copy (kept if the store commits it) at any
/// size (`benches/board.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    seq: u64,
    last_at: Millis,
    pub(crate) threshold: u32,
    pub(crate) topics: OrdMap<TopicId, TopicState>,
    pub(crate) comments: OrdMap<CommentId, Comment>,
    pub(crate) outcomes: OrdMap<OutcomeId, OutcomeState>,
    pub(crate) feeds: OrdMap<Identity, VecDeque<Notice>>,
    pub(crate) studios: OrdMap<MemberId, Studio>,
    pub(crate) messages: OrdMap<MessageId, MessageState>,
    /// The sequence number of the last event that put a notice in someone's feed.
    pub(crate) last_notice: u64,
    pub(crate) duty: OrdMap<SlotId, DutyState>,
    pub(crate) reports: OrdMap<ReportId, ReportState>,
    /// The public list's index of the listed topics (`listing.rs`).
    pub(crate) listed: listing::ListIndex,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

/// The emission context of one command: who acts, when, and where events go.
pub(crate) struct Cx<'a> {
    pub actor: &'a Actor,
    pub now: Millis,
    pub out: &'a mut Vec<Event>,
}

impl Board {
    /// An empty board, before its first event.
    pub fn new() -> Board {
        Board {
            seq: 0,
            last_at: Millis(0),
            threshold: DEFAULT_THRESHOLD,
            topics: OrdMap::new(),
            comments: OrdMap::new(),
            outcomes: OrdMap::new(),
            feeds: OrdMap::new(),
            studios: OrdMap::new(),
            messages: OrdMap::new(),
            last_notice: 0,
            duty: OrdMap::new(),
            reports: OrdMap::new(),
            listed: Default::default(),
        }
    }

    /// Rebuild a board from its record.
    pub fn replay<'e>(events: impl IntoIterator<Item = &'e Event>) -> Board {
        let mut board = Board::new();
        for event in events {
            board.fold(event);
        }
        board
    }

    /// Sequence number of the last event.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Supports that put a topic on the shortlist.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Decide `command` from `actor` at `now`. A refused command changes nothing.
    pub fn apply(
        &mut self,
        actor: &Actor,
        command: &Command,
        now: Millis,
    ) -> Result<Vec<Event>, Rejection> {
        let mut out = Vec::new();
        let mut cx = Cx {
            actor,
            now: now.max(self.last_at),
            out: &mut out,
        };
        // Every check comes before the first emit, so a refusal leaves no event behind.
        match command {
            Command::SubmitTopic(c) => self.submit_topic(&mut cx, c),
            Command::ModerateTopic(c) => self.moderate_topic(&mut cx, c),
            Command::Support(c) => self.support(&mut cx, c),
            Command::PostComment(c) => self.post_comment(&mut cx, c),
            Command::ModerateComment(c) => self.moderate_comment(&mut cx, c),
            Command::MergeTopic(c) => self.merge_topic(&mut cx, c),
            Command::AdvanceStage(c) => self.advance_stage(&mut cx, c),
            Command::SetThreshold(c) => self.set_threshold(&mut cx, c),
            Command::SelectIntoMeeting(c) => self.select_into_meeting(&mut cx, c),
            Command::RecordOpinion(c) => self.record_opinion(&mut cx, c),
            Command::CreateOutcome(c) => self.create_outcome(&mut cx, c),
            Command::ReportProgress(c) => self.report_progress(&mut cx, c),
            Command::ReviewOutcome(c) => self.review_outcome(&mut cx, c),
            Command::Follow(c) => self.follow(&mut cx, c),
            Command::Unfollow(c) => self.unfollow(&mut cx, c),
            Command::OpenStudio(c) => self.open_studio(&mut cx, c),
            Command::PostMessage(c) => self.post_message(&mut cx, c),
            Command::ModerateMessage(c) => self.moderate_message(&mut cx, c),
            Command::ReplyMessage(c) => self.reply_message(&mut cx, c),
            Command::MessageToTopic(c) => self.message_to_topic(&mut cx, c),
            Command::ScheduleDuty(c) => self.schedule_duty(&mut cx, c),
            Command::CancelDuty(c) => self.cancel_duty(&mut cx, c),
            Command::MessageToReport(c) => self.message_to_report(&mut cx, c),
        }?;
        Ok(out)
    }

    /// Number, stamp and fold one event, and hand it to the caller.
    pub(crate) fn emit(&mut self, cx: &mut Cx, body: EventBody) {
        let event = Event {
            seq: self.seq + 1,
            at: cx.now,
            actor: cx.actor.clone(),
            body,
        };
        self.fold(&event);
        cx.out.push(event);
    }

    /// Fold one event into the state. The only way state changes.
    pub fn fold(&mut self, event: &Event) {
        debug_assert_eq!(event.seq, self.seq + 1, "events must be folded in order");
        self.seq = event.seq;
        self.last_at = self.last_at.max(event.at);
        // The public list's index follows the topic whose place on the list may change.
        let relisted = event.body.relisted_topic().map(|id| (id, self.listing(id)));
        use EventBody::*;
        match &event.body {
            TopicSubmitted { .. } => self.fold_topics(event),
            TopicPublished { .. } | TopicRejected { .. } => self.fold_moderation(event),
            Supported { .. } => self.fold_supports(event),
            CommentPosted { .. } | CommentPublished { .. } | CommentRejected { .. } => {
                self.fold_comments(event)
            }
            TopicMerged { .. } => self.fold_merge(event),
            StageAdvanced { .. }
            | ThresholdSet { .. }
            | SelectedIntoMeeting { .. }
            | OpinionRecorded { .. } => self.fold_workflow(event),
            OutcomeCreated { .. } | ProgressReported { .. } | OutcomeReviewed { .. } => {
                self.fold_outcomes(event)
            }
            Followed { .. } | Unfollowed { .. } => self.fold_follows(event),
            StudioOpened { .. }
            | MessagePosted { .. }
            | MessagePublished { .. }
            | MessageRejected { .. }
            | MessageReplied { .. }
            | ReportFiled { .. } => self.fold_studio(event),
            DutyScheduled { .. } | DutyCancelled { .. } => self.fold_duty(event),
        }
        if let Some((id, before)) = relisted {
            self.relist(id, before);
        }
    }

    // ----- look-ups shared by the parts -----

    pub(crate) fn topic(&self, id: TopicId) -> Result<&TopicState, Rejection> {
        match self.topics.get(&id) {
            Some(t) => Ok(t),
            None => reject(ErrorCode::NotFound, format!("no topic {}", id.0)),
        }
    }

    /// A topic that is published and not merged: one that can be acted on.
    pub(crate) fn live_topic(&self, id: TopicId) -> Result<&TopicState, Rejection> {
        let t = self.topic(id)?;
        if t.topic.moderation != Moderation::Published {
            return reject(ErrorCode::NotFound, format!("no topic {}", id.0));
        }
        if let Some(into) = t.topic.merged_into {
            return reject(
                ErrorCode::Merged,
                format!("topic {} was merged into topic {}", id.0, into.0),
            );
        }
        Ok(t)
    }

    pub(crate) fn outcome(&self, id: OutcomeId) -> Result<&OutcomeState, Rejection> {
        match self.outcomes.get(&id) {
            Some(o) => Ok(o),
            None => reject(ErrorCode::NotFound, format!("no outcome {}", id.0)),
        }
    }
}

/// `Ok` for staff, a `forbidden` rejection otherwise.
pub(crate) fn require_staff(actor: &Actor) -> Result<(), Rejection> {
    if actor.is_staff() {
        Ok(())
    } else {
        reject(ErrorCode::Forbidden, "only staff may do this")
    }
}

/// `Ok` for a person who takes part on their own account (resident, member, staff);
/// the chair or recorder of a meeting acts only on that meeting's topics.
pub(crate) fn require_person(actor: &Actor) -> Result<(), Rejection> {
    match actor {
        Actor::Presiding { .. } => reject(
            ErrorCode::Forbidden,
            "a meeting's chair or recorder may only record its opinions",
        ),
        _ => Ok(()),
    }
}

impl EventBody {
    /// The topics whose public text an event may change (for the search index).
    pub fn touched_topics(&self) -> Vec<TopicId> {
        match self {
            EventBody::TopicSubmitted { topic } => vec![topic.id],
            EventBody::TopicPublished { topic } | EventBody::TopicRejected { topic, .. } => {
                vec![*topic]
            }
            EventBody::TopicMerged { duplicate, into } => vec![*duplicate, *into],
            _ => Vec::new(),
        }
    }
}
