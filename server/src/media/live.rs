//! The livestream's feed: a virtual subscriber of a room's stage that sends plain RTP
//! (unencrypted, to loopback only) to the livestream worker (`crate::live`), which encodes
//! it into HLS.
//!
//! It carries two streams: the stage's video (VP8: its shared screen while there is one,
//! else its camera, see [`live_video`]), and the voice of the first heard
//! participant who sends audio (Opus). Each goes through a [`Rewriter`] like a track of a
//! viewer, so a change of speaker is one continuous stream for the worker: sequence
//! numbers, RTP time and VP8 picture ids go on, and video starts again at a key frame.
//! A voice's silences are filled with Opus silence, and RTCP sender reports put both
//! streams on one clock. Pure: the unit hands it packets and the time, and sends what it
//! returns; it never opens a socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use yishi_protocol::{MediaKind, ParticipantId};

use super::rewrite::{Arrived, Rewriter, Rewritten};
use super::routing::Routing;

/// Payload types the worker's SDP names: VP8 and Opus, as WebRTC clients usually number
/// them (ours, whatever the publisher's).
pub const VIDEO_PAYLOAD_TYPE: u8 = 96;
pub const AUDIO_PAYLOAD_TYPE: u8 = 111;

/// How often the stage is asked for a key frame while the livestream is on: the segment
/// length, so every segment can start with one.
pub const KEYFRAME_EVERY: Duration = Duration::from_secs(1);

/// A voice silent this long (nobody heard sends audio, or their packets stopped) is
/// filled with silence, 20 ms a packet: the worker's muxer waits for audio before it
/// writes video, so without it a silent stage would stall the stream.
const SILENCE_AFTER: Duration = Duration::from_millis(100);
const OPUS_FRAME: Duration = Duration::from_millis(20);
/// An Opus packet of 20 ms of silence (CELT, full band, one frame).
const OPUS_SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];
/// The source the silence comes from, to the audio rewriter: no connection has this id.
const SILENCE_SOURCE: (u64, u32) = (u64::MAX, 0);
/// How often sender reports go to the worker (RFC 3550 suggests about every 5 s; sooner
/// here, so the worker can align audio and video within its first second).
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// What the livestream's video shows: the stage's shared screen or slides while someone
/// heard shares one (the lecturer's slides, not their face), else the stage's camera.
/// The participant, and `true` for a screen. A change between them is a change of source
/// like a change of speaker: the stream goes on from the new source's next key frame.
pub(super) fn live_video(routing: &Routing) -> Option<(&ParticipantId, bool)> {
    routing
        .screen
        .as_ref()
        .map(|p| (p, true))
        .or_else(|| routing.stage.as_ref().map(|p| (p, false)))
}

/// Where the worker listens: one loopback UDP port per stream (its RTCP port is the next
/// one, unused by us).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveTarget {
    pub video: SocketAddr,
    pub audio: SocketAddr,
}

/// One stream to the worker.
#[derive(Debug)]
struct Outgoing {
    rewriter: Rewriter,
    ssrc: u32,
    pt: u8,
    to: SocketAddr,
    /// Where its sender reports go: the RTCP port, next to the RTP one.
    rtcp: SocketAddr,
    /// The RTP time and real time (arrival) of the newest packet sent, for the reports.
    newest: Option<(u32, Instant)>,
    packets: u32,
    octets: u32,
}

impl Outgoing {
    fn new(video: bool, ssrc: u32, pt: u8, to: SocketAddr) -> Outgoing {
        Outgoing {
            rewriter: Rewriter::new(video),
            ssrc,
            pt,
            to,
            rtcp: SocketAddr::new(to.ip(), to.port().wrapping_add(1)),
            newest: None,
            packets: 0,
            octets: 0,
        }
    }

    /// An RTCP sender report (RFC 3550 § 6.4.1) pairing its newest RTP time with the real
    /// time, as NTP: how the worker puts audio and video on one clock (lip sync).
    /// `now` and `wall` are the same moment on both clocks.
    fn report(&self, now: Instant, wall: SystemTime) -> Option<Vec<u8>> {
        let (time, at) = self.newest?;
        let when = wall.checked_sub(now.saturating_duration_since(at))?;
        let since_1900 = when.duration_since(UNIX_EPOCH).ok()? + NTP_UNIX_OFFSET;
        let seconds = since_1900.as_secs() as u32;
        let fraction = ((u64::from(since_1900.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        let mut sr = Vec::with_capacity(28);
        // V=2, no report blocks; PT=200 (SR); length 6 words after the first.
        sr.extend_from_slice(&[0x80, 200, 0, 6]);
        sr.extend_from_slice(&self.ssrc.to_be_bytes());
        sr.extend_from_slice(&seconds.to_be_bytes());
        sr.extend_from_slice(&fraction.to_be_bytes());
        sr.extend_from_slice(&time.to_be_bytes());
        sr.extend_from_slice(&self.packets.to_be_bytes());
        sr.extend_from_slice(&self.octets.to_be_bytes());
        Some(sr)
    }
}

/// From 1900 (NTP's epoch) to 1970 (Unix's).
const NTP_UNIX_OFFSET: Duration = Duration::from_secs(2_208_988_800);

/// What to do with a packet of the stage.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LiveOut {
    /// Send this datagram there.
    Send(SocketAddr, Vec<u8>),
    /// Nothing (a stale packet).
    Skip,
    /// The video waits for a key frame of its (new) source: ask for one.
    NeedsKeyframe,
}

/// A room's feed to its livestream worker.
#[derive(Debug)]
pub(super) struct LiveFeed {
    video: Outgoing,
    audio: Outgoing,
    /// Whose voice the livestream carries: the first heard who sends audio (kept by the
    /// unit's routing).
    pub voice: Option<ParticipantId>,
    /// When the stage was last asked for a key frame (`None`: ask at once).
    keyframe_asked: Option<Instant>,
    /// When the voice last sent a packet.
    voice_at: Option<Instant>,
    /// The silence sent so far: its sequence number, RTP time, and up to when.
    silence: (u64, u32, Option<Instant>),
    /// When sender reports were last sent.
    reported: Option<Instant>,
}

impl LiveFeed {
    pub fn new(target: LiveTarget) -> LiveFeed {
        LiveFeed {
            video: Outgoing::new(true, 0x5949_5631, VIDEO_PAYLOAD_TYPE, target.video),
            audio: Outgoing::new(false, 0x5949_4131, AUDIO_PAYLOAD_TYPE, target.audio),
            voice: None,
            keyframe_asked: None,
            voice_at: None,
            silence: (0, 0, None),
            reported: None,
        }
    }

    /// Whether the stage is due to be asked for a key frame at `now` (at start and every
    /// [`KEYFRAME_EVERY`]); if so, counts it as asked.
    pub fn keyframe_due(&mut self, now: Instant) -> bool {
        let due = self
            .keyframe_asked
            .is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_EVERY);
        if due {
            self.keyframe_asked = Some(now);
        }
        due
    }

    /// The datagram for the worker carrying this packet of the stage.
    pub fn packet(
        &mut self,
        kind: MediaKind,
        arrived: &Arrived,
        marker: bool,
        payload: &[u8],
        vp8: bool,
    ) -> LiveOut {
        if kind == MediaKind::Audio && arrived.source != SILENCE_SOURCE {
            self.voice_at = Some(arrived.at);
        }
        let out = match kind {
            MediaKind::Video => &mut self.video,
            MediaKind::Audio => &mut self.audio,
        };
        let numbers = match out.rewriter.rewrite(arrived) {
            Rewritten::Send(numbers) => numbers,
            Rewritten::Stale => return LiveOut::Skip,
            Rewritten::NeedsKeyframe => return LiveOut::NeedsKeyframe,
        };
        let mut datagram = Vec::with_capacity(12 + payload.len());
        datagram.push(0x80);
        datagram.push(out.pt | if marker { 0x80 } else { 0 });
        datagram.extend_from_slice(&(numbers.seq as u16).to_be_bytes());
        datagram.extend_from_slice(&numbers.time.to_be_bytes());
        datagram.extend_from_slice(&out.ssrc.to_be_bytes());
        let start = datagram.len();
        datagram.extend_from_slice(payload);
        if vp8 && let Some(body) = datagram.get_mut(start..) {
            patch_vp8(body, numbers.picture_id, numbers.tl0_pic_idx);
        }
        out.newest = Some((numbers.time, numbers.wallclock));
        out.packets = out.packets.wrapping_add(1);
        out.octets = out.octets.wrapping_add(payload.len() as u32);
        LiveOut::Send(out.to, datagram)
    }
}

impl LiveFeed {
    /// Sender reports for both streams, every [`REPORT_EVERY`]: the datagrams to send.
    pub fn reports(&mut self, now: Instant, wall: SystemTime) -> Vec<(SocketAddr, Vec<u8>)> {
        if self
            .reported
            .is_some_and(|at| now.saturating_duration_since(at) < REPORT_EVERY)
        {
            return Vec::new();
        }
        self.reported = Some(now);
        [&self.video, &self.audio]
            .into_iter()
            .filter_map(|out| Some((out.rtcp, out.report(now, wall)?)))
            .collect()
    }

    /// Silence for the time since the voice last sent anything, once that is longer than
    /// `SILENCE_AFTER`: the datagrams to send at `now` (at most 100 ms of it at once).
    pub fn silence(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        if self
            .voice_at
            .is_some_and(|at| now.saturating_duration_since(at) < SILENCE_AFTER)
        {
            self.silence.2 = None;
            return Vec::new();
        }
        let (mut seq, mut time, since) = self.silence;
        let mut until = since.unwrap_or_else(|| now.checked_sub(OPUS_FRAME).unwrap_or(now));
        let mut out = Vec::new();
        while until + OPUS_FRAME <= now && out.len() < 5 {
            seq += 1;
            time = time.wrapping_add(960);
            until += OPUS_FRAME;
            let arrived = Arrived {
                source: SILENCE_SOURCE,
                seq,
                time,
                at: until,
                keyframe: false,
                vp8: Default::default(),
            };
            if let LiveOut::Send(to, datagram) =
                self.packet(MediaKind::Audio, &arrived, false, &OPUS_SILENCE, false)
            {
                out.push((to, datagram));
            }
        }
        if now.saturating_duration_since(until) > OPUS_FRAME * 5 {
            // Behind (a stalled loop): skip ahead rather than burst.
            until = now;
        }
        self.silence = (seq, time, Some(until));
        out
    }
}

/// Write a new picture id and TL0PICIDX into a VP8 payload descriptor (RFC 7741), where
/// it has them.
fn patch_vp8(payload: &mut [u8], picture_id: Option<u16>, tl0_pic_idx: Option<u8>) {
    let has = |payload: &[u8], i: usize, bit: u8| payload.get(i).is_some_and(|b| b & bit != 0);
    if !has(payload, 0, 0x80) {
        return;
    }
    let mut at = 2;
    if has(payload, 1, 0x80) {
        let wide = has(payload, 2, 0x80);
        if let Some(id) = picture_id {
            if wide {
                if let Some(b) = payload.get_mut(2) {
                    *b = 0x80 | ((id >> 8) & 0x7f) as u8;
                }
                if let Some(b) = payload.get_mut(3) {
                    *b = (id & 0xff) as u8;
                }
            } else if let Some(b) = payload.get_mut(2) {
                *b = (id & 0x7f) as u8;
            }
        }
        at += if wide { 2 } else { 1 };
    }
    if has(payload, 1, 0x40)
        && let Some(idx) = tl0_pic_idx
        && let Some(b) = payload.get_mut(at)
    {
        *b = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rewrite::Vp8Ids;

    fn target() -> LiveTarget {
        LiveTarget {
            video: "127.0.0.1:40000".parse().unwrap(),
            audio: "127.0.0.1:40002".parse().unwrap(),
        }
    }

    fn arrived(source: u64, seq: u64, time: u32, at: Instant, keyframe: bool) -> Arrived {
        Arrived {
            source: (source, 1),
            seq,
            time,
            at,
            keyframe,
            vp8: Vp8Ids::default(),
        }
    }

    fn header(datagram: &[u8]) -> (u8, bool, u16, u32) {
        (
            datagram[1] & 0x7f,
            datagram[1] & 0x80 != 0,
            u16::from_be_bytes([datagram[2], datagram[3]]),
            u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
        )
    }

    #[test]
    fn the_stream_shows_a_shared_screen_while_there_is_one_and_the_camera_otherwise() {
        let lecturer = ParticipantId::new("lecturer");
        let mut routing = Routing {
            stage: Some(lecturer.clone()),
            ..Routing::default()
        };
        assert_eq!(live_video(&routing), Some((&lecturer, false)));
        routing.screen = Some(lecturer.clone());
        assert_eq!(live_video(&routing), Some((&lecturer, true)));
        // Slides without a camera on the stage still go out.
        routing.stage = None;
        assert_eq!(live_video(&routing), Some((&lecturer, true)));
        routing.screen = None;
        assert_eq!(live_video(&routing), None);
    }

    #[test]
    fn a_new_speaker_goes_on_the_same_stream_from_a_key_frame() {
        let t0 = Instant::now();
        let mut feed = LiveFeed::new(target());
        // The first speaker's video starts at a key frame.
        assert_eq!(
            feed.packet(
                MediaKind::Video,
                &arrived(1, 500, 9000, t0, false),
                false,
                b"x",
                false
            ),
            LiveOut::NeedsKeyframe
        );
        let LiveOut::Send(to, first) = feed.packet(
            MediaKind::Video,
            &arrived(1, 501, 12000, t0, true),
            true,
            b"key",
            false,
        ) else {
            panic!("a key frame is sent");
        };
        assert_eq!(to, target().video);
        let (pt, marker, seq, _) = header(&first);
        assert_eq!((pt, marker), (VIDEO_PAYLOAD_TYPE, true));
        assert_eq!(&first[12..], b"key");
        // The floor moves: the next speaker waits for a key frame, then follows on.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(
            feed.packet(
                MediaKind::Video,
                &arrived(2, 70, 5, t1, false),
                false,
                b"d",
                false
            ),
            LiveOut::NeedsKeyframe
        );
        let LiveOut::Send(_, next) = feed.packet(
            MediaKind::Video,
            &arrived(2, 71, 6, t1, true),
            false,
            b"k",
            false,
        ) else {
            panic!("the new speaker's key frame is sent");
        };
        let (_, _, next_seq, _) = header(&next);
        assert_eq!(next_seq, seq.wrapping_add(1), "one stream for the worker");
    }

    #[test]
    fn audio_goes_to_its_own_port_with_its_payload_type() {
        let t0 = Instant::now();
        let mut feed = LiveFeed::new(target());
        let LiveOut::Send(to, datagram) = feed.packet(
            MediaKind::Audio,
            &arrived(1, 7, 960, t0, false),
            false,
            b"op",
            false,
        ) else {
            panic!("audio needs no key frame");
        };
        assert_eq!(to, target().audio);
        assert_eq!(header(&datagram).0, AUDIO_PAYLOAD_TYPE);
        assert_eq!(
            datagram[0], 0x80,
            "RTP version 2, no padding, extension or CSRC"
        );
    }

    #[test]
    fn key_frames_are_asked_for_at_start_and_every_segment() {
        let t0 = Instant::now();
        let mut feed = LiveFeed::new(target());
        assert!(feed.keyframe_due(t0));
        assert!(!feed.keyframe_due(t0 + Duration::from_millis(500)));
        assert!(feed.keyframe_due(t0 + KEYFRAME_EVERY));
    }

    #[test]
    fn a_silent_stage_gets_silence_until_a_voice_comes() {
        let t0 = Instant::now();
        let mut feed = LiveFeed::new(target());
        // Nobody heard sends audio: 20 ms of silence each 20 ms.
        let first = feed.silence(t0);
        assert_eq!(first.len(), 1);
        assert_eq!(&first[0].1[12..], &OPUS_SILENCE);
        assert_eq!(first[0].0, target().audio);
        assert!(feed.silence(t0 + Duration::from_millis(10)).is_empty());
        let next = feed.silence(t0 + Duration::from_millis(60));
        assert_eq!(next.len(), 3);
        let seqs: Vec<u16> = first
            .iter()
            .chain(&next)
            .map(|(_, d)| header(d).2)
            .collect();
        assert_eq!(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2, seqs[0] + 3]);
        // A voice: it goes on the same stream, and the silence stops.
        let t1 = t0 + Duration::from_millis(70);
        let LiveOut::Send(_, voice) = feed.packet(
            MediaKind::Audio,
            &arrived(3, 900, 5, t1, false),
            false,
            b"v",
            false,
        ) else {
            panic!("the voice is sent");
        };
        assert_eq!(header(&voice).2, seqs[3] + 1);
        assert!(feed.silence(t1 + Duration::from_millis(50)).is_empty());
        // It stops: silence again after a while.
        assert!(!feed.silence(t1 + Duration::from_millis(200)).is_empty());
    }

    #[test]
    fn sender_reports_pair_rtp_time_with_the_real_time_on_the_rtcp_port() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut feed = LiveFeed::new(target());
        // Nothing sent yet: nothing to report.
        assert!(feed.reports(t0, wall).is_empty());
        let sent = t0 + Duration::from_millis(100);
        feed.packet(
            MediaKind::Audio,
            &arrived(1, 7, 48_000, sent, false),
            false,
            b"op",
            false,
        );
        // Half a second later, the packet was sent 400 ms before `wall`.
        let now = t0 + Duration::from_millis(500);
        let reports = feed.reports(now, wall);
        assert_eq!(reports.len(), 1, "audio only");
        let (to, sr) = &reports[0];
        assert_eq!(to.port(), target().audio.port() + 1);
        assert_eq!(sr.len(), 28);
        assert_eq!(&sr[..4], &[0x80, 200, 0, 6]);
        assert_eq!(&sr[4..8], &0x5949_4131u32.to_be_bytes());
        let seconds = u32::from_be_bytes(sr[8..12].try_into().unwrap());
        let fraction = u32::from_be_bytes(sr[12..16].try_into().unwrap());
        assert_eq!(u64::from(seconds), 1_700_000_000 - 1 + 2_208_988_800);
        // 0.6 s.
        assert!((f64::from(fraction) / 2f64.powi(32) - 0.6).abs() < 1e-6);
        assert_eq!(u32::from_be_bytes(sr[16..20].try_into().unwrap()), 48_000);
        assert_eq!(u32::from_be_bytes(sr[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_be_bytes(sr[24..28].try_into().unwrap()), 2);
        // Not again before the interval.
        assert!(
            feed.reports(now + Duration::from_millis(100), wall)
                .is_empty()
        );
    }

    #[test]
    fn vp8_picture_ids_are_patched_in_place() {
        // X, I and L set; a 15-bit picture id, then TL0PICIDX.
        let mut wide = [0x90, 0xc0, 0x80 | 0x12, 0x34, 7, 0xaa];
        patch_vp8(&mut wide, Some(0x0567), Some(9));
        assert_eq!(wide, [0x90, 0xc0, 0x85, 0x67, 9, 0xaa]);
        // A 7-bit picture id, no TL0PICIDX.
        let mut short = [0x90, 0x80, 0x12, 0xaa];
        patch_vp8(&mut short, Some(0x45), Some(3));
        assert_eq!(short, [0x90, 0x80, 0x45, 0xaa]);
        // No extension: untouched.
        let mut plain = [0x10, 0xaa];
        patch_vp8(&mut plain, Some(1), None);
        assert_eq!(plain, [0x10, 0xaa]);
    }
}
