//! Scoped API keys over HTTP: the layer that lets a key's bearer through to the routes
//! its scopes allow (every `/api/v1` request carrying `Authorization: Bearer yk_…`), and
//! `/api/v1/api-keys`, where an admin with a staff session makes, lists and revokes keys.
//! Rules in `crate::apikeys`; documented in `docs/api.md`.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::admin::{ApiError, bearer, same_key};
use super::console::{Caller, Session};
use crate::apikeys::{self, PREFIX, Standing};
use crate::hub::now;
use crate::staff;
use crate::store::{ApiKey, StoreError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{id}", delete(revoke))
}

/// For a request under `/api/v1` with a key's bearer: the key must be known, neither
/// revoked nor expired, and hold the scope its route needs ([`apikeys::ROUTES`]); then
/// the handler sees it as its [`Caller`]. Other requests pass untouched.
pub(super) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(secret) = bearer(request.headers()).filter(|b| b.starts_with(PREFIX)) else {
        return next.run(request).await;
    };
    if !request.uri().path().starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let digest = staff::digest(secret);
    let key = match state.store.api_key_by_digest(&digest).await {
        Ok(Some(key)) if same_key(&key.digest, &digest) => key,
        Ok(_) => {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown API key: send a key an admin made, as `Authorization: Bearer yk_…`".into(),
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let at = now().0 as i64;
    match apikeys::standing(key.expires_at, key.revoked_at, at) {
        Standing::Active => {}
        Standing::Revoked => {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "key_revoked",
                format!("the API key {:?} was revoked", key.name),
            )
            .into_response();
        }
        Standing::Expired => {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "key_expired",
                format!("the API key {:?} has expired", key.name),
            )
            .into_response();
        }
    }
    let Some(scope) = apikeys::required_scope(request.method().as_str(), request.uri().path())
    else {
        return ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "an API key cannot do this: it needs a staff session".into(),
        )
        .into_response();
    };
    if !key.scopes.contains(&scope) {
        let mut response = ApiError(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this needs an API key with the scope {scope}"),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
        )) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return response;
    }
    if apikeys::should_touch(key.last_used_at, at)
        && let Err(e) = state.store.touch_api_key(key.id, at).await
    {
        tracing::warn!(error = %e, "API key's last use not written");
    }
    request.extensions_mut().insert(Caller::api_key(&key.name));
    next.run(request).await
}

fn key_json(key: &ApiKey, at: i64) -> Value {
    let standing = match apikeys::standing(key.expires_at, key.revoked_at, at) {
        Standing::Active => "active",
        Standing::Expired => "expired",
        Standing::Revoked => "revoked",
    };
    json!({
        "id": key.id,
        "name": key.name,
        "scopes": key.scopes,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "status": standing,
    })
}

async fn list(
    State(state): State<AppState>,
    method: Method,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Session::of(&state, &method, &headers).await?.admin()?;
    let at = now().0 as i64;
    let keys = state.store.api_keys().await?;
    Ok(Json(json!(
        keys.iter().map(|k| key_json(k, at)).collect::<Vec<_>>()
    )))
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    scopes: Vec<String>,
    /// Days until it expires; never when absent.
    expires_in_days: Option<u32>,
}

/// Make a key; the answer holds its secret, which is never shown again.
async fn create(
    State(state): State<AppState>,
    method: Method,
    headers: axum::http::HeaderMap,
    Json(body): Json<NewKey>,
) -> Result<Response, ApiError> {
    let session = Session::of(&state, &method, &headers).await?.admin()?;
    let at = now().0 as i64;
    let made = apikeys::make(
        &state.store,
        &body.name,
        &body.scopes,
        body.expires_in_days,
        &session.staff.name,
        at,
    )
    .await
    .map_err(|e| match e {
        apikeys::MakeError::Key(e) => {
            ApiError(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string())
        }
        apikeys::MakeError::Store(StoreError::KeyExists(name)) => ApiError(
            StatusCode::CONFLICT,
            "conflict",
            format!("an API key named {name:?} exists already: choose another name"),
        ),
        apikeys::MakeError::Store(e) => e.into(),
    })?;
    state
        .store
        .audit(
            at,
            &session.staff.name,
            "add_api_key",
            &format!("{} ({})", made.0.name, apikeys::join_scopes(&made.0.scopes)),
        )
        .await?;
    let mut answer = key_json(&made.0, at);
    answer["secret"] = json!(made.1);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn revoke(
    State(state): State<AppState>,
    method: Method,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let session = Session::of(&state, &method, &headers).await?.admin()?;
    let at = now().0 as i64;
    let key = state
        .store
        .revoke_api_key(&id.to_string(), at)
        .await?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no API key {id}"),
            )
        })?;
    state
        .store
        .audit(at, &session.staff.name, "revoke_api_key", &key.name)
        .await?;
    Ok(Json(key_json(&key, at)))
}
