//! A WebRTC test peer ("media bot") built on the `webrtc` crate (0.21, the async layer over
//! the sans-IO `rtc` crate).
//!
//! A [`MediaPeer`] binds one UDP socket on 127.0.0.1 (host candidates only: no STUN, no TURN,
//! no mDNS), negotiates without trickle (every SDP it hands out already carries its candidates)
//! and, once connected, sends synthetic media:
//!
//! - audio: Opus-shaped 20 ms packets (50/s, payload type from the negotiation, 48 kHz/2ch),
//!   each carrying the RFC 6464 audio level header extension
//!   (`urn:ietf:params:rtp-hdrext:ssrc-audio-level`) with the configured level;
//! - video: VP8 frames at 30/s with a valid frame header, packetised by the `rtc` VP8
//!   payloader (RFC 7741 payload descriptor with picture id); a key frame every
//!   [`PeerOptions::keyframe_interval`] and right after a PLI or FIR arrives.
//!
//! Everything it sends and receives is counted in atomics; [`MediaPeer::stats`] takes a
//! snapshot. It is meant for tests of the SFU and for the load-test tool, not for real calls:
//! the payloads are not decodable media.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use rtc::interceptor::{
    Attribute, Interceptor, Packet as ChainPacket, Slot, StreamInfo, TaggedPacket,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::opus::OpusPayloader;
use rtc::rtp::codec::vp8::Vp8Payloader;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp::packetizer::{Packetizer, Payloader, new_packetizer};
use rtc::rtp::sequence::new_random_sequencer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RTCRtpHeaderExtensionParameters,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::sdp::extmap::{AUDIO_LEVEL_URI, SDES_MID_URI};
use rtc::shared::marshal::Marshal;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription,
    Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::{
    RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender, RtpTransceiver,
};

/// Payload type offered for Opus (the answer may pick another; the bot uses the negotiated one).
const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Payload type offered for VP8.
const VP8_PAYLOAD_TYPE: u8 = 96;
/// RTP payload budget per packet, as browsers use.
const RTP_MTU: usize = 1200;
/// One Opus packet: 20 ms at 48 kHz.
const AUDIO_PTIME: Duration = Duration::from_millis(20);
const AUDIO_SAMPLES_PER_PACKET: u32 = 960;
/// 30 frames per second on the 90 kHz video clock.
const VIDEO_FRAME_INTERVAL: Duration = Duration::from_micros(33_333);
const VIDEO_TICKS_PER_FRAME: u32 = 3000;
/// Size written into VP8 key frame headers.
const VIDEO_WIDTH: u16 = 640;
const VIDEO_HEIGHT: u16 = 360;
/// How long `offer`/`answer` wait for ICE gathering (host candidates only, so it is quick).
const GATHER_TIMEOUT: Duration = Duration::from_secs(10);
/// Slot of the keyframe-request forwarder: application-most, after every default interceptor.
const FORWARDER_SLOT: usize = 14_000;

/// What a [`MediaPeer`] sends.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// Send an Opus audio track.
    pub send_audio: bool,
    /// Send a VP8 video track.
    pub send_video: bool,
    /// RFC 6464 level in -dBov (0 loudest, 127 silent) written on every audio packet; values
    /// above 127 are clamped. The voice-activity bit is set when the level is below 127.
    pub audio_level: u8,
    /// Size of each video frame in bytes, at least 10 (e.g. 1200 * 3 for three packets a frame).
    pub video_frame_bytes: usize,
    /// Time between periodic key frames (a PLI or FIR also forces one at once).
    pub keyframe_interval: Duration,
    /// Receive-only audio and video transceivers in the offer, as a browser viewer asks for
    /// the stage. A peer that neither sends nor asks to receive offers a data channel only
    /// (and gets its tracks in the server's next offer).
    pub receive_audio: usize,
    pub receive_video: usize,
    /// Real VP8 frames to send in a loop instead of synthetic ones, the first a key frame
    /// and the others following it (an encoder's output, e.g. ffmpeg's libvpx in IVF): the
    /// video is then decodable, for a receiver that decodes it (the livestream's worker).
    /// A key frame due (every `keyframe_interval`, after a PLI) goes on at the clip's next
    /// key frame (the first after its end): at once if the clip is all key frames.
    /// When each clip frame was sent is kept for [`MediaPeer::take_clip_sends`].
    pub video_clip: Option<Arc<[Bytes]>>,
}

impl Default for PeerOptions {
    /// Audio and video, a speaking level of 30 -dBov, three-packet frames, a key frame every 2 s.
    fn default() -> Self {
        PeerOptions {
            send_audio: true,
            send_video: true,
            audio_level: 30,
            video_frame_bytes: 1200 * 3,
            keyframe_interval: Duration::from_secs(2),
            receive_audio: 0,
            receive_video: 0,
            video_clip: None,
        }
    }
}

/// A snapshot of a [`MediaPeer`]'s counters.
#[derive(Clone, Debug, Default)]
pub struct PeerStats {
    /// RTP packets received on audio tracks.
    pub audio_packets_received: u64,
    /// RTP packets received on video tracks.
    pub video_packets_received: u64,
    /// RTP payload bytes received on audio tracks.
    pub audio_bytes_received: u64,
    /// RTP payload bytes received on video tracks.
    pub video_bytes_received: u64,
    /// VP8 key frames received (counted on the first packet of each frame).
    pub video_keyframes_received: u64,
    /// Video frames received: packets with the RTP marker bit (the last packet of a frame).
    /// Unlike packets, frames do not depend on how a forwarder packetises them.
    pub video_frames_received: u64,
    /// PLI or FIR packets received for our video sender.
    pub keyframe_requests_received: u64,
    /// PLI packets this peer sent (see [`MediaPeer::request_keyframe`]).
    pub keyframe_requests_sent: u64,
    /// RTP packets handed to the connection for sending on the audio track.
    pub audio_packets_sent: u64,
    /// RTP packets handed to the connection for sending on the video track.
    pub video_packets_sent: u64,
    /// VP8 key frames sent.
    pub video_keyframes_sent: u64,
    /// Video frames whose packets were all handed to the connection.
    pub video_frames_sent: u64,
    /// RTP packets that could not be built or handed to the connection. Packets the driver
    /// drops later are not seen here (the async API does not report them).
    pub send_errors: u64,
    /// RTP packets received per transceiver mid (`track:<id>` if the mid could not be found).
    pub per_mid: BTreeMap<String, u64>,
    /// Audio packets received that carried the RFC 6464 audio level extension.
    pub audio_levels_seen: u64,
    /// The level (-dBov) of the last audio level extension received, if any.
    pub last_audio_level_received: Option<u8>,
}

/// A WebRTC peer that sends synthetic audio/video and counts what it receives.
pub struct MediaPeer {
    pc: Arc<dyn PeerConnection>,
    shared: Arc<Shared>,
    /// Keeps the data channel of a peer that sends nothing alive.
    _data_channel: Option<Arc<dyn DataChannel>>,
    tasks: Vec<JoinHandle<()>>,
}

impl MediaPeer {
    /// Creates the peer connection (UDP on 127.0.0.1, an ephemeral port) and its send tracks.
    /// Media starts flowing once the connection is up.
    pub async fn new(opts: PeerOptions) -> anyhow::Result<MediaPeer> {
        MediaPeer::new_on(opts, std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// Like [`MediaPeer::new`], with the UDP socket bound to `ip` (an address of this machine)
    /// instead of 127.0.0.1: for a remote side that cannot reach loopback. Janus, for one,
    /// gathers on non-loopback interfaces only and pins its sockets to their interface
    /// (`IP_UNICAST_IF`), so its datagrams to 127.0.0.1 would leave by that interface.
    pub async fn new_on(opts: PeerOptions, ip: std::net::IpAddr) -> anyhow::Result<MediaPeer> {
        let mut media_engine = MediaEngine::default();
        register_codecs(&mut media_engine)?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?.with(
            Slot::from(FORWARDER_SLOT),
            KeyframeRequestForwarder::default(),
        );

        // Connectivity checks every 50 ms (RFC 8445's Ta, as browsers pace them) rather
        // than the crate's 200 ms, for the same 1.4 s of attempts: against an ICE-lite
        // server the bot is the controlling side and its pacing would be the join time.
        let setting_engine = SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(28))
            .build();

        let shared = Arc::new(Shared::new(opts.audio_level));
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_setting_engine(setting_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                shared: Arc::clone(&shared),
            }))
            .with_udp_addrs(vec![std::net::SocketAddr::new(ip, 0).to_string()])
            .build()
            .await
            .context("building the peer connection")?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        // The handler reaches the connection through a weak pointer: the connection owns the
        // handler, so a strong one would be a cycle.
        let _ = shared.pc.set(Arc::downgrade(&pc));

        let stream_id = format!("yishi-bot-{:08x}", rand_u32());
        let mut tasks = Vec::new();
        if opts.send_audio {
            let (track, gate, ssrc) = add_send_track(&pc, &stream_id, RtpCodecKind::Audio).await?;
            tasks.push(tokio::spawn(send_audio(
                Arc::clone(&shared),
                track,
                gate,
                ssrc,
            )));
        }
        if opts.send_video {
            let (track, gate, ssrc) = add_send_track(&pc, &stream_id, RtpCodecKind::Video).await?;
            tasks.push(tokio::spawn(read_keyframe_requests(
                Arc::clone(&shared),
                Arc::clone(&track),
            )));
            tasks.push(tokio::spawn(send_video(
                Arc::clone(&shared),
                track,
                gate,
                ssrc,
                opts.video_frame_bytes,
                opts.keyframe_interval,
                opts.video_clip.clone(),
            )));
        }
        let receive = [
            (RtpCodecKind::Audio, opts.receive_audio),
            (RtpCodecKind::Video, opts.receive_video),
        ];
        for (kind, count) in receive {
            for _ in 0..count {
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await
                .context("adding a receive-only transceiver")?;
            }
        }
        let data_channel =
            if opts.send_audio || opts.send_video || opts.receive_audio + opts.receive_video > 0 {
                None
            } else {
                Some(
                    pc.create_data_channel("yishi-bot", None)
                        .await
                        .context("creating the data channel")?,
                )
            };

        Ok(MediaPeer {
            pc,
            shared,
            _data_channel: data_channel,
            tasks,
        })
    }

    /// An offer with the tracks this peer sends (Opus 48 kHz/2ch and VP8 90 kHz, as sendonly
    /// transceivers). A peer that sends nothing offers a data channel only, so the offer has an
    /// m-line; the remote side then adds the media it sends with offers of its own.
    ///
    /// Returns the full SDP once ICE gathering has completed (no trickle needed).
    pub async fn offer(&self) -> anyhow::Result<String> {
        let offer = self.pc.create_offer(None).await.context("create_offer")?;
        self.pc
            .set_local_description(offer)
            .await
            .context("set_local_description(offer)")?;
        self.gathered_local_sdp().await
    }

    /// Applies the remote answer to our last offer.
    pub async fn accept_answer(&self, sdp: &str) -> anyhow::Result<()> {
        let answer = RTCSessionDescription::answer(sdp.to_owned()).context("parsing the answer")?;
        self.pc
            .set_remote_description(answer)
            .await
            .context("set_remote_description(answer)")?;
        Ok(())
    }

    /// Answers a (re)negotiation offer from the remote side, e.g. the SFU adding media that we
    /// only receive. Returns the full SDP of the answer, candidates included.
    pub async fn answer(&self, offer: &str) -> anyhow::Result<String> {
        let offer = RTCSessionDescription::offer(offer.to_owned()).context("parsing the offer")?;
        self.pc
            .set_remote_description(offer)
            .await
            .context("set_remote_description(offer)")?;
        let answer = self.pc.create_answer(None).await.context("create_answer")?;
        self.pc
            .set_local_description(answer)
            .await
            .context("set_local_description(answer)")?;
        self.gathered_local_sdp().await
    }

    /// Waits until the peer connection is connected (ICE and DTLS done). Fails at once if it
    /// fails or closes instead, and after `timeout` otherwise.
    pub async fn wait_connected(&self, timeout: Duration) -> anyhow::Result<()> {
        match tokio::time::timeout(timeout, self.shared.settled()).await {
            Ok(RTCPeerConnectionState::Connected) => Ok(()),
            Ok(other) => bail!("connection {other} before it connected"),
            Err(_) => bail!(
                "not connected within {timeout:?} (state {})",
                self.connection_state()
            ),
        }
    }

    /// The current connection state.
    pub fn connection_state(&self) -> RTCPeerConnectionState {
        *self.shared.state.borrow()
    }

    /// A snapshot of the counters (atomics, plus a short lock on the per-mid map).
    pub fn stats(&self) -> PeerStats {
        self.shared.stats()
    }

    /// How long the audio packets received since the last call took from their sender
    /// (a peer of this process) to here, as (microseconds, count) pairs; starts over.
    pub fn take_audio_delays(&self) -> Vec<(u64, u64)> {
        self.shared.counters.audio_delays.take()
    }

    /// When each frame of [`PeerOptions::video_clip`] was sent since the last call, in
    /// order: (its index in the clip, the time its packets were written); starts over.
    pub fn take_clip_sends(&self) -> Vec<(usize, Instant)> {
        std::mem::take(
            &mut *self
                .shared
                .clip_sends
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Sets the audio level (-dBov, clamped to 0..=127) written on the following audio packets.
    pub fn set_audio_level(&self, level: u8) {
        self.shared
            .audio_level
            .store(level.min(127), Ordering::Relaxed);
    }

    /// Pauses (or resumes) sending media: while paused the send loops skip their packets (the
    /// RTP clocks and sequence numbers go on as if nothing was captured), so a measurement can
    /// start and end with nothing in flight.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
    }

    /// Sends a PLI for every remote video track received so far and returns how many were sent.
    pub async fn request_keyframe(&self) -> anyhow::Result<usize> {
        let tracks: Vec<Arc<dyn TrackRemote>> = self
            .shared
            .remote_video
            .lock()
            .map_err(|_| anyhow!("remote video list poisoned"))?
            .clone();
        let mut sent = 0;
        for track in tracks {
            let Some(media_ssrc) = track.ssrcs().await.first().copied() else {
                continue;
            };
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            track
                .write_rtcp(vec![Box::new(pli)])
                .await
                .context("sending a PLI")?;
            self.shared
                .counters
                .keyframe_requests_sent
                .fetch_add(1, Ordering::Relaxed);
            sent += 1;
        }
        Ok(sent)
    }

    /// Stops the media and closes the peer connection.
    pub async fn close(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.abort_receivers();
        // Errors here only mean it was already closed.
        let _ = self.pc.close().await;
    }

    /// Our local SDP once ICE gathering is complete.
    async fn gathered_local_sdp(&self) -> anyhow::Result<String> {
        let mut gathering = self.shared.gathering.subscribe();
        tokio::time::timeout(
            GATHER_TIMEOUT,
            gathering.wait_for(|s| *s == RTCIceGatheringState::Complete),
        )
        .await
        .map_err(|_| anyhow!("ICE gathering did not complete within {GATHER_TIMEOUT:?}"))?
        .context("gathering state channel closed")?;
        let desc = self
            .pc
            .local_description()
            .await
            .context("no local description")?;
        Ok(desc.sdp)
    }
}

impl Drop for MediaPeer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.abort_receivers();
    }
}

/// State shared by the handle, the event handler and the media tasks.
struct Shared {
    counters: Counters,
    audio_level: AtomicU8,
    force_keyframe: AtomicBool,
    /// Media sending paused (see [`MediaPeer::set_paused`]).
    paused: AtomicBool,
    state: watch::Sender<RTCPeerConnectionState>,
    gathering: watch::Sender<RTCIceGatheringState>,
    pc: OnceLock<Weak<dyn PeerConnection>>,
    remote_video: Mutex<Vec<Arc<dyn TrackRemote>>>,
    receivers: Mutex<Vec<JoinHandle<()>>>,
    /// The clip frames sent and when, until taken (see [`MediaPeer::take_clip_sends`]).
    clip_sends: Mutex<Vec<(usize, Instant)>>,
}

#[derive(Default)]
struct Counters {
    audio_packets_received: AtomicU64,
    video_packets_received: AtomicU64,
    audio_bytes_received: AtomicU64,
    video_bytes_received: AtomicU64,
    video_keyframes_received: AtomicU64,
    video_frames_received: AtomicU64,
    keyframe_requests_received: AtomicU64,
    keyframe_requests_sent: AtomicU64,
    audio_packets_sent: AtomicU64,
    video_packets_sent: AtomicU64,
    video_keyframes_sent: AtomicU64,
    video_frames_sent: AtomicU64,
    send_errors: AtomicU64,
    audio_levels_seen: AtomicU64,
    /// 0 = none seen yet, otherwise level + 1.
    last_audio_level: AtomicU8,
    per_mid: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    /// Sender-to-receiver time of audio packets, in microseconds (see [`opus_payload`]).
    audio_delays: Delays,
}

/// Delays in microseconds, 1 µs to 1 minute at 3 significant figures.
struct Delays(Mutex<hdrhistogram::Histogram<u64>>);

impl Default for Delays {
    fn default() -> Delays {
        // Valid bounds and precision: this cannot fail.
        let h = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        Delays(Mutex::new(h))
    }
}

impl Delays {
    fn lock(&self) -> std::sync::MutexGuard<'_, hdrhistogram::Histogram<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, us: u64) {
        self.lock().saturating_record(us.max(1));
    }

    /// The recorded values as (value, count), emptied.
    fn take(&self) -> Vec<(u64, u64)> {
        let mut h = self.lock();
        let out = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        h.reset();
        out
    }
}

impl Shared {
    fn new(audio_level: u8) -> Shared {
        Shared {
            counters: Counters::default(),
            audio_level: AtomicU8::new(audio_level.min(127)),
            force_keyframe: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            state: watch::channel(RTCPeerConnectionState::New).0,
            gathering: watch::channel(RTCIceGatheringState::New).0,
            pc: OnceLock::new(),
            remote_video: Mutex::new(Vec::new()),
            receivers: Mutex::new(Vec::new()),
            clip_sends: Mutex::new(Vec::new()),
        }
    }

    fn stats(&self) -> PeerStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let per_mid = c
            .per_mid
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), load(v))).collect())
            .unwrap_or_default();
        PeerStats {
            audio_packets_received: load(&c.audio_packets_received),
            video_packets_received: load(&c.video_packets_received),
            audio_bytes_received: load(&c.audio_bytes_received),
            video_bytes_received: load(&c.video_bytes_received),
            video_keyframes_received: load(&c.video_keyframes_received),
            video_frames_received: load(&c.video_frames_received),
            keyframe_requests_received: load(&c.keyframe_requests_received),
            keyframe_requests_sent: load(&c.keyframe_requests_sent),
            audio_packets_sent: load(&c.audio_packets_sent),
            video_packets_sent: load(&c.video_packets_sent),
            video_keyframes_sent: load(&c.video_keyframes_sent),
            video_frames_sent: load(&c.video_frames_sent),
            send_errors: load(&c.send_errors),
            per_mid,
            audio_levels_seen: load(&c.audio_levels_seen),
            last_audio_level_received: c.last_audio_level.load(Ordering::Relaxed).checked_sub(1),
        }
    }

    fn mid_counter(&self, key: String) -> Arc<AtomicU64> {
        match self.counters.per_mid.lock() {
            Ok(mut map) => Arc::clone(map.entry(key).or_default()),
            // A poisoned map only loses the per-mid figure; keep counting the rest.
            Err(_) => Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits until the connection is connected, failed or closed, and returns which.
    async fn settled(&self) -> RTCPeerConnectionState {
        let mut state = self.state.subscribe();
        state
            .wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            })
            .await
            .map(|s| *s)
            // The sender lives in `self`, so the channel cannot close while we wait.
            .unwrap_or(RTCPeerConnectionState::Closed)
    }

    /// Waits until the connection is up; false if it failed or closed first.
    async fn connected(&self) -> bool {
        self.settled().await == RTCPeerConnectionState::Connected
    }

    fn is_finished(&self) -> bool {
        matches!(
            *self.state.borrow(),
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        )
    }

    fn abort_receivers(&self) {
        if let Ok(tasks) = self.receivers.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

/// Connection events: states into watch channels, each remote track into a counting task.
struct Handler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.shared.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.shared.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // This runs on the connection's driver: anything that round-trips to the driver (mid,
        // receiver parameters) must happen in a task of its own.
        let task = tokio::spawn(receive(Arc::clone(&self.shared), track));
        if let Ok(mut tasks) = self.shared.receivers.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }
}

/// Counts the packets of one remote track until it ends.
async fn receive(shared: Arc<Shared>, track: Arc<dyn TrackRemote>) {
    let kind = track.kind().await;
    if kind == RtpCodecKind::Video
        && let Ok(mut list) = shared.remote_video.lock()
    {
        list.push(Arc::clone(&track));
    }
    let (mid, audio_level_id) = describe_remote_track(&shared, &track).await;
    let key = match mid {
        Some(mid) => mid,
        None => format!("track:{}", track.track_id().await),
    };
    let per_mid = shared.mid_counter(key);
    let c = &shared.counters;

    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                per_mid.fetch_add(1, Ordering::Relaxed);
                let bytes = packet.payload.len() as u64;
                match kind {
                    RtpCodecKind::Audio => {
                        c.audio_packets_received.fetch_add(1, Ordering::Relaxed);
                        if let Some(sent) = payload_stamp(&packet.payload) {
                            c.audio_delays.record(stamp_now().saturating_sub(sent));
                        }
                        c.audio_bytes_received.fetch_add(bytes, Ordering::Relaxed);
                        if let Some(level) = audio_level_id
                            .and_then(|id| packet.header.get_extension(id))
                            .and_then(|ext| ext.first().copied())
                        {
                            c.audio_levels_seen.fetch_add(1, Ordering::Relaxed);
                            c.last_audio_level
                                .store((level & 0x7f) + 1, Ordering::Relaxed);
                        }
                    }
                    RtpCodecKind::Video => {
                        c.video_packets_received.fetch_add(1, Ordering::Relaxed);
                        c.video_bytes_received.fetch_add(bytes, Ordering::Relaxed);
                        if is_vp8_keyframe_start(&packet.payload) {
                            c.video_keyframes_received.fetch_add(1, Ordering::Relaxed);
                        }
                        if packet.header.marker {
                            c.video_frames_received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
    if let Ok(mut list) = shared.remote_video.lock() {
        list.retain(|t| !std::ptr::addr_eq(Arc::as_ptr(t), Arc::as_ptr(&track)));
    }
}

/// The mid of the transceiver receiving `track` and the id negotiated for the audio level
/// extension on it, found through the connection's transceivers.
async fn describe_remote_track(
    shared: &Shared,
    track: &Arc<dyn TrackRemote>,
) -> (Option<String>, Option<u8>) {
    let Some(pc) = shared.pc.get().and_then(Weak::upgrade) else {
        return (None, None);
    };
    for transceiver in pc.get_transceivers().await {
        let Ok(Some(receiver)) = transceiver.receiver().await else {
            continue;
        };
        if !std::ptr::addr_eq(Arc::as_ptr(receiver.track()), Arc::as_ptr(track)) {
            continue;
        }
        let mid = transceiver.mid().await.ok().flatten();
        let audio_level_id = receiver
            .get_parameters()
            .await
            .ok()
            .and_then(|p| extension_id(&p.rtp_parameters.header_extensions, AUDIO_LEVEL_URI));
        return (mid, audio_level_id);
    }
    (None, None)
}

fn extension_id(extensions: &[RTCRtpHeaderExtensionParameters], uri: &str) -> Option<u8> {
    extensions
        .iter()
        .find(|e| e.uri == uri)
        .and_then(|e| u8::try_from(e.id).ok())
}

/// Whether an RTP payload is the first packet of a VP8 key frame: parses the RFC 7741 payload
/// descriptor, then needs the start of partition 0 and the P bit (inverse key frame flag) clear.
fn is_vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let start_of_partition = first & 0x10 != 0;
    let partition_id = first & 0x0f;
    if !start_of_partition || partition_id != 0 {
        return false;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        // X: extension byte I|L|T|K|RSV.
        let Some(&ext) = payload.get(at) else {
            return false;
        };
        at += 1;
        if ext & 0x80 != 0 {
            // I: picture id, 7 or 15 bits (M flag).
            let Some(&pid) = payload.get(at) else {
                return false;
            };
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // L: TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // T or K: TID|Y|KEYIDX
        }
    }
    payload.get(at).is_some_and(|tag| tag & 0x01 == 0)
}

/// Opus 48 kHz/2ch and VP8 (nack, nack pli, ccm fir), the audio level and mid header
/// extensions.
fn register_codecs(media_engine: &mut MediaEngine) -> anyhow::Result<()> {
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: SDES_MID_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    // register_default_interceptors adds mid/rid for video, nack and nack pli.
    Ok(())
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/VP8".to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        }],
    }
}

/// Adds a sendonly transceiver with a fresh track of `kind`; returns the track, its
/// transceiver and its SSRC.
async fn add_send_track(
    pc: &Arc<dyn PeerConnection>,
    stream_id: &str,
    kind: RtpCodecKind,
) -> anyhow::Result<(Arc<TrackLocalStaticRTP>, SendGate, u32)> {
    let ssrc = rand_u32();
    let (name, codec) = match kind {
        RtpCodecKind::Audio => ("audio", opus_codec()),
        _ => ("video", vp8_codec()),
    };
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream_id.to_owned(),
        format!("{stream_id}-{name}"),
        format!("yishi bot {name}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )));
    let transceiver = pc
        .add_transceiver_from_track(
            Arc::clone(&track) as Arc<dyn TrackLocal>,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                ..Default::default()
            }),
        )
        .await
        .with_context(|| format!("adding the {name} transceiver"))?;
    let sender = transceiver
        .sender()
        .await?
        .with_context(|| format!("the {name} transceiver has no sender"))?;
    Ok((track, SendGate::new(transceiver, sender), ssrc))
}

/// What a sender writes on its packets once negotiated: the payload type, the audio level
/// extension id, and the mid extension (id and value) as browsers send it.
#[derive(Clone)]
struct SendParams {
    payload_type: u8,
    audio_level_id: Option<u8>,
    mid: Option<(u8, Bytes)>,
}

impl SendParams {
    /// Stamps the payload type and the mid extension on a packet.
    fn apply(&self, packet: &mut rtc::rtp::Packet) -> rtc::shared::error::Result<()> {
        packet.header.payload_type = self.payload_type;
        if let Some((id, mid)) = &self.mid {
            packet.header.set_extension(*id, mid.clone())?;
        }
        Ok(())
    }
}

/// Tells a send loop whether its transceiver is negotiated to send, and with what.
///
/// `write_rtp` succeeds as soon as the track is bound, i.e. from `add_transceiver_from_track`
/// on; a packet for a transceiver that is not (yet) negotiated is dropped inside the driver
/// without an error. So the loops ask the transceiver for its current direction instead:
/// every 100 ms while it is not sending, every second once it is.
struct SendGate {
    transceiver: Arc<dyn RtpTransceiver>,
    sender: Arc<dyn RtpSender>,
    params: Option<SendParams>,
    checked: Option<Instant>,
}

impl SendGate {
    fn new(transceiver: Arc<dyn RtpTransceiver>, sender: Arc<dyn RtpSender>) -> SendGate {
        SendGate {
            transceiver,
            sender,
            params: None,
            checked: None,
        }
    }

    /// The parameters to send with, or `None` while the transceiver does not send.
    async fn params(&mut self, now: Instant) -> Option<SendParams> {
        let recheck = if self.params.is_some() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        };
        if self
            .checked
            .is_none_or(|t| now.duration_since(t) >= recheck)
        {
            self.checked = Some(now);
            self.params = self.negotiated().await;
        }
        self.params.clone()
    }

    async fn negotiated(&self) -> Option<SendParams> {
        let direction = self.transceiver.current_direction().await.ok()?;
        if !matches!(
            direction,
            RTCRtpTransceiverDirection::Sendonly | RTCRtpTransceiverDirection::Sendrecv
        ) {
            return None;
        }
        let params = self.sender.get_parameters().await.ok()?;
        let codec = params.rtp_parameters.codecs.first()?;
        let extensions = &params.rtp_parameters.header_extensions;
        let mid = self.transceiver.mid().await.ok().flatten();
        Some(SendParams {
            payload_type: codec.payload_type,
            audio_level_id: extension_id(extensions, AUDIO_LEVEL_URI),
            mid: extension_id(extensions, SDES_MID_URI).zip(mid.map(Bytes::from)),
        })
    }
}

/// What a synthetic sender's clock says at a tick.
enum Tick {
    /// The peer is finished: stop.
    Finished,
    /// Not negotiated to send: the sample is skipped, the RTP clock still advances.
    Idle,
    /// Paused (see [`MediaPeer::set_paused`]): skipped likewise.
    Paused,
    /// Send a sample now, with these parameters.
    Send(Instant, SendParams),
}

/// The common part of the synthetic senders: a packetizer, a ticker at the sample
/// interval, and the question at each tick of whether to send.
struct SampleClock {
    packetizer: Box<dyn Packetizer>,
    ticker: tokio::time::Interval,
    /// RTP clock ticks per sample.
    samples: u32,
}

impl SampleClock {
    /// Once the peer is connected (`None` if it never is).
    async fn start(
        shared: &Shared,
        ssrc: u32,
        payload_type: u8,
        payloader: Box<dyn Payloader>,
        clock_rate: u32,
        every: Duration,
        samples: u32,
    ) -> Option<SampleClock> {
        if !shared.connected().await {
            return None;
        }
        let packetizer = new_packetizer(
            Instant::now(),
            RTP_MTU,
            payload_type,
            ssrc,
            payloader,
            Box::new(new_random_sequencer()),
            clock_rate,
        );
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Some(SampleClock {
            packetizer: Box::new(packetizer),
            ticker,
            samples,
        })
    }

    async fn tick(&mut self, shared: &Shared, gate: &mut SendGate) -> Tick {
        self.ticker.tick().await;
        if shared.is_finished() {
            return Tick::Finished;
        }
        let now = Instant::now();
        let Some(p) = gate.params(now).await else {
            self.packetizer.skip_samples(self.samples);
            return Tick::Idle;
        };
        if shared.paused.load(Ordering::Relaxed) {
            self.packetizer.skip_samples(self.samples);
            return Tick::Paused;
        }
        Tick::Send(now, p)
    }

    /// Packetize one sample and write its packets, stamped with `p` and then `stamp`;
    /// returns how many went out and whether all did.
    async fn send(
        &mut self,
        shared: &Shared,
        track: &TrackLocalStaticRTP,
        now: Instant,
        sample: &Bytes,
        p: &SendParams,
        stamp: impl Fn(&mut rtc::rtp::Packet) -> rtc::shared::error::Result<()>,
    ) -> (u64, bool) {
        let Ok(packets) = self.packetizer.packetize(now, sample, self.samples) else {
            shared.counters.send_errors.fetch_add(1, Ordering::Relaxed);
            return (0, false);
        };
        let mut sent = 0;
        let mut all = true;
        for mut packet in packets {
            let stamped = p.apply(&mut packet).and_then(|()| stamp(&mut packet));
            if stamped.is_ok() && track.write_rtp(packet).await.is_ok() {
                sent += 1;
            } else {
                shared.counters.send_errors.fetch_add(1, Ordering::Relaxed);
                all = false;
            }
        }
        (sent, all)
    }
}

/// Opus-shaped audio every 20 ms with the audio level extension, while negotiated to send.
async fn send_audio(
    shared: Arc<Shared>,
    track: Arc<TrackLocalStaticRTP>,
    mut gate: SendGate,
    ssrc: u32,
) {
    let Some(mut clock) = SampleClock::start(
        &shared,
        ssrc,
        OPUS_PAYLOAD_TYPE,
        Box::new(OpusPayloader),
        48_000,
        AUDIO_PTIME,
        AUDIO_SAMPLES_PER_PACKET,
    )
    .await
    else {
        return;
    };
    let mut n: u32 = 0;
    loop {
        let (now, p) = match clock.tick(&shared, &mut gate).await {
            Tick::Finished => return,
            Tick::Idle | Tick::Paused => continue,
            Tick::Send(now, p) => (now, p),
        };
        let level = shared.audio_level.load(Ordering::Relaxed);
        let level_ext = AudioLevelExtension {
            level,
            voice: level < 127,
        }
        .marshal()
        .ok()
        .map(|b| b.freeze());
        let payload = opus_payload(n, level, stamp_now());
        n = n.wrapping_add(1);
        let stamp = |packet: &mut rtc::rtp::Packet| match (p.audio_level_id, &level_ext) {
            (Some(id), Some(ext)) => packet.header.set_extension(id, ext.clone()),
            _ => Ok(()),
        };
        let (sent, _) = clock.send(&shared, &track, now, &payload, &p, stamp).await;
        shared
            .counters
            .audio_packets_sent
            .fetch_add(sent, Ordering::Relaxed);
    }
}

/// VP8 at 30 frames/s while negotiated to send: a key frame when sending (re)starts, every
/// `keyframe_interval` and after a PLI/FIR.
async fn send_video(
    shared: Arc<Shared>,
    track: Arc<TrackLocalStaticRTP>,
    mut gate: SendGate,
    ssrc: u32,
    frame_bytes: usize,
    keyframe_interval: Duration,
    clip: Option<Arc<[Bytes]>>,
) {
    let mut payloader = Vp8Payloader::default();
    payloader.enable_picture_id = true;
    let Some(mut clock) = SampleClock::start(
        &shared,
        ssrc,
        VP8_PAYLOAD_TYPE,
        Box::new(payloader),
        90_000,
        VIDEO_FRAME_INTERVAL,
        VIDEO_TICKS_PER_FRAME,
    )
    .await
    else {
        return;
    };
    let mut last_keyframe: Option<Instant> = None;
    let mut n: u32 = 0;
    // The next frame of the clip; back to its key frame at its end.
    let mut clip_at: usize = 0;
    loop {
        let (now, p) = match clock.tick(&shared, &mut gate).await {
            Tick::Finished => return,
            Tick::Idle => {
                // Whoever receives us next needs a key frame to start with.
                last_keyframe = None;
                continue;
            }
            Tick::Paused => continue,
            Tick::Send(now, p) => (now, p),
        };
        let requested = shared.force_keyframe.swap(false, Ordering::Relaxed);
        let due = requested || last_keyframe.is_none_or(|t| now - t >= keyframe_interval);
        let (frame, key, sent_index) = match clip.as_deref() {
            Some(frames) if !frames.is_empty() => {
                if due {
                    clip_at = next_keyframe(frames, clip_at);
                }
                let index = clip_at;
                let frame = frames.get(index).cloned().unwrap_or_default();
                clip_at = (clip_at + 1) % frames.len();
                let key = is_vp8_keyframe(&frame);
                (frame, key, Some(index))
            }
            _ => (vp8_frame(due, frame_bytes, n), due, None),
        };
        n = n.wrapping_add(1);
        let (sent, all_sent) = clock
            .send(&shared, &track, now, &frame, &p, |_| Ok(()))
            .await;
        if let Some(index) = sent_index
            && all_sent
        {
            shared
                .clip_sends
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((index, now));
        }
        let c = &shared.counters;
        c.video_packets_sent.fetch_add(sent, Ordering::Relaxed);
        if all_sent {
            c.video_frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        if key && all_sent {
            last_keyframe = Some(now);
            c.video_keyframes_sent.fetch_add(1, Ordering::Relaxed);
        } else if key {
            // Try the key frame again on the next tick.
            shared.force_keyframe.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether a whole VP8 frame (RFC 6386 9.1: bit 0 of its first byte clear) is a key frame.
fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

/// The index of the clip's first key frame at or after `from`, wrapping to its start (0
/// if it has none: its first frame is meant to be one).
fn next_keyframe(frames: &[Bytes], from: usize) -> usize {
    (from..frames.len())
        .chain(0..from.min(frames.len()))
        .find(|&i| is_vp8_keyframe(&frames[i]))
        .unwrap_or(0)
}

/// Reads RTCP about our video sender (only PLI/FIR reach it, see [`KeyframeRequestForwarder`])
/// and asks the video loop for a key frame.
async fn read_keyframe_requests(shared: Arc<Shared>, track: Arc<TrackLocalStaticRTP>) {
    if !shared.connected().await {
        return;
    }
    loop {
        match track.poll().await {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                let requests = packets
                    .iter()
                    .filter(|p| is_keyframe_request(p.as_ref()))
                    .count() as u64;
                if requests > 0 {
                    shared
                        .counters
                        .keyframe_requests_received
                        .fetch_add(requests, Ordering::Relaxed);
                    shared.force_keyframe.store(true, Ordering::Relaxed);
                }
            }
            Some(_) => {}
            // Unbound (renegotiating) or closed: closed ends the loop, otherwise look again soon.
            None if shared.is_finished() => return,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// An Opus-shaped payload: TOC byte 0x78 (config 15, hybrid full band 20 ms, one frame), then
/// filler; quieter levels give shorter packets, like a real encoder.
/// An Opus packet's worth of bytes: a TOC byte, then when it was made (see
/// [`stamp_now`], little-endian), then filler; longer when louder.
fn opus_payload(n: u32, level: u8, stamp: u64) -> Bytes {
    let len = if level >= 127 {
        10
    } else {
        60 + usize::from(40 - (level / 4).min(40))
    };
    let mut payload = Vec::with_capacity(len);
    payload.push(0x78);
    payload.extend_from_slice(&stamp.to_le_bytes());
    payload.extend((payload.len()..len).map(|i| (n as usize).wrapping_add(i) as u8));
    Bytes::from(payload)
}

/// Microseconds since this process's first call: the clock audio payloads carry, so a
/// receiver in the same process measures how long a packet took through the forwarder.
fn stamp_now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // Never 0, which `payload_stamp` reads as "no stamp".
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

/// The stamp of an audio payload made by [`opus_payload`].
fn payload_stamp(payload: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = payload.get(1..9)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes)).filter(|&s| s > 0)
}

/// A VP8 frame of `len` bytes (at least 10) with a valid frame header: a 3-byte frame tag (P bit
/// clear for a key frame, version 0, shown, first partition size), and for a key frame the
/// 0x9d 0x01 0x2a start code and width/height. The rest is filler.
fn vp8_frame(key: bool, len: usize, n: u32) -> Bytes {
    let len = len.max(10);
    let header = if key { 10 } else { 3 };
    let mut frame: Vec<u8> = (0..len).map(|i| (i as u32 ^ n) as u8).collect();
    let first_partition = ((len - header) as u32).min(0x7_ffff);
    let tag = u32::from(!key) | (1 << 4) | (first_partition << 5);
    frame[..3].copy_from_slice(&tag.to_le_bytes()[..3]);
    if key {
        frame[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        frame[6..8].copy_from_slice(&VIDEO_WIDTH.to_le_bytes());
        frame[8..10].copy_from_slice(&VIDEO_HEIGHT.to_le_bytes());
    }
    Bytes::from(frame)
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    // RandomState is seeded per instance; good enough for SSRCs and stream ids of a test bot.
    RandomState::new().hash_one(Instant::now()) as u32
}

/// Interceptor that lets inbound PLI/FIR through to the application and drops other inbound
/// RTCP (which the default interceptors have already consumed). Without it, inbound RTCP ends
/// at the end of the chain and `TrackLocal::poll` never sees a keyframe request.
#[derive(Default)]
struct KeyframeRequestForwarder {
    read_queue: std::collections::VecDeque<TaggedPacket>,
    write_queue: std::collections::VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let ChainPacket::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = ChainPacket::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_frames_have_valid_headers() {
        let key = vp8_frame(true, 3600, 7);
        assert_eq!(key.len(), 3600);
        assert_eq!(key[0] & 0x01, 0, "P bit clear on a key frame");
        assert_eq!(&key[3..6], &[0x9d, 0x01, 0x2a]);
        assert_eq!(u16::from_le_bytes([key[6], key[7]]), VIDEO_WIDTH);
        let delta = vp8_frame(false, 3600, 8);
        assert_eq!(delta[0] & 0x01, 1, "P bit set on a delta frame");
    }

    #[test]
    fn a_keyframe_due_goes_on_at_the_clips_next_keyframe() {
        let key = vp8_frame(true, 20, 0);
        let delta = vp8_frame(false, 20, 1);
        let clip = [key.clone(), delta.clone(), delta.clone(), key, delta];
        assert_eq!(next_keyframe(&clip, 0), 0);
        assert_eq!(next_keyframe(&clip, 1), 3);
        assert_eq!(next_keyframe(&clip, 3), 3);
        assert_eq!(
            next_keyframe(&clip, 4),
            0,
            "past the last one: back to the start"
        );
        assert_eq!(next_keyframe(&[], 0), 0);
        assert!(!is_vp8_keyframe(&[]));
    }

    #[test]
    fn keyframe_detection_reads_the_payload_descriptor() {
        let mut payloader = Vp8Payloader::default();
        payloader.enable_picture_id = true;
        let mut packetizer = new_packetizer(
            Instant::now(),
            RTP_MTU,
            VP8_PAYLOAD_TYPE,
            1,
            Box::new(payloader),
            Box::new(new_random_sequencer()),
            90_000,
        );
        let key = packetizer
            .packetize(Instant::now(), &vp8_frame(true, 3600, 0), 3000)
            .expect("packetize");
        assert!(key.len() >= 3);
        assert!(is_vp8_keyframe_start(&key[0].payload));
        assert!(key[1..].iter().all(|p| !is_vp8_keyframe_start(&p.payload)));
        let delta = packetizer
            .packetize(Instant::now(), &vp8_frame(false, 3600, 1), 3000)
            .expect("packetize");
        assert!(delta.iter().all(|p| !is_vp8_keyframe_start(&p.payload)));
        // No descriptor extension, start of partition 0, P bit clear.
        assert!(is_vp8_keyframe_start(&[0x10, 0x00]));
        assert!(!is_vp8_keyframe_start(&[0x10, 0x01]));
        assert!(!is_vp8_keyframe_start(&[0x00, 0x00]));
    }
}
