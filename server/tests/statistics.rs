//! Statistics (统计) of a real meeting: a roster imported over the API, a meeting
//! prepared with invitations and run by the invitees' links on WebSockets (two check
//! in, each speaks once for a known time, one never comes), closed; then the statistics
//! are fetched by a clerk as JSON and as CSV and written by `yishi report statistics`
//! from the same database. The attendance rate, the speaking time per meeting, sector and
//! member are what the record says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::meeting;
use common::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yishi::hub::{HubConfig, now};
use yishi::minutes::time::local_date;
use yishi::staff::StaffRole;
use yishi_protocol::{Command, EntryKind, EventBody, Millis};

const ROSTER: &str = "委员编号,姓名,界别,分会场\r\n\
                      2026001,李委员,经济界,主会场\r\n\
                      2026002,王委员,教育界,主会场\r\n\
                      2026003,赵委员,医卫界,主会场\r\n";

/// How long 李委员 and 王委员 hold the floor.
const LI_MS: u64 = 2_200;
const WANG_MS: u64 = 1_300;

/// Prepare the meeting over the API and run it with the invitees' links; the room id.
async fn run_meeting(server: &TestServer) -> String {
    let starts_at = now().0 as i64 + 600_000;
    let meeting = json!({
        "title": "社区养老服务专题协商会",
        "kind": "consultation",
        "starts_at": starts_at,
        "ends_at": starts_at + 3600 * 1000,
    });
    let members = ["李委员", "王委员", "赵委员"];
    let prepared = meeting::prepare(server, ROSTER, meeting, &members, "张主席").await;
    let room = prepared.room.clone();
    let mut h = prepared.join(server, "张主席").await;
    let mut li = prepared.join(server, "李委员").await;
    let mut wang = prepared.join(server, "王委员").await;
    // 赵委员 was invited and never comes.

    h.ok(Command::OpenCheckIn).await;
    li.ok(Command::CheckIn { head_count: None }).await;
    wang.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;
    for (speaker, ms) in [(&mut li, LI_MS), (&mut wang, WANG_MS)] {
        speaker.request_floor(EntryKind::Impromptu).await;
        h.grant_next().await;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        speaker.ok(Command::EndTurn).await;
    }
    h.ok(Command::CloseSession).await;

    server.until_closed(&room).await;
    room
}

async fn statistics_report(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let server = TestServer::start_on(database, dir, HubConfig::default()).await;
    let room = run_meeting(&server).await;

    // What the record says each spoke, to the millisecond.
    let record = server.state.store.load(&room).await.unwrap().entries;
    let spoken: Vec<u64> = record
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::TurnEnded { spoken_ms, .. } => Some(u64::from(*spoken_ms)),
            _ => None,
        })
        .collect();
    let [li_ms, wang_ms] = spoken[..] else {
        panic!("two speeches: {spoken:?}")
    };
    assert!(
        (LI_MS..LI_MS + 2_000).contains(&li_ms),
        "李 spoke {li_ms} ms"
    );
    assert!(
        (WANG_MS..WANG_MS + 2_000).contains(&wang_ms),
        "王 spoke {wang_ms} ms"
    );

    let today = now();
    let (from, to) = (
        local_date(Millis(today.0 - 86_400_000)),
        local_date(Millis(today.0 + 86_400_000)),
    );
    let clerk = server.staff("李干事", StaffRole::Clerk).await;

    let json = clerk
        .get(&format!("/api/v1/reports/statistics?from={from}&to={to}"))
        .await;
    assert_eq!(
        (json["from"].as_str(), json["to"].as_str()),
        (Some(&*from), Some(&*to))
    );
    let meetings = json["meetings"].as_array().unwrap();
    assert_eq!(meetings.len(), 1, "{json}");
    let m = &meetings[0];
    assert_eq!(m["room"], room.as_str());
    assert_eq!(m["title"], "社区养老服务专题协商会");
    assert_eq!(m["date"], local_date(today).as_str());
    assert_eq!(m["kind"], "consultation");
    // Three invited to check in (the host runs the meeting), two came.
    assert_eq!(
        (&m["invited"], &m["present"], &m["absent"]),
        (&json!(3), &json!(2), &json!(1))
    );
    assert_eq!(m["attendance_permille"], 667);
    assert_eq!(m["speeches"], 2);
    assert_eq!(m["speech_ms"], li_ms + wang_ms);
    assert_eq!(
        m["venues"],
        json!([{ "venue": "主会场", "present": 2, "known": 2, "head_count": null }])
    );
    assert_eq!(
        json["sectors"],
        json!([
            { "sector": "经济界", "speeches": 1, "speech_ms": li_ms, "speakers": 1 },
            { "sector": "教育界", "speeches": 1, "speech_ms": wang_ms, "speakers": 1 },
        ])
    );
    let member = |name: &str| {
        json["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {json}"))
            .clone()
    };
    let li = member("李委员");
    assert_eq!(
        (&li["invited"], &li["attended"], &li["speech_ms"]),
        (&json!(1), &json!(1), &json!(li_ms))
    );
    let zhao = member("赵委员");
    assert_eq!(
        (
            &zhao["invited"],
            &zhao["attended"],
            &zhao["absent"],
            &zhao["attendance_permille"],
            &zhao["speeches"]
        ),
        (&json!(1), &json!(0), &json!(1), &json!(0), &json!(0))
    );
    let top: Vec<&str> = json["top_speakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(top, ["李委员", "王委员"]);

    // The CSV tables: the same figures, times in seconds.
    let csv = |table: &'static str| {
        let r = clerk.request(
            Method::GET,
            &format!("/api/v1/reports/statistics?from={from}&to={to}&format=csv&table={table}"),
        );
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
            let disposition = r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .to_owned();
            (disposition, r.text().await.unwrap())
        }
    };
    let secs = |ms: u64| ((ms + 500) / 1000).to_string();
    let (disposition, meetings_csv) = csv("meetings").await;
    assert!(
        disposition.starts_with(&format!(
            "attachment; filename=\"statistics-meetings-{from}_{to}.csv\""
        )),
        "{disposition}"
    );
    let table = common::csv_rows(&meetings_csv);
    assert_eq!(table.len(), 2, "{meetings_csv}");
    assert_eq!(
        table[1],
        [
            "社区养老服务专题协商会".to_owned(),
            local_date(today),
            "协商议事".into(),
            "3".into(),
            "2".into(),
            "1".into(),
            "66.7%".into(),
            "主会场 2/2".into(),
            "2".into(),
            secs(li_ms + wang_ms),
            room.clone(),
            format!("{from}至{to}"),
        ]
    );
    let (_, sectors_csv) = csv("sectors").await;
    let table = common::csv_rows(&sectors_csv);
    assert_eq!(
        table[1][..4],
        ["经济界".to_owned(), "1".into(), secs(li_ms), "1".into()]
    );
    assert_eq!(
        table[2][..4],
        ["教育界".to_owned(), "1".into(), secs(wang_ms), "1".into()]
    );
    let (_, members_csv) = csv("members").await;
    let table = common::csv_rows(&members_csv);
    assert_eq!(
        table[3][..10],
        [
            "2026003",
            "赵委员",
            "医卫界",
            "主会场",
            "1",
            "0",
            "1",
            "0%",
            "0",
            "0"
        ]
    );

    // The clerk's calls are in the audit log.
    let audit = server.state.store.audit_log().await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.staff == "李干事" && e.action == "GET /api/v1/reports/statistics")
            .count(),
        4,
        "{audit:?}"
    );

    // Refused: no credentials, a bad date, a period backwards, an unknown format or table.
    let r = reqwest::Client::new()
        .get(server.url(&format!("/api/v1/reports/statistics?from={from}&to={to}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for query in [
        format!("from=2026-02-30&to={to}"),
        format!("from={to}&to={from}"),
        format!("from={from}&to={to}&format=xlsx"),
        format!("from={from}&to={to}&format=csv&table=points"),
        format!("to={to}"),
    ] {
        let (status, body) = clerk
            .call(
                Method::GET,
                &format!("/api/v1/reports/statistics?{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["code"], "invalid_argument", "{query}");
    }
    // A period without the meeting: no meeting, no sector, members with nothing.
    let empty = clerk
        .get("/api/v1/reports/statistics?from=2020-01-01&to=2020-12-31")
        .await;
    assert_eq!(empty["meetings"], json!([]));
    assert_eq!(empty["sectors"], json!([]));

    // The command line, on the same database: the same bytes as the API's CSV, and the
    // same figures as its JSON.
    let out = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"));
        for (key, _) in std::env::vars() {
            if key.starts_with("YISHI_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("YISHI_DATA_DIR", out.path())
            .env("RUST_LOG", "warn")
            .arg("--database")
            .arg(&server.database)
            .args(args)
            .output()
            .unwrap()
    };
    let (from, to) = (from.as_str(), to.as_str());
    for (table, served) in [
        ("meetings", &meetings_csv),
        ("sectors", &sectors_csv),
        ("members", &members_csv),
    ] {
        let run = cli(&[
            "report",
            "statistics",
            "--from",
            from,
            "--to",
            to,
            "--table",
            table,
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(String::from_utf8(run.stdout).unwrap(), *served, "{table}");
    }
    let run = cli(&[
        "report",
        "statistics",
        "--from",
        from,
        "--to",
        to,
        "--format",
        "json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(printed, json);
    let run = cli(&["report", "statistics", "--from", "2026-1-1", "--to", to]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a date"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_of_a_real_meeting() {
    statistics_report(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn statistics_on_postgres() {
    statistics_report(Backend::Postgres).await;
}
