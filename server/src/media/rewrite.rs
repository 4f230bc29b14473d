//! What makes the RTP packets we forward on one track a single stream to its receiver,
//! whichever publisher (or simulcast layer) feeds it: sequence numbers, RTP time and
//! VP8 picture ids go on from where the previous source left off, a new video source
//! starts at a key frame, and audio held back for a while (its sender lost the floor)
//! goes on without a gap in sequence numbers, which the receiver would count as lost.
//! Pure: no I/O, no clock.

use str0m::rtp::Vp8Descriptor;

/// One packet as it arrived, reduced to what rewriting needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Arrived {
    /// Who sent it: the connection and the stream (SSRC) within it.
    pub source: (u64, u32),
    /// Extended sequence number (no wrap-around).
    pub seq: u64,
    pub time: u32,
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
    /// Set only where it differs from the packet's own.
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rewritten {
    Send(Numbers),
    /// From before the current source began on this track: dropped.
    Stale,
    /// A new video source waits for its next key frame (ask it for one).
    NeedsKeyframe,
}

/// The source a track forwards now, and how its numbers map onto the track's.
#[derive(Clone, Copy, Debug)]
struct Binding {
    source: (u64, u32),
    /// The source's first forwarded sequence number.
    start: u64,
    /// The source's newest forwarded sequence number.
    newest: u64,
    seq_offset: i64,
    time_offset: u32,
    picture_id_offset: u16,
    tl0_offset: u8,
}

/// The newest numbers sent on the track.
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: u64,
    time: u32,
    picture_id: Option<u16>,
    tl0_pic_idx: Option<u8>,
}

/// The rewriting state of one track we send.
#[derive(Debug)]
pub(super) struct Rewriter {
    video: bool,
    /// RTP time between two frames, put between the last frame of one source and the
    /// first of the next.
    frame_step: u32,
    bound: Option<Binding>,
    sent: Option<Sent>,
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
            // 1/30 s at 90 kHz; 20 ms at 48 kHz.
            frame_step: if video { 3000 } else { 960 },
            bound: None,
            sent: None,
        }
    }

    /// The track's numbers for `packet`.
    pub fn rewrite(&mut self, packet: &Arrived) -> Rewritten {
        let bound = match self.bound {
            Some(b) if b.source == packet.source => {
                if !self.video && packet.seq > b.newest + AUDIO_PAUSE {
                    // Back after a pause: on from the last packet sent, at its own time.
                    Binding {
                        time_offset: b.time_offset,
                        ..self.bind(packet)
                    }
                } else {
                    b
                }
            }
            _ => {
                if self.video && !packet.keyframe {
                    return Rewritten::NeedsKeyframe;
                }
                self.bind(packet)
            }
        };
        if packet.seq < bound.start {
            return Rewritten::Stale;
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
        if self.sent.is_none_or(|s| seq > s.seq) {
            self.sent = Some(Sent {
                seq,
                time,
                picture_id: picture_id.or(packet.vp8.picture_id),
                tl0_pic_idx: tl0_pic_idx.or(packet.vp8.tl0_pic_idx),
            });
        }
        Rewritten::Send(Numbers {
            seq,
            time,
            picture_id,
            tl0_pic_idx,
        })
    }

    /// Start forwarding the source of `packet`, the first to forward of it: its numbers
    /// follow the last ones sent, or stay its own on a new track (the sequence number
    /// within 16 bits, as a receiver expects a first packet's).
    fn bind(&self, packet: &Arrived) -> Binding {
        let vp8 = packet.vp8;
        let (seq_offset, time_offset, picture_id_offset, tl0_offset) = match self.sent {
            None => (-((packet.seq & !0xffff) as i64), 0, 0, 0),
            Some(sent) => (
                (sent.seq + 1) as i64 - packet.seq as i64,
                sent.time
                    .wrapping_add(self.frame_step)
                    .wrapping_sub(packet.time),
                match (sent.picture_id, vp8.picture_id) {
                    (Some(last), Some(id)) => last.wrapping_add(1).wrapping_sub(id),
                    _ => 0,
                },
                match (sent.tl0_pic_idx, vp8.tl0_pic_idx) {
                    (Some(last), Some(idx)) => last.wrapping_add(1).wrapping_sub(idx),
                    _ => 0,
                },
            ),
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

    fn packet(source: (u64, u32), seq: u64, time: u32, keyframe: bool) -> Arrived {
        Arrived {
            source,
            seq,
            time,
            keyframe,
            vp8: Vp8Ids::default(),
        }
    }

    fn sent(r: Rewritten) -> Numbers {
        match r {
            Rewritten::Send(n) => n,
            other => panic!("expected a packet to send, got {other:?}"),
        }
    }

    #[test]
    fn a_first_source_keeps_its_numbers_within_16_bits() {
        let mut r = Rewriter::new(false);
        let n = sent(r.rewrite(&packet((1, 10), 3 * 65536 + 500, 48_000, false)));
        assert_eq!((n.seq, n.time), (500, 48_000));
        let n = sent(r.rewrite(&packet((1, 10), 3 * 65536 + 501, 48_960, false)));
        assert_eq!((n.seq, n.time), (501, 48_960));
    }

    #[test]
    fn video_waits_for_a_key_frame_then_goes_on() {
        let mut r = Rewriter::new(true);
        assert_eq!(
            r.rewrite(&packet((1, 10), 100, 9_000, false)),
            Rewritten::NeedsKeyframe
        );
        let n = sent(r.rewrite(&packet((1, 10), 101, 12_000, true)));
        assert_eq!(n.seq, 101);
        // The rest of the key frame and what follows need no key frame.
        assert_eq!(
            sent(r.rewrite(&packet((1, 10), 102, 12_000, false))).seq,
            102
        );
        // A packet from before the start (reordered) is not sent.
        assert_eq!(
            r.rewrite(&packet((1, 10), 100, 9_000, false)),
            Rewritten::Stale
        );
    }

    #[test]
    fn a_new_source_continues_the_sequence_time_and_picture_ids() {
        let mut r = Rewriter::new(true);
        let vp8 = |id: u16, tl0: u8| Vp8Ids {
            picture_id: Some(id),
            wide: true,
            tl0_pic_idx: Some(tl0),
        };
        let mut first = packet((1, 10), 1000, 90_000, true);
        first.vp8 = vp8(0x7ffe, 255);
        let n = sent(r.rewrite(&first));
        assert_eq!((n.seq, n.picture_id, n.tl0_pic_idx), (1000, None, None));
        let mut next = packet((1, 10), 1001, 93_000, false);
        next.vp8 = vp8(0x7fff, 255);
        sent(r.rewrite(&next));

        // Another publisher (or layer): its numbers are nothing like the first's.
        let mut other = packet((2, 20), 40_000, 4_000_000_000, false);
        other.vp8 = vp8(17, 3);
        assert_eq!(r.rewrite(&other), Rewritten::NeedsKeyframe);
        other.keyframe = true;
        let n = sent(r.rewrite(&other));
        assert_eq!(n.seq, 1002);
        assert_eq!(n.time, 96_000);
        // Picture ids wrap at 15 bits, TL0PICIDX at 8.
        assert_eq!(n.picture_id, Some(0));
        assert_eq!(n.tl0_pic_idx, Some(0));

        let mut after = packet((2, 20), 40_001, 4_000_003_000, false);
        after.vp8 = vp8(18, 3);
        let n = sent(r.rewrite(&after));
        assert_eq!((n.seq, n.time), (1003, 99_000));
        assert_eq!((n.picture_id, n.tl0_pic_idx), (Some(1), Some(0)));
    }

    #[test]
    fn audio_held_back_goes_on_without_a_gap_but_a_short_loss_stays_one() {
        let mut r = Rewriter::new(false);
        sent(r.rewrite(&packet((1, 10), 100, 96_000, false)));
        // Two packets lost on the way: the receiver should know.
        assert_eq!(
            sent(r.rewrite(&packet((1, 10), 103, 98_880, false))).seq,
            103
        );
        // Ten seconds without the floor (500 packets held back), then heard again: the
        // next sequence number, at the packet's own time (the receiver hears a pause).
        let n = sent(r.rewrite(&packet((1, 10), 603, 578_880, false)));
        assert_eq!((n.seq, n.time), (104, 578_880));
        assert_eq!(
            sent(r.rewrite(&packet((1, 10), 604, 579_840, false))).seq,
            105
        );
        // What was held back never comes now.
        assert_eq!(
            r.rewrite(&packet((1, 10), 602, 577_920, false)),
            Rewritten::Stale
        );
    }

    #[test]
    fn audio_switches_at_once_and_a_reordered_packet_keeps_its_place() {
        let mut r = Rewriter::new(false);
        sent(r.rewrite(&packet((1, 10), 10, 960, false)));
        sent(r.rewrite(&packet((1, 10), 12, 2_880, false)));
        // Late, but after the start: sent at its own place in the sequence.
        assert_eq!(sent(r.rewrite(&packet((1, 10), 11, 1_920, false))).seq, 11);
        // A new speaker follows the newest packet sent, not the late one.
        let n = sent(r.rewrite(&packet((2, 20), 7, 100, false)));
        assert_eq!((n.seq, n.time), (13, 3_840));
    }
}
