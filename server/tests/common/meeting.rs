//! A meeting prepared over the API as the committee office does it (the roster imported,
//! the meeting created, members and a chair invited), joined with the invitees' links.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Client, TestServer};

/// A request with the admin key that must succeed: its JSON answer.
pub async fn admin(server: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut r = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(server.admin_key());
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// A prepared meeting: its room, and each invitee's join token by name.
pub struct Prepared {
    pub room: String,
    tokens: HashMap<String, String>,
}

impl Prepared {
    /// Join as invitee `name`, with the token of their link.
    pub async fn join(&self, server: &TestServer, name: &str) -> Client {
        let token = &self.tokens[name];
        Client::connect(server.addr, token, None)
            .await
            .expect("welcome")
    }
}

/// Import `roster` (CSV), create the meeting `meeting` (the API's JSON), invite the
/// roster's `members` as members and `chair` as its host.
pub async fn prepare(
    server: &TestServer,
    roster: &str,
    meeting: Value,
    members: &[&str],
    chair: &str,
) -> Prepared {
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/roster/import?filename=roster.csv"))
        .bearer_auth(server.admin_key())
        .body(roster.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let listed = admin(server, Method::GET, "/api/v1/roster", None).await;
    let id_of = |name: &str| {
        listed["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    let created = admin(server, Method::POST, "/api/v1/meetings", Some(meeting)).await;
    let room = created["id"].as_str().unwrap().to_owned();
    let members: Vec<Value> = members
        .iter()
        .map(|name| json!({ "id": id_of(name), "role": "member" }))
        .collect();
    let invited = admin(
        server,
        Method::POST,
        &format!("/api/v1/meetings/{room}/invitees"),
        Some(json!({ "members": members, "people": [{ "name": chair, "role": "host" }] })),
    )
    .await;
    let tokens = invited["invitees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let link = p["link"].as_str().unwrap();
            let token = link.split("token=").nth(1).unwrap();
            (p["name"].as_str().unwrap().to_owned(), token.to_owned())
        })
        .collect();
    Prepared { room, tokens }
}
