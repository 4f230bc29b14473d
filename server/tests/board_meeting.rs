//! A topic's consultation (协商过程) and the follow-up meeting (回头看会议), over real HTTP
//! and WebSockets, on SQLite and on PostgreSQL: a published topic is selected into a
//! meeting prepared over the API (its agenda gains `议题：<title>`); the host view puts the
//! agenda into the room; the chair goes to the topic's item, where a member speaks, a
//! question is approved and answered, a poll is published and another only closed; then
//! the chair goes back to the first item and another turn is given. The topic's public
//! page links what happened under its item and nothing else: no unpublished result, no
//! voter. The chair records the opinion with the meeting's token, staff create an outcome
//! due for review, and the 回头看 list of that day becomes a follow-up meeting with one
//! agenda item per outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::board::{Who, call, command, resident, staff_ok};
use common::meeting::{admin, prepare};
use common::{Backend, Client, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yishi::staff::StaffRole;
use yishi_protocol::{
    Base, Choice, Command, EntryKind, ItemId, Majority, MajorityRule, PollId, PollMethod, PollSpec,
    RequestId, ResultsVisibility, YesNo,
};

const TITLE: &str = "老旧小区加装电梯";
const ROSTER: &str = "委员编号,姓名,界别\nWY001,李委员,经济界\nWY002,王委员,教育界\n";

fn poll(question: &str) -> PollSpec {
    PollSpec {
        question: question.into(),
        method: PollMethod::YesNoAbstain,
        binding: true,
        advisory: false,
        secret: false,
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

/// The topic's public page.
async fn page(server: &TestServer, topic: u64) -> Value {
    let (status, page) = call(
        server,
        &Who::Nobody,
        Method::GET,
        &format!("/api/v1/board/topics/{topic}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// Open poll `id`, `voters` vote 赞成 (each waits for its acknowledgement), close it.
async fn vote(h: &mut Client, voters: &mut [&mut Client], id: PollId) {
    h.ok(Command::OpenPoll { poll: id }).await;
    for (n, voter) in voters.iter_mut().enumerate() {
        let req = RequestId(format!("ballot-{}-{n}", id.0));
        voter
            .send_with(
                req.clone(),
                Command::CastBallot {
                    poll: id,
                    choice: Choice::YesNoAbstain { vote: YesNo::Yes },
                },
            )
            .await;
        voter.answer(&req).await.expect("ballot accepted");
    }
    h.ok(Command::ClosePoll { poll: id }).await;
}

async fn scenario(backend: Backend) {
    let server = TestServer::start(backend).await;
    let clerk = server.staff("clerk", StaffRole::Clerk).await;
    let author = resident(&server, "东城李阿姨").await;
    let (status, answer) = command(
        &server,
        &Who::Cookie(&author),
        json!({ "type": "submit_topic", "title": TITLE, "text": "六层老楼没有电梯，老人上下楼难。", "area": "东城街道", "category": "城市建设" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let topic = answer["events"][0]["body"]["topic"]["id"].as_u64().unwrap();
    staff_ok(
        &clerk,
        json!({ "type": "moderate_topic", "topic": topic, "decision": "publish" }),
    )
    .await;
    assert_eq!(page(&server, topic).await["in_meeting"], Value::Null);

    // A meeting prepared as the console does; the topic selected into it.
    // Starting in half an hour: the invitees' links are valid from a day before.
    let starts_at = yishi::hub::now().0 as i64 + 30 * 60_000;
    let meeting = prepare(
        &server,
        ROSTER,
        json!({ "title": "城市更新专题协商会", "starts_at": starts_at, "agenda": [{ "title": "部门情况通报" }] }),
        &["李委员", "王委员"],
        "张主席",
    )
    .await;
    let room = meeting.room.clone();
    staff_ok(
        &clerk,
        json!({ "type": "select_into_meeting", "topic": topic, "meeting": room }),
    )
    .await;
    let before = page(&server, topic).await;
    let linked = &before["in_meeting"];
    assert_eq!(linked["meeting"], room.as_str());
    assert_eq!(linked["title"], "城市更新专题协商会");
    assert_eq!(linked["item"], format!("议题：{TITLE}"));
    assert_eq!(linked["starts_at"], starts_at);
    assert_eq!(linked["started_at"], Value::Null, "not reached yet");
    assert_eq!(linked["speeches"], json!([]));

    // The host view puts the agenda (with the topic's item) into the room.
    admin(
        &server,
        Method::POST,
        &format!("/api/v1/meetings/{room}/host"),
        None,
    )
    .await;
    let mut h = meeting.join(&server, "张主席").await;
    let mut li = meeting.join(&server, "李委员").await;
    let mut wang = meeting.join(&server, "王委员").await;
    let agenda = h
        .welcome
        .snapshot
        .as_ref()
        .expect("a snapshot")
        .agenda
        .clone();
    let titles: Vec<_> = agenda.iter().map(|i| i.title.as_str()).collect();
    let item = format!("议题：{TITLE}");
    assert_eq!(titles, ["部门情况通报", item.as_str()]);
    let first = agenda[0].id;
    let topic_item: ItemId = agenda[1].id;

    h.ok(Command::OpenCheckIn).await;
    li.ok(Command::CheckIn { head_count: None }).await;
    wang.ok(Command::CheckIn { head_count: None }).await;
    h.ok(Command::StartSession).await;
    h.ok(Command::SetCurrentItem { item: topic_item }).await;

    // Under the topic's item: 李委员 speaks, a question is approved and answered, a poll
    // is published, another is closed and not published.
    li.request_floor(EntryKind::Impromptu).await;
    h.grant_next().await;
    li.ok(Command::EndTurn).await;
    let question = wang.ask_approved(&mut h, "补贴标准是多少？").await;
    h.ok(Command::MarkAnswered { question }).await;
    h.ok(Command::CreatePoll {
        spec: poll("是否同意加装电梯方案？"),
    })
    .await;
    vote(&mut h, &mut [&mut li, &mut wang], PollId(1)).await;
    h.ok(Command::PublishPoll { poll: PollId(1) }).await;
    h.ok(Command::CreatePoll {
        spec: poll("是否同意补贴标准？"),
    })
    .await;
    vote(&mut h, &mut [&mut li], PollId(2)).await;

    // Back to the first item: 王委员's turn there is not the topic's.
    h.ok(Command::SetCurrentItem { item: first }).await;
    wang.request_floor(EntryKind::Impromptu).await;
    let last = h.grant_next().await.unwrap();
    h.through(last).await;

    let after = page(&server, topic).await;
    let linked = &after["in_meeting"];
    assert!(linked["started_at"].as_u64().is_some(), "{linked}");
    let speeches = linked["speeches"].as_array().unwrap();
    assert_eq!(speeches.len(), 1, "{linked}");
    assert_eq!(speeches[0]["name"], "李委员");
    assert_eq!(speeches[0]["sector"], "经济界");
    assert!(speeches[0]["spoken_ms"].as_u64().is_some());
    let polls = linked["polls"].as_array().unwrap();
    assert_eq!(polls.len(), 2, "{linked}");
    assert_eq!(polls[0]["question"], "是否同意加装电梯方案？");
    assert_eq!(polls[0]["labels"], json!(["赞成", "反对", "弃权"]));
    assert_eq!(polls[0]["result"]["binding"]["counts"], json!([2, 0, 0]));
    assert_eq!(polls[0]["result"]["outcome"], "passed");
    assert_eq!(polls[1]["question"], "是否同意补贴标准？");
    assert_eq!(polls[1]["result"], Value::Null, "closed, not published");
    assert_eq!(
        linked["questions"],
        json!([{ "text": "补贴标准是多少？", "answered": true }])
    );
    let text = linked.to_string();
    assert!(
        !text.contains("王委员"),
        "nothing from the other item, no voter: {text}"
    );

    // The chair records the opinion with the meeting's token (presiding).
    let (status, answer) = command(
        &server,
        &Who::Bearer(&h.token),
        json!({ "type": "record_opinion", "topic": topic, "text": "建议统一规划加装电梯。" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // An outcome due for review on 2027-01-10, and the follow-up meeting of that day.
    let made = staff_ok(
        &clerk,
        json!({ "type": "create_outcome", "topic": topic, "title": "加装电梯补贴办法", "unit": "区住建局", "review": "2027-01-10" }),
    )
    .await;
    let outcome = made["events"][0]["body"]["outcome"]["id"].clone();
    let path = "/api/v1/board/staff/review/meeting";
    let (status, refused) = clerk.post(path, json!({ "day": "2027-01-09" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "invalid_state");
    let (status, refused) = clerk.post(path, json!({ "day": "2027-13-40" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "invalid_argument");
    let (status, unauthorized) = call(
        &server,
        &Who::Nobody,
        Method::POST,
        path,
        Some(json!({ "day": "2027-01-10" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{unauthorized}");

    let (status, follow) = clerk
        .post(
            path,
            json!({ "day": "2027-01-10", "starts_at": 1_800_100_000_000_i64 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{follow}");
    assert_eq!(follow["title"], "回头看会议（2027-01-10）");
    assert_eq!(follow["kind"], "consultation");
    assert_eq!(follow["status"], "scheduled");
    assert_eq!(follow["starts_at"], 1_800_100_000_000_i64);
    assert_eq!(
        follow["agenda"],
        json!([{ "title": "回头看：加装电梯补贴办法（区住建局）", "limit_s": 0 }])
    );
    assert_eq!(follow["outcomes"], json!([outcome]));
    let id = follow["id"].as_str().unwrap();
    let shown = admin(
        &server,
        Method::GET,
        &format!("/api/v1/meetings/{id}"),
        None,
    )
    .await;
    assert_eq!(shown["agenda"], follow["agenda"]);
    // Audited as the clerk's act.
    let audit = format!("{:?}", server.state.store.audit_log().await.unwrap());
    assert!(
        audit.contains("POST /api/v1/board/staff/review/meeting") && audit.contains(id),
        "{audit}"
    );
}

#[tokio::test]
async fn on_sqlite() {
    scenario(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn on_postgres() {
    scenario(Backend::Postgres).await;
}
