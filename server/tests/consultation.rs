//! A whole consultation over real WebSockets, on SQLite and on PostgreSQL: check-in,
//! a scheduled speech interrupted by an interjection, an impromptu speech that gets its
//! warning and a hard stop, a binding secret poll with quorum and an advisory audience
//! poll on the same question, moderated comments and questions, close, export, verify.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer};
use yishi::room::verify_chain;
use yishi_protocol::{
    Base, Choice, Command, Decision, EndReason, EntryKind, Event, EventBody, KindLimits, Majority,
    MajorityRule, Outcome, Overrun, Participant, PauseReason, PollId, PollMethod, PollSpec, Quorum,
    RecordEntry, RequestId, ResultsVisibility, Role, SessionState, SettingsPatch, View, YesNo,
};

fn is(pred: impl Fn(&EventBody) -> bool) -> impl Fn(&Event) -> bool {
    move |e| pred(&e.body)
}

async fn whole_consultation(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.create_room("c1", "社区养老服务专题协商会").await;
    let host = Participant::new("host", "主持人", Role::Host);
    let m1 = Participant::new("m1", "张委员", Role::Member)
        .with_sector("经济界")
        .with_venue("主会场");
    let m2 = Participant::new("m2", "李委员", Role::Member)
        .with_sector("教育界")
        .with_venue("东区");
    let viewer = Participant::new("a1", "网民甲", Role::Audience);
    let mut h = server.connect("c1", &host).await;
    let mut c1 = server.connect("c1", &m1).await;
    let mut c2 = server.connect("c1", &m2).await;
    let mut a = server.connect("c1", &viewer).await;
    assert_eq!(h.welcome.view, View::Host);
    assert_eq!(a.welcome.view, View::Audience);

    // Short limits so the clocks can be watched: impromptu 10 s, warning 5 s before, a
    // hard stop right at the limit.
    let limits = KindLimits {
        impromptu_s: 10,
        ..KindLimits::default()
    };
    h.ok(Command::UpdateSettings {
        item: None,
        patch: SettingsPatch {
            limits: Some(limits),
            warning_s: Some(5),
            overrun: Some(Overrun::Hard),
            grace_s: Some(0),
            ..Default::default()
        },
    })
    .await;

    // Check-in.
    h.ok(Command::OpenCheckIn).await;
    c1.ok(Command::CheckIn { head_count: None }).await;
    c2.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;
    let snap = h.welcome.snapshot.clone().unwrap();
    assert_eq!(
        snap.session,
        SessionState::Scheduled,
        "the host's snapshot was taken before"
    );
    h.until(
        "m2 checked in",
        is(|b| matches!(b, EventBody::CheckedIn { participant, .. } if participant.0 == "m2")),
    )
    .await;

    // A scheduled speech, interrupted by an interjection that pauses its clock.
    h.ok(Command::AddEntry {
        participant: m1.id.clone(),
        kind: EntryKind::Scheduled,
        speaker: None,
        position: None,
        reason: "预约发言".into(),
    })
    .await;
    h.grant_next().await;
    c1.until(
        "m1 has the floor",
        is(|b| matches!(b, EventBody::TurnStarted { turn, .. } if turn.participant.0 == "m1")),
    )
    .await;
    c2.request_floor(EntryKind::Interjection).await;
    h.grant_next().await;
    c1.until(
        "m1 paused",
        is(|b| {
            matches!(
                b,
                EventBody::TurnPaused {
                    reason: PauseReason::Interjection,
                    ..
                }
            )
        }),
    )
    .await;
    c2.ok(Command::EndTurn).await;
    c1.until(
        "m1 resumes",
        is(|b| matches!(b, EventBody::TurnResumed { .. })),
    )
    .await;
    c1.ok(Command::EndTurn).await;

    // An impromptu speech: warning at 5 s left, then the floor is taken back at 10 s.
    c2.request_floor(EntryKind::Impromptu).await;
    h.grant_next().await;
    let started = std::time::Instant::now();
    c1.until(
        "the warning",
        is(|b| matches!(b, EventBody::TurnWarned { .. })),
    )
    .await;
    let ended = c1
        .until(
            "the hard stop",
            is(|b| {
                matches!(
                    b,
                    EventBody::TurnEnded {
                        reason: EndReason::TimeUp,
                        ..
                    }
                )
            }),
        )
        .await;
    assert!(
        started.elapsed().as_secs_f64() >= 9.0,
        "the hard stop came early"
    );
    let EventBody::TurnEnded { spoken_ms, .. } = ended.body else {
        unreachable!()
    };
    assert_eq!(spoken_ms, 10_000);
    a.until(
        "the audience sees the stop too",
        is(|b| {
            matches!(
                b,
                EventBody::TurnEnded {
                    reason: EndReason::TimeUp,
                    ..
                }
            )
        }),
    )
    .await;

    // One question, two electorates: a binding secret vote with a quorum, and the
    // audience's advisory answers, counted apart.
    let spec = PollSpec {
        question: "是否同意将社区助餐点纳入民生实事项目？".into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: true,
        secret: true,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: Some(Quorum {
            percent: 50,
            of: Base::Present,
        }),
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    };
    h.ok(Command::CreatePoll { spec }).await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    let yes = Choice::YesNoAbstain { vote: YesNo::Yes };
    let no = Choice::YesNoAbstain { vote: YesNo::No };
    // Secret ballots are acknowledged once they are in the sealed box, which takes them
    // in batches of five; these three wait for the close. A retry waits with its ballot.
    let cast = |choice: &Choice| Command::CastBallot {
        poll: PollId(1),
        choice: choice.clone(),
    };
    let (b1, b2, b3) = (
        RequestId("ballot-m1".into()),
        RequestId("ballot-m2".into()),
        RequestId("ballot-a".into()),
    );
    c1.send_with(b1.clone(), cast(&yes)).await;
    c1.send_with(b1.clone(), cast(&yes)).await;
    c2.send_with(b2.clone(), cast(&no)).await;
    a.send_with(b3.clone(), cast(&yes)).await;
    // The host sees who voted as it happens.
    while h
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::BallotCast { .. }))
        .count()
        < 3
    {
        h.recv().await.expect("ballot_cast events");
    }
    let refused = a.cmd(cast(&yes)).await.unwrap_err();
    assert_eq!(refused.code, yishi_protocol::ErrorCode::AlreadyVoted);
    h.ok(Command::ClosePoll { poll: PollId(1) }).await;
    let first = c1.answer(&b1).await.unwrap();
    assert!(
        c1.events
            .iter()
            .any(|e| matches!(e.body, EventBody::PollClosed { .. })),
        "the ballot was acknowledged with the last batch, at the close"
    );
    let retried = c1.answer(&b1).await.unwrap();
    assert_eq!(
        first, retried,
        "a retried ballot is acknowledged with its first sequence number"
    );
    c2.answer(&b2).await.unwrap();
    a.answer(&b3).await.unwrap();
    let closed = c1
        .until(
            "the result",
            is(|b| matches!(b, EventBody::PollClosed { .. })),
        )
        .await;
    let EventBody::PollClosed {
        result: Some(result),
        ..
    } = closed.body
    else {
        panic!("members see results after close")
    };
    let binding = result.binding.unwrap();
    let advisory = result.advisory.unwrap();
    assert_eq!(
        (binding.ballots, binding.counts.clone()),
        (2, vec![1, 1, 0]),
        "each member counted once"
    );
    assert_eq!(
        (advisory.ballots, advisory.counts),
        (1, vec![1, 0, 0]),
        "the audience apart"
    );
    assert_eq!(
        result.outcome,
        Outcome::Failed,
        "one yes, one no: no simple majority"
    );
    for client in [&h, &c1, &c2, &a] {
        for e in &client.events {
            if let EventBody::BallotCast { choice, .. } = &e.body {
                assert!(
                    choice.is_none(),
                    "a secret ballot travelled next to its voter"
                );
            }
        }
    }

    // Moderated comments and questions.
    a.ok(Command::PostComment {
        text: "希望增加老年食堂的覆盖面".into(),
    })
    .await;
    let pending = h
        .until(
            "the host sees the pending comment",
            is(|b| matches!(b, EventBody::CommentPosted { .. })),
        )
        .await;
    let EventBody::CommentPosted { comment } = pending.body else {
        unreachable!()
    };
    h.ok(Command::ModerateComment {
        comment: comment.id,
        decision: Decision::Approve,
    })
    .await;
    c1.until("the approved comment", is(|b| matches!(b, EventBody::CommentApproved { comment } if comment.text.contains("老年食堂")))).await;
    assert!(
        !c1.events
            .iter()
            .any(|e| matches!(e.body, EventBody::CommentPosted { .. })),
        "members never saw it pending"
    );
    let question = a.ask_approved(&mut h, "助餐点的运营补贴标准是多少？").await;
    c2.ok(Command::Upvote { question }).await;
    a.until(
        "the audience sees its question approved",
        is(|b| matches!(b, EventBody::QuestionApproved { .. })),
    )
    .await;

    // Close, export over the admin API, verify the chain against the published hash.
    let last = h.ok(Command::CloseSession).await.unwrap();
    c2.through(last).await;
    assert!(matches!(
        c2.events.last().unwrap().body,
        EventBody::SessionChanged {
            state: SessionState::Closed
        }
    ));
    assert_eq!(
        c1.cmd(Command::SendChat {
            text: "还能发言吗".into()
        })
        .await
        .unwrap_err()
        .code,
        yishi_protocol::ErrorCode::RoomClosed
    );
    let http = reqwest::Client::new();
    let body = http
        .get(server.url("/api/v1/rooms/c1/record"))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    let record: Vec<RecordEntry> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(record.len() as u32, last);
    let final_hash = verify_chain(&record).unwrap();
    let stored = server.state.store.room("c1").await.unwrap().unwrap();
    assert_eq!(
        stored.final_hash.as_deref(),
        Some(final_hash.as_str()),
        "closing published the final hash"
    );
    let sealed = server.state.store.load("c1").await.unwrap().sealed;
    assert_eq!(
        sealed.len(),
        3,
        "three secret ballots in the box, none with a voter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_consultation_on_sqlite() {
    whole_consultation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_whole_consultation_on_postgresql() {
    whole_consultation(Backend::Postgres).await;
}
