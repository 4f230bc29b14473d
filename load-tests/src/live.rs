//! The `live` scenario: the livestream (直播, `docs/livestream.md`) measured from a
//! publisher's frame to its HLS playback, its cost, and how fast it is served.
//!
//! A member with the floor publishes a real VP8 clip (ffmpeg's libvpx, every frame a key
//! frame) whose frames carry their number drawn as black and white cells
//! ([`yishi_testkit::clip`]); the bot notes when it sent each one. The livestream is
//! started with the admin key. The tool then acts as a player: it polls the playlist every
//! [`POLL`], fetches each new segment, decodes it with ffmpeg to grey frames and reads
//! the numbers back, so for every frame it knows when it was sent, when its segment was
//! listed, and (by the player model below) when it would be on screen.
//!
//! The player model, after hls.js's defaults: a viewer joins at the start of the window,
//! fetches the playlist, starts 3 segments behind its end (`liveSyncDurationCount: 3`,
//! the third segment from the end), fetches that segment and decodes its first frame:
//! playback starts then (the first join, measured for real). From there media plays in
//! real time, each segment at the sum of the durations (`#EXTINF`) before it, frame `i`
//! of a segment `i / 30` s into it; a segment not yet fetched when its turn comes (listed
//! plus the measured fetch time) stalls playback until it is, and everything after is
//! that much later (hls.js does not catch up by default). So: played = playback start +
//! media time + stalls; latency = played − sent.
//!
//! Besides: the joins (one every [`JOIN_EVERY`]: request of the playlist to the first
//! frame decoded, the same steps as the model's start), the CPU of the server with the
//! publisher alone and with the livestream on (the difference is the RTP feed and the
//! serving of one player), of the ffmpeg worker, and then the serving: requests per
//! second for one segment and for the playlist with [`SERVE_CONCURRENCY`] connections,
//! from the server and through nginx configured from `deploy/nginx/live-cache.conf`.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::{mpsc, watch};
use yishi_protocol::{Command, EntryKind};
use yishi_testkit::Client;
use yishi_testkit::clip::{self, ClipSpec};
use yishi_testkit::media_peer::{MediaPeer, PeerOptions};

use crate::client::stopped;
use crate::media::{negotiate, pump};
use crate::report::{Lat, Row};
use crate::scenarios::Target;
use crate::sys::{CpuMeter, Spawned, children_named, free_port};

/// What a `live` run measures.
#[derive(Debug, Clone)]
pub struct LiveOpts {
    /// The measured window of the latency (after [`WARMUP`]).
    pub window: Duration,
    /// Each serving phase (segment, playlist; from the server, through nginx).
    pub serve: Duration,
    /// Run the serving phases through nginx too (if installed).
    pub nginx: bool,
}

/// The clip the publisher sends: 640×360 like the bots, 40 s, so a frame number comes
/// back only 40 s later: a latency over half of that could be misread and fails the row.
const CLIP: ClipSpec = ClipSpec {
    width: 640,
    height: 360,
    frames: 1200,
    keyframe_every: 1,
    numbered: true,
};
const FPS: f64 = 30.0;
/// How often the measuring player polls the playlist (a segment's listed time is when
/// the poll that first saw it answered: up to this much late).
const POLL: Duration = Duration::from_millis(100);
/// After the first segment, before the window: the worker's start-up is not steady state.
const WARMUP: Duration = Duration::from_secs(5);
/// The server's CPU with the publisher alone, before the livestream starts.
const BASELINE: Duration = Duration::from_secs(5);
/// Segments behind the playlist's end where a player starts (hls.js
/// `liveSyncDurationCount`).
const START_BEHIND: usize = 3;
/// A viewer joins this often during the window.
const JOIN_EVERY: Duration = Duration::from_secs(2);
/// Connections of the serving phases.
pub const SERVE_CONCURRENCY: usize = 32;
/// Signalling, the first segment, the last decodes.
const WAIT: Duration = Duration::from_secs(20);
/// The nginx cache configuration, as deployed.
const LIVE_CACHE_CONF: &str = include_str!("../../deploy/nginx/live-cache.conf");

/// A segment as a playlist lists it.
#[derive(Debug, Clone, PartialEq)]
struct Listed {
    n: u64,
    duration: f64,
}

/// The segments of a playlist (`seg<N>.ts`, each after its `#EXTINF:<seconds>,`).
fn parse_playlist(text: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest.split(',').next().and_then(|d| d.parse::<f64>().ok());
        } else if !line.starts_with('#') && !line.is_empty() {
            let n = line
                .strip_prefix("seg")
                .and_then(|l| l.strip_suffix(".ts"))
                .and_then(|n| n.parse().ok());
            if let (Some(n), Some(d)) = (n, duration.take()) {
                out.push(Listed { n, duration: d });
            }
        }
    }
    out
}

/// What the tool learnt of one segment.
#[derive(Debug, Default)]
struct Seg {
    duration: f64,
    /// When the poll that first saw it listed answered.
    listed: Option<Instant>,
    /// How long its GET took (the player's fetch, in the model).
    fetch: Duration,
    /// The number read from each decoded frame, in order (`None`: unreadable).
    frames: Vec<Option<u32>>,
    bytes: usize,
    /// It could not be fetched or decoded.
    missing: bool,
}

/// One viewer's join: the segment it started at and the time of each step.
#[derive(Debug, Clone, Copy)]
struct Join {
    at: Instant,
    start: u64,
    playlist: Duration,
    segment: Duration,
    decode: Duration,
}

impl Join {
    fn total(&self) -> Duration {
        self.playlist + self.segment + self.decode
    }
}

/// Numbers read from the grey frames ffmpeg decodes from `file`, scaled to the clip's size
/// (the worker pads and scales the camera to its own size; scaling back puts the cells
/// where they were drawn). `first_only`: decode one frame, as a player's first picture.
async fn decode(file: &Path, first_only: bool) -> anyhow::Result<Vec<Option<u32>>> {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(file)
        .args(["-map", "0:v:0"]);
    if first_only {
        // One thread: frame threads hold the first picture back until several are in.
        cmd.args(["-threads", "1", "-frames:v", "1"]);
    }
    let out = cmd
        .arg("-vf")
        .arg(format!("scale={}:{}", CLIP.width, CLIP.height))
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "pipe:1",
        ])
        .kill_on_drop(true)
        .output()
        .await
        .context("running ffmpeg to decode a segment")?;
    if !out.status.success() {
        bail!(
            "ffmpeg could not decode {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let size = (CLIP.width * CLIP.height) as usize;
    Ok(out
        .stdout
        .chunks_exact(size)
        .map(|frame| clip::read_number(frame, CLIP.width, CLIP.height))
        .collect())
}

/// How long ffmpeg takes to start and exit doing nothing (`-version`, the median of
/// three): part of every decode's time here that a player's loaded decoder does not pay.
async fn ffmpeg_start() -> Duration {
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let _ = tokio::process::Command::new("ffmpeg")
            .arg("-version")
            .output()
            .await;
        times.push(t.elapsed());
    }
    times.sort();
    times[1]
}

/// The size of the video in `file`, by ffprobe.
fn probe_size(file: &Path) -> Option<(u32, u32)> {
    let out = StdCommand::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (w, h) = text.trim().split_once(',')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<bytes::Bytes> {
    let r = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        bail!("GET {url}: {}", r.status());
    }
    Ok(r.bytes().await?)
}

/// A viewer joining: the playlist, the segment [`START_BEHIND`] from its end, its first
/// frame decoded.
async fn join_once(http: &reqwest::Client, base: &str, file: &Path) -> anyhow::Result<Join> {
    let at = Instant::now();
    let text = get(http, &format!("{base}/index.m3u8")).await?;
    let playlist = at.elapsed();
    let listed = parse_playlist(&String::from_utf8_lossy(&text));
    let start = listed
        .get(listed.len().saturating_sub(START_BEHIND))
        .context("an empty playlist")?
        .n;
    let t = Instant::now();
    let bytes = get(http, &format!("{base}/seg{start}.ts")).await?;
    let segment = t.elapsed();
    let t = Instant::now();
    tokio::fs::write(file, &bytes).await?;
    let frames = decode(file, true).await?;
    if frames.is_empty() {
        bail!("segment {start} has no frame");
    }
    Ok(Join {
        at,
        start,
        playlist,
        segment,
        decode: t.elapsed(),
    })
}

/// What the serving phase of one URL gave.
#[derive(Debug, Default)]
struct Served {
    per_s: f64,
    mib_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Answers nginx said it served from its cache (`X-Cache: HIT`).
    hits: u64,
    requests: u64,
}

/// [`SERVE_CONCURRENCY`] connections GET `url` again and again for `d`.
async fn hammer(url: &str, d: Duration) -> Served {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(SERVE_CONCURRENCY)
        .build()
        .unwrap_or_default();
    let lat = Arc::new(Lat::new());
    let (requests, bytes, errors, hits) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let until = start + d;
    let mut tasks = Vec::new();
    for _ in 0..SERVE_CONCURRENCY {
        let (http, url, lat) = (http.clone(), url.to_owned(), Arc::clone(&lat));
        let (requests, bytes, errors, hits) = (
            Arc::clone(&requests),
            Arc::clone(&bytes),
            Arc::clone(&errors),
            Arc::clone(&hits),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let t = Instant::now();
                let answer = match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let hit = r.headers().get("x-cache").is_some_and(|v| v == "HIT");
                        r.bytes().await.ok().map(|b| (b.len(), hit))
                    }
                    _ => None,
                };
                match answer {
                    Some((len, hit)) => {
                        lat.record(t.elapsed().as_micros() as u64);
                        requests.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(len as u64, Ordering::Relaxed);
                        if hit {
                            hits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let p = lat.summary();
    let n = requests.load(Ordering::Relaxed);
    Served {
        per_s: n as f64 / secs,
        mib_per_s: bytes.load(Ordering::Relaxed) as f64 / secs / 1_048_576.0,
        p50_ms: p.p50_ms,
        p99_ms: p.p99_ms,
        errors: errors.load(Ordering::Relaxed),
        hits: hits.load(Ordering::Relaxed),
        requests: n,
    }
}

/// `wrk`, if installed (Debian's `wrk`): a load generator in C, lighter than this tool's
/// own client, so the serving figures are the server's, not the client's.
fn wrk_bin() -> Option<PathBuf> {
    Some(PathBuf::from("/usr/bin/wrk")).filter(|p| p.exists())
}

/// A duration as wrk prints it (`812.00us`, `9.80ms`, `1.02s`, `2.00m`) in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text.strip_suffix('m')?, 60_000.0)
    };
    Some(number.parse::<f64>().ok()? * factor)
}

/// A size as wrk prints it (`600.00MB`, `1.20GB`, `512.00KB`, `10.00B`) in MiB.
fn wrk_mib(text: &str) -> Option<f64> {
    let (number, factor) = [
        ("GB", 1024.0),
        ("MB", 1.0),
        ("KB", 1.0 / 1024.0),
        ("B", 1.0 / 1_048_576.0),
    ]
    .iter()
    .find_map(|(unit, f)| text.strip_suffix(unit).map(|n| (n, *f)))?;
    Some(number.parse::<f64>().ok()? * factor)
}

/// What wrk's report (`--latency`) says.
fn parse_wrk(report: &str) -> Option<Served> {
    let mut s = Served::default();
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => s.p50_ms = wrk_ms(v)?,
            ["99%", v] => s.p99_ms = wrk_ms(v)?,
            ["Requests/sec:", v] => s.per_s = v.parse().ok()?,
            ["Transfer/sec:", v] => s.mib_per_s = wrk_mib(v)?,
            [n, "requests", "in", ..] => s.requests = n.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => s.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", ..] => {
                // `Socket errors: connect 0, read 0, write 0, timeout 0`
                s.errors += words
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    (s.requests > 0).then_some(s)
}

/// `wrk` with one thread (the other core is the server's) and [`SERVE_CONCURRENCY`]
/// connections on `url` for `d`.
async fn wrk(bin: &Path, url: &str, d: Duration) -> anyhow::Result<Served> {
    let out = tokio::process::Command::new(bin)
        .args(["-t1", "--latency"])
        .arg(format!("-c{SERVE_CONCURRENCY}"))
        .arg(format!("-d{}s", d.as_secs().max(1)))
        .arg(url)
        .kill_on_drop(true)
        .output()
        .await
        .context("running wrk")?;
    let report = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&report).with_context(|| format!("wrk's report: {report}"))
}

/// One serving phase, by wrk if installed, else by this tool's client.
async fn serve(url: &str, d: Duration) -> anyhow::Result<Served> {
    match wrk_bin() {
        Some(bin) => wrk(&bin, url, d).await,
        None => Ok(hammer(url, d).await),
    }
}

/// Whether nginx answers `url` from its cache now.
async fn cached(url: &str) -> bool {
    match reqwest::get(url).await {
        Ok(r) => r.headers().get("x-cache").is_some_and(|v| v == "HIT"),
        Err(_) => false,
    }
}

/// nginx, in the foreground, one process, caching `/live/` of `origin` as
/// `deploy/nginx/live-cache.conf` says (its paths and ports moved to a temporary
/// directory and free ports).
pub struct Nginx {
    proc: Spawned,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

pub fn nginx_bin() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The deployed cache configuration with its cache directory, listening address and
/// origin replaced; fails if one of them is no longer where it was.
fn cache_conf(cache: &Path, listen: SocketAddr, origin: SocketAddr) -> anyhow::Result<String> {
    let mut conf = LIVE_CACHE_CONF.to_owned();
    for (from, to) in [
        ("/var/cache/nginx/yishi-live", cache.display().to_string()),
        ("listen 8081;", format!("listen {listen};")),
        ("http://127.0.0.1:8080", format!("http://{origin}")),
    ] {
        if !conf.contains(from) {
            bail!("deploy/nginx/live-cache.conf has no `{from}` any more");
        }
        conf = conf.replace(from, &to);
    }
    Ok(conf)
}

async fn spawn_nginx(bin: &Path, origin: SocketAddr) -> anyhow::Result<Nginx> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let temp = d.join("temp");
    std::fs::create_dir_all(&temp)?;
    let conf = format!(
        "daemon off;\nmaster_process off;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {t};\n  proxy_temp_path {t};\n  \
         fastcgi_temp_path {t};\n  uwsgi_temp_path {t};\n  scgi_temp_path {t};\n{}\n}}\n",
        cache_conf(&d.join("cache"), addr, origin)?,
        d = d.display(),
        t = temp.display(),
    );
    let path = d.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let mut proc = Spawned::start(
        StdCommand::new(bin)
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(d.join("error.log")),
        bin,
        d.join("nginx.out"),
        "nginx",
    )?;
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        proc.check_alive()
            .with_context(|| std::fs::read_to_string(d.join("error.log")).unwrap_or_default())?;
        if Instant::now() > deadline {
            bail!("nginx does not listen on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Nginx {
        proc,
        addr,
        _dir: dir,
    })
}

/// When each clip frame was sent, by its number (the clip loops: several times each).
#[derive(Default)]
struct Sends(HashMap<u32, Vec<Instant>>);

impl Sends {
    fn add(&mut self, sent: Vec<(usize, Instant)>) {
        for (i, at) in sent {
            self.0.entry(i as u32).or_default().push(at);
        }
    }

    /// The latest send of frame `n` at or before `seen`.
    fn before(&self, n: u32, seen: Instant) -> Option<Instant> {
        self.0
            .get(&n)?
            .iter()
            .rev()
            .find(|at| **at <= seen)
            .copied()
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// `live` against Yishi: one row.
pub async fn yishi(t: &Target, o: &LiveOpts) -> anyhow::Result<Row> {
    clip::tool("ffmpeg")?;
    clip::tool("ffprobe")?;
    let dir = tempfile::tempdir()?;
    let clip_dir = dir.path().to_owned();
    let frames = tokio::task::spawn_blocking(move || clip::vp8_clip(&clip_dir, CLIP)).await??;

    let room = t.create_room_of("live", "consultation").await?;
    let mut host = t.host(&room, "h").await?;
    host.try_cmd(Command::StartSession).await?;
    let mut ctl = Client::join(
        t.addr,
        Ipv4Addr::LOCALHOST,
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
    let publisher = Arc::new(
        MediaPeer::new(PeerOptions {
            send_audio: true,
            send_video: true,
            audio_level: 20,
            video_clip: Some(frames),
            ..PeerOptions::default()
        })
        .await?,
    );
    negotiate(&mut ctl, &publisher).await?;
    publisher
        .wait_connected(WAIT)
        .await
        .context("the publisher's connection")?;
    let stop = watch::channel(false).0;
    let pub_task = tokio::spawn(pump(ctl, Arc::clone(&publisher), stop.subscribe()));

    let http = reqwest::Client::new();
    let result = measure(t, o, &room, &publisher, &http, dir.path()).await;
    // Always stop the stream: a worker outlives a killed server.
    let stopped_live = http
        .delete(format!("http://{}/live/{room}", t.addr))
        .bearer_auth(&t.admin_key)
        .send()
        .await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_task).await;
    if let Ok(p) = Arc::try_unwrap(publisher) {
        p.close().await;
    }
    host.close().await;
    let mut row = result?;
    match stopped_live {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => row.fail(format!("stopping the livestream: {}", r.status())),
        Err(e) => row.fail(format!("stopping the livestream: {e}")),
    }
    Ok(row)
}

async fn measure(
    t: &Target,
    o: &LiveOpts,
    room: &str,
    publisher: &MediaPeer,
    http: &reqwest::Client,
    dir: &Path,
) -> anyhow::Result<Row> {
    let mut row = Row::new("live", "yishi", 0);
    row.extra(
        "ffmpeg_start_ms",
        ffmpeg_start().await.as_secs_f64() * 1000.0,
    );
    // The publisher alone: the SFU receiving it, no livestream yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = t.cpu();
    tokio::time::sleep(BASELINE).await;
    let baseline_pct = baseline.percent();

    let base = format!("http://{}/live/{room}", t.addr);
    let started = Instant::now();
    let r = http
        .post(&base)
        .bearer_auth(&t.admin_key)
        .send()
        .await
        .context("POST /live")?;
    if !r.status().is_success() {
        bail!(
            "starting the livestream: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    row.extra("start_answer_ms", started.elapsed().as_secs_f64() * 1000.0);

    // Segments are fetched and decoded one at a time, in the order listed.
    let segs: Arc<Mutex<BTreeMap<u64, Seg>>> = Arc::default();
    let (to_decoder, mut queue) = mpsc::unbounded_channel::<u64>();
    let decoder = {
        let (segs, http, base, file) = (
            Arc::clone(&segs),
            http.clone(),
            base.clone(),
            dir.join("seg.ts"),
        );
        tokio::spawn(async move {
            let mut size = None;
            while let Some(n) = queue.recv().await {
                let t0 = Instant::now();
                let fetched = get(&http, &format!("{base}/seg{n}.ts")).await;
                let fetch = t0.elapsed();
                let decoded = match &fetched {
                    Ok(bytes) => match tokio::fs::write(&file, bytes).await {
                        Ok(()) => {
                            if size.is_none() {
                                size = probe_size(&file);
                            }
                            decode(&file, false).await.ok()
                        }
                        Err(_) => None,
                    },
                    Err(_) => None,
                };
                let mut segs = segs.lock().unwrap_or_else(|e| e.into_inner());
                let seg = segs.entry(n).or_default();
                seg.fetch = fetch;
                seg.bytes = fetched.as_ref().map_or(0, |b| b.len());
                match decoded {
                    Some(frames) => seg.frames = frames,
                    None => seg.missing = true,
                }
            }
            size
        })
    };

    let mut sends = Sends::default();
    let mut last_seen: Option<u64> = None;
    let mut gaps = 0u64;
    let mut first_listed: Option<Instant> = None;
    let mut window: Option<(Instant, CpuMeter, CpuMeter, Option<u32>)> = None;
    let joins: Arc<Mutex<Vec<Join>>> = Arc::default();
    let join_stop = watch::channel(false).0;
    let mut joiner = None;
    let mut join_errors = 0u64;
    let mut last_in_window = None;
    let worker_pid = || {
        t.pid
            .and_then(|p| children_named(p, "ffmpeg").first().copied())
    };
    loop {
        let poll_at = Instant::now();
        sends.add(publisher.take_clip_sends());
        if let Ok(text) = get(http, &format!("{base}/index.m3u8")).await {
            let seen = Instant::now();
            let listed = parse_playlist(&String::from_utf8_lossy(&text));
            for l in listed {
                if last_seen.is_some_and(|last| l.n <= last) {
                    continue;
                }
                if let Some(last) = last_seen {
                    gaps += l.n - last - 1;
                }
                last_seen = Some(l.n);
                first_listed.get_or_insert(seen);
                segs.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(l.n)
                    .or_default()
                    .listed = Some(seen);
                if let Some(seg) = segs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&l.n) {
                    seg.duration = l.duration;
                }
                if window.is_some() {
                    last_in_window = Some(l.n);
                }
                let _ = to_decoder.send(l.n);
            }
        }
        match (&window, first_listed) {
            (None, None) if started.elapsed() > WAIT => {
                bail!("no segment listed within {WAIT:?} of the start");
            }
            (None, Some(first)) if first.elapsed() >= WARMUP => {
                row.extra(
                    "first_segment_ms",
                    first.duration_since(started).as_secs_f64() * 1000.0,
                );
                let pid = worker_pid();
                let w0 = Instant::now();
                window = Some((w0, t.cpu(), CpuMeter::start(pid), pid));
                let (joins, http, base, file, mut stop) = (
                    Arc::clone(&joins),
                    http.clone(),
                    base.clone(),
                    dir.join("join.ts"),
                    join_stop.subscribe(),
                );
                joiner = Some(tokio::spawn(async move {
                    let mut errors = 0u64;
                    let mut every = tokio::time::interval(JOIN_EVERY);
                    loop {
                        tokio::select! {
                            _ = stopped(&mut stop) => break,
                            _ = every.tick() => match join_once(&http, &base, &file).await {
                                Ok(j) => joins.lock().unwrap_or_else(|e| e.into_inner()).push(j),
                                Err(_) => errors += 1,
                            },
                        }
                    }
                    errors
                }));
            }
            (Some((w0, _, _, _)), _) if w0.elapsed() >= o.window => break,
            _ => {}
        }
        tokio::time::sleep(POLL.saturating_sub(poll_at.elapsed())).await;
    }
    let Some((w0, server_cpu, worker_cpu, pid)) = window else {
        bail!("the window never started");
    };
    let w1 = Instant::now();
    let window_s = w1.duration_since(w0).as_secs_f64();
    let server_pct = server_cpu.percent();
    let worker_pct = worker_cpu.percent();
    let _ = join_stop.send(true);
    if let Some(j) = joiner {
        join_errors = j.await.unwrap_or(0);
    }
    sends.add(publisher.take_clip_sends());
    // Frames the publisher sent in the window: below 30/s when its machine is busy (the
    // worker then repeats frames to keep 30/s; `frames_repeated` counts them).
    let sent_in_window = sends
        .0
        .values()
        .flatten()
        .filter(|at| (w0..=w1).contains(*at))
        .count();
    drop(to_decoder);
    let size = tokio::time::timeout(WAIT, decoder)
        .await
        .context("decoding the last segments took too long")?
        .unwrap_or(None);

    let joins = joins.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let segs = std::mem::take(&mut *segs.lock().unwrap_or_else(|e| e.into_inner()));
    let Some(first_join) = joins.first().copied() else {
        bail!("no viewer could join ({join_errors} tried and failed)");
    };
    let last = last_in_window.unwrap_or(first_join.start);

    // Frame to listed, over the segments from the first viewer's start to the window's end.
    let listed_lat = Lat::new();
    let last_frame_lat = Lat::new();
    let (mut read, mut unreadable, mut repeated, mut skipped, mut aliased) = (0u64, 0, 0, 0, 0);
    let mut missing = 0u64;
    let mut media = 0f64;
    let mut prev: Option<u32> = None;
    let mut bytes = 0usize;
    let mut measured = 0u64;
    for seg in segs.range(first_join.start..=last).map(|(_, s)| s) {
        let Some(listed) = seg.listed else {
            continue;
        };
        measured += 1;
        media += seg.duration;
        if seg.missing {
            missing += 1;
            continue;
        }
        bytes += seg.bytes;
        let mut last_sent = None;
        for number in &seg.frames {
            let Some(k) = *number else {
                unreadable += 1;
                continue;
            };
            read += 1;
            if let Some(p) = prev {
                let step = (k + CLIP.frames as u32 - p) % CLIP.frames as u32;
                if step == 0 {
                    repeated += 1;
                } else {
                    skipped += u64::from(step - 1);
                }
            }
            prev = Some(k);
            let Some(sent) = sends.before(k, listed) else {
                continue;
            };
            let to_listed = listed.duration_since(sent);
            if to_listed.as_secs_f64() > CLIP.frames as f64 / FPS / 2.0 {
                aliased += 1;
            }
            listed_lat.record(micros(to_listed));
            last_sent = Some(sent);
        }
        if let Some(sent) = last_sent {
            last_frame_lat.record(micros(listed.duration_since(sent)));
        }
    }
    // Frame to played: every viewer that joined, by the player model, to the window's end.
    let played_lat = Lat::new();
    let mut stalls = 0u64;
    let mut stalled = Duration::ZERO;
    for join in &joins {
        let p = play(&segs, join, last, &sends);
        played_lat.record_many(&p.latencies);
        stalls += p.stalls;
        stalled += p.stalled;
    }
    row.latency(played_lat.summary());
    row.connections = joins.len();
    row.lost = gaps + missing;
    row.rate_per_s = FPS;
    // Frames read back per second of media measured (30 when every frame came through).
    row.deliveries_per_s = if media > 0.0 {
        read as f64 / media
    } else {
        0.0
    };
    row.server_cpu_pct = server_pct;
    let listed_p = listed_lat.summary();
    row.extra("listed_p50_ms", listed_p.p50_ms);
    row.extra("listed_p99_ms", listed_p.p99_ms);
    let last_p = last_frame_lat.summary();
    row.extra("listed_last_frame_p50_ms", last_p.p50_ms);
    row.extra("listed_last_frame_p99_ms", last_p.p99_ms);
    row.extra("window_s", window_s);
    row.extra("publisher_fps", sent_in_window as f64 / window_s);
    row.extra("segments", measured as f64);
    row.extra(
        "segment_kib",
        bytes as f64 / 1024.0 / measured.max(1) as f64,
    );
    row.extra("frames_read", read as f64);
    row.extra("frames_unreadable", unreadable as f64);
    row.extra("frames_repeated", repeated as f64);
    row.extra("frames_skipped", skipped as f64);
    row.extra("stalls", stalls as f64);
    row.extra("stalled_ms", stalled.as_secs_f64() * 1000.0);
    if let Some((w, h)) = size {
        row.extra("width", f64::from(w));
        row.extra("height", f64::from(h));
    }
    if let Some(p) = baseline_pct {
        row.extra("server_cpu_publisher_only_pct", p);
        if let Some(s) = server_pct {
            row.extra("server_cpu_feed_pct", s - p);
        }
    }
    match (pid, worker_pct) {
        (Some(_), Some(p)) => row.extra("worker_cpu_pct", p),
        _ => row.fail("no ffmpeg worker found under the server's process"),
    }
    let join_lat = Lat::new();
    for j in &joins {
        join_lat.record(micros(j.total()));
    }
    let jp = join_lat.summary();
    row.extra("join_p50_ms", jp.p50_ms);
    row.extra("join_p99_ms", jp.p99_ms);
    let median = |f: fn(&Join) -> Duration| {
        let mut v: Vec<f64> = joins.iter().map(|j| f(j).as_secs_f64() * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    row.extra("join_playlist_p50_ms", median(|j| j.playlist));
    row.extra("join_segment_p50_ms", median(|j| j.segment));
    row.extra("join_decode_p50_ms", median(|j| j.decode));
    row.extra("join_errors", join_errors as f64);

    if read == 0 {
        row.fail("no frame number was read back from the segments");
    } else if unreadable * 20 > read {
        row.fail(format!(
            "{unreadable} frames unreadable against {read} read"
        ));
    }
    if aliased > 0 {
        row.fail(format!(
            "{aliased} frames took over half the clip's length: their numbers may be misread"
        ));
    }
    if row.lost > 0 {
        row.fail(format!(
            "{gaps} segments never listed, {missing} could not be fetched or decoded"
        ));
    }

    // Serving: one segment of the window (immutable) and the playlist.
    let seg_url = format!("{base}/seg{last}.ts");
    let list_url = format!("{base}/index.m3u8");
    row.extra("serve_by_wrk", if wrk_bin().is_some() { 1.0 } else { 0.0 });
    for (name, url) in [("serve_segment", &seg_url), ("serve_playlist", &list_url)] {
        let cpu = t.cpu();
        let s = serve(url, o.serve).await?;
        record_served(&mut row, name, &s, cpu.percent(), None);
    }
    if o.nginx {
        match nginx_bin() {
            None => eprintln!("note: nginx is not installed (/usr/sbin/nginx): no cache figures"),
            Some(bin) => {
                let nginx = spawn_nginx(&bin, t.addr).await?;
                let via = |url: &str| url.replacen(&t.addr.to_string(), &nginx.addr.to_string(), 1);
                for (name, url) in [
                    ("nginx_segment", via(&seg_url)),
                    ("nginx_playlist", via(&list_url)),
                ] {
                    let cpu = t.cpu();
                    let own = CpuMeter::start(Some(nginx.proc.pid()));
                    let s = serve(&url, o.serve).await?;
                    record_served(&mut row, name, &s, cpu.percent(), own.percent());
                    row.extra(
                        &format!("{name}_cached_after"),
                        if cached(&url).await { 1.0 } else { 0.0 },
                    );
                }
            }
        }
    }
    Ok(row)
}

/// What one viewer saw by the player model (see the module's header).
struct Played {
    /// Frame sent to frame on screen, µs.
    latencies: Vec<u64>,
    stalls: u64,
    stalled: Duration,
}

/// The player model for the viewer of `join`, from its start segment to `last`.
fn play(segs: &BTreeMap<u64, Seg>, join: &Join, last: u64, sends: &Sends) -> Played {
    let mut out = Played {
        latencies: Vec::new(),
        stalls: 0,
        stalled: Duration::ZERO,
    };
    let start = join.at + join.total();
    let mut media = 0f64;
    for seg in segs.range(join.start..=last).map(|(_, s)| s) {
        let Some(listed) = seg.listed else {
            continue;
        };
        let due = start + out.stalled + Duration::from_secs_f64(media);
        let ready = listed + seg.fetch;
        if !seg.missing && ready > due {
            out.stalls += 1;
            out.stalled += ready - due;
        }
        let seg_start = start + out.stalled + Duration::from_secs_f64(media);
        for (i, number) in seg.frames.iter().enumerate() {
            if let Some(sent) = number.and_then(|k| sends.before(k, listed)) {
                let played = seg_start + Duration::from_secs_f64(i as f64 / FPS);
                out.latencies
                    .push(micros(played.saturating_duration_since(sent)));
            }
        }
        media += seg.duration;
    }
    out
}

fn record_served(row: &mut Row, name: &str, s: &Served, server: Option<f64>, nginx: Option<f64>) {
    row.extra(&format!("{name}_per_s"), s.per_s);
    row.extra(&format!("{name}_mib_per_s"), s.mib_per_s);
    row.extra(&format!("{name}_p50_ms"), s.p50_ms);
    row.extra(&format!("{name}_p99_ms"), s.p99_ms);
    if let Some(c) = server {
        row.extra(&format!("{name}_server_cpu_pct"), c);
    }
    if let Some(c) = nginx {
        row.extra(&format!("{name}_nginx_cpu_pct"), c);
        if wrk_bin().is_none() {
            row.extra(
                &format!("{name}_hit_pct"),
                s.hits as f64 * 100.0 / s.requests.max(1) as f64,
            );
        }
    }
    if s.errors > 0 || s.requests == 0 {
        row.fail(format!(
            "{name}: {} requests failed, {} answered",
            s.errors, s.requests
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playlist_gives_its_segments_with_their_durations() {
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n\
                    #EXT-X-MEDIA-SEQUENCE:4\n#EXTINF:1.000000,\nseg4.ts\n\
                    #EXT-X-DISCONTINUITY\n#EXTINF:0.966667,\nseg5.ts\nstage.sdp\n";
        assert_eq!(
            parse_playlist(text),
            vec![
                Listed {
                    n: 4,
                    duration: 1.0
                },
                Listed {
                    n: 5,
                    duration: 0.966667
                }
            ]
        );
        assert!(parse_playlist("").is_empty());
    }

    #[test]
    fn a_viewer_plays_from_its_start_and_stalls_for_a_late_segment() {
        let t0 = Instant::now();
        let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let mut sends = Sends::default();
        sends.add((0..60).map(|k| (k, at(k as f64 / FPS))).collect());
        let seg = |first: u32, listed: f64| Seg {
            duration: 1.0,
            listed: Some(at(listed)),
            frames: (first..first + 30).map(Some).collect(),
            ..Seg::default()
        };
        let join = Join {
            at: at(1.5),
            start: 1,
            playlist: Duration::ZERO,
            segment: Duration::ZERO,
            decode: Duration::ZERO,
        };
        let on_time = BTreeMap::from([(1, seg(0, 1.2)), (2, seg(30, 2.2))]);
        let p = play(&on_time, &join, 2, &sends);
        assert_eq!(p.latencies.len(), 60);
        assert_eq!(p.stalls, 0);
        assert!(p.latencies.iter().all(|us| us.abs_diff(1_500_000) < 1_000));
        // The second segment is listed half a second after its turn: everything from it
        // on is half a second later.
        let late = BTreeMap::from([(1, seg(0, 1.2)), (2, seg(30, 3.0))]);
        let p = play(&late, &join, 2, &sends);
        assert_eq!((p.stalls, p.stalled.as_millis()), (1, 500));
        assert!(p.latencies[29].abs_diff(1_500_000) < 1_000);
        assert!(p.latencies[30].abs_diff(2_000_000) < 1_000);
    }

    #[test]
    fn wrk_s_report_is_read() {
        let report = "Running 5s test @ http://127.0.0.1:1/live/r/seg3.ts\n\
            \x20 1 threads and 32 connections\n\
            \x20 Latency Distribution\n     50%    9.80ms\n     75%   12.00ms\n\
            \x20    90%   15.00ms\n     99%    1.02s\n\
            \x20 12345 requests in 5.00s, 3.00GB read\n\
            \x20 Socket errors: connect 0, read 2, write 0, timeout 1\n\
            \x20 Non-2xx or 3xx responses: 4\n\
            Requests/sec:   2469.00\nTransfer/sec:    600.00MB\n";
        let s = parse_wrk(report).unwrap();
        assert_eq!(s.requests, 12345);
        assert_eq!(s.per_s, 2469.0);
        assert_eq!(s.mib_per_s, 600.0);
        assert_eq!(s.p50_ms, 9.8);
        assert_eq!(s.p99_ms, 1020.0);
        assert_eq!(s.errors, 7);
        assert_eq!(wrk_ms("812.00us"), Some(0.812));
        assert_eq!(wrk_mib("512.00KB"), Some(0.5));
        assert!(parse_wrk("unable to connect").is_none());
    }

    #[test]
    fn a_frame_is_matched_to_its_latest_send_before_it_was_seen() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        let s = Duration::from_secs(1);
        sends.add(vec![(7, t0), (8, t0 + s), (7, t0 + 40 * s)]);
        assert_eq!(sends.before(7, t0 + 5 * s), Some(t0));
        assert_eq!(sends.before(7, t0 + 41 * s), Some(t0 + 40 * s));
        assert_eq!(sends.before(8, t0), None);
        assert_eq!(sends.before(9, t0 + s), None);
    }

    #[test]
    fn the_deployed_cache_config_is_moved_to_the_test_s_paths() {
        let conf = cache_conf(
            Path::new("/tmp/c"),
            "127.0.0.1:9000".parse().unwrap(),
            "127.0.0.1:7000".parse().unwrap(),
        )
        .unwrap();
        assert!(conf.contains("proxy_cache_path /tmp/c "));
        assert!(conf.contains("listen 127.0.0.1:9000;"));
        assert!(conf.contains("proxy_pass http://127.0.0.1:7000;"));
        assert!(conf.contains("proxy_cache_lock on;"));
    }
}
