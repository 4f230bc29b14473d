//! One WebSocket connection: the `hello` handshake, then a reader that checks and forwards
//! commands to the room actor, and a writer that drains the connection's queue,
//! coalescing whatever is queued into one flush.
//!
//! Bad input never reaches the room: malformed, oversized or unknown frames, a second
//! hello, floods — each is answered with an error code on this connection only.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::oneshot;
use yishi_protocol::{
    ClientMessage, ErrorCode, ErrorMessage, Grant, PROTOCOL_VERSION, Role, ServerMessage,
};

use super::actor::{Attach, Msg};
use super::{Hub, Out, RoomHandle, close, now};
use crate::auth::AuthError;
use crate::media::{Owner, Signal};
use crate::outbox::{Inbox, Outbox, outbox};

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket pings and pongs a peer may send per second, with a burst.
const CONTROL_PER_SECOND: NonZeroU32 = NonZeroU32::new(5).expect("non-zero");
const CONTROL_BURST: NonZeroU32 = NonZeroU32::new(20).expect("non-zero");

/// An `error` frame. Should it not serialise (logged and counted by
/// [`serialised`](super::core::serialised)), a close with "unavailable" goes instead,
/// which the client answers by reconnecting: never an empty frame.
pub(super) fn error(
    req: Option<yishi_protocol::RequestId>,
    code: ErrorCode,
    message: impl Into<String>,
) -> Message {
    let msg = ServerMessage::Error(ErrorMessage {
        req,
        code,
        message: message.into(),
    });
    match super::core::serialised(&msg) {
        Some(text) => Message::Text(text),
        None => close_frame(close::UNAVAILABLE, "unavailable"),
    }
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// What a connection is served over: an upgraded WebSocket, or a client relayed from
/// another node of the cluster (`relay.rs`).
pub(crate) trait Socket:
    futures_util::Stream<Item = Result<Message, axum::Error>>
    + futures_util::Sink<Message, Error = axum::Error>
    + Unpin
    + Send
    + 'static
{
}

impl<T> Socket for T where
    T: futures_util::Stream<Item = Result<Message, axum::Error>>
        + futures_util::Sink<Message, Error = axum::Error>
        + Unpin
        + Send
        + 'static
{
}

/// Serve one upgraded socket from `ip` until it closes.
pub async fn serve_socket(hub: std::sync::Arc<Hub>, socket: WebSocket, ip: IpAddr) {
    serve(hub, socket, ip, true).await;
}

/// Serve `socket` until it closes. A client whose room another node of the cluster
/// owns is relayed there if `relay` (a relayed client is never relayed again).
pub(crate) async fn serve<S: Socket>(
    hub: std::sync::Arc<Hub>,
    mut socket: S,
    ip: IpAddr,
    relay: bool,
) {
    // ----- handshake -----
    let hello_text = match tokio::time::timeout(HELLO_TIMEOUT, socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => {
            let _ = socket
                .send(error(
                    None,
                    ErrorCode::HelloExpected,
                    "send a hello as text first",
                ))
                .await;
            let _ = socket
                .send(close_frame(close::PROTOCOL, "hello expected"))
                .await;
            return;
        }
        _ => return,
    };
    let hello = match ClientMessage::from_json(&hello_text) {
        Ok(ClientMessage::Hello(hello)) => hello,
        Ok(_) => {
            let _ = socket
                .send(error(
                    None,
                    ErrorCode::HelloExpected,
                    "the first message must be a hello",
                ))
                .await;
            let _ = socket
                .send(close_frame(close::PROTOCOL, "hello expected"))
                .await;
            return;
        }
        Err(e) => {
            let _ = socket
                .send(error(
                    None,
                    ErrorCode::Malformed,
                    format!("not a hello: {e}"),
                ))
                .await;
            let _ = socket
                .send(close_frame(close::PROTOCOL, "malformed hello"))
                .await;
            return;
        }
    };
    if hello.protocol != PROTOCOL_VERSION {
        let text = format!(
            "this server speaks protocol {PROTOCOL_VERSION}, not {}: reload the page",
            hello.protocol
        );
        let _ = socket
            .send(error(None, ErrorCode::ProtocolVersion, text))
            .await;
        let _ = socket
            .send(close_frame(close::PROTOCOL, "protocol version"))
            .await;
        return;
    }
    if hub.ip_joins.check_key(&ip).is_err() {
        let _ = socket
            .send(error(
                None,
                ErrorCode::RateLimited,
                "too many connections from your address; retry shortly",
            ))
            .await;
        let _ = socket
            .send(close_frame(close::UNAVAILABLE, "rate limited"))
            .await;
        return;
    }
    let yishi_protocol::Hello { token, resume, .. } = hello;
    let claims = match hub.keys.decode(&token, now()) {
        Ok(claims) => claims,
        Err(e) => {
            let code = e.code();
            let close_code = match code {
                ErrorCode::TokenExpired => close::TOKEN_EXPIRED,
                _ => close::UNAUTHORIZED,
            };
            let _ = socket.send(error(None, code, describe(&e))).await;
            let _ = socket.send(close_frame(close_code, "not admitted")).await;
            return;
        }
    };
    drop(token);
    let hello_text = relay.then_some(hello_text);
    // Boxed: opening a room awaits the store, whose futures are large; inline, their
    // size would stay in every connection's task for its whole life.
    // The audience of a room another node owns is served from this node's mirror of it
    // (`mirror.rs`); members and hosts are relayed to the owner. A mirror whose owner
    // answered it within the last two seconds takes a viewer at once: no store, no lease
    // request, no loading lock for each of a big audience's joins.
    let current = (claims.role == Role::Audience)
        .then(|| hub.current_mirror(&claims.room))
        .flatten();
    let mut mirrored = current.is_some();
    let mut room = match current {
        Some(mirror) => Ok(mirror),
        None => Box::pin(hub.room(&claims.room)).await,
    };
    if let Err(super::HubError::Elsewhere { node, .. }) = &room
        && claims.role == Role::Audience
        && let Some(mirror) = hub.mirror(&claims.room, node)
    {
        room = Ok(mirror);
        mirrored = true;
    }
    if let Err(super::HubError::Elsewhere { node, .. }) = &room
        && let (Some(relays), Some(hello), Ok(owner)) =
            (hub.relays(), hello_text, crate::bus::NodeId::new(node))
    {
        drop(claims);
        // Boxed: the relay's state stays out of every direct connection's task.
        Box::pin(relays.forward(socket, hello, owner, ip)).await;
        return;
    }
    let room = match room {
        Ok(room) => room,
        Err(super::HubError::UnknownRoom(_)) => {
            let _ = socket
                .send(error(
                    None,
                    ErrorCode::RoomNotFound,
                    "this link is for a room that does not exist",
                ))
                .await;
            let _ = socket
                .send(close_frame(close::UNAUTHORIZED, "unknown room"))
                .await;
            return;
        }
        Err(e) => {
            if matches!(
                e,
                super::HubError::Elsewhere { .. } | super::HubError::Stopping
            ) {
                tracing::info!(error = %e, "a connection for a room served elsewhere");
            } else {
                tracing::error!(error = %e, "could not start a room");
            }
            let _ = socket
                .send(error(
                    None,
                    ErrorCode::Unavailable,
                    "the room cannot be opened now; retry shortly",
                ))
                .await;
            let _ = socket
                .send(close_frame(close::UNAVAILABLE, "unavailable"))
                .await;
            return;
        }
    };

    // ----- attach -----
    let conn = hub.next_conn_id();
    let participant = claims.participant();
    let room_id: Arc<str> = Arc::from(claims.room.as_str());
    drop(claims);
    let capacity = if participant.role == yishi_protocol::Role::Audience {
        hub.config.audience_queue
    } else {
        hub.config.member_queue
    };
    let (out_tx, out_rx) = outbox(capacity);
    let (kill_tx, kill_rx) = oneshot::channel();
    let (reply_tx, reply_rx) = oneshot::channel();
    let attach = Attach {
        conn,
        participant,
        resume,
        outbox: out_tx.clone(),
        kill: kill_tx,
        reply: reply_tx,
    };
    if !room.send(Msg::attach(attach)).await {
        let _ = socket
            .send(error(
                None,
                ErrorCode::Unavailable,
                "the room restarts; retry",
            ))
            .await;
        let _ = socket
            .send(close_frame(close::UNAVAILABLE, "unavailable"))
            .await;
        return;
    }
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(sink, out_rx, kill_rx));
    let me = match reply_rx.await {
        Ok(Ok(me)) => me,
        Ok(Err(refused)) => {
            // Told why, then closed: "unavailable" is retried by the client.
            let code = match refused.code {
                ErrorCode::Displaced => close::DISPLACED,
                _ => close::UNAVAILABLE,
            };
            let reason = refused.message.clone();
            if let Some(text) = super::core::serialised(&ServerMessage::Error(refused)) {
                let _ = out_tx.try_send(Out::Frame(text));
            }
            let _ = out_tx.try_send(Out::Close(code, "refused"));
            drop(out_tx);
            tracing::debug!(conn, %reason, "turned away before the welcome");
            if tokio::time::timeout(Duration::from_secs(5), writer)
                .await
                .is_err()
            {
                tracing::debug!(conn, "the refused connection did not take its close");
            }
            return;
        }
        Err(_) => {
            writer.abort();
            return;
        }
    };
    tracing::debug!(conn, participant = %me.id.0, "attached");

    // ----- read loop -----
    let media_owner = Owner {
        conn,
        room: room_id,
        who: me.id.clone(),
        publish: me.grants.contains(&Grant::PublishMedia),
        audience: me.role == Role::Audience,
    };
    // The handshake's task ends here and the reader goes on in a task of its own, so
    // what the handshake needed does not stay in memory for the connection's life.
    tokio::spawn(read_loop(
        hub,
        Reached {
            ip,
            mirrored,
            relayed: !relay,
        },
        room,
        out_tx,
        stream,
        media_owner,
        writer,
    ));
}

/// Where a connection came from, and how it reaches its room.
struct Reached {
    ip: IpAddr,
    /// Served from this node's mirror of the room's audience (`mirror.rs`).
    mirrored: bool,
    /// Relayed here from the node the client reached (`relay.rs`): this node owns the
    /// room.
    relayed: bool,
}

/// Read the client's frames until the socket closes: check them and pass them on.
async fn read_loop<S: Socket>(
    hub: std::sync::Arc<Hub>,
    Reached {
        ip,
        mirrored,
        relayed,
    }: Reached,
    room: RoomHandle,
    out_tx: Outbox,
    mut stream: SplitStream<S>,
    media_owner: Owner,
    writer: tokio::task::JoinHandle<()>,
) {
    let conn = media_owner.conn;
    let per_conn: DefaultDirectRateLimiter = RateLimiter::direct(
        Quota::per_second(
            NonZeroU32::new(hub.config.commands_per_second.max(1)).unwrap_or(NonZeroU32::MIN),
        )
        .allow_burst(
            NonZeroU32::new(hub.config.commands_per_second.max(1) * 2).unwrap_or(NonZeroU32::MIN),
        ),
    );
    let reply = |m: Message| match m {
        Message::Text(t) => {
            let _ = out_tx.try_send(Out::Frame(t));
        }
        // An error that did not serialise (see `error`).
        Message::Close(_) => {
            let _ = out_tx.try_send(Out::Close(close::UNAVAILABLE, "unavailable"));
        }
        _ => {}
    };
    // Pings and pongs are answered by the library without us: bound how many a peer may
    // send, or one that never reads makes the server queue pong after pong.
    let control: DefaultDirectRateLimiter =
        RateLimiter::direct(Quota::per_second(CONTROL_PER_SECOND).allow_burst(CONTROL_BURST));
    let mut media_used = false;
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                reply(error(None, ErrorCode::Malformed, "frames are JSON text"));
                continue;
            }
            Ok(Message::Close(_)) => break,
            Ok(Message::Ping(_) | Message::Pong(_)) => {
                if control.check().is_err() {
                    metrics::counter!("yishi_control_flood_total").increment(1);
                    tracing::info!(conn, "closed: control frame flood");
                    let _ = out_tx.try_send(Out::Close(close::POLICY, "control frame flood"));
                    break;
                }
                continue;
            }
            Err(e) => {
                if is_too_large(&e) {
                    let limit = hub.config.max_frame_bytes;
                    reply(error(
                        None,
                        ErrorCode::TooLarge,
                        format!("messages are limited to {limit} bytes"),
                    ));
                    let _ = out_tx.try_send(Out::Close(close::TOO_LARGE, "message too large"));
                }
                break;
            }
        };
        match ClientMessage::from_json(&text) {
            Ok(ClientMessage::Command(cmd)) => {
                if relayed {
                    metrics::counter!("yishi_forwarded_commands_total", "via" => "relay")
                        .increment(1);
                }
                if per_conn.check().is_err() || hub.ip_commands.check_key(&ip).is_err() {
                    metrics::counter!("yishi_rate_limited_total").increment(1);
                    reply(error(
                        Some(cmd.req),
                        ErrorCode::RateLimited,
                        "too many commands: slow down and retry",
                    ));
                    continue;
                }
                let msg = Msg::command(conn, cmd.req, Box::new(cmd.command));
                if !room.send(msg).await {
                    break;
                }
            }
            Ok(ClientMessage::Ping) => {
                let pong = ServerMessage::Pong { server_time: now() };
                if let Some(text) = super::core::serialised(&pong) {
                    let _ = out_tx.try_send(Out::Frame(text));
                }
            }
            Ok(
                message @ (ClientMessage::MediaOffer(_)
                | ClientMessage::MediaAnswer(_)
                | ClientMessage::MediaCandidate(_)
                | ClientMessage::MediaStop),
            ) => {
                let Some(media) = hub.media.as_ref().filter(|_| !mirrored) else {
                    // A mirrored viewer's node does not run the room's media (its owner
                    // does): the audience watches the livestream there.
                    let why = if mirrored {
                        "audio and video are not served to this connection: watch the livestream"
                    } else {
                        "this server runs without audio and video"
                    };
                    reply(error(None, ErrorCode::MediaUnavailable, why));
                    continue;
                };
                if per_conn.check().is_err() {
                    reply(error(
                        None,
                        ErrorCode::RateLimited,
                        "too many messages: slow down",
                    ));
                    continue;
                }
                let signal = match message {
                    ClientMessage::MediaOffer(o) => Signal::Offer(o.sdp),
                    ClientMessage::MediaAnswer(a) => Signal::Answer(a.sdp),
                    ClientMessage::MediaCandidate(c) => Signal::Candidate(c.candidate),
                    _ => Signal::Stop,
                };
                media_used = true;
                media.signal(media_owner.clone(), out_tx.clone(), signal);
            }
            Ok(ClientMessage::Hello(_)) => reply(error(
                None,
                ErrorCode::HelloExpected,
                "already greeted: hello only once",
            )),
            Err(e) => {
                let req = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v.get("req")
                            .and_then(|r| r.as_str())
                            .map(|r| yishi_protocol::RequestId(r.to_owned()))
                    });
                reply(error(
                    req,
                    ErrorCode::Malformed,
                    format!("not a valid message: {e}"),
                ));
            }
        }
    }
    if media_used && let Some(media) = &hub.media {
        media.gone(conn);
    }
    let _ = room.send(Msg::detach(conn)).await;
    drop(out_tx);
    // The writer finishes what is queued; one stuck on a peer that never reads is cut off
    // (zero-window probes would keep it forever).
    let mut writer = writer;
    if tokio::time::timeout(Duration::from_secs(5), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Drain the queue: write everything queued, flush once.
async fn write_loop<S: Socket>(
    mut sink: futures_util::stream::SplitSink<S, Message>,
    mut rx: Inbox,
    kill: oneshot::Receiver<(u16, &'static str)>,
) {
    // Only a kill that is sent counts: the actor dropping its end (after a detach) must
    // not cut short what is still queued.
    let mut kill = std::pin::pin!(async move {
        match kill.await {
            Ok(close) => close,
            Err(_) => std::future::pending().await,
        }
    });
    // Grows on the first burst only: an idle connection keeps no batch buffer.
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            close = &mut kill => return close_now(sink, Some(close)).await,
            n = rx.recv_many(&mut batch, 64) => {
                if n == 0 {
                    let _ = sink.close().await;
                    return;
                }
            }
        }
        // A peer that stops reading blocks this write; the kill (too slow, room restart)
        // must still get through, so the write races it.
        let written = async {
            for out in batch.drain(..) {
                match out {
                    Out::Frame(text) => {
                        sink.feed(Message::Text(text)).await.map_err(write_failed)?
                    }
                    Out::Close(code, reason) => return Err(Some((code, reason))),
                }
            }
            sink.flush().await.map_err(write_failed)
        };
        let outcome = tokio::select! {
            biased;
            close = &mut kill => Err(Some(close)),
            result = written => result,
        };
        if let Err(close) = outcome {
            return close_now(sink, close).await;
        }
    }
}

/// A write failed: the peer is gone, or it let its write buffer fill past the bound
/// (`http::MAX_WRITE_BUFFER`), and then it is told why if it still listens.
fn write_failed(e: axum::Error) -> Option<(u16, &'static str)> {
    if e.to_string().contains("Write buffer is full") {
        metrics::counter!("yishi_write_buffer_full_total").increment(1);
        Some((close::POLICY, "write buffer full"))
    } else {
        None
    }
}

/// Send a close frame if the peer takes it within a second, then drop the socket.
async fn close_now<S: Socket>(
    mut sink: futures_util::stream::SplitSink<S, Message>,
    close: Option<(u16, &'static str)>,
) {
    if let Some((code, reason)) = close {
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close_frame(code, reason)))
            .await;
    }
}

fn is_too_large(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("too long")
        || text.contains("too big")
        || text.contains("Space limit")
        || text.contains("Capacity")
}

fn describe(e: &AuthError) -> String {
    match e.code() {
        ErrorCode::TokenExpired => {
            "this link has expired: ask the organiser for a new one".to_owned()
        }
        ErrorCode::TokenRevoked => e.to_string(),
        _ => format!("this link is not valid: {e}"),
    }
}
