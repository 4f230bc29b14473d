//! What makes the RTP packets we forward on one track a single stream to its receiver,
//! whichever publisher (or simulcast layer) feeds it: sequence numbers, RTP time and
//! VP8 picture ids go on from where the previous source left off (time by the real
//! time between them), a video source starts at a whole key frame, and a source held
//! back for a while (its sender lost the floor, or left the stage and came back) goes
//! on without a gap in sequence numbers, which the receiver would take for loss, or,
//! beyond 2^15 packets, for a new roll-over of its SRTP index. Pure: no I/O; times are
//! the packets' arrivals, given.

use std::time::{Duration, Instant};

use str0m::rtp::Vp8Descriptor;

/// A packet's source: the connection and the stream (SSRC) within it.
pub(super) type Source = (u64, u32);

/// One packet as it arrived, reduced to what rewriting needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Arrived {
    pub source: Source,
    /// Extended sequence number (no wrap-around).
    pub seq: u64,
    pub time: u32,
    pub at: Instant,
    /// The first packet of a video key frame.
    pub keyframe: bool,
    /// The VP8 payload descriptor's ids, when it has them.
    pub vp8: Vp8Ids,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Vp8Ids {
    pub picture_id: Option<u16>,
    /// The picture id is 15 bits wide (else 7).
    pub wide: bool,
    pub tl0_pic_idx: Option<u8>,
}

impl Vp8Ids {
    /// The ids of a parsed VP8 payload descriptor (RFC 7741) of `payload`.
    pub fn of(descriptor: &Vp8Descriptor, payload: &[u8]) -> Vp8Ids {
        // X, then I in the extension byte, then M in the picture id's first byte.
        let bit = |i: usize| payload.get(i).is_some_and(|b| b & 0x80 != 0);
        Vp8Ids {
            picture_id: descriptor.picture_id(),
            wide: bit(0) && bit(1) && bit(2),
            tl0_pic_idx: descriptor.tl0_pic_idx(),
        }
    }
}

/// The packet's new numbers, on the track's own sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Numbers {
    pub seq: u64,
    pub time: u32,
    /// The real time of `time`: the arrival of the newest packet, earlier for a late
    /// one (sender reports pair the two, for lip sync).
    pub wallclock: Instant,
    /// Set only where it differs from the packet's own.
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rewritten {
    Send(Numbers),
    /// From before the current source began on this track: dropped.
    Stale,
    /// A video source (new, or back) waits for its next whole key frame: ask for one.
    NeedsKeyframe,
}

/// The source a track forwards now, and how its numbers map onto the track's.
#[derive(Clone, Copy, Debug)]
struct Binding {
    source: Source,
    /// The source's first forwarded sequence number.
    start: u64,
    /// The source's newest forwarded sequence number.
    newest: u64,
    seq_offset: i64,
    time_offset: u32,
    picture_id_offset: u16,
    tl0_offset: u8,
}

/// The newest packet sent on the track.
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: u64,
    time: u32,
    at: Instant,
    picture_id: Option<u16>,
    tl0_pic_idx: Option<u8>,
}

/// The rewriting state of one track we send.
#[derive(Debug)]
pub(super) struct Rewriter {
    video: bool,
    /// RTP clock rate: 90 kHz video (VP8), 48 kHz audio (Opus).
    clock: u64,
    /// The least RTP time between the last packet of one source and the first of the
    /// next: one frame (1/30 s of video, 20 ms of audio).
    frame_step: u32,
    bound: Option<Binding>,
    sent: Option<Sent>,
    /// While video waits for a key frame: its source's newest packet passed over. A key
    /// frame starting before it is not whole (a packet of it came first).
    passed: Option<(Source, u64)>,
}

/// Audio packets missing from a source beyond this many were held back, not lost
/// (losses come in short runs): the sequence closes over them. 500 ms of Opus.
const AUDIO_PAUSE: u64 = 25;

const PICTURE_ID_WIDE: u16 = 0x8000;
const PICTURE_ID_SHORT: u16 = 0x80;

impl Rewriter {
    pub fn new(video: bool) -> Rewriter {
        Rewriter {
            video,
            clock: if video { 90_000 } else { 48_000 },
            frame_step: if video { 3000 } else { 960 },
            bound: None,
            sent: None,
            passed: None,
        }
    }

    /// The track no longer forwards `source` (the routing moved it elsewhere): if it
    /// comes back, it starts over as if new, after the last packet sent.
    pub fn release(&mut self, source: Source) {
        if self.is_bound_to(source) {
            self.bound = None;
        }
    }

    /// The track forwards `source` now.
    pub fn is_bound_to(&self, source: Source) -> bool {
        self.bound.is_some_and(|b| b.source == source)
    }

    /// The track's numbers for `packet`.
    pub fn rewrite(&mut self, packet: &Arrived) -> Rewritten {
        let bound = match self.bound {
            Some(b) if b.source == packet.source => {
                if !self.video && packet.seq > b.newest + AUDIO_PAUSE {
                    self.bind(packet)
                } else {
                    b
                }
            }
            _ => {
                let whole = self
                    .passed
                    .is_none_or(|(source, seq)| source != packet.source || seq <= packet.seq);
                if self.video && !(packet.keyframe && whole) {
                    let newest = match self.passed {
                        Some((source, seq)) if source == packet.source => seq.max(packet.seq),
                        _ => packet.seq,
                    };
                    self.passed = Some((packet.source, newest));
                    return Rewritten::NeedsKeyframe;
                }
                self.bind(packet)
            }
        };
        if packet.seq < bound.start {
            return Rewritten::Stale;
        }
        if self
            .passed
            .is_some_and(|(source, _)| source == packet.source)
        {
            self.passed = None;
        }
        self.bound = Some(Binding {
            newest: bound.newest.max(packet.seq),
            ..bound
        });
        let seq = packet.seq.saturating_add_signed(bound.seq_offset);
        let time = packet.time.wrapping_add(bound.time_offset);
        let picture_id = packet.vp8.picture_id.and_then(|id| {
            let modulus = if packet.vp8.wide {
                PICTURE_ID_WIDE
            } else {
                PICTURE_ID_SHORT
            };
            let out = id.wrapping_add(bound.picture_id_offset) % modulus;
            (out != id).then_some(out)
        });
        let tl0_pic_idx = packet.vp8.tl0_pic_idx.and_then(|idx| {
            let out = idx.wrapping_add(bound.tl0_offset);
            (out != idx).then_some(out)
        });
        let wallclock = match self.sent {
            Some(s) if seq < s.seq => {
                // Up to a second behind the newest; anything else is not to be trusted
                // and gets the newest's.
                let behind = u64::from(s.time.wrapping_sub(time));
                (behind < self.clock)
                    .then(|| {
                        s.at.checked_sub(Duration::from_micros(behind * 1_000_000 / self.clock))
                    })
                    .flatten()
                    .unwrap_or(s.at)
            }
            _ => {
                self.sent = Some(Sent {
                    seq,
                    time,
                    at: packet.at,
                    picture_id: picture_id.or(packet.vp8.picture_id),
                    tl0_pic_idx: tl0_pic_idx.or(packet.vp8.tl0_pic_idx),
                });
                packet.at
            }
        };
        Rewritten::Send(Numbers {
            seq,
            time,
            wallclock,
            picture_id,
            tl0_pic_idx,
        })
    }

    /// Start forwarding the source of `packet` from this packet: its numbers follow the
    /// last ones sent, its time by the real time between the two (at least a frame), or,
    /// on a new track, they stay its own (the sequence number within 16 bits, as a
    /// receiver expects a first packet's).
    fn bind(&self, packet: &Arrived) -> Binding {
        let vp8 = packet.vp8;
        let (seq_offset, time_offset, picture_id_offset, tl0_offset) = match self.sent {
            None => (-((packet.seq & !0xffff) as i64), 0, 0, 0),
            Some(sent) => {
                // Capped at 2^30 ticks (3.3 hours of video): a step of 2^31 or more
                // would read as time going back.
                let elapsed = packet.at.saturating_duration_since(sent.at).as_micros()
                    * u128::from(self.clock)
                    / 1_000_000;
                let step = (elapsed.min(1 << 30) as u32).max(self.frame_step);
                (
                    (sent.seq + 1) as i64 - packet.seq as i64,
                    sent.time.wrapping_add(step).wrapping_sub(packet.time),
                    match (sent.picture_id, vp8.picture_id) {
                        (Some(last), Some(id)) => last.wrapping_add(1).wrapping_sub(id),
                        _ => 0,
                    },
                    match (sent.tl0_pic_idx, vp8.tl0_pic_idx) {
                        (Some(last), Some(idx)) => last.wrapping_add(1).wrapping_sub(idx),
                        _ => 0,
                    },
                )
            }
        };
        Binding {
            source: packet.source,
            start: packet.seq,
            newest: packet.seq,
            seq_offset,
            time_offset,
            picture_id_offset,
            tl0_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet arriving `ms` milliseconds after the test's start.
    struct Clock(Instant);

    impl Clock {
        fn packet(&self, source: Source, seq: u64, time: u32, ms: u64, keyframe: bool) -> Arrived {
            Arrived {
                source,
                seq,
                time,
                at: self.0 + Duration::from_millis(ms),
                keyframe,
                vp8: Vp8Ids::default(),
            }
        }
    }

    fn clock() -> Clock {
        Clock(Instant::now())
    }

    fn sent(r: Rewritten) -> Numbers {
        match r {
            Rewritten::Send(n) => n,
            other => panic!("expected a packet to send, got {other:?}"),
        }
    }

    #[test]
    fn a_first_source_keeps_its_numbers_within_16_bits() {
        let c = clock();
        let mut r = Rewriter::new(false);
        let n = sent(r.rewrite(&c.packet((1, 10), 3 * 65536 + 500, 48_000, 0, false)));
        assert_eq!((n.seq, n.time), (500, 48_000));
        let n = sent(r.rewrite(&c.packet((1, 10), 3 * 65536 + 501, 48_960, 20, false)));
        assert_eq!((n.seq, n.time), (501, 48_960));
    }

    #[test]
    fn video_waits_for_a_key_frame_then_goes_on() {
        let c = clock();
        let mut r = Rewriter::new(true);
        let delta = c.packet((1, 10), 100, 9_000, 0, false);
        assert_eq!(r.rewrite(&delta), Rewritten::NeedsKeyframe);
        let n = sent(r.rewrite(&c.packet((1, 10), 101, 12_000, 33, true)));
        assert_eq!(n.seq, 101);
        // The rest of the key frame and what follows need no key frame.
        let n = sent(r.rewrite(&c.packet((1, 10), 102, 12_000, 33, false)));
        assert_eq!(n.seq, 102);
        // A packet from before the start (reordered) is not sent.
        assert_eq!(r.rewrite(&delta), Rewritten::Stale);
    }

    #[test]
    fn a_key_frame_whose_later_packet_came_first_is_not_whole() {
        let c = clock();
        let mut r = Rewriter::new(true);
        // The key frame's second packet overtakes its first.
        let second = c.packet((1, 10), 201, 12_000, 0, false);
        assert_eq!(r.rewrite(&second), Rewritten::NeedsKeyframe);
        let first = c.packet((1, 10), 200, 12_000, 1, true);
        assert_eq!(r.rewrite(&first), Rewritten::NeedsKeyframe);
        // The next key frame, in order, starts the track.
        assert_eq!(
            sent(r.rewrite(&c.packet((1, 10), 230, 21_000, 100, true))).seq,
            230
        );
    }

    #[test]
    fn the_old_layer_goes_on_until_the_new_one_has_a_whole_key_frame() {
        let c = clock();
        let mut r = Rewriter::new(true);
        let (low, high) = ((1, 10), (1, 11));
        sent(r.rewrite(&c.packet(low, 100, 0, 0, true)));
        // The track switches to the high layer, whose key frame's second packet comes
        // first; the low layer is still sent meanwhile.
        assert_eq!(
            r.rewrite(&c.packet(high, 501, 3_000, 30, false)),
            Rewritten::NeedsKeyframe
        );
        assert_eq!(
            sent(r.rewrite(&c.packet(low, 101, 3_000, 31, false))).seq,
            101
        );
        assert!(r.is_bound_to(low));
        // So the key frame is not whole, though a low packet was sent in between.
        assert_eq!(
            r.rewrite(&c.packet(high, 500, 3_000, 32, true)),
            Rewritten::NeedsKeyframe
        );
        let n = sent(r.rewrite(&c.packet(high, 530, 12_000, 130, true)));
        assert_eq!(n.seq, 102);
        assert!(r.is_bound_to(high) && !r.is_bound_to(low));
    }

    #[test]
    fn a_new_source_continues_the_sequence_time_and_picture_ids() {
        let c = clock();
        let mut r = Rewriter::new(true);
        let vp8 = |id: u16, tl0: u8| Vp8Ids {
            picture_id: Some(id),
            wide: true,
            tl0_pic_idx: Some(tl0),
        };
        let mut first = c.packet((1, 10), 1000, 90_000, 0, true);
        first.vp8 = vp8(0x7ffe, 255);
        let n = sent(r.rewrite(&first));
        assert_eq!((n.seq, n.picture_id, n.tl0_pic_idx), (1000, None, None));
        let mut next = c.packet((1, 10), 1001, 93_000, 33, false);
        next.vp8 = vp8(0x7fff, 255);
        sent(r.rewrite(&next));

        // Another publisher (or layer), a frame later: its numbers are nothing like the
        // first's.
        let mut other = c.packet((2, 20), 40_000, 4_000_000_000, 50, false);
        other.vp8 = vp8(17, 3);
        assert_eq!(r.rewrite(&other), Rewritten::NeedsKeyframe);
        other.keyframe = true;
        let n = sent(r.rewrite(&other));
        assert_eq!(n.seq, 1002);
        assert_eq!(n.time, 96_000);
        // Picture ids wrap at 15 bits, TL0PICIDX at 8.
        assert_eq!(n.picture_id, Some(0));
        assert_eq!(n.tl0_pic_idx, Some(0));

        let mut after = c.packet((2, 20), 40_001, 4_000_003_000, 83, false);
        after.vp8 = vp8(18, 3);
        let n = sent(r.rewrite(&after));
        assert_eq!((n.seq, n.time), (1003, 99_000));
        assert_eq!((n.picture_id, n.tl0_pic_idx), (Some(1), Some(0)));
    }

    #[test]
    fn a_source_back_on_the_track_starts_over_after_the_last_packet_sent() {
        let c = clock();
        let mut r = Rewriter::new(true);
        sent(r.rewrite(&c.packet((1, 10), 500, 0, 0, true)));
        sent(r.rewrite(&c.packet((1, 10), 501, 3_000, 33, false)));
        // The stage goes to nobody; five minutes later the same speaker is back, 40,000
        // packets on: it starts at a key frame, right after the last packet sent, its
        // time moved on by the real time between.
        r.release((1, 10));
        let back = c.packet((1, 10), 40_501, 27_003_000, 300_033, false);
        assert_eq!(r.rewrite(&back), Rewritten::NeedsKeyframe);
        let n = sent(r.rewrite(&c.packet((1, 10), 40_502, 27_006_000, 300_066, true)));
        assert_eq!((n.seq, n.time), (502, 3_000 + 300_033 * 90));
        // Releasing another source changes nothing.
        r.release((2, 20));
        let n = sent(r.rewrite(&c.packet((1, 10), 40_503, 27_006_000, 300_066, false)));
        assert_eq!(n.seq, 503);
    }

    #[test]
    fn audio_held_back_goes_on_without_a_gap_but_a_short_loss_stays_one() {
        let c = clock();
        let mut r = Rewriter::new(false);
        sent(r.rewrite(&c.packet((1, 10), 100, 96_000, 0, false)));
        // Two packets lost on the way: the receiver should know.
        let n = sent(r.rewrite(&c.packet((1, 10), 103, 98_880, 60, false)));
        assert_eq!(n.seq, 103);
        // Ten seconds without the floor (500 packets held back), then heard again: the
        // next sequence number, ten seconds later in RTP time (the receiver hears a pause).
        let n = sent(r.rewrite(&c.packet((1, 10), 603, 578_880, 10_060, false)));
        assert_eq!((n.seq, n.time), (104, 578_880));
        let n = sent(r.rewrite(&c.packet((1, 10), 604, 579_840, 10_080, false)));
        assert_eq!(n.seq, 105);
        // What was held back never comes now.
        let late = c.packet((1, 10), 602, 577_920, 10_080, false);
        assert_eq!(r.rewrite(&late), Rewritten::Stale);
    }

    #[test]
    fn audio_switches_at_once_and_a_late_packet_keeps_its_place_and_time() {
        let c = clock();
        let mut r = Rewriter::new(false);
        sent(r.rewrite(&c.packet((1, 10), 10, 960, 0, false)));
        let newest = sent(r.rewrite(&c.packet((1, 10), 12, 2_880, 40, false)));
        // Late, but after the start: sent at its own place in the sequence, its real
        // time 20 ms before the newest's.
        let late = sent(r.rewrite(&c.packet((1, 10), 11, 1_920, 45, false)));
        assert_eq!(late.seq, 11);
        assert_eq!(newest.wallclock - late.wallclock, Duration::from_millis(20));
        // A new speaker follows the newest packet sent, not the late one.
        let n = sent(r.rewrite(&c.packet((2, 20), 7, 100, 60, false)));
        assert_eq!((n.seq, n.time), (13, 3_840));
    }
}
