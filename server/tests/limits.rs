//! The listener's limits, against the real binary under a lowered open-file limit
//! (`prlimit`): connections that never finish their headers and idle keep-alive
//! connections are closed after the header timeout; past the per-address cap and the
//! global cap (below the file limit, with a reserve for the store) newcomers get a 503,
//! while a room that was already running keeps committing and `/healthz` answers again
//! once the slow sockets are gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use yishi::auth::{Claims, Keys};
use yishi::hub::now;
use yishi_protocol::{Command, Participant, Role};

const KEYS: &str = "k1:limits-test-secret-0123456789";
const ADMIN_KEY: &str = "limits-admin-key-0123456789";
/// Open files allowed to the server: its cap is this minus a quarter (the reserve).
const NOFILE: u64 = 400;
const PER_IP: usize = 50;

struct Server {
    addr: SocketAddr,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start() -> Server {
    let data = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = Process::new("prlimit");
    cmd.arg(format!("--nofile={NOFILE}:{NOFILE}"))
        .arg(env!("CARGO_BIN_EXE_yishi"));
    for (key, _) in std::env::vars() {
        if key.starts_with("YISHI_") {
            cmd.env_remove(key);
        }
    }
    let database = format!("sqlite://{}", data.path().join("yishi.db").display());
    let child = cmd
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--database",
            &database,
        ])
        .args(["--header-timeout", "2s", "--no-media"])
        .args(["--max-connections-per-ip", &PER_IP.to_string()])
        .env("YISHI_DATA_DIR", data.path())
        .env("YISHI_TOKEN_KEYS", KEYS)
        .env("YISHI_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("prlimit (util-linux) and the yishi binary");
    let server = Server {
        addr,
        child,
        _data: data,
    };
    let started = Instant::now();
    while get(addr, "/healthz").await != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server never came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

/// A plain HTTP/1.1 GET on a connection of its own: the status, or `None`.
async fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1)?.parse().ok()
}

/// A connection from `source` that sends half a request's headers and then nothing.
async fn slowloris(addr: SocketAddr, source: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websock")
        .await
        .unwrap();
    s
}

/// What the server does with a slow connection: `Some(status)` if it answered, `None` if
/// it closed it without a word, waiting at most `within`.
async fn fate(s: &mut TcpStream, within: Duration) -> Result<Option<u16>, &'static str> {
    let mut answer = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut answer)).await {
        Err(_) => Err("still open"),
        Ok(_) if answer.is_empty() => Ok(None),
        Ok(_) => Ok(String::from_utf8_lossy(&answer)
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())),
    }
}

async fn create_room(addr: SocketAddr, id: &str) {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{addr}/api/v1/rooms"))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"id": id, "title": "限额测试"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_time_out_and_the_caps_refuse_newcomers_while_rooms_commit() {
    let server = start().await;
    let addr = server.addr;
    create_room(addr, "limits").await;
    let keys = Keys::parse_list(KEYS).unwrap();
    let host = Participant::new("host", "主持人", Role::Host);
    let token = keys.mint(&Claims::new(
        "limits",
        &host,
        now(),
        Duration::from_secs(3600),
    ));
    let mut h = Client::connect(addr, &token, None).await.unwrap();
    h.ok(Command::StartSession).await;

    // One address fills its share; its next connection is refused with a 503.
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let mut slow = Vec::new();
    // The host's WebSocket is one of 127.0.0.1's connections already.
    for _ in 1..PER_IP {
        slow.push(slowloris(addr, local).await);
    }
    let mut over = slowloris(addr, local).await;
    assert_eq!(
        fate(&mut over, Duration::from_secs(30)).await,
        Ok(Some(503))
    );

    // Other addresses fill the server; past its cap everyone is refused.
    let cap = (NOFILE - NOFILE / 4) as usize;
    let mut refused = 0;
    let mut source = 2u8;
    while slow.len() + 1 < cap + 5 {
        let ip = IpAddr::from([127, 0, 0, source]);
        for _ in 0..(PER_IP - 1) {
            slow.push(slowloris(addr, ip).await);
        }
        source += 1;
    }
    // The room still commits, at the cap, with every descriptor the store needs.
    for i in 0..20 {
        h.ok(Command::SendChat {
            text: format!("满员时的第{i}条消息"),
        })
        .await;
    }
    // Those beyond the cap were answered 503 at once; the others wait for the timeout.
    let started = Instant::now();
    let mut closed = 0;
    for s in &mut slow {
        match fate(s, Duration::from_secs(30)).await {
            Ok(Some(503)) => refused += 1,
            Ok(None) | Ok(Some(408)) => closed += 1,
            other => panic!("a slow connection was not dealt with: {other:?}"),
        }
    }
    assert!(refused >= 4, "{refused} refused beyond the cap of {cap}");
    assert_eq!(refused + closed, slow.len());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the header timeout is 2 s"
    );

    // Free again: health answers, new members join, the room goes on.
    assert_eq!(get(addr, "/healthz").await, Some(200));
    h.ok(Command::SendChat {
        text: "之后".into(),
    })
    .await;
    let member = keys.mint(&Claims::new(
        "limits",
        &Participant::new("m1", "张委员", Role::Member),
        now(),
        Duration::from_secs(3600),
    ));
    let mut m = Client::connect(addr, &member, None).await.unwrap();
    m.ok(Command::SendChat {
        text: "我来了".into(),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = start().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then nothing: the server closes it.
    let started = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
        .await
        .expect("an idle connection is closed");
    assert!(matches!(rest, Ok(0) | Err(_)), "{rest:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}
