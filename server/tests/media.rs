//! The SFU with a second WebRTC stack: bots built on the `webrtc` crate (the load-test
//! tool's media peer) publish and receive through the real server, signalling over the
//! room's WebSocket. The floor decides, in the media itself, whose audio arrives: a
//! member without the floor is seen but not heard; given the floor, heard; the floor
//! taken back, silent again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::media::{
    Party, WAIT, give_floor, member, publisher, receiver, run, seen_then_heard_with_the_floor,
    send, until,
};
use common::{Backend, Client, TestServer};
use yishi_protocol::{ClientMessage, Command, ErrorCode, Participant, Role, Sdp};
use yishi_testkit::media_peer::{MediaPeer, PeerOptions};

const ROOM: &str = "media";

impl Party {
    async fn join(server: &TestServer, who: &Participant, options: PeerOptions) -> Party {
        Party::join_room(server, ROOM, who, options).await
    }

    async fn join_room(
        server: &TestServer,
        room: &str,
        who: &Participant,
        options: PeerOptions,
    ) -> Party {
        let client = server.connect(room, who).await;
        Party::negotiate(client, options).await
    }

    /// After its connection ended (the room's owner went away): reconnect to `server`
    /// resuming where it was, retrying while the room moves, and start media afresh
    /// with a new peer and offer, as the web client does after a reconnect.
    async fn rejoin(
        self,
        server: &TestServer,
        room: &str,
        who: &Participant,
        options: PeerOptions,
    ) -> Party {
        let client = resume_on(server, room, who, self.client.resume_point()).await;
        self.offer_again(client, options).await
    }
}

/// Connect `who` to `server` resuming `resume`, retrying while the room is unavailable
/// (moving to a new owner), for at most [`WAIT`].
async fn resume_on(
    server: &TestServer,
    room: &str,
    who: &Participant,
    resume: yishi_protocol::Resume,
) -> Client {
    let token = server.token(room, who);
    let deadline = Instant::now() + WAIT;
    loop {
        match Client::connect(server.addr, &token, Some(resume.clone())).await {
            Ok(client) => return client,
            Err(e) if e.code == ErrorCode::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{} could not resume: {e:?}", who.id.0),
        }
    }
}

/// Take in what arrives until the connection ends (within the client's long wait).
async fn until_closed(client: &mut Client) {
    while client.recv().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_decides_whose_audio_reaches_the_others() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "媒体测试").await;
    let mut host = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    host.ok(Command::StartSession).await;

    let mut speaker = Party::join(&server, &member("m1"), publisher()).await;
    let mut listener = Party::join(&server, &member("m2"), receiver()).await;
    let mut viewer = Party::join(
        &server,
        &Participant::new("v1", "观众", Role::Audience),
        receiver(),
    )
    .await;
    let (l, v) = (1, 2);
    {
        let mut all = [&mut speaker, &mut listener, &mut viewer];
        // Without the floor: m1 is seen in m2's grid, but not heard by anyone.
        let got = until("m2 sees m1", &mut all, l, |s| {
            s.video_packets_received > 30 && s.video_keyframes_received > 0
        })
        .await;
        assert_eq!(
            got.audio_packets_received, 0,
            "m1 is heard without the floor"
        );
        run(&mut all, Duration::from_millis(500)).await;
        assert_eq!(all[l].peer.stats().audio_packets_received, 0);
        assert_eq!(
            all[v].peer.stats().audio_packets_received + all[v].peer.stats().video_packets_received,
            0,
            "the stage is empty while nobody with a camera has the floor"
        );
        let state = all[l].state.clone().expect("a media_state");
        assert_eq!(state.heard, [yishi_protocol::ParticipantId::new("host")]);
        assert!(
            state
                .tracks
                .iter()
                .any(|t| t.participant.as_ref().is_some_and(|p| p.0 == "m1")),
            "m2's tracks name m1: {state:?}"
        );
    }

    // Given the floor: heard by m2 and by the audience, and on the stage.
    give_floor(&mut speaker.client, &mut host).await;
    {
        let mut all = [&mut speaker, &mut listener, &mut viewer];
        until("m2 hears m1", &mut all, l, |s| {
            s.audio_packets_received > 25
        })
        .await;
        let seen = until("the audience sees and hears m1", &mut all, v, |s| {
            s.audio_packets_received > 25 && s.video_keyframes_received > 0
        })
        .await;
        assert!(seen.video_packets_received > 0);
        let got = all[l].peer.stats();
        assert!(got.audio_levels_seen > 0, "audio levels are forwarded");
        run(&mut all, Duration::from_millis(600)).await;
        let state = all[l].state.clone().unwrap();
        assert_eq!(state.heard[0].0, "m1", "{state:?}");
        assert_eq!(state.stage.as_ref().map(|p| p.0.as_str()), Some("m1"));
        assert!(
            state.speaking.iter().any(|p| p.0 == "m1"),
            "m1's audio level makes them the speaker: {state:?}"
        );
    }

    // The floor taken back: silence within a packet or two.
    host.ok(Command::EndTurn).await;
    {
        let mut all = [&mut speaker, &mut listener, &mut viewer];
        // Let what was in flight land, then count.
        run(&mut all, Duration::from_millis(300)).await;
        let before = all[l].peer.stats().audio_packets_received;
        let video_before = all[l].peer.stats().video_packets_received;
        run(&mut all, Duration::from_millis(1500)).await;
        let after = all[l].peer.stats();
        assert_eq!(
            after.audio_packets_received, before,
            "audio arrived after the floor was taken"
        );
        assert!(
            after.video_packets_received > video_before + 20,
            "m1 stays in the grid"
        );
    }

    // Given back: heard again.
    give_floor(&mut speaker.client, &mut host).await;
    let before = listener.peer.stats().audio_packets_received;
    let mut all = [&mut speaker, &mut listener, &mut viewer];
    until("m2 hears m1 again", &mut all, l, |s| {
        s.audio_packets_received > before + 25
    })
    .await;
}

#[tokio::test]
async fn bad_signalling_gets_a_clear_error_and_the_room_goes_on() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "媒体测试").await;
    let mut m = server.connect(ROOM, &member("m1")).await;
    send(
        &mut m,
        ClientMessage::MediaOffer(Sdp {
            sdp: "not an sdp".into(),
        }),
    )
    .await;
    send(
        &mut m,
        ClientMessage::MediaAnswer(Sdp { sdp: "v=0".into() }),
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while m.errors.len() < 2 {
        assert!(Instant::now() < deadline, "no errors: {:?}", m.errors);
        let _ = tokio::time::timeout(Duration::from_millis(100), m.recv()).await;
    }
    assert!(m.errors.iter().all(|e| e.code == ErrorCode::MediaRejected));
    // The connection still works.
    m.ok(Command::SendChat {
        text: "还在".into(),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_reaches_the_audience_before_the_session_opens_and_closing_ends_all_media() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "媒体测试").await;
    let chair = Participant::new("host", "主持人", Role::Host);
    // The chair publishes before the session opens (heard: a host); a member with a
    // camera may see the chair (they test among themselves), a member who only receives
    // (as a venue's projector does) and the audience get nothing.
    let mut host = Party::join(&server, &chair, publisher()).await;
    let mut tester = Party::join(&server, &member("m1"), publisher()).await;
    let mut projector = Party::join(&server, &member("p1"), receiver()).await;
    let mut viewer = Party::join(
        &server,
        &Participant::new("v1", "观众", Role::Audience),
        receiver(),
    )
    .await;
    let (m, p, v) = (1, 2, 3);
    {
        let mut all = [&mut host, &mut tester, &mut projector, &mut viewer];
        until(
            "the member sees the chair before the opening",
            &mut all,
            m,
            |s| s.video_packets_received > 30 && s.audio_packets_received > 10,
        )
        .await;
        run(&mut all, Duration::from_millis(1000)).await;
        for (i, who) in [(p, "the projector"), (v, "the audience")] {
            let s = all[i].peer.stats();
            assert_eq!(
                s.audio_packets_received + s.video_packets_received,
                0,
                "{who} received media before the session opened: {s:?}"
            );
        }
    }

    // Open: the stage reaches the audience and the projector, from a key frame.
    host.client.ok(Command::StartSession).await;
    {
        let mut all = [&mut host, &mut tester, &mut projector, &mut viewer];
        until("the audience sees and hears the chair", &mut all, v, |s| {
            s.video_keyframes_received > 0 && s.audio_packets_received > 10
        })
        .await;
        until("the projector sees the chair", &mut all, p, |s| {
            s.video_keyframes_received > 0
        })
        .await;
    }

    // Close: every media session of the room ends, and none starts again.
    host.client.ok(Command::CloseSession).await;
    {
        let mut all = [&mut host, &mut tester, &mut projector, &mut viewer];
        let deadline = Instant::now() + WAIT;
        loop {
            run(&mut all, Duration::from_millis(100)).await;
            if all.iter().all(|p| {
                p.client
                    .errors
                    .iter()
                    .any(|e| e.code == ErrorCode::MediaUnavailable)
            }) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not everyone was told media ended"
            );
        }
        // What was in flight lands; then nothing more arrives.
        run(&mut all, Duration::from_millis(300)).await;
        let before: Vec<_> = all.iter().map(|p| p.peer.stats()).collect();
        run(&mut all, Duration::from_millis(1000)).await;
        for (party, was) in all.iter().zip(&before) {
            let now = party.peer.stats();
            assert_eq!(
                now.audio_packets_received + now.video_packets_received,
                was.audio_packets_received + was.video_packets_received,
                "media still flows after the close"
            );
        }
    }
    let mut late = server.connect(ROOM, &member("m9")).await;
    let peer = MediaPeer::new(receiver()).await.unwrap();
    let offer = peer.offer().await.unwrap();
    send(&mut late, ClientMessage::MediaOffer(Sdp { sdp: offer })).await;
    let deadline = Instant::now() + WAIT;
    while !late
        .errors
        .iter()
        .any(|e| e.code == ErrorCode::MediaUnavailable)
    {
        assert!(Instant::now() < deadline, "a late offer was not refused");
        let _ = tokio::time::timeout(Duration::from_millis(100), late.recv()).await;
    }
    assert!(late.media.is_empty(), "no answer for a closed room");
}

/// In a cluster the room's SFU runs on its owner: members connected to another node are
/// relayed there, their signalling with them, and their media flows to the owner. Two
/// in-process nodes with their SFUs, on the PostgreSQL and NATS of the tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn members_on_another_node_than_the_rooms_owner_see_and_hear_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    let tag = format!("{}-{}", std::process::id(), yishi::hub::now().0 % 1_000_000);
    let a = common::cluster_node(&nats, &format!("ma-{tag}"), &database, None, |_| {}).await;
    let keys = a.state.config.auth.token_keys.clone();
    let b = common::cluster_node(&nats, &format!("mb-{tag}"), &database, Some(&keys), |_| {}).await;
    let room = format!("media-{tag}");
    a.create_room(&room, "跨节点音视频").await;
    let mut host = a
        .connect(&room, &Participant::new("host", "主持人", Role::Host))
        .await;
    host.ok(Command::StartSession).await;
    let (owner, other) = if a.runs(&room) { (&a, &b) } else { (&b, &a) };
    assert!(owner.runs(&room) && !other.runs(&room));

    // Both members on the node that does not run the room.
    let mut speaker = Party::join_room(other, &room, &member("m1"), publisher()).await;
    let mut listener = Party::join_room(other, &room, &member("m2"), receiver()).await;
    seen_then_heard_with_the_floor(&mut speaker, &mut listener, &mut host, "the owner's SFU").await;
    assert!(!other.runs(&room), "the other node never ran the room");
    a.state.hub.shutdown().await;
    b.state.hub.shutdown().await;
}

/// After a failover the room's media moves with it. Two in-process nodes with their
/// SFUs: the speaker is on the room's owner (served there), the listener on the other
/// node (relayed, its signalling with it); they see each other, and hear each other
/// when the floor says so. Then the owner goes away — `hub.shutdown()` of the
/// in-process node, which ends its room (and its SFU's sessions) as a planned shutdown
/// does; the owner killed ends them too, only later — and every connection to the room
/// ends. The bots reconnect to the surviving node, resume exactly, and offer afresh
/// (the web client starts media over after a reconnect): the survivor now owns the
/// room and its SFU carries their media, the floor deciding again who is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn after_the_owner_leaves_members_offer_again_to_the_new_owner_and_see_and_hear_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    let tag = format!("{}-{}", std::process::id(), yishi::hub::now().0 % 1_000_000);
    let a = common::cluster_node(&nats, &format!("fa-{tag}"), &database, None, |_| {}).await;
    let keys = a.state.config.auth.token_keys.clone();
    let b = common::cluster_node(&nats, &format!("fb-{tag}"), &database, Some(&keys), |_| {}).await;
    let room = format!("failover-{tag}");
    a.create_room(&room, "换主节点后的音视频").await;
    let chair = Participant::new("host", "主持人", Role::Host);
    let mut host = a.connect(&room, &chair).await;
    host.ok(Command::StartSession).await;
    let (owner, survivor) = if a.runs(&room) { (&a, &b) } else { (&b, &a) };
    assert!(owner.runs(&room) && !survivor.runs(&room));

    let (m1, m2) = (member("m1"), member("m2"));
    let mut speaker = Party::join_room(owner, &room, &m1, publisher()).await;
    let mut listener = Party::join_room(survivor, &room, &m2, receiver()).await;
    seen_then_heard_with_the_floor(&mut speaker, &mut listener, &mut host, "the owner's SFU").await;
    // The turn ends before the owner goes, so that the new owner's SFU must be seen
    // to follow the floor by itself.
    let ended = host.ok(Command::EndTurn).await.unwrap();
    speaker.client.through(ended).await;
    listener.client.through(ended).await;

    owner.state.hub.shutdown().await;
    until_closed(&mut speaker.client).await;
    until_closed(&mut listener.client).await;
    until_closed(&mut host).await;
    assert!(!owner.runs(&room));

    // Everyone comes back to the survivor, resuming exactly; the bots offer again.
    let mut host = resume_on(survivor, &room, &chair, host.resume_point()).await;
    assert!(!host.resynced(), "the host resumed exactly");
    let mut speaker = speaker.rejoin(survivor, &room, &m1, publisher()).await;
    let mut listener = listener.rejoin(survivor, &room, &m2, receiver()).await;
    assert!(survivor.runs(&room), "the survivor owns the room now");
    seen_then_heard_with_the_floor(
        &mut speaker,
        &mut listener,
        &mut host,
        "the new owner's SFU",
    )
    .await;
    let state = listener
        .state
        .clone()
        .expect("a media_state from the new owner");
    assert_eq!(state.heard[0].0, "m1", "{state:?}");
    // The record went on from the old owner's events: one chain.
    let loaded = survivor.state.store.load(&room).await.unwrap();
    yishi::room::verify_chain(&loaded.entries).unwrap();
    assert!(loaded.entries.len() as u32 > ended);
    survivor.state.hub.shutdown().await;
}
