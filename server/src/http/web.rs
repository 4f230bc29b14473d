//! The web client, embedded in the binary from `web-client/dist` at build time. Paths
//! that are not files get `index.html` (the client routes itself); a binary built before
//! the client was serves a short page that says so.

use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../web-client/dist/"]
#[allow_missing = true]
struct Assets;

pub async fn file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(asset) = (!path.is_empty()).then(|| Assets::get(path)).flatten() {
        let mime = asset.metadata.mimetype().to_owned();
        // Built assets carry a content hash in their name: cache them for good.
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, cache.to_owned()),
            ],
            asset.data,
        )
            .into_response();
    }
    if path.starts_with("assets/") || path.starts_with("api/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match Assets::get("index.html") {
        Some(index) => ([(header::CACHE_CONTROL, "no-cache")], Html(index.data)).into_response(),
        None => Html(NOT_BUILT).into_response(),
    }
}

const NOT_BUILT: &str = concat!(
    "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    "<title>议事 Yishi</title><main style=\"font: 20px/1.6 sans-serif; max-width: 40em; margin: 2em auto\">",
    "<h1>议事 Yishi</h1><p>服务器正在运行，但此版本构建时未包含网页客户端（请先运行 <code>make web</code>）。</p>",
    "<p lang=\"en\">The server is running, but this binary was built without the web client ",
    "(run <code>make web</code> first).</p></main></html>"
);
