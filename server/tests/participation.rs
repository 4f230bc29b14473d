//! Participation records (履职档案) of a real meeting: a roster imported over the API, a
//! meeting prepared with invitations, run by the invitees' own links on WebSockets (a
//! check-in, a speech, a question, a secret poll; one invitee never comes), closed; then
//! the report is fetched over the API as CSV, XLSX and PDF by a clerk and written by `yishi
//! report participation` from the same database with the same rules file. The points
//! are what the rules say, each linked to an event of the record, the absent invitee
//! loses the absence points, and no secret choice appears anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Cursor;
use std::time::Duration;

use calamine::{Data, Reader, Xlsx};
use common::meeting;
use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use yishi::hub::{HubConfig, now};
use yishi::minutes::time::local_date;
use yishi::participation::Rules;
use yishi::staff::{self, StaffRole};
use yishi_protocol::{
    Base, Choice, Command, EntryKind, EventBody, Majority, MajorityRule, Millis, PollId,
    PollMethod, PollSpec, RequestId, ResultsVisibility,
};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const ROSTER: &str = "委员编号,姓名,界别,分会场\r\n\
                      2026001,李委员,经济界,主会场\r\n\
                      2026002,王委员,教育界,东区分会场\r\n\
                      2026003,赵委员,医卫界,主会场\r\n\
                      2026004,钱委员,文艺界,主会场\r\n";

/// The committee's own rules: a question and a poll are worth a point.
const RULES: &str = r#"
version = 7
name = "某区政协委员履职积分办法"
[attendance]
points = 2
[absence]
points = -3
[speech]
points = 3
cap = 30
kinds = ["scheduled", "impromptu", "reply", "interjection"]
[question]
points = 1
[poll]
points = 1
"#;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A clerk's session cookie.
async fn clerk(server: &TestServer) -> String {
    let password = "一把足够长的钥匙123";
    let secret = staff::invite(
        &server.state.store,
        "李干事",
        StaffRole::Clerk,
        now().0 as i64,
    )
    .await
    .unwrap();
    let r = http()
        .post(server.url("/api/v1/staff/password"))
        .json(&json!({ "token": secret, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = http()
        .post(server.url("/api/v1/staff/login"))
        .json(&json!({ "name": "李干事", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn secret_poll() -> PollSpec {
    PollSpec {
        question: "是否同意将加装电梯列入明年民生实事？".into(),
        method: PollMethod::Single {
            options: vec!["同意".into(), "不同意".into(), "弃权".into()],
        },
        binding: true,
        advisory: false,
        secret: true,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}

/// Prepare the meeting in the console's API and run it with the invitees' links; the
/// room id.
async fn run_meeting(server: &TestServer) -> String {
    let starts_at = now().0 as i64 + 600_000;
    let meeting = json!({
        "title": "老旧小区加装电梯专题协商会",
        "kind": "consultation",
        "starts_at": starts_at,
        "ends_at": starts_at + 2 * 3600 * 1000,
        "place": "政协三楼会议室",
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

    li.request_floor(EntryKind::Scheduled).await;
    h.grant_next().await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    li.ok(Command::EndTurn).await;

    wang.ask_approved(&mut h, "加装电梯的补贴什么时候到位？")
        .await;

    h.ok(Command::CreatePoll {
        spec: secret_poll(),
    })
    .await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    li.send_with(
        RequestId("li-ballot".into()),
        Command::CastBallot {
            poll: PollId(1),
            choice: Choice::Single { option: 0 },
        },
    )
    .await;
    wang.send_with(
        RequestId("wang-ballot".into()),
        Command::CastBallot {
            poll: PollId(1),
            choice: Choice::Single { option: 1 },
        },
    )
    .await;
    while h
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::BallotCast { .. }))
        .count()
        < 2
    {
        h.recv().await.expect("ballot_cast");
    }
    h.ok(Command::ClosePoll { poll: PollId(1) }).await;
    li.answer(&RequestId("li-ballot".into())).await.unwrap();
    wang.answer(&RequestId("wang-ballot".into())).await.unwrap();
    h.ok(Command::CloseSession).await;

    server.until_closed(&room).await;
    room
}

fn column(rows: &[Vec<String>], header: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == header)
        .unwrap_or_else(|| panic!("no column {header} in {:?}", rows[0]))
}

async fn participation_report(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(backend, dir.path()).await;
    let rules_file = dir.path().join("rules.toml");
    std::fs::write(&rules_file, RULES).unwrap();
    let server = TestServer::start_configured(database, dir, HubConfig::default(), |c| {
        c.reports.participation_rules = Rules::parse(RULES).unwrap();
    })
    .await;
    let room = run_meeting(&server).await;
    let record = server.state.store.load(&room).await.unwrap().entries;

    let today = now();
    let (from, to) = (
        local_date(Millis(today.0 - 86_400_000)),
        local_date(Millis(today.0 + 86_400_000)),
    );
    let cookie = clerk(&server).await;
    let get = |query: String| {
        let cookie = cookie.clone();
        let url = server.url(&format!("/api/v1/reports/participation?{query}"));
        async move {
            http()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };

    // One row per member, with the rules' points.
    let r = get(format!("from={from}&to={to}&format=csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with(&format!(
            "attachment; filename=\"participation-{from}_{to}.csv\""
        )),
        "{disposition}"
    );
    let members_csv = r.text().await.unwrap();
    let members = common::csv_rows(&members_csv);
    let (name, points, absent, speeches, questions, polls, rules) = (
        column(&members, "姓名"),
        column(&members, "积分"),
        column(&members, "缺席"),
        column(&members, "发言次数"),
        column(&members, "提问"),
        column(&members, "参加表决"),
        column(&members, "积分规则"),
    );
    let row = |who: &str| {
        members
            .iter()
            .find(|r| r[name] == who)
            .unwrap_or_else(|| panic!("{who} in\n{members_csv}"))
            .clone()
    };
    // 李: check-in 2, speech 3, poll 1. 王: check-in 2, question 1, poll 1.
    // 赵: invited, never came: -3. 钱: not invited: nothing.
    let li = row("李委员");
    assert_eq!(
        (&*li[points], &*li[speeches], &*li[polls], &*li[absent]),
        ("6", "1", "1", "0")
    );
    let wang = row("王委员");
    assert_eq!((&*wang[points], &*wang[questions]), ("4", "1"));
    let zhao = row("赵委员");
    assert_eq!((&*zhao[points], &*zhao[absent]), ("-3", "1"));
    assert_eq!(&row("钱委员")[points], "0");
    assert!(
        members[1..]
            .iter()
            .all(|r| r[rules] == "第7版 某区政协委员履职积分办法"),
        "{members_csv}"
    );

    // One row per point, each linked to an event of the record that is about them.
    let r = get(format!("from={from}&to={to}&format=csv&table=points")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let points_csv = r.text().await.unwrap();
    let lines = common::csv_rows(&points_csv);
    let (who, kind, value, in_room, seq) = (
        column(&lines, "姓名"),
        column(&lines, "项目"),
        column(&lines, "积分"),
        column(&lines, "会议编号"),
        column(&lines, "事件序号"),
    );
    let mut kinds: Vec<(String, String, String)> = lines[1..]
        .iter()
        .map(|l| (l[who].clone(), l[kind].clone(), l[value].clone()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("李委员", "出席", "2"),
            ("李委员", "发言", "3"),
            ("李委员", "表决", "1"),
            ("王委员", "出席", "2"),
            ("王委员", "提问", "1"),
            ("王委员", "表决", "1"),
            ("赵委员", "缺席", "-3"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    for line in &lines[1..] {
        assert_eq!(line[in_room], room);
        let seq: u32 = line[seq].parse().unwrap();
        let body = &record
            .iter()
            .find(|e| e.event.seq == seq)
            .unwrap()
            .event
            .body;
        let fits = match &*line[kind] {
            "出席" => matches!(body, EventBody::CheckedIn { .. }),
            "发言" => {
                matches!(body, EventBody::TurnStarted { turn, .. } if turn.name == line[who])
            }
            "提问" => {
                matches!(body, EventBody::QuestionAsked { question } if question.author_name == line[who])
            }
            "表决" => matches!(body, EventBody::BallotCast { choice: None, .. }),
            "缺席" => matches!(body, EventBody::SessionChanged { .. }),
            other => panic!("kind {other}"),
        };
        assert!(fits, "{line:?} → {body:?}");
    }

    // The workbook: both tables, opened back.
    let r = get(format!("from={from}&to={to}&format=xlsx")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], XLSX);
    let xlsx = r.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx.clone())).unwrap();
    assert_eq!(book.sheet_names(), ["履职档案", "积分明细", "说明"]);
    let sheet = book.worksheet_range("履职档案").unwrap();
    let li_row = sheet
        .rows()
        .find(|r| r[1] == Data::String("李委员".into()))
        .unwrap();
    assert_eq!(li_row[points], Data::Float(6.0));
    assert_eq!(
        book.worksheet_range("积分明细").unwrap().height(),
        lines.len()
    );

    // The PDF, typeset by the worker (yishi-pdf): one page per
    // member (一人一档), in the roster's order, each with the member's name, total and
    // point lines (kind and points side by side in the table).
    let r = get(format!("from={from}&to={to}&format=pdf")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("filename=\"participation-{from}_{to}.pdf\"")),
    );
    let pdf = r.bytes().await.unwrap().to_vec();
    assert_eq!(common::pdf_pages(&pdf), 4);
    let pages: Vec<String> = (1..=4).map(|n| common::pdf_text(&pdf, Some(n))).collect();
    let expected: [(&str, &str, &[&str]); 4] = [
        ("李委员", "6", &["出席2", "发言3", "表决1"]),
        ("王委员", "4", &["出席2", "提问1", "表决1"]),
        ("赵委员", "-3", &["缺席-3"]),
        ("钱委员", "0", &["统计期间内无积分记录"]),
    ];
    for (page, (who, total, lines)) in pages.iter().zip(expected) {
        assert!(page.starts_with(&format!("{who}履职档案")), "{page}");
        assert!(page.contains("第7版某区政协委员履职积分办法"), "{page}");
        // The summary table ends with the total.
        assert!(page.contains("参加表决积分"), "{page}");
        assert!(page.contains(&format!("{total}积分明细")), "{page}");
        for line in lines {
            assert!(page.contains(line), "{line} not on {who}'s page:\n{page}");
        }
        for other in ["李委员", "王委员", "赵委员", "钱委员"] {
            assert!(
                other == who || !page.contains(other),
                "{other} on {who}'s page"
            );
        }
        if !lines[0].starts_with("统计") {
            assert!(page.contains("号事件"), "{page}");
        }
    }
    let pdf_text = pages.concat();

    // No secret choice anywhere: the options' words are in no output.
    let mut cells = Vec::new();
    for sheet in book.sheet_names() {
        let range = book.worksheet_range(&sheet).unwrap();
        cells.extend(range.cells().map(|(_, _, c)| c.to_string()));
    }
    for text in [&members_csv, &points_csv, &cells.join("\n"), &pdf_text] {
        for option in ["同意", "不同意", "弃权"] {
            assert!(!text.contains(option), "{option} in\n{text}");
        }
    }

    // The clerk's downloads are in the audit log, with the rules they used.
    let audit = server.state.store.audit_log().await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.staff == "李干事" && e.action == "GET /api/v1/reports/participation")
            .filter(|e| e.target.contains("第7版"))
            .count(),
        4,
        "{audit:?}"
    );

    // Refused: no credentials, a bad date, a period backwards, an unknown format.
    let r = http()
        .get(server.url(&format!(
            "/api/v1/reports/participation?from={from}&to={to}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for query in [
        format!("from=2026-02-30&to={to}"),
        format!("from={to}&to={from}"),
        format!("from={from}&to={to}&format=pdf2"),
        format!("to={to}"),
    ] {
        let r = get(query.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
    }

    // The command line, on the same database with the same rules file: the same bytes.
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
            .arg("--participation-rules")
            .arg(&rules_file)
            .args(args)
            .output()
            .unwrap()
    };
    let (from, to) = (from.as_str(), to.as_str());
    let formats = [
        ("csv", "members", members_csv.as_bytes()),
        ("csv", "points", points_csv.as_bytes()),
        ("xlsx", "members", &xlsx[..]),
        ("pdf", "members", &pdf[..]),
    ];
    for (format, table, served) in formats {
        let file = out.path().join(format!("{table}.{format}"));
        let run = cli(&[
            "report",
            "participation",
            "--from",
            from,
            "--to",
            to,
            "--format",
            format,
            "--table",
            table,
            "-o",
            file.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(String::from_utf8_lossy(&run.stderr).contains("第7版"));
        assert_eq!(std::fs::read(&file).unwrap(), served, "{format} {table}");
    }
    let run = cli(&["report", "participation", "--from", "2026-1-1", "--to", to]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a date"));
    let bad_rules = out.path().join("bad.toml");
    std::fs::write(&bad_rules, "version = 0\nname = \"x\"").unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"))
        .env_remove("YISHI_PARTICIPATION_RULES")
        .args(["--database", &server.database, "--participation-rules"])
        .arg(&bad_rules)
        .args(["report", "participation", "--from", from, "--to", to])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("participation rules"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participation_records_of_a_real_meeting() {
    participation_report(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn participation_records_on_postgres() {
    participation_report(Backend::Postgres).await;
}
