//! `failover`: the node that runs a lecture is killed (SIGKILL) under load, and the
//! cluster's other nodes carry on (issue 15, `docs/cluster.md`).
//!
//! Only with `--spawn --cluster N` (N ≥ 2). The room is started on node 1 (a host
//! connects there first and checks its `/metrics`); the audience is spread over every
//! node (those on the others are served by their mirrors); a commander, a host on
//! node 2 (relayed to node 1), posts comments at `--rate` and retries as the web client
//! does (`web-client/src/app/conn.ts`): it resumes after a drop, pausing as that client
//! pauses, and sends again what was not acknowledged, with the same request ids. After
//! `--kill-after` seconds node 1 is killed. Viewers on the other nodes keep their
//! connections (their node's mirror follows the room's new owner and fills what they
//! missed from the stream of broadcasts, or resynchronises them from a snapshot). Viewers whose connection ends join again, each on the nodes still up in
//! turn (as a load balancer in front of them would send them), afresh: an audience's
//! identity is not kept across owners. Beyond
//! `--per-process` viewers, worker processes of this tool hold the rest and are told of
//! the kill before it happens (`workers.rs`).
//!
//! What it checks: every acknowledged comment is in the record on PostgreSQL once, at
//! the sequence number it was acknowledged with (`acked_lost`, `acked_twice`); every
//! viewer comes back and receives batches in order without a gap, and is dropped once
//! only (`viewers_reconnected_twice`: a mirror that still follows the dead owner does
//! not welcome it, it turns it away before the welcome, `viewer_join_retries`); every
//! viewer ends having applied the last acknowledged comment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use yishi_protocol::{Command, ErrorCode, EventBody, RequestId, Resume, Seq, ServerMessage};
use yishi_testkit::Client;
use yishi_testkit::client::is_unavailable;

use crate::client::{self, Rejoin};
use crate::report::{Lat, Row};
use crate::scenarios::{CONTROL, Crowd, Opts, Target, check_connects, comment_text};
use crate::sys::{CpuMeter, YishiCluster, now_us};
use crate::workers::RemotePlan;

/// What `failover` adds to [`Opts`].
#[derive(Debug, Clone)]
pub struct FailoverOpts {
    /// When node 1 is killed, from the start of the commands.
    pub kill_after: Duration,
    /// The nodes' `--lease-ttl`, if given (reported).
    pub lease_ttl: Option<Duration>,
}

/// How long the commander waits, after its last command, for the ones not yet
/// acknowledged; and the scenario for the viewers to come back and catch up.
const SETTLE: Duration = Duration::from_secs(60);

/// The commander's request ids: `f-1`, `f-2`, … across all its connections.
const TAG: &str = "f";

pub async fn run(
    t: &Target,
    cluster: &mut YishiCluster,
    o: &Opts,
    fo: &FailoverOpts,
) -> anyhow::Result<Row> {
    if cluster.nodes.len() < 2 {
        bail!("failover kills a node of a cluster: give --spawn --cluster N with N ≥ 2");
    }
    if !(o.rate > 0.0 && o.rate <= 15.0) {
        bail!(
            "failover: --rate must be above 0 and at most 15 (one commander, under the limit of 20 commands a second per connection)"
        );
    }
    if fo.kill_after >= o.duration {
        bail!("failover: --kill-after must be shorter than --duration");
    }
    let n = o.connections;
    let owner = cluster.nodes[0].addr;
    let survivors: Vec<SocketAddr> = cluster.nodes[1..].iter().map(|s| s.addr).collect();

    // The room starts on node 1: the host asks for it there first.
    let (room, host) = t.started_room("failover").await?;
    let rooms = rooms_per_node(t, &cluster_addrs(cluster)).await?;
    if rooms.first().copied().unwrap_or(0.0) < 1.0 || rooms[1..].iter().any(|r| *r > 0.0) {
        bail!("the room is not run by node 1 (rooms per node: {rooms:?})");
    }
    host.close().await;

    let rejoin = Rejoin::new(cluster_addrs(cluster), n);
    let lecture = RemotePlan {
        watch: "comment_posted",
        slow_every: 0,
    };
    let mut crowd = Crowd::start_rejoining(t, &room, n, o, lecture, rejoin.clone()).await?;
    let connected = crowd.connected();

    // CPU of the processes that live through the run: the other nodes and nats-server.
    let cpu = CpuMeter::start_all(t.others.clone());
    let start_us = now_us();
    let commander = Commander {
        nodes: survivors.clone(),
        token: t.host_token(&room, "h2"),
        rate: o.rate,
        duration: o.duration,
        text_bytes: o.text_bytes,
        killed_us: rejoin.since_us.clone(),
    };
    let commanding = tokio::spawn(commander.run());

    tokio::time::sleep(fo.kill_after).await;
    // Noted first: the viewers on node 1 see their connections end at once.
    let killed_us = now_us();
    crowd.node_down(owner, killed_us).await?;
    cluster.kill(0)?;

    let cmd = commanding.await.context("the commander panicked")??;
    // Every viewer back, and caught up with the last acknowledged comment.
    let goal = cmd.acked.values().filter_map(|s| *s).max().unwrap_or(0);
    let settle = Instant::now();
    let shared = crowd.shared.clone();
    let rejoins = &shared.rejoins;
    while (rejoins.down.load(Ordering::Relaxed) > 0
        || crowd.caught_up(u64::from(goal)).await? < connected)
        && settle.elapsed() < SETTLE
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let behind = connected.saturating_sub(crowd.caught_up(u64::from(goal)).await?);
    let still_down = rejoins.down.load(Ordering::Relaxed);
    let cpu_pct = cpu.percent();
    let outs = crowd.finish().await;

    // The survivors' view of it.
    // Gaps the mirrors filled from the stream of broadcasts, and those they resynchronised
    // their viewers from a snapshot for.
    let (mut from_stream, mut from_snapshot) = (0.0, 0.0);
    for node in &survivors {
        let series = |from: &str| format!("yishi_bus_catch_ups_total{{from=\"{from}\"}}");
        from_stream += metric(t, *node, &series("stream")).await?;
        from_snapshot += metric(t, *node, &series("snapshot")).await?;
    }
    let rooms = rooms_per_node(t, &survivors).await?;
    let taken_by = rooms.iter().position(|r| *r >= 1.0).map(|i| i + 2);

    // The truth: the record on PostgreSQL.
    let record = Record::load(&cluster.database, &room).await?;
    let mut acked_lost = 0u64;
    let mut acked_twice = 0u64;
    let mut acked_elsewhere = 0u64;
    for (k, seq) in &cmd.acked {
        let text = comment_text(*k, o.text_bytes);
        match record.comments.get(&text).map(Vec::as_slice) {
            None | Some([]) => acked_lost += 1,
            Some([one]) => {
                if seq.is_some_and(|s| s != *one) {
                    acked_elsewhere += 1;
                }
            }
            Some(_) => acked_twice += 1,
        }
    }

    let deliveries = shared.deliveries.load(Ordering::Relaxed);
    let last = shared.last_delivery_us.load(Ordering::Relaxed);
    let span_s = (last.saturating_sub(start_us) as f64 / 1e6).max(o.duration.as_secs_f64());
    let gaps = shared.gaps.load(Ordering::Relaxed);
    // From the kill to each viewer's last return (some come back to a node that still
    // mirrors the dead owner, and are sent away again when it notices).
    let back = Lat::new();
    for c in outs
        .iter()
        .filter(|c| c.rejoins > 0 && c.back_at_us >= killed_us)
    {
        back.record(c.back_at_us - killed_us);
    }
    let back = back.summary();
    let since_kill = |us: Option<u64>| us.map(|u| u.saturating_sub(killed_us) as f64 / 1000.0);
    let no_commands_ms = since_kill(cmd.first_ack_after_kill_us);

    let mut row = Row::new("failover", "yishi", connected);
    row.rate_per_s = cmd.acked.len() as f64 / o.duration.as_secs_f64();
    row.deliveries_per_s = deliveries as f64 / span_s;
    row.latency(shared.lat.summary());
    row.lost = acked_lost;
    row.server_cpu_pct = cpu_pct;
    if let Some(ms) = no_commands_ms {
        row.extra("no_commands_ms", ms);
    }
    if let Some(ms) = since_kill(cmd.welcomed_after_kill_us) {
        row.extra("commander_back_ms", ms);
    }
    row.extra("commands_sent", cmd.sent as f64);
    row.extra("commands_acked", cmd.acked.len() as f64);
    row.extra("acked_lost", acked_lost as f64);
    row.extra("acked_twice", acked_twice as f64);
    row.extra("ack_max_ms", cmd.ack.summary().max_ms);
    row.extra("commander_reconnects", cmd.reconnects as f64);
    row.extra("commander_resynced", cmd.resynced as f64);
    row.extra("commands_rate_limited", cmd.rate_limited as f64);
    row.extra("events_in_record", record.events as f64);
    row.extra(
        "viewer_drops",
        rejoins.dropped.load(Ordering::Relaxed) as f64,
    );
    row.extra(
        "viewers_reconnected",
        outs.iter().filter(|c| c.rejoins > 0).count() as f64,
    );
    // Welcomed again more than once: dropped a second time after coming back.
    let dropped_twice = outs.iter().filter(|c| c.rejoins > 1).count();
    row.extra("viewers_reconnected_twice", dropped_twice as f64);
    row.extra("viewer_back_p50_ms", back.p50_ms);
    row.extra("viewer_back_p99_ms", back.p99_ms);
    row.extra("viewer_back_max_ms", back.max_ms);
    row.extra(
        "viewer_join_retries",
        rejoins.attempts_failed.load(Ordering::Relaxed) as f64,
    );
    row.extra(
        "deliveries_after_kill",
        rejoins.deliveries_after.load(Ordering::Relaxed) as f64,
    );
    row.extra(
        "deliveries_replayed",
        rejoins.replayed.load(Ordering::Relaxed) as f64,
    );
    row.extra("gaps", gaps as f64);
    row.extra("resyncs", shared.resyncs.load(Ordering::Relaxed) as f64);
    row.extra("catch_ups_from_stream", from_stream);
    row.extra("catch_ups_from_snapshot", from_snapshot);
    if let Some(node) = taken_by {
        row.extra("taken_by_node", node as f64);
    }
    row.extra("kill_after_s", fo.kill_after.as_secs_f64());
    if let Some(ttl) = fo.lease_ttl {
        row.extra("lease_ttl_s", ttl.as_secs_f64());
    }

    check_connects(&mut row, &crowd);
    for e in &cmd.refused {
        row.fail(format!("commander: {e}"));
    }
    if !cmd.pending.is_empty() {
        row.fail(format!(
            "{} of {} comments never acknowledged (first: {:?})",
            cmd.pending.len(),
            cmd.sent,
            cmd.pending.first()
        ));
    }
    if no_commands_ms.is_none() {
        row.fail("no command was acknowledged after the kill");
    }
    if acked_lost > 0 {
        row.fail(format!(
            "{acked_lost} acknowledged comments are not in the record"
        ));
    }
    if acked_twice > 0 {
        row.fail(format!(
            "{acked_twice} acknowledged comments are in the record more than once"
        ));
    }
    if acked_elsewhere > 0 {
        row.fail(format!(
            "{acked_elsewhere} comments are in the record at another sequence number than acknowledged"
        ));
    }
    if cmd.changed_acks > 0 {
        row.fail(format!(
            "{} retries acknowledged with another sequence number",
            cmd.changed_acks
        ));
    }
    if gaps > 0 {
        row.fail(format!("{gaps} batch gaps"));
    }
    if still_down > 0 {
        row.fail(format!(
            "{still_down} viewers were not back {} s after the commands",
            SETTLE.as_secs()
        ));
    }
    if behind > 0 {
        row.fail(format!(
            "{behind} of {connected} viewers never applied the last acknowledged comment (seq {goal})"
        ));
    }
    if dropped_twice > 0 {
        row.fail(format!(
            "{dropped_twice} viewers were dropped again after coming back (welcomed by a mirror of the dead owner?)"
        ));
    }
    let before = rejoins.dropped_before.load(Ordering::Relaxed);
    if before > 0 {
        row.fail(format!("{before} viewers were dropped before the kill"));
    }
    Ok(row)
}

fn cluster_addrs(cluster: &YishiCluster) -> Vec<SocketAddr> {
    cluster.nodes.iter().map(|s| s.addr).collect()
}

/// The sum of the samples of counter or gauge `name` in `node`'s `/metrics` (0 when it
/// was never set).
pub(crate) async fn metric(t: &Target, node: SocketAddr, name: &str) -> anyhow::Result<f64> {
    let text = reqwest::Client::new()
        .get(format!("http://{node}/metrics"))
        .bearer_auth(&t.admin_key)
        .send()
        .await
        .context("/metrics")?
        .error_for_status()?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The rooms each of `nodes` runs (`yishi_rooms`).
async fn rooms_per_node(t: &Target, nodes: &[SocketAddr]) -> anyhow::Result<Vec<f64>> {
    let mut rooms = Vec::with_capacity(nodes.len());
    for node in nodes {
        rooms.push(metric(t, *node, "yishi_rooms").await?);
    }
    Ok(rooms)
}

/// The room's record as PostgreSQL has it, its chain verified.
struct Record {
    events: usize,
    /// Each comment's text and the sequence numbers it was posted at.
    comments: HashMap<String, Vec<Seq>>,
}

impl Record {
    async fn load(database: &str, room: &str) -> anyhow::Result<Record> {
        let store = yishi::store::Store::open(database)
            .await
            .context("opening the run's PostgreSQL")?;
        let loaded = store.load(room).await;
        store.close().await;
        let entries = loaded.context("loading the record")?.entries;
        yishi::room::verify_chain(&entries)
            .map_err(|e| anyhow::anyhow!("the record does not verify: {e}"))?;
        let mut comments: HashMap<String, Vec<Seq>> = HashMap::new();
        for e in &entries {
            if let EventBody::CommentPosted { comment } = &e.event.body {
                comments
                    .entry(comment.text.clone())
                    .or_default()
                    .push(e.event.seq);
            }
        }
        Ok(Record {
            events: entries.len(),
            comments,
        })
    }
}

/// A host posting comments through the nodes that live, as the web client would.
struct Commander {
    /// Where it connects, in turn (node 2 first).
    nodes: Vec<SocketAddr>,
    token: String,
    rate: f64,
    duration: Duration,
    text_bytes: usize,
    /// When the owner was killed (µs since the epoch; 0 before).
    killed_us: Arc<AtomicU64>,
}

/// What the commander saw.
#[derive(Default)]
struct Commanded {
    sent: u64,
    /// Comment number → the sequence number it was acknowledged with.
    acked: BTreeMap<u64, Option<Seq>>,
    /// Comments never acknowledged.
    pending: Vec<u64>,
    /// Acknowledgements of a comment already acknowledged with another number.
    changed_acks: u64,
    /// Comments refused (none should be).
    refused: Vec<String>,
    /// Comments refused as too many at once (after a reconnection that sent many
    /// again), sent again a little later.
    rate_limited: u64,
    reconnects: u32,
    /// Resumes answered with a snapshot instead of the missed events.
    resynced: u32,
    /// The first welcome, and the first acknowledgement, on a connection opened after
    /// the kill (µs since the epoch).
    welcomed_after_kill_us: Option<u64>,
    first_ack_after_kill_us: Option<u64>,
    /// Comment first sent → acknowledged.
    ack: Lat,
}

fn request(k: u64) -> RequestId {
    RequestId(format!("{TAG}-{k}"))
}

fn comment_number(req: &RequestId) -> Option<u64> {
    req.0.strip_prefix(TAG)?.strip_prefix('-')?.parse().ok()
}

impl Commander {
    async fn run(self) -> anyhow::Result<Commanded> {
        let mut out = Commanded::default();
        let total = (self.duration.as_secs_f64() * self.rate).floor() as u64;
        let mut link = Some(
            Client::join(self.nodes[0], CONTROL, &self.token, TAG, None)
                .await
                .context("the commander's first connection")?,
        );
        let mut resume: Option<Resume> = None;
        // The connection was opened after the kill.
        let mut fresh = false;
        let mut retry = 0u32;
        let mut unavailable = false;
        let mut next_try = tokio::time::Instant::now();
        let mut turn = 0usize;
        // Comment number → when it was first sent.
        let mut pending: BTreeMap<u64, Instant> = BTreeMap::new();
        // Refused as too many at once: to send again at `again_at`.
        let mut again: BTreeSet<u64> = BTreeSet::new();
        let mut again_at = tokio::time::Instant::now();
        let mut next = 1u64;
        let start = Instant::now();
        let end = tokio::time::Instant::now() + self.duration;
        let give_up = end + SETTLE;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = tokio::time::Instant::now();
            if (now >= end && pending.is_empty() && next > total) || now >= give_up {
                break;
            }
            let up = link.is_some();
            let receive = async {
                match link.as_mut() {
                    Some(ctl) => ctl.try_recv(Duration::from_secs(3600)).await,
                    None => std::future::pending().await,
                }
            };
            let reconnect = async {
                if up {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep_until(next_try).await;
            };
            tokio::select! {
                _ = tick.tick(), if next <= total => {
                    // Every comment due by now, those missed while connecting too.
                    let due = ((start.elapsed().as_secs_f64() * self.rate).floor() as u64 + 1).min(total);
                    while next <= due {
                        pending.insert(next, Instant::now());
                        out.sent += 1;
                        if let Some(ctl) = link.as_mut()
                            && ctl.send(request(next), self.comment(next)).await.is_err()
                        {
                            resume = Some(ctl.resume_point());
                            link = None;
                            next_try = tokio::time::Instant::now() + client::backoff(retry, unavailable);
                        }
                        next += 1;
                    }
                }
                // To stop at `end` if nothing is left to answer.
                _ = tokio::time::sleep_until(end), if now < end => {}
                _ = tokio::time::sleep_until(give_up) => {}
                _ = tokio::time::sleep_until(again_at), if up && !again.is_empty() => {
                    for k in std::mem::take(&mut again) {
                        if !pending.contains_key(&k) {
                            continue;
                        }
                        if let Some(ctl) = link.as_mut()
                            && ctl.send(request(k), self.comment(k)).await.is_err()
                        {
                            resume = Some(ctl.resume_point());
                            link = None;
                            next_try = tokio::time::Instant::now() + client::backoff(retry, unavailable);
                            break;
                        }
                    }
                }
                m = receive => match m {
                    Ok(Some(ServerMessage::Ack(a))) => {
                        let Some(k) = comment_number(&a.req) else { continue };
                        if let Some(sent) = pending.remove(&k) {
                            out.ack.record(sent.elapsed().as_micros() as u64);
                            out.acked.insert(k, a.seq);
                            if fresh && out.first_ack_after_kill_us.is_none() {
                                out.first_ack_after_kill_us = Some(now_us());
                            }
                        } else if out.acked.get(&k).is_some_and(|s| *s != a.seq) {
                            out.changed_acks += 1;
                        }
                    }
                    Ok(Some(ServerMessage::Error(e))) => match &e.req {
                        Some(req) if e.code == ErrorCode::RateLimited => {
                            if let Some(k) = comment_number(req) {
                                out.rate_limited += 1;
                                again.insert(k);
                                again_at = tokio::time::Instant::now() + Duration::from_millis(250);
                            }
                        }
                        Some(req) => {
                            if let Some(k) = comment_number(req) {
                                pending.remove(&k);
                            }
                            out.refused.push(format!("{} refused: {} {}", req.0, e.code.as_str(), e.message));
                        }
                        // Said before the server closes: come back later.
                        None => unavailable = e.code == ErrorCode::Unavailable,
                    },
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        if let Some(ctl) = link.take() {
                            resume = Some(ctl.resume_point());
                        }
                        next_try = tokio::time::Instant::now() + client::backoff(retry, unavailable);
                    }
                },
                _ = reconnect => {
                    retry += 1;
                    turn += 1;
                    let node = self.nodes[turn % self.nodes.len()];
                    let joined = tokio::time::timeout(
                        Duration::from_secs(30),
                        Client::join(node, CONTROL, &self.token, TAG, resume.clone()),
                    )
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("no welcome in 30 s")));
                    match joined {
                        Ok(mut ctl) => {
                            retry = 0;
                            unavailable = false;
                            out.reconnects += 1;
                            if ctl.resynced() {
                                out.resynced += 1;
                            }
                            fresh = self.killed_us.load(Ordering::Relaxed) > 0;
                            if fresh && out.welcomed_after_kill_us.is_none() {
                                out.welcomed_after_kill_us = Some(now_us());
                            }
                            // What was not answered goes again, with its request id.
                            again.clear();
                            let mut sent = true;
                            for k in pending.keys() {
                                if ctl.send(request(*k), self.comment(*k)).await.is_err() {
                                    sent = false;
                                    break;
                                }
                            }
                            if sent {
                                link = Some(ctl);
                            } else {
                                resume = Some(ctl.resume_point());
                                next_try = tokio::time::Instant::now() + client::backoff(retry, false);
                            }
                        }
                        Err(e) => {
                            unavailable = is_unavailable(&e);
                            next_try = tokio::time::Instant::now() + client::backoff(retry, unavailable);
                        }
                    }
                }
            }
        }
        out.pending = pending.into_keys().collect();
        if let Some(ctl) = link {
            ctl.close().await;
        }
        Ok(out)
    }

    fn comment(&self, k: u64) -> Command {
        Command::PostComment {
            text: comment_text(k, self.text_bytes),
        }
    }
}
