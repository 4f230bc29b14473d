//! The scenarios against Yishi: hold, joins, fanout, slow, votes, chat.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use yishi::auth::{Claims, Keys};
use yishi::hub::now;
use yishi_protocol::{
    Command, Decision, EventBody, ItemStatus, Majority, MajorityRule, ModerationMode, Participant,
    PollMethod, PollSpec, ResultsVisibility, Role, ServerMessage, SettingsPatch,
};
use yishi_testkit::Client;

use crate::client::{self, ClientOut, Go, Launch, Plan, Rejoin, Shared};
use crate::report::Row;
use crate::sys::{CpuMeter, now_us, rss_bytes, source_ip, tcp_kernel_bytes};
use crate::workers::{RemotePlan, WorkerCommon, Workers};

const TTL: Duration = Duration::from_secs(6 * 3600);
pub(crate) const CONTROL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// A Yishi server to load, and what the tool knows about it.
pub struct Target {
    /// Where the hosts and the admin API go.
    pub addr: SocketAddr,
    /// Where audience connections go, in turn: `addr` alone, or every node of a
    /// cluster (each relays to the room's owner).
    pub nodes: Vec<SocketAddr>,
    pub admin_key: String,
    pub keys: Keys,
    /// The server's process; with `others`, every process whose CPU and memory count.
    pub pid: Option<u32>,
    pub others: Vec<u32>,
}

/// Who the clients of a crowd are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Who {
    /// The anonymous audience (the room's audience link): on a node that does not own
    /// the room, served by that node's mirror.
    Audience,
    /// Members, each with a token of their own: on a node that does not own the room,
    /// relayed to the owner.
    Members,
}

/// Sizes shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Opts {
    pub connections: usize,
    pub rate: f64,
    pub duration: Duration,
    pub voters: usize,
    /// Who votes in `votes`.
    pub voter_role: Who,
    pub joins: usize,
    pub senders: usize,
    pub sender_rate: f64,
    pub slow_pct: usize,
    pub hold: Duration,
    pub concurrency: usize,
    pub spread: usize,
    pub text_bytes: usize,
    /// Audience connections one process holds; beyond, worker processes hold the rest.
    pub per_process: usize,
    /// The run's bound, handed to worker processes.
    pub max_seconds: u64,
}

impl Target {
    pub(crate) async fn create_room(&self, scenario: &str) -> anyhow::Result<String> {
        self.create_room_of(scenario, "lecture").await
    }

    /// A fresh room of `kind` (`lecture` or `consultation`) through the admin API.
    pub(crate) async fn create_room_of(
        &self,
        scenario: &str,
        kind: &str,
    ) -> anyhow::Result<String> {
        let id = format!("lt-{scenario}-{}", now().0);
        let r = reqwest::Client::new()
            .post(format!("http://{}/api/v1/rooms", self.addr))
            .bearer_auth(&self.admin_key)
            .json(&serde_json::json!({"id": id, "title": format!("负载测试 {scenario}"), "kind": kind}))
            .send()
            .await
            .context("admin API")?;
        if !r.status().is_success() {
            bail!(
                "creating room {id}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(id)
    }

    pub(crate) fn host_token(&self, room: &str, id: &str) -> String {
        let who = Participant::new(id, "负载测试主持人", Role::Host);
        self.keys.mint(&Claims::new(room, &who, now(), TTL))
    }

    pub(crate) fn audience_token(&self, room: &str) -> String {
        self.keys.mint(&Claims::audience_link(room, now(), TTL))
    }

    /// A member (may publish media and ask for the floor) with id `id`.
    pub(crate) fn member_token(&self, room: &str, id: &str) -> String {
        let who = Participant::new(id, format!("负载测试委员{id}"), Role::Member);
        self.keys.mint(&Claims::new(room, &who, now(), TTL))
    }

    pub(crate) async fn host(&self, room: &str, tag: &str) -> anyhow::Result<Client> {
        Client::join(self.addr, CONTROL, &self.host_token(room, "h1"), tag, None).await
    }

    /// A new room for `scenario` with its session started and comments published at once
    /// (auto moderation), and its host.
    pub(crate) async fn started_room(&self, scenario: &str) -> anyhow::Result<(String, Client)> {
        let room = self.create_room(scenario).await?;
        let mut host = self.host(&room, "h").await?;
        host.try_cmd(Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                moderation: Some(ModerationMode::Auto),
                ..SettingsPatch::default()
            },
        })
        .await?;
        host.try_cmd(Command::StartSession).await?;
        Ok((room, host))
    }

    pub(crate) fn rss(&self) -> Option<u64> {
        let first = self.pid.and_then(rss_bytes)?;
        Some(
            first
                + self
                    .others
                    .iter()
                    .filter_map(|p| rss_bytes(*p))
                    .sum::<u64>(),
        )
    }

    /// CPU of every process of the server, from now.
    pub(crate) fn cpu(&self) -> CpuMeter {
        CpuMeter::start_all(
            self.pid
                .into_iter()
                .chain(self.others.iter().copied())
                .collect(),
        )
    }

    /// The node audience connection `i` goes to.
    pub(crate) fn node_for(&self, i: usize) -> SocketAddr {
        self.nodes
            .get(i % self.nodes.len().max(1))
            .copied()
            .unwrap_or(self.addr)
    }
}

/// A crowd of audience clients and the means to steer them.
pub(crate) struct Crowd {
    pub(crate) shared: Arc<Shared>,
    tasks: Vec<JoinHandle<ClientOut>>,
    go: watch::Sender<Option<Go>>,
    stop: watch::Sender<bool>,
    join_time: Duration,
    workers: Option<Workers>,
    /// The clients' [`Rejoin`], if they join again when their connection ends.
    rejoin: Option<Rejoin>,
}

impl Crowd {
    async fn start(
        t: &Target,
        room: &str,
        n: usize,
        o: &Opts,
        plan: impl Fn(usize) -> Plan,
    ) -> anyhow::Result<Crowd> {
        Crowd::start_with(t, room, n, o, plan, None, None, Who::Audience).await
    }

    /// Like [`Crowd::start`], the clients being `who`.
    async fn start_as(
        t: &Target,
        room: &str,
        n: usize,
        o: &Opts,
        who: Who,
        plan: impl Fn(usize) -> Plan,
    ) -> anyhow::Result<Crowd> {
        Crowd::start_with(t, room, n, o, plan, None, None, who).await
    }

    /// Like [`Crowd::start`], each client joining again whenever its connection ends
    /// (see [`Rejoin`]), beyond `--per-process` in worker processes.
    pub(crate) async fn start_rejoining(
        t: &Target,
        room: &str,
        n: usize,
        o: &Opts,
        plan: RemotePlan,
        rejoin: Rejoin,
    ) -> anyhow::Result<Crowd> {
        Crowd::start_with(
            t,
            room,
            n,
            o,
            |i| plan.plan(i),
            Some(plan),
            Some(rejoin),
            Who::Audience,
        )
        .await
    }

    /// Tell the rejoining clients, in this process and the workers, that `node` was
    /// killed at `since_us` (µs since the epoch): they join the others from now on.
    pub(crate) async fn node_down(
        &mut self,
        node: SocketAddr,
        since_us: u64,
    ) -> anyhow::Result<()> {
        let rejoin = self.rejoin.as_ref().context("not a rejoining crowd")?;
        rejoin.since_us.store(since_us, Ordering::Relaxed);
        rejoin.node_down(node);
        if let Some(w) = &mut self.workers {
            w.node_down(node, since_us).await?;
        }
        Ok(())
    }

    /// How many rejoining clients, in this process and the workers, have applied
    /// everything through `seq`.
    pub(crate) async fn caught_up(&mut self, seq: u64) -> anyhow::Result<usize> {
        let rejoin = self.rejoin.as_ref().context("not a rejoining crowd")?;
        let mut caught_up = rejoin.caught_up(seq);
        if let Some(w) = &mut self.workers {
            caught_up += w.caught_up(seq).await?;
        }
        Ok(caught_up)
    }

    /// Like [`Crowd::start`]; a crowd larger than one process holds (`--per-process`)
    /// needs `remote`, what worker processes' clients do (the audience only: workers
    /// share one token). Member `i` is participant `v{i}`.
    #[allow(clippy::too_many_arguments)]
    async fn start_with(
        t: &Target,
        room: &str,
        n: usize,
        o: &Opts,
        plan: impl Fn(usize) -> Plan,
        remote: Option<RemotePlan>,
        rejoin: Option<Rejoin>,
        who: Who,
    ) -> anyhow::Result<Crowd> {
        let local = n.min(o.per_process.max(1));
        if local < n && (remote.is_none() || who == Who::Members) {
            bail!(
                "{n} connections need worker processes (more than {} per process), which only hold, fanout, slow and failover use, with the audience",
                o.per_process
            );
        }
        let shared = Arc::new(Shared::default());
        let (go, go_rx) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let launch = Launch {
            addr: t.addr,
            token: Arc::new(t.audience_token(room)),
            shared: shared.clone(),
            connecting: Arc::new(Semaphore::new(o.concurrency.max(1))),
            go: go_rx,
            stop: stop_rx,
            rejoin,
        };
        let start = Instant::now();
        let workers = match remote {
            Some(r) if local < n => Some(Workers::start(
                local,
                n,
                o.per_process.max(1),
                &WorkerCommon {
                    nodes: t.nodes.clone(),
                    token: t.audience_token(room),
                    spread: o.spread,
                    concurrency: o.concurrency,
                    watch: r.watch.to_owned(),
                    slow_every: r.slow_every,
                    rejoin: launch.rejoin.is_some(),
                },
                shared.clone(),
                o.max_seconds,
            )?),
            _ => None,
        };
        let tasks = (0..local)
            .map(|i| {
                tokio::spawn(client::audience(
                    source_ip(i, o.spread),
                    plan(i),
                    Launch {
                        addr: t.node_for(i),
                        rejoin: launch.rejoin.as_ref().map(|r| r.client(i)),
                        token: match who {
                            Who::Audience => launch.token.clone(),
                            Who::Members => Arc::new(t.member_token(room, &format!("v{i}"))),
                        },
                        ..launch.clone()
                    },
                ))
            })
            .collect();
        let limit = Duration::from_secs(30) + Duration::from_millis(n as u64 * 5);
        let mut crowd = Crowd {
            shared,
            tasks,
            go,
            stop,
            join_time: Duration::ZERO,
            workers,
            rejoin: launch.rejoin.clone(),
        };
        if let Err(e) = crowd.shared.wait_connected(n, limit).await {
            crowd.finish().await;
            return Err(e);
        }
        crowd.join_time = start.elapsed();
        Ok(crowd)
    }

    pub(crate) async fn finish(&mut self) -> Vec<ClientOut> {
        let _ = self.stop.send(true);
        let mut outs = Vec::with_capacity(self.tasks.len());
        for t in self.tasks.drain(..) {
            outs.push(t.await.unwrap_or_default());
        }
        if let Some(w) = &mut self.workers {
            outs.extend(w.finish().await);
        }
        outs
    }

    pub(crate) fn connected(&self) -> usize {
        self.shared.connected.load(Ordering::Relaxed)
    }

    fn failed(&self) -> usize {
        self.shared.failed.load(Ordering::Relaxed)
    }
}

pub(crate) fn check_connects(row: &mut Row, crowd: &Crowd) {
    let failed = crowd.failed();
    if failed > 0 {
        row.fail(format!(
            "{failed} connections failed; first error: {}",
            crowd.shared.first_error().unwrap_or_default()
        ));
    }
}

pub(crate) fn comment_text(k: u64, bytes: usize) -> String {
    let mut s = format!("负载测试 {k:06} ");
    while s.len() < bytes {
        s.push('x');
    }
    s
}

/// `hold`: ramp to N idle audience connections; connect rate, handshake latency, server
/// memory per connection, idle CPU.
pub async fn hold(t: &Target, o: &Opts) -> anyhow::Result<Row> {
    let n = o.connections;
    let room = t.create_room("hold").await?;
    let host = t.host(&room, "h").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = t.rss();
    let kern0 = tcp_kernel_bytes();
    let idle = RemotePlan {
        watch: "",
        slow_every: 0,
    };
    let mut crowd = Crowd::start_with(
        t,
        &room,
        n,
        o,
        |i| idle.plan(i),
        Some(idle),
        None,
        Who::Audience,
    )
    .await?;
    let connected = crowd.connected();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = t.rss();
    let kern1 = tcp_kernel_bytes();
    let cpu = t.cpu();
    tokio::time::sleep(o.hold).await;
    let idle_cpu = cpu.percent();
    let mut row = Row::new("hold", "yishi", connected);
    row.latency(crowd.shared.handshake.summary());
    row.server_cpu_pct = idle_cpu;
    row.server_rss_bytes = rss1;
    if let (Some(a), Some(b)) = (rss0, rss1) {
        row.rss_per_conn_bytes = Some((b as f64 - a as f64) / connected.max(1) as f64);
    }
    row.extra(
        "connects_per_s",
        connected as f64 / crowd.join_time.as_secs_f64(),
    );
    row.extra("handshake_p99_ms", row.p99_ms);
    if let (Some(a), Some(b)) = (kern0, kern1) {
        row.extra(
            "kernel_tcp_bytes_per_conn_both_ends",
            (b as f64 - a as f64) / connected.max(1) as f64,
        );
    }
    if let Some(r) = rss_bytes(std::process::id()) {
        row.extra("client_rss_mib", r as f64 / 1048576.0);
    }
    check_connects(&mut row, &crowd);
    crowd.finish().await;
    host.close().await;
    Ok(row)
}

fn idle_plan() -> Plan {
    Plan {
        watch: "",
        slow: false,
        vote: None,
        tally_target: 0,
    }
}

/// `joins`: a burst of joins into a room with something in it; joins per second
/// including the welcome snapshot.
pub async fn joins(t: &Target, o: &Opts) -> anyhow::Result<Row> {
    let n = o.joins;
    let (room, mut host) = t.started_room("joins").await?;
    for k in 0..20 {
        host.try_cmd(Command::PostComment {
            text: comment_text(k, o.text_bytes),
        })
        .await?;
    }
    let poll = create_poll(&mut host, Who::Audience).await?;
    host.try_cmd(Command::OpenPoll { poll }).await?;
    let cpu = t.cpu();
    let mut crowd = Crowd::start(t, &room, n, o, |_| idle_plan()).await?;
    let connected = crowd.connected();
    let mut row = Row::new("joins", "yishi", connected);
    row.server_cpu_pct = cpu.percent();
    row.server_rss_bytes = t.rss();
    row.latency(crowd.shared.handshake.summary());
    let rate = connected as f64 / crowd.join_time.as_secs_f64();
    row.deliveries_per_s = rate;
    row.extra("joins_per_s", rate);
    row.extra("handshake_p99_ms", row.p99_ms);
    row.extra(
        "welcome_bytes",
        crowd.shared.welcome_bytes.load(Ordering::Relaxed) as f64 / connected.max(1) as f64,
    );
    check_connects(&mut row, &crowd);
    crowd.finish().await;
    host.close().await;
    Ok(row)
}

/// A yes/no/abstain poll `voters` vote in: the audience's advisory one, or the
/// members' binding one (表决; members hold the binding vote and the audience the
/// advisory one, and a binding-only poll refuses the audience).
async fn create_poll(host: &mut Client, voters: Who) -> anyhow::Result<yishi_protocol::PollId> {
    let spec = PollSpec {
        question: "负载测试：是否同意？".into(),
        method: PollMethod::YesNoAbstain,
        binding: voters == Who::Members,
        advisory: voters == Who::Audience,
        secret: false,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: yishi_protocol::Base::Cast,
        },
    };
    let seq = host
        .try_cmd(Command::CreatePoll { spec })
        .await?
        .context("create_poll acknowledged without an event")?;
    host.events
        .iter()
        .find(|e| e.seq == seq)
        .and_then(|e| match &e.body {
            EventBody::PollCreated { poll, .. } => Some(*poll),
            _ => None,
        })
        .context("no poll_created event for our poll")
}

/// `fanout` (and `slow`): a lecture; a host posts R comments a second, published at once
/// (auto moderation) to N audience connections.
pub async fn fanout(t: &Target, o: &Opts, slow_pct: usize) -> anyhow::Result<Row> {
    let name = if slow_pct > 0 { "slow" } else { "fanout" };
    let n = o.connections;
    let (room, host) = t.started_room(name).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = t.rss();
    let every = if slow_pct > 0 {
        100 / slow_pct.min(100)
    } else {
        0
    };
    let lecture = RemotePlan {
        watch: "comment_posted",
        slow_every: every,
    };
    let mut crowd = Crowd::start_with(
        t,
        &room,
        n,
        o,
        |i| lecture.plan(i),
        Some(lecture),
        None,
        Who::Audience,
    )
    .await?;
    let connected = crowd.connected();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss1 = t.rss();

    // Sources: host connections, each under the per-connection limit (20/s).
    let sources = ((o.rate / 15.0).ceil() as usize).max(1);
    let per_source = o.rate / sources as f64;
    let mut handles = Vec::new();
    let start_us = now_us();
    let cpu = t.cpu();
    // In a cluster, the first node's alone: it runs the room.
    let first_cpu = (!t.others.is_empty()).then(|| CpuMeter::start(t.pid));
    for s in 0..sources {
        let ctl = Client::join(
            t.addr,
            source_ip(s, o.spread),
            &t.host_token(&room, &format!("h{}", s + 1)),
            &format!("s{s}"),
            None,
        )
        .await?;
        handles.push(tokio::spawn(source(
            ctl,
            per_source,
            o.duration,
            o.text_bytes,
            s as u64,
        )));
    }
    let mut peak_rss = rss1.unwrap_or(0);
    let mut sent = 0u64;
    let mut acked = 0u64;
    let mut source_errors = Vec::new();
    let sampling = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some(r) = t.rss() {
                peak_rss = peak_rss.max(r);
            }
        }
    };
    let collect = async {
        for h in handles {
            match h.await {
                Ok(Ok((s, a))) => {
                    sent += s;
                    acked += a;
                }
                Ok(Err(e)) => source_errors.push(format!("{e:#}")),
                Err(e) => source_errors.push(e.to_string()),
            }
        }
    };
    tokio::select! {
        _ = collect => {}
        _ = sampling => {}
    }
    // Drain: wait until every reader has every acknowledged event (bounded).
    let readers = (0..n).filter(|i| !(every > 0 && i % every == 0)).count();
    let readers = readers.min(connected);
    let expected_total = acked * readers as u64;
    let drain_start = Instant::now();
    while crowd.shared.deliveries.load(Ordering::Relaxed) < expected_total
        && drain_start.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(r) = t.rss() {
            peak_rss = peak_rss.max(r);
        }
    }
    let cpu_pct = cpu.percent();
    let first_cpu_pct = first_cpu.and_then(|c| c.percent());
    let outs = crowd.finish().await;
    let deliveries = crowd.shared.deliveries.load(Ordering::Relaxed);
    let last = crowd.shared.last_delivery_us.load(Ordering::Relaxed);
    let span_s = (last.saturating_sub(start_us) as f64 / 1e6).max(o.duration.as_secs_f64());
    let lost: u64 = outs
        .iter()
        .filter(|c| c.connected && !c.slow)
        .map(|c| acked.saturating_sub(c.received))
        .sum();

    let mut row = Row::new(name, "yishi", connected);
    row.rate_per_s = acked as f64 / o.duration.as_secs_f64();
    row.deliveries_per_s = deliveries as f64 / span_s;
    row.latency(crowd.shared.lat.summary());
    row.lost = lost;
    row.server_cpu_pct = cpu_pct;
    row.server_rss_bytes = (peak_rss > 0).then_some(peak_rss);
    if let (Some(a), Some(b)) = (rss0, rss1) {
        row.rss_per_conn_bytes = Some((b as f64 - a as f64) / connected.max(1) as f64);
    }
    let frames = crowd.shared.frames.load(Ordering::Relaxed).max(1);
    row.extra("events_sent", sent as f64);
    row.extra("events_acked", acked as f64);
    row.extra(
        "frame_bytes",
        crowd.shared.frame_bytes.load(Ordering::Relaxed) as f64 / frames as f64,
    );
    row.extra("gaps", crowd.shared.gaps.load(Ordering::Relaxed) as f64);
    if let Some(p) = first_cpu_pct {
        row.extra("owner_cpu_pct", p);
    }
    row.extra(
        "resyncs",
        crowd.shared.resyncs.load(Ordering::Relaxed) as f64,
    );
    row.extra("sources", sources as f64);
    if let Some(c) = rss_bytes(std::process::id()) {
        row.extra("client_rss_mib", c as f64 / 1048576.0);
    }
    if slow_pct > 0 {
        row.extra("slow_clients", (connected - readers) as f64);
        if let Some(a) = rss1 {
            row.extra(
                "server_rss_growth_mib",
                (peak_rss as f64 - a as f64) / 1048576.0,
            );
        }
    }
    check_connects(&mut row, &crowd);
    for e in source_errors {
        row.fail(format!("source: {e}"));
    }
    if acked < sent {
        row.fail(format!("only {acked} of {sent} events acknowledged"));
    }
    if lost > 0 {
        row.fail(format!(
            "{lost} deliveries lost ({} readers x {acked} events expected)",
            readers
        ));
    }
    let gaps = crowd.shared.gaps.load(Ordering::Relaxed);
    if gaps > 0 && slow_pct == 0 {
        row.fail(format!("{gaps} batch gaps"));
    }
    host.close().await;
    Ok(row)
}

/// One source: post `rate` comments a second for `duration`; returns (sent, acked).
async fn source(
    mut ctl: Client,
    rate: f64,
    duration: Duration,
    text_bytes: usize,
    id: u64,
) -> anyhow::Result<(u64, u64)> {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = tokio::time::Instant::now() + duration;
    let (mut sent, mut acked) = (0u64, 0u64);
    let mut refused = Vec::new();
    while tokio::time::Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                let req = ctl.req();
                ctl.send(req, Command::PostComment { text: comment_text(id * 1_000_000 + sent, text_bytes) }).await?;
                sent += 1;
            }
            m = ctl.try_recv(Duration::from_secs(30)) => match m? {
                Some(ServerMessage::Ack(_)) => acked += 1,
                Some(ServerMessage::Error(e)) => refused.push(format!("{:?}", e.code)),
                None => bail!("source connection closed"),
                _ => {}
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked + (refused.len() as u64) < sent && Instant::now() < deadline {
        match ctl.try_recv(Duration::from_secs(10)).await? {
            Some(ServerMessage::Ack(_)) => acked += 1,
            Some(ServerMessage::Error(e)) => refused.push(format!("{:?}", e.code)),
            None => bail!("source connection closed"),
            _ => {}
        }
    }
    if !refused.is_empty() {
        bail!(
            "{} comments refused: {:?}",
            refused.len(),
            &refused[..refused.len().min(3)]
        );
    }
    ctl.close().await;
    Ok((sent, acked))
}

/// `votes`: N voters cast a ballot at once in a yes/no poll; time to all acknowledged,
/// the tally reaching everyone, and the closed poll's count checked exactly. The voters
/// are the audience of a lecture in an advisory poll, or (`--voter-role members`) the
/// members of a consultation in a binding one; in a cluster either is spread over the
/// nodes, where the audience is served by mirrors and members are relayed to the owner.
/// Both see the running turnout (`tally`), not the counts (results after close).
pub async fn votes(t: &Target, o: &Opts) -> anyhow::Result<Row> {
    let n = o.voters;
    let who = o.voter_role;
    let members = who == Who::Members;
    let name = votes_name(who);
    let room = match who {
        Who::Audience => t.create_room("votes").await?,
        Who::Members => t.create_room_of("votes", "consultation").await?,
    };
    let mut host = t.host(&room, "h").await?;
    host.try_cmd(Command::StartSession).await?;
    let poll = create_poll(&mut host, who).await?;
    // The binding electorate is those present when the poll opens: members join first.
    if !members {
        host.try_cmd(Command::OpenPoll { poll }).await?;
    }
    // Members see the poll open as an event: counted, to start only once all have.
    let watch = if members { "poll_opened" } else { "" };
    let mut crowd = Crowd::start_as(t, &room, n, o, who, |i| Plan {
        watch,
        slow: false,
        vote: Some((i % 3) as u8),
        tally_target: n as u32,
    })
    .await?;
    let connected = crowd.connected();
    // In a cluster the host's node runs the room; members on the others are relayed to
    // it: check they are (the owner's `yishi_relays`), before anything is timed.
    let relayed = if members && t.nodes.len() > 1 {
        let expected = (0..n).filter(|i| t.node_for(*i) != t.addr).count();
        let served = crate::failover::metric(t, t.addr, r#"yishi_relays{side="owner"}"#).await?;
        Some((served as usize, expected))
    } else {
        None
    };
    let mut eligible = None;
    let mut opened_seen = 0;
    if members {
        let seq = host.try_cmd(Command::OpenPoll { poll }).await?;
        eligible = host
            .events
            .iter()
            .find(|e| Some(e.seq) == seq)
            .and_then(|e| match &e.body {
                EventBody::PollOpened { eligible, .. } => Some(eligible.len()),
                _ => None,
            });
        // The members' `poll_opened` names the whole electorate (N ids to each of N):
        // let it reach everyone before the ballots are timed.
        let limit = Duration::from_secs(30) + Duration::from_millis(n as u64 * 2);
        let since = Instant::now();
        while (crowd.shared.deliveries.load(Ordering::Relaxed) as usize) < connected
            && since.elapsed() < limit
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        opened_seen = crowd.shared.deliveries.load(Ordering::Relaxed) as usize;
    }
    let mut expected = [0u32; 3];
    for i in 0..n {
        expected[i % 3] += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = t.cpu();
    let go_at = now_us();
    let started = Instant::now();
    let _ = crowd.go.send(Some(Go { poll, at_us: go_at }));
    let limit = Duration::from_secs(30) + Duration::from_millis(n as u64 * 2);
    while crowd.shared.acked.load(Ordering::Relaxed) + crowd.shared.refused.load(Ordering::Relaxed)
        < connected
        && started.elapsed() < limit
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_acked = started.elapsed();
    let cpu_pct = cpu.percent();
    let acked = crowd.shared.acked.load(Ordering::Relaxed);
    // The tally reaches everyone within a tally interval or two.
    let tally_start = Instant::now();
    while crowd.shared.tally_seen.load(Ordering::Relaxed) < acked
        && tally_start.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tally_seen = crowd.shared.tally_seen.load(Ordering::Relaxed);
    host.try_cmd(Command::ClosePoll { poll }).await?;
    let result = host
        .events
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            EventBody::PollClosed {
                poll: p, result, ..
            } if *p == poll => Some(result.clone()),
            _ => None,
        })
        .flatten();
    let mut row = Row::new(name, "yishi", connected);
    row.latency(crowd.shared.ack.summary());
    row.deliveries_per_s = acked as f64 / crowd.shared.ack.summary().max_ms.max(1.0) * 1000.0;
    row.server_cpu_pct = cpu_pct;
    row.server_rss_bytes = t.rss();
    row.extra("ballots_acked", acked as f64);
    row.extra(
        "time_to_all_acked_ms",
        crowd
            .shared
            .ack
            .summary()
            .max_ms
            .min(all_acked.as_secs_f64() * 1000.0),
    );
    row.extra("tally_to_all_ms", crowd.shared.tally.summary().max_ms);
    row.extra("tally_reached", tally_seen as f64);
    row.extra(
        "rate_limited_retries",
        crowd.shared.rate_limited.load(Ordering::Relaxed) as f64,
    );
    check_connects(&mut row, &crowd);
    if let Some((served, expected)) = relayed {
        row.extra("relayed", served as f64);
        if served != expected {
            row.fail(format!(
                "the owner served {served} relayed connections; {expected} members are on other nodes"
            ));
        }
    }
    if members {
        row.extra("opened_to_all_ms", crowd.shared.lat.summary().max_ms);
        if opened_seen < connected {
            row.fail(format!(
                "the poll's opening reached only {opened_seen} of {connected} members"
            ));
        }
        let eligible = eligible.unwrap_or(0);
        row.extra("eligible", eligible as f64);
        if eligible != n {
            row.fail(format!(
                "{eligible} of {n} members eligible when the poll opened"
            ));
        }
    }
    let tally = result.and_then(|r| if members { r.binding } else { r.advisory });
    match tally {
        Some(tally) => {
            row.extra("ballots_counted", tally.ballots as f64);
            if tally.ballots as usize != n || tally.counts != expected {
                row.fail(format!(
                    "the closed poll counted {} ballots {:?}; {n} cast, expected {expected:?}",
                    tally.ballots, tally.counts
                ));
            }
        }
        None => row.fail(format!(
            "no {} result in poll_closed",
            if members { "binding" } else { "advisory" }
        )),
    }
    if acked != n {
        row.fail(format!(
            "{acked} of {n} ballots acknowledged ({} refused; first error: {:?})",
            crowd.shared.refused.load(Ordering::Relaxed),
            crowd.shared.first_error()
        ));
    }
    if tally_seen < acked {
        row.fail(format!(
            "the full tally reached only {tally_seen} of {acked} voters"
        ));
    }
    crowd.finish().await;
    host.close().await;
    Ok(row)
}

/// The row of `votes` with these voters.
pub fn votes_name(voters: Who) -> &'static str {
    match voters {
        Who::Audience => "votes",
        Who::Members => "votes-members",
    }
}

/// `chat`: M audience senders post comments that wait for moderation (pre moderation);
/// hosts approve each; N audience connections receive the approvals.
pub async fn chat(t: &Target, o: &Opts) -> anyhow::Result<Row> {
    let n = o.connections;
    let room = t.create_room("chat").await?;
    let mut host = t.host(&room, "h").await?;
    host.try_cmd(Command::StartSession).await?;
    let mut crowd = Crowd::start(t, &room, n, o, |_| Plan {
        watch: "comment_approved",
        slow: false,
        vote: None,
        tally_target: 0,
    })
    .await?;
    let connected = crowd.connected();
    let total_rate = o.senders as f64 * o.sender_rate;
    let mods = ((total_rate / 15.0).ceil() as usize).max(1);
    let (mstop, mstop_rx) = watch::channel(false);
    let mut mod_tasks = Vec::new();
    for m in 0..mods {
        let ctl = Client::join(
            t.addr,
            source_ip(1000 + m, o.spread),
            &t.host_token(&room, &format!("h{}", m + 1)),
            &format!("m{m}"),
            None,
        )
        .await?;
        mod_tasks.push(tokio::spawn(moderator(
            ctl,
            m as u32,
            mods as u32,
            mstop_rx.clone(),
        )));
    }
    let cpu = t.cpu();
    let start_us = now_us();
    let mut senders = Vec::new();
    for s in 0..o.senders {
        let ctl = Client::join(
            t.addr,
            source_ip(2000 + s, o.spread),
            &t.audience_token(&room),
            &format!("c{s}"),
            None,
        )
        .await?;
        senders.push(tokio::spawn(source(
            ctl,
            o.sender_rate,
            o.duration,
            o.text_bytes,
            s as u64,
        )));
    }
    let mut posted = 0;
    let mut problems = Vec::new();
    for h in senders {
        match h.await {
            Ok(Ok((_, a))) => posted += a,
            Ok(Err(e)) => problems.push(format!("sender: {e:#}")),
            Err(e) => problems.push(e.to_string()),
        }
    }
    // Wait for the moderators to approve everything posted.
    let deadline = Instant::now() + Duration::from_secs(15);
    let expected_total = posted * connected as u64;
    while crowd.shared.deliveries.load(Ordering::Relaxed) < expected_total
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu_pct = cpu.percent();
    let _ = mstop.send(true);
    let mut approved = 0u64;
    for h in mod_tasks {
        match h.await {
            Ok(Ok(a)) => approved += a,
            Ok(Err(e)) => problems.push(format!("moderator: {e:#}")),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let outs = crowd.finish().await;
    let deliveries = crowd.shared.deliveries.load(Ordering::Relaxed);
    let last = crowd.shared.last_delivery_us.load(Ordering::Relaxed);
    let span_s = (last.saturating_sub(start_us) as f64 / 1e6).max(o.duration.as_secs_f64());
    let lost: u64 = outs
        .iter()
        .filter(|c| c.connected)
        .map(|c| approved.saturating_sub(c.received))
        .sum();
    let mut row = Row::new("chat", "yishi", connected);
    row.rate_per_s = approved as f64 / o.duration.as_secs_f64();
    row.deliveries_per_s = deliveries as f64 / span_s;
    row.latency(crowd.shared.lat.summary());
    row.lost = lost;
    row.server_cpu_pct = cpu_pct;
    row.server_rss_bytes = t.rss();
    row.extra("senders", o.senders as f64);
    row.extra("moderators", mods as f64);
    row.extra("comments_posted", posted as f64);
    row.extra("comments_approved", approved as f64);
    check_connects(&mut row, &crowd);
    for p in problems {
        row.fail(p);
    }
    if approved < posted {
        row.fail(format!("only {approved} of {posted} comments approved"));
    }
    if lost > 0 {
        row.fail(format!("{lost} approvals lost"));
    }
    host.close().await;
    Ok(row)
}

/// A moderator: approve every pending comment whose id falls to it; returns approvals.
async fn moderator(
    mut ctl: Client,
    me: u32,
    of: u32,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<u64> {
    let (mut sent, mut approved) = (0u64, 0u64);
    let mut seen = ctl.events.len();
    loop {
        tokio::select! {
            _ = client::stopped(&mut stop) => break,
            m = ctl.try_recv(Duration::from_secs(60)) => match m? {
                None => bail!("moderator connection closed"),
                Some(ServerMessage::Ack(_)) => approved += 1,
                Some(ServerMessage::Error(e)) => bail!("moderation refused: {:?} {}", e.code, e.message),
                Some(_) => {
                    let pending: Vec<_> = ctl.events[seen..]
                        .iter()
                        .filter_map(|e| match &e.body {
                            EventBody::CommentPosted { comment }
                                if comment.status == ItemStatus::Pending && comment.id.0 % of == me =>
                            {
                                Some(comment.id)
                            }
                            _ => None,
                        })
                        .collect();
                    seen = ctl.events.len();
                    for comment in pending {
                        let req = ctl.req();
                        ctl.send(req, Command::ModerateComment { comment, decision: Decision::Approve }).await?;
                        sent += 1;
                    }
                }
            }
        }
    }
    // The audience may see an approval before its acknowledgement reaches us: read the
    // acknowledgements still on the way.
    while approved < sent {
        match ctl.try_recv(Duration::from_secs(5)).await? {
            None => bail!("moderator connection closed"),
            Some(ServerMessage::Ack(_)) => approved += 1,
            Some(ServerMessage::Error(e)) => {
                bail!("moderation refused: {:?} {}", e.code, e.message)
            }
            Some(_) => {}
        }
    }
    ctl.close().await;
    Ok(approved)
}
