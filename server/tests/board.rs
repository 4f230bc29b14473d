//! The board (码上议事) over real HTTP, on SQLite and on PostgreSQL: a resident submits a
//! topic, staff publish it, three residents support it and it reaches the shortlist, a
//! duplicate is merged and its supporters counted once, a comment waits for moderation,
//! the workflow moves on with notes, an opinion is recorded and an outcome reported on —
//! and a supporter's feed shows each step. Search finds a two-character Chinese word.
//! A restarted server replays the same board.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::board::{Who, call, command, resident, staff_ok};
use common::staff::Staff;
use common::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yishi::hub::HubConfig;
use yishi::staff::StaffRole;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(server: &TestServer, cookie: &str, body: Value) -> (StatusCode, Value) {
    command(server, &Who::Cookie(cookie), body).await
}

async fn ok(server: &TestServer, cookie: &str, body: Value) -> Value {
    let (status, answer) = send(server, cookie, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body} → {answer}");
    answer
}

async fn get(server: &TestServer, cookie: Option<&str>, path: &str) -> (StatusCode, Value) {
    let who = cookie.map_or(Who::Nobody, Who::Cookie);
    call(server, &who, Method::GET, path, None).await
}

fn submit(title: &str, text: &str) -> Value {
    json!({ "type": "submit_topic", "title": title, "text": text, "area": "东城街道", "category": "交通" })
}

fn topic_id(answer: &Value) -> u64 {
    answer["events"][0]["body"]["topic"]["id"].as_u64().unwrap()
}

async fn publish(s: &Staff, topic: u64) {
    staff_ok(
        s,
        json!({ "type": "moderate_topic", "topic": topic, "decision": "publish" }),
    )
    .await;
}

async fn the_board_from_submission_to_outcome(server: &TestServer) -> (String, u64) {
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let alice = resident(server, "居民甲").await;
    let answer = ok(
        server,
        &alice,
        submit("小区停车难", "老旧小区停车位严重不足，晚上车辆乱停。"),
    )
    .await;
    let topic = topic_id(&answer);

    // Pending: not public.
    assert_eq!(
        get(server, None, "/api/v1/board/topics").await.1["total"],
        0
    );
    assert_eq!(
        get(server, None, &format!("/api/v1/board/topics/{topic}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Staff actions need the session's CSRF token.
    let r = http()
        .post(server.url("/api/v1/board/staff/commands"))
        .header("cookie", &clerk.cookie)
        .json(&json!({ "type": "moderate_topic", "topic": topic, "decision": "publish" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A resident cannot moderate.
    let (status, body) = send(
        server,
        &alice,
        json!({ "type": "moderate_topic", "topic": topic, "decision": "publish" }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    publish(&clerk, topic).await;
    staff_ok(&clerk, json!({ "type": "set_threshold", "supports": 3 })).await;

    // Three residents support it: on the shortlist.
    let mut supporters = Vec::new();
    for name in ["居民乙", "居民丙", "居民丁"] {
        let c = resident(server, name).await;
        ok(server, &c, json!({ "type": "support", "topic": topic })).await;
        supporters.push(c);
    }
    let bob = supporters[0].clone();
    let (status, body) = send(server, &bob, json!({ "type": "support", "topic": topic })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_supported"))
    );
    let r = http()
        .get(server.url("/api/v1/board/staff/shortlist"))
        .header("cookie", &clerk.cookie)
        .send()
        .await
        .unwrap();
    let shortlist: Value = r.json().await.unwrap();
    assert_eq!(shortlist["topics"][0]["id"], topic);
    assert_eq!(shortlist["topics"][0]["supports"], 3);

    // A duplicate, supported by bob (again) and a newcomer, merged: counted once.
    let erin = resident(server, "居民戊").await;
    let dup = topic_id(&ok(server, &erin, submit("停车位太少", "希望增加停车位")).await);
    publish(&clerk, dup).await;
    ok(server, &erin, json!({ "type": "support", "topic": dup })).await;
    ok(server, &bob, json!({ "type": "support", "topic": dup })).await;
    staff_ok(
        &clerk,
        json!({ "type": "merge_topic", "duplicate": dup, "into": topic }),
    )
    .await;
    let page = get(server, None, &format!("/api/v1/board/topics/{topic}"))
        .await
        .1;
    assert_eq!(page["supports"], 4, "乙 丙 丁 戊, 乙 once");
    let (_, list) = get(server, None, "/api/v1/board/topics").await;
    assert_eq!(list["total"], 1, "the duplicate is out of the list");

    // A comment waits for moderation.
    let carol = supporters[1].clone();
    let answer = ok(server, &carol, json!({ "type": "post_comment", "topic": topic, "text": "建议利用周边空地建立体车库", "stance": "suggestion" })).await;
    let comment = answer["events"][0]["body"]["comment"]["id"]
        .as_u64()
        .unwrap();
    let page = get(server, None, &format!("/api/v1/board/topics/{topic}"))
        .await
        .1;
    assert_eq!(page["comments"], json!([]));
    let r = http()
        .get(server.url("/api/v1/board/staff/queue"))
        .header("cookie", &clerk.cookie)
        .send()
        .await
        .unwrap();
    let queue: Value = r.json().await.unwrap();
    assert_eq!(queue["comments"][0]["id"], comment);
    staff_ok(
        &clerk,
        json!({ "type": "moderate_comment", "comment": comment, "decision": "publish" }),
    )
    .await;
    let page = get(server, None, &format!("/api/v1/board/topics/{topic}"))
        .await
        .1;
    assert_eq!(page["comments"][0]["stance"], "suggestion");

    // Workflow, consultation, opinion, outcome.
    staff_ok(&clerk, json!({ "type": "advance_stage", "topic": topic, "to": "selecting", "note": "列入本季度协商遴选" })).await;
    let (status, _) = clerk
        .post(
            "/api/v1/board/staff/commands",
            json!({ "type": "select_into_meeting", "topic": topic, "meeting": "no-such-meeting" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.create_room("m2027-1", "停车问题远程协商会").await;
    let prepared = yishi::store::MeetingDetails {
        starts_at: 0,
        ends_at: 3_600_000,
        place: "主会场".into(),
        description: String::new(),
        agenda: vec![yishi::store::AgendaEntry {
            title: "开场".into(),
            limit_s: 0,
        }],
        venues: Vec::new(),
        livestream: false,
    };
    server
        .state
        .store
        .create_meeting("m2027-1", &prepared, None, 0)
        .await
        .unwrap();
    staff_ok(
        &clerk,
        json!({ "type": "select_into_meeting", "topic": topic, "meeting": "m2027-1" }),
    )
    .await;
    let meeting = server
        .state
        .store
        .meeting("m2027-1")
        .await
        .unwrap()
        .unwrap();
    let items: Vec<&str> = meeting
        .details
        .agenda
        .iter()
        .map(|a| a.title.as_str())
        .collect();
    assert_eq!(
        items,
        ["开场", "议题：小区停车难"],
        "an agenda item per topic"
    );
    staff_ok(
        &clerk,
        json!({ "type": "record_opinion", "topic": topic, "text": "建议错时共享机关单位停车位" }),
    )
    .await;
    staff_ok(&clerk, json!({ "type": "advance_stage", "topic": topic, "to": "consulted", "note": "已于远程协商会协商" })).await;
    let answer = staff_ok(&clerk, json!({ "type": "create_outcome", "topic": topic, "title": "错时共享停车", "unit": "区交通局", "due": "2027-06-30", "review": "2027-09-30" })).await;
    let outcome = answer["events"][0]["body"]["outcome"]["id"]
        .as_u64()
        .unwrap();
    staff_ok(&clerk, json!({ "type": "report_progress", "outcome": outcome, "percent": 50, "status": "handling", "note": "已开放两处停车场" })).await;

    let page = get(server, None, &format!("/api/v1/board/topics/{topic}"))
        .await
        .1;
    assert_eq!(page["stage"], "consulted");
    assert_eq!(page["outcomes"][0]["progress"], 50);
    assert_eq!(page["outcomes"][0]["unit"], "区交通局");
    let stages: Vec<&str> = page["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(stages, ["selecting", "consulted"]);

    // Bob's feed tells each step, newest first.
    let (status, feed) = get(server, Some(&bob), "/api/v1/board/feed").await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = feed["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "progress",
            "outcome_created",
            "stage_advanced",
            "opinion",
            "stage_advanced",
            "merged"
        ],
        "{feed}"
    );

    // Search finds a two-character Chinese word, and more than one word.
    let (_, found) = get(server, None, "/api/v1/board/topics?q=停车").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["topics"][0]["id"], topic);
    let (_, found) = get(server, None, "/api/v1/board/topics?q=老旧小区%20乱停").await;
    assert_eq!(found["total"], 1, "{found}");
    let (_, found) = get(server, None, "/api/v1/board/topics?q=电梯").await;
    assert_eq!(found["total"], 0);
    let (_, found) = get(server, None, "/api/v1/board/topics?q=停车&stage=collecting").await;
    assert_eq!(found["total"], 0, "search and filters together");

    // Followers' notices are webhook events too, read from the board's record.
    let webhook = yishi::store::Webhook {
        id: "wh_board".into(),
        url: "http://127.0.0.1:9/hooks".into(),
        types: vec!["board.progress".into(), "board.stage_advanced".into()],
        secret: yishi::webhooks::new_secret(),
        enabled: true,
        created_by: "admin".into(),
        created_at: 0,
    };
    server.state.store.create_webhook(&webhook).await.unwrap();
    for _ in 0..2 {
        yishi::webhooks::scan(&server.state.store, "http://yishi.test")
            .await
            .unwrap();
    }
    let log = server
        .state
        .store
        .delivery_log("wh_board", 100)
        .await
        .unwrap();
    let mut kinds: Vec<&str> = log.iter().map(|d| d.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "board.progress",
            "board.stage_advanced",
            "board.stage_advanced"
        ],
        "once each"
    );
    assert!(log.iter().all(|d| d.id.starts_with("board:")));

    // The audit log has the staff's board actions.
    let log = server.state.store.audit_log().await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "board.merge_topic" && e.target == format!("duplicate {dup}"))
    );
    (bob, topic)
}

async fn scenario(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let first = TestServer::start_on(
        database.clone(),
        tempfile::tempdir().unwrap(),
        HubConfig::default(),
    )
    .await;
    let (bob, topic) = the_board_from_submission_to_outcome(&first).await;
    let page = get(&first, None, &format!("/api/v1/board/topics/{topic}"))
        .await
        .1;
    let feed = get(&first, Some(&bob), "/api/v1/board/feed").await.1;
    let keys = first.state.config.auth.token_keys.clone();
    let seq = first.state.board.read(|b| b.seq()).await;
    first.state.store.close().await;
    drop(first);

    // Restarted on the same store: the board is replayed, the same.
    let second = TestServer::start_with_keys(database, keys).await;
    assert_eq!(
        get(&second, None, &format!("/api/v1/board/topics/{topic}"))
            .await
            .1,
        page
    );
    assert_eq!(get(&second, Some(&bob), "/api/v1/board/feed").await.1, feed);
    let (_, found) = get(&second, None, "/api/v1/board/topics?q=停车").await;
    assert_eq!(found["total"], 1);
    // And its record goes on from where it was.
    let answer = ok(
        &second,
        &bob,
        json!({ "type": "post_comment", "topic": topic, "text": "重启之后再说一句" }),
    )
    .await;
    assert_eq!(answer["seq"].as_u64(), Some(seq + 1));
    let record = second.state.store.board_load().await.unwrap();
    assert!(yishi::board::verify_chain(&record).is_ok());
}

#[tokio::test]
async fn on_sqlite() {
    scenario(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn on_postgres() {
    scenario(Backend::Postgres).await;
}

#[tokio::test]
async fn commands_are_limited_per_identity() {
    let server = TestServer::start(Backend::Sqlite).await;
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let me = resident(&server, "居民").await;
    let topic = topic_id(&ok(&server, &me, submit("路灯不亮", "夜里很黑")).await);
    publish(&clerk, topic).await;
    let mut limited = false;
    for _ in 0..25 {
        let (status, _) = send(&server, &me, json!({ "type": "support", "topic": topic })).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "20 a minute per identity");
    // Another resident is not held back by it.
    let other = resident(&server, "邻居").await;
    ok(
        &server,
        &other,
        json!({ "type": "support", "topic": topic }),
    )
    .await;
}

/// `yishi board seed`, run twice on one store (the second continues the record), then a
/// server started on it: the record verifies, every seeded topic is listed, every
/// support counted once, and the search finds the seeded words.
async fn a_seeded_board_is_replayed(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let seed = |topics: &str, supports: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"))
            .args(["--database", &database, "--data-dir"])
            .arg(dir.path())
            .args(["board", "seed", "--topics", topics, "--supports", supports])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        err
    };
    assert!(seed("30", "100").contains("30 topics, 100 supports by 20 residents"));
    seed("10", "0");
    // Too many supports for the topics still collecting: refused, nothing written.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"))
        .args(["--database", &database, "board", "seed", "--topics", "1"])
        .args(["--supports", "50", "--residents", "1"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more topics or more residents"));

    let server = TestServer::start_on(database, dir, HubConfig::default()).await;
    let record = server.state.store.board_load().await.unwrap();
    assert!(yishi::board::verify_chain(&record).is_ok());
    let (_, all) = get(&server, None, "/api/v1/board/topics?limit=100").await;
    assert_eq!(all["total"], 40);
    let supports: u64 = all["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["supports"].as_u64().unwrap())
        .sum();
    assert_eq!(supports, 100);
    let (_, done) = get(&server, None, "/api/v1/board/topics?stage=done").await;
    assert_eq!(done["total"], 1, "topic 19 of the first seed is done");
    for word in ["停车", "充电桩", "光明路 停车"] {
        let (_, found) = get(
            &server,
            None,
            &format!("/api/v1/board/topics?q={}", urlencode(word)),
        )
        .await;
        assert!(found["total"].as_u64().unwrap() > 0, "{word}: {found}");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn a_seeded_board_is_replayed_on_sqlite() {
    a_seeded_board_is_replayed(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_seeded_board_is_replayed_on_postgres() {
    a_seeded_board_is_replayed(Backend::Postgres).await;
}

/// `--no-board-rate-limits` (for load tests): one identity sends more than 20 commands
/// a minute and one address makes more than 120 identities, none refused.
#[tokio::test]
async fn lifted_rate_limits_refuse_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Sqlite, dir.path()).await;
    let server = TestServer::start_configured(database, dir, HubConfig::default(), |c| {
        c.http.board_rate_limits = false;
    })
    .await;
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let me = resident(&server, "居民").await;
    for i in 0..25 {
        let topic = topic_id(&ok(&server, &me, submit(&format!("路灯不亮{i}"), "夜里很黑")).await);
        publish(&clerk, topic).await;
    }
    for i in 0..125 {
        // `resident` asserts each identity is given (200, not 429).
        resident(&server, &format!("居民{i}")).await;
    }
}

#[tokio::test]
async fn a_platform_token_makes_a_verified_member_and_a_forged_one_is_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let member = yishi_protocol::Participant::new("m-007", "王委员", yishi_protocol::Role::Member);
    let token = server.token("board", &member);
    let r = http()
        .post(server.url("/api/v1/board/identity"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["identity"].as_str(), body["verified"].as_bool()),
        (Some("m-007"), Some(true))
    );
    let forged = format!("{}x", &token[..token.len() - 1]);
    let r = http()
        .post(server.url("/api/v1/board/identity"))
        .json(&json!({ "token": forged }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A meeting token that is not the chair's does not act on the board.
    let viewer = yishi_protocol::Participant::new("a1", "观众", yishi_protocol::Role::Audience);
    let r = http()
        .post(server.url("/api/v1/board/commands"))
        .bearer_auth(server.token("m1", &viewer))
        .json(&json!({ "type": "follow", "topic": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Two servers on one SQLite store (its directory, kept while they run).
async fn two_servers() -> (tempfile::TempDir, TestServer, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Sqlite, dir.path()).await;
    let a = TestServer::start_on(
        database.clone(),
        tempfile::tempdir().unwrap(),
        HubConfig::default(),
    )
    .await;
    let keys = a.state.config.auth.token_keys.clone();
    let b = TestServer::start_with_keys(database, keys).await;
    (dir, a, b)
}

/// Two servers on one store (as two nodes of a cluster share PostgreSQL): what one
/// writes, the other shows within seconds and builds on; the record stays one chain.
#[tokio::test]
async fn two_servers_on_one_store_share_the_board() {
    let (_dir, a, b) = two_servers().await;
    let me = resident(&a, "居民").await;
    let topic = topic_id(&ok(&a, &me, submit("小区停车难", "停车位不足")).await);
    // B has not seen the topic yet, or has: either way its commit must continue A's record.
    let clerk = b.staff("clerk", StaffRole::Clerk).await;
    publish(&clerk, topic).await;
    // A shows B's publication within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, _) = get(&a, None, &format!("/api/v1/board/topics/{topic}")).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A never saw B's publication"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    ok(
        &a,
        &me,
        json!({ "type": "post_comment", "topic": topic, "text": "谢谢" }),
    )
    .await;
    let record = a.state.store.board_load().await.unwrap();
    assert_eq!(record.len(), 3, "submitted, published, commented");
    assert!(yishi::board::verify_chain(&record).is_ok());
}

/// A board page's live connection (`/api/v1/board/live`), as a resident's page (with their
/// cookie) or anyone's opens it.
async fn live(server: &TestServer, cookie: Option<&str>) -> yishi_testkit::Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/api/v1/board/live", server.addr)
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap()
        .0
}

/// The next message of a live connection (within 20 s).
async fn told(ws: &mut yishi_testkit::Ws) -> Value {
    use futures_util::StreamExt;
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .expect("a live update within 20 s")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The pages are told what changed, live: a support names its topic, a pending topic is
/// never named, the author's connection alone hears of their notice; and a change made
/// on another server of the same store reaches this one's pages too.
#[tokio::test]
async fn pages_are_told_what_changed_live() {
    let (_dir, a, b) = two_servers().await;
    let clerk = a.staff("clerk", StaffRole::Clerk).await;
    let author = resident(&a, "居民甲").await;
    let supporter = resident(&a, "居民乙").await;
    let topic = topic_id(&ok(&a, &author, submit("小区停车难", "停车位不足")).await);
    publish(&clerk, topic).await;

    let mut anyone = live(&a, None).await;
    let mut mine = live(&a, Some(&author)).await;
    let mut elsewhere = live(&b, None).await;
    // A topic waiting for moderation is nobody's business: the next message names only
    // the support that follows it.
    let pending = topic_id(&ok(&a, &supporter, submit("路灯不亮", "晚上太黑")).await);
    ok(&a, &supporter, json!({ "type": "support", "topic": topic })).await;
    let said = told(&mut anyone).await;
    assert_eq!(said["topics"], json!([topic]), "{said}");
    assert_eq!(said["notices"], json!(false));
    let said = told(&mut mine).await;
    assert_eq!(said["topics"], json!([topic]));
    assert_eq!(said["notices"], json!(false), "a support tells nobody");
    // Another server's pages hear of it once it folds the store's record (every 2 s).
    let said = told(&mut elsewhere).await;
    assert_eq!(said["topics"], json!([topic]), "{said}");
    assert_ne!(pending, topic);

    // The stage moves on: followers are told; only the author's own connection says so.
    staff_ok(
        &clerk,
        json!({ "type": "advance_stage", "topic": topic, "to": "selecting", "note": "列入遴选" }),
    )
    .await;
    let said = told(&mut mine).await;
    assert_eq!(
        (&said["topics"], &said["notices"]),
        (&json!([topic]), &json!(true))
    );
    let said = told(&mut anyone).await;
    assert_eq!(
        (&said["topics"], &said["notices"]),
        (&json!([topic]), &json!(false))
    );
}

/// A server on `backend` with the rate limits lifted (many identities from one address),
/// and a published topic: the store's directory (kept for a restart), the server, the
/// topic.
async fn a_published_topic(backend: Backend) -> (tempfile::TempDir, TestServer, u64) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let server = TestServer::start_configured(
        database,
        tempfile::tempdir().unwrap(),
        HubConfig::default(),
        |c| c.http.board_rate_limits = false,
    )
    .await;
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let author = resident(&server, "居民").await;
    let topic = topic_id(&ok(&server, &author, submit("小区停车难", "停车位不足")).await);
    publish(&clerk, topic).await;
    (dir, server, topic)
}

/// The topic's supports, as its public page shows them.
async fn supports(server: &TestServer, topic: u64) -> u64 {
    let (_, page) = get(server, None, &format!("/api/v1/board/topics/{topic}")).await;
    page["supports"]
        .as_u64()
        .unwrap_or_else(|| panic!("{page}"))
}

/// 200 residents each send the same support twice, all 400 requests at once (committed in
/// groups): each resident is counted once and told so once (the other support refused
/// `already_supported`), every support acknowledged with its own sequence number, the
/// record verifies, and a server restarted on the store replays the same count.
async fn concurrent_supports_are_counted_once(backend: Backend) {
    const RESIDENTS: usize = 200;
    let (_dir, server, topic) = a_published_topic(backend).await;
    let names: Vec<String> = (0..RESIDENTS).map(|i| format!("居民{i}")).collect();
    let cookies =
        futures_util::future::join_all(names.iter().map(|name| resident(&server, name))).await;
    let http = http();
    let support = |cookie: &String| {
        let request = http
            .post(server.url("/api/v1/board/commands"))
            .header("cookie", cookie)
            .json(&json!({ "type": "support", "topic": topic }));
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let answers =
        futures_util::future::join_all(cookies.iter().flat_map(|c| [support(c), support(c)])).await;
    let mut seqs = std::collections::BTreeSet::new();
    for pair in answers.chunks(2) {
        let mut statuses: Vec<_> = pair.iter().map(|(s, _)| *s).collect();
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{pair:?}");
        let (_, counted) = pair.iter().find(|(s, _)| *s == StatusCode::OK).unwrap();
        let (_, refused) = pair.iter().find(|(s, _)| *s != StatusCode::OK).unwrap();
        assert_eq!(refused["code"], "already_supported");
        assert_eq!(
            counted["events"][0]["body"]["type"], "supported",
            "{counted}"
        );
        assert!(seqs.insert(counted["events"][0]["seq"].as_u64().unwrap()));
    }
    assert_eq!(seqs.len(), RESIDENTS);
    assert_eq!(supports(&server, topic).await, RESIDENTS as u64);
    let record = server.state.store.board_load().await.unwrap();
    assert!(yishi::board::verify_chain(&record).is_ok());
    let supported = record
        .iter()
        .filter(|e| matches!(e.event.body, yishi::board::EventBody::Supported { .. }))
        .count();
    assert_eq!(supported, RESIDENTS);
    let seq = server.state.board.read(|b| b.seq()).await;
    assert_eq!(Some(seq), record.last().map(|e| e.event.seq));

    let (database, keys) = (
        server.database.clone(),
        server.state.config.auth.token_keys.clone(),
    );
    server.state.store.close().await;
    drop(server);
    let again = TestServer::start_with_keys(database, keys).await;
    assert_eq!(supports(&again, topic).await, RESIDENTS as u64);
    assert_eq!(again.state.board.read(|b| b.seq()).await, seq);
}

#[tokio::test]
async fn concurrent_supports_are_counted_once_on_sqlite() {
    concurrent_supports_are_counted_once(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn concurrent_supports_are_counted_once_on_postgres() {
    concurrent_supports_are_counted_once(Backend::Postgres).await;
}

fn resident_actor(id: &str) -> yishi::board::Actor {
    yishi::board::Actor::Resident {
        identity: yishi::board::Identity::new(id.to_owned()),
        name: id.to_owned(),
        verified: false,
    }
}

fn support_command(topic: u64) -> yishi::board::Command {
    serde_json::from_value(json!({ "type": "support", "topic": topic })).unwrap()
}

/// The writer's batch, on `server`: A supports, A again, B supports.
async fn a_batch(
    server: &TestServer,
    topic: u64,
) -> Vec<Result<Vec<yishi::board::Event>, yishi::http::board::BoardError>> {
    let (a, b) = (resident_actor("res-a"), resident_actor("res-b"));
    let commands = [
        (a.clone(), support_command(topic)),
        (a, support_command(topic)),
        (b, support_command(topic)),
    ];
    server
        .state
        .board
        .apply_all(&server.state.store, &commands)
        .await
}

/// In one batch (one commit) each command is decided on the board the ones before it
/// made: a second support by the same identity is refused while the first is counted.
async fn a_batch_sees_its_own_commands(backend: Backend) {
    let (_dir, server, topic) = a_published_topic(backend).await;
    let seq = server.state.board.read(|b| b.seq()).await;
    let answers = a_batch(&server, topic).await;
    let first = answers[0].as_ref().unwrap();
    match &answers[1] {
        Err(yishi::http::board::BoardError::Refused(r)) => {
            assert_eq!(r.code, yishi::board::ErrorCode::AlreadySupported);
        }
        other => panic!("the second support of A: {other:?}"),
    }
    let third = answers[2].as_ref().unwrap();
    assert_eq!(first[0].seq, seq + 1);
    assert_eq!(
        third[0].seq,
        first.last().unwrap().seq + 1,
        "after A's events"
    );
    assert_eq!(supports(&server, topic).await, 2);
    let record = server.state.store.board_load().await.unwrap();
    assert!(yishi::board::verify_chain(&record).is_ok());
    assert_eq!(record.last().unwrap().event, *third.last().unwrap());
}

#[tokio::test]
async fn a_batch_sees_its_own_commands_on_sqlite() {
    a_batch_sees_its_own_commands(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_batch_sees_its_own_commands_on_postgres() {
    a_batch_sees_its_own_commands(Backend::Postgres).await;
}

/// Make the store refuse (`refuse`) or accept again the board's new entries: a trigger,
/// as a failing disk or a broken database would refuse the commit.
async fn refuse_board_entries(server: &TestServer, backend: Backend, refuse: bool) {
    use sqlx::Connection;
    let statements: &[&str] = match (backend, refuse) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER refuse BEFORE INSERT ON board_events \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON board_events \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER refuse"],
        (Backend::Postgres, false) => &["DROP TRIGGER refuse ON board_events"],
    };
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&server.database)
                .await
                .unwrap();
            for s in statements {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&server.database).await.unwrap();
            for s in statements {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
        }
    }
}

/// A batch whose commit fails: every command is answered with the store's error (the
/// refused one too: its refusal was decided on a state never committed), nothing is
/// shown, and the next batch continues the record as last committed.
async fn a_failed_commit_fails_the_whole_batch(backend: Backend) {
    let (_dir, server, topic) = a_published_topic(backend).await;
    let seq = server.state.board.read(|b| b.seq()).await;
    let stored = server.state.store.board_load().await.unwrap().len();
    refuse_board_entries(&server, backend, true).await;
    let answers = a_batch(&server, topic).await;
    assert_eq!(answers.len(), 3);
    for answer in &answers {
        assert!(
            matches!(answer, Err(yishi::http::board::BoardError::Store(_))),
            "{answer:?}"
        );
    }
    // Over HTTP: a server error, not a support.
    let cookie = resident(&server, "居民乙").await;
    let (status, body) = send(
        &server,
        &cookie,
        json!({ "type": "support", "topic": topic }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("internal"))
    );
    assert_eq!(server.state.board.read(|b| b.seq()).await, seq);
    assert_eq!(supports(&server, topic).await, 0);
    assert_eq!(server.state.store.board_load().await.unwrap().len(), stored);

    refuse_board_entries(&server, backend, false).await;
    let answers = a_batch(&server, topic).await;
    assert_eq!(answers[0].as_ref().unwrap()[0].seq, seq + 1);
    assert_eq!(supports(&server, topic).await, 2);
    let record = server.state.store.board_load().await.unwrap();
    assert!(yishi::board::verify_chain(&record).is_ok());
}

#[tokio::test]
async fn a_failed_commit_fails_the_whole_batch_on_sqlite() {
    a_failed_commit_fails_the_whole_batch(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_failed_commit_fails_the_whole_batch_on_postgres() {
    a_failed_commit_fails_the_whole_batch(Backend::Postgres).await;
}
