//! Yishi protocol clients: a control connection (a host, or a sender) that parses every
//! message fully, and the light audience client run by the thousand, which parses only
//! what it measures.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use yishi_protocol::{
    Choice, ClientMessage, Command, CommandMessage, Event, Hello, PROTOCOL_VERSION, PollId,
    RequestId, Seq, ServerMessage, YesNo,
};

use crate::report::Lat;
use crate::sys::{Ws, now_us, ws_connect};

/// How long a control connection waits for any answer.
const WAIT: Duration = Duration::from_secs(30);

/// A fully parsing connection, for the host and for senders.
pub struct Ctl {
    ws: Ws,
    next: u64,
    tag: String,
    /// Every event received.
    pub events: Vec<Event>,
    pub snapshot_seq: Seq,
}

impl Ctl {
    pub async fn connect(
        addr: SocketAddr,
        src: Ipv4Addr,
        token: &str,
        tag: &str,
    ) -> anyhow::Result<Ctl> {
        let mut ws = ws_connect(addr, src, "/ws").await?;
        let hello = ClientMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
            resume: None,
        });
        ws.send(Message::text(serde_json::to_string(&hello)?))
            .await?;
        let mut ctl = Ctl {
            ws,
            next: 0,
            tag: tag.to_owned(),
            events: Vec::new(),
            snapshot_seq: 0,
        };
        match ctl.recv(WAIT).await? {
            Some(ServerMessage::Welcome(w)) => {
                ctl.snapshot_seq = w.snapshot.map(|s| s.seq).unwrap_or(0);
                Ok(ctl)
            }
            Some(ServerMessage::Error(e)) => bail!("hello refused: {:?} {}", e.code, e.message),
            other => bail!("expected a welcome, got {other:?}"),
        }
    }

    pub fn req(&mut self) -> RequestId {
        self.next += 1;
        RequestId(format!("{}-{}", self.tag, self.next))
    }

    pub async fn send(&mut self, req: RequestId, command: Command) -> anyhow::Result<()> {
        let msg = ClientMessage::Command(CommandMessage { req, command });
        self.ws
            .send(Message::text(serde_json::to_string(&msg)?))
            .await?;
        Ok(())
    }

    /// Send any client message (media signalling, say).
    pub async fn send_msg(&mut self, msg: &ClientMessage) -> anyhow::Result<()> {
        self.ws
            .send(Message::text(serde_json::to_string(msg)?))
            .await?;
        Ok(())
    }

    /// One message, or `None` when the socket closed; events are kept.
    pub async fn recv(&mut self, wait: Duration) -> anyhow::Result<Option<ServerMessage>> {
        loop {
            let frame = tokio::time::timeout(wait, self.ws.next())
                .await
                .context("the server went quiet")?;
            match frame {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => {
                    let msg: ServerMessage = serde_json::from_str(&text)
                        .with_context(|| format!("bad server message {text}"))?;
                    if let ServerMessage::Events(b) = &msg {
                        self.events.extend(b.events.iter().cloned());
                    }
                    return Ok(Some(msg));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Send a command and wait for its acknowledgement.
    pub async fn cmd(&mut self, command: Command) -> anyhow::Result<Option<Seq>> {
        let name = command.name();
        let req = self.req();
        self.send(req.clone(), command).await?;
        loop {
            match self.recv(WAIT).await? {
                None => bail!("closed while waiting for the answer to {name}"),
                Some(ServerMessage::Ack(a)) if a.req == req => return Ok(a.seq),
                Some(ServerMessage::Error(e)) if e.req.as_ref() == Some(&req) => {
                    bail!("{name} refused: {:?} {}", e.code, e.message)
                }
                Some(_) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
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
    /// Turnout whose tally counts as "the tally reached this client".
    pub tally_target: u32,
}

/// The signal to vote: the poll and when it was given.
#[derive(Clone, Copy, Debug)]
pub struct Go {
    pub poll: PollId,
    pub at_us: u64,
}

/// What one audience client saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientOut {
    pub connected: bool,
    pub slow: bool,
    /// Watched events received.
    pub received: u64,
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
    turnout_advisory: Option<u32>,
    #[serde(default)]
    snapshot: Option<LightSnap>,
}

#[derive(Deserialize)]
struct LightEvent<'a> {
    seq: u64,
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
    pub token: Arc<String>,
    pub shared: Arc<Shared>,
    pub connecting: Arc<Semaphore>,
    pub go: watch::Receiver<Option<Go>>,
    pub stop: watch::Receiver<bool>,
}

/// One audience connection: connect, hello, then read (and vote) until told to stop.
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
    loop {
        let retry_sleep = async {
            match retry_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stopped(&mut l.stop) => break,
            changed = l.go.changed(), if go.is_none() && plan.vote.is_some() => {
                if changed.is_err() { break; }
                let signal = *l.go.borrow();
                if let (Some(g), Some(v)) = (signal, plan.vote) {
                    go = Some(g);
                    match ballot(g.poll, v) {
                        Ok(text) => if ws.send(Message::text(text)).await.is_err() { break; },
                        Err(e) => { shared.note_error(e); break; }
                    }
                }
            }
            _ = retry_sleep => {
                retry_at = None;
                if let (Some(g), Some(v)) = (go, plan.vote)
                    && let Ok(text) = ballot(g.poll, v)
                    && ws.send(Message::text(text)).await.is_err()
                {
                    break;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => { shared.note_error(format!("read: {e}")); shared.errors.fetch_add(1, Ordering::Relaxed); break; }
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
                        lat_buf.clear();
                        for ev in &msg.events {
                            if ev.body.kind == plan.watch {
                                lat_buf.push(now.saturating_sub(ev.at * 1000));
                            }
                            let _ = ev.seq;
                        }
                        if !lat_buf.is_empty() {
                            out.received += lat_buf.len() as u64;
                            shared.lat.record_many(&lat_buf);
                            shared.deliveries.fetch_add(lat_buf.len() as u64, Ordering::Relaxed);
                            shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
                        }
                    }
                    "welcome" => {
                        shared.resyncs.fetch_add(1, Ordering::Relaxed);
                        if let Some(s) = msg.snapshot { through = s.seq; }
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
                        } else {
                            if msg.req.as_deref() == Some(BALLOT_REQ) {
                                shared.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            shared.errors.fetch_add(1, Ordering::Relaxed);
                            shared.note_error(format!("error {:?}: {}", msg.code, text));
                        }
                    }
                    "tally" => {
                        if !tallied && plan.tally_target > 0
                            && msg.turnout_advisory.unwrap_or(0) >= plan.tally_target
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
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    out
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
                bail!("hello answered with {text}");
            }
            Some(Ok(Message::Close(c))) => bail!("closed during hello: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed during hello"),
        }
    }
}
