//! The livestream's routes (see `docs/livestream.md`):
//!
//! - `POST /live/{room}` and `DELETE /live/{room}` start and stop a room's livestream,
//!   for the room's host (their join token as the bearer) or an operator (the admin key);
//! - `GET /live/{room}/recordings/{file}` serves an archived recording of its stage
//!   (`stage-<ms>.ts`, named in the record with its SHA-256) to the same callers, the
//!   room's recorders and the committee office's staff (their console session);
//! - `GET /live/{room}/{file}` serves its playlist (`index.m3u8`, cached one second) and
//!   segments (`segN.ts`, immutable), to anyone, with CORS for web players and byte
//!   ranges, so a CDN or a caching proxy can sit in front. 404 while it is off.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use yishi_protocol::{LivestreamEnd, Participant, Role};

use super::AppState;
use super::admin::{ApiError, bearer, same_key};
use super::console::{Caller, Session};
use crate::hub::now;
use crate::live::{LiveError, Livestreams};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/live/{room}", post(start).delete(stop))
        .route("/live/{room}/recordings/{file}", get(recording))
        .route("/live/{room}/push", get(push_status).put(set_push))
        .route("/live/{room}/{file}", get(file).options(preflight))
}

/// Who controls a livestream: the operator, or a host of the room.
enum Controller {
    Operator,
    Host(Participant),
}

impl Controller {
    fn participant(self) -> Option<Participant> {
        match self {
            Controller::Operator => None,
            Controller::Host(p) => Some(p),
        }
    }
}

/// The admin key, or a join token of a host of `room` (or of one of `roles`).
fn caller(
    state: &AppState,
    headers: &HeaderMap,
    room: &str,
    roles: &[Role],
) -> Result<Controller, ApiError> {
    let Some(key) = bearer(headers) else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a host's join token (or the admin key) as `Authorization: Bearer <token>`".into(),
        ));
    };
    if same_key(key, &state.config.auth.admin_key) {
        return Ok(Controller::Operator);
    }
    match state.config.auth.token_keys.decode(key, now()) {
        Ok(claims) if claims.room == room && roles.contains(&claims.role) => {
            Ok(Controller::Host(claims.participant()))
        }
        _ => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only a host of {room} controls its livestream"),
        )),
    }
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::NoMedia => ApiError(StatusCode::CONFLICT, "no_media", e.to_string()),
            LiveError::Closed => ApiError(StatusCode::CONFLICT, "session_closed", e.to_string()),
            LiveError::NotLive => ApiError(StatusCode::CONFLICT, "not_live", e.to_string()),
            LiveError::BadTarget(_) => {
                ApiError(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string())
            }
            LiveError::Io(_) => {
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

async fn start(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = caller(&state, &headers, &room, &[Role::Host])?;
    state.live.start(&room, by.participant()).await?;
    Ok(Json(json!({ "live": true, "playlist": Livestreams::playlist(&room) })).into_response())
}

async fn stop(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let by = caller(&state, &headers, &room, &[Role::Host])?;
    let stopped = state
        .live
        .stop(&room, by.participant(), LivestreamEnd::Stopped)
        .await?;
    Ok(Json(json!({
        "live": false,
        "was_live": stopped.was_live,
        "recording": stopped.recording,
    }))
    .into_response())
}

#[derive(serde::Deserialize)]
struct PushTargets {
    targets: Vec<String>,
}

/// Set the room's RTMP push targets (replacing the ones it had; `[]` ends them).
async fn set_push(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    Json(body): Json<PushTargets>,
) -> Result<Response, ApiError> {
    caller(&state, &headers, &room, &[Role::Host])?;
    state.live.set_push(&room, body.targets).await?;
    Ok(Json(json!({ "targets": state.live.push_status(&room) })).into_response())
}

/// What each push target does now: `connecting`, `live`, `retrying` (with the last
/// error) or `ended`.
async fn push_status(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller(&state, &headers, &room, &[Role::Host])?;
    Ok(Json(json!({ "targets": state.live.push_status(&room) })).into_response())
}

/// An archived recording, whole (they are large: a player or `curl -C -` may ask for a
/// range, which the file route's rules answer).
async fn recording(
    State(state): State<AppState>,
    Path((room, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // The committee office downloads it from the console: a staff session (its cookie;
    // a GET needs no CSRF token), written to the audit log.
    if bearer(&headers).is_none()
        && let Ok(session) = Session::of(&state, &Method::GET, &headers).await
    {
        Caller::staff(session)
            .audit(&state, "livestream.recording", &format!("{room}/{file}"))
            .await?;
    } else {
        caller(&state, &headers, &room, &[Role::Host, Role::Recorder])?;
    }
    let Some(path) = state.live.recording(&room, &file).await else {
        return Ok(not_found());
    };
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return Ok(not_found());
    };
    // Streamed in 64 KiB chunks: a recording may be gigabytes.
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// What a file of the livestream is, by its name: only the playlists and segments the
/// worker writes (`index.m3u8` and `segN.ts`, the audio-only `audio.m3u8` and
/// `audioN.ts`), never a path.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Playlist,
    Segment,
}

fn kind_of(file: &str) -> Option<Kind> {
    if file == crate::live::PLAYLIST || file == crate::live::AUDIO_PLAYLIST {
        return Some(Kind::Playlist);
    }
    let n = file.strip_suffix(".ts")?;
    let n = n.strip_prefix("seg").or_else(|| n.strip_prefix("audio"))?;
    (!n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
        .then_some(Kind::Segment)
}

fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Range"),
    );
}

async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Range"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "not live, or no such file").into_response();
    cors(response.headers_mut());
    response
}

async fn file(
    State(state): State<AppState>,
    Path((room, file)): Path<(String, String)>,
    request_headers: HeaderMap,
) -> Response {
    let Some(kind) = kind_of(&file) else {
        return not_found();
    };
    let Some(dir) = state.live.dir(&room).await else {
        return not_found();
    };
    let Ok(body) = tokio::fs::read(dir.join(&file)).await else {
        return not_found();
    };
    let (content_type, cache) = match kind {
        // Short: players poll it every segment; a cache in front still spares the origin.
        Kind::Playlist => ("application/vnd.apple.mpegurl", "public, max-age=1"),
        // A segment's name is never reused while the stream is on.
        Kind::Segment => ("video/mp2t", "public, max-age=31536000, immutable"),
    };
    let total = body.len();
    let range = request_headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| byte_range(v, total));
    // A range it cannot satisfy or does not understand is ignored (RFC 9110 allows it):
    // the whole file.
    let (status, body, content_range) = match range.flatten() {
        None => (StatusCode::OK, body, None),
        Some((start, end)) => (
            StatusCode::PARTIAL_CONTENT,
            body.get(start..=end)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            Some(format!("bytes {start}-{end}/{total}")),
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// The one byte range of a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) within
/// `total` bytes, inclusive; `None` if it cannot be satisfied or is not understood.
fn byte_range(value: &str, total: usize) -> Option<(usize, usize)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = if first.is_empty() {
        let n: usize = last.parse().ok()?;
        if n == 0 {
            return None;
        }
        (total.saturating_sub(n), total - 1)
    } else {
        let start: usize = first.parse().ok()?;
        let end = if last.is_empty() {
            total - 1
        } else {
            last.parse::<usize>().ok()?.min(total - 1)
        };
        (start, end)
    };
    (start <= end && start < total).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_playlist_and_segments_are_served() {
        assert_eq!(kind_of("index.m3u8"), Some(Kind::Playlist));
        assert_eq!(kind_of("seg12.ts"), Some(Kind::Segment));
        assert_eq!(kind_of("audio.m3u8"), Some(Kind::Playlist));
        assert_eq!(kind_of("audio7.ts"), Some(Kind::Segment));
        for name in [
            "stream.sdp",
            "worker.log",
            "seg.ts",
            "seg1.ts.tmp",
            "../index.m3u8",
            "seg-1.ts",
            "seg1a.ts",
            "audio.ts",
            "audio1.ts.tmp",
            "audio.m3u8.tmp",
            "./audio.m3u8",
            "audioseg1.ts",
            "segaudio1.ts",
            "audio+1.ts",
            "Audio1.ts",
            "audio.M3U8",
            "index.m3u8.ended",
            "audio1.ts/",
            "",
        ] {
            assert_eq!(kind_of(name), None, "{name}");
        }
    }

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(byte_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(byte_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(byte_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(byte_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(byte_range("bytes=1000-", 1000), None);
        assert_eq!(byte_range("bytes=5-2", 1000), None);
        assert_eq!(byte_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(byte_range("items=0-1", 1000), None);
    }
}
