//! A staff member (会务组) logged in to the console over real HTTP: invited, password set
//! through the one-time link, logged in; requests carry the session cookie and the CSRF
//! token as the console's do.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use yishi::hub::now;
use yishi::staff::{self, StaffRole};
use yishi::store::Store;

/// The password `Staff::invited` sets.
pub const PASSWORD: &str = "一把足够长的钥匙123";

/// A logged-in session on the server at `base` (`http://host:port`).
pub struct Staff {
    base: String,
    pub cookie: String,
    pub csrf: String,
}

/// `POST /api/v1/staff/login`, the answer as it comes.
pub async fn login(base: &str, name: &str, password: &str) -> Response {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/staff/login"))
        .json(&json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Sets the password of the account whose one-time link holds `secret`.
pub async fn set_password(base: &str, secret: &str, password: &str) -> Response {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/staff/password"))
        .json(&json!({ "token": secret, "password": password }))
        .send()
        .await
        .unwrap()
}

impl Staff {
    /// Adds the account to `store`, sets its password (`PASSWORD`) and logs in.
    pub async fn invited(base: &str, store: &Store, name: &str, role: StaffRole) -> Staff {
        let secret = staff::invite(store, name, role, now().0 as i64)
            .await
            .unwrap();
        let r = set_password(base, &secret, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        Staff::logged_in(base, name, PASSWORD).await
    }

    /// Logs an existing account in.
    pub async fn logged_in(base: &str, name: &str, password: &str) -> Staff {
        let r = login(base, name, password).await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = r.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: Value = r.json().await.unwrap();
        Staff {
            base: base.to_owned(),
            cookie,
            csrf: body["csrf"].as_str().unwrap().to_owned(),
        }
    }

    /// A request to `path` with the session's cookie and CSRF token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
    }

    /// Sends `body` (if any) as JSON; the status and the JSON answer (`Null` if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.request(method, path);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET path`, which must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
}
