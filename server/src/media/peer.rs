//! One peer of the SFU: its str0m `Rtc`, the tracks it sends us, the tracks we send it,
//! and its negotiation state. Only the unit's task touches a peer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use str0m::change::SdpPendingOffer;
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, Mid, Pt, Rid};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc, Vp8Descriptor};
use str0m::{Event, Input, Output, Reason, Rtc};
use yishi_protocol::{MediaKind, ServerMessage};

use super::Owner;
use super::rewrite::{self, Arrived, Rewriter, Rewritten};
use super::routing::{Layer, Source, pick_layer};
use super::wire::Wire;
use crate::outbox::{Out, Outbox};

/// A simulcast layer that sent nothing for this long is left out of the choice: a
/// browser stops its top layers when its bandwidth or CPU runs short.
const LAYER_IDLE: Duration = Duration::from_millis(1000);

/// A track the peer sends us.
#[derive(Debug)]
pub(super) struct TrackIn {
    pub mid: Mid,
    pub kind: MediaKind,
    /// A shared screen (marked `a=content:slides` in the offer), not the camera.
    pub screen: bool,
    /// With simulcast, the layers announced or seen, in that order, each with the
    /// arrival of its last packet.
    layers: Vec<(Rid, Option<Instant>)>,
    /// The last key frame request, per layer.
    keyframe_requests: Vec<(Option<Rid>, Instant)>,
}

impl TrackIn {
    /// A packet of layer `rid` arrived at `at`.
    pub fn saw(&mut self, rid: Rid, at: Instant) {
        match self.layers.iter_mut().find(|(r, _)| *r == rid) {
            Some((_, seen)) => *seen = Some(at),
            None => self.layers.push((rid, Some(at))),
        }
    }

    /// The simulcast layer to forward for `layer`, if the track has several: chosen
    /// among the layers arriving at `now`, or among all when none is.
    pub fn layer(&self, layer: Layer, now: Instant) -> Option<Rid> {
        let arriving = |seen: &Option<Instant>| {
            seen.is_some_and(|at| now.saturating_duration_since(at) < LAYER_IDLE)
        };
        let active: Vec<Rid> = self
            .layers
            .iter()
            .filter(|(_, seen)| arriving(seen))
            .map(|(rid, _)| *rid)
            .collect();
        let rids = if active.is_empty() {
            self.layers.iter().map(|(rid, _)| *rid).collect()
        } else {
            active
        };
        let names: Vec<&str> = rids.iter().map(|r| &**r).collect();
        pick_layer(&names, layer).and_then(|i| rids.get(i).copied())
    }
}

/// The least time between two key frame requests for one layer of a publisher.
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(300);

/// How long a timer due only for str0m's null pacer may wait for the peer's next packet.
/// After every send the pacer asks to run before the next one, which writing the next
/// packet does anyway; on the tick that would be a wasted run for every busy subscriber
/// (a third of all runs with one publisher). The timers it hides (reports,
/// keep-alives) run at most this late.
const PACER_GRACE: Duration = Duration::from_millis(50);

/// A track we send the peer.
#[derive(Debug)]
pub(super) struct TrackOut {
    pub mid: Mid,
    pub kind: MediaKind,
    pub source: Source,
    /// Negotiated: media may be written.
    pub open: bool,
    /// Makes its packets one stream whichever source feeds it.
    rewriter: Rewriter,
    /// Its send stream, once negotiated.
    ssrc: Option<Ssrc>,
    /// The payload type last mapped: the source's connection and type, and ours.
    pt: Option<(u64, Pt, Pt)>,
}

/// An RTP packet to forward, with what every subscriber's copy needs worked out once.
pub(super) struct Packet {
    pub arrived: Arrived,
    pub pt: Pt,
    /// The codec of `pt` at its source.
    pub params: PayloadParams,
    pub marker: bool,
    /// The header extensions that travel on (audio level, video orientation).
    pub ext_vals: ExtensionValues,
    pub payload: Arc<[u8]>,
    pub vp8: Option<Vp8Descriptor>,
}

/// What writing a packet to a peer came to.
pub(super) enum Forwarded {
    Written,
    /// Nothing to write (no matching track or codec, or a packet from before its
    /// source began on the track).
    Skipped,
    /// The track changed source and waits for a key frame: ask the source for one.
    NeedsKeyframe,
}

pub(super) struct Peer {
    pub owner: Owner,
    outbox: Outbox,
    pub rtc: Rtc,
    pending: Option<SdpPendingOffer>,
    pub ins: Vec<TrackIn>,
    pub outs: Vec<TrackOut>,
    pub next_timeout: Instant,
    /// When its timers last ran (`drive`).
    driven: Instant,
    /// Packets were written to it since it was last driven.
    pub written: bool,
    /// Its next timer is the null pacer's (`PACER_GRACE`).
    pacer_due: bool,
    /// The last `media_state` sent, to send only changes.
    pub sent_state: Option<yishi_protocol::MediaState>,
    connected: bool,
    /// The mids its offer marked as a shared screen (`a=content:slides`).
    pub screen_mids: Vec<String>,
}

pub(super) fn to_str0m(kind: MediaKind) -> str0m::media::MediaKind {
    match kind {
        MediaKind::Audio => str0m::media::MediaKind::Audio,
        MediaKind::Video => str0m::media::MediaKind::Video,
    }
}

pub(super) fn from_str0m(kind: str0m::media::MediaKind) -> MediaKind {
    match kind {
        str0m::media::MediaKind::Audio => MediaKind::Audio,
        str0m::media::MediaKind::Video => MediaKind::Video,
    }
}

impl Peer {
    pub fn new(owner: Owner, outbox: Outbox, rtc: Rtc, now: Instant) -> Peer {
        Peer {
            owner,
            outbox,
            rtc,
            pending: None,
            ins: Vec::new(),
            outs: Vec::new(),
            next_timeout: now,
            driven: now,
            written: false,
            pacer_due: false,
            sent_state: None,
            connected: false,
            screen_mids: Vec::new(),
        }
    }

    /// The peer's connection queue.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Queue a message on the peer's WebSocket. A full queue drops it: the connection is
    /// being closed as too slow anyway.
    pub fn send(&self, msg: &ServerMessage) {
        if let Ok(text) = serde_json::to_string(msg) {
            let _ = self.outbox.try_send(Out::Frame(Utf8Bytes::from(text)));
        }
    }

    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive() && !self.outbox.is_closed()
    }

    /// Feed an input; a failure ends the peer.
    pub fn handle(&mut self, input: Input) {
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(conn = self.owner.conn, error = %e, "media peer failed");
            self.rtc.disconnect();
        }
    }

    /// Run its timers at `now` (which packetises and releases what was written) and take
    /// the output.
    pub fn drive(&mut self, now: Instant, wire: &mut Wire, events: &mut Vec<(u64, Event)>) {
        self.handle(Input::Timeout(now));
        self.driven = now;
        self.written = false;
        self.drain(wire, events);
    }

    /// Its timers are due and have not run since `since` (a peer written to runs them
    /// with every packet). The pacer's alone waits `PACER_GRACE` for the next packet.
    pub fn is_due(&self, now: Instant, since: Instant) -> bool {
        self.next_timeout <= now
            && self.driven <= since
            && !(self.pacer_due && now < self.driven + PACER_GRACE)
    }

    /// Take everything the `Rtc` has: queue datagrams on the wire, keep its timeout, hand
    /// back events.
    pub fn drain(&mut self, wire: &mut Wire, events: &mut Vec<(u64, Event)>) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => wire.send(&t.contents, t.destination),
                Ok(Output::Timeout(at)) => {
                    self.next_timeout = at;
                    self.pacer_due = matches!(self.rtc.last_timeout_reason(), Reason::Pacer(_));
                    break;
                }
                Ok(Output::Event(e)) => events.push((self.owner.conn, e)),
                Err(e) => {
                    tracing::debug!(conn = self.owner.conn, error = %e, "media peer failed");
                    self.rtc.disconnect();
                    break;
                }
            }
        }
    }

    /// A track the peer sends us appeared.
    pub fn add_in(&mut self, mid: Mid, kind: MediaKind, rids: Vec<Rid>) {
        if self.ins.iter().all(|t| t.mid != mid) {
            let screen = kind == MediaKind::Video && self.screen_mids.iter().any(|m| **m == *mid);
            self.ins.push(TrackIn {
                mid,
                kind,
                screen,
                layers: rids.into_iter().map(|rid| (rid, None)).collect(),
                keyframe_requests: Vec::new(),
            });
        }
    }

    /// It sends a camera (`Video`) or a microphone (`Audio`) we may forward.
    pub fn sends(&self, kind: MediaKind) -> bool {
        self.owner.publish && self.ins.iter().any(|t| t.kind == kind && !t.screen)
    }

    /// It shares a screen we may forward.
    pub fn shares(&self) -> bool {
        self.owner.publish && self.ins.iter().any(|t| t.screen)
    }

    /// It only receives (the audience, a venue's projector, a member without devices):
    /// nothing reaches it before the session opens.
    pub fn receives_only(&self) -> bool {
        self.owner.audience || self.ins.is_empty()
    }

    /// A track we send, negotiated already (from the peer's own offer) or about to be.
    fn add_out(&mut self, mid: Mid, kind: MediaKind, source: Source, open: bool) {
        self.outs.push(TrackOut {
            mid,
            kind,
            source,
            open,
            rewriter: Rewriter::new(kind == MediaKind::Video),
            ssrc: None,
            pt: None,
        });
    }

    /// The peer's offer asked to receive this (the audience's stage tracks: the first
    /// video the stage, a second the stage's shared screen).
    pub fn add_offered_out(&mut self, mid: Mid, kind: MediaKind, slots: usize) {
        if self.outs.iter().any(|t| t.mid == mid) {
            return;
        }
        let has = |source: Source| self.outs.iter().any(|t| t.source == source);
        let source = match kind {
            MediaKind::Video if !has(Source::Stage) => Source::Stage,
            MediaKind::Video if !has(Source::StageScreen) => Source::StageScreen,
            MediaKind::Audio => {
                let used = self
                    .outs
                    .iter()
                    .filter(|t| matches!(t.source, Source::Slot(_)))
                    .count();
                if used >= slots {
                    return;
                }
                Source::Slot(used)
            }
            MediaKind::Video => return,
        };
        self.add_out(mid, kind, source, true);
    }

    /// A negotiated track is open now.
    pub fn opened(&mut self, mid: Mid) {
        if let Some(t) = self.outs.iter_mut().find(|t| t.mid == mid) {
            t.open = true;
        }
    }

    /// Connected (ICE and DTLS done): the tracks its offer asked for are known by now.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn set_connected(&mut self) {
        self.connected = true;
    }

    /// Make the tracks we send match `wanted`: add what is missing, stop grid tracks no
    /// longer wanted, and offer the change if no offer is outstanding. Returns whether an
    /// offer went out.
    pub fn want_tracks(&mut self, wanted: &[(Source, MediaKind)]) -> bool {
        if self.pending.is_some() {
            return false;
        }
        let mut change = self.rtc.sdp_api();
        let mut added = Vec::new();
        let mut stopped = Vec::new();
        for (source, kind) in wanted {
            if self
                .outs
                .iter()
                .any(|t| &t.source == source && t.kind == *kind)
            {
                continue;
            }
            let stream = match source {
                Source::Participant(p) => Some(msid_token(&p.0)),
                Source::Screen(p) => Some(format!("{}-screen", msid_token(&p.0))),
                _ => None,
            };
            let mid = change.add_media(to_str0m(*kind), Direction::SendOnly, stream, None, None);
            added.push((mid, *kind, source.clone()));
        }
        for t in &self.outs {
            if matches!(t.source, Source::Participant(_) | Source::Screen(_))
                && !wanted.iter().any(|(s, k)| s == &t.source && *k == t.kind)
            {
                change.set_direction(t.mid, Direction::Inactive);
                stopped.push(t.mid);
            }
        }
        let Some((offer, pending)) = change.apply() else {
            return false;
        };
        self.outs.retain(|t| !stopped.contains(&t.mid));
        for (mid, kind, source) in added {
            self.add_out(mid, kind, source, false);
        }
        self.pending = Some(pending);
        self.send(&ServerMessage::MediaOffer(yishi_protocol::Sdp {
            sdp: offer.to_sdp_string(),
        }));
        true
    }

    /// The peer answered our offer.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), String> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| "no offer of the server is waiting for an answer".to_owned())?;
        let answer = str0m::change::SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        for t in &mut self.outs {
            t.open = true;
        }
        Ok(())
    }

    /// Write a packet to the track with index `index`.
    pub fn forward(&mut self, index: usize, packet: &Packet) -> Forwarded {
        let Some(track) = self.outs.get_mut(index) else {
            return Forwarded::Skipped;
        };
        if !track.open {
            return Forwarded::Skipped;
        }
        let from = packet.arrived.source.0;
        let pt = match track.pt {
            Some((conn, theirs, ours)) if conn == from && theirs == packet.pt => ours,
            _ => {
                let Some(ours) = self.rtc.codec_config().match_params(packet.params) else {
                    return Forwarded::Skipped;
                };
                let ours = ours.pt();
                track.pt = Some((from, packet.pt, ours));
                ours
            }
        };
        let mut api = self.rtc.direct_api();
        let ssrc = match track.ssrc {
            Some(ssrc) => ssrc,
            None => match api.stream_tx_by_mid(track.mid, None) {
                Some(stream) => *track.ssrc.insert(stream.ssrc()),
                None => return Forwarded::Skipped,
            },
        };
        let Some(stream) = api.stream_tx(&ssrc) else {
            return Forwarded::Skipped;
        };
        let numbers = match track.rewriter.rewrite(&packet.arrived) {
            Rewritten::Send(numbers) => numbers,
            Rewritten::Stale => return Forwarded::Skipped,
            Rewritten::NeedsKeyframe => return Forwarded::NeedsKeyframe,
        };
        let mut write = RtpWrite::new(
            pt,
            numbers.seq.into(),
            numbers.time,
            numbers.wallclock,
            packet.payload.clone(),
        )
        .marker(packet.marker)
        .ext_vals(packet.ext_vals.clone())
        .nackable(track.kind == MediaKind::Video);
        if let Some(vp8) = packet.vp8
            && (numbers.picture_id.is_some() || numbers.tl0_pic_idx.is_some())
        {
            let mut patch = vp8.patch();
            if let Some(id) = numbers.picture_id {
                patch = patch.picture_id(id);
            }
            if let Some(idx) = numbers.tl0_pic_idx {
                patch = patch.tl0_pic_idx(idx);
            }
            if let Ok(patch) = patch.build() {
                write = write.vp8_patch(patch);
            }
        }
        stream.write_rtp(write);
        Forwarded::Written
    }

    /// The track with index `index` forwards `source` now.
    pub fn forwards(&self, index: usize, source: rewrite::Source) -> bool {
        self.outs
            .get(index)
            .is_some_and(|t| t.rewriter.is_bound_to(source))
    }

    /// The track with index `index` no longer forwards `source`.
    pub fn release(&mut self, index: usize, source: rewrite::Source) {
        if let Some(track) = self.outs.get_mut(index) {
            track.rewriter.release(source);
        }
    }

    /// A subscriber of this track wants a key frame: the source to ask for one.
    pub fn out_wants_keyframe(&mut self, mid: Mid) -> Option<(Source, MediaKind)> {
        self.outs
            .iter()
            .find(|t| t.mid == mid)
            .map(|t| (t.source.clone(), t.kind))
    }

    /// The simulcast layer of its camera (or shared screen) to forward for `layer`, if
    /// it sends several.
    pub fn video_layer(&self, layer: Layer, now: Instant, screen: bool) -> Option<Rid> {
        self.ins
            .iter()
            .find(|t| t.kind == MediaKind::Video && t.screen == screen)?
            .layer(layer, now)
    }

    /// Ask this peer for a key frame on its camera (or shared screen; of one simulcast
    /// layer), at most every 300 ms per layer (a browser ignores requests more often
    /// than that).
    pub fn request_keyframe(&mut self, now: Instant, rid: Option<Rid>, screen: bool) -> bool {
        let Some(track) = self
            .ins
            .iter_mut()
            .find(|t| t.kind == MediaKind::Video && t.screen == screen)
        else {
            return false;
        };
        let last = track.keyframe_requests.iter_mut().find(|(r, _)| *r == rid);
        if last
            .as_ref()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) < KEYFRAME_REQUEST_EVERY)
        {
            return false;
        }
        // A layer that has sent nothing yet has no stream to ask on.
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx_by_mid(track.mid, rid) else {
            return false;
        };
        stream.request_keyframe(KeyframeRequestKind::Pli);
        match last {
            Some((_, at)) => *at = now,
            None => track.keyframe_requests.push((rid, now)),
        }
        true
    }
}

/// A stream id for the SDP `msid` attribute: token characters only.
fn msid_token(id: &str) -> String {
    let token: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if token.is_empty() {
        "p".to_owned()
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(rids: &[&str]) -> TrackIn {
        TrackIn {
            mid: Mid::from("0"),
            kind: MediaKind::Video,
            screen: false,
            layers: rids.iter().map(|r| (Rid::from(*r), None)).collect(),
            keyframe_requests: Vec::new(),
        }
    }

    #[test]
    fn layers_are_chosen_among_those_arriving() {
        let t0 = Instant::now();
        let mut t = track(&["q", "h", "f"]);
        // Announced, nothing seen yet: the names decide.
        assert_eq!(t.layer(Layer::High, t0), Some(Rid::from("f")));
        assert_eq!(t.layer(Layer::Low, t0), Some(Rid::from("q")));
        // Only the two lower layers arrive (the browser dropped its top one).
        t.saw(Rid::from("q"), t0);
        t.saw(Rid::from("h"), t0);
        assert_eq!(t.layer(Layer::High, t0), Some(Rid::from("h")));
        assert_eq!(t.layer(Layer::Low, t0), Some(Rid::from("q")));
        // The top layer comes back.
        let t1 = t0 + Duration::from_millis(400);
        t.saw(Rid::from("f"), t1);
        assert_eq!(t.layer(Layer::High, t1), Some(Rid::from("f")));
        // Then only it goes on: low and high are both the layer that arrives.
        let t2 = t1 + LAYER_IDLE;
        t.saw(Rid::from("f"), t2);
        assert_eq!(t.layer(Layer::Low, t2), Some(Rid::from("f")));
        // Nothing arrives any more: back to choosing by name.
        let t3 = t2 + LAYER_IDLE * 2;
        assert_eq!(t.layer(Layer::Low, t3), Some(Rid::from("q")));
    }

    #[test]
    fn a_layer_seen_but_not_announced_joins_the_choice() {
        let t0 = Instant::now();
        let mut t = track(&[]);
        assert_eq!(t.layer(Layer::High, t0), None);
        t.saw(Rid::from("l"), t0);
        t.saw(Rid::from("h"), t0);
        assert_eq!(t.layer(Layer::High, t0), Some(Rid::from("h")));
        assert_eq!(t.layer(Layer::Low, t0), Some(Rid::from("l")));
    }
}
