//! The board's (码上议事) requests, for the board and studio tests: a resident's
//! identity, their commands, and the staff's commands.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestServer;
use super::staff::Staff;

/// A resident who chose a display name: their cookie (HttpOnly, SameSite=Strict).
pub async fn resident(server: &TestServer, name: &str) -> String {
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/board/identity"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set = r.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    set.split(';').next().unwrap().to_owned()
}

/// How a request says who it is: a resident's cookie or a bearer token.
pub enum Who<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
    Nobody,
}

/// A request to the board's API: its status and JSON answer (`null` if none).
pub async fn call(
    server: &TestServer,
    who: &Who<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new().request(method, server.url(path));
    r = match who {
        Who::Cookie(c) => r.header("cookie", *c),
        Who::Bearer(t) => r.bearer_auth(t),
        Who::Nobody => r,
    };
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A resident's (or member's) command.
pub async fn command(server: &TestServer, who: &Who<'_>, body: Value) -> (StatusCode, Value) {
    call(
        server,
        who,
        Method::POST,
        "/api/v1/board/commands",
        Some(body),
    )
    .await
}

/// A staff command that must succeed: its answer.
pub async fn staff_ok(staff: &Staff, body: Value) -> Value {
    let (status, answer) = staff
        .post("/api/v1/board/staff/commands", body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body} → {answer}");
    answer
}
