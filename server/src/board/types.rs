//! The board's words: ids, who acts, the commands they send and the events the engine
//! records. Serde shapes are the API's and the record's (the canonical JSON of an
//! [`Event`] is what its hash covers), so change them only with a migration of the record.

use serde::{Deserialize, Serialize};
use yishi_protocol::Millis;

use crate::staff::StaffRole;

/// A topic (议题).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicId(pub u32);

/// A comment on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommentId(pub u32);

/// An outcome (成果).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutcomeId(pub u32);

/// A roster member (委员), by the roster's id: the key of their studio (网上工作室).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub i64);

impl MemberId {
    /// The board identity of this member: `m-<id>`, the participant id the console gives
    /// the member in meetings, and the `sub` the committee's platform puts in the
    /// member's board token.
    pub fn identity(self) -> Identity {
        Identity(format!("m-{}", self.0))
    }
}

/// A message (留言) left in a member's studio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u32);

/// A duty slot (会客时间): a time the member receives the public in a live room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SlotId(pub u32);

/// A social-conditions report (社情民意信息) made from a studio message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReportId(pub u32);

/// Who someone is on the board, for the one-support-per-person rule and their feed:
/// `res-…` for a resident who chose a display name, the platform's `sub` for someone it
/// verified, `staff:<name>` for staff.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Identity(pub String);

impl Identity {
    pub fn new(id: impl Into<String>) -> Identity {
        Identity(id.into())
    }
}

/// Who presides over a consultation a topic was selected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresidingRole {
    Chair,
    Recorder,
}

/// The sender of a command. Every command has one: there is no anonymous or internal
/// sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A resident (群众): a display name of their choice, or verified by the committee's
    /// platform.
    Resident {
        identity: Identity,
        name: String,
        verified: bool,
    },
    /// A committee member (委员), verified by the committee's platform.
    Member { identity: Identity, name: String },
    /// The committee office (会务组), logged in to the console.
    Staff { name: String, role: StaffRole },
    /// The chair (主持人) or recorder (记录员) of one consultation, by their join token.
    Presiding {
        meeting: String,
        identity: Identity,
        name: String,
        role: PresidingRole,
    },
}

impl Actor {
    /// The identity that supports, follows and gets notices.
    pub fn identity(&self) -> Identity {
        match self {
            Actor::Resident { identity, .. }
            | Actor::Member { identity, .. }
            | Actor::Presiding { identity, .. } => identity.clone(),
            Actor::Staff { name, .. } => Identity(format!("staff:{name}")),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::Resident { name, .. }
            | Actor::Member { name, .. }
            | Actor::Staff { name, .. }
            | Actor::Presiding { name, .. } => name,
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Actor::Staff { .. })
    }
}

/// Moderation (审核), apart from the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Moderation {
    Pending,
    Published,
    Rejected { reason: String },
}

/// The workflow of a topic, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 征集中: collecting supports and comments.
    #[default]
    Collecting,
    /// 遴选: being considered for a consultation.
    Selecting,
    /// 已协商: consulted; the opinion is recorded.
    Consulted,
    /// 办理中: outcomes being handled.
    Handling,
    /// 已办结: done.
    Done,
}

impl Stage {
    /// The stage after this one.
    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Collecting => Some(Stage::Selecting),
            Stage::Selecting => Some(Stage::Consulted),
            Stage::Consulted => Some(Stage::Handling),
            Stage::Handling => Some(Stage::Done),
            Stage::Done => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Collecting => "collecting",
            Stage::Selecting => "selecting",
            Stage::Consulted => "consulted",
            Stage::Handling => "handling",
            Stage::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        [
            Stage::Collecting,
            Stage::Selecting,
            Stage::Consulted,
            Stage::Handling,
            Stage::Done,
        ]
        .into_iter()
        .find(|stage| stage.as_str() == s)
    }
}

/// A comment's stance (立场).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    /// 支持
    For,
    /// 反对
    Against,
    /// 建议
    Suggestion,
}

/// An outcome's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// 已交办: assigned to the responsible unit.
    #[default]
    Assigned,
    /// 办理中
    Handling,
    /// 已办结
    Done,
}

/// A moderator's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Publish,
    Reject { reason: String },
}

/// A calendar day, `YYYY-MM-DD` (China time): due and review dates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Day(pub String);

impl Day {
    /// The day (China time, UTC+8) of an instant.
    pub fn of(at: Millis) -> Day {
        let secs = i64::try_from(at.0 / 1000).unwrap_or(i64::MAX) + 8 * 3600;
        let (y, m, d) = crate::minutes::time::civil_from_days(secs.div_euclid(86_400));
        Day(format!("{y:04}-{m:02}-{d:02}"))
    }

    /// Whether this is a real date written `YYYY-MM-DD`.
    pub fn is_valid(&self) -> bool {
        let b = self.0.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return false;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = self.0.get(r)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
            return false;
        };
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        y >= 2000 && (1..=days).contains(&d)
    }
}

// ----- commands: one struct each -----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitTopic {
    pub title: String,
    pub text: String,
    /// 街道 / 社区
    pub area: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerateTopic {
    pub topic: TopicId,
    #[serde(flatten)]
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Support {
    pub topic: TopicId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostComment {
    pub topic: TopicId,
    pub text: String,
    #[serde(default)]
    pub stance: Option<Stance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerateComment {
    pub comment: CommentId,
    #[serde(flatten)]
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeTopic {
    /// The duplicate, which points to `into` from now on.
    pub duplicate: TopicId,
    pub into: TopicId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceStage {
    pub topic: TopicId,
    /// The stage after the current one: said explicitly, so a repeated request fails
    /// instead of moving the topic twice.
    pub to: Stage,
    /// The public note that goes with the change.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetThreshold {
    pub supports: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectIntoMeeting {
    pub topic: TopicId,
    /// The meeting's room id.
    pub meeting: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOpinion {
    pub topic: TopicId,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOutcome {
    pub topic: TopicId,
    pub title: String,
    /// 承办单位
    pub unit: String,
    #[serde(default)]
    pub due: Option<Day>,
    /// 回头看
    #[serde(default)]
    pub review: Option<Day>,
    #[serde(default)]
    pub parent: Option<OutcomeId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportProgress {
    pub outcome: OutcomeId,
    /// Progress in percent; `None` keeps it (a timeline entry only).
    #[serde(default)]
    pub percent: Option<u8>,
    #[serde(default)]
    pub status: Option<OutcomeStatus>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewOutcome {
    pub outcome: OutcomeId,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    pub topic: TopicId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStudio {
    /// The roster member whose studio it is.
    pub member: MemberId,
    /// The name shown on the studio's page.
    pub name: String,
    /// 界别
    pub sector: String,
    /// A photo's address (`https://…`, `http://…` or a path on this server); none shows
    /// the initials.
    #[serde(default)]
    pub photo: Option<String>,
    /// Topics of interest (关注领域), at most [`crate::board::MAX_INTERESTS`].
    #[serde(default)]
    pub interests: Vec<String>,
    /// Days the member has to reply to a published message; 7 when not given.
    #[serde(default)]
    pub deadline_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMessage {
    pub member: MemberId,
    #[serde(default)]
    pub title: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerateMessage {
    pub message: MessageId,
    #[serde(flatten)]
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyMessage {
    pub message: MessageId,
    pub text: String,
    /// Shown on the studio's page under the message; otherwise seen by the sender and
    /// staff only.
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageToTopic {
    pub message: MessageId,
    /// The topic's title; the message's title when not given.
    #[serde(default)]
    pub title: Option<String>,
    pub area: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleDuty {
    /// The studio (its member) receiving.
    pub member: MemberId,
    pub title: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelDuty {
    pub slot: SlotId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageToReport {
    pub message: MessageId,
    /// The item's title.
    pub title: String,
    /// The item's text; the message's when not given.
    #[serde(default)]
    pub text: Option<String>,
}

/// Everything someone can ask of the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    SubmitTopic(SubmitTopic),
    ModerateTopic(ModerateTopic),
    Support(Support),
    PostComment(PostComment),
    ModerateComment(ModerateComment),
    MergeTopic(MergeTopic),
    AdvanceStage(AdvanceStage),
    SetThreshold(SetThreshold),
    SelectIntoMeeting(SelectIntoMeeting),
    RecordOpinion(RecordOpinion),
    CreateOutcome(CreateOutcome),
    ReportProgress(ReportProgress),
    ReviewOutcome(ReviewOutcome),
    Follow(Follow),
    Unfollow(Follow),
    OpenStudio(OpenStudio),
    PostMessage(PostMessage),
    ModerateMessage(ModerateMessage),
    ReplyMessage(ReplyMessage),
    MessageToTopic(MessageToTopic),
    ScheduleDuty(ScheduleDuty),
    CancelDuty(CancelDuty),
    MessageToReport(MessageToReport),
}

impl Command {
    /// The command's `type`, for logs and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Command::SubmitTopic(_) => "submit_topic",
            Command::ModerateTopic(_) => "moderate_topic",
            Command::Support(_) => "support",
            Command::PostComment(_) => "post_comment",
            Command::ModerateComment(_) => "moderate_comment",
            Command::MergeTopic(_) => "merge_topic",
            Command::AdvanceStage(_) => "advance_stage",
            Command::SetThreshold(_) => "set_threshold",
            Command::SelectIntoMeeting(_) => "select_into_meeting",
            Command::RecordOpinion(_) => "record_opinion",
            Command::CreateOutcome(_) => "create_outcome",
            Command::ReportProgress(_) => "report_progress",
            Command::ReviewOutcome(_) => "review_outcome",
            Command::Follow(_) => "follow",
            Command::Unfollow(_) => "unfollow",
            Command::OpenStudio(_) => "open_studio",
            Command::PostMessage(_) => "post_message",
            Command::ModerateMessage(_) => "moderate_message",
            Command::ReplyMessage(_) => "reply_message",
            Command::MessageToTopic(_) => "message_to_topic",
            Command::ScheduleDuty(_) => "schedule_duty",
            Command::CancelDuty(_) => "cancel_duty",
            Command::MessageToReport(_) => "message_to_report",
        }
    }
}

// ----- records -----

/// A topic as submitted and as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub id: TopicId,
    pub title: String,
    pub text: String,
    pub area: String,
    pub category: String,
    pub author: Identity,
    pub author_name: String,
    pub submitted_at: Millis,
    pub moderation: Moderation,
    pub stage: Stage,
    /// Distinct supporters, those of duplicates merged into it included.
    pub supports: u32,
    pub merged_into: Option<TopicId>,
    /// The consultation it was selected into.
    pub meeting: Option<String>,
    /// The consultation opinion (协商意见).
    pub opinion: Option<String>,
    /// The studio message it was made from (absent from the record's older entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_message: Option<MessageId>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    pub topic: TopicId,
    pub author: Identity,
    pub author_name: String,
    pub text: String,
    pub stance: Option<Stance>,
    pub at: Millis,
    pub moderation: Moderation,
    /// An official answer: written by staff, published at once.
    pub official: bool,
}

/// An outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: OutcomeId,
    pub topic: TopicId,
    pub title: String,
    pub unit: String,
    pub due: Option<Day>,
    pub review: Option<Day>,
    pub parent: Option<OutcomeId>,
    pub status: OutcomeStatus,
    /// Its own progress; one with children shows theirs rolled up instead.
    pub percent: u8,
    pub reviewed: Option<Day>,
    pub created_at: Millis,
}

/// A member's studio (委员网上工作室).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Studio {
    pub member: MemberId,
    pub name: String,
    pub sector: String,
    pub photo: Option<String>,
    pub interests: Vec<String>,
    pub deadline_days: u32,
}

/// A message left in a studio, as posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub member: MemberId,
    pub sender: Identity,
    pub sender_name: String,
    pub title: Option<String>,
    pub text: String,
    pub at: Millis,
}

/// A reply to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub at: Millis,
    /// The member's name, or 政协工作人员 for staff.
    pub by_name: String,
    pub by_staff: bool,
    pub public: bool,
    pub text: String,
}

/// A duty slot (会客时间) as scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutySlot {
    pub id: SlotId,
    pub member: MemberId,
    pub title: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    /// The meeting room (a lecture) where the public meets the member: `duty-<member>-<slot>`,
    /// created by the server when the slot is scheduled.
    pub room: String,
}

/// A social-conditions report (社情民意信息) as filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialReport {
    pub id: ReportId,
    /// The studio message it was made from.
    pub message: MessageId,
    pub title: String,
    pub text: String,
}

/// What happened on the board: the record, folded into the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    TopicSubmitted {
        topic: Topic,
    },
    TopicPublished {
        topic: TopicId,
    },
    TopicRejected {
        topic: TopicId,
        reason: String,
    },
    Supported {
        topic: TopicId,
        by: Identity,
    },
    CommentPosted {
        comment: Comment,
    },
    CommentPublished {
        comment: CommentId,
    },
    CommentRejected {
        comment: CommentId,
        reason: String,
    },
    TopicMerged {
        duplicate: TopicId,
        into: TopicId,
    },
    StageAdvanced {
        topic: TopicId,
        from: Stage,
        to: Stage,
        note: String,
    },
    ThresholdSet {
        supports: u32,
    },
    SelectedIntoMeeting {
        topic: TopicId,
        meeting: String,
    },
    OpinionRecorded {
        topic: TopicId,
        text: String,
    },
    OutcomeCreated {
        outcome: Outcome,
    },
    ProgressReported {
        outcome: OutcomeId,
        percent: u8,
        status: OutcomeStatus,
        note: String,
    },
    OutcomeReviewed {
        outcome: OutcomeId,
        day: Day,
        note: String,
    },
    Followed {
        topic: TopicId,
        by: Identity,
    },
    Unfollowed {
        topic: TopicId,
        by: Identity,
    },
    /// A studio was opened, or its settings changed.
    StudioOpened {
        studio: Studio,
    },
    MessagePosted {
        message: Message,
    },
    /// Published: the reply is due by `due`.
    MessagePublished {
        message: MessageId,
        due: Millis,
    },
    MessageRejected {
        message: MessageId,
        reason: String,
    },
    MessageReplied {
        message: MessageId,
        reply: Reply,
    },
    DutyScheduled {
        slot: DutySlot,
    },
    DutyCancelled {
        slot: SlotId,
    },
    ReportFiled {
        report: SocialReport,
    },
}

/// One entry of the board's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: Millis,
    pub actor: Actor,
    pub body: EventBody,
}

/// What a follower is told (站内通知), also sent as a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The author's topic was published.
    Published,
    /// The author's topic was rejected.
    Rejected,
    /// A topic one follows was merged into another.
    Merged,
    /// The workflow moved on, with staff's note.
    StageAdvanced,
    /// Staff answered on the topic.
    OfficialAnswer,
    /// The consultation opinion was recorded.
    Opinion,
    /// An outcome was created from the opinion.
    OutcomeCreated,
    /// An outcome's progress or timeline moved.
    Progress,
    /// An outcome was reviewed (回头看).
    Reviewed,
    /// The sender's studio message was published.
    MessagePublished,
    /// The sender's studio message was rejected.
    MessageRejected,
    /// The member or staff replied to the sender's studio message.
    Replied,
    /// The sender's studio message was filed as a 社情民意 item.
    ReportFiled,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Published => "published",
            NoticeKind::Rejected => "rejected",
            NoticeKind::Merged => "merged",
            NoticeKind::StageAdvanced => "stage_advanced",
            NoticeKind::OfficialAnswer => "official_answer",
            NoticeKind::Opinion => "opinion",
            NoticeKind::OutcomeCreated => "outcome_created",
            NoticeKind::Progress => "progress",
            NoticeKind::Reviewed => "reviewed",
            NoticeKind::MessagePublished => "message_published",
            NoticeKind::MessageRejected => "message_rejected",
            NoticeKind::Replied => "replied",
            NoticeKind::ReportFiled => "report_filed",
        }
    }
}

/// A notice in someone's feed: about a topic, or about a message left in a studio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The event that caused it.
    pub seq: u64,
    pub at: Millis,
    /// The topic; `None` for a notice about a studio message.
    pub topic: Option<TopicId>,
    /// The topic's title, or the message's (its first characters when it has none).
    pub topic_title: String,
    /// The studio (its member) and the message, for a notice about a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub studio: Option<MemberId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    pub kind: NoticeKind,
    /// The note, answer, opinion or reason that goes with it.
    pub text: String,
}
