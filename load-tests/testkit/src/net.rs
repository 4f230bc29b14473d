//! WebSocket connections from a chosen loopback source address (127.0.0.x), so that a
//! crowd of clients spreads over per-IP limits and ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A WebSocket over plain TCP (the server under test speaks no TLS).
pub type Ws = WebSocketStream<TcpStream>;

/// The source address of a single client (the load tool keeps it for its control
/// connections and spreads its crowd over 127.0.0.2 and up).
pub const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Open a WebSocket to `path` on `target` from `src`, with small buffers (4 KiB read
/// buffer, every message written at once): what 55,000 connections in one process afford.
pub async fn ws_connect(target: SocketAddr, src: Ipv4Addr, path: &str) -> anyhow::Result<Ws> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let stream = sock.connect(target).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let url = format!("ws://{target}{path}");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}
