//! Scoped API keys against a real server over real HTTP: an admin makes one in a staff
//! session, a machine uses it as a bearer on the routes its scopes allow and nowhere
//! else; revoked and expired keys are refused with their codes; its changes are audited
//! under its name; the store keeps no secret. And the idle expiry of staff sessions. On
//! SQLite, and on PostgreSQL with `YISHI_TEST_PG`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::staff::Staff;
use common::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yishi::hub::{HubConfig, now};
use yishi::staff::StaffRole;

/// A call with `Authorization: Bearer <key>`: the status, the code and the answer.
async fn with_key(
    server: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String, String) {
    let mut r = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code, text)
}

/// An admin makes a key; its id and secret.
async fn make_key(admin: &Staff, name: &str, scopes: &[&str], days: Option<u32>) -> (i64, String) {
    let (status, body) = admin
        .post(
            "/api/v1/api-keys",
            json!({ "name": name, "scopes": scopes, "expires_in_days": days }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("yk_") && secret.len() > 40, "{secret}");
    (body["id"].as_i64().unwrap(), secret)
}

async fn scoped_keys(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.staff("王主任", StaffRole::Admin).await;
    let clerk = server.staff("李干事", StaffRole::Clerk).await;
    server.create_room("r1", "民生议事会").await;

    let (_, reports) = make_key(&admin, "履职平台", &["reports:read"], None).await;
    // Allowed: the participation records and a room's minutes.
    let (status, _, csv) = with_key(
        &server,
        &reports,
        Method::GET,
        "/api/v1/reports/participation?from=2026-01-01&to=2026-12-31&format=csv",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(csv.lines().next().unwrap_or("").contains(','), "{csv}");
    let (status, _, minutes) = with_key(
        &server,
        &reports,
        Method::GET,
        "/api/v1/rooms/r1/minutes",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{minutes}");
    assert!(minutes.contains("民生议事会"), "{minutes}");

    // Not allowed: making a meeting needs meetings:write, named in the answer.
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/meetings"))
        .bearer_auth(&reports)
        .json(&json!({ "title": "不该有的会", "starts_at": now().0 + 3_600_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"meetings:write\""
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "insufficient_scope");
    assert!(body["message"].as_str().unwrap().contains("meetings:write"));
    // Staff accounts, the audit log and the keys themselves: never, whatever the scopes.
    let (_, all) = make_key(
        &admin,
        "全能",
        &[
            "meetings:read",
            "meetings:write",
            "roster:read",
            "roster:write",
            "reports:read",
            "board:read",
            "board:moderate",
            "webhooks:manage",
        ],
        None,
    )
    .await;
    for key in [&reports, &all] {
        for (method, path, body) in [
            (Method::GET, "/api/v1/staff", None),
            (
                Method::POST,
                "/api/v1/staff",
                Some(json!({"name": "x", "role": "admin"})),
            ),
            (Method::GET, "/api/v1/staff/audit", None),
            (Method::GET, "/api/v1/api-keys", None),
            (
                Method::POST,
                "/api/v1/api-keys",
                Some(json!({"name": "more", "scopes": ["roster:read"]})),
            ),
            (Method::DELETE, "/api/v1/api-keys/1", None),
        ] {
            let (status, code, text) = with_key(&server, key, method.clone(), path, body).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path}: {text}"
            );
        }
    }
    // A wrong key: 401 with the usual shape.
    let (status, code, _) = with_key(
        &server,
        "yk_not-a-key-at-all",
        Method::GET,
        "/api/v1/rooms",
        None,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );

    // A change made with a key is audited under its name.
    let (status, _, text) = with_key(
        &server,
        &all,
        Method::POST,
        "/api/v1/meetings",
        Some(json!({ "title": "机器建的会", "starts_at": now().0 + 3_600_000 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let (status, _, text) = with_key(
        &server,
        &all,
        Method::POST,
        "/api/v1/rooms",
        Some(json!({ "id": "r2", "title": "接口建的房间" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let log = server.state.store.audit_log().await.unwrap();
    let by_key: Vec<_> = log.iter().filter(|e| e.staff == "apikey:全能").collect();
    assert!(
        by_key.iter().any(|e| e.action == "POST /api/v1/meetings"),
        "{log:?}"
    );
    assert!(
        by_key.iter().any(|e| e.action == "POST /api/v1/rooms"),
        "{log:?}"
    );
    // Reads are not audited (except the record and the minutes, as for staff).
    assert!(
        by_key.iter().all(|e| e.action.starts_with("POST")),
        "{by_key:?}"
    );
    assert!(
        log.iter()
            .any(|e| e.staff == "apikey:履职平台" && e.action == "GET /api/v1/rooms/r1/minutes"),
        "{log:?}"
    );

    // The list shows who made them, their scopes and their last use.
    let list = admin.get("/api/v1/api-keys").await;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "履职平台")
        .unwrap()
        .clone();
    assert_eq!(row["scopes"], json!(["reports:read"]));
    assert_eq!(row["created_by"], "王主任");
    assert_eq!(row["status"], "active");
    assert!(row["last_used_at"].as_i64().unwrap() > 0, "{row}");
    assert!(
        row.get("secret").is_none() && row.get("digest").is_none(),
        "{row}"
    );

    // A clerk can neither list, make nor revoke keys.
    for (method, path) in [
        (Method::GET, "/api/v1/api-keys"),
        (Method::POST, "/api/v1/api-keys"),
        (Method::DELETE, "/api/v1/api-keys/1"),
    ] {
        let (status, body) = clerk
            .call(
                method.clone(),
                path,
                Some(json!({"name": "c", "scopes": ["roster:read"]})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{method} {path}"
        );
    }
    // Nor can the admin key: keys are made by a person, in a session.
    let r = reqwest::Client::new()
        .get(server.url("/api/v1/api-keys"))
        .bearer_auth(server.admin_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Bad requests get clear codes.
    for body in [
        json!({ "name": "", "scopes": ["roster:read"] }),
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "x", "scopes": ["staff:manage"] }),
        json!({ "name": "x", "scopes": ["roster:read"], "expires_in_days": 0 }),
    ] {
        let (status, answer) = admin.post("/api/v1/api-keys", body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_argument")),
            "{body}"
        );
    }
    let (status, answer) = admin
        .post(
            "/api/v1/api-keys",
            json!({ "name": "履职平台", "scopes": ["roster:read"] }),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    // Revoked: 401 key_revoked, and audited.
    let (id, gateway) = make_key(&admin, "短信网关", &["meetings:read"], Some(30)).await;
    let (status, _, _) = with_key(&server, &gateway, Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin
        .call(Method::DELETE, &format!("/api/v1/api-keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked");
    let (status, code, _) =
        with_key(&server, &gateway, Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "key_revoked")
    );
    let (status, body) = admin
        .call(Method::DELETE, "/api/v1/api-keys/99999", None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let log = server.state.store.audit_log().await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.staff == "王主任" && e.action == "revoke_api_key" && e.target == "短信网关")
    );
    assert!(
        log.iter()
            .any(|e| e.staff == "王主任" && e.action == "add_api_key")
    );

    // Expired: 401 key_expired (made with a one-day expiry, two days ago).
    let (expired, expired_secret) = yishi::apikeys::make(
        &server.state.store,
        "过期的",
        &["meetings:read".to_owned()],
        Some(1),
        "test",
        now().0 as i64 - 2 * 86_400_000,
    )
    .await
    .unwrap();
    assert!(expired.expires_at.unwrap() < now().0 as i64);
    let (status, code, _) = with_key(
        &server,
        &expired_secret,
        Method::GET,
        "/api/v1/meetings",
        None,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "key_expired")
    );

    // The store holds digests, never a secret.
    let dump = table_text(&server).await;
    for secret in [&reports, &all, &gateway, &expired_secret] {
        assert!(!dump.contains(secret.as_str()), "a secret is stored");
        assert!(
            dump.contains(&yishi::staff::digest(secret)),
            "its digest is"
        );
    }
}

/// Every column of every row of `api_keys`, as text.
async fn table_text(server: &TestServer) -> String {
    let rows = if server.database.starts_with("postgres") {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&server.database).await.unwrap();
        let rows: Vec<(String,)> = sqlx::query_as("SELECT k::text FROM api_keys k")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&server.database)
            .await
            .unwrap();
        sqlx::query_as(
            "SELECT id || ' ' || name || ' ' || digest || ' ' || scopes || ' ' || created_by \
             FROM api_keys",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    };
    assert!(rows.len() >= 4, "{rows:?}");
    rows.into_iter()
        .map(|(r,)| r)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn keys_reach_what_their_scopes_allow_and_nothing_else() {
    scoped_keys(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn keys_reach_what_their_scopes_allow_on_postgresql_too() {
    scoped_keys(Backend::Postgres).await;
}

async fn idle_sessions(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let server = TestServer::start_configured(database, dir, HubConfig::default(), |c| {
        c.auth.staff_idle = Duration::from_secs(2);
    })
    .await;
    let idle = server.staff("闲着的", StaffRole::Clerk).await;
    let busy = server.staff("忙着的", StaffRole::Clerk).await;
    // The busy one calls every half second for 3.5 s, past the idle period.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, _) = busy.call(Method::GET, "/api/v1/staff/me", None).await;
        assert_eq!(status, StatusCode::OK, "a session in use stays alive");
    }
    let (status, body) = idle.call(Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized")),
        "a session unused for the idle period is refused"
    );
    let (status, _) = idle.call(Method::GET, "/api/v1/staff/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = busy.call(Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_staff_session_unused_for_the_idle_period_expires() {
    idle_sessions(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn a_staff_session_unused_for_the_idle_period_expires_on_postgresql_too() {
    idle_sessions(Backend::Postgres).await;
}

#[tokio::test]
async fn yishi_apikey_adds_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Sqlite, dir.path()).await;
    let yishi = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_yishi"))
            .args(args)
            .env("YISHI_DATABASE", &database)
            .env("YISHI_DATA_DIR", dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, secret, err) = yishi(&[
        "apikey",
        "add",
        "履职平台",
        "--scope",
        "reports:read",
        "--scope",
        "meetings:read",
        "--expires",
        "90",
    ]);
    assert!(ok, "{err}");
    let secret = secret.trim().to_owned();
    assert!(secret.starts_with("yk_"), "{secret}");
    let (ok, _, err) = yishi(&["apikey", "add", "x", "--scope", "staff:manage"]);
    assert!(!ok && err.contains("unknown scope"), "{err}");
    let (ok, list, err) = yishi(&["apikey", "list"]);
    assert!(ok, "{err}");
    assert!(
        list.contains("履职平台\tmeetings:read reports:read\tcli"),
        "{list}"
    );
    assert!(!list.contains(&secret), "{list}");
    // The key works on a server of that store.
    let server = TestServer::start_on(
        database.clone(),
        tempfile::tempdir().unwrap(),
        HubConfig::default(),
    )
    .await;
    let (status, _, _) = with_key(&server, &secret, Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(status, StatusCode::OK);
    let (ok, out, err) = yishi(&["apikey", "revoke", "履职平台"]);
    assert!(ok && out.contains("revoked"), "{err}");
    let (status, code, _) = with_key(&server, &secret, Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "key_revoked")
    );
    let (ok, _, err) = yishi(&["apikey", "revoke", "没有这个"]);
    assert!(!ok && err.contains("no API key"), "{err}");
}
