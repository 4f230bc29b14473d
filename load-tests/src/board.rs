//! `board`: the topic board (码上议事) at size, over real HTTP. A fresh store is filled by
//! `yishi board seed` (topics and supports decided by the board's engine, appended to its
//! hash-chained record), a server is started on it with the board's rate limits lifted
//! (`--no-board-rate-limits`; it checks and replays the record at start), and then, one
//! after the other, each at a fixed rate whatever the server answers (open loop, each
//! latency from the request's scheduled time, so that queueing shows):
//!
//! - `board-list`: the public list with stage and area filters and offsets;
//! - `board-search`: `q=` with Chinese words of two characters and of three or more;
//! - `board-topic`: a topic's page;
//! - `board-support`: supports by many distinct residents (tokens for room `board`, as
//!   the committee's platform mints them), then every topic's support count read back:
//!   `lost` is how many supports are miscounted (acknowledged and not counted, or counted
//!   twice).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use yishi::auth::{Claims, Keys};
use yishi::hub::now;
use yishi_protocol::{Participant, Role};

use crate::report::{Lat, Row};
use crate::sys::{self, CpuMeter, YishiServer, rss_bytes};

/// What a board run loads and how hard.
#[derive(Debug, Clone)]
pub struct BoardOpts {
    /// Topics and supports `yishi board seed` puts in the store first.
    pub topics: u32,
    pub supports: u32,
    /// Requests a second of the list, search and topic phases.
    pub read_rate: f64,
    /// Supports a second of the support phase.
    pub support_rate: f64,
    /// How long each phase sends.
    pub duration: Duration,
    /// A fresh schema of this PostgreSQL instead of SQLite.
    pub postgres: Option<String>,
}

/// Words searched for, as residents type them: of two characters (停车, the most common in
/// Chinese) and of three or more, alone and two together; each is in some seeded topic.
const WORDS: [&str; 10] = [
    "停车",
    "电梯",
    "路灯",
    "积水",
    "充电桩",
    "垃圾分类",
    "老年食堂",
    "公交线路",
    "光明路 停车",
    "幸福里小区 电梯",
];

/// Stages to filter the list by (and none).
const STAGES: [&str; 5] = ["", "collecting", "selecting", "consulted", "done"];

/// Supports each resident of the support phase gives, to distinct topics.
const PER_RESIDENT: usize = 5;

/// Topics the support phase spreads its supports over (at most).
const SUPPORTED_TOPICS: usize = 2_000;

/// What one phase measured.
struct Phase {
    lat: Lat,
    answered: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    cpu_pct: Option<f64>,
}

/// Send `count` requests, the `i`-th at `i / rate` s from the start whatever the earlier
/// ones do, and wait for every answer. `send(i)` makes the `i`-th: `Err` is a refusal.
async fn open_loop<F, Fut>(pid: u32, rate: f64, count: usize, send: F) -> Phase
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let lat = Arc::new(Lat::new());
    let errors = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let cpu = CpuMeter::start(Some(pid));
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at).await;
        let request = send(i);
        let (lat, errors, first_error) = (lat.clone(), errors.clone(), first_error.clone());
        tasks.spawn(async move {
            let result = request.await;
            lat.record(at.elapsed().as_micros() as u64);
            if let Err(e) = result {
                errors.fetch_add(1, Ordering::Relaxed);
                let mut first = first_error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(e);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let errors = errors.load(Ordering::Relaxed);
    let first_error = first_error.lock().unwrap_or_else(|e| e.into_inner()).take();
    Phase {
        lat: Arc::try_unwrap(lat).unwrap_or_default(),
        answered: count as u64 - errors,
        errors,
        first_error,
        elapsed,
        cpu_pct: cpu.percent(),
    }
}

/// A GET of the board's API that must answer 200 with JSON: the JSON.
async fn get_json(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    query: &[(&str, String)],
) -> Result<Value, String> {
    let r = http
        .get(format!("{base}{path}"))
        .query(query)
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| format!("GET {path}: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("GET {path} {query:?}: {status} {body}"));
    }
    Ok(body)
}

/// The run: seed, start, the four phases, rows named `board-…`.
pub async fn run(bin: &Path, o: &BoardOpts) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let (database, schema) = match &o.postgres {
        Some(pg) => {
            let (url, schema) = sys::fresh_schema(pg).await?;
            (url, Some(schema))
        }
        None => (
            format!("sqlite://{}", dir.path().join("board.db").display()),
            None,
        ),
    };
    let result = seeded_run(bin, o, &database).await;
    if let (Some(pg), Some(schema)) = (&o.postgres, &schema)
        && let Err(e) = sys::drop_schema(pg, schema).await
    {
        eprintln!("note: could not drop schema {schema}: {e:#}");
    }
    result
}

async fn seeded_run(bin: &Path, o: &BoardOpts, database: &str) -> anyhow::Result<Vec<Row>> {
    let system = if o.postgres.is_some() {
        "yishi-pg"
    } else {
        "yishi"
    };
    let seeding = Instant::now();
    let out = tokio::process::Command::new(bin)
        .args(["--database", database, "board", "seed"])
        .args(["--topics", &o.topics.to_string()])
        .args(["--supports", &o.supports.to_string()])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .with_context(|| format!("running {} board seed", bin.display()))?;
    if !out.status.success() {
        bail!(
            "yishi board seed failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let seed_s = seeding.elapsed().as_secs_f64();
    eprintln!(
        "   {} ({seed_s:.1} s)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let starting = Instant::now();
    let more = ["--no-board-rate-limits".to_owned(), "--no-media".to_owned()];
    let mut server = sys::spawn_node_within(
        bin,
        &["--database", database],
        &more,
        Duration::from_secs(900),
    )
    .await?;
    let start_s = starting.elapsed().as_secs_f64();
    eprintln!("   server up after replaying the record ({start_s:.1} s)");
    let result = phases(&server, o, system).await;
    server.proc.check_alive()?;
    let mut rows = result?;
    for row in &mut rows {
        row.extra("seed_s", seed_s);
        row.extra("start_s", start_s);
        row.extra("topics", f64::from(o.topics));
        row.extra("supports_seeded", f64::from(o.supports));
    }
    Ok(rows)
}

fn row_of(name: &str, system: &str, rate: f64, p: &Phase, rss: Option<u64>) -> Row {
    let mut row = Row::new(name, system, 0);
    row.rate_per_s = rate;
    row.deliveries_per_s = p.answered as f64 / p.elapsed.as_secs_f64().max(1e-3);
    row.latency(p.lat.summary());
    row.server_cpu_pct = p.cpu_pct;
    row.server_rss_bytes = rss;
    row.extra("requests", (p.answered + p.errors) as f64);
    if p.errors > 0 {
        row.fail(format!(
            "{} of {} requests failed; first: {}",
            p.errors,
            p.answered + p.errors,
            p.first_error.as_deref().unwrap_or("?")
        ));
    }
    row
}

async fn phases(server: &YishiServer, o: &BoardOpts, system: &str) -> anyhow::Result<Vec<Row>> {
    let pid = server.proc.pid();
    let base = Arc::new(format!("http://{}/api/v1/board", server.addr));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(4096)
        .build()?;
    let first = get_json(&http, &base, "/topics", &[("limit", "100".into())])
        .await
        .map_err(anyhow::Error::msg)?;
    let total = first["total"].as_u64().unwrap_or(0);
    if total < u64::from(o.topics) {
        bail!("the list holds {total} topics; {} were seeded", o.topics);
    }
    let areas: Vec<String> = first["topics"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["area"].as_str().map(str::to_owned))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    if areas.is_empty() {
        bail!("no area on the list's first page");
    }
    let areas = Arc::new(areas);
    let reads = (o.read_rate * o.duration.as_secs_f64()).ceil().max(1.0) as usize;
    let mut rows = Vec::new();

    // The list: no filter, a stage, an area, or both; pages up to the 50th.
    let list = open_loop(pid, o.read_rate, reads, |i| {
        let (http, base, areas) = (http.clone(), base.clone(), areas.clone());
        async move {
            let mut q = vec![
                ("offset", ((i * 7) % 50 * 20).to_string()),
                ("limit", "20".to_owned()),
            ];
            if i % 4 == 1 || i % 4 == 3 {
                q.push(("stage", STAGES[1 + (i / 4) % 4].to_owned()));
            }
            if i % 4 >= 2 {
                q.push(("area", areas[(i / 4) % areas.len()].clone()));
            }
            let page = get_json(&http, &base, "/topics", &q).await?;
            page["topics"]
                .as_array()
                .map(|_| ())
                .ok_or_else(|| format!("no topics in {page}"))
        }
    })
    .await;
    rows.push(row_of(
        "board-list",
        system,
        o.read_rate,
        &list,
        rss_bytes(pid),
    ));

    // Search: each word must find topics.
    let empty = Arc::new(Mutex::new(BTreeSet::new()));
    let search = open_loop(pid, o.read_rate, reads, |i| {
        let (http, base, empty) = (http.clone(), base.clone(), empty.clone());
        async move {
            let word = WORDS[i % WORDS.len()];
            let found = get_json(&http, &base, "/topics", &[("q", word.to_owned())]).await?;
            if found["total"].as_u64().unwrap_or(0) == 0 {
                empty.lock().unwrap_or_else(|e| e.into_inner()).insert(word);
            }
            Ok(())
        }
    })
    .await;
    let mut row = row_of("board-search", system, o.read_rate, &search, rss_bytes(pid));
    let empty = empty.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !empty.is_empty() {
        row.fail(format!("the search found nothing for {empty:?}"));
    }
    rows.push(row);

    // A topic's page.
    let topics = u64::from(o.topics.max(1));
    let page = open_loop(pid, o.read_rate, reads, |i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let id = 1 + (i as u64 * 7919) % topics;
            let page = get_json(&http, &base, &format!("/topics/{id}"), &[]).await?;
            if page["id"].as_u64() != Some(id) {
                return Err(format!("topic {id}: {page}"));
            }
            Ok(())
        }
    })
    .await;
    rows.push(row_of(
        "board-topic",
        system,
        o.read_rate,
        &page,
        rss_bytes(pid),
    ));

    rows.push(supports(server, o, system, &http, &base).await?);
    Ok(rows)
}

/// The support counts of the collecting topics on the list's first pages, newest first,
/// until `count` of them are known.
async fn collecting(
    http: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    while out.len() < count {
        let page = get_json(
            http,
            base,
            "/topics",
            &[
                ("stage", "collecting".to_owned()),
                ("offset", out.len().to_string()),
                ("limit", "100".to_owned()),
            ],
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let topics = page["topics"].as_array().cloned().unwrap_or_default();
        if topics.is_empty() {
            break;
        }
        for t in topics.iter().take(count - out.len()) {
            match (t["id"].as_u64(), t["supports"].as_u64()) {
                (Some(id), Some(n)) => out.push((id, n)),
                _ => bail!("a topic of the list without id or supports: {t}"),
            }
        }
    }
    Ok(out)
}

/// `board-support`: residents support the collecting topics at `support_rate`, each
/// resident [`PER_RESIDENT`] distinct topics; then each topic's count must have grown
/// by exactly the supports acknowledged for it.
async fn supports(
    server: &YishiServer,
    o: &BoardOpts,
    system: &str,
    http: &reqwest::Client,
    base: &Arc<String>,
) -> anyhow::Result<Row> {
    let pid = server.proc.pid();
    let before = collecting(http, base, SUPPORTED_TOPICS).await?;
    let n = before.len();
    if n < PER_RESIDENT || n.is_multiple_of(1009) {
        bail!("{n} collecting topics: too few for the support phase");
    }
    let count = (o.support_rate * o.duration.as_secs_f64()).ceil().max(1.0) as usize;
    let residents = count.div_ceil(PER_RESIDENT);
    let keys = Keys::parse_list(sys::SPAWN_TOKEN_KEYS).map_err(|e| anyhow::anyhow!("{e}"))?;
    let run = now().0;
    // Verified residents, as the committee's platform mints them (room `board`).
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..residents)
            .map(|r| {
                let who = Participant::new(
                    format!("lt-{run}-{r}"),
                    format!("负载测试居民{r}"),
                    Role::Audience,
                );
                keys.mint(&Claims::new(
                    "board",
                    &who,
                    now(),
                    Duration::from_secs(3600),
                ))
            })
            .collect(),
    );
    let ids: Arc<Vec<u64>> = Arc::new(before.iter().map(|(id, _)| *id).collect());
    let acked: Arc<Vec<AtomicU32>> = Arc::new((0..n).map(|_| AtomicU32::new(0)).collect());
    let phase = open_loop(pid, o.support_rate, count, |i| {
        let (http, base, tokens, ids, acked) = (
            http.clone(),
            base.clone(),
            tokens.clone(),
            ids.clone(),
            acked.clone(),
        );
        async move {
            // Resident r's j-th support: distinct topics while j < n (1009 is prime).
            let (r, j) = (i % residents, i / residents);
            let k = (r * 7 + j * 1009) % ids.len();
            let body = json!({ "type": "support", "topic": ids[k] });
            let answer = http
                .post(format!("{base}/commands"))
                .bearer_auth(&tokens[r])
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("support: {e}"))?;
            let status = answer.status();
            if status != StatusCode::OK {
                let text = answer.text().await.unwrap_or_default();
                return Err(format!("support {body}: {status} {text}"));
            }
            acked[k].fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    })
    .await;
    let mut row = row_of(
        "board-support",
        system,
        o.support_rate,
        &phase,
        rss_bytes(pid),
    );
    // Read every count back.
    let after: HashMap<u64, u64> = collecting(http, base, SUPPORTED_TOPICS)
        .await?
        .into_iter()
        .collect();
    let mut lost = 0u64;
    let mut missing = 0usize;
    for (k, (id, was)) in before.iter().enumerate() {
        let given = u64::from(acked[k].load(Ordering::Relaxed));
        match after.get(id) {
            Some(now) => lost += (*now as i64 - *was as i64 - given as i64).unsigned_abs(),
            None => {
                missing += 1;
                lost += given;
            }
        }
    }
    row.lost = lost;
    row.extra("residents", residents as f64);
    row.extra("topics_supported", n as f64);
    row.extra("acked", phase.answered as f64);
    if missing > 0 {
        row.fail(format!(
            "{missing} supported topics not on the list afterwards"
        ));
    }
    if lost > 0 {
        row.fail(format!(
            "{lost} supports miscounted (acknowledged and not counted, or counted twice)"
        ));
    }
    Ok(row)
}
