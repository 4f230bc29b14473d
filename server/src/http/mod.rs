//! HTTP: the WebSocket endpoint, the admin API (`/api/v1`), health, readiness and
//! Prometheus metrics, and the web client. Every response carries security headers.

mod admin;
mod demo;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::Config;
use crate::hub::{Hub, HubConfig};
use crate::media::Sfu;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub store: Store,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
}

/// Open the store, restore the rooms and build the state the routes share.
pub async fn start(config: Config, hub_config: HubConfig) -> anyhow::Result<AppState> {
    let store = Store::open(&config.database).await?;
    // One recorder per process: a second server in the same process (tests) goes without.
    let metrics = PrometheusBuilder::new().install_recorder().ok();
    let hub_config = HubConfig {
        max_frame_bytes: config.max_frame_bytes,
        turn: config.turn.clone(),
        ..hub_config
    };
    let media = match &config.media {
        Some(media) => Some(
            Sfu::start(media.clone())
                .await
                .map_err(|e| anyhow::anyhow!("media UDP socket {}: {e}", media.bind))?,
        ),
        None => None,
    };
    let hub = Hub::start(store.clone(), config.token_keys.clone(), hub_config, media).await?;
    let state = AppState {
        hub,
        store,
        config: Arc::new(config),
        metrics,
    };
    if state.config.demo {
        demo::create(&state).await?;
    }
    Ok(state)
}

/// Run the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = start(config.clone(), HubConfig::default()).await?;
    let hub = state.hub.clone();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, public_url = %config.public_url, "serving");
    println!(
        "Yishi is listening on {} (public URL {})",
        listener.local_addr()?,
        config.public_url
    );
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    hub.shutdown().await;
    Ok(())
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
        .route("/metrics", get(metrics))
        .nest("/api/v1", admin::routes(state.clone()))
        .fallback(get(web::file))
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
        let allowed = &state.config.allowed_origins;
        if !allowed.iter().any(|a| a == "*" || a == origin) {
            metrics::counter!("yishi_origin_refused_total").increment(1);
            let body = serde_json::json!({
                "code": "origin_forbidden",
                "message": format!("pages from {origin} may not connect to this server"),
            });
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
    }
    let max = state.hub.config.max_frame_bytes;
    let hub = state.hub.clone();
    upgrade
        // Commands are small: a 1 KiB read buffer per connection (larger frames take
        // several reads) keeps an idle connection's memory low.
        .read_buffer_size(1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| crate::hub::serve_socket(hub, socket, peer.ip()))
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.store.list_rooms().await {
        Ok(_) => "ready".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}"),
        )
            .into_response(),
    }
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
