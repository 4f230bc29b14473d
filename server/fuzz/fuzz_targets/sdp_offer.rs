//! Any bytes as a browser's SDP offer (text, as the WebSocket frame carries it), through
//! the SFU's own offer path (`yishi::media::answer_offer`: parse, configure the `Rtc`,
//! accept, take its output, read the screen-share mids), once as a publisher and once as
//! a viewer: it never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    for publish in [true, false] {
        let _ = yishi::media::answer_offer(sdp, publish);
    }
});
