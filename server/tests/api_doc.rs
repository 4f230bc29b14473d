//! The OpenAPI description in docs/api.md against the running server: every operation it
//! documents under `/api/v1` is a route (the server answers it with something other than
//! 404 or 405, without credentials), and every route of the admin and staff API is
//! documented. And the scope each operation names for API keys is the one the server
//! asks for: a key without it gets 403 `insufficient_scope`, a key with it gets through,
//! and no key reaches an operation that names none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yishi::apikeys::Scope;
use yishi::staff::StaffRole;

/// The (method, path) pairs of the OpenAPI block, read line by line: paths are the keys
/// indented by two spaces under `paths:`, operations the HTTP methods by four.
fn documented() -> Vec<(Method, String)> {
    secured().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// How an operation may be called, as its `security` says (the document's default when
/// it has none).
#[derive(Debug, Clone, PartialEq)]
enum Security {
    /// `security: []`: anyone.
    Public,
    /// Not with an API key.
    NoKey,
    /// With an API key holding this scope (or otherwise).
    Key(String),
}

/// Every operation of the OpenAPI block with its security.
fn secured() -> Vec<(Method, String, Security)> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    let yaml = doc
        .split("```yaml")
        .nth(1)
        .expect("an OpenAPI block")
        .split("```")
        .next()
        .unwrap();
    let mut out: Vec<(Method, String, Security)> = Vec::new();
    let mut in_paths = false;
    let mut path = String::new();
    for line in yaml.lines() {
        if line == "paths:" {
            in_paths = true;
        } else if in_paths && !line.starts_with(' ') && !line.is_empty() {
            break;
        } else if in_paths && line.starts_with("  /") && line.ends_with(':') {
            path = line.trim().trim_end_matches(':').to_owned();
        } else if in_paths
            && let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && ["get", "post", "put", "patch", "delete"].contains(&m)
            && let Ok(method) = m.to_uppercase().parse::<Method>()
        {
            out.push((method, path.clone(), Security::NoKey));
        } else if in_paths && line == "      security: []" {
            out.last_mut().unwrap().2 = Security::Public;
        } else if in_paths
            && let Some(scope) = line
                .strip_prefix("        - apiKey: [")
                .and_then(|l| l.strip_suffix(']'))
        {
            out.last_mut().unwrap().2 = Security::Key(scope.to_owned());
        }
    }
    out
}

/// The routes the server has under `/api/v1`, as written in its router.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/rooms"),
    ("POST", "/api/v1/rooms"),
    ("GET", "/api/v1/rooms/{id}"),
    ("POST", "/api/v1/rooms/{id}/close"),
    ("POST", "/api/v1/rooms/{id}/tokens"),
    ("GET", "/api/v1/rooms/{id}/record"),
    ("GET", "/api/v1/rooms/{id}/minutes"),
    ("GET", "/api/v1/rooms/{id}/attendance"),
    ("GET", "/api/v1/rooms/{id}/speaking"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/{id}"),
    ("GET", "/api/v1/webhooks/{id}/deliveries"),
    ("POST", "/api/v1/webhooks/{id}/test"),
    ("GET", "/api/v1/staff"),
    ("POST", "/api/v1/staff"),
    ("POST", "/api/v1/staff/password"),
    ("POST", "/api/v1/staff/login"),
    ("POST", "/api/v1/staff/logout"),
    ("GET", "/api/v1/staff/me"),
    ("GET", "/api/v1/staff/audit"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/{id}"),
    ("GET", "/api/v1/roster"),
    ("POST", "/api/v1/roster/import/preview"),
    ("POST", "/api/v1/roster/import"),
    ("GET", "/api/v1/roster/export"),
    ("PATCH", "/api/v1/roster/{id}"),
    ("GET", "/api/v1/meetings"),
    ("POST", "/api/v1/meetings"),
    ("GET", "/api/v1/meetings/{id}"),
    ("PUT", "/api/v1/meetings/{id}"),
    ("POST", "/api/v1/meetings/{id}/duplicate"),
    ("POST", "/api/v1/meetings/{id}/host"),
    ("POST", "/api/v1/meetings/{id}/invitees"),
    ("DELETE", "/api/v1/meetings/{id}/invitees/{who}"),
    ("POST", "/api/v1/meetings/{id}/invitees/{who}/reissue"),
    ("GET", "/api/v1/meetings/{id}/invitees/{who}/qr.svg"),
    ("GET", "/api/v1/reports/participation"),
    ("GET", "/api/v1/reports/statistics"),
    ("GET", "/api/v1/board/topics"),
    ("GET", "/api/v1/board/topics/{id}"),
    ("POST", "/api/v1/board/identity"),
    ("POST", "/api/v1/board/commands"),
    ("GET", "/api/v1/board/feed"),
    ("POST", "/api/v1/board/staff/commands"),
    ("GET", "/api/v1/board/staff/queue"),
    ("GET", "/api/v1/board/staff/shortlist"),
    ("GET", "/api/v1/board/staff/review"),
    ("POST", "/api/v1/board/staff/review/meeting"),
    ("GET", "/api/v1/board/studios"),
    ("GET", "/api/v1/board/studios/{member}"),
    ("GET", "/api/v1/board/studios/{member}/qr.svg"),
    ("GET", "/api/v1/board/staff/overdue"),
    ("GET", "/api/v1/board/studios/{member}/duty/{slot}/audience"),
    ("POST", "/api/v1/board/studios/{member}/duty/{slot}/host"),
    ("GET", "/api/v1/board/staff/duty"),
    ("GET", "/api/v1/board/staff/reports"),
    ("POST", "/api/v1/board/staff/photos"),
    ("GET", "/api/v1/board/photos/{id}"),
];

#[tokio::test]
async fn every_documented_operation_is_a_route_and_every_route_is_documented() {
    let ops = documented();
    assert!(ops.len() >= 15, "the OpenAPI block was read: {ops:?}");
    let server = TestServer::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    for (method, path) in ops.iter().filter(|(_, p)| p.starts_with("/api/v1")) {
        let url = server.url(&path.replace("{id}", "no-such-room"));
        let r = http
            .request(method.clone(), &url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(
            r.status() != StatusCode::NOT_FOUND && r.status() != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but answers {}",
            r.status()
        );
    }
    // A path that is not a route does answer 404, so the check above can fail.
    let r = http
        .get(server.url("/api/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    for (method, path) in ROUTES {
        assert!(
            ops.iter().any(|(m, p)| m.as_str() == *method && p == path),
            "{method} {path} is a route but not in docs/api.md's OpenAPI"
        );
    }
}

/// A call with a key: the status and the code of the answer.
async fn call(server: &TestServer, key: &str, method: &Method, path: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .request(method.clone(), server.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn every_operation_asks_api_keys_for_the_scope_it_documents() {
    let ops = secured();
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.staff("王主任", StaffRole::Admin).await;
    let make = async |name: &str, scopes: Vec<&str>| {
        let (status, body) = admin
            .post(
                "/api/v1/api-keys",
                json!({ "name": name, "scopes": scopes }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["secret"].as_str().unwrap().to_owned()
    };
    let all = make("all", Scope::ALL.iter().map(|s| s.as_str()).collect()).await;
    let mut keyed = 0;
    for (method, path, security) in &ops {
        if !path.starts_with("/api/v1") {
            continue;
        }
        let url = path.replace("{id}", "no-such-room").replace("{who}", "1");
        let (status, code) = call(&server, &all, method, &url).await;
        match security {
            Security::Public => {}
            Security::NoKey => assert_eq!(
                (status, code.as_str()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path} names no scope, yet a key gets through"
            ),
            Security::Key(scope) => {
                keyed += 1;
                assert!(
                    Scope::ALL.iter().any(|s| s.as_str() == scope),
                    "{method} {path}: unknown scope {scope}"
                );
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path}: a key with every scope gets {status} {code}"
                );
                let others: Vec<&str> = Scope::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .filter(|s| s != scope)
                    .collect();
                let without = make(&format!("without {scope} {keyed}"), others).await;
                let (status, code) = call(&server, &without, method, &url).await;
                assert_eq!(
                    (status, code.as_str()),
                    (StatusCode::FORBIDDEN, "insufficient_scope"),
                    "{method} {path} documents {scope}, yet a key without it gets through"
                );
            }
        }
    }
    assert_eq!(
        keyed,
        yishi::apikeys::ROUTES.len(),
        "every scoped route is documented with its scope"
    );
}
