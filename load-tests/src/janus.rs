//! The peer of the `media` scenario: Janus (Debian's `janus` package, 1.1) with its
//! VideoRoom plugin, started by this tool with a generated configuration, and driven over
//! Janus's HTTP API (sessions, the videoroom plugin, long-poll events, keepalives).
//!
//! Only the HTTP transport (on 127.0.0.1, a free port) and the videoroom plugin are loaded:
//! the plugin and transport folders are temporary directories holding a link to those two
//! modules, the event handler and logger folders are empty. Janus gathers ICE candidates
//! on interface addresses but always skips loopback interfaces (`ice.c`), and libnice pins
//! each socket to its interface (`IP_UNICAST_IF`), so a datagram from Janus to 127.0.0.1
//! would leave by that interface. So Janus's ICE is limited (`ice_enforce_list`) to one
//! address of this machine that is not on loopback, and the bots bind to that same
//! address: the kernel delivers between two local addresses over the loopback device,
//! nothing leaves the machine (the row's `nic_tx_packets` shows it), and every candidate
//! Janus hands out is checked to be an address of this machine.
//! It runs ICE-lite, like our SFU, without trickle, with DTLS (a certificate it makes at
//! start) and logs warnings and errors only.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use yishi_testkit::media_peer::MediaPeer;

use crate::sys::{Spawned, check_local_candidates, free_port};

/// The videoroom room of the configuration.
pub const ROOM: u64 = 1234;
/// How long a request, or the event answering it, may take.
const WAIT: Duration = Duration::from_secs(20);
/// Janus ends a session without a request for this long (keepalives come every 15 s).
const SESSION_TIMEOUT_S: u64 = 60;
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

pub fn janus_bin() -> Option<PathBuf> {
    [
        "/usr/bin/janus",
        "/usr/local/bin/janus",
        "/opt/janus/bin/janus",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The folder holding Janus's `plugins/` and `transports/` modules.
fn module_dir() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/janus",
        "/usr/lib/aarch64-linux-gnu/janus",
        "/usr/lib/janus",
        "/usr/local/lib/janus",
        "/opt/janus/lib/janus",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|d| {
        d.join("plugins/libjanus_videoroom.so").exists()
            && d.join("transports/libjanus_http.so").exists()
    })
}

/// The IPv4 addresses of this machine outside 127.0.0.0/8 (the `/32 host LOCAL` entries
/// of `/proc/net/fib_trie`).
fn local_ipv4s() -> Vec<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let mut out: Vec<Ipv4Addr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(ip) = line.strip_prefix("|-- ") {
            last = ip.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !ip.is_loopback()
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// A Janus this tool started.
pub struct JanusServer {
    pub proc: Spawned,
    /// `http://127.0.0.1:PORT/janus`
    pub base: String,
    /// The address Janus gathers its ICE candidates on.
    pub ice_ip: Ipv4Addr,
    pub _dir: tempfile::TempDir,
}

pub async fn spawn(bin: &Path) -> anyhow::Result<JanusServer> {
    let modules = module_dir().context(
        "no Janus modules (plugins/libjanus_videoroom.so, transports/libjanus_http.so) found",
    )?;
    let ice_ip = *local_ipv4s().first().context(
        "Janus skips loopback interfaces when it gathers ICE candidates and this machine has \
         no other IPv4 address",
    )?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    for (sub, module) in [
        ("plugins", "libjanus_videoroom.so"),
        ("transports", "libjanus_http.so"),
    ] {
        std::fs::create_dir(d.join(sub))?;
        std::os::unix::fs::symlink(modules.join(sub).join(module), d.join(sub).join(module))?;
    }
    std::fs::create_dir(d.join("events"))?;
    std::fs::create_dir(d.join("loggers"))?;
    let port = free_port()?;
    let path = |sub: &str| d.join(sub).display().to_string();
    std::fs::write(
        d.join("janus.jcfg"),
        format!(
            "general: {{\n\
             \tconfigs_folder = \"{configs}\"\n\
             \tplugins_folder = \"{plugins}\"\n\
             \ttransports_folder = \"{transports}\"\n\
             \tevents_folder = \"{events}\"\n\
             \tloggers_folder = \"{loggers}\"\n\
             \tdebug_level = 3\n\
             \tsession_timeout = {SESSION_TIMEOUT_S}\n\
             }}\n\
             media: {{\n\
             }}\n\
             nat: {{\n\
             \tnice_debug = false\n\
             \tice_lite = true\n\
             \tfull_trickle = false\n\
             \tignore_mdns = true\n\
             \tice_enforce_list = \"{ice_ip}\"\n\
             }}\n\
             plugins: {{\n\
             }}\n\
             transports: {{\n\
             }}\n\
             loggers: {{\n\
             }}\n\
             events: {{\n\
             \tbroadcast = false\n\
             }}\n",
            configs = d.display(),
            plugins = path("plugins"),
            transports = path("transports"),
            events = path("events"),
            loggers = path("loggers"),
        ),
    )?;
    std::fs::write(
        d.join("janus.transport.http.jcfg"),
        format!(
            "general: {{\n\
             \tjson = \"plain\"\n\
             \tbase_path = \"/janus\"\n\
             \thttp = true\n\
             \tport = {port}\n\
             \tip = \"127.0.0.1\"\n\
             \thttps = false\n\
             }}\n\
             admin: {{\n\
             \tadmin_http = false\n\
             \tadmin_https = false\n\
             }}\n"
        ),
    )?;
    std::fs::write(
        d.join("janus.plugin.videoroom.jcfg"),
        format!(
            "general: {{\n\
             }}\n\
             room-{ROOM}: {{\n\
             \tdescription = \"yishi-loadtest\"\n\
             \tpublishers = 1\n\
             \tbitrate = 0\n\
             \tfir_freq = 0\n\
             \taudiocodec = \"opus\"\n\
             \tvideocodec = \"vp8\"\n\
             \trecord = false\n\
             }}\n"
        ),
    )?;
    let mut proc = Spawned::start(
        Command::new(bin)
            .arg("--config")
            .arg(d.join("janus.jcfg"))
            .arg("--configs-folder")
            .arg(d)
            .arg("--disable-colors"),
        bin,
        d.join("janus.log"),
        "janus",
    )?;
    let base = format!("http://127.0.0.1:{port}/janus");
    proc.wait_until_up(&format!("{base}/info")).await?;
    Ok(JanusServer {
        proc,
        base,
        ice_ip,
        _dir: dir,
    })
}

/// A Janus session with one videoroom handle.
pub struct Session {
    http: reqwest::Client,
    base: String,
    id: u64,
    handle: u64,
    tx: u64,
}

impl Session {
    /// Create a session and attach the videoroom plugin.
    pub async fn open(http: &reqwest::Client, base: &str) -> anyhow::Result<Session> {
        let mut s = Session {
            http: http.clone(),
            base: base.to_owned(),
            id: 0,
            handle: 0,
            tx: 0,
        };
        let r = s.post(base.to_owned(), json!({"janus": "create"})).await?;
        s.id = r["data"]["id"].as_u64().context("create: no session id")?;
        let r = s
            .post(
                s.session_url(),
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        s.handle = r["data"]["id"].as_u64().context("attach: no handle id")?;
        Ok(s)
    }

    fn session_url(&self) -> String {
        format!("{}/{}", self.base, self.id)
    }

    fn handle_url(&self) -> String {
        format!("{}/{}/{}", self.base, self.id, self.handle)
    }

    fn next_tx(&mut self) -> String {
        self.tx += 1;
        format!("lt-{}", self.tx)
    }

    async fn post(&mut self, url: String, mut body: Value) -> anyhow::Result<Value> {
        body["transaction"] = Value::String(self.next_tx());
        let r: Value = self
            .http
            .post(&url)
            .json(&body)
            .timeout(WAIT)
            .send()
            .await
            .with_context(|| format!("janus {}", body["janus"]))?
            .error_for_status()?
            .json()
            .await?;
        if r["janus"] == "error" {
            bail!(
                "janus {} refused: {} {}",
                body["janus"],
                r["error"]["code"],
                r["error"]["reason"]
            );
        }
        Ok(r)
    }

    /// A videoroom request, and its answer: the plugin's data and the JSEP, if any, from
    /// the synchronous reply or from the event that carries the request's transaction.
    async fn message(
        &mut self,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<(Value, Option<Value>)> {
        let tx = self.next_tx();
        let mut req = json!({"janus": "message", "transaction": tx, "body": body});
        if let Some(j) = jsep {
            req["jsep"] = j;
        }
        let r: Value = self
            .http
            .post(self.handle_url())
            .json(&req)
            .timeout(WAIT)
            .send()
            .await
            .with_context(|| format!("janus message {}", req["body"]["request"]))?
            .error_for_status()?
            .json()
            .await?;
        match r["janus"].as_str() {
            Some("success") => return plugin_result(&r),
            Some("ack") => {}
            _ => bail!("janus message {}: {r}", req["body"]["request"]),
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            for ev in self.events().await? {
                if ev["janus"] == "event" && ev["transaction"].as_str() == Some(&tx) {
                    return plugin_result(&ev);
                }
            }
        }
        bail!(
            "no answer from janus to {} within {WAIT:?}",
            req["body"]["request"]
        )
    }

    /// The session's pending events (a long poll: Janus holds it up to 30 s).
    async fn events(&self) -> anyhow::Result<Vec<Value>> {
        let v: Value = self
            .http
            .get(format!("{}?maxev=10", self.session_url()))
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .context("janus long poll")?
            .error_for_status()?
            .json()
            .await?;
        Ok(match v {
            Value::Array(a) => a,
            other => vec![other],
        })
    }

    pub async fn keepalive(&mut self) -> anyhow::Result<()> {
        self.post(self.session_url(), json!({"janus": "keepalive"}))
            .await
            .map(|_| ())
    }

    /// Detach the handle and destroy the session (errors ignored: Janus may be gone).
    pub async fn destroy(mut self) {
        let _ = self
            .post(self.handle_url(), json!({"janus": "detach"}))
            .await;
        let _ = self
            .post(self.session_url(), json!({"janus": "destroy"}))
            .await;
    }

    /// Join the room as its publisher and publish the bot's offer; returns the feed id.
    pub async fn publish(&mut self, peer: &MediaPeer) -> anyhow::Result<u64> {
        let (joined, _) = self
            .message(
                json!({"request": "join", "ptype": "publisher", "room": ROOM,
                       "display": "yishi-loadtest publisher"}),
                None,
            )
            .await?;
        let feed = joined["id"].as_u64().context("join: no publisher id")?;
        let offer = peer.offer().await?;
        let (_, jsep) = self
            .message(
                json!({"request": "publish", "audio": true, "video": true}),
                Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
            )
            .await?;
        let answer = sdp_of(jsep, "answer").context("publish")?;
        check_local_candidates(&answer)?;
        peer.accept_answer(&answer).await?;
        Ok(feed)
    }

    /// Subscribe to `feed`: Janus offers, the bot answers, then `start`.
    pub async fn subscribe(&mut self, peer: &MediaPeer, feed: u64) -> anyhow::Result<()> {
        let (_, jsep) = self
            .message(
                json!({"request": "join", "ptype": "subscriber", "room": ROOM,
                       "streams": [{"feed": feed}]}),
                None,
            )
            .await?;
        let offer = sdp_of(jsep, "offer").context("subscriber join")?;
        check_local_candidates(&offer)?;
        let answer = peer.answer(&offer).await?;
        self.message(
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
        )
        .await?;
        Ok(())
    }
}

fn plugin_result(ev: &Value) -> anyhow::Result<(Value, Option<Value>)> {
    let data = ev["plugindata"]["data"].clone();
    if let Some(err) = data.get("error") {
        bail!("videoroom error {}: {err}", data["error_code"]);
    }
    Ok((data, ev.get("jsep").cloned()))
}

fn sdp_of(jsep: Option<Value>, kind: &str) -> anyhow::Result<String> {
    let jsep = jsep.with_context(|| format!("no {kind} from janus"))?;
    if jsep["type"] != kind {
        bail!("expected an {kind} from janus, got {}", jsep["type"]);
    }
    jsep["sdp"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("janus {kind} without sdp"))
}
