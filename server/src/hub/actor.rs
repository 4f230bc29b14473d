//! The room actor: one task owns one live room's engine, its record chain and its
//! subscribers. Commands arrive on a bounded channel; the task sleeps until the engine's
//! next deadline.
//!
//! Each turn of the loop takes everything queued, applies it to the engine, makes the
//! resulting events durable through the group committer and only then fans them out and
//! acknowledges them (durability before visibility). If the store fails, the actor tells
//! everyone to come back, and stops: the next connection rebuilds the room from the store,
//! so nothing unacknowledged is ever seen and nothing acknowledged is lost.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use yishi_protocol::{
    Command, ErrorCode, ErrorMessage, Event, EventBody, Millis, PROTOCOL_VERSION, Participant,
    ParticipantId, PollId, RequestId, Resume, Role, Seq, ServerMessage, SessionState, View,
    Welcome,
};

use super::mixer::{Mixer, Waiting};
use super::sessions::Sessions;
use super::{Committer, HubConfig, Out, close, now};
use crate::auth;
use crate::media::Sfu;
use crate::outbox::{Outbox, Refused};
use crate::room::{Actor, Applied, Chain, Room};
use crate::store::{Append, Loaded, Store, StoredRoom};

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
        if self
            .tx
            .send(Msg::Admin {
                command: Box::new(command),
                reply,
            })
            .await
            .is_err()
        {
            return Err(unavailable());
        }
        rx.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// The room as a host sees it now.
    pub async fn inspect(&self) -> Option<yishi_protocol::RoomSnapshot> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Inspect { reply }).await.ok()?;
        rx.await.ok()
    }

    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ask the actor to stop after what it has queued.
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
    }
}

pub(crate) type ConnId = u64;

pub(crate) enum Msg {
    /// A connection finished its handshake and wants the room.
    Attach(Box<Attach>),
    Command {
        conn: ConnId,
        req: RequestId,
        command: Box<Command>,
    },
    /// A connection ended.
    Detach {
        conn: ConnId,
    },
    Admin {
        command: Box<Command>,
        reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
    },
    Inspect {
        reply: oneshot::Sender<yishi_protocol::RoomSnapshot>,
    },
    /// After a restart: whoever the record shows present but has not come back has left.
    PresenceAudit,
    Stop,
}

pub(crate) struct Attach {
    pub conn: ConnId,
    /// As the token says; an anonymous audience link has id `*`.
    pub participant: Participant,
    pub resume: Option<Resume>,
    pub outbox: Outbox,
    /// Closes the socket at once with a code, past whatever is queued.
    pub kill: oneshot::Sender<(u16, &'static str)>,
    /// Who the connection turned out to be (an anonymous viewer gets an identity here).
    pub reply: oneshot::Sender<Result<Participant, ErrorMessage>>,
}

/// A connection the room sends to.
struct Subscriber {
    participant: Actor,
    view: View,
    outbox: Outbox,
    kill: Option<oneshot::Sender<(u16, &'static str)>>,
    /// Its resume session id, repeated in any later welcome (resynchronisation).
    session: String,
    /// The last sequence number this connection's batches cover.
    through: Seq,
    /// An audience connection that fell behind: it gets a snapshot when it has room.
    lagging: bool,
    /// Replaced by a newer connection of the same participant: it gets nothing more and
    /// its commands are refused.
    displaced: bool,
}

/// Something to send once the current batch is durable.
enum Deferred {
    Ack {
        conn: ConnId,
        req: RequestId,
        seq: Option<Seq>,
    },
    Admin {
        seq: Option<Seq>,
        reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
    },
    Welcome {
        conn: ConnId,
        resume_from: Option<Seq>,
        session: String,
        reply: oneshot::Sender<Result<Participant, ErrorMessage>>,
    },
}

struct RoomActor {
    id: String,
    room: Room,
    chain: Chain,
    committer: Committer,
    store: Store,
    config: HubConfig,
    subscribers: HashMap<ConnId, Subscriber>,
    /// Open connections per participant: presence changes on the first and the last.
    connections: HashMap<ParticipantId, u32>,
    /// Recent events, for resume.
    recent: VecDeque<Event>,
    /// Request ids already applied, per participant, with the sequence number acknowledged;
    /// a retry is acknowledged again without being applied twice.
    seen: HashMap<(ParticipantId, RequestId), Option<Seq>>,
    seen_order: VecDeque<(ParticipantId, RequestId)>,
    /// Resume sessions: id → the identity it stands for, kept for a grace after the last
    /// connection using it left.
    sessions: Sessions,
    /// Secret ballots waiting for their batch into the sealed ballot box.
    mixer: Mixer,
    /// After a restart: ballots voided because they never reached the box, to commit
    /// before anything else.
    recovered: Option<Applied>,
    /// Polls whose tallies changed since they were last sent.
    dirty_polls: BTreeSet<PollId>,
    next_tally: Option<Instant>,
    /// Audience subscribers now (kept on attach and detach, not counted per turn).
    viewers: u32,
    /// The viewer count last broadcast; a different count is sent with the next tally.
    viewers_sent: u32,
    /// The record ends in the session's close but the room was never marked closed (the
    /// process died between the commit and publishing the final hash): publish it first.
    unpublished_close: bool,
    /// The SFU, told whose audio the floor allows whenever that changes.
    media: Option<Sfu>,
    media_room: Arc<str>,
    heard_sent: Option<Vec<ParticipantId>>,
}

const SEEN_LIMIT: usize = 65_536;
const MAX_BATCH: usize = 1024;
/// How often a room with lagging viewers checks whether they have room for a snapshot.
const CATCH_UP_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) fn spawn(
    stored: StoredRoom,
    loaded: Loaded,
    committer: Committer,
    store: Store,
    config: HubConfig,
    media: Option<Sfu>,
) -> RoomHandle {
    let entries = loaded.entries;
    let chain = entries
        .last()
        .and_then(|e| Chain::resume(&e.hash))
        .unwrap_or_default();
    let room = Room::replay(
        stored.title.clone(),
        entries.iter().map(|e| &e.event),
        &loaded.sealed,
    );
    let unpublished_close = stored.closed_at.is_none() && room.session.is_closed();
    let keep = entries.len().saturating_sub(config.resume_window);
    let recent: VecDeque<Event> = entries.into_iter().skip(keep).map(|e| e.event).collect();
    let mut room = room;
    let voided = room.void_unsealed(now());
    if !voided.events.is_empty() {
        tracing::warn!(room = %stored.id, "secret ballots that never reached the ballot box are voided");
    }
    let mut seen = HashMap::with_capacity(loaded.requests.len());
    let mut seen_order = VecDeque::with_capacity(loaded.requests.len());
    for (who, req, seq) in loaded.requests {
        let key = (who, req);
        seen.insert(key.clone(), Some(seq));
        seen_order.push_back(key);
    }
    let sessions = Sessions::new(config.resume_grace, config.max_sessions);
    let mixer = Mixer::new(config.ballot_batch);
    let (tx, rx) = mpsc::channel(4096);
    let actor = RoomActor {
        media_room: Arc::from(stored.id.as_str()),
        media,
        heard_sent: None,
        id: stored.id,
        room,
        chain,
        committer,
        store,
        config,
        subscribers: HashMap::new(),
        connections: HashMap::new(),
        recent,
        seen,
        seen_order,
        sessions,
        mixer,
        recovered: (!voided.events.is_empty()).then_some(voided),
        dirty_polls: BTreeSet::new(),
        next_tally: None,
        viewers: 0,
        viewers_sent: 0,
        unpublished_close,
    };
    tokio::spawn(actor.run(rx));
    RoomHandle { tx }
}

/// A tokio instant for a room deadline.
fn instant_of(deadline: Millis) -> Instant {
    Instant::now() + Duration::from_millis(deadline.0.saturating_sub(now().0))
}

fn frame(message: &ServerMessage) -> Utf8Bytes {
    // Our own types always serialise.
    Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default())
}

fn error_frame(req: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Utf8Bytes {
    frame(&ServerMessage::Error(ErrorMessage {
        req,
        code,
        message: message.into(),
    }))
}

impl RoomActor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        tracing::info!(room = %self.id, seq = self.room.seq(), "room actor started");
        if self.unpublished_close {
            self.publish_close(self.room.last_at()).await;
        }
        if let Some(voided) = self.recovered.take()
            && let Err(e) = self.commit(&voided, Vec::new()).await
        {
            tracing::error!(room = %self.id, error = %e, "room stopped: the voided ballots could not be stored");
            return;
        }
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // A room starting up has no connections, but its record may show people present
        // (the server stopped under them). They get one drop grace to come back, so a
        // speaker's clock simply goes on; whoever is not back by then has left.
        let grace = u64::from(self.room.current_settings().drop_grace_s) * 1000;
        let mut audit = (!self.room.present().is_empty())
            .then(|| Instant::now() + Duration::from_millis(grace));
        loop {
            let deadline = self.room.next_deadline().map(instant_of);
            // Viewers that fell behind are caught up on the next fan-out; in a quiet room
            // there may be none for a long time, so look again shortly.
            let catch_up = self
                .subscribers
                .values()
                .any(|s| s.lagging && s.view == View::Audience && s.through != 0)
                .then(|| Instant::now() + CATCH_UP_INTERVAL);
            let forget = self.sessions.next_expiry().map(instant_of);
            tokio::select! {
                n = rx.recv_many(&mut batch, MAX_BATCH) => {
                    if n == 0 { break; }
                }
                _ = sleep_until(deadline) => {}
                _ = sleep_until(audit) => {
                    audit = None;
                    batch.push(Msg::PresenceAudit);
                }
                _ = sleep_until(self.next_tally) => {
                    self.send_tallies();
                    continue;
                }
                _ = sleep_until(catch_up) => {
                    self.catch_up_laggards();
                    continue;
                }
                _ = sleep_until(forget) => {
                    self.sessions.prune(now());
                    metrics::gauge!("yishi_resume_sessions").set(self.sessions.len() as f64);
                    continue;
                }
            }
            let stop = batch.iter().any(|m| matches!(m, Msg::Stop));
            if let Err(e) = self.turn(std::mem::take(&mut batch)).await {
                tracing::error!(room = %self.id, error = %e, "room stopped: its events could not be stored");
                for sub in self.subscribers.values_mut() {
                    if let Some(kill) = sub.kill.take() {
                        let _ = kill.send((close::UNAVAILABLE, "the room restarts: resume"));
                    }
                }
                break;
            }
            self.tell_media();
            if stop {
                break;
            }
        }
        tracing::info!(room = %self.id, "room actor stopped");
    }

    /// Tell the SFU whose audio the floor allows, if that changed, and the session's
    /// state (the SFU passes on changes only).
    fn tell_media(&mut self) {
        let Some(media) = &self.media else { return };
        media.session(&self.media_room, self.room.session_state());
        let heard = self.room.heard();
        if self.heard_sent.as_ref() != Some(&heard) {
            media.floor(self.media_room.clone(), heard.clone());
            self.heard_sent = Some(heard);
        }
    }

    /// One turn: deadlines, then every queued message, one commit, then visibility.
    async fn turn(&mut self, batch: Vec<Msg>) -> Result<(), String> {
        let now = now();
        self.sessions.prune(now);
        let mut applied = self.room.tick(now);
        let mut deferred = Vec::new();
        let mut requests = Vec::new();
        for msg in batch {
            match msg {
                Msg::Command { conn, req, command } => self.command(
                    conn,
                    req,
                    &command,
                    now,
                    (&mut applied, &mut requests),
                    &mut deferred,
                ),
                Msg::Attach(attach) => self.attach(*attach, now, &mut applied, &mut deferred),
                Msg::Detach { conn } => self.detach(conn, now, &mut applied),
                Msg::PresenceAudit => {
                    for id in self.room.present() {
                        if !self.connections.contains_key(&id) {
                            let out = self.room.leave(&id, now);
                            applied.events.extend(out.events);
                        }
                    }
                }
                Msg::Admin { command, reply } => {
                    let admin = Actor::new(Participant::new("admin", "管理员", Role::Host));
                    let req = RequestId(format!("admin-{}", now.0));
                    match self.room.apply(&admin, &req, &command, now) {
                        Ok(out) => {
                            let seq = out.ack_seq();
                            applied.events.extend(out.events);
                            deferred.push(Deferred::Admin { seq, reply });
                        }
                        Err(r) => {
                            let _ = reply.send(Err(ErrorMessage {
                                req: None,
                                code: r.code,
                                message: r.message,
                            }));
                        }
                    }
                }
                Msg::Inspect { reply } => {
                    let _ =
                        reply.send(self.room.snapshot(View::Host, &ParticipantId::new("admin")));
                }
                Msg::Stop => {}
            }
        }
        if !applied.events.is_empty() {
            self.commit(&applied, requests).await?;
            self.fan_out(&applied.events);
        }
        for d in deferred {
            self.deliver(d);
        }
        self.seal_ballots(&applied.events).await?;
        let closed = applied.events.iter().any(|e| {
            matches!(
                e.body,
                EventBody::SessionChanged {
                    state: SessionState::Closed
                }
            )
        });
        if closed {
            let at = applied.events.last().map_or(now, |e| e.at);
            self.publish_close(at).await;
        }
        metrics::gauge!("yishi_resume_sessions").set(self.sessions.len() as f64);
        self.schedule_tally();
        Ok(())
    }

    /// Secret ballots into the sealed ballot box: every batch that is full, and the last
    /// few of a poll that closed, in a transaction of their own (never the one that
    /// recorded their voters); then their voters are acknowledged. Ballots of a poll that
    /// was reset are discarded, and acknowledged (they were cast; the reset undid them).
    async fn seal_ballots(&mut self, events: &[Event]) -> Result<(), String> {
        let mut ready: Vec<Waiting> = Vec::new();
        for e in events {
            match &e.body {
                EventBody::PollClosed { poll, .. } => ready.extend(self.mixer.closed(*poll, e.seq)),
                EventBody::PollReset { poll, .. } => {
                    for w in self.mixer.reset(*poll, e.seq) {
                        self.acknowledge(w);
                    }
                }
                _ => {}
            }
        }
        ready.extend(self.mixer.ripe());
        if ready.is_empty() {
            return Ok(());
        }
        self.committer
            .commit(Append {
                room: self.id.clone(),
                entries: Vec::new(),
                requests: Vec::new(),
                sealed: ready.iter().map(|w| w.ballot.clone()).collect(),
            })
            .await?;
        metrics::counter!("yishi_ballots_sealed_total").increment(ready.len() as u64);
        for w in ready {
            self.acknowledge(w);
        }
        Ok(())
    }

    /// Acknowledge a ballot that left the mixer, to everyone who waits for it.
    fn acknowledge(&self, waiting: Waiting) {
        for (conn, req) in waiting.acks {
            self.ack(conn, req, Some(waiting.seq));
        }
    }

    fn ack(&self, conn: ConnId, req: RequestId, seq: Option<Seq>) {
        if let Some(outbox) = sub_outbox(&self.subscribers, conn) {
            let _ = outbox.try_send(Out::Frame(frame(&ServerMessage::Ack(
                yishi_protocol::Ack { req, seq },
            ))));
        }
    }

    fn command(
        &mut self,
        conn: ConnId,
        req: RequestId,
        command: &Command,
        now: Millis,
        (applied, requests): (&mut Applied, &mut Vec<(Seq, RequestId)>),
        deferred: &mut Vec<Deferred>,
    ) {
        let Some(sub) = self.subscribers.get(&conn) else {
            return;
        };
        if sub.displaced {
            return;
        }
        let actor = sub.participant.clone();
        let key = (actor.id().clone(), req.clone());
        // Ballots are deduplicated by the engine, from the record (each voter's request
        // id is in their `ballot_cast`); everything else here.
        let ballot = matches!(command, Command::CastBallot { .. });
        if !ballot && let Some(seq) = self.seen.get(&key) {
            deferred.push(Deferred::Ack {
                conn,
                req,
                seq: *seq,
            });
            return;
        }
        let started = std::time::Instant::now();
        let result = self.room.apply(&actor, &req, command, now);
        metrics::histogram!("yishi_engine_apply_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(out) => {
                let seq = out.ack_seq();
                if let Command::CastBallot { poll, .. } = command {
                    self.dirty_polls.insert(*poll);
                }
                if let (Some(original), true) = (out.duplicate_of, ballot)
                    && self.mixer.also(original, (conn, req.clone()))
                {
                    // A retry of a secret ballot still waiting for its batch waits too.
                    return;
                }
                if !out.sealed.is_empty() {
                    // A secret ballot: its voter's event commits now, its choice later in
                    // a batch; the acknowledgement waits for the batch.
                    let at = seq.unwrap_or_default();
                    let mut ack = Some((conn, req));
                    for ballot in out.sealed {
                        if let Some(ack) = ack.take() {
                            self.mixer.push(at, ballot, ack);
                        }
                    }
                    applied.events.extend(out.events);
                    return;
                }
                if !ballot {
                    self.remember(key, seq);
                    if let Some(seq) = seq {
                        requests.push((seq, req.clone()));
                    }
                }
                applied.events.extend(out.events);
                deferred.push(Deferred::Ack { conn, req, seq });
            }
            Err(rejection) => {
                metrics::counter!("yishi_commands_refused_total", "code" => rejection.code.as_str()).increment(1);
                let _ = sub_outbox(&self.subscribers, conn).map(|o| {
                    o.try_send(Out::Frame(error_frame(
                        Some(req),
                        rejection.code,
                        rejection.message,
                    )))
                });
            }
        }
    }

    fn remember(&mut self, key: (ParticipantId, RequestId), seq: Option<Seq>) {
        if self.seen_order.len() >= SEEN_LIMIT
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen_order.push_back(key.clone());
        self.seen.insert(key, seq);
    }

    fn attach(
        &mut self,
        attach: Attach,
        now: Millis,
        applied: &mut Applied,
        deferred: &mut Vec<Deferred>,
    ) {
        let Attach {
            conn,
            participant,
            resume,
            outbox,
            kill,
            reply,
        } = attach;
        // Who is this? A resumed session keeps its identity: an anonymous viewer keeps the
        // id the server gave it. Otherwise an anonymous link gets a fresh identity.
        let anonymous = auth::is_anonymous(&participant);
        let remembered = resume
            .as_ref()
            .and_then(|r| Some((r.session.clone(), self.sessions.find(&r.session)?.clone())));
        let (session, who) = match remembered {
            Some((session, known)) if anonymous && known.role == participant.role => {
                (session, known)
            }
            Some((session, known)) if known.id == participant.id => (session, participant),
            _ => {
                let who = if anonymous {
                    auth::anonymous_viewer(&participant)
                } else {
                    participant
                };
                (auth::random_base32(&mut rand::rng(), 24), who)
            }
        };
        self.sessions.open(&session, &who, now);
        // One device per participant: a new connection replaces the ones before it (a
        // reconnect replaces a connection that has not noticed it is gone, a second
        // device the first). Each audience viewer is someone of their own.
        if who.role != Role::Audience && self.connections.contains_key(&who.id) {
            self.displace(&who.id);
        }
        let count = self.connections.entry(who.id.clone()).or_insert(0);
        *count += 1;
        if *count == 1 {
            let out = self.room.join(&who, now);
            applied.events.extend(out.events);
        }
        metrics::gauge!("yishi_connections", "role" => role_name(who.role)).increment(1.0);
        let actor = Actor::new(who.clone());
        let view = actor.view();
        // A viewer whose session was forgotten is someone new: their own pending items
        // were the old identity's, so they start from a snapshot.
        let renamed = anonymous && resume.as_ref().is_none_or(|r| r.session != session);
        let resume_from = resume.as_ref().map(|r| r.last_seq).filter(|_| !renamed);
        // Lagging until welcomed: no batch may reach it before its welcome.
        if view == View::Audience {
            self.viewers += 1;
        }
        self.subscribers.insert(
            conn,
            Subscriber {
                participant: actor,
                view,
                outbox,
                kill: Some(kill),
                session: session.clone(),
                through: 0,
                lagging: true,
                displaced: false,
            },
        );
        deferred.push(Deferred::Welcome {
            conn,
            resume_from,
            session,
            reply,
        });
    }

    /// Close every connection of `id` with `displaced` (4005): its frames so far, the
    /// error, then the close; a connection too far behind for that is cut at once.
    fn displace(&mut self, id: &ParticipantId) {
        let text = error_frame(
            None,
            ErrorCode::Displaced,
            "you joined from another device; this one was disconnected",
        );
        for sub in self.subscribers.values_mut() {
            if sub.participant.id() != id || sub.kill.is_none() {
                continue;
            }
            metrics::counter!("yishi_displaced_total").increment(1);
            // Nothing more reaches it.
            sub.lagging = true;
            sub.displaced = true;
            let told = sub.outbox.try_send(Out::Frame(text.clone())).is_ok()
                && sub
                    .outbox
                    .try_send(Out::Close(close::DISPLACED, "displaced"))
                    .is_ok();
            if told {
                sub.kill = None;
            } else if let Some(kill) = sub.kill.take() {
                let _ = kill.send((close::DISPLACED, "displaced"));
            }
        }
    }

    fn detach(&mut self, conn: ConnId, now: Millis, applied: &mut Applied) {
        let Some(sub) = self.subscribers.remove(&conn) else {
            return;
        };
        self.sessions.close(&sub.session, now);
        if sub.view == View::Audience {
            self.viewers -= 1;
        }
        let id = sub.participant.id().clone();
        metrics::gauge!("yishi_connections", "role" => role_name(sub.participant.participant.role))
            .decrement(1.0);
        if let Some(count) = self.connections.get_mut(&id) {
            *count -= 1;
            if *count == 0 {
                self.connections.remove(&id);
                let out = self.room.leave(&id, now);
                applied.events.extend(out.events);
            }
        }
    }

    /// Seal the events into the chain and make them durable, with the request ids they
    /// answer. Secret ballots are not here: they go to the box apart (`seal_ballots`).
    async fn commit(
        &mut self,
        applied: &Applied,
        requests: Vec<(Seq, RequestId)>,
    ) -> Result<(), String> {
        let entries: Vec<_> = applied
            .events
            .iter()
            .map(|e| self.chain.seal(e.clone()))
            .collect();
        self.committer
            .commit(Append {
                room: self.id.clone(),
                entries,
                requests,
                sealed: Vec::new(),
            })
            .await?;
        metrics::counter!("yishi_events_total").increment(applied.events.len() as u64);
        for e in &applied.events {
            if self.recent.len() >= self.config.resume_window {
                self.recent.pop_front();
            }
            self.recent.push_back(e.clone());
        }
        Ok(())
    }

    /// Mark the room closed in the store with its final hash (the record's head).
    async fn publish_close(&mut self, at: Millis) {
        match self
            .store
            .close_room(&self.id, &self.chain.head(), at)
            .await
        {
            Ok(()) => {
                self.unpublished_close = false;
                tracing::info!(room = %self.id, hash = %self.chain.head(), "session closed; final hash published");
            }
            Err(e) => {
                tracing::error!(room = %self.id, error = %e, "could not publish the final hash")
            }
        }
    }

    /// Send committed events to every subscriber as its view may see them: serialised once
    /// per view (and per starting point), shared by reference.
    fn fan_out(&mut self, events: &[Event]) {
        let started = std::time::Instant::now();
        let Some(last) = events.last().map(|e| e.seq) else {
            return;
        };
        let private: BTreeSet<&ParticipantId> = events
            .iter()
            .filter_map(|e| self.room.private_recipient(e))
            .collect();
        let mut per_view: HashMap<View, Option<String>> = HashMap::new();
        let mut frames: HashMap<(View, Seq), Utf8Bytes> = HashMap::new();
        let mut slow: Vec<ConnId> = Vec::new();
        let room = &self.room;
        for (conn, sub) in self.subscribers.iter_mut() {
            if sub.lagging {
                continue;
            }
            let from = sub.through + 1;
            let frame = if private.contains(sub.participant.id()) {
                let visible: Vec<_> = events
                    .iter()
                    .filter_map(|e| room.event_for_viewer(e, sub.view, sub.participant.id()))
                    .collect();
                if visible.is_empty() {
                    continue;
                }
                events_frame(
                    from,
                    last,
                    &serde_json::to_string(&visible).unwrap_or_default(),
                )
            } else {
                let json = per_view.entry(sub.view).or_insert_with(|| {
                    let visible: Vec<_> = events
                        .iter()
                        .filter_map(|e| room.event_for(e, sub.view))
                        .collect();
                    (!visible.is_empty())
                        .then(|| serde_json::to_string(&visible).unwrap_or_default())
                });
                let Some(json) = json else { continue };
                frames
                    .entry((sub.view, from))
                    .or_insert_with(|| events_frame(from, last, json))
                    .clone()
            };
            match sub.outbox.try_send(Out::Frame(frame)) {
                Ok(()) => sub.through = last,
                Err(Refused::Full) => slow.push(*conn),
                Err(Refused::Closed) => {}
            }
        }
        for conn in slow {
            self.fell_behind(conn);
        }
        self.catch_up_laggards();
        metrics::histogram!("yishi_fanout_seconds").record(started.elapsed().as_secs_f64());
    }

    /// A subscriber whose queue is full: the audience is resynchronised later from a
    /// snapshot; members and hosts are closed with "resume" and catch up exactly.
    fn fell_behind(&mut self, conn: ConnId) {
        metrics::counter!("yishi_queue_drops_total").increment(1);
        let Some(sub) = self.subscribers.get_mut(&conn) else {
            return;
        };
        if sub.view == View::Audience {
            sub.lagging = true;
        } else {
            // Closed at once past its full queue; it resumes from its last batch. Until its
            // reader detaches it gets nothing more.
            sub.lagging = true;
            if let Some(kill) = sub.kill.take() {
                let _ = kill.send((close::RESUME, "too slow: resume"));
            }
        }
    }

    /// Audience subscribers that fell behind and have room again get a fresh snapshot.
    fn catch_up_laggards(&mut self) {
        let room = &self.room;
        // The audience snapshot is the same for every viewer (it holds nothing personal
        // but their own pending items, which come back with the next snapshot they ask
        // for): serialise it once, and wrap it in each viewer's own welcome.
        let mut snapshot: Option<String> = None;
        for sub in self.subscribers.values_mut() {
            if !sub.lagging
                || sub.view != View::Audience
                || !sub.outbox.at_most_half_full()
                || sub.through == 0
            {
                continue;
            }
            let json = snapshot.get_or_insert_with(|| {
                let s = room.snapshot(View::Audience, &ParticipantId::new(""));
                serde_json::to_string(&s).unwrap_or_default()
            });
            let welcome = frame(&ServerMessage::Welcome(Box::new(Welcome {
                protocol: PROTOCOL_VERSION,
                session: sub.session.clone(),
                you: sub.participant.participant.clone(),
                view: sub.view,
                server_time: now(),
                snapshot: None,
                ice_servers: None,
            })));
            // `{…}` without a snapshot, plus `,"snapshot":{…}}`.
            let head = welcome.as_str().strip_suffix('}').unwrap_or_default();
            let text = Utf8Bytes::from(format!("{head},\"snapshot\":{json}}}"));
            if sub.outbox.try_send(Out::Frame(text)).is_ok() {
                sub.lagging = false;
                sub.through = room.seq();
            }
        }
    }

    fn deliver(&mut self, deferred: Deferred) {
        match deferred {
            Deferred::Ack { conn, req, seq } => self.ack(conn, req, seq),
            Deferred::Admin { seq, reply } => {
                let _ = reply.send(Ok(seq));
            }
            Deferred::Welcome {
                conn,
                resume_from,
                session,
                reply,
            } => self.welcome(conn, resume_from, session, reply),
        }
    }

    /// Greet a new subscriber: the missed events when it resumes within the window, a
    /// snapshot otherwise. From here on it gets every batch.
    fn welcome(
        &mut self,
        conn: ConnId,
        resume_from: Option<Seq>,
        session: String,
        reply: oneshot::Sender<Result<Participant, ErrorMessage>>,
    ) {
        let Some(sub) = self.subscribers.get_mut(&conn) else {
            return;
        };
        if sub.displaced {
            // Replaced before it was even welcomed.
            let _ = reply.send(Err(ErrorMessage {
                req: None,
                code: ErrorCode::Displaced,
                message: "you joined from another device".into(),
            }));
            return;
        }
        let me = sub.participant.participant.clone();
        let seq = self.room.seq();
        let oldest = self.recent.front().map_or(seq + 1, |e| e.seq);
        let missed = resume_from.filter(|last| *last <= seq && last + 1 >= oldest);
        let welcome = Welcome {
            protocol: PROTOCOL_VERSION,
            session,
            you: me.clone(),
            view: sub.view,
            server_time: now(),
            snapshot: missed
                .is_none()
                .then(|| self.room.snapshot(sub.view, &me.id)),
            ice_servers: self
                .config
                .turn
                .as_ref()
                .map(|t| t.ice_servers(&me.id, now()))
                .filter(|s| !s.is_empty()),
        };
        let _ = sub
            .outbox
            .try_send(Out::Frame(frame(&ServerMessage::Welcome(Box::new(
                welcome,
            )))));
        if let Some(last) = missed {
            let visible: Vec<_> = self
                .recent
                .iter()
                .filter(|e| e.seq > last)
                .filter_map(|e| self.room.event_for_viewer(e, sub.view, &me.id))
                .collect();
            // A batch always holds an event: when nothing it missed is visible to it, no
            // batch follows, and the next one starts right after its `last_seq`.
            if visible.is_empty() {
                sub.through = last;
            } else {
                let json = serde_json::to_string(&visible).unwrap_or_default();
                let _ = sub
                    .outbox
                    .try_send(Out::Frame(events_frame(last + 1, seq, &json)));
                sub.through = seq;
            }
        } else {
            sub.through = seq;
        }
        sub.lagging = false;
        let viewers = self.viewers;
        if let Some(sub) = self.subscribers.get(&conn) {
            let _ = sub
                .outbox
                .try_send(Out::Frame(frame(&ServerMessage::Viewers {
                    count: viewers,
                })));
        }
        let _ = reply.send(Ok(me));
    }

    /// Send the running turnout (and results where a view may see them) of polls that
    /// received ballots, at most every `tally_interval_ms`, and the viewer count if it
    /// changed.
    fn send_tallies(&mut self) {
        self.next_tally = None;
        let viewers = self.viewers;
        if viewers != self.viewers_sent {
            self.viewers_sent = viewers;
            let count = frame(&ServerMessage::Viewers { count: viewers });
            for sub in self.subscribers.values() {
                let _ = sub.outbox.try_send(Out::Frame(count.clone()));
            }
        }
        let polls: Vec<PollId> = std::mem::take(&mut self.dirty_polls).into_iter().collect();
        for poll in polls {
            let mut frames: HashMap<View, Option<Utf8Bytes>> = HashMap::new();
            for sub in self.subscribers.values() {
                let frame = frames.entry(sub.view).or_insert_with(|| {
                    self.room
                        .tally_update(poll, sub.view)
                        .map(|t| frame(&ServerMessage::Tally(t)))
                });
                if let Some(frame) = frame {
                    let _ = sub.outbox.try_send(Out::Frame(frame.clone()));
                }
            }
        }
    }

    /// Schedule a tally if ballots came in, or the viewer count changed (at most once a
    /// second for the count, which changes with every arrival in a big audience).
    fn schedule_tally(&mut self) {
        if self.next_tally.is_some() {
            return;
        }
        if !self.dirty_polls.is_empty() {
            self.next_tally =
                Some(Instant::now() + Duration::from_millis(self.config.tally_interval_ms));
        } else if self.viewers != self.viewers_sent {
            self.next_tally = Some(Instant::now() + Duration::from_secs(1));
        }
    }
}

fn sub_outbox(subscribers: &HashMap<ConnId, Subscriber>, conn: ConnId) -> Option<&Outbox> {
    subscribers.get(&conn).map(|s| &s.outbox)
}

fn events_frame(from: Seq, through: Seq, events_json: &str) -> Utf8Bytes {
    Utf8Bytes::from(format!(
        r#"{{"type":"events","from":{from},"through":{through},"events":{events_json}}}"#
    ))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Host => "host",
        Role::Member => "member",
        Role::Respondent => "respondent",
        Role::Venue => "venue",
        Role::Observer => "observer",
        Role::Recorder => "recorder",
        Role::Audience => "audience",
    }
}
