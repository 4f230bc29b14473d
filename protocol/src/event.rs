//! Events: everything that happens in a room, numbered. A room's state is a fold over its
//! events, and its record is the chain of them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{
    AgendaItem, ChatMessage, Choice, Comment, CommentId, Electorate, EndReason, EntryId, FloorMode,
    ItemId, LivestreamEnd, Millis, OrderingPolicy, Participant, ParticipantId, PauseReason, PollId,
    PollResult, PollSpec, Question, QuestionId, QueueEntry, Recording, RejectReason, RequestId,
    Seq, SessionState, SettingsPatch, Turn, TurnId,
};

/// One numbered event of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Event {
    pub seq: Seq,
    pub at: Millis,
    /// Who caused it; absent for what the room's clock did (warnings, deadlines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub actor: Option<ParticipantId>,
    pub body: EventBody,
}

/// An event as kept in the record: with the SHA-256 of the previous entry, so any change
/// to an earlier entry breaks every later link.
///
/// `hash = SHA-256(prev || canonical JSON of the event)`, where the canonical JSON is the
/// compact serde encoding of [`Event`] (fields in declared order, no spaces); `prev` of
/// the first entry is 64 zeros. Both are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RecordEntry {
    #[serde(flatten)]
    pub event: Event,
    pub prev: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum EventBody {
    // ----- session -----
    SessionChanged {
        state: SessionState,
    },
    AgendaItemAdded {
        item: AgendaItem,
    },
    CurrentItemChanged {
        item: ItemId,
    },
    SettingsUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        item: Option<ItemId>,
        patch: SettingsPatch,
    },

    // ----- attendance -----
    /// A participant's connection arrived (the audience is counted, not recorded).
    Joined {
        participant: Participant,
    },
    /// A participant's last connection left.
    Left {
        participant: ParticipantId,
    },
    CheckedIn {
        participant: ParticipantId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        head_count: Option<u32>,
    },

    // ----- queue -----
    /// Someone was put on a speaking list; `reason` is set when a host added them.
    EntryAdded {
        entry: QueueEntry,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        position: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reason: Option<String>,
    },
    EntryWithdrawn {
        entry: EntryId,
    },
    EntryRemoved {
        entry: EntryId,
        reason: String,
    },
    EntryMoved {
        entry: EntryId,
        position: u32,
        reason: String,
    },
    /// "Shorten all": every waiting entry of the item now has at most this limit.
    EntriesLimited {
        item: ItemId,
        limit_s: u32,
    },
    OrderingChanged {
        item: ItemId,
        policy: OrderingPolicy,
    },
    /// The current item's speaking list, whole and in the order the floor will go, after
    /// a change that a client cannot follow by removing entries as they leave and
    /// appending new ones at the end (a higher kind added before waiting entries, a turn
    /// that ended under a fairness policy, a move, a new policy, another agenda item).
    /// Derived from the events before it: folding it changes nothing in the room.
    QueueOrdered {
        item: ItemId,
        queue: Vec<QueueEntry>,
    },

    // ----- floor -----
    /// The floor was given. `entry` is the queue entry it came from; `reason` is set for
    /// an override; `interrupts` names a turn paused by this one.
    TurnStarted {
        turn: Turn,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        entry: Option<EntryId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        interrupts: Option<TurnId>,
    },
    TurnPaused {
        turn: TurnId,
        reason: PauseReason,
    },
    TurnResumed {
        turn: TurnId,
    },
    TurnLimitChanged {
        turn: TurnId,
        limit_ms: u32,
    },
    /// The warning threshold was reached (the warning card).
    TurnWarned {
        turn: TurnId,
    },
    /// The limit was reached (the bell).
    TurnOverran {
        turn: TurnId,
    },
    TurnEnded {
        turn: TurnId,
        spoken_ms: u32,
        reason: EndReason,
    },
    FloorModeChanged {
        mode: FloorMode,
    },

    // ----- polls -----
    PollCreated {
        poll: PollId,
        spec: PollSpec,
    },
    PollUpdated {
        poll: PollId,
        spec: PollSpec,
    },
    /// Eligibility of the binding electorate is fixed here. The spec is repeated because
    /// only hosts see drafts.
    PollOpened {
        poll: PollId,
        spec: PollSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        deadline: Option<Millis>,
        eligible: Vec<ParticipantId>,
        entitled: u32,
    },
    /// A ballot was cast (or changed). For a secret poll `choice` is absent: the ballot
    /// itself goes to the sealed ballot box, never next to the voter.
    BallotCast {
        poll: PollId,
        electorate: Electorate,
        voter: ParticipantId,
        req: RequestId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        choice: Option<Choice>,
    },
    /// Secret ballots whose voters are recorded (`ballot_cast`) but whose choices never
    /// reached the sealed ballot box: the server stopped while they waited for their
    /// batch, before any was acknowledged. Their voters may vote again. Hosts only.
    BallotsVoided {
        poll: PollId,
        electorate: Electorate,
        voters: Vec<ParticipantId>,
    },
    /// The poll closed and its result was declared. The record always holds the result;
    /// a view that may not see it yet gets it absent.
    PollClosed {
        poll: PollId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        result: Option<PollResult>,
        by_deadline: bool,
    },
    PollPublished {
        poll: PollId,
        result: PollResult,
    },
    PollReset {
        poll: PollId,
        reason: String,
    },

    // ----- chat, comments, questions -----
    ChatSent {
        message: ChatMessage,
    },
    CommentPosted {
        comment: Comment,
    },
    CommentApproved {
        comment: Comment,
    },
    CommentRejected {
        comment: CommentId,
        reason: RejectReason,
    },
    QuestionAsked {
        question: Question,
    },
    QuestionApproved {
        question: Question,
    },
    QuestionRejected {
        question: QuestionId,
        reason: RejectReason,
    },
    QuestionUpvoted {
        question: QuestionId,
        by: ParticipantId,
    },
    QuestionAnswered {
        question: QuestionId,
    },
    QuestionForwarded {
        question: QuestionId,
        to: ParticipantId,
    },
    QuestionMerged {
        question: QuestionId,
        into: QuestionId,
    },
    QuestionPinned {
        question: QuestionId,
        pinned: bool,
    },
    WordListSet {
        words: Vec<String>,
    },

    // ----- record -----
    Annotated {
        text: String,
    },

    // ----- livestream (reported by the server, never sent by a client) -----
    /// The stage went out as HLS at `playlist`; `actor` started it (absent: the operator).
    LivestreamStarted {
        playlist: String,
    },
    /// The livestream ended; `actor` stopped it, or closed the session it ended with
    /// (absent: the operator, or the server).
    LivestreamStopped {
        reason: LivestreamEnd,
    },
    /// The encoder exited at `from` and a new one ran from `to`: the audience saw no new
    /// segment in between (the playlist marks it with a discontinuity).
    LivestreamGap {
        from: Millis,
        to: Millis,
    },
    /// The stage's recording, finalized and hashed when its livestream ended.
    RecordingArchived {
        recording: Recording,
    },
}
