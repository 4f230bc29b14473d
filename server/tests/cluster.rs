//! Nodes of a cluster on one PostgreSQL schema and the NATS of `YISHI_TEST_NATS`: a
//! room is served by the node holding its lease and another node refuses its
//! connections; a node that shuts down (in-process, or a process sent SIGTERM) hands its
//! rooms over at once, releasing their leases; when the owner is killed, another node
//! takes the room after the lease's TTL with everything acknowledged (ballots,
//! comments, questions, the queue) and the turn's clock, its clients resuming on the
//! survivors (media bots offering again to the new owner's SFU), and the nodes'
//! `/metrics` say so; an owner paused past its TTL cannot append when it wakes, and
//! steps down; when NATS restarts, relayed members and viewers catch up. In-process
//! nodes, and `yishi serve` processes where a node is killed, terminated, paused, or its
//! metrics read.
//! Needs both `YISHI_TEST_PG` and `YISHI_TEST_NATS`; ignored (saying so) without them.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Client, TestServer};
use yishi::auth::{Claims, Keys};
use yishi::bus::NodeId;
use yishi::store::{NewRoom, RoomKind, Store};
use yishi_protocol::{
    Command, Decision, ErrorCode, EventBody, ItemStatus, Participant, ParticipantId, RejectReason,
    Role, ServerMessage,
};

const KEYS: &str = "k1:cluster-test-secret-0123456789";
const ADMIN_KEY: &str = "cluster-admin-key-0123456789";
/// The lease TTL of the process nodes.
const TTL: &str = "2s";
/// Failover must be done within this (the issue's bound: TTL plus rebuild).
const FAILOVER: Duration = Duration::from_secs(10);

async fn node(name: &str, database: &str, keys: Option<&yishi::auth::Keys>) -> TestServer {
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    node_on(&nats, name, database, keys).await
}

/// An in-process node on the NATS at `nats` (no media).
async fn node_on(
    nats: &str,
    name: &str,
    database: &str,
    keys: Option<&yishi::auth::Keys>,
) -> TestServer {
    common::cluster_node(nats, name, database, keys, common::no_media).await
}

/// A new lecture room titled `title`, and an audience link to it.
async fn lecture(node: &TestServer, keys: &yishi::auth::Keys, title: &str) -> (String, String) {
    let room = unique("r");
    node.state
        .store
        .create_room(&NewRoom {
            id: room.clone(),
            title: title.into(),
            kind: RoomKind::Lecture,
            created_at: yishi::hub::now(),
            settings: serde_json::json!({}),
        })
        .await
        .unwrap();
    let link = keys.mint(&Claims::audience_link(
        &room,
        yishi::hub::now(),
        Duration::from_secs(3600),
    ));
    (room, link)
}

/// Three nodes of one cluster on `database`, sharing their token keys: their names, the
/// nodes, the keys.
async fn three_nodes(database: &str) -> ([String; 3], [TestServer; 3], yishi::auth::Keys) {
    let names = [unique("a"), unique("b"), unique("c")];
    let first = node(&names[0], database, None).await;
    let keys = first.state.config.auth.token_keys.clone();
    let nodes = [
        first,
        node(&names[1], database, Some(&keys)).await,
        node(&names[2], database, Some(&keys)).await,
    ];
    (names, nodes, keys)
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        yishi::hub::now().0 % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn a_room_is_served_by_its_lease_holder_and_handed_over_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let a = node(&unique("a"), &database, None).await;
    let b = node(
        &unique("b"),
        &database,
        Some(&a.state.config.auth.token_keys),
    )
    .await;
    let room = unique("r");
    a.create_room(&room, "跨节点协商").await;
    let host = Participant::new("host", "主持人", Role::Host);

    // One of the two takes the room (asked first, or given it by rendezvous hashing).
    let nodes = [&a, &b];
    let started = Instant::now();
    let (owner, mut h) = loop {
        let mut found = None;
        for (i, node) in nodes.iter().enumerate() {
            if let Ok(client) = Client::connect(node.addr, &node.token(&room, &host), None).await {
                found = Some((i, client));
                break;
            }
        }
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no node serves the room"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (owner, other) = (nodes[owner], nodes[1 - owner]);
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;

    // A client of the other node is relayed to the owner: its commands are
    // acknowledged there, and both see the same events.
    let member = Participant::new("m1", "张委员", Role::Member);
    let mut m = Client::connect(other.addr, &other.token(&room, &member), None)
        .await
        .expect("the other node relays to the owner");
    let said = m
        .ok(Command::SendChat {
            text: "从另一个节点发言".into(),
        })
        .await
        .unwrap();
    h.through(said).await;
    m.through(said).await;
    let last = said;

    // The owner shuts down: the relayed client is told to go (and would resume), and
    // the other node can take the room at once (well inside the lease's TTL), with
    // everything the owner acknowledged.
    owner.state.hub.shutdown().await;
    while m.recv().await.is_some() {}
    let started = Instant::now();
    let mut h = Client::connect(other.addr, &other.token(&room, &host), None)
        .await
        .expect("the other node serves the room once the owner left");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let snapshot = h.welcome.snapshot.clone().unwrap();
    assert_eq!(snapshot.seq, last);
    let next = h.ok(Command::PauseSession).await.unwrap();
    assert_eq!(next, last + 1);

    // The record is one chain: the first owner's events, then the second's.
    let loaded = other.state.store.load(&room).await.unwrap();
    assert_eq!(loaded.entries.len() as u32, next);
    yishi::room::verify_chain(&loaded.entries).unwrap();
    other.state.hub.shutdown().await;
}

/// A `yishi serve --cluster` process.
struct ProcessNode {
    name: String,
    /// The NATS it is a node of.
    nats: String,
    /// Its lease TTL.
    ttl: Duration,
    addr: SocketAddr,
    child: Child,
    _data: tempfile::TempDir,
}

impl ProcessNode {
    async fn start(name: &str, database: &str) -> ProcessNode {
        let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
        ProcessNode::spawn(&nats, name, database, TTL, false).await
    }

    /// Start `yishi serve` and wait until it answers; with its SFU if `media`, on a UDP
    /// port of its own on 127.0.0.1 (most nodes of the tests run without media).
    async fn spawn(nats: &str, name: &str, database: &str, ttl: &str, media: bool) -> ProcessNode {
        let data = tempfile::tempdir().unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let media = if media {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            vec!["--media-listen".to_owned(), udp.to_string()]
        } else {
            vec!["--no-media".to_owned()]
        };
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_yishi"));
        for (key, _) in std::env::vars() {
            if key.starts_with("YISHI_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .env("YISHI_DATA_DIR", data.path())
            .env("YISHI_TOKEN_KEYS", KEYS)
            .env("YISHI_ADMIN_KEY", ADMIN_KEY)
            .env("RUST_LOG", "warn")
            .args(["serve", "--database", database])
            .args(&media)
            .args(["--listen", &addr.to_string()])
            .args(["--cluster", nats, "--node-id", name, "--lease-ttl", ttl])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut node = ProcessNode {
            name: name.to_owned(),
            nats: nats.to_owned(),
            ttl: parse_ttl(ttl),
            addr,
            child,
            _data: data,
        };
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/healthz");
        let started = Instant::now();
        loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                panic!("yishi serve exited: {status}");
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return node;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} did not come up"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let status = Process::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Ask the process to stop (SIGTERM), as systemd or an operator does.
    fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Wait for the process to exit, for at most `within`; its exit status.
    async fn exit_within(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "{} did not exit within {within:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn connect(&self, room: &str, who: &Participant) -> Result<Client, ErrorCode> {
        self.connect_resuming(room, who, None).await
    }

    async fn connect_resuming(
        &self,
        room: &str,
        who: &Participant,
        resume: Option<yishi_protocol::Resume>,
    ) -> Result<Client, ErrorCode> {
        Client::connect(self.addr, &token(room, who), resume)
            .await
            .map_err(|e| e.code)
    }

    /// Connect, retrying while the room is served elsewhere, for at most `within`.
    async fn connect_within(&self, room: &str, who: &Participant, within: Duration) -> Client {
        self.resume_within(room, who, None, within).await
    }

    /// Connect with `resume` (or afresh), retrying while the room is served elsewhere or
    /// moving, for at most `within`.
    async fn resume_within(
        &self,
        room: &str,
        who: &Participant,
        resume: Option<yishi_protocol::Resume>,
        within: Duration,
    ) -> Client {
        let started = Instant::now();
        loop {
            match self.connect_resuming(room, who, resume.clone()).await {
                Ok(client) => return client,
                Err(ErrorCode::Unavailable) => {}
                Err(code) => panic!("refused: {code:?}"),
            }
            assert!(
                started.elapsed() < within,
                "the room did not move within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Process::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connect `who` through the first of `nodes` (which serves the room or relays to the
/// node that does), and say which of `nodes` owns the room.
async fn owner_of(nodes: &[&ProcessNode], room: &str, who: &Participant) -> (usize, Client) {
    let client = nodes[0]
        .connect_within(room, who, Duration::from_secs(30))
        .await;
    let holder = lease_holder_ttl(&nodes[0].nats, room, nodes[0].ttl)
        .await
        .expect("the room has an owner");
    let owner = nodes
        .iter()
        .position(|n| n.name == holder)
        .expect("one of the nodes owns the room");
    (owner, client)
}

/// Who holds `room`'s lease, as the NATS of `YISHI_TEST_NATS` says.
async fn lease_holder(room: &str) -> Option<String> {
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    lease_holder_on(&nats, room).await
}

/// Who holds `room`'s lease, as the NATS at `nats` says.
async fn lease_holder_on(nats: &str, room: &str) -> Option<String> {
    lease_holder_ttl(nats, room, Duration::from_secs(2)).await
}

/// Who holds `room`'s lease, as the NATS at `nats` says, its nodes' leases lasting `ttl`.
async fn lease_holder_ttl(nats: &str, room: &str, ttl: Duration) -> Option<String> {
    let client = async_nats::connect(nats).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let leases = yishi::bus::Leases::open(
        &js,
        yishi::bus::LEASE_BUCKET,
        NodeId::new("observer").unwrap(),
        ttl,
    )
    .await
    .unwrap();
    leases.holder(room).await.unwrap()
}

/// A TTL as the tests spell it for `--lease-ttl` ("2s").
fn parse_ttl(ttl: &str) -> Duration {
    Duration::from_secs(ttl.strip_suffix('s').unwrap().parse().unwrap())
}

fn token(room: &str, who: &Participant) -> String {
    Keys::parse_list(KEYS).unwrap().mint(&Claims::new(
        room,
        who,
        yishi::hub::now(),
        Duration::from_secs(3600),
    ))
}

async fn cluster_room(database: &str) -> String {
    let store = Store::open(database).await.unwrap();
    let room = unique("r");
    store
        .create_room(&NewRoom {
            id: room.clone(),
            title: "跨节点协商".into(),
            kind: RoomKind::Consultation,
            created_at: yishi::hub::now(),
            settings: serde_json::json!({}),
        })
        .await
        .unwrap();
    store.close().await;
    room
}

async fn record_of(database: &str, room: &str) -> Vec<yishi_protocol::RecordEntry> {
    let store = Store::open(database).await.unwrap();
    let entries = store.load(room).await.unwrap().entries;
    store.close().await;
    yishi::room::verify_chain(&entries).unwrap();
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn when_the_owner_is_killed_another_node_serves_the_room_with_everything_acknowledged() {
    let host = Participant::new("host", "主持人", Role::Host);
    let (two, mut h) = Processes::<2>::start(false, TTL, &host).await;
    // A member on the other node is relayed to the owner.
    let (member, mut m, last) = two.relayed_member(&mut h).await;
    let (owner, survivor) = (two.owner, two.survivor());
    let Processes {
        database,
        room,
        nats,
        mut nodes,
        ..
    } = two;
    // A viewer on the other node is served by its mirror of the owner.
    let viewer = Participant::new("v1", "观众", Role::Audience);
    let mut v = nodes[survivor]
        .connect_within(&room, &viewer, FAILOVER)
        .await;
    let welcomed_at = v.welcome.server_time;

    nodes[owner].kill();
    let killed = Instant::now();
    // The mirrored viewer asks a question at once: its mirror, which still follows the
    // dead owner, cannot reach it, holds the question until the room's next owner
    // answers, and forwards it there (not "unavailable", not a timeout).
    let during = yishi_protocol::RequestId("asked-during-the-failover".into());
    v.send(
        during.clone(),
        Command::AskQuestion {
            text: "接管期间的提问".into(),
        },
    )
    .await
    .unwrap();
    // A viewer coming to that mirror now, while it still follows the dead owner, is
    // not welcomed to be dropped a moment later: it waits, and is welcomed once the
    // survivor has taken the room (or turned away before any welcome, had the mirror
    // given up waiting for a new owner).
    let late = Participant::new("v2", "观众", Role::Audience);
    match nodes[survivor].connect(&room, &late).await {
        Err(code) => assert_eq!(code, ErrorCode::Unavailable),
        Ok(_) => assert_eq!(
            lease_holder_on(&nats.url(), &room).await.as_deref(),
            Some(nodes[survivor].name.as_str()),
            "welcomed by a mirror of the dead owner"
        ),
    }
    assert!(killed.elapsed() < FAILOVER, "{:?}", killed.elapsed());
    // The relay notices that the owner left the cluster and tells the member to resume.
    while m.recv().await.is_some() {}
    assert!(killed.elapsed() < FAILOVER, "{:?}", killed.elapsed());
    // The survivor takes the room by itself, with no client asking for it.
    while lease_holder_on(&nats.url(), &room).await.as_deref()
        != Some(nodes[survivor].name.as_str())
    {
        assert!(
            killed.elapsed() < FAILOVER,
            "the room did not move within {FAILOVER:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut h = nodes[survivor].connect_within(&room, &host, FAILOVER).await;
    assert!(killed.elapsed() < FAILOVER);
    // Everything acknowledged before the kill (and perhaps the question already).
    let at = h.welcome.snapshot.as_ref().unwrap().seq;
    assert!(at == last || at == last + 1, "{at} after {last}");
    let paused = h.ok(Command::PauseSession).await.unwrap();
    let asked = v
        .answer(&during)
        .await
        .expect("the question asked during the failover is acknowledged")
        .unwrap();
    assert!(killed.elapsed() < FAILOVER, "{:?}", killed.elapsed());
    let mut after = [paused, asked];
    after.sort();
    assert_eq!(after, [last + 1, last + 2]);
    // The mirror's viewer kept its connection: its mirror follows the room's new owner,
    // whose events follow in order, without a snapshot (what the old owner committed is
    // in the stream of broadcasts, which the mirror fills any gap from).
    v.through(last + 2).await;
    assert_eq!(
        v.welcome.server_time, welcomed_at,
        "not resynchronised: it missed nothing"
    );
    // The member resumes on the survivor exactly where it was.
    let resume = yishi_protocol::Resume {
        session: m.welcome.session.clone(),
        last_seq: m.through,
    };
    let mut m = Client::connect(nodes[survivor].addr, &token(&room, &member), Some(resume))
        .await
        .expect("the member resumes");
    assert!(m.welcome.snapshot.is_none(), "resumed, not resynchronised");
    // (The question is pending moderation: not shown to members.)
    m.through(paused).await;
    assert_eq!(m.events.first().map(|e| e.seq), Some(paused));
    let record = record_of(&database, &room).await;
    assert_eq!(record.len() as u32, last + 2, "the question once");
}

/// The next change of a watched key-value entry (within the failover bound).
async fn next_entry(
    watch: &mut async_nats::jetstream::kv::Watch,
) -> async_nats::jetstream::kv::Entry {
    use futures_util::StreamExt;
    tokio::time::timeout(FAILOVER, watch.next())
        .await
        .expect("the lease key changes")
        .expect("the watch goes on")
        .unwrap()
}

/// The lease TTL of the SIGTERM test's nodes: longer than the other tests' so that a
/// hand-over well within it, measured against a renewal seen before the signal, can
/// only be the old owner's release (not its lease expiring), however busy the machine.
const TERM_TTL: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn on_sigterm_the_owner_releases_its_room_to_another_node_at_once_and_exits_cleanly() {
    // The survivor is the only other live node.
    let host = Participant::new("host", "主持人", Role::Host);
    let ttl = format!("{}s", TERM_TTL.as_secs());
    let (two, mut h) = Processes::<2>::start(false, &ttl, &host).await;
    // A member on the other node is relayed to the owner.
    let (member, mut m, last) = two.relayed_member(&mut h).await;
    let (owner, survivor) = (two.owner, two.survivor());
    let Processes {
        database,
        room,
        nats,
        mut nodes,
        ..
    } = two;

    // Watch the room's lease key, and wait for the owner to renew it: written after
    // `watching`, that lease is valid until `watching + TTL` at the earliest.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value(yishi::bus::LEASE_BUCKET).await.unwrap();
    let key = yishi::bus::room_key(&room);
    let watching = Instant::now();
    let mut watch = kv.watch(&key).await.unwrap();
    let renewal = next_entry(&mut watch).await;
    assert_eq!(renewal.operation, async_nats::jetstream::kv::Operation::Put);
    assert_eq!(renewal.value, nodes[owner].name.as_bytes());
    let old_lease_valid_until = watching + TERM_TTL;

    let signalled = Instant::now();
    nodes[owner].terminate();
    // The owner stops the room and closes its connections, the relayed one too.
    while m.recv().await.is_some() {}
    // The member comes back to the survivor, which takes the room when asked: the old
    // owner gave its lease up. It resumes exactly where it was.
    let resume = m.resume_point();
    let mut m = nodes[survivor]
        .resume_within(&room, &member, Some(resume), FAILOVER)
        .await;
    assert_eq!(
        lease_holder_ttl(&nats.url(), &room, TERM_TTL)
            .await
            .as_deref(),
        Some(nodes[survivor].name.as_str())
    );
    let handed_over = Instant::now();
    assert!(
        handed_over < old_lease_valid_until,
        "served by the survivor {:?} after the signal: the old lease (TTL {TERM_TTL:?}) \
         may have expired instead of being released",
        handed_over - signalled
    );
    // The key was deleted (released by its holder), then created by the survivor: an
    // expired key leaves no delete in the watch.
    let mut released = false;
    loop {
        let entry = next_entry(&mut watch).await;
        match entry.operation {
            async_nats::jetstream::kv::Operation::Put
                if entry.value == nodes[owner].name.as_bytes() =>
            {
                assert!(
                    !released,
                    "the old owner wrote its lease after releasing it"
                );
            }
            async_nats::jetstream::kv::Operation::Put => {
                assert_eq!(entry.value, nodes[survivor].name.as_bytes());
                break;
            }
            _ => released = true,
        }
    }
    assert!(released, "the survivor took the lease without its release");
    assert!(!m.resynced(), "resumed, not resynchronised");
    let next = m
        .ok(Command::SendChat {
            text: "新节点接手".into(),
        })
        .await
        .unwrap();
    assert_eq!(next, last + 1);
    assert_eq!(m.events.first().map(|e| e.seq), Some(last + 1));
    // The old process finished its shutdown and exited cleanly.
    let status = nodes[owner].exit_within(Duration::from_secs(20)).await;
    assert!(status.success(), "the terminated node exited with {status}");
    let record = record_of(&database, &room).await;
    assert_eq!(record.len() as u32, last + 1);
}

/// The value of `series` (a metric's name with its labels, as the exporter prints them:
/// `yishi_forwarded_commands_total{via="relay"}`) on `node`'s `/metrics`; 0 while
/// nothing recorded it (a counter appears once it counted something).
async fn metric(node: &ProcessNode, series: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(format!("http://{}/metrics", node.addr))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(name, _)| *name == series)
        .map_or(0.0, |(_, value)| value.parse().unwrap())
}

/// Wait until `series` on `node` is above zero (for at most a minute).
async fn counts_some(node: &ProcessNode, series: &str) {
    let started = Instant::now();
    while metric(node, series).await <= 0.0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{series} stays at 0 on {}",
            node.name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const RELAYED: &str = "yishi_forwarded_commands_total{via=\"relay\"}";
const MIRRORED: &str = "yishi_forwarded_commands_total{via=\"mirror\"}";
const ADMINS: &str = "yishi_forwarded_commands_total{via=\"admin\"}";

/// A named yes/no/abstain poll for members (binding) and the audience (advisory), its
/// running tally shown to all.
fn open_vote(question: &str) -> yishi_protocol::PollSpec {
    use yishi_protocol::{Base, Majority, MajorityRule, PollMethod, ResultsVisibility};
    yishi_protocol::PollSpec {
        question: question.into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: true,
        secret: false,
        visibility: ResultsVisibility::Live,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}

fn ballot(vote: yishi_protocol::YesNo) -> Command {
    Command::CastBallot {
        poll: yishi_protocol::PollId(1),
        choice: yishi_protocol::Choice::YesNoAbstain { vote },
    }
}

/// `N` `yishi serve` processes (with their SFUs if `media`, their leases lasting
/// `ttl`) on a NATS of the test's own (the membership holds these nodes only: rendezvous
/// gives a room to one of them, not to a node of another test) and a fresh PostgreSQL
/// database with a room.
struct Processes<const N: usize> {
    _dir: tempfile::TempDir,
    database: String,
    room: String,
    nats: OwnNats,
    nodes: [ProcessNode; N],
    /// The room's owner.
    owner: usize,
}

impl<const N: usize> Processes<N> {
    /// The nodes, and `host` connected to the room's owner.
    async fn start(media: bool, ttl: &str, host: &Participant) -> (Processes<N>, Client) {
        let dir = tempfile::tempdir().unwrap();
        let database = common::database(Backend::Postgres, dir.path()).await;
        let room = cluster_room(&database).await;
        let nats = OwnNats::start();
        let mut nodes = Vec::new();
        for name in ["a", "b", "c", "d", "e"].into_iter().take(N) {
            let name = unique(name);
            nodes.push(ProcessNode::spawn(&nats.url(), &name, &database, ttl, media).await);
        }
        let nodes: [ProcessNode; N] = nodes.try_into().ok().unwrap();
        let (owner, h) = owner_of(&nodes.each_ref(), &room, host).await;
        let processes = Processes {
            _dir: dir,
            database,
            room,
            nats,
            nodes,
            owner,
        };
        (processes, h)
    }
}

impl Processes<2> {
    /// The node that does not own the room.
    fn survivor(&self) -> usize {
        1 - self.owner
    }

    /// The session opened and started by the host `h`, a member on the node that does
    /// not own the room (relayed to the owner) that said something: who it is, its
    /// client, and the sequence number of what it said, seen by the host.
    async fn relayed_member(&self, h: &mut Client) -> (Participant, Client, yishi_protocol::Seq) {
        h.ok(Command::OpenCheckIn).await;
        h.ok(Command::StartSession).await;
        let member = Participant::new("m1", "张委员", Role::Member);
        let mut m = self.nodes[self.survivor()]
            .connect_within(&self.room, &member, FAILOVER)
            .await;
        let last = m
            .ok(Command::SendChat {
                text: "经由另一节点".into(),
            })
            .await
            .unwrap();
        h.through(last).await;
        (member, m, last)
    }
}

impl Processes<3> {
    /// The two nodes that do not own the room.
    fn others(&self) -> [usize; 2] {
        [(self.owner + 1) % 3, (self.owner + 2) % 3]
    }
}

/// The limit of an impromptu turn in the killed-owner test, and its warning: long
/// enough that the room has moved (at most `FAILOVER`) well before the turn ends.
const TURN_S: u32 = 25;
const WARNING_S: u32 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn when_the_owner_of_a_running_session_is_killed_the_survivors_go_on_with_all_it_acknowledged()
 {
    use yishi_protocol::{EndReason, EntryKind, KindLimits, Overrun, SettingsPatch, YesNo};
    let host = Participant::new("host", "主持人", Role::Host);
    let (three, mut h) = Processes::<3>::start(false, TTL, &host).await;
    let others = three.others();
    let Processes {
        database,
        room,
        nats,
        mut nodes,
        owner,
        ..
    } = three;
    // Commands that reach the owner through a relay (the host's too, unless node 0 owns
    // the room) or from a mirror, counted as they are sent.
    let mut relayed = 0;
    let mut mirrored = 0;
    let host_relayed = usize::from(owner != 0);

    // A member on each node (relayed from the two others), a viewer on a mirror.
    let members = [
        (others[0], Participant::new("m1", "张委员", Role::Member)),
        (others[1], Participant::new("m2", "李委员", Role::Member)),
        (owner, Participant::new("m3", "王委员", Role::Member)),
    ];
    let mut m = Vec::new();
    for (at, who) in &members {
        m.push(nodes[*at].connect_within(&room, who, FAILOVER).await);
    }
    let viewer = Participant::new("v1", "观众", Role::Audience);
    let mut v = nodes[others[1]]
        .connect_within(&room, &viewer, FAILOVER)
        .await;

    // Short turns with a warning and a hard stop; the session runs.
    h.ok(Command::UpdateSettings {
        item: None,
        patch: SettingsPatch {
            limits: Some(KindLimits {
                impromptu_s: TURN_S,
                ..KindLimits::default()
            }),
            warning_s: Some(WARNING_S),
            overrun: Some(Overrun::Hard),
            grace_s: Some(0),
            ..Default::default()
        },
    })
    .await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;
    relayed += 3 * host_relayed;

    // Acknowledged before the kill: each member's ballot and the viewer's, the viewer's
    // comment and question, and three requests for the floor. (seq, what, whose)
    let mut acked: Vec<(u32, &str, String)> = Vec::new();
    h.ok(Command::CreatePoll {
        spec: open_vote("是否同意社区食堂延长营业时间？"),
    })
    .await;
    h.ok(Command::OpenPoll {
        poll: yishi_protocol::PollId(1),
    })
    .await;
    relayed += 2 * host_relayed;
    for (i, vote) in [YesNo::Yes, YesNo::No, YesNo::Yes].into_iter().enumerate() {
        let seq = m[i].ok(ballot(vote)).await.unwrap();
        acked.push((seq, "ballot_cast", members[i].1.id.0.clone()));
        relayed += usize::from(members[i].0 != owner);
    }
    let seq = v.ok(ballot(YesNo::Yes)).await.unwrap();
    acked.push((seq, "ballot_cast", v.welcome.you.id.0.clone()));
    let comment = "建议把营业时间延长到晚上八点";
    let seq = v
        .ok(Command::PostComment {
            text: comment.into(),
        })
        .await
        .unwrap();
    acked.push((seq, "comment_posted", comment.into()));
    let question = "延长营业的费用由谁承担？";
    let seq = v
        .ok(Command::AskQuestion {
            text: question.into(),
        })
        .await
        .unwrap();
    acked.push((seq, "question_asked", question.into()));
    mirrored += 3;
    for (i, (at, who)) in members.iter().enumerate() {
        let seq = m[i].request_floor(EntryKind::Impromptu).await.unwrap();
        acked.push((seq, "entry_added", who.id.0.clone()));
        relayed += usize::from(*at != owner);
    }

    // The host gives the floor: the speaker's clock runs.
    h.grant_next().await;
    relayed += host_relayed;
    let EventBody::TurnStarted { turn, .. } = h
        .until("the floor is given", |e| {
            matches!(e.body, EventBody::TurnStarted { .. })
        })
        .await
        .body
    else {
        unreachable!()
    };
    let since = turn.running_since.expect("the clock runs");
    let warning_due = since.0 + u64::from((TURN_S - WARNING_S) * 1000);
    let deadline = since.0 + u64::from(TURN_S * 1000);
    assert_eq!(turn.limit_ms, TURN_S * 1000);
    let last = h.through;

    // The owner's metrics: it owns the room, renews its lease, and counted each command
    // that came from another node, by the way it came; the other nodes own nothing.
    assert_eq!(metric(&nodes[owner], "yishi_rooms").await, 1.0);
    assert_eq!(metric(&nodes[owner], RELAYED).await, relayed as f64);
    assert_eq!(metric(&nodes[owner], MIRRORED).await, mirrored as f64);
    counts_some(&nodes[owner], "yishi_lease_renewals_total").await;
    for at in others {
        assert_eq!(metric(&nodes[at], "yishi_rooms").await, 0.0);
        assert_eq!(metric(&nodes[at], RELAYED).await, 0.0);
        assert_eq!(metric(&nodes[at], MIRRORED).await, 0.0);
    }
    let welcomed_at = v.welcome.server_time;

    nodes[owner].kill();
    let killed = Instant::now();
    // A survivor takes the room by itself within the bound.
    let new_owner = loop {
        if let Some(holder) = lease_holder_on(&nats.url(), &room).await
            && let Some(at) = others.into_iter().find(|at| nodes[*at].name == holder)
        {
            break at;
        }
        assert!(
            killed.elapsed() < FAILOVER,
            "no survivor took the room within {FAILOVER:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Every member and host is told to go (at once on the dead node, when its relay
    // notices elsewhere) and resumes on a survivor: the host and the members exactly,
    // those of the dead node on the survivors, one on each.
    let resume = |c: &Client| {
        Some(yishi_protocol::Resume {
            session: c.welcome.session.clone(),
            last_seq: c.through,
        })
    };
    while h.recv().await.is_some() {}
    let host_at = if owner == 0 { others[0] } else { 0 };
    let before = std::mem::take(&mut h.events);
    let mut h = nodes[host_at]
        .resume_within(&room, &host, resume(&h), FAILOVER)
        .await;
    assert!(h.welcome.snapshot.is_none(), "the host resumed exactly");
    h.events = before;
    let mut back = Vec::new();
    for (i, (at, who)) in members.iter().enumerate() {
        let client = &mut m[i];
        while client.recv().await.is_some() {}
        let at = if *at == owner { others[0] } else { *at };
        let mut again = nodes[at]
            .resume_within(&room, who, resume(client), FAILOVER)
            .await;
        assert!(
            again.welcome.snapshot.is_none(),
            "{} resumed exactly",
            who.id.0
        );
        again.events = std::mem::take(&mut client.events);
        back.push((at, again));
    }
    assert!(
        killed.elapsed() < FAILOVER,
        "the clients resumed after {:?}",
        killed.elapsed()
    );
    let mut m = back;
    let on: std::collections::BTreeSet<usize> = m.iter().map(|(at, _)| *at).collect();
    assert_eq!(on.len(), 2, "members on both survivors");
    // The speaker still has the floor on the clock that started before the kill, as a
    // viewer joining the new owner sees it.
    let fresh = Participant::new("v2", "观众", Role::Audience);
    let fresh = nodes[new_owner]
        .connect_within(&room, &fresh, FAILOVER)
        .await;
    let snapshot = fresh.welcome.snapshot.clone().unwrap();
    assert!(snapshot.seq >= last);
    let floor = snapshot.floor.expect("the turn survived the kill");
    assert_eq!(
        (floor.id, &floor.participant, floor.running_since),
        (turn.id, &turn.participant, turn.running_since),
        "the same turn, its clock running since the grant"
    );
    assert_eq!((floor.limit_ms, floor.elapsed_ms), (turn.limit_ms, 0));
    // The queue holds the two requests not yet given the floor, once each.
    let queued: Vec<_> = snapshot
        .queue
        .iter()
        .map(|e| e.participant.clone())
        .collect();
    let mut waiting: Vec<_> = members
        .iter()
        .map(|(_, who)| who.id.clone())
        .filter(|id| *id != turn.participant)
        .collect();
    let mut sorted = queued.clone();
    sorted.sort();
    waiting.sort();
    assert_eq!(sorted, waiting, "the queue after the kill: {queued:?}");

    // The turn's clock goes on on the new owner: its warning and its hard stop come
    // when the clock recorded before the kill says (each stamped with its due time), not
    // counted from the move; neither arrives early.
    let warned = h
        .until(
            "the warning",
            |e| matches!(e.body, EventBody::TurnWarned { turn: t } if t == turn.id),
        )
        .await;
    assert_eq!(
        warned.at.0, warning_due,
        "the warning is due by the old clock"
    );
    let ended = h
        .until("the hard stop", |e| {
            matches!(e.body, EventBody::TurnEnded { turn: t, reason: EndReason::TimeUp, .. } if t == turn.id)
        })
        .await;
    assert!(yishi::hub::now().0 + 50 >= deadline, "the turn ended early");
    assert_eq!(
        ended.at.0, deadline,
        "the turn ends at the recorded deadline"
    );
    assert!(ended.seq > last);
    // The mirrored viewer kept its connection: its mirror followed the room's new owner
    // and got on with its events, in order, without resynchronising it (what it might
    // have missed is filled from the stream of broadcasts).
    v.through(ended.seq).await;
    assert!(v.events.iter().any(|e| e.seq == ended.seq));
    assert_eq!(
        v.welcome.server_time, welcomed_at,
        "not resynchronised: it missed nothing"
    );

    // The new owner takes commands from both survivors: each member says something (the
    // one on the other survivor relayed to it); the operator closes the session through
    // the node that does not own the room.
    for (i, (_, client)) in m.iter_mut().enumerate() {
        let text = format!("接管之后的发言 {i}");
        let seq = client
            .ok(Command::SendChat { text: text.clone() })
            .await
            .unwrap();
        acked.push((seq, "chat_sent", text));
    }
    let other = others.into_iter().find(|at| *at != new_owner).unwrap();
    let closed: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/rooms/{room}/close",
            nodes[other].addr
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed["closed"], true, "{closed}");
    let relayed_after = m.iter().filter(|(at, _)| *at != new_owner).count();
    assert_eq!(metric(&nodes[new_owner], "yishi_rooms").await, 1.0);
    assert_eq!(
        metric(&nodes[new_owner], RELAYED).await,
        relayed_after as f64
    );
    assert_eq!(metric(&nodes[new_owner], ADMINS).await, 1.0);
    counts_some(&nodes[new_owner], "yishi_lease_renewals_total").await;
    assert_eq!(metric(&nodes[other], RELAYED).await, 0.0);

    // The record: every acknowledged event where it was acknowledged, and none twice.
    let record = record_of(&database, &room).await;
    let kind = |body: &EventBody| serde_json::to_value(body).unwrap()["type"].clone();
    for (seq, expect, _) in &acked {
        let event = &record[*seq as usize - 1].event;
        assert_eq!(event.seq, *seq);
        assert_eq!(kind(&event.body), *expect, "event {seq}");
    }
    let count =
        |pred: &dyn Fn(&EventBody) -> bool| record.iter().filter(|e| pred(&e.event.body)).count();
    for (_, expect, what) in &acked {
        let n = count(&|body| {
            kind(body) == *expect
                && match body {
                    EventBody::BallotCast { voter, .. } => voter.0 == *what,
                    EventBody::EntryAdded { entry, .. } => entry.participant.0 == *what,
                    EventBody::CommentPosted { comment } => comment.text == *what,
                    EventBody::QuestionAsked { question } => question.text == *what,
                    EventBody::ChatSent { message } => message.text == *what,
                    _ => false,
                }
        });
        assert_eq!(n, 1, "{expect} of {what} is in the record {n} times");
    }
    assert_eq!(count(&|b| matches!(b, EventBody::TurnStarted { .. })), 1);
    assert_eq!(count(&|b| matches!(b, EventBody::TurnWarned { .. })), 1);
    assert_eq!(count(&|b| matches!(b, EventBody::TurnEnded { .. })), 1);
    // The host saw it all once, in order, across the move.
    let seqs: Vec<_> = h.events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "no event twice");
}

/// A room's media moves with it when its owner is killed. Three `yishi serve` processes
/// with their SFUs: the speaker's bot on the room's owner, the listener's on another
/// node (relayed, its signalling with it); the listener sees the speaker, and hears it
/// once the host gives it the floor. The owner is killed while the speaker holds the
/// floor: the connections to it end at once, the relayed ones once their relay sees it
/// leave the membership, and a survivor takes the room after the lease's TTL. The bots
/// resume exactly (the speaker on the survivor that does not own the room, relayed
/// again; the listener where it was) and offer afresh, as the web client does after a
/// reconnect. The turn is in the record, and the new owner rebuilds it: the listener
/// sees and hears the speaker through the new owner's SFU without the floor being given
/// again, until the host, resumed too, ends the turn there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn when_the_owner_is_killed_members_offer_again_to_the_new_owner_and_see_and_hear_each_other()
{
    use common::media::{Party, member, publisher, receiver, run, seen_then_heard_with_the_floor};
    let chair = Participant::new("host", "主持人", Role::Host);
    let (three, mut host) = Processes::<3>::start(true, TTL, &chair).await;
    let others = three.others();
    let Processes {
        database,
        room,
        nats,
        mut nodes,
        owner,
        ..
    } = three;
    host.ok(Command::StartSession).await;

    let (m1, m2) = (member("m1"), member("m2"));
    let client = nodes[owner].connect_within(&room, &m1, FAILOVER).await;
    let mut speaker = Party::negotiate(client, publisher()).await;
    let client = nodes[others[0]].connect_within(&room, &m2, FAILOVER).await;
    let mut listener = Party::negotiate(client, receiver()).await;
    seen_then_heard_with_the_floor(&mut speaker, &mut listener, &mut host, "the owner's SFU").await;
    let granted = host
        .until("the floor is given", |e| {
            matches!(e.body, EventBody::TurnStarted { .. })
        })
        .await;
    let before_kill = host.through;

    nodes[owner].kill();
    let killed = Instant::now();
    let new_owner = loop {
        if let Some(holder) = lease_holder_on(&nats.url(), &room).await
            && let Some(at) = others.into_iter().find(|at| nodes[*at].name == holder)
        {
            break at;
        }
        assert!(
            killed.elapsed() < FAILOVER,
            "no survivor took the room within {FAILOVER:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Every connection to the room ends: at once on the dead node, once its relay
    // notices elsewhere. The bots' peers to the dead SFU hear nothing more.
    for client in [&mut host, &mut speaker.client, &mut listener.client] {
        tokio::time::timeout(FAILOVER, async { while client.recv().await.is_some() {} })
            .await
            .expect("the connection to the killed owner's room ends");
    }
    // Everyone resumes exactly on a survivor; the bots offer again with new peers.
    let host_at = if owner == 0 { new_owner } else { 0 };
    let mut host = nodes[host_at]
        .resume_within(&room, &chair, Some(host.resume_point()), FAILOVER)
        .await;
    assert!(!host.resynced(), "the host resumed exactly");
    let relay = others.into_iter().find(|at| *at != new_owner).unwrap();
    let client = nodes[relay]
        .resume_within(&room, &m1, Some(speaker.client.resume_point()), FAILOVER)
        .await;
    let mut speaker = speaker.offer_again(client, publisher()).await;
    let client = nodes[others[0]]
        .resume_within(&room, &m2, Some(listener.client.resume_point()), FAILOVER)
        .await;
    let mut listener = listener.offer_again(client, receiver()).await;
    assert!(
        killed.elapsed() < FAILOVER,
        "the clients resumed after {:?}",
        killed.elapsed()
    );

    // Seen and heard through the new owner's SFU: the speaker's turn goes on there.
    {
        let mut all = [&mut speaker, &mut listener];
        common::media::until(
            "m2 sees and hears m1 through the new owner's SFU, its turn going on",
            &mut all,
            1,
            |s| {
                s.video_packets_received > 30
                    && s.video_keyframes_received > 0
                    && s.audio_packets_received > 25
            },
        )
        .await;
        let state = all[1]
            .state
            .clone()
            .expect("a media_state from the new owner");
        assert_eq!(state.heard[0].0, "m1", "{state:?}");
    }
    // The host ends the turn on the new owner: its SFU silences the speaker, who stays
    // in the grid.
    let ended = host.ok(Command::EndTurn).await.unwrap();
    listener.client.through(ended).await;
    {
        let mut all = [&mut speaker, &mut listener];
        // Let what was in flight land, then count.
        run(&mut all, Duration::from_millis(300)).await;
        let before = all[1].peer.stats();
        run(&mut all, Duration::from_millis(1500)).await;
        let after = all[1].peer.stats();
        assert_eq!(
            after.audio_packets_received, before.audio_packets_received,
            "m1 is heard through the new owner's SFU after the turn ended"
        );
        assert!(
            after.video_packets_received > before.video_packets_received + 20,
            "m1 stays in the grid"
        );
    }
    assert_eq!(
        lease_holder_on(&nats.url(), &room).await.as_deref(),
        Some(nodes[new_owner].name.as_str()),
        "the room stayed on the new owner"
    );
    // The record went on from the old owner's events: one chain, with one turn, given
    // on the old owner and ended on the new.
    let record = record_of(&database, &room).await;
    assert!(record.len() as u32 >= ended);
    let seqs = |pred: fn(&EventBody) -> bool| -> Vec<u32> {
        record
            .iter()
            .filter(|e| pred(&e.event.body))
            .map(|e| e.event.seq)
            .collect()
    };
    assert_eq!(
        seqs(|b| matches!(b, EventBody::TurnStarted { .. })),
        [granted.seq],
        "the floor was given once"
    );
    let ends = seqs(|b| matches!(b, EventBody::TurnEnded { .. }));
    assert!(
        matches!(ends[..], [end] if end > before_kill && end <= ended),
        "the turn ended once, on the new owner: {ends:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn an_owner_paused_past_its_lease_cannot_append_when_it_wakes_and_steps_down() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let room = cluster_room(&database).await;
    let nodes = [
        ProcessNode::start(&unique("a"), &database).await,
        ProcessNode::start(&unique("b"), &database).await,
    ];
    let host = Participant::new("host", "主持人", Role::Host);

    let (owner, mut old) = owner_of(&[&nodes[0], &nodes[1]], &room, &host).await;
    let (a, b) = (&nodes[owner], &nodes[1 - owner]);
    old.ok(Command::OpenCheckIn).await;
    let last = old.ok(Command::StartSession).await.unwrap();

    // a freezes; a command reaches it while it is frozen.
    a.signal("-STOP");
    let late = old.req();
    old.send_with(late.clone(), Command::PauseSession).await;

    // b takes the room after the TTL and goes on.
    let mut new = b.connect_within(&room, &host, FAILOVER * 3).await;
    assert_eq!(new.welcome.snapshot.as_ref().unwrap().seq, last);
    assert_eq!(new.ok(Command::PauseSession).await, Some(last + 1));

    // a wakes: the command it held is never acknowledged (its append is fenced, or it
    // finds its lease gone first), and its connection is closed to resume elsewhere.
    a.signal("-CONT");
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(msg) = old.recv().await {
            match msg {
                ServerMessage::Ack(ack) if ack.req == late => return Some(ack.seq),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("a closed the stale connection");
    assert_eq!(answered, None, "a stale owner acknowledged a command");

    // a is alive and no longer serves the room: b does, and a relays to it; the record
    // is b's and verifies.
    assert_eq!(lease_holder(&room).await.as_deref(), Some(b.name.as_str()));
    let member = Participant::new("m1", "张委员", Role::Member);
    let mut m = a.connect_within(&room, &member, FAILOVER).await;
    assert!(m.welcome.snapshot.as_ref().unwrap().seq > last);
    let resumed = new.ok(Command::ResumeSession).await.unwrap();
    m.through(resumed).await;
    let record = record_of(&database, &room).await;
    assert_eq!(record.len() as u32, resumed);
}

/// Bring the viewer `v` of `node` through `seq`. Told to go meanwhile, it joins again
/// (from a snapshot, as the web client does), on the same node.
async fn catch_up(
    node: &TestServer,
    link: &str,
    mut v: Client,
    seq: yishi_protocol::Seq,
) -> Client {
    while v.through < seq {
        if v.recv().await.is_none() {
            let resume = yishi_protocol::Resume {
                session: v.welcome.session.clone(),
                last_seq: v.through,
            };
            v = join(node, link, Some(resume)).await;
        }
    }
    v
}

/// Connect to `node`, retrying while the room is being started or moved.
async fn join(node: &TestServer, token: &str, resume: Option<yishi_protocol::Resume>) -> Client {
    let started = Instant::now();
    loop {
        match Client::connect(node.addr, token, resume.clone()).await {
            Ok(client) => return client,
            Err(e) if e.code == ErrorCode::Unavailable => {}
            Err(e) => panic!("refused: {e:?}"),
        }
        assert!(started.elapsed() < FAILOVER, "no node serves the room");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn a_consultation_runs_across_three_nodes_and_resumes_when_its_owner_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (names, nodes, keys) =
        three_nodes(&common::database(Backend::Postgres, dir.path()).await).await;
    let room = unique("r");
    nodes[0].create_room(&room, "三节点协商").await;
    let link = keys.mint(&Claims::audience_link(
        &room,
        yishi::hub::now(),
        Duration::from_secs(3600),
    ));

    // The host on the first node, a member on each of the others, a viewer on each.
    let people = [
        (0, Participant::new("host", "主持人", Role::Host)),
        (1, Participant::new("m1", "张委员", Role::Member)),
        (2, Participant::new("m2", "李委员", Role::Member)),
    ];
    let mut clients = Vec::new();
    for (at, who) in &people {
        let token = nodes[*at].token(&room, who);
        clients.push((*at, token.clone(), join(&nodes[*at], &token, None).await));
    }
    for (at, node) in nodes.iter().enumerate() {
        clients.push((at, link.clone(), join(node, &link, None).await));
    }
    // The host is told of the viewers of all three nodes, summed, and sees both members
    // arrive, wherever they came in.
    host_sees_viewers(&mut clients[0].2, 3).await;
    for id in ["m1", "m2"] {
        let joined = |e: &yishi_protocol::Event| matches!(&e.body, EventBody::Joined { participant } if participant.id.0 == id);
        clients[0].2.until("the member is present", joined).await;
    }
    let request = Command::RequestFloor {
        kind: yishi_protocol::EntryKind::Impromptu,
        speaker: None,
        replying_to: None,
    };
    clients[0].2.ok(Command::OpenCheckIn).await;
    clients[0].2.ok(Command::StartSession).await;
    clients[1].2.ok(request.clone()).await;
    clients[2].2.ok(request).await;
    clients[0].2.grant_next().await;
    clients[5]
        .2
        .ok(Command::AskQuestion {
            text: "第三个节点上的观众提问".into(),
        })
        .await;
    // A member on the second node votes: the host on the first and the member on the
    // third see the same running tally.
    clients[0]
        .2
        .ok(Command::CreatePoll {
            spec: open_vote("是否同意设立社区议事日？"),
        })
        .await;
    clients[0]
        .2
        .ok(Command::OpenPoll {
            poll: yishi_protocol::PollId(1),
        })
        .await;
    clients[1].2.ok(ballot(yishi_protocol::YesNo::Yes)).await;
    for i in [0, 2] {
        assert_eq!(binding_tally(&mut clients[i].2, 1).await, [1, 0, 0]);
    }
    let last = clients[0].2.ok(Command::PauseSession).await.unwrap();
    // Everyone gets everything of their view, in order (the client checks that each
    // batch follows the one before); each view is the same on every node.
    for (_, _, client) in &mut clients {
        client.through(last).await;
    }
    // From when the last of them joined; a voter's own ballot reaches only them.
    let all_in = clients[5].2.welcome.snapshot.as_ref().unwrap().seq;
    let seqs = |c: &Client| {
        c.events
            .iter()
            .filter(|e| !matches!(e.body, EventBody::BallotCast { .. }))
            .map(|e| e.seq)
            .filter(|s| *s > all_in)
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&clients[1].2), seqs(&clients[2].2), "members' views");
    assert_eq!(seqs(&clients[3].2), seqs(&clients[4].2), "audience views");
    assert!(
        clients[3].2.events.iter().any(|e| e.seq == last),
        "the audience sees the session paused"
    );

    // The owner leaves: every client is told to go; each comes back, to its node or to
    // another if its node was the owner, and resumes.
    let holder = lease_holder(&room).await.unwrap();
    let owner = names.iter().position(|n| *n == holder).unwrap();
    nodes[owner].state.hub.shutdown().await;
    let mut back = Vec::new();
    for (at, token, mut client) in clients {
        while client.recv().await.is_some() {}
        let at = if at == owner { (owner + 1) % 3 } else { at };
        let resume = yishi_protocol::Resume {
            session: client.welcome.session.clone(),
            last_seq: client.through,
        };
        let mut again = join(&nodes[at], &token, Some(resume)).await;
        if client.welcome.view != yishi_protocol::View::Audience {
            // Members and the host resume exactly on the new owner.
            assert!(
                again.welcome.snapshot.is_none(),
                "resumed, not resynchronised"
            );
        }
        again.events = client.events;
        back.push(again);
    }
    let resumed = back[0].ok(Command::ResumeSession).await.unwrap();
    for client in &mut back {
        client.through(resumed).await;
    }
    let member = seqs(&back[1]);
    assert_eq!(member, seqs(&back[2]), "members' views after the move");
    assert!(member.windows(2).all(|w| w[0] < w[1]), "no event twice");
    assert_eq!(member.last(), Some(&resumed));
    let record = nodes[(owner + 1) % 3]
        .state
        .store
        .load(&room)
        .await
        .unwrap()
        .entries;
    yishi::room::verify_chain(&record).unwrap();
    for node in &nodes {
        node.state.hub.shutdown().await;
    }
}

/// A nats-server of the test's own, with JetStream, that it can stop and start again on
/// the same port and store.
struct OwnNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnNats {
    fn start() -> OwnNats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = OwnNats {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        nats.restart();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let bin = yishi_testkit::nats_server().expect("nats-server is installed");
        let child = Process::new(bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js"])
            .args(["-sd", &self.dir.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn when_nats_restarts_relayed_clients_resume_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let mut nats = OwnNats::start();
    let names = [unique("a"), unique("b")];
    let a = node_on(&nats.url(), &names[0], &database, None).await;
    let keys = a.state.config.auth.token_keys.clone();
    let b = node_on(&nats.url(), &names[1], &database, Some(&keys)).await;
    let nodes = [&a, &b];
    let room = unique("r");
    a.create_room(&room, "消息总线重启").await;
    let host = Participant::new("host", "主持人", Role::Host);
    let member = Participant::new("m1", "张委员", Role::Member);
    let mut h = join(&a, &a.token(&room, &host), None).await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;
    // The member on the node that does not own the room: relayed.
    let holder = {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        yishi::bus::Leases::open(
            &js,
            yishi::bus::LEASE_BUCKET,
            NodeId::new("observer").unwrap(),
            Duration::from_secs(2),
        )
        .await
        .unwrap()
        .holder(&room)
        .await
        .unwrap()
        .unwrap()
    };
    let owner = names.iter().position(|n| *n == holder).unwrap();
    let other = 1 - owner;
    let token = nodes[other].token(&room, &member);
    let mut m = join(nodes[other], &token, None).await;
    let before = m
        .ok(Command::SendChat {
            text: "总线重启之前".into(),
        })
        .await
        .unwrap();
    // The audience: a viewer on the owner, two on the other node's mirror, one of whom
    // asks a question (acknowledged once the owner committed it).
    let link = keys.mint(&Claims::audience_link(
        &room,
        yishi::hub::now(),
        Duration::from_secs(3600),
    ));
    let mut viewers = Vec::new();
    for at in [owner, other, other] {
        viewers.push((at, join(nodes[at], &link, None).await));
    }
    eventually("the other node mirrors its two viewers", || {
        nodes[other].state.hub.mirrored() == [(room.clone(), 2)]
    })
    .await;
    let question = "总线重启之前的提问";
    let asked = viewers[2]
        .1
        .ok(Command::AskQuestion {
            text: question.into(),
        })
        .await
        .unwrap();

    // NATS goes away and comes back: the relay cannot know what it missed, so its
    // client is told to resume.
    nats.kill();
    let cut = Instant::now();
    while m.recv().await.is_some() {}
    assert!(cut.elapsed() < FAILOVER, "{:?}", cut.elapsed());
    // Meanwhile the nodes say they are not ready, so a load balancer sends clients
    // elsewhere; once NATS is back, they are again.
    let ready = |node: &TestServer| {
        let url = node.url("/readyz");
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        ready(&a).await,
        (
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "not connected to NATS".to_owned()
        )
    );
    nats.restart();
    let back = Instant::now();
    while ready(&a).await.0 != reqwest::StatusCode::OK {
        assert!(
            back.elapsed() < FAILOVER,
            "not ready again after NATS came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The member resumes, on the same node, exactly; the room goes on.
    let resume = yishi_protocol::Resume {
        session: m.welcome.session.clone(),
        last_seq: m.through,
    };
    let mut m = join(nodes[other], &token, Some(resume)).await;
    let after = m
        .ok(Command::SendChat {
            text: "总线重启之后".into(),
        })
        .await
        .unwrap();
    assert!(after > before);
    let mut h = join(&a, &a.token(&room, &host), None).await;
    h.through(after).await;

    // The host approves the question asked before the restart. Every viewer (told to go
    // meanwhile, or resynchronised, and joining again as the web client does) catches up
    // with contiguous batches and sees it; a mirrored viewer's command goes through again.
    let id = h
        .welcome
        .snapshot
        .as_ref()
        .unwrap()
        .questions
        .iter()
        .find(|q| q.text == question)
        .expect("the acknowledged question survived the restart")
        .id;
    let approved = h
        .ok(Command::ModerateQuestion {
            question: id,
            decision: Decision::Approve,
        })
        .await
        .unwrap();
    let mut caught_up = Vec::new();
    for (at, v) in viewers {
        let v = catch_up(nodes[at], &link, v, approved).await;
        let shown = v.events.iter().any(|e| {
            e.seq == approved
                && matches!(&e.body, EventBody::QuestionApproved { question: q } if q.text == question)
        }) || v.welcome.snapshot.as_ref().is_some_and(|s| {
            s.seq >= approved
                && s.questions
                    .iter()
                    .any(|q| q.text == question && q.status == ItemStatus::Approved)
        });
        assert!(shown, "a viewer on node {at} does not see the approval");
        caught_up.push((at, v));
    }
    let again = "总线重启之后的提问";
    let asked_again = caught_up[2]
        .1
        .ok(Command::AskQuestion { text: again.into() })
        .await
        .unwrap();
    assert!(asked_again > approved);

    let record = nodes[0].state.store.load(&room).await.unwrap().entries;
    yishi::room::verify_chain(&record).unwrap();
    let said: Vec<_> = record
        .iter()
        .filter_map(|e| match &e.event.body {
            yishi_protocol::EventBody::ChatSent { message } => Some(message.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(said, ["总线重启之前", "总线重启之后"]);
    let asked_in_record: Vec<_> = record
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::QuestionAsked { question } => Some((e.event.seq, question.text.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(asked_in_record, [(asked, question), (asked_again, again)]);
    let approvals = record
        .iter()
        .filter(|e| matches!(e.event.body, EventBody::QuestionApproved { .. }))
        .count();
    assert_eq!(approvals, 1);
    drop(caught_up);
    drop(h);
    for node in nodes {
        node.state.hub.shutdown().await;
    }
}

/// The admin API works on any node: a node that does not run the room asks its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn the_admin_api_of_any_node_reaches_the_rooms_owner() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let a = node(&unique("a"), &database, None).await;
    let b = node(
        &unique("b"),
        &database,
        Some(&a.state.config.auth.token_keys),
    )
    .await;
    let room = unique("r");
    a.create_room(&room, "跨节点管理").await;
    let host = Participant::new("host", "主持人", Role::Host);
    let mut h = join(&a, &a.token(&room, &host), None).await;
    let opened = h.ok(Command::StartSession).await.unwrap();
    let other = if a.runs(&room) { &b } else { &a };
    assert!(!other.runs(&room));
    // (Each in-process node has an admin key of its own here.)
    let http = reqwest::Client::new();
    let attendance: serde_json::Value = http
        .get(other.url(&format!("/api/v1/rooms/{room}/attendance")))
        .bearer_auth(other.admin_key())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(attendance["seq"].as_u64().unwrap() >= u64::from(opened));
    assert!(
        attendance.to_string().contains("host"),
        "the owner's view names the host: {attendance}"
    );
    let closed: serde_json::Value = http
        .post(other.url(&format!("/api/v1/rooms/{room}/close")))
        .bearer_auth(other.admin_key())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed["closed"], true, "{closed}");
    h.until("the session closed", |e| {
        matches!(
            e.body,
            yishi_protocol::EventBody::SessionChanged {
                state: yishi_protocol::SessionState::Closed
            }
        )
    })
    .await;
    assert!(!other.runs(&room), "the other node never ran the room");
    a.state.hub.shutdown().await;
    b.state.hub.shutdown().await;
}

/// Wait, polling, until `ok` holds; fail after a generous deadline.
async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < Duration::from_secs(60), "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The binding counts of poll 1 in the first tally `client` is sent with `turnout`
/// binding ballots.
async fn binding_tally(client: &mut Client, turnout: u32) -> Vec<u32> {
    loop {
        if let Some(tally) = client
            .tallies
            .iter()
            .find(|t| t.poll == yishi_protocol::PollId(1) && t.turnout_binding == turnout)
        {
            let results = tally.results.as_ref().expect("a running tally");
            return results
                .binding
                .as_ref()
                .expect("binding counts")
                .counts
                .clone();
        }
        client.recv().await.expect("tallies");
    }
}

/// The viewer count the host is sent, once it is `count`.
async fn host_sees_viewers(host: &mut Client, count: u32) {
    loop {
        if let Some(ServerMessage::Viewers { count: n }) = host.recv().await
            && n == count
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn viewers_join_a_running_mirror_without_looking_the_lease_up() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let (names, nodes, keys) =
        three_nodes(&common::database(Backend::Postgres, dir.path()).await).await;
    let (room, link) = lecture(&nodes[0], &keys, "大讲堂").await;
    let host = Participant::new("host", "主讲人", Role::Host);
    drop(join(&nodes[0], &nodes[0].token(&room, &host), None).await);
    let holder = lease_holder(&room).await.unwrap();
    let other = names.iter().position(|n| *n != holder).unwrap();

    // The first viewer starts the mirror (its welcome waits for the owner's snapshot).
    let mut viewers = vec![join(&nodes[other], &link, None).await];
    assert_eq!(nodes[other].state.hub.mirrored(), [(room.clone(), 1)]);

    // Every lookup of the room's lease (a failed acquire reads the key twice, the
    // holder once more), as NATS carries it.
    let nats = std::env::var("YISHI_TEST_NATS").unwrap();
    let observer = async_nats::connect(&nats).await.unwrap();
    let key = yishi::bus::room_key(&room);
    let mut lookups = observer
        .subscribe(format!(
            "$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.{key}",
            bucket = yishi::bus::LEASE_BUCKET
        ))
        .await
        .unwrap();
    observer.flush().await.unwrap();
    const MORE: usize = 20;
    for _ in 0..MORE {
        viewers.push(join(&nodes[other], &link, None).await);
    }
    assert_eq!(
        nodes[other].state.hub.mirrored(),
        [(room.clone(), MORE + 1)]
    );
    let mut seen = 0;
    while tokio::time::timeout(Duration::from_millis(300), lookups.next())
        .await
        .is_ok_and(|m| m.is_some())
    {
        seen += 1;
    }
    // Every join looked twice before (40 for 20); the sweeper of a node that rendezvous
    // gives the room to looks three times every half TTL, so a slow machine may see a
    // few sweeps meanwhile: fewer than one lookup per join is the bound.
    assert!(
        seen < MORE,
        "{seen} lease lookups for {MORE} viewers joining a running mirror"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn a_lecture_audience_on_three_nodes_is_served_by_one_mirror_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let (names, nodes, keys) =
        three_nodes(&common::database(Backend::Postgres, dir.path()).await).await;
    let (room, link) = lecture(&nodes[0], &keys, "大讲堂").await;

    // The host on the room's owner (the node its first connection, or the sweeper,
    // gave it to).
    let host = Participant::new("host", "主讲人", Role::Host);
    let host_token = nodes[0].token(&room, &host);
    drop(join(&nodes[0], &host_token, None).await);
    let holder = lease_holder(&room).await.unwrap();
    let owner = names.iter().position(|n| *n == holder).unwrap();
    let others = [(owner + 1) % 3, (owner + 2) % 3];
    let mut h = join(&nodes[owner], &host_token, None).await;
    h.ok(Command::OpenCheckIn).await;

    // Three viewers on every node.
    let mut viewers = Vec::new();
    for at in [owner, others[0], others[1]] {
        for _ in 0..3 {
            viewers.push((at, join(&nodes[at], &link, None).await));
        }
    }
    // Each other node serves its viewers from one mirror; the owner has no connection
    // of theirs, and counts them all.
    for at in others {
        assert_eq!(nodes[at].state.hub.mirrored(), [(room.clone(), 3)]);
    }
    assert_eq!(nodes[owner].state.hub.relayed_here(), 0);
    host_sees_viewers(&mut h, 9).await;

    // Every viewer gets every audience event, in order (the client checks each batch
    // follows the last), the same on every node.
    h.ok(Command::StartSession).await;
    h.ok(Command::PauseSession).await;
    let last = h.ok(Command::ResumeSession).await.unwrap();
    for (_, v) in &mut viewers {
        v.through(last).await;
    }
    let all_in = viewers
        .iter()
        .map(|(_, v)| v.welcome.snapshot.as_ref().unwrap().seq)
        .max()
        .unwrap();
    let seen = |v: &Client| {
        v.events
            .iter()
            .filter(|e| e.seq > all_in)
            .cloned()
            .collect::<Vec<_>>()
    };
    let expected = seen(&viewers[0].1);
    assert!(expected.iter().any(|e| e.seq == last));
    for (_, v) in &viewers {
        assert_eq!(seen(v), expected, "the same audience events on every node");
    }

    // A question from a mirrored viewer is acknowledged; once approved, all see it.
    let text = "镜像节点的观众提问";
    let asker = viewers.len() - 1;
    viewers[asker].1.ask_approved(&mut h, text).await;
    let marker = h.ok(Command::PauseSession).await.unwrap();
    for (_, v) in &mut viewers {
        v.through(marker).await;
        assert!(
            v.events
                .iter()
                .any(|e| serde_json::to_string(&e.body).unwrap().contains(text)),
            "the approved question is shown"
        );
    }

    // A broadcast lost on the way to one node (NATS delivers at most once): its mirror
    // sees the gap at the next one and fills it from the stream of broadcasts first, so
    // its viewers get the missing events as events, in order, without a snapshot.
    let welcomed: Vec<_> = viewers.iter().map(|(_, v)| v.welcome.server_time).collect();
    assert!(nodes[others[0]].state.hub.lose_next_broadcast_here(&room));
    let lost = h.ok(Command::ResumeSession).await.unwrap();
    let after = h.ok(Command::PauseSession).await.unwrap();
    for ((_, v), welcomed) in viewers.iter_mut().zip(welcomed) {
        v.through(after).await;
        assert!(v.events.iter().any(|e| e.seq == lost), "got it as an event");
        assert_eq!(v.welcome.server_time, welcomed, "not resynchronised");
    }

    // A broadcast the owner never published (as if it died between the commit and the
    // broadcast; the stream does not have it either): the mirrors see the gap at the
    // next one and resynchronise their viewers from a snapshot; nobody sees a batch out
    // of order.
    nodes[owner].state.hub.lose_next_broadcast(&room).await;
    let lost = h.ok(Command::ResumeSession).await.unwrap();
    let after = h.ok(Command::PauseSession).await.unwrap();
    for (at, v) in &mut viewers {
        v.through(after).await;
        let got_lost = v.events.iter().any(|e| e.seq == lost);
        assert_eq!(
            got_lost,
            *at == owner,
            "only the owner's viewers got it as an event"
        );
    }

    // The owner shuts down: every viewer is told to come back, and comes back on the
    // nodes left, where the room goes on.
    nodes[owner].state.hub.shutdown().await;
    let mut back = Vec::new();
    for (at, mut v) in viewers {
        while v.recv().await.is_some() {}
        let at = if at == owner { others[0] } else { at };
        let resume = yishi_protocol::Resume {
            session: v.welcome.session.clone(),
            last_seq: v.through,
        };
        back.push((at, join(&nodes[at], &link, Some(resume)).await));
    }
    while h.recv().await.is_some() {}
    let mut h = join(&nodes[others[0]], &host_token, None).await;
    let resumed = h.ok(Command::ResumeSession).await.unwrap();
    for (_, v) in &mut back {
        v.through(resumed).await;
        assert!(v.events.iter().any(|e| e.seq == resumed));
    }
    // The node that took the room published its committed tail again: the broadcast
    // the old owner never published is in the stream now, for mirrors to fill from.
    let holder = lease_holder(&room).await.unwrap();
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
    let subject = format!(
        "yishi.room.{}.audience.e.{lost}",
        yishi::bus::room_key(&room)
    );
    let kept = js
        .get_stream("YISHI_AUDIENCE")
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("the lost broadcast, published again");
    assert_eq!(kept.headers.get("Yishi-Node").unwrap().as_str(), holder);
    // The node that did not take the room serves its viewers from a mirror.
    let new_owner = names.iter().position(|n| *n == holder).unwrap();
    let mirroring = others.into_iter().find(|at| *at != new_owner).unwrap();
    let there = back.iter().filter(|(at, _)| *at == mirroring).count();
    eventually("the node left mirrors the room", || {
        nodes[mirroring].state.hub.mirrored() == [(room.clone(), there)]
    })
    .await;
    for at in others {
        nodes[at].state.hub.shutdown().await;
    }
}

/// Whether `event` is the comment `text` pending moderation, posted by `author`.
fn pending_comment(event: &yishi_protocol::Event, author: &ParticipantId, text: &str) -> bool {
    matches!(&event.body, EventBody::CommentPosted { comment }
        if comment.status == ItemStatus::Pending && comment.author == *author && comment.text == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn a_mirrored_viewer_sees_its_own_pending_comment_and_its_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let a = node(&unique("a"), &database, None).await;
    let keys = a.state.config.auth.token_keys.clone();
    let b = node(&unique("b"), &database, Some(&keys)).await;
    let (room, link) = lecture(&a, &keys, "审核讲堂").await;

    // The host on the room's owner (comments are held for moderation by default), two
    // viewers on the other node, served by its mirror.
    let host = Participant::new("host", "主讲人", Role::Host);
    let host_token = a.token(&room, &host);
    drop(join(&a, &host_token, None).await);
    let (owner, other) = if a.runs(&room) { (&a, &b) } else { (&b, &a) };
    let mut h = join(owner, &host_token, None).await;
    h.ok(Command::StartSession).await;
    let mut author = join(other, &link, None).await;
    let mut bystander = join(other, &link, None).await;
    eventually("the other node mirrors both viewers", || {
        other.state.hub.mirrored() == [(room.clone(), 2)]
    })
    .await;
    assert_eq!(owner.state.hub.relayed_here(), 0);
    let me = author.welcome.you.id.clone();
    assert_ne!(me, bystander.welcome.you.id);

    // Its author sees the comment pending by the time it is acknowledged (the mirror
    // holds the acknowledgement until it has sent the broadcast it follows).
    let text = "镜像节点上待审的评论";
    let posted = author
        .ok(Command::PostComment { text: text.into() })
        .await
        .unwrap();
    assert!(author.through >= posted);
    let pending: Vec<_> = author
        .events
        .iter()
        .filter(|e| pending_comment(e, &me, text))
        .collect();
    assert_eq!(pending.len(), 1, "{:?}", author.events);
    assert_eq!(pending[0].seq, posted);
    let EventBody::CommentPosted { comment } = &pending[0].body else {
        unreachable!()
    };
    let rejected = comment.id;

    // The host sees it and rejects it with a reason: the author is told why.
    h.until("the host sees the comment", |e| {
        pending_comment(e, &me, text)
    })
    .await;
    let reason = RejectReason::Advertising;
    let rejection = h
        .ok(Command::ModerateComment {
            comment: rejected,
            decision: Decision::Reject { reason },
        })
        .await
        .unwrap();
    let told = author
        .until("the rejection", |e| {
            matches!(e.body, EventBody::CommentRejected { .. })
        })
        .await;
    assert_eq!(told.seq, rejection);
    assert_eq!(
        told.body,
        EventBody::CommentRejected {
            comment: rejected,
            reason
        }
    );

    // An approved comment reaches both viewers; the other viewer never saw the first
    // comment nor its rejection, and nobody missed a batch (the client checks).
    let approved_text = "镜像节点上通过的评论";
    author
        .ok(Command::PostComment {
            text: approved_text.into(),
        })
        .await;
    let asked = h
        .until("the host sees the second comment", |e| {
            pending_comment(e, &me, approved_text)
        })
        .await;
    let EventBody::CommentPosted { comment } = asked.body else {
        unreachable!()
    };
    let approval = h
        .ok(Command::ModerateComment {
            comment: comment.id,
            decision: Decision::Approve,
        })
        .await
        .unwrap();
    for v in [&mut author, &mut bystander] {
        v.through(approval).await;
        assert!(
            v.events.iter().any(|e| e.seq == approval
                && matches!(&e.body, EventBody::CommentApproved { comment } if comment.text == approved_text)),
            "the approved comment is shown: {:?}",
            v.events
        );
    }
    assert!(
        !bystander.events.iter().any(|e| matches!(
            &e.body,
            EventBody::CommentPosted { .. } | EventBody::CommentRejected { .. }
        )),
        "another viewer sees nothing pending: {:?}",
        bystander.events
    );
    // Still served from the mirror.
    assert_eq!(other.state.hub.mirrored(), [(room.clone(), 2)]);
    a.state.hub.shutdown().await;
    b.state.hub.shutdown().await;
}
