//! Room leases: which node owns a live room, as keys of a JetStream key-value bucket
//! whose entries expire after the lease's TTL. `create` acquires (it fails if the key
//! exists), `update` by revision renews (it fails if anyone wrote the key since), a
//! delete by revision releases.
//!
//! A lease is advice with a deadline: its holder must stop serving the room before the
//! deadline unless it renewed, and the store's epoch fences whoever does not. This
//! module keeps time with the local monotonic clock, from before each request was sent,
//! so it errs on the side of stepping down early. It never touches the store.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::{BusError, NodeId, open_bucket, room_key};

/// Why a lease was not obtained or kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Another node holds the room: send its commands there.
    #[error("room {room:?} is owned by node {by}")]
    Held { room: String, by: String },
    /// The lease expired or someone else wrote it: stop serving the room now.
    #[error("the lease of room {room:?} was lost (it expired or was taken)")]
    Lost { room: String },
    /// NATS did not answer as expected: try again, and step down when the lease's
    /// deadline passes without a renewal.
    #[error("NATS did not answer about room {room:?}'s lease: {reason}")]
    Unreachable { room: String, reason: String },
}

/// The leases of one node, in one bucket.
pub struct Leases {
    kv: kv::Store,
    node: NodeId,
    ttl: Duration,
}

/// A lease held: the room, the revision of its key, and until when it is ours for sure.
#[derive(Debug, Clone)]
pub struct Lease {
    room: String,
    key: String,
    revision: u64,
    valid_until: Instant,
}

impl Lease {
    pub fn room(&self) -> &str {
        &self.room
    }

    /// Until when the lease is certainly ours: the time the last successful request was
    /// sent, plus nine tenths of the TTL (a margin for the clocks' rates).
    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }
}

impl Leases {
    /// Open (creating it if need be) the bucket `bucket` of leases lasting `ttl`.
    pub async fn open(
        js: &jetstream::Context,
        bucket: &str,
        node: NodeId,
        ttl: Duration,
    ) -> Result<Leases, BusError> {
        let kv = open_bucket(js, bucket, "yishi: which node owns each live room", ttl).await?;
        Ok(Leases { kv, node, ttl })
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn deadline(&self, sent: Instant) -> Instant {
        sent + self.ttl.mul_f64(0.9)
    }

    /// Take the lease of `room` if no one holds it.
    pub async fn acquire(&self, room: &str) -> Result<Lease, LeaseError> {
        let key = room_key(room);
        let sent = Instant::now();
        match self.kv.create(&key, self.value()).await {
            Ok(revision) => Ok(Lease {
                room: room.to_owned(),
                key,
                revision,
                valid_until: self.deadline(sent),
            }),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let by = self
                    .holder(room)
                    .await?
                    .unwrap_or_else(|| "(a node whose lease just ended)".to_owned());
                Err(LeaseError::Held {
                    room: room.to_owned(),
                    by,
                })
            }
            Err(e) => Err(unreachable(room, e)),
        }
    }

    /// Renew `lease`: it is ours for another TTL, unless someone took it since.
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), LeaseError> {
        let sent = Instant::now();
        match self
            .kv
            .update(&lease.key, self.value(), lease.revision)
            .await
        {
            Ok(revision) => {
                lease.revision = revision;
                lease.valid_until = self.deadline(sent);
                metrics::counter!("yishi_lease_renewals_total").increment(1);
                Ok(())
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Err(LeaseError::Lost {
                room: lease.room.clone(),
            }),
            Err(e) => Err(unreachable(&lease.room, e)),
        }
    }

    /// Give `lease` up at once (a planned hand-over), if it is still ours.
    pub async fn release(&self, lease: Lease) -> Result<(), LeaseError> {
        self.kv
            .delete_expect_revision(&lease.key, Some(lease.revision))
            .await
            .map_err(|e| unreachable(&lease.room, e))
    }

    /// The node holding `room`'s lease, if any.
    pub async fn holder(&self, room: &str) -> Result<Option<String>, LeaseError> {
        let entry = self
            .kv
            .entry(room_key(room))
            .await
            .map_err(|e| unreachable(room, e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .map(|e| String::from_utf8_lossy(&e.value).into_owned()))
    }

    fn value(&self) -> Bytes {
        Bytes::copy_from_slice(self.node.as_str().as_bytes())
    }
}

fn unreachable(room: &str, e: impl std::fmt::Display) -> LeaseError {
    LeaseError::Unreachable {
        room: room.to_owned(),
        reason: e.to_string(),
    }
}

/// Keeps a lease: renews it every third of its TTL, retries a renewal NATS did not
/// answer, and reports the lease lost when someone else wrote it or its deadline passed
/// without a renewal. Whoever holds the keeper must stop serving the room then.
pub struct LeaseKeeper {
    lost: watch::Receiver<bool>,
    release: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl LeaseKeeper {
    pub fn spawn(leases: Arc<Leases>, mut lease: Lease) -> LeaseKeeper {
        let (lost_tx, lost) = watch::channel(false);
        let (release, mut released) = oneshot::channel::<oneshot::Sender<()>>();
        tokio::spawn(async move {
            let every = leases.ttl() / 3;
            let mut next = Instant::now() + every;
            loop {
                let deadline = lease.valid_until();
                tokio::select! {
                    done = &mut released => {
                        if let Err(e) = leases.release(lease).await {
                            tracing::warn!(error = %e, "lease not released; it will expire");
                        }
                        if let Ok(done) = done {
                            let _ = done.send(());
                        }
                        return;
                    }
                    _ = tokio::time::sleep_until(next.min(deadline)) => {}
                }
                if Instant::now() >= deadline {
                    tracing::warn!(room = %lease.room(), "lease deadline passed without a renewal");
                    break;
                }
                match leases.renew(&mut lease).await {
                    Ok(()) => next = Instant::now() + every,
                    Err(LeaseError::Unreachable { reason, .. }) => {
                        tracing::warn!(room = %lease.room(), %reason, "lease renewal failed; retrying");
                        next = Instant::now() + every / 4;
                    }
                    Err(e) => {
                        tracing::warn!(room = %lease.room(), error = %e, "lease lost");
                        break;
                    }
                }
            }
            metrics::counter!("yishi_lease_losses_total").increment(1);
            let _ = lost_tx.send(true);
        });
        LeaseKeeper {
            lost,
            release: Some(release),
        }
    }

    /// Whether the lease is lost.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves once the lease is lost.
    pub async fn lost(&mut self) {
        // An error means the keeper's task is gone: the lease is not kept any more.
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Stop renewing and give the lease up now, for another node to take at once.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            let (done, wait) = oneshot::channel();
            if release.send(done).is_ok() {
                let _ = wait.await;
            }
        }
    }
}
