//! A thousand concurrent audience clients in one room, all from one anonymous audience
//! link, with a host and a member: every viewer gets an identity of its own, receives
//! the approved question and everything else the audience may see, in order and with no
//! gap (the client checks that each batch starts right after the previous one), and
//! nothing the audience may not see. Correctness under load, not a benchmark: it prints
//! how long it took. Also the Prometheus metrics afterwards (this binary runs one server,
//! so it owns the process's metrics recorder).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{Backend, Client, TestServer};
use yishi::hub::HubConfig;
use yishi_protocol::{
    Command, Decision, Event, EventBody, Participant, PollId, Role, SettingsPatch, View,
};

const VIEWERS: usize = 1000;
const ROOM: &str = "crowd";

fn is(pred: impl Fn(&EventBody) -> bool) -> impl Fn(&Event) -> bool {
    move |e| pred(&e.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_viewers_each_get_every_visible_event_in_order() {
    let started = Instant::now();
    let hub = HubConfig {
        joins_per_ip: 100_000,
        commands_per_ip: 100_000,
        ..HubConfig::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, hub).await;
    server.create_room(ROOM, "千人旁听的协商会").await;
    let mut h = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    let mut m = server
        .connect(
            ROOM,
            &Participant::new("m1", "张委员", Role::Member).with_sector("经济界"),
        )
        .await;
    h.ok(Command::OpenCheckIn).await;
    m.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;

    // A thousand viewers open the same anonymous link at once.
    let link = server.audience_link(ROOM);
    let connecting = Instant::now();
    let mut joins = tokio::task::JoinSet::new();
    for _ in 0..VIEWERS {
        let (addr, link) = (server.addr, link.clone());
        joins.spawn(async move { Client::connect(addr, &link, None).await.expect("welcome") });
    }
    let mut viewers = Vec::with_capacity(VIEWERS);
    while let Some(c) = joins.join_next().await {
        viewers.push(c.unwrap());
    }
    let connected_in = connecting.elapsed();

    // Each got an identity of its own, and the audience view.
    let ids: HashSet<String> = viewers.iter().map(|c| c.welcome.you.id.0.clone()).collect();
    assert_eq!(ids.len(), VIEWERS, "every anonymous viewer is someone else");
    for c in &viewers {
        assert_ne!(c.welcome.you.id.0, "*");
        assert_eq!(c.welcome.you.role, Role::Audience);
        assert_eq!(c.welcome.view, View::Audience);
        assert!(
            c.welcome.snapshot.as_ref().unwrap().attendance.is_empty(),
            "the audience sees no attendance"
        );
    }
    assert_eq!(viewers.len(), VIEWERS);
    // The audience is counted by the hub, not written to the record.
    let snapshot = server
        .state
        .hub
        .room(ROOM)
        .await
        .unwrap()
        .inspect()
        .await
        .unwrap();
    assert_eq!(
        snapshot.attendance.len(),
        2,
        "only the host and the member are on the roster"
    );

    // The meeting goes on: a question from the member, approved; a host's comment,
    // approved; a members' chat the audience must not see; an agenda item; an advisory
    // poll; finally the question pinned.
    let traffic = Instant::now();
    m.ok(Command::AskQuestion {
        text: "社区养老服务的资金从哪里来？".into(),
    })
    .await;
    let asked = h
        .until(
            "the question",
            is(|b| matches!(b, EventBody::QuestionAsked { .. })),
        )
        .await;
    let EventBody::QuestionAsked { question } = asked.body else {
        unreachable!()
    };
    m.ok(Command::SendChat {
        text: "委员内部讨论，观众看不到".into(),
    })
    .await;
    h.ok(Command::ModerateQuestion {
        question: question.id,
        decision: Decision::Approve,
    })
    .await;
    h.ok(Command::PostComment {
        text: "欢迎各位网友旁听".into(),
    })
    .await;
    let posted = h
        .until(
            "the comment",
            is(|b| matches!(b, EventBody::CommentPosted { .. })),
        )
        .await;
    let EventBody::CommentPosted { comment } = posted.body else {
        unreachable!()
    };
    h.ok(Command::ModerateComment {
        comment: comment.id,
        decision: Decision::Approve,
    })
    .await;
    h.ok(Command::AddAgendaItem {
        title: "第二项议程".into(),
        settings: SettingsPatch::default(),
    })
    .await;
    let mut spec = advisory_spec();
    spec.question = "您是否满意本次协商？".into();
    h.ok(Command::CreatePoll { spec }).await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    let last = h
        .ok(Command::PinQuestion {
            question: question.id,
            pinned: true,
        })
        .await
        .expect("an event");

    // Every viewer, concurrently: everything through the pin, in order, without a gap.
    let mut reading = tokio::task::JoinSet::new();
    for mut c in viewers {
        reading.spawn(async move {
            c.until(
                "the pinned question",
                is(|b| matches!(b, EventBody::QuestionPinned { .. })),
            )
            .await;
            c
        });
    }
    let mut viewers = Vec::with_capacity(VIEWERS);
    while let Some(c) = reading.join_next().await {
        viewers.push(c.unwrap());
    }
    let delivered_in = traffic.elapsed();

    let reference: Vec<Event> = viewers[0].events.clone();
    let mut resynced = 0;
    for c in &viewers {
        assert_eq!(c.through, last, "every viewer is through the last event");
        assert!(
            c.events.windows(2).all(|w| w[0].seq < w[1].seq),
            "events in order"
        );
        let approved = c.events.iter().find_map(|e| match &e.body {
            EventBody::QuestionApproved { question: q } => Some(q),
            _ => None,
        });
        if approved.is_none() && c.welcome.snapshot.as_ref().unwrap().seq > asked.seq {
            // Resynchronised from a snapshot after falling behind: the question is there.
            resynced += 1;
            let q = &c.welcome.snapshot.as_ref().unwrap().questions;
            assert!(q.iter().any(|q| q.id == question.id));
            continue;
        }
        let approved = approved.expect("every viewer sees the approved question");
        assert_eq!(approved.text, question.text);
        assert!(c.events.iter().any(
            |e| matches!(&e.body, EventBody::CommentApproved { comment: x } if x.id == comment.id)
        ));
        for e in &c.events {
            assert!(
                !matches!(
                    e.body,
                    EventBody::ChatSent { .. }
                        | EventBody::QuestionAsked { .. }
                        | EventBody::CommentPosted { .. }
                        | EventBody::Joined { .. }
                        | EventBody::CheckedIn { .. }
                ),
                "the audience must not see {:?}",
                e.body
            );
        }
        assert_eq!(c.events, reference, "every viewer sees the same events");
    }
    assert_eq!(resynced, 0, "nobody fell behind with a handful of events");

    // Metrics: this binary runs one server, so it holds the recorder.
    if server.state.metrics.is_some() {
        let http = reqwest::Client::new();
        // Without the metrics key: refused.
        let refused = http.get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        let text = http
            .get(server.url("/metrics"))
            .bearer_auth(&server.state.config.auth.metrics_key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("yishi_events_total"), "{text}");
        assert!(text.contains("yishi_connections"), "{text}");
        assert!(text.contains("yishi_rooms"), "{text}");
        let audience = text
            .lines()
            .find(|l| l.starts_with("yishi_connections{") && l.contains("role=\"audience\""))
            .expect("connections by role");
        let count: f64 = audience.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(count, VIEWERS as f64, "{audience}");
    } else {
        println!("metrics are recorded by another server in this process: not checked");
    }

    println!(
        "{VIEWERS} viewers: connected in {connected_in:?}, every event delivered to all in \
         {delivered_in:?}, whole test {:?}",
        started.elapsed()
    );
    // A host who joins now is told how many are watching, right after the welcome.
    let mut late = server
        .connect(ROOM, &Participant::new("cohost", "副主持人", Role::Host))
        .await;
    match late.recv().await {
        Some(yishi_protocol::ServerMessage::Viewers { count }) => {
            assert_eq!(count, VIEWERS as u32, "the viewer count")
        }
        other => panic!("expected the viewer count after the welcome, got {other:?}"),
    }
    drop(viewers);
}

fn advisory_spec() -> yishi_protocol::PollSpec {
    use yishi_protocol::{Base, Majority, MajorityRule, PollMethod, ResultsVisibility};
    yishi_protocol::PollSpec {
        question: String::new(),
        method: PollMethod::Rating,
        binding: false,
        advisory: true,
        secret: false,
        visibility: ResultsVisibility::Live,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}
