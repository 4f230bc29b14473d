//! Beyond one process's open files (20,000 here): worker processes of this tool hold the
//! rest of an audience crowd, each with its own range of 127.0.0.x source addresses.
//!
//! A worker (`--worker`, hidden) connects its clients, then writes a JSON line of its
//! totals every 50 ms to stdout; the parent adds the changes to the crowd's shared
//! counters, so a scenario reads one set of figures whatever holds the connections. A
//! line `stop` on the worker's stdin (or its end) stops the clients; the worker's last
//! line adds its latency histograms and each client's outcome.
//!
//! Clients that join again when their connection ends (`failover`, see [`Rejoin`]) are
//! steered by more lines: `down ADDR SINCE_US` (a node was killed at that time: join
//! the others), `goal SEQ` (report how many clients applied everything through it).

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinHandle;

use crate::client::{self, ClientOut, Launch, Plan, Rejoin, RejoinTotals, Shared};
use crate::sys::source_ip;

/// What a worker's clients do: the part of a [`Plan`] that can cross a process boundary.
#[derive(Clone, Copy, Debug)]
pub struct RemotePlan {
    /// The event type counted (`comment_posted`) or none.
    pub watch: &'static str,
    /// Every `slow_every`-th client (by global index) never reads; 0 for none.
    pub slow_every: usize,
}

impl RemotePlan {
    pub fn plan(&self, i: usize) -> Plan {
        Plan {
            watch: self.watch,
            slow: self.slow_every > 0 && i.is_multiple_of(self.slow_every),
            vote: None,
            tally_target: 0,
        }
    }
}

/// The event names a worker may be asked to watch (static, as [`Plan::watch`] is).
fn watch_name(name: &str) -> &'static str {
    match name {
        "comment_posted" => "comment_posted",
        "comment_approved" => "comment_approved",
        _ => "",
    }
}

/// A worker's report.
#[derive(Serialize, Deserialize, Default, Debug)]
struct Report {
    connected: usize,
    failed: usize,
    deliveries: u64,
    last_delivery_us: u64,
    welcome_bytes: u64,
    gaps: u64,
    resyncs: u64,
    first_error: Option<String>,
    /// With rejoining clients: their drops and returns, when the kill they were told of
    /// happened (0 before), and the last goal told with how many clients reached it.
    #[serde(default)]
    rejoins: Option<Rejoined>,
    /// Only in the last line: latency histograms as (value, count), and the outcomes.
    #[serde(default)]
    last: Option<Last>,
}

#[derive(Serialize, Deserialize, Default, Debug, Clone, Copy)]
struct Rejoined {
    totals: RejoinTotals,
    since_us: u64,
    goal: u64,
    caught_up: usize,
}

#[derive(Serialize, Deserialize, Default, Debug)]
struct Last {
    lat: Vec<(u64, u64)>,
    handshake: Vec<(u64, u64)>,
    outs: Vec<ClientOut>,
}

fn report(shared: &Shared, rejoin: Option<(&Rejoin, u64)>) -> Report {
    Report {
        connected: shared.connected.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        deliveries: shared.deliveries.load(Ordering::Relaxed),
        last_delivery_us: shared.last_delivery_us.load(Ordering::Relaxed),
        welcome_bytes: shared.welcome_bytes.load(Ordering::Relaxed),
        gaps: shared.gaps.load(Ordering::Relaxed),
        resyncs: shared.resyncs.load(Ordering::Relaxed),
        first_error: shared.first_error(),
        rejoins: rejoin.map(|(r, goal)| Rejoined {
            totals: shared.rejoins.totals(),
            since_us: r.since_us.load(Ordering::Relaxed),
            goal,
            caught_up: if goal > 0 { r.caught_up(goal) } else { 0 },
        }),
        last: None,
    }
}

/// What the parent tells every worker alike on its command line (each also gets its
/// own range of clients).
pub struct WorkerCommon {
    /// Where the clients go, in turn by their global index.
    pub nodes: Vec<std::net::SocketAddr>,
    pub token: String,
    pub spread: usize,
    pub concurrency: usize,
    pub watch: String,
    pub slow_every: usize,
    /// The clients join again when their connection ends.
    pub rejoin: bool,
}

/// The worker's side: hold `count` clients (global indices `offset..`) until told to stop.
pub async fn serve(a: WorkerCommon, offset: usize, count: usize) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::default());
    let (_go, go_rx) = watch::channel(None);
    let (stop, stop_rx) = watch::channel(false);
    let nodes = a.nodes.clone();
    let node_for = |i: usize| nodes[i % nodes.len()];
    let rejoin = a.rejoin.then(|| Rejoin::new(nodes.clone(), count));
    let mut goal = 0u64;
    let launch = Launch {
        addr: node_for(0),
        token: Arc::new(a.token),
        shared: shared.clone(),
        connecting: Arc::new(Semaphore::new(a.concurrency.max(1))),
        go: go_rx,
        stop: stop_rx,
        rejoin: None,
    };
    let remote = RemotePlan {
        watch: watch_name(&a.watch),
        slow_every: a.slow_every,
    };
    let tasks: Vec<JoinHandle<ClientOut>> = (offset..offset + count)
        .map(|i| {
            tokio::spawn(client::audience(
                source_ip(i, a.spread),
                remote.plan(i),
                Launch {
                    addr: node_for(i),
                    rejoin: rejoin.as_ref().map(|r| r.client(i - offset)),
                    ..launch.clone()
                },
            ))
        })
        .collect();
    let mut out = tokio::io::stdout();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) if l.trim() != "stop" => {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    match (words.as_slice(), &rejoin) {
                        (["down", node, since], Some(r)) => {
                            r.since_us.store(since.parse()?, Ordering::Relaxed);
                            r.node_down(node.parse::<SocketAddr>()?);
                        }
                        (["goal", seq], Some(_)) => goal = seq.parse()?,
                        _ => anyhow::bail!("a worker was told {l:?}"),
                    }
                }
                _ => break,
            },
            _ = tick.tick() => {
                let r = report(&shared, rejoin.as_ref().map(|r| (r, goal)));
                out.write_all(line_of(&r)?.as_bytes()).await?;
                out.flush().await?;
            }
        }
    }
    let _ = stop.send(true);
    let mut outs = Vec::with_capacity(tasks.len());
    for t in tasks {
        outs.push(t.await.unwrap_or_default());
    }
    let mut last = report(&shared, rejoin.as_ref().map(|r| (r, goal)));
    last.last = Some(Last {
        lat: shared.lat.recorded(),
        handshake: shared.handshake.recorded(),
        outs,
    });
    out.write_all(line_of(&last)?.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}

fn line_of(r: &Report) -> anyhow::Result<String> {
    Ok(serde_json::to_string(r)? + "\n")
}

/// The parent's side: the running workers of one crowd.
pub struct Workers {
    running: Vec<Running>,
    shared: Arc<Shared>,
    /// The last goal the workers were asked about (see [`Workers::caught_up`]).
    asked: u64,
}

struct Running {
    count: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    outs: oneshot::Receiver<Vec<ClientOut>>,
    /// Its last report of rejoining clients.
    rejoined: Arc<Mutex<Rejoined>>,
}

impl Workers {
    /// Start workers for clients `from..n`, at most `per_process` each, whose figures
    /// flow into `shared`.
    pub fn start(
        from: usize,
        n: usize,
        per_process: usize,
        common: &WorkerCommon,
        shared: Arc<Shared>,
        max_seconds: u64,
    ) -> anyhow::Result<Workers> {
        let exe = std::env::current_exe().context("finding this tool's binary")?;
        let mut running = Vec::new();
        let mut offset = from;
        while offset < n {
            let count = per_process.min(n - offset);
            let mut child = Command::new(&exe)
                .arg("--worker")
                .args(["--target", &format!("http://{}", common.nodes[0])])
                .args([
                    "--worker-nodes",
                    &common
                        .nodes
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ])
                .args(["--worker-token", &common.token])
                .args(["--worker-offset", &offset.to_string()])
                .args(["-n", &count.to_string()])
                .args(["--source-ips", &common.spread.to_string()])
                .args(["--concurrency", &common.concurrency.to_string()])
                .args(["--worker-watch", &common.watch])
                .args(["--worker-slow-every", &common.slow_every.to_string()])
                .args(common.rejoin.then_some("--worker-rejoin"))
                .args(["--max-seconds", &max_seconds.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("starting a worker process")?;
            let stdout = child.stdout.take().context("a worker's stdout")?;
            let stdin = child.stdin.take();
            let (tx, rx) = oneshot::channel();
            let rejoined = Arc::new(Mutex::new(Rejoined::default()));
            tokio::spawn(follow(stdout, shared.clone(), rejoined.clone(), tx));
            running.push(Running {
                count,
                child,
                stdin,
                outs: rx,
                rejoined,
            });
            offset += count;
        }
        Ok(Workers {
            running,
            shared,
            asked: 0,
        })
    }

    /// Tell every worker `line` (see the module's text).
    async fn tell(&mut self, line: &str) -> anyhow::Result<()> {
        for r in &mut self.running {
            let stdin = r.stdin.as_mut().context("a worker already stopped")?;
            stdin.write_all(format!("{line}\n").as_bytes()).await?;
            stdin.flush().await?;
        }
        Ok(())
    }

    fn rejoined(&self) -> impl Iterator<Item = Rejoined> + '_ {
        self.running
            .iter()
            .map(|r| *r.rejoined.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Tell the workers' rejoining clients that `node` was killed at `since_us`, and
    /// wait (at most 10 s) until every worker reports it knows, so that none of its
    /// clients takes the drop for one before the kill.
    pub async fn node_down(&mut self, node: SocketAddr, since_us: u64) -> anyhow::Result<()> {
        self.tell(&format!("down {node} {since_us}")).await?;
        let told = Instant::now();
        while self.rejoined().any(|r| r.since_us != since_us) {
            if told.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("a worker did not hear of the kill in 10 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// How many of the workers' clients applied everything through `seq` (0 until every
    /// worker has reported on that goal; asks them the first time).
    pub async fn caught_up(&mut self, seq: u64) -> anyhow::Result<usize> {
        if self.asked != seq {
            self.tell(&format!("goal {seq}")).await?;
            self.asked = seq;
        }
        let reports: Vec<Rejoined> = self.rejoined().collect();
        Ok(if reports.iter().all(|r| r.goal == seq) {
            reports.iter().map(|r| r.caught_up).sum()
        } else {
            0
        })
    }

    /// Stop every worker's clients and collect their outcomes (bounded).
    pub async fn finish(&mut self) -> Vec<ClientOut> {
        for r in &mut self.running {
            if let Some(mut stdin) = r.stdin.take() {
                let _ = stdin.write_all(b"stop\n").await;
            }
        }
        let mut outs = Vec::new();
        for mut r in self.running.drain(..) {
            match tokio::time::timeout(Duration::from_secs(60), r.outs).await {
                Ok(Ok(o)) => outs.extend(o),
                // Its clients' deliveries cannot be checked: count them as failed.
                _ => {
                    self.shared.failed.fetch_add(r.count, Ordering::Relaxed);
                    self.shared
                        .note_error("a worker process stopped without its outcome");
                }
            }
            let _ = r.child.wait().await;
        }
        outs
    }
}

/// Add a worker's reports to `shared` as they come; the last one's outcomes go to `done`.
async fn follow(
    stdout: tokio::process::ChildStdout,
    shared: Arc<Shared>,
    rejoined: Arc<Mutex<Rejoined>>,
    done: oneshot::Sender<Vec<ClientOut>>,
) {
    let mut lines = BufReader::new(stdout).lines();
    let mut prev = Report::default();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(r) = serde_json::from_str::<Report>(&line) else {
            continue;
        };
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        shared.connected.fetch_add(
            r.connected.saturating_sub(prev.connected),
            Ordering::Relaxed,
        );
        shared
            .failed
            .fetch_add(r.failed.saturating_sub(prev.failed), Ordering::Relaxed);
        shared
            .deliveries
            .fetch_add(delta(r.deliveries, prev.deliveries), Ordering::Relaxed);
        shared.welcome_bytes.fetch_add(
            delta(r.welcome_bytes, prev.welcome_bytes),
            Ordering::Relaxed,
        );
        shared
            .last_delivery_us
            .fetch_max(r.last_delivery_us, Ordering::Relaxed);
        shared
            .gaps
            .fetch_add(delta(r.gaps, prev.gaps), Ordering::Relaxed);
        shared
            .resyncs
            .fetch_add(delta(r.resyncs, prev.resyncs), Ordering::Relaxed);
        if let Some(now) = &r.rejoins {
            let before = prev.rejoins.map(|p| p.totals).unwrap_or_default();
            shared.rejoins.add_change(&before, &now.totals);
            *rejoined.lock().unwrap_or_else(|e| e.into_inner()) = *now;
        }
        if let Some(e) = &r.first_error {
            shared.note_error(format!("worker: {e}"));
        }
        if let Some(mut last) = r.last {
            shared.lat.add_recorded(&last.lat);
            shared.handshake.add_recorded(&last.handshake);
            let _ = done.send(std::mem::take(&mut last.outs));
            return;
        }
        prev = r;
    }
}
