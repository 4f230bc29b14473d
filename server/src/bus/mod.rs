//! The bus: what the nodes of a cluster share beyond the store, over NATS.
//!
//! It owns the connection to NATS and the JetStream key-value buckets the nodes
//! coordinate through: room leases ([`Leases`]: which node owns a live room) and node
//! membership ([`Membership`]: which nodes are alive), and the choice of a node for an
//! orphaned room ([`rendezvous`]).
//!
//! It must never be the truth about a room: PostgreSQL is. A lease says who *should*
//! write; the store's epoch decides who *can* (see [`crate::store::Store::claim_room`]).
//! Nothing here holds engine state, and nothing here retries silently: every failure is
//! returned for the caller to act on (an owner that cannot renew steps down).
//!
//! Without `--cluster` none of this runs.

mod lease;
mod nodes;
pub mod rendezvous;

use std::fmt;

pub use lease::{Lease, LeaseError, LeaseKeeper, Leases};
pub use nodes::Membership;

/// Why the bus could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach NATS at {url}: {reason}; is nats-server running there (with -js)?")]
    Connect { url: String, reason: String },
    #[error("JetStream bucket {bucket}: {reason}; is JetStream enabled on the server (-js)?")]
    Bucket { bucket: String, reason: String },
    #[error("NATS: {0}")]
    Nats(String),
}

/// A node's name in the cluster: 1 to 64 ASCII letters, digits, `-` or `_` (it is a key
/// in NATS buckets and a token in subjects).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(String);

#[derive(Debug, thiserror::Error)]
#[error("a node id is 1 to 64 ASCII letters, digits, `-` or `_`; got {0:?}")]
pub struct BadNodeId(pub String);

impl NodeId {
    pub fn new(id: &str) -> Result<NodeId, BadNodeId> {
        if is_token(id) {
            Ok(NodeId(id.to_owned()))
        } else {
            Err(BadNodeId(id.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The NATS subject of this node's `what` (`yishi.node.<node>.<what>`): what the
    /// other nodes send this one alone (relayed connections, requests for its rooms,
    /// forwarded HTTP).
    pub fn subject(&self, what: &str) -> String {
        format!("yishi.node.{}.{what}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for NodeId {
    type Err = BadNodeId;
    fn from_str(s: &str) -> Result<NodeId, BadNodeId> {
        NodeId::new(s)
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A room id as a key-value key or a subject token. Room ids made through the API are
/// tokens already; any other (the CLI takes what it is given) is hex-encoded behind a
/// `=`, which no token contains.
pub fn room_key(room: &str) -> String {
    if is_token(room) {
        room.to_owned()
    } else {
        format!("={}", hex::encode(room.as_bytes()))
    }
}

/// Open the key-value bucket `bucket` whose entries expire `ttl` after they were last
/// written, creating it if need be (one value per key, no history).
///
/// The bucket's stream is created here rather than by the client's own bucket creation,
/// which reads account fields nats-server 2.9 does not send; the stream is the one a
/// key-value bucket is (`KV_<bucket>` over `$KV.<bucket>.>`), so every key-value
/// operation works on it.
pub(crate) async fn open_bucket(
    js: &async_nats::jetstream::Context,
    bucket: &str,
    description: &str,
    ttl: std::time::Duration,
) -> Result<async_nats::jetstream::kv::Store, BusError> {
    use async_nats::jetstream::stream;
    let failed = |e: &dyn fmt::Display| BusError::Bucket {
        bucket: bucket.to_owned(),
        reason: e.to_string(),
    };
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        // The server refuses a deduplication window longer than the age limit.
        duplicate_window: ttl.min(std::time::Duration::from_secs(120)),
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| failed(&e))
    .and_then(|stream| {
        // A bucket made by nodes with another TTL keeps it: every node must agree, or
        // leases would expire while their holders count on them.
        let age = stream.cached_info().config.max_age;
        if age == ttl {
            Ok(())
        } else {
            Err(failed(&format!(
                "it exists with a TTL of {age:?}, not {ttl:?}: every node of a cluster \
                 must use the same --lease-ttl"
            )))
        }
    })?;
    js.get_key_value(bucket).await.map_err(|e| failed(&e))
}

/// Bucket of room leases.
pub const LEASE_BUCKET: &str = "yishi_leases";
/// Bucket of live nodes.
pub const NODE_BUCKET: &str = "yishi_nodes";

/// This node's place in the cluster: its leases and its membership.
pub struct ClusterNode {
    pub leases: std::sync::Arc<Leases>,
    pub membership: Membership,
    /// The node's NATS connection, for what the nodes send each other (relayed
    /// connections).
    pub client: async_nats::Client,
    /// How many times messages to this node may have been lost: the connection dropped
    /// (the client reconnects by itself; what was published to this node meanwhile is
    /// gone), or a subscription overflowed and the client dropped messages.
    pub losses: tokio::sync::watch::Receiver<u64>,
}

impl ClusterNode {
    /// Connect to NATS at `url` and join the cluster as `node`, with leases lasting `ttl`.
    pub async fn join(
        url: &str,
        node: NodeId,
        ttl: std::time::Duration,
    ) -> Result<ClusterNode, BusError> {
        let (client, losses) = connect_watched(url, &node).await?;
        let js = async_nats::jetstream::new(client.clone());
        let leases = Leases::open(&js, LEASE_BUCKET, node.clone(), ttl).await?;
        let membership = Membership::join(&js, NODE_BUCKET, node, ttl).await?;
        Ok(ClusterNode {
            leases: std::sync::Arc::new(leases),
            membership,
            client,
            losses,
        })
    }

    pub fn node(&self) -> &NodeId {
        self.leases.node()
    }
}

/// Connect to NATS at `url` (`nats://[USER:PASSWORD@]HOST:PORT`), naming the connection
/// after the node.
pub async fn connect(url: &str, node: &NodeId) -> Result<async_nats::Client, BusError> {
    Ok(connect_watched(url, node).await?.0)
}

/// [`connect`], and a count of the times messages to it may have been lost.
pub async fn connect_watched(
    url: &str,
    node: &NodeId,
) -> Result<(async_nats::Client, tokio::sync::watch::Receiver<u64>), BusError> {
    let (lost, losses) = tokio::sync::watch::channel(0u64);
    let (address, credentials) = split_credentials(url);
    let options = match credentials {
        Some((user, password)) => {
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
        }
        None => async_nats::ConnectOptions::new(),
    };
    let client = options
        .name(format!("yishi-{node}"))
        .event_callback(move |event| {
            let lost = lost.clone();
            async move {
                match event {
                    async_nats::Event::Disconnected => {
                        tracing::warn!("lost the connection to NATS; reconnecting");
                        metrics::counter!("yishi_nats_disconnects_total").increment(1);
                        lost.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::SlowConsumer(_) => {
                        tracing::warn!(
                            "NATS messages to this node were dropped: it did not keep up"
                        );
                        metrics::counter!("yishi_nats_slow_consumer_total").increment(1);
                        lost.send_modify(|n| *n += 1);
                    }
                    _ => {}
                }
            }
        })
        .connect(address.as_str())
        .await
        .map_err(|e| BusError::Connect {
            url: redact(url),
            reason: e.to_string(),
        })?;
    Ok((client, losses))
}

/// `url` without its user and password, and them apart (the client does not take them
/// from the URL).
fn split_credentials(url: &str) -> (String, Option<(&str, &str)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (format!("{scheme}://{host}"), Some((user, password)))
        }
        None => (url.to_owned(), None),
    }
}

/// `url` fit for a log line or an error: its password replaced.
pub fn redact(url: &str) -> String {
    match split_credentials(url) {
        (address, Some((user, _))) => address.replacen("://", &format!("://{user}:***@"), 1),
        (address, None) => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_tokens() {
        assert!(NodeId::new("node-1").is_ok());
        assert!(NodeId::new("").is_err());
        assert!(NodeId::new("a.b").is_err());
        assert!(NodeId::new("节点").is_err());
        assert!(NodeId::new(&"n".repeat(65)).is_err());
    }

    #[test]
    fn credentials_are_taken_out_of_the_url_and_never_shown() {
        assert_eq!(
            split_credentials("nats://yishi:s3cret@10.0.0.5:4222"),
            ("nats://10.0.0.5:4222".to_owned(), Some(("yishi", "s3cret")))
        );
        assert_eq!(
            split_credentials("nats://10.0.0.5:4222"),
            ("nats://10.0.0.5:4222".to_owned(), None)
        );
        assert_eq!(
            redact("nats://yishi:s3cret@10.0.0.5:4222"),
            "nats://yishi:***@10.0.0.5:4222"
        );
        assert_eq!(redact("nats://10.0.0.5:4222"), "nats://10.0.0.5:4222");
    }

    #[test]
    fn a_room_key_is_a_token_or_hex() {
        assert_eq!(room_key("r-1_a"), "r-1_a");
        assert_eq!(room_key("会议 1"), format!("={}", hex::encode("会议 1")));
        assert_ne!(room_key("a.b"), room_key("a_b"));
    }
}
