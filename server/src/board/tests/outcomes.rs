//! Outcomes: progress, roll-up, timeline and review.

use super::*;

/// A topic selected, with its opinion recorded; its id.
fn consulted(f: &mut Fixture) -> TopicId {
    let id = f.published("停车");
    f.ok(
        &staff(),
        Command::SelectIntoMeeting(SelectIntoMeeting {
            topic: id,
            meeting: "m1".into(),
        }),
    );
    f.ok(
        &staff(),
        Command::RecordOpinion(RecordOpinion {
            topic: id,
            text: "意见".into(),
        }),
    );
    id
}

fn create(topic: TopicId, parent: Option<OutcomeId>, review: Option<&str>) -> Command {
    Command::CreateOutcome(CreateOutcome {
        topic,
        title: "增设停车位".into(),
        unit: "区交通局".into(),
        due: Some(Day("2027-06-30".into())),
        review: review.map(|r| Day(r.into())),
        parent,
    })
}

fn outcome_id(events: &[Event]) -> OutcomeId {
    match &events[0].body {
        EventBody::OutcomeCreated { outcome } => outcome.id,
        other => panic!("unexpected {other:?}"),
    }
}

fn progress(outcome: OutcomeId, percent: Option<u8>, status: Option<OutcomeStatus>) -> Command {
    Command::ReportProgress(ReportProgress {
        outcome,
        percent,
        status,
        note: "进展".into(),
    })
}

#[test]
fn an_outcome_comes_from_a_recorded_opinion() {
    let mut f = Fixture::new();
    let id = f.published("停车");
    assert_eq!(
        f.refused(&staff(), create(id, None, None)),
        ErrorCode::InvalidState
    );
    let id = consulted(&mut f);
    assert_eq!(
        f.refused(&resident(1), create(id, None, None)),
        ErrorCode::Forbidden
    );
    let o = outcome_id(&f.ok(&staff(), create(id, None, None)));
    let page = f.board.topic_page(id).unwrap();
    assert_eq!(page.outcomes[0].id, o);
    assert_eq!(page.outcomes[0].unit, "区交通局");
    assert_eq!(page.outcomes[0].status, OutcomeStatus::Assigned);
}

#[test]
fn dates_must_be_real_days() {
    let mut f = Fixture::new();
    let id = consulted(&mut f);
    assert_eq!(
        f.refused(&staff(), create(id, None, Some("2027-02-30"))),
        ErrorCode::InvalidArgument
    );
    assert!(Day("2028-02-29".into()).is_valid());
    assert!(!Day("2027-2-1".into()).is_valid());
}

#[test]
fn progress_is_reported_with_a_timeline_and_told_to_followers() {
    let mut f = Fixture::new();
    let id = consulted(&mut f);
    f.support(&resident(2), id).unwrap();
    let o = outcome_id(&f.ok(&staff(), create(id, None, None)));
    f.ok(
        &staff(),
        progress(o, Some(40), Some(OutcomeStatus::Handling)),
    );
    f.ok(&staff(), progress(o, None, None));
    let view = f.board.outcome_view(o).unwrap();
    assert_eq!((view.progress, view.status), (40, OutcomeStatus::Handling));
    assert_eq!(view.timeline.len(), 3, "created, two reports");
    assert_eq!(
        f.refused(&staff(), progress(o, Some(101), None)),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        f.refused(&staff(), progress(o, Some(90), Some(OutcomeStatus::Done))),
        ErrorCode::InvalidArgument,
        "done is 100 %"
    );
    let kinds: Vec<_> = f
        .board
        .feed(&resident(1).identity())
        .iter()
        .map(|n| n.kind)
        .collect();
    assert_eq!(
        &kinds[..3],
        [
            NoticeKind::Progress,
            NoticeKind::Progress,
            NoticeKind::OutcomeCreated
        ]
    );
}

#[test]
fn a_parents_progress_is_its_childrens_rolled_up() {
    let mut f = Fixture::new();
    let id = consulted(&mut f);
    let parent = outcome_id(&f.ok(&staff(), create(id, None, None)));
    let a = outcome_id(&f.ok(&staff(), create(id, Some(parent), None)));
    let b = outcome_id(&f.ok(&staff(), create(id, Some(parent), None)));
    let c = outcome_id(&f.ok(&staff(), create(id, Some(b), None)));
    f.ok(&staff(), progress(a, Some(100), Some(OutcomeStatus::Done)));
    f.ok(&staff(), progress(c, Some(51), None));
    assert_eq!(f.board.progress(b), 51);
    assert_eq!(f.board.progress(parent), 75, "(100 + 51) / 2, rounded down");
    assert_eq!(
        f.refused(&staff(), progress(parent, Some(10), None)),
        ErrorCode::InvalidState,
        "a parent's progress is not set by hand"
    );
    let other = f.published("其他");
    assert_eq!(
        f.refused(&staff(), create(other, Some(parent), None)),
        ErrorCode::InvalidState,
        "no opinion on the other topic"
    );
}

#[test]
fn the_review_list_shows_outcomes_due_for_review_until_reviewed() {
    let mut f = Fixture::new();
    let id = consulted(&mut f);
    let due = outcome_id(&f.ok(&staff(), create(id, None, Some("2025-01-01"))));
    let later = outcome_id(&f.ok(&staff(), create(id, None, Some("2099-01-01"))));
    let none = outcome_id(&f.ok(&staff(), create(id, None, None)));
    let today = Day::of(f.now);
    let list: Vec<_> = f.board.review_due(&today).iter().map(|o| o.id).collect();
    assert_eq!(list, [due]);
    assert!(!list.contains(&later));
    let review = |outcome| {
        Command::ReviewOutcome(ReviewOutcome {
            outcome,
            note: "回头看：已落实".into(),
        })
    };
    assert_eq!(f.refused(&staff(), review(none)), ErrorCode::InvalidState);
    f.ok(&staff(), review(due));
    assert!(f.board.review_due(&today).is_empty());
    assert_eq!(f.board.outcome_view(due).unwrap().reviewed, Some(today));
}

#[test]
fn a_day_is_counted_in_china_time() {
    // 2026-12-05T16:30Z is 2026-12-06 00:30 in Beijing.
    assert_eq!(Day::of(Millis(1_796_488_200_000)).0, "2026-12-06");
}
