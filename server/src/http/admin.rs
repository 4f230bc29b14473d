//! The admin API under `/api/v1`, for a committee's own systems (履职平台) and operators:
//! rooms, join links, the record and reports. Every call needs `Authorization: Bearer
//! <admin key>`. Documented in `docs/api.md`.

use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use yishi_protocol::{Command, Grant, Participant, Role};

use super::AppState;
use super::console::{Caller, Session};
use crate::auth::Claims;
use crate::hub::{HubError, now};
use crate::minutes::{DOCX_MEDIA_TYPE, MARKDOWN_MEDIA_TYPE, Minutes, to_docx, to_markdown, to_pdf};
use crate::pdf::{PDF_MEDIA_TYPE, PdfError};
use crate::store::{NewRoom, RoomKind, StoredRoom};

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/rooms", get(list_rooms).post(create_room))
        .route("/rooms/{id}", get(get_room))
        .route("/rooms/{id}/close", post(close_room))
        .route("/rooms/{id}/tokens", post(mint_token))
        .route("/rooms/{id}/record", get(record))
        .route("/rooms/{id}/minutes", get(minutes))
        .route("/rooms/{id}/attendance", get(attendance))
        .route("/rooms/{id}/speaking", get(speaking))
        .merge(super::webhooks::routes())
        .layer(middleware::from_fn_with_state(state, require_admin))
}

/// An API error: a status, a stable code and a message.
pub(super) struct ApiError(pub StatusCode, pub &'static str, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "code": self.1, "message": self.2 }))).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::UnknownRoom(id) => not_found(&id),
            HubError::Store(e) => e.into(),
            e @ (HubError::Elsewhere { .. } | HubError::Lease(_) | HubError::Stopping) => ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
        }
    }
}

impl From<PdfError> for ApiError {
    fn from(e: PdfError) -> Self {
        match e {
            PdfError::WorkerMissing { .. } => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "pdf_worker_missing",
                e.to_string(),
            ),
            PdfError::FontMissing { .. } => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "pdf_font_missing",
                e.to_string(),
            ),
            PdfError::Typeset(_) => {
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

/// Typeset a PDF on a blocking thread (it is CPU work, a fraction of a second).
pub(super) async fn typeset<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("typesetting stopped: {e}"),
        )),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", format!("no room {id}"))
}

/// The record and the minutes made from it may also be fetched by a host or recorder of
/// the room with their own join token as the bearer, so the host console can export them
/// without the admin key.
fn may_read_record(state: &AppState, request: &Request) -> bool {
    let Some(bearer) = bearer(request.headers()) else {
        return false;
    };
    let room = request.uri().path().strip_prefix("/rooms/").and_then(|p| {
        p.strip_suffix("/record")
            .or_else(|| p.strip_suffix("/minutes"))
    });
    let Some(room) = room else { return false };
    match state.config.auth.token_keys.decode(bearer, now()) {
        Ok(claims) => claims.room == room && matches!(claims.role, Role::Host | Role::Recorder),
        Err(_) => false,
    }
}

/// The bearer key of a request, if it carries one.
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The admin key, a staff session (with its CSRF token for changes), an API key with
/// the route's scope (let through by `apikeys::authenticate`), or for a room's record and
/// minutes its host's or recorder's join token. What a staff session or an API key
/// changes or exports (the record, the minutes) is written to the audit log.
async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match request.extensions().get::<Caller>() {
        Some(key) => key.clone(),
        None => {
            let admin = bearer(request.headers())
                .is_some_and(|k| same_key(k, &state.config.auth.admin_key));
            if admin {
                request.extensions_mut().insert(Caller::admin_key());
                return next.run(request).await;
            }
            if request.method() == Method::GET && may_read_record(&state, &request) {
                return next.run(request).await;
            }
            if bearer(request.headers()).is_some() {
                return ApiError(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send the admin key as `Authorization: Bearer <key>`".into(),
                )
                .into_response();
            }
            match Session::of(&state, request.method(), request.headers()).await {
                Ok(session) => Caller::staff(session),
                Err(e) => return e.into_response(),
            }
        }
    };
    let path = request.uri().path().to_owned();
    let audited =
        request.method() != Method::GET || path.ends_with("/record") || path.ends_with("/minutes");
    let action = format!("{} /api/v1{path}", request.method());
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    if audited
        && response.status().is_success()
        && let Err(e) = caller.audit(&state, &action, "").await
    {
        tracing::error!(error = %e.2, "audit log not written");
    }
    response
}

/// Whether a given key is the expected one, in time that does not depend on where they
/// differ.
pub(super) fn same_key(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn room_json(r: &StoredRoom) -> serde_json::Value {
    json!({
        "id": r.id, "title": r.title, "kind": r.kind.as_str(), "created_at": r.created_at.0,
        "closed_at": r.closed_at.map(|m| m.0), "final_hash": r.final_hash,
    })
}

async fn list_rooms(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let rooms = state.store.list_rooms().await?;
    Ok(Json(
        json!({ "rooms": rooms.iter().map(room_json).collect::<Vec<_>>() }),
    ))
}

async fn get_room(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let room = state.store.room(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(Json(room_json(&room)))
}

#[derive(Deserialize)]
struct CreateRoom {
    /// Chosen by the caller, or generated.
    id: Option<String>,
    title: String,
    #[serde(default)]
    kind: Option<String>,
}

async fn create_room(
    State(state): State<AppState>,
    Json(body): Json<CreateRoom>,
) -> Result<Response, ApiError> {
    let bad = |m: &str| ApiError(StatusCode::BAD_REQUEST, "invalid_argument", m.to_owned());
    let kind = match body.kind.as_deref() {
        None | Some("consultation") => RoomKind::Consultation,
        Some("lecture") => RoomKind::Lecture,
        Some(_) => return Err(bad("kind is `consultation` or `lecture`")),
    };
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(bad("a title of 1 to 200 characters is needed"));
    }
    let id = body
        .id
        .unwrap_or_else(|| crate::auth::random_base32(&mut rand::rng(), 10));
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad("a room id is 1 to 64 letters, digits, `-` or `_`"));
    }
    if state.store.room(&id).await?.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "conflict",
            format!("room {id} exists"),
        ));
    }
    let room = NewRoom {
        id: id.clone(),
        title: title.to_owned(),
        kind,
        created_at: now(),
        settings: json!({}),
    };
    state.store.create_room(&room).await?;
    let stored = state.store.room(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok((StatusCode::CREATED, Json(room_json(&stored))).into_response())
}

async fn close_room(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match state.hub.admin(&id, Command::CloseSession).await? {
        Ok(seq) => Ok(Json(json!({ "closed": true, "seq": seq }))),
        Err(e) if e.code == yishi_protocol::ErrorCode::RoomClosed => {
            Ok(Json(json!({ "closed": true })))
        }
        Err(e) => Err(ApiError(StatusCode::CONFLICT, e.code.as_str(), e.message)),
    }
}

#[derive(Deserialize)]
struct MintToken {
    role: Role,
    name: Option<String>,
    /// Participant id; generated when absent. `*` with role audience: an anonymous link.
    id: Option<String>,
    sector: Option<String>,
    venue: Option<String>,
    grants: Option<Vec<Grant>>,
    /// Seconds; default 24 hours.
    ttl_s: Option<u64>,
}

async fn mint_token(
    State(state): State<AppState>,
    Path(room): Path<String>,
    Json(body): Json<MintToken>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .store
        .room(&room)
        .await?
        .ok_or_else(|| not_found(&room))?;
    let max = state
        .config
        .auth
        .token_keys
        .max_lifetime()
        .as_secs()
        .max(60);
    let ttl = Duration::from_secs(body.ttl_s.unwrap_or(24 * 3600).clamp(60, max));
    let claims = if body.role == Role::Audience
        && body.id.as_deref().is_none_or(|i| i == "*")
        && body.name.is_none()
    {
        Claims::audience_link(&room, now(), ttl)
    } else {
        let name = body.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                "a name is needed".into(),
            )
        })?;
        let id = body
            .id
            .unwrap_or_else(|| format!("p-{}", crate::auth::random_base32(&mut rand::rng(), 12)));
        let mut p = Participant::new(id, name, body.role);
        p.sector = body.sector;
        p.venue = body.venue;
        if let Some(grants) = body.grants {
            p.grants = grants;
        }
        Claims::new(&room, &p, now(), ttl)
    };
    state
        .config
        .auth
        .token_keys
        .check(&claims)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string()))?;
    let token = state.config.auth.token_keys.mint(&claims);
    let link = state.config.join_link(&room, &token);
    Ok(Json(
        json!({ "participant": claims.sub, "token": token, "link": link, "expires_at": claims.exp }),
    ))
}

/// The record as JSON lines of record entries, the format `yishi record verify` checks.
async fn record(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.store.room(&id).await?.ok_or_else(|| not_found(&id))?;
    let loaded = state.store.load(&id).await?;
    let mut body = String::new();
    for entry in &loaded.entries {
        body.push_str(&serde_json::to_string(entry).unwrap_or_default());
        body.push('\n');
    }
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8")],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
struct MinutesQuery {
    /// `md` (the default), `docx` or `pdf`.
    format: Option<String>,
}

/// The minutes (会议纪要) made from the record in the store, as Markdown, DOCX or PDF,
/// to download.
async fn minutes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<MinutesQuery>,
) -> Result<Response, ApiError> {
    let format = query.format.as_deref().unwrap_or("md");
    if !matches!(format, "md" | "docx" | "pdf") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("format is `md`, `docx` or `pdf`, not {format:?}"),
        ));
    }
    let room = state.store.room(&id).await?.ok_or_else(|| not_found(&id))?;
    let loaded = state.store.load(&id).await?;
    let minutes = Minutes::build(&room, &loaded.entries);
    let (content_type, extension, body) = match format {
        "docx" => {
            let bytes = to_docx(&minutes).map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("cannot write the document: {e}"),
                )
            })?;
            (DOCX_MEDIA_TYPE, "docx", bytes)
        }
        "pdf" => {
            let pdf = state.config.reports.pdf.clone();
            let bytes = typeset(move || to_pdf(&minutes, &pdf)).await?;
            (PDF_MEDIA_TYPE, "pdf", bytes)
        }
        _ => (
            MARKDOWN_MEDIA_TYPE,
            "md",
            to_markdown(&minutes).into_bytes(),
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&room.id, &room.title, extension),
            ),
        ],
        body,
    )
        .into_response())
}

/// `Content-Disposition` of minutes to download: an ASCII name from the room id, and the
/// title in UTF-8 (RFC 6266) for browsers, which prefer it.
fn attachment(id: &str, title: &str, extension: &str) -> String {
    let ascii: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    disposition(
        &format!("minutes-{ascii}.{extension}"),
        &format!("{title}-会议纪要.{extension}"),
    )
}

/// `Content-Disposition` of a file to download: `ascii` for old clients, and `name` in
/// UTF-8 (RFC 6266), which browsers prefer.
pub(super) fn disposition(ascii: &str, name: &str) -> String {
    let mut utf8 = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            utf8.push(char::from(b));
        } else {
            utf8.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{utf8}")
}

/// The room as a host sees it now, for the reports.
async fn host_view(state: &AppState, id: &str) -> Result<yishi_protocol::RoomSnapshot, ApiError> {
    state.hub.inspect(id).await?.ok_or_else(|| not_found(id))
}

async fn attendance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = host_view(&state, &id).await?;
    Ok(Json(json!({ "seq": s.seq, "attendance": s.attendance })))
}

async fn speaking(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = host_view(&state, &id).await?;
    Ok(Json(json!({ "seq": s.seq, "speaking": s.speaking })))
}
