//! The board's record: its events chained by SHA-256 exactly as a room's are
//! (`hash = SHA-256(prev || canonical JSON of the event)`, the first `prev` being
//! [`crate::room::GENESIS`]), so changing any entry breaks every later link.

use serde::{Deserialize, Serialize};

use super::Event;

/// One entry of the board's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEntry {
    pub event: Event,
    pub prev: String,
    pub hash: String,
}

/// The head of the board's chain (a room's, sealing board events): seals events into
/// entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain(crate::room::Chain);

impl Chain {
    /// Continue a chain whose last hash is `head` (lowercase hex).
    pub fn resume(head: &str) -> Option<Chain> {
        crate::room::Chain::resume(head).map(Chain)
    }

    /// The hash of the last entry (lowercase hex).
    pub fn head(&self) -> String {
        self.0.head()
    }

    /// Link `event` to the chain.
    pub fn seal(&mut self, event: Event) -> BoardEntry {
        let (prev, hash) = self.0.link(&event);
        BoardEntry { event, prev, hash }
    }
}

/// Check the whole record from its first entry: the final hash, or the sequence number
/// of the first entry that is out of order, does not link, or was altered.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a BoardEntry>) -> Result<String, u64> {
    crate::room::verify_links(
        entries
            .into_iter()
            .map(|e| (e.event.seq, &e.event, e.prev.as_str(), e.hash.as_str())),
    )
    .map_err(|e| e.seq())
}
