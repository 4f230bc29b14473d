//! Minutes (会议纪要) of a real meeting: a server with its SQLite store, a host, two
//! members and an audience member on WebSockets run a short consultation (check-in, a
//! scheduled speech with an interjection, a question, a secret poll, the close); then the
//! minutes are fetched over the admin API as Markdown, DOCX and PDF, and written by the
//! `yishi minutes` command from the same database. They name the speakers with their
//! time, the poll with its declared counts and no voter, and the record's final hash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::{Backend, Client, TestServer};
use reqwest::StatusCode;
use yishi::minutes::time::duration;
use yishi::minutes::{Block, blocks_to_pdf};
use yishi_protocol::{
    Base, Choice, Command, EntryKind, EventBody, Majority, MajorityRule, Participant, PollId,
    PollMethod, PollSpec, RequestId, ResultsVisibility, Role, TurnId,
};

const ROOM: &str = "cppcc-minutes";
const TITLE: &str = "关于老旧小区改造的远程协商会";
const QUESTION: &str = "加装电梯的补贴什么时候到位？";
const POLL: &str = "是否同意将加装电梯列入明年民生实事？";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

fn host() -> Participant {
    Participant::new("host", "张主席", Role::Host)
}
fn li() -> Participant {
    Participant::new("m1", "李委员", Role::Member).with_sector("经济界")
}
fn wang() -> Participant {
    Participant::new("m2", "王委员", Role::Member).with_sector("教育界")
}
fn citizen() -> Participant {
    Participant::new("a1", "市民小陈", Role::Audience)
}

fn secret_poll() -> PollSpec {
    PollSpec {
        question: POLL.into(),
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

/// What the test needs to check the minutes against: the spoken times of the two turns.
struct Meeting {
    li_spoken_ms: u32,
    wang_spoken_ms: u32,
}

async fn run_meeting(server: &TestServer) -> Meeting {
    server.create_room(ROOM, TITLE).await;
    let mut h = server.connect(ROOM, &host()).await;
    let mut li = server.connect(ROOM, &li()).await;
    let mut wang = server.connect(ROOM, &wang()).await;
    let mut citizen = server.connect(ROOM, &citizen()).await;

    h.ok(Command::OpenCheckIn).await;
    li.ok(Command::CheckIn { head_count: None }).await;
    wang.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;

    // A scheduled speech from the queue, interrupted by an interjection.
    li.request_floor(EntryKind::Scheduled).await;
    h.grant_next().await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    wang.request_floor(EntryKind::Interjection).await;
    h.grant_next().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    wang.ok(Command::EndTurn).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    li.ok(Command::EndTurn).await;

    // A question from the audience, approved and answered.
    let question = citizen.ask_approved(&mut h, QUESTION).await;
    h.ok(Command::MarkAnswered { question }).await;
    h.ok(Command::Annotate {
        text: "会后将意见汇总转交市住建局".into(),
    })
    .await;

    // A secret poll: both members vote 同意.
    h.ok(Command::CreatePoll {
        spec: secret_poll(),
    })
    .await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    let ballot = Command::CastBallot {
        poll: PollId(1),
        choice: Choice::Single { option: 0 },
    };
    li.send_with(RequestId("li-ballot".into()), ballot.clone())
        .await;
    wang.send_with(RequestId("wang-ballot".into()), ballot)
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

    Meeting {
        li_spoken_ms: spoken(&h, TurnId(1)),
        wang_spoken_ms: spoken(&h, TurnId(2)),
    }
}

fn spoken(h: &Client, turn: TurnId) -> u32 {
    h.events
        .iter()
        .find_map(|e| match e.body {
            EventBody::TurnEnded {
                turn: t, spoken_ms, ..
            } if t == turn => Some(spoken_ms),
            _ => None,
        })
        .expect("the turn ended")
}

/// The text of a Markdown section: from its `## heading` to the next `## `.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("## {heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading} in\n{md}"));
    let rest = &md[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// The facts every form of the minutes must carry.
fn check_markdown(md: &str, meeting: &Meeting, final_hash: &str) {
    assert!(md.starts_with(&format!("# {TITLE}　会议纪要\n")), "{md}");
    assert!(md.contains("**主持人**：张主席"), "{md}");

    let attendance = section(md, "出席情况");
    assert!(attendance.contains("签到 2 人"), "{attendance}");
    assert!(attendance.contains("**未签到**：无"), "{attendance}");
    assert!(
        attendance.contains("| 李委员 | 委员 | 经济界 |"),
        "{attendance}"
    );
    assert!(
        !attendance.contains("市民小陈"),
        "the audience is not on the roll"
    );

    let speeches = section(md, "发言");
    let row = |n: &str| {
        speeches
            .lines()
            .find(|l| l.starts_with(&format!("| {n} |")))
            .unwrap_or_else(|| panic!("no row {n} in\n{speeches}"))
    };
    let first = row("1");
    assert!(first.contains("| 李委员 | 经济界 | 预约发言 |"), "{first}");
    assert!(
        first.contains(&format!("| {} |", duration(meeting.li_spoken_ms.into()))),
        "{first}"
    );
    let second = row("2");
    assert!(second.contains("| 王委员 | 教育界 | 插话 |"), "{second}");
    assert!(
        second.contains(&format!("| {} |", duration(meeting.wang_spoken_ms.into()))),
        "{second}"
    );
    assert!(second.contains("于李委员发言中插话"), "{second}");

    let polls = section(md, "表决");
    assert!(polls.contains(&format!("### 表决 1：{POLL}")), "{polls}");
    assert!(polls.contains("不记名"), "{polls}");
    assert!(polls.contains("**表决结果**：通过（同意）"), "{polls}");
    assert!(polls.contains("| 同意 | 2 |"), "{polls}");
    assert!(polls.contains("| 不同意 | 0 |"), "{polls}");
    assert!(polls.contains("| 投票总数 | 2 |"), "{polls}");
    assert!(polls.contains("到会有表决权 2 人"), "{polls}");
    for name in ["李委员", "王委员", "m1", "m2"] {
        assert!(
            !polls.contains(name),
            "{name} appears next to a secret poll:\n{polls}"
        );
    }

    let questions = section(md, "提问");
    assert!(questions.contains(QUESTION), "{questions}");
    assert!(questions.contains("市民小陈"), "{questions}");
    assert!(questions.contains("已答复"), "{questions}");

    assert!(section(md, "记录员批注").contains("会后将意见汇总转交市住建局"));

    let check = section(md, "记录核验");
    assert!(check.contains(final_hash), "{check}");
    assert!(check.contains("与最终哈希一致"), "{check}");
    assert!(check.contains("完整"), "{check}");
    assert!(
        check.contains(&format!("yishi record verify {ROOM}")),
        "{check}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_of_a_meeting_over_the_api_and_from_the_command_line() {
    let server = TestServer::start(Backend::Sqlite).await;
    let meeting = run_meeting(&server).await;
    assert!(meeting.li_spoken_ms >= 1_000, "{}", meeting.li_spoken_ms);

    // The record's head, and the final hash the room actor publishes just after the
    // close is acknowledged.
    let (last_seq, head) = server.state.store.head(ROOM).await.unwrap().unwrap();
    let mut waited = 0;
    let published = loop {
        let stored = server.state.store.room(ROOM).await.unwrap().unwrap();
        if let Some(hash) = stored.final_hash {
            break hash;
        }
        assert!(waited < 600, "the final hash was never published");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(published, head);

    let http = reqwest::Client::new();
    let url = |format: &str| server.url(&format!("/api/v1/rooms/{ROOM}/minutes?format={format}"));
    let admin = format!("Bearer {}", server.admin_key());

    // Markdown.
    let r = http
        .get(url("md"))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/markdown; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"minutes-{ROOM}.md\"")),
        "{disposition}"
    );
    let md = r.text().await.unwrap();
    check_markdown(&md, &meeting, &head);
    assert!(md.contains(&format!("第 1 至 {last_seq} 号事件")), "{md}");

    // DOCX: a zip whose document carries the same facts.
    let r = http
        .get(url("docx"))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], DOCX);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("filename=\"minutes-{ROOM}.docx\"")),
    );
    let docx = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx.to_vec())).unwrap();
    for part in ["[Content_Types].xml", "_rels/.rels", "word/styles.xml"] {
        assert!(zip.by_name(part).is_ok(), "{part} in the package");
    }
    let mut xml = String::new();
    zip.by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    for fact in [
        format!("{TITLE}　会议纪要"),
        "张主席".into(),
        "李委员".into(),
        "王委员".into(),
        duration(meeting.li_spoken_ms.into()),
        duration(meeting.wang_spoken_ms.into()),
        POLL.into(),
        "通过（同意）".into(),
        "投票总数".into(),
        QUESTION.into(),
        head.clone(),
    ] {
        assert!(xml.contains(&fact), "{fact} not in word/document.xml");
    }
    let poll_start = xml.find(POLL).unwrap();
    let poll_end = poll_start + xml[poll_start..].find(">提问<").unwrap();
    for name in ["李委员", "王委员"] {
        assert!(
            !xml[poll_start..poll_end].contains(name),
            "{name} appears next to the secret poll in the DOCX"
        );
    }

    // PDF, typeset by the worker (yishi-pdf) and read back with poppler's pdftotext:
    // the same facts, no voter in the poll.
    let r = http
        .get(url("pdf"))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("filename=\"minutes-{ROOM}.pdf\"")),
    );
    let pdf = r.bytes().await.unwrap().to_vec();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = common::pdf_text(&pdf, None);
    for fact in [
        format!("{TITLE}　会议纪要"),
        "主持人：张主席".into(),
        "李委员".into(),
        "王委员".into(),
        duration(meeting.li_spoken_ms.into()),
        duration(meeting.wang_spoken_ms.into()),
        "于李委员发言中插话".into(),
        POLL.into(),
        "表决结果：通过（同意）".into(),
        "同意2".into(),
        "投票总数2".into(),
        QUESTION.into(),
        "会后将意见汇总转交市住建局".into(),
        head.clone(),
        format!("yishirecordverify{ROOM}"),
    ] {
        let fact = common::squash(&fact);
        assert!(text.contains(&fact), "{fact} not in the PDF:\n{text}");
    }
    let poll_start = text.find(&common::squash(POLL)).unwrap();
    let poll_end = poll_start + text[poll_start..].find("提问").unwrap();
    for name in ["李委员", "王委员", "m1", "m2"] {
        assert!(
            !text[poll_start..poll_end].contains(name),
            "{name} appears next to the secret poll in the PDF"
        );
    }

    // The host's own join token may fetch the minutes (as it may the record); a member's
    // may not.
    let r = http
        .get(url("md"))
        .bearer_auth(server.token(ROOM, &host()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(url("md"))
        .bearer_auth(server.token(ROOM, &li()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A clerk's session may fetch them too, and the export goes to the audit log.
    let clerk = server.staff("clerk", yishi::staff::StaffRole::Clerk).await;
    let r = http
        .get(url("docx"))
        .header("cookie", &clerk.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let audit = server.state.store.audit_log().await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.staff == "clerk" && e.action == format!("GET /api/v1/rooms/{ROOM}/minutes")),
        "{audit:?}"
    );

    // Without credentials, an unknown format, an unknown room.
    let r = http.get(url("md")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(url("odt"))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .get(server.url("/api/v1/rooms/no-such-room/minutes"))
        .header("authorization", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The command line, on the same database.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("minutes.md");
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_yishi"));
        for (key, _) in std::env::vars() {
            if key.starts_with("YISHI_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("YISHI_DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .arg("--database")
            .arg(&server.database)
            .args(args)
            .output()
            .unwrap()
    };
    // In every format the bytes the API serves (typst's PDF is stable for the same
    // data: no clock, a fixed creator).
    for (format, served) in [
        ("md", md.as_bytes()),
        ("docx", &docx[..]),
        ("pdf", &pdf[..]),
    ] {
        let written = dir.path().join(format!("minutes.{format}"));
        let run = cli(&[
            "minutes",
            ROOM,
            "--format",
            format,
            "-o",
            written.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(std::fs::read(&written).unwrap(), served, "{format}");
    }
    let pdf_out = dir.path().join("minutes.pdf");

    // A font file that is not there: the path tried, and what to do.
    let run = cli(&[
        "--pdf-font",
        "/no/such/font.ttc",
        "minutes",
        ROOM,
        "--format",
        "pdf",
        "-o",
        pdf_out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("no CJK font for PDF output: tried /no/such/font.ttc"),
        "{stderr}"
    );

    let run = cli(&["minutes", "no-such-room", "-o", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("no room \"no-such-room\""),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// A server whose configured font file is missing answers `500 pdf_font_missing`, naming
/// the path it tried; the other formats still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_as_pdf_without_the_font() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::database(Backend::Sqlite, dir.path()).await;
    let server = TestServer::start_configured(database, dir, Default::default(), |c| {
        c.reports.pdf.font = Some("/no/such/font.ttc".into());
    })
    .await;
    server.create_room(ROOM, TITLE).await;
    let http = reqwest::Client::new();
    let get = |format: &str| {
        http.get(server.url(&format!("/api/v1/rooms/{ROOM}/minutes?format={format}")))
            .bearer_auth(server.admin_key())
            .send()
    };
    let r = get("pdf").await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "pdf_font_missing", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("tried /no/such/font.ttc"),
        "{body}"
    );
    assert_eq!(get("md").await.unwrap().status(), StatusCode::OK);
}

/// Characters that start markup in typst, in a name, a title, a cell and a list item.
const HOSTILE: &str =
    r#"#let x = 1 *粗* _斜_ $x^2$ [链接] \ @ref <label> `code` = 标题 - 项 // 注释 /* c */ "q""#;

fn typeset(title: &str, pages: Vec<Vec<Block>>) -> Vec<u8> {
    let settings = yishi::pdf::Settings {
        font: None,
        worker: Some(common::pdf_worker()),
    };
    blocks_to_pdf(&settings, title, pages).expect("typeset")
}

/// Text from a record reaches typst as data: markup characters are printed as written.
#[test]
fn markup_characters_in_text_are_printed_as_written() {
    let pages = vec![vec![
        Block::Title(HOSTILE.to_owned()),
        Block::Heading(HOSTILE.to_owned()),
        Block::Subheading(HOSTILE.to_owned()),
        Block::Paragraph(HOSTILE.to_owned()),
        Block::Field(HOSTILE.to_owned(), HOSTILE.to_owned()),
        Block::Code(HOSTILE.to_owned()),
        Block::Bullets(vec![HOSTILE.to_owned()]),
        Block::Table {
            head: vec!["姓名".to_owned(), HOSTILE.to_owned()],
            rows: vec![vec![HOSTILE.to_owned(), String::new()]],
        },
    ]];
    let text = common::pdf_text(&typeset(HOSTILE, pages), None);
    let hostile = common::squash(HOSTILE);
    // Title, heading, subheading, paragraph, field (label and value), code, list item,
    // header cell and body cell: ten times, every character there.
    assert_eq!(text.matches(&hostile).count(), 10, "{text}");
}

/// Each group of blocks starts a page (one member per page in participation records).
#[test]
fn each_group_of_blocks_starts_a_page() {
    let page = |name: &str| {
        vec![
            Block::Title(format!("履职档案：{name}")),
            Block::Field("积分".to_owned(), "6".to_owned()),
        ]
    };
    let pdf = typeset("t", vec![page("李委员"), page("王委员")]);
    assert_eq!(common::pdf_pages(&pdf), 2);
    let first = common::pdf_text(&pdf, Some(1));
    assert!(first.contains("履职档案：李委员积分：6"), "{first}");
    assert!(!first.contains("王委员"), "{first}");
    assert!(common::pdf_text(&pdf, Some(2)).contains("王委员"));
}

/// A worker that is not there: a clear error naming what was tried and what to do.
#[test]
fn without_the_worker_the_error_says_how_to_get_it() {
    let settings = yishi::pdf::Settings {
        font: None,
        worker: Some("/no/such/yishi-pdf".into()),
    };
    let err = blocks_to_pdf(&settings, "t", vec![vec![Block::Paragraph("x".into())]]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("tried /no/such/yishi-pdf"), "{message}");
    assert!(message.contains("make pdf-worker"), "{message}");
}
