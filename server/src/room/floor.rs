//! The speaking queue (发言队列), the floor and its clocks, and speaking-time accounting.
//!
//! Each agenda item has its own speaking list. Entries are shown and granted by kind,
//! highest priority first (point of order, interjection, reply, scheduled, impromptu);
//! within a kind in stored order, except impromptu entries, which the ordering policy
//! sorts until a host reorders them by hand. A turn's clock is kept as time spoken before
//! the current running stretch plus the start of that stretch, so the server only stores
//! instants and every client computes the same countdown.

use std::collections::BTreeMap;

use yishi_protocol::{
    Command, EndReason, EntryId, EntryKind, ErrorCode, Event, EventBody, FloorMode, Grant,
    GroupTime, ItemId, Millis, OnDrop, OrderingPolicy, Overrun, ParticipantId, PauseReason,
    QueueEntry, SessionState, Settings, SpeakerTime, SpeakingTime, Turn, TurnId,
};

use super::{Actor, Cx, Rejection, Room, reject, text};

/// One agenda item's speaking list.
#[derive(Debug, Clone, Default, PartialEq)]
struct List {
    /// Stored order: arrival, or the order a host set.
    entries: Vec<QueueEntry>,
    /// A host placed impromptu entries by hand; the policy waits until it is set again.
    manual: bool,
    /// The policy chosen for this list, over the settings' default.
    policy: Option<OrderingPolicy>,
}

/// Turns and time of one speaker, sector or venue.
#[derive(Debug, Clone, Default, PartialEq)]
struct Account {
    name: String,
    turns: u32,
    spoken_ms: u64,
    /// Id of the last turn that ended, for rotation (0: never spoke).
    last_turn: u32,
}

impl Account {
    fn add(&mut self, turn: &Turn, spoken_ms: u32) {
        self.turns += 1;
        self.spoken_ms += u64::from(spoken_ms);
        self.last_turn = turn.id.0;
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Floor {
    pub mode: FloorMode,
    /// Who has the floor.
    pub current: Option<Turn>,
    /// Turns paused by an interjection, innermost last.
    pub suspended: Vec<Turn>,
    lists: BTreeMap<ItemId, List>,
    next_entry: u32,
    next_turn: u32,
    /// When a dropped speaker's grace window ends.
    drop_deadline: Option<Millis>,
    speakers: BTreeMap<ParticipantId, Account>,
    sectors: BTreeMap<String, Account>,
    venues: BTreeMap<String, Account>,
}

/// A clock of the current turn that can fire, in the order they fire at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Warning,
    Bell,
    HardStop,
    DropExpired,
}

impl Floor {
    pub fn ordering(&self, item: ItemId, settings: &Settings) -> OrderingPolicy {
        self.lists
            .get(&item)
            .and_then(|l| l.policy)
            .unwrap_or(settings.ordering)
    }

    pub fn manual_order(&self, item: ItemId) -> bool {
        self.lists.get(&item).is_some_and(|l| l.manual)
    }

    fn holder(&self) -> Option<&ParticipantId> {
        self.current.as_ref().map(|t| &t.participant)
    }

    fn entry(&self, item: ItemId, id: EntryId) -> Option<&QueueEntry> {
        self.lists.get(&item)?.entries.iter().find(|e| e.id == id)
    }

    fn waiting(&self, item: ItemId, who: &ParticipantId, kind: EntryKind) -> Option<&QueueEntry> {
        self.lists
            .get(&item)?
            .entries
            .iter()
            .find(|e| e.kind == kind && &e.participant == who)
    }

    /// The sort key of an impromptu entry under `policy` (smaller goes first; ties keep
    /// stored order).
    fn policy_key(&self, policy: OrderingPolicy, entry: &QueueEntry) -> u64 {
        let group = |map: &BTreeMap<String, Account>, name: &Option<String>| {
            name.as_ref()
                .and_then(|n| map.get(n))
                .map_or(0, |a| u64::from(a.last_turn))
        };
        match policy {
            OrderingPolicy::FirstCome => 0,
            OrderingPolicy::FewestTurns => self
                .speakers
                .get(&entry.participant)
                .map_or(0, |a| u64::from(a.turns)),
            OrderingPolicy::LeastTime => self
                .speakers
                .get(&entry.participant)
                .map_or(0, |a| a.spoken_ms),
            OrderingPolicy::RotateSectors => group(&self.sectors, &entry.sector),
            OrderingPolicy::RotateVenues => group(&self.venues, &entry.venue),
        }
    }

    /// Entries of `kind` on `item`'s list in the order the floor will go.
    fn kind_in_order(
        &self,
        item: ItemId,
        kind: EntryKind,
        settings: &Settings,
    ) -> Vec<&QueueEntry> {
        let Some(list) = self.lists.get(&item) else {
            return Vec::new();
        };
        let mut entries: Vec<&QueueEntry> =
            list.entries.iter().filter(|e| e.kind == kind).collect();
        let policy = self.ordering(item, settings);
        if kind == EntryKind::Impromptu && !list.manual && policy != OrderingPolicy::FirstCome {
            entries.sort_by_key(|e| self.policy_key(policy, e));
        }
        entries
    }

    /// `item`'s whole list in the order the floor will go.
    fn in_order(&self, item: ItemId, settings: &Settings) -> Vec<&QueueEntry> {
        EntryKind::ALL
            .iter()
            .flat_map(|k| self.kind_in_order(item, *k, settings))
            .collect()
    }

    /// The entry that gets the floor next.
    fn next(&self, item: ItemId, settings: &Settings) -> Option<&QueueEntry> {
        let list = self.lists.get(&item)?;
        let kind = EntryKind::ALL
            .into_iter()
            .find(|k| list.entries.iter().any(|e| e.kind == *k))?;
        let policy = self.ordering(item, settings);
        let of_kind = list.entries.iter().filter(|e| e.kind == kind);
        if kind == EntryKind::Impromptu && !list.manual && policy != OrderingPolicy::FirstCome {
            // min_by_key keeps the first of equal keys: stored order breaks ties.
            of_kind.min_by_key(|e| self.policy_key(policy, e))
        } else {
            of_kind.into_iter().next()
        }
    }

    /// Put the entries of `kind` on `item`'s list in `order` (ids), the others unchanged.
    fn set_kind_order(&mut self, item: ItemId, kind: EntryKind, order: &[EntryId]) {
        let Some(list) = self.lists.get_mut(&item) else {
            return;
        };
        let (mut of_kind, mut rest): (Vec<QueueEntry>, Vec<QueueEntry>) =
            list.entries.drain(..).partition(|e| e.kind == kind);
        for id in order {
            if let Some(i) = of_kind.iter().position(|e| e.id == *id) {
                rest.push(of_kind.remove(i));
            }
        }
        rest.append(&mut of_kind);
        list.entries = rest;
    }

    /// Place entry `id` (already on the list) at `position` among its kind, as shown now.
    fn place(&mut self, item: ItemId, id: EntryId, position: u32, settings: &Settings) {
        let Some(kind) = self.entry(item, id).map(|e| e.kind) else {
            return;
        };
        let mut order: Vec<EntryId> = self
            .kind_in_order(item, kind, settings)
            .iter()
            .map(|e| e.id)
            .filter(|e| *e != id)
            .collect();
        let at = (position as usize).min(order.len());
        order.insert(at, id);
        self.set_kind_order(item, kind, &order);
        if kind == EntryKind::Impromptu
            && let Some(list) = self.lists.get_mut(&item)
        {
            list.manual = true;
        }
    }

    fn remove_entry(&mut self, id: EntryId) -> Option<QueueEntry> {
        self.lists.values_mut().find_map(|list| {
            let i = list.entries.iter().position(|e| e.id == id)?;
            Some(list.entries.remove(i))
        })
    }

    /// The turn with this id, current or suspended.
    fn turn_mut(&mut self, id: TurnId) -> Option<&mut Turn> {
        self.current
            .iter_mut()
            .chain(self.suspended.iter_mut())
            .find(|t| t.id == id)
    }

    /// The next clock of the current turn to fire, and when.
    fn next_timer(&self, settings: &Settings) -> Option<(Millis, Timer)> {
        let turn = self.current.as_ref()?;
        let mut timers: Vec<(Millis, Timer)> = Vec::with_capacity(4);
        if let Some(since) = turn.running_since {
            // When the turn will have spoken `ms` in all.
            let when = |ms: u64| since.plus(ms.saturating_sub(u64::from(turn.elapsed_ms)));
            let limit = u64::from(turn.limit_ms);
            let warning = u64::from(settings.warning_s) * 1000;
            if !turn.warned && limit > warning {
                timers.push((when(limit - warning), Timer::Warning));
            }
            if !turn.overran {
                timers.push((when(limit), Timer::Bell));
            }
            if settings.overrun == Overrun::Hard {
                timers.push((
                    when(limit + u64::from(settings.grace_s) * 1000),
                    Timer::HardStop,
                ));
            }
        } else if turn.paused == Some(PauseReason::Dropped) {
            timers.extend(self.drop_deadline.map(|d| (d, Timer::DropExpired)));
        }
        timers.into_iter().min()
    }
}

/// The current speaking list before a command or tick that may change its order: the
/// item and its entries' ids in grant order.
pub(crate) struct QueueBefore {
    item: ItemId,
    ids: Vec<EntryId>,
}

/// Whether a command can change the order of the current speaking list (others skip
/// the check that announces a new order, which costs a sort).
fn may_reorder(command: &Command) -> bool {
    use Command::*;
    matches!(
        command,
        RequestFloor { .. }
            | Withdraw { .. }
            | AddEntry { .. }
            | MoveEntry { .. }
            | RemoveEntry { .. }
            | GrantFloor { .. }
            | EndTurn
            | ShortenAll { .. }
            | SetOrdering { .. }
            | SetCurrentItem { .. }
            | UpdateSettings { .. }
            | CloseSession
    )
}

impl Room {
    /// The current list as a client holds it before `command` (or a tick, `None`).
    pub(crate) fn queue_before(&self, command: Option<&Command>) -> Option<QueueBefore> {
        if command.is_some_and(|c| !may_reorder(c)) {
            return None;
        }
        Some(QueueBefore {
            item: self.session.current,
            ids: self.queue().iter().map(|e| e.id).collect(),
        })
    }

    /// After a command or tick: if a client that removes entries as they leave and
    /// appends new ones at the end would now hold another order than the floor's, tell
    /// it the whole list (`queue_ordered`). The server always sends the queue in grant
    /// order; clients never sort it.
    pub(crate) fn tell_queue_order(&mut self, cx: &mut Cx, before: Option<QueueBefore>) {
        let Some(QueueBefore { mut item, mut ids }) = before else {
            return;
        };
        for e in &cx.out.events {
            match &e.body {
                EventBody::EntryAdded { entry, .. } if entry.item == item => ids.push(entry.id),
                EventBody::EntryWithdrawn { entry }
                | EventBody::EntryRemoved { entry, .. }
                | EventBody::TurnStarted {
                    entry: Some(entry), ..
                } => ids.retain(|id| id != entry),
                EventBody::CurrentItemChanged { item: next } => {
                    item = *next;
                    ids.clear();
                }
                EventBody::QueueOrdered { item: i, queue } => {
                    item = *i;
                    ids = queue.iter().map(|e| e.id).collect();
                }
                _ => {}
            }
        }
        let queue = self.queue();
        let same = item == self.session.current
            && ids.len() == queue.len()
            && ids.iter().zip(&queue).all(|(id, e)| *id == e.id);
        if !same {
            let queue = queue.into_iter().cloned().collect();
            let item = self.session.current;
            self.emit(cx, EventBody::QueueOrdered { item, queue });
        }
    }

    fn settings_now(&self) -> Settings {
        self.current_settings()
    }

    /// The current item's speaking list in the order the floor will go.
    pub fn queue(&self) -> Vec<&QueueEntry> {
        self.floor
            .in_order(self.session.current, &self.settings_now())
    }

    /// Whose turn it is.
    pub fn floor_holder(&self) -> Option<&Turn> {
        self.floor.current.as_ref()
    }

    /// Whether the media layer may forward `who`'s audio: the hosts always; in moderated
    /// mode the floor holder; in open discussion everyone with the media grant.
    pub fn may_send_audio(&self, who: &ParticipantId) -> bool {
        let Some(attendee) = self.roster.get(who) else {
            return false;
        };
        if self.session.state != SessionState::InSession && !attendee.grants.has(Grant::ManageFloor)
        {
            return false;
        }
        if !attendee.grants.has(Grant::PublishMedia) {
            return false;
        }
        attendee.grants.has(Grant::ManageFloor)
            || self.floor.holder() == Some(who)
            || self.floor.mode == FloorMode::OpenDiscussion
    }

    /// Whose audio the media layer forwards now ([`Room::may_send_audio`]): the floor
    /// holder first, then the hosts, then (in open discussion) the others, each by id.
    pub fn heard(&self) -> Vec<ParticipantId> {
        let holder = self
            .floor
            .holder()
            .filter(|h| self.may_send_audio(h))
            .cloned();
        let mut rest: Vec<(bool, &ParticipantId)> = self
            .roster
            .people
            .values()
            .filter(|a| {
                let id = &a.participant.id;
                Some(id) != holder.as_ref() && self.may_send_audio(id)
            })
            .map(|a| (!a.grants.has(Grant::ManageFloor), &a.participant.id))
            .collect();
        rest.sort();
        holder
            .into_iter()
            .chain(rest.into_iter().map(|(_, id)| id.clone()))
            .collect()
    }

    /// Speaking time of ended turns, per participant, sector and venue. Sectors and venues
    /// of everyone known to the room are listed, so those who have not spoken show too.
    pub fn speaking_time(&self) -> SpeakingTime {
        let budget = self
            .settings_now()
            .sector_budget_s
            .map(|s| i64::from(s) * 1000);
        let mut sectors: BTreeMap<String, (u32, u64)> = BTreeMap::new();
        let mut venues: BTreeMap<String, (u32, u64)> = BTreeMap::new();
        for a in self.roster.people.values() {
            if let Some(s) = &a.participant.sector {
                sectors.entry(s.clone()).or_default();
            }
            if let Some(v) = &a.participant.venue {
                venues.entry(v.clone()).or_default();
            }
        }
        for (name, acc) in &self.floor.sectors {
            sectors.insert(name.clone(), (acc.turns, acc.spoken_ms));
        }
        for (name, acc) in &self.floor.venues {
            venues.insert(name.clone(), (acc.turns, acc.spoken_ms));
        }
        let ms = |v: u64| v.min(u64::from(u32::MAX)) as u32;
        SpeakingTime {
            participants: self
                .floor
                .speakers
                .iter()
                .map(|(id, a)| SpeakerTime {
                    participant: id.clone(),
                    name: a.name.clone(),
                    turns: a.turns,
                    spoken_ms: ms(a.spoken_ms),
                })
                .collect(),
            sectors: sectors
                .into_iter()
                .map(|(name, (turns, spoken))| GroupTime {
                    name,
                    turns,
                    spoken_ms: ms(spoken),
                    budget_left_ms: budget.map(|b| {
                        (b - spoken as i64).clamp(i32::MIN.into(), i32::MAX.into()) as i32
                    }),
                })
                .collect(),
            venues: venues
                .into_iter()
                .map(|(name, (turns, spoken))| GroupTime {
                    name,
                    turns,
                    spoken_ms: ms(spoken),
                    budget_left_ms: None,
                })
                .collect(),
        }
    }

    /// Ask for the floor (举手) on the current agenda item, once per kind.
    pub(crate) fn request_floor(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        kind: EntryKind,
        speaker: Option<&str>,
        replying_to: Option<TurnId>,
    ) -> Result<(), Rejection> {
        actor.require(Grant::RequestFloor)?;
        let item = self.session.current;
        let speaker = speaker.map(text::clean).transpose()?;
        if let Some(turn) = replying_to
            && (turn.0 == 0 || turn.0 > self.floor.next_turn)
        {
            return reject(
                ErrorCode::NotFound,
                format!("no turn {} to reply to", turn.0),
            );
        }
        self.check_not_waiting(item, actor.id(), kind)?;
        let entry = self.new_entry(cx, actor, kind, speaker, replying_to);
        self.emit(
            cx,
            EventBody::EntryAdded {
                entry,
                position: None,
                reason: None,
            },
        );
        Ok(())
    }

    /// Leave the speaking list (one's own entry of that kind).
    pub(crate) fn withdraw(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        kind: EntryKind,
    ) -> Result<(), Rejection> {
        let item = self.session.current;
        let Some(entry) = self.floor.waiting(item, actor.id(), kind) else {
            return reject(ErrorCode::NotFound, "you are not waiting with that kind");
        };
        let entry = entry.id;
        self.emit(cx, EventBody::EntryWithdrawn { entry });
        Ok(())
    }

    /// A host puts someone on the list, at `position` or in order, with a reason.
    #[allow(clippy::too_many_arguments)] // the command's five fields, as the protocol has them
    pub(crate) fn add_entry(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        participant: &ParticipantId,
        kind: EntryKind,
        speaker: Option<&str>,
        position: Option<u32>,
        reason: &str,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        let item = self.session.current;
        let reason = required_reason(reason)?;
        let speaker = speaker.map(text::clean).transpose()?;
        let Some(who) = self.roster.get(participant) else {
            return reject(
                ErrorCode::NotFound,
                format!("{} is not known to this room", participant.0),
            );
        };
        let who = Actor::new(who.participant.clone());
        self.check_not_waiting(item, who.id(), kind)?;
        let entry = self.new_entry(cx, &who, kind, speaker, None);
        self.emit(
            cx,
            EventBody::EntryAdded {
                entry,
                position,
                reason: Some(reason),
            },
        );
        Ok(())
    }

    /// A host moves an entry, with a reason.
    pub(crate) fn move_entry(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        entry: EntryId,
        position: u32,
        reason: &str,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        let reason = required_reason(reason)?;
        self.check_entry(self.session.current, entry)?;
        self.emit(
            cx,
            EventBody::EntryMoved {
                entry,
                position,
                reason,
            },
        );
        Ok(())
    }

    /// A host takes an entry off the list, with a reason.
    pub(crate) fn remove_entry(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        entry: EntryId,
        reason: &str,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        let reason = required_reason(reason)?;
        self.check_entry(self.session.current, entry)?;
        self.emit(cx, EventBody::EntryRemoved { entry, reason });
        Ok(())
    }

    /// Give the floor to the next entry, or to `entry` (out of order only with a reason),
    /// while in session.
    pub(crate) fn grant_floor(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        entry: Option<EntryId>,
        reason: Option<&str>,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        if self.session.state != SessionState::InSession {
            return reject(
                ErrorCode::InvalidState,
                "the floor can be given only while in session",
            );
        }
        let item = self.session.current;
        let settings = self.settings_now();
        let next = self.floor.next(item, &settings).map(|e| e.id);
        let chosen = match entry {
            None => {
                next.ok_or_else(|| Rejection::new(ErrorCode::QueueEmpty, "nobody is waiting"))?
            }
            Some(id) => {
                self.check_entry(item, id)?;
                id
            }
        };
        let reason = match reason {
            Some(r) if !r.trim().is_empty() => Some(text::clean(r)?),
            _ if Some(chosen) != next => {
                return reject(
                    ErrorCode::ReasonRequired,
                    "giving the floor out of order needs a reason",
                );
            }
            _ => None,
        };
        self.grant(cx, item, chosen, reason, &settings);
        Ok(())
    }

    /// The speaker yields, or a host ends the turn.
    pub(crate) fn end_turn(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        let Some(turn) = &self.floor.current else {
            return reject(ErrorCode::NoFloor, "nobody has the floor");
        };
        let reason = if &turn.participant == actor.id() {
            EndReason::Yielded
        } else {
            actor.require(Grant::ManageFloor)?;
            EndReason::Host
        };
        self.end_current_turn(cx, reason);
        Ok(())
    }

    pub(crate) fn pause_turn(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        let turn = self.current_turn()?;
        if turn.running_since.is_none() {
            return reject(ErrorCode::InvalidState, "the turn is already paused");
        }
        let turn = turn.id;
        self.emit(
            cx,
            EventBody::TurnPaused {
                turn,
                reason: PauseReason::Host,
            },
        );
        Ok(())
    }

    pub(crate) fn resume_turn(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        let turn = self.current_turn()?;
        if turn.running_since.is_some() {
            return reject(ErrorCode::InvalidState, "the turn is running");
        }
        if self.session.state != SessionState::InSession {
            return reject(ErrorCode::InvalidState, "resume the session first");
        }
        let turn = turn.id;
        self.emit(cx, EventBody::TurnResumed { turn });
        Ok(())
    }

    pub(crate) fn extend_turn(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        seconds: u32,
    ) -> Result<(), Rejection> {
        self.change_turn_limit(cx, actor, seconds, u32::saturating_add)
    }

    pub(crate) fn shorten_turn(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        seconds: u32,
    ) -> Result<(), Rejection> {
        self.change_turn_limit(cx, actor, seconds, u32::saturating_sub)
    }

    /// Extend or shorten the current turn by `seconds` (`change`: add or subtract).
    fn change_turn_limit(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        seconds: u32,
        change: fn(u32, u32) -> u32,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        if !(1..=3600).contains(&seconds) {
            return reject(ErrorCode::InvalidArgument, "between 1 second and 1 hour");
        }
        let turn = self.current_turn()?;
        let limit_ms = change(turn.limit_ms, seconds * 1000);
        let turn = turn.id;
        self.emit(cx, EventBody::TurnLimitChanged { turn, limit_ms });
        Ok(())
    }

    /// A limit for every entry waiting on the current list.
    pub(crate) fn shorten_all(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        limit_s: u32,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        if !(10..=86_400).contains(&limit_s) {
            return reject(
                ErrorCode::InvalidArgument,
                "a limit is between 10 s and 24 h",
            );
        }
        let item = self.session.current;
        self.emit(cx, EventBody::EntriesLimited { item, limit_s });
        Ok(())
    }

    pub(crate) fn set_ordering(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        policy: OrderingPolicy,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        let item = self.session.current;
        self.emit(cx, EventBody::OrderingChanged { item, policy });
        Ok(())
    }

    pub(crate) fn set_floor_mode(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        mode: FloorMode,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageFloor)?;
        if mode != self.floor.mode {
            self.emit(cx, EventBody::FloorModeChanged { mode });
        }
        Ok(())
    }

    fn check_not_waiting(
        &self,
        item: ItemId,
        who: &ParticipantId,
        kind: EntryKind,
    ) -> Result<(), Rejection> {
        if self.floor.waiting(item, who, kind).is_some() {
            return reject(
                ErrorCode::AlreadyWaiting,
                format!("already waiting for a {kind:?} turn"),
            );
        }
        Ok(())
    }

    fn check_entry(&self, item: ItemId, entry: EntryId) -> Result<(), Rejection> {
        match self.floor.entry(item, entry) {
            Some(_) => Ok(()),
            None => reject(
                ErrorCode::NotFound,
                format!("no entry {} on this speaking list", entry.0),
            ),
        }
    }

    fn current_turn(&self) -> Result<&Turn, Rejection> {
        self.floor
            .current
            .as_ref()
            .ok_or_else(|| Rejection::new(ErrorCode::NoFloor, "nobody has the floor"))
    }

    fn new_entry(
        &self,
        cx: &Cx,
        who: &Actor,
        kind: EntryKind,
        speaker: Option<String>,
        replying_to: Option<TurnId>,
    ) -> QueueEntry {
        QueueEntry {
            id: EntryId(self.floor.next_entry + 1),
            item: self.session.current,
            participant: who.id().clone(),
            name: who.name().to_owned(),
            kind,
            speaker,
            sector: who.participant.sector.clone(),
            venue: who.participant.venue.clone(),
            replying_to,
            limit_s: None,
            requested_at: cx.now,
        }
    }

    /// Give the floor to `entry`: an interruption pauses the current turn; anything else
    /// ends it (and any turns it had suspended).
    fn grant(
        &mut self,
        cx: &mut Cx,
        item: ItemId,
        entry: EntryId,
        reason: Option<String>,
        settings: &Settings,
    ) {
        let Some(e) = self.floor.entry(item, entry).cloned() else {
            return;
        };
        let mut interrupts = None;
        if e.kind.interrupts() {
            if let Some(current) = &self.floor.current {
                interrupts = Some(current.id);
                if current.running_since.is_some() {
                    let turn = current.id;
                    self.emit(
                        cx,
                        EventBody::TurnPaused {
                            turn,
                            reason: PauseReason::Interjection,
                        },
                    );
                }
            }
        } else {
            self.end_all_turns(cx, EndReason::Superseded);
        }
        let limit_s = e.limit_s.unwrap_or_else(|| settings.limits.get(e.kind));
        let turn = Turn {
            id: TurnId(self.floor.next_turn + 1),
            participant: e.participant,
            name: e.name,
            kind: e.kind,
            speaker: e.speaker,
            sector: e.sector,
            venue: e.venue,
            replying_to: e.replying_to,
            started_at: cx.now,
            limit_ms: limit_s.saturating_mul(1000),
            elapsed_ms: 0,
            running_since: Some(cx.now),
            paused: None,
            warned: false,
            overran: false,
        };
        self.emit(
            cx,
            EventBody::TurnStarted {
                turn,
                entry: Some(entry),
                reason,
                interrupts,
            },
        );
    }

    /// End the current turn; a turn it had suspended comes back (and runs again if it was
    /// only waiting for the interruption to end).
    fn end_current_turn(&mut self, cx: &mut Cx, reason: EndReason) {
        let Some(turn) = &self.floor.current else {
            return;
        };
        let spoken_ms = turn.elapsed_at(cx.now).min(u64::from(u32::MAX)) as u32;
        let id = turn.id;
        self.emit(
            cx,
            EventBody::TurnEnded {
                turn: id,
                spoken_ms,
                reason,
            },
        );
        if let Some(back) = &self.floor.current
            && back.paused == Some(PauseReason::Interjection)
        {
            let turn = back.id;
            if self.session.state == SessionState::InSession {
                self.emit(cx, EventBody::TurnResumed { turn });
            } else {
                self.emit(
                    cx,
                    EventBody::TurnPaused {
                        turn,
                        reason: PauseReason::Session,
                    },
                );
            }
        }
    }

    /// End the current turn and every turn it suspended.
    pub(crate) fn end_all_turns(&mut self, cx: &mut Cx, reason: EndReason) {
        while let Some(turn) = &self.floor.current {
            let spoken_ms = turn.elapsed_at(cx.now).min(u64::from(u32::MAX)) as u32;
            let turn = turn.id;
            self.emit(
                cx,
                EventBody::TurnEnded {
                    turn,
                    spoken_ms,
                    reason,
                },
            );
        }
    }

    pub(crate) fn pause_turn_for_session(&mut self, cx: &mut Cx) {
        if let Some(turn) = self
            .floor
            .current
            .as_ref()
            .filter(|t| t.running_since.is_some())
        {
            let turn = turn.id;
            self.emit(
                cx,
                EventBody::TurnPaused {
                    turn,
                    reason: PauseReason::Session,
                },
            );
        }
    }

    pub(crate) fn resume_turn_for_session(&mut self, cx: &mut Cx) {
        if let Some(turn) = self
            .floor
            .current
            .as_ref()
            .filter(|t| t.paused == Some(PauseReason::Session))
        {
            let turn = turn.id;
            self.emit(cx, EventBody::TurnResumed { turn });
        }
    }

    /// The speaker's connection dropped: their clock stops for the grace window.
    pub(crate) fn speaker_dropped(&mut self, cx: &mut Cx, who: &ParticipantId) {
        if let Some(turn) = self
            .floor
            .current
            .as_ref()
            .filter(|t| &t.participant == who && t.running_since.is_some())
        {
            let turn = turn.id;
            self.emit(
                cx,
                EventBody::TurnPaused {
                    turn,
                    reason: PauseReason::Dropped,
                },
            );
        }
    }

    /// A dropped speaker is back within the grace window: their turn goes on.
    pub(crate) fn speaker_returned(&mut self, cx: &mut Cx, who: &ParticipantId) {
        let back = self
            .floor
            .current
            .as_ref()
            .filter(|t| &t.participant == who && t.paused == Some(PauseReason::Dropped));
        if let Some(turn) = back {
            let turn = turn.id;
            if self.session.state == SessionState::InSession {
                self.emit(cx, EventBody::TurnResumed { turn });
            }
        }
    }

    pub(crate) fn floor_deadline(&self) -> Option<Millis> {
        self.floor
            .next_timer(&self.settings_now())
            .map(|(at, _)| at)
    }

    pub(crate) fn floor_due(&mut self, cx: &mut Cx) {
        let settings = self.settings_now();
        while let Some((at, timer)) = self
            .floor
            .next_timer(&settings)
            .filter(|(at, _)| *at <= cx.now)
        {
            let Some(turn) = self.floor.current.as_ref().map(|t| t.id) else {
                return;
            };
            let saved = cx.now;
            cx.now = at.max(self.last_at());
            match timer {
                Timer::Warning => self.emit(cx, EventBody::TurnWarned { turn }),
                Timer::Bell => self.emit(cx, EventBody::TurnOverran { turn }),
                Timer::HardStop => self.end_current_turn(cx, EndReason::TimeUp),
                Timer::DropExpired => match settings.on_drop {
                    OnDrop::End => self.end_current_turn(cx, EndReason::Dropped),
                    // The chair decides: the turn stays paused, now on the chair's account.
                    OnDrop::ChairDecides => self.emit(
                        cx,
                        EventBody::TurnPaused {
                            turn,
                            reason: PauseReason::Host,
                        },
                    ),
                },
            }
            cx.now = saved;
        }
    }

    pub(crate) fn fold_floor(&mut self, event: &Event) {
        let at = event.at;
        match &event.body {
            EventBody::EntryAdded {
                entry, position, ..
            } => {
                self.floor.next_entry = self.floor.next_entry.max(entry.id.0);
                let list = self.floor.lists.entry(entry.item).or_default();
                list.entries.push(entry.clone());
                if let Some(position) = position {
                    let settings = self.session.settings_for(entry.item);
                    self.floor.place(entry.item, entry.id, *position, &settings);
                }
            }
            EventBody::EntryWithdrawn { entry } | EventBody::EntryRemoved { entry, .. } => {
                self.floor.remove_entry(*entry);
            }
            EventBody::EntryMoved {
                entry, position, ..
            } => {
                let item = self
                    .floor
                    .lists
                    .iter()
                    .find(|(_, l)| l.entries.iter().any(|e| e.id == *entry))
                    .map(|(i, _)| *i);
                if let Some(item) = item {
                    let settings = self.session.settings_for(item);
                    self.floor.place(item, *entry, *position, &settings);
                }
            }
            EventBody::EntriesLimited { item, limit_s } => {
                let settings = self.session.settings_for(*item);
                if let Some(list) = self.floor.lists.get_mut(item) {
                    for e in &mut list.entries {
                        let current = e.limit_s.unwrap_or_else(|| settings.limits.get(e.kind));
                        e.limit_s = Some(current.min(*limit_s));
                    }
                }
            }
            EventBody::OrderingChanged { item, policy } => {
                let list = self.floor.lists.entry(*item).or_default();
                list.policy = Some(*policy);
                list.manual = false;
            }
            EventBody::TurnStarted {
                turn,
                entry,
                interrupts,
                ..
            } => {
                if let Some(entry) = entry {
                    self.floor.remove_entry(*entry);
                }
                self.floor.next_turn = self.floor.next_turn.max(turn.id.0);
                if interrupts.is_some()
                    && let Some(current) = self.floor.current.take()
                {
                    self.floor.suspended.push(current);
                }
                self.floor.current = Some(turn.clone());
                self.floor.drop_deadline = None;
            }
            EventBody::TurnPaused { turn, reason } => {
                let drop_grace = u64::from(self.settings_now().drop_grace_s) * 1000;
                if let Some(t) = self.floor.turn_mut(*turn) {
                    if let Some(since) = t.running_since.take() {
                        t.elapsed_ms = t
                            .elapsed_ms
                            .saturating_add(at.since(since).min(u64::from(u32::MAX)) as u32);
                    }
                    t.paused = Some(*reason);
                }
                self.floor.drop_deadline =
                    (*reason == PauseReason::Dropped).then(|| at.plus(drop_grace));
            }
            EventBody::TurnResumed { turn } => {
                if let Some(t) = self.floor.turn_mut(*turn) {
                    t.running_since = Some(at);
                    t.paused = None;
                }
                self.floor.drop_deadline = None;
            }
            EventBody::TurnLimitChanged { turn, limit_ms } => {
                let warning = i64::from(self.settings_now().warning_s) * 1000;
                if let Some(t) = self.floor.turn_mut(*turn) {
                    t.limit_ms = *limit_ms;
                    let remaining = t.remaining_at(at);
                    // More time earns a fresh warning and bell; less keeps what was given.
                    t.warned = t.warned && remaining <= warning;
                    t.overran = t.overran && remaining <= 0;
                }
            }
            EventBody::TurnWarned { turn } => {
                if let Some(t) = self.floor.turn_mut(*turn) {
                    t.warned = true;
                }
            }
            EventBody::TurnOverran { turn } => {
                if let Some(t) = self.floor.turn_mut(*turn) {
                    t.overran = true;
                }
            }
            EventBody::TurnEnded {
                turn, spoken_ms, ..
            } => {
                let ended = if self.floor.current.as_ref().is_some_and(|t| t.id == *turn) {
                    let ended = self.floor.current.take();
                    self.floor.current = self.floor.suspended.pop();
                    ended
                } else {
                    let i = self.floor.suspended.iter().position(|t| t.id == *turn);
                    i.map(|i| self.floor.suspended.remove(i))
                };
                self.floor.drop_deadline = None;
                if let Some(t) = ended {
                    let f = &mut self.floor;
                    let speaker = f.speakers.entry(t.participant.clone()).or_default();
                    speaker.name = t.name.clone();
                    speaker.add(&t, *spoken_ms);
                    if let Some(sector) = &t.sector {
                        f.sectors
                            .entry(sector.clone())
                            .or_default()
                            .add(&t, *spoken_ms);
                    }
                    if let Some(venue) = &t.venue {
                        f.venues
                            .entry(venue.clone())
                            .or_default()
                            .add(&t, *spoken_ms);
                    }
                }
            }
            EventBody::FloorModeChanged { mode } => self.floor.mode = *mode,
            _ => {}
        }
    }
}

/// An override's reason: required, and held to the text rules.
fn required_reason(reason: &str) -> Result<String, Rejection> {
    if reason.trim().is_empty() {
        return reject(
            ErrorCode::ReasonRequired,
            "an override needs a reason for the record",
        );
    }
    text::clean(reason)
}
