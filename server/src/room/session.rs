//! Session lifecycle (`scheduled → check_in → in_session ⇄ paused → closed`), the agenda
//! (议程) and settings, for the session and per agenda item.

use yishi_protocol::{
    AgendaItem, Command, ErrorCode, Event, EventBody, Grant, ItemId, SessionState, Settings,
};

use super::{Cx, Rejection, Room, reject};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pub title: String,
    pub state: SessionState,
    pub agenda: Vec<AgendaItem>,
    /// `ItemId(0)` is the general speaking list, before or outside agenda items.
    pub current: ItemId,
    /// The session's own settings; an item's settings patch these.
    pub settings: Settings,
}

impl Session {
    pub fn new(title: String) -> Session {
        Session {
            title,
            state: SessionState::Scheduled,
            agenda: Vec::new(),
            current: ItemId(0),
            settings: Settings::default(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// The settings in force for `item`.
    pub fn settings_for(&self, item: ItemId) -> Settings {
        match self.agenda.iter().find(|i| i.id == item) {
            Some(item) => self.settings.patched(&item.settings),
            None => self.settings.clone(),
        }
    }
}

impl Room {
    /// The settings in force now (for the current agenda item).
    pub fn current_settings(&self) -> Settings {
        self.session.settings_for(self.session.current)
    }

    pub fn session_state(&self) -> SessionState {
        self.session.state
    }

    pub(crate) fn session_command(
        &mut self,
        cx: &mut Cx,
        command: &Command,
    ) -> Result<(), Rejection> {
        let actor = cx
            .actor
            .ok_or_else(|| Rejection::new(ErrorCode::Internal, "no actor"))?;
        actor.require(Grant::ManageSession)?;
        use SessionState::*;
        let state = self.session.state;
        let to = |target: SessionState, allowed: bool| -> Result<SessionState, Rejection> {
            if allowed {
                Ok(target)
            } else {
                reject(
                    ErrorCode::InvalidState,
                    format!("cannot go from {state:?} to {target:?}"),
                )
            }
        };
        match command {
            Command::OpenCheckIn => {
                let next = to(CheckIn, state == Scheduled)?;
                self.emit(cx, EventBody::SessionChanged { state: next });
            }
            Command::StartSession => {
                let next = to(InSession, matches!(state, Scheduled | CheckIn))?;
                self.emit(cx, EventBody::SessionChanged { state: next });
            }
            Command::PauseSession => {
                let next = to(Paused, state == InSession)?;
                self.pause_turn_for_session(cx);
                self.emit(cx, EventBody::SessionChanged { state: next });
            }
            Command::ResumeSession => {
                let next = to(InSession, state == Paused)?;
                self.emit(cx, EventBody::SessionChanged { state: next });
                self.resume_turn_for_session(cx);
            }
            Command::CloseSession => {
                self.end_all_turns(cx, yishi_protocol::EndReason::SessionClosed);
                self.close_open_polls(cx);
                self.emit(cx, EventBody::SessionChanged { state: Closed });
            }
            Command::AddAgendaItem { title, settings } => {
                let title = super::text::clean(title)?;
                let id = ItemId(self.session.agenda.len() as u32 + 1);
                self.emit(
                    cx,
                    EventBody::AgendaItemAdded {
                        item: AgendaItem {
                            id,
                            title,
                            settings: settings.clone(),
                        },
                    },
                );
            }
            Command::SetCurrentItem { item } => {
                if *item != ItemId(0) && !self.session.agenda.iter().any(|i| i.id == *item) {
                    return reject(ErrorCode::NotFound, format!("no agenda item {}", item.0));
                }
                if *item == self.session.current {
                    return Ok(());
                }
                if self.floor.current.is_some() {
                    return reject(
                        ErrorCode::InvalidState,
                        "end the current turn before moving to another agenda item",
                    );
                }
                self.emit(cx, EventBody::CurrentItemChanged { item: *item });
            }
            Command::UpdateSettings { item, patch } => {
                if let Some(item) = item
                    && !self.session.agenda.iter().any(|i| i.id == *item)
                {
                    return reject(ErrorCode::NotFound, format!("no agenda item {}", item.0));
                }
                validate_patch(patch)?;
                self.emit(
                    cx,
                    EventBody::SettingsUpdated {
                        item: *item,
                        patch: patch.clone(),
                    },
                );
            }
            _ => return reject(ErrorCode::Internal, "not a session command"),
        }
        Ok(())
    }

    pub(crate) fn fold_session(&mut self, event: &Event) {
        match &event.body {
            EventBody::SessionChanged { state } => self.session.state = *state,
            EventBody::AgendaItemAdded { item } => self.session.agenda.push(item.clone()),
            EventBody::CurrentItemChanged { item } => self.session.current = *item,
            EventBody::SettingsUpdated { item: None, patch } => {
                self.session.settings = self.session.settings.patched(patch);
            }
            EventBody::SettingsUpdated {
                item: Some(id),
                patch,
            } => {
                if let Some(item) = self.session.agenda.iter_mut().find(|i| i.id == *id) {
                    merge_patch(&mut item.settings, patch);
                }
            }
            _ => {}
        }
    }
}

/// Limits must leave room for a turn: at least 10 seconds, at most a day.
fn validate_patch(patch: &yishi_protocol::SettingsPatch) -> Result<(), Rejection> {
    if let Some(limits) = &patch.limits {
        for kind in yishi_protocol::EntryKind::ALL {
            let s = limits.get(kind);
            if !(10..=86_400).contains(&s) {
                return reject(
                    ErrorCode::InvalidArgument,
                    format!("the limit for {kind:?} must be between 10 s and 24 h, not {s} s"),
                );
            }
        }
    }
    for (name, value) in [
        ("warning_s", patch.warning_s),
        ("grace_s", patch.grace_s),
        ("drop_grace_s", patch.drop_grace_s),
        ("sector_budget_s", patch.sector_budget_s),
    ] {
        if value.is_some_and(|v| v > 86_400) {
            return reject(
                ErrorCode::InvalidArgument,
                format!("{name} must be at most 24 h"),
            );
        }
    }
    Ok(())
}

/// Fold `patch` into an item's own patch: later fields win.
fn merge_patch(into: &mut yishi_protocol::SettingsPatch, patch: &yishi_protocol::SettingsPatch) {
    macro_rules! take {
        ($($f:ident),*) => { $( if patch.$f.is_some() { into.$f = patch.$f; } )* };
    }
    take!(
        limits,
        warning_s,
        overrun,
        grace_s,
        drop_grace_s,
        on_drop,
        ordering,
        sector_budget_s,
        moderation,
        roll_size
    );
}
