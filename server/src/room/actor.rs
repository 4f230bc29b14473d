//! Who is acting: a participant and the grants their token gave them.

use yishi_protocol::{Grant, Participant, ParticipantId, View};

/// A set of [`Grant`]s, as bits: checking a grant is one AND on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grants(u16);

impl Grants {
    pub fn of(grants: &[Grant]) -> Grants {
        Grants(grants.iter().fold(0, |bits, g| bits | 1 << (*g as u16)))
    }

    pub fn has(self, grant: Grant) -> bool {
        self.0 & (1 << (grant as u16)) != 0
    }
}

/// The sender of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub participant: Participant,
    pub grants: Grants,
}

impl Actor {
    pub fn new(participant: Participant) -> Actor {
        let grants = Grants::of(&participant.grants);
        Actor {
            participant,
            grants,
        }
    }

    pub fn id(&self) -> &ParticipantId {
        &self.participant.id
    }

    pub fn name(&self) -> &str {
        &self.participant.name
    }

    pub fn view(&self) -> View {
        self.participant.role.view()
    }

    pub fn can(&self, grant: Grant) -> bool {
        self.grants.has(grant)
    }

    /// `Ok` if the actor holds `grant`, a `forbidden` rejection otherwise.
    pub(crate) fn require(&self, grant: Grant) -> Result<(), super::Rejection> {
        if self.can(grant) {
            Ok(())
        } else {
            super::reject(
                yishi_protocol::ErrorCode::Forbidden,
                format!("this needs the `{}` grant", grant_name(grant)),
            )
        }
    }
}

fn grant_name(grant: Grant) -> &'static str {
    match grant {
        Grant::Join => "join",
        Grant::PublishMedia => "publish_media",
        Grant::RequestFloor => "request_floor",
        Grant::VoteBinding => "vote_binding",
        Grant::VoteAdvisory => "vote_advisory",
        Grant::Chat => "chat",
        Grant::Comment => "comment",
        Grant::Ask => "ask",
        Grant::Moderate => "moderate",
        Grant::ManageFloor => "manage_floor",
        Grant::ManagePolls => "manage_polls",
        Grant::ManageSession => "manage_session",
        Grant::SeePending => "see_pending",
        Grant::Annotate => "annotate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yishi_protocol::Role;

    #[test]
    fn a_role_is_a_preset_of_grants() {
        let member = Actor::new(Participant::new("m", "委员", Role::Member));
        assert!(member.can(Grant::VoteBinding));
        assert!(!member.can(Grant::ManageFloor));
        let audience = Actor::new(Participant::new("a", "网民", Role::Audience));
        assert!(audience.can(Grant::VoteAdvisory) && !audience.can(Grant::VoteBinding));
        let host = Actor::new(Participant::new("h", "主持人", Role::Host));
        assert!(host.can(Grant::ManageFloor) && host.can(Grant::ManagePolls));
        assert!(
            !host.can(Grant::VoteBinding),
            "the chair does not vote unless granted"
        );
    }
}
