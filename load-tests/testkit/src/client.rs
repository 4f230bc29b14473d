//! The protocol client of the server's tests and of the load tool's control connections
//! (a host, a sender, a media bot's signalling): it parses every message, keeps what it
//! received and checks that each batch of events follows the one before.
//!
//! Two flavours of the same calls: `try_*` return errors, for the load tool, which reports
//! them; the others panic when the server misbehaves (no answer, a refusal where none is
//! expected), for tests, where that is the failure. Neither ever reads the server's state
//! other than through the wire.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use yishi_protocol::{
    ClientMessage, Command, CommandMessage, EntryKind, ErrorCode, ErrorMessage, Event, Hello,
    PROTOCOL_VERSION, RequestId, Resume, Seq, ServerMessage, TallyUpdate, Welcome,
};

use crate::net::{LOCALHOST, Ws, ws_connect};

/// How long a client waits for the server's next message before giving up: long, so that
/// a busy machine (a debug build beside other builds) never fails a test; a test that
/// waits for something that never comes fails after it all the same.
pub const WAIT: Duration = Duration::from_secs(60);

/// A hello answered with an error instead of a welcome (`unavailable` while a room moves
/// to another node, say); find it with `anyhow::Error::downcast_ref`.
#[derive(Debug)]
pub struct Refused {
    /// The error code as on the wire.
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hello refused: {} {}", self.code, self.message)
    }
}

impl std::error::Error for Refused {}

impl From<ErrorMessage> for Refused {
    fn from(e: ErrorMessage) -> Refused {
        Refused {
            code: e.code.as_str().to_owned(),
            message: e.message,
        }
    }
}

/// Whether `e` is a hello refused with `unavailable` (the room is moving: retry later).
pub fn is_unavailable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>()
        .is_some_and(|r| r.code == ErrorCode::Unavailable.as_str())
}

/// A connection that parses every message and keeps what it received.
pub struct Client {
    pub ws: Ws,
    /// The last welcome: the one that answered the hello, or a resynchronisation since.
    pub welcome: Welcome,
    /// Every event received, in order.
    pub events: Vec<Event>,
    /// The `through` of the last batch (or the snapshot's seq, or the resumed seq).
    pub through: Seq,
    /// Every tally received, in order.
    pub tallies: Vec<TallyUpdate>,
    /// Errors that answered no request.
    pub errors: Vec<ErrorMessage>,
    /// Media signalling from the server, in order, until taken.
    pub media: VecDeque<ServerMessage>,
    /// The token this client joined with.
    pub token: String,
    /// The prefix of this client's request ids.
    tag: String,
    next_req: u64,
}

impl Client {
    /// Join with `token` from 127.0.0.1, resuming `resume` if given; the server's refusal
    /// as `Err`. Panics if the server cannot be reached or answers with nothing sensible.
    /// Request ids are this client's own (see [`Client::req`]).
    pub async fn connect(
        addr: SocketAddr,
        token: &str,
        resume: Option<Resume>,
    ) -> Result<Client, ErrorMessage> {
        Client::hello(addr, LOCALHOST, token, None, resume)
            .await
            .unwrap_or_else(|e| panic!("no welcome from {addr}: {e:#}"))
    }

    /// Join with `token` from the source address `src`, resuming `resume` if given; a
    /// refusal is a [`Refused`] error. Request ids are `{tag}-1`, `{tag}-2`, … starting
    /// again with each connection: a client that resends across connections names its
    /// requests itself.
    pub async fn join(
        addr: SocketAddr,
        src: Ipv4Addr,
        token: &str,
        tag: &str,
        resume: Option<Resume>,
    ) -> anyhow::Result<Client> {
        Client::hello(addr, src, token, Some(tag), resume)
            .await?
            .map_err(|e| Refused::from(e).into())
    }

    /// Connect, say hello and take the answer: a client, or the error the server refused
    /// the hello with.
    async fn hello(
        addr: SocketAddr,
        src: Ipv4Addr,
        token: &str,
        tag: Option<&str>,
        resume: Option<Resume>,
    ) -> anyhow::Result<Result<Client, ErrorMessage>> {
        let mut ws = ws_connect(addr, src, "/ws").await?;
        let hello = ClientMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
            resume: resume.clone(),
        });
        ws.send(Message::text(serde_json::to_string(&hello)?))
            .await?;
        let welcome = match next_message(&mut ws, WAIT).await? {
            Some(ServerMessage::Welcome(w)) => *w,
            Some(ServerMessage::Error(e)) => return Ok(Err(e)),
            other => bail!("expected a welcome, got {other:?}"),
        };
        let through = match (&welcome.snapshot, &resume) {
            (Some(s), _) => s.seq,
            (None, Some(r)) => r.last_seq,
            (None, None) => bail!("a welcome without a snapshot to a fresh client"),
        };
        let tag = match tag {
            Some(tag) => tag.to_owned(),
            None => {
                // Request ids are remembered per participant across connections and
                // restarts, so a new client must not reuse another's.
                static CLIENTS: AtomicU64 = AtomicU64::new(0);
                let n = CLIENTS.fetch_add(1, Ordering::Relaxed);
                format!("c{}-{n}", std::process::id())
            }
        };
        Ok(Ok(Client {
            ws,
            welcome,
            events: Vec::new(),
            through,
            tallies: Vec::new(),
            errors: Vec::new(),
            media: VecDeque::new(),
            token: token.to_owned(),
            tag,
            next_req: 0,
        }))
    }

    /// Whether the last welcome carried a snapshot: a resume that came back without one
    /// continued exactly.
    pub fn resynced(&self) -> bool {
        self.welcome.snapshot.is_some()
    }

    /// Where to resume from after this connection ends.
    pub fn resume_point(&self) -> Resume {
        Resume {
            session: self.welcome.session.clone(),
            last_seq: self.through,
        }
    }

    /// The next request id of this client.
    pub fn req(&mut self) -> RequestId {
        self.next_req += 1;
        RequestId(format!("{}-{}", self.tag, self.next_req))
    }

    /// One message within `wait`, taken in; `None` when the connection closed or broke.
    /// A batch that does not follow the previous one is an error.
    pub async fn try_recv(&mut self, wait: Duration) -> anyhow::Result<Option<ServerMessage>> {
        let Some(msg) = next_message(&mut self.ws, wait).await? else {
            return Ok(None);
        };
        match &msg {
            ServerMessage::Events(batch) => {
                if batch.from != self.through + 1
                    || batch.through < batch.from
                    || batch
                        .events
                        .iter()
                        .any(|e| e.seq < batch.from || e.seq > batch.through)
                {
                    bail!(
                        "a batch {}..={} (events {:?}) does not follow the previous one (through {})",
                        batch.from,
                        batch.through,
                        batch.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
                        self.through
                    );
                }
                self.events.extend(batch.events.iter().cloned());
                self.through = batch.through;
            }
            ServerMessage::Welcome(w) => {
                // A resynchronisation on the same connection.
                if let Some(s) = &w.snapshot {
                    self.through = s.seq;
                }
                self.welcome = (**w).clone();
            }
            ServerMessage::Tally(t) => self.tallies.push(t.clone()),
            ServerMessage::MediaOffer(_)
            | ServerMessage::MediaAnswer(_)
            | ServerMessage::MediaState(_) => self.media.push_back(msg.clone()),
            ServerMessage::Error(e) if e.req.is_none() => self.errors.push(e.clone()),
            _ => {}
        }
        Ok(Some(msg))
    }

    /// [`Client::try_recv`] within [`WAIT`]; panics on a silence that long or a gap.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        self.try_recv(WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Send any client message (media signalling, say).
    pub async fn send_msg(&mut self, msg: &ClientMessage) -> anyhow::Result<()> {
        self.ws
            .send(Message::text(serde_json::to_string(msg)?))
            .await?;
        Ok(())
    }

    /// Send the command `command` as the request `req`, without waiting.
    pub async fn send(&mut self, req: RequestId, command: Command) -> anyhow::Result<()> {
        self.send_msg(&ClientMessage::Command(CommandMessage { req, command }))
            .await
    }

    /// [`Client::send`]; panics if the connection is gone.
    pub async fn send_with(&mut self, req: RequestId, command: Command) {
        self.send(req, command)
            .await
            .unwrap_or_else(|e| panic!("sending a command: {e:#}"));
    }

    /// Send a text frame as it is (malformed on purpose, say); panics if the connection
    /// is gone.
    pub async fn send_raw(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .unwrap_or_else(|e| panic!("sending a frame: {e:#}"));
    }

    /// Wait for the ack (its seq) or the error of `req`, taking in everything before it.
    pub async fn try_answer(
        &mut self,
        req: &RequestId,
    ) -> anyhow::Result<Result<Option<Seq>, ErrorMessage>> {
        loop {
            match self.try_recv(WAIT).await? {
                None => bail!("closed before answering {}", req.0),
                Some(ServerMessage::Ack(a)) if &a.req == req => return Ok(Ok(a.seq)),
                Some(ServerMessage::Error(e)) if e.req.as_ref() == Some(req) => {
                    return Ok(Err(e));
                }
                Some(_) => {}
            }
        }
    }

    /// Send a command and wait for its acknowledgement; a refusal is an error.
    pub async fn try_cmd(&mut self, command: Command) -> anyhow::Result<Option<Seq>> {
        let name = command.name();
        let req = self.req();
        self.send(req.clone(), command).await?;
        match self
            .try_answer(&req)
            .await
            .with_context(|| format!("waiting for the answer to {name}"))?
        {
            Ok(seq) => Ok(seq),
            Err(e) => bail!("{name} refused: {:?} {}", e.code, e.message),
        }
    }

    /// [`Client::try_answer`]; panics if the server closes or goes quiet first.
    pub async fn answer(&mut self, req: &RequestId) -> Result<Option<Seq>, ErrorMessage> {
        self.try_answer(req)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Send a command and wait for its answer (taking in everything before it).
    pub async fn cmd(&mut self, command: Command) -> Result<Option<Seq>, ErrorMessage> {
        let req = self.req();
        self.cmd_with(req, command).await
    }

    /// [`Client::cmd`] as the request `req`.
    pub async fn cmd_with(
        &mut self,
        req: RequestId,
        command: Command,
    ) -> Result<Option<Seq>, ErrorMessage> {
        self.send_with(req.clone(), command).await;
        self.answer(&req).await
    }

    /// A command that must succeed.
    pub async fn ok(&mut self, command: Command) -> Option<Seq> {
        let name = command.name();
        match self.cmd(command).await {
            Ok(seq) => seq,
            Err(e) => panic!("{name} refused: {e:?}"),
        }
    }

    /// Ask for the floor for oneself: a turn of `kind` in the queue.
    pub async fn request_floor(&mut self, kind: EntryKind) -> Option<Seq> {
        self.ok(Command::RequestFloor {
            kind,
            speaker: None,
            replying_to: None,
        })
        .await
    }

    /// As a host: give the floor to the head of the queue.
    pub async fn grant_next(&mut self) -> Option<Seq> {
        self.ok(Command::GrantFloor {
            entry: None,
            reason: None,
        })
        .await
    }

    /// Ask `text` as a question, and approve it as `host`: its id.
    pub async fn ask_approved(
        &mut self,
        host: &mut Client,
        text: &str,
    ) -> yishi_protocol::QuestionId {
        self.ok(Command::AskQuestion { text: text.into() }).await;
        let asked = host
            .until("the host sees the question", |e| {
                matches!(e.body, yishi_protocol::EventBody::QuestionAsked { .. })
            })
            .await;
        let yishi_protocol::EventBody::QuestionAsked { question } = asked.body else {
            unreachable!("until returned the event it waited for")
        };
        host.ok(Command::ModerateQuestion {
            question: question.id,
            decision: yishi_protocol::Decision::Approve,
        })
        .await;
        question.id
    }

    /// Wait until an event matching `pred` has arrived (it may have already); returns it.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let mut seen = 0;
        loop {
            if let Some(e) = self.events[seen..].iter().find(|e| pred(e)) {
                return e.clone();
            }
            seen = self.events.len();
            if self.recv().await.is_none() {
                panic!("closed while waiting for {what}");
            }
        }
    }

    /// Wait until events through `seq` have arrived.
    pub async fn through(&mut self, seq: Seq) {
        while self.through < seq {
            self.recv().await.expect("events");
        }
    }

    /// Close the connection (politely, if the server is still there).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The next server message within `wait`; `None` when the connection closed or broke.
async fn next_message(ws: &mut Ws, wait: Duration) -> anyhow::Result<Option<ServerMessage>> {
    loop {
        let frame = tokio::time::timeout(wait, ws.next())
            .await
            .with_context(|| format!("the server went quiet for {wait:?}"))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let msg = serde_json::from_str(&text)
                    .with_context(|| format!("bad server message {text}"))?;
                return Ok(Some(msg));
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(None),
            Some(Ok(_)) => {}
        }
    }
}
