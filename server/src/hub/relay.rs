//! Relayed connections (中继): in a cluster any node accepts any connection. A client
//! whose room another node owns is carried to the owner over NATS, frame by frame, and
//! the owner serves it exactly as it serves a socket of its own (the same handshake,
//! limits, room core, media signalling): acknowledgements, private events, resume and
//! slow-consumer rules are the owner's, so nothing a relay does can reorder, drop or
//! duplicate what the room sends.
//!
//! Subjects, one subscription each per node (not per connection):
//! - `yishi.node.<owner>.open`: a request to serve a relay (headers: its id, the node
//!   the client is on, the client's address); answered once the owner listens for it.
//! - `yishi.node.<owner>.in`: the client's frames, for the relays the owner serves.
//! - `yishi.node.<client node>.out`: the owner's frames, for the relays whose client
//!   is on that node.
//!
//! - `yishi.node.<owner>.admin`: a request for the operator's command or the host's view
//!   of a room (the admin API and the console on any node), or a mirror's request
//!   (`mirror.rs`: the audience snapshot, the heartbeat with its viewer count, a viewer's
//!   command), answered by the owner.
//!
//! Every message carries the relay's id (`Yishi-Relay`) and its kind (`Yishi-Kind`: a
//! text frame, a binary frame, or the end, with a close code if there is one).
//!
//! A relay ends when either side's socket does (the other side is told), when the node
//! at the other end leaves the membership (the sweeper notices; a killed node is
//! noticed once its membership expires), or when the client's node cannot keep up with
//! what the owner sends (the client is closed with "resume" and catches up exactly).
//! A relayed client whose owner went away reconnects and resumes on any node.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;

use yishi_protocol::{Command, ErrorMessage, Participant, RequestId, RoomSnapshot, Seq};

use super::conn::Socket;
use super::{Hub, close};
use crate::bus::NodeId;

/// Frames a relay may have waiting on either side before it is ended.
const QUEUE: usize = 1024;
/// Frames waiting to be published to one client node.
const OUTGOING: usize = 1 << 16;
/// How long the queue to a client node waits after its first frame for the others of
/// the same fan-out.
const LINGER: Duration = Duration::from_millis(2);
/// Relays one published frame names at most.
const MAX_GROUP: usize = 1000;
/// How long the owner may take to accept a relay.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

const RELAY: &str = "Yishi-Relay";
const PEER: &str = "Yishi-Peer";
const IP: &str = "Yishi-Ip";
const KIND: &str = "Yishi-Kind";
const CODE: &str = "Yishi-Code";

/// One node's relays, both ways.
pub(crate) struct Relays {
    client: async_nats::Client,
    node: NodeId,
    next: std::sync::atomic::AtomicU64,
    /// Relays served here (this node owns their room): id → (client's node, frames in).
    served: Mutex<HashMap<String, (NodeId, mpsc::Sender<Message>)>>,
    /// Relays whose client is here: id → (owner, frames out to the socket).
    forwarded: Mutex<HashMap<String, (NodeId, mpsc::Sender<Message>)>>,
    /// What the relays served here send, per client node, in the order they sent it:
    /// one task per node publishes it, a frame shared by many relays once (`coalesce`).
    outgoing: Mutex<HashMap<NodeId, Outgoing>>,
}

/// Frames for one client node, each with the relay it is for.
type Outgoing = mpsc::Sender<(Arc<str>, Message)>;

type Map = Mutex<HashMap<String, (NodeId, mpsc::Sender<Message>)>>;

fn lock(map: &Map) -> std::sync::MutexGuard<'_, HashMap<String, (NodeId, mpsc::Sender<Message>)>> {
    // Nothing panics while holding it; a poisoned map is still a valid map.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

impl Relays {
    /// Listen for this node's relay traffic; the listeners stop when the hub is gone.
    pub(crate) async fn start(
        client: async_nats::Client,
        node: NodeId,
        mut losses: tokio::sync::watch::Receiver<u64>,
        hub: Weak<Hub>,
    ) -> Result<Arc<Relays>, async_nats::SubscribeError> {
        let opens = client.subscribe(node.subject("open")).await?;
        let admins = client.subscribe(node.subject("admin")).await?;
        let ins = client.subscribe(node.subject("in")).await?;
        let outs = client.subscribe(node.subject("out")).await?;
        let relays = Arc::new(Relays {
            client,
            node,
            next: std::sync::atomic::AtomicU64::new(1),
            served: Mutex::new(HashMap::new()),
            forwarded: Mutex::new(HashMap::new()),
            outgoing: Mutex::new(HashMap::new()),
        });
        tokio::spawn(accept(Arc::downgrade(&relays), hub.clone(), opens));
        tokio::spawn(answer_admin(relays.client.clone(), hub, admins));
        tokio::spawn(dispatch(Arc::downgrade(&relays), ins, Side::Served));
        tokio::spawn(dispatch(Arc::downgrade(&relays), outs, Side::Forwarded));
        // Frames lost on the way here (this node was cut off from NATS, or it did not
        // keep up and the client dropped some): end every relay, so that each client
        // resumes exactly instead of missing them.
        let weak = Arc::downgrade(&relays);
        tokio::spawn(async move {
            while losses.changed().await.is_ok() {
                losses.borrow_and_update();
                let Some(relays) = weak.upgrade() else { return };
                relays.end_everything();
            }
        });
        Ok(relays)
    }

    fn map(&self, side: Side) -> &Map {
        match side {
            Side::Served => &self.served,
            Side::Forwarded => &self.forwarded,
        }
    }

    /// Carry `socket`, whose hello (`hello`, not yet answered) is for a room `owner`
    /// serves, to the owner until either side ends.
    pub(crate) async fn forward<S: Socket>(
        self: Arc<Self>,
        mut socket: S,
        hello: Utf8Bytes,
        owner: NodeId,
        ip: IpAddr,
    ) {
        let id = format!(
            "{}-{}",
            self.node,
            self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let (tx, mut rx) = mpsc::channel(QUEUE);
        lock(&self.forwarded).insert(id.clone(), (owner.clone(), tx));
        let _gone = Remove {
            relays: Arc::clone(&self),
            side: Side::Forwarded,
            id: id.clone(),
        };
        let mut headers = relay_headers(&id);
        headers.insert(PEER, self.node.as_str());
        headers.insert(IP, ip.to_string().as_str());
        let opened = tokio::time::timeout(
            OPEN_TIMEOUT,
            self.client
                .request_with_headers(owner.subject("open"), headers, Bytes::new()),
        )
        .await;
        if !matches!(&opened, Ok(Ok(reply)) if reply.payload.as_ref() == b"ok") {
            tracing::info!(%owner, "the room's owner did not take a relayed connection");
            metrics::counter!("yishi_relays_refused_total").increment(1);
            let _ = socket
                .send(super::conn::error(
                    None,
                    yishi_protocol::ErrorCode::Unavailable,
                    "the room cannot be opened now; retry shortly",
                ))
                .await;
            let _ = socket
                .send(close_message(close::UNAVAILABLE, "unavailable".into()))
                .await;
            return;
        }
        metrics::gauge!("yishi_relays", "side" => "client").increment(1.0);
        let inbound = owner.subject("in");
        let mut to_owner = Some(Message::Text(hello));
        let ended = loop {
            if let Some(message) = to_owner.take() {
                if self.send(&inbound, &id, message).await.is_err() {
                    break Some((close::UNAVAILABLE, "unavailable".into()));
                }
                continue;
            }
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => to_owner = Some(m),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    // The client left: tell the owner.
                    _ => {
                        let _ = self.send(&inbound, &id, Message::Close(None)).await;
                        break None;
                    }
                },
                out = rx.recv() => match out {
                    Some(Message::Close(frame)) => {
                        let frame = frame.map(|f| (f.code, f.reason.to_string()));
                        break frame;
                    }
                    Some(m) => {
                        if socket.send(m).await.is_err() {
                            let _ = self.send(&inbound, &id, Message::Close(None)).await;
                            break None;
                        }
                    }
                    // Ended here: the owner left the cluster, or this side fell behind.
                    None => {
                        let _ = self.send(&inbound, &id, Message::Close(None)).await;
                        break Some((close::RESUME, "the room moved: resume".into()));
                    }
                },
            }
        };
        if let Some((code, reason)) = ended {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                socket.send(close_message(code, reason)),
            )
            .await;
        }
        metrics::gauge!("yishi_relays", "side" => "client").decrement(1.0);
    }

    /// Ask `owner` for the operator's `command` on `room` (`None`: the host's view).
    pub(crate) async fn admin(
        &self,
        owner: &NodeId,
        room: &str,
        command: Option<Command>,
    ) -> Result<AdminReply, String> {
        let ask = match command {
            Some(command) => Ask::Command(command),
            None => Ask::View,
        };
        self.ask(owner, room, ask, OPEN_TIMEOUT).await
    }

    /// Ask `owner` a mirror's request about `room`, waiting at most `wait`.
    pub(crate) async fn ask_mirrored(
        &self,
        owner: &NodeId,
        room: &str,
        ask: MirrorAsk,
        wait: Duration,
    ) -> Result<AdminReply, String> {
        self.ask(owner, room, Ask::Mirror(ask), wait).await
    }

    async fn ask(
        &self,
        owner: &NodeId,
        room: &str,
        ask: Ask,
        wait: Duration,
    ) -> Result<AdminReply, String> {
        let request = serde_json::to_vec(&AdminRequest {
            room: room.to_owned(),
            ask,
        })
        .map_err(|e| e.to_string())?;
        let request = async_nats::Request::new()
            .payload(request.into())
            .timeout(Some(wait));
        let reply = tokio::time::timeout(
            wait,
            self.client.send_request(owner.subject("admin"), request),
        )
        .await
        .map_err(|_| format!("node {owner} did not answer"))?
        .map_err(|e| e.to_string())?;
        serde_json::from_slice(&reply.payload).map_err(|e| e.to_string())
    }

    /// Relays served here (their client is on another node).
    pub(crate) fn served(&self) -> usize {
        lock(&self.served).len()
    }

    /// Publish one frame on `subject` for the relays `ids` (one id, or several
    /// comma-separated).
    async fn send(
        &self,
        subject: &str,
        ids: &str,
        message: Message,
    ) -> Result<(), async_nats::PublishError> {
        let mut headers = relay_headers(ids);
        let payload = match message {
            Message::Text(text) => {
                headers.insert(KIND, "t");
                Bytes::copy_from_slice(text.as_bytes())
            }
            Message::Binary(data) => {
                headers.insert(KIND, "b");
                data
            }
            Message::Close(frame) => {
                headers.insert(KIND, "c");
                match frame {
                    Some(f) => {
                        headers.insert(CODE, f.code.to_string().as_str());
                        Bytes::copy_from_slice(f.reason.as_bytes())
                    }
                    None => Bytes::new(),
                }
            }
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
        };
        metrics::counter!("yishi_relayed_frames_total").increment(1);
        self.client
            .publish_with_headers(subject.to_owned(), headers, payload)
            .await
    }

    /// The queue of frames to `peer`, started on first use.
    fn outgoing(self: &Arc<Self>, peer: &NodeId) -> Outgoing {
        let mut outgoing = self.outgoing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = outgoing.get(peer).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(OUTGOING);
        outgoing.insert(peer.clone(), tx.clone());
        tokio::spawn(publish_out(Arc::downgrade(self), peer.subject("out"), rx));
        tx
    }

    /// End every relay whose other end is on a node not in `live`: its client resumes
    /// elsewhere, or its connection here detaches.
    pub(crate) fn prune(&self, live: &[NodeId]) {
        let live: HashSet<&NodeId> = live.iter().collect();
        for side in [Side::Served, Side::Forwarded] {
            let mut map = lock(self.map(side));
            let before = map.len();
            map.retain(|_, (peer, _)| live.contains(peer));
            let ended = before - map.len();
            if ended > 0 {
                tracing::info!(ended, "relays to nodes that left the cluster ended");
                metrics::counter!("yishi_relays_lost_total").increment(ended as u64);
            }
        }
        self.outgoing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|peer, _| live.contains(peer));
    }

    /// End every relay whose client is here: the node stops.
    pub(crate) fn end_all(&self) {
        lock(&self.forwarded).clear();
    }

    /// End every relay, both ways: frames to this node may have been lost.
    fn end_everything(&self) {
        let ended = lock(&self.forwarded).drain().count() + lock(&self.served).drain().count();
        if ended > 0 {
            tracing::warn!(ended, "relays ended: the connection to NATS was lost");
            metrics::counter!("yishi_relays_lost_total").increment(ended as u64);
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Served,
    Forwarded,
}

/// Removes a relay from its map when its task ends.
struct Remove {
    relays: Arc<Relays>,
    side: Side,
    id: String,
}

impl Drop for Remove {
    fn drop(&mut self) {
        lock(self.relays.map(self.side)).remove(&self.id);
    }
}

fn relay_headers(id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RELAY, id);
    headers
}

fn header<'a>(message: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    message.headers.as_ref()?.get(name).map(|v| v.as_str())
}

fn close_message(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// A relayed frame as the message it stands for; `None` if it is not one.
fn decode(message: &async_nats::Message) -> Option<Message> {
    let payload = &message.payload;
    match header(message, KIND)? {
        "t" => Some(Message::Text(Utf8Bytes::from(
            std::str::from_utf8(payload).ok()?.to_owned(),
        ))),
        "b" => Some(Message::Binary(payload.clone())),
        "c" => {
            let frame = header(message, CODE)
                .and_then(|c| c.parse().ok())
                .map(|code| CloseFrame {
                    code,
                    reason: Utf8Bytes::from(String::from_utf8_lossy(payload).into_owned()),
                });
            Some(Message::Close(frame))
        }
        _ => None,
    }
}

/// Route each relayed frame to its relay. A relay that cannot take it (its queue is
/// full: the socket or the room does not keep up) is ended; its client resumes.
async fn dispatch(relays: Weak<Relays>, mut frames: async_nats::Subscriber, side: Side) {
    while let Some(message) = frames.next().await {
        let Some(relays) = relays.upgrade() else {
            return;
        };
        let (Some(ids), Some(frame)) = (header(&message, RELAY), decode(&message)) else {
            continue;
        };
        let end = matches!(frame, Message::Close(_));
        let mut map = lock(relays.map(side));
        for id in ids.split(',') {
            let Some((_, tx)) = map.get(id) else { continue };
            if tx.try_send(frame.clone()).is_err() || end {
                if !end {
                    metrics::counter!("yishi_relay_overflows_total").increment(1);
                }
                // An end is delivered, then nothing more; an overflow ends it at once.
                map.remove(id);
            }
        }
    }
}

/// What another node asks of a room this node owns, for the admin API or a mirror.
#[derive(serde::Serialize, serde::Deserialize)]
struct AdminRequest {
    room: String,
    ask: Ask,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum Ask {
    /// The operator's command.
    Command(Command),
    /// The host's view of the room.
    View,
    /// A mirror's request (`mirror.rs`).
    Mirror(MirrorAsk),
}

/// What a node mirroring a room's audience asks of its owner.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum MirrorAsk {
    /// The audience snapshot.
    Snapshot,
    /// The node mirrors `count` viewers (the heartbeat, every second).
    Viewers { node: String, count: u32 },
    /// A mirrored viewer's command, as that viewer.
    Command {
        participant: Participant,
        req: RequestId,
        command: Box<Command>,
    },
}

/// The owner's answer.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum AdminReply {
    Done(Result<Option<Seq>, ErrorMessage>),
    View(Option<Box<RoomSnapshot>>),
    /// The audience snapshot as of `seq`, after the broadcast through `through`.
    Audience {
        seq: Seq,
        through: Seq,
        snapshot: Box<serde_json::value::RawValue>,
        viewers: u32,
    },
    /// The `through` of the room's last audience broadcast.
    Heard(Seq),
    /// A mirrored viewer's command answered, after the broadcast through the `Seq`.
    Answered(Result<Option<Seq>, ErrorMessage>, Seq),
    /// This node does not run the room (any more).
    NotHere,
}

/// Answer other nodes' admin requests for rooms this node runs; never passed on again.
async fn answer_admin(
    client: async_nats::Client,
    hub: Weak<Hub>,
    mut requests: async_nats::Subscriber,
) {
    while let Some(request) = requests.next().await {
        let (Some(hub), Some(reply)) = (hub.upgrade(), request.reply.clone()) else {
            continue;
        };
        let client = client.clone();
        tokio::spawn(async move {
            let Ok(ask) = serde_json::from_slice::<AdminRequest>(&request.payload) else {
                return;
            };
            let room = match hub.runs(&ask.room) {
                true => hub.room(&ask.room).await.ok(),
                false => None,
            };
            let answer = match (room, ask.ask) {
                (None, _) => AdminReply::NotHere,
                (Some(room), Ask::Mirror(mirror)) => super::mirror::answer(&room, mirror).await,
                (Some(room), Ask::Command(command)) => {
                    metrics::counter!("yishi_forwarded_commands_total", "via" => "admin")
                        .increment(1);
                    AdminReply::Done(room.admin(command).await)
                }
                (Some(room), Ask::View) => AdminReply::View(room.inspect().await.map(Box::new)),
            };
            if let Ok(payload) = serde_json::to_vec(&answer) {
                let _ = client.publish(reply, payload.into()).await;
            }
        });
    }
}

/// Serve the relays other nodes open here.
async fn accept(relays: Weak<Relays>, hub: Weak<Hub>, mut opens: async_nats::Subscriber) {
    while let Some(request) = opens.next().await {
        let (Some(relays), Some(hub)) = (relays.upgrade(), hub.upgrade()) else {
            return;
        };
        let Some(reply) = request.reply.clone() else {
            continue;
        };
        let (Some(id), Some(peer), Some(ip)) = (
            header(&request, RELAY),
            header(&request, PEER).and_then(|p| NodeId::new(p).ok()),
            header(&request, IP).and_then(|ip| ip.parse::<IpAddr>().ok()),
        ) else {
            continue;
        };
        if hub.is_stopping() {
            let _ = relays
                .client
                .publish(reply, Bytes::from_static(b"stopping"))
                .await;
            continue;
        }
        let id = id.to_owned();
        let (tx, rx) = mpsc::channel(QUEUE);
        lock(&relays.served).insert(id.clone(), (peer.clone(), tx));
        let socket = Relayed {
            rx,
            out: relays.outgoing(&peer),
            id: Arc::from(id.as_str()),
            _gone: Remove {
                relays: Arc::clone(&relays),
                side: Side::Served,
                id,
            },
            ended: false,
        };
        let _ = relays
            .client
            .publish(reply, Bytes::from_static(b"ok"))
            .await;
        metrics::gauge!("yishi_relays", "side" => "owner").increment(1.0);
        tokio::spawn(async move {
            super::conn::serve(hub, socket, ip, false).await;
        });
    }
}

/// A relayed client as the owner sees it: a socket whose frames come and go over NATS.
pub(crate) struct Relayed {
    rx: mpsc::Receiver<Message>,
    /// The queue to the client's node.
    out: Outgoing,
    id: Arc<str>,
    _gone: Remove,
    /// The end was queued for the client's node.
    ended: bool,
}

impl Relayed {
    fn queue(&mut self, message: Message) -> Result<(), axum::Error> {
        if matches!(message, Message::Close(_)) {
            self.ended = true;
        }
        self.out
            .try_send((Arc::clone(&self.id), message))
            .map_err(|_| axum::Error::new("the relay's queue to the client's node is full"))
    }
}

impl Stream for Relayed {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|m| match m {
            Some(Message::Close(_)) | None => None,
            Some(m) => Some(Ok(m)),
        })
    }
}

/// Never waits: the queue to the client's node is large and shared, and a full one
/// fails the write (the owner's slow-consumer rules act on the connection's own queue
/// before that).
impl Sink<Message> for Relayed {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), axum::Error> {
        self.queue(item)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        if !self.ended {
            self.queue(Message::Close(None))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        metrics::gauge!("yishi_relays", "side" => "owner").decrement(1.0);
        if !self.ended {
            // Dropped without a close (the handshake refused it, or a writer was cut
            // off): the client's node still has to hear of the end, after what was sent.
            let _ = self.queue(Message::Close(None));
        }
    }
}

/// Publish what the relays served here send to one client node, in order, each frame
/// that several relays share once.
async fn publish_out(
    relays: Weak<Relays>,
    subject: String,
    mut rx: mpsc::Receiver<(Arc<str>, Message)>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, OUTGOING).await > 0 {
        // Let the writers of one fan-out finish queueing (each relay's writer is a task
        // of its own), so that the frame they share goes out once: a little latency
        // for far fewer messages.
        tokio::time::sleep(LINGER).await;
        while batch.len() < OUTGOING {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let Some(relays) = relays.upgrade() else {
            return;
        };
        for group in coalesce(batch.drain(..)) {
            let ids = group.ids.join(",");
            if let Err(e) = relays.send(&subject, &ids, group.message).await {
                tracing::warn!(error = %e, "a relayed frame could not be published");
            }
        }
    }
}

/// One frame for several relays, to publish once.
#[derive(Debug)]
struct Group {
    ids: Vec<Arc<str>>,
    message: Message,
}

/// Group `items` (relay, frame) so that a text frame shared by several relays (the same
/// bytes: the room serialises a batch once per view) is published once for all of
/// them, while each relay still gets its frames in the order it sent them: a frame joins
/// an earlier group only if that group comes after the relay's previous one.
fn coalesce(items: impl IntoIterator<Item = (Arc<str>, Message)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    // A frame's bytes (address and length, unique while a group holds them) → the
    // latest group publishing them.
    let mut by_frame: HashMap<(usize, usize), usize> = HashMap::new();
    let mut last: HashMap<Arc<str>, usize> = HashMap::new();
    for (id, message) in items {
        let key = match &message {
            Message::Text(t) if !t.is_empty() => Some((t.as_str().as_ptr() as usize, t.len())),
            _ => None,
        };
        let after = last.get(&id).copied();
        let joinable = key
            .and_then(|k| by_frame.get(&k).copied())
            .filter(|g| after.is_none_or(|a| *g > a) && groups[*g].ids.len() < MAX_GROUP);
        let g = match joinable {
            Some(g) => {
                groups[g].ids.push(Arc::clone(&id));
                g
            }
            None => {
                groups.push(Group {
                    ids: vec![Arc::clone(&id)],
                    message,
                });
                let g = groups.len() - 1;
                if let Some(k) = key {
                    by_frame.insert(k, g);
                }
                g
            }
        };
        last.insert(id, g);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Message {
        Message::Text(Utf8Bytes::from(s.to_owned()))
    }

    /// Each relay's frames in the order the groups deliver them.
    fn delivered(groups: &[Group]) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for g in groups {
            let Message::Text(t) = &g.message else {
                continue;
            };
            for id in &g.ids {
                out.entry(id.to_string())
                    .or_default()
                    .push(t.as_str().to_owned());
            }
        }
        out
    }

    #[test]
    fn a_shared_frame_is_published_once_for_every_relay() {
        let shared = text("batch 7");
        let items: Vec<_> = (0..5)
            .map(|i| (Arc::from(format!("n-{i}").as_str()), shared.clone()))
            .collect();
        let groups = coalesce(items);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].ids.len(), 5);
    }

    #[test]
    fn equal_text_that_is_not_the_same_frame_is_not_merged() {
        let items = vec![(Arc::from("a"), text("x")), (Arc::from("b"), text("x"))];
        assert_eq!(coalesce(items).len(), 2);
    }

    #[test]
    fn every_relay_keeps_its_order() {
        // s is a batch ahead of r: r's last frame is the one s got first.
        let one = text("batch 1");
        let two = text("batch 2");
        let (r, s): (Arc<str>, Arc<str>) = (Arc::from("r"), Arc::from("s"));
        let items = vec![
            (Arc::clone(&s), two.clone()),
            (Arc::clone(&r), one.clone()),
            (Arc::clone(&r), text("ack for r")),
            (Arc::clone(&r), two.clone()),
            (Arc::clone(&s), text("batch 3")),
        ];
        let got = delivered(&coalesce(items));
        assert_eq!(got["r"], ["batch 1", "ack for r", "batch 2"]);
        assert_eq!(got["s"], ["batch 2", "batch 3"]);
    }

    #[test]
    fn a_group_is_bounded() {
        let shared = text("batch");
        let items: Vec<_> = (0..=MAX_GROUP)
            .map(|i| (Arc::from(format!("n-{i}").as_str()), shared.clone()))
            .collect();
        let groups = coalesce(items);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].ids.len(), MAX_GROUP);
    }

    #[test]
    fn closes_are_never_merged() {
        let items = vec![
            (Arc::from("a"), Message::Close(None)),
            (Arc::from("b"), Message::Close(None)),
        ];
        assert_eq!(coalesce(items).len(), 2);
    }
}
