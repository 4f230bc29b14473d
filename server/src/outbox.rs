//! A connection's outgoing queue: many senders (the room actor, the connection itself,
//! the media unit), one writer, bounded, never blocking a sender; what goes into it
//! ([`Out`]) and the close codes a connection ends with.
//!
//! A leaf module: the hub and the SFU both send to connections through it, and neither
//! depends on the other for that.
//!
//! Written here rather than taken from `tokio::sync::mpsc` for its size: a tokio channel
//! allocates a 32-slot block and cache-padded state up front (about 1.5 KB), which is most
//! of what an idle audience connection costs. This queue holds a `VecDeque` that is empty
//! between bursts and is given back when it grew, so an idle connection keeps ~100 bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Slots kept after a burst; beyond this the queue's memory is given back once drained.
const KEEP: usize = 4;

/// The sending side; cloning it adds a sender.
pub(crate) struct Outbox(Arc<Shared>);

/// The writer's side.
pub(crate) struct Inbox(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: a frame was queued or the last sender left.
    wake: Notify,
}

struct State {
    items: VecDeque<Out>,
    capacity: usize,
    senders: usize,
    writer_gone: bool,
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The writer is `capacity` frames behind.
    Full,
    /// The connection's writer has stopped.
    Closed,
}

/// A queue holding at most `capacity` frames.
pub(crate) fn outbox(capacity: usize) -> (Outbox, Inbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            senders: 1,
            writer_gone: false,
        }),
        wake: Notify::new(),
    });
    (Outbox(Arc::clone(&shared)), Inbox(shared))
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned queue is still a valid queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Outbox {
    /// Queue `out` unless the writer is behind by `capacity` frames or gone.
    pub fn try_send(&self, out: Out) -> Result<(), Refused> {
        {
            let mut state = self.0.state();
            if state.writer_gone {
                return Err(Refused::Closed);
            }
            if state.items.len() >= state.capacity {
                return Err(Refused::Full);
            }
            state.items.push_back(out);
        }
        self.0.wake.notify_one();
        Ok(())
    }

    /// Whether the writer is at most half the capacity behind (room for a snapshot).
    pub fn at_most_half_full(&self) -> bool {
        let state = self.0.state();
        state.items.len() * 2 <= state.capacity
    }

    /// Whether the connection's writer has stopped.
    pub fn is_closed(&self) -> bool {
        self.0.state().writer_gone
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        self.0.state().senders += 1;
        Outbox(Arc::clone(&self.0))
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.state();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.0.wake.notify_one();
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

impl Inbox {
    /// Everything queued now, without waiting (tests of what was sent).
    #[cfg(test)]
    pub fn drain(&mut self) -> Vec<Out> {
        self.0.state().items.drain(..).collect()
    }

    /// Move up to `limit` queued frames into `batch`, waiting for the first; 0 once every
    /// sender has gone and the queue is empty.
    pub async fn recv_many(&mut self, batch: &mut Vec<Out>, limit: usize) -> usize {
        loop {
            {
                let mut state = self.0.state();
                if !state.items.is_empty() {
                    let n = state.items.len().min(limit);
                    batch.extend(state.items.drain(..n));
                    if state.items.is_empty() && state.items.capacity() > KEEP {
                        state.items = VecDeque::new();
                    }
                    return n;
                }
                if state.senders == 0 {
                    return 0;
                }
            }
            // A frame queued since the check above left a permit: this returns at once.
            self.0.wake.notified().await;
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.writer_gone = true;
        state.items = VecDeque::new();
    }
}

/// What a connection's writer sends.
#[derive(Debug)]
pub(crate) enum Out {
    /// A serialised server message, shared between connections of one view.
    Frame(axum::extract::ws::Utf8Bytes),
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

/// WebSocket close codes the client acts on (they are the protocol's).
pub use yishi_protocol::close;

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Out {
        Out::Frame(text.to_owned().into())
    }

    fn texts(batch: &[Out]) -> Vec<String> {
        batch
            .iter()
            .map(|o| match o {
                Out::Frame(t) => t.to_string(),
                Out::Close(code, _) => format!("close {code}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn delivers_in_order_and_refuses_beyond_capacity() {
        let (tx, mut rx) = outbox(2);
        assert_eq!(tx.try_send(frame("a")), Ok(()));
        assert_eq!(tx.clone().try_send(frame("b")), Ok(()));
        assert_eq!(tx.try_send(frame("c")), Err(Refused::Full));
        let mut batch = Vec::new();
        assert_eq!(rx.recv_many(&mut batch, 64).await, 2);
        assert_eq!(texts(&batch), ["a", "b"]);
        assert_eq!(tx.try_send(frame("c")), Ok(()));
        batch.clear();
        assert_eq!(rx.recv_many(&mut batch, 1).await, 1);
        assert_eq!(texts(&batch), ["c"]);
    }

    #[tokio::test]
    async fn the_writer_wakes_for_a_frame_sent_while_it_waits() {
        let (tx, mut rx) = outbox(8);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::new();
            let n = rx.recv_many(&mut batch, 8).await;
            (n, texts(&batch))
        });
        tokio::task::yield_now().await;
        tx.try_send(frame("late")).ok();
        let (n, got) = writer.await.ok().unwrap_or_default();
        assert_eq!((n, got), (1, vec!["late".to_owned()]));
    }

    #[tokio::test]
    async fn ends_when_every_sender_left_after_what_they_queued() {
        let (tx, mut rx) = outbox(8);
        let other = tx.clone();
        tx.try_send(frame("x")).ok();
        drop(tx);
        drop(other);
        let mut batch = Vec::new();
        assert_eq!(rx.recv_many(&mut batch, 8).await, 1);
        assert_eq!(rx.recv_many(&mut batch, 8).await, 0);
    }

    #[tokio::test]
    async fn senders_see_a_stopped_writer() {
        let (tx, rx) = outbox(8);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(frame("x")), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn an_idle_queue_gives_its_memory_back() {
        let (tx, mut rx) = outbox(1000);
        for i in 0..100 {
            tx.try_send(frame(&i.to_string())).ok();
        }
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 64).await == 64 {}
        assert_eq!(batch.len(), 100);
        assert!(rx.0.state().items.capacity() <= KEEP);
    }
}
