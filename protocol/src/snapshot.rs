//! A room as one viewer may see it at one sequence number.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{
    AgendaItem, ChatMessage, Comment, Event, FloorMode, ItemId, Livestream, Millis,
    ModerationStats, OrderingPolicy, ParticipantId, PollView, Question, QueueEntry, Role, Seq,
    SessionState, Settings, Turn,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RoomSnapshot {
    /// The last event this snapshot includes.
    pub seq: Seq,
    pub title: String,
    pub session: SessionState,
    pub agenda: Vec<AgendaItem>,
    pub current_item: ItemId,
    /// The settings in force for the current item.
    pub settings: Settings,
    pub floor_mode: FloorMode,
    /// The current item's speaking list, in the order the floor will go.
    pub queue: Vec<QueueEntry>,
    pub ordering: OrderingPolicy,
    /// A host reordered the impromptu list by hand: the policy waits until it is set again.
    pub manual_order: bool,
    /// Who has the floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub floor: Option<Turn>,
    /// Turns paused by an interjection, innermost last.
    pub suspended: Vec<Turn>,
    pub speaking: SpeakingTime,
    pub polls: Vec<PollView>,
    /// Members' chat (members' and hosts' views), the latest last.
    pub chat: Vec<ChatMessage>,
    /// Approved comments, and pending ones the viewer may see.
    pub comments: Vec<Comment>,
    pub questions: Vec<Question>,
    /// Members' attendance (members' and hosts' views).
    pub attendance: Vec<Attendance>,
    pub moderation: ModerationStats,
    /// Hosts' view only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub word_list: Option<Vec<String>>,
    /// The recent public events the live text feed (图文直播) is made of (at most 50,
    /// oldest first), as this view may see them: so a late viewer reads the session so
    /// far.
    #[serde(default)]
    pub feed: Vec<Event>,
    /// The livestream while it is on: the audience switches to its player.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub livestream: Option<Livestream>,
}

/// One participant's attendance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Attendance {
    pub participant: ParticipantId,
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub venue: Option<String>,
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub checked_in_at: Option<Millis>,
    /// For a venue: people in its hall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub head_count: Option<u32>,
    pub first_joined_at: Millis,
    /// Time present so far, up to the last event.
    pub present_ms: u32,
}

/// Speaking time accounted so far (ended turns), per participant, sector and venue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SpeakingTime {
    pub participants: Vec<SpeakerTime>,
    pub sectors: Vec<GroupTime>,
    pub venues: Vec<GroupTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SpeakerTime {
    pub participant: ParticipantId,
    pub name: String,
    pub turns: u32,
    pub spoken_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GroupTime {
    pub name: String,
    pub turns: u32,
    pub spoken_ms: u32,
    /// Budget left when sectors have budgets; negative when over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub budget_left_ms: Option<i32>,
}
