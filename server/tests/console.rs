//! Staff accounts of the committee office over real HTTP: a one-time link sets the
//! password, a login gives an HttpOnly SameSite=Strict session whose changes need its
//! CSRF token, admins manage staff and read the audit log and clerks do not, repeated
//! wrong passwords lock the account, and `yishi staff add` prints a working link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::staff::{self, Staff};
use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use yishi::hub::now;
use yishi::staff::StaffRole;
use yishi::store::{Store, TokenPurpose};

/// Add an account with a password, through its one-time link as a person would.
async fn account(server: &TestServer, name: &str, role: StaffRole, password: &str) {
    let secret = yishi::staff::invite(&server.state.store, name, role, now().0 as i64)
        .await
        .unwrap();
    let r = staff::set_password(&server.url(""), &secret, password).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn login(server: &TestServer, name: &str, password: &str) -> reqwest::Response {
    staff::login(&server.url(""), name, password).await
}

async fn session(server: &TestServer, name: &str, password: &str) -> Staff {
    Staff::logged_in(&server.url(""), name, password).await
}

async fn code(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn a_link_sets_the_password_once_and_a_session_needs_its_csrf_token_for_changes() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = yishi::staff::invite(
        &server.state.store,
        "王秘书",
        StaffRole::Clerk,
        now().0 as i64,
    )
    .await
    .unwrap();
    let set = |password: &'static str| {
        http()
            .post(server.url("/api/v1/staff/password"))
            .json(&json!({ "token": secret, "password": password }))
            .send()
    };
    // Too short: refused, and the link is not spent.
    assert_eq!(
        code(set("short").await.unwrap()).await.1,
        "invalid_argument"
    );
    assert_eq!(
        set("一把足够长的钥匙123").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    // Spent.
    assert_eq!(
        code(set("another long one").await.unwrap()).await,
        (StatusCode::UNAUTHORIZED, "link_invalid".into())
    );

    assert_eq!(
        code(login(&server, "王秘书", "wrong password").await).await,
        (StatusCode::UNAUTHORIZED, "bad_credentials".into())
    );
    assert_eq!(
        code(login(&server, "nobody", "wrong password").await).await,
        (StatusCode::UNAUTHORIZED, "bad_credentials".into())
    );

    let r = login(&server, "王秘书", "一把足够长的钥匙123").await;
    let set_cookie = r.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "yishi_staff=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=43200",
    ] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP here: {set_cookie}"
    );
    let s = session(&server, "王秘书", "一把足够长的钥匙123").await;

    let me: Value = http()
        .get(server.url("/api/v1/staff/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("王秘书"), Some("clerk"))
    );

    // The admin API with the session: reading needs no CSRF token, a change does.
    let list = http()
        .get(server.url("/api/v1/rooms"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let create = |csrf: Option<&str>| {
        let mut r = http()
            .post(server.url("/api/v1/rooms"))
            .header("cookie", &s.cookie)
            .json(&json!({ "title": "城市更新专题协商会", "id": "by-clerk" }));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    assert_eq!(
        code(create(None).await.unwrap()).await,
        (StatusCode::FORBIDDEN, "csrf".into())
    );
    assert_eq!(
        code(create(Some("forged")).await.unwrap()).await,
        (StatusCode::FORBIDDEN, "csrf".into())
    );
    assert!(
        server.state.store.room("by-clerk").await.unwrap().is_none(),
        "nothing made without the token"
    );
    assert!(create(Some(&s.csrf)).await.unwrap().status().is_success());
    assert!(server.state.store.room("by-clerk").await.unwrap().is_some());

    // Without a session or key nothing answers.
    for path in [
        "/api/v1/rooms",
        "/api/v1/staff/me",
        "/api/v1/staff",
        "/api/v1/staff/audit",
    ] {
        let r = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = http()
            .get(server.url(path))
            .header("cookie", "yishi_staff=made-up")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{path} with a made-up cookie"
        );
    }

    // Logout needs the CSRF token too, and ends the session.
    let out = http()
        .post(server.url("/api/v1/staff/logout"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::FORBIDDEN);
    let out = http()
        .post(server.url("/api/v1/staff/logout"))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let me = http()
        .get(server.url("/api/v1/staff/me"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admins_manage_staff_and_read_the_audit_log_clerks_do_not() {
    let server = TestServer::start(Backend::Sqlite).await;
    account(&server, "admin", StaffRole::Admin, "admin password 1").await;
    account(&server, "clerk", StaffRole::Clerk, "clerk password 1").await;
    let admin = session(&server, "admin", "admin password 1").await;
    let clerk = session(&server, "clerk", "clerk password 1").await;

    let add = |s: &Staff| {
        http()
            .post(server.url("/api/v1/staff"))
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf)
            .json(&json!({ "name": "李干事", "role": "clerk" }))
            .send()
    };
    assert_eq!(
        code(add(&clerk).await.unwrap()).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    for path in ["/api/v1/staff", "/api/v1/staff/audit"] {
        let r = http()
            .get(server.url(path))
            .header("cookie", &clerk.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} for a clerk");
    }
    let added: Value = add(&admin).await.unwrap().json().await.unwrap();
    let link = added["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/console#set-password=", server.url(""))),
        "{link}"
    );

    // A clerk's change through the admin API is audited with who made it.
    let made = http()
        .post(server.url("/api/v1/rooms"))
        .header("cookie", &clerk.cookie)
        .header("x-csrf-token", &clerk.csrf)
        .json(&json!({ "title": "协商会", "id": "audited" }))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());

    let log: Value = http()
        .get(server.url("/api/v1/staff/audit"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["staff"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("admin", "set_password"),
        ("admin", "login"),
        ("clerk", "login"),
        ("admin", "add_staff"),
        ("clerk", "POST /api/v1/rooms"),
    ] {
        assert!(
            lines.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {lines:?}"
        );
    }
    let csv = http()
        .get(server.url("/api/v1/staff/audit?format=csv"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("\u{feff}id,at,time,staff,action,target\n")
            && csv.contains("clerk,POST /api/v1/rooms"),
        "{csv}"
    );
}

async fn lockout(backend: Backend) {
    let server = TestServer::start(backend).await;
    account(&server, "clerk", StaffRole::Clerk, "the right password").await;
    for _ in 0..yishi::staff::MAX_FAILURES {
        assert_eq!(
            code(login(&server, "clerk", "a wrong password").await)
                .await
                .1,
            "bad_credentials"
        );
    }
    assert_eq!(
        code(login(&server, "clerk", "the right password").await).await,
        (StatusCode::LOCKED, "locked".into())
    );
    // An admin's new link (a reset) unlocks it.
    account(&server, "clerk", StaffRole::Clerk, "a new right password").await;
    assert_eq!(
        login(&server, "clerk", "a new right password")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_even_against_the_right_one() {
    lockout(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn five_wrong_passwords_lock_the_account_on_postgresql_too() {
    lockout(Backend::Postgres).await;
}

#[tokio::test]
async fn logins_from_one_address_are_rate_limited() {
    let server = TestServer::start(Backend::Sqlite).await;
    // Sent at once, so the quota (10 a minute) does not refill meanwhile, however slow
    // the machine is at checking passwords.
    let attempts = (0..15).map(|_| async {
        code(login(&server, "nobody", "some password").await)
            .await
            .1
    });
    let codes = futures_util::future::join_all(attempts).await;
    let wrong = codes.iter().filter(|c| *c == "bad_credentials").count();
    let limited = codes.iter().filter(|c| *c == "rate_limited").count();
    assert_eq!(wrong + limited, 15, "{codes:?}");
    assert!(wrong >= 10 && limited >= 1, "{codes:?}");
}

#[tokio::test]
async fn yishi_staff_add_prints_a_link_whose_secret_sets_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("yishi.db").display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"))
        .args(["staff", "add", "王秘书", "--role", "admin"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("YISHI_DATABASE", &database)
        .env("YISHI_DATA_DIR", dir.path())
        .env("YISHI_PUBLIC_URL", "https://yishi.example.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap();
    let secret = link
        .trim()
        .strip_prefix("https://yishi.example.org/console#set-password=")
        .unwrap_or_else(|| panic!("a set-password link: {link}"));
    let store = Store::open(&database).await.unwrap();
    let (account, _) = store
        .staff_token(
            &yishi::staff::digest(secret),
            TokenPurpose::Password,
            now().0 as i64,
        )
        .await
        .unwrap()
        .expect("the link's secret is a live set-password token");
    assert_eq!(
        (account.name.as_str(), account.role),
        ("王秘书", StaffRole::Admin)
    );
    assert!(account.password_hash.is_none());
}
