//! The light client run by the thousand (the audience, or members voting), which parses
//! only what it measures.
//! Control connections (a host, a sender) parse every message: they are
//! `yishi_testkit::Client`s.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use yishi_protocol::{
    Choice, ClientMessage, Command, CommandMessage, ErrorCode, Hello, PROTOCOL_VERSION, PollId,
    RequestId, YesNo,
};

use yishi_testkit::client::{Refused, is_unavailable};
use yishi_testkit::{Ws, ws_connect};

use crate::report::Lat;
use crate::sys::now_us;

/// The close code of `unavailable`: come back later.
const CLOSE_UNAVAILABLE: u16 = yishi_protocol::close::UNAVAILABLE;

/// How long an audience client waits for its welcome.
const WAIT: Duration = Duration::from_secs(30);

/// The web client's pause before its `retry`-th reconnection (`web-client/src/app/conn.ts`):
/// 500 ms, or 2 s after an `unavailable` (close code 4004), doubled on each retry up to
/// 10 s, times a random factor between ½ and 1.
pub fn backoff(retry: u32, unavailable: bool) -> Duration {
    let pause: u64 = if unavailable { 2_000 } else { 500 };
    let ms = pause.saturating_mul(1 << retry.min(16)).min(10_000) as f64;
    Duration::from_secs_f64(ms * (0.5 + rand::random::<f64>() / 2.0) / 1000.0)
}

/// Resolves once `stop` says so (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// What the audience clients share: counters and histograms.
#[derive(Default)]
pub struct Shared {
    /// Delivery latency: event `at` (server clock) to receipt.
    pub lat: Lat,
    /// Connect + upgrade + hello → welcome.
    pub handshake: Lat,
    /// Ballot sent → acknowledged.
    pub ack: Lat,
    /// Ballots sent → tally showing every ballot.
    pub tally: Lat,
    pub connected: AtomicUsize,
    pub failed: AtomicUsize,
    pub deliveries: AtomicU64,
    pub last_delivery_us: AtomicU64,
    pub welcome_bytes: AtomicU64,
    pub frame_bytes: AtomicU64,
    pub frames: AtomicU64,
    pub gaps: AtomicU64,
    pub resyncs: AtomicU64,
    pub errors: AtomicU64,
    pub rate_limited: AtomicU64,
    pub acked: AtomicUsize,
    pub refused: AtomicUsize,
    pub tally_seen: AtomicUsize,
    /// Drops and returns of the clients that join again (see [`Launch::rejoin`]).
    pub rejoins: Rejoins,
    pub first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    pub fn note_error(&self, e: impl std::fmt::Display) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait until every one of `n` clients connected or failed (bounded).
    pub async fn wait_connected(&self, n: usize, limit: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        while self.connected.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed) < n {
            if start.elapsed() > limit {
                bail!(
                    "only {} of {n} connected in {:?} ({} failed; first error: {:?})",
                    self.connected.load(Ordering::Relaxed),
                    limit,
                    self.failed.load(Ordering::Relaxed),
                    self.first_error()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(start.elapsed())
    }
}

/// What one audience client does.
#[derive(Clone)]
pub struct Plan {
    /// The event type whose deliveries are timed and counted (`comment_posted`, …).
    pub watch: &'static str,
    /// Never read after the welcome (a slow consumer).
    pub slow: bool,
    /// Cast this ballot (0 yes, 1 no, 2 abstain) when told to go.
    pub vote: Option<u8>,
    /// Turnout (both electorates) whose tally counts as "the tally reached this client".
    pub tally_target: u32,
}

/// The signal to vote: the poll and when it was given.
#[derive(Clone, Copy, Debug)]
pub struct Go {
    pub poll: PollId,
    pub at_us: u64,
}

/// What one audience client saw (a worker process sends it to its parent).
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct ClientOut {
    pub connected: bool,
    pub slow: bool,
    /// Watched events received.
    pub received: u64,
    /// The `through` of the last batch (or snapshot) when the client stopped.
    pub through: u64,
    /// Times it joined again after its connection ended (see [`Launch::rejoin`]).
    pub rejoins: u32,
    /// When it last joined again (µs since the epoch; 0 if it never did).
    pub back_at_us: u64,
}

#[derive(Deserialize)]
struct Light<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    from: u64,
    #[serde(default)]
    through: u64,
    #[serde(default, borrow)]
    events: Vec<LightEvent<'a>>,
    #[serde(default)]
    req: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    turnout_binding: Option<u32>,
    #[serde(default)]
    turnout_advisory: Option<u32>,
    #[serde(default)]
    snapshot: Option<LightSnap>,
}

#[derive(Deserialize)]
struct LightEvent<'a> {
    at: u64,
    #[serde(borrow)]
    body: LightBody<'a>,
}

#[derive(Deserialize)]
struct LightBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

#[derive(Deserialize)]
struct LightSnap {
    seq: u64,
}

const BALLOT_REQ: &str = "ballot";

fn ballot(poll: PollId, vote: u8) -> anyhow::Result<String> {
    let vote = match vote {
        0 => YesNo::Yes,
        1 => YesNo::No,
        _ => YesNo::Abstain,
    };
    let msg = ClientMessage::Command(CommandMessage {
        req: RequestId(BALLOT_REQ.into()),
        command: Command::CastBallot {
            poll,
            choice: Choice::YesNoAbstain { vote },
        },
    });
    Ok(serde_json::to_string(&msg)?)
}

/// The shared parts every audience client is started with.
#[derive(Clone)]
pub struct Launch {
    pub addr: SocketAddr,
    /// The join token: the room's audience link, or this client's own (a member).
    pub token: Arc<String>,
    pub shared: Arc<Shared>,
    pub connecting: Arc<Semaphore>,
    pub go: watch::Receiver<Option<Go>>,
    pub stop: watch::Receiver<bool>,
    /// Reconnect when the server ends the connection, as the web client does; without
    /// it a client ends with its connection.
    pub rejoin: Option<Rejoin>,
}

/// Where and when an audience client reconnects (the failover scenario).
#[derive(Clone)]
pub struct Rejoin {
    /// The nodes still up: a client whose connection ended joins one of them, in turn,
    /// as a load balancer in front of them would send it.
    pub nodes: Arc<std::sync::RwLock<Vec<SocketAddr>>>,
    /// When the owner was killed (µs since the epoch; 0 before): the time back of a
    /// client is measured from it.
    pub since_us: Arc<AtomicU64>,
    /// Each client's `through` (its last batch, or the snapshot it joined with), by
    /// index, for the scenario to see who has caught up.
    pub throughs: Arc<Vec<AtomicU64>>,
    /// This client's index in `throughs` (and its first turn among the nodes).
    pub index: usize,
}

impl Rejoin {
    /// For `clients` clients over `nodes`.
    pub fn new(nodes: Vec<SocketAddr>, clients: usize) -> Rejoin {
        Rejoin {
            nodes: Arc::new(std::sync::RwLock::new(nodes)),
            since_us: Arc::new(AtomicU64::new(0)),
            throughs: Arc::new((0..clients).map(|_| AtomicU64::new(0)).collect()),
            index: 0,
        }
    }

    /// The same, for client `index`.
    pub fn client(&self, index: usize) -> Rejoin {
        Rejoin {
            index,
            ..self.clone()
        }
    }

    /// Node `turn` of those still up.
    fn node(&self, turn: usize) -> Option<SocketAddr> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        (!nodes.is_empty()).then(|| nodes[turn % nodes.len()])
    }

    /// Take `node` out of the nodes clients join.
    pub fn node_down(&self, node: SocketAddr) {
        self.nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|n| *n != node);
    }

    fn note_through(&self, through: u64) {
        if let Some(t) = self.throughs.get(self.index) {
            t.store(through, Ordering::Relaxed);
        }
    }

    /// How many clients have applied everything through `seq`.
    pub fn caught_up(&self, seq: u64) -> usize {
        self.throughs
            .iter()
            .filter(|t| t.load(Ordering::Relaxed) >= seq)
            .count()
    }
}

/// What the clients of a [`Rejoin`] crowd add to [`Shared`].
#[derive(Default)]
pub struct Rejoins {
    /// Connections the server ended (or that broke) before the client was told to stop.
    pub dropped: AtomicUsize,
    /// Of them, before the owner was killed.
    pub dropped_before: AtomicUsize,
    /// Clients welcomed again after a drop.
    pub rejoined: AtomicUsize,
    /// Clients now without a connection, between a drop and a welcome.
    pub down: AtomicUsize,
    /// Failed attempts to join again.
    pub attempts_failed: AtomicUsize,
    /// Watched events received after the kill.
    pub deliveries_after: AtomicU64,
    /// Watched events received that were committed before the client's connection was
    /// welcomed (sent again after a snapshot), not timed.
    pub replayed: AtomicU64,
}

/// [`Rejoins`] as numbers, as a worker process reports them to its parent.
#[derive(Serialize, Deserialize, Default, Debug, Clone, Copy, PartialEq)]
pub struct RejoinTotals {
    pub dropped: usize,
    pub dropped_before: usize,
    pub rejoined: usize,
    pub down: usize,
    pub attempts_failed: usize,
    pub deliveries_after: u64,
    pub replayed: u64,
}

impl Rejoins {
    pub fn totals(&self) -> RejoinTotals {
        RejoinTotals {
            dropped: self.dropped.load(Ordering::Relaxed),
            dropped_before: self.dropped_before.load(Ordering::Relaxed),
            rejoined: self.rejoined.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
            attempts_failed: self.attempts_failed.load(Ordering::Relaxed),
            deliveries_after: self.deliveries_after.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
        }
    }

    /// Add what changed from `before` to `now` (another process's totals); `down`, a
    /// gauge, may go down as well as up.
    pub fn add_change(&self, before: &RejoinTotals, now: &RejoinTotals) {
        let grown = |a: usize, b: usize| b.saturating_sub(a);
        self.dropped
            .fetch_add(grown(before.dropped, now.dropped), Ordering::Relaxed);
        self.dropped_before.fetch_add(
            grown(before.dropped_before, now.dropped_before),
            Ordering::Relaxed,
        );
        self.rejoined
            .fetch_add(grown(before.rejoined, now.rejoined), Ordering::Relaxed);
        self.attempts_failed.fetch_add(
            grown(before.attempts_failed, now.attempts_failed),
            Ordering::Relaxed,
        );
        self.deliveries_after.fetch_add(
            now.deliveries_after.saturating_sub(before.deliveries_after),
            Ordering::Relaxed,
        );
        self.replayed.fetch_add(
            now.replayed.saturating_sub(before.replayed),
            Ordering::Relaxed,
        );
        if now.down >= before.down {
            self.down
                .fetch_add(now.down - before.down, Ordering::Relaxed);
        } else {
            self.down
                .fetch_sub(before.down - now.down, Ordering::Relaxed);
        }
    }
}

/// One audience connection: connect, hello, then read (and vote) until told to stop
/// (with [`Launch::rejoin`], joining again whenever the connection ends before).
pub async fn audience(src: Ipv4Addr, plan: Plan, mut l: Launch) -> ClientOut {
    let mut out = ClientOut {
        slow: plan.slow,
        ..ClientOut::default()
    };
    let shared = l.shared.clone();
    let (mut ws, mut through) = {
        let Ok(_permit) = l.connecting.acquire().await else {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return out;
        };
        let t0 = Instant::now();
        match handshake(l.addr, src, &l.token, &shared).await {
            Ok(pair) => {
                shared.handshake.record(t0.elapsed().as_micros() as u64);
                shared.connected.fetch_add(1, Ordering::Relaxed);
                pair
            }
            Err(e) => {
                shared.note_error(format!("{src}: {e:#}"));
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return out;
            }
        }
    };
    out.connected = true;
    if let Some(r) = &l.rejoin {
        r.note_through(through);
    }
    if plan.slow {
        // Hold the socket and never read: the server must cope.
        stopped(&mut l.stop).await;
        return out;
    }
    let mut go: Option<Go> = None;
    let mut acked = false;
    let mut tallied = false;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut lat_buf: Vec<u64> = Vec::with_capacity(16);
    // When the connection was welcomed.
    let mut joined_us = now_us();
    loop {
        // Whether the server said to come back later (`unavailable`, close code 4004).
        let mut unavailable = false;
        let told_to_stop = loop {
            let retry_sleep = async {
                match retry_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stopped(&mut l.stop) => break true,
                changed = l.go.changed(), if go.is_none() && plan.vote.is_some() => {
                    if changed.is_err() { break true; }
                    let signal = *l.go.borrow();
                    if let (Some(g), Some(v)) = (signal, plan.vote) {
                        go = Some(g);
                        match ballot(g.poll, v) {
                            Ok(text) => if ws.send(Message::text(text)).await.is_err() { break false; },
                            Err(e) => { shared.note_error(e); break true; }
                        }
                    }
                }
                _ = retry_sleep => {
                    retry_at = None;
                    if let (Some(g), Some(v)) = (go, plan.vote)
                        && let Ok(text) = ballot(g.poll, v)
                        && ws.send(Message::text(text)).await.is_err()
                    {
                        break false;
                    }
                }
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(c))) => {
                            unavailable |= c.is_some_and(|c| u16::from(c.code) == CLOSE_UNAVAILABLE);
                            break false;
                        }
                        None => break false,
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            if l.rejoin.is_none() {
                                shared.note_error(format!("read: {e}"));
                                shared.errors.fetch_add(1, Ordering::Relaxed);
                            }
                            break false;
                        }
                    };
                    let now = now_us();
                    shared.frames.fetch_add(1, Ordering::Relaxed);
                    shared.frame_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                    let msg: Light = match serde_json::from_str(&text) {
                        Ok(m) => m,
                        Err(e) => { shared.note_error(format!("bad message: {e}")); continue; }
                    };
                    match msg.kind {
                        "events" => {
                            if msg.from != through + 1 {
                                shared.gaps.fetch_add(1, Ordering::Relaxed);
                            }
                            through = msg.through;
                            if let Some(r) = &l.rejoin {
                                r.note_through(through);
                            }
                            lat_buf.clear();
                            let mut replayed = 0u64;
                            for ev in &msg.events {
                                if ev.body.kind == plan.watch {
                                    // Joining again, a client is sent the events since
                                    // the snapshot it joined with (a mirror's tail):
                                    // delivered, but not live, so not timed.
                                    if l.rejoin.is_some() && ev.at * 1000 < joined_us {
                                        replayed += 1;
                                    } else {
                                        lat_buf.push(now.saturating_sub(ev.at * 1000));
                                    }
                                }
                            }
                            let got = lat_buf.len() as u64 + replayed;
                            if got > 0 {
                                out.received += got;
                                shared.lat.record_many(&lat_buf);
                                shared.deliveries.fetch_add(got, Ordering::Relaxed);
                                shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
                                if let Some(r) = &l.rejoin {
                                    shared.rejoins.replayed.fetch_add(replayed, Ordering::Relaxed);
                                    let since = r.since_us.load(Ordering::Relaxed);
                                    if since > 0 && now >= since {
                                        shared.rejoins.deliveries_after.fetch_add(got, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                        "welcome" => {
                            shared.resyncs.fetch_add(1, Ordering::Relaxed);
                            if let Some(s) = msg.snapshot { through = s.seq; }
                            if let Some(r) = &l.rejoin {
                                r.note_through(through);
                            }
                        }
                        "ack" if msg.req.as_deref() == Some(BALLOT_REQ) => {
                            if !acked && let Some(g) = go {
                                acked = true;
                                shared.ack.record(now.saturating_sub(g.at_us));
                                shared.acked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        "error" => {
                            if msg.code.as_deref() == Some("rate_limited") && msg.req.as_deref() == Some(BALLOT_REQ) {
                                shared.rate_limited.fetch_add(1, Ordering::Relaxed);
                                retry_at = Some(tokio::time::Instant::now() + Duration::from_millis(50));
                            } else if l.rejoin.is_some() && msg.req.is_none() && msg.code.as_deref() == Some(ErrorCode::Unavailable.as_str()) {
                                // Told to come back: the close follows.
                                unavailable = true;
                            } else {
                                if msg.req.as_deref() == Some(BALLOT_REQ) {
                                    shared.refused.fetch_add(1, Ordering::Relaxed);
                                }
                                shared.errors.fetch_add(1, Ordering::Relaxed);
                                shared.note_error(format!("error {:?}: {}", msg.code, text));
                            }
                        }
                        "tally" => {
                            // The scenario's poll has one electorate (the audience's
                            // advisory one, or the members' binding one): the other's
                            // turnout is 0.
                            let turnout = msg.turnout_binding.unwrap_or(0)
                                + msg.turnout_advisory.unwrap_or(0);
                            if !tallied && plan.tally_target > 0
                                && turnout >= plan.tally_target
                                && let Some(g) = go
                            {
                                tallied = true;
                                shared.tally.record(now.saturating_sub(g.at_us));
                                shared.tally_seen.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {}
                    }
                }
            }
        };
        if told_to_stop {
            break;
        }
        let Some(rejoin) = l.rejoin.clone() else {
            break;
        };
        match join_again(src, &rejoin, &mut l, unavailable).await {
            Some(pair) => {
                (ws, through) = pair;
                rejoin.note_through(through);
                out.rejoins += 1;
                out.back_at_us = now_us();
                joined_us = out.back_at_us;
            }
            None => {
                out.through = through;
                return out;
            }
        }
    }
    out.through = through;
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    out
}

/// Join again after the connection ended, as the web client does (pausing
/// [`backoff`] between attempts), on the nodes still up in turn; `None` once told to stop.
async fn join_again(
    src: Ipv4Addr,
    rejoin: &Rejoin,
    l: &mut Launch,
    mut unavailable: bool,
) -> Option<(Ws, u64)> {
    let shared = l.shared.clone();
    let counts = &shared.rejoins;
    let since = rejoin.since_us.load(Ordering::Relaxed);
    counts.dropped.fetch_add(1, Ordering::Relaxed);
    if since == 0 {
        counts.dropped_before.fetch_add(1, Ordering::Relaxed);
    }
    counts.down.fetch_add(1, Ordering::Relaxed);
    let mut retry = 0u32;
    loop {
        tokio::select! {
            _ = stopped(&mut l.stop) => return None,
            _ = tokio::time::sleep(backoff(retry, unavailable)) => {}
        }
        retry += 1;
        let node = rejoin.node(rejoin.index + retry as usize)?;
        let attempt = async {
            let _permit = l.connecting.acquire().await?;
            handshake(node, src, &l.token, &shared).await
        };
        let result = tokio::select! {
            _ = stopped(&mut l.stop) => return None,
            r = attempt => r,
        };
        match result {
            Ok(pair) => {
                counts.down.fetch_sub(1, Ordering::Relaxed);
                counts.rejoined.fetch_add(1, Ordering::Relaxed);
                return Some(pair);
            }
            Err(e) => {
                counts.attempts_failed.fetch_add(1, Ordering::Relaxed);
                unavailable = is_unavailable(&e);
            }
        }
    }
}

async fn handshake(
    addr: SocketAddr,
    src: Ipv4Addr,
    token: &str,
    shared: &Shared,
) -> anyhow::Result<(Ws, u64)> {
    let mut ws = ws_connect(addr, src, "/ws").await?;
    let hello = ClientMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        token: token.to_owned(),
        resume: None,
    });
    ws.send(Message::text(serde_json::to_string(&hello)?))
        .await?;
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .context("no welcome in 30 s")?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let msg: Light = serde_json::from_str(&text)?;
                if msg.kind == "welcome" {
                    shared
                        .welcome_bytes
                        .fetch_add(text.len() as u64, Ordering::Relaxed);
                    let seq = msg.snapshot.map(|s| s.seq).unwrap_or(0);
                    return Ok((ws, seq));
                }
                if msg.kind == "error"
                    && let Some(code) = msg.code
                {
                    return Err(Refused {
                        code,
                        message: text.to_string(),
                    }
                    .into());
                }
                bail!("hello answered with {text}");
            }
            Some(Ok(Message::Close(c))) => bail!("closed during hello: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed during hello"),
        }
    }
}
