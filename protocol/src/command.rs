//! Commands: what a client asks a room to do. Each is checked against the sender's
//! grants and the room's rules, and either yields events or is refused with an error.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{
    Choice, CommentId, Decision, EntryId, EntryKind, FloorMode, ItemId, OrderingPolicy,
    ParticipantId, PollId, PollSpec, QuestionId, SettingsPatch, TurnId,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum Command {
    // ----- session -----
    /// Open check-in (签到). Hosts.
    OpenCheckIn,
    /// Open the session. Hosts.
    StartSession,
    /// Pause the session: clocks stop. Hosts.
    PauseSession,
    ResumeSession,
    /// Close the session: the record is sealed. Hosts.
    CloseSession,
    AddAgendaItem {
        title: String,
        #[serde(default)]
        settings: SettingsPatch,
    },
    SetCurrentItem {
        item: ItemId,
    },
    /// Change the session's settings, or one agenda item's when `item` is given.
    UpdateSettings {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        item: Option<ItemId>,
        patch: SettingsPatch,
    },

    // ----- attendance -----
    /// Check in; a venue also gives the number of people in its hall.
    CheckIn {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        head_count: Option<u32>,
    },

    // ----- speaking queue and floor -----
    /// Ask for the floor. A venue names who will speak; a reply names the turn it answers.
    RequestFloor {
        kind: EntryKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        speaker: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        replying_to: Option<TurnId>,
    },
    /// Take back one's own request of this kind.
    Withdraw {
        kind: EntryKind,
    },
    /// Put someone on the list. Hosts; recorded with the reason.
    AddEntry {
        participant: ParticipantId,
        kind: EntryKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        speaker: Option<String>,
        /// Position within the entries of that kind (0 is first); the end when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        position: Option<u32>,
        /// Required; a missing or empty reason is refused with `reason_required`.
        #[serde(default)]
        reason: String,
    },
    /// Move an entry to a position within its kind. Hosts; recorded with the reason.
    MoveEntry {
        entry: EntryId,
        position: u32,
        /// Required; a missing or empty reason is refused with `reason_required`.
        #[serde(default)]
        reason: String,
    },
    /// Take an entry off the list. Hosts; recorded with the reason.
    RemoveEntry {
        entry: EntryId,
        /// Required; a missing or empty reason is refused with `reason_required`.
        #[serde(default)]
        reason: String,
    },
    /// Give the floor: to the next in order when `entry` is absent, or to any entry (an
    /// override, which needs a reason).
    GrantFloor {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        entry: Option<EntryId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reason: Option<String>,
    },
    /// End the current turn: the speaker yields, or a host takes the floor back.
    EndTurn,
    PauseTurn,
    ResumeTurn,
    /// Give the current speaker more time.
    ExtendTurn {
        seconds: u32,
    },
    /// Take time from the current speaker.
    ShortenTurn {
        seconds: u32,
    },
    /// Cut every waiting entry of the current item to at most this limit (e.g. from 5 to
    /// 3 minutes when time runs short).
    ShortenAll {
        limit_s: u32,
    },
    SetOrdering {
        policy: OrderingPolicy,
    },
    SetFloorMode {
        mode: FloorMode,
    },

    // ----- polls -----
    CreatePoll {
        spec: PollSpec,
    },
    /// Change a poll while it is a draft.
    UpdatePoll {
        poll: PollId,
        spec: PollSpec,
    },
    OpenPoll {
        poll: PollId,
    },
    ClosePoll {
        poll: PollId,
    },
    PublishPoll {
        poll: PollId,
    },
    /// Back to draft; the ballots are discarded (recorded with the reason).
    ResetPoll {
        poll: PollId,
        /// Required; a missing or empty reason is refused with `reason_required`.
        #[serde(default)]
        reason: String,
    },
    CastBallot {
        poll: PollId,
        choice: Choice,
    },

    // ----- chat, comments, questions -----
    SendChat {
        text: String,
    },
    PostComment {
        text: String,
    },
    ModerateComment {
        comment: CommentId,
        decision: Decision,
    },
    AskQuestion {
        text: String,
    },
    ModerateQuestion {
        question: QuestionId,
        decision: Decision,
    },
    Upvote {
        question: QuestionId,
    },
    MarkAnswered {
        question: QuestionId,
    },
    /// Put a question to a respondent.
    ForwardQuestion {
        question: QuestionId,
        to: ParticipantId,
    },
    /// Merge a duplicate into another question; its upvotes move along.
    MergeQuestion {
        question: QuestionId,
        into: QuestionId,
    },
    PinQuestion {
        question: QuestionId,
        pinned: bool,
    },
    /// Words that send a comment or question to a moderator. Hosts.
    SetWordList {
        words: Vec<String>,
    },

    // ----- record -----
    /// A note in the record (记录员).
    Annotate {
        text: String,
    },
}

impl Command {
    /// The command's `type` tag, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::OpenCheckIn => "open_check_in",
            Command::StartSession => "start_session",
            Command::PauseSession => "pause_session",
            Command::ResumeSession => "resume_session",
            Command::CloseSession => "close_session",
            Command::AddAgendaItem { .. } => "add_agenda_item",
            Command::SetCurrentItem { .. } => "set_current_item",
            Command::UpdateSettings { .. } => "update_settings",
            Command::CheckIn { .. } => "check_in",
            Command::RequestFloor { .. } => "request_floor",
            Command::Withdraw { .. } => "withdraw",
            Command::AddEntry { .. } => "add_entry",
            Command::MoveEntry { .. } => "move_entry",
            Command::RemoveEntry { .. } => "remove_entry",
            Command::GrantFloor { .. } => "grant_floor",
            Command::EndTurn => "end_turn",
            Command::PauseTurn => "pause_turn",
            Command::ResumeTurn => "resume_turn",
            Command::ExtendTurn { .. } => "extend_turn",
            Command::ShortenTurn { .. } => "shorten_turn",
            Command::ShortenAll { .. } => "shorten_all",
            Command::SetOrdering { .. } => "set_ordering",
            Command::SetFloorMode { .. } => "set_floor_mode",
            Command::CreatePoll { .. } => "create_poll",
            Command::UpdatePoll { .. } => "update_poll",
            Command::OpenPoll { .. } => "open_poll",
            Command::ClosePoll { .. } => "close_poll",
            Command::PublishPoll { .. } => "publish_poll",
            Command::ResetPoll { .. } => "reset_poll",
            Command::CastBallot { .. } => "cast_ballot",
            Command::SendChat { .. } => "send_chat",
            Command::PostComment { .. } => "post_comment",
            Command::ModerateComment { .. } => "moderate_comment",
            Command::AskQuestion { .. } => "ask_question",
            Command::ModerateQuestion { .. } => "moderate_question",
            Command::Upvote { .. } => "upvote",
            Command::MarkAnswered { .. } => "mark_answered",
            Command::ForwardQuestion { .. } => "forward_question",
            Command::MergeQuestion { .. } => "merge_question",
            Command::PinQuestion { .. } => "pin_question",
            Command::SetWordList { .. } => "set_word_list",
            Command::Annotate { .. } => "annotate",
        }
    }
}
