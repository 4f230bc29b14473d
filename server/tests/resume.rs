//! Resume after a dropped connection: a member whose socket dies while the room goes on
//! comes back with its session and last sequence number and gets exactly the events it
//! missed (compared, by sequence number, with a member who never dropped), keeps its
//! place in the queue and its turn, and a command it retries is applied once. An
//! anonymous viewer keeps the identity the server gave it; a resume from too far back
//! gets a snapshot instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Backend, Client, TestServer};
use yishi::hub::HubConfig;
use yishi_protocol::{
    Base, Choice, Command, EntryKind, Event, EventBody, Majority, MajorityRule, Participant,
    PauseReason, PollId, PollMethod, PollSpec, RequestId, ResultsVisibility, Resume, Role, Seq,
    ServerMessage, View, YesNo,
};

const ROOM: &str = "r1";

fn named_poll() -> PollSpec {
    PollSpec {
        question: "是否同意本次会议议程？".into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: false,
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

/// Drop a client's socket without a close frame, as a lost network does.
fn drop_abruptly(client: Client) -> Resume {
    let resume = Resume {
        session: client.welcome.session.clone(),
        last_seq: client.through,
    };
    let Client { ws, .. } = client;
    // The TCP stream goes away without a WebSocket close handshake.
    drop(ws);
    resume
}

/// The room as a host sees it now.
async fn inspect(server: &TestServer) -> yishi_protocol::RoomSnapshot {
    server
        .state
        .hub
        .room(ROOM)
        .await
        .unwrap()
        .inspect()
        .await
        .unwrap()
}

fn seqs(events: &[Event]) -> Vec<Seq> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_member_resumes_with_exactly_what_it_missed_its_place_and_its_turn() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "续接测试").await;
    let host = Participant::new("host", "主持人", Role::Host);
    let m1 = Participant::new("m1", "张委员", Role::Member);
    let m2 = Participant::new("m2", "李委员", Role::Member);
    let m3 = Participant::new("m3", "王委员", Role::Member);
    let mut h = server.connect(ROOM, &host).await;
    let mut c1 = server.connect(ROOM, &m1).await;
    let mut c2 = server.connect(ROOM, &m2).await;
    // The witness: never drops, and sees what a member sees.
    let mut w = server.connect(ROOM, &m3).await;

    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;
    let request = Command::RequestFloor {
        kind: EntryKind::Impromptu,
        speaker: None,
        replying_to: None,
    };
    c1.ok(request.clone()).await;
    c2.ok(request.clone()).await;
    w.ok(request.clone()).await;
    // m1 gets the floor, and puts a hand up again: it both speaks and waits.
    h.grant_next().await;
    c1.ok(request.clone()).await;
    h.ok(Command::CreatePoll { spec: named_poll() }).await;
    let opened = h.ok(Command::OpenPoll { poll: PollId(1) }).await.unwrap();
    c1.through(opened).await;
    let before = inspect(&server).await;
    let queue_before: Vec<_> = before
        .queue
        .iter()
        .map(|e| (e.id, e.participant.0.clone(), e.kind))
        .collect();
    assert_eq!(
        queue_before
            .iter()
            .map(|e| e.1.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m3", "m1"]
    );
    assert_eq!(before.floor.as_ref().unwrap().participant, m1.id);

    // m1 sends a ballot and a chat message and loses its connection before it reads the answers.
    let vote = RequestId("m1-vote".into());
    let chat = RequestId("m1-chat".into());
    let yes = Choice::YesNoAbstain { vote: YesNo::Yes };
    c1.send_with(
        vote.clone(),
        Command::CastBallot {
            poll: PollId(1),
            choice: yes.clone(),
        },
    )
    .await;
    c1.send_with(
        chat.clone(),
        Command::SendChat {
            text: "网络不太稳定".into(),
        },
    )
    .await;
    // Both reached the room (the witness sees them), but m1 never reads the answers.
    w.until(
        "m1's chat message",
        |e| matches!(&e.body, EventBody::ChatSent { message } if message.from == m1.id),
    )
    .await;
    let resume = drop_abruptly(c1);

    // The speaker's clock stops for the grace window.
    w.until("m1's turn paused", |e| {
        matches!(
            e.body,
            EventBody::TurnPaused {
                reason: PauseReason::Dropped,
                ..
            }
        )
    })
    .await;
    // The room goes on without m1.
    for i in 0..5 {
        c2.ok(Command::SendChat {
            text: format!("继续讨论 {i}"),
        })
        .await;
    }
    c2.ok(Command::CastBallot {
        poll: PollId(1),
        choice: Choice::YesNoAbstain { vote: YesNo::No },
    })
    .await;
    h.ok(Command::AddAgendaItem {
        title: "第二项".into(),
        settings: Default::default(),
    })
    .await;
    let last = h
        .ok(Command::SendChat {
            text: "请张委员稍候重连".into(),
        })
        .await
        .unwrap();
    w.through(last).await;
    let during = inspect(&server).await;
    assert_eq!(
        during
            .queue
            .iter()
            .map(|e| (e.id, e.participant.0.clone(), e.kind))
            .collect::<Vec<_>>(),
        queue_before,
        "a drop does not cost a place in the queue"
    );
    assert_eq!(
        during.floor.as_ref().unwrap().paused,
        Some(PauseReason::Dropped)
    );

    // m1 comes back: a welcome without snapshot, then exactly the missed events.
    let mut c1 = Client::connect(server.addr, &server.token(ROOM, &m1), Some(resume.clone()))
        .await
        .expect("welcome");
    assert!(
        c1.welcome.snapshot.is_none(),
        "within the window: no snapshot"
    );
    assert_eq!(c1.welcome.you.id, m1.id);
    let resumed = c1
        .until("m1's turn resumes", |e| {
            matches!(e.body, EventBody::TurnResumed { .. })
        })
        .await;
    let through = c1.through;
    assert!(through >= resumed.seq);
    w.through(through).await;
    h.through(through).await;
    // What a member who never dropped saw in that stretch, plus what only m1 may see: its
    // own ballot (ballots reach the hosts and the voter; the others get tallies).
    let own_ballot =
        |e: &&Event| matches!(&e.body, EventBody::BallotCast { voter, .. } if *voter == m1.id);
    let mut missed: Vec<&Event> = w
        .events
        .iter()
        .chain(h.events.iter().filter(own_ballot))
        .filter(|e| e.seq > resume.last_seq && e.seq <= through)
        .collect();
    missed.sort_by_key(|e| e.seq);
    assert_eq!(
        missed.iter().filter(|e| own_ballot(e)).count(),
        1,
        "m1's ballot was among what it missed"
    );
    assert_eq!(
        seqs(&c1.events),
        missed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    for (got, want) in c1.events.iter().zip(&missed) {
        assert_eq!(got, *want, "the same events");
    }

    // Its place in the queue, and the floor again.
    let after = inspect(&server).await;
    assert_eq!(
        after
            .queue
            .iter()
            .map(|e| (e.id, e.participant.0.clone(), e.kind))
            .collect::<Vec<_>>(),
        queue_before
    );
    let floor = after.floor.unwrap();
    assert_eq!(floor.participant, m1.id);
    assert_eq!(floor.paused, None);
    assert!(floor.running_since.is_some());

    // The ballot and the chat message sent before the drop were applied; retried with the
    // same request ids they are acknowledged with the same sequence numbers, once.
    let ballot_events: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(&e.body, EventBody::BallotCast { voter, .. } if *voter == m1.id))
        .cloned()
        .collect();
    assert_eq!(ballot_events.len(), 1, "m1's ballot was applied once");
    let retried = c1
        .cmd_with(
            vote,
            Command::CastBallot {
                poll: PollId(1),
                choice: yes,
            },
        )
        .await
        .unwrap();
    assert_eq!(retried, Some(ballot_events[0].seq));
    let chat_events: Vec<_> = w
        .events
        .iter()
        .filter(|e| matches!(&e.body, EventBody::ChatSent { message } if message.text == "网络不太稳定"))
        .cloned()
        .collect();
    assert_eq!(chat_events.len(), 1);
    let retried = c1
        .cmd_with(
            chat,
            Command::SendChat {
                text: "网络不太稳定".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(retried, Some(chat_events[0].seq));
    let fence = h
        .ok(Command::SendChat {
            text: "好的".into(),
        })
        .await
        .unwrap();
    w.through(fence).await;
    c1.through(fence).await;
    h.through(fence).await;
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(&e.body, EventBody::BallotCast { voter, .. } if *voter == m1.id))
            .count(),
        1,
        "the retried ballot made no second event"
    );
    let poll = inspect(&server).await.polls.remove(0);
    assert_eq!(poll.turnout_binding, 2, "counted once");
    assert_eq!(
        w.events
            .iter()
            .filter(|e| matches!(&e.body, EventBody::ChatSent { message } if message.text == "网络不太稳定"))
            .count(),
        1
    );
    assert_eq!(seqs(&c1.events).last(), seqs(&w.events).last());

    // Someone else's session does not make m2 into m1.
    let c2_resume = Resume {
        session: c1.welcome.session.clone(),
        last_seq: c2.through,
    };
    let stolen = Client::connect(server.addr, &server.token(ROOM, &m2), Some(c2_resume))
        .await
        .expect("welcome");
    assert_eq!(stolen.welcome.you.id, m2.id);
    assert_ne!(stolen.welcome.session, c1.welcome.session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_viewer_who_resumes_keeps_its_identity() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "委员讲堂").await;
    let host = Participant::new("host", "主持人", Role::Host);
    let mut h = server.connect(ROOM, &host).await;
    let link = server.audience_link(ROOM);
    let mut v = Client::connect(server.addr, &link, None).await.unwrap();
    assert_eq!(v.welcome.view, View::Audience);
    let me = v.welcome.you.id.clone();
    assert_ne!(me.0, "*", "the server gave the viewer an identity");
    let asked = v
        .ok(Command::AskQuestion {
            text: "讲座的课件会公开吗？".into(),
        })
        .await
        .unwrap();
    let resume = drop_abruptly(v);

    h.ok(Command::OpenCheckIn).await;
    let last = h.ok(Command::StartSession).await.unwrap();

    let mut v = Client::connect(server.addr, &link, Some(resume.clone()))
        .await
        .unwrap();
    assert_eq!(v.welcome.you.id, me, "the same viewer");
    assert_eq!(v.welcome.session, resume.session);
    assert!(v.welcome.snapshot.is_none());
    v.through(last).await;
    assert_eq!(seqs(&v.events), ((asked + 1)..=last).collect::<Vec<_>>());
    // Its own pending question is still its own: approved, it reaches it.
    let EventBody::QuestionAsked { question } = h
        .until("the question", |e| {
            matches!(e.body, EventBody::QuestionAsked { .. })
        })
        .await
        .body
    else {
        unreachable!()
    };
    assert_eq!(question.author, me);
    h.ok(Command::ModerateQuestion {
        question: question.id,
        decision: yishi_protocol::Decision::Approve,
    })
    .await;
    v.until(
        "its question approved",
        |e| matches!(&e.body, EventBody::QuestionApproved { question } if question.author == me),
    )
    .await;

    // The same link without resume is another viewer.
    let other = Client::connect(server.addr, &link, None).await.unwrap();
    assert_ne!(other.welcome.you.id, me);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_beyond_the_window_gets_a_snapshot() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        HubConfig {
            resume_window: 10,
            ..Default::default()
        },
    )
    .await;
    server.create_room(ROOM, "窗口测试").await;
    let host = Participant::new("host", "主持人", Role::Host);
    let m1 = Participant::new("m1", "张委员", Role::Member);
    let mut h = server.connect(ROOM, &host).await;
    let c1 = server.connect(ROOM, &m1).await;
    h.ok(Command::OpenCheckIn).await;
    let resume = drop_abruptly(c1);

    // Within the window: the missed events.
    let mut last = h.ok(Command::StartSession).await.unwrap();
    for i in 0..3 {
        last = h
            .ok(Command::SendChat {
                text: format!("消息 {i}"),
            })
            .await
            .unwrap();
    }
    let mut c1 = Client::connect(server.addr, &server.token(ROOM, &m1), Some(resume))
        .await
        .unwrap();
    assert!(c1.welcome.snapshot.is_none());
    c1.through(last).await;
    let near = drop_abruptly(c1);

    // Far beyond it: 25 events later, and from 0.
    for i in 0..25 {
        last = h
            .ok(Command::SendChat {
                text: format!("更多消息 {i}"),
            })
            .await
            .unwrap();
    }
    for last_seq in [near.last_seq, 0] {
        let mut c1 = Client::connect(
            server.addr,
            &server.token(ROOM, &m1),
            Some(Resume {
                session: near.session.clone(),
                last_seq,
            }),
        )
        .await
        .unwrap();
        let snap = c1
            .welcome
            .snapshot
            .clone()
            .expect("too far back: a snapshot");
        // The reconnection itself may add a `joined` event.
        assert!(snap.seq >= last);
        assert!(snap.chat.iter().any(|m| m.text == "更多消息 24"));
        // And the events go on from the snapshot.
        let next = h
            .ok(Command::SendChat {
                text: format!("快照之后 {last_seq}"),
            })
            .await
            .unwrap();
        c1.through(next).await;
        assert_eq!(c1.events.first().unwrap().seq, snap.seq + 1);
        drop_abruptly(c1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departed_viewers_session_is_forgotten_after_the_grace() {
    let hub = yishi::hub::HubConfig {
        resume_grace: Duration::from_secs(1),
        ..Default::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, hub).await;
    server.create_room(ROOM, "委员讲堂").await;
    let mut h = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    let link = server.audience_link(ROOM);
    let v = Client::connect(server.addr, &link, None).await.unwrap();
    let me = v.welcome.you.id.clone();
    let resume = drop_abruptly(v);
    // The server saw the viewer go (the count the host is sent drops to 0) ...
    loop {
        if let Some(yishi_protocol::ServerMessage::Viewers { count: 0 }) = h.recv().await {
            break;
        }
    }
    // ... and a while past the grace it has forgotten the session: coming back with it
    // makes a new viewer, with a new session.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let v = Client::connect(server.addr, &link, Some(resume.clone()))
        .await
        .unwrap();
    assert_ne!(
        v.welcome.you.id, me,
        "a forgotten session gives a new identity"
    );
    assert_ne!(v.welcome.session, resume.session);
    assert!(v.welcome.snapshot.is_some(), "and a snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_that_missed_nothing_visible_gets_no_batch_and_the_next_follows_on() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "协商会").await;
    let mut h = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    // A viewer (who is not shown attendance): while it is away only a draft poll is
    // added, which only hosts see.
    let m = Participant::new("a1", "网民甲", Role::Audience);
    let c = server.connect(ROOM, &m).await;
    let resume = drop_abruptly(c);
    let drafted = h
        .ok(Command::CreatePoll { spec: named_poll() })
        .await
        .unwrap();
    assert!(drafted > resume.last_seq);
    let mut c = Client::connect(server.addr, &server.token(ROOM, &m), Some(resume.clone()))
        .await
        .unwrap();
    assert!(c.welcome.snapshot.is_none());
    // No batch follows the welcome (a batch always holds an event): the next message is
    // the viewer count.
    let next = c.recv().await.unwrap();
    assert!(matches!(next, ServerMessage::Viewers { .. }), "{next:?}");
    // A visible event later arrives in a batch that starts right after `last_seq`
    // (Client::recv checks that each batch follows the previous one).
    h.ok(Command::OpenCheckIn).await;
    c.until("the check-in", |e| {
        matches!(e.body, EventBody::SessionChanged { .. })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_displaces_the_first_and_presence_stays() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "协商会").await;
    let mut h = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    let m = Participant::new("m1", "张委员", Role::Member);
    let mut laptop = server.connect(ROOM, &m).await;
    laptop
        .ok(Command::SendChat {
            text: "在笔记本上".into(),
        })
        .await;
    let mut phone = server.connect(ROOM, &m).await;
    // The laptop is told why, then closed with 4005.
    let mut told = false;
    let code = loop {
        match tokio::time::timeout(
            Duration::from_secs(60),
            futures_util::StreamExt::next(&mut laptop.ws),
        )
        .await
        .expect("the old device is closed")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                if t.contains("\"displaced\"") {
                    told = true;
                }
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => {
                break f.map(|f| u16::from(f.code));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert!(told, "the displaced error came first");
    assert_eq!(code, Some(yishi::hub::close::DISPLACED));
    // The phone goes on; the member never left the room.
    phone
        .ok(Command::SendChat {
            text: "在手机上".into(),
        })
        .await;
    h.until(
        "the phone's chat",
        |e| matches!(&e.body, EventBody::ChatSent { message } if message.text == "在手机上"),
    )
    .await;
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(&e.body, EventBody::Left { participant } if *participant == m.id)),
        "a displaced device is not a departure"
    );
    // An audience link opened twice is two viewers: nobody is displaced.
    let link = server.audience_link(ROOM);
    let mut v1 = Client::connect(server.addr, &link, None).await.unwrap();
    let _v2 = Client::connect(server.addr, &link, None).await.unwrap();
    v1.ok(Command::AskQuestion {
        text: "还在吗？".into(),
    })
    .await;
}
