//! The web client, embedded in the binary from `web-client/dist` at build time. Paths
//! that are not files get `index.html` (the client routes itself), except `/console`
//! (the staff console's `console.html`) and `/board` (the public board's `board.html`);
//! a binary built before the client was serves a short page that says so. Built assets
//! come with brotli and gzip copies made at build time (`web-client/scripts/compress.mjs`),
//! served to browsers that accept them: a phone on a slow network loads a third of the
//! bytes.

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../web-client/dist/"]
#[allow_missing = true]
struct Assets;

/// The precompressed copy of `path` the client accepts, with its encoding.
fn encoded(path: &str, headers: &HeaderMap) -> Option<(rust_embed::EmbeddedFile, &'static str)> {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    [("br", "br"), ("gz", "gzip")]
        .into_iter()
        .filter(|(_, name)| accepts(accept, name))
        .find_map(|(ext, name)| Assets::get(&format!("{path}.{ext}")).map(|f| (f, name)))
}

/// Whether an `Accept-Encoding` value accepts `encoding` (a `q=0` refuses it).
fn accepts(accept: &str, encoding: &str) -> bool {
    accept.split(',').any(|part| {
        let mut it = part.split(';');
        it.next().is_some_and(|e| e.trim() == encoding)
            && !it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            })
    })
}

pub async fn file(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(asset) = (!path.is_empty()).then(|| Assets::get(path)).flatten() {
        let mime = asset.metadata.mimetype().to_owned();
        if path.starts_with("assets/")
            && let Some((packed, encoding)) = encoded(path, &headers)
        {
            return (
                [
                    (header::CONTENT_TYPE, mime),
                    (
                        header::CACHE_CONTROL,
                        "public, max-age=31536000, immutable".to_owned(),
                    ),
                    (header::CONTENT_ENCODING, encoding.to_owned()),
                    (header::VARY, "accept-encoding".to_owned()),
                ],
                packed.data,
            )
                .into_response();
        }
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
    let page = page_of(path);
    if let Some((packed, encoding)) = encoded(page, &headers) {
        return (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_ENCODING, encoding),
                (header::VARY, "accept-encoding"),
            ],
            packed.data,
        )
            .into_response();
    }
    match Assets::get(page) {
        Some(index) => ([(header::CACHE_CONTROL, "no-cache")], Html(index.data)).into_response(),
        None => Html(NOT_BUILT).into_response(),
    }
}

/// The page a path that is not a file gets: the staff console and the public board are
/// pages of their own; every other path is the meeting client's.
fn page_of(path: &str) -> &'static str {
    let under =
        |root: &str| path == root || path.strip_prefix(root).is_some_and(|r| r.starts_with('/'));
    if under("console") {
        "console.html"
    } else if under("board") {
        "board.html"
    } else {
        "index.html"
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

#[cfg(test)]
mod tests {
    use super::{accepts, page_of};

    #[test]
    fn the_console_and_the_board_are_pages_of_their_own() {
        assert_eq!(page_of("console"), "console.html");
        assert_eq!(page_of("console/meetings"), "console.html");
        assert_eq!(page_of("board"), "board.html");
        assert_eq!(page_of("board/"), "board.html");
        assert_eq!(page_of("boardroom"), "index.html");
        assert_eq!(page_of("join"), "index.html");
        assert_eq!(page_of(""), "index.html");
    }

    #[test]
    fn precompressed_assets_go_to_browsers_that_accept_them() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip;q=1.0, br;q=0.8", "gzip"));
        assert!(!accepts("gzip;q=0, identity", "gzip"));
        assert!(!accepts("", "br"));
        assert!(!accepts("brotli", "br"));
    }
}
