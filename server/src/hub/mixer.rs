//! The ballot mixer: secret ballots wait here, after their voter's `ballot_cast` event is
//! committed, until enough ballots of the same poll and electorate have come to go into
//! the sealed ballot box together.
//!
//! Why: the record names who voted, the box holds what was chosen. If one commit held a
//! voter's `ballot_cast` and the box's change, the database's own history (SQLite's WAL,
//! PostgreSQL's WAL and row versions) would tie each voter to a choice. So who-voted and
//! the choices go to the store in separate transactions, and a choice reaches the box
//! only in a batch of at least `batch` ballots of its poll and electorate, which is then
//! the smallest set of voters anyone reading the files can tie a choice to. Only the last
//! batch of a poll, when it closes, may be smaller. A voter's acknowledgement waits for
//! their batch, so an acknowledged ballot is always in the box.
//!
//! Pure bookkeeping: no I/O, no clock. The room actor commits and acknowledges.

use std::collections::BTreeMap;

use yishi_protocol::{Electorate, PollId, RequestId, Seq};

use super::actor::ConnId;
use crate::room::SealedBallot;

/// A ballot waiting for its batch, and who waits for its acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Waiting {
    /// The sequence number of its `ballot_cast` event (its acknowledgement's).
    pub seq: Seq,
    pub ballot: SealedBallot,
    /// The connections (and request ids) to acknowledge once it is sealed: the command,
    /// and any retry of it that arrived meanwhile.
    pub acks: Vec<(ConnId, RequestId)>,
}

#[derive(Debug, Default)]
pub(crate) struct Mixer {
    /// The smallest batch, at least 1.
    batch: usize,
    groups: BTreeMap<(PollId, Electorate), Vec<Waiting>>,
}

impl Mixer {
    pub fn new(batch: usize) -> Mixer {
        Mixer {
            batch: batch.max(1),
            groups: BTreeMap::new(),
        }
    }

    /// A ballot whose `ballot_cast` (sequence number `seq`) is committed with this turn.
    pub fn push(&mut self, seq: Seq, ballot: SealedBallot, ack: (ConnId, RequestId)) {
        self.groups
            .entry((ballot.poll, ballot.electorate))
            .or_default()
            .push(Waiting {
                seq,
                ballot,
                acks: vec![ack],
            });
    }

    /// A retry of the ballot acknowledged by `seq`: if that ballot still waits, the
    /// retry waits with it (true); otherwise it can be acknowledged at once (false).
    pub fn also(&mut self, seq: Seq, ack: (ConnId, RequestId)) -> bool {
        for group in self.groups.values_mut() {
            if let Some(w) = group.iter_mut().find(|w| w.seq == seq) {
                w.acks.push(ack);
                return true;
            }
        }
        false
    }

    /// Every group that reached the batch size, taken whole.
    pub fn ripe(&mut self) -> Vec<Waiting> {
        let batch = self.batch;
        let keys: Vec<_> = self
            .groups
            .iter()
            .filter(|(_, g)| g.len() >= batch)
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| self.groups.remove(&k))
            .flatten()
            .collect()
    }

    /// The poll closed at `seq`: its ballots cast before go to the box now, however few
    /// (the closing result already counts them).
    pub fn closed(&mut self, poll: PollId, seq: Seq) -> Vec<Waiting> {
        self.take(poll, seq)
    }

    /// The poll was reset at `seq`: its ballots cast before are discarded with it; they
    /// are acknowledged (they were cast), never sealed.
    pub fn reset(&mut self, poll: PollId, seq: Seq) -> Vec<Waiting> {
        self.take(poll, seq)
    }

    fn take(&mut self, poll: PollId, before: Seq) -> Vec<Waiting> {
        let mut taken = Vec::new();
        for electorate in [Electorate::Binding, Electorate::Advisory] {
            if let Some(group) = self.groups.get_mut(&(poll, electorate)) {
                let (old, new): (Vec<_>, Vec<_>) = group.drain(..).partition(|w| w.seq < before);
                *group = new;
                taken.extend(old);
                if group.is_empty() {
                    self.groups.remove(&(poll, electorate));
                }
            }
        }
        taken
    }

    /// Ballots waiting, over all polls.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.groups.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yishi_protocol::{Choice, YesNo};

    fn ballot(poll: u32, electorate: Electorate) -> SealedBallot {
        SealedBallot {
            poll: PollId(poll),
            electorate,
            choice: Choice::YesNoAbstain { vote: YesNo::Yes },
        }
    }

    fn ack(n: u64) -> (ConnId, RequestId) {
        (n, RequestId(format!("r{n}")))
    }

    #[test]
    fn ballots_wait_until_a_whole_batch_of_their_poll_and_electorate_has_come() {
        let mut m = Mixer::new(3);
        m.push(10, ballot(1, Electorate::Binding), ack(1));
        m.push(11, ballot(1, Electorate::Binding), ack(2));
        // Another electorate and another poll do not fill this batch.
        m.push(12, ballot(1, Electorate::Advisory), ack(3));
        m.push(13, ballot(2, Electorate::Binding), ack(4));
        assert!(m.ripe().is_empty());
        m.push(14, ballot(1, Electorate::Binding), ack(5));
        let ripe = m.ripe();
        assert_eq!(ripe.iter().map(|w| w.seq).collect::<Vec<_>>(), [10, 11, 14]);
        assert_eq!(m.waiting(), 2);
    }

    #[test]
    fn a_retry_waits_with_its_ballot_and_is_acknowledged_with_it() {
        let mut m = Mixer::new(2);
        m.push(10, ballot(1, Electorate::Binding), ack(1));
        assert!(m.also(10, ack(9)));
        assert!(
            !m.also(99, ack(8)),
            "a ballot no longer waiting is acknowledged at once"
        );
        m.push(11, ballot(1, Electorate::Binding), ack(2));
        let ripe = m.ripe();
        assert_eq!(ripe[0].acks, [ack(1), ack(9)]);
    }

    #[test]
    fn a_close_takes_the_last_few_and_a_reset_discards_only_earlier_ballots() {
        let mut m = Mixer::new(5);
        m.push(10, ballot(1, Electorate::Binding), ack(1));
        m.push(11, ballot(1, Electorate::Advisory), ack(2));
        m.push(12, ballot(2, Electorate::Binding), ack(3));
        let closed = m.closed(PollId(1), 20);
        assert_eq!(closed.len(), 2);
        assert_eq!(m.waiting(), 1);
        // Poll 2 reset at 13, reopened, and voted in again at 14 within one turn.
        m.push(14, ballot(2, Electorate::Binding), ack(4));
        let reset = m.reset(PollId(2), 13);
        assert_eq!(reset.iter().map(|w| w.seq).collect::<Vec<_>>(), [12]);
        assert_eq!(m.waiting(), 1);
    }

    #[test]
    fn a_batch_of_one_seals_every_ballot_at_once() {
        let mut m = Mixer::new(0);
        m.push(10, ballot(1, Electorate::Binding), ack(1));
        assert_eq!(m.ripe().len(), 1);
    }
}
