//! The workflow, meetings and opinions.

use super::*;

fn chair(meeting: &str) -> Actor {
    Actor::Presiding {
        meeting: meeting.into(),
        identity: Identity::new("host"),
        name: "主持人".into(),
        role: PresidingRole::Chair,
    }
}

fn opinion(topic: TopicId) -> Command {
    Command::RecordOpinion(RecordOpinion {
        topic,
        text: "建议增设错时共享停车位".into(),
    })
}

#[test]
fn the_workflow_moves_one_step_at_a_time_with_a_dated_public_note() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let skip = Command::AdvanceStage(AdvanceStage {
        topic: id,
        to: Stage::Consulted,
        note: "跳过".into(),
    });
    assert_eq!(f.refused(&staff(), skip), ErrorCode::InvalidState);
    let blank = Command::AdvanceStage(AdvanceStage {
        topic: id,
        to: Stage::Selecting,
        note: " ".into(),
    });
    assert_eq!(
        f.refused(&staff(), blank),
        ErrorCode::TextEmpty,
        "a note is required"
    );
    for stage in [
        Stage::Selecting,
        Stage::Consulted,
        Stage::Handling,
        Stage::Done,
    ] {
        f.advance(id, stage);
    }
    let page = f.board.topic_page(id).unwrap();
    assert_eq!(page.stage, Stage::Done);
    let stages: Vec<_> = page.timeline.iter().filter_map(|e| e.stage).collect();
    assert_eq!(
        stages,
        [
            Stage::Selecting,
            Stage::Consulted,
            Stage::Handling,
            Stage::Done
        ]
    );
    assert!(page.timeline.windows(2).all(|w| w[0].at < w[1].at), "dated");
    assert_eq!(page.timeline[1].text, "进入selecting");
    let again = Command::AdvanceStage(AdvanceStage {
        topic: id,
        to: Stage::Done,
        note: "n".into(),
    });
    assert_eq!(f.refused(&staff(), again), ErrorCode::InvalidState);
}

#[test]
fn only_staff_move_the_workflow() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let cmd = Command::AdvanceStage(AdvanceStage {
        topic: id,
        to: Stage::Selecting,
        note: "n".into(),
    });
    assert_eq!(f.refused(&member(), cmd), ErrorCode::Forbidden);
}

#[test]
fn each_stage_change_reaches_followers_feeds() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    f.support(&resident(2), id).unwrap();
    f.advance(id, Stage::Selecting);
    let feed = f.board.feed(&resident(2).identity());
    assert_eq!(feed.len(), 1);
    assert_eq!(
        (feed[0].kind, feed[0].topic),
        (NoticeKind::StageAdvanced, Some(id))
    );
    assert_eq!(feed[0].topic_title, "停车");
}

#[test]
fn the_chair_of_the_meeting_a_topic_was_selected_into_records_its_opinion() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    assert_eq!(
        f.refused(&staff(), opinion(id)),
        ErrorCode::InvalidState,
        "not selected"
    );
    f.ok(
        &staff(),
        Command::SelectIntoMeeting(SelectIntoMeeting {
            topic: id,
            meeting: "m1".into(),
        }),
    );
    let twice = Command::SelectIntoMeeting(SelectIntoMeeting {
        topic: id,
        meeting: "m2".into(),
    });
    assert_eq!(f.refused(&staff(), twice), ErrorCode::InvalidState);
    assert_eq!(
        f.refused(&chair("m2"), opinion(id)),
        ErrorCode::Forbidden,
        "another meeting's chair"
    );
    assert_eq!(f.refused(&member(), opinion(id)), ErrorCode::Forbidden);
    f.support(&resident(3), id).unwrap();
    f.ok(&chair("m1"), opinion(id));
    let page = f.board.topic_page(id).unwrap();
    assert_eq!(page.meeting.as_deref(), Some("m1"));
    assert_eq!(page.opinion.as_deref(), Some("建议增设错时共享停车位"));
    assert_eq!(
        f.board.feed(&resident(3).identity())[0].kind,
        NoticeKind::Opinion
    );
}

#[test]
fn a_meeting_is_named_by_a_room_id() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let bad = Command::SelectIntoMeeting(SelectIntoMeeting {
        topic: id,
        meeting: "有 空格".into(),
    });
    assert_eq!(f.refused(&staff(), bad), ErrorCode::InvalidArgument);
}
