//! A real Yishi server on 127.0.0.1:0 and real WebSocket clients speaking the protocol,
//! for the integration tests. Each server has a store of its own: SQLite in a temporary
//! directory, or a fresh schema in the PostgreSQL of `YISHI_TEST_PG`.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod board;
pub mod meeting;
pub mod staff;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sqlx::Connection;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yishi::auth::Claims;
use yishi::config::Config;
use yishi::http::{AppState, listen, router, start};
use yishi::hub::{HubConfig, now};
use yishi::store::{NewRoom, RoomKind};
use yishi_protocol::{
    ClientMessage, Command, CommandMessage, ErrorMessage, Event, Hello, PROTOCOL_VERSION,
    Participant, RequestId, Resume, Seq, ServerMessage, TallyUpdate, Welcome,
};

/// Which store a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub database: String,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    format!(
        "{prefix}_{pid}_{}_{}",
        now().0 % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Debian's nats-server binary, for the tests that run one of their own.
pub fn nats_server() -> std::path::PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("nats-server is installed")
}

/// An in-process node of a cluster on the NATS at `nats` (leases of 2 s); `keys` are the
/// token keys shared with the other nodes (new ones if `None`); `tweak` changes the rest
/// of its configuration (e.g. [`no_media`]).
pub async fn cluster_node(
    nats: &str,
    name: &str,
    database: &str,
    keys: Option<&yishi::auth::Keys>,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    let nats = nats.to_owned();
    let dir = tempfile::tempdir().unwrap();
    let keys = keys.cloned();
    TestServer::start_configured(database.to_owned(), dir, HubConfig::default(), |c| {
        c.bus = Some(yishi::config::ClusterConfig {
            nats,
            node: yishi::bus::NodeId::new(name).unwrap(),
            lease_ttl: Duration::from_secs(2),
        });
        if let Some(keys) = keys {
            c.auth.token_keys = keys;
        }
        tweak(c);
    })
    .await
}

/// For [`cluster_node`]: a node without media.
pub fn no_media(config: &mut Config) {
    config.media.sfu = None;
}

/// A database URL for `backend`: a SQLite file in `dir`, or a fresh PostgreSQL schema.
pub async fn database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("yishi.db").display()),
        Backend::Postgres => {
            // Tests on PostgreSQL are ignored unless YISHI_TEST_PG is set (build.rs); set,
            // it must answer.
            let base = std::env::var("YISHI_TEST_PG")
                .expect("YISHI_TEST_PG names the PostgreSQL for these tests");
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("YISHI_TEST_PG={base} does not answer: {e}"));
            let schema = unique("yishi_hub");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-csearch_path%3D{schema}")
        }
    }
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, HubConfig::default()).await
    }

    pub async fn start_with(backend: Backend, hub: HubConfig) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let database = database(backend, dir.path()).await;
        TestServer::start_on(database, dir, hub).await
    }

    pub async fn start_on(database: String, dir: tempfile::TempDir, hub: HubConfig) -> TestServer {
        TestServer::start_configured(database, dir, hub, |_| {}).await
    }

    /// A server on `database` that accepts the tokens `keys` sign: a second server on
    /// another's store (as nodes of a cluster share PostgreSQL), or one restarted.
    pub async fn start_with_keys(database: String, keys: yishi::auth::Keys) -> TestServer {
        TestServer::start_configured(
            database,
            tempfile::tempdir().unwrap(),
            HubConfig::default(),
            |c| c.auth.token_keys = keys,
        )
        .await
    }

    /// Like [`TestServer::start_on`], with the configuration changed by `tweak` first.
    pub async fn start_configured(
        database: String,
        dir: tempfile::TempDir,
        hub: HubConfig,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let listener = listen::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::ephemeral(addr, database.clone());
        config.store.data_dir = dir.path().to_owned();
        config.hub = hub;
        config.reports.pdf.worker = Some(pdf_worker());
        tweak(&mut config);
        let state = start(config.clone()).await.unwrap();
        let task = tokio::spawn(listen::serve(
            listener,
            router(state.clone()),
            config.http.limits.clone(),
            config.http.trusted_proxies.clone(),
            std::future::pending(),
        ));
        TestServer {
            addr,
            state,
            database,
            _dir: dir,
            task,
        }
    }

    /// Wait until the room `id` is closed in the store: its close is published with the
    /// record's final hash (at most 30 s).
    pub async fn until_closed(&self, id: &str) {
        for _ in 0..600 {
            let room = self.state.store.room(id).await.unwrap().expect("the room");
            if room.closed_at.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the room {id} was never closed");
    }

    /// Whether this node runs the room `id` now (in a cluster: owns it).
    pub fn runs(&self, id: &str) -> bool {
        self.state.hub.runs(id)
    }

    pub async fn create_room(&self, id: &str, title: &str) {
        let room = NewRoom {
            id: id.into(),
            title: title.into(),
            kind: RoomKind::Consultation,
            created_at: now(),
            settings: serde_json::json!({}),
        };
        self.state.store.create_room(&room).await.unwrap();
    }

    pub fn token(&self, room: &str, who: &Participant) -> String {
        self.state.config.auth.token_keys.mint(&Claims::new(
            room,
            who,
            now(),
            Duration::from_secs(3600),
        ))
    }

    pub async fn connect(&self, room: &str, who: &Participant) -> Client {
        Client::connect(self.addr, &self.token(room, who), None)
            .await
            .expect("welcome")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A staff account of `role` added to this server's store, logged in.
    pub async fn staff(&self, name: &str, role: yishi::staff::StaffRole) -> staff::Staff {
        staff::Staff::invited(&self.url(""), &self.state.store, name, role).await
    }

    pub fn admin_key(&self) -> &str {
        &self.state.config.auth.admin_key
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client that keeps what it received and checks batch continuity.
pub struct Client {
    pub ws: Ws,
    pub welcome: Welcome,
    /// Every event received, in order.
    pub events: Vec<Event>,
    /// The `through` of the last batch (or the snapshot's seq).
    pub through: Seq,
    pub tallies: Vec<TallyUpdate>,
    /// Errors that answered no request of ours.
    pub errors: Vec<ErrorMessage>,
    /// Media signalling from the server, in order, until taken.
    pub media: std::collections::VecDeque<ServerMessage>,
    next_req: u32,
    /// Makes this client's request ids its own.
    tag: u64,
    pub token: String,
}

/// How long a client waits for the server's next message before the test fails: long,
/// so that a busy machine (a debug build beside other builds) never fails a test; a
/// test that waits for something that never comes fails after it all the same.
const WAIT: Duration = Duration::from_secs(60);

impl Client {
    pub async fn connect(
        addr: SocketAddr,
        token: &str,
        resume: Option<Resume>,
    ) -> Result<Client, ErrorMessage> {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let hello = ClientMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
            resume: resume.clone(),
        });
        ws.send(Message::text(serde_json::to_string(&hello).unwrap()))
            .await
            .unwrap();
        let first = next_message(&mut ws).await.expect("an answer to hello");
        let welcome = match first {
            ServerMessage::Welcome(w) => *w,
            ServerMessage::Error(e) => return Err(e),
            other => panic!("expected a welcome, got {other:?}"),
        };
        let through = match (&welcome.snapshot, &resume) {
            (Some(s), _) => s.seq,
            (None, Some(r)) => r.last_seq,
            (None, None) => panic!("a welcome without snapshot to a fresh client"),
        };
        Ok(Client {
            ws,
            welcome,
            events: Vec::new(),
            through,
            tallies: Vec::new(),
            errors: Vec::new(),
            media: Default::default(),
            next_req: 0,
            tag: 0,
            token: token.to_owned(),
        })
    }

    /// Receive one message and take it in; `None` when the socket closed.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        let msg = next_message(&mut self.ws).await?;
        match &msg {
            ServerMessage::Events(batch) => {
                assert_eq!(
                    batch.from,
                    self.through + 1,
                    "a batch does not follow the previous one"
                );
                assert!(batch.through >= batch.from);
                for e in &batch.events {
                    assert!(e.seq >= batch.from && e.seq <= batch.through);
                }
                self.events.extend(batch.events.iter().cloned());
                self.through = batch.through;
            }
            ServerMessage::Welcome(w) => {
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
        Some(msg)
    }

    /// A request id unique to this client: request ids are remembered per participant
    /// across connections and restarts, so a new connection must not reuse one.
    pub fn req(&mut self) -> RequestId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static CLIENTS: AtomicU64 = AtomicU64::new(0);
        if self.next_req == 0 {
            self.tag = CLIENTS.fetch_add(1, Ordering::Relaxed);
        }
        self.next_req += 1;
        RequestId(format!(
            "c{}-{}-q{}",
            std::process::id(),
            self.tag,
            self.next_req
        ))
    }

    pub async fn send_raw(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_with(&mut self, req: RequestId, command: Command) {
        let msg = ClientMessage::Command(CommandMessage { req, command });
        self.send_raw(serde_json::to_string(&msg).unwrap()).await;
    }

    /// Send a command and wait for its answer (taking in everything before it).
    pub async fn cmd(&mut self, command: Command) -> Result<Option<Seq>, ErrorMessage> {
        let req = self.req();
        self.cmd_with(req, command).await
    }

    pub async fn cmd_with(
        &mut self,
        req: RequestId,
        command: Command,
    ) -> Result<Option<Seq>, ErrorMessage> {
        self.send_with(req.clone(), command).await;
        self.answer(&req).await
    }

    /// Wait for the ack or error of `req`.
    pub async fn answer(&mut self, req: &RequestId) -> Result<Option<Seq>, ErrorMessage> {
        loop {
            match self
                .recv()
                .await
                .expect("the server answered before closing")
            {
                ServerMessage::Ack(a) if &a.req == req => return Ok(a.seq),
                ServerMessage::Error(e) if e.req.as_ref() == Some(req) => return Err(e),
                _ => {}
            }
        }
    }

    /// A command that must succeed.
    pub async fn ok(&mut self, command: Command) -> Option<Seq> {
        let name = command.name();
        match self.cmd(command).await {
            Ok(seq) => seq,
            Err(e) => panic!("{name} refused: {e:?}"),
        }
    }

    /// Wait until an event matching `pred` has arrived; returns it.
    /// Ask for the floor for oneself: a turn of `kind` in the queue.
    pub async fn request_floor(&mut self, kind: yishi_protocol::EntryKind) -> Option<Seq> {
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
            unreachable!()
        };
        host.ok(Command::ModerateQuestion {
            question: question.id,
            decision: yishi_protocol::Decision::Approve,
        })
        .await;
        question.id
    }

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
}

async fn next_message(ws: &mut Ws) -> Option<ServerMessage> {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the server went quiet")?;
        match frame {
            Ok(Message::Text(text)) => {
                return Some(
                    serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("bad server message {text}: {e}")),
                );
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The PDF worker `make pdf-worker` builds beside the `yishi` binary the tests run (an
/// in-process server runs from `target/debug/deps/`, so it would not find it itself).
pub fn pdf_worker() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_BIN_EXE_yishi")).with_file_name("yishi-pdf")
}

/// A PDF's text as poppler's `pdftotext -layout` reads it (poppler-utils), page `page`
/// only if given, with all whitespace removed: pdftotext spaces Chinese from digits and
/// breaks lines where the layout does, so facts are compared without whitespace.
pub fn pdf_text(pdf: &[u8], page: Option<usize>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let mut cmd = std::process::Command::new("pdftotext");
    cmd.arg("-layout").arg("-enc").arg("UTF-8");
    if let Some(n) = page {
        cmd.args(["-f", &n.to_string(), "-l", &n.to_string()]);
    }
    let out = cmd
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    squash(&String::from_utf8(out.stdout).unwrap())
}

/// A CSV report (with its BOM) as rows of fields; none of ours needs quoting.
pub fn csv_rows(csv: &str) -> Vec<Vec<String>> {
    csv.strip_prefix('\u{feff}')
        .expect("a BOM")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// The number of pages of a PDF, as poppler's `pdfinfo` reads it.
pub fn pdf_pages(pdf: &[u8]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdfinfo")
        .arg(&file)
        .output()
        .expect("pdfinfo (poppler-utils) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .expect("pdfinfo prints Pages:")
        .trim()
        .parse()
        .unwrap()
}

/// Text without any whitespace (ideographic spaces included).
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect()
}
