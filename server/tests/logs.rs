//! What the server writes to its log: with `RUST_LOG=trace` (and the WebSocket library
//! asked for `trace` by name), a session with a join token, a secret ballot and a chat
//! message leaves none of them in the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use yishi::auth::{Claims, Keys};
use yishi::hub::now;
use yishi_protocol::{
    Base, Choice, Command, Majority, MajorityRule, Participant, PollId, PollMethod, PollSpec,
    ResultsVisibility, Role,
};

const KEYS: &str = "k1:logs-test-secret-0123456789";
const ADMIN_KEY: &str = "logs-admin-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_hold_no_token_ballot_or_message() {
    let data = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = data.path().join("server.log");
    let database = format!("sqlite://{}", data.path().join("yishi.db").display());
    let mut cmd = Process::new(env!("CARGO_BIN_EXE_yishi"));
    for (key, _) in std::env::vars() {
        if key.starts_with("YISHI_") {
            cmd.env_remove(key);
        }
    }
    let room = "logs";
    let (code, _) = (
        Process::new(env!("CARGO_BIN_EXE_yishi"))
            .args(["--database", &database, "room", "create", "--id", room])
            .args(["--title", "日志"])
            .env("YISHI_DATA_DIR", data.path())
            .status()
            .unwrap()
            .code(),
        (),
    );
    assert_eq!(code, Some(0));
    let mut child = cmd
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--database",
            &database,
        ])
        .args(["--ballot-batch", "1"])
        .env("YISHI_DATA_DIR", data.path())
        .env("YISHI_TOKEN_KEYS", KEYS)
        .env("YISHI_ADMIN_KEY", ADMIN_KEY)
        .env(
            "RUST_LOG",
            "trace,tungstenite=trace,tokio_tungstenite=trace",
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while reqwest::get(format!("http://{addr}/healthz"))
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let keys = Keys::parse_list(KEYS).unwrap();
    let token = |p: &Participant| keys.mint(&Claims::new(room, p, now(), Duration::from_secs(600)));
    let host_token = token(&Participant::new("host", "主持人", Role::Host));
    let member_token = token(&Participant::new("m1", "张委员", Role::Member));
    let mut h = Client::connect(addr, &host_token, None).await.unwrap();
    let mut m = Client::connect(addr, &member_token, None).await.unwrap();
    h.ok(Command::OpenCheckIn).await;
    m.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;
    let marker = "秘密的聊天内容 qwertyzxcv";
    m.ok(Command::SendChat {
        text: marker.into(),
    })
    .await;
    let spec = PollSpec {
        question: "无记名表决".into(),
        method: PollMethod::Single {
            options: vec!["甲方案 option-alpha".into(), "乙方案 option-omega".into()],
        },
        binding: true,
        advisory: false,
        secret: true,
        allow_change: false,
        visibility: ResultsVisibility::AfterClose,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    };
    h.ok(Command::CreatePoll { spec }).await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    m.ok(Command::CastBallot {
        poll: PollId(1),
        choice: Choice::Single { option: 1 },
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.len() > 1000,
        "trace logging is on: {} bytes",
        text.len()
    );
    for (what, secret) in [
        ("a join token", host_token.as_str()),
        ("a join token", member_token.as_str()),
        (
            "the token's signature",
            member_token.rsplit('.').next().unwrap(),
        ),
        ("a chat message", marker),
        ("a ballot", "\"option\":1"),
        ("a ballot", "cast_ballot"),
    ] {
        assert!(!text.contains(secret), "the log holds {what}: {secret}");
    }
}
