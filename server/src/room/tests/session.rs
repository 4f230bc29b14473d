//! The session's lifecycle, the agenda and its settings.

use yishi_protocol::{
    Command, EntryKind, ErrorCode, EventBody, ItemId, SessionState, SettingsPatch,
};

use super::{Fixture, grant_next, request};

#[test]
fn a_session_goes_from_scheduled_through_check_in_to_session_pause_and_close() {
    let mut f = Fixture::new();
    let host = f.host.clone();
    // The fixture starts in session; a fresh room starts scheduled.
    let mut room = crate::room::Room::new("新会议");
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
    f.ok(&m1, request(EntryKind::Impromptu));
    f.ok(&host, grant_next());
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
        request(EntryKind::Impromptu),
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
    f.ok(&m1, request(EntryKind::Impromptu));
    f.ok(&host, grant_next());
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
