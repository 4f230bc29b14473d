//! The livestream's routes in a cluster (直播路由转发). A room's media, and so its
//! livestream worker, its playlist, segments, push targets and recordings, live on the
//! node that owns the room. A `/live/{room}/…` request reaching another node is carried
//! to the owner over NATS and answered there by the same routes, so any node (and any
//! cache or CDN in front of any node) serves any room's stream.
//!
//! Subjects, one subscription each per node:
//! - `yishi.node.<owner>.http`: a request (its head as JSON, then its body), answered
//!   with the response's head and the first chunk of its body;
//! - `yishi.node.<owner>.http.more`: the next chunk of a longer body, pulled by the
//!   requesting node as its client reads, so nothing is pushed ahead of a slow reader
//!   and a recording of any size goes through in pieces below NATS's message limit.
//!
//! A body not pulled for [`IDLE`] is dropped by the owner; the client then sees its
//! response end early. The answering node runs the routes without this layer: a request
//! is forwarded at most once (if the room moved meanwhile, the old owner answers as a
//! node without the stream: `404`, or `409` for the controls).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tower_service::Service;

use super::AppState;
use crate::bus::NodeId;
use crate::hub::HubError;

/// The largest piece of a body in one NATS message (NATS allows 1 MiB by default).
const CHUNK: usize = 256 * 1024;
/// The largest request body forwarded (the routes take small JSON bodies).
const MAX_REQUEST: usize = 64 * 1024;
/// How long the owner may take to answer (starting a stream starts its worker).
const ASK: Duration = Duration::from_secs(15);
/// How long the owner keeps a body nobody pulls.
const IDLE: Duration = Duration::from_secs(30);

/// The head of a forwarded request.
#[derive(serde::Serialize, serde::Deserialize)]
struct Ask {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
}

/// The head of the owner's answer; `more` names the rest of the body, if there is more.
#[derive(serde::Serialize, serde::Deserialize)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    more: Option<u64>,
}

/// A pulled piece of a body: its bytes follow; `last` ends it; `lost` says the owner no
/// longer has it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Piece {
    last: bool,
    lost: bool,
}

/// A message: the head's length (4 bytes, big-endian), the head as JSON, the bytes.
/// `None` (logged and counted) if the head does not serialise: never a message without
/// a head.
fn frame(head: &impl serde::Serialize, bytes: &[u8]) -> Option<Bytes> {
    let head = match serde_json::to_vec(head) {
        Ok(head) => head,
        Err(e) => {
            metrics::counter!("yishi_serialise_errors_total").increment(1);
            tracing::error!(error = %e, "a forwarded message's head could not be serialised");
            return None;
        }
    };
    let mut out = BytesMut::with_capacity(4 + head.len() + bytes.len());
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(bytes);
    Some(out.freeze())
}

fn unframe<T: serde::de::DeserializeOwned>(message: &Bytes) -> Option<(T, Bytes)> {
    let len = u32::from_be_bytes(message.get(..4)?.try_into().ok()?) as usize;
    let head = serde_json::from_slice(message.get(4..4 + len)?).ok()?;
    Some((head, message.slice(4 + len..)))
}

fn text_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

fn fill(target: &mut axum::http::HeaderMap, headers: Vec<(String, String)>) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            target.append(name, value);
        }
    }
}

/// The room a `/live/{room}/…` path names.
fn room_of(path: &str) -> Option<&str> {
    path.strip_prefix("/live/")?
        .split('/')
        .next()
        .filter(|r| !r.is_empty())
}

/// Middleware for the livestream's routes: a request for a room another node owns is
/// answered by that node; any other is served here (a free room is taken here first, as
/// a connection would).
pub async fn to_owner(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some((client, _)) = state.hub.nats() else {
        return next.run(request).await;
    };
    let Some(room) = room_of(request.uri().path()).map(str::to_owned) else {
        return next.run(request).await;
    };
    match state.hub.room_or_owner(&room).await {
        Err(HubError::Elsewhere { node, .. }) => match NodeId::new(&node) {
            Ok(owner) => {
                metrics::counter!("yishi_live_forwarded_total").increment(1);
                let response = forward(client, owner, request).await;
                if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                    state.hub.forget_owner(&room);
                }
                response
            }
            Err(_) => unavailable(format!("room {room} is on node {node}, which is unknown")),
        },
        Err(HubError::Lease(e)) => unavailable(e.to_string()),
        Err(HubError::Stopping) => unavailable("this node is shutting down".into()),
        _ => next.run(request).await,
    }
}

fn unavailable(message: String) -> Response {
    let body = serde_json::json!({ "code": "unavailable", "message": message });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Carry `request` to `owner` and stream its answer back.
async fn forward(client: async_nats::Client, owner: NodeId, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST).await else {
        let body =
            serde_json::json!({ "code": "too_large", "message": "request body over 64 KiB" });
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
    };
    let ask = Ask {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
        headers: text_headers(&parts.headers),
    };
    let Some(asked) = frame(&ask, &body) else {
        return unavailable(format!("the request for node {owner} could not be written"));
    };
    let reply = tokio::time::timeout(ASK, client.request(owner.subject("http"), asked)).await;
    let message = match reply {
        Ok(Ok(message)) => message,
        Ok(Err(e)) => return unavailable(format!("node {owner} did not answer: {e}")),
        Err(_) => return unavailable(format!("node {owner} did not answer in time")),
    };
    let Some((answer, first)) = unframe::<Answer>(&message.payload) else {
        return unavailable(format!("node {owner} answered something unreadable"));
    };
    let body = match answer.more {
        None => Body::from(first),
        Some(id) => {
            let rest = pull(client, owner, id);
            Body::from_stream(futures_util::stream::once(async { Ok(first) }).chain(rest))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    fill(response.headers_mut(), answer.headers);
    response
}

/// The rest of body `id` on `owner`, a piece per pull.
fn pull(
    client: async_nats::Client,
    owner: NodeId,
    id: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let lost = |why: String| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, why);
    futures_util::stream::unfold(false, move |done| {
        let (client, owner) = (client.clone(), owner.clone());
        async move {
            if done {
                return None;
            }
            let asked = client.request(owner.subject("http.more"), id.to_string().into());
            let piece = match tokio::time::timeout(ASK, asked).await {
                Ok(Ok(message)) => unframe::<Piece>(&message.payload),
                _ => None,
            };
            Some(match piece {
                Some((piece, bytes)) if !piece.lost => (Ok(bytes), piece.last),
                _ => (
                    Err(lost(format!("node {owner} stopped sending the body"))),
                    true,
                ),
            })
        }
    })
}

/// The bodies this node is sending to other nodes, each pulled a piece at a time.
struct Bodies {
    next: AtomicU64,
    open: Mutex<HashMap<u64, mpsc::Sender<async_nats::Subject>>>,
}

impl Bodies {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::Sender<async_nats::Subject>>> {
        // Held for a map operation only; a poisoned map is still a valid map.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Answer the livestream requests other nodes forward here, with `routes` (the routes
/// without the forwarding layer). The listeners stop when NATS closes the subscriptions.
pub async fn answer(
    client: async_nats::Client,
    node: &NodeId,
    routes: Router,
) -> Result<(), async_nats::SubscribeError> {
    let mut asks = client.subscribe(node.subject("http")).await?;
    let mut pulls = client.subscribe(node.subject("http.more")).await?;
    let bodies = Arc::new(Bodies {
        next: AtomicU64::new(1),
        open: Mutex::new(HashMap::new()),
    });
    let (c, b) = (client.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Some(message) = asks.next().await {
            let (Some(reply), Some((ask, body))) =
                (message.reply.clone(), unframe::<Ask>(&message.payload))
            else {
                continue;
            };
            tokio::spawn(serve(
                c.clone(),
                b.clone(),
                routes.clone(),
                reply,
                ask,
                body,
            ));
        }
    });
    tokio::spawn(async move {
        while let Some(message) = pulls.next().await {
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            let id = std::str::from_utf8(&message.payload)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            let sender = id.and_then(|id| bodies.lock().get(&id).cloned());
            let handed = match sender {
                Some(sender) => sender.send(reply.clone()).await.is_ok(),
                None => false,
            };
            if !handed {
                let lost = frame(
                    &Piece {
                        last: true,
                        lost: true,
                    },
                    &[],
                );
                if let Some(lost) = lost {
                    let _ = client.publish(reply, lost).await;
                }
            }
        }
    });
    Ok(())
}

/// Run one forwarded request through `routes` and send the answer's head and first piece.
async fn serve(
    client: async_nats::Client,
    bodies: Arc<Bodies>,
    routes: Router,
    reply: async_nats::Subject,
    ask: Ask,
    body: Bytes,
) {
    let mut request = Request::new(Body::from(body));
    *request.method_mut() = Method::from_bytes(ask.method.as_bytes()).unwrap_or(Method::GET);
    match ask.uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return,
    }
    fill(request.headers_mut(), ask.headers);
    // A router is always ready and never fails (its errors are responses).
    let mut routes = routes;
    let Ok(()) = std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut routes, cx)).await;
    let Ok(response) = routes.call(request).await;
    let (parts, body) = response.into_parts();
    let mut pieces = Pieces::new(body);
    let (first, last) = pieces.next().await;
    let more = (!last).then(|| {
        let id = bodies.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(1);
        bodies.lock().insert(id, tx);
        tokio::spawn(send_rest(client.clone(), bodies.clone(), id, pieces, rx));
        id
    });
    let answer = Answer {
        status: parts.status.as_u16(),
        headers: text_headers(&parts.headers),
        more,
    };
    // Unwritable, the asking node hears nothing and answers 503 after its wait.
    if let Some(answered) = frame(&answer, &first) {
        let _ = client.publish(reply, answered).await;
    }
}

/// Send body `id` a piece per pull until it ends or nobody pulls for [`IDLE`].
async fn send_rest(
    client: async_nats::Client,
    bodies: Arc<Bodies>,
    id: u64,
    mut pieces: Pieces,
    mut pulls: mpsc::Receiver<async_nats::Subject>,
) {
    while let Ok(Some(reply)) = tokio::time::timeout(IDLE, pulls.recv()).await {
        let (bytes, last) = pieces.next().await;
        let Some(piece) = frame(&Piece { last, lost: false }, &bytes) else {
            break;
        };
        let _ = client.publish(reply, piece).await;
        if last {
            break;
        }
    }
    bodies.lock().remove(&id);
}

/// A response body cut into pieces of at most [`CHUNK`] bytes.
struct Pieces {
    data: axum::body::BodyDataStream,
    held: Bytes,
    ended: bool,
}

impl Pieces {
    fn new(body: Body) -> Pieces {
        Pieces {
            data: body.into_data_stream(),
            held: Bytes::new(),
            ended: false,
        }
    }

    /// The next piece, and whether it is the last. A body that fails midway ends there
    /// (the client sees it end early, as with a closed connection).
    async fn next(&mut self) -> (Bytes, bool) {
        let mut piece = BytesMut::new();
        loop {
            if !self.held.is_empty() {
                let take = (CHUNK - piece.len()).min(self.held.len());
                piece.extend_from_slice(&self.held.split_to(take));
            }
            if piece.len() == CHUNK {
                // Last only if nothing follows: look ahead once.
                if self.held.is_empty() && !self.ended {
                    self.pull().await;
                }
                return (piece.freeze(), self.held.is_empty() && self.ended);
            }
            if self.ended {
                return (piece.freeze(), true);
            }
            self.pull().await;
        }
    }

    async fn pull(&mut self) {
        match self.data.next().await {
            Some(Ok(bytes)) => self.held = bytes,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a forwarded livestream body failed midway");
                self.ended = true;
            }
            None => self.ended = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_the_paths_first_segment_after_live() {
        assert_eq!(room_of("/live/r1/index.m3u8"), Some("r1"));
        assert_eq!(room_of("/live/r1"), Some("r1"));
        assert_eq!(room_of("/live/"), None);
        assert_eq!(room_of("/api/v1/rooms/r1"), None);
    }

    #[test]
    fn a_frame_carries_its_head_and_bytes_and_garbage_is_refused() {
        let framed = frame(
            &Piece {
                last: true,
                lost: false,
            },
            b"abc",
        )
        .unwrap();
        let (piece, bytes) = unframe::<Piece>(&framed).unwrap();
        assert!(piece.last && !piece.lost);
        assert_eq!(&bytes[..], b"abc");
        assert!(unframe::<Piece>(&Bytes::from_static(b"\0\0\0\x09{}")).is_none());
        assert!(unframe::<Piece>(&Bytes::from_static(b"\0")).is_none());
    }

    #[tokio::test]
    async fn a_body_is_cut_into_pieces_of_at_most_a_chunk_and_the_last_is_marked() {
        let sizes = [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17];
        for size in sizes {
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            // As several frames of odd sizes, like a file read in 64 KiB reads.
            let frames: Vec<Result<Bytes, std::io::Error>> = bytes
                .chunks(100_003)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let mut pieces = Pieces::new(Body::from_stream(futures_util::stream::iter(frames)));
            let mut out = Vec::new();
            loop {
                let (piece, last) = pieces.next().await;
                assert!(piece.len() <= CHUNK);
                out.extend_from_slice(&piece);
                if last {
                    break;
                }
                assert_eq!(piece.len(), CHUNK, "only the last piece is short");
            }
            assert_eq!(out, bytes, "size {size}");
        }
    }
}
