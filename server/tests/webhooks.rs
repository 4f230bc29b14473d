//! Signed webhooks as a committee's platform sees them: a receiver (a small HTTP server
//! here, verifying every signature with its own code and keeping every id) is subscribed
//! through the admin API; a meeting run by real WebSocket clients sends it each event
//! once, signed; "send test" arrives; a receiver that fails first gets it on a retry;
//! and a server killed (SIGKILL) while the receiver is down sends everything once both
//! are back, from the record. Also on PostgreSQL (with `YISHI_TEST_PG`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::staff::Staff;
use common::{Backend, Client, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use yishi::auth::{Claims, Keys};
use yishi::hub::{HubConfig, now};
use yishi::staff::StaffRole;
use yishi::webhooks::WebhookConfig;
use yishi_protocol::{Command, Participant, Role};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    kind: String,
    body: Value,
    /// Whether its signature verified (and its timestamp was recent).
    valid: bool,
    /// What the receiver answered.
    answered: u16,
}

#[derive(Default)]
struct ReceiverState {
    secret: Option<String>,
    /// Requests to answer 500 before answering 200.
    fail_first: usize,
    got: Vec<Received>,
}

/// A committee platform's endpoint: verifies Standard Webhooks signatures itself.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

/// The receiver's own check of a signature, written from the specification: the key is
/// the base64 after `whsec_`; the signed content is `{id}.{timestamp}.{body}`; the header
/// holds space-separated `v1,<base64 HMAC-SHA256>` signatures, any of which may match.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sigs)) = (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(ts_num) = ts.parse::<i64>() else {
        return false;
    };
    let now_s = (now().0 / 1000) as i64;
    if (now_s - ts_num).abs() > 300 {
        return false;
    }
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut content = Vec::new();
    content.extend_from_slice(format!("{id}.{ts}.").as_bytes());
    content.extend_from_slice(body);
    sigs.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(expected) = BASE64.decode(b64) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(&content);
        mac.verify_slice(&expected).is_ok()
    })
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let mut s = state.lock().unwrap();
    let valid = s
        .secret
        .as_deref()
        .is_some_and(|secret| verify(secret, &headers, &body));
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let status = if s.fail_first > 0 {
        s.fail_first -= 1;
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::NO_CONTENT
    };
    s.got.push(Received {
        id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        kind: parsed["type"].as_str().unwrap_or("").to_owned(),
        body: parsed,
        valid,
        answered: status.as_u16(),
    });
    status
}

impl Receiver {
    /// A receiver on a free port of 127.0.0.1.
    async fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(addr: SocketAddr) -> Receiver {
        Receiver::serve(addr, Arc::default()).await
    }

    async fn serve(addr: SocketAddr, state: Arc<Mutex<ReceiverState>>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    fn set_secret(&self, secret: &str) {
        self.state.lock().unwrap().secret = Some(secret.to_owned());
    }

    fn got(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }

    /// Wait until every id of `ids` has been answered with a 2xx.
    async fn until_delivered(&self, ids: &[String], within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.got();
            let missing: Vec<&String> = ids
                .iter()
                .filter(|id| !got.iter().any(|r| &r.id == *id && r.answered < 300))
                .collect();
            if missing.is_empty() {
                return got;
            }
            assert!(
                started.elapsed() < within,
                "not delivered within {within:?}: {missing:?}; got {:?}",
                got.iter().map(|r| &r.id).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Subscribe `url` through the admin API; returns the id and the secret.
async fn subscribe(base: &str, key: &str, url: &str, types: Option<&[&str]>) -> (String, String) {
    let mut body = json!({ "url": url });
    if let Some(types) = types {
        body["types"] = json!(types);
    }
    let r = http()
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (v["id"].as_str().unwrap().to_owned(), secret)
}

async fn delivery_log(base: &str, key: &str, webhook: &str) -> Vec<Value> {
    let r = http()
        .get(format!("{base}/api/v1/webhooks/{webhook}/deliveries"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["deliveries"].as_array().unwrap().clone()
}

async fn send_test(base: &str, key: &str, webhook: &str) -> String {
    let r = http()
        .post(format!("{base}/api/v1/webhooks/{webhook}/test"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "webhook.test");
    v["id"].as_str().unwrap().to_owned()
}

/// A short meeting: check-in opens, two members check in, the session starts, is paused
/// and resumed (no second `meeting.opened`), and closes.
async fn run_meeting(addr: SocketAddr, token: impl Fn(&Participant) -> String) {
    let host = Participant::new("host", "主持人", Role::Host);
    let m1 = Participant::new("m1", "张委员", Role::Member).with_venue("城东分会场");
    let m2 = Participant::new("m2", "李委员", Role::Member);
    let mut h = Client::connect(addr, &token(&host), None).await.unwrap();
    let mut a = Client::connect(addr, &token(&m1), None).await.unwrap();
    let mut b = Client::connect(addr, &token(&m2), None).await.unwrap();
    h.ok(Command::OpenCheckIn).await;
    a.ok(Command::CheckIn { head_count: None }).await;
    b.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;
    h.ok(Command::PauseSession).await;
    h.ok(Command::ResumeSession).await;
    h.ok(Command::CloseSession).await;
}

fn meeting_ids(room: &str, record: &[yishi_protocol::RecordEntry]) -> Vec<String> {
    use yishi_protocol::{EventBody, SessionState};
    let mut ids = Vec::new();
    let mut opened = false;
    for e in record {
        let seq = e.event.seq;
        match &e.event.body {
            EventBody::SessionChanged {
                state: SessionState::InSession,
            } if !opened => {
                opened = true;
                ids.push(format!("{room}:{seq}:meeting.opened"));
            }
            EventBody::SessionChanged {
                state: SessionState::Closed,
            } => {
                ids.push(format!("{room}:{seq}:meeting.closed"));
                ids.push(format!("{room}:{seq}:minutes.ready"));
                ids.push(format!("{room}:{seq}:participation.updated"));
            }
            EventBody::CheckedIn { .. } => ids.push(format!("{room}:{seq}:member.checked_in")),
            _ => {}
        }
    }
    ids
}

fn fast(c: &mut yishi::config::Config) {
    c.webhooks = WebhookConfig::with_retry_base(Duration::from_millis(200));
    c.media.sfu = None;
}

async fn server(backend: Backend) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    TestServer::start_configured(database, dir, HubConfig::default(), fast).await
}

async fn a_meeting_sends_each_event_once_signed(backend: Backend) {
    let server = server(backend).await;
    let base = server.url("");
    let key = server.admin_key().to_owned();
    // A meeting before the subscription: its history is not sent.
    let earlier = format!("earlier-{}", now().0 % 1_000_000_000);
    server.create_room(&earlier, "往期协商").await;
    run_meeting(server.addr, |p| server.token(&earlier, p)).await;

    let receiver = Receiver::start().await;
    let (webhook, secret) = subscribe(&base, &key, &receiver.url(), None).await;
    receiver.set_secret(&secret);

    let room = format!("hook-{}", now().0 % 1_000_000_000);
    server.create_room(&room, "城市更新专题协商").await;
    run_meeting(server.addr, |p| server.token(&room, p)).await;

    let record = server.state.store.load(&room).await.unwrap().entries;
    let ids = meeting_ids(&room, &record);
    assert_eq!(ids.len(), 6, "{ids:?}");
    receiver
        .until_delivered(&ids, Duration::from_secs(30))
        .await;
    // "Send test" arrives too.
    let test_id = send_test(&base, &key, &webhook).await;
    assert!(test_id.starts_with("test:"));
    receiver
        .until_delivered(std::slice::from_ref(&test_id), Duration::from_secs(30))
        .await;
    // A moment more: nothing is sent twice, nothing else is sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.got();
    assert_eq!(got.len(), 7, "{got:#?}");
    for r in &got {
        assert!(r.valid, "a signature did not verify: {r:?}");
        assert_eq!(got.iter().filter(|o| o.id == r.id).count(), 1, "{}", r.id);
        assert!(
            ids.contains(&r.id) || r.id == test_id,
            "unexpected {}",
            r.id
        );
        assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let by_id = |id: &str| got.iter().find(|r| r.id == id).unwrap().clone();

    let room_row = server.state.store.room(&room).await.unwrap().unwrap();
    let final_hash = room_row.final_hash.unwrap();
    let closed = by_id(&ids[3]);
    assert_eq!(closed.kind, "meeting.closed");
    assert_eq!(closed.body["data"]["final_hash"], final_hash.as_str());
    assert_eq!(
        closed.body["data"]["minutes_url"],
        format!("{base}/api/v1/rooms/{room}/minutes?format=docx")
    );
    let ready = by_id(&ids[4]);
    assert_eq!(ready.kind, "minutes.ready");
    assert_eq!(ready.body["data"]["final_hash"], final_hash.as_str());
    // The participation records count the meeting from its day (no roster invitees here:
    // the room was made without the console).
    let counted = by_id(&ids[5]);
    assert_eq!(counted.kind, "participation.updated");
    let day = yishi::minutes::time::local_date(room_row.closed_at.unwrap());
    assert_eq!(counted.body["data"]["date"], day.as_str());
    assert_eq!(counted.body["data"]["members"], json!([]));
    assert_eq!(
        counted.body["data"]["report_url"],
        format!("{base}/api/v1/reports/participation?from={day}&to={day}&format=csv&table=points")
    );
    let opened = by_id(&ids[2]);
    assert_eq!(opened.kind, "meeting.opened");
    assert_eq!(opened.body["data"]["room"], room.as_str());
    assert_eq!(opened.body["data"]["title"], "城市更新专题协商");
    let first = by_id(&ids[0]);
    assert_eq!(first.kind, "member.checked_in");
    assert_eq!(first.body["data"]["participant"], "m1");
    assert_eq!(first.body["data"]["name"], "张委员");
    assert_eq!(first.body["data"]["venue"], "城东分会场");
    assert_eq!(by_id(&ids[1]).body["data"]["name"], "李委员");
    assert_eq!(by_id(&test_id).kind, "webhook.test");

    // The delivery log: newest first, each delivered at the first attempt with its code.
    let log = delivery_log(&base, &key, &webhook).await;
    assert_eq!(log.len(), 7);
    assert_eq!(log[0]["id"], test_id.as_str());
    for line in &log {
        assert_eq!(line["status"], "delivered", "{line}");
        assert_eq!(line["attempts"], 1);
        assert_eq!(line["last_status"], 204);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_sends_each_event_once_signed_sqlite() {
    a_meeting_sends_each_event_once_signed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_meeting_sends_each_event_once_signed_postgres() {
    a_meeting_sends_each_event_once_signed(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_first_gets_it_on_a_retry() {
    let server = server(Backend::Sqlite).await;
    let base = server.url("");
    let key = server.admin_key().to_owned();
    let receiver = Receiver::start().await;
    receiver.state.lock().unwrap().fail_first = 2;
    let (webhook, secret) = subscribe(&base, &key, &receiver.url(), None).await;
    receiver.set_secret(&secret);
    let id = send_test(&base, &key, &webhook).await;
    let got = receiver
        .until_delivered(std::slice::from_ref(&id), Duration::from_secs(30))
        .await;
    // Three attempts, the same id each time, each signed afresh.
    let attempts: Vec<&Received> = got.iter().filter(|r| r.id == id).collect();
    assert_eq!(
        attempts.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 204]
    );
    assert!(attempts.iter().all(|r| r.valid));
    let log = delivery_log(&base, &key, &webhook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["last_status"], 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_shows_in_the_log_and_the_api_checks_its_input() {
    let server = server(Backend::Sqlite).await;
    let base = server.url("");
    let key = server.admin_key().to_owned();
    // Nothing listens on this port.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (webhook, _) = subscribe(
        &base,
        &key,
        &format!("http://{down}/hooks"),
        Some(&["meeting.closed"]),
    )
    .await;
    send_test(&base, &key, &webhook).await;
    let started = Instant::now();
    let line = loop {
        let log = delivery_log(&base, &key, &webhook).await;
        if log[0]["attempts"].as_i64().unwrap() >= 1 {
            break log[0].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(line["status"], "pending");
    assert!(line["last_status"].is_null());
    assert!(!line["last_error"].as_str().unwrap().is_empty(), "{line}");

    // The list shows the subscription without its secret.
    let r = http()
        .get(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let listed = &v["webhooks"][0];
    assert_eq!(listed["id"], webhook.as_str());
    assert_eq!(listed["types"], json!(["meeting.closed"]));
    assert_eq!(listed["created_by"], "admin");
    assert!(listed.get("secret").is_none());

    // Bad input: clear 400s.
    for (body, says) in [
        (json!({ "url": "ftp://example.org/x" }), "http or https"),
        (json!({ "url": "not a url" }), "url"),
        (
            json!({ "url": "https://example.org/x", "types": ["meeting.started"] }),
            "unknown event type",
        ),
        (
            json!({ "url": "https://example.org/x", "types": [] }),
            "at least one",
        ),
    ] {
        let r = http()
            .post(format!("{base}/api/v1/webhooks"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "invalid_argument");
        assert!(v["message"].as_str().unwrap().contains(says), "{v}");
    }
    // Without the key: refused.
    let r = http()
        .get(format!("{base}/api/v1/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A staff session creates one (with its CSRF token): audited, and named as creator.
    let admin = Staff::invited(&base, &server.state.store, "王秘书", StaffRole::Admin).await;
    // Webhooks are settings: a clerk may neither read nor change them.
    let clerk = Staff::invited(&base, &server.state.store, "李干事", StaffRole::Clerk).await;
    let (status, body) = clerk
        .call(reqwest::Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    let (status, _) = clerk
        .post(
            "/api/v1/webhooks",
            json!({ "url": "https://example.org/x" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = http()
        .post(format!("{base}/api/v1/webhooks"))
        .header(reqwest::header::COOKIE, &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({ "url": "https://platform.example.org/yishi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["created_by"], "王秘书");
    // No types given: every type, the board's included.
    assert_eq!(
        created["types"].as_array().unwrap().len(),
        yishi::webhooks::EVENT_TYPES.len()
    );
    assert!(
        created["types"]
            .as_array()
            .unwrap()
            .contains(&json!("board.progress"))
    );
    let audit = server.state.store.audit_log().await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.staff == "王秘书" && a.action == "POST /api/v1/webhooks"),
        "{audit:?}"
    );

    // Deleted: gone, with its log.
    let r = http()
        .delete(format!("{base}/api/v1/webhooks/{webhook}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for (method, path) in [
        (
            reqwest::Method::DELETE,
            format!("/api/v1/webhooks/{webhook}"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/webhooks/{webhook}/deliveries"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/webhooks/{webhook}/test"),
        ),
    ] {
        let r = http()
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

// ----- a `yishi serve` process, killed -----

const KEYS: &str = "k1:webhook-test-secret-0123456789";
const ADMIN_KEY: &str = "webhook-admin-key-0123456789";

struct ProcessServer {
    addr: SocketAddr,
    child: Child,
}

impl ProcessServer {
    async fn start(database: &str, data: &std::path::Path) -> ProcessServer {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_yishi"));
        for (key, _) in std::env::vars() {
            if key.starts_with("YISHI_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .env("YISHI_DATA_DIR", data)
            .env("YISHI_TOKEN_KEYS", KEYS)
            .env("YISHI_ADMIN_KEY", ADMIN_KEY)
            .env("YISHI_WEBHOOK_RETRY_BASE_MS", "200")
            .env("RUST_LOG", "warn")
            .args(["serve", "--database", database, "--no-media"])
            .args(["--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut server = ProcessServer { addr, child };
        let url = format!("http://{addr}/healthz");
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("yishi serve exited: {status}");
            }
            if let Ok(r) = http().get(&url).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "did not start");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown of any kind.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_the_receiver_is_down_sends_everything_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("yishi.db").display());
    let mut server = ProcessServer::start(&database, dir.path()).await;
    let base = server.base();

    // The receiver's port is reserved, but nothing listens on it yet.
    let receiver_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (webhook, secret) = subscribe(
        &base,
        ADMIN_KEY,
        &format!("http://{receiver_addr}/hooks"),
        None,
    )
    .await;

    let r = http()
        .post(format!("{base}/api/v1/rooms"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "title": "老旧小区改造协商" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let room = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = Keys::parse_list(KEYS).unwrap();
    let token =
        |p: &Participant| keys.mint(&Claims::new(&room, p, now(), Duration::from_secs(3600)));
    run_meeting(server.addr, token).await;
    let test_id = send_test(&base, ADMIN_KEY, &webhook).await;
    // The close is published (its final hash stored) right after the close event.
    let started = Instant::now();
    loop {
        let r = http()
            .get(format!("{base}/api/v1/rooms/{room}"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        if !r.json::<Value>().await.unwrap()["final_hash"].is_null() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed at once: some deliveries may be enqueued and tried, some not even read
    // from the record yet.
    server.kill();

    let receiver = Receiver::start_on(receiver_addr).await;
    receiver.set_secret(&secret);
    let server = ProcessServer::start(&database, dir.path()).await;

    let store = yishi::store::Store::open(&database).await.unwrap();
    let record = store.load(&room).await.unwrap().entries;
    store.close().await;
    let mut ids = meeting_ids(&room, &record);
    assert_eq!(ids.len(), 6, "{ids:?}");
    ids.push(test_id);
    let got = receiver
        .until_delivered(&ids, Duration::from_secs(60))
        .await;
    assert!(got.iter().all(|r| r.valid), "{got:#?}");
    // Deduplicated by id, nothing else came.
    let mut distinct: Vec<&String> = got.iter().map(|r| &r.id).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{distinct:?}");
    let log = delivery_log(&server.base(), ADMIN_KEY, &webhook).await;
    assert_eq!(log.len(), ids.len());
    assert!(log.iter().all(|l| l["status"] == "delivered"), "{log:#?}");
}

// ----- claims: several senders on one database -----

/// Several senders claiming from one outbox at once, each with a store (a pool) of its
/// own as separate nodes would: every delivery is claimed by exactly one of them.
async fn concurrent_senders_never_claim_the_same_delivery(backend: Backend) {
    use yishi::store::{NewDelivery, Store, Webhook};
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let first = Store::open(&database).await.unwrap();
    let webhook = Webhook {
        id: "wh_claims".into(),
        url: "http://127.0.0.1:9/hooks".into(),
        types: vec!["meeting.closed".into()],
        secret: yishi::webhooks::new_secret(),
        enabled: true,
        created_by: "admin".into(),
        created_at: 0,
    };
    first.create_webhook(&webhook).await.unwrap();
    let at = now().0 as i64;
    const N: usize = 200;
    for i in 0..N {
        let d = NewDelivery {
            id: format!("test:{i}"),
            kind: "webhook.test".into(),
            payload: "{}".into(),
        };
        first.enqueue_delivery(&webhook.id, &d, at).await.unwrap();
    }
    // The same delivery enqueued again (a second scanner): still one.
    let again = NewDelivery {
        id: "test:0".into(),
        kind: "webhook.test".into(),
        payload: "{}".into(),
    };
    first
        .enqueue_delivery(&webhook.id, &again, at)
        .await
        .unwrap();

    let mut senders = Vec::new();
    for _ in 0..4 {
        let store = Store::open(&database).await.unwrap();
        senders.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let now = now().0 as i64;
                let got = store.claim_deliveries(now, now + 60_000, 7).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut all = Vec::new();
    for s in senders {
        all.extend(s.await.unwrap());
    }
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), N, "every delivery claimed");
    assert_eq!(claimed, N, "none claimed twice");
    // Claimed ones are not due again until their claim lapses.
    let now = now().0 as i64;
    assert!(
        first
            .claim_deliveries(now, now + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        first
            .claim_deliveries(now + 61_000, now + 120_000, 500)
            .await
            .unwrap()
            .len(),
        N
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_never_claim_the_same_delivery_sqlite() {
    concurrent_senders_never_claim_the_same_delivery(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn concurrent_senders_never_claim_the_same_delivery_postgres() {
    concurrent_senders_never_claim_the_same_delivery(Backend::Postgres).await;
}
