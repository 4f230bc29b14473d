//! Session lifecycle (`scheduled → check_in → in_session ⇄ paused → closed`), the agenda
//! (议程) and settings, for the session and per agenda item.

use yishi_protocol::{
    AgendaItem, ErrorCode, Event, EventBody, Grant, ItemId, SessionState, Settings, SettingsPatch,
};

use super::{Actor, Cx, Rejection, Room, reject};

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

    pub(crate) fn open_check_in(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        let state = self.session.state;
        let next = transition(
            state,
            SessionState::CheckIn,
            state == SessionState::Scheduled,
        )?;
        self.emit(cx, EventBody::SessionChanged { state: next });
        Ok(())
    }

    pub(crate) fn start_session(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        let state = self.session.state;
        let next = transition(
            state,
            SessionState::InSession,
            matches!(state, SessionState::Scheduled | SessionState::CheckIn),
        )?;
        self.emit(cx, EventBody::SessionChanged { state: next });
        Ok(())
    }

    /// Pausing the session pauses the speaker's clock.
    pub(crate) fn pause_session(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        let state = self.session.state;
        let next = transition(
            state,
            SessionState::Paused,
            state == SessionState::InSession,
        )?;
        self.pause_turn_for_session(cx);
        self.emit(cx, EventBody::SessionChanged { state: next });
        Ok(())
    }

    /// Resuming the session resumes a turn the pause stopped.
    pub(crate) fn resume_session(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        let state = self.session.state;
        let next = transition(
            state,
            SessionState::InSession,
            state == SessionState::Paused,
        )?;
        self.emit(cx, EventBody::SessionChanged { state: next });
        self.resume_turn_for_session(cx);
        Ok(())
    }

    /// Closing ends every turn, closes open polls and ends the livestream, then seals the
    /// record.
    pub(crate) fn close_session(&mut self, cx: &mut Cx, actor: &Actor) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        self.end_all_turns(cx, yishi_protocol::EndReason::SessionClosed);
        self.close_open_polls(cx);
        self.end_livestream_for_close(cx);
        self.emit(
            cx,
            EventBody::SessionChanged {
                state: SessionState::Closed,
            },
        );
        Ok(())
    }

    pub(crate) fn add_agenda_item(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        title: &str,
        settings: &SettingsPatch,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
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
        Ok(())
    }

    /// Move to another agenda item (`ItemId(0)`: the general speaking list), not while
    /// someone has the floor.
    pub(crate) fn set_current_item(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        item: ItemId,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        if item != ItemId(0) && !self.session.agenda.iter().any(|i| i.id == item) {
            return reject(ErrorCode::NotFound, format!("no agenda item {}", item.0));
        }
        if item == self.session.current {
            return Ok(());
        }
        if self.floor.current.is_some() {
            return reject(
                ErrorCode::InvalidState,
                "end the current turn before moving to another agenda item",
            );
        }
        self.emit(cx, EventBody::CurrentItemChanged { item });
        Ok(())
    }

    /// Patch the session's settings (`item: None`) or an agenda item's.
    pub(crate) fn update_settings(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        item: Option<ItemId>,
        patch: &SettingsPatch,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManageSession)?;
        if let Some(item) = item
            && !self.session.agenda.iter().any(|i| i.id == item)
        {
            return reject(ErrorCode::NotFound, format!("no agenda item {}", item.0));
        }
        validate_patch(patch)?;
        self.emit(
            cx,
            EventBody::SettingsUpdated {
                item,
                patch: patch.clone(),
            },
        );
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

/// `target` if the session may go there from `state` (`allowed`), `invalid_state`
/// otherwise.
fn transition(
    state: SessionState,
    target: SessionState,
    allowed: bool,
) -> Result<SessionState, Rejection> {
    if allowed {
        Ok(target)
    } else {
        reject(
            ErrorCode::InvalidState,
            format!("cannot go from {state:?} to {target:?}"),
        )
    }
}

/// Limits must leave room for a turn: at least 10 seconds, at most a day.
fn validate_patch(patch: &SettingsPatch) -> Result<(), Rejection> {
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
fn merge_patch(into: &mut SettingsPatch, patch: &SettingsPatch) {
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
