//! The hub: one actor task per live room, the registry that finds them, the group
//! committer that makes their events durable, and the WebSocket connections.
//!
//! No engine state sits behind a shared lock: each room's [`Room`](crate::room::Room)
//! is owned by its actor; the registry maps room ids to channel handles and nothing else.

mod actor;
mod commit;
mod conn;
mod core;
mod livestream;
mod mirror;
mod mirror_core;
mod mixer;
mod relay;
mod sessions;

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use yishi_protocol::Millis;

use crate::auth::Keys;
use crate::bus::{ClusterNode, LeaseError, LeaseKeeper, rendezvous};
use crate::media::{Sfu, TurnConfig};
use crate::store::{Store, StoreError};

pub use actor::RoomHandle;
pub use commit::{CommitError, Committer};
pub use conn::serve_socket;
pub use livestream::{CLOSE_WAIT, LiveControl};

/// Limits and sizes of the hub. The defaults suit one 2-core machine.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Largest WebSocket message accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Frames a member's or host's connection may have queued before it is closed with
    /// "resume" (they catch up exactly through resume).
    pub member_queue: usize,
    /// Frames an audience connection may have queued before it is resynchronised from a
    /// snapshot instead.
    pub audience_queue: usize,
    /// Events each room keeps in memory for resume; older gaps get a snapshot.
    pub resume_window: usize,
    /// Commands per second one connection may send (burst: twice that).
    pub commands_per_second: u32,
    /// Commands per second from one IP address over all its connections.
    pub commands_per_ip: u32,
    /// New connections (hellos) per second from one IP address; bounds the anonymous
    /// viewer identities one address can obtain.
    pub joins_per_ip: u32,
    /// How often running poll tallies are sent, in milliseconds.
    pub tally_interval_ms: u64,
    /// STUN/TURN servers handed to clients in `welcome`.
    pub turn: Option<TurnConfig>,
    /// How long a departed connection's resume session is kept: a viewer back within it
    /// keeps their identity. Members keep theirs in any case (it is in their token, and
    /// their queue places are the engine's).
    pub resume_grace: std::time::Duration,
    /// Resume sessions a room keeps at most; the oldest departed ones go first.
    pub max_sessions: usize,
    /// Secret ballots are written to the sealed ballot box in batches of at least this
    /// many per poll and electorate, apart from the record's `ballot_cast` events, so no
    /// commit ties fewer than this many voters to their choices (the last batch at close
    /// may be smaller).
    pub ballot_batch: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            max_frame_bytes: 64 * 1024,
            member_queue: 512,
            audience_queue: 128,
            resume_window: 8192,
            commands_per_second: 20,
            commands_per_ip: 400,
            joins_per_ip: 200,
            tally_interval_ms: 500,
            turn: None,
            resume_grace: std::time::Duration::from_secs(30),
            max_sessions: 100_000,
            ballot_batch: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("no room {0}")]
    UnknownRoom(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// In a cluster: another node serves the room now.
    #[error("room {room} is served by node {node}")]
    Elsewhere { room: String, node: String },
    /// In a cluster: NATS did not say who serves the room.
    #[error(transparent)]
    Lease(LeaseError),
    /// In a cluster: this node is shutting down and takes no more rooms.
    #[error("this node is shutting down")]
    Stopping,
}

/// The wall clock in milliseconds since the epoch: the only clock the rooms see.
pub fn now() -> Millis {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Millis(d.as_millis() as u64)
}

pub struct Hub {
    pub(crate) store: Store,
    pub(crate) keys: Keys,
    pub(crate) config: HubConfig,
    committer: Committer,
    /// Room id → handle. A `std` mutex: it is held for a map lookup, never across an await.
    rooms: Mutex<HashMap<String, RoomHandle>>,
    /// Serialises loading, so two connections to a sleeping room start one actor.
    loading: tokio::sync::Mutex<()>,
    /// In a cluster: rooms another node held the lease of when last asked, and when
    /// ([`Hub::room_or_owner`]: a livestream's viewers on other nodes ask for every
    /// segment and playlist).
    elsewhere: Mutex<HashMap<String, (String, std::time::Instant)>>,
    pub(crate) ip_commands: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) ip_joins: DefaultKeyedRateLimiter<IpAddr>,
    next_conn: std::sync::atomic::AtomicU64,
    /// The SFU, unless media is off.
    pub(crate) media: Option<Sfu>,
    /// In a cluster: this node's leases and membership. A room is served here only
    /// while this node holds its lease.
    cluster: Option<ClusterNode>,
    /// Set by [`Hub::shutdown`]: take no more rooms.
    stopping: std::sync::atomic::AtomicBool,
    /// In a cluster: connections relayed to the rooms' owners, and from other nodes.
    relays: std::sync::OnceLock<Arc<relay::Relays>>,
    /// In a cluster: the audiences of rooms other nodes own, served here.
    mirrors: std::sync::OnceLock<Arc<mirror::Mirrors>>,
    /// The server's livestreams, once set ([`Hub::control_livestreams`]).
    live: livestream::LiveSlot,
}

/// How long a node trusts that another holds a room's lease before asking again: a
/// failover is seen at most this much later (it takes a lease's TTL anyway).
const ELSEWHERE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

fn per_second(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(n)
        .allow_burst(n.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)))
}

impl Hub {
    /// Start the hub: the committer, and an actor for every room not closed (crash
    /// recovery: each is rebuilt from its record, and its clocks go on from their
    /// recorded deadlines).
    pub async fn start(
        store: Store,
        keys: Keys,
        config: HubConfig,
        media: Option<Sfu>,
    ) -> Result<Arc<Hub>, HubError> {
        Hub::start_in(store, keys, config, media, None).await
    }

    /// Start the hub as a node of a cluster (`cluster`), or alone (`None`, as
    /// [`Hub::start`]). A node does not start every room at once: a room starts on the
    /// node where it is first needed, or on the node rendezvous hashing gives it to
    /// (the sweeper), if no other node holds its lease.
    pub async fn start_in(
        store: Store,
        keys: Keys,
        config: HubConfig,
        media: Option<Sfu>,
        cluster: Option<ClusterNode>,
    ) -> Result<Arc<Hub>, HubError> {
        let committer = Committer::spawn(store.clone());
        let hub = Arc::new(Hub {
            ip_commands: RateLimiter::keyed(per_second(config.commands_per_ip)),
            ip_joins: RateLimiter::keyed(per_second(config.joins_per_ip)),
            store,
            keys,
            config,
            committer,
            rooms: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
            elsewhere: Mutex::new(HashMap::new()),
            next_conn: std::sync::atomic::AtomicU64::new(1),
            media,
            cluster,
            stopping: std::sync::atomic::AtomicBool::new(false),
            relays: std::sync::OnceLock::new(),
            mirrors: std::sync::OnceLock::new(),
            live: livestream::LiveSlot::default(),
        });
        if let Some(cluster) = &hub.cluster {
            let relays = relay::Relays::start(
                cluster.client.clone(),
                cluster.node().clone(),
                cluster.losses.clone(),
                Arc::downgrade(&hub),
            )
            .await
            .map_err(|e| {
                HubError::Lease(LeaseError::Unreachable {
                    room: String::new(),
                    reason: e.to_string(),
                })
            })?;
            let stream = mirror::open_stream(&cluster.client)
                .await
                .map_err(|reason| {
                    HubError::Lease(LeaseError::Unreachable {
                        room: String::new(),
                        reason,
                    })
                })?;
            let mirrors = mirror::Mirrors::new(
                relays.clone(),
                cluster.client.clone(),
                stream,
                cluster.node().clone(),
                cluster.losses.clone(),
                cluster.leases.clone(),
            );
            let _ = hub.relays.set(relays);
            let _ = hub.mirrors.set(mirrors);
            spawn_sweeper(&hub, cluster.leases.ttl() / 2);
            return Ok(hub);
        }
        for room in hub.store.list_rooms().await? {
            if room.closed_at.is_none() {
                hub.room(&room.id).await?;
            }
        }
        Ok(hub)
    }

    /// The live room `id`, started from the store if it is not running.
    /// Like [`Hub::room`], but a room another node held the lease of within
    /// [`ELSEWHERE_FOR`] is answered `Elsewhere` at once, without the loading lock, the
    /// store or the lease: for requests that are only carried to the owner (the
    /// livestream's, a segment or playlist each), not for connections, which take a room
    /// at once when its owner hands it over.
    pub async fn room_or_owner(&self, id: &str) -> Result<RoomHandle, HubError> {
        if self.live(id).is_none() {
            let known = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((node, _)) = known.get(id).filter(|(_, at)| at.elapsed() < ELSEWHERE_FOR) {
                return Err(HubError::Elsewhere {
                    room: id.to_owned(),
                    node: node.clone(),
                });
            }
        }
        self.room(id).await
    }

    /// The owner [`Hub::room_or_owner`] named for `id` did not answer: ask again next time.
    pub fn forget_owner(&self, id: &str) {
        let mut known = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
        known.remove(id);
    }

    fn note_elsewhere(&self, id: &str, node: &str) {
        let mut known = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= 4096 {
            known.retain(|_, (_, at)| at.elapsed() < ELSEWHERE_FOR);
        }
        known.insert(id.to_owned(), (node.to_owned(), std::time::Instant::now()));
    }

    pub async fn room(&self, id: &str) -> Result<RoomHandle, HubError> {
        if let Some(handle) = self.live(id) {
            return Ok(handle);
        }
        let _loading = self.loading.lock().await;
        if let Some(handle) = self.live(id) {
            return Ok(handle);
        }
        let Some(stored) = self.store.room(id).await? else {
            return Err(HubError::UnknownRoom(id.to_owned()));
        };
        // In a cluster, the lease first: only its holder serves the room.
        let keeper = match &self.cluster {
            None => None,
            Some(_) if self.stopping.load(std::sync::atomic::Ordering::Relaxed) => {
                return Err(HubError::Stopping);
            }
            Some(node) => match node.leases.acquire(id).await {
                Ok(lease) => Some(LeaseKeeper::spawn(node.leases.clone(), lease)),
                Err(LeaseError::Held { by, .. }) => {
                    self.note_elsewhere(id, &by);
                    return Err(HubError::Elsewhere {
                        room: id.to_owned(),
                        node: by,
                    });
                }
                Err(e) => return Err(HubError::Lease(e)),
            },
        };
        // Claim before loading: once the claim commits, a previous writer can append
        // nothing more, so the load sees the whole record.
        let claimed = async {
            let epoch = self.store.claim_room(id).await?;
            Ok::<_, StoreError>((epoch, self.store.load(id).await?))
        }
        .await;
        let (epoch, loaded) = match claimed {
            Ok(claimed) => claimed,
            Err(e) => {
                if let Some(keeper) = keeper {
                    keeper.release().await;
                }
                return Err(e.into());
            }
        };
        let handle = actor::spawn(
            stored,
            loaded,
            actor::Tenure {
                epoch,
                lease: keeper,
            },
            self.committer.clone(),
            self.store.clone(),
            self.config.clone(),
            actor::Beside {
                media: self.media.clone(),
                live: self.live.clone(),
                bus: self
                    .cluster
                    .as_ref()
                    .map(|c| (c.client.clone(), c.node().clone())),
            },
        );
        self.lock_rooms().insert(id.to_owned(), handle.clone());
        metrics::gauge!("yishi_rooms").set(self.live_rooms() as f64);
        // A mirror here of the room's former owner follows this node from now on.
        if let Some(mirrors) = self.mirrors.get() {
            mirrors.taken_here(id);
        }
        Ok(handle)
    }

    /// Let the rooms' actors reach the server's livestreams (set once): a close while the
    /// stream is on stops it first, and a room loaded while its record says the stream is
    /// on, with no worker here, records it stopped.
    pub fn control_livestreams(&self, live: Arc<dyn LiveControl>) {
        let _ = self.live.set(live);
    }

    /// The operator's `command` on room `id`, wherever in the cluster it runs.
    pub async fn admin(
        &self,
        id: &str,
        command: yishi_protocol::Command,
    ) -> Result<Result<Option<yishi_protocol::Seq>, yishi_protocol::ErrorMessage>, HubError> {
        match self.room(id).await {
            Ok(room) => Ok(room.admin(command).await),
            Err(HubError::Elsewhere { room, node }) => {
                match self.ask_owner(&room, &node, Some(command)).await? {
                    relay::AdminReply::Done(done) => Ok(done),
                    _ => Err(HubError::Elsewhere { room, node }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The room `id` as a host sees it now, wherever in the cluster it runs.
    pub async fn inspect(
        &self,
        id: &str,
    ) -> Result<Option<yishi_protocol::RoomSnapshot>, HubError> {
        match self.room(id).await {
            Ok(room) => Ok(room.inspect().await),
            Err(HubError::Elsewhere { room, node }) => {
                match self.ask_owner(&room, &node, None).await? {
                    relay::AdminReply::View(view) => Ok(view.map(|v| *v)),
                    _ => Err(HubError::Elsewhere { room, node }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Ask `node`, which holds `room`'s lease, for an admin request.
    async fn ask_owner(
        &self,
        room: &str,
        node: &str,
        command: Option<yishi_protocol::Command>,
    ) -> Result<relay::AdminReply, HubError> {
        let elsewhere = || HubError::Elsewhere {
            room: room.to_owned(),
            node: node.to_owned(),
        };
        let (Some(relays), Ok(owner)) = (self.relays(), crate::bus::NodeId::new(node)) else {
            return Err(elsewhere());
        };
        relays.admin(&owner, room, command).await.map_err(|e| {
            tracing::info!(room, node, error = %e, "the room's owner did not answer an admin request");
            elsewhere()
        })
    }

    /// In a cluster: this node's mirror of the audience of `room`, which `owner` serves.
    pub(crate) fn mirror(&self, room: &str, owner: &str) -> Option<RoomHandle> {
        let owner = crate::bus::NodeId::new(owner).ok()?;
        Some(self.mirrors.get()?.join(room, owner))
    }

    /// In a cluster: this node's mirror of `room`'s audience if there is one and its
    /// owner answered it lately (see [`mirror::Mirrors::current`]), unless the room is
    /// served here.
    pub(crate) fn current_mirror(&self, room: &str) -> Option<RoomHandle> {
        let mirrors = self.mirrors.get()?;
        if self.live(room).is_some() {
            return None;
        }
        mirrors.current(room)
    }

    /// The rooms whose audience this node mirrors, each with its viewers here.
    pub fn mirrored(&self) -> Vec<(String, usize)> {
        self.mirrors.get().map(|m| m.list()).unwrap_or_default()
    }

    /// Connections of other nodes' clients relayed to this node's rooms.
    pub fn relayed_here(&self) -> usize {
        self.relays().map_or(0, |r| r.served())
    }

    /// For tests: the next audience events of room `id` (run here) are not broadcast to
    /// the other nodes' mirrors, nor kept in the stream of broadcasts, as if this node had
    /// died between their commit and their broadcast.
    #[doc(hidden)]
    pub async fn lose_next_broadcast(&self, id: &str) {
        if let Some(room) = self.live(id) {
            room.lose_next_broadcast().await;
        }
    }

    /// For tests: this node's mirror of room `id` drops the next event broadcast it
    /// receives, as if NATS had lost it on the way here (the stream keeps it). Whether
    /// this node mirrors the room.
    #[doc(hidden)]
    pub fn lose_next_broadcast_here(&self, id: &str) -> bool {
        self.mirrors.get().is_some_and(|m| m.lose_next(id))
    }

    /// Whether this node runs room `id` now (in a cluster: owns it).
    pub fn runs(&self, id: &str) -> bool {
        self.live(id).is_some()
    }

    fn live(&self, id: &str) -> Option<RoomHandle> {
        self.lock_rooms()
            .get(id)
            .filter(|h| !h.is_stopped())
            .cloned()
    }

    fn lock_rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomHandle>> {
        // A panic while holding this lock leaves a valid map: recover it.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rooms with a running actor.
    pub fn live_rooms(&self) -> usize {
        self.lock_rooms()
            .values()
            .filter(|h| !h.is_stopped())
            .count()
    }

    /// In a cluster: this node's NATS connection and its name.
    pub(crate) fn nats(&self) -> Option<(async_nats::Client, crate::bus::NodeId)> {
        self.cluster
            .as_ref()
            .map(|c| (c.client.clone(), c.node().clone()))
    }

    /// In a cluster: this node's relayed connections.
    pub(crate) fn relays(&self) -> Option<Arc<relay::Relays>> {
        self.relays.get().cloned()
    }

    /// Why this node cannot serve rooms now, if it cannot: it is stopping, or (in a
    /// cluster) its NATS connection is down, so it can neither hold leases nor reach
    /// other owners. For `/readyz`, so a load balancer sends new clients elsewhere.
    pub fn unready(&self) -> Option<&'static str> {
        if self.is_stopping() {
            return Some("shutting down");
        }
        match &self.cluster {
            Some(c) if c.client.connection_state() != async_nats::connection::State::Connected => {
                Some("not connected to NATS")
            }
            _ => None,
        }
    }

    /// Whether [`Hub::shutdown`] was called.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// In a cluster: take every open room that no node holds and that rendezvous
    /// hashing over the live nodes gives to this node (failover without waiting for a
    /// client, and the rooms' start across the nodes).
    async fn sweep(&self) -> Result<(), HubError> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let live = cluster.membership.live().await.map_err(|e| {
            HubError::Lease(LeaseError::Unreachable {
                room: String::new(),
                reason: e.to_string(),
            })
        })?;
        if let Some(relays) = self.relays() {
            relays.prune(&live);
        }
        if let Some(mirrors) = self.mirrors.get() {
            mirrors.prune(Some(&live));
        }
        for room in self.store.list_rooms().await? {
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            if room.closed_at.is_some()
                || self.live(&room.id).is_some()
                || rendezvous::choose(&room.id, &live) != Some(cluster.node())
            {
                continue;
            }
            match self.room(&room.id).await {
                Ok(_) => {
                    tracing::info!(room = %room.id, "took a room no node served");
                    metrics::counter!("yishi_rooms_taken_total").increment(1);
                }
                Err(HubError::Elsewhere { .. }) => {}
                Err(e) => tracing::warn!(room = %room.id, error = %e, "could not take a room"),
            }
        }
        Ok(())
    }

    /// Ask every room actor to finish what it has and stop. In a cluster, wait (a few
    /// seconds at most) for them to give their leases up, so other nodes can take the
    /// rooms at once, and leave the cluster.
    pub async fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(relays) = self.relays() {
            relays.end_all();
        }
        if let Some(mirrors) = self.mirrors.get() {
            mirrors.prune(None);
        }
        let handles: Vec<RoomHandle> = self.lock_rooms().drain().map(|(_, h)| h).collect();
        for h in &handles {
            h.stop().await;
        }
        if let Some(cluster) = &self.cluster {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while handles.iter().any(|h| !h.is_stopped()) && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            if let Err(e) = cluster.membership.leave_now().await {
                tracing::warn!(error = %e, "could not leave the cluster; the node drops out after the TTL");
            }
        }
    }
}

/// Sweep every `every` while the hub lives and is not stopping.
fn spawn_sweeper(hub: &Arc<Hub>, every: std::time::Duration) {
    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(hub) = hub.upgrade() else { return };
            if hub.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            if let Err(e) = hub.sweep().await {
                tracing::warn!(error = %e, "room sweep failed");
            }
        }
    });
}

pub(crate) use crate::outbox::Out;
pub use crate::outbox::close;
