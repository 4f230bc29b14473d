//! A real Yishi server on 127.0.0.1:0 and real WebSocket clients speaking the protocol
//! (`yishi-testkit`'s), for the integration tests. Each server has a store of its own:
//! SQLite in a temporary directory, or a fresh schema in the PostgreSQL of `YISHI_TEST_PG`.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod board;
pub mod media;
pub mod meeting;
pub mod staff;

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::Connection;
use yishi::auth::Claims;
use yishi::config::Config;
use yishi::http::{AppState, listen, router, start};
use yishi::hub::{HubConfig, now};
use yishi::store::{NewRoom, RoomKind};
use yishi_protocol::Participant;

/// The protocol client: it keeps what it received and checks batch continuity.
pub use yishi_testkit::Client;

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

    /// An anonymous audience link to `room`, valid for an hour.
    pub fn audience_link(&self, room: &str) -> String {
        self.state
            .config
            .auth
            .token_keys
            .mint(&Claims::audience_link(
                room,
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
