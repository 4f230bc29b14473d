//! The room actor: one task per live room, driving the room's [`RoomCore`] with what
//! arrives and with time, and doing its I/O: the commits, publishing the final hash,
//! telling the SFU. Commands arrive on a bounded channel; the task sleeps until the next
//! deadline.
//!
//! Each turn takes everything queued, lets the core apply it, makes the resulting events
//! durable through the group committer and only then lets the core fan them out and
//! acknowledge them (durability before visibility); secret ballots the turn sealed are
//! committed in a second transaction before their voters are acknowledged. If the store
//! fails, the actor tells everyone to come back, and stops: the next connection rebuilds
//! the room from the store, so nothing unacknowledged is ever seen and nothing
//! acknowledged is lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use yishi_protocol::{Command, ErrorCode, ErrorMessage, Millis, Seq, SessionState};

use super::commit::CommitError;
use super::core::{AudienceState, Input, RoomCore, Turn};
use super::livestream::{CLOSE_WAIT, LiveSlot};
use super::{Committer, HubConfig, now};
use crate::bus::LeaseKeeper;
use crate::media::Sfu;
use crate::store::{Epoch, Loaded, Store, StoredRoom};

pub(crate) use super::core::{Attach, ConnId};

/// A cheap, cloneable way to reach a room's actor.
#[derive(Clone)]
pub struct RoomHandle {
    tx: mpsc::Sender<Msg>,
}

impl RoomHandle {
    pub(crate) async fn send(&self, msg: Msg) -> bool {
        self.tx.send(msg).await.is_ok()
    }

    /// Apply a command as the operator (a host identity `admin`), durably.
    pub async fn admin(&self, command: Command) -> Result<Option<Seq>, ErrorMessage> {
        let (reply, rx) = oneshot::channel();
        let unavailable = || ErrorMessage {
            req: None,
            code: ErrorCode::Unavailable,
            message: "the room restarts; retry".into(),
        };
        let msg = Msg::Input(Input::Admin {
            command: Box::new(command),
            reply,
        });
        if self.tx.send(msg).await.is_err() {
            return Err(unavailable());
        }
        rx.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// Record a fact of the livestream (`by`: the host who asked for it), durably.
    pub async fn livestream(
        &self,
        by: Option<yishi_protocol::Participant>,
        fact: crate::room::LiveFact,
    ) -> Result<Option<Seq>, ErrorMessage> {
        let (reply, rx) = oneshot::channel();
        let unavailable = || ErrorMessage {
            req: None,
            code: ErrorCode::Unavailable,
            message: "the room restarts; retry".into(),
        };
        let msg = Msg::Input(Input::Livestream { by, fact, reply });
        if self.tx.send(msg).await.is_err() {
            return Err(unavailable());
        }
        rx.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// The room as a host sees it now.
    pub async fn inspect(&self) -> Option<yishi_protocol::RoomSnapshot> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Input(Input::Inspect { reply }))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// The audience snapshot for another node's mirror, once the turn is committed.
    pub(crate) async fn audience_snapshot(&self) -> Option<AudienceState> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::Input(Input::AudienceSnapshot { reply });
        self.tx.send(msg).await.ok()?;
        rx.await.ok()
    }

    /// `node` mirrors `count` viewers: the `through` of the last audience broadcast.
    pub(crate) async fn mirror_viewers(&self, node: String, count: u32) -> Option<Seq> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::Input(Input::MirrorViewers { node, count, reply });
        self.tx.send(msg).await.ok()?;
        rx.await.ok()
    }

    /// A mirrored viewer's command, as `participant`: its outcome and the `through` of
    /// the last audience broadcast when it was answered.
    pub(crate) async fn remote(
        &self,
        participant: yishi_protocol::Participant,
        req: yishi_protocol::RequestId,
        command: Box<Command>,
    ) -> Option<(Result<Option<Seq>, ErrorMessage>, Seq)> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::Input(Input::Remote {
            participant,
            req,
            command,
            reply,
        });
        self.tx.send(msg).await.ok()?;
        rx.await.ok()
    }

    /// For tests: the room's next audience events are not broadcast to other nodes.
    pub(crate) async fn lose_next_broadcast(&self) {
        let _ = self.tx.send(Msg::Input(Input::LoseNextBroadcast)).await;
    }

    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ask it to stop, unless its queue is full (a mirror: it ends anyway once it hears
    /// nothing from its owner).
    pub(crate) fn try_stop(&self) {
        let _ = self.tx.try_send(Msg::Stop);
    }

    /// Ask the actor to stop after what it has queued.
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
    }
}

pub(crate) enum Msg {
    Input(Input),
    Stop,
}

impl RoomHandle {
    /// A handle on whatever serves `tx` the way a room actor does (a mirror).
    pub(crate) fn on(tx: mpsc::Sender<Msg>) -> RoomHandle {
        RoomHandle { tx }
    }
}

impl Msg {
    pub(crate) fn attach(attach: Attach) -> Msg {
        Msg::Input(Input::Attach(Box::new(attach)))
    }

    pub(crate) fn command(
        conn: ConnId,
        req: yishi_protocol::RequestId,
        command: Box<Command>,
    ) -> Msg {
        Msg::Input(Input::Command { conn, req, command })
    }

    pub(crate) fn detach(conn: ConnId) -> Msg {
        Msg::Input(Input::Detach { conn })
    }
}

struct RoomActor {
    core: RoomCore,
    committer: Committer,
    store: Store,
    /// The SFU, told whose audio the floor allows whenever that changes.
    media: Option<Sfu>,
    media_room: Arc<str>,
    /// This actor's claim on the room: every append carries it, and the store refuses
    /// them all once someone else has claimed the room since.
    epoch: Epoch,
    /// In a cluster, the room's lease: the actor steps down when it is lost, and gives it
    /// up when it stops.
    lease: Option<LeaseKeeper>,
    /// The server's livestreams (once set): a close while the stream is on stops it first.
    live: LiveSlot,
    /// This actor's own channel, for the end of a livestream's stop (weak: the actor
    /// stops once every handle is gone).
    me: mpsc::WeakSender<Msg>,
    /// The session's state after the last turn (`None` before the room is loaded).
    session: Option<SessionState>,
    /// In a cluster: NATS, to publish the audience's side of each turn for the other
    /// nodes' mirrors: the client, the room's id and this node.
    bus: Option<(async_nats::Client, String, crate::bus::NodeId)>,
}

const MAX_BATCH: usize = 1024;

/// What entitles an actor to serve its room: its claim in the store and, in a
/// cluster, the lease it keeps.
pub(crate) struct Tenure {
    pub epoch: Epoch,
    pub lease: Option<LeaseKeeper>,
}

/// What runs beside the rooms in this process: the SFU (unless media is off) and the
/// livestreams (once set).
pub(crate) struct Beside {
    pub media: Option<Sfu>,
    pub live: LiveSlot,
    /// In a cluster: NATS and this node's name, for the audience broadcast
    /// (`mirror.rs`).
    pub bus: Option<(async_nats::Client, crate::bus::NodeId)>,
}

pub(crate) fn spawn(
    stored: StoredRoom,
    loaded: Loaded,
    tenure: Tenure,
    committer: Committer,
    store: Store,
    config: HubConfig,
    beside: Beside,
) -> RoomHandle {
    let mut core = RoomCore::new(&stored, loaded, config, now());
    if beside.bus.is_some() {
        core.broadcast_audience();
        core.broadcast_tail(super::mirror::REPUBLISHED, now());
    }
    let bus = beside
        .bus
        .map(|(client, node)| (client, stored.id.clone(), node));
    let (tx, rx) = mpsc::channel(4096);
    let actor = RoomActor {
        media_room: Arc::from(stored.id.as_str()),
        epoch: tenure.epoch,
        lease: tenure.lease,
        core,
        committer,
        store,
        media: beside.media,
        live: beside.live,
        me: tx.downgrade(),
        session: None,
        bus,
    };
    tokio::spawn(actor.run(rx));
    RoomHandle { tx }
}

/// A tokio instant for a time on the wall clock.
fn instant_of(at: Millis) -> Instant {
    Instant::now() + Duration::from_millis(at.0.saturating_sub(now().0))
}

impl RoomActor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let id = self.core.id().to_owned();
        tracing::info!(room = %id, seq = self.core.seq(), epoch = %self.epoch, "room actor started");
        // The committed tail, for the mirrors (in a cluster).
        self.publish().await;
        if let Some(at) = self.core.unpublished_close() {
            self.publish_close(at).await;
        }
        if let Some(turn) = self.core.recovery()
            && let Err(e) = self.finish(turn).await
        {
            tracing::error!(room = %id, error = %e, "room stopped: the voided ballots could not be stored");
            self.core.dismiss();
            return;
        }
        if let Err(e) = self.end_orphan_livestream().await {
            tracing::error!(room = %id, error = %e, "room stopped: its events could not be stored");
            self.core.dismiss();
            return;
        }
        self.session = Some(self.core.session_state());
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let turn_at = self.core.turn_due().map(instant_of);
            let timers_at = self.core.timers_due(now()).map(instant_of);
            tokio::select! {
                n = rx.recv_many(&mut batch, MAX_BATCH) => {
                    if n == 0 { break; }
                }
                _ = sleep_until(turn_at) => {}
                _ = sleep_until(timers_at) => {
                    self.core.timers(now());
                    self.publish().await;
                    continue;
                }
                _ = lease_lost(&mut self.lease) => {
                    tracing::warn!(room = %id, "room stopped: this node lost its lease");
                    self.core.dismiss();
                    self.publish().await;
                    break;
                }
            }
            let stop = batch.iter().any(|m| matches!(m, Msg::Stop));
            let inputs = batch
                .drain(..)
                .filter_map(|m| match m {
                    Msg::Input(input) => Some(input),
                    Msg::Stop => None,
                })
                .collect();
            let turn = self.core.apply(inputs, now());
            if let Err(e) = self.finish(turn).await {
                tracing::error!(room = %id, error = %e, "room stopped: its events could not be stored");
                self.core.dismiss();
                self.publish().await;
                break;
            }
            self.publish().await;
            self.tell_media();
            self.stop_livestream_for_close();
            self.start_livestream_with_session();
            if stop {
                self.core.dismiss();
                self.publish().await;
                break;
            }
        }
        if let Some(lease) = self.lease.take()
            && !lease.is_lost()
        {
            lease.release().await;
        }
        tracing::info!(room = %id, "room actor stopped");
    }

    /// Publish what the core broadcasts for other nodes' mirrors, in order. At most once:
    /// a mirror that misses one notices the gap and fills it from the stream that keeps
    /// them (or resynchronises from a snapshot).
    async fn publish(&mut self) {
        let Some((client, room, node)) = &self.bus else {
            return;
        };
        for item in self.core.take_broadcast() {
            let (subject, headers, payload) = super::mirror::publication(item, room, node);
            if let Err(e) = client.publish_with_headers(subject, headers, payload).await {
                tracing::warn!(room = %self.core.id(), error = %e, "could not broadcast to the mirrors");
            }
        }
    }

    /// The I/O of one turn: commit its events, let the core show and acknowledge them,
    /// commit the ballots it sealed and acknowledge those, publish the final hash.
    async fn finish(&mut self, mut turn: Turn) -> Result<(), CommitError> {
        if let Some(mut append) = turn.append.take() {
            append.epoch = self.epoch;
            self.committer.commit(append).await?;
        }
        let committed = self.core.committed(turn, now());
        if let Some(mut sealing) = committed.sealing {
            let mut append = std::mem::take(&mut sealing.append);
            append.epoch = self.epoch;
            self.committer.commit(append).await?;
            self.core.sealed(sealing);
        }
        if let Some(at) = committed.closed_at {
            self.publish_close(at).await;
        }
        Ok(())
    }

    /// The record says the livestream is on but this process runs no worker for it (the
    /// server was restarted, or in a cluster the room moved here): record it stopped, so
    /// no one is sent to a playlist nobody writes.
    async fn end_orphan_livestream(&mut self) -> Result<(), CommitError> {
        let id = self.core.id().to_owned();
        let runs = self.live.get().is_some_and(|live| live.runs(&id));
        if !self.core.live_on() || runs {
            return Ok(());
        }
        tracing::warn!(room = %id, "the record says the livestream is on, but no worker runs here: it is recorded stopped");
        let (reply, _) = tokio::sync::oneshot::channel();
        let fact = crate::room::LiveFact::Stopped(yishi_protocol::LivestreamEnd::ServerRestarted);
        let input = Input::Livestream {
            by: None,
            fact,
            reply,
        };
        let turn = self.core.apply(vec![input], now());
        self.finish(turn).await
    }

    /// A close waits for the livestream: stop it (the stream's worker finishes, its
    /// recording is archived, both recorded), then let the close apply; at most
    /// [`CLOSE_WAIT`], after which the close applies anyway. Never blocks the room: the
    /// stop reports to this actor while it runs.
    fn stop_livestream_for_close(&mut self) {
        let Some(by) = self.core.take_live_stop() else {
            return;
        };
        let room = self.core.id().to_owned();
        let live = self.live.get().filter(|live| live.runs(&room)).cloned();
        let me = self.me.clone();
        tokio::spawn(async move {
            if let Some(live) = live {
                let stop = tokio::spawn(live.stop_for_close(room.clone(), by));
                if tokio::time::timeout(CLOSE_WAIT, stop).await.is_err() {
                    tracing::warn!(%room, "the livestream did not stop in time: the session closes without its recording in the record");
                }
            }
            if let Some(me) = me.upgrade() {
                let _ = me.send(Msg::Input(Input::LiveStopped)).await;
            }
        });
    }

    /// Tell the SFU the session's state (it passes on changes only) and whose audio the
    /// floor allows, if that changed.
    /// The session has just opened (from scheduled or check-in): a meeting set to
    /// stream (its `livestream` setting, a lecture's usual wish) starts its livestream.
    /// A room loaded mid-session does not: its stream was stopped or is running.
    fn start_livestream_with_session(&mut self) {
        let now = self.core.session_state();
        let before = self.session.replace(now);
        let opened = matches!(
            before,
            Some(SessionState::Scheduled | SessionState::CheckIn)
        ) && now == SessionState::InSession;
        let Some(live) = self.live.get().filter(|_| opened).cloned() else {
            return;
        };
        let (store, room) = (self.store.clone(), self.core.id().to_owned());
        tokio::spawn(async move {
            match store.meeting(&room).await {
                Ok(Some(meeting)) if meeting.details.livestream => {
                    live.start_with_session(room).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(%room, error = %e, "the meeting's livestream setting could not be read")
                }
            }
        });
    }

    fn tell_media(&mut self) {
        let Some(media) = &self.media else { return };
        let (state, heard) = self.core.media_news();
        media.session(&self.media_room, state);
        if let Some(heard) = heard {
            media.floor(self.media_room.clone(), heard);
        }
    }

    /// Mark the room closed in the store with its final hash (the record's head).
    async fn publish_close(&mut self, at: Millis) {
        let head = self.core.head();
        match self.store.close_room(self.core.id(), &head, at).await {
            Ok(()) => {
                tracing::info!(room = %self.core.id(), hash = %head, "session closed; final hash published");
            }
            Err(e) => {
                tracing::error!(room = %self.core.id(), error = %e, "could not publish the final hash")
            }
        }
    }
}

/// Resolves when the lease (if any) is lost.
async fn lease_lost(lease: &mut Option<LeaseKeeper>) {
    match lease {
        Some(lease) => lease.lost().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
