//! Comments: pre-moderated, with a stance; staff's are official answers.

use super::*;

fn comment(topic: TopicId, text: &str, stance: Option<Stance>) -> Command {
    Command::PostComment(PostComment {
        topic,
        text: text.into(),
        stance,
    })
}

fn comment_id(events: &[Event]) -> CommentId {
    match &events[0].body {
        EventBody::CommentPosted { comment } => comment.id,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_residents_comment_is_pre_moderated() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let c = comment_id(&f.ok(
        &resident(2),
        comment(id, "建议建立体车库", Some(Stance::Suggestion)),
    ));
    assert!(f.board.topic_page(id).unwrap().comments.is_empty());
    assert_eq!(f.board.queue().comments.len(), 1);
    f.ok(
        &staff(),
        Command::ModerateComment(ModerateComment {
            comment: c,
            decision: Decision::Publish,
        }),
    );
    let page = f.board.topic_page(id).unwrap();
    assert_eq!(page.comments[0].stance, Some(Stance::Suggestion));
    assert!(!page.comments[0].official);
}

#[test]
fn a_rejected_comment_never_shows() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let c = comment_id(&f.ok(&resident(2), comment(id, "骂人的话", Some(Stance::Against))));
    f.ok(
        &staff(),
        Command::ModerateComment(ModerateComment {
            comment: c,
            decision: Decision::Reject {
                reason: "不文明".into(),
            },
        }),
    );
    assert!(f.board.topic_page(id).unwrap().comments.is_empty());
    assert!(f.board.queue().comments.is_empty());
    assert_eq!(
        f.board.public_topics(&Filter::default(), 0, 1).0[0].comments,
        0
    );
}

#[test]
fn staffs_comment_is_an_official_answer_told_to_followers() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    f.support(&resident(2), id).unwrap();
    f.ok(&staff(), comment(id, "已转交交通部门研究", None));
    let page = f.board.topic_page(id).unwrap();
    assert!(page.comments[0].official);
    let feed = f.board.feed(&resident(2).identity());
    assert_eq!(feed[0].kind, NoticeKind::OfficialAnswer);
    assert_eq!(
        f.board.feed(&resident(1).identity())[0].kind,
        NoticeKind::OfficialAnswer,
        "author too"
    );
}

#[test]
fn no_comment_on_a_pending_or_merged_topic() {
    let mut f = Fixture::new();
    let p = f.submit(&resident(1), "待审");
    assert_eq!(
        f.refused(&resident(2), comment(p, "x", None)),
        ErrorCode::NotFound
    );
    let a = f.published("a");
    let b = f.published("b");
    f.ok(
        &staff(),
        Command::MergeTopic(MergeTopic {
            duplicate: b,
            into: a,
        }),
    );
    assert_eq!(
        f.refused(&resident(2), comment(b, "x", None)),
        ErrorCode::Merged
    );
}

#[test]
fn follow_and_unfollow() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    let me = resident(7);
    f.ok(&me, Command::Follow(Follow { topic: id }));
    assert_eq!(
        f.refused(&me, Command::Follow(Follow { topic: id })),
        ErrorCode::InvalidState
    );
    f.advance(id, Stage::Selecting);
    assert_eq!(f.board.feed(&me.identity()).len(), 1);
    f.ok(&me, Command::Unfollow(Follow { topic: id }));
    f.advance(id, Stage::Consulted);
    assert_eq!(
        f.board.feed(&me.identity()).len(),
        1,
        "no notice after unfollowing"
    );
}
