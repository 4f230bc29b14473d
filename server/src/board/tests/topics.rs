//! Submitting and moderating topics.

use super::*;

#[test]
fn a_residents_topic_waits_for_moderation_and_is_not_public_until_published() {
    let mut f = Fixture::new();
    let id = f.submit(&resident(1), "小区停车难");
    assert_eq!(f.board.topic_page(id), None, "pending is not public");
    assert_eq!(f.board.public_topics(&Filter::default(), 0, 10).1, 0);
    assert_eq!(f.board.queue().topics.len(), 1, "staff see it in the queue");
    f.ok(
        &staff(),
        Command::ModerateTopic(ModerateTopic {
            topic: id,
            decision: Decision::Publish,
        }),
    );
    let page = f.board.topic_page(id).unwrap();
    assert_eq!(page.title, "小区停车难");
    assert_eq!(page.stage, Stage::Collecting);
    assert!(f.board.queue().topics.is_empty());
}

#[test]
fn a_rejected_topic_stays_private_and_its_author_is_told_why() {
    let mut f = Fixture::new();
    let id = f.submit(&resident(1), "广告");
    f.ok(
        &staff(),
        Command::ModerateTopic(ModerateTopic {
            topic: id,
            decision: Decision::Reject {
                reason: "与议事无关".into(),
            },
        }),
    );
    assert_eq!(f.board.topic_page(id), None);
    let feed = f.board.feed(&resident(1).identity());
    assert_eq!(feed[0].kind, NoticeKind::Rejected);
    assert_eq!(feed[0].text, "与议事无关");
    let again = Command::ModerateTopic(ModerateTopic {
        topic: id,
        decision: Decision::Publish,
    });
    assert_eq!(
        f.refused(&staff(), again),
        ErrorCode::InvalidState,
        "moderated once"
    );
}

#[test]
fn only_staff_moderate() {
    let mut f = Fixture::new();
    let id = f.submit(&resident(1), "路灯不亮");
    for actor in [resident(2), member()] {
        let cmd = Command::ModerateTopic(ModerateTopic {
            topic: id,
            decision: Decision::Publish,
        });
        assert_eq!(f.refused(&actor, cmd), ErrorCode::Forbidden);
    }
}

#[test]
fn a_staff_topic_is_published_at_once_and_a_members_waits() {
    let mut f = Fixture::new();
    let s = f.submit(&staff(), "老旧小区加装电梯");
    assert!(f.board.topic_page(s).is_some());
    let m = f.submit(&member(), "社区食堂");
    assert!(f.board.topic_page(m).is_none());
}

#[test]
fn a_topic_needs_a_title_area_and_category_of_sane_length() {
    let mut f = Fixture::new();
    let mut cmd = SubmitTopic {
        title: " ".into(),
        text: "说明".into(),
        area: "东城街道".into(),
        category: "交通".into(),
    };
    assert_eq!(
        f.refused(&resident(1), Command::SubmitTopic(cmd.clone())),
        ErrorCode::TextEmpty
    );
    cmd.title = "议".repeat(61);
    assert_eq!(
        f.refused(&resident(1), Command::SubmitTopic(cmd.clone())),
        ErrorCode::TextTooLong
    );
    cmd.title = "标题".into();
    cmd.area = "a\u{7}".into();
    assert_eq!(
        f.refused(&resident(1), Command::SubmitTopic(cmd)),
        ErrorCode::TextInvalid
    );
}

#[test]
fn a_meetings_chair_does_not_submit_topics_as_chair() {
    let mut f = Fixture::new();
    let chair = Actor::Presiding {
        meeting: "m1".into(),
        identity: Identity::new("host"),
        name: "主持人".into(),
        role: PresidingRole::Chair,
    };
    let cmd = Command::SubmitTopic(SubmitTopic {
        title: "t".into(),
        text: "t".into(),
        area: "a".into(),
        category: "c".into(),
    });
    assert_eq!(f.refused(&chair, cmd), ErrorCode::Forbidden);
}

#[test]
fn the_public_list_filters_by_stage_area_and_category_newest_first() {
    let mut f = Fixture::new();
    let a = f.published("停车");
    let b = f.published("路灯");
    f.advance(b, Stage::Selecting);
    let (all, total) = f.board.public_topics(&Filter::default(), 0, 10);
    assert_eq!(total, 2);
    assert_eq!(all.iter().map(|t| t.id).collect::<Vec<_>>(), [b, a]);
    let filter = Filter {
        stage: Some(Stage::Selecting),
        ..Filter::default()
    };
    assert_eq!(f.board.public_topics(&filter, 0, 10).0[0].id, b);
    let filter = Filter {
        area: Some("西城街道".into()),
        ..Filter::default()
    };
    assert_eq!(f.board.public_topics(&filter, 0, 10).1, 0);
    let (page, total) = f.board.public_topics(&Filter::default(), 1, 1);
    assert_eq!((page[0].id, total), (a, 2), "paging");
}

#[test]
fn the_public_list_pages_newest_first_and_counts_every_match() {
    let mut f = Fixture::new();
    let ids: Vec<_> = (0..25).map(|n| f.published(&format!("议题{n}"))).collect();
    let newest: Vec<_> = ids.iter().rev().copied().collect();
    let page = |f: &Fixture, offset, limit| {
        let (topics, total) = f.board.public_topics(&Filter::default(), offset, limit);
        (topics.iter().map(|t| t.id).collect::<Vec<_>>(), total)
    };
    assert_eq!(page(&f, 0, 10), (newest[..10].to_vec(), 25));
    assert_eq!(page(&f, 5, 10), (newest[5..15].to_vec(), 25));
    assert_eq!(page(&f, 20, 10), (newest[20..].to_vec(), 25));
    assert_eq!(page(&f, 25, 10), (Vec::new(), 25));
    assert_eq!(page(&f, 3, 0), (Vec::new(), 25));
    assert_eq!(page(&f, 0, usize::MAX), (newest.clone(), 25));
}
