//! Meetings prepared in the console over real HTTP and real WebSocket clients: created
//! with an agenda, edited while scheduled and refused after the host opened it; invitees
//! from the roster, each joining with their own link as themselves in their role; a
//! re-issued link refusing the old token at hello with `token_revoked` (also after a
//! restart) while the new one works; a QR code; a duplicate with new links; sessions,
//! CSRF and clerks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Client, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use yishi::hub::now;
use yishi::staff::StaffRole;
use yishi::store::MemberInput;
use yishi_protocol::{Command, ErrorCode, Role, SessionState};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// The token in a join link (`…/join#room=…&token=<token>`).
fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

fn consultation(starts_at: i64) -> Value {
    json!({
        "title": "老旧小区加装电梯专题协商会",
        "kind": "consultation",
        "starts_at": starts_at,
        "ends_at": starts_at + 2 * 3600 * 1000,
        "place": "政协三楼会议室",
        "description": "围绕加装电梯的资金与协调问题协商。",
        "agenda": [
            { "title": "情况通报", "limit_s": 600 },
            { "title": "委员发言", "limit_s": 300 },
        ],
        "venues": [{ "name": "东城分会场", "contact": "刘老师 13800000000" }],
    })
}

async fn prepared_meeting(backend: Backend) {
    let server = TestServer::start(backend).await;
    let clerk = server.staff("李干事", StaffRole::Clerk).await;
    let at = now().0 as i64;
    server
        .state
        .store
        .import_members(
            &[
                MemberInput {
                    number: Some("001".into()),
                    name: "张三".into(),
                    sector: Some("经济界".into()),
                    venue: Some("主会场".into()),
                    phone: None,
                },
                MemberInput {
                    number: Some("002".into()),
                    name: "李四".into(),
                    sector: Some("教育界".into()),
                    venue: None,
                    phone: None,
                },
            ],
            at,
        )
        .await
        .unwrap();
    let roster = server.state.store.list_members(None).await.unwrap();
    let zhang = roster.iter().find(|m| m.name == "张三").unwrap().id;
    let li = roster.iter().find(|m| m.name == "李四").unwrap().id;

    // Create with an agenda: scheduled.
    let (status, m) = clerk
        .post("/api/v1/meetings", consultation(at + 3600 * 1000))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["agenda"][1]["title"], "委员发言");
    assert_eq!(m["venues"][0]["name"], "东城分会场");
    assert!(server.state.store.room(&id).await.unwrap().is_some());

    // Listed, found by search and by status.
    let list = clerk.get("/api/v1/meetings?q=电梯").await;
    assert_eq!(list["meetings"].as_array().unwrap().len(), 1);
    let list = clerk.get("/api/v1/meetings?status=closed").await;
    assert_eq!(list["meetings"].as_array().unwrap().len(), 0);

    // Edit while scheduled; a bad edit is refused.
    let mut changed = consultation(at + 1800 * 1000);
    changed["place"] = json!("政协二楼会议室");
    changed["agenda"] = json!([
        { "title": "情况通报", "limit_s": 600 },
        { "title": "委员发言", "limit_s": 240 },
        { "title": "部门答复", "limit_s": 600 },
    ]);
    let (status, m) = clerk
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/meetings/{id}"),
            Some(changed.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["place"], "政协二楼会议室");
    assert_eq!(m["agenda"].as_array().unwrap().len(), 3);
    let mut wrong = changed.clone();
    wrong["ends_at"] = json!(at);
    let (status, _) = clerk
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/meetings/{id}"),
            Some(wrong),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Invite from the roster, and a department head who is not in it.
    let (status, m) = clerk
        .post(
            &format!("/api/v1/meetings/{id}/invitees"),
            json!({
                "members": [{ "id": zhang, "role": "member" }, { "id": li, "role": "host" }],
                "people": [{ "name": "王局长", "role": "respondent", "sector": "住建局" }],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["added"], 3);
    let invitees = m["invitees"].as_array().unwrap().clone();
    let person = |name: &str| {
        invitees
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} invited"))
            .clone()
    };
    let zhang_in = person("张三");
    let host_in = person("李四");
    assert_eq!(person("王局长")["role"], "respondent");
    // Inviting again adds nobody twice.
    let (_, again) = clerk
        .post(
            &format!("/api/v1/meetings/{id}/invitees"),
            json!({ "members": [{ "id": zhang }] }),
        )
        .await;
    assert_eq!(again["added"], 0);
    // The same link each time it is shown.
    let shown = clerk.get(&format!("/api/v1/meetings/{id}")).await;
    assert_eq!(
        shown["invitees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "张三")
            .unwrap()["link"],
        zhang_in["link"]
    );

    // A QR code of the link.
    let r = http()
        .get(server.url(zhang_in["qr"].as_str().unwrap()))
        .header("cookie", &clerk.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));

    // Each link joins as that person, in their role.
    let zhang_token = token_of(zhang_in["link"].as_str().unwrap());
    let member = Client::connect(server.addr, &zhang_token, None)
        .await
        .unwrap();
    assert_eq!(member.welcome.you.name, "张三");
    assert_eq!(member.welcome.you.role, Role::Member);
    assert_eq!(member.welcome.you.sector.as_deref(), Some("经济界"));
    drop(member);

    // Re-issue 张三's link: the old one is refused with token_revoked, the new one works.
    let (status, fresh) = clerk
        .post(
            &format!("/api/v1/meetings/{id}/invitees/{}/reissue", zhang_in["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_eq!(fresh["serial"], 2);
    assert_ne!(fresh["link"], zhang_in["link"]);
    let refused = Client::connect(server.addr, &zhang_token, None)
        .await
        .err()
        .expect("the old link is refused");
    assert_eq!(refused.code, ErrorCode::TokenRevoked);
    assert!(refused.message.contains("replaced"), "{}", refused.message);
    let new_token = token_of(fresh["link"].as_str().unwrap());
    let member = Client::connect(server.addr, &new_token, None)
        .await
        .unwrap();
    assert_eq!(member.welcome.you.name, "张三");

    // The host view from the console pushes the agenda into the room.
    let (status, h) = clerk
        .post(&format!("/api/v1/meetings/{id}/host"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    let agenda = server.state.hub.inspect(&id).await.unwrap().unwrap().agenda;
    assert_eq!(
        agenda.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(),
        ["情况通报", "委员发言", "部门答复"]
    );

    // The invited host opens the session: live, and no longer editable.
    let mut host = Client::connect(
        server.addr,
        &token_of(host_in["link"].as_str().unwrap()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(host.welcome.you.role, Role::Host);
    host.ok(Command::OpenCheckIn).await;
    host.ok(Command::StartSession).await;
    let snapshot = server.state.hub.inspect(&id).await.unwrap().unwrap();
    assert_eq!(snapshot.session, SessionState::InSession);
    let m = clerk.get(&format!("/api/v1/meetings/{id}")).await;
    assert_eq!(m["status"], "live");
    let (status, body) = clerk
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/meetings/{id}"),
            Some(changed),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "meeting_started");
    let list = clerk.get("/api/v1/meetings?status=live").await;
    assert_eq!(list["meetings"][0]["id"], id.as_str());

    // Duplicate: a new scheduled meeting with the same details, invitees and new links.
    let (status, copy) = clerk
        .post(&format!("/api/v1/meetings/{id}/duplicate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_ne!(copy["id"], id.as_str());
    assert_eq!(copy["status"], "scheduled");
    assert_eq!(copy["copied_from"], id.as_str());
    assert_eq!(copy["agenda"].as_array().unwrap().len(), 3);
    assert_eq!(copy["place"], "政协二楼会议室");
    let names: Vec<&str> = copy["invitees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["张三", "李四", "王局长"]);
    assert!(
        copy["invitees"][0]["link"]
            .as_str()
            .unwrap()
            .contains(copy["id"].as_str().unwrap())
    );

    // Removing a person revokes their link.
    let r = clerk
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/meetings/{id}/invitees/{}", zhang_in["id"]),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::NO_CONTENT);
    let refused = Client::connect(server.addr, &new_token, None)
        .await
        .err()
        .expect("a removed person's link is refused");
    assert_eq!(refused.code, ErrorCode::TokenRevoked);

    // The audit log has the clerk's changes.
    let audit = server.state.store.audit_log().await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.staff == "李干事" && a.action.ends_with("/reissue")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_meeting_is_prepared_invited_reissued_opened_and_duplicated() {
    prepared_meeting(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_meeting_on_postgres() {
    prepared_meeting(Backend::Postgres).await;
}

#[tokio::test]
async fn a_revoked_link_stays_refused_after_a_restart() {
    // The database outlives both servers (each deletes its own directory when dropped).
    let kept = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Sqlite, kept.path()).await;
    let server = TestServer::start_on(
        database.clone(),
        tempfile::tempdir().unwrap(),
        yishi::hub::HubConfig::default(),
    )
    .await;
    let admin = server.admin_key().to_owned();
    let keys = server.state.config.auth.token_keys.to_list();
    let at = now().0 as i64;
    let r = http()
        .post(server.url("/api/v1/meetings"))
        .bearer_auth(&admin)
        .json(&consultation(at))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r: Value = http()
        .post(server.url(&format!("/api/v1/meetings/{id}/invitees")))
        .bearer_auth(&admin)
        .json(&json!({ "people": [{ "name": "东城分会场", "role": "venue", "venue": "东城" }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let venue = r["invitees"][0].clone();
    let old = token_of(venue["link"].as_str().unwrap());
    let r = http()
        .post(server.url(&format!(
            "/api/v1/meetings/{id}/invitees/{}/reissue",
            venue["id"]
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    drop(server);
    // Another server on the same database and keys: the old link is still refused.
    let again =
        TestServer::start_configured(database, dir, yishi::hub::HubConfig::default(), |config| {
            config.auth.token_keys = yishi::auth::Keys::parse_list(&keys).unwrap();
        })
        .await;
    let refused = Client::connect(again.addr, &old, None)
        .await
        .err()
        .expect("refused after a restart");
    assert_eq!(refused.code, ErrorCode::TokenRevoked);
}

#[tokio::test]
async fn meetings_need_a_session_and_its_csrf_token() {
    let server = TestServer::start(Backend::Sqlite).await;
    let r = http()
        .get(server.url("/api/v1/meetings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http()
        .get(server.url("/api/v1/meetings"))
        .bearer_auth("not-the-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let clerk = server.staff("李干事", StaffRole::Clerk).await;
    let r = http()
        .post(server.url("/api/v1/meetings"))
        .header("cookie", &clerk.cookie)
        .json(&consultation(now().0 as i64))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, _) = clerk
        .post("/api/v1/meetings", consultation(now().0 as i64))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = clerk
        .post(
            "/api/v1/meetings",
            json!({ "title": "", "starts_at": now().0 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = clerk
        .post("/api/v1/meetings/nosuch/invitees", json!({ "members": [] }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_lecture_has_an_anonymous_audience_link_and_an_embed_snippet() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut lecture = consultation(now().0 as i64);
    lecture["kind"] = json!("lecture");
    lecture["title"] = json!("委员讲堂：城市更新 & 历史街区");
    let r = http()
        .post(server.url("/api/v1/meetings"))
        .bearer_auth(server.admin_key())
        .json(&lecture)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["kind"], "lecture");
    let link = m["audience_link"].as_str().unwrap();
    let embed = m["embed"].as_str().unwrap();
    assert!(embed.starts_with("<iframe src=\""), "{embed}");
    assert!(embed.contains("&amp;token="), "{embed}");
    assert!(embed.contains("城市更新 &amp; 历史街区"), "{embed}");
    let viewer = Client::connect(server.addr, &token_of(link), None)
        .await
        .unwrap();
    assert_eq!(viewer.welcome.you.role, Role::Audience);
    assert!(viewer.welcome.you.id.0.starts_with("aud-"));
    // A consultation has none.
    let r: Value = http()
        .post(server.url("/api/v1/meetings"))
        .bearer_auth(server.admin_key())
        .json(&consultation(now().0 as i64))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("audience_link").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(yishi_pg, yishi_nats)),
    ignore = "needs PostgreSQL and NATS: set YISHI_TEST_PG and YISHI_TEST_NATS"
)]
async fn a_link_revoked_through_one_node_is_refused_by_another() {
    let nats = std::env::var("YISHI_TEST_NATS").expect("YISHI_TEST_NATS names NATS");
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Postgres, dir.path()).await;
    let a = common::cluster_node(&nats, "meet-a", &database, None, common::no_media).await;
    // The same keys, but not the same revocation set in memory: B learns from the store.
    let keys = yishi::auth::Keys::parse_list(&a.state.config.auth.token_keys.to_list()).unwrap();
    let b = common::cluster_node(&nats, "meet-b", &database, Some(&keys), common::no_media).await;
    let r = http()
        .post(a.url("/api/v1/meetings"))
        .bearer_auth(a.admin_key())
        .json(&consultation(now().0 as i64))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m: Value = http()
        .post(a.url(&format!("/api/v1/meetings/{id}/invitees")))
        .bearer_auth(a.admin_key())
        .json(&json!({ "people": [{ "name": "赵六", "role": "member" }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let person = m["invitees"][0].clone();
    let old = token_of(person["link"].as_str().unwrap());
    let r = http()
        .post(a.url(&format!(
            "/api/v1/meetings/{id}/invitees/{}/reissue",
            person["id"]
        )))
        .bearer_auth(a.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        match Client::connect(b.addr, &old, None).await {
            Err(e) if e.code == ErrorCode::TokenRevoked => break,
            _ if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            other => panic!("node B still admits the old link: {:?}", other.err()),
        }
    }
}
