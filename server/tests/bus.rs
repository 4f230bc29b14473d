//! The cluster bus against a real NATS server with JetStream (`YISHI_TEST_NATS`): room
//! leases and node membership. Each test uses buckets of its own, deleted after it.
//! Without `YISHI_TEST_NATS` these tests are reported as ignored; with it, a NATS that
//! does not answer fails them.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use yishi::bus::{LeaseError, LeaseKeeper, Leases, Membership, NodeId};

/// Generous: the machine may be busy.
const PATIENCE: Duration = Duration::from_secs(30);

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn nats() -> jetstream::Context {
    let url = std::env::var("YISHI_TEST_NATS")
        .expect("YISHI_TEST_NATS names the NATS server for these tests");
    let client = async_nats::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("YISHI_TEST_NATS={url} does not answer: {e}"));
    jetstream::new(client)
}

fn node(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

/// Wait until `check` holds, polling; fail after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[cfg_attr(
    not(yishi_nats),
    ignore = "needs NATS with JetStream: set YISHI_TEST_NATS"
)]
async fn one_node_at_a_time_holds_a_room_and_a_released_room_is_free_at_once() {
    let js = nats().await;
    let bucket = unique("t_leases");
    let ttl = Duration::from_secs(30);
    let a = Leases::open(&js, &bucket, node("node-a"), ttl)
        .await
        .unwrap();
    let b = Leases::open(&js, &bucket, node("node-b"), ttl)
        .await
        .unwrap();

    let mut lease = a.acquire("r1").await.unwrap();
    assert_eq!(lease.room(), "r1");
    assert_eq!(
        b.acquire("r1").await.unwrap_err(),
        LeaseError::Held {
            room: "r1".into(),
            by: "node-a".into()
        }
    );
    assert_eq!(b.holder("r1").await.unwrap().as_deref(), Some("node-a"));
    // Another room is another lease.
    let other = b.acquire("r2").await.unwrap();

    a.renew(&mut lease).await.unwrap();
    a.renew(&mut lease).await.unwrap();
    assert!(lease.valid_until() > tokio::time::Instant::now());
    assert!(matches!(
        b.acquire("r1").await,
        Err(LeaseError::Held { .. })
    ));

    a.release(lease).await.unwrap();
    assert_eq!(b.holder("r1").await.unwrap(), None);
    let taken = b.acquire("r1").await.unwrap();
    assert_eq!(a.holder("r1").await.unwrap().as_deref(), Some("node-b"));
    b.release(taken).await.unwrap();
    b.release(other).await.unwrap();
    js.delete_stream(format!("KV_{bucket}")).await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(yishi_nats),
    ignore = "needs NATS with JetStream: set YISHI_TEST_NATS"
)]
async fn a_lease_not_renewed_expires_and_its_old_holder_cannot_renew_it() {
    let js = nats().await;
    let bucket = unique("t_leases");
    let ttl = Duration::from_secs(1);
    let a = Leases::open(&js, &bucket, node("node-a"), ttl)
        .await
        .unwrap();
    let b = Leases::open(&js, &bucket, node("node-b"), ttl)
        .await
        .unwrap();

    let mut stale = a.acquire("r1").await.unwrap();
    // a pauses; once the TTL has passed, b takes the room.
    let started = Instant::now();
    let mut taken = loop {
        match b.acquire("r1").await {
            Ok(lease) => break lease,
            Err(LeaseError::Held { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(started.elapsed() < PATIENCE, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "taken before its TTL"
    );
    // a wakes up: its renewal is refused.
    assert_eq!(
        a.renew(&mut stale).await.unwrap_err(),
        LeaseError::Lost { room: "r1".into() }
    );
    b.renew(&mut taken).await.unwrap();
    assert_eq!(a.holder("r1").await.unwrap().as_deref(), Some("node-b"));
    js.delete_stream(format!("KV_{bucket}")).await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(yishi_nats),
    ignore = "needs NATS with JetStream: set YISHI_TEST_NATS"
)]
async fn a_kept_lease_outlives_its_ttl_and_an_owner_that_loses_it_is_told() {
    let js = nats().await;
    let bucket = unique("t_leases");
    let ttl = Duration::from_secs(1);
    let a = Arc::new(
        Leases::open(&js, &bucket, node("node-a"), ttl)
            .await
            .unwrap(),
    );
    let b = Leases::open(&js, &bucket, node("node-b"), ttl)
        .await
        .unwrap();

    let mut keeper = LeaseKeeper::spawn(a.clone(), a.acquire("r1").await.unwrap());
    // Three TTLs later, a still holds it.
    tokio::time::sleep(ttl * 3).await;
    assert!(!keeper.is_lost());
    assert!(matches!(
        b.acquire("r1").await,
        Err(LeaseError::Held { .. })
    ));

    // Someone overwrites the key (as if a's lease had expired and b taken it): a's next
    // renewal fails and the keeper says so.
    let admin = js.get_key_value(&bucket).await.unwrap();
    admin
        .put(yishi::bus::room_key("r1"), "node-b".into())
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, keeper.lost()).await.unwrap();
    assert!(keeper.is_lost());

    // A released keeper frees the room at once.
    let keeper = LeaseKeeper::spawn(a.clone(), a.acquire("r2").await.unwrap());
    keeper.release().await;
    b.acquire("r2").await.unwrap();
    js.delete_stream(format!("KV_{bucket}")).await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(yishi_nats),
    ignore = "needs NATS with JetStream: set YISHI_TEST_NATS"
)]
async fn live_nodes_are_those_that_heartbeat() {
    let js = nats().await;
    let bucket = unique("t_nodes");
    let ttl = Duration::from_secs(1);
    let a = Membership::join(&js, &bucket, node("node-a"), ttl)
        .await
        .unwrap();
    let b = Membership::join(&js, &bucket, node("node-b"), ttl)
        .await
        .unwrap();
    let c = Membership::join(&js, &bucket, node("node-c"), ttl)
        .await
        .unwrap();
    assert_eq!(
        a.live().await.unwrap(),
        vec![node("node-a"), node("node-b"), node("node-c")]
    );
    // Heartbeats keep them past the TTL.
    tokio::time::sleep(ttl * 3).await;
    assert_eq!(a.live().await.unwrap().len(), 3);

    // c leaves cleanly: gone at once. b dies (drops without leaving): gone after the TTL.
    c.leave().await.unwrap();
    assert_eq!(
        a.live().await.unwrap(),
        vec![node("node-a"), node("node-b")]
    );
    drop(b);
    eventually("b drops out", || async {
        a.live().await.unwrap() == vec![node("node-a")]
    })
    .await;
    a.leave().await.unwrap();
    js.delete_stream(format!("KV_{bucket}")).await.unwrap();
}

/// A node reaches a NATS that wants a user and password with them in the URL (the
/// client library does not take them from it by itself), and a wrong one is refused
/// without the password in the error. A nats-server of its own, with authentication.
#[tokio::test]
#[cfg_attr(
    not(yishi_nats),
    ignore = "needs nats-server (set YISHI_TEST_NATS when it is installed)"
)]
async fn a_node_logs_in_to_nats_with_the_credentials_in_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = yishi_testkit::nats_server().expect("nats-server is installed");
    let mut server = std::process::Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["--user", "yishi", "--pass", "s3cret-pw"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let me = node(&unique("auth"));
    let good = format!("nats://yishi:s3cret-pw@127.0.0.1:{port}");
    let started = Instant::now();
    let client = loop {
        match yishi::bus::connect(&good, &me).await {
            Ok(client) => break client,
            Err(e) => assert!(started.elapsed() < PATIENCE, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    client.flush().await.unwrap();
    let bad = format!("nats://yishi:wrong-pw@127.0.0.1:{port}");
    let err = yishi::bus::connect(&bad, &me)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(!err.contains("wrong-pw"), "{err}");
    assert!(err.contains("yishi:***@"), "{err}");
    server.kill().unwrap();
    server.wait().unwrap();
}
