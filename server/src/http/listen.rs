//! The HTTP listener: accepts TCP connections and serves each with hyper, within limits
//! that keep one client, or many idle ones, from exhausting the server.
//!
//! - **Backlog** up to the kernel's `somaxconn`, so a join burst waits in the accept
//!   queue instead of the kernel's one-second SYN retry.
//! - **Header timeout**: a request's headers must arrive within
//!   [`Limits::header_timeout`]; hyper applies the same timer while a keep-alive
//!   connection waits for its next request, so idle HTTP connections go too.
//! - **TCP keepalive** on every connection, so a peer that vanished is noticed.
//! - **Caps**: at most [`Limits::max_connections`] open connections (below the open-file
//!   limit, keeping a reserve of descriptors for the store and the SFU) and
//!   [`Limits::max_connections_per_ip`] from one address. A connection over a cap is
//!   answered `503` at once and closed; it never takes a descriptor the store needs, so
//!   reaching the cap refuses newcomers and never breaks a room.
//!
//! A connection is counted for as long as its socket lives: the count travels with the
//! socket into an upgraded WebSocket.
//!
//! This module must never look inside requests: routing, Origin checks and everything
//! else are the router's.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::config::Limits;

/// Idle time before TCP keepalive probes start, and between them.
const KEEPALIVE: Duration = Duration::from_secs(60);
/// Refusals answered at once; beyond these a refused connection is just closed.
const REFUSALS: usize = 64;
/// How long connections get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 5\r\nconnection: close\r\ncontent-length: 80\r\n\r\n\
{\"code\":\"unavailable\",\"message\":\"the server is at its connection limit; retry\"}\n";

/// Bind `addr` for HTTP with the largest backlog the kernel allows.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog())?;
    TcpListener::from_std(socket.into())
}

/// The kernel's `somaxconn` (it caps any backlog asked for), else 4096.
fn backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .unwrap_or(4096)
        .clamp(128, 65_535)
}

/// Open connections, in all and per address.
#[derive(Debug)]
struct Tracker {
    open: AtomicUsize,
    /// A `std` mutex: held for one map update, never across an await.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    limits: Limits,
    trusted: Vec<IpNet>,
}

impl Tracker {
    /// A slot for a connection from `ip`, or why there is none.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err("full");
        }
        let limited = !self.trusted.iter().any(|net| net.contains(&ip));
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = per_ip.entry(ip).or_insert(0);
        if limited && *n >= self.limits.max_connections_per_ip {
            drop(per_ip);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err("per_ip");
        }
        *n += 1;
        drop(per_ip);
        metrics::gauge!("yishi_http_connections").increment(1.0);
        Ok(Slot {
            tracker: Arc::clone(self),
            ip,
        })
    }
}

/// One admitted connection; dropping it frees the place.
struct Slot {
    tracker: Arc<Tracker>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self
            .tracker
            .per_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        drop(per_ip);
        self.tracker.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("yishi_http_connections").decrement(1.0);
    }
}

/// A socket that holds its connection's slot: the slot goes when the socket does,
/// also after an upgrade to a WebSocket.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serve `router` on `listener` within `limits` until `shutdown` completes; then stop
/// accepting and give open HTTP requests [`SHUTDOWN_GRACE`] to finish. The router sees
/// each peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    trusted: Vec<IpNet>,
    shutdown: impl Future<Output = ()>,
) {
    let tracker = Arc::new(Tracker {
        open: AtomicUsize::new(0),
        per_ip: Mutex::new(HashMap::new()),
        limits,
        trusted,
    });
    let refusals = Arc::new(Semaphore::new(REFUSALS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                metrics::counter!("yishi_accept_errors_total").increment(1);
                // Out of descriptors (EMFILE, ENFILE) or memory: wait for some to come
                // back instead of spinning; anything else concerned one connection.
                if matches!(e.raw_os_error(), Some(23 | 24))
                    || e.kind() == io::ErrorKind::OutOfMemory
                {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let slot = match tracker.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(reason) => {
                metrics::counter!("yishi_connections_refused_total", "reason" => reason)
                    .increment(1);
                refuse(stream, &refusals);
                continue;
            }
        };
        let sock = socket2::SockRef::from(&stream);
        let _ = sock.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(KEEPALIVE)
                .with_interval(KEEPALIVE),
        );
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Counted {
            stream,
            _slot: slot,
        });
        let router = router.clone();
        let header_timeout = tracker.limits.header_timeout;
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    let mut router = router.clone();
                    async move { tower_service::Service::call(&mut router, request).await }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    // HTTP requests finish (upgraded WebSockets are the hub's to close).
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while stop_tx.receiver_count() > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answer a connection over a cap with a 503 and close it, without reading its request
/// beyond a little: at most [`REFUSALS`] at a time, the rest are closed at once.
fn refuse(stream: TcpStream, refusals: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(FULL).await?;
            stream.shutdown().await?;
            // Take what the client sent, so closing does not reset the connection
            // before it read the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(max: usize, per_ip: usize, trusted: &[&str]) -> Arc<Tracker> {
        Arc::new(Tracker {
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            limits: Limits {
                max_connections: max,
                max_connections_per_ip: per_ip,
                header_timeout: Duration::from_secs(1),
            },
            trusted: trusted.iter().filter_map(|t| t.parse().ok()).collect(),
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn the_caps_refuse_and_a_closed_connection_gives_its_place_back() {
        let t = tracker(3, 2, &[]);
        let a1 = t.admit(ip("10.0.0.1"));
        let a2 = t.admit(ip("10.0.0.1"));
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(t.admit(ip("10.0.0.1")).err(), Some("per_ip"));
        let b = t.admit(ip("10.0.0.2"));
        assert!(b.is_ok());
        assert_eq!(t.admit(ip("10.0.0.3")).err(), Some("full"));
        drop(a1);
        assert!(t.admit(ip("10.0.0.3")).is_ok());
        drop((a2, b));
        assert_eq!(t.open.load(Ordering::Acquire), 0);
        assert!(t.per_ip.lock().map(|m| m.is_empty()).unwrap_or(false));
    }

    #[test]
    fn trusted_proxies_are_not_capped_per_address() {
        let t = tracker(10, 1, &["127.0.0.1/32"]);
        let slots: Vec<_> = (0..5).map(|_| t.admit(ip("127.0.0.1"))).collect();
        assert!(slots.iter().all(Result::is_ok));
        let other = t.admit(ip("10.0.0.1"));
        assert!(other.is_ok());
        assert_eq!(t.admit(ip("10.0.0.1")).err(), Some("per_ip"));
    }

    #[test]
    fn the_backlog_is_what_the_kernel_allows() {
        assert!(backlog() >= 128);
    }
}
