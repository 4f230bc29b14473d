//! The speaking queue, the floor, its clocks and speaking-time accounting.

use yishi_protocol::{
    Command, EndReason, EntryId, EntryKind, ErrorCode, EventBody, FloorMode, ItemId, OnDrop,
    OrderingPolicy, Overrun, ParticipantId, PauseReason, SettingsPatch, TurnId,
};

use super::{Fixture, grant_next, request};

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
fn speak(f: &mut Fixture, who: &crate::room::Actor, ms: u64) {
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
    assert!(matches!(warned.events[..], [ref e] if matches!(e.body, EventBody::TurnWarned { .. })));
    assert_eq!(remaining(&f), 60_000);
    let bell = f.advance(60_000);
    assert!(matches!(bell.events[..], [ref e] if matches!(e.body, EventBody::TurnOverran { .. })));
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
    fn fold(&mut self, applied: &crate::room::Applied) {
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
    fn step(&mut self, f: &mut Fixture, who: &crate::room::Actor, c: Command) {
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
    let reordered = |a: &crate::room::Applied| {
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
