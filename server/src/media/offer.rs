//! Answering a browser's SDP offer: the `Rtc` configured as the SFU configures every
//! peer's, and the offer's shared-screen tracks. No socket and no task: the SFU's unit
//! calls it for each new media session, and so does the `sdp_offer` fuzz target, which
//! builds this module without the rest of the shell (`server/fuzz/`).

use std::net::SocketAddr;
use std::time::Instant;

use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Rtc};

/// Answer an SDP offer the way the SFU answers a new media session's, without a socket
/// or a peer: parse it, configure the `Rtc` (for a publisher or a viewer), accept it,
/// take what the `Rtc` then outputs, and read the offer's screen-share mids. Returns the
/// answer's SDP and those mids, or why the offer is refused. For the `sdp_offer` fuzz
/// target (`server/fuzz/`).
pub fn answer_offer(sdp: &str, publish: bool) -> Result<(String, Vec<String>), String> {
    let now = Instant::now();
    let candidates = [SocketAddr::from(([127, 0, 0, 1], 3478))];
    let (mut rtc, answer) = configure(sdp, publish, &candidates, now)?;
    // As `Peer::drain` does after accepting, bounded.
    for _ in 0..10_000 {
        match rtc.poll_output() {
            Ok(str0m::Output::Timeout(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok((answer.to_sdp_string(), slides_mids(sdp)))
}

/// Parse a browser's offer and answer it as the SFU does for a new media session: the
/// `Rtc` configured for a publisher or a viewer, with the unit's host candidates, and
/// its answer. No socket and no peer yet (see [`answer_offer`]).
pub(super) fn configure(
    sdp: &str,
    publish: bool,
    candidates: &[SocketAddr],
    now: Instant,
) -> Result<(Rtc, str0m::change::SdpAnswer), String> {
    let offer = str0m::change::SdpOffer::from_sdp_string(sdp)
        .map_err(|e| format!("not a session description: {e}"))?;
    // RTP mode: packets are forwarded as they come (with their numbers rewritten),
    // not put together into frames and cut up again for every subscriber. Opus and
    // VP8 only, so every peer can take every other's media and key frames can be
    // told by their payload descriptor.
    let mut config = Rtc::builder()
        .set_ice_lite(true)
        .enable_raw_packets(false)
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true);
    if !publish {
        // Transport-wide feedback serves the sender's bandwidth estimate: the browser's
        // when it publishes; ours never (no estimate). A viewer's feedback would cost a
        // lookup per packet sent and a report to parse, for nothing.
        let mut exts = ExtensionMap::empty();
        for (id, ext) in ExtensionMap::standard().iter() {
            if *ext != Extension::TransportSequenceNumber {
                exts.set(id, ext.clone());
            }
        }
        config = config.set_extension_map(exts);
    }
    let mut rtc = config.build(now);
    for addr in candidates {
        if let Ok(c) = Candidate::host(*addr, "udp") {
            rtc.add_local_candidate(c);
        }
    }
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| format!("cannot accept this offer: {e}"))?;
    Ok((rtc, answer))
}

/// The mids of the media sections an offer marks as a shared screen or slides
/// (`a=content:slides`, RFC 4796): the client's second video track.
pub(super) fn slides_mids(sdp: &str) -> Vec<String> {
    let mut out = Vec::new();
    for section in sdp.split("\nm=").skip(1) {
        let mut mid = None;
        let mut slides = false;
        for line in section.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.trim().to_owned());
            } else if line.trim() == "a=content:slides" {
                slides = true;
            }
        }
        if slides && let Some(mid) = mid {
            out.push(mid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_marks_its_shared_screen_with_content_slides() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=content:slides\r\na=sendonly\r\n";
        assert_eq!(slides_mids(sdp), ["2"]);
        assert!(slides_mids("v=0\r\nm=video 9 X 96\r\na=mid:1\r\n").is_empty());
    }
}
