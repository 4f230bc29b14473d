//! Supports, the shortlist and merging duplicates.

use super::*;

#[test]
fn one_support_per_identity() {
    let mut f = Fixture::new();
    let id = f.published("小区停车难");
    f.support(&resident(2), id).unwrap();
    assert_eq!(
        f.support(&resident(2), id).unwrap_err().code,
        ErrorCode::AlreadySupported
    );
    assert_eq!(f.board.topic_page(id).unwrap().supports, 1);
}

#[test]
fn a_supporter_follows_the_topic() {
    let mut f = Fixture::new();
    let id = f.published("小区停车难");
    f.support(&resident(2), id).unwrap();
    assert!(f.board.follows(id, &resident(2).identity()));
}

#[test]
fn a_pending_topic_cannot_be_supported() {
    let mut f = Fixture::new();
    let id = f.submit(&resident(1), "待审");
    assert_eq!(
        f.support(&resident(2), id).unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[test]
fn supports_close_once_the_topic_is_consulted() {
    let mut f = Fixture::new();
    let id = f.published("t");
    f.advance(id, Stage::Selecting);
    f.support(&resident(2), id).unwrap();
    f.advance(id, Stage::Consulted);
    assert_eq!(
        f.support(&resident(3), id).unwrap_err().code,
        ErrorCode::InvalidState
    );
}

#[test]
fn reaching_the_threshold_puts_a_topic_on_the_shortlist() {
    let mut f = Fixture::new();
    f.ok(
        &staff(),
        Command::SetThreshold(SetThreshold { supports: 3 }),
    );
    let id = f.published("小区停车难");
    for n in 2..4 {
        f.support(&resident(n), id).unwrap();
    }
    assert!(f.board.shortlist().is_empty(), "two of three");
    f.support(&member(), id).unwrap();
    assert_eq!(f.board.shortlist()[0].id, id);
    assert_eq!(
        f.refused(
            &staff(),
            Command::SetThreshold(SetThreshold { supports: 0 })
        ),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn merged_supports_are_carried_over_and_counted_once() {
    let mut f = Fixture::new();
    let a = f.published("停车难");
    let b = f.published("停车位不够");
    f.support(&resident(2), a).unwrap();
    f.support(&resident(3), a).unwrap();
    f.support(&resident(3), b).unwrap();
    f.support(&resident(4), b).unwrap();
    f.ok(
        &staff(),
        Command::MergeTopic(MergeTopic {
            duplicate: b,
            into: a,
        }),
    );
    assert_eq!(
        f.board.topic_page(a).unwrap().supports,
        3,
        "2, 3, 4 once each"
    );
    assert_eq!(f.board.topic_page(b).unwrap().merged_into, Some(a));
    assert_eq!(
        f.support(&resident(5), b).unwrap_err().code,
        ErrorCode::Merged
    );
    assert_eq!(
        f.support(&resident(4), a).unwrap_err().code,
        ErrorCode::AlreadySupported,
        "a merged supporter supports the target"
    );
    let (list, _) = f.board.public_topics(&Filter::default(), 0, 10);
    assert_eq!(list.len(), 1, "the duplicate leaves the list");
    assert!(
        f.board.follows(a, &resident(4).identity()),
        "followers carried over"
    );
}

#[test]
fn a_topic_is_not_merged_into_itself_or_into_a_merged_one() {
    let mut f = Fixture::new();
    let a = f.published("a");
    let b = f.published("b");
    let c = f.published("c");
    let merge = |duplicate, into| Command::MergeTopic(MergeTopic { duplicate, into });
    assert_eq!(f.refused(&staff(), merge(a, a)), ErrorCode::InvalidArgument);
    f.ok(&staff(), merge(b, a));
    assert_eq!(f.refused(&staff(), merge(c, b)), ErrorCode::Merged);
    assert_eq!(f.refused(&resident(1), merge(c, a)), ErrorCode::Forbidden);
}
