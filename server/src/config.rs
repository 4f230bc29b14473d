//! How the server is configured: command-line flags, the matching `YISHI_*` environment
//! variables, and an optional TOML file for the rest.
//!
//! Precedence, highest first: a flag, its environment variable, the TOML file
//! (`--config`, `YISHI_CONFIG`), the default. The file's keys are the flags' names with
//! `_` for `-` (`public_url`, `token_keys`, …); unknown keys are an error. The file is
//! flat, as the flags are; [`Config::resolve`] reads all three in one place and sorts
//! the settings into the sections of [`Config`]: `http`, `hub`, `media`, `store`, `bus`
//! (the cluster), `auth`, `webhooks`, `reports`.
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! database = "sqlite:///var/lib/yishi/yishi.db"
//! public_url = "https://yishi.example.org"
//! token_keys = ["k2:new-secret-…", "k1:old-secret-…"]   # or "k2:…,k1:…"
//! allowed_origins = ["https://yishi.example.org"]
//! max_frame_bytes = 65536
//! ```
//!
//! Secrets the operator does not give are generated on first start and kept in the data
//! directory (by default the directory of the SQLite database, `./data`), readable by
//! the owner only, so that links and the admin key survive a restart:
//!
//! - `token-key`: the HMAC key join tokens are signed with, as `kid:secret`. Used when
//!   `--token-keys` / `YISHI_TOKEN_KEYS` is not set. Delete it to invalidate every link
//!   the server has issued.
//! - `admin-key`: the bearer key of the admin API, used when `--admin-key` /
//!   `YISHI_ADMIN_KEY` is not set.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use rand::Rng;
use serde::Deserialize;

use crate::auth::{self, KeyError, Keys};
use crate::bus::{BadNodeId, NodeId};
use crate::hub::HubConfig;
use crate::media::{DEFAULT_MAX_PEERS, MediaConfig, TurnConfig};
use crate::participation::Rules;
use crate::webhooks::WebhookConfig;

/// How long TURN credentials handed to a client stay valid.
const TURN_CREDENTIAL_TTL: Duration = Duration::from_secs(12 * 3600);

/// Default address to listen on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database: an SQLite file under `./data`.
pub const DEFAULT_DATABASE: &str = "sqlite://./data/yishi.db";
/// Default largest WebSocket frame accepted from a client.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
/// File in the data directory holding the generated token key.
pub const TOKEN_KEY_FILE: &str = "token-key";
/// File in the data directory holding the generated admin key.
pub const ADMIN_KEY_FILE: &str = "admin-key";
/// The shortest admin key accepted.
pub const MIN_ADMIN_KEY_CHARS: usize = 16;
/// Default cap on open connections from one client address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 2000;
/// Default time for a request's headers, and for an idle keep-alive connection.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free of connections, for the store (SQLite opens a database,
/// WAL and shared-memory file per pooled connection), the SFU's socket, logs and the
/// refusals themselves; at most a quarter of the limit.
pub const FD_RESERVE: u64 = 256;

/// Settings shared by every subcommand that reads the server's configuration (`serve`,
/// `token`, `room`, `record`). Each is a flag, a `YISHI_*` environment variable and a key
/// of the TOML file: declared once, here.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[command(next_help_heading = "Configuration (all subcommands)")]
#[serde(default)]
pub struct ConfigArgs {
    /// TOML file with any of these settings; flags and environment variables win over it.
    #[arg(long, env = "YISHI_CONFIG", global = true, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "YISHI_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Database URL: `sqlite://PATH` or `postgres://…` [default: sqlite://./data/yishi.db].
    #[arg(long, env = "YISHI_DATABASE", global = true, value_name = "URL")]
    pub database: Option<String>,

    /// Directory for the SQLite database's default place and generated secrets
    /// (`token-key`, `admin-key`), created mode 0700 [default: the SQLite database's
    /// directory, else ./data].
    #[arg(long, env = "YISHI_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// URL users reach the server at, used in join links and as the allowed Origin
    /// [default: http://<listen>].
    #[arg(long, env = "YISHI_PUBLIC_URL", global = true, value_name = "URL")]
    pub public_url: Option<String>,

    /// Join-token signing keys as `kid:secret`, comma-separated, the signing key first;
    /// the others only verify (rotation) [default: generated once and kept in
    /// <data-dir>/token-key].
    #[arg(
        long,
        env = "YISHI_TOKEN_KEYS",
        global = true,
        value_delimiter = ',',
        hide_env_values = true,
        value_name = "KID:SECRET"
    )]
    #[serde(deserialize_with = "one_or_many")]
    pub token_keys: Vec<String>,

    /// Longest validity a join token may have (`exp` − `iat`); longer ones are refused,
    /// and `yishi token` refuses to mint them [default: 7d].
    #[arg(long, env = "YISHI_TOKEN_MAX_LIFETIME", global = true, value_parser = parse_duration, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub token_max_lifetime: Option<Duration>,

    /// Bearer key of the admin API [default: generated once and kept in
    /// <data-dir>/admin-key].
    #[arg(
        long,
        env = "YISHI_ADMIN_KEY",
        global = true,
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub admin_key: Option<String>,

    /// Credit rules of participation records (履职积分规则), a TOML or JSON file (see
    /// docs/participation.md) [default: the built-in version 1].
    #[arg(
        long,
        env = "YISHI_PARTICIPATION_RULES",
        global = true,
        value_name = "FILE"
    )]
    pub participation_rules: Option<PathBuf>,

    /// Font file for PDF output (minutes, participation records): a CJK OpenType font or
    /// collection [default: Noto Serif CJK, else Noto Sans CJK, of fonts-noto-cjk in the
    /// usual places].
    #[arg(long, env = "YISHI_PDF_FONT", global = true, value_name = "FILE")]
    pub pdf_font: Option<PathBuf>,

    /// The PDF worker program (`yishi-pdf`, built from server/pdf-worker) [default:
    /// yishi-pdf beside this executable, else on PATH].
    #[arg(long, env = "YISHI_PDF_WORKER", global = true, value_name = "FILE")]
    pub pdf_worker: Option<PathBuf>,
}

/// Settings only `serve` reads; like [`ConfigArgs`], each is a flag, a variable and a key.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default)]
pub struct ServeArgs {
    /// Create a demo consultation and a demo lecture and print links to join them
    /// (`YISHI_DEMO` accepts 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "YISHI_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,

    /// Largest WebSocket frame accepted from a client, in bytes [default: 65536].
    #[arg(long, env = "YISHI_MAX_FRAME_BYTES", value_name = "BYTES")]
    pub max_frame_bytes: Option<usize>,

    /// Origins allowed to open a WebSocket, comma-separated [default: the public URL's
    /// origin].
    #[arg(
        long,
        env = "YISHI_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    #[serde(deserialize_with = "one_or_many")]
    pub allowed_origins: Vec<String>,

    /// Open connections (HTTP and WebSocket) served at once; beyond it new ones get a
    /// 503 at once [default: the open-file limit minus a reserve for the store and the
    /// SFU].
    #[arg(long, env = "YISHI_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Open connections from one client address; beyond it a 503. Trusted proxies are
    /// not limited [default: 2000].
    #[arg(long, env = "YISHI_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Time a client has to send a request's headers, and that an idle keep-alive
    /// connection is kept [default: 10s].
    #[arg(long, env = "YISHI_HEADER_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Option<Duration>,

    /// How long a departed connection's resume session is remembered (an anonymous
    /// viewer who comes back within it keeps their identity) [default: 30s, at most 30s
    /// recommended].
    #[arg(long, env = "YISHI_RESUME_GRACE", value_parser = parse_duration, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub resume_grace: Option<Duration>,

    /// Secret ballots reach the sealed ballot box in batches of at least this many per
    /// poll and electorate (the last batch at close may be smaller); a voter's
    /// acknowledgement waits for their batch [default: 5].
    #[arg(long, env = "YISHI_BALLOT_BATCH", value_name = "K")]
    pub ballot_batch: Option<usize>,

    /// Frames a member's or host's connection may have queued before it is closed with
    /// "resume" (the client catches up through resume) [default: 512].
    #[arg(long, env = "YISHI_MEMBER_QUEUE", value_name = "FRAMES")]
    pub member_queue: Option<usize>,

    /// Frames an audience connection may have queued before it is resynchronised from a
    /// snapshot [default: 128].
    #[arg(long, env = "YISHI_AUDIENCE_QUEUE", value_name = "FRAMES")]
    pub audience_queue: Option<usize>,

    /// Events each room keeps in memory for resume; a client further behind gets a
    /// snapshot [default: 8192].
    #[arg(long, env = "YISHI_RESUME_WINDOW", value_name = "EVENTS")]
    pub resume_window: Option<usize>,

    /// Resume sessions a room keeps at most; the oldest departed ones go first
    /// [default: 100000].
    #[arg(long, env = "YISHI_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<usize>,

    /// Commands per second one connection may send, bursts twice that; beyond,
    /// `rate_limited` [default: 20].
    #[arg(long, env = "YISHI_COMMANDS_PER_SECOND", value_name = "N")]
    pub commands_per_second: Option<u32>,

    /// Commands per second from one client address over all its connections, bursts
    /// twice that [default: 400].
    #[arg(long, env = "YISHI_COMMANDS_PER_IP", value_name = "N")]
    pub commands_per_ip: Option<u32>,

    /// New connections (hellos) per second from one client address, bursts twice that;
    /// bounds the anonymous viewer identities one address can obtain [default: 200].
    #[arg(long, env = "YISHI_JOINS_PER_IP", value_name = "N")]
    pub joins_per_ip: Option<u32>,

    /// How often running poll tallies are sent, in milliseconds [default: 500].
    #[arg(long, env = "YISHI_TALLY_INTERVAL_MS", value_name = "MS")]
    pub tally_interval_ms: Option<u64>,

    /// Bearer key for `/metrics` [default: the admin key].
    #[arg(
        long,
        env = "YISHI_METRICS_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub metrics_key: Option<String>,

    /// Also serve `/metrics` without a key on this (private) address, for a scraper on
    /// the host or an internal network.
    #[arg(long, env = "YISHI_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// UDP address of the SFU (audio and video); every peer uses this one port
    /// [default: the listen address's IP and port, over UDP].
    #[arg(long, env = "YISHI_MEDIA_LISTEN", value_name = "ADDR")]
    pub media_listen: Option<SocketAddr>,

    /// Public IP address of the SFU, offered to peers besides the bound one (behind NAT).
    #[arg(long, env = "YISHI_MEDIA_PUBLIC_IP", value_name = "IP")]
    pub media_public_ip: Option<std::net::IpAddr>,

    /// Media sessions the SFU takes at most; more get `media_unavailable` [default: 1000].
    #[arg(long, env = "YISHI_MEDIA_MAX_PEERS", value_name = "N")]
    pub media_max_peers: Option<usize>,

    /// Run without the SFU: rooms work, audio and video are refused with
    /// `media_unavailable`.
    #[arg(long, env = "YISHI_NO_MEDIA", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_media: bool,

    /// Lift the board's rate limits (20 commands a minute per identity, 120 commands
    /// and new identities a minute per address): for load tests only, never in
    /// production.
    #[arg(long, env = "YISHI_NO_BOARD_RATE_LIMITS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_board_rate_limits: bool,

    /// STUN/TURN URLs handed to clients (e.g. `turn:turn.example.org:3478`),
    /// comma-separated; see deploy/coturn/.
    #[arg(
        long,
        env = "YISHI_TURN_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    #[serde(deserialize_with = "one_or_many")]
    pub turn_urls: Vec<String>,

    /// The TURN server's shared secret (coturn `static-auth-secret`): clients get
    /// credentials valid for 12 hours.
    #[arg(
        long,
        env = "YISHI_TURN_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub turn_secret: Option<String>,

    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or networks, e.g.
    /// `127.0.0.1,10.0.0.0/8`): per-address limits then apply to the client's address,
    /// not the proxy's. None by default.
    #[arg(
        long,
        env = "YISHI_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "IP[/BITS]"
    )]
    #[serde(deserialize_with = "one_or_many")]
    pub trusted_proxies: Vec<String>,

    /// Run as a node of a cluster whose nodes meet at this NATS server (with JetStream),
    /// e.g. `nats://10.0.0.5:4222`. Needs a PostgreSQL `--database` shared by every node,
    /// and `--node-id`. Without it the server runs alone.
    #[arg(long, env = "YISHI_CLUSTER", value_name = "NATS_URL")]
    pub cluster: Option<String>,

    /// This node's name in the cluster, unique among its nodes: 1 to 64 ASCII letters,
    /// digits, `-` or `_`.
    #[arg(long, env = "YISHI_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,

    /// How long a node's ownership of a room lasts unless renewed: after a node dies,
    /// its rooms move to other nodes within about this time [default: 5s].
    #[arg(long, env = "YISHI_LEASE_TTL", value_parser = parse_duration, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub lease_ttl: Option<Duration>,

    /// How long the livestream's recordings of the stage are kept (under
    /// `<data dir>/recordings`) before they are removed, e.g. `180d` [default: for ever].
    #[arg(long, env = "YISHI_KEEP_RECORDINGS", value_parser = parse_duration, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub keep_recordings: Option<Duration>,

    /// The livestream's video size, `WIDTHxHEIGHT` (even numbers), e.g. `640x360` for an
    /// audience on phones and weak networks [default: 1280x720].
    #[arg(long, env = "YISHI_LIVE_SIZE", value_name = "WxH")]
    pub live_size: Option<LiveSize>,

    /// The livestream's video bit rate in kbit/s [default: 2500].
    #[arg(long, env = "YISHI_LIVE_KBPS", value_name = "KBPS")]
    pub live_kbps: Option<u32>,

    /// How long a staff session of the console lasts unused; a session also ends 12 hours
    /// after its login [default: 30m].
    #[arg(long, env = "YISHI_STAFF_IDLE", value_parser = parse_duration, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub staff_idle: Option<Duration>,

    /// Milliseconds before the first retry of a failed webhook delivery; later retries
    /// back off from it (for tests) [default: 5000].
    #[arg(
        long,
        env = "YISHI_WEBHOOK_RETRY_BASE_MS",
        hide = true,
        value_name = "MS"
    )]
    pub webhook_retry_base_ms: Option<u64>,
}

/// Default lifetime of a room lease in a cluster.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// How this node joins a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS server the nodes meet at.
    pub nats: String,
    pub node: NodeId,
    /// Lifetime of a room lease (and of a node's membership) unless renewed.
    pub lease_ttl: Duration,
}

/// How the HTTP listener treats connections (see `http/listen.rs`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; the next gets a 503.
    pub max_connections: usize,
    /// Connections from one address at once (trusted proxies excepted).
    pub max_connections_per_ip: usize,
    /// For a request's headers, and for an idle keep-alive connection.
    pub header_timeout: Duration,
}

/// The server's resolved configuration, in sections: every default applied, every
/// secret loaded. [`Config::resolve`] is the one place that reads the flags, the
/// environment and the file into it.
#[derive(Debug, Clone)]
pub struct Config {
    /// Serving HTTP and WebSocket: addresses, the public URL, origins, limits.
    pub http: HttpConfig,
    /// The hub's limits and sizes (frame size, queues, rates, resume, ballot batches,
    /// TURN).
    pub hub: HubConfig,
    /// Audio and video: the SFU and the livestream.
    pub media: MediaSettings,
    /// Where the record and the generated secrets are kept.
    pub store: StoreConfig,
    /// Set when this server is a node of a cluster (`--cluster`): the NATS server the
    /// nodes meet at, this node's name, the lease TTL.
    pub bus: Option<ClusterConfig>,
    /// The keys: join tokens, the admin API, `/metrics`; staff sessions.
    pub auth: AuthConfig,
    /// How webhooks are sent (retries, timeout).
    pub webhooks: WebhookConfig,
    /// What reports are made with: participation rules, PDF output.
    pub reports: ReportsConfig,
    /// Whether to create demo rooms and print their links at start.
    pub demo: bool,
}

/// How HTTP and WebSocket connections are served.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen for HTTP and WebSocket connections.
    pub listen: SocketAddr,
    /// The URL users reach the server at (no trailing `/`): join links are built on it.
    pub public_url: String,
    /// Values of the `Origin` header accepted on the WebSocket (`scheme://host[:port]`,
    /// no trailing `/`); others get `origin_forbidden`. `*` accepts any.
    pub allowed_origins: Vec<String>,
    /// The connection limits of the listener.
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// A private listener serving `/metrics` without a key.
    pub metrics_listen: Option<SocketAddr>,
    /// Whether the board's per-identity and per-address rate limits apply (lifted only
    /// for load tests, `--no-board-rate-limits`).
    pub board_rate_limits: bool,
}

/// Audio and video.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// The SFU's socket, if media is on (`--no-media` turns it off).
    pub sfu: Option<MediaConfig>,
    /// How the livestream is encoded (the worker program, the video size) and how long
    /// its recordings are kept.
    pub live: crate::live::LiveConfig,
}

/// Where things are kept.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where the record is kept: `sqlite://…` (default, embedded) or `postgres://…`.
    pub database: String,
    /// Where generated secrets (and the livestream's recordings) are kept, so that links
    /// survive restarts.
    pub data_dir: PathBuf,
}

/// Keys and sessions.
#[derive(Clone)]
pub struct AuthConfig {
    /// Keys that sign (first) and verify join tokens, with the longest lifetime allowed.
    pub token_keys: Keys,
    /// Where the token keys came from (for the start-up log).
    pub token_keys_source: SecretSource,
    /// Bearer key for `/api/v1`.
    pub admin_key: String,
    /// Where the admin key came from (for the start-up log).
    pub admin_key_source: SecretSource,
    /// Bearer key for `/metrics` on the public listener.
    pub metrics_key: String,
    /// How long a staff session lasts unused.
    pub staff_idle: Duration,
}

impl fmt::Debug for AuthConfig {
    /// Everything but the admin and metrics keys; the token keys show only their ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("token_keys", &self.token_keys)
            .field("token_keys_source", &self.token_keys_source)
            .field("admin_key", &"…")
            .field("admin_key_source", &self.admin_key_source)
            .field("metrics_key", &"…")
            .field("staff_idle", &self.staff_idle)
            .finish()
    }
}

/// What reports are made with.
#[derive(Debug, Clone)]
pub struct ReportsConfig {
    /// The credit rules of participation records (履职档案).
    pub participation_rules: Rules,
    /// The font file and worker of PDF output, if configured (else the usual places).
    pub pdf: crate::pdf::Settings,
}

/// Where a secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A flag, an environment variable or the config file.
    Configured,
    /// A file in the data directory, written by an earlier start.
    Stored(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
    /// Generated now and kept in memory only ([`Config::ephemeral`]).
    Ephemeral,
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Configured => f.write_str("configured"),
            SecretSource::Stored(p) => write!(f, "stored in {}", p.display()),
            SecretSource::Generated(p) => write!(f, "generated and stored in {}", p.display()),
            SecretSource::Ephemeral => f.write_str("generated, in memory only"),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },
    #[error("config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("token keys: {0}")]
    TokenKeys(#[from] KeyError),
    #[error("{path}: {message}")]
    StoredKey { path: PathBuf, message: String },
    #[error("cannot keep a generated secret in {path}: {source}")]
    WriteSecret { path: PathBuf, source: io::Error },
    #[error("admin key is shorter than {MIN_ADMIN_KEY_CHARS} characters")]
    ShortAdminKey,
    #[error("metrics key is shorter than {MIN_ADMIN_KEY_CHARS} characters")]
    ShortMetricsKey,
    #[error("public URL {0:?} must start with http:// or https:// and name a host")]
    PublicUrl(String),
    #[error("allowed origin {0:?} must be `*` or scheme://host[:port]")]
    Origin(String),
    #[error("trusted proxy {0:?} must be an IP address or a network (10.0.0.0/8)")]
    Proxy(String),
    #[error("--{flag} ({}) must be {range}, not {value}", env_name(flag))]
    OutOfRange {
        /// The flag's name without `--`.
        flag: &'static str,
        /// What is allowed, e.g. `from 1 to 10000`.
        range: String,
        value: String,
    },
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error(
        "a cluster keeps its record in PostgreSQL shared by every node, not in {0:?}: \
         give --database postgres://… (or YISHI_DATABASE)"
    )]
    ClusterNeedsPostgres(String),
    #[error("a node of a cluster needs a name: give --node-id NAME (or YISHI_NODE_ID)")]
    ClusterNeedsNodeId,
    #[error(
        "every node of a cluster must share the token keys and the admin key (a link minted \
         by one node is checked by the node the client reaches): give --token-keys and \
         --admin-key (or YISHI_TOKEN_KEYS and YISHI_ADMIN_KEY), the same on every node"
    )]
    ClusterNeedsSharedKeys,
    #[error("--node-id and --lease-ttl only mean something with --cluster nats://…")]
    NotClustered,
    #[error("cluster URL {0:?} must be nats://HOST:PORT")]
    ClusterUrl(String),
    #[error(transparent)]
    NodeId(#[from] BadNodeId),
    #[error("lease TTL must be between 1s and 1h")]
    LeaseTtl,
    #[error("participation rules {path}: {message}")]
    Rules { path: PathBuf, message: String },
}

/// The TOML file: the same keys as the flags (with `_` or `-`), nothing else.
#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    #[serde(flatten)]
    common: ConfigArgs,
    #[serde(flatten)]
    serve: ServeArgs,
    /// Whatever neither part knows: refused.
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, toml::Value>,
}

impl Limits {
    /// The open-file limit (raised to its hard limit first, where allowed) minus the
    /// reserve for the store and the SFU ([`FD_RESERVE`], at most a quarter).
    pub fn default_max_connections() -> usize {
        let limit = rlimit::increase_nofile_limit(u64::MAX)
            .ok()
            .or_else(|| {
                rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .ok()
                    .map(|l| l.0)
            })
            .unwrap_or(1024);
        let reserve = FD_RESERVE.min(limit / 4);
        usize::try_from(limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
    }
}

/// A list as a TOML array, or as one comma-separated string.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
        OneOrMany::Many(v) => v,
    })
}

/// A duration as in [`parse_duration`] (`"30s"`, `"7d"`), or a number of seconds.
fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Secs(u64),
        Text(String),
    }
    match Text::deserialize(d)? {
        Text::Secs(s) => Ok(Some(Duration::from_secs(s))),
        Text::Text(t) => parse_duration(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The cluster settings, checked: a NATS URL, a node id, PostgreSQL.
fn cluster_config(
    nats: Option<String>,
    node: Option<String>,
    lease_ttl: Option<Duration>,
    database: &str,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(nats) = nats.filter(|n| !n.trim().is_empty()) else {
        return match (node, lease_ttl) {
            (None, None) => Ok(None),
            _ => Err(ConfigError::NotClustered),
        };
    };
    let nats = nats.trim().to_owned();
    let host = nats
        .strip_prefix("nats://")
        .ok_or_else(|| ConfigError::ClusterUrl(crate::bus::redact(&nats)))?;
    if host.is_empty() || host.contains('/') {
        return Err(ConfigError::ClusterUrl(crate::bus::redact(&nats)));
    }
    if !(database.starts_with("postgres://") || database.starts_with("postgresql://")) {
        return Err(ConfigError::ClusterNeedsPostgres(database.to_owned()));
    }
    let node = NodeId::new(node.as_deref().ok_or(ConfigError::ClusterNeedsNodeId)?)?;
    let lease_ttl = lease_ttl.unwrap_or(DEFAULT_LEASE_TTL);
    if lease_ttl < Duration::from_secs(1) || lease_ttl > Duration::from_secs(3600) {
        return Err(ConfigError::LeaseTtl);
    }
    Ok(Some(ClusterConfig {
        nats,
        node,
        lease_ttl,
    }))
}

/// The hub's settings but TURN: each the flag's (or its variable's) value, else the
/// file's, else the default, and checked.
fn hub_config(serve: &ServeArgs, file: &ServeArgs) -> Result<HubConfig, ConfigError> {
    let d = HubConfig::default();
    Ok(HubConfig {
        max_frame_bytes: bounded(
            "max-frame-bytes",
            pick(serve.max_frame_bytes, file.max_frame_bytes).unwrap_or(DEFAULT_MAX_FRAME_BYTES),
            1024..=16 * 1024 * 1024,
        )?,
        member_queue: bounded(
            "member-queue",
            pick(serve.member_queue, file.member_queue).unwrap_or(d.member_queue),
            1..=1_000_000,
        )?,
        audience_queue: bounded(
            "audience-queue",
            pick(serve.audience_queue, file.audience_queue).unwrap_or(d.audience_queue),
            1..=1_000_000,
        )?,
        resume_window: bounded(
            "resume-window",
            pick(serve.resume_window, file.resume_window).unwrap_or(d.resume_window),
            1..=1_000_000,
        )?,
        commands_per_second: bounded(
            "commands-per-second",
            pick(serve.commands_per_second, file.commands_per_second)
                .unwrap_or(d.commands_per_second),
            1..=10_000,
        )?,
        commands_per_ip: bounded(
            "commands-per-ip",
            pick(serve.commands_per_ip, file.commands_per_ip).unwrap_or(d.commands_per_ip),
            1..=1_000_000,
        )?,
        joins_per_ip: bounded(
            "joins-per-ip",
            pick(serve.joins_per_ip, file.joins_per_ip).unwrap_or(d.joins_per_ip),
            1..=1_000_000,
        )?,
        tally_interval_ms: bounded(
            "tally-interval-ms",
            pick(serve.tally_interval_ms, file.tally_interval_ms).unwrap_or(d.tally_interval_ms),
            50..=60_000,
        )?,
        turn: None,
        resume_grace: match pick(serve.resume_grace, file.resume_grace) {
            None => d.resume_grace,
            Some(grace) if (1..=3600).contains(&grace.as_secs()) => grace,
            Some(grace) => {
                return Err(ConfigError::OutOfRange {
                    flag: "resume-grace",
                    range: "from 1s to 1h".into(),
                    value: format!("{}s", grace.as_secs()),
                });
            }
        },
        max_sessions: bounded(
            "max-sessions",
            pick(serve.max_sessions, file.max_sessions).unwrap_or(d.max_sessions),
            1..=10_000_000,
        )?,
        ballot_batch: bounded(
            "ballot-batch",
            pick(serve.ballot_batch, file.ballot_batch).unwrap_or(d.ballot_batch),
            1..=1000,
        )?,
    })
}

/// `value` if `range` holds it, else an error naming `flag` (without `--`).
fn bounded<T: PartialOrd + fmt::Display>(
    flag: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            flag,
            range: format!("from {} to {}", range.start(), range.end()),
            value: value.to_string(),
        })
    }
}

/// The environment variable of a flag: `commands-per-second` → `YISHI_COMMANDS_PER_SECOND`.
fn env_name(flag: &str) -> String {
    format!("YISHI_{}", flag.replace('-', "_").to_ascii_uppercase())
}

/// The flag's value if given, else the file's.
fn pick<T>(flag: Option<T>, file: Option<T>) -> Option<T> {
    flag.or(file)
}

/// The flag's list if given, else the file's.
fn pick_list(flag: &[String], file: Vec<String>) -> Vec<String> {
    if flag.is_empty() { file } else { flag.to_vec() }
}

impl Config {
    /// Resolve flags (with their environment variables), the config file they name and
    /// the defaults; load or generate the secrets.
    pub fn resolve(args: &ConfigArgs, serve: &ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let FileConfig {
            common: f,
            serve: fs,
            ..
        } = file;
        let hub = hub_config(serve, &fs)?;
        let listen = pick(args.listen, f.listen).unwrap_or_else(default_listen);
        let database =
            pick(args.database.clone(), f.database).unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let data_dir =
            pick(args.data_dir.clone(), f.data_dir).unwrap_or_else(|| default_data_dir(&database));
        // Checked before the secrets: a node misconfigured for a cluster writes nothing
        // locally.
        let cluster = cluster_config(
            pick(serve.cluster.clone(), fs.cluster),
            pick(serve.node_id.clone(), fs.node_id),
            pick(serve.lease_ttl, fs.lease_ttl),
            &database,
        )?;

        let (public_url, public_url_defaulted) = match pick(args.public_url.clone(), f.public_url) {
            Some(url) => (url.trim_end_matches('/').to_owned(), false),
            None => (default_public_url(listen), true),
        };
        let public_origin =
            origin_of(&public_url).ok_or_else(|| ConfigError::PublicUrl(public_url.clone()))?;

        let token_key_items = pick_list(&args.token_keys, f.token_keys);
        // Keys generated per node would make every node refuse the others' links.
        if cluster.is_some()
            && (token_key_items.iter().all(|s| s.trim().is_empty())
                || pick(args.admin_key.as_ref(), f.admin_key.as_ref()).is_none())
        {
            return Err(ConfigError::ClusterNeedsSharedKeys);
        }
        let (token_keys, token_keys_source) =
            if token_key_items.iter().any(|s| !s.trim().is_empty()) {
                (
                    Keys::parse(token_key_items.iter().map(String::as_str))?,
                    SecretSource::Configured,
                )
            } else {
                let (list, source) = stored_secret(&data_dir.join(TOKEN_KEY_FILE), || {
                    Keys::generate().to_list()
                })?;
                let keys = Keys::parse_list(&list).map_err(|e| ConfigError::StoredKey {
                    path: data_dir.join(TOKEN_KEY_FILE),
                    message: e.to_string(),
                })?;
                (keys, source)
            };
        let token_keys = token_keys.with_max_lifetime(
            pick(args.token_max_lifetime, f.token_max_lifetime)
                .unwrap_or(auth::DEFAULT_MAX_LIFETIME),
        );

        let (admin_key, admin_key_source) = match pick(args.admin_key.clone(), f.admin_key) {
            Some(key) => (key, SecretSource::Configured),
            None => stored_secret(&data_dir.join(ADMIN_KEY_FILE), random_secret)?,
        };
        if admin_key.chars().count() < MIN_ADMIN_KEY_CHARS {
            return Err(ConfigError::ShortAdminKey);
        }
        let metrics_key =
            pick(serve.metrics_key.clone(), fs.metrics_key).unwrap_or_else(|| admin_key.clone());
        if metrics_key.chars().count() < MIN_ADMIN_KEY_CHARS {
            return Err(ConfigError::ShortMetricsKey);
        }

        let mut allowed_origins = Vec::new();
        for origin in pick_list(&serve.allowed_origins, fs.allowed_origins)
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
        {
            let normalised = if origin == "*" {
                "*".to_owned()
            } else {
                origin_of(origin)
                    .filter(|o| o.len() == origin.trim_end_matches('/').len())
                    .ok_or_else(|| ConfigError::Origin(origin.to_owned()))?
            };
            allowed_origins.push(normalised);
        }
        if allowed_origins.is_empty() {
            allowed_origins = default_origins(&public_origin, listen, public_url_defaulted);
        }

        let media = (!(serve.no_media || fs.no_media)).then(|| MediaConfig {
            bind: pick(serve.media_listen, fs.media_listen).unwrap_or(listen),
            public_ip: pick(serve.media_public_ip, fs.media_public_ip),
            max_peers: pick(serve.media_max_peers, fs.media_max_peers).unwrap_or(DEFAULT_MAX_PEERS),
        });

        let turn_urls = pick_list(&serve.turn_urls, fs.turn_urls);
        let turn = (!turn_urls.is_empty()).then(|| TurnConfig {
            urls: turn_urls,
            secret: pick(serve.turn_secret.clone(), fs.turn_secret),
            ttl: TURN_CREDENTIAL_TTL,
        });

        let trusted_proxies = pick_list(&serve.trusted_proxies, fs.trusted_proxies)
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ConfigError::Proxy(p.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let limits = Limits {
            max_connections: pick(serve.max_connections, fs.max_connections)
                .unwrap_or_else(Limits::default_max_connections),
            max_connections_per_ip: pick(serve.max_connections_per_ip, fs.max_connections_per_ip)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_IP),
            header_timeout: pick(serve.header_timeout, fs.header_timeout)
                .unwrap_or(DEFAULT_HEADER_TIMEOUT),
        };
        if limits.max_connections == 0 {
            return Err(ConfigError::Zero("max connections"));
        }
        if limits.max_connections_per_ip == 0 {
            return Err(ConfigError::Zero("max connections per IP"));
        }
        let hub = HubConfig { turn, ..hub };
        let staff_idle =
            pick(serve.staff_idle, fs.staff_idle).unwrap_or(crate::staff::SESSION_IDLE);
        if staff_idle < Duration::from_secs(1) {
            return Err(ConfigError::Zero("staff idle (in seconds)"));
        }

        Ok(Config {
            http: HttpConfig {
                listen,
                public_url,
                allowed_origins,
                limits,
                trusted_proxies,
                metrics_listen: pick(serve.metrics_listen, fs.metrics_listen),
                board_rate_limits: !(serve.no_board_rate_limits || fs.no_board_rate_limits),
            },
            hub,
            media: MediaSettings {
                sfu: media,
                live: crate::live::LiveConfig {
                    keep_recordings: pick(serve.keep_recordings, fs.keep_recordings),
                    ..live_config(
                        pick(serve.live_size, fs.live_size),
                        pick(serve.live_kbps, fs.live_kbps),
                    )
                },
            },
            store: StoreConfig { database, data_dir },
            bus: cluster,
            auth: AuthConfig {
                token_keys,
                token_keys_source,
                admin_key,
                admin_key_source,
                metrics_key,
                staff_idle,
            },
            webhooks: match pick(serve.webhook_retry_base_ms, fs.webhook_retry_base_ms) {
                Some(ms) => WebhookConfig::with_retry_base(Duration::from_millis(ms.max(1))),
                None => WebhookConfig::default(),
            },
            reports: ReportsConfig {
                participation_rules: read_rules(pick(
                    args.participation_rules.clone(),
                    f.participation_rules,
                ))?,
                pdf: crate::pdf::Settings {
                    font: pick(args.pdf_font.clone(), f.pdf_font),
                    worker: pick(args.pdf_worker.clone(), f.pdf_worker),
                },
            },
            demo: serve.demo || fs.demo,
        })
    }

    /// Only the font file and worker of PDF output (flag, environment, file), for
    /// `yishi minutes` and `yishi report`; `None` to look in the usual places.
    pub fn resolve_pdf(args: &ConfigArgs) -> Result<crate::pdf::Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?.common,
            None => ConfigArgs::default(),
        };
        Ok(crate::pdf::Settings {
            font: pick(args.pdf_font.clone(), file.pdf_font),
            worker: pick(args.pdf_worker.clone(), file.pdf_worker),
        })
    }

    /// Only the participation rules (flag, environment, file, built-in), for `yishi
    /// report`.
    pub fn resolve_rules(args: &ConfigArgs) -> Result<Rules, ConfigError> {
        if args.participation_rules.is_some() {
            return read_rules(args.participation_rules.clone());
        }
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        read_rules(file.common.participation_rules)
    }

    /// Only the database URL (flag, environment, file, default), for the subcommands that
    /// read the store and need no secrets.
    pub fn resolve_database(args: &ConfigArgs) -> Result<String, ConfigError> {
        if let Some(database) = &args.database {
            return Ok(database.clone());
        }
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Ok(file
            .common
            .database
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()))
    }

    /// A configuration for tests and embedding: listen on `listen`, keep the record in
    /// `database`, fresh secrets in memory (nothing written), defaults for the rest.
    pub fn ephemeral(listen: SocketAddr, database: impl Into<String>) -> Config {
        let database = database.into();
        let public_url = default_public_url(listen);
        let allowed_origins = origin_of(&public_url)
            .map(|o| default_origins(&o, listen, true))
            .unwrap_or_default();
        Config {
            http: HttpConfig {
                listen,
                public_url,
                allowed_origins,
                limits: Limits {
                    max_connections: Limits::default_max_connections(),
                    max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
                    header_timeout: DEFAULT_HEADER_TIMEOUT,
                },
                trusted_proxies: Vec::new(),
                metrics_listen: None,
                board_rate_limits: true,
            },
            hub: HubConfig::default(),
            media: MediaSettings {
                sfu: Some(MediaConfig {
                    bind: SocketAddr::new(listen.ip(), 0),
                    public_ip: None,
                    max_peers: DEFAULT_MAX_PEERS,
                }),
                live: crate::live::LiveConfig::default(),
            },
            store: StoreConfig {
                data_dir: default_data_dir(&database),
                database,
            },
            bus: None,
            auth: AuthConfig {
                token_keys: Keys::generate(),
                token_keys_source: SecretSource::Ephemeral,
                admin_key: random_secret(),
                admin_key_source: SecretSource::Ephemeral,
                metrics_key: random_secret(),
                staff_idle: crate::staff::SESSION_IDLE,
            },
            webhooks: WebhookConfig::default(),
            reports: ReportsConfig {
                participation_rules: Rules::default(),
                pdf: crate::pdf::Settings::default(),
            },
            demo: false,
        }
    }

    /// The link that opens `room` in the web client with `token`: the token sits in the
    /// URL fragment, which browsers never send to a server, so it stays out of access
    /// logs.
    pub fn join_link(&self, room: &str, token: &str) -> String {
        join_link(&self.http.public_url, room, token)
    }
}

/// `<public_url>/join#room=<room>&token=<token>`, the room percent-encoded.
pub fn join_link(public_url: &str, room: &str, token: &str) -> String {
    format!(
        "{}/join#room={}&token={}",
        public_url.trim_end_matches('/'),
        percent_encode(room),
        percent_encode(token)
    )
}

/// The livestream's video size (`--live-size`): even, from 160x90 to 3840x2160.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LiveSize {
    pub width: u32,
    pub height: u32,
}

impl std::str::FromStr for LiveSize {
    type Err = String;

    fn from_str(text: &str) -> Result<LiveSize, String> {
        let bad = || format!("{text:?}: give WIDTHxHEIGHT, e.g. 640x360");
        let (w, h) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let width: u32 = w.parse().map_err(|_| bad())?;
        let height: u32 = h.parse().map_err(|_| bad())?;
        if !(160..=3840).contains(&width) || !(90..=2160).contains(&height) {
            return Err(format!("{text:?}: from 160x90 to 3840x2160"));
        }
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(format!("{text:?}: the encoder needs even sizes"));
        }
        Ok(LiveSize { width, height })
    }
}

impl TryFrom<String> for LiveSize {
    type Error = String;

    fn try_from(text: String) -> Result<LiveSize, String> {
        text.parse()
    }
}

/// The livestream's encoding from `--live-size` and `--live-kbps`, defaults elsewhere.
fn live_config(size: Option<LiveSize>, kbps: Option<u32>) -> crate::live::LiveConfig {
    let d = crate::live::LiveConfig::default();
    crate::live::LiveConfig {
        width: size.map_or(d.width, |s| s.width),
        height: size.map_or(d.height, |s| s.height),
        video_kbps: kbps.map_or(d.video_kbps, |k| k.clamp(100, 50_000)),
        ..d
    }
}

/// Parse a duration such as `90s`, `30m`, `2h`, `7d` or `1h30m`. A bare number is
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{text:?}: unknown unit {c:?} (use s, m, h or d)")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?}: expected a number before {c:?}"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!("{text:?}: the last number has no unit"));
    }
    Ok(Duration::from_secs(total))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// `http://<listen>`, with `localhost` for an unspecified address (`0.0.0.0`, `[::]`),
/// which no browser can open.
fn default_public_url(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("http://localhost:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

/// The public origin; for a default public URL on a loopback address, also the same
/// port on `localhost` and `127.0.0.1`, which a browser on that machine may use.
fn default_origins(public_origin: &str, listen: SocketAddr, defaulted: bool) -> Vec<String> {
    let mut origins = vec![public_origin.to_owned()];
    if defaulted && (listen.ip().is_loopback() || listen.ip().is_unspecified()) {
        for host in ["localhost", "127.0.0.1"] {
            let o = format!("http://{host}:{}", listen.port());
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
    }
    origins
}

/// The directory of an SQLite database file, else `./data`.
fn default_data_dir(database: &str) -> PathBuf {
    sqlite_path(database)
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p
            }
        })
        .unwrap_or_else(|| PathBuf::from("./data"))
}

/// The file of an `sqlite:` URL (`sqlite://./a.db`, `sqlite:///abs/a.db`, `sqlite:a.db`,
/// with or without `?options`); `None` for other databases and in-memory SQLite.
pub fn sqlite_path(database: &str) -> Option<PathBuf> {
    let rest = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// `scheme://host[:port]` of an http(s) URL, lowercased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The rules in the file at `path`, or the built-in ones.
fn read_rules(path: Option<PathBuf>) -> Result<Rules, ConfigError> {
    let Some(path) = path else {
        return Ok(Rules::default());
    };
    let text = fs::read_to_string(&path).map_err(|e| ConfigError::Rules {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Rules::parse(&text).map_err(|e| ConfigError::Rules {
        path,
        message: e.to_string(),
    })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let parse_err = |message: String| ConfigError::ParseFile {
        path: path.to_owned(),
        message,
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?;
    // Keys may be written as the flags are (`public-url`) or with `_`.
    let table: toml::Table = table
        .into_iter()
        .map(|(k, v)| (k.replace('-', "_"), v))
        .collect();
    let file =
        FileConfig::deserialize(toml::Value::Table(table)).map_err(|e| parse_err(e.to_string()))?;
    if let Some(key) = file.unknown.keys().next() {
        return Err(parse_err(format!("unknown key `{key}`")));
    }
    Ok(file)
}

/// Read the secret in `path`, or generate one with `generate` and write it there,
/// readable by the owner only. Two processes starting at once agree on one secret.
fn stored_secret(
    path: &Path,
    generate: fn() -> String,
) -> Result<(String, SecretSource), ConfigError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            let secret = text.trim().to_owned();
            if secret.is_empty() {
                return Err(ConfigError::StoredKey {
                    path: path.to_owned(),
                    message: "is empty: delete it to generate a new secret".into(),
                });
            }
            return Ok((secret, SecretSource::Stored(path.to_owned())));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ConfigError::StoredKey {
                path: path.to_owned(),
                message: source.to_string(),
            });
        }
    }
    let write_err = |source| ConfigError::WriteSecret {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_err)?;
    }
    let secret = generate();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{secret}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(write_err)?;
            Ok((secret, SecretSource::Generated(path.to_owned())))
        }
        // Another process wrote it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => stored_secret(path, String::new),
        Err(source) => Err(write_err(source)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "secret file is readable by others: chmod 600 it");
        }
    }
}

/// 32 random bytes as 64 hex digits.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("yishi-config-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn resolve(args: &[&str]) -> Result<Config, ConfigError> {
        let cli =
            Cli::try_parse_from(std::iter::once("yishi").chain(args.iter().copied())).unwrap();
        Config::resolve(&cli.config, &cli.serve)
    }

    #[test]
    fn defaults_apply_and_secrets_are_generated_once_and_kept() {
        let dir = temp_dir("defaults");
        let db = format!("sqlite://{}/yishi.db", dir.display());
        let c = resolve(&["--database", &db]).unwrap();
        assert_eq!(c.http.listen, default_listen());
        assert_eq!(c.store.data_dir, dir);
        assert_eq!(c.http.public_url, "http://127.0.0.1:8080");
        assert_eq!(
            c.http.allowed_origins,
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        assert_eq!(c.hub.max_frame_bytes, 65536);
        assert!(!c.demo);
        assert_eq!(
            c.auth.token_keys_source,
            SecretSource::Generated(dir.join(TOKEN_KEY_FILE))
        );
        assert_eq!(
            c.auth.admin_key_source,
            SecretSource::Generated(dir.join(ADMIN_KEY_FILE))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(TOKEN_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = resolve(&["--database", &db]).unwrap();
        assert_eq!(again.auth.token_keys.to_list(), c.auth.token_keys.to_list());
        assert_eq!(again.auth.admin_key, c.auth.admin_key);
        assert_eq!(
            again.auth.token_keys_source,
            SecretSource::Stored(dir.join(TOKEN_KEY_FILE))
        );
        assert!(!format!("{again:?}").contains(&again.auth.admin_key));
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = temp_dir("file");
        let file = dir.join("yishi.toml");
        fs::write(
            &file,
            format!(
                r#"
                listen = "0.0.0.0:9000"
                database = "postgres://localhost/yishi"
                data_dir = "{}"
                token_keys = ["b:file-secret-0123456789", "a:old-secret-0123456789"]
                admin_key = "file-admin-key-0123456789"
                max_frame_bytes = 4096
                demo = true
                staff_idle = "10m"
                "#,
                dir.display()
            ),
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = resolve(&["--config", path]).unwrap();
        assert_eq!(c.http.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.http.public_url, "http://localhost:9000");
        assert_eq!(c.auth.token_keys.kids().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(c.auth.admin_key, "file-admin-key-0123456789");
        assert_eq!(c.hub.max_frame_bytes, 4096);
        assert!(c.demo);
        assert_eq!(c.auth.staff_idle, Duration::from_secs(600));

        let c = resolve(&[
            "--config",
            path,
            "--listen",
            "127.0.0.1:7000",
            "--token-keys",
            "c:flag-secret-0123456789",
            "--public-url",
            "https://yishi.example.org/",
            "--max-frame-bytes",
            "2048",
            "--staff-idle",
            "45s",
        ])
        .unwrap();
        assert_eq!(c.auth.staff_idle, Duration::from_secs(45));
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.http.public_url, "https://yishi.example.org");
        assert_eq!(c.http.allowed_origins, ["https://yishi.example.org"]);
        assert_eq!(c.auth.token_keys.kids().collect::<Vec<_>>(), ["c"]);
        assert_eq!(c.hub.max_frame_bytes, 2048);
        assert_eq!(c.store.database, "postgres://localhost/yishi");
    }

    #[test]
    fn a_file_with_an_unknown_key_is_refused() {
        let dir = temp_dir("unknown");
        let file = dir.join("yishi.toml");
        fs::write(&file, "lissen = \"0.0.0.0:1\"\n").unwrap();
        let err = resolve(&["--config", file.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("lissen"), "{err}");
    }

    #[test]
    fn the_livestream_size_is_even_and_bounded() {
        let size: LiveSize = "640x360".parse().unwrap();
        assert_eq!((size.width, size.height), (640, 360));
        for bad in ["640", "641x360", "64x36", "8000x360", "axb", ""] {
            assert!(bad.parse::<LiveSize>().is_err(), "{bad}");
        }
        let c = live_config(Some(size), Some(800));
        assert_eq!((c.width, c.height, c.video_kbps), (640, 360, 800));
        let d = live_config(None, None);
        assert_eq!((d.width, d.height, d.video_kbps), (1280, 720, 2500));
    }

    #[test]
    fn bad_values_are_refused() {
        let dir = temp_dir("bad");
        let d = dir.to_str().unwrap();
        let base = ["--data-dir", d];
        let with = |extra: &[&str]| resolve(&[&base[..], extra].concat());
        assert!(matches!(
            with(&["--public-url", "yishi.org"]),
            Err(ConfigError::PublicUrl(_))
        ));
        assert!(matches!(
            with(&["--allowed-origins", "https://a.org/path"]),
            Err(ConfigError::Origin(_))
        ));
        assert!(matches!(
            with(&["--admin-key", "short"]),
            Err(ConfigError::ShortAdminKey)
        ));
        assert!(matches!(
            with(&["--token-keys", "k:short"]),
            Err(ConfigError::TokenKeys(_))
        ));
        let c = with(&["--allowed-origins", "https://A.org,*,http://b.org:81/"]).unwrap();
        assert_eq!(
            c.http.allowed_origins,
            ["https://a.org", "*", "http://b.org:81"]
        );
        assert!(matches!(
            with(&["--trusted-proxies", "nginx"]),
            Err(ConfigError::Proxy(_))
        ));
        let c = with(&["--trusted-proxies", "127.0.0.1, 10.0.0.0/8,::1"]).unwrap();
        let proxies: Vec<String> = c
            .http
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
    }

    #[test]
    fn participation_rules_come_from_a_file_or_are_built_in() {
        let dir = temp_dir("rules");
        let d = dir.to_str().unwrap();
        assert_eq!(
            resolve(&["--data-dir", d])
                .unwrap()
                .reports
                .participation_rules,
            Rules::default()
        );
        let rules = dir.join("rules.toml");
        fs::write(
            &rules,
            crate::participation::DEFAULT_RULES.replace("version = 1", "version = 3"),
        )
        .unwrap();
        let r = rules.to_str().unwrap();
        let c = resolve(&["--data-dir", d, "--participation-rules", r]).unwrap();
        assert_eq!(c.reports.participation_rules.version, 3);
        // From the config file too, and for `yishi report` alone.
        let file = dir.join("yishi.toml");
        fs::write(&file, format!("participation_rules = {r:?}\n")).unwrap();
        let f = file.to_str().unwrap();
        let c = resolve(&["--data-dir", d, "--config", f]).unwrap();
        assert_eq!(c.reports.participation_rules.version, 3);
        let cli = Cli::try_parse_from(["yishi", "--config", f]).unwrap();
        assert_eq!(Config::resolve_rules(&cli.config).unwrap().version, 3);
        // A bad file stops the start, naming itself.
        fs::write(&rules, "version = 0\nname = \"x\"\n").unwrap();
        let err = resolve(&["--data-dir", d, "--participation-rules", r]).unwrap_err();
        assert!(matches!(err, ConfigError::Rules { .. }), "{err}");
        assert!(err.to_string().contains("rules.toml"), "{err}");
        let missing = dir.join("none.toml");
        let err = resolve(&[
            "--data-dir",
            d,
            "--participation-rules",
            missing.to_str().unwrap(),
        ]);
        assert!(matches!(err, Err(ConfigError::Rules { .. })));
    }

    #[test]
    fn the_pdf_font_and_worker_are_flags_or_keys_of_the_file() {
        let dir = temp_dir("pdf-font");
        let d = dir.to_str().unwrap();
        let c = resolve(&["--data-dir", d]).unwrap();
        assert_eq!(c.reports.pdf, crate::pdf::Settings::default());
        let c = resolve(&["--data-dir", d, "--pdf-font", "/fonts/a.ttc"]).unwrap();
        assert_eq!(c.reports.pdf.font, Some(PathBuf::from("/fonts/a.ttc")));
        let file = dir.join("yishi.toml");
        fs::write(
            &file,
            "pdf-font = \"/fonts/b.ttc\"\npdf-worker = \"/opt/yishi/yishi-pdf\"\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let c = resolve(&["--data-dir", d, "--config", f]).unwrap();
        assert_eq!(c.reports.pdf.font, Some(PathBuf::from("/fonts/b.ttc")));
        assert_eq!(
            c.reports.pdf.worker,
            Some(PathBuf::from("/opt/yishi/yishi-pdf"))
        );
        // For `yishi minutes` and `yishi report` alone; the flag wins over the file.
        let cli = Cli::try_parse_from(["yishi", "--config", f]).unwrap();
        let pdf = Config::resolve_pdf(&cli.config).unwrap();
        assert_eq!(pdf.font, Some(PathBuf::from("/fonts/b.ttc")));
        assert_eq!(pdf.worker, Some(PathBuf::from("/opt/yishi/yishi-pdf")));
        let cli = Cli::try_parse_from(["yishi", "--config", f, "--pdf-font", "/c.otf"]).unwrap();
        let pdf = Config::resolve_pdf(&cli.config).unwrap();
        assert_eq!(pdf.font, Some(PathBuf::from("/c.otf")));
    }

    #[test]
    fn the_board_rate_limits_apply_unless_lifted_by_a_flag_or_the_file() {
        let dir = temp_dir("board-limits");
        let d = dir.to_str().unwrap();
        assert!(resolve(&["--data-dir", d]).unwrap().http.board_rate_limits);
        let c = resolve(&["--data-dir", d, "--no-board-rate-limits"]).unwrap();
        assert!(!c.http.board_rate_limits);
        let file = dir.join("yishi.toml");
        fs::write(&file, "no_board_rate_limits = true\n").unwrap();
        let c = resolve(&["--data-dir", d, "--config", file.to_str().unwrap()]).unwrap();
        assert!(!c.http.board_rate_limits);
    }

    #[test]
    fn every_hub_setting_is_a_flag_and_a_key_of_the_file() {
        let dir = temp_dir("hub");
        let d = dir.to_str().unwrap();
        let defaults = HubConfig::default();
        let c = resolve(&["--data-dir", d]).unwrap().hub;
        assert_eq!(format!("{c:?}"), format!("{defaults:?}"));

        let flags = resolve(&[
            "--data-dir",
            d,
            "--max-frame-bytes",
            "2048",
            "--member-queue",
            "64",
            "--audience-queue",
            "32",
            "--resume-window",
            "1000",
            "--max-sessions",
            "500",
            "--commands-per-second",
            "7",
            "--commands-per-ip",
            "70",
            "--joins-per-ip",
            "9",
            "--tally-interval-ms",
            "250",
            "--resume-grace",
            "10s",
            "--ballot-batch",
            "3",
        ])
        .unwrap()
        .hub;
        let file = dir.join("yishi.toml");
        fs::write(
            &file,
            r#"
            max_frame_bytes = 2048
            member_queue = 64
            audience-queue = 32
            resume_window = 1000
            max_sessions = 500
            commands_per_second = 7
            commands_per_ip = 70
            joins_per_ip = 9
            tally_interval_ms = 250
            resume_grace = "10s"
            ballot_batch = 3
            "#,
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let from_file = resolve(&["--data-dir", d, "--config", f]).unwrap().hub;
        for c in [&flags, &from_file] {
            assert_eq!(c.max_frame_bytes, 2048);
            assert_eq!((c.member_queue, c.audience_queue), (64, 32));
            assert_eq!((c.resume_window, c.max_sessions), (1000, 500));
            assert_eq!(c.commands_per_second, 7);
            assert_eq!((c.commands_per_ip, c.joins_per_ip), (70, 9));
            assert_eq!(c.tally_interval_ms, 250);
            assert_eq!(c.resume_grace, Duration::from_secs(10));
            assert_eq!(c.ballot_batch, 3);
        }
        // The flag wins over the file; the rest still comes from the file.
        let c = resolve(&[
            "--data-dir",
            d,
            "--config",
            f,
            "--commands-per-second",
            "11",
        ])
        .unwrap()
        .hub;
        assert_eq!((c.commands_per_second, c.commands_per_ip), (11, 70));
    }

    #[test]
    fn zero_or_absurd_hub_settings_are_refused_naming_the_setting() {
        let dir = temp_dir("hub-bad");
        let d = dir.to_str().unwrap();
        for (flag, value, says) in [
            (
                "--commands-per-second",
                "0",
                "--commands-per-second (YISHI_COMMANDS_PER_SECOND) must be from 1 to 10000, not 0",
            ),
            ("--commands-per-second", "1000000", "not 1000000"),
            ("--member-queue", "0", "--member-queue (YISHI_MEMBER_QUEUE)"),
            ("--audience-queue", "0", "--audience-queue"),
            ("--resume-window", "0", "--resume-window"),
            ("--max-sessions", "0", "--max-sessions"),
            ("--commands-per-ip", "0", "--commands-per-ip"),
            ("--joins-per-ip", "0", "--joins-per-ip"),
            ("--tally-interval-ms", "1", "from 50 to 60000, not 1"),
            (
                "--resume-grace",
                "0s",
                "--resume-grace (YISHI_RESUME_GRACE)",
            ),
            ("--resume-grace", "2d", "from 1s to 1h, not 172800s"),
            ("--ballot-batch", "0", "--ballot-batch"),
            ("--max-frame-bytes", "100", "from 1024 to 16777216, not 100"),
        ] {
            let err = resolve(&["--data-dir", d, flag, value]).unwrap_err();
            assert!(
                matches!(err, ConfigError::OutOfRange { .. }),
                "{flag} {value}: {err}"
            );
            assert!(err.to_string().contains(says), "{flag} {value}: {err}");
        }
        // The same check for the file.
        let file = dir.join("yishi.toml");
        fs::write(&file, "joins_per_ip = 0\n").unwrap();
        let err = resolve(&["--data-dir", d, "--config", file.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("--joins-per-ip"), "{err}");
    }

    #[test]
    fn the_deployment_example_is_a_valid_config_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/yishi.toml");
        let file = read_file(&path).unwrap().serve;
        assert_eq!(file.media_listen, Some("0.0.0.0:8443".parse().unwrap()));
        assert_eq!(file.media_public_ip, Some("203.0.113.10".parse().unwrap()));
        assert_eq!(file.turn_urls.len(), 2);
        assert_eq!(file.trusted_proxies, ["127.0.0.1"]);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("1h30").is_err());
    }

    #[test]
    fn sqlite_paths_and_data_dirs() {
        assert_eq!(default_data_dir(DEFAULT_DATABASE), PathBuf::from("./data"));
        assert_eq!(
            default_data_dir("sqlite:///var/lib/yishi/y.db?mode=rwc"),
            PathBuf::from("/var/lib/yishi")
        );
        assert_eq!(default_data_dir("sqlite:y.db"), PathBuf::from("."));
        assert_eq!(default_data_dir("sqlite::memory:"), PathBuf::from("./data"));
        assert_eq!(default_data_dir("postgres://h/db"), PathBuf::from("./data"));
    }

    #[test]
    fn join_links_carry_the_token_in_the_fragment() {
        assert_eq!(
            join_link("https://y.org/", "议事 1", "a.b.c"),
            "https://y.org/join#room=%E8%AE%AE%E4%BA%8B%201&token=a.b.c"
        );
    }
}
