//! Room participants with media bots (the load-test tool's `webrtc` peer), signalling
//! over their WebSocket as the web client does, and the checks the media tests share:
//! whom a bot sees and hears, and when. Used by `tests/media.rs` (in-process servers)
//! and `tests/cluster.rs` (`yishi serve` processes).

use std::time::{Duration, Instant};

use yishi_protocol::{ClientMessage, EntryKind, MediaState, Participant, Role, Sdp, ServerMessage};
use yishi_testkit::media_peer::{MediaPeer, PeerOptions, PeerStats};

use super::Client;

/// How long media takes at most to reach a bot (or a signal to arrive).
pub const WAIT: Duration = Duration::from_secs(15);

/// A room participant with a media bot, signalling over its WebSocket.
pub struct Party {
    pub client: Client,
    pub peer: MediaPeer,
    pub state: Option<MediaState>,
}

impl Party {
    /// Offer a new peer's media on `client` and take the answer.
    pub async fn negotiate(mut client: Client, options: PeerOptions) -> Party {
        let peer = MediaPeer::new(options).await.unwrap();
        let offer = peer.offer().await.unwrap();
        send(&mut client, ClientMessage::MediaOffer(Sdp { sdp: offer })).await;
        let mut party = Party {
            client,
            peer,
            state: None,
        };
        // The answer comes first; any server offer after it is handled by `pump`.
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no media_answer");
            if let Some(ServerMessage::MediaAnswer(answer)) = party.client.media.front().cloned() {
                party.client.media.pop_front();
                party.peer.accept_answer(&answer.sdp).await.unwrap();
                break;
            }
            if let Some(e) = party.client.errors.first() {
                panic!("media refused: {e:?}");
            }
            party.recv_for(Duration::from_millis(50)).await;
        }
        party
    }

    /// After its connection ended (the room's owner went away), on `client`, which
    /// resumed where it was: start media afresh with a new peer and offer, as the web
    /// client does after a reconnect.
    pub async fn offer_again(self, client: Client, options: PeerOptions) -> Party {
        self.peer.close().await;
        assert!(
            !client.resynced(),
            "{} resumed exactly",
            client.welcome.you.id.0
        );
        Party::negotiate(client, options).await
    }

    /// Take in what arrives for `d`.
    pub async fn recv_for(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while let Ok(Some(_)) = tokio::time::timeout_at(until, self.client.recv()).await {}
    }

    /// Answer queued server offers and keep the latest media state.
    pub async fn pump(&mut self) {
        while let Some(msg) = self.client.media.pop_front() {
            match msg {
                ServerMessage::MediaOffer(offer) => {
                    let answer = self.peer.answer(&offer.sdp).await.unwrap();
                    send(
                        &mut self.client,
                        ClientMessage::MediaAnswer(Sdp { sdp: answer }),
                    )
                    .await;
                }
                ServerMessage::MediaState(state) => self.state = Some(state),
                other => panic!("unexpected media message {other:?}"),
            }
        }
    }
}

pub async fn send(client: &mut Client, msg: ClientMessage) {
    client.send_raw(serde_json::to_string(&msg).unwrap()).await;
}

pub fn member(id: &str) -> Participant {
    Participant::new(id, format!("委员{id}"), Role::Member)
}

/// A bot that sends audio (at a level the SFU takes for speech) and video.
pub fn publisher() -> PeerOptions {
    PeerOptions {
        send_audio: true,
        send_video: true,
        audio_level: 20,
        video_frame_bytes: 2400,
        ..PeerOptions::default()
    }
}

/// A bot that only receives.
pub fn receiver() -> PeerOptions {
    PeerOptions {
        send_audio: false,
        send_video: false,
        ..PeerOptions::default()
    }
}

/// Keep every party's signalling going for `d`.
pub async fn run(parties: &mut [&mut Party], d: Duration) {
    let slice = Duration::from_millis(50) / parties.len() as u32;
    let until = Instant::now() + d;
    while Instant::now() < until {
        for p in parties.iter_mut() {
            p.recv_for(slice).await;
            p.pump().await;
        }
    }
}

/// Run until `pred` holds for `watch`'s stats, or fail after the wait.
pub async fn until(
    what: &str,
    parties: &mut [&mut Party],
    watch: usize,
    pred: impl Fn(&PeerStats) -> bool,
) -> PeerStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = parties[watch].peer.stats();
        if pred(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting: {what}; {stats:?}"
        );
        run(parties, Duration::from_millis(100)).await;
    }
}

/// `speaker` asks for the floor and the host grants it.
pub async fn give_floor(speaker: &mut Client, host: &mut Client) {
    speaker.request_floor(EntryKind::Impromptu).await;
    host.grant_next().await;
}

/// Run until `listener` (m2) sees `speaker` (m1) through `sfu`.
pub async fn sees(speaker: &mut Party, listener: &mut Party, sfu: &str) {
    let mut all = [speaker, listener];
    until(&format!("m2 sees m1 through {sfu}"), &mut all, 1, |s| {
        s.video_packets_received > 30 && s.video_keyframes_received > 0
    })
    .await;
}

/// `listener` (m2) sees `speaker` (m1) through `sfu` but does not hear it, then hears it
/// once the host has given it the floor.
pub async fn seen_then_heard_with_the_floor(
    speaker: &mut Party,
    listener: &mut Party,
    host: &mut Client,
    sfu: &str,
) {
    sees(speaker, listener, sfu).await;
    {
        let mut all = [&mut *speaker, &mut *listener];
        run(&mut all, Duration::from_millis(500)).await;
        assert_eq!(
            all[1].peer.stats().audio_packets_received,
            0,
            "m1 is heard through {sfu} without the floor"
        );
    }
    give_floor(&mut speaker.client, host).await;
    let mut all = [speaker, listener];
    until(
        &format!("m2 hears m1 through {sfu} once given the floor"),
        &mut all,
        1,
        |s| s.audio_packets_received > 25,
    )
    .await;
}
