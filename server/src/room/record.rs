//! The record: events chained by SHA-256, so that changing any entry breaks every later
//! link. `hash = SHA-256(prev || canonical JSON of the event)`; see
//! [`yishi_protocol::RecordEntry`].

use serde::Serialize;
use sha2::{Digest, Sha256};
use yishi_protocol::{Event, RecordEntry, Seq};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The head of a chain: seals events into record entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    head: [u8; 32],
}

impl Chain {
    /// Continue a chain whose last hash is `head` (lowercase hex).
    pub fn resume(head: &str) -> Option<Chain> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(head, &mut bytes).ok()?;
        Some(Chain { head: bytes })
    }

    /// The hash of the last entry (lowercase hex).
    pub fn head(&self) -> String {
        hex::encode(self.head)
    }

    /// Link `event` to the chain.
    pub fn seal(&mut self, event: Event) -> RecordEntry {
        let (prev, hash) = self.link(&event);
        RecordEntry { event, prev, hash }
    }

    /// Link any event (the board's too) to the chain: its `prev` and `hash`.
    pub fn link(&mut self, event: &impl Serialize) -> (String, String) {
        let prev = self.head();
        self.head = link(&self.head, event);
        (prev, hex::encode(self.head))
    }
}

fn link(prev: &[u8; 32], event: &impl Serialize) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    // Serialising our own types to a Vec cannot fail: no maps with non-string keys, no
    // custom serialisers that error.
    let canonical = serde_json::to_vec(event).unwrap_or_default();
    hasher.update(&canonical);
    hasher.finalize().into()
}

/// The first broken link of a record (its sequence numbers are `S`: a room's, or the
/// board's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError<S: std::fmt::Display = Seq> {
    #[error("entry {found} is out of order: expected sequence number {expected}")]
    OutOfOrder { expected: S, found: S },
    #[error(
        "entry {seq} does not follow the entry before it (its `prev` is not that entry's hash)"
    )]
    BrokenLink { seq: S },
    #[error("entry {seq} was altered: its content does not match its hash")]
    Altered { seq: S },
}

impl<S: std::fmt::Display + Copy> ChainError<S> {
    /// The sequence number of the first entry that fails.
    pub fn seq(&self) -> S {
        match self {
            ChainError::OutOfOrder { found, .. } => *found,
            ChainError::BrokenLink { seq } | ChainError::Altered { seq } => *seq,
        }
    }
}

/// Check a whole record from its first entry. Returns the final hash (the one a closed
/// session publishes), or the first broken link.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a RecordEntry>,
) -> Result<String, ChainError> {
    verify_links(
        entries
            .into_iter()
            .map(|e| (e.event.seq, &e.event, e.prev.as_str(), e.hash.as_str())),
    )
}

/// [`verify_chain`] for any chained events (the board's too), given as (sequence
/// number, event, `prev`, `hash`).
pub fn verify_links<'a, S, E>(
    entries: impl IntoIterator<Item = (S, &'a E, &'a str, &'a str)>,
) -> Result<String, ChainError<S>>
where
    S: Copy + PartialEq + std::fmt::Display + From<u8> + std::ops::Add<Output = S>,
    E: Serialize + 'a,
{
    let mut head = [0u8; 32];
    let mut expected = S::from(1);
    for (seq, event, prev, hash) in entries {
        if seq != expected {
            return Err(ChainError::OutOfOrder {
                expected,
                found: seq,
            });
        }
        if prev != hex::encode(head) {
            return Err(ChainError::BrokenLink { seq });
        }
        let linked = link(&head, event);
        if hash != hex::encode(linked) {
            return Err(ChainError::Altered { seq });
        }
        head = linked;
        expected = expected + S::from(1);
    }
    Ok(hex::encode(head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yishi_protocol::{EventBody, Millis, ParticipantId};

    fn chain_of(n: u32) -> Vec<RecordEntry> {
        let mut chain = Chain::default();
        (1..=n)
            .map(|seq| {
                chain.seal(Event {
                    seq,
                    at: Millis(1_000 * u64::from(seq)),
                    actor: Some(ParticipantId::new("m1")),
                    body: EventBody::Annotated {
                        text: format!("note {seq}"),
                    },
                })
            })
            .collect()
    }

    #[test]
    fn an_intact_record_verifies_and_yields_its_final_hash() {
        let record = chain_of(5);
        assert_eq!(record[0].prev, GENESIS);
        assert_eq!(verify_chain(&record), Ok(record[4].hash.clone()));
    }

    #[test]
    fn an_altered_entry_is_named_as_the_first_broken_link() {
        let mut record = chain_of(5);
        record[2].event.body = EventBody::Annotated {
            text: "rewritten".into(),
        };
        assert_eq!(verify_chain(&record), Err(ChainError::Altered { seq: 3 }));
    }

    #[test]
    fn an_entry_rehashed_after_alteration_breaks_the_next_link() {
        let mut record = chain_of(5);
        record[2].event.body = EventBody::Annotated {
            text: "rewritten".into(),
        };
        record[2].hash = hex::encode(link(&[0; 32], &record[2].event)); // wrong prev, but self-consistent
        let err = verify_chain(&record).unwrap_err();
        assert_eq!(err.seq(), 3);
        let mut record = chain_of(5);
        let mut head = [0u8; 32];
        hex::decode_to_slice(&record[1].hash, &mut head).unwrap();
        record[2].event.body = EventBody::Annotated {
            text: "rewritten".into(),
        };
        record[2].hash = hex::encode(link(&head, &record[2].event));
        assert_eq!(
            verify_chain(&record),
            Err(ChainError::BrokenLink { seq: 4 })
        );
    }

    #[test]
    fn a_removed_entry_is_caught() {
        let mut record = chain_of(5);
        record.remove(1);
        assert_eq!(
            verify_chain(&record),
            Err(ChainError::OutOfOrder {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn a_chain_resumes_from_its_head() {
        let record = chain_of(3);
        let mut chain = Chain::resume(&record[2].hash).unwrap();
        let next = chain.seal(Event {
            seq: 4,
            at: Millis(4_000),
            actor: None,
            body: EventBody::Annotated {
                text: "after restart".into(),
            },
        });
        let mut all = record.clone();
        all.push(next);
        assert!(verify_chain(&all).is_ok());
    }
}
