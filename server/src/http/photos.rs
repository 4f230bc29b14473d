//! Studio photos (网上工作室): the committee office uploads a member's photo from the
//! console (`POST /api/v1/board/staff/photos`, the bytes as the body), and the studio's
//! page shows it from `GET /api/v1/board/photos/{id}`. A photo is kept once under the
//! SHA-256 of its bytes, so its address never changes what it shows and is cached for
//! good. Only JPEG, PNG and WebP are taken, told apart by their first bytes (what the
//! browser claims is not trusted). Documented in `docs/board.md` and `docs/api.md`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::admin::ApiError;
use super::console::Caller;
use crate::hub::now;

/// The largest photo taken: a portrait a phone took, made smaller by the browser or not.
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff/photos", post(upload))
        .route("/photos/{id}", get(photo))
}

/// What kind of image the bytes are, by their signature.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn too_large() -> ApiError {
    ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a photo is at most {} MiB", MAX_PHOTO_BYTES / (1024 * 1024)),
    )
}

/// Keep a photo: `201 {id, url, content_type, bytes}`.
async fn upload(
    State(state): State<AppState>,
    who: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = super::body_at_most(&headers, body, MAX_PHOTO_BYTES, too_large).await?;
    let Some(content_type) = image_type(&bytes) else {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_an_image",
            "a photo is a JPEG, PNG or WebP image".into(),
        ));
    };
    let id = hex::encode(Sha256::digest(&bytes));
    state
        .store
        .put_photo(&id, content_type, &bytes, &who.name, now().0 as i64)
        .await?;
    who.audit(&state, "board.photo", &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "url": format!("/api/v1/board/photos/{id}"),
            "content_type": content_type,
            "bytes": bytes.len(),
        })),
    ))
}

/// A photo by its digest, cached for good (its bytes never change under that name).
async fn photo(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if id.len() != 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "a photo is named by the SHA-256 of its bytes, 64 hex digits in lower case".into(),
        ));
    }
    let photo = state
        .store
        .photo(&id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "not_found", "no such photo".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, photo.content_type),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
            (header::ETAG, format!("\"{id}\"")),
        ],
        photo.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::image_type;

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0]), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg xmlns="), None);
        assert_eq!(image_type(b"GIF89a"), None);
        assert_eq!(image_type(b"RIFF"), None);
        assert_eq!(image_type(b""), None);
    }
}
