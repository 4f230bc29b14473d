//! Attendance: who is known to the room, who is present, check-in (签到) and venue head
//! counts. The audience is counted by the hub, never recorded here.

use std::collections::BTreeMap;

use yishi_protocol::{
    Command, ErrorCode, Event, EventBody, Grant, Millis, Participant, ParticipantId, Role,
    SessionState,
};

use super::{Cx, Grants, Rejection, Room, reject};

/// One person known to the room.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attendee {
    pub participant: Participant,
    pub grants: Grants,
    pub present: bool,
    /// Start of the current presence, while present.
    pub since: Millis,
    /// Presence accumulated over earlier stretches.
    pub present_ms: u64,
    pub first_joined_at: Millis,
    pub checked_in_at: Option<Millis>,
    pub head_count: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Roster {
    pub people: BTreeMap<ParticipantId, Attendee>,
}

impl Roster {
    pub fn get(&self, id: &ParticipantId) -> Option<&Attendee> {
        self.people.get(id)
    }

    pub fn is_present(&self, id: &ParticipantId) -> bool {
        self.people.get(id).is_some_and(|a| a.present)
    }

    /// Those present now who hold `grant`, in id order.
    pub fn present_with(&self, grant: Grant) -> impl Iterator<Item = &ParticipantId> {
        self.people
            .values()
            .filter(move |a| a.present && a.grants.has(grant))
            .map(|a| &a.participant.id)
    }

    /// How many known to the room hold `grant`, present or not.
    pub fn known_with(&self, grant: Grant) -> u32 {
        self.people.values().filter(|a| a.grants.has(grant)).count() as u32
    }
}

impl Room {
    /// Everyone the record shows present (not the audience, which is not recorded).
    pub fn present(&self) -> Vec<ParticipantId> {
        self.roster
            .people
            .values()
            .filter(|a| a.present)
            .map(|a| a.participant.id.clone())
            .collect()
    }

    pub(crate) fn attendance_join(&mut self, cx: &mut Cx, participant: &Participant) {
        if participant.role == Role::Audience || self.session.is_closed() {
            return;
        }
        match self.roster.get(&participant.id) {
            Some(a) if a.present => return,
            _ => {}
        }
        self.emit(
            cx,
            EventBody::Joined {
                participant: participant.clone(),
            },
        );
        self.speaker_returned(cx, &participant.id);
    }

    pub(crate) fn attendance_leave(&mut self, cx: &mut Cx, participant: &ParticipantId) {
        if !self.roster.is_present(participant) || self.session.is_closed() {
            return;
        }
        self.emit(
            cx,
            EventBody::Left {
                participant: participant.clone(),
            },
        );
        self.speaker_dropped(cx, participant);
    }

    pub(crate) fn attendance_command(
        &mut self,
        cx: &mut Cx,
        command: &Command,
    ) -> Result<(), Rejection> {
        let actor = cx
            .actor
            .ok_or_else(|| Rejection::new(ErrorCode::Internal, "no actor"))?;
        let Command::CheckIn { head_count } = command else {
            return reject(ErrorCode::Internal, "not an attendance command");
        };
        actor.require(Grant::Join)?;
        if !matches!(
            self.session.state,
            SessionState::CheckIn | SessionState::InSession | SessionState::Paused
        ) {
            return reject(ErrorCode::InvalidState, "check-in is not open");
        }
        let Some(me) = self.roster.get(actor.id()) else {
            return reject(
                ErrorCode::Forbidden,
                "check-in is for members, venues and guests",
            );
        };
        if head_count.is_some() && me.participant.role != Role::Venue {
            return reject(
                ErrorCode::InvalidArgument,
                "only a venue gives a head count",
            );
        }
        if head_count.is_some_and(|n| n > 100_000) {
            return reject(ErrorCode::InvalidArgument, "head count out of range");
        }
        if me.checked_in_at.is_some() && *head_count == me.head_count {
            return Ok(());
        }
        self.emit(
            cx,
            EventBody::CheckedIn {
                participant: actor.id().clone(),
                head_count: *head_count,
            },
        );
        Ok(())
    }

    pub(crate) fn fold_attendance(&mut self, event: &Event) {
        let at = event.at;
        match &event.body {
            EventBody::Joined { participant } => {
                let entry = self
                    .roster
                    .people
                    .entry(participant.id.clone())
                    .or_insert_with(|| Attendee {
                        participant: participant.clone(),
                        grants: Grants::of(&participant.grants),
                        present: false,
                        since: at,
                        present_ms: 0,
                        first_joined_at: at,
                        checked_in_at: None,
                        head_count: None,
                    });
                // A token may carry new details (name, grants) on a later join.
                entry.grants = Grants::of(&participant.grants);
                entry.participant = participant.clone();
                entry.present = true;
                entry.since = at;
            }
            EventBody::Left { participant } => {
                if let Some(a) = self.roster.people.get_mut(participant) {
                    if a.present {
                        a.present_ms += at.since(a.since);
                    }
                    a.present = false;
                }
            }
            EventBody::CheckedIn {
                participant,
                head_count,
            } => {
                if let Some(a) = self.roster.people.get_mut(participant) {
                    a.checked_in_at.get_or_insert(at);
                    if head_count.is_some() {
                        a.head_count = *head_count;
                    }
                }
            }
            _ => {}
        }
    }

    /// Attendance as of the last event, in id order.
    pub(crate) fn attendance_snapshot(&self) -> Vec<yishi_protocol::Attendance> {
        self.roster
            .people
            .values()
            .map(|a| yishi_protocol::Attendance {
                participant: a.participant.id.clone(),
                name: a.participant.name.clone(),
                role: a.participant.role,
                sector: a.participant.sector.clone(),
                venue: a.participant.venue.clone(),
                present: a.present,
                checked_in_at: a.checked_in_at,
                head_count: a.head_count,
                first_joined_at: a.first_joined_at,
                present_ms: (a.present_ms
                    + if a.present {
                        self.last_at().since(a.since)
                    } else {
                        0
                    })
                .min(u64::from(u32::MAX)) as u32,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use yishi_protocol::{Command, ErrorCode, EventBody, View};

    use super::super::tests::Fixture;

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
}
