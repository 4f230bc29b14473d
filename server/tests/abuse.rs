//! Bad input and abuse against a real server: each gets a clear error code, the
//! connection stays open where that is safe, nothing panics, other users are unaffected
//! and nothing acknowledged is lost. Also the Origin check, security headers and the
//! admin API's authentication.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Backend, Client, TestServer};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use yishi::auth::{Claims, Keys};
use yishi::hub::{HubConfig, close, now};
use yishi_protocol::{
    ClientMessage, Command, ErrorCode, EventBody, Hello, Millis, PROTOCOL_VERSION, Participant,
    RequestId, Role, Seq, ServerMessage,
};
use yishi_testkit::Ws;

const ROOM: &str = "abuse";

async fn server_with_room() -> TestServer {
    let server = TestServer::start(Backend::Sqlite).await;
    server.create_room(ROOM, "滥用测试").await;
    server
}

fn member(id: &str) -> Participant {
    Participant::new(id, format!("委员{id}"), Role::Member)
}

fn host() -> Participant {
    Participant::new("host", "主持人", Role::Host)
}

async fn raw(addr: SocketAddr) -> Ws {
    yishi_testkit::ws_connect(addr, yishi_testkit::LOCALHOST, "/ws")
        .await
        .unwrap()
}

fn hello_text(protocol: u32, token: &str) -> String {
    serde_json::to_string(&ClientMessage::Hello(Hello {
        protocol,
        token: token.to_owned(),
        resume: None,
    }))
    .unwrap()
}

/// Everything the server sends until the socket closes: the messages, and the close code
/// if the server sent a close frame.
async fn drain(ws: &mut Ws) -> (Vec<ServerMessage>, Option<u16>) {
    let mut messages = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server neither answered nor closed");
        match frame {
            Some(Ok(Message::Text(text))) => messages.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return (messages, frame.map(|f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (messages, None),
        }
    }
}

fn error_codes(messages: &[ServerMessage]) -> Vec<ErrorCode> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Error(e) => Some(e.code),
            _ => None,
        })
        .collect()
}

/// Open a socket, send `first` as text and collect what comes back until the close.
async fn refused_handshake(addr: SocketAddr, first: Message) -> (Vec<ErrorCode>, Option<u16>) {
    let mut ws = raw(addr).await;
    ws.send(first).await.unwrap();
    let (messages, code) = drain(&mut ws).await;
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, ServerMessage::Welcome(_))),
        "no welcome after a refused hello"
    );
    (error_codes(&messages), code)
}

/// A member who can still talk to the room: the server goes on serving others.
async fn still_serving(server: &TestServer, id: &str) {
    let mut c = server.connect(ROOM, &member(id)).await;
    c.ok(Command::SendChat {
        text: format!("{id} 仍然在线"),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_refused_with_too_large_and_close_1009() {
    let server = server_with_room().await;
    let mut other = server.connect(ROOM, &member("other")).await;
    let mut c = server.connect(ROOM, &member("big")).await;
    let text = "长".repeat(30 * 1024); // 90 KiB of UTF-8, over the 64 KiB limit
    let big = serde_json::to_string(&ClientMessage::Command(yishi_protocol::CommandMessage {
        req: RequestId("big".into()),
        command: Command::SendChat { text },
    }))
    .unwrap();
    assert!(big.len() > 64 * 1024);
    c.ws.send(Message::text(big)).await.unwrap();
    let (messages, code) = drain(&mut c.ws).await;
    assert!(
        error_codes(&messages).contains(&ErrorCode::TooLarge),
        "a too_large error before the close, got {messages:?}"
    );
    assert_eq!(code, Some(close::TOO_LARGE));

    // Nothing of it reached the room, and everyone else is served as before.
    other
        .ok(Command::SendChat {
            text: "我还在".into(),
        })
        .await;
    other
        .until(
            "my own chat",
            |e| matches!(&e.body, EventBody::ChatSent { message } if message.text == "我还在"),
        )
        .await;
    assert!(!other.events.iter().any(
        |e| matches!(&e.body, EventBody::ChatSent { message } if message.text.starts_with('长'))
    ));
    still_serving(&server, "after-big").await;

    // Just under the limit is fine.
    let text = "x".repeat(400);
    c = server.connect(ROOM, &member("big")).await;
    c.ok(Command::SendChat { text }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_binary_frames_get_malformed_and_the_connection_stays() {
    let server = server_with_room().await;
    let mut c = server.connect(ROOM, &member("m1")).await;

    // Not JSON at all.
    c.send_raw("{this is not json".into()).await;
    c.ok(Command::SendChat {
        text: "after garbage".into(),
    })
    .await;
    assert_eq!(
        c.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
        [ErrorCode::Malformed]
    );

    // An unknown message type.
    c.send_raw(r#"{"type":"launch","target":"moon"}"#.into())
        .await;
    c.ok(Command::SendChat {
        text: "after unknown message".into(),
    })
    .await;
    assert_eq!(c.errors.len(), 2);
    assert_eq!(c.errors[1].code, ErrorCode::Malformed);

    // An unknown command type: answered on its request id.
    c.send_raw(r#"{"type":"command","req":"x1","command":{"type":"launch_missiles"}}"#.into())
        .await;
    let e = c.answer(&RequestId("x1".into())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Malformed);
    // A known command with fields of the wrong type.
    c.send_raw(r#"{"type":"command","req":"x2","command":{"type":"send_chat","text":42}}"#.into())
        .await;
    let e = c.answer(&RequestId("x2".into())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Malformed);

    // A binary frame.
    c.ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .unwrap();
    c.ok(Command::SendChat {
        text: "after binary".into(),
    })
    .await;
    assert_eq!(c.errors.len(), 3);
    assert_eq!(c.errors[2].code, ErrorCode::Malformed);

    // A second hello.
    c.send_raw(hello_text(PROTOCOL_VERSION, &c.token.clone()))
        .await;
    c.ok(Command::SendChat {
        text: "after second hello".into(),
    })
    .await;
    assert_eq!(c.errors.len(), 4);
    assert_eq!(c.errors[3].code, ErrorCode::HelloExpected);

    // A ping still gets its pong, and every accepted chat is in the record once.
    c.send_raw(r#"{"type":"ping"}"#.into()).await;
    loop {
        if let ServerMessage::Pong { .. } = c.recv().await.unwrap() {
            break;
        }
    }
    let loaded = server.state.store.load(ROOM).await.unwrap();
    let chats: Vec<String> = loaded
        .entries
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::ChatSent { message } => Some(message.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        chats,
        [
            "after garbage",
            "after unknown message",
            "after binary",
            "after second hello"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_given_by_its_variant_index_is_malformed_and_changes_nothing() {
    let server = server_with_room().await;
    let mut h = server.connect(ROOM, &host()).await;
    h.ok(Command::StartSession).await;
    // {"type":4} is the fifth command (close_session) to serde; it is not a name.
    h.send_raw(r#"{"type":"command","req":"n1","command":{"type":4}}"#.into())
        .await;
    let e = h.answer(&RequestId("n1".into())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Malformed);
    h.send_raw(r#"{"type":1,"req":"n2","command":{"type":"close_session"}}"#.into())
        .await;
    let e = h.answer(&RequestId("n2".into())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Malformed);
    // The session is still in session: nothing closed it.
    h.ok(Command::PauseSession).await;
    let loaded = server.state.store.load(ROOM).await.unwrap();
    assert!(!loaded.entries.iter().any(|e| matches!(
        e.event.body,
        EventBody::SessionChanged {
            state: yishi_protocol::SessionState::Closed
        }
    )));
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_viewer_who_never_reads_is_closed_and_memory_stays_bounded() {
    let server = server_with_room().await;
    let mut m = server.connect(ROOM, &member("m1")).await;
    let link = server.audience_link(ROOM);
    let mut flood = raw(server.addr).await;
    flood
        .send(Message::text(hello_text(PROTOCOL_VERSION, &link)))
        .await
        .unwrap();
    let before = rss();
    // Pings as fast as they go for three seconds, never reading a pong.
    let flooding = tokio::spawn(async move {
        let until = std::time::Instant::now() + Duration::from_secs(3);
        let mut sent = 0u64;
        while std::time::Instant::now() < until {
            let ping = flood.send(Message::Ping(vec![7u8; 125].into()));
            match tokio::time::timeout(Duration::from_secs(1), ping).await {
                Ok(Ok(())) => sent += 1,
                // Closed by the server, or it stopped reading.
                _ => break,
            }
        }
        (sent, flood)
    });
    // Meanwhile a member's commands are answered as usual.
    for i in 0..10 {
        let asked = std::time::Instant::now();
        m.ok(Command::SendChat {
            text: format!("洪水期间 {i}"),
        })
        .await;
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "an acknowledgement took {:?}",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (sent, mut flood) = flooding.await.unwrap();
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 64 * 1024 * 1024,
        "memory grew by {} MB during the flood of {sent} pings",
        grown / 1_000_000
    );
    // The flooder was closed: its socket ends (after whatever was queued for it).
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(_)) = flood.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the flooding connection is still open");
    still_serving(&server, "m2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_handshake_is_refused_with_a_code_and_closed() {
    let server = server_with_room().await;
    let addr = server.addr;
    let good = server.token(ROOM, &member("m1"));

    // The first message is not a hello.
    let command = serde_json::to_string(&ClientMessage::Command(yishi_protocol::CommandMessage {
        req: RequestId("early".into()),
        command: Command::SendChat { text: "hi".into() },
    }))
    .unwrap();
    let (codes, close_code) = refused_handshake(addr, Message::text(command)).await;
    assert_eq!(codes, [ErrorCode::HelloExpected]);
    assert_eq!(close_code, Some(close::PROTOCOL));

    // A binary first frame.
    let (codes, close_code) = refused_handshake(addr, Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(codes, [ErrorCode::HelloExpected]);
    assert_eq!(close_code, Some(close::PROTOCOL));

    // Not JSON.
    let (codes, close_code) = refused_handshake(addr, Message::text("hello?")).await;
    assert_eq!(codes, [ErrorCode::Malformed]);
    assert_eq!(close_code, Some(close::PROTOCOL));

    // The wrong protocol version.
    let (codes, close_code) =
        refused_handshake(addr, Message::text(hello_text(PROTOCOL_VERSION + 1, &good))).await;
    assert_eq!(codes, [ErrorCode::ProtocolVersion]);
    assert_eq!(close_code, Some(close::PROTOCOL));

    // An expired token: issued two hours ago, valid for one.
    let keys = &server.state.config.auth.token_keys;
    let two_hours_ago = Millis(now().0 - 2 * 3600 * 1000);
    let expired = keys.mint(&Claims::new(
        ROOM,
        &member("m1"),
        two_hours_ago,
        Duration::from_secs(3600),
    ));
    let (codes, close_code) =
        refused_handshake(addr, Message::text(hello_text(PROTOCOL_VERSION, &expired))).await;
    assert_eq!(codes, [ErrorCode::TokenExpired]);
    assert_eq!(close_code, Some(close::TOKEN_EXPIRED));
    let e = Client::connect(addr, &expired, None).await.err().unwrap();
    assert_eq!(e.code, ErrorCode::TokenExpired);

    // A forged token: well formed, signed with a key the server does not have.
    let forged = Keys::generate().mint(&Claims::new(
        ROOM,
        &host(),
        now(),
        Duration::from_secs(3600),
    ));
    // A token whose signature was changed by one character.
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    // Claims changed after signing: a member promoting themselves to host.
    let promoted = {
        use base64_like::*;
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let claims = String::from_utf8(decode(&parts[1])).unwrap();
        let claims = claims.replace("\"member\"", "\"host\"");
        parts[1] = encode(claims.as_bytes());
        parts.join(".")
    };
    let unknown_room = server.token("no-such-room", &member("m1"));
    for (what, token) in [
        ("forged", forged.as_str()),
        ("tampered signature", tampered.as_str()),
        ("promoted claims", promoted.as_str()),
        ("garbage", "garbage"),
        ("empty", ""),
        ("three dots", "a.b.c"),
    ] {
        let (codes, close_code) =
            refused_handshake(addr, Message::text(hello_text(PROTOCOL_VERSION, token))).await;
        assert_eq!(codes, [ErrorCode::Unauthorized], "{what}");
        assert_eq!(close_code, Some(close::UNAUTHORIZED), "{what}");
    }
    // A valid token for a room this server does not have says so.
    let (codes, close_code) = refused_handshake(
        addr,
        Message::text(hello_text(PROTOCOL_VERSION, &unknown_room)),
    )
    .await;
    assert_eq!(codes, [ErrorCode::RoomNotFound]);
    assert_eq!(close_code, Some(close::UNAUTHORIZED));
    // A token not valid until tomorrow is not yet valid, which is not the same as forged.
    let tomorrow = Millis(now().0 + 86_400_000);
    let early = server.state.config.auth.token_keys.mint(&Claims::new(
        ROOM,
        &member("m1"),
        tomorrow,
        Duration::from_secs(3600),
    ));
    let (codes, close_code) =
        refused_handshake(addr, Message::text(hello_text(PROTOCOL_VERSION, &early))).await;
    assert_eq!(codes, [ErrorCode::TokenNotYetValid]);
    assert_eq!(close_code, Some(close::UNAUTHORIZED));
    assert!(
        server
            .state
            .store
            .room("no-such-room")
            .await
            .unwrap()
            .is_none(),
        "a link to an unknown room creates nothing"
    );

    // None of that disturbed the room.
    still_serving(&server, "m2").await;
}

/// Just enough unpadded base64url for rewriting a JWT's claims in a test.
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn decode(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in s.bytes() {
            let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for b in bytes {
            acc = (acc << 8) | u32::from(*b);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_flood_is_rate_limited_and_nothing_acknowledged_is_lost() {
    let server = server_with_room().await;
    let mut h = server.connect(ROOM, &host()).await;
    let mut flooder = server.connect(ROOM, &member("flooder")).await;
    let mut m2 = server.connect(ROOM, &member("m2")).await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;

    const N: usize = 200;
    for i in 0..N {
        flooder
            .send_with(
                RequestId(format!("flood-{i}")),
                Command::SendChat {
                    text: format!("flood {i}"),
                },
            )
            .await;
    }
    let mut acked: HashMap<String, Seq> = HashMap::new();
    let mut limited = Vec::new();
    while acked.len() + limited.len() < N {
        match flooder.recv().await.expect("answers to every command") {
            ServerMessage::Ack(a) => {
                let i = a.req.0.strip_prefix("flood-").unwrap();
                let seq = a.seq.expect("a chat is an event");
                assert!(acked.insert(format!("flood {i}"), seq).is_none());
            }
            ServerMessage::Error(e) => {
                let req = e.req.clone().expect("the error names its request");
                assert_eq!(e.code, ErrorCode::RateLimited, "{e:?}");
                limited.push(req);
            }
            _ => {}
        }
    }
    println!(
        "flood of {N}: {} acknowledged, {} rate limited",
        acked.len(),
        limited.len()
    );
    assert!(
        acked.len() >= 40,
        "the burst (twice 20/s) gets through: {}",
        acked.len()
    );
    assert!(!limited.is_empty(), "a flood of {N} is limited");

    // Another member is not affected by the flooder's limit.
    m2.ok(Command::SendChat {
        text: "m2 still speaks".into(),
    })
    .await;
    for (who, client) in [("m2", &mut m2), ("host", &mut h)] {
        client
            .until("m2's chat", |e| {
                matches!(&e.body, EventBody::ChatSent { message } if message.text == "m2 still speaks")
            })
            .await;
        let mut seen: HashMap<String, Vec<Seq>> = HashMap::new();
        for e in &client.events {
            if let EventBody::ChatSent { message } = &e.body
                && message.text.starts_with("flood ")
            {
                seen.entry(message.text.clone()).or_default().push(e.seq);
            }
        }
        assert_eq!(
            seen.len(),
            acked.len(),
            "{who} sees exactly the acknowledged chats"
        );
        for (text, seq) in &acked {
            assert_eq!(seen.get(text), Some(&vec![*seq]), "{who}: {text} once");
        }
    }
    // And they are in the record, once each.
    let loaded = server.state.store.load(ROOM).await.unwrap();
    let mut stored: HashMap<String, u32> = HashMap::new();
    for e in &loaded.entries {
        if let EventBody::ChatSent { message } = &e.event.body
            && message.text.starts_with("flood ")
        {
            *stored.entry(message.text.clone()).or_default() += 1;
        }
    }
    assert_eq!(stored.len(), acked.len());
    assert!(stored.values().all(|n| *n == 1));

    // The flooder's limit refills: after a pause it may speak again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    flooder
        .ok(Command::SendChat {
            text: "calm again".into(),
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hand_raises_is_limited_and_the_queue_holds_one_entry() {
    let server = server_with_room().await;
    let mut h = server.connect(ROOM, &host()).await;
    let mut m1 = server.connect(ROOM, &member("m1")).await;
    h.ok(Command::OpenCheckIn).await;
    h.ok(Command::StartSession).await;
    const N: usize = 100;
    for i in 0..N {
        let command = if i % 2 == 0 {
            Command::RequestFloor {
                kind: yishi_protocol::EntryKind::Impromptu,
                speaker: None,
                replying_to: None,
            }
        } else {
            Command::Withdraw {
                kind: yishi_protocol::EntryKind::Impromptu,
            }
        };
        m1.send_with(RequestId(format!("hand-{i}")), command).await;
    }
    let mut answers: HashMap<String, Result<Option<Seq>, ErrorCode>> = HashMap::new();
    while answers.len() < N {
        match m1.recv().await.unwrap() {
            ServerMessage::Ack(a) => {
                answers.insert(a.req.0, Ok(a.seq));
            }
            ServerMessage::Error(e) if e.req.is_some() => {
                answers.insert(e.req.unwrap().0, Err(e.code));
            }
            _ => {}
        }
    }
    let limited = answers
        .values()
        .filter(|a| **a == Err(ErrorCode::RateLimited))
        .count();
    assert!(limited > 0, "a flood of hand raises is limited");
    for a in answers.values() {
        assert!(
            matches!(
                a,
                Ok(_)
                    | Err(ErrorCode::RateLimited | ErrorCode::AlreadyWaiting | ErrorCode::NotFound)
            ),
            "{a:?}"
        );
    }
    // The queue the host sees is consistent: m1 waits at most once.
    h.ok(Command::SendChat {
        text: "marker".into(),
    })
    .await;
    let snapshot = server
        .state
        .hub
        .room(ROOM)
        .await
        .unwrap()
        .inspect()
        .await
        .unwrap();
    assert!(snapshot.queue.len() <= 1, "{:?}", snapshot.queue);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_origin_is_refused_with_403_and_the_right_one_admitted() {
    let server = server_with_room().await;
    let url = format!("ws://{}/ws", server.addr);

    let mut request = url.clone().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = response.body().as_ref().expect("a JSON body");
            let json: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert_eq!(json["code"], "origin_forbidden");
        }
        Err(e) => panic!("expected a 403, got {e}"),
        Ok(_) => panic!("a page from evil.example was let in"),
    }

    // The server's own origin may connect and is welcomed.
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", format!("http://{}", server.addr).parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text(hello_text(
        PROTOCOL_VERSION,
        &server.token(ROOM, &member("m1")),
    )))
    .await
    .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    let msg: ServerMessage = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert!(matches!(msg, ServerMessage::Welcome(_)), "{msg:?}");

    // A plain HTTP request with a wrong origin gets the same answer.
    let response = reqwest::Client::new()
        .get(server.url("/ws"))
        .header("Origin", "http://evil.example")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    check_security_headers(&response, "403 on /ws");
}

fn check_security_headers(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("CSP on {what}"))
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("object-src 'none'"), "{what}: {csp}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_endpoints_carry_security_headers() {
    let server = server_with_room().await;
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/join",
        "/healthz",
        "/readyz",
        "/api/v1/rooms",
        "/nope",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        check_security_headers(&response, path);
    }
    let index = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_key_and_its_links_admit() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let rooms = server.url("/api/v1/rooms");

    // No key, a wrong key, a key in the wrong scheme: 401 with a code.
    for auth in [
        None,
        Some("Bearer wrong-key-0123456789".to_owned()),
        Some(format!("Basic {}", server.admin_key())),
        Some(format!("Bearer {}x", server.admin_key())),
        Some("Bearer ".to_owned()),
    ] {
        let mut get = http.get(&rooms);
        let mut post = http
            .post(&rooms)
            .json(&serde_json::json!({"id": "sneaky", "title": "不该建成"}));
        if let Some(auth) = &auth {
            get = get.header("Authorization", auth);
            post = post.header("Authorization", auth);
        }
        for response in [get.send().await.unwrap(), post.send().await.unwrap()] {
            assert_eq!(response.status(), 401, "{auth:?}");
            check_security_headers(&response, "401");
            let json: serde_json::Value = response.json().await.unwrap();
            assert_eq!(json["code"], "unauthorized", "{auth:?}");
        }
    }
    assert!(server.state.store.room("sneaky").await.unwrap().is_none());

    let bearer = format!("Bearer {}", server.admin_key());
    // Create, then list.
    let created = http
        .post(&rooms)
        .header("Authorization", &bearer)
        .json(&serde_json::json!({"id": "api-room", "title": "城市更新专题协商"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["id"], "api-room");
    let again = http
        .post(&rooms)
        .header("Authorization", &bearer)
        .json(&serde_json::json!({"id": "api-room", "title": "重复"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let bad = http
        .post(&rooms)
        .header("Authorization", &bearer)
        .json(&serde_json::json!({"id": "../etc", "title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let listed: serde_json::Value = http
        .get(&rooms)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["api-room"]);

    // Mint a member's link; its token connects as that member.
    let minted: serde_json::Value = http
        .post(server.url("/api/v1/rooms/api-room/tokens"))
        .header("Authorization", &bearer)
        .json(&serde_json::json!({"role": "member", "name": "王委员", "id": "wang", "sector": "经济界"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["token"].as_str().unwrap();
    assert!(minted["link"].as_str().unwrap().contains(token));
    let mut c = Client::connect(server.addr, token, None).await.unwrap();
    assert_eq!(c.welcome.you.id.0, "wang");
    assert_eq!(c.welcome.you.name, "王委员");
    assert_eq!(c.welcome.you.role, Role::Member);
    assert_eq!(c.welcome.you.sector.as_deref(), Some("经济界"));
    c.ok(Command::SendChat {
        text: "通过管理接口加入".into(),
    })
    .await;

    // An anonymous audience link gives each viewer an identity of their own.
    let minted: serde_json::Value = http
        .post(server.url("/api/v1/rooms/api-room/tokens"))
        .header("Authorization", &bearer)
        .json(&serde_json::json!({"role": "audience"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = minted["token"].as_str().unwrap();
    let a1 = Client::connect(server.addr, link, None).await.unwrap();
    let a2 = Client::connect(server.addr, link, None).await.unwrap();
    assert_eq!(a1.welcome.you.role, Role::Audience);
    assert_ne!(a1.welcome.you.id, a2.welcome.you.id);
    assert_ne!(a1.welcome.you.id.0, "*");

    // Tokens for a room that does not exist: 404.
    let missing = http
        .post(server.url("/api/v1/rooms/nope/tokens"))
        .header("Authorization", &bearer)
        .json(&serde_json::json!({"role": "member", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let json: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(json["code"], "not_found");
}

/// A viewer on a socket with a tiny receive buffer that reads nothing until told: the
/// server's queue for it fills quickly.
async fn slow_viewer(addr: SocketAddr, token: &str) -> (Ws, yishi_protocol::Welcome) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .unwrap();
    ws.send(Message::text(hello_text(PROTOCOL_VERSION, token)))
        .await
        .unwrap();
    loop {
        let frame = ws.next().await.unwrap().unwrap();
        if let Message::Text(text) = frame {
            match serde_json::from_str(&text).unwrap() {
                ServerMessage::Welcome(w) => return (ws, *w),
                other => panic!("expected a welcome, got {other:?}"),
            }
        }
    }
}

/// Viewers too slow to keep up are resynchronised from a snapshot; the others and the
/// room go on. A resynchronised viewer keeps its own identity and resume session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_viewers_are_resynchronised_and_keep_who_they_are() {
    let hub = yishi::hub::HubConfig {
        audience_queue: 4,
        commands_per_second: 100_000,
        commands_per_ip: 100_000,
        ..yishi::hub::HubConfig::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, hub).await;
    server.create_room(ROOM, "慢速观众").await;
    let mut h = server.connect(ROOM, &host()).await;
    let link = server.audience_link(ROOM);
    let mut fast = Client::connect(server.addr, &link, None).await.unwrap();
    let mut slow = Vec::new();
    for _ in 0..5 {
        slow.push(slow_viewer(server.addr, &link).await);
    }
    // The host adds a lot while the slow viewers read nothing.
    const N: usize = 5000;
    let title = "很长的议程标题𝄞".repeat(60);
    let mut last = 0;
    for chunk in 0..N / 100 {
        let mut reqs = Vec::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            let req = RequestId(format!("item-{i}"));
            h.send_with(
                req.clone(),
                Command::AddAgendaItem {
                    title: format!("{i} {title}"),
                    settings: Default::default(),
                },
            )
            .await;
            reqs.push(req);
        }
        for req in &reqs {
            last = last.max(h.answer(req).await.unwrap().unwrap());
        }
    }
    // A viewer that did not read either, on an ordinary socket: it fell behind too, and is
    // whole again from the snapshot and the batches after it, still itself.
    let me = (fast.welcome.you.clone(), fast.welcome.session.clone());
    fast.through(last).await;
    let snapshot = fast.welcome.snapshot.clone().unwrap();
    let after = fast
        .events
        .iter()
        .filter(|e| e.seq > snapshot.seq && matches!(e.body, EventBody::AgendaItemAdded { .. }))
        .count();
    assert_eq!(snapshot.agenda.len() + after, N);
    assert_eq!(fast.welcome.you, me.0, "still itself after a resync");
    assert_eq!(fast.welcome.session, me.1, "still its resume session");
    let mut resynced = 0;
    for (ws, first) in &mut slow {
        let mut through = first.snapshot.as_ref().unwrap().seq;
        let mut welcomes = Vec::new();
        while through < last {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("the slow viewer is caught up")
                .expect("open")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            match serde_json::from_str(&text).unwrap() {
                ServerMessage::Welcome(w) => {
                    through = w.snapshot.as_ref().unwrap().seq;
                    welcomes.push(*w);
                }
                ServerMessage::Events(batch) => {
                    assert_eq!(batch.from, through + 1, "no gap after a resync");
                    through = batch.through;
                }
                _ => {}
            }
        }
        if !welcomes.is_empty() {
            resynced += 1;
        }
        for w in &welcomes {
            assert_eq!(
                w.you.id, first.you.id,
                "a resynchronised viewer is told it is itself, not another viewer"
            );
            assert_eq!(w.you.name, first.you.name);
            assert_eq!(w.session, first.session, "and keeps its resume session");
        }
    }
    println!("{resynced} of {} slow viewers resynchronised", slow.len());
    assert!(resynced > 0, "the slow viewers fell behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_join_token_exports_its_own_rooms_record_and_nothing_else() {
    let server = server_with_room().await;
    server.create_room("other", "另一个会").await;
    let mut h = server.connect(ROOM, &host()).await;
    h.ok(Command::StartSession).await;
    let http = reqwest::Client::new();
    let get = |path: &str, bearer: String| http.get(server.url(path)).bearer_auth(bearer).send();
    let record = format!("/api/v1/rooms/{ROOM}/record");

    let by_host = get(&record, server.token(ROOM, &host())).await.unwrap();
    assert_eq!(by_host.status(), 200);
    let lines = by_host.text().await.unwrap();
    let entries: Vec<yishi_protocol::RecordEntry> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(yishi::room::verify_chain(&entries).is_ok() && !entries.is_empty());
    let recorder = Participant::new("rec", "记录员", Role::Recorder);
    assert_eq!(
        get(&record, server.token(ROOM, &recorder))
            .await
            .unwrap()
            .status(),
        200
    );

    for (path, token, why) in [
        (
            record.clone(),
            server.token(ROOM, &member("m1")),
            "a member",
        ),
        (
            record.clone(),
            server.token("other", &host()),
            "a host of another room",
        ),
        (
            "/api/v1/rooms".to_owned(),
            server.token(ROOM, &host()),
            "a host listing rooms",
        ),
        (
            format!("/api/v1/rooms/{ROOM}/attendance"),
            server.token(ROOM, &host()),
            "a host's report",
        ),
    ] {
        let status = get(&path, token).await.unwrap().status();
        assert_eq!(status, 401, "{why} must not pass");
    }
}

/// Open a socket that claims `forwarded` in `X-Forwarded-For` and say hello: whether the
/// server welcomed it, or the error codes it answered with.
async fn hello_via_proxy(server: &TestServer, forwarded: &str, who: &str) -> Vec<ErrorCode> {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("X-Forwarded-For", forwarded.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(hello_text(
        PROTOCOL_VERSION,
        &server.token(ROOM, &member(who)),
    )))
    .await
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer to hello")
        .unwrap()
        .unwrap();
    let msg: ServerMessage = serde_json::from_str(first.to_text().unwrap()).unwrap();
    match msg {
        ServerMessage::Welcome(_) => Vec::new(),
        other => error_codes(&[other]),
    }
}

#[tokio::test]
async fn per_address_limits_see_the_client_behind_a_trusted_proxy_only() {
    // One new connection a second from an address (burst 2).
    let hub = HubConfig {
        joins_per_ip: 1,
        ..HubConfig::default()
    };
    let start = |trusted: bool| {
        let hub = hub.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let database = common::database(Backend::Sqlite, dir.path()).await;
            let server = TestServer::start_configured(database, dir, hub, |config| {
                if trusted {
                    config.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
                }
            })
            .await;
            server.create_room(ROOM, "代理测试").await;
            server
        }
    };

    // Behind a trusted proxy (the test client at 127.0.0.1), each forwarded address has
    // its own budget.
    let server = start(true).await;
    assert_eq!(hello_via_proxy(&server, "198.51.100.1", "a1").await, []);
    assert_eq!(hello_via_proxy(&server, "198.51.100.1", "a2").await, []);
    assert_eq!(
        hello_via_proxy(&server, "198.51.100.1", "a3").await,
        [ErrorCode::RateLimited]
    );
    assert_eq!(hello_via_proxy(&server, "198.51.100.2", "b1").await, []);
    // A client cannot escape its limit by writing its own header before the proxy's.
    assert_eq!(
        hello_via_proxy(&server, "203.0.113.9, 198.51.100.1", "a4").await,
        [ErrorCode::RateLimited]
    );

    // Without trusted proxies the header is ignored: every socket comes from 127.0.0.1.
    let server = start(false).await;
    assert_eq!(hello_via_proxy(&server, "198.51.100.1", "c1").await, []);
    assert_eq!(hello_via_proxy(&server, "198.51.100.2", "c2").await, []);
    assert_eq!(
        hello_via_proxy(&server, "198.51.100.3", "c3").await,
        [ErrorCode::RateLimited]
    );
}
