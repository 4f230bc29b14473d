//! The live text feed (图文直播): what it keeps and shows.

use yishi_protocol::{
    Command, Decision, EntryKind, EventBody, ParticipantId, PollMethod, PollSpec,
    ResultsVisibility, View,
};

use super::{Fixture, grant_next, poll_spec, request};
use crate::room::feed::FEED_LEN;

/// A yes/no/abstain poll whose result only hosts see until it is published.
fn spec() -> PollSpec {
    PollSpec {
        question: "是否同意?".into(),
        visibility: ResultsVisibility::HostsUntilPublished,
        ..poll_spec(PollMethod::YesNoAbstain)
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
    f.ok(&m1, request(EntryKind::Impromptu));
    f.ok(&host, grant_next());
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
        f.ok(&m1, request(EntryKind::Impromptu));
        f.ok(&host, grant_next());
        f.ok(&m1, Command::EndTurn);
    }
    let snap = f.room.snapshot(View::Member, m1.id());
    assert_eq!(snap.feed.len(), FEED_LEN);
    assert_eq!(types(&snap.feed).last().unwrap(), "turn_ended");
    assert!(snap.feed.windows(2).all(|w| w[0].seq < w[1].seq));
}
