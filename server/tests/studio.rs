//! Members' studios (委员网上工作室) over real HTTP, on SQLite and on PostgreSQL: staff
//! open a roster member's studio; a resident leaves three messages, staff publish them;
//! the member (a platform token for `m-<id>`) replies to one privately and to another
//! publicly; the public page shows the public reply only, the sender sees the private one
//! and is told; the third passes its deadline and shows in the staff's overdue list;
//! staff make it a topic. A restarted server replays the same studio and its record
//! verifies.
//!
//! Duty slots (会客时间): staff and the member schedule them; each gets a lecture room
//! prepared as a meeting; its audience link is refused before the room opens (five minutes
//! before the start) and given in the window, where a real WebSocket client joins as
//! audience and asks, and the member, with the host link, approves. A message filed as
//! a 社情民意 item is listed for staff and told to its sender; webhooks for both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::board::{Who, call, command, resident, staff_ok};
use common::staff::Staff;
use common::{Backend, Client, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yishi::board::Day;
use yishi::hub::{HubConfig, now};
use yishi::staff::StaffRole;
use yishi::store::MemberInput;
use yishi_protocol::{Participant, Role};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn message_id(answer: &Value) -> u64 {
    answer["events"][0]["body"]["message"]["id"]
        .as_u64()
        .unwrap()
}

const PRIVATE: &str = "请把楼号发给我，我去现场看看";
const PUBLIC: &str = "已向区住建局反映，加装电梯有补贴";

/// Roster member 张委员 added: their id.
async fn roster_member(server: &TestServer) -> i64 {
    server
        .state
        .store
        .import_members(
            &[MemberInput {
                number: Some("2024001".into()),
                name: "张委员".into(),
                sector: Some("经济界".into()),
                venue: None,
                phone: None,
            }],
            0,
        )
        .await
        .unwrap();
    server.state.store.list_members(None).await.unwrap()[0].id
}

/// 张委员's studio, opened by staff (`more` adds to the command).
struct Studio {
    clerk: Staff,
    /// The member's roster id.
    id: i64,
    /// The member's platform token (`m-<id>`) for the board.
    token: String,
}

async fn open_studio(server: &TestServer, more: Value) -> Studio {
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let id = roster_member(server).await;
    let mut open =
        json!({ "type": "open_studio", "member": id, "name": "张委员", "sector": "经济界" });
    open.as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    staff_ok(&clerk, open).await;
    let member = Participant::new(format!("m-{id}"), "张委员", Role::Member);
    let token = server.token("board", &member);
    Studio { clerk, id, token }
}

/// A resident's message to the studio of member `id` (pending): its id.
async fn post_message(
    server: &TestServer,
    resident: &str,
    id: i64,
    title: Option<&str>,
    text: &str,
) -> u64 {
    let body = json!({ "type": "post_message", "member": id, "title": title, "text": text });
    let (status, answer) = command(server, &Who::Cookie(resident), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    message_id(&answer)
}

async fn publish_message(clerk: &Staff, message: u64) {
    staff_ok(
        clerk,
        json!({ "type": "moderate_message", "message": message, "decision": "publish" }),
    )
    .await;
}

/// The webhook deliveries due to a webhook for `types` added now: their kinds, sorted,
/// and their payloads run together.
async fn deliveries(server: &TestServer, types: &[&str]) -> (Vec<String>, String) {
    let webhook = yishi::store::Webhook {
        id: "wh_studio".into(),
        url: "http://127.0.0.1:9/hooks".into(),
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        secret: yishi::webhooks::new_secret(),
        enabled: true,
        created_by: "admin".into(),
        created_at: 0,
    };
    server.state.store.create_webhook(&webhook).await.unwrap();
    yishi::webhooks::scan(&server.state.store, "http://yishi.test")
        .await
        .unwrap();
    let far = i64::MAX / 2;
    let due = server
        .state
        .store
        .claim_deliveries(far, far, 100)
        .await
        .unwrap();
    let mut kinds: Vec<String> = due.iter().map(|d| d.kind.clone()).collect();
    kinds.sort();
    (kinds, due.iter().map(|d| d.payload.as_str()).collect())
}

async fn studio_journey(server: &TestServer) -> (String, i64) {
    let Studio { clerk, id, token } = open_studio(
        server,
        json!({ "interests": ["养老", "城建"], "deadline_days": 2 }),
    )
    .await;
    // A member who is not on the roster has no studio.
    let (status, body) = clerk
        .post(
            "/api/v1/board/staff/commands",
            json!({ "type": "open_studio", "member": id + 100, "name": "张委员", "sector": "经济界" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (_, list) = call(
        server,
        &Who::Nobody,
        Method::GET,
        "/api/v1/board/studios",
        None,
    )
    .await;
    assert_eq!(list["studios"][0]["name"], "张委员");
    assert_eq!(list["studios"][0]["interests"], json!(["养老", "城建"]));

    // The page's QR code: an SVG of the studio's address; none for a member without one.
    let r = http()
        .get(server.url(&format!("/api/v1/board/studios/{id}/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().starts_with("<?xml"));
    let r = http()
        .get(server.url(&format!("/api/v1/board/studios/{}/qr.svg", id + 100)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A resident leaves three messages: pending, seen by the sender and in the queue.
    let alice = resident(server, "居民甲").await;
    let mut messages = Vec::new();
    for title in ["老楼加装电梯", "小区路灯不亮", "菜市场噪音扰民"] {
        let text = format!("{title}，希望委员关注");
        messages.push(post_message(server, &alice, id, Some(title), &text).await);
    }
    let (status, body) = command(
        server,
        &Who::Cookie(&alice),
        json!({ "type": "post_message", "member": id, "text": " " }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("text_empty"))
    );
    let page = format!("/api/v1/board/studios/{id}");
    let (_, public) = call(server, &Who::Nobody, Method::GET, &page, None).await;
    assert_eq!(public["messages"], json!([]), "nothing before moderation");
    assert!(public.get("me").is_none());
    let (_, mine) = call(server, &Who::Cookie(&alice), Method::GET, &page, None).await;
    assert_eq!(mine["me"]["messages"][0]["moderation"]["state"], "pending");
    assert_eq!(
        clerk.get("/api/v1/board/staff/queue").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for m in &messages {
        publish_message(&clerk, *m).await;
    }

    // The member replies: privately to the first, publicly to the second.
    let as_member = Who::Bearer(&token);
    let reply = |message: u64, text: &str, public: bool| json!({ "type": "reply_message", "message": message, "text": text, "public": public });
    let bob = resident(server, "居民乙").await;
    let (status, body) =
        command(server, &Who::Cookie(&bob), reply(messages[0], "冒充", true)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let other = server.token("board", &Participant::new("m-999", "李委员", Role::Member));
    let (status, _) = command(
        server,
        &Who::Bearer(&other),
        reply(messages[0], "冒充", true),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another member's studio");
    let (status, body) = command(server, &as_member, reply(messages[0], PRIVATE, false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = command(server, &as_member, reply(messages[1], PUBLIC, true)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The public page: three messages, the public reply only.
    for who in [Who::Nobody, Who::Cookie(&bob)] {
        let (_, page) = call(server, &who, Method::GET, &page, None).await;
        assert_eq!(page["messages"].as_array().unwrap().len(), 3);
        let text = page.to_string();
        assert!(text.contains(PUBLIC));
        assert!(
            !text.contains(PRIVATE),
            "a private reply is never public: {text}"
        );
    }
    // The sender sees their private reply and was told.
    let (_, mine) = call(server, &Who::Cookie(&alice), Method::GET, &page, None).await;
    assert!(mine["me"]["messages"].to_string().contains(PRIVATE));
    let (_, feed) = call(
        server,
        &Who::Cookie(&alice),
        Method::GET,
        "/api/v1/board/feed",
        None,
    )
    .await;
    let kinds: Vec<&str> = feed["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "replied",
            "replied",
            "message_published",
            "message_published",
            "message_published"
        ]
    );
    assert_eq!(feed["notices"][1]["text"], PRIVATE);
    assert_eq!(feed["notices"][1]["studio"], id);
    // The member's own view: the inbox with every reply; nothing overdue yet.
    let (_, theirs) = call(server, &as_member, Method::GET, &page, None).await;
    assert_eq!(theirs["me"]["inbox"].as_array().unwrap().len(), 3);
    assert!(theirs["me"]["inbox"].to_string().contains(PRIVATE));
    assert_eq!(theirs["me"]["overdue"], json!([]));

    // The deadline: 2 days from publication. Today nothing is overdue; in three days
    // the third message is, and only it.
    assert_eq!(
        clerk.get("/api/v1/board/staff/overdue").await["messages"],
        json!([])
    );
    let later = Day::of(now().plus(3 * 86_400_000)).0;
    let late = clerk
        .get(&format!("/api/v1/board/staff/overdue?day={later}"))
        .await;
    let late = late["messages"].as_array().unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0]["id"].as_u64(), Some(messages[2]));
    assert_eq!(late[0]["studio_name"], "张委员");
    let (status, _) = clerk
        .call(
            Method::GET,
            "/api/v1/board/staff/overdue?day=2026-02-30",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        server,
        &Who::Cookie(&alice),
        Method::GET,
        "/api/v1/board/staff/overdue",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Staff make the third message a topic: published at once, the sender its author.
    let answer = staff_ok(
        &clerk,
        json!({ "type": "message_to_topic", "message": messages[2], "area": "东城街道", "category": "环境" }),
    )
    .await;
    let topic = answer["events"][0]["body"]["topic"]["id"].as_u64().unwrap();
    let (status, t) = call(
        server,
        &Who::Nobody,
        Method::GET,
        &format!("/api/v1/board/topics/{topic}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["title"], "菜市场噪音扰民");
    let (_, public) = call(server, &Who::Nobody, Method::GET, &page, None).await;
    assert_eq!(public["messages"][0]["topic"].as_u64(), Some(topic));
    // Webhooks: one message per publication and reply; a private reply's text stays
    // on the board.
    let (kinds, payloads) = deliveries(server, &["board.message_published", "board.replied"]).await;
    assert_eq!(
        kinds,
        [
            "board.message_published",
            "board.message_published",
            "board.message_published",
            "board.replied",
            "board.replied"
        ]
    );
    assert!(
        payloads.contains(PUBLIC) && !payloads.contains(PRIVATE),
        "{payloads}"
    );

    let admin = server.staff("admin", StaffRole::Admin).await;
    let audit = admin.get("/api/v1/staff/audit").await.to_string();
    assert!(audit.contains("board.message_to_topic"), "{audit}");
    (alice, id)
}

const MIN: u64 = 60_000;

/// The token in a join link (`…/join#room=…&token=…`).
fn token_of(link: &str) -> &str {
    link.split("&token=").nth(1).expect("a token in the link")
}

async fn duty_and_reports(server: &TestServer) {
    let Studio { clerk, id, token } = open_studio(server, json!({})).await;
    let as_member = Who::Bearer(&token);
    let schedule = |title: &str, starts_at: u64, minutes: u64| {
        json!({ "type": "schedule_duty", "member": id, "title": title,
                "starts_at": starts_at, "ends_at": starts_at + minutes * MIN })
    };
    let audience = |slot: u64| format!("/api/v1/board/studios/{id}/duty/{slot}/audience");
    let host = |slot: u64| format!("/api/v1/board/studios/{id}/duty/{slot}/host");
    let slot_of = |answer: &Value| answer["events"][0]["body"]["slot"]["id"].as_u64().unwrap();

    // Staff schedule one in two hours; before its room opens, no link is given.
    let later = slot_of(&staff_ok(&clerk, schedule("养老服务接待", now().0 + 120 * MIN, 60)).await);
    let (status, body) = call(server, &Who::Nobody, Method::GET, &audience(later), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_state"))
    );
    let (status, _) = call(server, &as_member, Method::POST, &host(later), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The slot's times are checked.
    let (status, body) = clerk
        .post(
            "/api/v1/board/staff/commands",
            schedule("太长", now().0 + MIN, 5 * 60),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_argument"))
    );
    // A resident may not schedule; the member schedules one starting now, themselves.
    let alice = resident(server, "居民甲").await;
    let (status, _) = command(server, &Who::Cookie(&alice), schedule("冒充", now().0, 30)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = command(server, &as_member, schedule("交通出行答疑", now().0, 5)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let current = slot_of(&answer);
    let room = format!("duty-{id}-{current}");

    // Its room is a lecture prepared as a meeting, listed with the meetings.
    let stored = server
        .state
        .store
        .room(&room)
        .await
        .unwrap()
        .expect("the room");
    assert_eq!(stored.kind, yishi::store::RoomKind::Lecture);
    let meetings = clerk.get("/api/v1/meetings").await.to_string();
    assert!(
        meetings.contains("张委员 会客时间：交通出行答疑"),
        "{meetings}"
    );

    // The studio's page lists both, the current one first and live.
    let page = format!("/api/v1/board/studios/{id}");
    let (_, public) = call(server, &Who::Nobody, Method::GET, &page, None).await;
    let phases: Vec<&str> = public["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["live", "upcoming"]);

    // Anyone gets the audience link now: a real client joins as anonymous audience.
    let (status, body) = call(server, &Who::Nobody, Method::GET, &audience(current), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let link = body["link"].as_str().unwrap();
    assert!(
        link.contains(&format!("/join#room={room}&token=")),
        "{link}"
    );
    let mut viewer = Client::connect(server.addr, token_of(link), None)
        .await
        .expect("the audience link lets one in");
    assert_eq!(viewer.welcome.you.role, Role::Audience);
    // The host link: for the studio's member only.
    let (status, _) = call(server, &Who::Nobody, Method::POST, &host(current), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        server,
        &Who::Cookie(&alice),
        Method::POST,
        &host(current),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = server.token("board", &Participant::new("m-999", "李委员", Role::Member));
    let (status, _) = call(
        server,
        &Who::Bearer(&other),
        Method::POST,
        &host(current),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(server, &as_member, Method::POST, &host(current), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut chair = Client::connect(server.addr, token_of(body["link"].as_str().unwrap()), None)
        .await
        .expect("the host link lets the member in");
    assert_eq!(chair.welcome.you.role, Role::Host);
    assert_eq!(chair.welcome.you.id.0, format!("m-{id}"));
    // The audience asks, the member approves.
    viewer
        .ask_approved(&mut chair, "公交线路什么时候调整？")
        .await;

    // A slot (after the current one) whose room opens in 20 s: refused until then,
    // given once it opens.
    let soon = now().0 + 5 * MIN + 20_000;
    let opening = slot_of(&staff_ok(&clerk, schedule("临时会客", soon, 10)).await);
    let (status, _) = call(server, &Who::Nobody, Method::GET, &audience(opening), None).await;
    if now().0 < soon - 5 * MIN {
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "refused before the room opens"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, _) = call(server, &Who::Nobody, Method::GET, &audience(opening), None).await;
        if status == StatusCode::OK {
            assert!(now().0 >= soon - 5 * MIN, "given before the room opened");
            break;
        }
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            std::time::Instant::now() < deadline,
            "the room never opened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // Cancelling: before the start only; the cancelled slot's link is refused and its
    // meeting marked.
    let cancel = |slot: u64| json!({ "type": "cancel_duty", "slot": slot });
    let (status, _) = clerk
        .post("/api/v1/board/staff/commands", cancel(current))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "it has started");
    staff_ok(&clerk, cancel(later)).await;
    let (status, _) = call(server, &Who::Nobody, Method::GET, &audience(later), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let cancelled = server
        .state
        .store
        .room(&format!("duty-{id}-{later}"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        cancelled.title.starts_with("（已取消）"),
        "{}",
        cancelled.title
    );
    let slots = clerk.get("/api/v1/board/staff/duty").await;
    assert_eq!(slots["slots"].as_array().unwrap().len(), 2, "{slots}");

    // 社情民意: a published message filed once; the sender told; staff list it.
    let message = post_message(
        server,
        &alice,
        id,
        None,
        "小区门口的公交站被撤了，老人出行不便",
    )
    .await;
    let report = json!({ "type": "message_to_report", "message": message, "title": "公交站撤并影响老人出行" });
    let (status, body) = clerk
        .post("/api/v1/board/staff/commands", report.clone())
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_state")),
        "not published yet"
    );
    publish_message(&clerk, message).await;
    staff_ok(&clerk, report.clone()).await;
    let (status, _) = clerk.post("/api/v1/board/staff/commands", report).await;
    assert_eq!(status, StatusCode::CONFLICT, "once per message");
    let reports = clerk.get("/api/v1/board/staff/reports").await;
    assert_eq!(reports["reports"][0]["title"], "公交站撤并影响老人出行");
    assert_eq!(
        reports["reports"][0]["text"],
        "小区门口的公交站被撤了，老人出行不便"
    );
    assert_eq!(reports["reports"][0]["message"]["sender_name"], "居民甲");
    let (status, _) = call(
        server,
        &Who::Cookie(&alice),
        Method::GET,
        "/api/v1/board/staff/reports",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, feed) = call(
        server,
        &Who::Cookie(&alice),
        Method::GET,
        "/api/v1/board/feed",
        None,
    )
    .await;
    assert_eq!(feed["notices"][0]["kind"], "report_filed");
    assert_eq!(feed["notices"][0]["studio"], id);
    let (_, public) = call(server, &Who::Nobody, Method::GET, &page, None).await;
    assert_eq!(public["messages"][0]["reported"], true);

    // Webhooks: each slot scheduled, the item filed.
    let (kinds, _) = deliveries(server, &["board.duty_scheduled", "board.report_filed"]).await;
    assert_eq!(
        kinds,
        [
            "board.duty_scheduled",
            "board.duty_scheduled",
            "board.duty_scheduled",
            "board.report_filed"
        ]
    );
}

#[tokio::test]
async fn duty_slots_and_reports_on_sqlite() {
    let server = TestServer::start(Backend::Sqlite).await;
    duty_and_reports(&server).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn duty_slots_and_reports_on_postgres() {
    let server = TestServer::start(Backend::Postgres).await;
    duty_and_reports(&server).await;
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
    let (alice, id) = studio_journey(&first).await;
    let page = format!("/api/v1/board/studios/{id}");
    let (_, before) = call(&first, &Who::Cookie(&alice), Method::GET, &page, None).await;
    let keys = first.state.config.auth.token_keys.clone();
    first.state.store.close().await;
    drop(first);

    let second = TestServer::start_with_keys(database, keys).await;
    let (_, after) = call(&second, &Who::Cookie(&alice), Method::GET, &page, None).await;
    assert_eq!(after, before, "replayed the same");
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

/// A photo as the console uploads it: staff send the image's bytes, the studio is opened
/// with the address they get back, and the public page shows it, served with its type
/// and cached for good. Not an image, too large, or without a session: refused, nothing
/// kept.
async fn photo_upload(server: &TestServer) {
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let id = roster_member(server).await;
    // A 1×1 PNG (its signature and IHDR; the server does not decode it).
    let png: Vec<u8> =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let upload = |bytes: Vec<u8>| {
        clerk
            .request(Method::POST, "/api/v1/board/staff/photos")
            .header("content-type", "image/png")
            .body(bytes)
            .send()
    };
    let r = upload(png.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let kept: Value = r.json().await.unwrap();
    let url = kept["url"].as_str().unwrap().to_owned();
    assert_eq!(kept["content_type"], "image/png");
    assert_eq!(kept["bytes"], png.len());
    // The same bytes again: the same address.
    let again: Value = upload(png.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again["url"], url.as_str());

    let served = http().get(server.url(&url)).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(served.bytes().await.unwrap().as_ref(), png.as_slice());

    staff_ok(
        &clerk,
        json!({ "type": "open_studio", "member": id, "name": "张委员", "sector": "经济界",
                "photo": url }),
    )
    .await;
    let (_, page) = call(
        server,
        &Who::Nobody,
        Method::GET,
        &format!("/api/v1/board/studios/{id}"),
        None,
    )
    .await;
    assert_eq!(page["photo"], url.as_str());

    // An SVG (it could carry script) is not a photo; neither is anything over 2 MiB.
    let r = upload(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_an_image");
    let mut big = png.clone();
    big.resize(2 * 1024 * 1024 + 1, 0);
    let r = upload(big).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Without a session.
    let r = http()
        .post(server.url("/api/v1/board/staff/photos"))
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Addresses that name nothing, or are not a digest at all.
    let upper = kept["id"].as_str().unwrap().to_uppercase();
    for (name, status) in [
        ("0".repeat(64), StatusCode::NOT_FOUND),
        ("..%2Fetc%2Fpasswd".into(), StatusCode::BAD_REQUEST),
        (upper, StatusCode::BAD_REQUEST),
    ] {
        let r = http()
            .get(server.url(&format!("/api/v1/board/photos/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{name}");
    }
    // The upload is in the audit log.
    let log = server.state.store.audit_log().await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "board.photo" && e.target == kept["id"].as_str().unwrap()),
        "{log:?}"
    );
}

#[tokio::test]
async fn photos_on_sqlite() {
    photo_upload(&TestServer::start(Backend::Sqlite).await).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn photos_on_postgres() {
    photo_upload(&TestServer::start(Backend::Postgres).await).await;
}
