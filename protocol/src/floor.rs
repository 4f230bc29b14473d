//! The session, its agenda and settings, the speaking queue (发言队列) and turns.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{EntryId, ItemId, Millis, ParticipantId, TurnId};

/// Session lifecycle: `scheduled → check_in → in_session ⇄ paused → closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SessionState {
    Scheduled,
    /// Check-in (签到) is open; members can also queue up.
    CheckIn,
    InSession,
    /// Clocks stop; nobody can be given the floor.
    Paused,
    /// Read-only; the record is sealed.
    Closed,
}

/// Kinds of queue entry, highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum EntryKind {
    /// Point of order (程序问题).
    PointOfOrder,
    /// Interjection or clarifying question (插话): pauses the current speaker.
    Interjection,
    /// A respondent answering (回应), placed right after what it answers.
    Reply,
    /// Scheduled speech (预约发言), in the order the chair set.
    Scheduled,
    /// Impromptu speech (即席发言), ordered by the session's policy.
    Impromptu,
}

impl EntryKind {
    pub const ALL: [EntryKind; 5] = [
        EntryKind::PointOfOrder,
        EntryKind::Interjection,
        EntryKind::Reply,
        EntryKind::Scheduled,
        EntryKind::Impromptu,
    ];

    /// Whether a turn of this kind interrupts (and pauses) the current speaker instead of
    /// following them.
    pub fn interrupts(self) -> bool {
        matches!(self, EntryKind::PointOfOrder | EntryKind::Interjection)
    }
}

/// How impromptu entries are ordered. Scheduled entries always keep the chair's order;
/// the other kinds are first come, first served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OrderingPolicy {
    #[default]
    FirstCome,
    /// Who has had the fewest turns goes first (those who have not spoken yet lead).
    FewestTurns,
    /// Who has spoken the least time goes first.
    LeastTime,
    /// The sector (界别) that spoke longest ago goes first.
    RotateSectors,
    /// The venue (会场) that spoke longest ago goes first.
    RotateVenues,
}

/// What happens when a turn reaches its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Overrun {
    /// The clock runs negative and shows it.
    #[default]
    Soft,
    /// At limit + grace the turn ends and the floor is taken back.
    Hard,
}

/// Who may send audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum FloorMode {
    /// Only the floor holder and the hosts.
    #[default]
    Moderated,
    /// Every member with the media grant.
    OpenDiscussion,
}

/// What happens when a speaker's connection drops and the grace window passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OnDrop {
    /// The turn ends.
    #[default]
    End,
    /// The turn stays paused until the chair ends or resumes it.
    ChairDecides,
}

/// Whether public comments and questions wait for a moderator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ModerationMode {
    /// Everything waits for a moderator (先审后发).
    #[default]
    Pre,
    /// Items are published at once unless the word list flags them.
    Auto,
}

/// Time limit for each kind of turn, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct KindLimits {
    pub point_of_order_s: u32,
    pub interjection_s: u32,
    pub reply_s: u32,
    pub scheduled_s: u32,
    pub impromptu_s: u32,
}

impl KindLimits {
    pub fn get(&self, kind: EntryKind) -> u32 {
        match kind {
            EntryKind::PointOfOrder => self.point_of_order_s,
            EntryKind::Interjection => self.interjection_s,
            EntryKind::Reply => self.reply_s,
            EntryKind::Scheduled => self.scheduled_s,
            EntryKind::Impromptu => self.impromptu_s,
        }
    }
}

impl Default for KindLimits {
    fn default() -> Self {
        KindLimits {
            point_of_order_s: 60,
            interjection_s: 60,
            reply_s: 180,
            scheduled_s: 480,
            impromptu_s: 300,
        }
    }
}

/// Rules for turns and the queue, for the session or one agenda item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Settings {
    pub limits: KindLimits,
    /// A warning is given when this much time is left.
    pub warning_s: u32,
    pub overrun: Overrun,
    /// With `hard` overrun, how long past the limit the turn may go.
    pub grace_s: u32,
    /// How long a dropped speaker's turn waits for them.
    pub drop_grace_s: u32,
    pub on_drop: OnDrop,
    pub ordering: OrderingPolicy,
    /// Speaking time each sector starts with, if sectors have budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sector_budget_s: Option<u32>,
    pub moderation: ModerationMode,
    /// Number of members entitled to vote (the roll); when absent, those known to the
    /// room with the binding vote grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub roll_size: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: KindLimits::default(),
            warning_s: 60,
            overrun: Overrun::Soft,
            grace_s: 10,
            drop_grace_s: 30,
            on_drop: OnDrop::End,
            ordering: OrderingPolicy::FirstCome,
            sector_budget_s: None,
            moderation: ModerationMode::Pre,
            roll_size: None,
        }
    }
}

/// A change to some settings; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub limits: Option<KindLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub warning_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub overrun: Option<Overrun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub grace_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub drop_grace_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub on_drop: Option<OnDrop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ordering: Option<OrderingPolicy>,
    /// `0` removes sector budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sector_budget_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub moderation: Option<ModerationMode>,
    /// `0` goes back to counting those known to the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub roll_size: Option<u32>,
}

impl Settings {
    /// These settings with `patch` applied.
    pub fn patched(&self, patch: &SettingsPatch) -> Settings {
        let mut s = self.clone();
        if let Some(v) = patch.limits {
            s.limits = v;
        }
        if let Some(v) = patch.warning_s {
            s.warning_s = v;
        }
        if let Some(v) = patch.overrun {
            s.overrun = v;
        }
        if let Some(v) = patch.grace_s {
            s.grace_s = v;
        }
        if let Some(v) = patch.drop_grace_s {
            s.drop_grace_s = v;
        }
        if let Some(v) = patch.on_drop {
            s.on_drop = v;
        }
        if let Some(v) = patch.ordering {
            s.ordering = v;
        }
        if let Some(v) = patch.sector_budget_s {
            s.sector_budget_s = (v > 0).then_some(v);
        }
        if let Some(v) = patch.moderation {
            s.moderation = v;
        }
        if let Some(v) = patch.roll_size {
            s.roll_size = (v > 0).then_some(v);
        }
        s
    }
}

/// An agenda item (议程).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgendaItem {
    pub id: ItemId,
    pub title: String,
    /// Settings of this item that differ from the session's.
    pub settings: SettingsPatch,
}

/// Someone waiting for the floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct QueueEntry {
    pub id: EntryId,
    /// The agenda item whose speaking list this entry is on.
    pub item: ItemId,
    pub participant: ParticipantId,
    pub name: String,
    pub kind: EntryKind,
    /// For a venue: the person there who will speak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub speaker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub venue: Option<String>,
    /// For a reply: the turn it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub replying_to: Option<TurnId>,
    /// A limit set for this entry alone (e.g. by "shorten all"), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub limit_s: Option<u32>,
    pub requested_at: Millis,
}

/// Why a turn's clock is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PauseReason {
    /// The chair paused it.
    Host,
    /// Someone interjected; the turn resumes when they finish.
    Interjection,
    /// The speaker's connection dropped.
    Dropped,
    /// The whole session is paused.
    Session,
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum EndReason {
    /// The speaker finished.
    Yielded,
    /// The chair ended it.
    Host,
    /// Hard overrun: limit and grace passed.
    TimeUp,
    /// The speaker dropped and did not come back within the grace window.
    Dropped,
    /// The chair gave the floor to someone else.
    Superseded,
    /// The session closed.
    SessionClosed,
}

/// A grant of the floor, with its clock.
///
/// Time left, as a client shows it: `limit_ms - elapsed_ms - (server_now - running_since)`
/// while running, `limit_ms - elapsed_ms` while stopped. It goes negative in soft overrun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Turn {
    pub id: TurnId,
    pub participant: ParticipantId,
    pub name: String,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub speaker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub venue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub replying_to: Option<TurnId>,
    pub started_at: Millis,
    pub limit_ms: u32,
    /// Time spoken before the current running stretch.
    pub elapsed_ms: u32,
    /// When the clock last started; absent while it is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub running_since: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub paused: Option<PauseReason>,
    /// The warning has been given.
    pub warned: bool,
    /// The limit has been reached (the bell).
    pub overran: bool,
}

impl Turn {
    /// Milliseconds spoken by `now`.
    pub fn elapsed_at(&self, now: Millis) -> u64 {
        u64::from(self.elapsed_ms) + self.running_since.map_or(0, |since| now.since(since))
    }

    /// Milliseconds left at `now`; negative past the limit.
    pub fn remaining_at(&self, now: Millis) -> i64 {
        i64::from(self.limit_ms) - self.elapsed_at(now) as i64
    }
}
