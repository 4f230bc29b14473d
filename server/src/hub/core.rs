//! A live room's shell logic without I/O: the engine, the record's chain, the
//! connections that watch the room and what each is sent, resume, request-id
//! deduplication, the ballot mixer, tallies and the viewer count.
//!
//! The room actor (`actor.rs`) drives it in turns, the way str0m is driven: it hands
//! [`RoomCore::apply`] everything that arrived, with the time; makes the returned append
//! durable; reports that with [`RoomCore::committed`], which fans the events out and
//! acknowledges; and does the same for the secret ballots a turn seals. Time is always an
//! argument: nothing here reads a clock, awaits or touches a socket. What it sends goes
//! into each connection's bounded outbox, which never blocks; a full outbox is the
//! slow-consumer rule, decided here.
//!
//! Nothing acknowledged or shown before it is committed: `apply` sends only refusals
//! (nothing changed), `committed` the rest.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::oneshot;
use yishi_protocol::{
    Command, ErrorCode, ErrorMessage, Event, EventBody, EventsFrame, Millis, PROTOCOL_VERSION,
    Participant, ParticipantId, PollId, RequestId, Resume, Role, Seq, ServerMessage, SessionState,
    View, Welcome, WelcomeFrame,
};

use super::HubConfig;
use super::mixer::{Mixer, Waiting};
use super::sessions::Sessions;
use crate::auth;
use crate::outbox::{Out, Outbox, Refused, close};
use crate::room::{Actor, Applied, Chain, LiveFact, Room};
use crate::store::{Append, Loaded, StoredRoom};

pub(crate) type ConnId = u64;

/// Request ids remembered per room (also in the store, see `Store::append`).
const SEEN_LIMIT: usize = 65_536;
/// How often a room with lagging viewers looks whether they have room for a snapshot.
const CATCH_UP_MS: u64 = 100;
/// How often at most the viewer count is sent when it changes.
const VIEWERS_MS: u64 = 1_000;
/// How long another node's count of its mirrored viewers stands without being renewed.
const REMOTE_VIEWERS_MS: u64 = 3_000;
/// Mirrored participants whose private events are broadcast: those who sent a command
/// through a mirror most recently, at most this many.
const MIRRORED_LIMIT: usize = 65_536;

/// In a cluster: what the room publishes once for the audience other nodes mirror
/// (`mirror.rs`), in the order its own audience subscribers get it.
pub(crate) enum Broadcast {
    /// The audience's events of a committed batch, as JSON: what an audience subscriber
    /// in step gets, covering `from..=through` (`from` follows the previous one's
    /// `through`), committed at `at`; `None` when none of them is shown to the audience
    /// as such. `private`: for each mirrored participant who is the private recipient
    /// of some of these events ([`Room::private_recipient`]), those events in full, in
    /// order; merged into `events` by sequence number they make the batch that
    /// participant gets as an audience subscriber ([`Room::event_for_viewer`]).
    Events {
        from: Seq,
        through: Seq,
        at: Millis,
        events: Option<Box<serde_json::value::RawValue>>,
        private: Vec<(ParticipantId, Box<serde_json::value::RawValue>)>,
    },
    /// The viewer count over every node.
    Viewers(Utf8Bytes),
    /// A frame every viewer gets as it is: an audience tally.
    Frame(Utf8Bytes),
    /// The room stops here: mirrored viewers come back and find its next owner.
    End,
}

/// The audience snapshot for another node's mirror, as of the last committed turn.
pub(crate) struct AudienceState {
    /// The record's last sequence number the snapshot holds.
    pub seq: Seq,
    /// The `through` of the last [`Broadcast::Events`]: the next one starts after it.
    pub through: Seq,
    pub snapshot: Box<serde_json::value::RawValue>,
    /// The viewer count over every node.
    pub viewers: u32,
}

/// How a mirrored viewer's command is answered: the outcome, and the `through` of the
/// last audience broadcast then (the mirror shows that first).
pub(crate) type RemoteReply = oneshot::Sender<(Result<Option<Seq>, ErrorMessage>, Seq)>;

/// What reaches a room.
pub(crate) enum Input {
    /// A connection finished its handshake and wants the room.
    Attach(Box<Attach>),
    Command {
        conn: ConnId,
        req: RequestId,
        command: Box<Command>,
    },
    /// A connection ended.
    Detach { conn: ConnId },
    /// A command of the operator (a host identity `admin`), from the admin API.
    Admin {
        command: Box<Command>,
        reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
    },
    /// The room as a host sees it now.
    Inspect {
        reply: oneshot::Sender<yishi_protocol::RoomSnapshot>,
    },
    /// A fact of the livestream, from the server's livestream (`by`: the host who asked
    /// for it, if one did).
    Livestream {
        by: Option<Participant>,
        fact: LiveFact,
        reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
    },
    /// The livestream a close waits for has stopped (or the wait is over): apply the
    /// closes held for it.
    LiveStopped,
    /// Another node's mirror wants the audience snapshot (answered once the turn is
    /// committed, so it shows nothing uncommitted).
    AudienceSnapshot {
        reply: oneshot::Sender<AudienceState>,
    },
    /// Another node mirrors `count` viewers of the room (renewed every second); answered
    /// with the `through` of the last broadcast, so a mirror notices a lost last frame.
    MirrorViewers {
        node: String,
        count: u32,
        reply: oneshot::Sender<Seq>,
    },
    /// A command of a viewer another node mirrors, as that viewer (the identity that
    /// node's handshake verified): applied, deduplicated and answered as a local one's.
    Remote {
        participant: Participant,
        req: RequestId,
        command: Box<Command>,
        reply: RemoteReply,
    },
    /// For tests: the next audience events are not broadcast, as if NATS lost them.
    LoseNextBroadcast,
}

/// A close held while the server stops the livestream (see
/// [`Room::close_waits_for_livestream`]).
enum Held {
    Command {
        conn: ConnId,
        req: RequestId,
        command: Box<Command>,
        /// Who sent it: the close applies even if their connection ended meanwhile.
        actor: Participant,
    },
    Admin {
        command: Box<Command>,
        reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
    },
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
    /// Not sent to: not welcomed yet, or behind (an audience connection gets a snapshot
    /// when it has room again; a member is closed to resume).
    lagging: bool,
    /// Replaced by a newer connection of the same participant: it gets nothing more and
    /// its commands are ignored.
    displaced: bool,
}

/// Something to send once the turn's events are durable.
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
    AudienceSnapshot {
        reply: oneshot::Sender<AudienceState>,
    },
}

/// What a turn made. Commit `append` (if any), then give the turn to
/// [`RoomCore::committed`].
#[must_use]
pub(crate) struct Turn {
    /// The events sealed into the chain, with the request ids they answer.
    pub append: Option<Append>,
    events: Vec<Event>,
    deferred: Vec<Deferred>,
}

/// What a committed turn leaves to do: secret ballots to write to the box (then
/// [`RoomCore::sealed`]), and the final hash to publish if the session closed.
#[must_use]
pub(crate) struct Committed {
    pub sealing: Option<Sealing>,
    /// The session closed at this time: mark the room closed with [`RoomCore::head`].
    pub closed_at: Option<Millis>,
}

/// Secret ballots for the sealed box, in a transaction of their own.
#[must_use]
pub(crate) struct Sealing {
    pub append: Append,
    waiting: Vec<Waiting>,
}

pub(crate) struct RoomCore {
    id: String,
    room: Room,
    chain: Chain,
    config: HubConfig,
    subscribers: HashMap<ConnId, Subscriber>,
    /// Open connections per participant: presence changes on the first and the last.
    connections: HashMap<ParticipantId, u32>,
    /// Recent events, for resume.
    recent: VecDeque<Event>,
    /// Request ids already applied, per participant, with the sequence number acknowledged;
    /// a retry is acknowledged again without being applied twice. Filled from the store.
    seen: HashMap<(ParticipantId, RequestId), Option<Seq>>,
    seen_order: VecDeque<(ParticipantId, RequestId)>,
    /// Resume sessions: id → the identity it stands for, kept for a grace after the last
    /// connection using it left.
    sessions: Sessions,
    /// Secret ballots waiting for their batch into the sealed ballot box.
    mixer: Mixer,
    /// Polls whose tallies changed since they were last sent.
    dirty_polls: BTreeSet<PollId>,
    next_tally: Option<Millis>,
    /// Audience subscribers now (kept on attach and detach, not counted per turn).
    viewers: u32,
    /// The viewer count last broadcast; a different count is sent with the next tally.
    viewers_sent: u32,
    /// After a restart, whoever the record shows present but has not come back by then
    /// has left.
    audit_at: Option<Millis>,
    /// After a restart: ballots voided because they never reached the box, to commit
    /// before anything else.
    recovered: Option<Applied>,
    /// The record ends in the session's close but the room was never marked closed (the
    /// process died between the commit and publishing the final hash): publish it first.
    unpublished_close: bool,
    /// Whose audio the floor allowed when the SFU was last told.
    heard_sent: Option<Vec<ParticipantId>>,
    /// Closes waiting for the livestream to stop, in order.
    held: Vec<Held>,
    /// The livestream is to be stopped for a close (by the host who sent it, `None`: the
    /// operator): taken by the actor ([`RoomCore::take_live_stop`]).
    live_stop: Option<Option<Participant>>,
    /// In a cluster: what to publish for other nodes' mirrors, taken by the actor
    /// ([`RoomCore::take_broadcast`]); `None` on a single node.
    broadcast: Option<Vec<Broadcast>>,
    /// The `through` of the last audience events broadcast.
    broadcast_through: Seq,
    /// For tests: leave the next audience events out of the broadcast.
    lose_next: bool,
    /// Viewers other nodes mirror, per node, until when the count stands.
    remote_viewers: HashMap<String, (u32, Millis)>,
    /// Commands of mirrored viewers waiting for their answer, under connection ids of
    /// their own (counting down from the top, far from the hub's).
    remote: HashMap<ConnId, (Actor, RemoteReply)>,
    next_remote: ConnId,
    /// Participants whose commands came through other nodes' mirrors: their private
    /// events are broadcast with the audience's.
    mirrored: Recent,
}

/// The participants seen last, at most `limit` of them: the one seen longest ago is
/// forgotten first.
pub(crate) struct Recent {
    /// Each participant with the count of its last sighting.
    last: HashMap<ParticipantId, u64>,
    /// Sightings in order; an entry older than its participant's last is stale.
    order: VecDeque<(ParticipantId, u64)>,
    count: u64,
    limit: usize,
}

impl Recent {
    pub fn new(limit: usize) -> Recent {
        Recent {
            last: HashMap::new(),
            order: VecDeque::new(),
            count: 0,
            limit,
        }
    }

    /// `who` was seen now.
    pub fn saw(&mut self, who: &ParticipantId) {
        self.count += 1;
        self.last.insert(who.clone(), self.count);
        self.order.push_back((who.clone(), self.count));
        while self.last.len() > self.limit {
            let Some((old, seen)) = self.order.pop_front() else {
                break;
            };
            if self.last.get(&old) == Some(&seen) {
                self.last.remove(&old);
            }
        }
        // At most twice the limit of sightings kept: past that, only the last of each
        // (at most `limit`, so this runs once in `limit` sightings at most).
        if self.order.len() > 2 * self.limit {
            let last = &self.last;
            self.order.retain(|(who, seen)| last.get(who) == Some(seen));
        }
    }

    pub fn contains(&self, who: &ParticipantId) -> bool {
        self.last.contains_key(who)
    }
}

impl RoomCore {
    /// A room rebuilt from its record and sealed box at `now`.
    pub fn new(stored: &StoredRoom, loaded: Loaded, config: HubConfig, now: Millis) -> RoomCore {
        let entries = loaded.entries;
        let chain = entries
            .last()
            .and_then(|e| Chain::resume(&e.hash))
            .unwrap_or_default();
        let mut room = Room::replay(
            stored.title.clone(),
            entries.iter().map(|e| &e.event),
            &loaded.sealed,
        );
        let unpublished_close = stored.closed_at.is_none() && room.session.is_closed();
        let room_seq = room.seq();
        let keep = entries.len().saturating_sub(config.resume_window);
        let recent: VecDeque<Event> = entries.into_iter().skip(keep).map(|e| e.event).collect();
        let voided = room.void_unsealed(now);
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
        // People the record shows present get one drop grace to come back, so a
        // speaker's clock simply goes on.
        let grace = u64::from(room.current_settings().drop_grace_s) * 1000;
        let audit_at = (!room.present().is_empty()).then(|| now.plus(grace));
        RoomCore {
            id: stored.id.clone(),
            room,
            chain,
            sessions: Sessions::new(config.resume_grace, config.max_sessions),
            mixer: Mixer::new(config.ballot_batch),
            config,
            subscribers: HashMap::new(),
            connections: HashMap::new(),
            recent,
            seen,
            seen_order,
            dirty_polls: BTreeSet::new(),
            next_tally: None,
            viewers: 0,
            viewers_sent: 0,
            audit_at,
            recovered: (!voided.events.is_empty()).then_some(voided),
            unpublished_close,
            heard_sent: None,
            held: Vec::new(),
            live_stop: None,
            broadcast: None,
            broadcast_through: room_seq,
            lose_next: false,
            remote_viewers: HashMap::new(),
            remote: HashMap::new(),
            next_remote: ConnId::MAX,
            mirrored: Recent::new(MIRRORED_LIMIT),
        }
    }

    /// In a cluster: publish the audience's side of every turn for other nodes' mirrors
    /// ([`RoomCore::take_broadcast`]).
    pub fn broadcast_audience(&mut self) {
        self.broadcast.get_or_insert_with(Vec::new);
    }

    /// In a cluster, on taking the room: broadcast again the audience's side of its last
    /// `n` committed events, one per sequence number (the stream of broadcasts keeps each
    /// once), so that what a former owner committed but had not broadcast when it went
    /// is there for the mirrors that follow this node.
    pub fn broadcast_tail(&mut self, n: usize, now: Millis) {
        let skip = self.recent.len().saturating_sub(n);
        let tail: Vec<Broadcast> = self
            .recent
            .iter()
            .skip(skip)
            .map(|e| Broadcast::Events {
                from: e.seq,
                through: e.seq,
                at: now,
                events: self
                    .room
                    .event_for(e, View::Audience)
                    .and_then(|shown| raw(&[shown])),
                private: Vec::new(),
            })
            .collect();
        for item in tail {
            self.broadcast(item);
        }
    }

    /// What to publish for other nodes' mirrors since the last call, in order.
    pub fn take_broadcast(&mut self) -> Vec<Broadcast> {
        self.broadcast
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn broadcast(&mut self, item: Broadcast) {
        if let Some(out) = &mut self.broadcast {
            out.push(item);
        }
    }

    /// Everyone watching: this node's audience and the viewers other nodes mirror.
    fn viewer_count(&self) -> u32 {
        self.remote_viewers
            .values()
            .fold(self.viewers, |n, (count, _)| n.saturating_add(*count))
    }

    /// Forget the mirrored viewer counts not renewed in time.
    fn expire_remote_viewers(&mut self, now: Millis) {
        self.remote_viewers.retain(|_, (_, until)| *until > now);
    }

    /// The session's state now.
    pub fn session_state(&self) -> SessionState {
        self.room.session_state()
    }

    /// Whether the record says the livestream is on.
    pub fn live_on(&self) -> bool {
        self.room.live().is_some()
    }

    /// A close is held until the livestream stops: stop it (for the participant who sent
    /// the close, `None`: the operator), then apply [`Input::LiveStopped`].
    pub fn take_live_stop(&mut self) -> Option<Option<Participant>> {
        self.live_stop.take()
    }

    /// Hold a close until the livestream has stopped; the first one asks for the stop.
    fn hold(&mut self, held: Held) {
        if self.held.is_empty() {
            self.live_stop = Some(match &held {
                Held::Command { actor, .. } => Some(actor.clone()),
                Held::Admin { .. } => None,
            });
        }
        self.held.push(held);
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seq(&self) -> Seq {
        self.room.seq()
    }

    /// The record's last hash: the final hash once the session closed.
    pub fn head(&self) -> String {
        self.chain.head()
    }

    /// The time of the close to publish before anything else, if the process died
    /// between committing the close and publishing it.
    pub fn unpublished_close(&mut self) -> Option<Millis> {
        std::mem::take(&mut self.unpublished_close).then(|| self.room.last_at())
    }

    /// The voided ballots to commit before anything else, after a restart.
    pub fn recovery(&mut self) -> Option<Turn> {
        let voided = self.recovered.take()?;
        Some(self.seal(voided, Vec::new(), Vec::new()))
    }

    // ----- time -----

    /// When [`RoomCore::apply`] must run (with nothing new) for the room's clocks.
    pub fn turn_due(&self) -> Option<Millis> {
        [self.room.next_deadline(), self.audit_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// When [`RoomCore::timers`] has something to do: tallies, lagging viewers, resume
    /// sessions to forget.
    pub fn timers_due(&self, now: Millis) -> Option<Millis> {
        let catch_up = self
            .subscribers
            .values()
            .any(|s| s.lagging && s.view == View::Audience && s.through != 0)
            .then(|| now.plus(CATCH_UP_MS));
        let remote = self.remote_viewers.values().map(|(_, until)| *until).min();
        [
            self.next_tally,
            catch_up,
            self.sessions.next_expiry(),
            remote,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whatever of the timers is due by `now`: none of it touches the record.
    pub fn timers(&mut self, now: Millis) {
        if self.next_tally.is_some_and(|t| t <= now) {
            self.send_tallies();
        }
        self.catch_up_laggards(now);
        self.sessions.prune(now);
        self.expire_remote_viewers(now);
        self.schedule_tally(now);
        metrics::gauge!("yishi_resume_sessions").set(self.sessions.len() as f64);
    }

    // ----- a turn -----

    /// One turn at `now`: the room's deadlines, then every input in order. Refusals are
    /// sent at once; everything else waits for the commit of the returned turn.
    pub fn apply(&mut self, inputs: Vec<Input>, now: Millis) -> Turn {
        self.sessions.prune(now);
        let mut applied = self.room.tick(now);
        let mut deferred = Vec::new();
        let mut requests = Vec::new();
        if self.audit_at.is_some_and(|at| at <= now) {
            self.audit_at = None;
            for id in self.room.present() {
                if !self.connections.contains_key(&id) {
                    applied.events.extend(self.room.leave(&id, now).events);
                }
            }
        }
        for input in inputs {
            match input {
                Input::Command { conn, req, command } => {
                    if let Some((req, command)) = self.hold_close(conn, req, command) {
                        let out = (&mut applied, &mut requests);
                        self.command(conn, req, &command, now, out, &mut deferred);
                    }
                }
                Input::Attach(attach) => self.attach(*attach, now, &mut applied, &mut deferred),
                Input::Detach { conn } => self.detach(conn, now, &mut applied),
                Input::Admin { command, reply } => {
                    self.admin(command, reply, now, &mut applied, &mut deferred, true)
                }
                Input::LiveStopped => {
                    self.release(now, (&mut applied, &mut requests), &mut deferred)
                }
                Input::Inspect { reply } => {
                    let _ =
                        reply.send(self.room.snapshot(View::Host, &ParticipantId::new("admin")));
                }
                Input::Livestream { by, fact, reply } => {
                    let by = by.map(Actor::new);
                    let outcome = self.room.livestream(by.as_ref(), &fact, now);
                    answer_admin(outcome, reply, &mut applied, &mut deferred);
                }
                Input::AudienceSnapshot { reply } => {
                    deferred.push(Deferred::AudienceSnapshot { reply })
                }
                Input::MirrorViewers { node, count, reply } => {
                    self.expire_remote_viewers(now);
                    if count == 0 {
                        self.remote_viewers.remove(&node);
                    } else {
                        let until = now.plus(REMOTE_VIEWERS_MS);
                        self.remote_viewers.insert(node, (count, until));
                    }
                    let _ = reply.send(self.broadcast_through);
                }
                Input::Remote {
                    participant,
                    req,
                    command,
                    reply,
                } => {
                    let conn = self.next_remote;
                    self.next_remote -= 1;
                    self.mirrored.saw(&participant.id);
                    self.remote.insert(conn, (Actor::new(participant), reply));
                    let out = (&mut applied, &mut requests);
                    self.command(conn, req, &command, now, out, &mut deferred);
                }
                Input::LoseNextBroadcast => self.lose_next = true,
            }
        }
        self.seal(applied, requests, deferred)
    }

    /// Seal the events into the chain: the turn to commit.
    fn seal(
        &mut self,
        applied: Applied,
        requests: Vec<(Seq, RequestId)>,
        deferred: Vec<Deferred>,
    ) -> Turn {
        let append = (!applied.events.is_empty()).then(|| Append {
            room: self.id.clone(),
            entries: applied
                .events
                .iter()
                .map(|e| self.chain.seal(e.clone()))
                .collect(),
            requests,
            sealed: Vec::new(),
            ..Append::default()
        });
        Turn {
            append,
            events: applied.events,
            deferred,
        }
    }

    /// The turn's events are durable: keep them for resume, send them to every
    /// connection as its view may see them, then the acknowledgements and welcomes.
    pub fn committed(&mut self, turn: Turn, now: Millis) -> Committed {
        let Turn {
            events, deferred, ..
        } = turn;
        metrics::counter!("yishi_events_total").increment(events.len() as u64);
        for e in &events {
            if self.recent.len() >= self.config.resume_window {
                self.recent.pop_front();
            }
            self.recent.push_back(e.clone());
        }
        if !events.is_empty() {
            self.fan_out(&events, now);
        }
        for d in deferred {
            self.deliver(d, now);
        }
        let sealing = self.sealing(&events);
        let closed_at = events
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.body,
                    EventBody::SessionChanged {
                        state: SessionState::Closed
                    }
                )
            })
            .map(|e| e.at);
        metrics::gauge!("yishi_resume_sessions").set(self.sessions.len() as f64);
        self.schedule_tally(now);
        Committed { sealing, closed_at }
    }

    /// Secret ballots into the sealed ballot box: every batch that is full, and the last
    /// few of a poll that closed, in a transaction of their own (never the one that
    /// recorded their voters); their voters are acknowledged once it is committed. Ballots
    /// of a poll that was reset are discarded, and acknowledged now (they were cast; the
    /// reset undid them).
    fn sealing(&mut self, events: &[Event]) -> Option<Sealing> {
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
        (!ready.is_empty()).then(|| Sealing {
            append: Append {
                room: self.id.clone(),
                entries: Vec::new(),
                requests: Vec::new(),
                sealed: ready.iter().map(|w| w.ballot.clone()).collect(),
                ..Append::default()
            },
            waiting: ready,
        })
    }

    /// The sealed ballots are durable: acknowledge their voters.
    pub fn sealed(&mut self, sealing: Sealing) {
        metrics::counter!("yishi_ballots_sealed_total").increment(sealing.waiting.len() as u64);
        for w in sealing.waiting {
            self.acknowledge(w);
        }
    }

    /// The room stops here: the store failed (nothing of the turn was committed), this
    /// node lost the room, or it hands the room over. Everyone is told to come back and
    /// resume (the room is rebuilt from the store, here or on another node); the core
    /// is not used again.
    pub fn dismiss(&mut self) {
        for sub in self.subscribers.values_mut() {
            if let Some(kill) = sub.kill.take() {
                let _ = kill.send((close::UNAVAILABLE, "the room restarts: resume"));
            }
        }
        self.broadcast(Broadcast::End);
    }

    /// The room's session state, and whose audio the floor allows if that changed since
    /// the last call (for the SFU).
    pub fn media_news(&mut self) -> (SessionState, Option<Vec<ParticipantId>>) {
        let heard = self.room.heard();
        let news = (self.heard_sent.as_ref() != Some(&heard)).then(|| {
            self.heard_sent = Some(heard.clone());
            heard
        });
        (self.room.session_state(), news)
    }

    // ----- inputs -----

    /// Apply the closes held for the livestream's stop, as they came. Held commands of
    /// connections that ended meanwhile still apply (unacknowledged).
    fn release(
        &mut self,
        now: Millis,
        (applied, requests): (&mut Applied, &mut Vec<(Seq, RequestId)>),
        deferred: &mut Vec<Deferred>,
    ) {
        for held in std::mem::take(&mut self.held) {
            match held {
                Held::Command {
                    conn,
                    req,
                    command,
                    actor,
                } => {
                    if self.subscribers.contains_key(&conn) {
                        let out = (&mut *applied, &mut *requests);
                        self.command(conn, req, &command, now, out, deferred);
                        continue;
                    }
                    let actor = Actor::new(actor);
                    let key = (actor.id().clone(), req.clone());
                    if self.seen.contains_key(&key) {
                        continue;
                    }
                    if let Ok(out) = self.room.apply(&actor, &req, &command, now) {
                        let seq = out.ack_seq();
                        self.remember(key, seq);
                        if let Some(seq) = seq {
                            requests.push((seq, req));
                        }
                        applied.events.extend(out.events);
                    }
                }
                Held::Admin { command, reply } => {
                    self.admin(command, reply, now, applied, deferred, false)
                }
            }
        }
    }

    /// A command of the operator (a host identity `admin`); a close while the livestream
    /// is on is held (if `hold`) like a participant's.
    fn admin(
        &mut self,
        command: Box<Command>,
        reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
        now: Millis,
        applied: &mut Applied,
        deferred: &mut Vec<Deferred>,
        hold: bool,
    ) {
        let admin = Actor::new(Participant::new("admin", "管理员", Role::Host));
        if hold && self.room.close_waits_for_livestream(&admin, &command) {
            self.hold(Held::Admin { command, reply });
            return;
        }
        let req = RequestId(format!("admin-{}", now.0));
        let outcome = self.room.apply(&admin, &req, &command, now);
        answer_admin(outcome, reply, applied, deferred);
    }

    /// Hold a participant's close while the livestream is on, until the server has
    /// stopped the stream and archived its recording; any other command is given back.
    fn hold_close(
        &mut self,
        conn: ConnId,
        req: RequestId,
        command: Box<Command>,
    ) -> Option<(RequestId, Box<Command>)> {
        let actor = self
            .subscribers
            .get(&conn)
            .filter(|sub| !sub.displaced)
            .map(|sub| &sub.participant)
            .filter(|actor| self.room.close_waits_for_livestream(actor, &command))
            .map(|actor| actor.participant.clone());
        let Some(actor) = actor else {
            return Some((req, command));
        };
        self.hold(Held::Command {
            conn,
            req,
            command,
            actor,
        });
        None
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
        let actor = match (self.subscribers.get(&conn), self.remote.get(&conn)) {
            (Some(sub), _) if !sub.displaced => sub.participant.clone(),
            (None, Some((actor, _))) => actor.clone(),
            _ => return,
        };
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
                let error = ErrorMessage {
                    req: Some(req),
                    code: rejection.code,
                    message: rejection.message,
                };
                match self.remote.remove(&conn) {
                    Some((_, reply)) => {
                        let _ = reply.send((Err(error), self.broadcast_through));
                    }
                    None => self.send(conn, &ServerMessage::Error(error)),
                }
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
            applied.events.extend(self.room.join(&who, now).events);
        }
        metrics::gauge!("yishi_connections", "role" => role_name(who.role)).increment(1.0);
        let actor = Actor::new(who.clone());
        let view = actor.view();
        // A viewer whose session was forgotten is someone new: their own pending items
        // were the old identity's, so they start from a snapshot.
        let renamed = anonymous && resume.as_ref().is_none_or(|r| r.session != session);
        let resume_from = resume.as_ref().map(|r| r.last_seq).filter(|_| !renamed);
        if view == View::Audience {
            self.viewers += 1;
        }
        // Lagging until welcomed: no batch may reach it before its welcome.
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
        let text = frame(&ServerMessage::Error(ErrorMessage {
            req: None,
            code: ErrorCode::Displaced,
            message: "you joined from another device; this one was disconnected".into(),
        }));
        for sub in self.subscribers.values_mut() {
            if sub.participant.id() != id || sub.displaced {
                continue;
            }
            metrics::counter!("yishi_displaced_total").increment(1);
            sub.lagging = true;
            sub.displaced = true;
            let told = text.as_ref().is_some_and(|text| {
                sub.outbox.try_send(Out::Frame(text.clone())).is_ok()
                    && sub
                        .outbox
                        .try_send(Out::Close(close::DISPLACED, "displaced"))
                        .is_ok()
            });
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
                applied.events.extend(self.room.leave(&id, now).events);
            }
        }
    }

    // ----- sending -----

    /// Send committed events to every subscriber as its view may see them: serialised once
    /// per view (and per starting point), shared by reference.
    fn fan_out(&mut self, events: &[Event], now: Millis) {
        let started = std::time::Instant::now();
        let Some(last) = events.last().map(|e| e.seq) else {
            return;
        };
        let mut per_view: HashMap<View, Option<Box<serde_json::value::RawValue>>> = HashMap::new();
        if self.broadcast.is_some() {
            let visible: Vec<_> = events
                .iter()
                .filter_map(|e| self.room.event_for(e, View::Audience))
                .collect();
            let json = (!visible.is_empty()).then(|| raw(&visible)).flatten();
            let private = self.mirrored_private(events);
            if json.is_some() || !private.is_empty() {
                let from = self.broadcast_through + 1;
                self.broadcast_through = last;
                if !std::mem::take(&mut self.lose_next) {
                    self.broadcast(Broadcast::Events {
                        from,
                        through: last,
                        at: now,
                        events: json.clone(),
                        private,
                    });
                }
            }
            per_view.insert(View::Audience, json);
        }
        let private: BTreeSet<&ParticipantId> = events
            .iter()
            .filter_map(|e| self.room.private_recipient(e))
            .collect();
        let mut frames: HashMap<(View, Seq), Option<Utf8Bytes>> = HashMap::new();
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
                raw(&visible).and_then(|json| events_frame(from, last, &json))
            } else {
                let json = per_view.entry(sub.view).or_insert_with(|| {
                    let visible: Vec<_> = events
                        .iter()
                        .filter_map(|e| room.event_for(e, sub.view))
                        .collect();
                    if visible.is_empty() {
                        None
                    } else {
                        raw(&visible)
                    }
                });
                let Some(json) = json else { continue };
                frames
                    .entry((sub.view, from))
                    .or_insert_with(|| events_frame(from, last, json))
                    .clone()
            };
            let Some(frame) = frame else { continue };
            match sub.outbox.try_send(Out::Frame(frame)) {
                Ok(()) => sub.through = last,
                Err(Refused::Full) => slow.push(*conn),
                Err(Refused::Closed) => {}
            }
        }
        for conn in slow {
            self.fell_behind(conn);
        }
        self.catch_up_laggards(now);
        metrics::histogram!("yishi_fanout_seconds").record(started.elapsed().as_secs_f64());
    }

    /// For each participant other nodes mirror who is the private recipient of some of
    /// `events`: those events, in full (as [`Room::event_for_viewer`] shows them to it),
    /// as JSON. Only the difference from the audience's events: the mirror merges them.
    fn mirrored_private(
        &self,
        events: &[Event],
    ) -> Vec<(ParticipantId, Box<serde_json::value::RawValue>)> {
        let mut own: BTreeMap<&ParticipantId, Vec<&Event>> = BTreeMap::new();
        for e in events {
            if let Some(who) = self.room.private_recipient(e)
                && self.mirrored.contains(who)
            {
                own.entry(who).or_default().push(e);
            }
        }
        own.into_iter()
            .filter_map(|(who, events)| Some((who.clone(), raw(&events)?)))
            .collect()
    }

    /// A subscriber whose queue is full: the audience is resynchronised later from a
    /// snapshot; members and hosts are closed with "resume" and catch up exactly.
    fn fell_behind(&mut self, conn: ConnId) {
        metrics::counter!("yishi_queue_drops_total").increment(1);
        let Some(sub) = self.subscribers.get_mut(&conn) else {
            return;
        };
        sub.lagging = true;
        if sub.view != View::Audience {
            // Closed at once past its full queue; it resumes from its last batch. Until its
            // reader detaches it gets nothing more.
            if let Some(kill) = sub.kill.take() {
                let _ = kill.send((close::RESUME, "too slow: resume"));
            }
        }
    }

    /// Audience subscribers that fell behind and have room again get a fresh snapshot.
    fn catch_up_laggards(&mut self, now: Millis) {
        let room = &self.room;
        // The audience snapshot is the same for every viewer (it holds nothing personal
        // but their own pending items, which come back with the next snapshot they ask
        // for): serialise it once, and wrap it in each viewer's own welcome.
        let mut snapshot: Option<Option<Box<serde_json::value::RawValue>>> = None;
        for sub in self.subscribers.values_mut() {
            if !sub.lagging
                || sub.displaced
                || sub.view != View::Audience
                || !sub.outbox.at_most_half_full()
                || sub.through == 0
            {
                continue;
            }
            let json = snapshot.get_or_insert_with(|| {
                raw(&room.snapshot(View::Audience, &ParticipantId::new("")))
            });
            let Some(json) = json else { return };
            let welcome = Welcome {
                protocol: PROTOCOL_VERSION,
                session: sub.session.clone(),
                you: sub.participant.participant.clone(),
                view: sub.view,
                server_time: now,
                snapshot: None,
                ice_servers: None,
            };
            let Some(text) = serialised(&WelcomeFrame {
                welcome: &welcome,
                snapshot: json,
            }) else {
                return;
            };
            if sub.outbox.try_send(Out::Frame(text)).is_ok() {
                sub.lagging = false;
                sub.through = room.seq();
            }
        }
    }

    fn deliver(&mut self, deferred: Deferred, now: Millis) {
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
            } => self.welcome(conn, resume_from, session, reply, now),
            Deferred::AudienceSnapshot { reply } => {
                let snapshot = raw(&self.room.snapshot(View::Audience, &ParticipantId::new("")));
                if let Some(snapshot) = snapshot {
                    let _ = reply.send(AudienceState {
                        seq: self.room.seq(),
                        through: self.broadcast_through,
                        snapshot,
                        viewers: self.viewer_count(),
                    });
                }
            }
        }
    }

    /// Acknowledge a ballot that left the mixer, to everyone who waits for it.
    fn acknowledge(&mut self, waiting: Waiting) {
        for (conn, req) in waiting.acks {
            self.ack(conn, req, Some(waiting.seq));
        }
    }

    fn ack(&mut self, conn: ConnId, req: RequestId, seq: Option<Seq>) {
        if let Some((_, reply)) = self.remote.remove(&conn) {
            let _ = reply.send((Ok(seq), self.broadcast_through));
            return;
        }
        self.send(conn, &ServerMessage::Ack(yishi_protocol::Ack { req, seq }));
    }

    /// One message to one connection, if it is still there.
    fn send(&self, conn: ConnId, message: &ServerMessage) {
        if let (Some(sub), Some(text)) = (self.subscribers.get(&conn), frame(message)) {
            let _ = sub.outbox.try_send(Out::Frame(text));
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
        now: Millis,
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
            server_time: now,
            snapshot: missed
                .is_none()
                .then(|| self.room.snapshot(sub.view, &me.id)),
            ice_servers: self
                .config
                .turn
                .as_ref()
                .map(|t| t.ice_servers(&me.id, now))
                .filter(|s| !s.is_empty()),
        };
        let Some(text) = frame(&ServerMessage::Welcome(Box::new(welcome))) else {
            let _ = reply.send(Err(ErrorMessage {
                req: None,
                code: ErrorCode::Internal,
                message: "the room could not be described".into(),
            }));
            return;
        };
        let _ = sub.outbox.try_send(Out::Frame(text));
        sub.through = seq;
        if let Some(last) = missed {
            let visible: Vec<_> = self
                .recent
                .iter()
                .filter(|e| e.seq > last)
                .filter_map(|e| self.room.event_for_viewer(e, sub.view, &me.id))
                .collect();
            // A batch always holds an event: when nothing it missed is visible to it, no
            // batch follows, and the next one starts right after its `last_seq`.
            let batch = (!visible.is_empty())
                .then(|| raw(&visible).and_then(|json| events_frame(last + 1, seq, &json)))
                .flatten();
            match batch {
                Some(batch) => {
                    let _ = sub.outbox.try_send(Out::Frame(batch));
                }
                None => sub.through = last,
            }
        }
        sub.lagging = false;
        let count = self.viewer_count();
        let Some(sub) = self.subscribers.get(&conn) else {
            return;
        };
        if let Some(count) = frame(&ServerMessage::Viewers { count }) {
            let _ = sub.outbox.try_send(Out::Frame(count));
        }
        let _ = reply.send(Ok(me));
    }

    /// Send the running turnout (and results where a view may see them) of polls that
    /// received ballots, at most every `tally_interval_ms`, and the viewer count if it
    /// changed.
    fn send_tallies(&mut self) {
        self.next_tally = None;
        let viewers = self.viewer_count();
        if viewers != self.viewers_sent {
            self.viewers_sent = viewers;
            if let Some(count) = frame(&ServerMessage::Viewers { count: viewers }) {
                for sub in self.subscribers.values() {
                    let _ = sub.outbox.try_send(Out::Frame(count.clone()));
                }
                self.broadcast(Broadcast::Viewers(count));
            }
        }
        let polls: Vec<PollId> = std::mem::take(&mut self.dirty_polls).into_iter().collect();
        for poll in polls {
            let mut frames: HashMap<View, Option<Utf8Bytes>> = HashMap::new();
            for sub in self.subscribers.values() {
                let frame = frames.entry(sub.view).or_insert_with(|| {
                    self.room
                        .tally_update(poll, sub.view)
                        .and_then(|t| frame(&ServerMessage::Tally(t)))
                });
                if let Some(frame) = frame {
                    let _ = sub.outbox.try_send(Out::Frame(frame.clone()));
                }
            }
            if self.broadcast.is_some()
                && let Some(tally) = frames.entry(View::Audience).or_insert_with(|| {
                    self.room
                        .tally_update(poll, View::Audience)
                        .and_then(|t| frame(&ServerMessage::Tally(t)))
                })
            {
                let tally = tally.clone();
                self.broadcast(Broadcast::Frame(tally));
            }
        }
    }

    /// Schedule a tally if ballots came in, or the viewer count changed (at most once a
    /// second for the count, which changes with every arrival in a big audience).
    fn schedule_tally(&mut self, now: Millis) {
        if self.next_tally.is_some() {
            return;
        }
        if !self.dirty_polls.is_empty() {
            self.next_tally = Some(now.plus(self.config.tally_interval_ms));
        } else if self.viewer_count() != self.viewers_sent {
            self.next_tally = Some(now.plus(VIEWERS_MS));
        }
    }

    /// What must hold between turns: every count agrees with the subscribers.
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let audience = self
            .subscribers
            .values()
            .filter(|s| s.view == View::Audience)
            .count();
        assert_eq!(
            self.viewers as usize, audience,
            "viewers count the audience"
        );
        let mut per: HashMap<&ParticipantId, u32> = HashMap::new();
        for s in self.subscribers.values() {
            *per.entry(s.participant.id()).or_default() += 1;
        }
        assert_eq!(
            per.len(),
            self.connections.len(),
            "a participant is counted while connected"
        );
        for (id, n) in &per {
            assert_eq!(
                self.connections.get(*id),
                Some(n),
                "connections of {}",
                id.0
            );
        }
        for s in self.subscribers.values() {
            assert!(
                s.through <= self.room.seq(),
                "no connection ahead of the room"
            );
            assert!(
                self.sessions.find(&s.session).is_some(),
                "a connected session is remembered"
            );
            let live = self
                .subscribers
                .values()
                .filter(|o| o.participant.id() == s.participant.id() && !o.displaced)
                .count();
            assert!(
                s.participant.participant.role == Role::Audience || live <= 1,
                "one device per participant"
            );
        }
        assert!(self.recent.len() <= self.config.resume_window);
        assert_eq!(self.seen.len(), self.seen_order.len());
    }
}

/// A server message as a text frame; a serialisation failure is an error, logged, and
/// nothing is sent.
pub(crate) fn frame(message: &ServerMessage) -> Option<Utf8Bytes> {
    serialised(message)
}

/// The operator's request (a command, or a livestream fact the server reports) decided:
/// its events join the turn and its acknowledgement waits for their commit; a refusal is
/// answered at once.
fn answer_admin(
    outcome: Result<Applied, crate::room::Rejection>,
    reply: oneshot::Sender<Result<Option<Seq>, ErrorMessage>>,
    applied: &mut Applied,
    deferred: &mut Vec<Deferred>,
) {
    match outcome {
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

pub(crate) fn serialised(value: &impl serde::Serialize) -> Option<Utf8Bytes> {
    match serde_json::to_string(value) {
        Ok(text) => Some(Utf8Bytes::from(text)),
        Err(e) => {
            metrics::counter!("yishi_serialise_errors_total").increment(1);
            tracing::error!(error = %e, "a message could not be serialised");
            None
        }
    }
}

/// Events (or a snapshot) as JSON, for frames shared between connections.
fn raw(value: &impl serde::Serialize) -> Option<Box<serde_json::value::RawValue>> {
    match serde_json::value::to_raw_value(value) {
        Ok(raw) => Some(raw),
        Err(e) => {
            metrics::counter!("yishi_serialise_errors_total").increment(1);
            tracing::error!(error = %e, "events could not be serialised");
            None
        }
    }
}

pub(crate) fn events_frame(
    from: Seq,
    through: Seq,
    events: &serde_json::value::RawValue,
) -> Option<Utf8Bytes> {
    serialised(&EventsFrame {
        from,
        through,
        events,
    })
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

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
