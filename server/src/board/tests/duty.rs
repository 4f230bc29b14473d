//! Duty slots (会客时间): scheduled by staff or the studio's member, checked, cancelled
//! before they start; the room opens five minutes before the start and closes at the end.

use super::studio::{ZHANG, open};
use super::*;

const MIN: u64 = 60_000;

fn schedule(member: MemberId, title: &str, starts_at: Millis, minutes: u64) -> Command {
    Command::ScheduleDuty(ScheduleDuty {
        member,
        title: title.into(),
        starts_at,
        ends_at: starts_at.plus(minutes * MIN),
    })
}

fn slot_of(events: &[Event]) -> DutySlot {
    match &events[0].body {
        EventBody::DutyScheduled { slot } => slot.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn staff_or_the_studios_member_schedule_a_slot_that_names_its_room() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let at = f.now.plus(60 * MIN);
    let a = slot_of(&f.ok(&staff(), schedule(ZHANG, "养老服务接待", at, 60)));
    assert_eq!((a.id, a.room.as_str()), (SlotId(1), "duty-1-1"));
    let b = slot_of(&f.ok(
        &member(),
        schedule(ZHANG, "交通出行", at.plus(120 * MIN), 30),
    ));
    assert_eq!(b.room, "duty-1-2");
    // Residents, and another member, may not.
    assert_eq!(
        f.refused(
            &resident(2),
            schedule(ZHANG, "冒充", at.plus(300 * MIN), 30)
        ),
        ErrorCode::Forbidden
    );
    let other = Actor::Member {
        identity: Identity::new("m-2"),
        name: "李委员".into(),
    };
    assert_eq!(
        f.refused(&other, schedule(ZHANG, "冒充", at.plus(300 * MIN), 30)),
        ErrorCode::Forbidden
    );
    assert_eq!(
        f.refused(&staff(), schedule(MemberId(2), "无工作室", at, 30)),
        ErrorCode::NotFound
    );
    // The page lists them, earliest first, not open yet.
    let slots = f.board.duty_slots(Some(ZHANG), f.now);
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0].title, "养老服务接待");
    assert_eq!(slots[0].studio_name, "张委员");
    assert_eq!(slots[0].phase, DutyPhase::Upcoming);
    assert_eq!(f.replayed(), f.board);
}

#[test]
fn a_slots_times_and_title_are_checked() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let now = f.now;
    for (command, code) in [
        // In the past (beyond a form filled in the current minute).
        (
            schedule(ZHANG, "过去", Millis(now.0 - 10 * MIN), 30),
            ErrorCode::InvalidArgument,
        ),
        // The end is not after the start.
        (
            schedule(ZHANG, "零时长", now.plus(MIN), 0),
            ErrorCode::InvalidArgument,
        ),
        // Longer than four hours.
        (
            schedule(ZHANG, "太长", now.plus(MIN), 4 * 60 + 1),
            ErrorCode::InvalidArgument,
        ),
        (
            schedule(ZHANG, "   ", now.plus(MIN), 30),
            ErrorCode::TextEmpty,
        ),
    ] {
        assert_eq!(f.refused(&staff(), command), code);
    }
    // Four hours exactly, starting in the current minute: accepted.
    f.ok(
        &staff(),
        schedule(ZHANG, "整个下午", Millis(now.0 - MIN), 4 * 60),
    );
    // Overlapping another slot of the studio: refused; right after it: accepted.
    assert_eq!(
        f.refused(&staff(), schedule(ZHANG, "重叠", now.plus(60 * MIN), 30)),
        ErrorCode::InvalidState
    );
    f.ok(
        &staff(),
        schedule(ZHANG, "紧接着", Millis(now.0 - MIN).plus(240 * MIN), 30),
    );
}

#[test]
fn the_room_opens_five_minutes_before_the_start_and_closes_at_the_end() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let start = f.now.plus(60 * MIN);
    let slot = slot_of(&f.ok(&staff(), schedule(ZHANG, "会客", start, 30))).id;
    let at = |ms: u64| Millis(ms);
    let phase = |f: &Fixture, t: Millis| f.board.open_duty(ZHANG, slot, t).map(|v| v.phase);
    let refused = |f: &Fixture, t: Millis| f.board.open_duty(ZHANG, slot, t).unwrap_err().code;
    // Before the window: no link.
    assert_eq!(
        refused(&f, at(start.0 - 5 * MIN - 1)),
        ErrorCode::InvalidState
    );
    assert_eq!(phase(&f, at(start.0 - 5 * MIN)), Ok(DutyPhase::Opening));
    assert_eq!(phase(&f, start), Ok(DutyPhase::Live));
    assert_eq!(phase(&f, start.plus(30 * MIN - 1)), Ok(DutyPhase::Live));
    assert_eq!(refused(&f, start.plus(30 * MIN)), ErrorCode::InvalidState);
    // Another studio's slot number is not found; the ended slot leaves the page.
    assert_eq!(
        f.board
            .open_duty(MemberId(2), slot, start)
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
    assert!(
        f.board
            .duty_slots(Some(ZHANG), start.plus(30 * MIN))
            .is_empty()
    );
    assert_eq!(f.board.duty_slots(None, start)[0].phase, DutyPhase::Live);
}

#[test]
fn a_slot_is_cancelled_before_it_starts_and_never_opens() {
    let mut f = Fixture::new();
    open(&mut f, ZHANG, None);
    let start = f.now.plus(60 * MIN);
    let a = slot_of(&f.ok(&staff(), schedule(ZHANG, "取消的", start, 30))).id;
    let b = slot_of(&f.ok(&staff(), schedule(ZHANG, "照常", start.plus(60 * MIN), 30))).id;
    let cancel = |slot| Command::CancelDuty(CancelDuty { slot });
    assert_eq!(f.refused(&resident(2), cancel(a)), ErrorCode::Forbidden);
    assert_eq!(f.refused(&staff(), cancel(SlotId(9))), ErrorCode::NotFound);
    f.ok(&member(), cancel(a));
    assert_eq!(f.refused(&staff(), cancel(a)), ErrorCode::InvalidState);
    assert_eq!(
        f.board.open_duty(ZHANG, a, start).unwrap_err().code,
        ErrorCode::InvalidState
    );
    let left: Vec<SlotId> = f
        .board
        .duty_slots(Some(ZHANG), f.now)
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(left, [b]);
    // Its time is free again.
    f.ok(&staff(), schedule(ZHANG, "改期", start, 30));
    // Once started, a slot cannot be cancelled.
    f.now = start.plus(60 * MIN);
    assert_eq!(f.refused(&staff(), cancel(b)), ErrorCode::InvalidState);
    assert_eq!(f.replayed(), f.board);
}
