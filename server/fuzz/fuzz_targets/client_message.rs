//! `ClientMessage::from_json` on any bytes: it never panics, and a message it accepts
//! survives a round trip (serialise, parse again) unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use yishi_protocol::ClientMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = ClientMessage::from_json(text) else {
        return;
    };
    let json = serde_json::to_string(&message).expect("a parsed message serialises");
    let again = ClientMessage::from_json(&json)
        .unwrap_or_else(|e| panic!("its own serialisation is refused: {e}\n{json}"));
    assert_eq!(again, message, "the round trip changed the message\n{json}");
});
