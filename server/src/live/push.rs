//! RTMP push (推流): the livestream copied to external platforms (a video site, a news
//! app's studio), each target by its own ffmpeg process that reads the room's playlist
//! and copies its H.264 and AAC into FLV over RTMP, without encoding again.
//!
//! A target that fails (the platform refuses, the network drops) does not touch the
//! others or the livestream: its process is started again after 1 s, doubling to 30 s
//! while it keeps failing (back to 1 s once one has pushed 30 s). Its status says what
//! it does now — `connecting`, `live` (ffmpeg reports bytes written to the target),
//! `retrying` with the last error, or `ended` when the playlist ended (the session
//! closed) — for the host to read.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use yishi_protocol::Millis;

use super::PLAYLIST;
use crate::hub::now;

const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
const STABLE: Duration = Duration::from_secs(30);
/// Targets one room may push to at once.
pub const MAX_TARGETS: usize = 8;

/// What a push does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushState {
    Connecting,
    Live,
    Retrying,
    Ended,
}

/// A push target's status, as the host reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushStatus {
    pub url: String,
    pub state: PushState,
    /// Since when it is in this state.
    pub since: Millis,
    /// The last error of its process (ffmpeg's last message, or how it exited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Processes started for it so far.
    pub attempts: u32,
}

/// Whether `url` may be a push target: `rtmp://` or `rtmps://`, no spaces or controls
/// (it is one argument of a process, never a shell's).
pub fn valid_target(url: &str) -> bool {
    (url.starts_with("rtmp://") || url.starts_with("rtmps://"))
        && url.len() <= 1024
        && url.len() > "rtmps://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The command line of one target's process, run in the room's directory.
pub fn push_args(url: &str) -> Vec<String> {
    [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        // In real time, from the live end of the playlist (as a player would join).
        "-re",
        "-live_start_index",
        "-2",
        "-i",
        PLAYLIST,
        "-map",
        "0:v:0",
        "-map",
        "0:a:0",
        "-c",
        "copy",
        "-f",
        "flv",
        url,
        // Progress on stdout: bytes written to the target say it is live.
        "-progress",
        "pipe:1",
        "-nostats",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// One target being pushed to.
pub(crate) struct Push {
    status: Arc<Mutex<PushStatus>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Push {
    pub(crate) fn start(ffmpeg: PathBuf, dir: PathBuf, room: Arc<str>, url: String) -> Push {
        let status = Arc::new(Mutex::new(PushStatus {
            url: url.clone(),
            state: PushState::Connecting,
            since: now(),
            error: None,
            attempts: 0,
        }));
        let (stop, stopped) = oneshot::channel();
        let pusher = Pusher {
            ffmpeg,
            dir,
            room,
            url,
            status: status.clone(),
        };
        let task = tokio::spawn(pusher.run(stopped));
        Push { status, stop, task }
    }

    pub(crate) fn status(&self) -> PushStatus {
        lock(&self.status).clone()
    }

    /// End its process and wait for it.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn lock(status: &Mutex<PushStatus>) -> std::sync::MutexGuard<'_, PushStatus> {
    // A panic while holding it leaves a valid status: recover it.
    status.lock().unwrap_or_else(|e| e.into_inner())
}

struct Pusher {
    ffmpeg: PathBuf,
    dir: PathBuf,
    room: Arc<str>,
    url: String,
    status: Arc<Mutex<PushStatus>>,
}

impl Pusher {
    fn set(&self, state: PushState, error: Option<String>) {
        let mut status = lock(&self.status);
        if status.state != state {
            status.state = state;
            status.since = now();
        }
        if error.is_some() {
            status.error = error;
        }
    }

    async fn run(self, mut stop: oneshot::Receiver<()>) {
        let mut backoff = RETRY_MIN;
        loop {
            let started = Instant::now();
            lock(&self.status).attempts += 1;
            self.set(PushState::Connecting, None);
            let error = tokio::select! {
                error = self.push_once() => error,
                _ = &mut stop => return,
            };
            let ended = tokio::fs::read_to_string(self.dir.join(PLAYLIST))
                .await
                .is_ok_and(|list| list.contains("#EXT-X-ENDLIST"));
            if ended {
                self.set(PushState::Ended, None);
                tracing::info!(room = %self.room, "push ended with the livestream");
                let _ = stop.await;
                return;
            }
            metrics::counter!("yishi_live_push_failures_total").increment(1);
            tracing::warn!(room = %self.room, %error, "push to a target failed: retrying");
            self.set(PushState::Retrying, Some(error));
            if started.elapsed() >= STABLE {
                backoff = RETRY_MIN;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = &mut stop => return,
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }

    /// Run one process until it exits; its last error. Dropped (the push stopped), the
    /// process is killed.
    async fn push_once(&self) -> String {
        let spawned = Command::new(&self.ffmpeg)
            .args(push_args(&self.url))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return format!("cannot start {}: {e}", self.ffmpeg.display()),
        };
        let last_error = Arc::new(Mutex::new(None::<String>));
        if let Some(stderr) = child.stderr.take() {
            let last_error = last_error.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.trim().is_empty() {
                        *last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(line);
                    }
                }
            });
        }
        if let Some(stdout) = child.stdout.take() {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let written = line
                    .strip_prefix("total_size=")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0);
                if written {
                    self.set(PushState::Live, None);
                }
            }
        }
        let status = child.wait().await;
        // Its stderr's last line, once the reader has it (it ends with the process).
        tokio::time::sleep(Duration::from_millis(50)).await;
        let last = last_error.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (last, status) {
            (Some(line), _) => line,
            (None, Ok(status)) => format!("ffmpeg exited: {status}"),
            (None, Err(e)) => format!("ffmpeg: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rtmp_urls_are_targets() {
        assert!(valid_target("rtmp://live.example.cn/app/key-123"));
        assert!(valid_target("rtmps://live.example.cn:443/app/key"));
        for url in [
            "http://example.cn/x",
            "rtmp://",
            "rtmp://a b",
            "rtmp://a\nb",
            "file:///etc/passwd",
            "-f",
        ] {
            assert!(!valid_target(url), "{url}");
        }
    }

    #[test]
    fn a_target_gets_a_copy_of_the_stream_as_flv() {
        let args = push_args("rtmp://127.0.0.1:1935/live/k").join(" ");
        assert!(args.contains("-re -live_start_index -2 -i index.m3u8"));
        assert!(args.contains("-c copy -f flv rtmp://127.0.0.1:1935/live/k"));
        assert!(args.ends_with("-progress pipe:1 -nostats"));
    }
}
