//! Identifiers, time, roles and grants.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Milliseconds since the Unix epoch, as the server's clock saw them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, TS,
)]
#[ts(export)]
pub struct Millis(#[ts(type = "number")] pub u64);

impl Millis {
    /// This instant plus `ms` milliseconds.
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
    /// Milliseconds from `earlier` to this instant (0 if `earlier` is later).
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Sequence number of an event in a room's record; the first event is 1.
pub type Seq = u32;

macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
        #[ts(export)]
        pub struct $name(pub u32);
    };
}

number_id!(
    /// An entry in a speaking queue.
    EntryId
);
number_id!(
    /// A speaking turn (one grant of the floor).
    TurnId
);
number_id!(
    /// An agenda item (议程).
    ItemId
);
number_id!(
    /// A poll (表决 / 投票 / 问卷).
    PollId
);
number_id!(
    /// A public comment.
    CommentId
);
number_id!(
    /// A question (Q&A).
    QuestionId
);
number_id!(
    /// A members' chat message.
    ChatId
);

/// A participant's identity, as issued by the join token (or by the server for an
/// anonymous audience member). Stable across reconnects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ParticipantId(pub String);

impl ParticipantId {
    pub fn new(id: impl Into<String>) -> Self {
        ParticipantId(id.into())
    }
}

/// A client-chosen request id: the server's answer to a command carries it back, and a
/// command retried with the same id is applied once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RequestId(pub String);

/// What someone may do in a room. A role is a preset of grants; a join token may carry
/// a different set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Grant {
    /// Enter the room.
    Join,
    /// Send audio and video (when the floor allows it).
    PublishMedia,
    /// Ask for the floor.
    RequestFloor,
    /// Vote in binding polls (members' electorate).
    VoteBinding,
    /// Vote in advisory polls (audience electorate).
    VoteAdvisory,
    /// Write in the members' chat.
    Chat,
    /// Post public comments.
    Comment,
    /// Ask questions and upvote them.
    Ask,
    /// Approve, reject, pin, merge, answer and forward comments and questions.
    Moderate,
    /// Run the speaking queue, the floor and the timers.
    ManageFloor,
    /// Create, open, close, publish and reset polls.
    ManagePolls,
    /// Run the session: lifecycle, agenda, settings.
    ManageSession,
    /// See items waiting for moderation and host-only results.
    SeePending,
    /// Add annotations to the record.
    Annotate,
}

/// Who someone is in a consultation. Each role is a preset of grants and decides which
/// view of the room they get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Role {
    /// Chair or co-host (主持人).
    Host,
    /// Committee member (委员).
    Member,
    /// Department head or invited guest who briefs and replies (部门负责人, 特邀).
    Respondent,
    /// A district venue's device (分会场).
    Venue,
    /// Sits in without floor or vote (列席).
    Observer,
    /// Keeps the minutes (记录员).
    Recorder,
    /// The public following the livestream (群众 / 网民).
    Audience,
}

/// Which view of the room someone gets: what a host, a member and an audience member
/// may see of the same state differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum View {
    Host,
    Member,
    Audience,
}

impl Role {
    /// The grants this role carries unless a token says otherwise.
    pub fn default_grants(self) -> &'static [Grant] {
        use Grant::*;
        match self {
            Role::Host => &[
                Join,
                PublishMedia,
                RequestFloor,
                Chat,
                Comment,
                Ask,
                Moderate,
                ManageFloor,
                ManagePolls,
                ManageSession,
                SeePending,
                Annotate,
            ],
            Role::Member => &[Join, PublishMedia, RequestFloor, VoteBinding, Chat, Ask],
            Role::Respondent => &[Join, PublishMedia, RequestFloor, Chat],
            Role::Venue => &[Join, PublishMedia, RequestFloor, Chat, Ask],
            Role::Observer => &[Join],
            Role::Recorder => &[Join, Chat, SeePending, Annotate],
            Role::Audience => &[Join, VoteAdvisory, Comment, Ask],
        }
    }

    /// The view this role gets.
    pub fn view(self) -> View {
        match self {
            Role::Host | Role::Recorder => View::Host,
            Role::Member | Role::Respondent | Role::Venue | Role::Observer => View::Member,
            Role::Audience => View::Audience,
        }
    }
}

/// Someone known to the room, as their join token describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Participant {
    pub id: ParticipantId,
    /// Display name.
    pub name: String,
    pub role: Role,
    pub grants: Vec<Grant>,
    /// Sector (界别) the participant belongs to, for rotation and time accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sector: Option<String>,
    /// Venue (会场) the participant speaks from, for rotation and time accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub venue: Option<String>,
}

impl Participant {
    /// A participant with the default grants of `role`.
    pub fn new(id: impl Into<String>, name: impl Into<String>, role: Role) -> Self {
        Participant {
            id: ParticipantId::new(id),
            name: name.into(),
            role,
            grants: role.default_grants().to_vec(),
            sector: None,
            venue: None,
        }
    }

    pub fn with_sector(mut self, sector: impl Into<String>) -> Self {
        self.sector = Some(sector.into());
        self
    }

    pub fn with_venue(mut self, venue: impl Into<String>) -> Self {
        self.venue = Some(venue.into());
        self
    }
}
