//! The SFU task: one UDP socket, every peer, one loop. It wakes for a datagram, a
//! control message or a 10 ms tick (str0m's timers, `media_state`), so nothing is shared
//! and nothing locks. A packet is written to every subscriber first; then each subscriber
//! written to is driven once, which queues its packets on the wire; they all leave
//! together at the end of the wake-up.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use str0m::media::Direction;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, Input};
use tokio::sync::mpsc;
use yishi_protocol::{
    ErrorCode, ErrorMessage, MediaKind, MediaState, MediaTrack, ParticipantId, Sdp, ServerMessage,
    SessionState, TrackContent,
};

use super::live::{LiveFeed, LiveOut, live_video};
use super::offer::{configure, slides_mids};
use super::peer::{Forwarded, Packet, Peer, from_str0m};
use super::rewrite::{Arrived, Vp8Ids};
use super::routing::{AUDIENCE_AUDIO_SLOTS, Layer, Levels, Routing, Source};
use super::wire::Wire;
use super::{Control, MediaConfig, Owner, Signal};
use crate::outbox::{Out, Outbox};

/// Datagrams read per wake-up before the loop looks at its other inputs.
const READ_BURST: usize = 256;
const TICK: Duration = Duration::from_millis(10);
/// How often `media_state` changes are sent.
const STATE_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct RoomMedia {
    conns: Vec<u64>,
    /// The floor's word, kept to recompute the routing when publishers come and go.
    floor: Vec<ParticipantId>,
    routing: Routing,
    levels: Levels,
    /// The connection whose media stands for each participant who publishes (the
    /// newest, after a reconnect); kept by `reroute`, read for every packet.
    publishers: HashMap<ParticipantId, u64>,
    /// The session's state as the room last told it (`None`: not told yet).
    session: Option<SessionState>,
    /// The feed of its livestream worker, while the livestream is on.
    live: Option<LiveFeed>,
}

impl RoomMedia {
    /// The session is open (in session or paused): media may reach those who only
    /// receive (the audience, a venue's projector). Before that, members and hosts may
    /// see and test each other, but nothing reaches them.
    fn is_live(&self) -> bool {
        matches!(
            self.session,
            Some(SessionState::InSession | SessionState::Paused)
        )
    }

    fn is_closed(&self) -> bool {
        self.session == Some(SessionState::Closed)
    }
}

pub(super) struct Unit {
    wire: Wire,
    addr: SocketAddr,
    candidates: Vec<SocketAddr>,
    peers: HashMap<u64, Peer>,
    /// Remote address → connection, learnt from the first datagram a peer accepts.
    by_addr: HashMap<SocketAddr, u64>,
    rooms: HashMap<Arc<str>, RoomMedia>,
    events: Vec<(u64, Event)>,
    buf: Vec<u8>,
    max_peers: usize,
    /// Rooms whose tracks to sync once the current events are processed.
    to_sync: Vec<Arc<str>>,
    /// Peers written to, to drive once the current events are processed.
    to_drive: Vec<u64>,
    /// Rooms where an audience member was refused because the unit is full (the
    /// livestream takes them, see `Sfu::take_crowded`).
    crowded: mpsc::UnboundedSender<Arc<str>>,
}

impl Unit {
    pub async fn bind(
        config: &MediaConfig,
        crowded: mpsc::UnboundedSender<Arc<str>>,
    ) -> std::io::Result<Unit> {
        let wire = Wire::bind(config.bind)?;
        let addr = wire.socket.local_addr()?;
        let mut candidates = Vec::new();
        if !addr.ip().is_unspecified() {
            candidates.push(addr);
        }
        if let Some(ip) = config.public_ip {
            let public = SocketAddr::new(ip, addr.port());
            if !candidates.contains(&public) {
                candidates.push(public);
            }
        }
        if candidates.is_empty() {
            tracing::warn!(
                %addr,
                "media bound to an unspecified address without --media-public-ip: offering 127.0.0.1 only"
            );
            candidates.push(SocketAddr::new([127, 0, 0, 1].into(), addr.port()));
        }
        Ok(Unit {
            wire,
            addr,
            candidates,
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            rooms: HashMap::new(),
            events: Vec::new(),
            buf: vec![0; 2000],
            max_peers: config.max_peers,
            to_sync: Vec::new(),
            to_drive: Vec::new(),
            crowded,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Control>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_state = Instant::now();
        let mut last_tick = last_state;
        loop {
            tokio::select! {
                biased;
                control = rx.recv() => match control {
                    Some(control) => self.control(control),
                    None => return,
                },
                ready = self.wire.socket.readable() => {
                    if ready.is_ok() {
                        self.read_burst();
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.timeouts(now, last_tick);
                    last_tick = now;
                    if now.duration_since(last_state) >= STATE_EVERY {
                        last_state = now;
                        self.send_states(now);
                    }
                }
            }
            self.settle();
            self.wire.flush();
        }
    }

    /// Process the events, then drive the peers written to, until neither is left (a
    /// drive may bring events of its own).
    fn settle(&mut self) {
        loop {
            self.process_events();
            if self.to_drive.is_empty() {
                return;
            }
            let now = Instant::now();
            for conn in std::mem::take(&mut self.to_drive) {
                if let Some(peer) = self.peers.get_mut(&conn) {
                    peer.drive(now, &mut self.wire, &mut self.events);
                }
            }
        }
    }

    // ----- network -----

    fn read_burst(&mut self) {
        for _ in 0..READ_BURST {
            let (n, source) = match self.wire.socket.try_recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(_) => return,
            };
            let now = Instant::now();
            let Some(datagram) = self.buf.get(..n) else {
                continue;
            };
            let Ok(contents) = datagram.try_into() else {
                continue;
            };
            let input = Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: self.addr,
                    contents,
                },
            );
            let conn = match self.by_addr.get(&source) {
                Some(conn) if self.peers.get(conn).is_some_and(|p| p.rtc.accepts(&input)) => *conn,
                _ => match self.peers.values().find(|p| p.rtc.accepts(&input)) {
                    Some(peer) => {
                        self.by_addr.insert(source, peer.owner.conn);
                        peer.owner.conn
                    }
                    None => continue,
                },
            };
            if let Some(peer) = self.peers.get_mut(&conn) {
                peer.handle(input);
                peer.drain(&mut self.wire, &mut self.events);
            }
            // Forward what this datagram completed before reading the next one.
            self.process_events();
        }
    }

    /// Drive the peers whose timers are due, but not those driven since the last tick
    /// (`last_tick`): a peer written to ran its timers then.
    fn timeouts(&mut self, now: Instant, last_tick: Instant) {
        for peer in self.peers.values_mut() {
            if peer.is_due(now, last_tick) {
                peer.drive(now, &mut self.wire, &mut self.events);
            }
        }
        let dead: Vec<u64> = self
            .peers
            .values()
            .filter(|p| !p.is_alive())
            .map(|p| p.owner.conn)
            .collect();
        for conn in dead {
            self.remove(conn);
        }
        self.live_keyframes(now);
    }

    /// Ask the stage of each room with a livestream for a key frame when its feed is due
    /// (at start, then every segment), so every segment can start with one; fill its
    /// voice's silences; send its sender reports.
    fn live_keyframes(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (room, state) in &mut self.rooms {
            if let Some(feed) = state.live.as_mut()
                && let Some((who, screen)) = live_video(&state.routing)
                && feed.keyframe_due(now)
            {
                due.push((room.clone(), who.clone(), screen));
            }
        }
        for (room, who, screen) in due {
            self.keyframe_from(&room, &who, Layer::High, screen);
        }
        for state in self.rooms.values_mut() {
            if state.is_live()
                && let Some(feed) = state.live.as_mut()
            {
                for (to, datagram) in feed.silence(now) {
                    self.wire.send(&datagram, to);
                }
                for (to, report) in feed.reports(now, std::time::SystemTime::now()) {
                    self.wire.send(&report, to);
                }
            }
        }
    }

    // ----- signalling -----

    fn control(&mut self, control: Control) {
        match control {
            Control::Signal {
                owner,
                outbox,
                signal,
            } => self.signal(owner, outbox, signal),
            Control::Gone { conn } => self.remove(conn),
            Control::Floor { room, heard } => {
                let state = self.rooms.entry(room.clone()).or_default();
                state.floor = heard;
                self.reroute(&room);
            }
            Control::Session { room, state } => self.session(room, state),
            Control::Live { room, target } => {
                let state = self.rooms.entry(room.clone()).or_default();
                state.live = target.map(LiveFeed::new);
                tracing::info!(%room, ?target, "livestream feed");
                // Whose voice it carries; its first key frame is asked for on the tick.
                self.reroute(&room);
            }
        }
    }

    /// The room's session changed state. Opening it lets media reach those who only
    /// receive (each starts at a key frame); closing it ends every media session of the
    /// room, and no new one starts.
    fn session(&mut self, room: Arc<str>, session: SessionState) {
        let media = self.rooms.entry(room.clone()).or_default();
        let was_live = media.is_live();
        media.session = Some(session);
        let live = media.is_live();
        let conns = media.conns.clone();
        if session == SessionState::Closed {
            for conn in conns {
                if let Some(peer) = self.peers.get(&conn) {
                    refuse(
                        peer.outbox(),
                        ErrorCode::MediaUnavailable,
                        "the session is closed: its media has ended".into(),
                    );
                }
                self.remove(conn);
            }
            tracing::info!(%room, "session closed: media sessions ended");
        } else if live && !was_live {
            for conn in conns {
                if self.peers.get(&conn).is_some_and(Peer::receives_only) {
                    self.request_keyframes_for(conn);
                }
            }
        }
    }

    fn signal(&mut self, owner: Owner, outbox: Outbox, signal: Signal) {
        let conn = owner.conn;
        match signal {
            Signal::Offer(sdp) => {
                self.remove(conn);
                if self
                    .rooms
                    .get(&owner.room)
                    .is_some_and(RoomMedia::is_closed)
                {
                    return refuse(
                        &outbox,
                        ErrorCode::MediaUnavailable,
                        "the session is closed: no more audio and video".into(),
                    );
                }
                if self.peers.len() >= self.max_peers {
                    metrics::counter!("yishi_media_full_total").increment(1);
                    if owner.audience {
                        let _ = self.crowded.send(owner.room.clone());
                    }
                    return refuse(
                        &outbox,
                        ErrorCode::MediaUnavailable,
                        "the media unit is full: take part without audio and video".into(),
                    );
                }
                match self.accept_offer(owner, outbox.clone(), &sdp) {
                    Ok(()) => {}
                    Err(message) => reject(&outbox, message),
                }
            }
            Signal::Answer(sdp) => {
                let Some(peer) = self.peers.get_mut(&conn) else {
                    return reject(&outbox, "no media session: send a media_offer first".into());
                };
                let result = peer.accept_answer(&sdp);
                peer.drain(&mut self.wire, &mut self.events);
                match result {
                    Ok(()) => {
                        let room = peer.owner.room.clone();
                        self.process_events();
                        // Publishers may have come while this offer was out.
                        self.sync_grid(&room);
                        self.request_keyframes_for(conn);
                    }
                    Err(message) => reject(&outbox, message),
                }
            }
            Signal::Candidate(candidate) => {
                let Some(peer) = self.peers.get_mut(&conn) else {
                    return;
                };
                let line = candidate.trim_start_matches("a=");
                match Candidate::from_sdp_string(line) {
                    Ok(c) => {
                        peer.rtc.add_remote_candidate(c);
                        peer.drain(&mut self.wire, &mut self.events);
                    }
                    Err(e) => reject(&outbox, format!("not an ICE candidate: {e}")),
                }
            }
            Signal::Stop => self.remove(conn),
        }
    }

    fn accept_offer(&mut self, owner: Owner, outbox: Outbox, sdp: &str) -> Result<(), String> {
        let now = Instant::now();
        let (rtc, answer) = configure(sdp, owner.publish, &self.candidates, now)?;
        let conn = owner.conn;
        let room = owner.room.clone();
        let mut peer = Peer::new(owner, outbox, rtc, now);
        peer.screen_mids = slides_mids(sdp);
        peer.send(&ServerMessage::MediaAnswer(Sdp {
            sdp: answer.to_sdp_string(),
        }));
        peer.drain(&mut self.wire, &mut self.events);
        self.peers.insert(conn, peer);
        self.rooms.entry(room.clone()).or_default().conns.push(conn);
        metrics::gauge!("yishi_media_peers").set(self.peers.len() as f64);
        self.process_events();
        self.reroute(&room);
        Ok(())
    }

    fn remove(&mut self, conn: u64) {
        let Some(mut peer) = self.peers.remove(&conn) else {
            return;
        };
        peer.rtc.disconnect();
        self.by_addr.retain(|_, c| *c != conn);
        let room = peer.owner.room.clone();
        if let Some(state) = self.rooms.get_mut(&room) {
            state.conns.retain(|c| *c != conn);
            state.levels.forget(&peer.owner.who);
            // A room whose session state is known stays (small), so a closed room keeps
            // refusing new media sessions.
            if state.conns.is_empty()
                && state.floor.is_empty()
                && state.session.is_none()
                && state.live.is_none()
            {
                self.rooms.remove(&room);
            }
        }
        metrics::gauge!("yishi_media_peers").set(self.peers.len() as f64);
        self.reroute(&room);
    }

    // ----- routing -----

    /// The peer of `who` in `room` that publishes, if any (the newest, after a reconnect).
    fn publisher(&self, room: &str, who: &ParticipantId) -> Option<u64> {
        self.rooms.get(room)?.publishers.get(who).copied()
    }

    /// Recompute the stage and slots of `room` and the members' grids.
    fn reroute(&mut self, room: &Arc<str>) {
        let Some(state) = self.rooms.get(room) else {
            return;
        };
        let floor = state.floor.clone();
        let conns = state.conns.clone();
        let peers = &self.peers;
        let sends = |who: &ParticipantId, kind: MediaKind| {
            conns.iter().any(|c| {
                peers
                    .get(c)
                    .is_some_and(|p| &p.owner.who == who && p.sends(kind))
            })
        };
        let shares = |who: &ParticipantId| {
            conns.iter().any(|c| {
                peers
                    .get(c)
                    .is_some_and(|p| &p.owner.who == who && p.shares())
            })
        };
        let mut publishers = HashMap::new();
        for c in &conns {
            if let Some(p) = peers.get(c)
                && p.owner.publish
                && !p.ins.is_empty()
            {
                // Later connections come later: the newest stays.
                publishers.insert(p.owner.who.clone(), *c);
            }
        }
        let mut routing = state.routing.clone();
        let change = routing.update(floor, sends, shares);
        // The livestream carries one voice: the first heard who sends audio.
        let voice = routing
            .heard
            .iter()
            .find(|p| sends(p, MediaKind::Audio))
            .cloned();
        if let Some(state) = self.rooms.get_mut(room) {
            state.routing = routing.clone();
            state.publishers = publishers;
            if let Some(feed) = state.live.as_mut() {
                feed.voice = voice;
            }
        }
        if change.camera
            && let Some(stage) = &routing.stage
        {
            self.keyframe_from(room, stage, Layer::High, false);
        }
        if change.screen
            && let Some(screen) = &routing.screen
        {
            self.keyframe_from(room, screen, Layer::High, true);
        }
        self.sync_grid(room);
    }

    /// Give each member a track per kind per other publisher of the room (and one per
    /// shared screen), and each viewer the stage.
    fn sync_grid(&mut self, room: &Arc<str>) {
        let Some(state) = self.rooms.get(room) else {
            return;
        };
        let conns = state.conns.clone();
        let mut publishers: Vec<(Source, MediaKind)> = Vec::new();
        for c in &conns {
            let Some(p) = self.peers.get(c) else { continue };
            let who = &p.owner.who;
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let source = (Source::Participant(who.clone()), kind);
                if p.sends(kind) && !publishers.contains(&source) {
                    publishers.push(source);
                }
            }
            let screen = (Source::Screen(who.clone()), MediaKind::Video);
            if p.shares() && !publishers.contains(&screen) {
                publishers.push(screen);
            }
        }
        for c in &conns {
            let Some(peer) = self.peers.get_mut(c) else {
                continue;
            };
            if peer.owner.audience && !peer.is_connected() {
                // Its offer's own receive-only tracks become the stage; str0m reports
                // them once connected. Tracks it did not ask for are added after that.
                continue;
            }
            let wanted: Vec<(Source, MediaKind)> = if peer.owner.audience {
                // The stage, whether or not the peer's offer asked for it.
                [
                    (Source::Stage, MediaKind::Video),
                    (Source::StageScreen, MediaKind::Video),
                ]
                .into_iter()
                .chain((0..AUDIENCE_AUDIO_SLOTS).map(|i| (Source::Slot(i), MediaKind::Audio)))
                .collect()
            } else {
                publishers
                    .iter()
                    .filter(|(source, _)| routing_who(source) != Some(&peer.owner.who))
                    .cloned()
                    .collect()
            };
            if peer.want_tracks(&wanted) {
                peer.drain(&mut self.wire, &mut self.events);
            }
        }
    }

    /// Ask `who` for a key frame of the simulcast layer forwarded for `layer`, of their
    /// camera or (`screen`) their shared screen.
    fn keyframe_from(&mut self, room: &str, who: &ParticipantId, layer: Layer, screen: bool) {
        let Some(conn) = self.publisher(room, who) else {
            return;
        };
        if let Some(peer) = self.peers.get_mut(&conn) {
            let now = Instant::now();
            let rid = peer.video_layer(layer, now, screen);
            if peer.request_keyframe(now, rid, screen) {
                peer.drain(&mut self.wire, &mut self.events);
            }
        }
    }

    /// A subscriber (re)negotiated or connected: its video sources start at a key frame.
    fn request_keyframes_for(&mut self, conn: u64) {
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        let room = peer.owner.room.clone();
        let Some(state) = self.rooms.get(&room) else {
            return;
        };
        let sources: Vec<(ParticipantId, Layer, bool)> = peer
            .outs
            .iter()
            .filter(|t| t.kind == MediaKind::Video)
            .filter_map(|t| {
                let who = state.routing.who(&t.source)?;
                Some((who, state.routing.layer(&t.source), t.source.is_screen()))
            })
            .collect();
        for (who, layer, screen) in sources {
            self.keyframe_from(&room, &who, layer, screen);
        }
    }

    // ----- events -----

    fn process_events(&mut self) {
        let mut queue: VecDeque<(u64, Event)> = self.events.drain(..).collect();
        while let Some((conn, event)) = queue.pop_front() {
            match event {
                Event::MediaAdded(added) => {
                    let kind = from_str0m(added.kind);
                    let Some(peer) = self.peers.get_mut(&conn) else {
                        continue;
                    };
                    match added.direction {
                        Direction::RecvOnly | Direction::SendRecv => {
                            let rids = added
                                .simulcast
                                .map(|s| if s.send.is_empty() { s.recv } else { s.send })
                                .unwrap_or_default()
                                .into_iter()
                                .map(|layer| layer.rid)
                                .collect();
                            peer.add_in(added.mid, kind, rids);
                            if !peer.owner.publish {
                                metrics::counter!("yishi_media_refused_tracks_total").increment(1);
                            }
                            let room = peer.owner.room.clone();
                            self.reroute(&room);
                        }
                        Direction::SendOnly => {
                            if peer.owner.audience {
                                peer.add_offered_out(added.mid, kind, AUDIENCE_AUDIO_SLOTS);
                            } else {
                                peer.opened(added.mid);
                            }
                        }
                        Direction::Inactive => {}
                    }
                }
                Event::MediaChanged(changed) => {
                    if let Some(peer) = self.peers.get_mut(&conn)
                        && matches!(changed.direction, Direction::SendOnly)
                    {
                        peer.opened(changed.mid);
                    }
                }
                Event::RtpPacket(rtp) => self.forward(conn, rtp),
                Event::KeyframeRequest(req) => {
                    let Some(peer) = self.peers.get_mut(&conn) else {
                        continue;
                    };
                    let room = peer.owner.room.clone();
                    let source = peer.out_wants_keyframe(req.mid);
                    if let Some((source, MediaKind::Video)) = source
                        && let Some(routing) = self.rooms.get(&room).map(|s| &s.routing)
                        && let Some(who) = routing.who(&source)
                    {
                        let layer = routing.layer(&source);
                        self.keyframe_from(&room, &who, layer, source.is_screen());
                    }
                }
                Event::Connected => {
                    if let Some(peer) = self.peers.get_mut(&conn) {
                        peer.set_connected();
                        // After the events this drain holds (the offer's tracks).
                        self.to_sync.push(peer.owner.room.clone());
                    }
                    self.request_keyframes_for(conn);
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    if let Some(peer) = self.peers.get_mut(&conn) {
                        peer.rtc.disconnect();
                    }
                }
                _ => {}
            }
            queue.extend(self.events.drain(..));
        }
        for room in std::mem::take(&mut self.to_sync) {
            self.sync_grid(&room);
        }
    }

    /// Forward a packet from `from` to every peer of its room whose tracks it feeds.
    /// Audio of someone the floor does not allow stops here.
    fn forward(&mut self, from: u64, rtp: RtpPacket) {
        let Some(sender) = self.peers.get_mut(&from) else {
            return;
        };
        if rtp.payload.is_empty() {
            return;
        }
        let header = &rtp.header;
        let Some((mid, rid)) = sender
            .rtc
            .direct_api()
            .stream_rx(&header.ssrc)
            .map(|s| (s.mid(), s.rid()))
        else {
            return;
        };
        let pt = header.payload_type;
        let Some(params) = sender.rtc.codec_config().find(|p| p.pt() == pt).copied() else {
            return;
        };
        let Some(track_in) = sender.ins.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        let kind = track_in.kind;
        let screen = track_in.screen;
        let now = rtp.timestamp;
        // The layers the grid and the stage forward, when the publisher sends several
        // (worked out only then: this runs for every packet).
        let (low, high) = match rid {
            Some(rid) => {
                track_in.saw(rid, now);
                (
                    track_in.layer(Layer::Low, now),
                    track_in.layer(Layer::High, now),
                )
            }
            None => (None, None),
        };
        let who = sender.owner.who.clone();
        let room = sender.owner.room.clone();
        if !sender.owner.publish {
            metrics::counter!("yishi_media_refused_packets_total").increment(1);
            return;
        }
        let Some(state) = self.rooms.get_mut(&room) else {
            return;
        };
        if state.publishers.get(&who) != Some(&from) {
            // An older connection of someone who has reconnected: the new one is theirs.
            return;
        }
        let mut ext_vals = ExtensionValues {
            video_orientation: header.ext_vals.video_orientation,
            ..ExtensionValues::default()
        };
        if kind == MediaKind::Audio {
            if !state.routing.is_heard(&who) {
                metrics::counter!("yishi_media_muted_by_floor_total").increment(1);
                return;
            }
            if let Some(level) = header.ext_vals.audio_level {
                state.levels.record(&who, level, now);
                ext_vals.audio_level = Some(level);
                ext_vals.voice_activity = header.ext_vals.voice_activity;
            }
        }
        let vp8 = (params.spec().codec == Codec::Vp8)
            .then(|| Vp8Descriptor::parse(&rtp.payload).ok())
            .flatten();
        let packet = Packet {
            arrived: Arrived {
                source: (from, *header.ssrc),
                seq: *rtp.seq_no,
                time: header.timestamp,
                at: now,
                keyframe: vp8.is_some_and(|d| d.starts_keyframe(&rtp.payload)),
                vp8: vp8.map_or_else(Vp8Ids::default, |d| Vp8Ids::of(&d, &rtp.payload)),
            },
            pt,
            params,
            marker: header.marker,
            ext_vals,
            payload: rtp.payload.clone(),
            vp8,
        };
        let routing = &state.routing;
        let live = state.is_live();
        let mut want_keyframe = false;
        let mut written = 0u64;
        for conn in &state.conns {
            if *conn == from {
                continue;
            }
            let Some(peer) = self.peers.get_mut(conn) else {
                continue;
            };
            if !live && peer.receives_only() {
                // Before the session opens nothing reaches the audience or a projector.
                continue;
            }
            for index in 0..peer.outs.len() {
                let Some(track) = peer.outs.get(index) else {
                    break;
                };
                if track.kind != kind {
                    continue;
                }
                // Another simulcast layer than the one wanted goes on while the track
                // forwards it, until the wanted one starts (at a key frame).
                let fed = routing.feeds(&track.source, kind, &who, screen)
                    && (rid.is_none()
                        || rid
                            == match routing.layer(&track.source) {
                                Layer::Low => low,
                                Layer::High => high,
                            }
                        || peer.forwards(index, packet.arrived.source));
                if !fed {
                    // Should this source come back to the track, it starts over.
                    peer.release(index, packet.arrived.source);
                    continue;
                }
                match peer.forward(index, &packet) {
                    Forwarded::Written => {
                        written += 1;
                        if !peer.written {
                            peer.written = true;
                            self.to_drive.push(*conn);
                        }
                    }
                    Forwarded::NeedsKeyframe => want_keyframe = true,
                    Forwarded::Skipped => {}
                }
            }
        }
        // The livestream's virtual subscriber: the stage's video (its shared screen while
        // there is one, else its camera) and one voice, while the session is open.
        if live
            && let Some(feed) = state.live.as_mut()
            && match kind {
                MediaKind::Video => {
                    live_video(routing) == Some((&who, screen)) && (rid.is_none() || rid == high)
                }
                MediaKind::Audio => feed.voice.as_ref() == Some(&who),
            }
        {
            match feed.packet(
                kind,
                &packet.arrived,
                packet.marker,
                &packet.payload,
                packet.vp8.is_some(),
            ) {
                LiveOut::Send(to, datagram) => {
                    self.wire.send(&datagram, to);
                    metrics::counter!("yishi_live_forwarded_packets_total").increment(1);
                }
                LiveOut::NeedsKeyframe => want_keyframe = true,
                LiveOut::Skip => {}
            }
        }
        metrics::counter!("yishi_media_forwarded_packets_total").increment(written);
        if want_keyframe
            && let Some(peer) = self.peers.get_mut(&from)
            && peer.request_keyframe(Instant::now(), rid, screen)
        {
            peer.drain(&mut self.wire, &mut self.events);
        }
    }

    // ----- state -----

    fn send_states(&mut self, now: Instant) {
        for state in self.rooms.values() {
            let speaking = state.levels.speaking(&state.routing, now);
            for conn in &state.conns {
                let Some(peer) = self.peers.get_mut(conn) else {
                    continue;
                };
                let tracks = peer
                    .outs
                    .iter()
                    .filter(|t| t.open)
                    .map(|t| MediaTrack {
                        mid: t.mid.to_string(),
                        kind: t.kind,
                        participant: match &t.source {
                            Source::Participant(p) | Source::Screen(p) => Some(p.clone()),
                            Source::Stage | Source::StageScreen | Source::Slot(_) => None,
                        },
                        content: t.source.is_screen().then_some(TrackContent::Slides),
                    })
                    .collect();
                let media = MediaState {
                    heard: state.routing.heard.clone(),
                    stage: state.routing.stage.clone(),
                    screen: state.routing.screen.clone(),
                    speaking: speaking.clone(),
                    tracks,
                };
                if peer.sent_state.as_ref() != Some(&media) {
                    peer.send(&ServerMessage::MediaState(media.clone()));
                    peer.sent_state = Some(media);
                }
            }
        }
    }
}

/// Whose media a grid track carries (a member is not sent their own).
fn routing_who(source: &Source) -> Option<&ParticipantId> {
    match source {
        Source::Participant(p) | Source::Screen(p) => Some(p),
        Source::Stage | Source::StageScreen | Source::Slot(_) => None,
    }
}

fn reject(outbox: &Outbox, message: String) {
    refuse(outbox, ErrorCode::MediaRejected, message);
}

fn refuse(outbox: &Outbox, code: ErrorCode, message: String) {
    let msg = ServerMessage::Error(ErrorMessage {
        req: None,
        code,
        message,
    });
    if let Ok(text) = serde_json::to_string(&msg) {
        let _ = outbox.try_send(Out::Frame(text.into()));
    }
}
