//! The livestream end to end: webrtc-rs bots publish real VP8 (a clip ffmpeg encodes
//! for the test) and Opus-shaped audio through the real server; a host starts the
//! livestream; the SFU feeds the stage to a real ffmpeg worker; the playlist and
//! segments are read over HTTP and checked with ffprobe. The floor moves to a second
//! publisher and the stream follows without ending; the worker is killed and restarted
//! and the playlist goes on.
//!
//! Needs `ffmpeg` and `ffprobe` (Debian's `ffmpeg` package): without them it fails, it
//! never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Backend, Client, TestServer, database};
use reqwest::StatusCode;
use yishi::hub::HubConfig;
use yishi::live::LiveConfig;
use yishi_protocol::{
    ClientMessage, Command, EntryKind, EventBody, LivestreamEnd, Participant, ParticipantId,
    RecordEntry, Recording, Role, Sdp, ServerMessage, SessionState,
};
use yishi_testkit::clip::{self, ClipSpec};
use yishi_testkit::media_peer::{MediaPeer, PeerOptions};

const ROOM: &str = "live";
const WAIT: Duration = Duration::from_secs(15);
/// The bound: segments are listed within this long of the start.
const FIRST_SEGMENTS: Duration = Duration::from_secs(10);
const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

/// A participant with a media bot, signalling over its WebSocket.
struct Party {
    client: Client,
    peer: Option<MediaPeer>,
}

impl Party {
    async fn join(server: &TestServer, who: &Participant, options: PeerOptions) -> Party {
        let mut client = server.connect(ROOM, who).await;
        let peer = MediaPeer::new(options).await.unwrap();
        let offer = peer.offer().await.unwrap();
        send(&mut client, ClientMessage::MediaOffer(Sdp { sdp: offer })).await;
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no media_answer");
            if let Some(ServerMessage::MediaAnswer(answer)) = client.media.front().cloned() {
                client.media.pop_front();
                peer.accept_answer(&answer.sdp).await.unwrap();
                break;
            }
            if let Some(e) = client.errors.first() {
                panic!("media refused: {e:?}");
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), client.recv()).await;
        }
        Party {
            client,
            peer: Some(peer),
        }
    }

    /// Take in what arrives for `d`, answering the server's offers.
    async fn pump(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while let Ok(Some(_)) = tokio::time::timeout_at(until, self.client.recv()).await {}
        while let Some(msg) = self.client.media.pop_front() {
            if let (ServerMessage::MediaOffer(offer), Some(peer)) = (msg, &self.peer) {
                let answer = peer.answer(&offer.sdp).await.unwrap();
                send(
                    &mut self.client,
                    ClientMessage::MediaAnswer(Sdp { sdp: answer }),
                )
                .await;
            }
        }
    }
}

async fn send(client: &mut Client, msg: ClientMessage) {
    client.send_raw(serde_json::to_string(&msg).unwrap()).await;
}

async fn run(parties: &mut [&mut Party], d: Duration) {
    let slice = Duration::from_millis(50) / parties.len() as u32;
    let until = Instant::now() + d;
    while Instant::now() < until {
        for p in parties.iter_mut() {
            p.pump(slice).await;
        }
    }
}

/// `speaker` asks for the floor and the host grants it.
async fn give_floor(speaker: &mut Client, host: &mut Client) {
    speaker.request_floor(EntryKind::Impromptu).await;
    host.grant_next().await;
}

/// A program of the `ffmpeg` package, or a clear failure.
fn tool(name: &str) -> std::process::Command {
    clip::tool(name).unwrap()
}

/// Two seconds of a test pattern, encoded to VP8 by ffmpeg (libvpx) at the bots' size:
/// the frames of its IVF file, the first a key frame.
fn vp8_clip(dir: &Path) -> Arc<[Bytes]> {
    let spec = ClipSpec {
        width: WIDTH,
        height: HEIGHT,
        frames: 60,
        keyframe_every: 60,
        numbered: false,
    };
    clip::vp8_clip(dir, spec).unwrap()
}

fn publisher(clip: &Arc<[Bytes]>) -> PeerOptions {
    PeerOptions {
        send_audio: true,
        send_video: true,
        audio_level: 20,
        keyframe_interval: Duration::from_secs(2),
        video_clip: Some(clip.clone()),
        ..PeerOptions::default()
    }
}

/// The segments a playlist lists, by number (`segN.ts`).
fn segments(playlist: &str) -> Vec<u64> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .strip_prefix("seg")
                .and_then(|l| l.strip_suffix(".ts"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a segment: {l}"))
        })
        .collect()
}

async fn playlist(http: &reqwest::Client, server: &TestServer) -> Option<String> {
    let response = http
        .get(server.url(&format!("/live/{ROOM}/index.m3u8")))
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(response.status(), StatusCode::OK);
    Some(response.text().await.unwrap())
}

/// Keep the parties going until the playlist lists a segment numbered at least `n`;
/// returns it.
async fn until_segment(
    what: &str,
    http: &reqwest::Client,
    server: &TestServer,
    parties: &mut [&mut Party],
    n: u64,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(list) = playlist(http, server).await
            && segments(&list).last().is_some_and(|last| *last >= n)
        {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting: {what}; playlist: {:?}; worker log: {}",
            playlist(http, server).await,
            worker_log(server).await,
        );
        run(parties, Duration::from_millis(200)).await;
    }
}

async fn worker_log(server: &TestServer) -> String {
    match server.state.live.dir(ROOM).await {
        Some(dir) => std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default(),
        None => "(not live)".into(),
    }
}

/// ffprobe's streams of a file or URL: (codec, width, height) each.
fn probe(input: &str) -> Vec<(String, u64, u64)> {
    let out = tool("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json", input])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {input}: {out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap_or_default().to_owned(),
                s["width"].as_u64().unwrap_or(0),
                s["height"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// The video frames of a file, counted by ffprobe (its duration would not do: the
/// timestamps start again after a worker's restart).
fn probe_frames(input: &str) -> u64 {
    let out = tool("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args([
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            input,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {input}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // One line per program and per stream: the stream's count is the last.
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Fetch segment `n`, check how it is served, save it and probe it.
async fn probe_segment(
    http: &reqwest::Client,
    server: &TestServer,
    dir: &Path,
    n: u64,
) -> Vec<(String, u64, u64)> {
    let response = http
        .get(server.url(&format!("/live/{ROOM}/seg{n}.ts")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "video/mp2t");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["accept-ranges"], "bytes");
    let body = response.bytes().await.unwrap();
    let path = dir.join(format!("seg{n}.ts"));
    std::fs::write(&path, &body).unwrap();
    probe(path.to_str().unwrap())
}

/// The room's record, as the admin API exports it.
async fn record(http: &reqwest::Client, server: &TestServer) -> Vec<RecordEntry> {
    record_of(http, server, ROOM).await
}

/// Room `room`'s record, as the admin API exports it.
async fn record_of(http: &reqwest::Client, server: &TestServer, room: &str) -> Vec<RecordEntry> {
    let response = http
        .get(server.url(&format!("/api/v1/rooms/{room}/record")))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The playlist an audience member joining `room` now is told of (`None`: no livestream).
async fn told_playlist(server: &TestServer, room: &str) -> Option<String> {
    let viewer = server
        .connect(room, &Participant::new("a1", "网民", Role::Audience))
        .await;
    let snapshot = viewer.welcome.snapshot.as_ref().unwrap();
    snapshot.livestream.as_ref().map(|l| l.playlist.clone())
}

/// The livestream's events in the record.
async fn live_events(http: &reqwest::Client, server: &TestServer) -> Vec<RecordEntry> {
    record(http, server)
        .await
        .into_iter()
        .filter(|e| {
            matches!(
                e.event.body,
                EventBody::LivestreamStarted { .. }
                    | EventBody::LivestreamStopped { .. }
                    | EventBody::LivestreamGap { .. }
                    | EventBody::RecordingArchived { .. }
            )
        })
        .collect()
}

/// `yishi record verify FILE` on the record: it must pass.
fn verify_record(entries: &[RecordEntry], dir: &Path) {
    let file = dir.join("record.jsonl");
    let lines: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"))
        .args(["record", "verify"])
        .arg(&file)
        .env("YISHI_DATA_DIR", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "record verify: {out:?}");
}

/// nginx with the RTMP module (Debian's `nginx-light` and `libnginx-mod-rtmp`), run by
/// the test in the foreground on `port`, with its files in a temporary directory.
struct Nginx {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<std::process::Child>,
}

const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

impl Nginx {
    fn start() -> Nginx {
        assert!(
            Path::new(RTMP_MODULE).exists(),
            "nginx's RTMP module is not installed: the push test needs Debian's \
             libnginx-mod-rtmp (apt-get install --no-install-recommends nginx-light libnginx-mod-rtmp)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nginx = Nginx {
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
        };
        nginx.restart();
        nginx
    }

    /// (Re)start it on its port; returns once it listens.
    fn restart(&mut self) {
        let dir = self.dir.path();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let conf = format!(
            "load_module {RTMP_MODULE};\n\
             daemon off;\nmaster_process off;\n\
             error_log {logs}/error.log warn;\npid {logs}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n",
            logs = dir.join("logs").display(),
            port = self.port,
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (Debian's nginx-light) is not installed");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx does not listen: {}",
                std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The push targets' status, as the host reads it.
async fn push_status(http: &reqwest::Client, server: &TestServer) -> Vec<serde_json::Value> {
    let response = http
        .get(server.url(&format!("/live/{ROOM}/push")))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    body["targets"].as_array().unwrap().clone()
}

/// Keep `parties` going until every push target is in `state`; returns the statuses.
async fn until_pushes(
    state: &str,
    http: &reqwest::Client,
    server: &TestServer,
    parties: &mut [&mut Party],
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let targets = push_status(http, server).await;
        if !targets.is_empty() && targets.iter().all(|t| t["state"] == state) {
            return targets;
        }
        assert!(
            Instant::now() < deadline,
            "push targets not {state}: {targets:?}"
        );
        run(parties, Duration::from_millis(200)).await;
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn is_h264_and_aac(streams: &[(String, u64, u64)]) -> bool {
    streams
        .iter()
        .any(|(codec, w, h)| codec == "h264" && (*w, *h) == (u64::from(WIDTH), u64::from(HEIGHT)))
        && streams.iter().any(|(codec, _, _)| codec == "aac")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_is_streamed_to_hls_follows_the_floor_and_survives_its_worker() {
    let scratch = tempfile::tempdir().unwrap();
    let clip = vp8_clip(scratch.path());
    let dir = tempfile::tempdir().unwrap();
    let db = database(Backend::Sqlite, dir.path()).await;
    let server = TestServer::start_configured(db, dir, HubConfig::default(), |c| {
        c.media.live = LiveConfig {
            width: WIDTH,
            height: HEIGHT,
            video_kbps: 800,
            ..LiveConfig::default()
        };
    })
    .await;
    server.create_room(ROOM, "直播测试").await;
    let host_id = Participant::new("host", "主持人", Role::Host);
    let mut host = server.connect(ROOM, &host_id).await;
    host.ok(Command::StartSession).await;
    let m1_id = Participant::new("m1", "委员一", Role::Member);
    let m2_id = Participant::new("m2", "委员二", Role::Member);
    let mut m1 = Party::join(&server, &m1_id, publisher(&clip)).await;
    let mut m2 = Party::join(&server, &m2_id, publisher(&clip)).await;
    give_floor(&mut m1.client, &mut host).await;
    run(&mut [&mut m1, &mut m2], Duration::from_millis(500)).await;

    let http = reqwest::Client::new();
    let control = server.url(&format!("/live/{ROOM}"));
    // Only a host (or the admin key) starts it.
    let member = http
        .post(&control)
        .bearer_auth(server.token(ROOM, &m1_id))
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), StatusCode::FORBIDDEN);
    let nobody = http.post(&control).send().await.unwrap();
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(playlist(&http, &server).await, None, "404 while off");

    let started = Instant::now();
    let on = http
        .post(&control)
        .bearer_auth(server.token(ROOM, &host_id))
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), StatusCode::OK);
    // The record says who started it, and the audience is told where to watch.
    let started_by = live_events(&http, &server).await;
    assert!(
        matches!(&started_by[..], [e] if e.event.actor.as_ref() == Some(&host_id.id)
            && e.event.body == EventBody::LivestreamStarted { playlist: format!("/live/{ROOM}/index.m3u8") }),
        "{started_by:?}"
    );
    assert_eq!(
        told_playlist(&server, ROOM).await,
        Some(format!("/live/{ROOM}/index.m3u8"))
    );

    // Segments are listed within 10 s.
    let list = until_segment(
        "two segments",
        &http,
        &server,
        &mut [&mut m1, &mut m2],
        1,
        FIRST_SEGMENTS,
    )
    .await;
    let first_segments = started.elapsed();
    assert!(segments(&list).len() >= 2, "{list}");
    assert!(list.contains("#EXT-X-TARGETDURATION:1"), "{list}");
    let response = http
        .get(server.url(&format!("/live/{ROOM}/index.m3u8")))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "public, max-age=1");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");

    // H.264 at the configured size and AAC, in a segment and through the playlist.
    let last = *segments(&list).last().unwrap();
    let streams = probe_segment(&http, &server, scratch.path(), last).await;
    assert!(is_h264_and_aac(&streams), "{streams:?}");
    let streams = probe(&server.url(&format!("/live/{ROOM}/index.m3u8")));
    assert!(is_h264_and_aac(&streams), "{streams:?}");
    // The audio-only rendition beside it, for weak networks: AAC alone, no video, at a
    // low bit rate (64 kbit/s: a 1 s segment is about 8 KB and the MPEG-TS framing).
    let audio_url = server.url(&format!("/live/{ROOM}/audio.m3u8"));
    let response = http.get(&audio_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let audio_list = response.text().await.unwrap();
    let audio_segment = audio_list
        .lines()
        .rfind(|l| l.starts_with("audio") && l.ends_with(".ts"))
        .unwrap_or_else(|| panic!("no audio segment: {audio_list}"))
        .to_owned();
    let streams = probe(&audio_url);
    assert!(
        !streams.is_empty() && streams.iter().all(|(codec, _, _)| codec == "aac"),
        "audio only: {streams:?}"
    );
    let audio_bytes = http
        .get(server.url(&format!("/live/{ROOM}/{audio_segment}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(
        (1_000..24_000).contains(&audio_bytes),
        "{audio_segment}: {audio_bytes} bytes"
    );
    eprintln!("audio-only segment {audio_segment}: {audio_bytes} bytes");
    // Byte ranges, for players and caches that ask for them.
    check_range(&http, &server, last).await;
    // Nothing but the playlist and segments is served.
    for file in ["stream.sdp", "worker.log", "..%2Fstream.sdp"] {
        let response = http
            .get(server.url(&format!("/live/{ROOM}/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{file}");
    }

    // The duration grows.
    let list = until_segment(
        "the stream goes on",
        &http,
        &server,
        &mut [&mut m1, &mut m2],
        last + 2,
        WAIT,
    )
    .await;
    let before_move = *segments(&list).last().unwrap();

    // The floor moves to m2, and m1 leaves: the stream goes on with m2's camera.
    host.ok(Command::EndTurn).await;
    give_floor(&mut m2.client, &mut host).await;
    run(&mut [&mut m1, &mut m2], Duration::from_millis(300)).await;
    if let Some(peer) = m1.peer.take() {
        peer.close().await;
    }
    let list = until_segment(
        "the stream follows the floor",
        &http,
        &server,
        &mut [&mut m1, &mut m2],
        before_move + 4,
        WAIT,
    )
    .await;
    assert!(!list.contains("#EXT-X-ENDLIST"), "{list}");
    let after_move = *segments(&list).last().unwrap();
    let streams = probe_segment(&http, &server, scratch.path(), after_move).await;
    assert!(is_h264_and_aac(&streams), "{streams:?}");

    // The worker is killed mid-stream: it is restarted and the playlist goes on, the gap
    // marked.
    let pid = server.state.live.worker_pid(ROOM).await.expect("a worker");
    let killed_at = yishi::hub::now();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + WAIT;
    loop {
        let now = server.state.live.worker_pid(ROOM).await;
        if now.is_some_and(|p| p != pid) {
            break;
        }
        assert!(Instant::now() < deadline, "the worker was not restarted");
        run(&mut [&mut m1, &mut m2], Duration::from_millis(100)).await;
    }
    let list = until_segment(
        "the playlist goes on after a restart",
        &http,
        &server,
        &mut [&mut m1, &mut m2],
        after_move + 3,
        WAIT,
    )
    .await;
    assert!(list.contains("#EXT-X-DISCONTINUITY"), "{list}");
    assert!(!list.contains("#EXT-X-ENDLIST"), "{list}");
    let newest = *segments(&list).last().unwrap();
    let streams = probe_segment(&http, &server, scratch.path(), newest).await;
    assert!(is_h264_and_aac(&streams), "{streams:?}");
    // The gap is in the record: the worker exited after the kill, a new one ran later.
    let deadline = Instant::now() + WAIT;
    let gap = loop {
        let gap = live_events(&http, &server)
            .await
            .into_iter()
            .find_map(|e| match e.event.body {
                EventBody::LivestreamGap { from, to } => Some((from, to)),
                _ => None,
            });
        if let Some(gap) = gap {
            break gap;
        }
        assert!(Instant::now() < deadline, "no gap in the record");
        run(&mut [&mut m1, &mut m2], Duration::from_millis(200)).await;
    };
    assert!(
        gap.0 >= killed_at && gap.1 >= gap.0,
        "{gap:?} after {killed_at:?}"
    );

    // Stopped: the worker ends, the files go, and the stretch is archived: one
    // recording, its hash in the record.
    let recording = stop(&http, &server, &server.token(ROOM, &host_id)).await;
    assert_eq!(playlist(&http, &server).await, None);
    let worker = server.state.live.worker_pid(ROOM).await;
    assert_eq!(worker, None);
    let events = live_events(&http, &server).await;
    let bodies: Vec<&EventBody> = events.iter().map(|e| &e.event.body).collect();
    assert!(
        matches!(
            &bodies[..],
            [
                EventBody::LivestreamStarted { .. },
                EventBody::LivestreamGap { .. },
                EventBody::LivestreamStopped { reason: LivestreamEnd::Stopped },
                EventBody::RecordingArchived { recording: archived },
            ] if *archived == recording
        ),
        "{bodies:?}"
    );
    assert_eq!(events[2].event.actor.as_ref(), Some(&host_id.id));
    // Hosts download it (members may not); its bytes are the ones the record hashed,
    // ffprobe reads H.264 and AAC in it, and the record verifies.
    let url = server.url(&format!("/live/{ROOM}/recordings/{}", recording.file));
    let denied = http
        .get(&url)
        .bearer_auth(server.token(ROOM, &m2_id))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let bytes = download(&http, &server, &recording, &server.token(ROOM, &host_id)).await;
    let saved = scratch.path().join(&recording.file);
    std::fs::write(&saved, &bytes).unwrap();
    let streams = probe(saved.to_str().unwrap());
    assert!(is_h264_and_aac(&streams), "{streams:?}");
    // Every segment is in it: as many seconds of video at 30 fps as segments were
    // written (a second per segment; the last one may be short).
    let frames = probe_frames(saved.to_str().unwrap());
    assert!(
        frames >= 30 * newest,
        "the recording holds the whole stretch: {frames} frames, {newest} segments before the stop"
    );
    verify_record(&record(&http, &server).await, scratch.path());
    eprintln!(
        "livestream: first segments listed {first_segments:?} after the start; \
         segments {before_move} before the floor moved, {after_move} after, {newest} after the restart; \
         gap {} ms; recording {} bytes, {frames} frames",
        gap.1.0 - gap.0.0,
        recording.bytes,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_without_a_voice_streams_with_silence_and_its_recording_enters_the_record_at_the_close()
 {
    let scratch = tempfile::tempdir().unwrap();
    let clip = vp8_clip(scratch.path());
    let dir = tempfile::tempdir().unwrap();
    let db = database(Backend::Sqlite, dir.path()).await;
    let server = TestServer::start_configured(db, dir, HubConfig::default(), |c| {
        c.media.live = LiveConfig {
            width: WIDTH,
            height: HEIGHT,
            video_kbps: 800,
            ..LiveConfig::default()
        };
    })
    .await;
    server.create_room(ROOM, "直播测试").await;
    let mut host = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    host.ok(Command::StartSession).await;
    // A camera without a microphone holds the floor.
    let camera = PeerOptions {
        send_audio: false,
        ..publisher(&clip)
    };
    let mut m1 = Party::join(
        &server,
        &Participant::new("m1", "委员一", Role::Member),
        camera,
    )
    .await;
    give_floor(&mut m1.client, &mut host).await;
    // The admin key starts it too.
    let on = reqwest::Client::new()
        .post(server.url(&format!("/live/{ROOM}")))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), StatusCode::OK);
    let http = reqwest::Client::new();
    let list = until_segment("segments", &http, &server, &mut [&mut m1], 2, WAIT).await;
    let last = *segments(&list).last().unwrap();
    let streams = probe_segment(&http, &server, scratch.path(), last).await;
    assert!(is_h264_and_aac(&streams), "{streams:?}");

    // RTMP push to two targets of an nginx with the RTMP module: both go live and carry
    // H.264 and AAC; nginx dies: both retry, saying why; it is back: both live again.
    let mut nginx = Nginx::start();
    let set = http
        .put(server.url(&format!("/live/{ROOM}/push")))
        .bearer_auth(server.admin_key())
        .json(&serde_json::json!({ "targets": [nginx.url("k1"), nginx.url("k2")] }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let member = http
        .get(server.url(&format!("/live/{ROOM}/push")))
        .bearer_auth(server.token(ROOM, &Participant::new("m1", "委员一", Role::Member)))
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), StatusCode::FORBIDDEN);
    let bad = http
        .put(server.url(&format!("/live/{ROOM}/push")))
        .bearer_auth(server.admin_key())
        .json(&serde_json::json!({ "targets": ["file:///etc/passwd"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let pushing = Instant::now();
    until_pushes("live", &http, &server, &mut [&mut m1]).await;
    let push_live = pushing.elapsed();
    for key in ["k1", "k2"] {
        let url = nginx.url(key);
        let streams = tokio::task::spawn_blocking(move || probe(&url))
            .await
            .unwrap();
        assert!(is_h264_and_aac(&streams), "{key}: {streams:?}");
    }
    nginx.kill();
    let killed = Instant::now();
    let retrying = until_pushes("retrying", &http, &server, &mut [&mut m1]).await;
    let push_retrying = killed.elapsed();
    assert!(
        retrying
            .iter()
            .all(|t| t["error"].as_str().is_some_and(|e| !e.is_empty())),
        "{retrying:?}"
    );
    nginx.restart();
    let restarted = Instant::now();
    until_pushes("live", &http, &server, &mut [&mut m1]).await;
    eprintln!(
        "push: both targets live {push_live:?} after they were set; retrying {push_retrying:?} \
         after nginx was killed; live again {:?} after it restarted; last error: {}",
        restarted.elapsed(),
        retrying[0]["error"],
    );

    // The session closes with the stream on: the server stops the stream first (its
    // worker finishes its last segment, the pushes end, the stretch is archived), so the
    // stop and the recording's hash enter the record before the close seals it.
    let closing = Instant::now();
    host.ok(Command::CloseSession).await;
    let close_took = closing.elapsed();
    server.until_closed(ROOM).await;
    assert_eq!(playlist(&http, &server).await, None, "the stream is off");
    assert_eq!(server.state.live.worker_pid(ROOM).await, None);
    assert!(
        push_status(&http, &server).await.is_empty(),
        "the pushes ended"
    );
    let entries = record(&http, &server).await;
    let tail: Vec<&RecordEntry> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.event.body,
                EventBody::LivestreamStarted { .. }
                    | EventBody::LivestreamStopped { .. }
                    | EventBody::LivestreamGap { .. }
                    | EventBody::RecordingArchived { .. }
                    | EventBody::SessionChanged {
                        state: SessionState::Closed
                    }
            )
        })
        .collect();
    let bodies: Vec<&EventBody> = tail.iter().map(|e| &e.event.body).collect();
    let [
        EventBody::LivestreamStarted { .. },
        EventBody::LivestreamStopped {
            reason: LivestreamEnd::SessionClosed,
        },
        EventBody::RecordingArchived { recording },
        EventBody::SessionChanged {
            state: SessionState::Closed,
        },
    ] = &bodies[..]
    else {
        panic!("stopped and archived before the close: {bodies:?}");
    };
    assert_eq!(tail[0].event.actor, None, "the operator started it");
    assert_eq!(
        tail[1].event.actor,
        Some(ParticipantId::new("host")),
        "stopped for the host who closed"
    );
    assert_eq!(
        entries.last().unwrap().event.body,
        tail[3].event.body,
        "the close is the record's last event"
    );
    let bytes = http
        .get(server.url(&format!("/live/{ROOM}/recordings/{}", recording.file)))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len() as u64, recording.bytes);
    assert_eq!(sha256_hex(&bytes), recording.sha256, "the record's hash");
    verify_record(&entries, scratch.path());
    eprintln!(
        "close with the stream on: acknowledged after {close_took:?}; recording {} bytes",
        recording.bytes
    );
    // Stopped again: nothing was on. Started again: no, the session is over.
    let control = server.url(&format!("/live/{ROOM}"));
    let off = http
        .delete(&control)
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    let off: serde_json::Value = off.json().await.unwrap();
    assert_eq!(off["was_live"], false);
    let again = http
        .post(&control)
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

/// The first TS packet of segment `n`, asked for as a byte range.
async fn check_range(http: &reqwest::Client, server: &TestServer, n: u64) {
    let ranged = http
        .get(server.url(&format!("/live/{ROOM}/seg{n}.ts")))
        .header("Range", "bytes=0-187")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap().len(), 188);
}

/// Stop the stream as the holder of `token`; the recording it archived.
async fn stop(http: &reqwest::Client, server: &TestServer, token: &str) -> Recording {
    let off = http
        .delete(server.url(&format!("/live/{ROOM}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    let off: serde_json::Value = off.json().await.unwrap();
    serde_json::from_value(off["recording"].clone()).unwrap()
}

/// Download `recording` as the holder of `token`: its bytes, checked against the size
/// and SHA-256 the record holds.
async fn download(
    http: &reqwest::Client,
    server: &TestServer,
    recording: &Recording,
    token: &str,
) -> Bytes {
    let url = server.url(&format!("/live/{ROOM}/recordings/{}", recording.file));
    let download = http.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, recording.bytes);
    assert_eq!(sha256_hex(&bytes), recording.sha256);
    bytes
}

/// The stage at the tests' size (small, so several streams fit on a 2-core machine).
fn small_stage(config: &mut yishi::config::Config) {
    config.media.live = LiveConfig {
        width: WIDTH,
        height: HEIGHT,
        video_kbps: 800,
        ..LiveConfig::default()
    };
}

/// In a cluster the room's media and its worker run on the room's owner; the
/// livestream's routes of any other node reach it: a host starts, reads and stops the
/// stream, and downloads its recording, through a node that does not own the room, and
/// an audience there plays the same segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn any_node_of_a_cluster_serves_the_owners_livestream() {
    let scratch = tempfile::tempdir().unwrap();
    let clip = vp8_clip(scratch.path());
    let dir = tempfile::tempdir().unwrap();
    let db = database(Backend::Postgres, dir.path()).await;
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    let tag = format!("{}-{}", std::process::id(), yishi::hub::now().0 % 1_000_000);
    let a = common::cluster_node(&nats, &format!("la-{tag}"), &db, None, small_stage).await;
    let keys = a.state.config.auth.token_keys.clone();
    let b = common::cluster_node(&nats, &format!("lb-{tag}"), &db, Some(&keys), small_stage).await;
    a.create_room(ROOM, "跨节点直播").await;
    let host_id = Participant::new("host", "主持人", Role::Host);
    let mut host = a.connect(ROOM, &host_id).await;
    host.ok(Command::StartSession).await;
    let m1_id = Participant::new("m1", "委员一", Role::Member);
    let mut m1 = Party::join(&a, &m1_id, publisher(&clip)).await;
    give_floor(&mut m1.client, &mut host).await;
    run(&mut [&mut m1], Duration::from_millis(500)).await;
    assert!(a.runs(ROOM) && !b.runs(ROOM), "node a owns the room");

    // Started through node b: the worker runs on a, and the record says who started it.
    let http = reqwest::Client::new();
    let control = b.url(&format!("/live/{ROOM}"));
    let member = http
        .post(&control)
        .bearer_auth(b.token(ROOM, &m1_id))
        .send()
        .await
        .unwrap();
    assert_eq!(member.status(), StatusCode::FORBIDDEN, "the owner's answer");
    let on = http
        .post(&control)
        .bearer_auth(b.token(ROOM, &host_id))
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), StatusCode::OK);
    assert!(a.state.live.worker_pid(ROOM).await.is_some());
    assert!(b.state.live.worker_pid(ROOM).await.is_none());
    let started = live_events(&http, &a).await;
    assert!(
        matches!(&started[..], [e] if e.event.actor.as_ref() == Some(&host_id.id)),
        "{started:?}"
    );

    // Played through b: the playlist and the same segments as on a, ranges too.
    let list = until_segment("segments through b", &http, &b, &mut [&mut m1], 4, WAIT).await;
    assert!(!b.runs(ROOM), "b forwards, it does not take the room");
    let last = *segments(&list).last().unwrap();
    let streams = probe_segment(&http, &b, scratch.path(), last).await;
    assert!(is_h264_and_aac(&streams), "{streams:?}");
    let segment = |node: &TestServer| {
        http.get(node.url(&format!("/live/{ROOM}/seg{last}.ts")))
            .send()
    };
    let (on_a, on_b) = (segment(&a).await.unwrap(), segment(&b).await.unwrap());
    assert_eq!(
        on_b.headers()["cache-control"],
        on_a.headers()["cache-control"]
    );
    assert_eq!(on_b.bytes().await.unwrap(), on_a.bytes().await.unwrap());
    check_range(&http, &b, last).await;
    let pushes = http
        .get(b.url(&format!("/live/{ROOM}/push")))
        .bearer_auth(b.token(ROOM, &host_id))
        .send()
        .await
        .unwrap();
    assert_eq!(pushes.status(), StatusCode::OK);

    // Stopped through b; the recording (larger than one NATS message's piece) comes
    // through b with the bytes the record hashed.
    let recording = stop(&http, &b, &b.token(ROOM, &host_id)).await;
    assert!(
        recording.bytes > 256 * 1024,
        "a recording of several pieces: {} bytes",
        recording.bytes
    );
    assert_eq!(
        playlist(&http, &b).await,
        None,
        "404 through b once stopped"
    );
    download(&http, &b, &recording, &b.token(ROOM, &host_id)).await;
    assert!(matches!(
        live_events(&http, &a).await.last().map(|e| &e.event.body),
        Some(EventBody::RecordingArchived { recording: archived }) if *archived == recording
    ));
    assert!(!b.runs(ROOM));
    drop(m1);
    a.state.hub.shutdown().await;
    b.state.hub.shutdown().await;
}

/// The record says the stream is on, but the server that ran it is gone: a second server
/// on the same store (a restart, or a cluster's new owner) takes the room, records the
/// stream stopped (`server_restarted`), and its audience gets no dead playlist.
///
/// The first server runs in this process: it is "gone" once its rooms are stopped and
/// its hub dropped (its livestream worker still runs, as a killed server's does, but can
/// no longer record anything).
async fn a_stream_whose_server_is_gone_is_recorded_stopped(backend: Backend) {
    // The store outlives the first server's data directory.
    let store_dir = tempfile::tempdir().unwrap();
    let db = database(backend, store_dir.path()).await;
    let first = TestServer::start_on(
        db.clone(),
        tempfile::tempdir().unwrap(),
        HubConfig::default(),
    )
    .await;
    first.create_room(ROOM, "直播测试").await;
    let mut host = first
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    host.ok(Command::StartSession).await;
    let http = reqwest::Client::new();
    let on = http
        .post(first.url(&format!("/live/{ROOM}")))
        .bearer_auth(first.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), StatusCode::OK);
    assert!(told_playlist(&first, ROOM).await.is_some());
    drop(host);
    // The first server goes: its rooms stop, its hub is dropped.
    let live = first.state.live.clone();
    let hub = Arc::downgrade(&first.state.hub);
    first.state.hub.shutdown().await;
    drop(first);
    let deadline = Instant::now() + WAIT;
    while hub.upgrade().is_some() {
        assert!(Instant::now() < deadline, "the first server's hub lives on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        live.worker_pid(ROOM).await.is_some(),
        "its worker still runs"
    );

    let second = TestServer::start_on(db, tempfile::tempdir().unwrap(), HubConfig::default()).await;
    assert_eq!(told_playlist(&second, ROOM).await, None, "no dead playlist");
    assert_eq!(playlist(&http, &second).await, None);
    let stopped = |events: &[RecordEntry]| {
        let bodies: Vec<&EventBody> = events.iter().map(|e| &e.event.body).collect();
        assert!(
            matches!(
                &bodies[..],
                [
                    EventBody::LivestreamStarted { .. },
                    EventBody::LivestreamStopped {
                        reason: LivestreamEnd::ServerRestarted
                    },
                ]
            ),
            "{bodies:?}"
        );
        assert_eq!(events[1].event.actor, None, "the server stopped it");
    };
    stopped(&live_events(&http, &second).await);
    let entries = record(&http, &second).await;
    verify_record(&entries, second.state.config.store.data_dir.as_path());

    // The first server's worker ends: nothing of it reaches the record.
    let late = live.stop(ROOM, None, LivestreamEnd::Stopped).await.unwrap();
    assert!(late.was_live);
    stopped(&live_events(&http, &second).await);
    // The second server runs a new stream when asked.
    let again = http
        .post(second.url(&format!("/live/{ROOM}")))
        .bearer_auth(second.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert!(told_playlist(&second, ROOM).await.is_some());
    second
        .state
        .live
        .stop(ROOM, None, LivestreamEnd::Stopped)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_server_is_gone_is_recorded_stopped_on_sqlite() {
    a_stream_whose_server_is_gone_is_recorded_stopped(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_stream_whose_server_is_gone_is_recorded_stopped_on_postgresql() {
    a_stream_whose_server_is_gone_is_recorded_stopped(Backend::Postgres).await;
}

/// When the media unit is full, an audience member it refuses starts the room's
/// livestream (no host asked: the record says so), and the audience watches that: it is
/// told the playlist, which lists segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_media_unit_starts_the_livestream_for_the_audience() {
    let scratch = tempfile::tempdir().unwrap();
    let clip = vp8_clip(scratch.path());
    let dir = tempfile::tempdir().unwrap();
    let db = database(Backend::Sqlite, dir.path()).await;
    let server = TestServer::start_configured(db, dir, HubConfig::default(), |c| {
        small_stage(c);
        // Room for the lecturer's media only.
        c.media.sfu.as_mut().expect("media").max_peers = 1;
    })
    .await;
    server.create_room(ROOM, "委员讲堂").await;
    let host_id = Participant::new("host", "主持人", Role::Host);
    let mut host = server.connect(ROOM, &host_id).await;
    host.ok(Command::StartSession).await;
    let lecturer = Participant::new("m1", "主讲委员", Role::Member);
    let mut m1 = Party::join(&server, &lecturer, publisher(&clip)).await;
    give_floor(&mut m1.client, &mut host).await;
    run(&mut [&mut m1], Duration::from_millis(300)).await;

    let http = reqwest::Client::new();
    assert!(live_events(&http, &server).await.is_empty(), "not live yet");
    let mut viewer = server
        .connect(ROOM, &Participant::new("a1", "网民", Role::Audience))
        .await;
    let peer = MediaPeer::new(PeerOptions {
        send_audio: false,
        send_video: false,
        receive_audio: 1,
        receive_video: 1,
        ..PeerOptions::default()
    })
    .await
    .unwrap();
    let offer = peer.offer().await.unwrap();
    send(&mut viewer, ClientMessage::MediaOffer(Sdp { sdp: offer })).await;
    let deadline = Instant::now() + WAIT;
    let playlist_told = loop {
        let told = viewer.events.iter().find_map(|e| match &e.body {
            EventBody::LivestreamStarted { playlist } => Some(playlist.clone()),
            _ => None,
        });
        if let Some(told) = told {
            break told;
        }
        assert!(
            Instant::now() < deadline,
            "the audience was never told of a livestream"
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), viewer.recv()).await;
        run(&mut [&mut m1], Duration::from_millis(100)).await;
    };
    assert_eq!(playlist_told, format!("/live/{ROOM}/index.m3u8"));
    assert!(
        viewer
            .errors
            .iter()
            .any(|e| e.code == yishi_protocol::ErrorCode::MediaUnavailable),
        "the unit refused the viewer's media: {:?}",
        viewer.errors
    );
    let started = live_events(&http, &server).await;
    assert!(
        matches!(&started[..], [e] if e.event.actor.is_none()),
        "started by the server, for the audience: {started:?}"
    );
    until_segment(
        "segments for the crowd",
        &http,
        &server,
        &mut [&mut m1],
        1,
        FIRST_SEGMENTS,
    )
    .await;
    server
        .state
        .live
        .stop(ROOM, None, LivestreamEnd::Stopped)
        .await
        .unwrap();
    peer.close().await;
}

/// A meeting prepared in the console with its livestream setting on (a 委员讲堂 lecture)
/// starts its livestream when its session opens, with no host asking; the setting is
/// shown back, and the audience is told the playlist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lecture_set_to_stream_starts_its_livestream_with_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(Backend::Sqlite, dir.path()).await;
    let server = TestServer::start_configured(db, dir, HubConfig::default(), small_stage).await;
    let http = reqwest::Client::new();
    let starts_at = yishi::hub::now().0 as i64 + 600_000;
    let created = http
        .post(server.url("/api/v1/meetings"))
        .bearer_auth(server.admin_key())
        .json(&serde_json::json!({
            "title": "委员讲堂：家门口的养老",
            "kind": "lecture",
            "starts_at": starts_at,
            "livestream": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["livestream"], true, "{created}");
    let room = created["id"].as_str().unwrap().to_owned();

    let host = Participant::new("host", "主持人", Role::Host);
    let mut host = server.connect(&room, &host).await;
    host.ok(Command::OpenCheckIn).await;
    let playlist = format!("/live/{room}/index.m3u8");
    host.ok(Command::StartSession).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let started: Vec<RecordEntry> = record_of(&http, &server, &room)
            .await
            .into_iter()
            .filter(|e| matches!(e.event.body, EventBody::LivestreamStarted { .. }))
            .collect();
        if let [started] = &started[..] {
            assert_eq!(started.event.actor, None, "no host asked");
            assert_eq!(
                started.event.body,
                EventBody::LivestreamStarted {
                    playlist: playlist.clone()
                }
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the livestream did not start with the session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.state.live.worker_pid(&room).await.is_some());
    assert_eq!(told_playlist(&server, &room).await, Some(playlist));
    server
        .state
        .live
        .stop(&room, None, LivestreamEnd::Stopped)
        .await
        .unwrap();
}
