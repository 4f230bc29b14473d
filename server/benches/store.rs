//! How much group commit buys, and what the vote storm costs the store: timings, not
//! assertions. On SQLite in a temporary directory, and on PostgreSQL at `YISHI_TEST_PG`
//! when it is set (each run in a fresh schema).
//!
//! Run: `cargo bench -p yishi-server --bench store` (`YISHI_STORE_TIMING_N` appends,
//! default 10,000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use sqlx::Connection;
use yishi::room::{Chain, SealedBallot};
use yishi::store::{Append, NewRoom, RoomKind, Store};
use yishi_protocol::{
    Choice, Electorate, Event, EventBody, Millis, ParticipantId, PollId, RecordEntry, RequestId,
    YesNo,
};

/// A room's events as the engine would make them, sealed into a chain.
struct Writer {
    chain: Chain,
    seq: u32,
}

impl Writer {
    fn entry(&mut self, actor: &str, body: EventBody) -> RecordEntry {
        self.seq += 1;
        self.chain.seal(Event {
            seq: self.seq,
            at: Millis(1_700_000_000_000 + 250 * u64::from(self.seq)),
            actor: Some(ParticipantId::new(actor)),
            body,
        })
    }
}

fn writer() -> Writer {
    Writer {
        chain: Chain::default(),
        seq: 0,
    }
}

fn append(room: &str, entries: Vec<RecordEntry>, sealed: Vec<SealedBallot>) -> Append {
    Append {
        room: room.to_owned(),
        epoch: Default::default(),
        entries,
        requests: Vec::new(),
        sealed,
    }
}

async fn new_room(store: &Store, n: usize) -> String {
    let id = format!("bench-{n}");
    store
        .create_room(&NewRoom {
            id: id.clone(),
            title: "bench".into(),
            kind: RoomKind::Consultation,
            created_at: Millis(1_700_000_000_000),
            settings: serde_json::json!({}),
        })
        .await
        .unwrap();
    id
}

async fn run(store: &Store) {
    let n: usize = std::env::var("YISHI_STORE_TIMING_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let rooms = 100;
    let mut next_room = 0;
    for mode in ["batches of 100", "one by one"] {
        let mut ids = Vec::new();
        let mut writers = Vec::new();
        for _ in 0..rooms {
            ids.push(new_room(store, next_room).await);
            next_room += 1;
            writers.push(writer());
        }
        let appends: Vec<Append> = (0..n)
            .map(|i| {
                let r = i % rooms;
                let note = EventBody::Annotated {
                    text: "a short note".into(),
                };
                append(&ids[r], vec![writers[r].entry("m1", note)], vec![])
            })
            .collect();
        let started = Instant::now();
        if mode == "one by one" {
            for a in &appends {
                store.append(std::slice::from_ref(a)).await.unwrap();
            }
        } else {
            for batch in appends.chunks(100) {
                store.append(batch).await.unwrap();
            }
        }
        let elapsed = started.elapsed();
        println!(
            "{}: {n} single-entry appends, {mode}: {:.3} s, {:.0} appends/s",
            store.backend(),
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
    }

    // The vote storm's shape: 19,000 secret ballots in one room, the voters (`ballot_cast`)
    // and the choices (the sealed box) in transactions of their own, 500 at a time.
    let room = new_room(store, next_room).await;
    let mut w = writer();
    let votes = [YesNo::Yes, YesNo::No, YesNo::Abstain];
    let started = Instant::now();
    for chunk in 0..38 {
        let voters: Vec<RecordEntry> = (0..500)
            .map(|i| {
                let voter = format!("v{}", chunk * 500 + i);
                w.entry(
                    &voter,
                    EventBody::BallotCast {
                        poll: PollId(1),
                        electorate: Electorate::Binding,
                        voter: ParticipantId::new(&voter),
                        req: RequestId(format!("{voter}-1")),
                        choice: None,
                    },
                )
            })
            .collect();
        store
            .append(&[append(&room, voters, vec![])])
            .await
            .unwrap();
        let choices: Vec<SealedBallot> = (0..500)
            .map(|i| SealedBallot {
                poll: PollId(1),
                electorate: Electorate::Binding,
                choice: Choice::YesNoAbstain { vote: votes[i % 3] },
            })
            .collect();
        store
            .append(&[append(&room, vec![], choices)])
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "{}: 19000 secret ballots in one room, voters and choices apart, 500 at a time: {:.3} s, {:.0} ballots/s",
        store.backend(),
        elapsed.as_secs_f64(),
        19_000.0 / elapsed.as_secs_f64()
    );
    assert_eq!(store.load(&room).await.unwrap().sealed.len(), 19_000);
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/yishi.db", dir.path().display());
    run(&Store::open(&url).await.unwrap()).await;
    if let Ok(base) = std::env::var("YISHI_TEST_PG") {
        let schema = format!("yishi_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let store = Store::open(&format!("{base}{sep}options=-csearch_path%3D{schema}"))
            .await
            .unwrap();
        run(&store).await;
        store.close().await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
