//! Attendance: who is known to the room, who is present, check-in (签到) and venue head
//! counts. The audience is counted by the hub, never recorded here.

use std::collections::BTreeMap;

use yishi_protocol::{
    ErrorCode, Event, EventBody, Grant, Millis, Participant, ParticipantId, Role, SessionState,
};

use super::{Actor, Cx, Grants, Rejection, Room, reject};

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

    /// A participant arrived (the hub's report, no command): recorded without an actor.
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

    /// A participant left (the hub's report, no command): recorded without an actor.
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

    /// Check in (签到), with the number of people present for a venue.
    pub(crate) fn check_in(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        head_count: Option<u32>,
    ) -> Result<(), Rejection> {
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
        if me.checked_in_at.is_some() && head_count == me.head_count {
            return Ok(());
        }
        self.emit(
            cx,
            EventBody::CheckedIn {
                participant: actor.id().clone(),
                head_count,
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
