//! A mirror's logic without I/O: one node's copy of the audience side of a room another
//! node owns, fanned out to the viewers connected here (`mirror.rs` does the NATS).
//!
//! It keeps the owner's last audience snapshot and the events broadcast since, so a new
//! viewer gets the snapshot, then that tail, then what comes: exactly what an audience
//! subscriber of the owner gets, in the same order. Each broadcast names the range it
//! covers; one that does not start right after the last is a gap (NATS delivers at most
//! once). A gap is filled from the stream that keeps the room's recent broadcasts
//! (`mirror.rs`) before anything later is delivered, so the viewers see the missing
//! events as events; only if the stream does not hold them is every viewer
//! resynchronised from a fresh snapshot, as the room core resynchronises a lagging
//! viewer. A slow viewer is left behind the same way, never holding up the others.
//!
//! A broadcast also carries the private events of the participants whose commands came
//! through a mirror (their pending items, rejections, own ballots): a viewer that is one
//! of them gets the audience's events with its own merged in, as the owner sends an
//! audience subscriber that is their private recipient. A snapshot is the audience's,
//! the same for every viewer: a viewer welcomed or resynchronised from it does not see
//! its own pending items in it.
//!
//! A mirror vouches for the room only while its owner answers: a new viewer is welcomed
//! once the owner has answered a heartbeat sent after the viewer came (one is sent at
//! once for it, unless the owner already missed one: then the next regular one). A
//! viewer that comes while the owner is silent, or while the mirror resynchronises,
//! waits; if the mirror ends instead, it is told "unavailable" before any welcome, and
//! comes back through the normal path, as a viewer the mirror served would, but without
//! having been welcomed by an owner that was already gone.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::extract::ws::Utf8Bytes;
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use yishi_protocol::{
    ErrorMessage, Millis, PROTOCOL_VERSION, Participant, ParticipantId, Seq, ServerMessage, View,
    Welcome, WelcomeFrame,
};

use super::core::{Attach, ConnId, events_frame, frame, serialised};
use crate::bus::NodeId;
use crate::outbox::{Out, Outbox, Refused, close};

/// Broadcast events kept after the snapshot before a fresh one is asked for, so a new
/// viewer is never sent a long tail.
const TAIL: usize = 256;
/// Broadcasts held while a snapshot is on its way; past this they are dropped, and the
/// gap they leave is filled by the next snapshot.
const PENDING: usize = 4096;
/// Heartbeats the owner may leave unanswered in a row before the mirror takes it for
/// gone (and waits for the room's next owner, [`MirrorCore::adopt`]).
pub(crate) const SILENT: u32 = 3;

/// What the owner broadcast for the room's audience (see [`super::core::Broadcast`]).
#[derive(Debug)]
pub(crate) enum Published {
    Events {
        from: Seq,
        through: Seq,
        at: Millis,
        /// `None`: nothing of the batch is shown to the audience as such.
        events: Option<Box<RawValue>>,
        /// Per participant, its private events in the batch, in full.
        private: HashMap<ParticipantId, Box<RawValue>>,
    },
    /// The viewer count over every node.
    Viewers(Utf8Bytes),
    /// A frame every viewer gets as it is (an audience tally).
    Frame(Utf8Bytes),
    End,
}

/// The owner's audience snapshot (see [`super::core::AudienceState`]).
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub seq: Seq,
    pub through: Seq,
    pub snapshot: Box<RawValue>,
    pub viewers: u32,
}

/// What the mirror's task is to do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Nothing,
    /// A gap: ask the owner for a snapshot to resynchronise every viewer with (then
    /// [`MirrorCore::snapshot`]).
    Fetch,
    /// A gap: look up the broadcasts from this sequence number on in the stream, each
    /// starting after the one before, for as long as it holds them (then
    /// [`MirrorCore::filled`]).
    Fill(Seq),
    /// The tail grew long: ask for a fresh snapshot to start new viewers from.
    Refresh,
    /// The owner stopped serving the room: end (viewers were told to resume).
    End,
    /// The owner went silent: keep the viewers, wait for the room's next owner (the
    /// lease names it), then [`MirrorCore::adopt`] it; or end if none comes.
    Orphaned,
}

/// Which owner a mirror follows, and whether that one answers (time is an argument). A
/// gone owner is not followed again; a new owner that holds the lease but has not
/// loaded the room yet (it says "not here", or gives no snapshot) is waited for and tried
/// again; with no owner answering for long enough since the last went, the mirror ends.
#[derive(Debug)]
pub(crate) struct Following {
    owner: NodeId,
    /// How many owners were followed before: what an earlier one is answering for the
    /// mirror (heartbeats, snapshots, fills) is not heard.
    generation: u64,
    /// The owner followed is taken for gone, and no next one is known yet.
    orphaned: bool,
    /// The owner followed has answered since it was.
    confirmed: bool,
    /// Since when no owner has answered (from the first that went).
    gone_since: Option<Millis>,
}

impl Following {
    pub fn new(owner: NodeId) -> Following {
        Following {
            owner,
            generation: 0,
            orphaned: false,
            confirmed: true,
            gone_since: None,
        }
    }

    pub fn owner(&self) -> &NodeId {
        &self.owner
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn orphaned(&self) -> bool {
        self.orphaned
    }

    /// Whether a viewer's command goes to the owner now: one followed that answered.
    pub fn takes_commands(&self) -> bool {
        !self.orphaned && self.confirmed
    }

    /// The owner went silent or left the cluster: keep the viewers and look for the
    /// next. Whether it was not taken for gone already.
    pub fn orphan(&mut self, now: Millis) -> bool {
        if self.orphaned {
            return false;
        }
        self.orphaned = true;
        self.gone_since.get_or_insert(now);
        true
    }

    /// The owner said it does not run the room (or gave no snapshot): one that has not
    /// answered since it was followed may not have loaded it yet, and is waited for
    /// (`true`); one that had has left the room (`false`: the mirror ends).
    pub fn refused(&mut self, now: Millis) -> bool {
        if self.confirmed {
            return false;
        }
        self.orphan(now);
        true
    }

    /// Whether to follow `owner`, named by the registry or the lease: another node than
    /// the one followed, or the one followed again if it had not loaded the room yet
    /// when it was (a gone owner that still holds the lease is not).
    pub fn would_follow(&self, owner: &NodeId) -> bool {
        *owner != self.owner || (self.orphaned && !self.confirmed)
    }

    /// Follow `owner` from now on; the one followed before.
    pub fn adopt(&mut self, owner: NodeId) -> NodeId {
        self.generation += 1;
        self.orphaned = false;
        self.confirmed = false;
        std::mem::replace(&mut self.owner, owner)
    }

    /// The owner followed answered.
    pub fn answered(&mut self) {
        self.confirmed = true;
        self.gone_since = None;
    }

    /// No owner has answered for longer than `limit` since the last went.
    pub fn given_up(&self, now: Millis, limit: Millis) -> bool {
        self.gone_since
            .is_some_and(|since| now.0.saturating_sub(since.0) > limit.0)
    }
}

/// Broadcast events since a snapshot, each covering `from..=through`.
type Tail = Vec<(Seq, Seq, Box<RawValue>)>;

struct Viewer {
    who: Participant,
    session: String,
    outbox: Outbox,
    kill: Option<oneshot::Sender<(u16, &'static str)>>,
    /// Waiting for the first snapshot to be welcomed with.
    reply: Option<oneshot::Sender<Result<Participant, ErrorMessage>>>,
    /// The last sequence number sent to it.
    through: Seq,
    /// Not sent to: not welcomed yet, or behind (resynchronised once it has room).
    lagging: bool,
    /// The first heartbeat whose answer vouches for the owner to this viewer: one sent
    /// after it came.
    after: u64,
}

pub(crate) struct MirrorCore {
    /// The last snapshot and the broadcasts since (each covering `from..=through`).
    cached: Option<(Snapshot, Tail)>,
    /// The `through` of the last broadcast taken in.
    through: Seq,
    /// A snapshot was asked for; `resync`: every viewer gets it (a gap), otherwise it
    /// only shortens the tail. `Some(true)` also while a gap is filled from the stream.
    fetching: Option<bool>,
    /// A gap is being filled from the stream, from `.0` on, up to the owner's `through`
    /// if known: one still left after the fill is resynchronised from a snapshot. (A
    /// snapshot that comes meanwhile was asked for before, to shorten the tail only.)
    filling: Option<(Seq, Option<Seq>)>,
    /// Messages to this node were lost again while a gap was being filled: fill again
    /// from where that fill ends.
    lost_again: bool,
    /// Broadcasts that came while a resynchronising snapshot was on its way.
    pending: Vec<Published>,
    viewers: HashMap<ConnId, Viewer>,
    /// The last viewer count, for new viewers.
    count: Option<Utf8Bytes>,
    /// Answers to forwarded commands, held until the broadcast that goes with them
    /// (`through`) has been sent: nobody is acknowledged before seeing what they did.
    held: Vec<(Seq, ConnId, Utf8Bytes)>,
    /// The owner's `through` at the last heartbeat, while it was ahead of this mirror.
    owner_ahead: Option<Seq>,
    /// Heartbeats sent (numbered from 1), and how many of them are on their way.
    asked: u64,
    asking: usize,
    /// The last heartbeat the owner answered.
    vouched: u64,
    /// Heartbeats left unanswered in a row: the owner is silent if any.
    missed: u32,
    /// A viewer came since the last heartbeat was sent.
    wanted: bool,
    /// Some welcomed viewer may be behind (set whenever one falls behind, cleared by a
    /// [`MirrorCore::catch_up`] that leaves none): asked after every event of the task,
    /// it must not cost a look at every viewer.
    behind: bool,
}

impl MirrorCore {
    /// A mirror that has nothing yet: [`Next::Fetch`] the first snapshot.
    pub fn new() -> MirrorCore {
        MirrorCore {
            cached: None,
            through: 0,
            fetching: Some(true),
            filling: None,
            lost_again: false,
            pending: Vec::new(),
            viewers: HashMap::new(),
            count: None,
            held: Vec::new(),
            owner_ahead: None,
            asked: 0,
            asking: 0,
            vouched: 0,
            missed: 0,
            wanted: false,
            behind: false,
        }
    }

    pub fn viewers(&self) -> usize {
        self.viewers.len()
    }

    /// The identity a connection acts as, for its forwarded commands.
    pub fn who(&self, conn: ConnId) -> Option<&Participant> {
        self.viewers.get(&conn).map(|v| &v.who)
    }

    /// A viewer joins as `who` (an anonymous one was given its own identity; the
    /// connection's resume is not used: it starts from a snapshot): it is welcomed once
    /// the owner has answered a heartbeat sent after now ([`MirrorCore::wants_heartbeat`])
    /// and a snapshot is here, or told "unavailable" if the mirror ends first.
    pub fn attach(&mut self, attach: Attach, who: Participant, session: String) {
        let conn = attach.conn;
        self.wanted = true;
        self.viewers.insert(
            conn,
            Viewer {
                who,
                session,
                outbox: attach.outbox,
                kill: Some(attach.kill),
                reply: Some(attach.reply),
                through: 0,
                lagging: true,
                after: self.asked + 1,
            },
        );
    }

    /// Whether a heartbeat should be sent now, besides the regular ones: a viewer waits
    /// for one, none is on its way, and the owner answered the last (a silent owner is
    /// asked again at the next regular heartbeat only).
    pub fn wants_heartbeat(&self) -> bool {
        self.wanted && self.asking == 0 && self.missed == 0
    }

    /// A heartbeat is sent: its number, for [`MirrorCore::heard`] or
    /// [`MirrorCore::missed`].
    pub fn heartbeat(&mut self) -> u64 {
        self.asked += 1;
        self.asking += 1;
        self.wanted = false;
        self.asked
    }

    /// Whether `v` may be welcomed: the owner answered since it came, and a snapshot
    /// that is not being replaced is here.
    fn vouched_for(&self, v: &Viewer) -> bool {
        v.after <= self.vouched && self.fetching != Some(true) && self.cached.is_some()
    }

    /// Welcome the viewers that wait and may be.
    fn welcome_waiting(&mut self, now: Millis) {
        let ready: Vec<ConnId> = self
            .viewers
            .iter()
            .filter(|(_, v)| v.reply.is_some() && self.vouched_for(v))
            .map(|(c, _)| *c)
            .collect();
        for conn in ready {
            self.welcome(conn, now);
        }
    }

    /// A connection ended; whether it was a viewer here.
    pub fn detach(&mut self, conn: ConnId) -> bool {
        self.held.retain(|(_, c, _)| *c != conn);
        self.viewers.remove(&conn).is_some()
    }

    /// Send `text` (the answer to a forwarded command) to `conn` once this mirror has
    /// sent what the owner broadcast up to `through`.
    pub fn answer(&mut self, conn: ConnId, through: Seq, text: Utf8Bytes) {
        if through <= self.through && self.fetching != Some(true) {
            self.send(conn, text);
        } else {
            self.held.push((through, conn, text));
        }
    }

    /// A broadcast from the owner, received at `now`; returns its lag (from its commit)
    /// for events taken in.
    pub fn published(&mut self, published: Published, now: Millis) -> (Next, Option<Millis>) {
        if self.fetching == Some(true) {
            if self.pending.len() < PENDING {
                self.pending.push(published);
            }
            return (Next::Nothing, None);
        }
        match published {
            Published::End => {
                self.end();
                (Next::End, None)
            }
            Published::Viewers(text) => {
                self.count = Some(text.clone());
                self.to_all(text);
                (Next::Nothing, None)
            }
            Published::Frame(text) => {
                self.to_all(text);
                (Next::Nothing, None)
            }
            Published::Events {
                from,
                through,
                at,
                events,
                private,
            } => {
                if through <= self.through {
                    return (Next::Nothing, None);
                }
                if from != self.through + 1 {
                    // A gap: filled before this batch is delivered.
                    self.pending.push(Published::Events {
                        from,
                        through,
                        at,
                        events,
                        private,
                    });
                    return (self.gap(None), None);
                }
                self.take(from, through, events, &private);
                let lag = Millis(now.0.saturating_sub(at.0));
                let long = self.cached.as_ref().is_some_and(|(_, t)| t.len() > TAIL);
                if long && self.fetching.is_none() {
                    self.fetching = Some(false);
                    return (Next::Refresh, Some(lag));
                }
                (Next::Nothing, Some(lag))
            }
        }
    }

    /// Broadcast events that follow the last: the audience's kept in the tail, and sent
    /// to every viewer in step, with its own private ones merged in.
    fn take(
        &mut self,
        from: Seq,
        through: Seq,
        events: Option<Box<RawValue>>,
        private: &HashMap<ParticipantId, Box<RawValue>>,
    ) {
        self.through = through;
        let mut frames: HashMap<Seq, Option<Utf8Bytes>> = HashMap::new();
        // Each private recipient's batch, made once; the audience's events numbered once.
        let mut versions: HashMap<&ParticipantId, Option<Box<RawValue>>> = HashMap::new();
        let mut shared: Option<Option<Vec<(Seq, &RawValue)>>> = None;
        let mut slow = Vec::new();
        for (conn, v) in self.viewers.iter_mut() {
            if v.lagging || v.through >= through {
                continue;
            }
            let start = v.through + 1;
            let frame = match private.get_key_value(&v.who.id) {
                Some((who, own)) => {
                    let version = match versions.entry(who) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => {
                            let shared = shared.get_or_insert_with(|| match &events {
                                Some(events) => numbered(events),
                                None => Some(Vec::new()),
                            });
                            e.insert(shared.as_deref().and_then(|shared| merged(shared, own)))
                        }
                    };
                    version
                        .as_ref()
                        .and_then(|json| events_frame(start, through, json))
                }
                None => {
                    // Nothing for this viewer: its next batch starts where this one did.
                    let Some(events) = &events else { continue };
                    frames
                        .entry(start)
                        .or_insert_with(|| events_frame(start, through, events))
                        .clone()
                }
            };
            let Some(frame) = frame else { continue };
            match v.outbox.try_send(Out::Frame(frame)) {
                Ok(()) => v.through = through,
                Err(Refused::Full) => slow.push(*conn),
                Err(Refused::Closed) => {}
            }
        }
        for conn in slow {
            metrics::counter!("yishi_queue_drops_total").increment(1);
            if let Some(v) = self.viewers.get_mut(&conn) {
                v.lagging = true;
                self.behind = true;
            }
        }
        if let Some((_, tail)) = &mut self.cached
            && let Some(events) = events
        {
            tail.push((from, through, events));
        }
        self.release();
    }

    /// What follows `self.through` is missing (broadcasts since held in `pending`): fill
    /// it from the stream, up to the owner's `until` if known; unless a fill has just
    /// left it missing, or there is no snapshot to build on yet: then resynchronise from
    /// a snapshot.
    fn gap(&mut self, until: Option<Seq>) -> Next {
        self.fetching = Some(true);
        if self.filling.is_some() || self.cached.is_none() {
            return Next::Fetch;
        }
        self.filling = Some((self.through + 1, until));
        Next::Fill(self.through + 1)
    }

    /// What the stream held of the gap from `from` on ([`Next::Fill`]), in order:
    /// delivered as if it had come by the broadcast, then what came meanwhile. A gap
    /// still left (the stream did not hold everything) is resynchronised from a snapshot.
    pub fn filled(&mut self, from: Seq, found: Vec<Published>, now: Millis) -> Next {
        let Some((filling, until)) = self.filling else {
            // A snapshot came first and resynchronised every viewer.
            return Next::Nothing;
        };
        if filling != from {
            // The answer to an earlier fill, ended by a resynchronisation.
            return Next::Nothing;
        }
        self.fetching = None;
        let pending = std::mem::take(&mut self.pending);
        let next = self.replay(found.into_iter().chain(pending), now);
        self.filling = None;
        self.release();
        if !matches!(next, Next::Nothing | Next::Refresh) {
            return next;
        }
        if until.is_some_and(|until| until > self.through) {
            self.fetching = Some(true);
            return Next::Fetch;
        }
        if std::mem::take(&mut self.lost_again) {
            return self.gap(None);
        }
        self.welcome_waiting(now);
        next
    }

    /// The snapshot asked for has come.
    pub fn snapshot(&mut self, snapshot: Snapshot, now: Millis) -> Next {
        // While a gap is filled, the snapshot is one asked for before, for the tail.
        let resync = self.filling.is_none() && self.fetching.take() == Some(true);
        if let Some(count) = frame(&ServerMessage::Viewers {
            count: snapshot.viewers,
        }) {
            self.count = Some(count);
        }
        if !resync {
            // Only a shorter tail, if the snapshot is not ahead of what came here.
            if let Some((cached, tail)) = &mut self.cached
                && snapshot.through <= self.through
            {
                tail.retain(|(from, _, _)| *from > snapshot.through);
                *cached = snapshot;
            }
            return Next::Nothing;
        }
        self.through = snapshot.through;
        self.owner_ahead = None;
        self.cached = Some((snapshot, Vec::new()));
        // Every viewer welcomed is resynchronised; one that waits is welcomed if the
        // owner has answered since it came.
        let conns: Vec<ConnId> = self
            .viewers
            .iter()
            .filter(|(_, v)| v.reply.is_none() || self.vouched_for(v))
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            if let Some(v) = self.viewers.get_mut(&conn) {
                v.lagging = true;
            }
            self.welcome(conn, now);
        }
        self.release();
        let pending = std::mem::take(&mut self.pending);
        self.replay(pending, now)
    }

    /// Take `items` in, in order, as broadcasts; at the first that asks for more than a
    /// fresher snapshot (a gap, the end), hold the rest and say so.
    fn replay(&mut self, items: impl IntoIterator<Item = Published>, now: Millis) -> Next {
        let mut next = Next::Nothing;
        let mut rest = items.into_iter();
        while let Some(published) = rest.next() {
            match self.published(published, now).0 {
                Next::Nothing => {}
                Next::Refresh => next = Next::Refresh,
                other => {
                    self.pending.extend(rest);
                    return other;
                }
            }
        }
        next
    }

    /// The snapshot could not be had: without one to resynchronise with, the mirror
    /// ends (its viewers come back through the normal path); a fresher one for new
    /// viewers is asked for again later.
    pub fn fetch_failed(&mut self) -> Next {
        if self.filling.is_some() {
            // One asked for the tail only, before the gap the fill is for.
            return Next::Nothing;
        }
        match self.fetching.take() {
            Some(true) => {
                self.end();
                Next::End
            }
            _ => Next::Nothing,
        }
    }

    /// The owner answered heartbeat `n` with its `through`: the viewers that came before
    /// it was sent are welcomed. At a regular heartbeat (not one sent early for a new
    /// viewer, which may follow the last answer closely): the owner still ahead of this
    /// mirror since the last, what it broadcast last was lost (no later broadcast
    /// showed the gap): fill it.
    pub fn heard(&mut self, n: u64, through: Seq, regular: bool, now: Millis) -> Next {
        self.asking = self.asking.saturating_sub(1);
        self.missed = 0;
        self.vouched = self.vouched.max(n);
        self.welcome_waiting(now);
        if self.fetching == Some(true) || !regular {
            return Next::Nothing;
        }
        // Filled up to where the owner was a heartbeat ago: what it broadcast since may
        // not be in the stream yet.
        let lost = self.owner_ahead.filter(|t| *t > self.through);
        self.owner_ahead = (through > self.through).then_some(through);
        if let Some(until) = lost {
            self.owner_ahead = None;
            return self.gap(Some(until));
        }
        Next::Nothing
    }

    /// A heartbeat went unanswered: [`SILENT`] in a row, the owner is taken for gone
    /// (the mirror keeps its viewers and waits for the next owner); meanwhile new
    /// viewers wait.
    pub fn missed(&mut self) -> Next {
        self.asking = self.asking.saturating_sub(1);
        self.missed += 1;
        if self.missed == SILENT {
            return Next::Orphaned;
        }
        Next::Nothing
    }

    /// The room has a new owner (a failover): follow it. What the old one was asked is
    /// void. What the viewers missed is filled from the stream ([`Next::Fill`]: what the
    /// old owner broadcast before it went, and what it committed and the new one
    /// published again when it took the room), then the new owner's broadcasts follow;
    /// if the stream does not hold it all, every viewer is resynchronised from the new
    /// owner's snapshot. Either way the viewers welcomed keep their connection; those
    /// waiting are welcomed once the new owner answered a heartbeat sent after they came.
    pub fn adopt(&mut self) -> Next {
        self.pending.clear();
        self.filling = None;
        self.lost_again = false;
        // Only the new owner vouches for the room to viewers still waiting.
        let next = self.asked + 1;
        for v in self.viewers.values_mut().filter(|v| v.reply.is_some()) {
            v.after = next;
        }
        self.owner_ahead = None;
        self.asking = 0;
        self.missed = 0;
        self.wanted = self.viewers.values().any(|v| v.reply.is_some());
        self.gap(None)
    }

    /// Messages to this node may have been lost (its NATS connection dropped, or it did
    /// not keep up): fill what was missed from the stream (or resynchronise every viewer).
    pub fn lost(&mut self) -> Next {
        if self.filling.is_some() {
            self.lost_again = true;
            return Next::Nothing;
        }
        if self.fetching == Some(true) {
            // A snapshot resynchronises every viewer anyway.
            return Next::Nothing;
        }
        self.gap(None)
    }

    /// Whether some viewer may wait for room to be resynchronised (cheap: a flag kept
    /// as viewers fall behind).
    pub fn lagging(&self) -> bool {
        self.behind
    }

    /// Resynchronise the viewers that fell behind and have room again.
    pub fn catch_up(&mut self, now: Millis) {
        if self.fetching == Some(true) {
            return;
        }
        let ready: Vec<ConnId> = self
            .viewers
            .iter()
            .filter(|(_, v)| v.lagging && v.reply.is_none() && v.outbox.at_most_half_full())
            .map(|(c, _)| *c)
            .collect();
        for conn in ready {
            self.welcome(conn, now);
        }
        self.behind = self
            .viewers
            .values()
            .any(|v| v.lagging && v.reply.is_none());
    }

    /// Every viewer is told to come back (the owner changed or is gone): they return
    /// through the normal path, to the room's owner or a mirror of it.
    pub fn end(&mut self) {
        for (_, mut v) in self.viewers.drain() {
            if let Some(reply) = v.reply.take() {
                let _ = reply.send(Err(unavailable()));
            } else if let Some(kill) = v.kill.take() {
                let _ = kill.send((close::UNAVAILABLE, "the room moved: resume"));
            }
        }
        self.held.clear();
    }

    /// Welcome `conn` with the cached snapshot (a first welcome, or a resynchronisation),
    /// then the tail since it and the viewer count.
    fn welcome(&mut self, conn: ConnId, now: Millis) {
        self.send_welcome(conn, now);
        if self
            .viewers
            .get(&conn)
            .is_some_and(|v| v.lagging && v.reply.is_none())
        {
            self.behind = true;
        }
    }

    fn send_welcome(&mut self, conn: ConnId, now: Millis) {
        let (Some((snapshot, tail)), Some(v)) = (&self.cached, self.viewers.get_mut(&conn)) else {
            return;
        };
        let welcome = Welcome {
            protocol: PROTOCOL_VERSION,
            session: v.session.clone(),
            you: v.who.clone(),
            view: View::Audience,
            server_time: now,
            snapshot: None,
            ice_servers: None,
        };
        let Some(text) = serialised(&WelcomeFrame {
            welcome: &welcome,
            snapshot: &snapshot.snapshot,
        }) else {
            return;
        };
        if v.outbox.try_send(Out::Frame(text)).is_err() {
            return;
        }
        v.through = snapshot.seq;
        v.lagging = false;
        for (_, through, events) in tail {
            if *through <= v.through {
                continue;
            }
            let Some(frame) = events_frame(v.through + 1, *through, events) else {
                continue;
            };
            if v.outbox.try_send(Out::Frame(frame)).is_err() {
                v.lagging = true;
                break;
            }
            v.through = *through;
        }
        if let Some(count) = &self.count {
            let _ = v.outbox.try_send(Out::Frame(count.clone()));
        }
        if let Some(reply) = v.reply.take() {
            let _ = reply.send(Ok(v.who.clone()));
        }
    }

    /// Send `text` to every viewer in step.
    fn to_all(&self, text: Utf8Bytes) {
        for v in self.viewers.values().filter(|v| !v.lagging) {
            let _ = v.outbox.try_send(Out::Frame(text.clone()));
        }
    }

    /// Send the held answers whose broadcast has been sent.
    fn release(&mut self) {
        let through = self.through;
        let (ready, held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(t, _, _)| *t <= through);
        self.held = held;
        for (_, conn, text) in ready {
            self.send(conn, text);
        }
    }

    fn send(&self, conn: ConnId, text: Utf8Bytes) {
        if let Some(v) = self.viewers.get(&conn) {
            let _ = v.outbox.try_send(Out::Frame(text));
        }
    }
}

/// The events of a JSON array, each with its sequence number.
fn numbered(events: &RawValue) -> Option<Vec<(Seq, &RawValue)>> {
    #[derive(serde::Deserialize)]
    struct Numbered {
        seq: Seq,
    }
    let list: Vec<&RawValue> = serde_json::from_str(events.get()).ok()?;
    list.into_iter()
        .map(|e| Some((serde_json::from_str::<Numbered>(e.get()).ok()?.seq, e)))
        .collect()
}

/// The audience's events (`shared`, numbered) with a participant's own private events
/// merged in by sequence number, an own event standing for a shared one of the same
/// number: the batch the owner sends an audience subscriber that is that participant.
fn merged(shared: &[(Seq, &RawValue)], own: &RawValue) -> Option<Box<RawValue>> {
    let own = numbered(own)?;
    let mut out: Vec<&RawValue> = Vec::with_capacity(shared.len() + own.len());
    let (mut s, mut o) = (shared.iter().peekable(), own.iter().peekable());
    loop {
        let next = match (s.peek(), o.peek()) {
            (Some((a, _)), Some((b, _))) if a < b => s.next(),
            (Some((a, _)), Some((b, _))) => {
                if a == b {
                    s.next();
                }
                o.next()
            }
            (Some(_), None) => s.next(),
            (None, Some(_)) => o.next(),
            (None, None) => break,
        };
        if let Some((_, e)) = next {
            out.push(e);
        }
    }
    serde_json::value::to_raw_value(&out).ok()
}

/// Why a connection is turned away before its welcome: the client retries.
pub(crate) fn unavailable() -> ErrorMessage {
    ErrorMessage {
        req: None,
        code: yishi_protocol::ErrorCode::Unavailable,
        message: "the room cannot be opened now; retry shortly".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::value::RawValue;
    use tokio::sync::oneshot;
    use yishi_protocol::{ErrorCode, ErrorMessage, Millis, Participant, Role};

    use super::{MirrorCore, Next, SILENT, Snapshot, TAIL, merged, numbered};
    use crate::hub::core::{Attach, ConnId};
    use crate::outbox::{Inbox, Out, close, outbox};
    use axum::extract::ws::Utf8Bytes;

    const NOW: Millis = Millis(1_000_000);

    /// A viewer's end of its connection to the mirror.
    struct Viewer {
        inbox: Inbox,
        kill: oneshot::Receiver<(u16, &'static str)>,
        reply: oneshot::Receiver<Result<Participant, ErrorMessage>>,
    }

    impl Viewer {
        /// The kinds of the frames sent to it since the last look.
        fn sent(&mut self) -> Vec<String> {
            self.inbox
                .drain()
                .into_iter()
                .filter_map(|out| match out {
                    Out::Frame(text) => {
                        let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                        Some(v["type"].as_str().unwrap_or("?").to_owned())
                    }
                    Out::Close(..) => None,
                })
                .collect()
        }

        /// `Some(Ok(()))` once welcomed, `Some(Err(code))` once turned away.
        fn answered(&mut self) -> Option<Result<(), ErrorCode>> {
            match self.reply.try_recv() {
                Ok(Ok(_)) => Some(Ok(())),
                Ok(Err(e)) => Some(Err(e.code)),
                Err(_) => None,
            }
        }
    }

    fn attach(core: &mut MirrorCore, conn: ConnId) -> Viewer {
        let (out, inbox) = outbox(64);
        let (kill_tx, kill) = oneshot::channel();
        let (reply_tx, reply) = oneshot::channel();
        let who = Participant::new(format!("aud-{conn}"), "观众", Role::Audience);
        let attach = Attach {
            conn,
            participant: who.clone(),
            resume: None,
            outbox: out,
            kill: kill_tx,
            reply: reply_tx,
        };
        core.attach(attach, who, format!("s{conn}"));
        Viewer { inbox, kill, reply }
    }

    fn snapshot(seq: u32) -> Snapshot {
        Snapshot {
            seq,
            through: seq,
            snapshot: raw(&format!(r#"{{"seq":{seq}}}"#)),
            viewers: 1,
        }
    }

    /// A mirror with its first snapshot, its owner heard.
    fn mirror() -> MirrorCore {
        let mut core = MirrorCore::new();
        assert_eq!(core.snapshot(snapshot(7), NOW), Next::Nothing);
        let n = core.heartbeat();
        assert_eq!(core.heard(n, 7, true, NOW), Next::Nothing);
        core
    }

    #[test]
    fn a_viewer_is_welcomed_once_the_owner_answers_a_heartbeat_sent_after_it_came() {
        let mut core = mirror();
        // A regular heartbeat is on its way when the viewer comes: its answer may have
        // left the owner before, so it does not vouch for the owner to this viewer.
        let before = core.heartbeat();
        let mut v = attach(&mut core, 1);
        assert!(!core.wants_heartbeat(), "one at a time");
        assert_eq!(core.heard(before, 7, true, NOW), Next::Nothing);
        assert!(v.sent().is_empty() && v.answered().is_none(), "not yet");
        // One is sent for it at once, and its answer welcomes it.
        assert!(core.wants_heartbeat());
        let n = core.heartbeat();
        assert!(!core.wants_heartbeat());
        // Viewers that come meanwhile wait for the next one.
        let mut w = attach(&mut core, 2);
        assert_eq!(core.heard(n, 7, false, NOW), Next::Nothing);
        assert_eq!(v.answered(), Some(Ok(())));
        assert_eq!(v.sent(), ["welcome", "viewers"]);
        assert!(w.answered().is_none());
        assert!(core.wants_heartbeat());
        let n = core.heartbeat();
        core.heard(n, 7, false, NOW);
        assert_eq!(w.answered(), Some(Ok(())));
    }

    /// A mirror with one viewer served, whose owner then misses [`SILENT`] heartbeats
    /// with a second viewer waiting since the first miss.
    fn orphaned() -> (MirrorCore, Viewer, Viewer) {
        let mut core = mirror();
        let n = core.heartbeat();
        let mut served = attach(&mut core, 1);
        core.heard(n, 7, true, NOW);
        let n = core.heartbeat();
        core.heard(n, 7, false, NOW);
        assert_eq!(served.answered(), Some(Ok(())));
        served.sent();
        // The owner dies: its heartbeat goes unanswered.
        core.heartbeat();
        assert_eq!(core.missed(), Next::Nothing);
        let mut new = attach(&mut core, 2);
        assert!(
            !core.wants_heartbeat(),
            "a silent owner is asked again at the next regular heartbeat only"
        );
        for missed in 2..=SILENT {
            core.heartbeat();
            let next = core.missed();
            assert!(new.sent().is_empty(), "never welcomed");
            assert!(new.answered().is_none(), "waits");
            let gone = if missed < SILENT {
                Next::Nothing
            } else {
                Next::Orphaned
            };
            assert_eq!(next, gone);
        }
        // Nobody is ended for it.
        assert_eq!(core.viewers(), 2);
        assert!(served.kill.try_recv().is_err());
        (core, served, new)
    }

    /// A broadcast of `from..=through`, one audience event per sequence number.
    fn batch(from: u32, through: u32) -> super::Published {
        let events: Vec<String> = (from..=through)
            .map(|seq| format!(r#"{{"seq":{seq}}}"#))
            .collect();
        super::Published::Events {
            from,
            through,
            at: NOW,
            events: Some(raw(&format!("[{}]", events.join(",")))),
            private: std::collections::HashMap::new(),
        }
    }

    impl Viewer {
        /// The ranges of the event batches sent to it since the last look, and whether
        /// it was welcomed (resynchronised) among them.
        fn batches(&mut self) -> (Vec<(u64, u64)>, bool) {
            let mut welcomed = false;
            let mut ranges = Vec::new();
            for out in self.inbox.drain() {
                let Out::Frame(text) = out else { continue };
                let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                match v["type"].as_str() {
                    Some("events") => {
                        ranges.push((v["from"].as_u64().unwrap(), v["through"].as_u64().unwrap()))
                    }
                    Some("welcome") => welcomed = true,
                    _ => {}
                }
            }
            (ranges, welcomed)
        }
    }

    /// A mirror at 7 serving one viewer.
    fn serving() -> (MirrorCore, Viewer) {
        let mut core = mirror();
        let mut v = attach(&mut core, 1);
        let n = core.heartbeat();
        core.heard(n, 7, false, NOW);
        assert_eq!(v.answered(), Some(Ok(())));
        v.sent();
        (core, v)
    }

    #[test]
    fn a_gap_is_filled_from_the_stream_before_anything_later_is_delivered() {
        let (mut core, mut v) = serving();
        // 8 was lost on the way: 9 shows the gap, and waits with what follows.
        assert_eq!(core.published(batch(9, 9), NOW).0, Next::Fill(8));
        assert_eq!(core.published(batch(10, 11), NOW).0, Next::Nothing);
        assert_eq!(v.batches(), (vec![], false));
        // The stream holds 8: the viewer gets it as events, then the rest, in order.
        assert_eq!(
            core.filled(8, vec![batch(8, 8), batch(9, 9)], NOW),
            Next::Nothing
        );
        assert_eq!(v.batches(), (vec![(8, 8), (9, 9), (10, 11)], false));
        assert_eq!(core.published(batch(12, 12), NOW).0, Next::Nothing);
        assert_eq!(v.batches(), (vec![(12, 12)], false));
    }

    #[test]
    fn a_gap_the_stream_does_not_hold_is_resynchronised_from_a_snapshot() {
        let (mut core, mut v) = serving();
        assert_eq!(core.published(batch(9, 9), NOW).0, Next::Fill(8));
        // The stream has only part of it (or nothing): no event after the gap is sent.
        assert_eq!(core.filled(8, vec![], NOW), Next::Fetch);
        assert_eq!(v.batches(), (vec![], false));
        assert_eq!(core.snapshot(snapshot(9), NOW), Next::Nothing);
        assert_eq!(v.batches(), (vec![], true));
        assert_eq!(core.published(batch(10, 10), NOW).0, Next::Nothing);
        assert_eq!(v.batches(), (vec![(10, 10)], false));
        // A fill that comes after the snapshot did its work changes nothing.
        assert_eq!(core.filled(8, vec![batch(8, 8)], NOW), Next::Nothing);
        assert_eq!(v.batches(), (vec![], false));
        // Nor does a lost last broadcast the stream does not hold.
        let n = core.heartbeat();
        assert_eq!(core.heard(n, 11, true, NOW), Next::Nothing);
        let n = core.heartbeat();
        assert_eq!(core.heard(n, 11, true, NOW), Next::Fill(11));
        assert_eq!(core.filled(11, vec![], NOW), Next::Fetch);
    }

    #[test]
    fn a_snapshot_asked_for_the_tail_before_a_gap_neither_ends_nor_resynchronises_the_fill() {
        let (mut core, mut v) = serving();
        // The tail grew long: a fresher snapshot is asked for, for new viewers.
        for seq in 8..8 + TAIL as u32 {
            assert_eq!(core.published(batch(seq, seq), NOW).0, Next::Nothing);
            v.batches();
        }
        let next = 8 + TAIL as u32;
        assert_eq!(core.published(batch(next, next), NOW).0, Next::Refresh);
        v.batches();
        // Then a gap, filled from the stream; the snapshot cannot be had meanwhile.
        assert_eq!(
            core.published(batch(next + 2, next + 2), NOW).0,
            Next::Fill(next + 1)
        );
        assert_eq!(core.fetch_failed(), Next::Nothing, "the mirror goes on");
        assert_eq!(core.viewers(), 1);
        // Or it comes: it shortens the tail, the fill still delivers the gap as events.
        assert_eq!(core.snapshot(snapshot(next), NOW), Next::Nothing);
        assert_eq!(v.batches(), (vec![], false), "not resynchronised");
        let found = vec![batch(next + 1, next + 1)];
        assert_eq!(core.filled(next + 1, found, NOW), Next::Nothing);
        let expected = vec![(next + 1, next + 1), (next + 2, next + 2)];
        let expected = expected.into_iter().map(|(a, b)| (a as u64, b as u64));
        assert_eq!(v.batches(), (expected.collect(), false));
    }

    #[test]
    fn an_answer_held_while_the_mirror_fills_is_sent_when_the_fill_ends_even_empty() {
        let (mut core, mut v) = serving();
        // This node's NATS link dropped; nothing was missed, as it turns out.
        assert_eq!(core.lost(), Next::Fill(8));
        core.answer(1, 7, Utf8Bytes::from_static(r#"{"type":"ack"}"#));
        assert!(v.sent().is_empty(), "held while the fill is under way");
        assert_eq!(core.filled(8, vec![], NOW), Next::Nothing);
        assert_eq!(v.sent(), ["ack"]);
    }

    #[test]
    fn a_viewer_waiting_when_the_mirror_follows_a_new_owner_waits_for_that_owner() {
        let mut core = mirror();
        assert_eq!(core.lost(), Next::Fill(8));
        // The old owner answers for this viewer while the fill is under way...
        let mut w = attach(&mut core, 1);
        let n = core.heartbeat();
        core.heard(n, 7, false, NOW);
        assert!(w.answered().is_none(), "not while the mirror fills");
        // ...then another node takes the room: the old owner's word no longer counts.
        assert_eq!(core.adopt(), Next::Fill(8));
        assert_eq!(core.filled(8, vec![], NOW), Next::Nothing);
        assert!(w.answered().is_none(), "the new owner has not answered yet");
        let n = core.heartbeat();
        core.heard(n, 7, false, NOW);
        assert_eq!(w.answered(), Some(Ok(())));
    }

    #[test]
    fn a_loss_during_a_fill_is_filled_again_after_it() {
        let (mut core, mut v) = serving();
        assert_eq!(core.lost(), Next::Fill(8));
        assert_eq!(core.lost(), Next::Nothing);
        // The first fill found 8; what was lost after its lookups is looked for again.
        assert_eq!(core.filled(8, vec![batch(8, 8)], NOW), Next::Fill(9));
        // An answer to an earlier fill is not taken for this one.
        assert_eq!(core.filled(8, vec![batch(8, 8)], NOW), Next::Nothing);
        assert_eq!(core.filled(9, vec![batch(9, 10)], NOW), Next::Nothing);
        assert_eq!(v.batches(), (vec![(8, 8), (9, 10)], false));
    }

    #[test]
    fn a_mirror_whose_owner_went_silent_follows_the_next_owner_without_ending_its_viewers() {
        let (mut core, mut served, mut new) = orphaned();
        // Another node took the room: the mirror follows it; what the viewers missed
        // (what the old owner broadcast last, or committed and the new one published
        // again) comes from the stream, as events.
        assert_eq!(core.adopt(), Next::Fill(8));
        assert!(core.wants_heartbeat(), "a viewer waits for the new owner");
        let n = core.heartbeat();
        assert_eq!(core.filled(8, vec![batch(8, 9)], NOW), Next::Nothing);
        assert!(
            new.answered().is_none(),
            "only the new owner vouches for the room"
        );
        assert_eq!(served.batches(), (vec![(8, 9)], false));
        assert!(served.kill.try_recv().is_err());
        assert!(
            new.answered().is_none(),
            "the new owner has not answered yet"
        );
        // The new owner's answer welcomes the one waiting; its broadcasts follow.
        assert_eq!(core.heard(n, 9, false, NOW), Next::Nothing);
        assert_eq!(new.answered(), Some(Ok(())));
        assert_eq!(new.sent(), ["welcome", "events", "viewers"]);
        assert_eq!(core.published(batch(10, 10), NOW).0, Next::Nothing);
        assert_eq!(served.sent(), ["events"]);
        assert_eq!(new.sent(), ["events"]);
        // Misses count afresh for the new owner.
        for _ in 1..SILENT {
            core.heartbeat();
            assert_eq!(core.missed(), Next::Nothing);
        }
    }

    #[test]
    fn a_new_owner_whose_stream_holds_too_little_resynchronises_the_mirrors_viewers() {
        let (mut core, mut served, _new) = orphaned();
        assert_eq!(core.adopt(), Next::Fill(8));
        // The stream ends at 8; the new owner's first broadcast starts at 10.
        assert_eq!(core.filled(8, vec![batch(8, 8)], NOW), Next::Nothing);
        assert_eq!(core.published(batch(10, 10), NOW).0, Next::Fill(9));
        assert_eq!(core.filled(9, vec![], NOW), Next::Fetch);
        // The snapshot resynchronises the viewer served, on the same connection.
        assert_eq!(core.snapshot(snapshot(10), NOW), Next::Nothing);
        assert_eq!(served.batches(), (vec![(8, 8)], true));
        assert!(served.kill.try_recv().is_err());
    }

    #[test]
    fn a_mirror_follows_the_next_owner_not_the_gone_one_and_gives_up_when_none_comes() {
        use super::Following;
        use crate::bus::NodeId;
        let (a, b) = (NodeId::new("a").unwrap(), NodeId::new("b").unwrap());
        let mut f = Following::new(a.clone());
        assert!(f.takes_commands());
        assert!(!f.would_follow(&a), "the owner followed");
        // `a` goes silent: the mirror looks for the next owner.
        assert!(f.orphan(Millis(1_000)));
        assert!(!f.orphan(Millis(2_000)), "once");
        assert!(!f.takes_commands(), "commands wait for an owner");
        assert!(
            !f.would_follow(&a),
            "a gone owner still holding the lease is not followed again"
        );
        assert!(f.would_follow(&b));
        assert_eq!(f.adopt(b.clone()), a);
        assert_eq!(f.generation(), 1);
        assert!(!f.takes_commands(), "not before the new owner answered");
        // `b` holds the lease but has not loaded the room yet: waited for, tried again.
        assert!(f.refused(Millis(3_000)));
        assert!(f.orphaned());
        assert!(f.would_follow(&b), "tried again");
        f.adopt(b.clone());
        assert_eq!(f.generation(), 2);
        // No owner has answered since `a` went, at 1,000.
        let limit = Millis(10_000);
        assert!(!f.given_up(Millis(11_000), limit));
        assert!(f.given_up(Millis(11_001), limit));
        // `b` answers: commands go to it, and it no longer counts as gone.
        f.answered();
        assert!(f.takes_commands());
        assert!(!f.given_up(Millis(60_000), limit));
        // Now it says the room is not here: it left the room, the mirror ends.
        assert!(!f.refused(Millis(61_000)));
    }

    #[test]
    fn a_viewer_that_comes_while_the_owner_is_silent_is_turned_away_if_no_owner_comes() {
        let (mut core, mut served, mut new) = orphaned();
        // No node took the room in time: the mirror ends.
        core.end();
        // Told once, before any welcome, to come back; the one it served is ended.
        assert_eq!(new.answered(), Some(Err(ErrorCode::Unavailable)));
        assert!(new.sent().is_empty());
        assert_eq!(
            served.kill.try_recv().map(|(code, _)| code),
            Ok(close::UNAVAILABLE)
        );
        assert_eq!(core.viewers(), 0);
    }

    #[test]
    fn a_viewer_that_waited_for_a_silent_owner_is_welcomed_when_it_answers_again() {
        let mut core = mirror();
        core.heartbeat();
        core.missed();
        let mut v = attach(&mut core, 1);
        assert!(!core.wants_heartbeat());
        // The next regular heartbeat is answered.
        let n = core.heartbeat();
        assert!(v.answered().is_none());
        core.heard(n, 7, true, NOW);
        assert_eq!(v.answered(), Some(Ok(())));
        assert_eq!(v.sent(), ["welcome", "viewers"]);
        // The owner no longer silent, the next viewer gets its heartbeat at once.
        let _w = attach(&mut core, 2);
        assert!(core.wants_heartbeat());
        // Misses count in a row: an answer starts them over.
        for _ in 1..SILENT {
            core.heartbeat();
            assert_eq!(core.missed(), Next::Nothing);
        }
        let n = core.heartbeat();
        core.heard(n, 7, true, NOW);
        for _ in 1..SILENT {
            core.heartbeat();
            assert_eq!(core.missed(), Next::Nothing);
        }
    }

    #[test]
    fn a_viewer_that_comes_while_the_mirror_catches_up_waits_for_it() {
        let mut core = mirror();
        // This node's NATS link dropped: what was missed is looked for in the stream.
        assert_eq!(core.lost(), Next::Fill(8));
        let mut v = attach(&mut core, 1);
        let n = core.heartbeat();
        core.heard(n, 7, false, NOW);
        assert!(
            v.answered().is_none(),
            "the owner answered, the mirror has not caught up"
        );
        assert_eq!(core.filled(8, vec![batch(8, 9)], NOW), Next::Nothing);
        assert_eq!(v.answered(), Some(Ok(())));
        assert_eq!(v.sent(), ["welcome", "events", "viewers"]);
        // A gap the stream cannot fill and a snapshot that cannot be had: the one
        // waiting is turned away.
        assert_eq!(core.published(batch(11, 11), NOW).0, Next::Fill(10));
        assert_eq!(core.filled(10, vec![], NOW), Next::Fetch);
        let mut w = attach(&mut core, 2);
        let n = core.heartbeat();
        core.heard(n, 11, false, NOW);
        assert_eq!(core.fetch_failed(), Next::End);
        assert_eq!(w.answered(), Some(Err(ErrorCode::Unavailable)));
        assert!(w.sent().is_empty());
    }

    #[test]
    fn a_lost_last_broadcast_is_noticed_at_regular_heartbeats_only() {
        let mut core = mirror();
        // The owner is ahead (its last broadcast still on its way, or lost).
        let n = core.heartbeat();
        assert_eq!(core.heard(n, 8, true, NOW), Next::Nothing);
        // An early heartbeat right after says the same: not taken as a loss.
        let _v = attach(&mut core, 1);
        let n = core.heartbeat();
        assert_eq!(core.heard(n, 8, false, NOW), Next::Nothing);
        // Still ahead at the next regular one: lost.
        let n = core.heartbeat();
        assert_eq!(core.heard(n, 8, true, NOW), Next::Fill(8));
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn seqs(json: &RawValue) -> Vec<(u32, String)> {
        let list: Vec<serde_json::Value> = serde_json::from_str(json.get()).unwrap();
        list.into_iter()
            .map(|e| (e["seq"].as_u64().unwrap() as u32, e["x"].to_string()))
            .collect()
    }

    #[test]
    fn own_events_are_merged_into_the_audiences_by_sequence_number() {
        let shared = raw(r#"[{"seq":2,"x":"s"},{"seq":5,"x":"s"},{"seq":6,"x":"s"}]"#);
        let own =
            raw(r#"[{"seq":1,"x":"o"},{"seq":3,"x":"o"},{"seq":5,"x":"o"},{"seq":9,"x":"o"}]"#);
        let shared = numbered(&shared).unwrap();
        let got = merged(&shared, &own).unwrap();
        let expected: Vec<(u32, String)> =
            [(1, "o"), (2, "s"), (3, "o"), (5, "o"), (6, "s"), (9, "o")]
                .into_iter()
                .map(|(n, x)| (n, format!("\"{x}\"")))
                .collect();
        assert_eq!(
            seqs(&got),
            expected,
            "in order, an own event standing for a shared one"
        );
        // Nothing shared: the own events alone.
        let got = merged(&[], &own).unwrap();
        assert_eq!(seqs(&got).len(), 4);
    }

    #[test]
    fn events_without_a_sequence_number_are_refused() {
        assert!(numbered(&raw(r#"[{"seq":1},{"x":2}]"#)).is_none());
        assert!(numbered(&raw(r#"{"seq":1}"#)).is_none());
        assert!(merged(&[], &raw(r#"[{"x":1}]"#)).is_none());
    }
}
