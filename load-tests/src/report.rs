//! Results: latency histograms, one row per scenario and system, the human table, JSON
//! and Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds (1 µs to 1 hour, 3 significant figures).
pub struct Lat(Mutex<Histogram<u64>>);

impl Lat {
    pub fn new() -> Lat {
        // Valid bounds and precision: this cannot fail.
        let h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds");
        Lat(Mutex::new(h))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, us: u64) {
        self.lock().saturating_record(us.max(1));
    }

    pub fn record_many(&self, us: &[u64]) {
        let mut h = self.lock();
        for &v in us {
            h.saturating_record(v.max(1));
        }
    }

    /// The recorded values as (value, count), to carry to another process.
    pub fn recorded(&self) -> Vec<(u64, u64)> {
        self.lock()
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Add what [`Lat::recorded`] gave elsewhere.
    pub fn add_recorded(&self, values: &[(u64, u64)]) {
        let mut h = self.lock();
        for &(v, n) in values {
            h.saturating_record_n(v.max(1), n);
        }
    }

    /// p50, p99, p99.9 and max in milliseconds (zeros when empty).
    pub fn summary(&self) -> Percentiles {
        let h = self.lock();
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Percentiles {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

impl Default for Lat {
    fn default() -> Self {
        Lat::new()
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    /// `yishi`, `nats-server` or `janus`.
    pub system: String,
    pub connections: usize,
    /// Events each second from the source (fanout, slow, chat), packets each second from the
    /// media publisher (media), 0 elsewhere.
    pub rate_per_s: f64,
    pub deliveries_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub lost: u64,
    pub server_cpu_pct: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    pub rss_per_conn_bytes: Option<f64>,
    /// Whether the correctness checks of the scenario passed (nothing lost, every ballot
    /// counted once, …).
    pub ok: bool,
    /// What the checks found wrong, if anything.
    pub problems: Vec<String>,
    /// Scenario-specific figures (joins_per_s, handshake_p99_ms, …).
    pub extra: BTreeMap<String, f64>,
}

impl Row {
    pub fn new(scenario: &str, system: &str, connections: usize) -> Row {
        Row {
            scenario: scenario.into(),
            system: system.into(),
            connections,
            rate_per_s: 0.0,
            deliveries_per_s: 0.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
            lost: 0,
            server_cpu_pct: None,
            server_rss_bytes: None,
            rss_per_conn_bytes: None,
            ok: true,
            problems: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    pub fn latency(&mut self, p: Percentiles) {
        self.p50_ms = p.p50_ms;
        self.p99_ms = p.p99_ms;
        self.p999_ms = p.p999_ms;
        self.max_ms = p.max_ms;
    }

    pub fn fail(&mut self, problem: impl Into<String>) {
        self.ok = false;
        self.problems.push(problem.into());
    }

    pub fn extra(&mut self, key: &str, v: f64) {
        self.extra.insert(key.into(), v);
    }
}

fn opt_f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn mib(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}", v as f64 / 1048576.0))
}

fn extras(r: &Row) -> String {
    r.extra
        .iter()
        .map(|(k, v)| {
            if v.fract() == 0.0 && v.abs() < 1e12 {
                format!("{k}={v:.0}")
            } else {
                format!("{k}={v:.2}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const HEADER: [&str; 14] = [
    "scenario",
    "system",
    "conns",
    "rate/s",
    "deliv/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "lost",
    "srv CPU %",
    "srv RSS MiB",
    "RSS/conn B",
    "ok",
];

fn cells(r: &Row) -> Vec<String> {
    vec![
        r.scenario.clone(),
        r.system.clone(),
        r.connections.to_string(),
        format!("{:.0}", r.rate_per_s),
        format!("{:.0}", r.deliveries_per_s),
        format!("{:.1}", r.p50_ms),
        format!("{:.1}", r.p99_ms),
        format!("{:.1}", r.p999_ms),
        format!("{:.1}", r.max_ms),
        r.lost.to_string(),
        opt_f(r.server_cpu_pct, 0),
        mib(r.server_rss_bytes),
        opt_f(r.rss_per_conn_bytes, 0),
        if r.ok { "yes".into() } else { "NO".into() },
    ]
}

/// Rows of a peer (nats-server, Janus) compared with ours, one line each.
fn ratios(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, ours) in rows.iter().enumerate().filter(|(_, r)| r.system == "yishi") {
        // The peer row run right after ours (media runs once per subscriber count).
        if let Some(peer) = rows[i + 1..]
            .iter()
            .take_while(|r| r.system != "yishi")
            .find(|r| r.scenario == ours.scenario)
        {
            let short = match peer.system.as_str() {
                "nats-server" => "nats",
                other => other,
            };
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    "-".into()
                }
            };
            let mut line = format!(
                "{} at {} connections: yishi/{short} deliveries/s {}, p99 {}",
                ours.scenario,
                ours.connections,
                ratio(ours.deliveries_per_s, peer.deliveries_per_s),
                ratio(ours.p99_ms, peer.p99_ms),
            );
            if let (Some(a), Some(b)) = (ours.server_cpu_pct, peer.server_cpu_pct) {
                let _ = write!(line, ", server CPU {}", ratio(a, b));
            }
            if let (Some(a), Some(b)) = (ours.rss_per_conn_bytes, peer.rss_per_conn_bytes) {
                let _ = write!(line, ", RSS/conn {}", ratio(a, b));
            }
            if let (Some(a), Some(b)) = (
                ours.extra.get("handshake_p99_ms"),
                peer.extra.get("handshake_p99_ms"),
            ) {
                let _ = write!(line, ", handshake p99 {}", ratio(*a, *b));
            }
            if let (Some(a), Some(b)) = (
                ours.extra.get("pps_per_core"),
                peer.extra.get("pps_per_core"),
            ) {
                let _ = write!(
                    line,
                    ", packets/s per server core {} ({:.0} vs {:.0})",
                    ratio(*a, *b),
                    a,
                    b
                );
            }
            out.push(line);
        }
    }
    out
}

pub fn table(rows: &[Row]) -> String {
    let all: Vec<Vec<String>> = std::iter::once(HEADER.iter().map(|s| s.to_string()).collect())
        .chain(rows.iter().map(cells))
        .collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, r) in all.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  "));
        if n == 0 {
            let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 2 * 13));
        }
    }
    for r in rows {
        let e = extras(r);
        if !e.is_empty() {
            let _ = writeln!(out, "  {} ({}): {e}", r.scenario, r.system);
        }
        for p in &r.problems {
            let _ = writeln!(out, "  {} ({}) PROBLEM: {p}", r.scenario, r.system);
        }
    }
    for line in ratios(rows) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

pub fn markdown(rows: &[Row], command: &str, machine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Load test: latest run\n");
    let _ = writeln!(out, "Written by `yishi-loadtest`; do not edit by hand.\n");
    let _ = writeln!(out, "- Command: `{command}`");
    let _ = writeln!(out, "- Machine: {machine}\n");
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        HEADER
            .iter()
            .enumerate()
            .map(|(i, _)| if i < 2 { " --- |" } else { " ---: |" })
            .collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", cells(r).join(" | "));
    }
    let _ = writeln!(out, "\nScenario figures:\n");
    for r in rows {
        let e = extras(r);
        if !e.is_empty() {
            let _ = writeln!(out, "- {} ({}): {e}", r.scenario, r.system);
        }
        for p in &r.problems {
            let _ = writeln!(out, "- {} ({}) **problem**: {p}", r.scenario, r.system);
        }
    }
    let rs = ratios(rows);
    if !rs.is_empty() {
        let _ = writeln!(out, "\nSide by side:\n");
        for line in rs {
            let _ = writeln!(out, "- {line}");
        }
    }
    out
}
