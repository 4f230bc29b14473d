//! Mirrors (镜像): in a cluster, the audience of a room another node owns is served by
//! the node it connected to, from one NATS subscription per room and node, instead of
//! each viewer being relayed to the owner (`relay.rs`, which members and hosts keep).
//!
//! - The owner publishes the audience's side of every committed turn once, on
//!   `yishi.room.<room>.audience.e.<from>` (`Yishi-Kind`: `e` events, with `Yishi-From`,
//!   `Yishi-Through` and `Yishi-At`, the commit time; `p` the same with mirrored
//!   participants' private events, see [`WithPrivate`]); and on
//!   `yishi.room.<room>.audience.o` the rest (`v` the viewer count; `f` another frame
//!   every viewer gets; `x` the room stopped here). Nothing changes on one node.
//! - The JetStream stream [`STREAM`] keeps every room's event broadcasts for
//!   [`STREAM_WINDOW`], one per subject, deduplicated by room and sequence number
//!   (`Nats-Msg-Id`). A mirror that sees a gap (NATS delivers at most once) looks up the
//!   broadcast that starts right after the last it has, then the one after that, and so
//!   on, and delivers them before anything later: its viewers see the missing events as
//!   events. Only what the stream no longer holds is made up by a snapshot. A node that
//!   takes a room publishes its committed tail again (the audience's side of each of
//!   the last [`REPUBLISHED`] events), so what the old owner committed but had not
//!   broadcast when it died is in the stream too, and a mirror that follows the new
//!   owner fills what its viewers missed from there.
//! - A node's first viewer of such a room starts its mirror (a task driving a
//!   [`MirrorCore`]): it subscribes, asks the owner for the audience snapshot (on the
//!   owner's `admin` subject), and serves every viewer of the room on this node; the
//!   mirror ends shortly after its last viewer left.
//! - Every second the mirror tells the owner how many viewers it serves (the owner counts
//!   them for 3 s) and hears back the `through` of the last broadcast: a last broadcast
//!   lost is noticed there; an owner that says it no longer runs the room ends the
//!   mirror. An owner that does not answer three heartbeats in a row, or leaves the
//!   cluster, is taken for gone: the mirror keeps its viewers, looks up the room's lease
//!   every second, and follows the node that takes the room (a failover), resynchronising
//!   every viewer from its snapshot without their connections ending; if no node has
//!   taken the room within three lease TTLs, it ends. A new viewer is welcomed once
//!   the owner has answered a heartbeat sent after it came (one is sent at once for it
//!   if the owner answered the last): a mirror that still follows a dead owner does not
//!   welcome viewers only to send them away a moment later.
//! - A viewer's command goes to the owner as a request naming the viewer; the owner
//!   applies it as that viewer, and the answer is sent once the broadcast it follows has
//!   been.
//!
//! A mirror ending tells its viewers "unavailable" (reconnect and resume): they come
//! back through the normal path, to the room's new owner or a mirror of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use yishi_protocol::{
    ErrorCode, ErrorMessage, Millis, Participant, ParticipantId, Seq, ServerMessage,
};

use super::actor::{Msg, RoomHandle};
use super::core::frame;
use super::core::{Broadcast, ConnId, Input};
use super::mirror_core::{Following, MirrorCore, Next, Published, Snapshot};
use super::now;
use super::relay::{AdminReply, MirrorAsk, Relays};
use crate::auth;
use crate::bus::Leases;
use crate::bus::{NodeId, room_key};

/// How often a mirror tells the owner its viewers (and hears from it).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a snapshot may take.
const FETCH_WAIT: Duration = Duration::from_secs(3);
/// How long a viewer's command may take (a secret ballot waits for its batch).
const COMMAND_WAIT: Duration = Duration::from_secs(30);
/// The most viewers' commands a mirror holds while its room has no owner to take them;
/// past it they are answered "unavailable" (the client retries).
const WAITING_COMMANDS: usize = 4096;
/// How often viewers that fell behind are looked at.
const CATCH_UP: Duration = Duration::from_millis(100);
/// The least a mirror whose owner is gone waits for the room's next owner (three lease
/// TTLs if longer).
const ORPHANED_AT_LEAST: Duration = Duration::from_secs(10);
/// How long after its owner last answered (a heartbeat, a snapshot) a mirror takes new
/// viewers without the lease being looked up: well under a lease's TTL, so a viewer is
/// never sent to a mirror of an owner that could have lost the room long ago (and one
/// that did is ended, its viewers told to come back, as for the viewers already there).
const FRESH: Duration = Duration::from_secs(2);

const KIND: &str = "Yishi-Kind";
const FROM: &str = "Yishi-From";
const THROUGH: &str = "Yishi-Through";
const AT: &str = "Yishi-At";
/// The node that published a broadcast: a mirror heeds its owner's only (an old owner
/// that wakes after its lease moved may still announce that it stops).
const NODE: &str = "Yishi-Node";

/// The payload of a `p` broadcast: the audience's events (`null` if none of the batch is
/// shown to the audience as such) and, per mirrored participant, its private events in
/// full (a pending item of its own, its rejection, its own ballot). An `e` broadcast
/// (no private events) carries the audience's events alone, as they are.
#[derive(serde::Serialize, serde::Deserialize)]
struct WithPrivate {
    events: Option<Box<serde_json::value::RawValue>>,
    private: Vec<(ParticipantId, Box<serde_json::value::RawValue>)>,
}

/// The JetStream stream that keeps the event broadcasts of every room.
pub(crate) const STREAM: &str = "YISHI_AUDIENCE";
/// How long the stream keeps a broadcast (and remembers its id, so that one published
/// again within it is stored once).
pub(crate) const STREAM_WINDOW: Duration = Duration::from_secs(120);
/// The most the stream keeps, over every room; past it the oldest go first.
const STREAM_BYTES: i64 = 64 << 20;
/// How many of its last events a node publishes again when it takes a room.
pub(crate) const REPUBLISHED: usize = 256;
/// The most broadcasts one fill looks up (what is left is the next gap's, or a
/// snapshot's).
const FILL_AT_MOST: usize = 1024;

/// Open the stream of event broadcasts, creating it if need be. On file: a NATS restart,
/// when mirrors are most likely to have missed something, does not empty it.
pub(crate) async fn open_stream(
    client: &async_nats::Client,
) -> Result<async_nats::jetstream::stream::Stream, String> {
    use async_nats::jetstream::stream;
    let js = async_nats::jetstream::new(client.clone());
    let config = stream::Config {
        name: STREAM.to_owned(),
        subjects: vec!["yishi.room.*.audience.e.*".to_owned()],
        storage: stream::StorageType::File,
        max_age: STREAM_WINDOW,
        duplicate_window: STREAM_WINDOW,
        max_messages_per_subject: 1,
        max_bytes: STREAM_BYTES,
        discard: stream::DiscardPolicy::Old,
        num_replicas: 1,
        ..Default::default()
    };
    let opened = js
        .get_or_create_stream(config.clone())
        .await
        .map_err(|e| format!("the stream {STREAM}: {e}"))?;
    // One made by hand, or by another version, is kept as it is: say so.
    let found = &opened.cached_info().config;
    if (found.subjects.as_slice(), found.storage, found.max_age)
        != (config.subjects.as_slice(), config.storage, config.max_age)
    {
        tracing::warn!(
            stream = STREAM,
            subjects = ?found.subjects,
            storage = ?found.storage,
            max_age = ?found.max_age,
            "the stream of audience broadcasts has other settings than this node would give it; \
             mirrors may resynchronise viewers from snapshots more often"
        );
    }
    Ok(opened)
}

/// Every subject a room's audience broadcast goes on, for a mirror's subscription.
fn subjects(room: &str) -> String {
    format!("yishi.room.{}.audience.>", room_key(room))
}

/// The subject of the event broadcast of `room` that starts at `from` (kept in the
/// stream under it).
fn events_subject(room: &str, from: Seq) -> String {
    format!("yishi.room.{}.audience.e.{from}", room_key(room))
}

/// A broadcast of `room` as a NATS message published by `node`: its subject, headers
/// and payload.
pub(crate) fn publication(
    item: Broadcast,
    room: &str,
    node: &NodeId,
) -> (String, HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert(NODE, node.as_str());
    let mut subject = format!("yishi.room.{}.audience.o", room_key(room));
    let payload = match item {
        Broadcast::Events {
            from,
            through,
            at,
            events,
            private,
        } => {
            subject = events_subject(room, from);
            let id = format!("{}:{from}", room_key(room));
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            headers.insert(FROM, from.to_string().as_str());
            headers.insert(THROUGH, through.to_string().as_str());
            headers.insert(AT, at.0.to_string().as_str());
            match (events, private.is_empty()) {
                (Some(events), true) => {
                    headers.insert(KIND, "e");
                    Bytes::from(String::from(Box::<str>::from(events)))
                }
                (events, _) => {
                    headers.insert(KIND, "p");
                    let payload = WithPrivate { events, private };
                    // Raw JSON and ids, which always serialise; were it to fail, the empty
                    // message is dropped by the mirrors, which resynchronise at the gap.
                    Bytes::from(serde_json::to_vec(&payload).unwrap_or_else(|e| {
                        tracing::error!(error = %e, "a broadcast could not be serialised");
                        Vec::new()
                    }))
                }
            }
        }
        Broadcast::Viewers(text) => {
            headers.insert(KIND, "v");
            Bytes::copy_from_slice(text.as_bytes())
        }
        Broadcast::Frame(text) => {
            headers.insert(KIND, "f");
            Bytes::copy_from_slice(text.as_bytes())
        }
        Broadcast::End => {
            headers.insert(KIND, "x");
            Bytes::new()
        }
    };
    (subject, headers, payload)
}

/// A broadcast received, or looked up in the stream.
pub(super) fn decode(headers: &HeaderMap, payload: &[u8]) -> Option<Published> {
    let header = |name: &str| headers.get(name).map(|v| v.as_str());
    let number = |name: &str| header(name).and_then(|v| v.parse::<u64>().ok());
    let text = || {
        std::str::from_utf8(payload)
            .ok()
            .map(|t| axum::extract::ws::Utf8Bytes::from(t.to_owned()))
    };
    let range = || {
        Some((
            Seq::try_from(number(FROM)?).ok()?,
            Seq::try_from(number(THROUGH)?).ok()?,
            Millis(number(AT)?),
        ))
    };
    Some(match header(KIND)? {
        "e" => {
            let (from, through, at) = range()?;
            Published::Events {
                from,
                through,
                at,
                events: Some(serde_json::from_slice(payload).ok()?),
                private: HashMap::new(),
            }
        }
        "p" => {
            let (from, through, at) = range()?;
            let payload: WithPrivate = serde_json::from_slice(payload).ok()?;
            Published::Events {
                from,
                through,
                at,
                events: payload.events,
                private: payload.private.into_iter().collect(),
            }
        }
        "v" => Published::Viewers(text()?),
        "f" => Published::Frame(text()?),
        "x" => Published::End,
        _ => return None,
    })
}

/// The owner's side: answer a mirror's request about `room`.
pub(crate) async fn answer(room: &RoomHandle, ask: MirrorAsk) -> AdminReply {
    match ask {
        MirrorAsk::Snapshot => match room.audience_snapshot().await {
            Some(state) => AdminReply::Audience {
                seq: state.seq,
                through: state.through,
                snapshot: state.snapshot,
                viewers: state.viewers,
            },
            None => AdminReply::NotHere,
        },
        MirrorAsk::Viewers { node, count } => match room.mirror_viewers(node, count).await {
            Some(through) => AdminReply::Heard(through),
            None => AdminReply::NotHere,
        },
        MirrorAsk::Command {
            participant,
            req,
            command,
        } => {
            metrics::counter!("yishi_forwarded_commands_total", "via" => "mirror").increment(1);
            match room.remote(participant, req, command).await {
                Some((outcome, through)) => AdminReply::Answered(outcome, through),
                None => AdminReply::NotHere,
            }
        }
    }
}

/// This node's mirrors, one per room with viewers here.
pub(crate) struct Mirrors {
    relays: Arc<Relays>,
    client: async_nats::Client,
    stream: async_nats::jetstream::stream::Stream,
    leases: Arc<Leases>,
    node: NodeId,
    rooms: Mutex<HashMap<String, Entry>>,
    next: std::sync::atomic::AtomicU64,
    losses: tokio::sync::watch::Receiver<u64>,
    /// What [`Heard`] times are counted from.
    started: std::time::Instant,
}

struct Entry {
    id: u64,
    /// The owner the mirror follows; `None` once it left the cluster. Set to the room's
    /// new owner, the mirror follows that one instead.
    owner: tokio::sync::watch::Sender<Option<NodeId>>,
    handle: RoomHandle,
    viewers: Arc<std::sync::atomic::AtomicUsize>,
    heard: Heard,
    lose: Lose,
}

/// Set, the mirror drops the next event broadcast it receives, as if NATS had lost it on
/// the way to this node (for tests: [`Mirrors::lose_next`]).
type Lose = Arc<std::sync::atomic::AtomicBool>;

/// When a mirror's owner last answered it, in milliseconds after [`Mirrors::started`]
/// plus one (0: not yet, or the mirror is ending; [`Heard::WAITING`]: its owner missed a
/// heartbeat, or is gone and it waits for the next).
#[derive(Clone)]
struct Heard(Arc<std::sync::atomic::AtomicU64>, std::time::Instant);

impl Heard {
    const WAITING: u64 = u64::MAX;

    fn now(&self) {
        let at = u64::try_from(self.1.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0
            .store(at.saturating_add(1), std::sync::atomic::Ordering::Relaxed);
    }

    fn never(&self) {
        self.0.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    fn waiting(&self) {
        self.0
            .store(Self::WAITING, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the mirror takes new viewers without the lease being looked up: its
    /// owner answered within `fresh`, or missed a heartbeat, or is gone and it waits for
    /// the next owner (a viewer is welcomed only once an owner answered; looking the
    /// lease up would only name the silent owner or the one the mirror is about to
    /// follow, and, from every viewer coming back at once after a crash, flood NATS and
    /// the node's loading lock, and have them turned away by the dead owner).
    fn takes_viewers(&self, fresh: Duration) -> bool {
        let at = self.0.load(std::sync::atomic::Ordering::Relaxed);
        let now = u64::try_from(self.1.elapsed().as_millis()).unwrap_or(u64::MAX);
        at == Self::WAITING
            || (at > 0 && now.saturating_add(1).saturating_sub(at) < fresh.as_millis() as u64)
    }
}

impl Mirrors {
    pub(crate) fn new(
        relays: Arc<Relays>,
        client: async_nats::Client,
        stream: async_nats::jetstream::stream::Stream,
        node: NodeId,
        losses: tokio::sync::watch::Receiver<u64>,
        leases: Arc<Leases>,
    ) -> Arc<Mirrors> {
        Arc::new(Mirrors {
            relays,
            client,
            stream,
            leases,
            node,
            rooms: Mutex::new(HashMap::new()),
            next: std::sync::atomic::AtomicU64::new(1),
            losses,
            started: std::time::Instant::now(),
        })
    }

    /// This node's mirror of `room` if its owner answered it within [`FRESH`], or if it
    /// waits for the room's next owner: a viewer joins it without asking the store or
    /// the lease who owns the room.
    pub(crate) fn current(&self, room: &str) -> Option<RoomHandle> {
        let rooms = self.lock();
        let entry = rooms.get(room)?;
        (!entry.handle.is_stopped() && entry.heard.takes_viewers(FRESH))
            .then(|| entry.handle.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Nothing panics while holding it; a poisoned map is still a valid map.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This node's mirror of `room`, owned by `owner`: started if there is none (a
    /// mirror of a former owner follows `owner` from now on, its viewers resynchronised).
    pub(crate) fn join(self: &Arc<Self>, room: &str, owner: NodeId) -> RoomHandle {
        let mut rooms = self.lock();
        if let Some(entry) = rooms.get(room) {
            if !entry.handle.is_stopped() {
                entry.owner.send_if_modified(|now| {
                    let moved = now.as_ref() != Some(&owner);
                    *now = Some(owner.clone());
                    moved
                });
                return entry.handle.clone();
            }
            rooms.remove(room);
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(4096);
        let viewers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let heard = Heard(Arc::new(std::sync::atomic::AtomicU64::new(0)), self.started);
        let handle = RoomHandle::on(tx);
        let (steer, steered) = tokio::sync::watch::channel(Some(owner.clone()));
        let lose = Lose::default();
        rooms.insert(
            room.to_owned(),
            Entry {
                id,
                owner: steer,
                handle: handle.clone(),
                viewers: viewers.clone(),
                heard: heard.clone(),
                lose: lose.clone(),
            },
        );
        let task = Task {
            mirrors: Arc::downgrade(self),
            relays: self.relays.clone(),
            stream: self.stream.clone(),
            lose,
            leases: self.leases.clone(),
            node: self.node.clone(),
            room: room.to_owned(),
            follow: Following::new(owner),
            waiting: Vec::new(),
            id,
            core: MirrorCore::new(),
            viewers,
            heard,
        };
        tokio::spawn(task.run(rx, steered, self.client.clone(), self.losses.clone()));
        handle
    }

    /// This node took `room`: its mirror of the room, if any, follows this node (its
    /// viewers stay on it, resynchronised; new ones join the room here directly).
    pub(crate) fn taken_here(&self, room: &str) {
        if let Some(entry) = self.lock().get(room) {
            entry.owner.send_replace(Some(self.node.clone()));
        }
    }

    /// This node's mirror of `room` drops the next event broadcast it receives, as if
    /// NATS had lost it on the way here (for tests: the stream still has it).
    pub(crate) fn lose_next(&self, room: &str) -> bool {
        let rooms = self.lock();
        let entry = rooms.get(room);
        if let Some(entry) = entry {
            entry.lose.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        entry.is_some()
    }

    /// Have mirror `id` of `room` follow `owner` (the room's new owner).
    fn steer(&self, room: &str, id: u64, owner: NodeId) {
        if let Some(entry) = self.lock().get(room).filter(|e| e.id == id) {
            entry.owner.send_replace(Some(owner));
        }
    }

    /// The rooms mirrored here, with their viewers.
    pub(crate) fn list(&self) -> Vec<(String, usize)> {
        self.lock()
            .iter()
            .filter(|(_, e)| !e.handle.is_stopped())
            .map(|(room, e)| {
                let n = e.viewers.load(std::sync::atomic::Ordering::Relaxed);
                (room.clone(), n)
            })
            .collect()
    }

    /// Tell every mirror whose owner is not in `live` that it is gone (it waits for the
    /// room's next owner), or end every one (`None`: this node stops; their viewers come
    /// back through the normal path).
    pub(crate) fn prune(&self, live: Option<&[NodeId]>) {
        let mut rooms = self.lock();
        let Some(live) = live else {
            for (_, entry) in rooms.drain() {
                entry.handle.try_stop();
            }
            return;
        };
        for entry in rooms.values() {
            entry.owner.send_if_modified(|owner| {
                let gone = owner.as_ref().is_some_and(|o| !live.contains(o));
                if gone {
                    *owner = None;
                }
                gone
            });
        }
    }

    fn forget(&self, room: &str, id: u64) {
        let mut rooms = self.lock();
        if rooms.get(room).is_some_and(|e| e.id == id) {
            rooms.remove(room);
        }
    }
}

/// A viewer's command waiting for an owner to take it, and whether it was tried once.
type Waiting = (
    ConnId,
    yishi_protocol::RequestId,
    Box<yishi_protocol::Command>,
    bool,
);

/// What the mirror's side tasks report. `generation`: asked of which owner (one that
/// was followed before is not heard).
enum Report {
    Fetched {
        generation: u64,
        snapshot: Option<Snapshot>,
    },
    /// The answer to heartbeat `n`, sent early for a new viewer (`regular` false) or not.
    Heard {
        generation: u64,
        n: u64,
        regular: bool,
        reply: Option<AdminReply>,
    },
    Answer {
        conn: ConnId,
        through: Seq,
        text: Option<axum::extract::ws::Utf8Bytes>,
    },
    /// The node holding the room's lease, looked up while the owner is gone.
    Holder(Option<String>),
    /// A forwarded command did not reach the owner (gone, or the room moved).
    Unanswered(Waiting),
    /// What the stream held of a gap.
    Filled {
        generation: u64,
        from: Seq,
        found: Vec<Published>,
    },
}

struct Task {
    mirrors: Weak<Mirrors>,
    relays: Arc<Relays>,
    stream: async_nats::jetstream::stream::Stream,
    lose: Lose,
    leases: Arc<Leases>,
    node: NodeId,
    room: String,
    /// The owner followed.
    follow: Following,
    /// Viewers' commands that came while no owner could take them (the one followed
    /// gone, or a new one not heard from yet), or that did not reach the owner once:
    /// forwarded (again) once an owner has answered, rather than sent to a dead node to
    /// time out. The request id makes a second try safe.
    waiting: Vec<Waiting>,
    id: u64,
    core: MirrorCore,
    viewers: Arc<std::sync::atomic::AtomicUsize>,
    heard: Heard,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Msg>,
        mut steered: tokio::sync::watch::Receiver<Option<NodeId>>,
        client: async_nats::Client,
        mut losses: tokio::sync::watch::Receiver<u64>,
    ) {
        metrics::gauge!("yishi_mirrors").increment(1.0);
        tracing::info!(room = %self.room, owner = %self.follow.owner(), "mirror started");
        let (reports, mut reported) = mpsc::channel::<Report>(1024);
        losses.borrow_and_update();
        match client.subscribe(subjects(&self.room)).await {
            Ok(mut broadcast) => {
                let mut fetching = false;
                // The registry can still steer this mirror to another owner.
                let mut steering = true;
                self.fetch(&reports, &mut fetching);
                let mut heartbeat = tokio::time::interval(HEARTBEAT);
                heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let lagging = self.core.lagging();
                    let next = tokio::select! {
                        msg = rx.recv() => match msg {
                            Some(Msg::Input(input)) => {
                                self.input(input, &reports);
                                Next::Nothing
                            }
                            Some(Msg::Stop) | None => Next::End,
                        },
                        changed = steered.changed(), if steering => {
                            if changed.is_ok() {
                                let owner = steered.borrow_and_update().clone();
                                match owner {
                                    // Another node took the room (a gone owner that
                                    // still holds the lease is not followed again; one
                                    // followed that was not ready yet is tried again).
                                    Some(owner) if self.follow.would_follow(&owner) => {
                                        self.adopt(owner, &reports, &mut fetching);
                                    }
                                    Some(_) => {}
                                    None => self.orphan(),
                                }
                            } else {
                                steering = false;
                            }
                            Next::Nothing
                        }
                        message = broadcast.next() => match message {
                            Some(message) if !self.sent_by_owner(&message) => Next::Nothing,
                            Some(message) => match message
                                .headers
                                .as_ref()
                                .and_then(|headers| decode(headers, &message.payload))
                            {
                                Some(Published::Events { .. })
                                    if self.lose.swap(false, std::sync::atomic::Ordering::Relaxed) =>
                                {
                                    Next::Nothing
                                }
                                Some(published) => {
                                    let (next, lag) = self.core.published(published, now());
                                    if let Some(lag) = lag {
                                        metrics::histogram!("yishi_bus_lag_seconds")
                                            .record(lag.0 as f64 / 1000.0);
                                    }
                                    next
                                }
                                None => Next::Nothing,
                            },
                            None => Next::End,
                        },
                        report = reported.recv() => match report {
                            Some(
                                Report::Fetched { generation, .. }
                                | Report::Heard { generation, .. }
                                | Report::Filled { generation, .. },
                            ) if generation != self.follow.generation() => Next::Nothing,
                            Some(Report::Filled { from, found, .. }) => self.core.filled(from, found, now()),
                            Some(Report::Fetched { snapshot, .. }) => {
                                fetching = false;
                                match snapshot {
                                    Some(snapshot) => {
                                        self.owner_answered(&reports);
                                        self.core.snapshot(snapshot, now())
                                    }
                                    // A new owner that holds the lease but has not
                                    // loaded the room yet: wait for it again.
                                    None if self.follow.refused(now()) => {
                                        self.orphaned();
                                        Next::Nothing
                                    }
                                    None => {
                                        tracing::info!(room = %self.room, "the room's owner gave no snapshot");
                                        self.core.fetch_failed()
                                    }
                                }
                            }
                            Some(Report::Heard { n, regular, reply, .. }) => match reply {
                                Some(AdminReply::Heard(through)) => {
                                    self.owner_answered(&reports);
                                    self.core.heard(n, through, regular, now())
                                }
                                Some(AdminReply::NotHere) if self.follow.refused(now()) => {
                                    self.orphaned();
                                    Next::Nothing
                                }
                                Some(AdminReply::NotHere) => Next::End,
                                _ => {
                                    // Joins wait here from now on, as for a gone owner:
                                    // looked up, the lease would still name this one.
                                    self.heard.waiting();
                                    self.core.missed()
                                }
                            },
                            Some(Report::Answer { conn, through, text }) => {
                                if let Some(text) = text {
                                    self.core.answer(conn, through, text);
                                }
                                Next::Nothing
                            }
                            Some(Report::Unanswered(command)) => {
                                self.wait(command);
                                Next::Nothing
                            }
                            Some(Report::Holder(holder)) => {
                                self.found(holder);
                                Next::Nothing
                            }
                            None => Next::Nothing,
                        },
                        _ = heartbeat.tick() => {
                            let limit = ORPHANED_AT_LEAST.max(self.leases.ttl() * 3);
                            let limit = Millis(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX));
                            if self.core.viewers() == 0 && !fetching {
                                Next::End
                            } else if self.follow.given_up(now(), limit) {
                                tracing::info!(room = %self.room, "no node took the room");
                                Next::End
                            } else if self.follow.orphaned() {
                                self.look_up_holder(&reports);
                                Next::Nothing
                            } else {
                                self.heartbeat(&reports, true);
                                Next::Nothing
                            }
                        }
                        _ = tokio::time::sleep(CATCH_UP), if lagging => {
                            self.core.catch_up(now());
                            Next::Nothing
                        }
                        changed = losses.changed() => {
                            if changed.is_err() {
                                Next::End
                            } else {
                                losses.borrow_and_update();
                                self.core.lost()
                            }
                        }
                    };
                    self.viewers
                        .store(self.core.viewers(), std::sync::atomic::Ordering::Relaxed);
                    if next != Next::End && !self.follow.orphaned() && self.core.wants_heartbeat() {
                        self.heartbeat(&reports, false);
                    }
                    match next {
                        Next::Nothing => {}
                        Next::Orphaned => self.orphan(),
                        Next::Fill(from) => {
                            metrics::counter!("yishi_bus_catch_ups_total", "from" => "stream")
                                .increment(1);
                            self.fill(from, &reports);
                        }
                        Next::Fetch => {
                            metrics::counter!("yishi_bus_catch_ups_total", "from" => "snapshot")
                                .increment(1);
                            self.fetch(&reports, &mut fetching);
                        }
                        Next::Refresh => self.fetch(&reports, &mut fetching),
                        Next::End => {
                            self.heard.never();
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(room = %self.room, error = %e, "could not subscribe to the room's audience broadcast");
            }
        }
        // Viewers come back through the normal path; connections still on their way in
        // are turned away the same way.
        if let Some(mirrors) = self.mirrors.upgrade() {
            mirrors.forget(&self.room, self.id);
        }
        rx.close();
        self.end();
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Input(Input::Attach(attach)) = msg {
                let _ = attach.reply.send(Err(super::mirror_core::unavailable()));
            }
        }
        let (relays, room, node) = (self.relays, self.room, self.node);
        let owner = self.follow.owner().clone();
        tokio::spawn(async move {
            let ask = MirrorAsk::Viewers {
                node: node.to_string(),
                count: 0,
            };
            let _ = relays.ask_mirrored(&owner, &room, ask, FETCH_WAIT).await;
        });
        metrics::gauge!("yishi_mirrors").decrement(1.0);
    }

    /// The owner is gone: keep the viewers and look for the next one.
    fn orphan(&mut self) {
        if self.follow.orphan(now()) {
            self.orphaned();
        }
    }

    /// The owner was just taken for gone (or not ready): joins wait for the next.
    fn orphaned(&self) {
        self.heard.waiting();
        tracing::info!(room = %self.room, owner = %self.follow.owner(), "the mirror's owner is gone; waiting for the next");
    }

    /// Follow `owner` from now on: fill what the viewers missed from the stream (or
    /// resynchronise them from its snapshot).
    fn adopt(&mut self, owner: NodeId, reports: &mpsc::Sender<Report>, fetching: &mut bool) {
        metrics::counter!("yishi_mirror_adoptions_total").increment(1);
        let before = self.follow.adopt(owner);
        tracing::info!(room = %self.room, from = %before, to = %self.follow.owner(), "the mirror follows the room's new owner");
        *fetching = false;
        match self.core.adopt() {
            Next::Fill(from) => self.fill(from, reports),
            Next::Fetch => self.fetch(reports, fetching),
            _ => {}
        }
    }

    /// The owner followed answered: the commands that waited for an owner go to it.
    fn owner_answered(&mut self, reports: &mpsc::Sender<Report>) {
        self.heard.now();
        self.follow.answered();
        for (conn, req, command, tried) in std::mem::take(&mut self.waiting) {
            if let Some(participant) = self.core.who(conn).cloned() {
                self.command(conn, participant, req, command, tried, reports);
            }
        }
    }

    /// Hold a viewer's command until an owner answers; too many: refuse it.
    fn wait(&mut self, command: Waiting) {
        if self.waiting.len() < WAITING_COMMANDS {
            self.waiting.push(command);
            return;
        }
        let (conn, req, ..) = command;
        let refused = ServerMessage::Error(ErrorMessage {
            req: Some(req),
            code: ErrorCode::Unavailable,
            message: "the room is moving to another node; retry".into(),
        });
        if let Some(text) = frame(&refused) {
            self.core.answer(conn, 0, text);
        }
    }

    /// Ask the lease who holds the room now (the owner is gone).
    fn look_up_holder(&self, reports: &mpsc::Sender<Report>) {
        let (leases, room, reports) = (self.leases.clone(), self.room.clone(), reports.clone());
        tokio::spawn(async move {
            let holder = leases.holder(&room).await.ok().flatten();
            let _ = reports.send(Report::Holder(holder)).await;
        });
    }

    /// The lease's holder, looked up while the owner is gone: another node than the one
    /// gone has taken the room, so follow it.
    fn found(&self, holder: Option<String>) {
        let Some(holder) = holder.and_then(|h| NodeId::new(&h).ok()) else {
            return;
        };
        if self.follow.orphaned()
            && self.follow.would_follow(&holder)
            && let Some(mirrors) = self.mirrors.upgrade()
        {
            mirrors.steer(&self.room, self.id, holder);
        }
    }

    fn sent_by_owner(&self, message: &async_nats::Message) -> bool {
        let node = message.headers.as_ref().and_then(|h| h.get(NODE));
        node.is_some_and(|n| n.as_str() == self.follow.owner().as_str())
    }

    fn end(&mut self) {
        let ended = self.core.viewers();
        self.core.end();
        metrics::gauge!("yishi_mirror_viewers").decrement(ended as f64);
        tracing::info!(room = %self.room, ended, "mirror ended");
    }

    /// A connection's attach, command or end.
    fn input(&mut self, input: Input, reports: &mpsc::Sender<Report>) {
        match input {
            Input::Attach(attach) => {
                let who = if auth::is_anonymous(&attach.participant) {
                    auth::anonymous_viewer(&attach.participant)
                } else {
                    attach.participant.clone()
                };
                let session = auth::random_base32(&mut rand::rng(), 24);
                metrics::gauge!("yishi_mirror_viewers").increment(1.0);
                self.core.attach(*attach, who, session);
            }
            Input::Detach { conn } if self.core.detach(conn) => {
                metrics::gauge!("yishi_mirror_viewers").decrement(1.0);
            }
            Input::Command { conn, req, command } => {
                let Some(participant) = self.core.who(conn).cloned() else {
                    return;
                };
                if self.follow.takes_commands() {
                    self.command(conn, participant, req, command, false, reports);
                } else {
                    self.wait((conn, req, command, false));
                }
            }
            // Only connections reach a mirror.
            _ => {}
        }
    }

    /// Forward a viewer's command to the owner; its answer comes back as a report. One
    /// that does not reach the owner the first time (`tried` false) waits for an owner
    /// to answer and goes again ([`Report::Unanswered`]).
    fn command(
        &self,
        conn: ConnId,
        participant: Participant,
        req: yishi_protocol::RequestId,
        command: Box<yishi_protocol::Command>,
        tried: bool,
        reports: &mpsc::Sender<Report>,
    ) {
        let (relays, room) = (self.relays.clone(), self.room.clone());
        let owner = self.follow.owner().clone();
        let reports = reports.clone();
        tokio::spawn(async move {
            let ask = MirrorAsk::Command {
                participant,
                req: req.clone(),
                command: command.clone(),
            };
            let answered = relays.ask_mirrored(&owner, &room, ask, COMMAND_WAIT).await;
            let (outcome, through) = match answered {
                Ok(AdminReply::Answered(outcome, through)) => (outcome, through),
                _ if !tried => {
                    let _ = reports
                        .send(Report::Unanswered((conn, req, command, true)))
                        .await;
                    return;
                }
                _ => (
                    Err(ErrorMessage {
                        req: None,
                        code: ErrorCode::Unavailable,
                        message: "the room did not answer; retry".into(),
                    }),
                    0,
                ),
            };
            let message = match outcome {
                Ok(seq) => ServerMessage::Ack(yishi_protocol::Ack { req, seq }),
                Err(mut error) => {
                    error.req = Some(req);
                    ServerMessage::Error(error)
                }
            };
            let text = frame(&message);
            let _ = reports
                .send(Report::Answer {
                    conn,
                    through,
                    text,
                })
                .await;
        });
    }

    /// Look up in the stream the broadcast that starts at `from`, then the one after it,
    /// and so on while it has them: each is found by its subject, so it does not matter
    /// which owner published it (fenced, a sequence number is only ever committed once).
    fn fill(&self, from: Seq, reports: &mpsc::Sender<Report>) {
        let (stream, room) = (self.stream.clone(), self.room.clone());
        let (reports, generation) = (reports.clone(), self.follow.generation());
        tokio::spawn(async move {
            let (mut found, start) = (Vec::new(), from);
            let mut next = from;
            while found.len() < FILL_AT_MOST {
                let Ok(message) = stream
                    .get_last_raw_message_by_subject(&events_subject(&room, next))
                    .await
                else {
                    break;
                };
                match decode(&message.headers, &message.payload) {
                    Some(published @ Published::Events { from, through, .. }) if from == next => {
                        next = through + 1;
                        found.push(published);
                    }
                    _ => break,
                }
            }
            let _ = reports
                .send(Report::Filled {
                    generation,
                    from: start,
                    found,
                })
                .await;
        });
    }

    /// Ask the owner for the audience snapshot, unless that is under way.
    fn fetch(&self, reports: &mpsc::Sender<Report>, fetching: &mut bool) {
        if std::mem::replace(fetching, true) {
            return;
        }
        let (relays, room) = (self.relays.clone(), self.room.clone());
        let owner = self.follow.owner().clone();
        let (reports, generation) = (reports.clone(), self.follow.generation());
        tokio::spawn(async move {
            let reply = relays
                .ask_mirrored(&owner, &room, MirrorAsk::Snapshot, FETCH_WAIT)
                .await;
            let snapshot = match reply {
                Ok(AdminReply::Audience {
                    seq,
                    through,
                    snapshot,
                    viewers,
                }) => Some(Snapshot {
                    seq,
                    through,
                    snapshot,
                    viewers,
                }),
                _ => None,
            };
            let _ = reports
                .send(Report::Fetched {
                    generation,
                    snapshot,
                })
                .await;
        });
    }

    /// Tell the owner how many viewers this node mirrors; hear its last broadcast (a
    /// `regular` heartbeat, or one sent early for a new viewer).
    fn heartbeat(&mut self, reports: &mpsc::Sender<Report>, regular: bool) {
        let n = self.core.heartbeat();
        let (relays, room) = (self.relays.clone(), self.room.clone());
        let owner = self.follow.owner().clone();
        let ask = MirrorAsk::Viewers {
            node: self.node.to_string(),
            count: u32::try_from(self.core.viewers()).unwrap_or(u32::MAX),
        };
        let (reports, generation) = (reports.clone(), self.follow.generation());
        tokio::spawn(async move {
            let reply = relays.ask_mirrored(&owner, &room, ask, HEARTBEAT).await;
            let reply = reply.ok();
            let _ = reports
                .send(Report::Heard {
                    generation,
                    n,
                    regular,
                    reply,
                })
                .await;
        });
    }
}
