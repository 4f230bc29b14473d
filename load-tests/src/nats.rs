//! The peer: the same `fanout` and `hold` against nats-server's WebSocket listener. The
//! clients speak the NATS text protocol over WebSocket; the source embeds a sequence
//! number and its send time in each payload.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use yishi_testkit::{Ws, ws_connect};

use crate::report::{Lat, Row};
use crate::scenarios::Opts;
use crate::sys::{CpuMeter, now_us, rss_bytes, source_ip, tcp_kernel_bytes};

const SUBJECT: &str = "lt.lecture";

#[derive(Default)]
struct Shared {
    lat: Lat,
    handshake: Lat,
    connected: AtomicUsize,
    failed: AtomicUsize,
    deliveries: AtomicU64,
    last_delivery_us: AtomicU64,
    gaps: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn note_error(&self, e: impl std::fmt::Display) {
        let mut f = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(e.to_string());
        }
    }
}

/// Parses NATS protocol lines out of WebSocket frames.
#[derive(Default)]
struct Parser {
    buf: Vec<u8>,
}

enum Op {
    Msg(Vec<u8>),
    Ping,
    Pong,
    Err(String),
    Other,
}

impl Parser {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn next(&mut self) -> Option<Op> {
        let eol = self.buf.windows(2).position(|w| w == b"\r\n")?;
        let line = &self.buf[..eol];
        if line.starts_with(b"MSG ") {
            let size: usize = std::str::from_utf8(line)
                .ok()?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()?;
            let total = eol + 2 + size + 2;
            if self.buf.len() < total {
                return None;
            }
            let payload = self.buf[eol + 2..eol + 2 + size].to_vec();
            self.buf.drain(..total);
            return Some(Op::Msg(payload));
        }
        let op = if line == b"PING" {
            Op::Ping
        } else if line == b"PONG" {
            Op::Pong
        } else if line.starts_with(b"-ERR") {
            Op::Err(String::from_utf8_lossy(line).into_owned())
        } else {
            Op::Other
        };
        self.buf.drain(..eol + 2);
        Some(op)
    }
}

async fn send(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    ws.send(Message::binary(text.into_bytes())).await?;
    Ok(())
}

/// Connect, CONNECT, optionally SUB, PING, and wait for the PONG.
async fn handshake(addr: SocketAddr, src: Ipv4Addr, sub: bool) -> anyhow::Result<(Ws, Parser)> {
    let mut ws = ws_connect(addr, src, "/").await?;
    let mut p = Parser::default();
    let mut cmd = String::from(
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"yishi-loadtest\"}\r\n",
    );
    if sub {
        cmd.push_str(&format!("SUB {SUBJECT} 1\r\n"));
    }
    cmd.push_str("PING\r\n");
    send(&mut ws, cmd).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no PONG in 30 s")?;
        match frame {
            Some(Ok(Message::Binary(b))) => p.push(&b),
            Some(Ok(Message::Text(t))) => p.push(t.as_bytes()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed during CONNECT"),
        }
        while let Some(op) = p.next() {
            match op {
                Op::Pong => return Ok((ws, p)),
                Op::Err(e) => bail!("nats-server: {e}"),
                Op::Ping => send(&mut ws, "PONG\r\n".into()).await?,
                _ => {}
            }
        }
    }
}

struct Out {
    connected: bool,
    slow: bool,
    received: u64,
}

#[allow(clippy::too_many_arguments)]
async fn subscriber(
    addr: SocketAddr,
    src: Ipv4Addr,
    slow: bool,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Out {
    let mut out = Out {
        connected: false,
        slow,
        received: 0,
    };
    let (mut ws, mut p) = {
        let Ok(_permit) = sem.acquire().await else {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return out;
        };
        let t0 = Instant::now();
        match handshake(addr, src, true).await {
            Ok(x) => {
                shared.handshake.record(t0.elapsed().as_micros() as u64);
                shared.connected.fetch_add(1, Ordering::Relaxed);
                x
            }
            Err(e) => {
                shared.note_error(format!("{src}: {e:#}"));
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return out;
            }
        }
    };
    out.connected = true;
    if slow {
        crate::client::stopped(&mut stop).await;
        return out;
    }
    let mut last_seq = 0u64;
    let mut lats = Vec::with_capacity(16);
    loop {
        tokio::select! {
            biased;
            _ = crate::client::stopped(&mut stop) => break,
            frame = ws.next() => {
                match frame {
                    Some(Ok(Message::Binary(b))) => p.push(&b),
                    Some(Ok(Message::Text(t))) => p.push(t.as_bytes()),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => { shared.note_error(e); break; }
                }
                let now = now_us();
                lats.clear();
                while let Some(op) = p.next() {
                    match op {
                        Op::Msg(payload) => {
                            let text = String::from_utf8_lossy(&payload);
                            let mut it = text.split(' ');
                            let seq: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                            let sent: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(now);
                            if seq != last_seq + 1 {
                                shared.gaps.fetch_add(1, Ordering::Relaxed);
                            }
                            last_seq = seq;
                            lats.push(now.saturating_sub(sent));
                        }
                        Op::Ping => { let _ = send(&mut ws, "PONG\r\n".into()).await; }
                        Op::Err(e) => shared.note_error(e),
                        _ => {}
                    }
                }
                if !lats.is_empty() {
                    out.received += lats.len() as u64;
                    shared.lat.record_many(&lats);
                    shared.deliveries.fetch_add(lats.len() as u64, Ordering::Relaxed);
                    shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    out
}

struct Crowd {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<Out>>,
    stop: watch::Sender<bool>,
    join_time: Duration,
}

async fn crowd(addr: SocketAddr, o: &Opts, slow_every: usize) -> anyhow::Result<Crowd> {
    let shared = Arc::new(Shared::default());
    let (stop, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(o.concurrency.max(1)));
    let n = o.connections;
    let start = Instant::now();
    let tasks = (0..n)
        .map(|i| {
            tokio::spawn(subscriber(
                addr,
                source_ip(i, o.spread),
                slow_every > 0 && i % slow_every == 0,
                shared.clone(),
                sem.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let limit = Duration::from_secs(30) + Duration::from_millis(n as u64 * 5);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < n {
        if start.elapsed() > limit {
            let _ = stop.send(true);
            bail!(
                "nats: only {} of {n} connected",
                shared.connected.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Crowd {
        shared,
        tasks,
        stop,
        join_time: start.elapsed(),
    })
}

impl Crowd {
    async fn finish(&mut self) -> Vec<Out> {
        let _ = self.stop.send(true);
        let mut outs = Vec::new();
        for t in self.tasks.drain(..) {
            if let Ok(o) = t.await {
                outs.push(o);
            }
        }
        outs
    }

    fn check(&self, row: &mut Row) {
        let failed = self.shared.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = self
                .shared
                .first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            row.fail(format!(
                "{failed} connections failed; first error: {first:?}"
            ));
        }
    }
}

/// `hold` against nats-server: N idle subscribers.
pub async fn hold(addr: SocketAddr, pid: u32, o: &Opts) -> anyhow::Result<Row> {
    let rss0 = rss_bytes(pid);
    let kern0 = tcp_kernel_bytes();
    let mut c = crowd(addr, o, 0).await?;
    let connected = c.shared.connected.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = rss_bytes(pid);
    let kern1 = tcp_kernel_bytes();
    let cpu = CpuMeter::start(Some(pid));
    tokio::time::sleep(o.hold).await;
    let mut row = Row::new("hold", "nats-server", connected);
    row.latency(c.shared.handshake.summary());
    row.server_cpu_pct = cpu.percent();
    row.server_rss_bytes = rss1;
    if let (Some(a), Some(b)) = (rss0, rss1) {
        row.rss_per_conn_bytes = Some((b as f64 - a as f64) / connected.max(1) as f64);
    }
    row.extra(
        "connects_per_s",
        connected as f64 / c.join_time.as_secs_f64(),
    );
    row.extra("handshake_p99_ms", row.p99_ms);
    if let (Some(a), Some(b)) = (kern0, kern1) {
        row.extra(
            "kernel_tcp_bytes_per_conn_both_ends",
            (b as f64 - a as f64) / connected.max(1) as f64,
        );
    }
    c.check(&mut row);
    c.finish().await;
    Ok(row)
}

/// `fanout` (or `slow`) against nats-server: one publisher, R messages a second of
/// `payload_bytes` each, to N subscribers.
pub async fn fanout(
    addr: SocketAddr,
    pid: u32,
    o: &Opts,
    slow_pct: usize,
    payload_bytes: usize,
) -> anyhow::Result<Row> {
    let name = if slow_pct > 0 { "slow" } else { "fanout" };
    let every = if slow_pct > 0 {
        100 / slow_pct.min(100)
    } else {
        0
    };
    let rss0 = rss_bytes(pid);
    let mut c = crowd(addr, o, every).await?;
    let connected = c.shared.connected.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss1 = rss_bytes(pid);
    let (mut pubws, _) = handshake(addr, Ipv4Addr::new(127, 0, 0, 1), false).await?;
    let cpu = CpuMeter::start(Some(pid));
    let start_us = now_us();
    let period = Duration::from_secs_f64(1.0 / o.rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = tokio::time::Instant::now() + o.duration;
    let mut sent = 0u64;
    let mut peak = rss1.unwrap_or(0);
    while tokio::time::Instant::now() < end {
        tick.tick().await;
        sent += 1;
        let mut payload = format!("{sent} {} ", now_us());
        while payload.len() < payload_bytes {
            payload.push('x');
        }
        send(
            &mut pubws,
            format!("PUB {SUBJECT} {}\r\n{payload}\r\n", payload.len()),
        )
        .await?;
        if sent.is_multiple_of(10)
            && let Some(r) = rss_bytes(pid)
        {
            peak = peak.max(r);
        }
    }
    let readers = (0..o.connections)
        .filter(|i| !(every > 0 && i % every == 0))
        .count()
        .min(connected);
    let expected = sent * readers as u64;
    let drain = Instant::now();
    while c.shared.deliveries.load(Ordering::Relaxed) < expected
        && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(r) = rss_bytes(pid) {
            peak = peak.max(r);
        }
    }
    let cpu_pct = cpu.percent();
    let _ = pubws.close(None).await;
    let outs = c.finish().await;
    let deliveries = c.shared.deliveries.load(Ordering::Relaxed);
    let last = c.shared.last_delivery_us.load(Ordering::Relaxed);
    let span_s = (last.saturating_sub(start_us) as f64 / 1e6).max(o.duration.as_secs_f64());
    let lost: u64 = outs
        .iter()
        .filter(|x| x.connected && !x.slow)
        .map(|x| sent.saturating_sub(x.received))
        .sum();
    let mut row = Row::new(name, "nats-server", connected);
    row.rate_per_s = sent as f64 / o.duration.as_secs_f64();
    row.deliveries_per_s = deliveries as f64 / span_s;
    row.latency(c.shared.lat.summary());
    row.lost = lost;
    row.server_cpu_pct = cpu_pct;
    row.server_rss_bytes = (peak > 0).then_some(peak);
    if let (Some(a), Some(b)) = (rss0, rss1) {
        row.rss_per_conn_bytes = Some((b as f64 - a as f64) / connected.max(1) as f64);
    }
    row.extra("payload_bytes", payload_bytes as f64);
    row.extra("gaps", c.shared.gaps.load(Ordering::Relaxed) as f64);
    c.check(&mut row);
    if lost > 0 {
        row.fail(format!("{lost} deliveries lost"));
    }
    Ok(row)
}
