//! Two media bots connected directly to each other on loopback (no server).

use std::time::{Duration, Instant};

use anyhow::bail;
use yishi_testkit::media_peer::{MediaPeer, PeerOptions, PeerStats};

const CONNECT: Duration = Duration::from_secs(10);
const MEDIA: Duration = Duration::from_secs(10);

fn sender_opts() -> PeerOptions {
    PeerOptions {
        send_audio: true,
        send_video: true,
        audio_level: 30,
        video_frame_bytes: 1200 * 3,
        // Long enough that any key frame after the first one answers our PLI.
        keyframe_interval: Duration::from_secs(600),
        ..PeerOptions::default()
    }
}

fn receiver_opts() -> PeerOptions {
    PeerOptions {
        send_audio: false,
        send_video: false,
        ..PeerOptions::default()
    }
}

/// Polls `peer`'s counters every 20 ms until `cond` holds; fails with the last snapshot after
/// `timeout`.
async fn wait_for(
    what: &str,
    peer: &MediaPeer,
    timeout: Duration,
    cond: impl Fn(&PeerStats) -> bool,
) -> anyhow::Result<PeerStats> {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = peer.stats();
        if cond(&stats) {
            return Ok(stats);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}: {stats:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn m_lines(sdp: &str) -> Vec<&str> {
    sdp.lines().filter(|l| l.starts_with("m=")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_video_flow_and_a_pli_brings_a_key_frame() -> anyhow::Result<()> {
    let a = MediaPeer::new(sender_opts()).await?;
    let b = MediaPeer::new(receiver_opts()).await?;

    let offer = a.offer().await?;
    let lines = m_lines(&offer);
    assert!(lines.iter().any(|l| l.starts_with("m=audio")), "{offer}");
    assert!(lines.iter().any(|l| l.starts_with("m=video")), "{offer}");
    assert!(offer.contains("a=sendonly"), "{offer}");
    assert!(offer.contains("opus/48000/2"), "{offer}");
    assert!(offer.contains("VP8/90000"), "{offer}");
    assert!(
        offer.contains("urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
        "{offer}"
    );
    assert!(offer.contains("a=candidate:"), "no candidates in {offer}");

    let answer = b.answer(&offer).await?;
    assert!(answer.contains("a=recvonly"), "{answer}");
    a.accept_answer(&answer).await?;
    a.wait_connected(CONNECT).await?;
    b.wait_connected(CONNECT).await?;

    // The first key frame may go out before B can decrypt it (A sends once its own side
    // is connected); the request below brings one either way.
    let got = wait_for("media at B", &b, MEDIA, |s| {
        s.audio_packets_received > 20 && s.video_packets_received > 20
    })
    .await?;
    assert!(got.audio_bytes_received > 0 && got.video_bytes_received > 0);
    // Both transceivers counted under their mids.
    assert_eq!(got.per_mid.len(), 2, "{got:#?}");
    for mid in got.per_mid.keys() {
        assert!(!mid.starts_with("track:"), "mid not found: {got:#?}");
        assert!(
            offer.contains(&format!("a=mid:{mid}")),
            "{mid} not in the offer"
        );
    }
    assert!(
        got.audio_levels_seen > 0,
        "no audio level extension: {got:#?}"
    );
    assert_eq!(got.last_audio_level_received, Some(30));

    // Change the level; B sees the new one.
    a.set_audio_level(90);
    wait_for("the new audio level at B", &b, MEDIA, |s| {
        s.last_audio_level_received == Some(90)
    })
    .await?;

    let sent = a.stats();
    assert!(
        sent.audio_packets_sent > 20 && sent.video_packets_sent > 20,
        "{sent:#?}"
    );
    assert_eq!(
        sent.video_keyframes_sent, 1,
        "only the first frame so far: {sent:#?}"
    );

    // B asks for a key frame; A counts the request and sends one, which B sees.
    let keyframes_before = b.stats().video_keyframes_received;
    let requests_before = a.stats().keyframe_requests_received;
    assert_eq!(b.request_keyframe().await?, 1);
    assert_eq!(b.stats().keyframe_requests_sent, 1);
    wait_for("the PLI at A", &a, MEDIA, |s| {
        s.keyframe_requests_received > requests_before && s.video_keyframes_sent >= 2
    })
    .await?;
    wait_for("the requested key frame at B", &b, MEDIA, |s| {
        s.video_keyframes_received > keyframes_before
    })
    .await?;

    // A receives nothing: B sends no media.
    let a_stats = a.stats();
    assert_eq!(
        a_stats.audio_packets_received + a_stats.video_packets_received,
        0
    );

    a.close().await;
    b.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_nothing_offers_a_data_channel_only() -> anyhow::Result<()> {
    let b = MediaPeer::new(receiver_opts()).await?;
    let offer = b.offer().await?;
    let lines = m_lines(&offer);
    assert_eq!(lines.len(), 1, "{offer}");
    assert!(lines[0].starts_with("m=application"), "{offer}");
    assert!(
        !offer.contains("a=ssrc:") && !offer.contains("a=msid:"),
        "{offer}"
    );
    b.close().await;
    Ok(())
}

/// The SFU flow: the bot that sends nothing offers a data channel, the other side answers and
/// later offers its media; the bot answers that renegotiation and receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_added_by_a_later_offer_from_the_remote_side() -> anyhow::Result<()> {
    let a = MediaPeer::new(sender_opts()).await?;
    let b = MediaPeer::new(receiver_opts()).await?;

    let offer = b.offer().await?;
    let answer = a.answer(&offer).await?;
    b.accept_answer(&answer).await?;
    a.wait_connected(CONNECT).await?;
    b.wait_connected(CONNECT).await?;

    let renegotiation = a.offer().await?;
    let lines = m_lines(&renegotiation);
    assert_eq!(lines.len(), 3, "{renegotiation}");
    let answer = b.answer(&renegotiation).await?;
    a.accept_answer(&answer).await?;

    let got = wait_for("media at B after renegotiation", &b, MEDIA, |s| {
        s.audio_packets_received > 20
            && s.video_packets_received > 20
            && s.video_keyframes_received >= 1
    })
    .await?;
    assert_eq!(got.per_mid.len(), 2, "{got:#?}");

    a.close().await;
    b.close().await;
    Ok(())
}
