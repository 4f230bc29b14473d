//! Polls (表决 / 投票 / 问卷): methods, electorates, ballots, tallies and results.
//!
//! A poll goes `draft → open → closed → published`; a reset takes it back to draft and
//! discards its ballots. Eligibility of the binding electorate is fixed when it opens;
//! the advisory electorate is open to anyone with the advisory grant (see
//! [`Room::cast_ballot`]). The two electorates are tallied apart and never mixed.
//!
//! Secrecy: for a secret (不记名) poll the room keeps who voted (turnout, and what it needs
//! to acknowledge a retry) and, separately, per-poll counters fed by [`Room::unseal`].
//! No event, no field of the state and no local variable that outlives a command ever
//! holds a voter next to a choice.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};
use yishi_protocol::{
    Base, Choice, Electorate, ErrorCode, Event, EventBody, Grant, MajorityRule, Millis,
    NamedBallot, Outcome, ParticipantId, PollId, PollMethod, PollResult, PollSpec, PollState,
    PollView, RequestId, ResultsVisibility, Seq, SessionState, Tally, TallyUpdate, View, YesNo,
};

use super::view::Shown;
use super::{Actor, Cx, Rejection, Room, reject};

/// A secret ballot on its way to the sealed ballot box: no voter, no time, no sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBallot {
    pub poll: PollId,
    pub electorate: Electorate,
    pub choice: Choice,
}

/// Options a single or multiple choice poll may have.
const OPTIONS: std::ops::RangeInclusive<usize> = 2..=20;
/// A poll's own deadline, in seconds: at least 10 s, at most a day.
const DEADLINE_S: std::ops::RangeInclusive<u32> = 10..=86_400;

/// What the room remembers of one voter's ballot. For a secret poll `choice` is always
/// `None`: only that they voted, in which electorate, and the request id and sequence
/// number needed to acknowledge a retry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Voter {
    electorate: Electorate,
    req: RequestId,
    /// Sequence number of the `BallotCast` event of their current ballot.
    seq: Seq,
    /// Named polls only.
    pub(super) choice: Option<Choice>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Poll {
    pub(super) spec: PollSpec,
    pub(super) state: PollState,
    opened_at: Option<Millis>,
    deadline: Option<Millis>,
    /// The binding electorate, fixed at open, in id order.
    pub(super) eligible: Vec<ParticipantId>,
    /// The roll of members entitled to vote, fixed at open.
    entitled: u32,
    /// Looked up on every ballot of a vote storm: a hash map, not a tree of string
    /// compares. Iterated only for the hosts' named list, which is sorted then.
    pub(super) voters: FxHashMap<ParticipantId, Voter>,
    /// `ballots` is the turnout (from the record); `counts` come from named ballots or,
    /// for a secret poll, from the sealed ballot box. Set from the result at close.
    pub(super) binding: Tally,
    pub(super) advisory: Tally,
    /// Secret polls: ballots taken from the sealed ballot box, per electorate (binding,
    /// advisory). Fewer than the turnout after a restart means some never reached it.
    sealed: [u32; 2],
    /// Declared at close.
    pub(super) result: Option<PollResult>,
}

impl Poll {
    fn new(spec: PollSpec) -> Poll {
        Poll {
            spec,
            state: PollState::Draft,
            opened_at: None,
            deadline: None,
            eligible: Vec::new(),
            entitled: 0,
            voters: FxHashMap::default(),
            binding: Tally::default(),
            advisory: Tally::default(),
            sealed: [0, 0],
            result: None,
        }
    }

    fn has(&self, electorate: Electorate) -> bool {
        match electorate {
            Electorate::Binding => self.spec.binding,
            Electorate::Advisory => self.spec.advisory,
        }
    }

    fn tally_mut(&mut self, electorate: Electorate) -> &mut Tally {
        match electorate {
            Electorate::Binding => &mut self.binding,
            Electorate::Advisory => &mut self.advisory,
        }
    }

    fn present(&self) -> u32 {
        u32::try_from(self.eligible.len()).unwrap_or(u32::MAX)
    }

    /// The counts so far, with nothing declared: a result is declared only at close.
    fn running_result(&self) -> PollResult {
        PollResult {
            binding: self.spec.binding.then(|| self.binding.clone()),
            advisory: self.spec.advisory.then(|| self.advisory.clone()),
            outcome: Outcome::NotDeclared,
            winner: None,
            present: self.present(),
            entitled: self.entitled,
        }
    }

    /// The result as declared at close, from the counts now.
    fn declare(&self) -> PollResult {
        let present = self.present();
        let (outcome, winner) = if self.spec.binding {
            binding_outcome(&self.spec, &self.binding, present, self.entitled)
        } else {
            // An advisory-only poll binds nothing, so nothing is declared; for a single
            // choice the plurality option (without a tie) is still named as the winner,
            // as the audience's preference.
            let winner = match self.spec.method {
                PollMethod::Single { .. } => leader(&self.advisory.counts).map(|(i, _)| i),
                _ => None,
            };
            (Outcome::NotDeclared, winner)
        };
        PollResult {
            outcome,
            winner,
            ..self.running_result()
        }
    }

    /// The results `view` may see now, if any.
    ///
    /// Hosts see results at any time, except the running counts of an open secret poll:
    /// hosts also see every `BallotCast` (who voted, as it happens), and a running tally
    /// next to that would reveal ballots one by one, which is why secret polls may not
    /// have live results in the first place. They see the counts once it closes.
    fn results_for(&self, view: View) -> Option<PollResult> {
        let host = view == View::Host;
        match self.state {
            PollState::Draft => None,
            PollState::Open => {
                let may =
                    !self.spec.secret && (host || self.spec.visibility == ResultsVisibility::Live);
                may.then(|| self.running_result())
            }
            PollState::Closed => {
                let may = host || self.spec.visibility != ResultsVisibility::HostsUntilPublished;
                if may { self.result.clone() } else { None }
            }
            PollState::Published => self.result.clone(),
        }
    }

    fn view(&self, id: PollId, view: View, viewer: &ParticipantId) -> PollView {
        let mine = self.voters.get(viewer);
        let named_ballots = if view == View::Host && !self.spec.secret {
            let mut named: Vec<NamedBallot> = self
                .voters
                .iter()
                .filter_map(|(voter, v)| {
                    v.choice.as_ref().map(|choice| NamedBallot {
                        voter: voter.clone(),
                        electorate: v.electorate,
                        choice: choice.clone(),
                    })
                })
                .collect();
            named.sort_by(|a, b| a.voter.cmp(&b.voter));
            named
        } else {
            Vec::new()
        };
        PollView {
            id,
            spec: self.spec.clone(),
            state: self.state,
            opened_at: self.opened_at,
            deadline: self.deadline,
            eligible: self.present(),
            turnout_binding: self.binding.ballots,
            turnout_advisory: self.advisory.ballots,
            results: self.results_for(view),
            voted: mine.is_some(),
            my_choice: mine.and_then(|v| v.choice.clone()),
            named_ballots,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Polls {
    pub(super) polls: BTreeMap<PollId, Poll>,
    /// The results visibility in force at each `PollClosed`, by its sequence number, so
    /// an old close is shown as it was even after a reset changed the spec.
    closed_visibility: BTreeMap<Seq, ResultsVisibility>,
}

impl Room {
    pub(crate) fn create_poll(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        spec: &PollSpec,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManagePolls)?;
        let spec = validate_spec(spec)?;
        let n = u32::try_from(self.polls.polls.len())
            .map_err(|_| Rejection::new(ErrorCode::InvalidState, "too many polls"))?;
        let poll = PollId(n + 1);
        self.emit(cx, EventBody::PollCreated { poll, spec });
        Ok(())
    }

    /// Change a draft (an open or closed poll is reset first).
    pub(crate) fn update_poll(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        poll: PollId,
        spec: &PollSpec,
    ) -> Result<(), Rejection> {
        self.managed_poll(
            actor,
            poll,
            PollState::Draft,
            "only a draft can be changed; reset the poll first",
        )?;
        let spec = validate_spec(spec)?;
        self.emit(cx, EventBody::PollUpdated { poll, spec });
        Ok(())
    }

    /// Open a draft while in session; the binding electorate is fixed now: those present
    /// with the binding vote.
    pub(crate) fn open_poll(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        poll: PollId,
    ) -> Result<(), Rejection> {
        let p = self.managed_poll(actor, poll, PollState::Draft, "the poll is not a draft")?;
        if self.session.state != SessionState::InSession {
            return reject(
                ErrorCode::InvalidState,
                "a poll opens only while the session is in session",
            );
        }
        let spec = p.spec.clone();
        let deadline = spec.deadline_s.map(|s| cx.now.plus(u64::from(s) * 1_000));
        let mut eligible: Vec<ParticipantId> = if spec.binding {
            self.roster
                .present_with(Grant::VoteBinding)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        eligible.sort();
        eligible.dedup();
        let entitled = self
            .current_settings()
            .roll_size
            .unwrap_or_else(|| self.roster.known_with(Grant::VoteBinding));
        self.emit(
            cx,
            EventBody::PollOpened {
                poll,
                spec,
                deadline,
                eligible,
                entitled,
            },
        );
        Ok(())
    }

    pub(crate) fn close_poll(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        poll: PollId,
    ) -> Result<(), Rejection> {
        self.managed_poll(actor, poll, PollState::Open, "the poll is not open")?;
        self.declare_and_close(cx, poll, false);
        Ok(())
    }

    pub(crate) fn publish_poll(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        poll: PollId,
    ) -> Result<(), Rejection> {
        let p = self.managed_poll(
            actor,
            poll,
            PollState::Closed,
            "only a closed poll can be published",
        )?;
        let Some(result) = p.result.clone() else {
            return reject(ErrorCode::Internal, "a closed poll without a result");
        };
        self.emit(cx, EventBody::PollPublished { poll, result });
        Ok(())
    }

    /// Back to a draft, with a reason; its ballots are void.
    pub(crate) fn reset_poll(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        poll: PollId,
        reason: &str,
    ) -> Result<(), Rejection> {
        actor.require(Grant::ManagePolls)?;
        if self.poll(poll)?.state == PollState::Draft {
            return reject(ErrorCode::InvalidState, "the poll is already a draft");
        }
        let reason = super::text::clean(reason).map_err(|e| {
            if e.code == ErrorCode::TextEmpty {
                Rejection::new(ErrorCode::ReasonRequired, "a reset needs a reason")
            } else {
                e
            }
        })?;
        self.emit(cx, EventBody::PollReset { poll, reason });
        Ok(())
    }

    /// Poll `id` for `actor`, who manages polls, in `state` (`invalid_state`, saying
    /// `otherwise`, if not).
    fn managed_poll(
        &self,
        actor: &Actor,
        id: PollId,
        state: PollState,
        otherwise: &'static str,
    ) -> Result<&Poll, Rejection> {
        actor.require(Grant::ManagePolls)?;
        let p = self.poll(id)?;
        if p.state != state {
            return reject(ErrorCode::InvalidState, otherwise);
        }
        Ok(p)
    }

    fn poll(&self, id: PollId) -> Result<&Poll, Rejection> {
        self.polls
            .polls
            .get(&id)
            .ok_or_else(|| Rejection::new(ErrorCode::NotFound, format!("no poll {}", id.0)))
    }

    /// Cast (or change) a ballot.
    ///
    /// Electorates: a participant votes in the binding electorate if the poll is binding
    /// and they hold the binding vote, else in the advisory one if the poll is advisory
    /// and they hold the advisory vote. The binding electorate is the snapshot taken at
    /// open (present and granted). The advisory electorate is deliberately NOT fixed at
    /// open: the audience is not recorded in the roster and comes and goes with the
    /// livestream, so anyone holding the advisory grant may answer while the poll is
    /// open, including those who joined after it opened. Advisory results bind nothing.
    pub(crate) fn cast_ballot(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        req: &RequestId,
        id: PollId,
        choice: &Choice,
    ) -> Result<(), Rejection> {
        // Grants first, as for every command: without either vote grant the answer is
        // `forbidden`; with one, the poll decides (`not_eligible` for the wrong
        // electorate).
        if !actor.can(Grant::VoteBinding) && !actor.can(Grant::VoteAdvisory) {
            return reject(ErrorCode::Forbidden, "this needs a vote grant");
        }
        let poll = self.poll(id)?;
        let mine = poll.voters.get(actor.id());
        if let Some(mine) = mine
            && mine.req == *req
        {
            // A retry of the ballot already counted: acknowledge it again, once.
            cx.out.duplicate_of = Some(mine.seq);
            return Ok(());
        }
        if poll.state != PollState::Open {
            return reject(ErrorCode::InvalidState, "the poll is not open");
        }
        let electorate = if poll.spec.binding && actor.can(Grant::VoteBinding) {
            Electorate::Binding
        } else if poll.spec.advisory && actor.can(Grant::VoteAdvisory) {
            Electorate::Advisory
        } else {
            return reject(ErrorCode::NotEligible, "you may not vote in this poll");
        };
        if electorate == Electorate::Binding && poll.eligible.binary_search(actor.id()).is_err() {
            return reject(
                ErrorCode::NotEligible,
                "eligibility was fixed when the poll opened, and you were not present then",
            );
        }
        if let Some(mine) = mine {
            if !poll.spec.allow_change {
                return reject(ErrorCode::AlreadyVoted, "you have already voted");
            }
            if mine.electorate != electorate {
                return reject(
                    ErrorCode::AlreadyVoted,
                    "you have already voted in the other electorate",
                );
            }
        }
        let choice = validate_ballot(&poll.spec.method, choice)?;
        let secret = poll.spec.secret;
        self.emit(
            cx,
            EventBody::BallotCast {
                poll: id,
                electorate,
                voter: actor.id().clone(),
                req: req.clone(),
                choice: if secret { None } else { Some(choice.clone()) },
            },
        );
        if secret {
            let ballot = SealedBallot {
                poll: id,
                electorate,
                choice,
            };
            self.unseal(&ballot);
            cx.out.sealed.push(ballot);
        }
        Ok(())
    }

    /// Declare the result of an open poll and close it.
    fn declare_and_close(&mut self, cx: &mut Cx, id: PollId, by_deadline: bool) {
        let Some(p) = self.polls.polls.get(&id) else {
            return;
        };
        let result = p.declare();
        self.emit(
            cx,
            EventBody::PollClosed {
                poll: id,
                result: Some(result),
                by_deadline,
            },
        );
    }

    pub(crate) fn fold_poll(&mut self, event: &Event) {
        let polls = &mut self.polls;
        match &event.body {
            EventBody::PollCreated { poll, spec } => {
                polls.polls.insert(*poll, Poll::new(spec.clone()));
            }
            EventBody::PollUpdated { poll, spec } => {
                if let Some(p) = polls.polls.get_mut(poll) {
                    p.spec = spec.clone();
                }
            }
            EventBody::PollOpened {
                poll,
                spec,
                deadline,
                eligible,
                entitled,
            } => {
                if let Some(p) = polls.polls.get_mut(poll) {
                    let counters = spec.method.counters();
                    let fresh = Tally {
                        ballots: 0,
                        counts: vec![0; counters],
                    };
                    p.spec = spec.clone();
                    p.state = PollState::Open;
                    p.opened_at = Some(event.at);
                    p.deadline = *deadline;
                    p.eligible = eligible.clone();
                    p.eligible.sort();
                    p.entitled = *entitled;
                    p.voters.clear();
                    p.binding = fresh.clone();
                    p.advisory = fresh;
                    p.sealed = [0, 0];
                    p.result = None;
                }
            }
            EventBody::BallotCast {
                poll,
                electorate,
                voter,
                req,
                choice,
            } => {
                let Some(p) = polls.polls.get_mut(poll) else {
                    return;
                };
                // A secret poll's counts come only from the sealed ballot box.
                let choice = if p.spec.secret { None } else { choice.clone() };
                match p.voters.get(voter) {
                    Some(old) => {
                        let (old_electorate, old_choice) = (old.electorate, old.choice.clone());
                        if let Some(old_choice) = &old_choice {
                            count(p.tally_mut(old_electorate), old_choice, false);
                        }
                        if old_electorate != *electorate {
                            let t = p.tally_mut(old_electorate);
                            t.ballots = t.ballots.saturating_sub(1);
                            let t = p.tally_mut(*electorate);
                            t.ballots = t.ballots.saturating_add(1);
                        }
                    }
                    None => {
                        let t = p.tally_mut(*electorate);
                        t.ballots = t.ballots.saturating_add(1);
                    }
                }
                if let Some(choice) = &choice {
                    count(p.tally_mut(*electorate), choice, true);
                }
                p.voters.insert(
                    voter.clone(),
                    Voter {
                        electorate: *electorate,
                        req: req.clone(),
                        seq: event.seq,
                        choice,
                    },
                );
            }
            EventBody::BallotsVoided {
                poll,
                electorate,
                voters,
            } => {
                let Some(p) = polls.polls.get_mut(poll) else {
                    return;
                };
                for voter in voters {
                    if p.voters.remove(voter).is_some() {
                        let t = p.tally_mut(*electorate);
                        t.ballots = t.ballots.saturating_sub(1);
                    }
                }
            }
            EventBody::PollClosed { poll, result, .. } => {
                if let Some(p) = polls.polls.get_mut(poll) {
                    p.state = PollState::Closed;
                    // Its counts are the declared result from here on.
                    p.sealed = [0, 0];
                    if let Some(result) = result {
                        if let Some(t) = &result.binding {
                            p.binding = t.clone();
                        }
                        if let Some(t) = &result.advisory {
                            p.advisory = t.clone();
                        }
                        p.result = Some(result.clone());
                    }
                    polls.closed_visibility.insert(event.seq, p.spec.visibility);
                }
            }
            EventBody::PollPublished { poll, result } => {
                if let Some(p) = polls.polls.get_mut(poll) {
                    p.state = PollState::Published;
                    p.result = Some(result.clone());
                }
            }
            EventBody::PollReset { poll, .. } => {
                if let Some(p) = polls.polls.get_mut(poll) {
                    *p = Poll::new(p.spec.clone());
                }
            }
            _ => {}
        }
    }

    /// Add a ballot from the sealed ballot box to an open secret poll's tally.
    pub(crate) fn unseal(&mut self, ballot: &SealedBallot) {
        let Some(p) = self.polls.polls.get_mut(&ballot.poll) else {
            return;
        };
        // A closed poll's counts are its declared result; a named poll's come from the
        // record; a ballot that does not fit is not counted.
        if p.state != PollState::Open
            || !p.spec.secret
            || !p.has(ballot.electorate)
            || validate_ballot(&p.spec.method, &ballot.choice).is_err()
        {
            return;
        }
        count(p.tally_mut(ballot.electorate), &ballot.choice, true);
        p.sealed[electorate_index(ballot.electorate)] += 1;
    }

    /// After a restart: void the secret ballots whose voters the record holds but whose
    /// choices the sealed ballot box does not (the server stopped while they waited for
    /// their batch; none was acknowledged). Batches are sealed in the order ballots were
    /// cast, so the missing ones are the latest of their poll and electorate. Call once,
    /// after [`Room::replay`] with the box.
    pub fn void_unsealed(&mut self, now: Millis) -> super::Applied {
        let mut voided = Vec::new();
        for (id, p) in &self.polls.polls {
            if p.state != PollState::Open || !p.spec.secret {
                continue;
            }
            for electorate in [Electorate::Binding, Electorate::Advisory] {
                let turnout = match electorate {
                    Electorate::Binding => p.binding.ballots,
                    Electorate::Advisory => p.advisory.ballots,
                };
                let missing = turnout.saturating_sub(p.sealed[electorate_index(electorate)]);
                if missing == 0 {
                    continue;
                }
                let mut latest: Vec<(&Seq, &ParticipantId)> = p
                    .voters
                    .iter()
                    .filter(|(_, v)| v.electorate == electorate)
                    .map(|(id, v)| (&v.seq, id))
                    .collect();
                latest.sort_unstable_by(|a, b| b.0.cmp(a.0));
                let mut voters: Vec<ParticipantId> = latest
                    .into_iter()
                    .take(missing as usize)
                    .map(|(_, id)| id.clone())
                    .collect();
                // In id order: the event tells nothing of the order they voted in.
                voters.sort();
                voided.push((*id, electorate, voters));
            }
        }
        let mut out = super::Applied::default();
        let mut cx = self.cx(None, now, &mut out);
        for (poll, electorate, voters) in voided {
            self.emit(
                &mut cx,
                EventBody::BallotsVoided {
                    poll,
                    electorate,
                    voters,
                },
            );
        }
        out
    }

    pub(crate) fn polls_deadline(&self) -> Option<Millis> {
        self.polls
            .polls
            .values()
            .filter(|p| p.state == PollState::Open)
            .filter_map(|p| p.deadline)
            .min()
    }

    pub(crate) fn polls_due(&mut self, cx: &mut Cx) {
        let mut due: Vec<(Millis, PollId)> = self
            .polls
            .polls
            .iter()
            .filter(|(_, p)| p.state == PollState::Open)
            .filter_map(|(id, p)| p.deadline.filter(|d| *d <= cx.now).map(|d| (d, *id)))
            .collect();
        due.sort();
        for (_, id) in due {
            self.declare_and_close(cx, id, true);
        }
    }

    /// Close every open poll (the session is closing).
    pub(crate) fn close_open_polls(&mut self, cx: &mut Cx) {
        let open: Vec<PollId> = self
            .polls
            .polls
            .iter()
            .filter(|(_, p)| p.state == PollState::Open)
            .map(|(id, _)| *id)
            .collect();
        for id in open {
            self.declare_and_close(cx, id, false);
        }
    }

    pub(crate) fn poll_shown(&self, event: &Event, view: View) -> Shown {
        let host_only = if view == View::Host {
            Shown::Full
        } else {
            Shown::Hidden
        };
        match &event.body {
            // Drafts are for hosts.
            EventBody::PollCreated { .. } | EventBody::PollUpdated { .. } => host_only,
            EventBody::PollOpened {
                poll,
                spec,
                deadline,
                entitled,
                ..
            } => {
                if view == View::Audience {
                    Shown::Redacted(Box::new(EventBody::PollOpened {
                        poll: *poll,
                        spec: spec.clone(),
                        deadline: *deadline,
                        eligible: Vec::new(),
                        entitled: *entitled,
                    }))
                } else {
                    Shown::Full
                }
            }
            // Who voted reaches others as turnout, through `tally_update`; the voter gets
            // their own ballot through `poll_private`.
            EventBody::BallotCast { .. } | EventBody::BallotsVoided { .. } => host_only,
            EventBody::PollClosed {
                poll, by_deadline, ..
            } => {
                let visibility = self
                    .polls
                    .closed_visibility
                    .get(&event.seq)
                    .copied()
                    .or_else(|| self.polls.polls.get(poll).map(|p| p.spec.visibility))
                    .unwrap_or(ResultsVisibility::HostsUntilPublished);
                if view == View::Host || visibility != ResultsVisibility::HostsUntilPublished {
                    Shown::Full
                } else {
                    Shown::Redacted(Box::new(EventBody::PollClosed {
                        poll: *poll,
                        result: None,
                        by_deadline: *by_deadline,
                    }))
                }
            }
            EventBody::PollPublished { .. } | EventBody::PollReset { .. } => Shown::Full,
            _ => Shown::Hidden,
        }
    }

    pub(crate) fn poll_private<'e>(&'e self, event: &'e Event) -> Option<&'e ParticipantId> {
        match &event.body {
            EventBody::BallotCast { voter, .. } => Some(voter),
            _ => None,
        }
    }

    pub(crate) fn polls_snapshot(&self, view: View, viewer: &ParticipantId) -> Vec<PollView> {
        self.polls
            .polls
            .iter()
            .filter(|(_, p)| view == View::Host || p.state != PollState::Draft)
            .map(|(id, p)| p.view(*id, view, viewer))
            .collect()
    }

    /// Running turnout, and results where `view` may see them, of an open poll.
    pub fn tally_update(&self, poll: PollId, view: View) -> Option<TallyUpdate> {
        let p = self.polls.polls.get(&poll)?;
        if p.state != PollState::Open {
            return None;
        }
        Some(TallyUpdate {
            poll,
            turnout_binding: p.binding.ballots,
            turnout_advisory: p.advisory.ballots,
            results: p.results_for(view),
        })
    }
}

/// Check a spec and return it with its texts cleaned.
fn validate_spec(spec: &PollSpec) -> Result<PollSpec, Rejection> {
    let invalid = |msg: &str| reject(ErrorCode::InvalidArgument, msg);
    let question = super::text::clean(&spec.question)?;
    let clean_options = |options: &[String]| -> Result<Vec<String>, Rejection> {
        if !OPTIONS.contains(&options.len()) {
            return reject(
                ErrorCode::InvalidArgument,
                format!(
                    "a choice needs {} to {} options, not {}",
                    OPTIONS.start(),
                    OPTIONS.end(),
                    options.len()
                ),
            );
        }
        options.iter().map(|o| super::text::clean(o)).collect()
    };
    let method = match &spec.method {
        PollMethod::Single { options } => PollMethod::Single {
            options: clean_options(options)?,
        },
        PollMethod::Multiple { options, min, max } => {
            let options = clean_options(options)?;
            if !(1 <= *min && min <= max && usize::from(*max) <= options.len()) {
                return invalid("a multiple choice needs 1 <= min <= max <= the number of options");
            }
            PollMethod::Multiple {
                options,
                min: *min,
                max: *max,
            }
        }
        PollMethod::YesNoAbstain => PollMethod::YesNoAbstain,
        PollMethod::Rating => PollMethod::Rating,
    };
    if !spec.binding && !spec.advisory {
        return invalid("a poll needs the binding or the advisory electorate, or both");
    }
    if spec.secret && spec.allow_change {
        return invalid(
            "a secret ballot cannot be changed: changing needs a link between voter and ballot",
        );
    }
    if spec.secret && spec.visibility == ResultsVisibility::Live {
        return invalid(
            "a secret poll cannot show live results: next to who voted they would reveal ballots",
        );
    }
    if let Some(quorum) = &spec.quorum {
        if !(1..=100).contains(&quorum.percent) {
            return invalid("a quorum is 1 to 100 percent");
        }
        if quorum.of == Base::Cast {
            return invalid("a quorum is of those present or of those entitled");
        }
    }
    if let Some(s) = spec.deadline_s
        && !DEADLINE_S.contains(&s)
    {
        return invalid("a poll's deadline is 10 s to 24 h after it opens");
    }
    Ok(PollSpec {
        question,
        method,
        ..spec.clone()
    })
}

/// Check a ballot against the poll's method; a multiple choice comes back sorted.
fn validate_ballot(method: &PollMethod, choice: &Choice) -> Result<Choice, Rejection> {
    let invalid = |msg: String| reject(ErrorCode::InvalidBallot, msg);
    match (method, choice) {
        (PollMethod::Single { options }, Choice::Single { option }) => {
            if usize::from(*option) < options.len() {
                Ok(choice.clone())
            } else {
                invalid(format!("there is no option {option}"))
            }
        }
        (PollMethod::Multiple { options, min, max }, Choice::Multiple { options: picked }) => {
            let mut sorted = picked.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != picked.len() {
                return invalid("an option is chosen twice".into());
            }
            if let Some(o) = sorted.iter().find(|o| usize::from(**o) >= options.len()) {
                return invalid(format!("there is no option {o}"));
            }
            if !(usize::from(*min)..=usize::from(*max)).contains(&sorted.len()) {
                return invalid(format!("choose {min} to {max} options"));
            }
            Ok(Choice::Multiple { options: sorted })
        }
        (PollMethod::YesNoAbstain, Choice::YesNoAbstain { .. }) => Ok(choice.clone()),
        (PollMethod::Rating, Choice::Rating { stars }) => {
            if (1..=5).contains(stars) {
                Ok(choice.clone())
            } else {
                invalid(format!("a rating is 1 to 5 stars, not {stars}"))
            }
        }
        _ => invalid("the ballot does not fit the poll's method".into()),
    }
}

/// Add (or take back) one ballot in a tally's counters.
fn electorate_index(electorate: Electorate) -> usize {
    match electorate {
        Electorate::Binding => 0,
        Electorate::Advisory => 1,
    }
}

fn count(tally: &mut Tally, choice: &Choice, add: bool) {
    let mut bump = |i: usize| {
        if let Some(c) = tally.counts.get_mut(i) {
            *c = if add {
                c.saturating_add(1)
            } else {
                c.saturating_sub(1)
            };
        }
    };
    match choice {
        Choice::Single { option } => bump(usize::from(*option)),
        Choice::Multiple { options } => options.iter().for_each(|o| bump(usize::from(*o))),
        Choice::YesNoAbstain { vote } => bump(match vote {
            YesNo::Yes => 0,
            YesNo::No => 1,
            YesNo::Abstain => 2,
        }),
        Choice::Rating { stars } => {
            if let Some(i) = usize::from(*stars).checked_sub(1) {
                bump(i);
            }
        }
    }
}

/// The option with the most votes and its count, if it has votes and no other ties it.
fn leader(counts: &[u32]) -> Option<(u8, u32)> {
    let top = counts.iter().copied().max().filter(|m| *m > 0)?;
    let mut at = counts.iter().enumerate().filter(|(_, c)| **c == top);
    let (i, _) = at.next()?;
    if at.next().is_some() {
        return None;
    }
    Some((u8::try_from(i).ok()?, top))
}

/// The binding electorate's outcome and, for a single choice, its winner.
fn binding_outcome(
    spec: &PollSpec,
    tally: &Tally,
    present: u32,
    entitled: u32,
) -> (Outcome, Option<u8>) {
    let cast = tally.ballots;
    let base = |of: Base| -> u64 {
        u64::from(match of {
            Base::Cast => cast,
            Base::Present => present,
            Base::Entitled => entitled,
        })
    };
    // Nothing to declare for a multiple choice or a rating (quorum included).
    if matches!(
        spec.method,
        PollMethod::Multiple { .. } | PollMethod::Rating
    ) {
        return (Outcome::NotDeclared, None);
    }
    if let Some(q) = &spec.quorum
        && u64::from(cast) * 100 < u64::from(q.percent) * base(q.of)
    {
        return (Outcome::NoQuorum, None);
    }
    // For yes/no/abstain: yes against no. For a single choice: the leading option
    // against the runner-up (no leader, or a tie, fails).
    let (votes, against, winner) = match &spec.method {
        PollMethod::YesNoAbstain => {
            let at = |i: usize| tally.counts.get(i).copied().unwrap_or(0);
            (at(0), at(1), None)
        }
        _ => match leader(&tally.counts) {
            Some((i, top)) => {
                let runner_up = tally
                    .counts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != usize::from(i))
                    .map(|(_, c)| *c)
                    .max()
                    .unwrap_or(0);
                (top, runner_up, Some(i))
            }
            None => return (Outcome::Failed, None),
        },
    };
    let (votes, against) = (u64::from(votes), u64::from(against));
    let b = base(spec.majority.of);
    // No ballots, or an empty base, never pass.
    let passed = cast > 0
        && votes > 0
        && match spec.majority.rule {
            MajorityRule::Simple => votes > against,
            MajorityRule::Absolute => b > 0 && votes * 2 > b,
            MajorityRule::TwoThirds => b > 0 && votes * 3 >= b * 2,
        };
    if passed {
        (Outcome::Passed, winner)
    } else {
        (Outcome::Failed, None)
    }
}
