//! The machine side: loopback-only targets, source addresses (`yishi_testkit::ws_connect`
//! binds connections to them), `/proc` readings, and the servers this tool starts (Yishi
//! and nats-server).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tokio::net::TcpStream;

/// Wall clock in microseconds since the epoch (the server stamps events in ms).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// Refuse anything but a loopback address: this tool floods what it is pointed at.
pub fn loopback_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = hostport.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = hostport
        .parse()
        .with_context(|| format!("target {url}: give http://127.0.0.1:PORT"))?;
    if !addr.ip().is_loopback() {
        bail!("refusing non-loopback target {addr}: this tool only loads this machine");
    }
    Ok(addr)
}

/// The `i`-th client source address: 127.0.0.2, 127.0.0.3, … (127.0.0.1 is left to the
/// control connections), so per-IP limits and ephemeral ports are spread out.
pub fn source_ip(i: usize, spread: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(127, 0, 0, 2));
    Ipv4Addr::from(base + (i % spread.max(1)) as u32)
}

/// Raise the soft open-file limit to the hard one; returns the soft limit in force.
pub fn raise_nofile() -> u64 {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, hard)) => {
            if soft < hard && rlimit::Resource::NOFILE.set(hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// CPU time (user + system) of a process in seconds, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ is 100 on Linux
}

/// Resident set size of a process in bytes, from `/proc/PID/status` (VmRSS).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Kernel memory held by TCP sockets, in bytes (`/proc/net/sockstat`, all processes).
pub fn tcp_kernel_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let mut it = line.split_whitespace();
    while let Some(w) = it.next() {
        if w == "mem" {
            let pages: u64 = it.next()?.parse().ok()?;
            return Some(pages * 4096);
        }
    }
    None
}

/// CPU use of a process over an interval, in percent of one core.
pub struct CpuMeter {
    pids: Vec<u32>,
    start_cpu: f64,
    start: Instant,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter::start_all(pid.into_iter().collect())
    }

    /// The CPU of several processes together (the nodes of a cluster).
    pub fn start_all(pids: Vec<u32>) -> CpuMeter {
        CpuMeter {
            start_cpu: pids.iter().filter_map(|p| cpu_seconds(*p)).sum(),
            pids,
            start: Instant::now(),
        }
    }

    pub fn percent(&self) -> Option<f64> {
        if self.pids.is_empty() {
            return None;
        }
        let now: f64 = self.pids.iter().filter_map(|p| cpu_seconds(*p)).sum();
        let wall = self.start.elapsed().as_secs_f64();
        (wall > 0.0).then(|| (now - self.start_cpu) / wall * 100.0)
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough on a quiet loopback).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A child process killed when dropped.
pub struct Spawned {
    pub child: Child,
    pub log: PathBuf,
    pub name: &'static str,
}

impl Spawned {
    /// Start `command` (whose program is `bin`) with its output in `log`.
    pub fn start(
        command: &mut Command,
        bin: &Path,
        log: PathBuf,
        name: &'static str,
    ) -> anyhow::Result<Spawned> {
        let out = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Spawned { child, log, name })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fail if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("{} exited ({status}); log:\n{}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// Wait until `url` answers with a success, or fail after 30 s with the log's tail.
    pub async fn wait_until_up(&mut self, url: &str) -> anyhow::Result<()> {
        self.wait_until_up_within(url, Duration::from_secs(30))
            .await
    }

    /// [`Spawned::wait_until_up`] with a deadline of `within` (a server replaying a large
    /// record starts later).
    pub async fn wait_until_up_within(
        &mut self,
        url: &str,
        within: Duration,
    ) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            self.check_alive()?;
            if let Ok(r) = client.get(url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not come up in {} s:\n{}",
                    self.name,
                    within.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Yishi server this tool started, on a fresh data directory.
pub struct YishiServer {
    pub proc: Spawned,
    pub addr: SocketAddr,
    pub _dir: tempfile::TempDir,
}

pub const SPAWN_TOKEN_KEYS: &str = "lt:yishi-loadtest-secret-0123456789";
pub const SPAWN_ADMIN_KEY: &str = "yishi-loadtest-admin";

/// The `yishi` binary beside this tool (same profile), unless told otherwise.
pub fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("yishi")))
        .unwrap_or_else(|| PathBuf::from("target/release/yishi"))
}

pub async fn spawn_yishi(bin: &Path) -> anyhow::Result<YishiServer> {
    spawn_node(bin, &[], &[]).await
}

/// [`spawn_yishi`] with more flags for `yishi serve` (e.g. `--live-size 640x360`).
pub async fn spawn_yishi_with(bin: &Path, more: &[String]) -> anyhow::Result<YishiServer> {
    spawn_node(bin, &[], more).await
}

/// `yishi serve` with `args` (SQLite in a data directory of its own unless they name a
/// database), then `more`.
async fn spawn_node(bin: &Path, args: &[&str], more: &[String]) -> anyhow::Result<YishiServer> {
    spawn_node_within(bin, args, more, Duration::from_secs(30)).await
}

/// [`spawn_node`], up within `within`.
pub async fn spawn_node_within(
    bin: &Path,
    args: &[&str],
    more: &[String],
    within: Duration,
) -> anyhow::Result<YishiServer> {
    if !bin.exists() {
        bail!(
            "no server binary at {} (build it: cargo build --release -p yishi-server, or pass --server-bin)",
            bin.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut proc = Spawned::start(
        Command::new(bin)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .args(if args.is_empty() {
                vec![
                    "--database".to_owned(),
                    format!("sqlite://{}", dir.path().join("yishi.db").display()),
                ]
            } else {
                args.iter().map(|a| (*a).to_owned()).collect()
            })
            .arg("--data-dir")
            .arg(dir.path())
            // The load comes from a few loopback addresses, thousands each.
            .arg("--max-connections-per-ip")
            .arg("1000000")
            .args(more)
            .env("YISHI_TOKEN_KEYS", SPAWN_TOKEN_KEYS)
            .env("YISHI_ADMIN_KEY", SPAWN_ADMIN_KEY)
            .env("RUST_LOG", "warn"),
        bin,
        dir.path().join("server.log"),
        "yishi",
    )?;
    proc.wait_until_up_within(&format!("http://{addr}/healthz"), within)
        .await?;
    Ok(YishiServer {
        proc,
        addr,
        _dir: dir,
    })
}

/// A nats-server with a WebSocket listener, started by this tool.
pub struct NatsServer {
    pub proc: Spawned,
    /// Its client port.
    pub addr: SocketAddr,
    pub ws_addr: SocketAddr,
    pub _dir: tempfile::TempDir,
}

pub async fn spawn_nats(bin: &Path) -> anyhow::Result<NatsServer> {
    spawn_nats_with(bin, false, None).await
}

/// A nats-server as [`spawn_nats`], with JetStream (`jetstream`) for a cluster of nodes,
/// and its monitoring endpoint on 127.0.0.1:`monitor` if given.
pub async fn spawn_nats_with(
    bin: &Path,
    jetstream: bool,
    monitor: Option<u16>,
) -> anyhow::Result<NatsServer> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let ws_port = free_port()?;
    let conf = dir.path().join("nats.conf");
    let js = if jetstream {
        format!(
            "jetstream {{\n  store_dir: \"{}\"\n}}\n",
            dir.path().join("js").display()
        )
    } else {
        String::new()
    };
    let http = monitor
        .map(|port| format!("http: \"127.0.0.1:{port}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &conf,
        format!(
            "listen: \"127.0.0.1:{port}\"\nmax_connections: 100000\nmax_payload: 8MB\n{js}{http}\
             websocket {{\n  listen: \"127.0.0.1:{ws_port}\"\n  no_tls: true\n  compression: false\n}}\n"
        ),
    )?;
    let mut proc = Spawned::start(
        Command::new(bin).arg("-c").arg(&conf),
        bin,
        dir.path().join("nats.log"),
        "nats-server",
    )?;
    let ws_addr = SocketAddr::from(([127, 0, 0, 1], ws_port));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        proc.check_alive()?;
        if TcpStream::connect(ws_addr).await.is_ok() {
            break;
        }
        if Instant::now() > deadline {
            bail!("nats-server did not come up:\n{}", proc.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(NatsServer {
        proc,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        ws_addr,
        _dir: dir,
    })
}

/// Nodes of a cluster on their own nats-server (with JetStream) and a fresh schema of
/// the PostgreSQL at `database`.
pub struct YishiCluster {
    pub nodes: Vec<YishiServer>,
    pub nats: NatsServer,
    /// The URL of the run's schema, which every node uses.
    pub database: String,
}

impl YishiCluster {
    /// Kill node `i` at once (SIGKILL): no lease released, no goodbye to the membership.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(i).context("no such node")?;
        node.proc.child.kill()?;
        node.proc.child.wait()?;
        Ok(())
    }
}

/// `count` nodes `lt-1`, `lt-2`, …, each given `--lease-ttl` if `lease_ttl` says so
/// (whole seconds; the server's default otherwise).
pub async fn spawn_cluster(
    bin: &Path,
    nats_bin: &Path,
    count: usize,
    database: &str,
    lease_ttl: Option<Duration>,
    nats_monitor: Option<u16>,
) -> anyhow::Result<YishiCluster> {
    let nats = spawn_nats_with(nats_bin, true, nats_monitor).await?;
    let url = format!("nats://{}", nats.addr);
    let (database, _) = fresh_schema(database).await?;
    let ttl = lease_ttl.map(|t| format!("{}s", t.as_secs()));
    let mut nodes = Vec::new();
    for i in 0..count {
        let name = format!("lt-{}", i + 1);
        let mut args = vec![
            "--database",
            &database,
            "--cluster",
            &url,
            "--node-id",
            &name,
            "--no-media",
        ];
        if let Some(ttl) = &ttl {
            args.extend(["--lease-ttl", ttl]);
        }
        nodes.push(spawn_node(bin, &args, &[]).await?);
    }
    Ok(YishiCluster {
        nodes,
        nats,
        database,
    })
}

/// A new, empty schema of the PostgreSQL at `database`, for one run: the URL that uses it,
/// and its name.
pub async fn fresh_schema(database: &str) -> anyhow::Result<(String, String)> {
    let schema = format!(
        "yishi_loadtest_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    );
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(database)
            .await
            .with_context(|| format!("connecting to {database} for a schema of the run"))?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await?;
    }
    let sep = if database.contains('?') { '&' } else { '?' };
    Ok((
        format!("{database}{sep}options=-csearch_path%3D{schema}"),
        schema,
    ))
}

/// Drop a schema [`fresh_schema`] made, with everything in it.
pub async fn drop_schema(database: &str, schema: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database).await?;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// The processes whose parent is `pid` and whose command name is `comm` (from
/// `/proc/*/stat`), e.g. the ffmpeg workers a server started.
pub fn children_named(pid: u32, comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let Ok(text) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                return false;
            };
            // `PID (comm) state ppid …`; the name may hold spaces and parentheses.
            let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
                return false;
            };
            let ppid = text
                .get(close + 2..)
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            text.get(open + 1..close) == Some(comm) && ppid == Some(pid)
        })
        .collect()
}

/// Machine-wide UDP counters from `/proc/net/snmp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpCounters {
    /// Datagrams delivered to sockets.
    pub in_datagrams: u64,
    /// Datagrams sent.
    pub out_datagrams: u64,
    /// Datagrams dropped because a receive buffer was full.
    pub rcvbuf_errors: u64,
    /// Datagrams dropped because a send buffer was full.
    pub sndbuf_errors: u64,
}

pub fn udp_counters() -> Option<UdpCounters> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut rows = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = rows.next()?.split_whitespace().collect();
    let values: Vec<&str> = rows.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some(UdpCounters {
        in_datagrams: get("InDatagrams")?,
        out_datagrams: get("OutDatagrams")?,
        rcvbuf_errors: get("RcvbufErrors")?,
        sndbuf_errors: get("SndbufErrors")?,
    })
}

/// Whether `ip` is an address of this machine (loopback, or one a socket can bind to):
/// media peers are only ever pointed at this machine.
pub fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Refuse an SDP whose ICE candidates are not addresses of this machine.
pub fn check_local_candidates(sdp: &str) -> anyhow::Result<()> {
    for line in sdp.lines() {
        let Some(rest) = line.trim().strip_prefix("a=candidate:") else {
            continue;
        };
        let addr = rest.split_whitespace().nth(4).unwrap_or_default();
        let ip: IpAddr = addr
            .parse()
            .with_context(|| format!("ICE candidate with address {addr:?}: not an IP"))?;
        if !is_local_ip(ip) {
            bail!("refusing ICE candidate {ip}: not an address of this machine");
        }
    }
    Ok(())
}

/// Packets sent by every network interface but loopback (`/proc/net/dev`): what a run on
/// this machine sends out of it (other traffic of the machine included).
pub fn nic_tx_packets() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/dev").ok()?;
    let mut total = 0u64;
    for line in text.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
        total += rest.split_whitespace().nth(9)?.parse::<u64>().ok()?;
    }
    Some(total)
}
