//! Secret ballots against someone who reads the store's files: twelve members vote one
//! by one; replaying SQLite's write-ahead log commit by commit (as an attacker with the
//! files would) shows no commit that records a voter and changes the sealed ballot box,
//! and no change of the box smaller than the batch (five by default) but the last, at the
//! close. On PostgreSQL, no row of the box was written by a transaction that recorded a
//! voter. Every ballot is still acknowledged, once, after it is in the box.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Backend, Client, TestServer};
use sqlx::{Connection, Row};
use yishi::hub::HubConfig;
use yishi_protocol::{
    Base, Choice, Command, EventBody, Majority, MajorityRule, Participant, PollId, PollMethod,
    PollSpec, RequestId, ResultsVisibility, Role,
};

const ROOM: &str = "secret";
const VOTERS: usize = 12;
const BATCH: usize = 5;

fn secret_poll() -> PollSpec {
    PollSpec {
        question: "是否同意该项人事安排？".into(),
        method: PollMethod::Single {
            options: vec!["同意".into(), "不同意".into(), "弃权".into()],
        },
        binding: true,
        advisory: false,
        secret: true,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}

/// Run the vote: members vote one at a time, each ballot's `ballot_cast` committed before
/// the next is sent; then the poll closes and every ballot is acknowledged.
async fn vote_one_by_one(server: &TestServer) -> (Client, Vec<Client>) {
    server.create_room(ROOM, "无记名表决").await;
    let mut h = server
        .connect(ROOM, &Participant::new("host", "主持人", Role::Host))
        .await;
    let mut members = Vec::new();
    for i in 0..VOTERS {
        members.push(
            server
                .connect(
                    ROOM,
                    &Participant::new(format!("m{i:02}"), format!("委员{i}"), Role::Member),
                )
                .await,
        );
    }
    h.ok(Command::OpenCheckIn).await;
    for m in &mut members {
        m.ok(Command::CheckIn { head_count: None }).await;
    }
    h.ok(Command::StartSession).await;
    h.ok(Command::CreatePoll {
        spec: secret_poll(),
    })
    .await;
    h.ok(Command::OpenPoll { poll: PollId(1) }).await;
    for (i, m) in members.iter_mut().enumerate() {
        m.send_with(
            RequestId(format!("ballot-{i}")),
            Command::CastBallot {
                poll: PollId(1),
                choice: Choice::Single {
                    option: (i % 3) as u8,
                },
            },
        )
        .await;
        // The host sees the voter as soon as their `ballot_cast` is committed.
        while h
            .events
            .iter()
            .filter(|e| matches!(e.body, EventBody::BallotCast { .. }))
            .count()
            <= i
        {
            h.recv().await.expect("ballot_cast");
        }
    }
    h.ok(Command::ClosePoll { poll: PollId(1) }).await;
    for (i, m) in members.iter_mut().enumerate() {
        let seq = m.answer(&RequestId(format!("ballot-{i}"))).await.unwrap();
        assert!(seq.is_some(), "ballot {i} acknowledged");
    }
    (h, members)
}

/// One committed state of the database: the voters recorded and the box's total.
#[derive(Debug, PartialEq)]
struct State {
    voters: usize,
    boxed: i64,
    closed: bool,
}

async fn state_of(db: &Path) -> State {
    let url = format!("sqlite://{}?mode=ro&immutable=1", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // The first commits create the schema: before them there are no tables.
    let bodies: Vec<String> = sqlx::query("SELECT body FROM events")
        .fetch_all(&mut conn)
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    let boxed: Option<i64> = sqlx::query("SELECT SUM(count) FROM ballot_box")
        .fetch_one(&mut conn)
        .await
        .ok()
        .and_then(|r| r.get(0));
    State {
        voters: bodies
            .iter()
            .filter(|b| b.contains("\"ballot_cast\""))
            .count(),
        boxed: boxed.unwrap_or(0),
        closed: bodies.iter().any(|b| b.contains("\"poll_closed\"")),
    }
}

/// Every committed state the write-ahead log holds, in order, rebuilt from a copy of the
/// database file and the log's frames up to each commit.
async fn states_in_wal(db: &Path, work: &Path) -> Vec<State> {
    let wal = std::fs::read(format!("{}-wal", db.display())).expect("the -wal file");
    let mut pages = std::fs::read(db).unwrap();
    assert!(wal.len() > 32, "an empty WAL");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let page_size = be(&wal[8..12]) as usize;
    let salts = (be(&wal[16..20]), be(&wal[20..24]));
    let mut states = Vec::new();
    let mut at = 32;
    let mut n = 0;
    while at + 24 + page_size <= wal.len() {
        let header = &wal[at..at + 24];
        if (be(&header[8..12]), be(&header[12..16])) != salts {
            break; // frames of an earlier generation of the log
        }
        let page = be(&header[0..4]) as usize;
        let commit_size = be(&header[4..8]) as usize;
        let data = &wal[at + 24..at + 24 + page_size];
        let offset = (page - 1) * page_size;
        if pages.len() < offset + page_size {
            pages.resize(offset + page_size, 0);
        }
        pages[offset..offset + page_size].copy_from_slice(data);
        if commit_size > 0 {
            pages.truncate(commit_size * page_size);
            let snapshot = work.join(format!("commit-{n}.db"));
            std::fs::write(&snapshot, &pages).unwrap();
            states.push(state_of(&snapshot).await);
            n += 1;
        }
        at += 24 + page_size;
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_sqlite_wal_commit_by_commit_links_no_voter_to_a_choice() {
    let hub = HubConfig {
        ballot_batch: BATCH,
        ..HubConfig::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, hub).await;
    let (_h, _members) = vote_one_by_one(&server).await;
    let db = yishi::config::sqlite_path(&server.database).unwrap();
    let work = tempfile::tempdir().unwrap();
    let states = states_in_wal(&db, work.path()).await;
    assert!(states.len() > VOTERS, "{} commits in the WAL", states.len());
    let last = states.last().unwrap();
    assert_eq!(last.voters, VOTERS);
    assert_eq!(last.boxed, VOTERS as i64, "every ballot is in the box");

    // Between consecutive commits: who was recorded, and what the box gained.
    let mut batches = Vec::new();
    let mut voters_since_last_batch = 0;
    for pair in states.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let new_voters = after.voters - before.voters;
        let new_ballots = (after.boxed - before.boxed) as usize;
        assert!(
            new_voters == 0 || new_ballots == 0,
            "one commit recorded {new_voters} voters and {new_ballots} choices"
        );
        voters_since_last_batch += new_voters;
        if new_ballots > 0 {
            batches.push((new_ballots, voters_since_last_batch, after.closed));
            voters_since_last_batch = 0;
        }
    }
    // Twelve ballots: two batches of five, then the last two at the close.
    let sizes: Vec<usize> = batches.iter().map(|b| b.0).collect();
    assert_eq!(sizes, [5, 5, 2], "{batches:?}");
    for (i, (size, voters, closed)) in batches.iter().enumerate() {
        assert_eq!(
            size, voters,
            "a batch holds the ballots of the voters before it"
        );
        let final_at_close = i == batches.len() - 1 && *closed;
        assert!(
            *size >= BATCH || final_at_close,
            "a batch of {size} before the close"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn on_postgresql_no_ballot_box_row_was_written_by_a_transaction_that_recorded_a_voter() {
    let server = TestServer::start(Backend::Postgres).await;
    let (_h, _members) = vote_one_by_one(&server).await;
    let mut conn = sqlx::PgConnection::connect(&server.database).await.unwrap();
    let rows = |sql: &'static str| sqlx::query(sql);
    let boxed: Vec<String> = rows("SELECT xmin::text FROM ballot_box")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let voters: BTreeMap<String, i64> = rows(
        "SELECT xmin::text, COUNT(*) FROM events WHERE body LIKE '%\"ballot_cast\"%' GROUP BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(voters.values().sum::<i64>(), VOTERS as i64);
    assert!(!boxed.is_empty());
    for xmin in &boxed {
        assert!(
            !voters.contains_key(xmin),
            "the transaction {xmin} wrote the box and recorded voters"
        );
    }
}
