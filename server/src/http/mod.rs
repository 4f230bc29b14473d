//! HTTP: the WebSocket endpoint, the admin API (`/api/v1`), health, readiness and
//! Prometheus metrics, and the web client. Every response carries security headers.

mod admin;
mod apikeys;
pub mod board;
mod console;
mod demo;
mod forward;
pub mod listen;
mod live;
mod meetings;
mod photos;
mod reports;
mod roster;
mod web;
mod webhooks;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::Config;
use crate::hub::Hub;
use crate::media::Sfu;
use crate::store::Store;

/// The most a connection's WebSocket write buffer may hold, in bytes: above the largest
/// frame the server sends (a snapshot, a resume batch), far below what a peer that never
/// reads could otherwise make it hold. A connection that reaches it is closed (1008).
pub const MAX_WRITE_BUFFER: usize = 8 * 1024 * 1024;

/// Staff logins from one address: 10 a minute, in a burst of 10.
const LOGIN_QUOTA: Quota = Quota::per_minute(match NonZeroU32::new(10) {
    Some(n) => n,
    None => NonZeroU32::MIN,
});

/// How often a node of a cluster reads the revoked join tokens again.
const REVOKED_RELOAD: std::time::Duration = std::time::Duration::from_secs(10);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub store: Store,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    /// Staff logins per client address (a minute's worth; see `console.rs`).
    pub logins: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// The rooms' livestreams (HLS of the stage, see `live/`).
    pub live: crate::live::Livestreams,
    /// The board (码上议事), replayed from the store at start.
    pub board: Arc<board::BoardHost>,
}

/// Open the store, restore the rooms and build the state the routes share.
pub async fn start(config: Config) -> anyhow::Result<AppState> {
    let store = Store::open(&config.store.database).await?;
    // Links replaced in the console stay refused across restarts.
    let revoked = store
        .revoked_tokens((crate::hub::now().0 / 1000) as i64)
        .await?;
    config
        .auth
        .token_keys
        .revoke_all(revoked.iter().map(String::as_str));
    // In a cluster another node may revoke a link: every node reads the revoked tokens
    // again now and then (nodes share the store).
    if config.bus.is_some() {
        let (store, keys) = (store.clone(), config.auth.token_keys.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REVOKED_RELOAD);
            loop {
                tick.tick().await;
                match store
                    .revoked_tokens((crate::hub::now().0 / 1000) as i64)
                    .await
                {
                    Ok(jtis) => keys.revoke_all(jtis.iter().map(String::as_str)),
                    Err(e) => tracing::warn!(error = %e, "revoked tokens not read"),
                }
            }
        });
    }
    // One recorder per process: a second server in the same process (tests) goes without.
    let metrics = PrometheusBuilder::new().install_recorder().ok();
    let hub_config = config.hub.clone();
    let media = match &config.media.sfu {
        Some(media) => Some(
            Sfu::start(media.clone())
                .await
                .map_err(|e| anyhow::anyhow!("media UDP socket {}: {e}", media.bind))?,
        ),
        None => None,
    };
    let cluster = match &config.bus {
        Some(cluster) => {
            let node = crate::bus::ClusterNode::join(
                &cluster.nats,
                cluster.node.clone(),
                cluster.lease_ttl,
            )
            .await?;
            tracing::info!(node = %cluster.node, nats = %crate::bus::redact(&cluster.nats), "joined the cluster");
            Some(node)
        }
        None => None,
    };
    let live = crate::live::Livestreams::new(
        config.media.live.clone(),
        &config.store.data_dir,
        media.clone(),
    );
    let hub = Hub::start_in(
        store.clone(),
        config.auth.token_keys.clone(),
        hub_config,
        media,
        cluster,
    )
    .await?;
    let board = board::BoardHost::load(&store, config.http.board_rate_limits).await?;
    board.clone().spawn_upkeep(store.clone());
    live.report_to(&hub);
    let state = AppState {
        hub,
        store,
        board,
        config: Arc::new(config),
        metrics,
        logins: Arc::new(RateLimiter::keyed(LOGIN_QUOTA)),
        live,
    };
    if state.config.demo {
        demo::create(&state).await?;
    }
    // Alone on its database, this server is the only sender: what a killed process had
    // claimed is released at once (in a cluster a claim lapses by itself).
    if state.config.bus.is_none() {
        state.store.release_delivery_claims().await?;
    }
    // In a cluster, the livestream requests other nodes forward for the rooms this one
    // owns (see `forward.rs`).
    if let Some((client, node)) = state.hub.nats() {
        let routes = live::routes().with_state(state.clone());
        forward::answer(client, &node, routes).await?;
    }
    crate::webhooks::spawn(
        state.store.clone(),
        state.config.http.public_url.clone(),
        state.config.webhooks.clone(),
    );
    Ok(state)
}

/// Run the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = start(config.clone()).await?;
    let hub = state.hub.clone();
    let listener = listen::bind(config.http.listen)?;
    tracing::info!(
        listen = %listener.local_addr()?,
        public_url = %config.http.public_url,
        max_connections = config.http.limits.max_connections,
        "serving"
    );
    println!(
        "Yishi is listening on {} (public URL {})",
        listener.local_addr()?,
        config.http.public_url
    );
    if let Some(addr) = config.http.metrics_listen {
        let metrics_listener = listen::bind(addr)?;
        tracing::info!(listen = %addr, "serving /metrics without a key");
        let limits = crate::config::Limits {
            max_connections: 16,
            max_connections_per_ip: 16,
            header_timeout: config.http.limits.header_timeout,
        };
        tokio::spawn(listen::serve(
            metrics_listener,
            metrics_router(state.clone()),
            limits,
            Vec::new(),
            std::future::pending(),
        ));
    }
    listen::serve(
        listener,
        router(state),
        config.http.limits.clone(),
        config.http.trusted_proxies.clone(),
        shutdown_signal(),
    )
    .await;
    hub.shutdown().await;
    Ok(())
}

/// A request's body of at most `max` bytes, refused with `too_large` when the declared
/// length or the bytes read pass it (the uploads: rosters, photos).
async fn body_at_most(
    headers: &HeaderMap,
    body: axum::body::Body,
    max: usize,
    too_large: fn() -> admin::ApiError,
) -> Result<bytes::Bytes, admin::ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ws", get(ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_with_key))
        .nest("/api/v1/staff", console::routes())
        .nest("/api/v1/api-keys", apikeys::routes())
        .nest("/api/v1/roster", roster::routes())
        .nest("/api/v1/meetings", meetings::routes())
        .nest("/api/v1/reports", reports::routes())
        .nest("/api/v1/board", board::routes().merge(photos::routes()))
        .nest("/api/v1", admin::routes(state.clone()))
        .merge(live::routes().layer(middleware::from_fn_with_state(
            state.clone(),
            forward::to_owner,
        )))
        .fallback(get(web::file))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            apikeys::authenticate,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let allowed = &state.config.http.allowed_origins;
        if !allowed.iter().any(|a| a == "*" || a == origin) {
            metrics::counter!("yishi_origin_refused_total").increment(1);
            let body = serde_json::json!({
                "code": "origin_forbidden",
                "message": format!("pages from {origin} may not connect to this server"),
            });
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
    }
    let client = client_ip(peer.ip(), &headers, &state.config.http.trusted_proxies);
    let max = state.hub.config.max_frame_bytes;
    let hub = state.hub.clone();
    upgrade
        // Commands are small: a 1 KiB read buffer per connection (larger frames take
        // several reads) keeps an idle connection's memory low.
        .read_buffer_size(1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| crate::hub::serve_socket(hub, socket, client))
}

/// `text` (a link) as a QR code, an SVG of at least 200 px with its quiet zone: the
/// console's invitation cards and the board's studio pages draw theirs with it.
fn qr_svg(text: &str, cache: &'static str) -> Result<axum::response::Response, admin::ApiError> {
    use axum::response::IntoResponse;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L)
        .map_err(|e| {
            admin::ApiError(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            )
        })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, cache),
        ],
        svg,
    )
        .into_response())
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that is not a trusted proxy (each proxy appends the
/// address it saw, so entries left of an untrusted one could be forged by the client).
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Not an address (a port, `unknown`): stop at the last one that was.
            Err(_) => break,
        }
    }
    client
}

async fn ready(State(state): State<AppState>) -> Response {
    if let Some(why) = state.hub.unready() {
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    match state.store.list_rooms().await {
        Ok(_) => "ready".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}"),
        )
            .into_response(),
    }
}

/// `/metrics` alone, without a key, for the private listener (`--metrics-listen`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// `/metrics` on the public listener: only with `Authorization: Bearer <metrics key>`.
async fn metrics_with_key(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !admin::bearer(&headers)
        .is_some_and(|key| admin::same_key(key, &state.config.auth.metrics_key))
    {
        let body = serde_json::json!({
            "code": "unauthorized",
            "message": "metrics need the metrics key as a bearer token (or use --metrics-listen)",
        });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    metrics(State(state)).await
}

async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("yishi_rooms").set(state.hub.live_rooms() as f64);
    match &state.metrics {
        Some(handle) => handle.render().into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are recorded by another server in this process",
        )
            .into_response(),
    }
}

/// CSP and friends on every response.
async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(
        h,
        "permissions-policy",
        "camera=(self), microphone=(self), geolocation=()",
    );
    set(h, "cross-origin-opener-policy", "same-origin");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append("x-forwarded-for", v);
            }
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|n| n.parse().ok()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = forwarded(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("203.0.113.5"), &h, &[]), ip("203.0.113.5"));
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_ip(ip("203.0.113.5"), &h, &trusted),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_last_untrusted_hop_is_the_client() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        // nginx on the same host appended what it saw.
        let h = forwarded(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.7"));
        // A forged first entry is skipped: the client's own proxy-visible address wins.
        let h = forwarded(&["1.2.3.4, 198.51.100.7, 10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.7"));
        // Several header lines count as one list.
        let h = forwarded(&["1.2.3.4", "198.51.100.8"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.8"));
    }

    #[test]
    fn a_missing_or_garbled_header_falls_back_to_what_is_known() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
        let h = forwarded(&["198.51.100.7, unknown"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
        // Only trusted hops: the leftmost is as far as we can see.
        let h = forwarded(&["127.0.0.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }
}
