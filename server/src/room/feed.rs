//! The live text feed (图文直播): the recent public events a late viewer needs to read
//! the session so far (who spoke, warnings, votes and their results, approved comments
//! and questions). The room keeps the last [`FEED_LEN`] of them as it folds, so a
//! replayed room keeps the same feed; the snapshot hands them out as each view may see
//! them.

use yishi_protocol::{Event, EventBody, ItemStatus, View};

use super::Room;

/// How many feed events the room keeps (and a snapshot carries at most).
pub(crate) const FEED_LEN: usize = 50;

/// Whether an event is a line of the live text feed.
fn tells(body: &EventBody) -> bool {
    use EventBody::*;
    match body {
        SessionChanged { .. }
        | CurrentItemChanged { .. }
        | TurnStarted { .. }
        | TurnWarned { .. }
        | TurnOverran { .. }
        | TurnEnded { .. }
        | PollOpened { .. }
        | PollClosed { .. }
        | PollPublished { .. }
        | CommentApproved { .. }
        | QuestionApproved { .. }
        | QuestionAnswered { .. } => true,
        // Published at once (auto moderation).
        CommentPosted { comment } => comment.status == ItemStatus::Approved,
        QuestionAsked { question } => question.status == ItemStatus::Approved,
        _ => false,
    }
}

impl Room {
    /// Keep `event` if the feed tells it (called from the fold).
    pub(crate) fn keep_for_feed(&mut self, event: &Event) {
        if !tells(&event.body) {
            return;
        }
        if self.feed.len() >= FEED_LEN {
            self.feed.pop_front();
        }
        self.feed.push_back(event.clone());
    }

    /// The feed as `view` may see it: each event through the view's rules.
    pub(crate) fn feed_for(&self, view: View) -> Vec<Event> {
        self.feed
            .iter()
            .filter_map(|e| self.event_for(e, view).map(|e| e.into_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use yishi_protocol::{
        Base, Command, Decision, EntryKind, EventBody, Majority, MajorityRule, ParticipantId,
        PollMethod, PollSpec, ResultsVisibility, View,
    };

    use super::super::tests::Fixture;
    use super::FEED_LEN;

    fn spec() -> PollSpec {
        PollSpec {
            question: "是否同意?".into(),
            method: PollMethod::YesNoAbstain,
            binding: true,
            advisory: false,
            secret: false,
            visibility: ResultsVisibility::HostsUntilPublished,
            allow_change: false,
            deadline_s: None,
            quorum: None,
            majority: Majority {
                rule: MajorityRule::Simple,
                of: Base::Cast,
            },
        }
    }

    fn types(events: &[yishi_protocol::Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                serde_json::to_value(&e.body).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_late_viewer_reads_the_session_so_far_in_the_snapshot() {
        let mut f = Fixture::new();
        let (host, m1, audience) = (f.host.clone(), f.m1.clone(), f.audience.clone());
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
        f.ok(&m1, Command::EndTurn);
        f.ok(
            &audience,
            Command::PostComment {
                text: "说得好".into(),
            },
        );
        f.ok(
            &m1,
            Command::SendChat {
                text: "委员之间".into(),
            },
        );
        let snap = f.room.snapshot(View::Audience, &ParticipantId::new("late"));
        assert_eq!(
            types(&snap.feed),
            ["session_changed", "turn_started", "turn_ended"],
            "chat and the pending comment are not in the audience's feed"
        );
        let comment = f.room.talk_snapshot(View::Host, host.id()).comments[0].id;
        f.ok(
            &host,
            Command::ModerateComment {
                comment,
                decision: Decision::Approve,
            },
        );
        let snap = f.room.snapshot(View::Audience, &ParticipantId::new("late"));
        assert_eq!(types(&snap.feed).last().unwrap(), "comment_approved");
    }

    #[test]
    fn the_feed_shows_a_result_only_to_views_that_may_see_it() {
        let mut f = Fixture::new();
        let host = f.host.clone();
        f.ok(&host, Command::CreatePoll { spec: spec() });
        let poll = yishi_protocol::PollId(1);
        f.ok(&host, Command::OpenPoll { poll });
        f.ok(&host, Command::ClosePoll { poll });
        let result = |view| {
            let snap = f.room.snapshot(view, &ParticipantId::new("late"));
            snap.feed.iter().find_map(|e| match &e.body {
                EventBody::PollClosed { result, .. } => Some(result.is_some()),
                _ => None,
            })
        };
        assert_eq!(result(View::Host), Some(true));
        assert_eq!(result(View::Member), Some(false), "hosts until published");
        assert!(
            f.room
                .snapshot(View::Audience, &ParticipantId::new("late"))
                .feed
                .iter()
                .all(|e| !matches!(e.body, EventBody::PollCreated { .. })),
            "drafts are not in the feed"
        );
    }

    #[test]
    fn the_feed_keeps_the_latest_events_in_order() {
        let mut f = Fixture::new();
        let (host, m1) = (f.host.clone(), f.m1.clone());
        for _ in 0..FEED_LEN {
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
            f.ok(&m1, Command::EndTurn);
        }
        let snap = f.room.snapshot(View::Member, m1.id());
        assert_eq!(snap.feed.len(), FEED_LEN);
        assert_eq!(types(&snap.feed).last().unwrap(), "turn_ended");
        assert!(snap.feed.windows(2).all(|w| w[0].seq < w[1].seq));
    }
}
