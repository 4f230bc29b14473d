//! Group commit: appends from every room actor are gathered and written in one
//! transaction, so a burst of ballots costs a few transactions, not one each.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Append, Store};

type Request = (Append, oneshot::Sender<Result<(), String>>);

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
                let (appends, replies): (Vec<Append>, Vec<_>) = batch.drain(..).unzip();
                let started = Instant::now();
                let result = store.append(&appends).await.map_err(|e| e.to_string());
                metrics::histogram!("yishi_store_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("yishi_store_commits_total").increment(1);
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
    pub async fn commit(&self, append: Append) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((append, tx))
            .await
            .map_err(|_| "the committer stopped".to_owned())?;
        rx.await.map_err(|_| "the committer stopped".to_owned())?
    }
}
