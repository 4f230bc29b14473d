//! Node membership: each live node keeps a key in a JetStream key-value bucket whose
//! entries expire after a TTL, writing it every third of the TTL; the live nodes are the
//! keys present. A node that dies drops out after the TTL; one that shuts down cleanly
//! deletes its key at once.
//!
//! It only says who is alive, as NATS sees it; it decides nothing (see
//! [`super::rendezvous`]) and never touches the store.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::TryStreamExt;
use tokio::task::JoinHandle;

use super::{BusError, NodeId, open_bucket};

/// This node's membership, and the view of the others.
pub struct Membership {
    kv: kv::Store,
    node: NodeId,
    heartbeat: JoinHandle<()>,
}

impl Membership {
    /// Join the cluster: open (creating it if need be) the bucket `bucket`, announce
    /// this node and keep announcing it.
    pub async fn join(
        js: &jetstream::Context,
        bucket: &str,
        node: NodeId,
        ttl: Duration,
    ) -> Result<Membership, BusError> {
        let kv = open_bucket(js, bucket, "yishi: the live nodes", ttl).await?;
        kv.put(node.as_str(), bytes::Bytes::new())
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let heartbeat = {
            let kv = kv.clone();
            let node = node.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(ttl / 3);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    if let Err(e) = kv.put(node.as_str(), bytes::Bytes::new()).await {
                        tracing::warn!(error = %e, "node heartbeat failed");
                    }
                }
            })
        };
        Ok(Membership {
            kv,
            node,
            heartbeat,
        })
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The nodes alive now (this one included while it heartbeats), sorted.
    pub async fn live(&self) -> Result<Vec<NodeId>, BusError> {
        let nats = |e: &dyn std::fmt::Display| BusError::Nats(e.to_string());
        // The subjects holding a message (a heartbeat, or the deletion of a node that
        // left), then the last entry of each: a small bucket, a few direct reads.
        let subjects: Vec<(String, usize)> = self
            .kv
            .stream
            .info_with_subjects(format!("{}>", self.kv.prefix))
            .await
            .map_err(|e| nats(&e))?
            .try_collect()
            .await
            .map_err(|e| nats(&e))?;
        let mut nodes = Vec::with_capacity(subjects.len());
        for (subject, _) in subjects {
            let Some(key) = subject.strip_prefix(self.kv.prefix.as_str()) else {
                continue;
            };
            let entry = self.kv.entry(key).await.map_err(|e| nats(&e))?;
            if entry.is_some_and(|e| e.operation == kv::Operation::Put)
                && let Ok(node) = NodeId::new(key)
            {
                nodes.push(node);
            }
        }
        nodes.sort();
        Ok(nodes)
    }

    /// Leave the cluster now: stop heartbeating and delete this node's key.
    pub async fn leave(self) -> Result<(), BusError> {
        self.leave_now().await
    }

    /// [`Membership::leave`] for a holder that cannot give the membership away.
    pub async fn leave_now(&self) -> Result<(), BusError> {
        self.heartbeat.abort();
        self.kv
            .delete(self.node.as_str())
            .await
            .map_err(|e| BusError::Nats(e.to_string()))
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}
