//! Polls: methods, electorates, secrecy, tallies, results and retries.

use yishi_protocol::{
    Base, Choice, Command, Electorate, ErrorCode, Event, EventBody, Majority, MajorityRule, Millis,
    Outcome, Participant, PollId, PollMethod, PollResult, PollSpec, PollState, Quorum, RequestId,
    ResultsVisibility, Role, SettingsPatch, Tally, View, YesNo,
};

use super::{Fixture, poll_spec};
use crate::room::SealedBallot;
use crate::room::{Actor, Applied, Room};

fn yes_no() -> PollSpec {
    poll_spec(PollMethod::YesNoAbstain)
}

fn single(n: usize) -> PollSpec {
    poll_spec(PollMethod::Single {
        options: (1..=n).map(|i| format!("方案{i}")).collect(),
    })
}

fn with(mut s: PollSpec, rule: MajorityRule, of: Base) -> PollSpec {
    s.majority = Majority { rule, of };
    s
}

fn yn(vote: YesNo) -> Choice {
    Choice::YesNoAbstain { vote }
}

fn pick(option: u8) -> Choice {
    Choice::Single { option }
}

fn create(f: &mut Fixture, spec: PollSpec) -> PollId {
    let host = f.host.clone();
    let applied = f.ok(&host, Command::CreatePoll { spec });
    match &applied.events[..] {
        [
            Event {
                body: EventBody::PollCreated { poll, .. },
                ..
            },
        ] => *poll,
        other => panic!("unexpected {other:?}"),
    }
}

fn open(f: &mut Fixture, spec: PollSpec) -> PollId {
    let poll = create(f, spec);
    let host = f.host.clone();
    f.ok(&host, Command::OpenPoll { poll });
    poll
}

fn vote(f: &mut Fixture, who: &Actor, poll: PollId, choice: Choice) -> Applied {
    f.ok(who, Command::CastBallot { poll, choice })
}

fn vote_refused(f: &mut Fixture, who: &Actor, poll: PollId, choice: Choice) -> ErrorCode {
    f.refused(who, Command::CastBallot { poll, choice }).code
}

fn closed_result(applied: &Applied) -> PollResult {
    applied
        .events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::PollClosed {
                result: Some(r), ..
            } => Some(r.clone()),
            _ => None,
        })
        .expect("a PollClosed with a result")
}

fn close(f: &mut Fixture, poll: PollId) -> PollResult {
    let host = f.host.clone();
    closed_result(&f.ok(&host, Command::ClosePoll { poll }))
}

/// Vote yes/no/abstain with m1, m2, m3 in turn (None: does not vote), then close.
fn members_vote(f: &mut Fixture, spec: PollSpec, votes: [Option<YesNo>; 3]) -> PollResult {
    let poll = open(f, spec);
    let members = [f.m1.clone(), f.m2.clone(), f.m3.clone()];
    for (m, v) in members.iter().zip(votes) {
        if let Some(v) = v {
            vote(f, m, poll, yn(v));
        }
    }
    close(f, poll)
}

fn set_roll(f: &mut Fixture, roll: u32) {
    let host = f.host.clone();
    f.ok(
        &host,
        Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                roll_size: Some(roll),
                ..SettingsPatch::default()
            },
        },
    );
}

use YesNo::{Abstain, No, Yes};

// ----- secrecy -----

#[test]
fn a_binding_secret_poll_with_quorum_passes_by_rule_and_the_record_holds_no_ballot_next_to_its_voter()
 {
    let mut f = Fixture::new();
    let mut s = with(yes_no(), MajorityRule::TwoThirds, Base::Present);
    s.secret = true;
    s.quorum = Some(Quorum {
        percent: 50,
        of: Base::Present,
    });
    let poll = open(&mut f, s);
    let mut events = Vec::new();
    let mut sealed = Vec::new();
    for (m, v) in [(f.m1.clone(), Yes), (f.m2.clone(), Yes), (f.m3.clone(), No)] {
        let applied = vote(&mut f, &m, poll, yn(v));
        assert_eq!(applied.sealed.len(), 1);
        events.extend(applied.events);
        sealed.extend(applied.sealed);
    }
    // The record says who voted, never how.
    for e in &events {
        match &e.body {
            EventBody::BallotCast { choice, .. } => assert_eq!(*choice, None),
            other => panic!("unexpected {other:?}"),
        }
        let json = serde_json::to_string(e).unwrap();
        assert!(!json.contains("choice") && !json.contains("yes"), "{json}");
    }
    // The sealed ballots carry no voter.
    assert_eq!(
        sealed[2],
        SealedBallot {
            poll,
            electorate: Electorate::Binding,
            choice: yn(No),
        }
    );
    let json = serde_json::to_string(&sealed).unwrap();
    assert!(!json.contains("m1") && !json.contains("m3"), "{json}");
    // Nor does the state keep a choice per voter, and nobody sees one.
    let p = &f.room.polls.polls[&poll];
    assert_eq!(p.voters.len(), 3);
    assert!(p.voters.values().all(|v| v.choice.is_none()));
    let host_view = &f.room.polls_snapshot(View::Host, f.host.id())[0];
    assert!(host_view.named_ballots.is_empty());
    assert_eq!(host_view.turnout_binding, 3);
    // Not even hosts see the running counts of a secret poll while it is open.
    assert_eq!(host_view.results, None);
    assert_eq!(f.room.tally_update(poll, View::Host).unwrap().results, None);
    let mine = &f.room.polls_snapshot(View::Member, f.m1.id())[0];
    assert!(mine.voted);
    assert_eq!(mine.my_choice, None);

    let result = close(&mut f, poll);
    assert_eq!(
        result.outcome,
        Outcome::Passed,
        "2 of 3 present is two thirds"
    );
    assert_eq!(
        result.binding,
        Some(Tally {
            ballots: 3,
            counts: vec![2, 1, 0]
        })
    );
    assert_eq!(result.advisory, None);
    assert_eq!((result.present, result.entitled), (3, 3));
}

#[test]
fn a_secret_poll_may_not_allow_changes_or_live_results() {
    let mut f = Fixture::new();
    let host = f.host.clone();
    let mut s = yes_no();
    s.secret = true;
    s.allow_change = true;
    let e = f.refused(&host, Command::CreatePoll { spec: s.clone() });
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    s.allow_change = false;
    s.visibility = ResultsVisibility::Live;
    let e = f.refused(&host, Command::CreatePoll { spec: s });
    assert_eq!(e.code, ErrorCode::InvalidArgument);
}

#[test]
fn a_closed_secret_poll_ignores_sealed_ballots_and_a_named_poll_never_takes_them() {
    let mut f = Fixture::new();
    let mut s = yes_no();
    s.secret = true;
    let secret = open(&mut f, s);
    let named = open(&mut f, yes_no());
    let m1 = f.m1.clone();
    vote(&mut f, &m1, secret, yn(Yes));
    close(&mut f, secret);
    let before = f.room.clone();
    for poll in [secret, named] {
        f.room.unseal(&SealedBallot {
            poll,
            electorate: Electorate::Binding,
            choice: yn(No),
        });
    }
    assert_eq!(f.room, before);
}

// ----- electorates and eligibility -----

#[test]
fn binding_and_advisory_ballots_on_one_question_are_tallied_apart() {
    let mut f = Fixture::new();
    let mut s = single(3);
    s.advisory = true;
    let poll = open(&mut f, s);
    let (m1, m2, a1) = (f.m1.clone(), f.m2.clone(), f.audience.clone());
    let cast = vote(&mut f, &m1, poll, pick(0));
    assert!(matches!(
        cast.events[0].body,
        EventBody::BallotCast {
            electorate: Electorate::Binding,
            ..
        }
    ));
    vote(&mut f, &m2, poll, pick(0));
    let cast = vote(&mut f, &a1, poll, pick(2));
    assert!(matches!(
        cast.events[0].body,
        EventBody::BallotCast {
            electorate: Electorate::Advisory,
            ..
        }
    ));
    let t = f.room.tally_update(poll, View::Host).unwrap();
    assert_eq!((t.turnout_binding, t.turnout_advisory), (2, 1));
    let result = close(&mut f, poll);
    assert_eq!(result.binding.unwrap().counts, vec![2, 0, 0]);
    assert_eq!(
        result.advisory,
        Some(Tally {
            ballots: 1,
            counts: vec![0, 0, 1]
        })
    );
    assert_eq!(result.outcome, Outcome::Passed);
    assert_eq!(
        result.winner,
        Some(0),
        "the winner is the binding electorate's"
    );
}

#[test]
fn those_without_a_vote_in_the_poll_are_not_eligible() {
    let mut f = Fixture::new();
    let binding_only = open(&mut f, yes_no());
    let (host, a1, observer) = (f.host.clone(), f.audience.clone(), f.observer.clone());
    for who in [&host, &observer] {
        assert_eq!(
            vote_refused(&mut f, who, binding_only, yn(Yes)),
            ErrorCode::Forbidden,
            "no vote grant at all"
        );
    }
    assert_eq!(
        vote_refused(&mut f, &a1, binding_only, yn(Yes)),
        ErrorCode::NotEligible,
        "an advisory voter in a binding-only poll"
    );
    let mut s = yes_no();
    s.binding = false;
    s.advisory = true;
    let advisory_only = open(&mut f, s);
    let m1 = f.m1.clone();
    assert_eq!(
        vote_refused(&mut f, &m1, advisory_only, yn(Yes)),
        ErrorCode::NotEligible,
        "the electorates are never mixed: a member does not answer an advisory poll"
    );
    vote(&mut f, &a1, advisory_only, yn(Yes));
}

#[test]
fn eligibility_is_fixed_when_the_poll_opens_a_member_who_joins_later_cannot_vote() {
    let mut f = Fixture::new();
    let m3 = f.m3.clone();
    f.room.leave(m3.id(), f.now);
    let mut s = yes_no();
    s.advisory = true;
    let poll = open(&mut f, s);
    let opened = f.room.polls.polls[&poll].eligible.clone();
    assert_eq!(opened, vec![f.m1.id().clone(), f.m2.id().clone()]);

    let late = Participant::new("m4", "赵六", Role::Member);
    f.room.join(&late, f.now);
    f.room.join(&m3.participant, f.now);
    let m4 = Actor::new(late);
    assert_eq!(
        vote_refused(&mut f, &m4, poll, yn(Yes)),
        ErrorCode::NotEligible
    );
    assert_eq!(
        vote_refused(&mut f, &m3, poll, yn(Yes)),
        ErrorCode::NotEligible
    );
    // The audience is not fixed: someone arriving late on the livestream may answer.
    let late_viewer = Actor::new(Participant::new("a2", "网民乙", Role::Audience));
    vote(&mut f, &late_viewer, poll, yn(No));
    let result = close(&mut f, poll);
    assert_eq!(result.present, 2);
    assert_eq!(result.advisory.unwrap().ballots, 1);
}

#[test]
fn the_audience_sees_the_opening_without_the_list_of_eligible_members() {
    let mut f = Fixture::new();
    let poll = create(&mut f, yes_no());
    let host = f.host.clone();
    let opened = f.ok(&host, Command::OpenPoll { poll }).events.remove(0);
    let EventBody::PollOpened { eligible, .. } = &opened.body else {
        panic!("{opened:?}");
    };
    assert_eq!(eligible.len(), 3);
    assert_eq!(
        f.room.event_for(&opened, View::Member).unwrap().as_ref(),
        &opened
    );
    let seen = f.room.event_for(&opened, View::Audience).unwrap();
    let EventBody::PollOpened { eligible, .. } = &seen.body else {
        panic!("{seen:?}");
    };
    assert!(eligible.is_empty());
}

// ----- one ballot per voter -----

#[test]
fn a_retried_ballot_with_the_same_request_id_is_counted_once_and_acknowledged_with_the_first_sequence_number()
 {
    for secret in [false, true] {
        let mut f = Fixture::new();
        let mut s = yes_no();
        s.secret = secret;
        let poll = open(&mut f, s);
        let m1 = f.m1.clone();
        let req = RequestId("ballot-1".into());
        let cmd = Command::CastBallot {
            poll,
            choice: yn(Yes),
        };
        let first = f.room.apply(&m1, &req, &cmd, f.now).unwrap();
        let seq = first.ack_seq().unwrap();
        let again = f.room.apply(&m1, &req, &cmd, f.now).unwrap();
        assert!(again.events.is_empty() && again.sealed.is_empty());
        assert_eq!(again.duplicate_of, Some(seq));
        assert_eq!(again.ack_seq(), Some(seq));
        // A new request is a second ballot.
        let e = vote_refused(&mut f, &m1, poll, yn(No));
        assert_eq!(e, ErrorCode::AlreadyVoted);
        let result = close(&mut f, poll);
        assert_eq!(result.binding.unwrap().counts, vec![1, 0, 0]);
        // A retry arriving after the close is still acknowledged, not refused.
        let late = f.room.apply(&m1, &req, &cmd, f.now).unwrap();
        assert_eq!(late.duplicate_of, Some(seq));
    }
}

#[test]
fn a_ballot_can_be_changed_until_close_only_where_the_poll_allows_it() {
    let mut f = Fixture::new();
    let (m1, m2) = (f.m1.clone(), f.m2.clone());
    let fixed = open(&mut f, yes_no());
    vote(&mut f, &m1, fixed, yn(Yes));
    assert_eq!(
        vote_refused(&mut f, &m1, fixed, yn(No)),
        ErrorCode::AlreadyVoted
    );

    let mut s = yes_no();
    s.allow_change = true;
    let changeable = open(&mut f, s);
    vote(&mut f, &m1, changeable, yn(Yes));
    vote(&mut f, &m2, changeable, yn(Yes));
    let changed = vote(&mut f, &m1, changeable, yn(No));
    assert_eq!(changed.events.len(), 1);
    let t = f.room.tally_update(changeable, View::Host).unwrap();
    assert_eq!(t.turnout_binding, 2);
    assert_eq!(t.results.unwrap().binding.unwrap().counts, vec![1, 1, 0]);
    let mine = &f.room.polls_snapshot(View::Member, m1.id())[1];
    assert_eq!(mine.my_choice, Some(yn(No)));
    let result = close(&mut f, changeable);
    assert_eq!(result.outcome, Outcome::Failed, "1 yes, 1 no");
    assert_eq!(
        vote_refused(&mut f, &m1, changeable, yn(Yes)),
        ErrorCode::InvalidState,
        "no changes after the close"
    );
}

// ----- ballots -----

#[test]
fn invalid_ballots_are_refused() {
    let mut f = Fixture::new();
    let m1 = f.m1.clone();
    let one = open(&mut f, single(3));
    let many = open(
        &mut f,
        poll_spec(PollMethod::Multiple {
            options: vec!["甲".into(), "乙".into(), "丙".into(), "丁".into()],
            min: 2,
            max: 3,
        }),
    );
    let stars = open(&mut f, poll_spec(PollMethod::Rating));
    let yna = open(&mut f, yes_no());
    let bad = [
        (one, pick(3)),
        (one, yn(Yes)),
        (many, Choice::Multiple { options: vec![0] }),
        (
            many,
            Choice::Multiple {
                options: vec![0, 1, 2, 3],
            },
        ),
        (
            many,
            Choice::Multiple {
                options: vec![1, 1],
            },
        ),
        (
            many,
            Choice::Multiple {
                options: vec![0, 4],
            },
        ),
        (stars, Choice::Rating { stars: 0 }),
        (stars, Choice::Rating { stars: 6 }),
        (yna, Choice::Rating { stars: 3 }),
    ];
    for (poll, choice) in bad {
        assert_eq!(
            vote_refused(&mut f, &m1, poll, choice.clone()),
            ErrorCode::InvalidBallot,
            "{choice:?}"
        );
    }
    // Nothing was recorded for the refused ballots.
    assert!(
        f.room
            .polls_snapshot(View::Member, m1.id())
            .iter()
            .all(|p| !p.voted)
    );
    vote(
        &mut f,
        &m1,
        many,
        Choice::Multiple {
            options: vec![3, 0],
        },
    );
    vote(&mut f, &m1, stars, Choice::Rating { stars: 5 });
    let result = close(&mut f, many);
    assert_eq!(result.binding.unwrap().counts, vec![1, 0, 0, 1]);
    assert_eq!(result.outcome, Outcome::NotDeclared);
    let result = close(&mut f, stars);
    assert_eq!(result.binding.unwrap().counts, vec![0, 0, 0, 0, 1]);
    assert_eq!(result.outcome, Outcome::NotDeclared);
}

#[test]
fn a_poll_spec_is_checked_when_created_and_updated() {
    let mut f = Fixture::new();
    let (host, m1) = (f.host.clone(), f.m1.clone());
    let code =
        |f: &mut Fixture, spec: PollSpec| f.refused(&host, Command::CreatePoll { spec }).code;
    assert_eq!(code(&mut f, single(1)), ErrorCode::InvalidArgument);
    assert_eq!(code(&mut f, single(21)), ErrorCode::InvalidArgument);
    let mut s = single(2);
    s.method = PollMethod::Single {
        options: vec!["甲".into(), "  ".into()],
    };
    assert_eq!(code(&mut f, s), ErrorCode::TextEmpty);
    let mut s = yes_no();
    s.question = " ".into();
    assert_eq!(code(&mut f, s), ErrorCode::TextEmpty);
    for (min, max) in [(0, 2), (3, 2), (1, 4)] {
        let s = poll_spec(PollMethod::Multiple {
            options: vec!["甲".into(), "乙".into(), "丙".into()],
            min,
            max,
        });
        assert_eq!(code(&mut f, s), ErrorCode::InvalidArgument, "{min}..{max}");
    }
    let mut s = yes_no();
    s.binding = false;
    assert_eq!(code(&mut f, s), ErrorCode::InvalidArgument);
    for (percent, of) in [(0, Base::Present), (101, Base::Entitled), (50, Base::Cast)] {
        let mut s = yes_no();
        s.quorum = Some(Quorum { percent, of });
        assert_eq!(code(&mut f, s), ErrorCode::InvalidArgument);
    }
    for d in [9, 86_401] {
        let mut s = yes_no();
        s.deadline_s = Some(d);
        assert_eq!(code(&mut f, s), ErrorCode::InvalidArgument);
    }
    let e = f.refused(&m1, Command::CreatePoll { spec: yes_no() });
    assert_eq!(e.code, ErrorCode::Forbidden);

    // Texts are cleaned, ids count from 1, a draft can be changed and nothing else.
    let poll = create(&mut f, single(2));
    assert_eq!(poll, PollId(1));
    let stored = &f.room.polls.polls[&poll].spec;
    assert_eq!(stored.question, "是否同意养老服务提案？");
    f.ok(
        &host,
        Command::UpdatePoll {
            poll,
            spec: single(3),
        },
    );
    assert_eq!(f.room.polls.polls[&poll].spec.method.counters(), 3);
    let e = f.refused(
        &host,
        Command::UpdatePoll {
            poll,
            spec: single(1),
        },
    );
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    f.ok(&host, Command::OpenPoll { poll });
    let e = f.refused(
        &host,
        Command::UpdatePoll {
            poll,
            spec: single(2),
        },
    );
    assert_eq!(e.code, ErrorCode::InvalidState);
    let e = f.refused(&host, Command::OpenPoll { poll: PollId(9) });
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(create(&mut f, yes_no()), PollId(2));
}

// ----- lifecycle -----

#[test]
fn a_poll_opens_only_in_session_and_is_published_only_once_closed() {
    let mut f = Fixture::new();
    let host = f.host.clone();
    let poll = create(&mut f, yes_no());
    f.ok(&host, Command::PauseSession);
    let e = f.refused(&host, Command::OpenPoll { poll });
    assert_eq!(e.code, ErrorCode::InvalidState);
    f.ok(&host, Command::ResumeSession);
    let e = f.refused(&host, Command::PublishPoll { poll });
    assert_eq!(e.code, ErrorCode::InvalidState);
    let e = f.refused(&host, Command::ClosePoll { poll });
    assert_eq!(e.code, ErrorCode::InvalidState);
    f.ok(&host, Command::OpenPoll { poll });
    let e = f.refused(&host, Command::OpenPoll { poll });
    assert_eq!(e.code, ErrorCode::InvalidState);
    let e = f.refused(&host, Command::PublishPoll { poll });
    assert_eq!(e.code, ErrorCode::InvalidState);
    close(&mut f, poll);
    f.ok(&host, Command::PublishPoll { poll });
    assert_eq!(f.room.polls.polls[&poll].state, PollState::Published);
    let e = f.refused(&host, Command::PublishPoll { poll });
    assert_eq!(e.code, ErrorCode::InvalidState);
}

#[test]
fn reset_discards_the_ballots() {
    let mut f = Fixture::new();
    let (host, m1) = (f.host.clone(), f.m1.clone());
    let poll = open(&mut f, yes_no());
    vote(&mut f, &m1, poll, yn(Yes));
    let e = f.refused(
        &host,
        Command::ResetPoll {
            poll,
            reason: "   ".into(),
        },
    );
    assert_eq!(e.code, ErrorCode::ReasonRequired);
    let reset = f.ok(
        &host,
        Command::ResetPoll {
            poll,
            reason: " 选项有误 ".into(),
        },
    );
    let event = &reset.events[0];
    assert_eq!(
        event.body,
        EventBody::PollReset {
            poll,
            reason: "选项有误".into()
        }
    );
    assert!(f.room.event_for(event, View::Audience).is_some());
    assert_eq!(f.room.polls.polls[&poll].state, PollState::Draft);
    assert!(f.room.polls_snapshot(View::Member, m1.id()).is_empty());
    let draft = &f.room.polls_snapshot(View::Host, host.id())[0];
    assert_eq!((draft.turnout_binding, draft.voted), (0, false));
    let e = f.refused(
        &host,
        Command::ResetPoll {
            poll,
            reason: "再次".into(),
        },
    );
    assert_eq!(e.code, ErrorCode::InvalidState);
    // Reopened, the earlier voter votes afresh.
    f.ok(&host, Command::OpenPoll { poll });
    vote(&mut f, &m1, poll, yn(No));
    let result = close(&mut f, poll);
    assert_eq!(result.binding.unwrap().counts, vec![0, 1, 0]);
    // A closed or published poll can be reset too.
    f.ok(&host, Command::PublishPoll { poll });
    f.ok(
        &host,
        Command::ResetPoll {
            poll,
            reason: "重新表决".into(),
        },
    );
    assert_eq!(f.room.polls.polls[&poll].result, None);
}

#[test]
fn a_deadline_closes_the_poll_by_itself() {
    let mut f = Fixture::new();
    let m1 = f.m1.clone();
    let mut s = yes_no();
    s.deadline_s = Some(60);
    let opened_at = f.now;
    let poll = open(&mut f, s);
    assert_eq!(f.room.next_deadline(), Some(opened_at.plus(60_000)));
    vote(&mut f, &m1, poll, yn(Yes));
    assert!(f.advance(59_999).events.is_empty());
    let due = f.advance(1);
    assert_eq!(due.events.len(), 1);
    let event = &due.events[0];
    assert_eq!(event.actor, None);
    assert_eq!(event.at, opened_at.plus(60_000));
    assert!(matches!(
        event.body,
        EventBody::PollClosed {
            by_deadline: true,
            ..
        }
    ));
    assert_eq!(closed_result(&due).outcome, Outcome::Passed);
    assert_eq!(f.room.next_deadline(), None);
    assert_eq!(
        vote_refused(&mut f, &m1, poll, yn(No)),
        ErrorCode::InvalidState
    );
}

#[test]
fn several_deadlines_due_at_once_close_in_deadline_order() {
    let mut f = Fixture::new();
    let mut late = yes_no();
    late.deadline_s = Some(120);
    let mut early = yes_no();
    early.deadline_s = Some(60);
    let a = open(&mut f, late);
    let b = open(&mut f, early);
    let due = f.advance(600_000);
    let closed: Vec<(PollId, Millis)> = due
        .events
        .iter()
        .map(|e| match e.body {
            EventBody::PollClosed { poll, .. } => (poll, e.at),
            _ => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(closed.iter().map(|c| c.0).collect::<Vec<_>>(), vec![b, a]);
    assert!(closed[0].1 < closed[1].1);
}

#[test]
fn closing_the_session_closes_every_open_poll() {
    let mut f = Fixture::new();
    let host = f.host.clone();
    let a = open(&mut f, yes_no());
    let draft = create(&mut f, yes_no());
    let closed = f.ok(&host, Command::CloseSession);
    let kinds: Vec<_> = closed
        .events
        .iter()
        .map(|e| match &e.body {
            EventBody::PollClosed {
                poll, by_deadline, ..
            } => format!("closed {} {by_deadline}", poll.0),
            EventBody::SessionChanged { state } => format!("{state:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![format!("closed {} false", a.0), "Closed".into()]
    );
    assert_eq!(f.room.polls.polls[&draft].state, PollState::Draft);
}

// ----- majorities and quorum -----

#[test]
fn a_simple_majority_needs_more_yes_than_no() {
    let mut f = Fixture::new();
    let r = members_vote(&mut f, yes_no(), [Some(Yes), Some(Abstain), Some(Abstain)]);
    assert_eq!(r.outcome, Outcome::Passed);
    let r = members_vote(&mut f, yes_no(), [Some(Yes), Some(No), Some(Abstain)]);
    assert_eq!(r.outcome, Outcome::Failed, "a tie fails");
}

#[test]
fn an_absolute_majority_of_the_ballots_cast_counts_abstentions() {
    let mut f = Fixture::new();
    let s = with(yes_no(), MajorityRule::Absolute, Base::Cast);
    let r = members_vote(&mut f, s.clone(), [Some(Yes), Some(Abstain), Some(Abstain)]);
    assert_eq!(r.outcome, Outcome::Failed, "1 of 3 cast");
    let r = members_vote(&mut f, s, [Some(Yes), Some(Yes), Some(Abstain)]);
    assert_eq!(r.outcome, Outcome::Passed, "2 of 3 cast");
}

#[test]
fn an_absolute_majority_of_those_present_counts_who_did_not_vote() {
    let mut f = Fixture::new();
    let s = with(yes_no(), MajorityRule::Absolute, Base::Present);
    let r = members_vote(&mut f, s.clone(), [Some(Yes), None, None]);
    assert_eq!(r.outcome, Outcome::Failed, "1 yes of 3 present");
    let r = members_vote(&mut f, s, [Some(Yes), Some(Yes), None]);
    assert_eq!(r.outcome, Outcome::Passed, "2 yes of 3 present");
}

#[test]
fn two_thirds_of_those_entitled_counts_the_whole_roll() {
    let mut f = Fixture::new();
    let s = with(yes_no(), MajorityRule::TwoThirds, Base::Entitled);
    set_roll(&mut f, 4);
    let r = members_vote(&mut f, s.clone(), [Some(Yes), Some(Yes), Some(Yes)]);
    assert_eq!((r.outcome, r.entitled, r.present), (Outcome::Passed, 4, 3));
    set_roll(&mut f, 5);
    let r = members_vote(&mut f, s.clone(), [Some(Yes), Some(Yes), Some(Yes)]);
    assert_eq!(r.outcome, Outcome::Failed, "3 of 5 is short of two thirds");
    // Without a roll, those known to the room with the binding vote.
    set_roll(&mut f, 0);
    let r = members_vote(&mut f, s, [Some(Yes), Some(Yes), Some(No)]);
    assert_eq!((r.outcome, r.entitled), (Outcome::Passed, 3));
}

#[test]
fn no_ballots_never_pass_whatever_the_rule() {
    for rule in [
        MajorityRule::Simple,
        MajorityRule::Absolute,
        MajorityRule::TwoThirds,
    ] {
        for of in [Base::Cast, Base::Present, Base::Entitled] {
            let mut f = Fixture::new();
            let r = members_vote(&mut f, with(yes_no(), rule, of), [None, None, None]);
            assert_eq!(r.outcome, Outcome::Failed, "{rule:?} of {of:?}");
            let r = members_vote(&mut f, with(single(2), rule, of), [None, None, None]);
            assert_eq!((r.outcome, r.winner), (Outcome::Failed, None));
        }
    }
    // Nobody present: an empty base does not pass either.
    let mut f = Fixture::new();
    for m in [f.m1.clone(), f.m2.clone(), f.m3.clone()] {
        f.room.leave(m.id(), f.now);
    }
    let s = with(yes_no(), MajorityRule::TwoThirds, Base::Present);
    let poll = open(&mut f, s);
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.present), (Outcome::Failed, 0));
}

#[test]
fn without_quorum_nothing_is_declared_passed() {
    let mut f = Fixture::new();
    let mut s = yes_no();
    s.quorum = Some(Quorum {
        percent: 60,
        of: Base::Present,
    });
    let r = members_vote(&mut f, s.clone(), [Some(Yes), None, None]);
    assert_eq!(r.outcome, Outcome::NoQuorum, "1 of 3 is under 60 %");
    let r = members_vote(&mut f, s, [Some(Yes), Some(Abstain), None]);
    assert_eq!(r.outcome, Outcome::Passed, "2 of 3 meets 60 %");
    let mut s = yes_no();
    s.quorum = Some(Quorum {
        percent: 50,
        of: Base::Entitled,
    });
    set_roll(&mut f, 10);
    let r = members_vote(&mut f, s, [Some(Yes), Some(Yes), Some(Yes)]);
    assert_eq!(r.outcome, Outcome::NoQuorum, "3 of a roll of 10");
}

#[test]
fn a_single_choice_is_won_by_a_leading_option_without_a_tie() {
    let mut f = Fixture::new();
    let (m1, m2, m3) = (f.m1.clone(), f.m2.clone(), f.m3.clone());
    let poll = open(&mut f, single(3));
    vote(&mut f, &m1, poll, pick(1));
    vote(&mut f, &m2, poll, pick(2));
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.winner), (Outcome::Failed, None), "a tie");

    let poll = open(&mut f, single(3));
    vote(&mut f, &m1, poll, pick(1));
    vote(&mut f, &m2, poll, pick(1));
    vote(&mut f, &m3, poll, pick(2));
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.winner), (Outcome::Passed, Some(1)));

    let s = with(single(3), MajorityRule::Absolute, Base::Cast);
    let poll = open(&mut f, s);
    vote(&mut f, &m1, poll, pick(0));
    vote(&mut f, &m2, poll, pick(1));
    vote(&mut f, &m3, poll, pick(1));
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.winner), (Outcome::Passed, Some(1)));

    // Two thirds of the roll: the leader's 2 of a roll of 4 is short, so no winner.
    set_roll(&mut f, 4);
    let s = with(single(3), MajorityRule::TwoThirds, Base::Entitled);
    let poll = open(&mut f, s);
    vote(&mut f, &m1, poll, pick(1));
    vote(&mut f, &m2, poll, pick(1));
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.winner), (Outcome::Failed, None));
    set_roll(&mut f, 3);
    let s = with(single(3), MajorityRule::TwoThirds, Base::Entitled);
    let poll = open(&mut f, s);
    vote(&mut f, &m1, poll, pick(1));
    vote(&mut f, &m2, poll, pick(1));
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.winner), (Outcome::Passed, Some(1)), "2 of 3");
}

#[test]
fn an_advisory_only_poll_declares_nothing_but_names_the_audiences_choice() {
    let mut f = Fixture::new();
    let a1 = f.audience.clone();
    let mut s = single(2);
    s.binding = false;
    s.advisory = true;
    let poll = open(&mut f, s);
    assert!(f.room.polls.polls[&poll].eligible.is_empty());
    vote(&mut f, &a1, poll, pick(1));
    let r = close(&mut f, poll);
    assert_eq!((r.outcome, r.winner), (Outcome::NotDeclared, Some(1)));
    assert_eq!(r.binding, None);
}

// ----- views -----

#[test]
fn hosts_only_results_are_hidden_from_members_until_published() {
    let mut f = Fixture::new();
    let (host, m1, a1) = (f.host.clone(), f.m1.clone(), f.audience.clone());
    let mut s = yes_no();
    s.visibility = ResultsVisibility::HostsUntilPublished;
    let poll = open(&mut f, s);
    let cast = vote(&mut f, &m1, poll, yn(Yes));
    let ballot = &cast.events[0];
    assert!(f.room.event_for(ballot, View::Member).is_none());
    assert!(f.room.event_for(ballot, View::Host).is_some());
    assert_eq!(f.room.private_recipient(ballot), Some(m1.id()));
    assert!(
        f.room
            .event_for_viewer(ballot, View::Member, m1.id())
            .is_some()
    );
    assert_eq!(
        f.room.tally_update(poll, View::Member).unwrap().results,
        None
    );
    assert!(
        f.room
            .tally_update(poll, View::Host)
            .unwrap()
            .results
            .is_some()
    );

    let host_cmd = f.ok(&host, Command::ClosePoll { poll });
    let closed = &host_cmd.events[0];
    assert_eq!(
        f.room.event_for(closed, View::Host).unwrap().as_ref(),
        closed
    );
    for view in [View::Member, View::Audience] {
        let seen = f.room.event_for(closed, view).unwrap();
        assert!(matches!(
            seen.body,
            EventBody::PollClosed { result: None, .. }
        ));
    }
    assert_eq!(
        f.room.polls_snapshot(View::Member, m1.id())[0].results,
        None
    );
    assert_eq!(
        f.room.polls_snapshot(View::Audience, a1.id())[0].results,
        None
    );
    let host_view = &f.room.polls_snapshot(View::Host, host.id())[0];
    assert_eq!(host_view.results.as_ref().unwrap().outcome, Outcome::Passed);
    assert_eq!(host_view.named_ballots.len(), 1);
    assert_eq!(f.room.tally_update(poll, View::Host), None, "not open");

    let published = f.ok(&host, Command::PublishPoll { poll });
    assert!(
        f.room
            .event_for(&published.events[0], View::Audience)
            .is_some()
    );
    let member_view = &f.room.polls_snapshot(View::Member, m1.id())[0];
    assert_eq!(
        member_view.results.as_ref().unwrap().outcome,
        Outcome::Passed
    );
    assert!(member_view.named_ballots.is_empty());
    assert_eq!(member_view.my_choice, Some(yn(Yes)));
}

#[test]
fn results_after_close_reach_everyone_at_the_close_and_live_results_while_open() {
    let mut f = Fixture::new();
    let (host, m1) = (f.host.clone(), f.m1.clone());
    let after = open(&mut f, yes_no());
    let mut s = yes_no();
    s.visibility = ResultsVisibility::Live;
    let live = open(&mut f, s);
    vote(&mut f, &m1, after, yn(Yes));
    vote(&mut f, &m1, live, yn(Yes));
    assert_eq!(
        f.room.tally_update(after, View::Member).unwrap().results,
        None
    );
    let running = f.room.tally_update(live, View::Audience).unwrap();
    let results = running.results.unwrap();
    assert_eq!(
        results.outcome,
        Outcome::NotDeclared,
        "declared only at close"
    );
    assert_eq!(results.binding.unwrap().counts, vec![1, 0, 0]);
    let closed = f.ok(&host, Command::ClosePoll { poll: after });
    let seen = f.room.event_for(&closed.events[0], View::Audience).unwrap();
    assert_eq!(seen.as_ref(), &closed.events[0]);
    let snapshot = f.room.polls_snapshot(View::Audience, f.audience.id());
    assert!(snapshot.iter().all(|p| p.results.is_some()));
}

#[test]
fn drafts_are_shown_to_hosts_only() {
    let mut f = Fixture::new();
    let host = f.host.clone();
    let created = f.ok(&host, Command::CreatePoll { spec: yes_no() });
    let event = &created.events[0];
    assert!(f.room.event_for(event, View::Host).is_some());
    assert!(f.room.event_for(event, View::Member).is_none());
    assert!(f.room.event_for(event, View::Audience).is_none());
    assert_eq!(f.room.polls_snapshot(View::Host, host.id()).len(), 1);
    assert!(f.room.polls_snapshot(View::Member, f.m1.id()).is_empty());
    let recorder = f.recorder.clone();
    assert_eq!(
        f.room.polls_snapshot(recorder.view(), recorder.id()).len(),
        1
    );
}

// ----- replay -----

#[test]
fn secret_ballots_missing_from_the_box_after_a_restart_are_voided_and_may_be_cast_again() {
    const TITLE: &str = "测试协商会";
    let mut f = Fixture::new();
    f.room = Room::new(TITLE);
    let mut events: Vec<Event> = Vec::new();
    let mut sealed: Vec<SealedBallot> = Vec::new();
    let (host, m1, m2, m3, a1) = (
        f.host.clone(),
        f.m1.clone(),
        f.m2.clone(),
        f.m3.clone(),
        f.audience.clone(),
    );
    for a in [&host, &m1, &m2, &m3, &a1] {
        events.extend(f.room.join(&a.participant, f.now).events);
    }
    events.extend(f.ok(&host, Command::StartSession).events);
    let mut s = yes_no();
    s.secret = true;
    s.advisory = true;
    events.extend(f.ok(&host, Command::CreatePoll { spec: s }).events);
    events.extend(f.ok(&host, Command::OpenPoll { poll: PollId(1) }).events);
    // m1's and a1's ballots reached the box; m2's and m3's (cast later) did not.
    for (who, vote_, boxed) in [
        (&m1, yn(Yes), true),
        (&a1, yn(No), true),
        (&m2, yn(No), false),
        (&m3, yn(Abstain), false),
    ] {
        let applied = vote(&mut f, who, PollId(1), vote_);
        events.extend(applied.events);
        if boxed {
            sealed.extend(applied.sealed);
        }
    }
    let mut restarted = Room::replay(TITLE, &events, &sealed);
    let voided = restarted.void_unsealed(f.now);
    let bodies: Vec<_> = voided.events.iter().map(|e| &e.body).collect();
    assert_eq!(
        bodies,
        [&EventBody::BallotsVoided {
            poll: PollId(1),
            electorate: Electorate::Binding,
            voters: vec![m2.id().clone(), m3.id().clone()],
        }]
    );
    let p = &restarted.polls.polls[&PollId(1)];
    assert_eq!((p.binding.ballots, p.advisory.ballots), (1, 1));
    assert_eq!(p.binding.counts, vec![1, 0, 0]);
    // Nothing more to void; the record with the voiding replays to the same room.
    assert!(restarted.void_unsealed(f.now).events.is_empty());
    events.extend(voided.events);
    assert!(Room::replay(TITLE, &events, &sealed) == restarted);
    // m2 votes again (a retry of the same request is a new ballot now); m1 may not.
    let req = RequestId("again".into());
    let again = restarted
        .apply(
            &m2,
            &req,
            &Command::CastBallot {
                poll: PollId(1),
                choice: yn(No),
            },
            f.now,
        )
        .unwrap();
    assert_eq!(again.sealed.len(), 1);
    let refused = restarted
        .apply(
            &m1,
            &req,
            &Command::CastBallot {
                poll: PollId(1),
                choice: yn(No),
            },
            f.now,
        )
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::AlreadyVoted);
}

#[test]
fn replaying_the_events_plus_the_sealed_ballots_rebuilds_the_same_room() {
    const TITLE: &str = "测试协商会";
    let mut f = Fixture::new();
    f.room = Room::new(TITLE);
    let mut events: Vec<Event> = Vec::new();
    let mut sealed: Vec<SealedBallot> = Vec::new();
    // Record what the hub would store; like the store, empty a poll's sealed ballot
    // box when the poll is reset.
    let mut keep = |applied: Applied| {
        for e in &applied.events {
            if let EventBody::PollReset { poll, .. } = &e.body {
                sealed.retain(|b| b.poll != *poll);
            }
        }
        events.extend(applied.events);
        sealed.extend(applied.sealed);
    };
    for a in [
        &f.host,
        &f.m1,
        &f.m2,
        &f.m3,
        &f.respondent,
        &f.venue,
        &f.observer,
        &f.recorder,
        &f.audience,
    ] {
        keep(f.room.join(&a.participant, f.now));
    }
    let (host, m1, m2, m3, a1) = (
        f.host.clone(),
        f.m1.clone(),
        f.m2.clone(),
        f.m3.clone(),
        f.audience.clone(),
    );
    keep(f.ok(&host, Command::StartSession));

    // A named poll with changes, closed and published.
    let mut s = single(3);
    s.allow_change = true;
    s.advisory = true;
    keep(f.ok(&host, Command::CreatePoll { spec: s }));
    let named = PollId(1);
    keep(f.ok(&host, Command::OpenPoll { poll: named }));
    keep(vote(&mut f, &m1, named, pick(0)));
    keep(vote(&mut f, &m1, named, pick(2)));
    keep(vote(&mut f, &a1, named, pick(1)));
    keep(f.ok(&host, Command::ClosePoll { poll: named }));
    keep(f.ok(&host, Command::PublishPoll { poll: named }));

    // A secret poll closed by its deadline.
    let mut s = yes_no();
    s.secret = true;
    s.advisory = true;
    s.deadline_s = Some(30);
    keep(f.ok(&host, Command::CreatePoll { spec: s.clone() }));
    keep(f.ok(&host, Command::OpenPoll { poll: PollId(2) }));
    keep(vote(&mut f, &m2, PollId(2), yn(Yes)));
    keep(vote(&mut f, &a1, PollId(2), yn(No)));
    keep(f.advance(30_000));

    // A secret poll reset, then still open with ballots in the sealed box.
    s.deadline_s = None;
    keep(f.ok(&host, Command::CreatePoll { spec: s }));
    let open_secret = PollId(3);
    keep(f.ok(&host, Command::OpenPoll { poll: open_secret }));
    keep(vote(&mut f, &m2, open_secret, yn(Yes)));
    let reset = f.ok(
        &host,
        Command::ResetPoll {
            poll: open_secret,
            reason: "重新表决".into(),
        },
    );
    keep(reset);
    keep(f.ok(&host, Command::OpenPoll { poll: open_secret }));
    keep(vote(&mut f, &m1, open_secret, yn(Abstain)));
    keep(vote(&mut f, &m3, open_secret, yn(No)));
    keep(vote(&mut f, &a1, open_secret, yn(Yes)));
    keep(f.room.leave(m2.id(), f.now));

    assert_eq!(f.room.polls.polls[&PollId(2)].state, PollState::Closed);
    let running = &f.room.polls.polls[&open_secret];
    assert_eq!(running.binding.counts, vec![0, 1, 1]);
    assert_eq!(running.advisory.counts, vec![1, 0, 0]);

    let replayed = Room::replay(TITLE, &events, &sealed);
    assert!(replayed == f.room, "{replayed:#?}\n!=\n{:#?}", f.room);
    // Without the sealed ballots only the open secret poll's counts are missing.
    let without = Room::replay(TITLE, &events, &[]);
    assert_eq!(
        without.polls.polls[&open_secret].binding.counts,
        vec![0, 0, 0]
    );
    assert_eq!(
        without.polls.polls[&PollId(2)],
        f.room.polls.polls[&PollId(2)]
    );
}
