//! The livestream (直播): the stage of a room, encoded once into HLS for audiences too
//! large for the SFU, and served under `/live/ROOM/` so a CDN or a caching proxy can
//! carry it (see `docs/livestream.md`).
//!
//! The media work happens in a separate worker process, Debian's ffmpeg, so a crash of
//! the encoder never touches the server. The SFU feeds it plain RTP over loopback
//! ([`crate::media::Sfu::live`]): the stage's VP8 camera and one Opus voice, as one
//! continuous stream whoever holds the floor. The worker decodes, scales to a fixed size,
//! encodes H.264 (x264, zerolatency) and AAC, and writes a rolling playlist of 1 s
//! segments. If it exits while the livestream is on, it is restarted (with back-off);
//! the playlist goes on after an `#EXT-X-DISCONTINUITY`, and the exit is logged and
//! counted (`yishi_live_worker_exits_total`).
//!
//! This module owns the workers and their directories; it never touches media itself,
//! and nothing it does can block the SFU or a room. Its routes are in `http/live.rs`.

mod archive;
mod push;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

use yishi_protocol::{LivestreamEnd, Millis, Participant, Recording, SessionState};

use crate::hub::{Hub, HubError, LiveControl, now};
use crate::media::{AUDIO_PAYLOAD_TYPE, KEYFRAME_EVERY, LiveTarget, Sfu, VIDEO_PAYLOAD_TYPE};
use crate::room::LiveFact;

pub use archive::{is_recording_name, prune_recordings};
pub use push::{MAX_TARGETS, PushState, PushStatus, valid_target};

/// The playlist's name in a room's directory.
pub const PLAYLIST: &str = "index.m3u8";
/// The audio-only rendition's playlist, beside [`PLAYLIST`] (for weak networks and older
/// phones: a voice at [`AUDIO_ONLY_KBPS`] instead of megabits of video).
pub const AUDIO_PLAYLIST: &str = "audio.m3u8";
/// The audio-only rendition's bit rate, kbit/s (AAC-LC, mono: one voice at a time).
const AUDIO_ONLY_KBPS: u32 = 64;
/// Segments the playlist lists (a rolling window; older ones are deleted).
const LIST_SIZE: u32 = 6;
/// Frames per second of the encoded video.
const FPS: u32 = 30;
/// The first wait before restarting a worker that exited; it doubles up to
/// `RESTART_MAX`, and starts over once a worker has run `STABLE`.
const RESTART_MIN: Duration = Duration::from_millis(250);
const RESTART_MAX: Duration = Duration::from_secs(10);
const STABLE: Duration = Duration::from_secs(30);
/// How often a worker looks whether its room's session has closed.
const CLOSED_CHECK: Duration = Duration::from_millis(500);
/// How long a worker asked to stop (SIGTERM) may take to write its last segment.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often recordings past their retention are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How the livestream is encoded, and by what.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The ffmpeg program (Debian's `ffmpeg` package, 5.1), by path or name on `PATH`.
    pub ffmpeg: PathBuf,
    /// Where each room's playlist and segments are written; `None`: `<data dir>/live`.
    pub dir: Option<PathBuf>,
    /// The size of the encoded video: every speaker's camera is scaled (and padded) to it.
    pub width: u32,
    pub height: u32,
    /// The video bit rate, kbit/s.
    pub video_kbps: u32,
    /// Where the recordings of the stage are archived, a directory per room; `None`:
    /// `<data dir>/recordings`.
    pub recordings: Option<PathBuf>,
    /// How long recordings are kept; `None` (the default): for ever.
    pub keep_recordings: Option<Duration>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            ffmpeg: PathBuf::from("ffmpeg"),
            dir: None,
            width: 1280,
            height: 720,
            video_kbps: 2500,
            recordings: None,
            keep_recordings: None,
        }
    }
}

/// Why a livestream cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("media is off on this server: there is no stage to stream")]
    NoMedia,
    #[error("the session is closed: its livestream has ended")]
    Closed,
    #[error("the livestream is off: start it first")]
    NotLive,
    #[error("not a push target: {0}")]
    BadTarget(String),
    #[error("cannot prepare the livestream: {0}")]
    Io(#[from] std::io::Error),
}

/// The rooms' livestreams. Cheap to clone.
#[derive(Clone)]
pub struct Livestreams {
    config: Arc<LiveConfig>,
    dir: PathBuf,
    /// Where recordings are archived, a directory per room.
    recordings: PathBuf,
    sfu: Option<Sfu>,
    /// The running livestreams by room. A tokio mutex: starting and stopping (rare) hold
    /// it across the file system work, so two requests for one room never race.
    running: Arc<Mutex<HashMap<String, Running>>>,
    /// The served directories by room, apart from `running` so serving a segment never
    /// waits for a stop that archives a recording. A `std` mutex: held for a lookup.
    served: Arc<std::sync::Mutex<HashMap<String, PathBuf>>>,
    reporter: Reporter,
    /// The RTMP pushes by room, while its livestream is on. A `std` mutex: held to swap
    /// or read them, never across an await.
    pushes: Arc<std::sync::Mutex<HashMap<String, Vec<push::Push>>>>,
}

struct Running {
    dir: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Ended>,
    /// The worker's process id, 0 between a worker's exit and its restart.
    pid: Arc<AtomicU32>,
}

/// How a livestream's worker task ended.
struct Ended {
    /// The session closed first: the recording was archived then, and the record had
    /// already ended the stream (the close seals it).
    by_close: bool,
    recording: Option<Recording>,
}

/// What a stop did.
#[derive(Debug, Default)]
pub struct Stopped {
    pub was_live: bool,
    /// The stretch's recording, archived (and in the record, unless the session closed).
    pub recording: Option<Recording>,
}

/// Tells the rooms what their livestreams do, through the hub (set once it runs): a
/// start, a stop, a worker's gap, an archived recording become events of the record.
#[derive(Clone, Default)]
struct Reporter(Arc<OnceLock<Weak<Hub>>>);

impl Reporter {
    async fn report(&self, room: &str, by: Option<Participant>, fact: LiveFact) {
        let Some(hub) = self.0.get().and_then(Weak::upgrade) else {
            tracing::warn!(%room, ?fact, "no hub: a livestream fact is not recorded");
            return;
        };
        let result = match hub.room(room).await {
            Ok(handle) => handle
                .livestream(by, fact.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.message),
            // In a cluster the room may run on another node; media of a room runs on its
            // owner, so this is rare (a route reached the wrong node).
            Err(e @ HubError::Elsewhere { .. }) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => metrics::counter!("yishi_live_facts_recorded_total").increment(1),
            Err(error) => {
                tracing::warn!(%room, ?fact, %error, "a livestream fact is not in the record")
            }
        }
    }
}

impl Livestreams {
    /// Livestreams written under `config.dir` (else `data_dir/live`), fed by `sfu`.
    /// Must run inside a tokio runtime: recordings past their retention are removed
    /// hourly.
    pub fn new(config: LiveConfig, data_dir: &Path, sfu: Option<Sfu>) -> Livestreams {
        let dir = config.dir.clone().unwrap_or_else(|| data_dir.join("live"));
        let recordings = config
            .recordings
            .clone()
            .unwrap_or_else(|| data_dir.join("recordings"));
        if let Some(keep) = config.keep_recordings {
            let recordings = recordings.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(PRUNE_EVERY);
                loop {
                    every.tick().await;
                    let dir = recordings.clone();
                    match tokio::task::spawn_blocking(move || prune_recordings(&dir, keep)).await {
                        Ok(Ok(0)) => {}
                        Ok(Ok(n)) => {
                            tracing::info!(removed = n, "recordings past their retention removed")
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune the recordings"),
                        Err(e) => tracing::warn!(error = %e, "cannot prune the recordings"),
                    }
                }
            });
        }
        let live = Livestreams {
            config: Arc::new(config),
            dir,
            recordings,
            sfu,
            running: Arc::default(),
            served: Arc::default(),
            reporter: Reporter::default(),
            pushes: Arc::default(),
        };
        live.carry_the_crowd();
        live
    }

    /// When the media unit is full and refuses an audience member, start the room's
    /// livestream: the audience's page plays it instead (it does for any livestream),
    /// so the room's audience is no longer bounded by the unit's `max_peers`.
    fn carry_the_crowd(&self) {
        let Some(mut crowded) = self.sfu.as_ref().and_then(Sfu::take_crowded) else {
            return;
        };
        let live = self.clone();
        tokio::spawn(async move {
            while let Some(room) = crowded.recv().await {
                if live.running.lock().await.contains_key(&*room) {
                    continue;
                }
                match live.start(&room, None).await {
                    Ok(()) => {
                        metrics::counter!("yishi_live_crowd_starts_total").increment(1);
                        tracing::info!(%room, "the media unit is full: livestream started for the audience");
                    }
                    Err(e) => {
                        tracing::info!(%room, error = %e, "the media unit is full; no livestream")
                    }
                }
            }
        });
    }

    /// Record what the livestreams do in the rooms of `hub` from now on, and let its
    /// rooms stop their streams when their sessions close.
    pub fn report_to(&self, hub: &Arc<Hub>) {
        let _ = self.reporter.0.set(Arc::downgrade(hub));
        hub.control_livestreams(Arc::new(self.clone()));
    }

    /// The playlist's path on the server for `room`.
    pub fn playlist(room: &str) -> String {
        format!("/live/{room}/{PLAYLIST}")
    }

    /// Start the livestream of `room` (nothing changes if it is on already): a fresh
    /// playlist, a worker listening on free loopback ports, the SFU feeding it; the
    /// room records it (`by`: the host who asked, `None`: the operator).
    pub async fn start(&self, room: &str, by: Option<Participant>) -> Result<(), LiveError> {
        let sfu = self.sfu.clone().ok_or(LiveError::NoMedia)?;
        if sfu.session_state(room) == Some(SessionState::Closed) {
            return Err(LiveError::Closed);
        }
        let mut running = self.running.lock().await;
        if running.contains_key(room) {
            return Ok(());
        }
        let dir = self.room_dir(room);
        remove_dir(&dir).await?;
        tokio::fs::create_dir_all(&dir).await?;
        let target = free_ports()?;
        tokio::fs::write(dir.join("stream.sdp"), sdp(target)).await?;
        let pid = Arc::new(AtomicU32::new(0));
        let since = now();
        let worker = Worker {
            room: Arc::from(room),
            dir: dir.clone(),
            target,
            config: self.config.clone(),
            sfu,
            pid: pid.clone(),
            archive: self.room_archive(room),
            since,
            reporter: self.reporter.clone(),
        };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(worker.run(stopped));
        tracing::info!(%room, video = %target.video, audio = %target.audio, "livestream on");
        self.lock_served().insert(room.to_owned(), dir.clone());
        running.insert(
            room.to_owned(),
            Running {
                dir,
                stop,
                task,
                pid,
            },
        );
        drop(running);
        let playlist = Self::playlist(room);
        self.reporter
            .report(room, by, LiveFact::Started { playlist })
            .await;
        Ok(())
    }

    /// Stop the livestream of `room`: its worker finishes its segment and ends, the SFU
    /// stops feeding it, the stretch's segments are archived as one recording (hashed,
    /// and both facts recorded in the room: stopped for `reason`, then archived), and its
    /// playlist and segments are removed.
    pub async fn stop(
        &self,
        room: &str,
        by: Option<Participant>,
        reason: LivestreamEnd,
    ) -> Result<Stopped, LiveError> {
        let mut running = self.running.lock().await;
        let Some(live) = running.remove(room) else {
            return Ok(Stopped::default());
        };
        self.lock_served().remove(room);
        self.stop_pushes(room).await;
        let _ = live.stop.send(());
        let ended = live.task.await.unwrap_or(Ended {
            by_close: false,
            recording: None,
        });
        if !ended.by_close {
            self.reporter
                .report(room, by, LiveFact::Stopped(reason))
                .await;
            if let Some(recording) = &ended.recording {
                self.reporter
                    .report(room, None, LiveFact::Archived(recording.clone()))
                    .await;
            }
        }
        remove_dir(&live.dir).await?;
        tracing::info!(%room, recording = ?ended.recording, "livestream off");
        Ok(Stopped {
            was_live: true,
            recording: ended.recording,
        })
    }

    /// The directory of the playlist and segments of `room`, while its livestream is on.
    pub async fn dir(&self, room: &str) -> Option<PathBuf> {
        self.lock_served().get(room).cloned()
    }

    /// The archived recording `file` of `room`, if there is one by that name.
    pub async fn recording(&self, room: &str, file: &str) -> Option<PathBuf> {
        if !is_recording_name(file) {
            return None;
        }
        let path = self.room_archive(room).join(file);
        tokio::fs::metadata(&path)
            .await
            .is_ok_and(|m| m.is_file())
            .then_some(path)
    }

    /// Push the livestream of `room` to `targets` (`rtmp://` or `rtmps://` URLs, at most
    /// [`MAX_TARGETS`]), each by its own process, instead of the targets it had.
    pub async fn set_push(&self, room: &str, targets: Vec<String>) -> Result<(), LiveError> {
        if let Some(bad) = targets.iter().find(|t| !valid_target(t)) {
            return Err(LiveError::BadTarget(bad.chars().take(100).collect()));
        }
        if targets.len() > MAX_TARGETS {
            return Err(LiveError::BadTarget(format!(
                "at most {MAX_TARGETS} targets"
            )));
        }
        let running = self.running.lock().await;
        let Some(dir) = running.get(room).map(|r| r.dir.clone()) else {
            return Err(LiveError::NotLive);
        };
        self.stop_pushes(room).await;
        let room_id: Arc<str> = Arc::from(room);
        let pushes: Vec<push::Push> = targets
            .into_iter()
            .map(|url| {
                push::Push::start(
                    self.config.ffmpeg.clone(),
                    dir.clone(),
                    room_id.clone(),
                    url,
                )
            })
            .collect();
        tracing::info!(%room, targets = pushes.len(), "push targets set");
        self.lock_pushes().insert(room.to_owned(), pushes);
        drop(running);
        Ok(())
    }

    /// What each push target of `room` does now.
    pub fn push_status(&self, room: &str) -> Vec<PushStatus> {
        self.lock_pushes()
            .get(room)
            .map(|p| p.iter().map(push::Push::status).collect())
            .unwrap_or_default()
    }

    async fn stop_pushes(&self, room: &str) {
        let old = self.lock_pushes().remove(room).unwrap_or_default();
        for push in old {
            push.stop().await;
        }
    }

    fn lock_pushes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<push::Push>>> {
        // A panic while holding this lock leaves a valid map: recover it.
        self.pushes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_served(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        // A panic while holding this lock leaves a valid map: recover it.
        self.served.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A room's archive directory.
    fn room_archive(&self, room: &str) -> PathBuf {
        self.recordings.join(hex::encode(room.as_bytes()))
    }

    /// The process id of the worker of `room`, while one runs.
    pub async fn worker_pid(&self, room: &str) -> Option<u32> {
        let running = self.running.lock().await;
        let pid = running.get(room)?.pid.load(Ordering::Relaxed);
        (pid != 0).then_some(pid)
    }

    /// A room's directory: its id hex-encoded, so any id is a safe file name.
    fn room_dir(&self, room: &str) -> PathBuf {
        self.dir.join(hex::encode(room.as_bytes()))
    }
}

impl LiveControl for Livestreams {
    fn runs(&self, room: &str) -> bool {
        self.lock_served().contains_key(room)
    }

    fn stop_for_close(
        &self,
        room: String,
        by: Option<Participant>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        let live = self.clone();
        Box::pin(async move {
            if let Err(e) = live.stop(&room, by, LivestreamEnd::SessionClosed).await {
                tracing::warn!(%room, error = %e, "the livestream's files could not be removed at the close");
            }
        })
    }

    fn start_with_session(
        &self,
        room: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        let live = self.clone();
        Box::pin(async move {
            match live.start(&room, None).await {
                Ok(()) => {
                    tracing::info!(%room, "the session opened: livestream started, as its meeting is set to")
                }
                Err(e) => {
                    tracing::warn!(%room, error = %e, "the session opened, but its livestream could not start")
                }
            }
        })
    }
}

async fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Two pairs of free consecutive UDP ports on loopback, for the worker's two RTP streams
/// (RTP on the even port, RTCP on the next one, as ffmpeg expects).
fn free_ports() -> std::io::Result<LiveTarget> {
    for _ in 0..64 {
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let base = probe.local_addr()?.port() & !1;
        drop(probe);
        if !(1024..=u16::MAX - 4).contains(&base) {
            continue;
        }
        let held: Result<Vec<UdpSocket>, _> = (base..base + 4)
            .map(|port| UdpSocket::bind((Ipv4Addr::LOCALHOST, port)))
            .collect();
        // Released at once: the worker binds them next (a race with another program
        // taking one meanwhile makes the worker exit, and it is restarted).
        if held.is_ok() {
            return Ok(LiveTarget {
                video: SocketAddr::from((Ipv4Addr::LOCALHOST, base)),
                audio: SocketAddr::from((Ipv4Addr::LOCALHOST, base + 2)),
            });
        }
    }
    Err(std::io::Error::other(
        "no four consecutive free UDP ports on 127.0.0.1",
    ))
}

/// The session description the worker reads: the two RTP streams the SFU sends.
pub fn sdp(target: LiveTarget) -> String {
    format!(
        "v=0\r\n\
         o=- 0 0 IN IP4 127.0.0.1\r\n\
         s=yishi livestream\r\n\
         c=IN IP4 127.0.0.1\r\n\
         t=0 0\r\n\
         m=video {video} RTP/AVP {vpt}\r\n\
         a=rtpmap:{vpt} VP8/90000\r\n\
         m=audio {audio} RTP/AVP {apt}\r\n\
         a=rtpmap:{apt} opus/48000/2\r\n",
        video = target.video.port(),
        audio = target.audio.port(),
        vpt = VIDEO_PAYLOAD_TYPE,
        apt = AUDIO_PAYLOAD_TYPE,
    )
}

/// The worker's command line (run in the room's directory): RTP in, two HLS renditions
/// out — the stage (H.264 + AAC, [`PLAYLIST`], `segN.ts`) and its sound alone (AAC,
/// [`AUDIO_PLAYLIST`], `audioN.ts`), encoded from the same input by the same process.
pub fn worker_args(config: &LiveConfig) -> Vec<String> {
    let (w, h, kbps) = (config.width, config.height, config.video_kbps);
    let segment = KEYFRAME_EVERY.as_secs().max(1).to_string();
    let list_size = LIST_SIZE.to_string();
    // A restarted worker appends to a playlist after a discontinuity; segments are
    // written under a temporary name and renamed once whole. They are kept (not deleted
    // past the playlist's window): the stage's become the recording at the end.
    let hls = |segments: &str, playlist: &str| {
        [
            "-f",
            "hls",
            "-hls_time",
            &segment,
            "-hls_list_size",
            &list_size,
            "-hls_flags",
            "independent_segments+append_list+discont_start+temp_file",
            "-hls_segment_filename",
            segments,
            playlist,
        ]
        .map(str::to_owned)
    };
    let stage = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        // The SDP names RTP streams on UDP; ffmpeg reads no other protocol here.
        "-protocol_whitelist",
        "file,udp,rtp",
        "-analyzeduration",
        "2000000",
        "-i",
        "stream.sdp",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0",
        "-vf",
        &format!(
            "scale={w}:{h}:force_original_aspect_ratio=decrease,\
             pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={FPS}"
        ),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-b:v",
        &format!("{kbps}k"),
        "-maxrate",
        &format!("{kbps}k"),
        "-bufsize",
        &format!("{}k", kbps * 2),
        // A key frame at every segment boundary, whatever the input's.
        "-force_key_frames",
        &format!("expr:gte(t,n_forced*{segment})"),
        // Gaps in the voice (nobody heard) become silence.
        "-af",
        "aresample=async=1",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ar",
        "48000",
        "-ac",
        "2",
    ]
    .map(str::to_owned);
    let audio_only = [
        "-map",
        "0:a:0",
        "-af",
        "aresample=async=1",
        "-c:a",
        "aac",
        "-b:a",
        &format!("{AUDIO_ONLY_KBPS}k"),
        "-ar",
        "48000",
        "-ac",
        "1",
    ]
    .map(str::to_owned);
    stage
        .into_iter()
        .chain(hls("seg%d.ts", PLAYLIST))
        .chain(audio_only)
        .chain(hls("audio%d.ts", AUDIO_PLAYLIST))
        .collect()
}

/// Ask a worker to finish (SIGTERM: it writes its last segment and the playlist), and
/// kill it if it has not within [`STOP_GRACE`].
async fn finish(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

/// One room's worker, kept running while the livestream is on.
struct Worker {
    room: Arc<str>,
    dir: PathBuf,
    target: LiveTarget,
    config: Arc<LiveConfig>,
    sfu: Sfu,
    pid: Arc<AtomicU32>,
    /// The room's archive directory, and when this stretch of the stream began (the
    /// recording's name).
    archive: PathBuf,
    since: Millis,
    reporter: Reporter,
}

impl Worker {
    async fn run(self, mut stop: oneshot::Receiver<()>) -> Ended {
        let mut backoff = RESTART_MIN;
        let room = self.room.clone();
        // When the last worker exited, while no new one runs.
        let mut exited_at: Option<Millis> = None;
        loop {
            let started = Instant::now();
            match self.spawn() {
                Ok(mut child) => {
                    self.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
                    // A fresh feed: the new worker's stream starts at a key frame.
                    self.sfu.live(room.clone(), Some(self.target));
                    if let Some(from) = exited_at.take() {
                        let (reporter, room) = (self.reporter.clone(), room.clone());
                        let gap = LiveFact::Gap { from, to: now() };
                        tokio::spawn(async move { reporter.report(&room, None, gap).await });
                    }
                    tokio::select! {
                        status = child.wait() => {
                            exited_at = Some(now());
                            metrics::counter!("yishi_live_worker_exits_total").increment(1);
                            tracing::warn!(
                                %room,
                                status = ?status,
                                ran = ?started.elapsed(),
                                "livestream worker exited: restarting it (the playlist marks the gap)"
                            );
                        }
                        _ = &mut stop => {
                            finish(&mut child).await;
                            break;
                        }
                        () = self.session_closed() => {
                            finish(&mut child).await;
                            self.end_playlist().await;
                            self.pid.store(0, Ordering::Relaxed);
                            self.sfu.live(room.clone(), None);
                            let recording = self.archive().await;
                            // The close sealed the record (and ended the stream in it): the
                            // recording's hash is beside it, in its `.sha256` file.
                            tracing::info!(%room, ?recording, "session closed: livestream ended");
                            // The ended playlist stays served until a host stops it.
                            let _ = stop.await;
                            return Ended { by_close: true, recording };
                        }
                    }
                }
                Err(e) => {
                    metrics::counter!("yishi_live_worker_failures_total").increment(1);
                    tracing::error!(
                        %room,
                        ffmpeg = %self.config.ffmpeg.display(),
                        error = %e,
                        "cannot start the livestream worker"
                    );
                }
            }
            self.pid.store(0, Ordering::Relaxed);
            if started.elapsed() >= STABLE {
                backoff = RESTART_MIN;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = &mut stop => break,
            }
            backoff = (backoff * 2).min(RESTART_MAX);
            metrics::counter!("yishi_live_worker_restarts_total").increment(1);
        }
        self.pid.store(0, Ordering::Relaxed);
        self.sfu.live(room, None);
        Ended {
            by_close: false,
            recording: self.archive().await,
        }
    }

    /// Archive this stretch's segments as one recording; `None` if there were none or it
    /// failed (logged).
    async fn archive(&self) -> Option<Recording> {
        let (dir, into) = (self.dir.clone(), self.archive.clone());
        let name = archive::recording_name(self.since);
        let done = tokio::task::spawn_blocking(move || archive::archive(&dir, &into, &name)).await;
        match done {
            Ok(Ok(recording)) => {
                if recording.is_some() {
                    metrics::counter!("yishi_live_recordings_total").increment(1);
                }
                recording
            }
            Ok(Err(e)) => {
                tracing::error!(room = %self.room, error = %e, "cannot archive the livestream's recording");
                None
            }
            Err(e) => {
                tracing::error!(room = %self.room, error = %e, "cannot archive the livestream's recording");
                None
            }
        }
    }

    /// Once the room's session has closed: nothing more reaches the audience.
    async fn session_closed(&self) {
        let mut every = tokio::time::interval(CLOSED_CHECK);
        loop {
            every.tick().await;
            if self.sfu.session_state(&self.room) == Some(SessionState::Closed) {
                return;
            }
        }
    }

    /// Mark the playlists ended (`#EXT-X-ENDLIST`), so players stop at their last segment
    /// rather than wait for more.
    async fn end_playlist(&self) {
        for name in [PLAYLIST, AUDIO_PLAYLIST] {
            let path = self.dir.join(name);
            let ended = match tokio::fs::read_to_string(&path).await {
                Ok(list) if list.contains("#EXT-X-ENDLIST") => Ok(()),
                Ok(list) => {
                    let sep = if list.ends_with('\n') { "" } else { "\n" };
                    let tmp = self.dir.join(format!("{name}.ended"));
                    match tokio::fs::write(&tmp, format!("{list}{sep}#EXT-X-ENDLIST\n")).await {
                        Ok(()) => tokio::fs::rename(&tmp, &path).await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            if let Err(e) = ended {
                tracing::warn!(room = %self.room, playlist = name, error = %e, "cannot mark the livestream's playlist ended");
            }
        }
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("worker.log"))?;
        Command::new(&self.config.ffmpeg)
            .args(worker_args(&self.config))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdp_names_both_streams_on_loopback() {
        let target = LiveTarget {
            video: "127.0.0.1:40000".parse().unwrap(),
            audio: "127.0.0.1:40002".parse().unwrap(),
        };
        let sdp = sdp(target);
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("m=video 40000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"));
        assert!(sdp.contains("m=audio 40002 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"));
    }

    #[test]
    fn free_ports_come_in_even_pairs() {
        let target = free_ports().unwrap();
        assert_eq!(target.video.port() % 2, 0);
        assert_eq!(target.audio.port(), target.video.port() + 2);
        assert!(target.video.ip().is_loopback());
    }

    #[test]
    fn the_worker_encodes_h264_and_aac_into_one_second_segments() {
        let args = worker_args(&LiveConfig::default()).join(" ");
        assert!(args.contains("-c:v libx264 -preset veryfast -tune zerolatency"));
        assert!(args.contains("-c:a aac"));
        assert!(args.contains("-f hls -hls_time 1 -hls_list_size 6"));
        assert!(args.contains("scale=1280:720"));
        assert!(args.contains("seg%d.ts index.m3u8 "));
    }

    #[test]
    fn the_worker_also_writes_the_voice_alone_at_64_kbits() {
        let args = worker_args(&LiveConfig::default()).join(" ");
        let (_, audio) = args.split_once("index.m3u8 ").unwrap();
        assert!(
            audio.starts_with(
                "-map 0:a:0 -af aresample=async=1 -c:a aac -b:a 64k -ar 48000 -ac 1 -f hls"
            ),
            "{audio}"
        );
        assert!(!audio.contains("0:v"), "no video in it");
        assert!(audio.ends_with("audio%d.ts audio.m3u8"));
    }
}
