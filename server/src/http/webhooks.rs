//! The webhook part of the admin API (`/api/v1/webhooks`): subscriptions, their delivery
//! log and "send test". Behind `require_admin` like the rest of `/api/v1`, so a staff
//! session's changes are in the audit log. See `docs/webhooks.md`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::ApiError;
use super::console::Caller;
use crate::store::Webhook;
use crate::webhooks::{EVENT_TYPES, new_secret, test_delivery};

/// The longest URL accepted.
const MAX_URL: usize = 2000;
/// Delivery log lines returned at most.
const MAX_LOG: u32 = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route("/webhooks/{id}/test", post(send_test))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_argument", message.into())
}

fn not_found(id: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no webhook {id}"),
    )
}

/// Webhooks are settings: an admin's (the admin key or an admin's session) or an API
/// key's with the scope `webhooks:manage` (checked before), not a clerk's.
fn admin(caller: Option<Extension<Caller>>) -> Result<Caller, ApiError> {
    match caller {
        Some(Extension(c)) if c.admin || c.key => Ok(c),
        _ => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "webhooks are managed by admins".into(),
        )),
    }
}

/// A subscription as the API shows it: never its secret.
fn webhook_json(w: &Webhook) -> serde_json::Value {
    json!({
        "id": w.id, "url": w.url, "types": w.types, "enabled": w.enabled,
        "created_by": w.created_by, "created_at": w.created_at,
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(caller)?;
    let hooks = state.store.webhooks().await?;
    Ok(Json(
        json!({ "webhooks": hooks.iter().map(webhook_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct CreateWebhook {
    url: String,
    /// Event types; all of them when absent.
    types: Option<Vec<String>>,
}

/// Check a receiver's URL: absolute, `http` or `https`, with a host, no user or password.
fn check_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL {
        return Err(bad(format!("a url of 1 to {MAX_URL} characters is needed")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("url {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "url {url:?}: the scheme must be http or https, not {}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("url {url:?}: a host is needed")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(format!(
            "url {url:?}: no user or password in the URL (the signature authenticates us)"
        )));
    }
    Ok(parsed.to_string())
}

async fn create(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Json(body): Json<CreateWebhook>,
) -> Result<Response, ApiError> {
    let caller = admin(caller)?;
    let url = check_url(&body.url)?;
    let types = match body.types {
        None => EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        Some(types) => {
            if types.is_empty() {
                return Err(bad(format!(
                    "types: at least one of {}",
                    EVENT_TYPES.join(", ")
                )));
            }
            let mut out: Vec<String> = Vec::new();
            for t in types {
                if !EVENT_TYPES.contains(&t.as_str()) {
                    return Err(bad(format!(
                        "types: unknown event type {t:?}; known: {}",
                        EVENT_TYPES.join(", ")
                    )));
                }
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            out
        }
    };
    let webhook = Webhook {
        id: format!("wh_{}", crate::auth::random_base32(&mut rand::rng(), 16)),
        url,
        types,
        secret: new_secret(),
        enabled: true,
        created_by: caller.name,
        created_at: i64::try_from(crate::hub::now().0).unwrap_or(i64::MAX),
    };
    state.store.create_webhook(&webhook).await?;
    let mut shown = webhook_json(&webhook);
    shown["secret"] = json!(webhook.secret);
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(caller)?;
    if state.store.delete_webhook(&id).await? {
        Ok(Json(json!({ "deleted": true })))
    } else {
        Err(not_found(&id))
    }
}

#[derive(Deserialize)]
struct LogQuery {
    /// Lines at most (default and maximum 500).
    limit: Option<u32>,
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(caller)?;
    state
        .store
        .webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let limit = query.limit.unwrap_or(MAX_LOG).clamp(1, MAX_LOG);
    let log = state.store.delivery_log(&id, limit).await?;
    Ok(Json(json!({ "deliveries": log })))
}

async fn send_test(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin(caller)?;
    state
        .store
        .webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let delivery = test_delivery(&id);
    let at = i64::try_from(crate::hub::now().0).unwrap_or(i64::MAX);
    state.store.enqueue_delivery(&id, &delivery, at).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": delivery.id, "type": delivery.kind })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host() {
        assert!(check_url("https://platform.example.org/hooks/yishi").is_ok());
        assert!(check_url("http://127.0.0.1:9000/in").is_ok());
        for bad in [
            "",
            "platform.example.org/hooks",
            "ftp://example.org/x",
            "file:///etc/passwd",
            "https://user:pw@example.org/",
            "javascript:alert(1)",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} accepted");
        }
    }
}
