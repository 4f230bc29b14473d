//! The board's record: its events chained by SHA-256 exactly as a room's are
//! (`hash = SHA-256(prev || canonical JSON of the event)`, the first `prev` being
//! [`crate::room::GENESIS`]), so changing any entry breaks every later link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Event;

/// One entry of the board's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEntry {
    pub event: Event,
    pub prev: String,
    pub hash: String,
}

/// The head of the board's chain: seals events into entries.
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
    pub fn seal(&mut self, event: Event) -> BoardEntry {
        let prev = self.head();
        self.head = link(&self.head, &event);
        BoardEntry {
            event,
            prev,
            hash: hex::encode(self.head),
        }
    }
}

fn link(prev: &[u8; 32], event: &Event) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    // Our own types always serialise: no maps with non-string keys, no failing
    // serialisers.
    hasher.update(serde_json::to_vec(event).unwrap_or_default());
    hasher.finalize().into()
}

/// Check the whole record from its first entry: the final hash, or the sequence number
/// of the first entry that is out of order, does not link, or was altered.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a BoardEntry>) -> Result<String, u64> {
    let mut head = [0u8; 32];
    for (expected, entry) in (1..).zip(entries) {
        let seq = entry.event.seq;
        if seq != expected || entry.prev != hex::encode(head) {
            return Err(seq);
        }
        let hash = link(&head, &entry.event);
        if entry.hash != hex::encode(hash) {
            return Err(seq);
        }
        head = hash;
    }
    Ok(hex::encode(head))
}
