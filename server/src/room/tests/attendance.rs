//! Attendance: joins, leaves, check-in and venue head counts.

use yishi_protocol::{Command, ErrorCode, EventBody, View};

use super::Fixture;

#[test]
fn members_check_in_and_a_venue_counts_its_people() {
    let mut f = Fixture::new();
    let (m1, venue) = (f.m1.clone(), f.venue.clone());
    f.ok(&m1, Command::CheckIn { head_count: None });
    f.ok(
        &venue,
        Command::CheckIn {
            head_count: Some(37),
        },
    );
    let rows = f.room.attendance_snapshot();
    let m1_row = rows.iter().find(|a| a.participant == *m1.id()).unwrap();
    assert_eq!(m1_row.checked_in_at, Some(f.now));
    let venue_row = rows.iter().find(|a| a.participant == *venue.id()).unwrap();
    assert_eq!(venue_row.head_count, Some(37));
    assert_eq!(
        f.refused(
            &m1,
            Command::CheckIn {
                head_count: Some(3)
            }
        )
        .code,
        ErrorCode::InvalidArgument
    );
    assert!(
        f.ok(&m1, Command::CheckIn { head_count: None })
            .events
            .is_empty(),
        "checking in twice changes nothing"
    );
}

#[test]
fn presence_is_kept_from_join_and_leave_times() {
    let mut f = Fixture::new();
    let m1 = f.m1.clone();
    f.advance(60_000);
    let now = f.now;
    f.room.leave(m1.id(), now);
    f.advance(600_000);
    let now = f.now;
    f.room.join(&m1.participant, now);
    f.advance(30_000);
    f.room.leave(m1.id(), f.now);
    let row = f
        .room
        .attendance_snapshot()
        .into_iter()
        .find(|a| a.participant == *m1.id())
        .unwrap();
    assert!(!row.present);
    assert_eq!(row.present_ms, 90_000);
}

#[test]
fn the_audience_is_counted_not_recorded_and_never_sees_attendance() {
    let mut f = Fixture::new();
    let audience = f.audience.clone();
    assert!(f.room.roster.get(audience.id()).is_none());
    assert_eq!(
        f.refused(&audience, Command::CheckIn { head_count: None })
            .code,
        ErrorCode::Forbidden
    );
    let joined = f.room.join(
        &yishi_protocol::Participant::new("m9", "新委员", yishi_protocol::Role::Member),
        f.now,
    );
    let event = &joined.events[0];
    assert!(matches!(event.body, EventBody::Joined { .. }));
    assert!(f.room.event_for(event, View::Audience).is_none());
    assert!(f.room.event_for(event, View::Member).is_some());
    assert!(
        f.room
            .snapshot(View::Audience, audience.id())
            .attendance
            .is_empty()
    );
}

#[test]
fn a_second_connection_of_someone_present_records_nothing() {
    let mut f = Fixture::new();
    let m1 = f.m1.clone();
    assert!(f.room.join(&m1.participant, f.now).events.is_empty());
}
