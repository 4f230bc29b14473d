//! A mirror's logic without I/O: one node's copy of the audience side of a room another
//! node owns, fanned out to the viewers connected here (`mirror.rs` does the NATS).
//!
//! It keeps the owner's last audience snapshot and the events broadcast since, so a new
//! viewer gets the snapshot, then that tail, then what comes: exactly what an audience
//! subscriber of the owner gets, in the same order. Each broadcast names the range it
//! covers; one that does not start right after the last is a gap (NATS delivers at most
//! once), and every viewer is resynchronised from a fresh snapshot, as the room core
//! resynchronises a lagging viewer. A slow viewer is left behind the same way, never
//! holding up the others.
//!
//! A broadcast also carries the private events of the participants whose commands came
//! through a mirror (their pending items, rejections, own ballots): a viewer that is one
//! of them gets the audience's events with its own merged in, as the owner sends an
//! audience subscriber that is their private recipient. A snapshot is the audience's,
//! the same for every viewer: a viewer welcomed or resynchronised from it does not see
//! its own pending items in it.

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
use crate::outbox::{Out, Outbox, Refused, close};

/// Broadcast events kept after the snapshot before a fresh one is asked for, so a new
/// viewer is never sent a long tail.
const TAIL: usize = 256;
/// Broadcasts held while a snapshot is on its way; past this they are dropped, and the
/// gap they leave is filled by the next snapshot.
const PENDING: usize = 4096;

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
    /// The tail grew long: ask for a fresh snapshot to start new viewers from.
    Refresh,
    /// The owner stopped serving the room: end (viewers were told to resume).
    End,
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
}

pub(crate) struct MirrorCore {
    /// The last snapshot and the broadcasts since (each covering `from..=through`).
    cached: Option<(Snapshot, Tail)>,
    /// The `through` of the last broadcast taken in.
    through: Seq,
    /// A snapshot was asked for; `resync`: every viewer gets it (a gap), otherwise it
    /// only shortens the tail.
    fetching: Option<bool>,
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
            pending: Vec::new(),
            viewers: HashMap::new(),
            count: None,
            held: Vec::new(),
            owner_ahead: None,
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
    /// connection's resume is not used: it starts from a snapshot): it is welcomed at
    /// once if a snapshot is here, otherwise when the first one comes.
    pub fn attach(&mut self, attach: Attach, who: Participant, session: String, now: Millis) {
        let conn = attach.conn;
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
            },
        );
        if self.fetching != Some(true) {
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
                    // A gap: what was lost is somewhere in the next snapshot.
                    self.fetching = Some(true);
                    self.pending.push(Published::Events {
                        from,
                        through,
                        at,
                        events,
                        private,
                    });
                    return (Next::Fetch, None);
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

    /// The snapshot asked for has come.
    pub fn snapshot(&mut self, snapshot: Snapshot, now: Millis) -> Next {
        let resync = self.fetching.take() == Some(true);
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
        let conns: Vec<ConnId> = self.viewers.keys().copied().collect();
        for conn in conns {
            if let Some(v) = self.viewers.get_mut(&conn) {
                v.lagging = true;
            }
            self.welcome(conn, now);
        }
        self.release();
        let mut next = Next::Nothing;
        let mut rest = std::mem::take(&mut self.pending).into_iter();
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
        match self.fetching.take() {
            Some(true) => {
                self.end();
                Next::End
            }
            _ => Next::Nothing,
        }
    }

    /// The owner's `through` at a heartbeat: still ahead of this mirror at the next one,
    /// what it broadcast last was lost (no later broadcast showed the gap), so resync.
    pub fn heard(&mut self, through: Seq) -> Next {
        if self.fetching == Some(true) {
            return Next::Nothing;
        }
        let lost = self.owner_ahead.is_some_and(|t| t > self.through);
        self.owner_ahead = (through > self.through).then_some(through);
        if lost {
            self.owner_ahead = None;
            self.fetching = Some(true);
            return Next::Fetch;
        }
        Next::Nothing
    }

    /// Messages to this node may have been lost (its NATS connection dropped, or it did
    /// not keep up): resynchronise every viewer.
    pub fn lost(&mut self) -> Next {
        if self.fetching == Some(true) {
            return Next::Nothing;
        }
        self.fetching = Some(true);
        Next::Fetch
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

    use super::{merged, numbered};

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
