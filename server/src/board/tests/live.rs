//! What events change for readers (the live updates of the board's pages).

use super::*;

fn comment(topic: TopicId) -> Command {
    Command::PostComment(PostComment {
        topic,
        text: "建议建立体车库".into(),
        stance: None,
    })
}

#[test]
fn a_pending_topic_is_not_named_and_its_publication_is() {
    let mut f = Fixture::new();
    let events = f.ok(
        &resident(1),
        Command::SubmitTopic(SubmitTopic {
            title: "待审".into(),
            text: "说明".into(),
            area: "东城街道".into(),
            category: "交通".into(),
        }),
    );
    assert_eq!(f.board.changed(&events), Changed::default());
    let id = match &events[0].body {
        EventBody::TopicSubmitted { topic } => topic.id,
        other => panic!("unexpected {other:?}"),
    };
    let events = f.ok(
        &staff(),
        Command::ModerateTopic(ModerateTopic {
            topic: id,
            decision: Decision::Publish,
        }),
    );
    let changed = f.board.changed(&events);
    assert_eq!(changed.topics, vec![id]);
    assert!(changed.notices, "the author is told");
}

#[test]
fn a_support_changes_its_topics_page_without_a_notice() {
    let mut f = Fixture::new();
    let a = f.published("停车");
    f.published("加装电梯");
    let events = f.support(&resident(2), a).unwrap();
    assert_eq!(
        f.board.changed(&events),
        Changed {
            topics: vec![a],
            studios: vec![],
            notices: false
        }
    );
}

#[test]
fn a_comment_shows_once_published() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let events = f.ok(&resident(2), comment(id));
    assert!(
        f.board.changed(&events).is_empty(),
        "pending: nothing to read"
    );
    let c = match &events[0].body {
        EventBody::CommentPosted { comment } => comment.id,
        other => panic!("unexpected {other:?}"),
    };
    let events = f.ok(
        &staff(),
        Command::ModerateComment(ModerateComment {
            comment: c,
            decision: Decision::Publish,
        }),
    );
    assert_eq!(f.board.changed(&events).topics, vec![id]);
    // Staff's comment is an official answer: published at once, told to followers.
    f.support(&resident(3), id).unwrap();
    let events = f.ok(&staff(), comment(id));
    let changed = f.board.changed(&events);
    assert_eq!(changed.topics, vec![id]);
    assert!(changed.notices);
}

#[test]
fn a_merge_changes_both_topics() {
    let mut f = Fixture::new();
    let a = f.published("停车难");
    let b = f.published("停车位不够");
    let events = f.ok(
        &staff(),
        Command::MergeTopic(MergeTopic {
            duplicate: b,
            into: a,
        }),
    );
    assert_eq!(f.board.changed(&events).topics, vec![a, b]);
}
