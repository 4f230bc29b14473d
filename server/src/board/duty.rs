//! Duty slots (会客时间) of members' studios: staff, or the studio's member, schedule a
//! time (start, end, title) when the member receives the public in a live Q&A room (a
//! lecture, named `duty-<member>-<slot>` here and created by the server), and may cancel
//! it before it starts. The room opens [`DUTY_OPENS_BEFORE_MS`] before the start and
//! closes at the end: only in that window does [`Board::open_duty`] let a link be given.
//! Pure: the time is an argument.

use serde::{Deserialize, Serialize};
use yishi_protocol::Millis;

use super::text::{MAX_SHORT, clean};
use super::{
    Actor, Board, CancelDuty, Cx, DUTY_OPENS_BEFORE_MS, DUTY_START_GRACE_MS, DutySlot, DutyState,
    ErrorCode, Event, EventBody, MAX_DUTY_MS, MemberId, Rejection, ScheduleDuty, SlotId, reject,
};

/// Where a slot stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyPhase {
    /// Before the room opens.
    Upcoming,
    /// The room is open and the slot about to start (即将开始).
    Opening,
    /// Between start and end (进行中).
    Live,
    Ended,
    Cancelled,
}

/// A slot as pages and the console show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutyView {
    pub id: SlotId,
    pub member: MemberId,
    pub studio_name: String,
    pub title: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    /// When 进入会客室 is first offered.
    pub opens_at: Millis,
    pub room: String,
    pub phase: DutyPhase,
}

impl DutySlot {
    fn opens_at(&self) -> Millis {
        Millis(self.starts_at.0.saturating_sub(DUTY_OPENS_BEFORE_MS))
    }
}

impl DutyState {
    fn phase(&self, now: Millis) -> DutyPhase {
        let s = &self.slot;
        if self.cancelled {
            DutyPhase::Cancelled
        } else if now >= s.ends_at {
            DutyPhase::Ended
        } else if now >= s.starts_at {
            DutyPhase::Live
        } else if now >= s.opens_at() {
            DutyPhase::Opening
        } else {
            DutyPhase::Upcoming
        }
    }
}

/// `Ok` for staff and for the studio's own member.
fn require_host(actor: &Actor, member: MemberId) -> Result<(), Rejection> {
    let own = matches!(actor, Actor::Member { identity, .. } if *identity == member.identity());
    if own || actor.is_staff() {
        Ok(())
    } else {
        reject(
            ErrorCode::Forbidden,
            "only staff or the studio's member schedule its duty slots",
        )
    }
}

impl Board {
    pub(crate) fn schedule_duty(&mut self, cx: &mut Cx, c: &ScheduleDuty) -> Result<(), Rejection> {
        require_host(cx.actor, c.member)?;
        if !self.studios.contains_key(&c.member) {
            return reject(ErrorCode::NotFound, format!("no studio {}", c.member.0));
        }
        let title = clean("title", &c.title, MAX_SHORT, false)?;
        if c.starts_at.plus(DUTY_START_GRACE_MS) < cx.now {
            return reject(ErrorCode::InvalidArgument, "the start is in the past");
        }
        if c.ends_at <= c.starts_at {
            return reject(ErrorCode::InvalidArgument, "the end is after the start");
        }
        if c.ends_at.since(c.starts_at) > MAX_DUTY_MS {
            return reject(
                ErrorCode::InvalidArgument,
                format!(
                    "a duty slot lasts at most {} hours",
                    MAX_DUTY_MS / 3_600_000
                ),
            );
        }
        if let Some(other) = self.duty.values().find(|d| {
            !d.cancelled
                && d.slot.member == c.member
                && d.slot.starts_at < c.ends_at
                && c.starts_at < d.slot.ends_at
        }) {
            return reject(
                ErrorCode::InvalidState,
                format!("the studio has duty slot {} at that time", other.slot.id.0),
            );
        }
        let id = SlotId(self.duty.keys().next_back().map_or(1, |s| s.0 + 1));
        let slot = DutySlot {
            id,
            member: c.member,
            title,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            room: format!("duty-{}-{}", c.member.0, id.0),
        };
        self.emit(cx, EventBody::DutyScheduled { slot });
        Ok(())
    }

    pub(crate) fn cancel_duty(&mut self, cx: &mut Cx, c: &CancelDuty) -> Result<(), Rejection> {
        let Some(d) = self.duty.get(&c.slot) else {
            return reject(ErrorCode::NotFound, format!("no duty slot {}", c.slot.0));
        };
        require_host(cx.actor, d.slot.member)?;
        if d.cancelled {
            return reject(
                ErrorCode::InvalidState,
                format!("duty slot {} was cancelled already", c.slot.0),
            );
        }
        if cx.now >= d.slot.starts_at {
            return reject(
                ErrorCode::InvalidState,
                format!("duty slot {} has started", c.slot.0),
            );
        }
        self.emit(cx, EventBody::DutyCancelled { slot: c.slot });
        Ok(())
    }

    pub(crate) fn fold_duty(&mut self, event: &Event) {
        match &event.body {
            EventBody::DutyScheduled { slot } => {
                self.duty.insert(
                    slot.id,
                    DutyState {
                        slot: slot.clone(),
                        cancelled: false,
                    },
                );
            }
            EventBody::DutyCancelled { slot } => {
                if let Some(d) = self.duty.get_mut(slot) {
                    d.cancelled = true;
                }
            }
            _ => {}
        }
    }

    fn duty_view(&self, d: &DutyState, now: Millis) -> DutyView {
        DutyView {
            id: d.slot.id,
            member: d.slot.member,
            studio_name: self
                .studios
                .get(&d.slot.member)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            title: d.slot.title.clone(),
            starts_at: d.slot.starts_at,
            ends_at: d.slot.ends_at,
            opens_at: d.slot.opens_at(),
            room: d.slot.room.clone(),
            phase: d.phase(now),
        }
    }

    /// The slots that have not ended and were not cancelled, earliest first: of one
    /// studio (its page) or of all (`None`, the console).
    pub fn duty_slots(&self, member: Option<MemberId>, now: Millis) -> Vec<DutyView> {
        let mut slots: Vec<DutyView> = self
            .duty
            .values()
            .filter(|d| member.is_none_or(|m| d.slot.member == m))
            .map(|d| self.duty_view(d, now))
            .filter(|v| !matches!(v.phase, DutyPhase::Ended | DutyPhase::Cancelled))
            .collect();
        slots.sort_by_key(|v| (v.starts_at, v.id));
        slots
    }

    /// Slot `slot`, whatever its phase.
    pub fn duty_slot(&self, slot: SlotId, now: Millis) -> Option<DutyView> {
        self.duty.get(&slot).map(|d| self.duty_view(d, now))
    }

    /// Slot `slot` of `member`'s studio if its room is open at `now` (from
    /// [`DUTY_OPENS_BEFORE_MS`] before the start until the end): the only time a link
    /// to it is given. `not_found` for another studio's slot, `invalid_state` otherwise.
    pub fn open_duty(
        &self,
        member: MemberId,
        slot: SlotId,
        now: Millis,
    ) -> Result<DutyView, Rejection> {
        let Some(d) = self.duty.get(&slot).filter(|d| d.slot.member == member) else {
            return reject(ErrorCode::NotFound, format!("no duty slot {}", slot.0));
        };
        let view = self.duty_view(d, now);
        match view.phase {
            DutyPhase::Opening | DutyPhase::Live => Ok(view),
            DutyPhase::Upcoming => reject(ErrorCode::InvalidState, "the room is not open yet"),
            DutyPhase::Ended => reject(ErrorCode::InvalidState, "the duty slot has ended"),
            DutyPhase::Cancelled => reject(ErrorCode::InvalidState, "the duty slot was cancelled"),
        }
    }
}
