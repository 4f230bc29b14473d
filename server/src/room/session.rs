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
                self.end_livestream_for_close(cx);
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

#[cfg(test)]
mod tests {
    use yishi_protocol::{
        Command, EntryKind, ErrorCode, EventBody, ItemId, SessionState, SettingsPatch,
    };

    use super::super::tests::Fixture;

    #[test]
    fn a_session_goes_from_scheduled_through_check_in_to_session_pause_and_close() {
        let mut f = Fixture::new();
        let host = f.host.clone();
        // The fixture starts in session; a fresh room starts scheduled.
        let mut room = super::Room::new("新会议");
        assert_eq!(room.session_state(), SessionState::Scheduled);
        for (command, state) in [
            (Command::OpenCheckIn, SessionState::CheckIn),
            (Command::StartSession, SessionState::InSession),
            (Command::PauseSession, SessionState::Paused),
            (Command::ResumeSession, SessionState::InSession),
            (Command::CloseSession, SessionState::Closed),
        ] {
            let req = yishi_protocol::RequestId("r".into());
            room.apply(&host, &req, &command, f.now).unwrap();
            assert_eq!(room.session_state(), state);
        }
        assert_eq!(
            f.refused(&host, Command::OpenCheckIn).code,
            ErrorCode::InvalidState
        );
        assert_eq!(
            f.refused(&host, Command::ResumeSession).code,
            ErrorCode::InvalidState
        );
    }

    #[test]
    fn a_closed_session_is_read_only() {
        let mut f = Fixture::new();
        let (host, m1) = (f.host.clone(), f.m1.clone());
        f.ok(
            &m1,
            Command::RequestFloor {
                kind: EntryKind::Impromptu,
                speaker: None,
                replying_to: None,
            },
        );
        f.ok(
            &host,
            Command::GrantFloor {
                entry: None,
                reason: None,
            },
        );
        f.advance(30_000);
        let out = f.ok(&host, Command::CloseSession);
        assert!(matches!(
            out.events[0].body,
            EventBody::TurnEnded {
                reason: yishi_protocol::EndReason::SessionClosed,
                ..
            }
        ));
        assert!(matches!(
            out.events.last().unwrap().body,
            EventBody::SessionChanged {
                state: SessionState::Closed
            }
        ));
        for command in [
            Command::SendChat {
                text: "还在吗".into(),
            },
            Command::RequestFloor {
                kind: EntryKind::Impromptu,
                speaker: None,
                replying_to: None,
            },
            Command::StartSession,
            Command::CloseSession,
        ] {
            assert_eq!(f.refused(&m1, command.clone()).code, ErrorCode::RoomClosed);
            assert_eq!(f.refused(&host, command).code, ErrorCode::RoomClosed);
        }
        assert_eq!(
            f.room.next_deadline(),
            None,
            "no clock runs in a closed room"
        );
    }

    #[test]
    fn only_hosts_run_the_session() {
        let mut f = Fixture::new();
        let (m1, recorder) = (f.m1.clone(), f.recorder.clone());
        assert_eq!(
            f.refused(&m1, Command::PauseSession).code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            f.refused(&recorder, Command::CloseSession).code,
            ErrorCode::Forbidden
        );
        let add = Command::AddAgendaItem {
            title: "议题".into(),
            settings: SettingsPatch::default(),
        };
        assert_eq!(f.refused(&m1, add).code, ErrorCode::Forbidden);
    }

    #[test]
    fn agenda_items_are_numbered_in_order_and_one_is_current() {
        let mut f = Fixture::new();
        let host = f.host.clone();
        for title in ["开幕", "专题协商", "总结"] {
            f.ok(
                &host,
                Command::AddAgendaItem {
                    title: title.into(),
                    settings: SettingsPatch::default(),
                },
            );
        }
        f.ok(&host, Command::SetCurrentItem { item: ItemId(2) });
        let snap = f.room.snapshot(yishi_protocol::View::Member, f.m1.id());
        let titles: Vec<_> = snap
            .agenda
            .iter()
            .map(|i| (i.id.0, i.title.as_str()))
            .collect();
        assert_eq!(titles, [(1, "开幕"), (2, "专题协商"), (3, "总结")]);
        assert_eq!(snap.current_item, ItemId(2));
        assert_eq!(
            f.refused(&host, Command::SetCurrentItem { item: ItemId(9) })
                .code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn the_agenda_does_not_move_on_while_someone_has_the_floor() {
        let mut f = Fixture::new();
        let (host, m1) = (f.host.clone(), f.m1.clone());
        f.ok(
            &host,
            Command::AddAgendaItem {
                title: "议题".into(),
                settings: SettingsPatch::default(),
            },
        );
        f.ok(
            &m1,
            Command::RequestFloor {
                kind: EntryKind::Impromptu,
                speaker: None,
                replying_to: None,
            },
        );
        f.ok(
            &host,
            Command::GrantFloor {
                entry: None,
                reason: None,
            },
        );
        assert_eq!(
            f.refused(&host, Command::SetCurrentItem { item: ItemId(1) })
                .code,
            ErrorCode::InvalidState
        );
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let mut f = Fixture::new();
        let host = f.host.clone();
        let limits = yishi_protocol::KindLimits {
            impromptu_s: 5,
            ..Default::default()
        };
        let patch = SettingsPatch {
            limits: Some(limits),
            ..Default::default()
        };
        assert_eq!(
            f.refused(&host, Command::UpdateSettings { item: None, patch })
                .code,
            ErrorCode::InvalidArgument
        );
        let patch = SettingsPatch {
            warning_s: Some(100_000),
            ..Default::default()
        };
        assert_eq!(
            f.refused(&host, Command::UpdateSettings { item: None, patch })
                .code,
            ErrorCode::InvalidArgument
        );
    }
}
