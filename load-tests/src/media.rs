//! The `media` scenario: one publisher (audio + video, a webrtc-rs media bot) sends to K
//! subscriber bots through the SFU; the same bots through Janus's VideoRoom (`janus.rs`).
//!
//! Yishi: a host starts the session; the publisher, a member, asks for the floor and the
//! host grants it (so its audio is forwarded, not only its video); K audience viewers
//! (or, with `--media-subscribers members`, K members) each negotiate over their room
//! WebSocket and receive the stage. Janus: the publisher joins room 1234 and publishes,
//! each subscriber joins with `streams: [{feed}]` and answers Janus's offer.
//!
//! Measuring: warm up until every subscriber has received a video key frame (join time:
//! from the subscriber's start to that key frame), then pause the publisher until nothing
//! is in flight, count, let it send for the window, pause again, wait, count. So the
//! publisher's sent counters and the subscribers' received counters cover the same
//! packets exactly: expected = sent × K, loss = 1 − received / expected, per kind.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use webrtc::peer_connection::RTCPeerConnectionState;
use yishi::media::routing::AUDIENCE_AUDIO_SLOTS;
use yishi_protocol::{ClientMessage, Command, EntryKind, ErrorCode, Sdp, ServerMessage};
use yishi_testkit::Client;
use yishi_testkit::media_peer::{MediaPeer, PeerOptions, PeerStats};

use crate::client::stopped;
use crate::janus;
use crate::report::{Lat, Row};
use crate::scenarios::Target;
use crate::sys::{
    CpuMeter, check_local_candidates, nic_tx_packets, rss_bytes, source_ip, udp_counters,
};

/// Sizes of a media run.
#[derive(Debug, Clone)]
pub struct MediaOpts {
    /// Members instead of audience viewers as subscribers.
    pub members: bool,
    /// The measured window.
    pub window: Duration,
    /// Bytes per video frame of the publisher.
    pub frame_bytes: usize,
    /// A kind losing more than this percentage fails the row.
    pub max_loss_pct: f64,
    pub spread: usize,
}

/// Subscribers setting up at once (ICE and DTLS handshakes cost CPU on both sides).
const JOINS_IN_FLIGHT: usize = 8;
/// How long one subscriber may take from its start to its first video key frame.
const JOIN_LIMIT: Duration = Duration::from_secs(30);
/// Signalling answers and connections.
const WAIT: Duration = Duration::from_secs(20);
/// After pausing the publisher, what is in flight lands: the subscribers' counters must
/// stand still this long, within `DRAIN_LIMIT`.
const QUIET: Duration = Duration::from_millis(500);
const DRAIN_LIMIT: Duration = Duration::from_secs(20);

pub fn scenario_name(o: &MediaOpts) -> &'static str {
    if o.members { "media-members" } else { "media" }
}

fn publisher_options(frame_bytes: usize) -> PeerOptions {
    PeerOptions {
        send_audio: true,
        send_video: true,
        audio_level: 20,
        video_frame_bytes: frame_bytes.max(10),
        ..PeerOptions::default()
    }
}

/// A subscriber sends nothing. A Yishi audience viewer asks for the stage in its offer, as
/// the web client does (one video, three audio slots); members and Janus subscribers get
/// their tracks in the server's offer.
fn subscriber_options(stage: bool) -> PeerOptions {
    PeerOptions {
        send_audio: false,
        send_video: false,
        receive_audio: if stage { AUDIENCE_AUDIO_SLOTS } else { 0 },
        receive_video: usize::from(stage),
        ..PeerOptions::default()
    }
}

/// What the subscriber tasks share.
#[derive(Default)]
struct Subs {
    peers: Mutex<Vec<Arc<MediaPeer>>>,
    /// Start of a subscriber to its first video key frame.
    join: Lat,
    /// Start to the answer to the subscriber's offer (Yishi), to the server's offer of the
    /// tracks (Yishi), to ICE + DTLS connected.
    answered: Lat,
    offered: Lat,
    connected: Lat,
    joined: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Subs {
    fn add(&self, peer: Arc<MediaPeer>) {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(peer);
    }

    fn peers(&self) -> Vec<Arc<MediaPeer>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn fail(&self, e: impl std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    fn first_error(&self) -> String {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// Close every peer (after the tasks holding them ended).
    async fn close_all(&self) {
        let peers = std::mem::take(&mut *self.peers.lock().unwrap_or_else(|e| e.into_inner()));
        for p in peers {
            if let Ok(p) = Arc::try_unwrap(p) {
                p.close().await;
            }
        }
    }
}

/// Where a subscriber is on its way in.
#[derive(PartialEq, Eq)]
enum Joining {
    Waiting,
    Joined,
    Failed,
}

/// Called every 20 ms until the subscriber has joined (or failed).
/// A subscriber on its way in.
struct Progress {
    state: Joining,
    connected: bool,
    offered: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            state: Joining::Waiting,
            connected: false,
            offered: false,
        }
    }

    fn waiting(&self) -> bool {
        self.state == Joining::Waiting
    }
}

/// Called every 20 ms until the subscriber has joined (or failed); true once settled.
fn check_join(p: &mut Progress, peer: &MediaPeer, t0: Instant, subs: &Subs, tag: &str) -> bool {
    if !p.waiting() {
        return false;
    }
    if !p.connected && peer.connection_state() == RTCPeerConnectionState::Connected {
        p.connected = true;
        subs.connected.record(t0.elapsed().as_micros() as u64);
    }
    if peer.stats().video_keyframes_received > 0 {
        p.state = Joining::Joined;
        subs.join.record(t0.elapsed().as_micros() as u64);
        subs.joined.fetch_add(1, Ordering::Relaxed);
        true
    } else if t0.elapsed() > JOIN_LIMIT {
        p.state = Joining::Failed;
        subs.fail(format!(
            "{tag}: no video key frame within {JOIN_LIMIT:?} (connection {})",
            peer.connection_state()
        ));
        true
    } else {
        false
    }
}

/// The subscriber tasks of a run.
struct Crowd {
    subs: Arc<Subs>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Crowd {
    fn new() -> Crowd {
        Crowd {
            subs: Arc::new(Subs::default()),
            tasks: Vec::new(),
            stop: watch::channel(false).0,
        }
    }

    async fn finish(&mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.subs.close_all().await;
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    audio: u64,
    video: u64,
    frames: u64,
}

fn sent(s: &PeerStats) -> Counts {
    Counts {
        audio: s.audio_packets_sent,
        video: s.video_packets_sent,
        frames: s.video_frames_sent,
    }
}

fn received(s: &PeerStats) -> Counts {
    Counts {
        audio: s.audio_packets_received,
        video: s.video_packets_received,
        frames: s.video_frames_received,
    }
}

fn delta(a: Counts, b: Counts) -> Counts {
    Counts {
        audio: b.audio.saturating_sub(a.audio),
        video: b.video.saturating_sub(a.video),
        frames: b.frames.saturating_sub(a.frames),
    }
}

/// Wait until no subscriber receives anything for `QUIET` (a forwarder that fell behind
/// may hold seconds of media); returns how long that took and whether it got quiet.
async fn drain(peers: &[Arc<MediaPeer>]) -> (Duration, bool) {
    let total = || -> u64 {
        peers
            .iter()
            .map(|p| {
                let s = p.stats();
                s.audio_packets_received + s.video_packets_received
            })
            .sum()
    };
    let start = Instant::now();
    let mut last = total();
    let mut still_since = Instant::now();
    while start.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = total();
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= QUIET {
            return (start.elapsed().saturating_sub(QUIET), true);
        }
    }
    (start.elapsed(), false)
}

fn loss_pct(expected: u64, got: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        (1.0 - got as f64 / expected as f64) * 100.0
    }
}

/// Warm up, then the measured window; one row.
async fn measure(
    system: &str,
    publisher: &MediaPeer,
    crowd: &Crowd,
    k: usize,
    pid: Option<u32>,
    o: &MediaOpts,
) -> Row {
    let subs = &crowd.subs;
    let limit = JOIN_LIMIT + Duration::from_millis(300 * k as u64);
    let started = Instant::now();
    while subs.joined.load(Ordering::Relaxed) + subs.failed.load(Ordering::Relaxed) < k
        && started.elapsed() < limit
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warmup = started.elapsed();
    let joined = subs.joined.load(Ordering::Relaxed);
    let mut row = Row::new(scenario_name(o), system, joined);
    row.latency(subs.join.summary());
    row.extra("join_p50_ms", row.p50_ms);
    row.extra("join_p99_ms", row.p99_ms);
    for (name, lat) in [
        ("join_answer_p50_ms", &subs.answered),
        ("join_server_offer_p50_ms", &subs.offered),
        ("join_connected_p50_ms", &subs.connected),
    ] {
        let p = lat.summary();
        if p.max_ms > 0.0 {
            row.extra(name, p.p50_ms);
        }
    }
    row.extra("warmup_s", warmup.as_secs_f64());
    if joined < k {
        row.fail(format!(
            "{joined} of {k} subscribers received video ({} failed; first error: {})",
            subs.failed.load(Ordering::Relaxed),
            subs.first_error()
        ));
    }
    // The key frames every newcomer asked for are out of the way.
    tokio::time::sleep(Duration::from_secs(1)).await;

    publisher.set_paused(true);
    let peers: Vec<Arc<MediaPeer>> = subs
        .peers()
        .into_iter()
        .filter(|p| p.stats().video_keyframes_received > 0)
        .collect();
    let (_, quiet_before) = drain(&peers).await;
    let n = peers.len() as u64;
    let pub0 = sent(&publisher.stats());
    let recv0: Vec<Counts> = peers.iter().map(|p| received(&p.stats())).collect();
    let udp0 = udp_counters();
    let nic0 = nic_tx_packets();
    let server_cpu = CpuMeter::start(pid);
    let own_cpu = CpuMeter::start(Some(std::process::id()));
    let mut peak_rss = pid.and_then(rss_bytes).unwrap_or(0);
    for p in &peers {
        p.take_audio_delays();
    }
    publisher.set_paused(false);
    let t = Instant::now();
    while t.elapsed() < o.window {
        tokio::time::sleep(Duration::from_millis(250).min(o.window)).await;
        if let Some(r) = pid.and_then(rss_bytes) {
            peak_rss = peak_rss.max(r);
        }
    }
    publisher.set_paused(true);
    let window = t.elapsed().as_secs_f64();
    let cpu_pct = server_cpu.percent();
    let bots_cpu_pct = own_cpu.percent();
    let (drained, quiet_after) = drain(&peers).await;
    let udp1 = udp_counters();
    let nic1 = nic_tx_packets();
    let pubd = delta(pub0, sent(&publisher.stats()));
    // Publisher to subscriber, both bots of this process: the forwarder's delay plus
    // both WebRTC stacks'.
    let delays = Lat::new();
    for p in &peers {
        delays.add_recorded(&p.take_audio_delays());
    }
    let delay = delays.summary();
    let mut got = Counts::default();
    for (p, r0) in peers.iter().zip(&recv0) {
        let d = delta(*r0, received(&p.stats()));
        got.audio += d.audio;
        got.video += d.video;
        got.frames += d.frames;
    }
    publisher.set_paused(false);

    let expected = Counts {
        audio: pubd.audio * n,
        video: pubd.video * n,
        frames: pubd.frames * n,
    };
    let forwarded = got.audio + got.video;
    let pps = forwarded as f64 / window;
    row.rate_per_s = (pubd.audio + pubd.video) as f64 / window;
    row.deliveries_per_s = pps;
    let audio_loss = loss_pct(expected.audio, got.audio);
    let video_loss = loss_pct(expected.video, got.video);
    let frame_loss = loss_pct(expected.frames, got.frames);
    // Lost packets: audio packet for packet; video by frames (a forwarder may cut a frame
    // into a different number of packets), at the publisher's packets per frame.
    let per_frame = if pubd.frames > 0 {
        pubd.video as f64 / pubd.frames as f64
    } else {
        0.0
    };
    row.lost = expected.audio.saturating_sub(got.audio)
        + (expected.frames.saturating_sub(got.frames) as f64 * per_frame).round() as u64;
    row.server_cpu_pct = cpu_pct;
    row.server_rss_bytes = (peak_rss > 0).then_some(peak_rss);
    row.extra("window_s", window);
    // How long media kept arriving after the publisher stopped: the forwarder's backlog.
    row.extra("drain_ms", drained.as_secs_f64() * 1000.0);
    if !quiet_before || !quiet_after {
        row.fail(format!(
            "media kept arriving for over {DRAIN_LIMIT:?} after the publisher paused"
        ));
    }
    row.extra("publisher_pps", row.rate_per_s);
    row.extra(
        "expected_pps",
        (expected.audio + expected.video) as f64 / window,
    );
    row.extra("audio_pps", got.audio as f64 / window);
    row.extra("video_pps", got.video as f64 / window);
    row.extra("audio_loss_pct", audio_loss);
    if delay.max_ms > 0.0 {
        row.extra("audio_delay_p50_ms", delay.p50_ms);
        row.extra("audio_delay_p99_ms", delay.p99_ms);
    }
    row.extra("video_loss_pct", video_loss);
    row.extra("video_frame_loss_pct", frame_loss);
    row.extra("video_pkts_per_frame_sent", per_frame);
    if got.frames > 0 {
        row.extra(
            "video_pkts_per_frame_recv",
            got.video as f64 / got.frames as f64,
        );
    }
    if let Some(c) = cpu_pct
        && c > 0.0
    {
        row.extra("pps_per_core", pps / (c / 100.0));
    }
    if let Some(c) = bots_cpu_pct {
        row.extra("bots_cpu_pct", c);
    }
    if let (Some(a), Some(b)) = (udp0, udp1) {
        row.extra(
            "udp_rcvbuf_errors",
            b.rcvbuf_errors.saturating_sub(a.rcvbuf_errors) as f64,
        );
        row.extra(
            "udp_sndbuf_errors",
            b.sndbuf_errors.saturating_sub(a.sndbuf_errors) as f64,
        );
        // Machine-wide, from the start of the window to the end of the drain after it:
        // the forwarder's datagrams plus the publisher's and everyone's RTCP. Beside
        // `expected_pps` it tells whether what was not received was ever sent.
        let span = window + drained.as_secs_f64();
        row.extra(
            "udp_out_per_s",
            b.out_datagrams.saturating_sub(a.out_datagrams) as f64 / span,
        );
        row.extra(
            "udp_in_per_s",
            b.in_datagrams.saturating_sub(a.in_datagrams) as f64 / span,
        );
    }
    if let (Some(a), Some(b)) = (nic0, nic1) {
        // Media that left the machine would show here (it must stay near 0).
        row.extra("nic_tx_packets", b.saturating_sub(a) as f64);
    }
    if n == 0 || forwarded == 0 {
        row.fail("nothing was forwarded");
    }
    if pubd.audio == 0 || pubd.frames == 0 {
        row.fail(format!(
            "the publisher sent {} audio packets and {} video frames in the window",
            pubd.audio, pubd.frames
        ));
    }
    // Video is judged by frames: packets depend on the forwarder's packetisation.
    for (kind, loss) in [("audio", audio_loss), ("video frame", frame_loss)] {
        if loss > o.max_loss_pct {
            row.fail(format!(
                "{kind} loss {loss:.2} % over {} subscribers (limit {} %)",
                n, o.max_loss_pct
            ));
        }
    }
    row
}

// ----- Yishi -----

/// Offer, then wait for the server's answer.
pub(crate) async fn negotiate(ctl: &mut Client, peer: &MediaPeer) -> anyhow::Result<()> {
    let offer = peer.offer().await?;
    ctl.send_msg(&ClientMessage::MediaOffer(Sdp { sdp: offer }))
        .await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ctl
            .try_recv(left)
            .await
            .context("waiting for media_answer")?
        {
            Some(ServerMessage::MediaAnswer(a)) => {
                check_local_candidates(&a.sdp)?;
                peer.accept_answer(&a.sdp).await?;
                return Ok(());
            }
            Some(ServerMessage::Error(e)) => {
                bail!("media refused: {:?} {}", e.code, e.message)
            }
            None => bail!("closed before media_answer"),
            Some(_) => {}
        }
    }
}

/// Answer a server offer; fail on a media error.
async fn serve(ctl: &mut Client, peer: &MediaPeer, msg: ServerMessage) -> anyhow::Result<()> {
    match msg {
        ServerMessage::MediaOffer(offer) => {
            check_local_candidates(&offer.sdp)?;
            let sdp = peer.answer(&offer.sdp).await?;
            ctl.send_msg(&ClientMessage::MediaAnswer(Sdp { sdp }))
                .await?;
        }
        ServerMessage::Error(e)
            if matches!(
                e.code,
                ErrorCode::MediaRejected | ErrorCode::MediaUnavailable
            ) =>
        {
            bail!("media error: {:?} {}", e.code, e.message)
        }
        _ => {}
    }
    Ok(())
}

/// Keep a connection's signalling going until told to stop.
pub(crate) async fn pump(mut ctl: Client, peer: Arc<MediaPeer>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            m = ctl.try_recv(Duration::from_secs(24 * 3600)) => match m {
                Ok(Some(msg)) => if let Err(e) = serve(&mut ctl, &peer, msg).await {
                    eprintln!("  media publisher: {e:#}");
                    break;
                },
                Ok(None) | Err(_) => break,
            }
        }
    }
    ctl.close().await;
}

struct YishiSub {
    addr: std::net::SocketAddr,
    src: std::net::Ipv4Addr,
    token: String,
    tag: String,
    audience: bool,
}

/// A subscriber's start, the same against either server: wait for a place among those
/// joining at once (the permit, kept until it has joined), then `setup`; a failure is
/// reported under `tag`. Returns the permit, when it started, and what `setup` made.
async fn start<T>(
    gate: Arc<Semaphore>,
    subs: &Subs,
    tag: &str,
    setup: impl Future<Output = anyhow::Result<T>>,
) -> Option<(Option<OwnedSemaphorePermit>, Instant, T)> {
    let permit = gate.acquire_owned().await.ok()?;
    let t0 = Instant::now();
    match setup.await {
        Ok(made) => Some((Some(permit), t0, made)),
        Err(e) => {
            subs.fail(format!("{tag}: {e:#}"));
            None
        }
    }
}

async fn yishi_subscriber(
    me: YishiSub,
    subs: Arc<Subs>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let setup = async {
        let mut ctl = Client::join(me.addr, me.src, &me.token, &me.tag, None).await?;
        let peer = Arc::new(MediaPeer::new(subscriber_options(me.audience)).await?);
        subs.add(Arc::clone(&peer));
        negotiate(&mut ctl, &peer).await?;
        anyhow::Ok((ctl, peer))
    };
    let Some((mut permit, t0, (mut ctl, peer))) = start(gate, &subs, &me.tag, setup).await else {
        return;
    };
    subs.answered.record(t0.elapsed().as_micros() as u64);
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            m = ctl.try_recv(Duration::from_secs(24 * 3600)) => match m {
                Ok(Some(msg)) => {
                    if !progress.offered && matches!(msg, ServerMessage::MediaOffer(_)) {
                        progress.offered = true;
                        subs.offered.record(t0.elapsed().as_micros() as u64);
                    }
                    if let Err(e) = serve(&mut ctl, &peer, msg).await {
                        if progress.waiting() {
                            subs.fail(format!("{}: {e:#}", me.tag));
                        }
                        break;
                    }
                }
                Ok(None) | Err(_) => {
                    if progress.waiting() {
                        subs.fail(format!("{}: connection closed while joining", me.tag));
                    }
                    break;
                }
            },
            _ = tick.tick(), if progress.waiting() => {
                if check_join(&mut progress, &peer, t0, &subs, &me.tag) {
                    permit = None;
                }
            }
        }
    }
    drop(permit);
    ctl.close().await;
}

/// `media` against Yishi: one publisher with the floor, K subscribers.
pub async fn yishi(t: &Target, o: &MediaOpts, k: usize) -> anyhow::Result<Row> {
    let name = scenario_name(o);
    let room = t.create_room_of(name, "consultation").await?;
    let mut host = t.host(&room, "h").await?;
    host.try_cmd(Command::StartSession).await?;
    let mut ctl = Client::join(
        t.addr,
        std::net::Ipv4Addr::LOCALHOST,
        &t.member_token(&room, "pub"),
        "p",
        None,
    )
    .await?;
    ctl.try_cmd(Command::RequestFloor {
        kind: EntryKind::Impromptu,
        speaker: None,
        replying_to: None,
    })
    .await?;
    host.try_cmd(Command::GrantFloor {
        entry: None,
        reason: None,
    })
    .await?;
    let publisher = Arc::new(MediaPeer::new(publisher_options(o.frame_bytes)).await?);
    negotiate(&mut ctl, &publisher).await?;
    publisher
        .wait_connected(WAIT)
        .await
        .context("the publisher's connection")?;
    let mut crowd = Crowd::new();
    let pub_task = tokio::spawn(pump(ctl, Arc::clone(&publisher), crowd.stop.subscribe()));
    let gate = Arc::new(Semaphore::new(JOINS_IN_FLIGHT));
    for i in 0..k {
        let token = if o.members {
            t.member_token(&room, &format!("s{i}"))
        } else {
            t.audience_token(&room)
        };
        let me = YishiSub {
            addr: t.addr,
            src: source_ip(i, o.spread),
            token,
            tag: format!("sub{i}"),
            audience: !o.members,
        };
        crowd.tasks.push(tokio::spawn(yishi_subscriber(
            me,
            Arc::clone(&crowd.subs),
            Arc::clone(&gate),
            crowd.stop.subscribe(),
        )));
    }
    let row = measure("yishi", &publisher, &crowd, k, t.pid, o).await;
    crowd.finish().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_task).await;
    if let Ok(p) = Arc::try_unwrap(publisher) {
        p.close().await;
    }
    host.close().await;
    Ok(row)
}

// ----- Janus -----

/// One Janus subscriber: where Janus is, the address to bind, the feed to take.
struct JanusSub {
    http: reqwest::Client,
    base: String,
    ice_ip: std::net::IpAddr,
    feed: u64,
    tag: String,
}

async fn janus_subscriber(
    me: JanusSub,
    subs: Arc<Subs>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let JanusSub {
        http,
        base,
        ice_ip,
        feed,
        tag,
    } = me;
    let setup = async {
        let mut session = janus::Session::open(&http, &base).await?;
        let peer = Arc::new(MediaPeer::new_on(subscriber_options(false), ice_ip).await?);
        subs.add(Arc::clone(&peer));
        session.subscribe(&peer, feed).await?;
        anyhow::Ok((session, peer))
    };
    let Some((mut permit, t0, (mut session, peer))) = start(gate, &subs, &tag, setup).await else {
        return;
    };
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut keepalive = tokio::time::interval(janus::KEEPALIVE_EVERY);
    keepalive.tick().await;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = keepalive.tick() => {
                if let Err(e) = session.keepalive().await {
                    eprintln!("  janus {tag}: keepalive: {e:#}");
                }
            }
            _ = tick.tick(), if progress.waiting() => {
                if check_join(&mut progress, &peer, t0, &subs, &tag) {
                    permit = None;
                }
            }
        }
    }
    drop(permit);
    session.destroy().await;
}

/// `media` against Janus's VideoRoom: the same publisher and K subscribers.
pub async fn janus(bin: &Path, o: &MediaOpts, k: usize) -> anyhow::Result<Row> {
    let mut srv = janus::spawn(bin).await?;
    eprintln!(
        "  janus {} gathers ICE on {} (a local address: Janus skips loopback interfaces)",
        srv.base, srv.ice_ip
    );
    let http = reqwest::Client::new();
    let mut session = janus::Session::open(&http, &srv.base).await?;
    // The bots bind to the address Janus gathers on (see janus.rs): the kernel delivers
    // between two addresses of this machine over the loopback device.
    let ice_ip = std::net::IpAddr::V4(srv.ice_ip);
    let publisher = Arc::new(MediaPeer::new_on(publisher_options(o.frame_bytes), ice_ip).await?);
    let feed = session.publish(&publisher).await?;
    publisher.wait_connected(WAIT).await.with_context(|| {
        format!(
            "the publisher's connection; janus log:\n{}",
            srv.proc.log_tail()
        )
    })?;
    let mut crowd = Crowd::new();
    let gate = Arc::new(Semaphore::new(JOINS_IN_FLIGHT));
    for i in 0..k {
        let me = JanusSub {
            http: http.clone(),
            base: srv.base.clone(),
            ice_ip,
            feed,
            tag: format!("sub{i}"),
        };
        crowd.tasks.push(tokio::spawn(janus_subscriber(
            me,
            Arc::clone(&crowd.subs),
            Arc::clone(&gate),
            crowd.stop.subscribe(),
        )));
    }
    let mut stop = crowd.stop.subscribe();
    let keepalive = async {
        let mut every = tokio::time::interval(janus::KEEPALIVE_EVERY);
        every.tick().await;
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => break,
                _ = every.tick() => {
                    if let Err(e) = session.keepalive().await {
                        eprintln!("  janus publisher: keepalive: {e:#}");
                    }
                }
            }
        }
    };
    let measured = async {
        let row = measure("janus", &publisher, &crowd, k, Some(srv.proc.pid()), o).await;
        let _ = crowd.stop.send(true);
        row
    };
    let (mut row, ()) = tokio::join!(measured, keepalive);
    if let Err(e) = srv.proc.check_alive() {
        row.fail(format!("{e:#}"));
    }
    crowd.finish().await;
    session.destroy().await;
    if let Ok(p) = Arc::try_unwrap(publisher) {
        p.close().await;
    }
    Ok(row)
}
