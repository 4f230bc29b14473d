//! Group commit: appends from every room actor are gathered and written in one
//! transaction, so a burst of ballots costs a few transactions, not one each.
//!
//! A room whose writer was fenced (another writer claimed it since) fails alone: its
//! appends are refused and the rest of the batch is written without them.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Append, Epoch, Store, StoreError};

/// Why an append was not made durable. Nothing of it was written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// Another writer claimed the room: this one must stop serving it.
    #[error("the room was taken over (epoch {held} < {current})")]
    Fenced { held: Epoch, current: Epoch },
    #[error("store: {0}")]
    Store(String),
    #[error("the committer stopped")]
    Stopped,
}

type Request = (Append, oneshot::Sender<Result<(), CommitError>>);

/// Where room actors send what must be durable before anyone sees it.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

/// At most this many appends go into one transaction.
const MAX_BATCH: usize = 2048;

impl Committer {
    pub fn spawn(store: Store) -> Committer {
        let (tx, mut rx) = mpsc::channel::<Request>(4096);
        tokio::spawn(async move {
            let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (mut appends, mut replies): (Vec<Append>, Vec<_>) = batch.drain(..).unzip();
                // Each pass either writes the batch or removes a fenced room from it.
                let result = loop {
                    let started = Instant::now();
                    let result = store.append(&appends).await;
                    metrics::histogram!("yishi_store_commit_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!("yishi_store_commits_total").increment(1);
                    let Err(StoreError::Fenced {
                        room,
                        held,
                        current,
                    }) = result
                    else {
                        break result.map_err(|e| CommitError::Store(e.to_string()));
                    };
                    tracing::warn!(%room, %held, %current, "appends refused: the room was taken over");
                    metrics::counter!("yishi_fenced_appends_total").increment(1);
                    let (fenced, rest): (Vec<_>, Vec<_>) = appends
                        .into_iter()
                        .zip(replies)
                        .partition(|(a, _)| a.room == room);
                    for (_, reply) in fenced {
                        let _ = reply.send(Err(CommitError::Fenced { held, current }));
                    }
                    (appends, replies) = rest.into_iter().unzip();
                    if appends.is_empty() {
                        break Ok(());
                    }
                };
                if let Err(e) = &result {
                    tracing::error!(error = %e, appends = appends.len(), "store commit failed");
                }
                for reply in replies {
                    let _ = reply.send(result.clone());
                }
            }
        });
        Committer { tx }
    }

    /// Make `append` durable; returns once it is committed (or failed).
    pub async fn commit(&self, append: Append) -> Result<(), CommitError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((append, tx))
            .await
            .map_err(|_| CommitError::Stopped)?;
        rx.await.map_err(|_| CommitError::Stopped)?
    }
}
