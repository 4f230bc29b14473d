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

    pub(crate) fn floor_command(
        &mut self,
        cx: &mut Cx,
        command: &Command,
    ) -> Result<(), Rejection> {
        let actor = cx
            .actor
            .ok_or_else(|| Rejection::new(ErrorCode::Internal, "no actor"))?;
        let item = self.session.current;
        let settings = self.settings_now();
        match command {
            Command::RequestFloor {
                kind,
                speaker,
                replying_to,
            } => {
                actor.require(Grant::RequestFloor)?;
                let speaker = speaker.as_deref().map(text::clean).transpose()?;
                if let Some(turn) = replying_to
                    && (turn.0 == 0 || turn.0 > self.floor.next_turn)
                {
                    return reject(
                        ErrorCode::NotFound,
                        format!("no turn {} to reply to", turn.0),
                    );
                }
                self.check_not_waiting(item, actor.id(), *kind)?;
                let entry = self.new_entry(cx, actor, *kind, speaker, *replying_to);
                self.emit(
                    cx,
                    EventBody::EntryAdded {
                        entry,
                        position: None,
                        reason: None,
                    },
                );
            }
            Command::Withdraw { kind } => {
                let Some(entry) = self.floor.waiting(item, actor.id(), *kind) else {
                    return reject(ErrorCode::NotFound, "you are not waiting with that kind");
                };
                let entry = entry.id;
                self.emit(cx, EventBody::EntryWithdrawn { entry });
            }
            Command::AddEntry {
                participant,
                kind,
                speaker,
                position,
                reason,
            } => {
                actor.require(Grant::ManageFloor)?;
                let reason = required_reason(reason)?;
                let speaker = speaker.as_deref().map(text::clean).transpose()?;
                let Some(who) = self.roster.get(participant) else {
                    return reject(
                        ErrorCode::NotFound,
                        format!("{} is not known to this room", participant.0),
                    );
                };
                let who = Actor::new(who.participant.clone());
                self.check_not_waiting(item, who.id(), *kind)?;
                let entry = self.new_entry(cx, &who, *kind, speaker, None);
                self.emit(
                    cx,
                    EventBody::EntryAdded {
                        entry,
                        position: *position,
                        reason: Some(reason),
                    },
                );
            }
            Command::MoveEntry {
                entry,
                position,
                reason,
            } => {
                actor.require(Grant::ManageFloor)?;
                let reason = required_reason(reason)?;
                self.check_entry(item, *entry)?;
                self.emit(
                    cx,
                    EventBody::EntryMoved {
                        entry: *entry,
                        position: *position,
                        reason,
                    },
                );
            }
            Command::RemoveEntry { entry, reason } => {
                actor.require(Grant::ManageFloor)?;
                let reason = required_reason(reason)?;
                self.check_entry(item, *entry)?;
                self.emit(
                    cx,
                    EventBody::EntryRemoved {
                        entry: *entry,
                        reason,
                    },
                );
            }
            Command::GrantFloor { entry, reason } => {
                actor.require(Grant::ManageFloor)?;
                if self.session.state != SessionState::InSession {
                    return reject(
                        ErrorCode::InvalidState,
                        "the floor can be given only while in session",
                    );
                }
                let next = self.floor.next(item, &settings).map(|e| e.id);
                let chosen = match entry {
                    None => next.ok_or_else(|| {
                        Rejection::new(ErrorCode::QueueEmpty, "nobody is waiting")
                    })?,
                    Some(id) => {
                        self.check_entry(item, *id)?;
                        *id
                    }
                };
                let reason = match reason.as_deref() {
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
            }
            Command::EndTurn => {
                let Some(turn) = &self.floor.current else {
                    return reject(ErrorCode::NoFloor, "nobody has the floor");
                };
                let reason = if &turn.participant == actor.id() {
                    EndReason::Yielded
                } else {
                    actor.require(Grant::ManageFloor)?;
                    EndReason::Host
                };
                self.end_turn(cx, reason);
            }
            Command::PauseTurn => {
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
            }
            Command::ResumeTurn => {
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
            }
            Command::ExtendTurn { seconds } | Command::ShortenTurn { seconds } => {
                actor.require(Grant::ManageFloor)?;
                if !(1..=3600).contains(seconds) {
                    return reject(ErrorCode::InvalidArgument, "between 1 second and 1 hour");
                }
                let turn = self.current_turn()?;
                let delta = seconds * 1000;
                let limit_ms = if matches!(command, Command::ExtendTurn { .. }) {
                    turn.limit_ms.saturating_add(delta)
                } else {
                    turn.limit_ms.saturating_sub(delta)
                };
                let turn = turn.id;
                self.emit(cx, EventBody::TurnLimitChanged { turn, limit_ms });
            }
            Command::ShortenAll { limit_s } => {
                actor.require(Grant::ManageFloor)?;
                if !(10..=86_400).contains(limit_s) {
                    return reject(
                        ErrorCode::InvalidArgument,
                        "a limit is between 10 s and 24 h",
                    );
                }
                self.emit(
                    cx,
                    EventBody::EntriesLimited {
                        item,
                        limit_s: *limit_s,
                    },
                );
            }
            Command::SetOrdering { policy } => {
                actor.require(Grant::ManageFloor)?;
                self.emit(
                    cx,
                    EventBody::OrderingChanged {
                        item,
                        policy: *policy,
                    },
                );
            }
            Command::SetFloorMode { mode } => {
                actor.require(Grant::ManageFloor)?;
                if *mode != self.floor.mode {
                    self.emit(cx, EventBody::FloorModeChanged { mode: *mode });
                }
            }
            _ => return reject(ErrorCode::Internal, "not a floor command"),
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
    fn end_turn(&mut self, cx: &mut Cx, reason: EndReason) {
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
                Timer::HardStop => self.end_turn(cx, EndReason::TimeUp),
                Timer::DropExpired => match settings.on_drop {
                    OnDrop::End => self.end_turn(cx, EndReason::Dropped),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use yishi_protocol::{
        Command, EndReason, EntryId, EntryKind, ErrorCode, EventBody, FloorMode, ItemId, OnDrop,
        OrderingPolicy, Overrun, ParticipantId, PauseReason, SettingsPatch, TurnId,
    };

    use super::super::tests::Fixture;

    fn request(kind: EntryKind) -> Command {
        Command::RequestFloor {
            kind,
            speaker: None,
            replying_to: None,
        }
    }

    fn grant_next() -> Command {
        Command::GrantFloor {
            entry: None,
            reason: None,
        }
    }

    fn names(f: &Fixture) -> Vec<String> {
        f.room
            .queue()
            .iter()
            .map(|e| e.participant.0.clone())
            .collect()
    }

    fn holder(f: &Fixture) -> Option<String> {
        f.room.floor_holder().map(|t| t.participant.0.clone())
    }

    fn settings(f: &mut Fixture, patch: SettingsPatch) {
        let host = f.host.clone();
        f.ok(&host, Command::UpdateSettings { item: None, patch });
    }

    fn remaining(f: &Fixture) -> i64 {
        f.room.floor_holder().unwrap().remaining_at(f.now)
    }

    /// Let `who` speak one turn of `ms` through the queue.
    fn speak(f: &mut Fixture, who: &super::Actor, ms: u64) {
        let host = f.host.clone();
        f.ok(who, request(EntryKind::Impromptu));
        let entry = f
            .room
            .queue()
            .iter()
            .find(|e| e.participant == *who.id())
            .unwrap()
            .id;
        f.ok(
            &host,
            Command::GrantFloor {
                entry: Some(entry),
                reason: Some("test".into()),
            },
        );
        f.advance(ms);
        f.ok(who, Command::EndTurn);
    }

    #[test]
    fn entries_are_ordered_by_kind_point_of_order_first_impromptu_last() {
        let mut f = Fixture::new();
        let (m1, m2, m3, r, v) = (
            f.m1.clone(),
            f.m2.clone(),
            f.m3.clone(),
            f.respondent.clone(),
            f.venue.clone(),
        );
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&m2, request(EntryKind::Scheduled));
        f.ok(&r, request(EntryKind::Reply));
        f.ok(&m3, request(EntryKind::Interjection));
        f.ok(&v, request(EntryKind::PointOfOrder));
        assert_eq!(names(&f), ["v1", "m3", "r1", "m2", "m1"]);
    }

    #[test]
    fn a_participant_waits_at_most_once_per_kind() {
        let mut f = Fixture::new();
        let m1 = f.m1.clone();
        f.ok(&m1, request(EntryKind::Impromptu));
        assert_eq!(
            f.refused(&m1, request(EntryKind::Impromptu)).code,
            ErrorCode::AlreadyWaiting
        );
        f.ok(&m1, request(EntryKind::Interjection));
        assert_eq!(f.room.queue().len(), 2);
        let host = f.host.clone();
        let again = Command::AddEntry {
            participant: m1.id().clone(),
            kind: EntryKind::Impromptu,
            speaker: None,
            position: None,
            reason: "chair adds".into(),
        };
        assert_eq!(f.refused(&host, again).code, ErrorCode::AlreadyWaiting);
    }

    #[test]
    fn withdrawing_takes_one_off_the_list() {
        let mut f = Fixture::new();
        let m1 = f.m1.clone();
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(
            &m1,
            Command::Withdraw {
                kind: EntryKind::Impromptu,
            },
        );
        assert!(f.room.queue().is_empty());
        assert_eq!(
            f.refused(
                &m1,
                Command::Withdraw {
                    kind: EntryKind::Impromptu
                }
            )
            .code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn only_those_with_the_grant_may_ask_for_or_run_the_floor() {
        let mut f = Fixture::new();
        let (observer, audience, m1) = (f.observer.clone(), f.audience.clone(), f.m1.clone());
        assert_eq!(
            f.refused(&observer, request(EntryKind::Impromptu)).code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            f.refused(&audience, request(EntryKind::Impromptu)).code,
            ErrorCode::Forbidden
        );
        f.ok(&m1, request(EntryKind::Impromptu));
        assert_eq!(f.refused(&m1, grant_next()).code, ErrorCode::Forbidden);
        assert_eq!(
            f.refused(
                &m1,
                Command::SetFloorMode {
                    mode: FloorMode::OpenDiscussion
                }
            )
            .code,
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn first_come_first_served_is_the_default() {
        let mut f = Fixture::new();
        let (m1, m2, m3) = (f.m1.clone(), f.m2.clone(), f.m3.clone());
        for m in [&m3, &m1, &m2] {
            f.ok(m, request(EntryKind::Impromptu));
        }
        assert_eq!(names(&f), ["m3", "m1", "m2"]);
    }

    #[test]
    fn fewest_turns_puts_those_who_have_not_spoken_first() {
        let mut f = Fixture::new();
        let (m1, m2, host) = (f.m1.clone(), f.m2.clone(), f.host.clone());
        speak(&mut f, &m1, 10_000);
        f.ok(
            &host,
            Command::SetOrdering {
                policy: OrderingPolicy::FewestTurns,
            },
        );
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&m2, request(EntryKind::Impromptu));
        assert_eq!(names(&f), ["m2", "m1"]);
        f.ok(&host, grant_next());
        assert_eq!(holder(&f).as_deref(), Some("m2"));
    }

    #[test]
    fn least_time_puts_the_briefest_speakers_first() {
        let mut f = Fixture::new();
        let (m1, m2, m3, host) = (f.m1.clone(), f.m2.clone(), f.m3.clone(), f.host.clone());
        speak(&mut f, &m1, 90_000);
        speak(&mut f, &m2, 30_000);
        f.ok(
            &host,
            Command::SetOrdering {
                policy: OrderingPolicy::LeastTime,
            },
        );
        for m in [&m1, &m2, &m3] {
            f.ok(m, request(EntryKind::Impromptu));
        }
        assert_eq!(names(&f), ["m3", "m2", "m1"]);
    }

    #[test]
    fn rotating_sectors_gives_the_floor_to_the_sector_that_spoke_longest_ago() {
        let mut f = Fixture::new();
        let (m1, m2, m3, host) = (f.m1.clone(), f.m2.clone(), f.m3.clone(), f.host.clone());
        settings(
            &mut f,
            SettingsPatch {
                ordering: Some(OrderingPolicy::RotateSectors),
                ..Default::default()
            },
        );
        speak(&mut f, &m1, 5_000); // 经济界 spoke last
        f.ok(&m2, request(EntryKind::Impromptu)); // 经济界
        f.ok(&m3, request(EntryKind::Impromptu)); // 教育界
        assert_eq!(names(&f), ["m3", "m2"]);
        f.ok(&host, grant_next());
        assert_eq!(holder(&f).as_deref(), Some("m3"));
    }

    #[test]
    fn rotating_venues_alternates_between_halls() {
        let mut f = Fixture::new();
        let (m1, m2, m3, host) = (f.m1.clone(), f.m2.clone(), f.m3.clone(), f.host.clone());
        f.ok(
            &host,
            Command::SetOrdering {
                policy: OrderingPolicy::RotateVenues,
            },
        );
        speak(&mut f, &m1, 5_000); // 主会场
        f.ok(&m3, request(EntryKind::Impromptu)); // 主会场
        f.ok(&m2, request(EntryKind::Impromptu)); // 东区
        assert_eq!(names(&f), ["m2", "m3"]);
    }

    #[test]
    fn scheduled_speeches_keep_the_chairs_order() {
        let mut f = Fixture::new();
        let (m1, m2, m3, host) = (f.m1.clone(), f.m2.clone(), f.m3.clone(), f.host.clone());
        for m in [&m1, &m2, &m3] {
            f.ok(
                &host,
                Command::AddEntry {
                    participant: m.id().clone(),
                    kind: EntryKind::Scheduled,
                    speaker: None,
                    position: None,
                    reason: "预约发言名单".into(),
                },
            );
        }
        let m3_entry = f.room.queue()[2].id;
        f.ok(
            &host,
            Command::MoveEntry {
                entry: m3_entry,
                position: 0,
                reason: "按会议议程".into(),
            },
        );
        assert_eq!(names(&f), ["m3", "m1", "m2"]);
    }

    #[test]
    fn a_hand_reorder_suspends_the_policy_until_it_is_set_again() {
        let mut f = Fixture::new();
        let (m1, m2, m3, host) = (f.m1.clone(), f.m2.clone(), f.m3.clone(), f.host.clone());
        speak(&mut f, &m1, 5_000);
        f.ok(
            &host,
            Command::SetOrdering {
                policy: OrderingPolicy::FewestTurns,
            },
        );
        for m in [&m1, &m2, &m3] {
            f.ok(m, request(EntryKind::Impromptu));
        }
        assert_eq!(names(&f), ["m2", "m3", "m1"]);
        let m1_entry = f.room.queue()[2].id;
        let no_reason = Command::MoveEntry {
            entry: m1_entry,
            position: 0,
            reason: " ".into(),
        };
        assert_eq!(f.refused(&host, no_reason).code, ErrorCode::ReasonRequired);
        let moved = f.ok(
            &host,
            Command::MoveEntry {
                entry: m1_entry,
                position: 0,
                reason: "补充发言".into(),
            },
        );
        assert!(
            matches!(&moved.events[0].body, EventBody::EntryMoved { reason, .. } if reason == "补充发言")
        );
        assert_eq!(names(&f), ["m1", "m2", "m3"]);
        assert!(
            f.room
                .snapshot(yishi_protocol::View::Host, host.id())
                .manual_order
        );
        f.ok(
            &host,
            Command::SetOrdering {
                policy: OrderingPolicy::FewestTurns,
            },
        );
        assert_eq!(names(&f), ["m2", "m3", "m1"]);
    }

    #[test]
    fn removing_an_entry_is_recorded_with_its_reason() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        let entry = f.room.queue()[0].id;
        assert_eq!(
            f.refused(
                &host,
                Command::RemoveEntry {
                    entry,
                    reason: String::new()
                }
            )
            .code,
            ErrorCode::ReasonRequired
        );
        let out = f.ok(
            &host,
            Command::RemoveEntry {
                entry,
                reason: "本人放弃".into(),
            },
        );
        assert!(
            matches!(&out.events[0].body, EventBody::EntryRemoved { reason, .. } if reason == "本人放弃")
        );
        assert!(f.room.queue().is_empty());
        assert_eq!(
            f.refused(
                &host,
                Command::RemoveEntry {
                    entry,
                    reason: "x".into()
                }
            )
            .code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn granting_out_of_order_needs_a_reason() {
        let mut f = Fixture::new();
        let (m1, m2, host) = (f.m1.clone(), f.m2.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&m2, request(EntryKind::Impromptu));
        let second = f.room.queue()[1].id;
        let bare = Command::GrantFloor {
            entry: Some(second),
            reason: None,
        };
        assert_eq!(f.refused(&host, bare).code, ErrorCode::ReasonRequired);
        let out = f.ok(
            &host,
            Command::GrantFloor {
                entry: Some(second),
                reason: Some("回应上一位".into()),
            },
        );
        assert!(
            matches!(&out.events[0].body, EventBody::TurnStarted { reason: Some(r), .. } if r == "回应上一位")
        );
        assert_eq!(holder(&f).as_deref(), Some("m2"));
        assert_eq!(names(&f), ["m1"]);
    }

    #[test]
    fn the_floor_is_given_only_in_session() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, Command::PauseSession);
        assert_eq!(f.refused(&host, grant_next()).code, ErrorCode::InvalidState);
        f.ok(&host, Command::ResumeSession);
        f.ok(&host, grant_next());
        let mut empty = Fixture::new();
        let host = empty.host.clone();
        assert_eq!(
            empty.refused(&host, grant_next()).code,
            ErrorCode::QueueEmpty
        );
    }

    #[test]
    fn a_turn_warns_at_sixty_seconds_left_rings_at_the_limit_and_runs_negative_in_soft_mode() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu)); // 5 minutes
        f.ok(&host, grant_next());
        assert!(f.advance(239_000).events.is_empty());
        let warned = f.advance(1_000);
        assert!(
            matches!(warned.events[..], [ref e] if matches!(e.body, EventBody::TurnWarned { .. }))
        );
        assert_eq!(remaining(&f), 60_000);
        let bell = f.advance(60_000);
        assert!(
            matches!(bell.events[..], [ref e] if matches!(e.body, EventBody::TurnOverran { .. }))
        );
        assert!(
            f.advance(120_000).events.is_empty(),
            "soft overrun: nothing ends the turn"
        );
        assert_eq!(remaining(&f), -120_000);
        assert_eq!(holder(&f).as_deref(), Some("m1"));
    }

    #[test]
    fn a_hard_overrun_takes_the_floor_back_at_limit_plus_grace() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        settings(
            &mut f,
            SettingsPatch {
                overrun: Some(Overrun::Hard),
                grace_s: Some(10),
                ..Default::default()
            },
        );
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(300_000);
        assert_eq!(
            holder(&f).as_deref(),
            Some("m1"),
            "the bell rings, the grace runs"
        );
        let out = f.advance(15_000);
        let ended = out.events.iter().find_map(|e| match &e.body {
            EventBody::TurnEnded {
                spoken_ms, reason, ..
            } => Some((*spoken_ms, *reason)),
            _ => None,
        });
        assert_eq!(ended, Some((310_000, EndReason::TimeUp)));
        let started = f.now.0 - 315_000;
        assert_eq!(
            out.events.last().unwrap().at.0,
            started + 310_000,
            "stamped at the deadline, not the tick"
        );
        assert_eq!(holder(&f), None);
    }

    #[test]
    fn an_interjection_pauses_the_speakers_clock_and_the_turn_resumes_with_the_time_it_had_left() {
        let mut f = Fixture::new();
        let (m1, m2, host) = (f.m1.clone(), f.m2.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(100_000);
        f.ok(&m2, request(EntryKind::Interjection));
        let out = f.ok(&host, grant_next());
        assert!(matches!(
            out.events[0].body,
            EventBody::TurnPaused {
                reason: PauseReason::Interjection,
                ..
            }
        ));
        assert!(matches!(
            out.events[1].body,
            EventBody::TurnStarted {
                interrupts: Some(TurnId(1)),
                ..
            }
        ));
        assert_eq!(holder(&f).as_deref(), Some("m2"));
        f.advance(45_000);
        f.ok(&m2, Command::EndTurn);
        assert_eq!(holder(&f).as_deref(), Some("m1"));
        assert_eq!(
            remaining(&f),
            200_000,
            "the 45 s interjection did not count against m1"
        );
        f.advance(10_000);
        assert_eq!(remaining(&f), 190_000, "and m1's clock runs again");
    }

    #[test]
    fn a_new_speech_supersedes_the_current_turn() {
        let mut f = Fixture::new();
        let (m1, m2, host) = (f.m1.clone(), f.m2.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&m2, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(20_000);
        let out = f.ok(&host, grant_next());
        assert!(matches!(
            out.events[0].body,
            EventBody::TurnEnded {
                reason: EndReason::Superseded,
                spoken_ms: 20_000,
                ..
            }
        ));
        assert_eq!(holder(&f).as_deref(), Some("m2"));
    }

    #[test]
    fn the_chair_pauses_resumes_extends_and_shortens_a_turn() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(30_000);
        f.ok(&host, Command::PauseTurn);
        f.advance(60_000);
        assert_eq!(remaining(&f), 270_000);
        assert_eq!(
            f.refused(&host, Command::PauseTurn).code,
            ErrorCode::InvalidState
        );
        f.ok(&host, Command::ResumeTurn);
        f.ok(&host, Command::ExtendTurn { seconds: 60 });
        assert_eq!(remaining(&f), 330_000);
        f.ok(&host, Command::ShortenTurn { seconds: 290 });
        assert_eq!(remaining(&f), 40_000);
        let warned = f.advance(0);
        assert!(
            matches!(warned.events[..], [ref e] if matches!(e.body, EventBody::TurnWarned { .. })),
            "shortened below the warning: warned at once"
        );
        assert_eq!(
            f.refused(&m1, Command::ExtendTurn { seconds: 60 }).code,
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn shortening_all_cuts_every_waiting_slot() {
        let mut f = Fixture::new();
        let (m1, m2, m3, host) = (f.m1.clone(), f.m2.clone(), f.m3.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&m2, request(EntryKind::Scheduled));
        f.ok(&m3, request(EntryKind::Interjection));
        f.ok(&host, Command::ShortenAll { limit_s: 180 });
        let limits: Vec<_> = f.room.queue().iter().map(|e| e.limit_s).collect();
        assert_eq!(
            limits,
            [Some(60), Some(180), Some(180)],
            "the one-minute interjection keeps its minute"
        );
        f.ok(
            &host,
            Command::GrantFloor {
                entry: Some(EntryId(2)),
                reason: Some("预约发言".into()),
            },
        );
        assert_eq!(remaining(&f), 180_000);
    }

    #[test]
    fn a_dropped_speaker_gets_a_grace_window_and_keeps_the_turn_if_back_in_time() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(10_000);
        let now = f.now;
        f.room.leave(m1.id(), now);
        assert_eq!(
            f.room.floor_holder().unwrap().paused,
            Some(PauseReason::Dropped)
        );
        f.advance(20_000);
        let now = f.now;
        f.room.join(&m1.participant, now);
        assert_eq!(f.room.floor_holder().unwrap().paused, None);
        assert_eq!(remaining(&f), 290_000);
    }

    #[test]
    fn a_dropped_speaker_who_does_not_come_back_loses_the_turn_after_the_grace_window() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(10_000);
        let now = f.now;
        f.room.leave(m1.id(), now);
        assert!(f.advance(29_000).events.is_empty());
        let out = f.advance(1_000);
        assert!(
            matches!(out.events[..], [ref e] if matches!(e.body, EventBody::TurnEnded { reason: EndReason::Dropped, spoken_ms: 10_000, .. }))
        );
        assert_eq!(holder(&f), None);
    }

    #[test]
    fn with_chair_decides_a_dropped_turn_waits_for_the_chair() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        settings(
            &mut f,
            SettingsPatch {
                on_drop: Some(OnDrop::ChairDecides),
                ..Default::default()
            },
        );
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        let now = f.now;
        f.room.leave(m1.id(), now);
        f.advance(31_000);
        assert_eq!(
            f.room.floor_holder().unwrap().paused,
            Some(PauseReason::Host)
        );
        assert!(
            f.advance(600_000).events.is_empty(),
            "no clock runs until the chair acts"
        );
        f.ok(&host, Command::EndTurn);
        assert_eq!(holder(&f), None);
    }

    #[test]
    fn pausing_the_session_stops_the_speakers_clock() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.advance(10_000);
        f.ok(&host, Command::PauseSession);
        f.advance(600_000);
        f.ok(&host, Command::ResumeSession);
        assert_eq!(remaining(&f), 290_000);
    }

    #[test]
    fn only_the_speaker_or_a_host_ends_a_turn() {
        let mut f = Fixture::new();
        let (m1, m2, host) = (f.m1.clone(), f.m2.clone(), f.host.clone());
        assert_eq!(f.refused(&m1, Command::EndTurn).code, ErrorCode::NoFloor);
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        assert_eq!(f.refused(&m2, Command::EndTurn).code, ErrorCode::Forbidden);
        let out = f.ok(&m1, Command::EndTurn);
        assert!(matches!(
            out.events[0].body,
            EventBody::TurnEnded {
                reason: EndReason::Yielded,
                ..
            }
        ));
    }

    #[test]
    fn speaking_time_is_accounted_per_member_sector_and_venue_and_budgets_may_go_negative() {
        let mut f = Fixture::new();
        let (m1, m2, m3) = (f.m1.clone(), f.m2.clone(), f.m3.clone());
        settings(
            &mut f,
            SettingsPatch {
                sector_budget_s: Some(120),
                ..Default::default()
            },
        );
        speak(&mut f, &m1, 90_000);
        speak(&mut f, &m2, 60_000);
        speak(&mut f, &m3, 30_000);
        let t = f.room.speaking_time();
        let p: Vec<_> = t
            .participants
            .iter()
            .map(|s| (s.participant.0.as_str(), s.turns, s.spoken_ms))
            .collect();
        assert_eq!(p, [("m1", 1, 90_000), ("m2", 1, 60_000), ("m3", 1, 30_000)]);
        let s: Vec<_> = t
            .sectors
            .iter()
            .map(|g| (g.name.as_str(), g.spoken_ms, g.budget_left_ms))
            .collect();
        assert_eq!(
            s,
            [
                ("教育界", 30_000, Some(90_000)),
                ("经济界", 150_000, Some(-30_000))
            ]
        );
        let v: Vec<_> = t
            .venues
            .iter()
            .map(|g| (g.name.as_str(), g.turns, g.spoken_ms))
            .collect();
        assert_eq!(v, [("东区", 1, 60_000), ("主会场", 2, 120_000)]);
    }

    #[test]
    fn in_moderated_mode_only_the_floor_holder_and_hosts_may_be_heard() {
        let mut f = Fixture::new();
        let (m1, m2, host, observer) = (
            f.m1.clone(),
            f.m2.clone(),
            f.host.clone(),
            f.observer.clone(),
        );
        assert!(f.room.may_send_audio(host.id()));
        assert!(!f.room.may_send_audio(m1.id()));
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        assert!(f.room.may_send_audio(m1.id()));
        assert!(!f.room.may_send_audio(m2.id()));
        assert_eq!(f.room.heard(), [m1.id().clone(), host.id().clone()]);
        f.ok(
            &host,
            Command::SetFloorMode {
                mode: FloorMode::OpenDiscussion,
            },
        );
        assert!(f.room.may_send_audio(m2.id()));
        assert_eq!(f.room.heard()[..2], [m1.id().clone(), host.id().clone()]);
        assert!(f.room.heard().contains(m2.id()));
        assert!(
            !f.room.may_send_audio(observer.id()),
            "observers never publish"
        );
        assert!(!f.room.may_send_audio(&ParticipantId::new("stranger")));
    }

    #[test]
    fn each_agenda_item_has_its_own_speaking_list() {
        let mut f = Fixture::new();
        let (m1, m2, host) = (f.m1.clone(), f.m2.clone(), f.host.clone());
        f.ok(
            &host,
            Command::AddAgendaItem {
                title: "养老服务".into(),
                settings: SettingsPatch::default(),
            },
        );
        f.ok(
            &host,
            Command::AddAgendaItem {
                title: "交通治理".into(),
                settings: SettingsPatch::default(),
            },
        );
        f.ok(&host, Command::SetCurrentItem { item: ItemId(1) });
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, Command::SetCurrentItem { item: ItemId(2) });
        f.ok(&m2, request(EntryKind::Impromptu));
        assert_eq!(names(&f), ["m2"]);
        f.ok(&host, Command::SetCurrentItem { item: ItemId(1) });
        assert_eq!(names(&f), ["m1"]);
    }

    #[test]
    fn an_agenda_item_may_carry_its_own_limits() {
        let mut f = Fixture::new();
        let (m1, host) = (f.m1.clone(), f.host.clone());
        let limits = yishi_protocol::KindLimits {
            impromptu_s: 180,
            ..Default::default()
        };
        f.ok(
            &host,
            Command::AddAgendaItem {
                title: "即席发言".into(),
                settings: SettingsPatch {
                    limits: Some(limits),
                    ..Default::default()
                },
            },
        );
        f.ok(&host, Command::SetCurrentItem { item: ItemId(1) });
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        assert_eq!(remaining(&f), 180_000);
    }

    #[test]
    fn a_venue_names_who_will_speak_there() {
        let mut f = Fixture::new();
        let (v, host) = (f.venue.clone(), f.host.clone());
        f.ok(
            &v,
            Command::RequestFloor {
                kind: EntryKind::Impromptu,
                speaker: Some("赵六委员".into()),
                replying_to: None,
            },
        );
        f.ok(&host, grant_next());
        let turn = f.room.floor_holder().unwrap();
        assert_eq!(
            (turn.speaker.as_deref(), turn.venue.as_deref()),
            (Some("赵六委员"), Some("东区"))
        );
    }

    #[test]
    fn a_reply_follows_the_speech_it_answers_before_other_speeches() {
        let mut f = Fixture::new();
        let (m1, m2, r, host) = (
            f.m1.clone(),
            f.m2.clone(),
            f.respondent.clone(),
            f.host.clone(),
        );
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&m2, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        let answered = f.room.floor_holder().unwrap().id;
        f.ok(
            &r,
            Command::RequestFloor {
                kind: EntryKind::Reply,
                speaker: None,
                replying_to: Some(answered),
            },
        );
        f.ok(&m1, Command::EndTurn);
        f.ok(&host, grant_next());
        let turn = f.room.floor_holder().unwrap();
        assert_eq!(
            (turn.participant.0.as_str(), turn.replying_to),
            ("r1", Some(answered))
        );
        assert_eq!(turn.limit_ms, 180_000);
        let bogus = Command::RequestFloor {
            kind: EntryKind::Reply,
            speaker: None,
            replying_to: Some(TurnId(99)),
        };
        assert_eq!(f.refused(&r, bogus).code, ErrorCode::NotFound);
    }

    /// The speaking list as a client holds it: entries removed as they leave, new ones
    /// appended at the end, replaced whole by `queue_ordered`. No sorting.
    struct ClientQueue {
        item: ItemId,
        ids: Vec<EntryId>,
        reorders: usize,
    }

    impl ClientQueue {
        fn fold(&mut self, applied: &super::super::Applied) {
            for e in &applied.events {
                match &e.body {
                    EventBody::EntryAdded { entry, .. } if entry.item == self.item => {
                        self.ids.push(entry.id)
                    }
                    EventBody::EntryWithdrawn { entry }
                    | EventBody::EntryRemoved { entry, .. }
                    | EventBody::TurnStarted {
                        entry: Some(entry), ..
                    } => self.ids.retain(|id| id != entry),
                    EventBody::CurrentItemChanged { item } => {
                        self.item = *item;
                        self.ids.clear();
                    }
                    EventBody::QueueOrdered { item, queue } => {
                        self.item = *item;
                        self.ids = queue.iter().map(|e| e.id).collect();
                        self.reorders += 1;
                    }
                    _ => {}
                }
            }
        }

        fn new() -> ClientQueue {
            ClientQueue {
                item: ItemId(0),
                ids: Vec::new(),
                reorders: 0,
            }
        }

        /// Apply a command and check the client's list against the floor's.
        fn step(&mut self, f: &mut Fixture, who: &super::Actor, c: Command) {
            let out = f.ok(who, c);
            self.fold(&out);
            assert!(self.agrees(f), "{:?} vs {:?}", self.ids, names(f));
        }

        fn agrees(&self, f: &Fixture) -> bool {
            let ids: Vec<EntryId> = f.room.queue().iter().map(|e| e.id).collect();
            ids == self.ids
        }
    }

    #[test]
    fn a_client_that_never_sorts_holds_the_queue_in_grant_order_for_every_policy() {
        for policy in [
            OrderingPolicy::FirstCome,
            OrderingPolicy::FewestTurns,
            OrderingPolicy::LeastTime,
            OrderingPolicy::RotateSectors,
            OrderingPolicy::RotateVenues,
        ] {
            let mut f = Fixture::new();
            let (host, m1, m2, m3, v) = (
                f.host.clone(),
                f.m1.clone(),
                f.m2.clone(),
                f.m3.clone(),
                f.venue.clone(),
            );
            let mut client = ClientQueue::new();
            client.step(&mut f, &host, Command::SetOrdering { policy });
            // A first round: m1 and m2 (经济界) speak, the others wait.
            for m in [&m1, &m2, &m3, &v] {
                client.step(&mut f, m, request(EntryKind::Impromptu));
            }
            client.step(&mut f, &host, grant_next());
            f.advance(40_000);
            client.step(&mut f, &host, grant_next());
            f.advance(10_000);
            client.step(&mut f, &m2, Command::EndTurn);
            // Those who spoke ask again: the policy places them.
            client.step(&mut f, &m1, request(EntryKind::Impromptu));
            client.step(&mut f, &m2, request(EntryKind::Impromptu));
            // A point of order goes before everyone; a scheduled speech before impromptu.
            client.step(&mut f, &m3, request(EntryKind::PointOfOrder));
            client.step(
                &mut f,
                &host,
                Command::AddEntry {
                    participant: m1.id().clone(),
                    kind: EntryKind::Scheduled,
                    speaker: None,
                    position: None,
                    reason: "预约".into(),
                },
            );
            let last = *client.ids.last().unwrap();
            client.step(
                &mut f,
                &host,
                Command::MoveEntry {
                    entry: last,
                    position: 0,
                    reason: "调整".into(),
                },
            );
            client.step(&mut f, &host, Command::SetOrdering { policy });
            client.step(&mut f, &host, grant_next());
            client.step(&mut f, &host, Command::EndTurn);
            // Another agenda item, and back to this one with its list.
            client.step(
                &mut f,
                &host,
                Command::AddAgendaItem {
                    title: "第二项".into(),
                    settings: Default::default(),
                },
            );
            client.step(&mut f, &host, Command::SetCurrentItem { item: ItemId(1) });
            assert!(client.ids.is_empty());
            client.step(&mut f, &m3, request(EntryKind::Impromptu));
            client.step(&mut f, &host, Command::SetCurrentItem { item: ItemId(0) });
            assert!(!client.ids.is_empty(), "the list of item 0 comes back");
        }
    }

    #[test]
    fn the_queue_order_is_announced_only_when_appending_would_be_wrong() {
        let mut f = Fixture::new();
        let (host, m1, m2) = (f.host.clone(), f.m1.clone(), f.m2.clone());
        let reordered = |a: &super::super::Applied| {
            a.events
                .iter()
                .any(|e| matches!(e.body, EventBody::QueueOrdered { .. }))
        };
        assert!(!reordered(&f.ok(&m1, request(EntryKind::Impromptu))));
        assert!(!reordered(&f.ok(&m2, request(EntryKind::Impromptu))));
        assert!(!reordered(&f.ok(&host, grant_next())), "the first leaves");
        assert!(
            reordered(&f.ok(&m1, request(EntryKind::Interjection))),
            "an interjection goes before m2"
        );
        assert!(!reordered(&f.ok(
            &m1,
            Command::Withdraw {
                kind: EntryKind::Interjection
            }
        )));
    }

    #[test]
    fn a_turn_that_ends_under_a_fairness_policy_reorders_the_list() {
        let mut f = Fixture::new();
        let (host, m1, m2) = (f.host.clone(), f.m1.clone(), f.m2.clone());
        f.ok(
            &host,
            Command::SetOrdering {
                policy: OrderingPolicy::FewestTurns,
            },
        );
        let mut client = ClientQueue::new();
        for (who, c) in [
            (&m1, request(EntryKind::Impromptu)),
            (&host, grant_next()),
            (&m1, request(EntryKind::Impromptu)),
            (&m2, request(EntryKind::Impromptu)),
        ] {
            client.fold(&f.ok(who, c));
        }
        // m1 still holds the floor and has no turn counted yet: m1 waits before m2.
        assert_eq!(names(&f), ["m1", "m2"]);
        client.fold(&f.ok(&m1, Command::EndTurn));
        assert_eq!(names(&f), ["m2", "m1"], "m1 has spoken once now");
        assert!(client.agrees(&f));
        assert_eq!(client.reorders, 1);
    }
}
