//! Members' chat, public comments and questions (Q&A), and their moderation.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{ChatId, CommentId, Millis, ParticipantId, QuestionId};

/// A members' chat message (unmoderated, members and hosts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChatMessage {
    pub id: ChatId,
    pub from: ParticipantId,
    pub from_name: String,
    pub text: String,
    pub at: Millis,
}

/// Where an item stands in moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ItemStatus {
    Pending,
    Approved,
    Rejected,
}

/// Why a moderator turned an item down. Counted per reason so moderation can be
/// published afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RejectReason {
    Duplicate,
    OffTopic,
    Abusive,
    Advertising,
    PersonalInformation,
    Other,
}

/// A moderator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[ts(export)]
pub enum Decision {
    Approve,
    Reject { reason: RejectReason },
}

/// A public comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Comment {
    pub id: CommentId,
    pub author: ParticipantId,
    pub author_name: String,
    pub text: String,
    pub at: Millis,
    pub status: ItemStatus,
    /// The word list matched: a moderator must look at it.
    pub flagged: bool,
    /// Why a moderator turned it down, once rejected (only its author and hosts see a
    /// rejected item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rejected: Option<RejectReason>,
}

/// A question (Q&A).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Question {
    pub id: QuestionId,
    pub author: ParticipantId,
    pub author_name: String,
    pub text: String,
    pub at: Millis,
    pub status: ItemStatus,
    pub flagged: bool,
    pub upvotes: u32,
    pub answered: bool,
    pub pinned: bool,
    /// Put to this respondent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub forwarded_to: Option<ParticipantId>,
    /// Merged into this question as a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub merged_into: Option<QuestionId>,
    /// Why a moderator turned it down, once rejected (only its author and hosts see a
    /// rejected item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub rejected: Option<RejectReason>,
}

/// How many items were turned down for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReasonCount {
    pub reason: RejectReason,
    pub count: u32,
}

/// Moderation in numbers, publishable after the session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ModerationStats {
    pub comments_approved: u32,
    pub comments_rejected: Vec<ReasonCount>,
    pub questions_approved: u32,
    pub questions_rejected: Vec<ReasonCount>,
    pub questions_merged: u32,
    pub flagged: u32,
}
