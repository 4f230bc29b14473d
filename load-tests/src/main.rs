//! `yishi-loadtest`: load scenarios against a Yishi server on this machine, with
//! nats-server's WebSocket fan-out beside it, and media forwarding beside Janus's
//! VideoRoom. See `docs/bench/README.md`.
//!
//! Exit codes: 0 every correctness check passed; 1 a check failed (events lost, ballots
//! miscounted, connections refused); 2 the run could not be done.

mod board;
mod client;
mod failover;
mod janus;
mod live;
mod media;
mod nats;
mod plot;
mod report;
mod scenarios;
mod sys;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use yishi::auth::Keys;

use report::Row;
use scenarios::{Opts, Target, Who};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Ramp to N idle audience connections.
    Hold,
    /// A burst of joins, each with the welcome snapshot.
    Joins,
    /// One host posts R comments/s to N audience connections.
    Fanout,
    /// N voters cast a ballot at once.
    Votes,
    /// M senders post moderated comments; hosts approve; N receive the approvals.
    Chat,
    /// Fanout with a share of the audience that never reads.
    Slow,
    /// One media publisher (audio + video) to K WebRTC subscribers through the SFU.
    Media,
    /// The livestream: frame to HLS playback latency, worker and server CPU, serving
    /// (needs ffmpeg; nginx for the cache figures). Not part of `all`.
    Live,
    /// The topic board (码上议事) at size: a seeded store, then listing, search, topic
    /// pages and supports at fixed rates; rows `board-list`, `board-search`,
    /// `board-topic`, `board-support` (needs --spawn). Not part of `all`.
    Board,
    /// The owner of a lecture killed (SIGKILL) under load: a host on node 2 posting
    /// --rate comments a second, N viewers over every node; time without commands,
    /// acknowledged comments lost (must be none), viewers' return (needs --spawn
    /// --cluster N, N ≥ 2). Not part of `all`.
    Failover,
    /// Every scenario but `live`, `board` and `failover`.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// nats-server and Janus, each if it is installed.
    Auto,
    /// nats-server, required (no Janus).
    Nats,
    /// Janus, required (no nats-server).
    Janus,
    /// No peer.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MediaSubs {
    /// Audience viewers: they receive the stage.
    Audience,
    /// Members: they receive the publisher in their grid.
    Members,
}

#[derive(Debug, Parser)]
#[command(
    name = "yishi-loadtest",
    version,
    about = "Load scenarios against a Yishi server on this machine, beside nats-server and Janus"
)]
struct Cli {
    /// Scenarios to run, in order.
    #[arg(value_enum, required_unless_present = "worker")]
    scenarios: Vec<Scenario>,
    /// Start a fresh server (new data directory) for each scenario.
    #[arg(long, conflicts_with = "target")]
    spawn: bool,
    /// A running server, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    target: Option<String>,
    /// The server binary for --spawn [default: `yishi` beside this tool].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Pid of the --target server, to read its CPU and memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Admin key of the --target server.
    #[arg(long, env = "YISHI_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// Token keys of the --target server (`kid:secret,…`), to mint join tokens.
    #[arg(long, env = "YISHI_TOKEN_KEYS", hide_env_values = true)]
    token_keys: Option<String>,
    /// Audience connections N (hold, fanout, chat, slow), one run per value: e.g.
    /// 100,1000,10000.
    #[arg(short = 'n', long, value_delimiter = ',', default_value = "500")]
    connections: Vec<usize>,
    /// Events per second from the source (fanout, slow).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds the source sends (fanout, slow, chat); the measured window of media.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Voters [default: N of the run].
    #[arg(long)]
    voters: Option<usize>,
    /// Who votes in votes: the audience (an advisory poll in a lecture) or members
    /// (a binding poll in a consultation; relayed to the owner in a cluster).
    #[arg(long, value_enum, default_value_t = Who::Audience)]
    voter_role: Who,
    /// Joins in the join storm [default: N of the run].
    #[arg(long)]
    joins: Option<usize>,
    /// Comment senders (chat).
    #[arg(long, default_value_t = 20)]
    senders: usize,
    /// Comments per second per sender (chat).
    #[arg(long, default_value_t = 1.0)]
    sender_rate: f64,
    /// Percent of the audience that never reads (slow).
    #[arg(long, default_value_t = 10)]
    slow_pct: usize,
    /// Seconds to hold the idle connections (hold) while measuring idle CPU.
    #[arg(long, default_value_t = 3)]
    hold_secs: u64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Source addresses to spread clients over (127.0.0.2 on).
    #[arg(long, default_value_t = 64)]
    source_ips: usize,
    /// Length of each comment text in bytes (the NATS payload matches our frame size).
    #[arg(long, default_value_t = 64)]
    text_bytes: usize,
    /// Media subscribers K (media), one run per value: e.g. 25,100,200.
    #[arg(long, value_delimiter = ',', default_value = "25")]
    subscribers: Vec<usize>,
    /// Who subscribes in media.
    #[arg(long, value_enum, default_value_t = MediaSubs::Audience)]
    media_subscribers: MediaSubs,
    /// Bytes per video frame of the media publisher (30 frames/s; audio is 50 packets/s).
    #[arg(long, default_value_t = 3600)]
    media_frame_bytes: usize,
    /// Loss in percent (audio packets, video frames) above which a media row fails.
    #[arg(long, default_value_t = 1.0)]
    media_max_loss: f64,
    /// Video sizes of the livestream (live), one run each, e.g. 1280x720,640x360 (with
    /// --spawn; a --target server streams at its own).
    #[arg(long, value_delimiter = ',', default_value = "1280x720")]
    live_sizes: Vec<String>,
    /// Video bit rate of the livestream in kbit/s (live, with --spawn) [default: the
    /// server's].
    #[arg(long)]
    live_kbps: Option<u32>,
    /// Seconds of each serving phase of live (segment, playlist; direct and via nginx).
    #[arg(long, default_value_t = 5)]
    serve_secs: u64,
    /// Leave out live's serving phases through nginx.
    #[arg(long)]
    no_nginx: bool,
    /// Also run fanout, slow and hold against nats-server, and media against Janus.
    #[arg(long, value_enum, default_value_t = Peer::Auto)]
    peer: Peer,
    /// Write the rows as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the rows as a Markdown report.
    #[arg(long)]
    md: Option<PathBuf>,
    /// Draw p99 latency against connections as an SVG chart (media rows left out).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Give up on the whole run after this many seconds.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
    /// Audience connections one process holds [default: the open-file limit less 1,000];
    /// hold, fanout and slow put the rest in worker processes of this tool, each with
    /// its own range of source addresses.
    #[arg(long)]
    per_process: Option<usize>,
    /// With --spawn: this many `yishi serve --cluster` nodes on one nats-server (with
    /// JetStream, started by this tool) and a fresh schema of --database; the audience
    /// goes to the nodes in turn (each relays to the room's owner), hosts to the first.
    #[arg(long, default_value_t = 1, requires = "spawn")]
    cluster: usize,
    /// With --cluster: the nodes' `--lease-ttl` in seconds (how long a killed owner's
    /// rooms wait) [default: the server's, 5].
    #[arg(long, requires = "spawn")]
    lease_ttl: Option<u64>,
    /// With --cluster: open the nats-server's monitoring endpoint on this port
    /// (`/varz`, `/connz`, `/subsz` on 127.0.0.1), to read what crosses NATS in a run.
    #[arg(long, requires = "cluster")]
    nats_monitor: Option<u16>,
    /// Seconds after the start of the commands at which failover kills node 1
    /// [default: half of --duration].
    #[arg(long)]
    kill_after: Option<f64>,
    /// The PostgreSQL of --cluster (a schema of its own is made in it for each run).
    #[arg(
        long,
        env = "YISHI_TEST_PG",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database: String,
    /// Topics the board scenario seeds before it starts the server.
    #[arg(long, default_value_t = 100_000)]
    board_topics: u32,
    /// Supports the board scenario seeds (by generated residents, five each).
    #[arg(long, default_value_t = 1_000_000)]
    board_supports: u32,
    /// Requests a second of the board's list, search and topic phases (each --duration
    /// seconds).
    #[arg(long, default_value_t = 200.0)]
    board_read_rate: f64,
    /// Supports a second of the board's support phase (--duration seconds).
    #[arg(long, default_value_t = 2000.0)]
    board_support_rate: f64,
    /// Run the board scenario on a fresh schema of --database (PostgreSQL) instead of
    /// SQLite.
    #[arg(long)]
    board_postgres: bool,
    /// Run as a worker process of another run (internal).
    #[arg(long, hide = true)]
    worker: bool,
    #[arg(long, hide = true, value_delimiter = ',')]
    worker_nodes: Vec<String>,
    #[arg(long, hide = true, default_value = "")]
    worker_token: String,
    #[arg(long, hide = true, default_value_t = 0)]
    worker_offset: usize,
    #[arg(long, hide = true, default_value = "")]
    worker_watch: String,
    #[arg(long, hide = true, default_value_t = 0)]
    worker_slow_every: usize,
    #[arg(long, hide = true)]
    worker_rejoin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let limit = Duration::from_secs(cli.max_seconds);
    match runtime.block_on(async { tokio::time::timeout(limit, run(cli)).await }) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("error: the run took longer than --max-seconds");
            ExitCode::from(2)
        }
    }
}

fn expand(list: &[Scenario]) -> Vec<Scenario> {
    let mut out = Vec::new();
    for s in list {
        if *s == Scenario::All {
            out.extend([
                Scenario::Hold,
                Scenario::Joins,
                Scenario::Fanout,
                Scenario::Slow,
                Scenario::Votes,
                Scenario::Chat,
                Scenario::Media,
            ]);
        } else {
            out.push(*s);
        }
    }
    out
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.0} GiB", kb / 1048576.0));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1).map(|s| s.trim().to_owned()))
        })
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {mem} RAM; load generator and server on the same machine, loopback"
    )
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let nofile = sys::raise_nofile();
    if cli.worker {
        let target = cli.target.as_deref().context("a worker needs --target")?;
        let mut nodes = vec![sys::loopback_addr(target)?];
        if !cli.worker_nodes.is_empty() {
            nodes = cli
                .worker_nodes
                .iter()
                .map(|n| sys::loopback_addr(&format!("http://{n}")))
                .collect::<anyhow::Result<_>>()?;
        }
        let common = workers::WorkerCommon {
            nodes,
            token: cli.worker_token.clone(),
            spread: cli.source_ips.clamp(1, 60_000),
            concurrency: cli.concurrency,
            watch: cli.worker_watch.clone(),
            slow_every: cli.worker_slow_every,
            rejoin: cli.worker_rejoin,
        };
        let count = cli.connections.first().copied().unwrap_or(0);
        workers::serve(common, cli.worker_offset, count).await?;
        return Ok(true);
    }
    // Room beside a process's connections for the handshakes it has under way: when
    // viewers come back after a failover, their old sockets may not all be closed yet.
    let per_process = cli
        .per_process
        .unwrap_or_else(|| nofile.saturating_sub(1000 + cli.concurrency as u64) as usize)
        .max(1);
    let scenarios = expand(&cli.scenarios);
    let most_connections = cli.connections.iter().copied().max().unwrap_or(0);
    // Sized for the largest N; each run sets its own.
    let o = Opts {
        connections: most_connections,
        rate: cli.rate,
        duration: Duration::from_secs(cli.duration.max(1)),
        voters: cli.voters.unwrap_or(most_connections),
        voter_role: cli.voter_role,
        joins: cli.joins.unwrap_or(most_connections),
        senders: cli.senders,
        sender_rate: cli.sender_rate,
        slow_pct: cli.slow_pct,
        hold: Duration::from_secs(cli.hold_secs),
        concurrency: cli.concurrency,
        spread: cli.source_ips.clamp(1, 60_000),
        text_bytes: cli.text_bytes,
        per_process,
        max_seconds: cli.max_seconds,
    };
    let mo = media::MediaOpts {
        members: cli.media_subscribers == MediaSubs::Members,
        window: o.duration,
        frame_bytes: cli.media_frame_bytes,
        max_loss_pct: cli.media_max_loss,
        spread: o.spread,
    };
    let most_subscribers = cli.subscribers.iter().copied().max().unwrap_or(0);
    // Beyond `per_process`, worker processes hold the audience (hold, fanout, slow; the
    // others refuse such an N when they start).
    let biggest = o
        .connections
        .min(per_process)
        .max(o.voters.min(per_process))
        .max(o.joins.min(per_process))
        .max(most_subscribers * 2)
        + o.senders
        + 64;
    if biggest as u64 > nofile {
        bail!("{biggest} connections need more open files than the limit of {nofile}");
    }
    if !cli.spawn && cli.target.is_none() {
        bail!("give --spawn or --target URL");
    }
    if scenarios.contains(&Scenario::Failover) && cli.cluster < 2 {
        bail!(
            "failover kills the owner of a room in a cluster: give --spawn --cluster N with N ≥ 2"
        );
    }
    if cli.kill_after.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        bail!("--kill-after must be a positive number of seconds");
    }
    let fo = failover::FailoverOpts {
        kill_after: cli
            .kill_after
            .map(Duration::from_secs_f64)
            .unwrap_or(o.duration / 2),
        lease_ttl: cli.lease_ttl.map(Duration::from_secs),
    };
    let nats_bin = match cli.peer {
        Peer::None | Peer::Janus => None,
        Peer::Auto => yishi_testkit::nats_server(),
        Peer::Nats => {
            Some(yishi_testkit::nats_server().context("--peer nats: no nats-server installed")?)
        }
    };
    let janus_bin = match cli.peer {
        Peer::None | Peer::Nats => None,
        Peer::Auto => janus::janus_bin(),
        Peer::Janus => {
            Some(janus::janus_bin().context("--peer janus: no janus installed (Debian: janus)")?)
        }
    };
    if cli.peer == Peer::Auto && janus_bin.is_none() && scenarios.contains(&Scenario::Media) {
        eprintln!("note: janus is not installed (/usr/bin/janus): media runs against yishi only");
    }
    let lo = live::LiveOpts {
        window: o.duration,
        serve: Duration::from_secs(cli.serve_secs.max(1)),
        nginx: !cli.no_nginx,
    };
    // Media runs once per subscriber count, live once per video size (k: its index), the
    // others once per N.
    let live_runs: Vec<usize> = (0..cli.live_sizes.len()).collect();
    let runs: Vec<(Scenario, usize)> = scenarios
        .iter()
        .flat_map(|s| {
            let sizes = match s {
                Scenario::Media => &cli.subscribers,
                Scenario::Live => &live_runs,
                _ => &cli.connections,
            };
            sizes.iter().map(|k| (*s, *k)).collect::<Vec<_>>()
        })
        .collect();
    let server_bin = cli
        .server_bin
        .clone()
        .unwrap_or_else(sys::default_server_bin);
    let mut rows: Vec<Row> = Vec::new();
    let started = Instant::now();
    let board_opts = board::BoardOpts {
        topics: cli.board_topics,
        supports: cli.board_supports,
        read_rate: cli.board_read_rate,
        support_rate: cli.board_support_rate,
        duration: o.duration,
        postgres: cli.board_postgres.then(|| cli.database.clone()),
    };
    for (s, k) in runs {
        if s == Scenario::Board {
            if rows.iter().any(|r| r.scenario.starts_with("board-")) {
                continue;
            }
            eprintln!(
                "== Board: {} topics, {} supports ({:.0} s into the run)",
                cli.board_topics,
                cli.board_supports,
                started.elapsed().as_secs_f64()
            );
            if !cli.spawn {
                bail!("the board scenario seeds a fresh store: give --spawn");
            }
            let board_rows = match board::run(&server_bin, &board_opts).await {
                Ok(r) => r,
                Err(e) => {
                    let mut r = Row::new("board-support", "yishi", 0);
                    r.fail(format!("{e:#}"));
                    vec![r]
                }
            };
            eprint!("{}", report::table(&board_rows));
            rows.extend(board_rows);
            continue;
        }
        let o = Opts {
            connections: k,
            voters: cli.voters.unwrap_or(k),
            joins: cli.joins.unwrap_or(k),
            ..o.clone()
        };
        let name = if s == Scenario::Live {
            let size = cli.live_sizes.get(k).cloned().unwrap_or_default();
            eprintln!(
                "== Live {size} ({:.0} s into the run)",
                started.elapsed().as_secs_f64()
            );
            "live".to_owned()
        } else if s == Scenario::Media {
            eprintln!(
                "== {s:?} K={k} ({:.0} s into the run)",
                started.elapsed().as_secs_f64()
            );
            media::scenario_name(&mo).to_owned()
        } else {
            let n = if cli.connections.len() > 1 {
                format!(" N={k}")
            } else {
                String::new()
            };
            eprintln!(
                "== {s:?}{n} ({:.0} s into the run)",
                started.elapsed().as_secs_f64()
            );
            if s == Scenario::Votes {
                scenarios::votes_name(cli.voter_role).to_owned()
            } else {
                format!("{s:?}").to_lowercase()
            }
        };
        let row = {
            let mut cluster = if cli.spawn && cli.cluster > 1 {
                let nats = yishi_testkit::nats_server()
                    .context("--cluster needs nats-server (Debian: nats-server)")?;
                Some(
                    sys::spawn_cluster(
                        &server_bin,
                        &nats,
                        cli.cluster,
                        &cli.database,
                        fo.lease_ttl,
                        cli.nats_monitor,
                    )
                    .await?,
                )
            } else {
                None
            };
            let spawned = match &cluster {
                Some(_) => None,
                None if cli.spawn && s == Scenario::Live => {
                    let mut more = vec![
                        "--live-size".to_owned(),
                        cli.live_sizes.get(k).cloned().unwrap_or_default(),
                    ];
                    if let Some(kbps) = cli.live_kbps {
                        more.extend(["--live-kbps".to_owned(), kbps.to_string()]);
                    }
                    Some(sys::spawn_yishi_with(&server_bin, &more).await?)
                }
                None if cli.spawn => Some(sys::spawn_yishi(&server_bin).await?),
                None => None,
            };
            let target = match (&spawned, &cluster) {
                (_, Some(c)) => Target {
                    addr: c.nodes[0].addr,
                    nodes: c.nodes.iter().map(|n| n.addr).collect(),
                    admin_key: sys::SPAWN_ADMIN_KEY.into(),
                    keys: Keys::parse_list(sys::SPAWN_TOKEN_KEYS)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    pid: Some(c.nodes[0].proc.pid()),
                    others: c
                        .nodes
                        .iter()
                        .skip(1)
                        .map(|n| n.proc.pid())
                        .chain([c.nats.proc.pid()])
                        .collect(),
                },
                (Some(srv), None) => Target {
                    addr: srv.addr,
                    nodes: vec![srv.addr],
                    admin_key: sys::SPAWN_ADMIN_KEY.into(),
                    keys: Keys::parse_list(sys::SPAWN_TOKEN_KEYS)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    pid: Some(srv.proc.pid()),
                    others: Vec::new(),
                },
                (None, None) => {
                    let url = cli.target.clone().unwrap_or_default();
                    let addr = sys::loopback_addr(&url)?;
                    Target {
                        addr,
                        nodes: vec![addr],
                        admin_key: cli
                            .admin_key
                            .clone()
                            .context("--admin-key (or YISHI_ADMIN_KEY) for --target")?,
                        keys: Keys::parse_list(
                            cli.token_keys
                                .as_deref()
                                .context("--token-keys (or YISHI_TOKEN_KEYS) for --target")?,
                        )
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                        pid: cli.server_pid,
                        others: Vec::new(),
                    }
                }
            };
            let result = match s {
                Scenario::Hold => scenarios::hold(&target, &o).await,
                Scenario::Joins => scenarios::joins(&target, &o).await,
                Scenario::Fanout => scenarios::fanout(&target, &o, 0).await,
                Scenario::Slow => scenarios::fanout(&target, &o, o.slow_pct.max(1)).await,
                Scenario::Votes => scenarios::votes(&target, &o).await,
                Scenario::Chat => scenarios::chat(&target, &o).await,
                Scenario::Media => media::yishi(&target, &mo, k).await,
                Scenario::Live => live::yishi(&target, &lo).await,
                Scenario::Failover => match cluster.as_mut() {
                    Some(c) => failover::run(&target, c, &o, &fo).await,
                    None => Err(anyhow::anyhow!("failover needs --spawn --cluster N")),
                },
                Scenario::All | Scenario::Board => continue,
            };
            let result = result.map(|mut r| {
                if cluster.is_some() {
                    r.system = format!("yishi×{}", cli.cluster);
                }
                r
            });
            match result {
                Ok(r) => r,
                Err(e) => {
                    let mut r = Row::new(&name, "yishi", 0);
                    let log = spawned
                        .as_ref()
                        .map(|s| s.proc.log_tail())
                        .unwrap_or_default();
                    r.fail(format!(
                        "{e:#}{}",
                        if log.is_empty() {
                            String::new()
                        } else {
                            format!("; server log: {log}")
                        }
                    ));
                    r
                }
            }
        };
        eprint!("{}", report::table(std::slice::from_ref(&row)));
        let frame_bytes = row.extra.get("frame_bytes").copied();
        rows.push(row);
        if let Some(bin) = &nats_bin
            && matches!(s, Scenario::Hold | Scenario::Fanout | Scenario::Slow)
        {
            // Let the kernel settle the closed sockets first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let srv = sys::spawn_nats(bin).await?;
            let payload = frame_bytes.map_or(o.text_bytes + 150, |b| b.round() as usize);
            let result = match s {
                Scenario::Hold => nats::hold(srv.ws_addr, srv.proc.pid(), &o).await,
                Scenario::Slow => {
                    nats::fanout(srv.ws_addr, srv.proc.pid(), &o, o.slow_pct.max(1), payload).await
                }
                _ => nats::fanout(srv.ws_addr, srv.proc.pid(), &o, 0, payload).await,
            };
            let row = match result {
                Ok(r) => r,
                Err(e) => {
                    let mut r = Row::new(&format!("{s:?}").to_lowercase(), "nats-server", 0);
                    r.fail(format!("{e:#}"));
                    r
                }
            };
            eprint!("{}", report::table(std::slice::from_ref(&row)));
            rows.push(row);
        }
        if let Some(bin) = &janus_bin
            && s == Scenario::Media
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let row = match media::janus(bin, &mo, k).await {
                Ok(r) => r,
                Err(e) => {
                    let mut r = Row::new(&name, "janus", 0);
                    r.fail(format!("{e:#}"));
                    r
                }
            };
            eprint!("{}", report::table(std::slice::from_ref(&row)));
            rows.push(row);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("{}", report::table(&rows));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(path) = &cli.json {
        let doc = serde_json::json!({
            "command": command,
            "machine": machine(),
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &cli.md {
        std::fs::write(path, report::markdown(&rows, &command, &machine()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &cli.plot {
        plot::write(path, &rows, &machine())?;
    }
    Ok(rows
        .iter()
        .filter(|r| decides_exit(&r.system))
        .all(|r| r.ok))
}

/// Whether a row of `system` decides the exit code: Yishi's rows, on one node, on
/// PostgreSQL (`yishi-pg`) or in a cluster (`yishi×N`); not the peers'.
fn decides_exit(system: &str) -> bool {
    system == "yishi" || system == "yishi-pg" || system.starts_with("yishi×")
}

#[cfg(test)]
mod tests {
    use super::decides_exit;

    #[test]
    fn yishi_rows_decide_the_exit_code_on_one_node_and_in_a_cluster() {
        for ours in ["yishi", "yishi-pg", "yishi×3"] {
            assert!(decides_exit(ours), "{ours}");
        }
        for peer in ["nats-server", "janus"] {
            assert!(!decides_exit(peer), "{peer}");
        }
    }
}
