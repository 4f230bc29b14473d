//! The store, against both backends: SQLite in a temporary directory, and PostgreSQL at
//! `YISHI_TEST_PG`, each test in a fresh schema of its own. Without `YISHI_TEST_PG` the
//! PostgreSQL variants are reported as ignored; with it, a PostgreSQL that does not
//! answer fails them. (Timings are a benchmark: `cargo bench --bench store`.)

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use yishi::board::TopicId;
use yishi::room::{Chain, GENESIS, Room, SealedBallot, verify_chain};
use yishi::store::{Append, Epoch, NewRoom, RoomKind, SearchDoc, Store, StoreError};
use yishi_protocol::{
    Choice, Electorate, Event, EventBody, Millis, ParticipantId, PollId, RecordEntry, Recording,
    RequestId, YesNo,
};

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store for one test, and what to clean up after it.
enum Fixture {
    Sqlite(Store, tempfile::TempDir),
    Postgres(Store, String, String),
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/yishi.db", dir.path().display());
        Fixture::Sqlite(Store::open(&url).await.unwrap(), dir)
    }

    async fn postgres() -> Fixture {
        let base = std::env::var("YISHI_TEST_PG")
            .expect("YISHI_TEST_PG names the PostgreSQL for these tests");
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("YISHI_TEST_PG={base} does not answer: {e}"));
        let schema = unique("yishi_t");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        Fixture::Postgres(Store::open(&url).await.unwrap(), base, schema)
    }

    fn store(&self) -> &Store {
        match self {
            Fixture::Sqlite(store, _) | Fixture::Postgres(store, _, _) => store,
        }
    }

    async fn finish(self) {
        match self {
            Fixture::Sqlite(store, dir) => {
                store.close().await;
                drop(dir);
            }
            Fixture::Postgres(store, base, schema) => {
                store.close().await;
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// Each test body runs once per backend.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let fixture = super::Fixture::sqlite().await;
                super::$name(fixture.store()).await;
                fixture.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
            async fn postgres() {
                let fixture = super::Fixture::postgres().await;
                super::$name(fixture.store()).await;
                fixture.finish().await;
            }
        }
    };
}

on_both!(round_trip);
on_both!(broken_continuation_writes_nothing);
on_both!(sealed_ballots_are_counts_and_a_reset_clears_them);
on_both!(entries_since_resumes);
on_both!(entries_of_one_type_are_found_by_their_type_only);
on_both!(rooms_are_listed_and_closed);
on_both!(a_writer_whose_room_was_claimed_since_cannot_append);
on_both!(a_claim_sees_everything_the_previous_writer_wrote);
on_both!(the_committer_refuses_only_the_fenced_room);
on_both!(the_board_search_finds_words_from_two_characters_on);
on_both!(query_syntax_is_searched_for_never_obeyed);
on_both!(a_topic_out_of_the_public_list_is_no_longer_found);

async fn new_room(store: &Store, tag: &str) -> String {
    let id = unique(tag);
    store
        .create_room(&NewRoom {
            id: id.clone(),
            title: format!("议事 {tag}"),
            kind: RoomKind::Consultation,
            created_at: Millis(1_700_000_000_000),
            settings: serde_json::json!({ "language": "zh" }),
        })
        .await
        .unwrap();
    id
}

/// A room's events as the engine would make them, sealed into a chain.
struct Writer {
    chain: Chain,
    seq: u32,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            chain: Chain::default(),
            seq: 0,
        }
    }

    fn entry(&mut self, actor: Option<&str>, body: EventBody) -> RecordEntry {
        self.seq += 1;
        self.chain.seal(Event {
            seq: self.seq,
            at: Millis(1_700_000_000_000 + 250 * u64::from(self.seq)),
            actor: actor.map(ParticipantId::new),
            body,
        })
    }

    /// A writer that goes on from where this one is, independently.
    fn clone_writer(&self) -> Writer {
        Writer {
            chain: self.chain.clone(),
            seq: self.seq,
        }
    }

    fn note(&mut self, text: &str) -> RecordEntry {
        self.entry(
            Some("m1"),
            EventBody::Annotated {
                text: text.to_owned(),
            },
        )
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

fn yes_no(poll: u32, electorate: Electorate, vote: YesNo) -> SealedBallot {
    SealedBallot {
        poll: PollId(poll),
        electorate,
        choice: Choice::YesNoAbstain { vote },
    }
}

async fn round_trip(store: &Store) {
    let room = new_room(store, "round").await;
    let other = new_room(store, "round").await;
    assert_eq!(store.head(&room).await.unwrap(), None);
    assert!(store.load(&room).await.unwrap().entries.is_empty());

    let mut w = Writer::new();
    let mut o = Writer::new();
    let first = vec![
        w.note("开会了 — \"quotes\", \\ and \u{1F600}"),
        w.entry(
            None,
            EventBody::TurnWarned {
                turn: yishi_protocol::TurnId(3),
            },
        ),
        w.entry(
            Some("m2"),
            EventBody::CheckedIn {
                participant: ParticipantId::new("m2"),
                head_count: Some(41),
            },
        ),
    ];
    let second = vec![
        w.entry(
            Some("m2"),
            EventBody::BallotCast {
                poll: PollId(1),
                electorate: Electorate::Binding,
                voter: ParticipantId::new("m2"),
                req: RequestId("r-1".into()),
                choice: Some(Choice::Multiple {
                    options: vec![0, 2],
                }),
            },
        ),
        w.entry(
            Some("m1"),
            EventBody::Left {
                participant: ParticipantId::new("m1"),
            },
        ),
    ];
    // Two rooms in one batch, and the same room twice: the second continues the first.
    store
        .append(&[
            append(&room, first.clone(), vec![]),
            append(&other, vec![o.note("elsewhere")], vec![]),
            append(&room, second.clone(), vec![]),
        ])
        .await
        .unwrap();
    // From a spawned task: the future is Send.
    let third = w.note("third batch");
    let spawned = store.clone();
    let batch = vec![append(&room, vec![third.clone()], vec![])];
    tokio::spawn(async move { spawned.append(&batch).await })
        .await
        .unwrap()
        .unwrap();

    let expected: Vec<RecordEntry> = first.into_iter().chain(second).chain([third]).collect();
    let loaded = store.load(&room).await.unwrap();
    assert_eq!(loaded.entries, expected);
    assert!(loaded.sealed.is_empty());
    let final_hash = verify_chain(&loaded.entries).unwrap();
    assert_eq!(store.head(&room).await.unwrap(), Some((6, final_hash)));

    let elsewhere = store.load(&other).await.unwrap();
    assert_eq!(elsewhere.entries.len(), 1);
    assert_eq!(elsewhere.entries[0].prev, GENESIS);
    let events: Vec<Event> = elsewhere.entries.iter().map(|e| e.event.clone()).collect();
    assert_eq!(Room::replay("议事", &events, &elsewhere.sealed).seq(), 1);
}

async fn broken_continuation_writes_nothing(store: &Store) {
    let good = new_room(store, "good").await;
    let bad = new_room(store, "bad").await;
    let mut g = Writer::new();
    let mut b = Writer::new();
    store
        .append(&[append(&bad, vec![b.note("one")], vec![])])
        .await
        .unwrap();

    // A gap in the sequence.
    let good_entry = g.note("would be fine alone");
    let mut skipping = Writer::new();
    skipping.note("x");
    skipping.note("y");
    let gap = skipping.note("seq 3");
    let err = store
        .append(&[
            append(
                &good,
                vec![good_entry.clone()],
                vec![yes_no(1, Electorate::Binding, YesNo::Yes)],
            ),
            append(&bad, vec![gap], vec![]),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::OutOfOrder { ref room, expected: 2, found: 3 } if *room == bad),
        "{err}"
    );

    // The right number, the wrong link (a chain of its own).
    let mut forked = Writer::new();
    forked.note("not the same first entry");
    let fork = forked.note("two");
    let err = store
        .append(&[
            append(&good, vec![good_entry.clone()], vec![]),
            append(&bad, vec![fork], vec![]),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::BrokenLink { seq: 2, .. }),
        "{err}"
    );

    // A room that does not exist.
    let err = store
        .append(&[
            append(&good, vec![good_entry.clone()], vec![]),
            append("no-such-room", vec![Writer::new().note("x")], vec![]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRoom(_)), "{err}");

    // Within one batch, a repeated entry is caught too.
    let err = store
        .append(&[
            append(&good, vec![good_entry.clone()], vec![]),
            append(&good, vec![good_entry.clone()], vec![]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfOrder { .. }), "{err}");

    assert!(store.load(&good).await.unwrap().entries.is_empty());
    assert!(store.load(&good).await.unwrap().sealed.is_empty());
    assert_eq!(store.load(&bad).await.unwrap().entries.len(), 1);
    assert_eq!(store.head(&good).await.unwrap(), None);

    // And after all that, the right continuation goes in.
    store
        .append(&[
            append(&good, vec![good_entry], vec![]),
            append(&bad, vec![b.note("two")], vec![]),
        ])
        .await
        .unwrap();
    assert_eq!(store.load(&bad).await.unwrap().entries.len(), 2);
    verify_chain(&store.load(&bad).await.unwrap().entries).unwrap();
}

fn cast(w: &mut Writer, voter: &str, poll: u32, electorate: Electorate) -> RecordEntry {
    w.entry(
        Some(voter),
        EventBody::BallotCast {
            poll: PollId(poll),
            electorate,
            voter: ParticipantId::new(voter),
            req: RequestId(format!("{voter}-{poll}")),
            choice: None,
        },
    )
}

async fn sealed_ballots_are_counts_and_a_reset_clears_them(store: &Store) {
    use Electorate::{Advisory, Binding};
    use YesNo::{Abstain, No, Yes};
    let room = new_room(store, "ballots").await;
    let mut w = Writer::new();
    // Votes arrive in an order; the box must not keep it.
    let votes = [
        ("m1", 1, Binding, No),
        ("m2", 1, Binding, Yes),
        ("a1", 1, Advisory, Yes),
        ("m3", 1, Binding, No),
        ("m4", 2, Binding, Abstain),
        ("m5", 1, Binding, Yes),
        ("m6", 1, Binding, No),
    ];
    for chunk in votes.chunks(3) {
        let batch: Vec<Append> = chunk
            .iter()
            .map(|&(voter, poll, electorate, vote)| {
                append(
                    &room,
                    vec![cast(&mut w, voter, poll, electorate)],
                    vec![yes_no(poll, electorate, vote)],
                )
            })
            .collect();
        store.append(&batch).await.unwrap();
    }
    let loaded = store.load(&room).await.unwrap();
    let expected = {
        let mut all: Vec<SealedBallot> = votes
            .iter()
            .map(|&(_, poll, electorate, vote)| yes_no(poll, electorate, vote))
            .collect();
        all.sort_by_key(|b| {
            (
                b.poll,
                serde_json::to_string(&b.electorate).unwrap(),
                serde_json::to_string(&b.choice).unwrap(),
            )
        });
        all
    };
    assert_eq!(loaded.sealed, expected);
    // Whatever the order of casting, the box reads the same: grouped, canonical.
    assert_eq!(
        loaded.sealed.iter().filter(|b| b.poll == PollId(1)).count(),
        6
    );

    // A reset of poll 1 empties its box, not poll 2's; ballots in the same batch that
    // come after the reset count, those before it do not.
    let late = cast(&mut w, "m7", 1, Binding);
    let reset = w.entry(
        Some("h1"),
        EventBody::PollReset {
            poll: PollId(1),
            reason: "wrong question".into(),
        },
    );
    let recast = cast(&mut w, "m1", 1, Binding);
    store
        .append(&[
            append(&room, vec![late], vec![yes_no(1, Binding, Yes)]),
            append(&room, vec![reset], vec![]),
            append(&room, vec![recast], vec![yes_no(1, Binding, Abstain)]),
        ])
        .await
        .unwrap();
    let loaded = store.load(&room).await.unwrap();
    assert_eq!(
        loaded.sealed,
        vec![yes_no(1, Binding, Abstain), yes_no(2, Binding, Abstain)]
    );
    verify_chain(&loaded.entries).unwrap();
    assert_eq!(loaded.entries.len(), 10);
}

async fn entries_since_resumes(store: &Store) {
    let room = new_room(store, "since").await;
    let mut w = Writer::new();
    let entries: Vec<RecordEntry> = (0..25).map(|i| w.note(&format!("note {i}"))).collect();
    store
        .append(&[append(&room, entries.clone(), vec![])])
        .await
        .unwrap();
    assert_eq!(store.entries_since(&room, 0, 100).await.unwrap(), entries);
    assert_eq!(
        store.entries_since(&room, 10, 5).await.unwrap(),
        entries[10..15].to_vec()
    );
    assert_eq!(
        store.entries_since(&room, 20, 100).await.unwrap(),
        entries[20..].to_vec()
    );
    assert!(
        store
            .entries_since(&room, 25, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .entries_since("nobody", 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn entries_of_one_type_are_found_by_their_type_only(store: &Store) {
    let room = new_room(store, "types").await;
    let other = new_room(store, "types").await;
    let archived = |file: &str| EventBody::RecordingArchived {
        recording: Recording {
            file: file.to_owned(),
            bytes: 1234,
            sha256: "ab".repeat(32),
        },
    };
    let mut w = Writer::new();
    let entries = vec![
        w.note("before"),
        w.entry(None, archived("stage-1.ts")),
        // A text that holds the type's prefix is still a note.
        w.note(r#"{"type":"recording_archived","#),
        w.entry(None, archived("stage-2.ts")),
    ];
    let mut o = Writer::new();
    store
        .append(&[
            append(&room, entries.clone(), vec![]),
            append(&other, vec![o.entry(None, archived("stage-9.ts"))], vec![]),
        ])
        .await
        .unwrap();
    let found = store
        .entries_of_type(&room, "recording_archived")
        .await
        .unwrap();
    assert_eq!(found, vec![entries[1].clone(), entries[3].clone()]);
    assert_eq!(
        store
            .entries_of_type(&room, "annotated")
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .entries_of_type(&room, "poll_opened")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rooms_are_listed_and_closed(store: &Store) {
    let a = new_room(store, "list").await;
    let b = unique("list");
    store
        .create_room(&NewRoom {
            id: b.clone(),
            title: "公开课".into(),
            kind: RoomKind::Lecture,
            created_at: Millis(1_700_000_000_001),
            settings: serde_json::json!({}),
        })
        .await
        .unwrap();
    let err = store
        .create_room(&NewRoom {
            id: a.clone(),
            title: "again".into(),
            kind: RoomKind::Lecture,
            created_at: Millis(0),
            settings: serde_json::Value::Null,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RoomExists(ref id) if *id == a),
        "{err}"
    );

    let listed: Vec<_> = store
        .list_rooms()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.id == a || r.id == b)
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, a);
    assert_eq!(listed[0].kind, RoomKind::Consultation);
    assert_eq!(listed[0].settings, serde_json::json!({ "language": "zh" }));
    assert_eq!(listed[1].kind, RoomKind::Lecture);
    assert_eq!(listed[1].title, "公开课");
    assert!(listed.iter().all(|r| r.closed_at.is_none()));
    assert_eq!(store.room("nobody").await.unwrap(), None);

    let mut w = Writer::new();
    let entries = vec![w.note("one"), w.note("two")];
    store
        .append(&[append(&a, entries.clone(), vec![])])
        .await
        .unwrap();
    let err = store
        .close_room(&a, &entries[0].hash, Millis(1_700_000_009_000))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::FinalHashMismatch { .. }), "{err}");
    store
        .close_room(&a, &entries[1].hash, Millis(1_700_000_009_000))
        .await
        .unwrap();
    let closed = store.room(&a).await.unwrap().unwrap();
    assert_eq!(closed.closed_at, Some(Millis(1_700_000_009_000)));
    assert_eq!(closed.final_hash.as_deref(), Some(entries[1].hash.as_str()));
    let err = store
        .append(&[append(&a, vec![w.note("too late")], vec![])])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RoomClosed(_)), "{err}");
    let err = store
        .close_room(&a, &entries[1].hash, Millis(1_700_000_010_000))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RoomClosed(_)), "{err}");
    // An empty room closes on the genesis hash.
    store
        .close_room(&b, GENESIS, Millis(1_700_000_011_000))
        .await
        .unwrap();
    let err = store
        .close_room("nobody", GENESIS, Millis(0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRoom(_)), "{err}");
}

#[tokio::test]
async fn a_sqlite_file_store_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/dir/yishi.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    let room = new_room(&store, "reopen").await;
    let mut w = Writer::new();
    let entries = vec![w.note("before"), cast(&mut w, "m1", 4, Electorate::Binding)];
    store
        .append(&[append(
            &room,
            entries.clone(),
            vec![yes_no(4, Electorate::Binding, YesNo::No)],
        )])
        .await
        .unwrap();
    // WAL mode: the log sits beside the database while it is open.
    assert!(dir.path().join("nested/dir/yishi.db-wal").exists());
    store.close().await;
    drop(store);

    let store = Store::open(&url).await.unwrap();
    let loaded = store.load(&room).await.unwrap();
    assert_eq!(loaded.entries, entries);
    assert_eq!(
        loaded.sealed,
        vec![yes_no(4, Electorate::Binding, YesNo::No)]
    );
    assert_eq!(
        store.head(&room).await.unwrap(),
        Some((2, entries[1].hash.clone()))
    );
    assert_eq!(store.room(&room).await.unwrap().unwrap().id, room);
    // It continues where it left off.
    store
        .append(&[append(&room, vec![w.note("after")], vec![])])
        .await
        .unwrap();
    verify_chain(&store.load(&room).await.unwrap().entries).unwrap();
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_store_works_and_other_urls_are_refused() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let room = new_room(&store, "memory").await;
    let mut w = Writer::new();
    store
        .append(&[append(&room, vec![w.note("x")], vec![])])
        .await
        .unwrap();
    assert_eq!(store.load(&room).await.unwrap().entries.len(), 1);
    assert!(matches!(
        Store::open("mysql://localhost/x").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
}

fn append_as(epoch: Epoch, room: &str, entries: Vec<RecordEntry>) -> Append {
    Append {
        epoch,
        ..append(room, entries, vec![])
    }
}

async fn a_writer_whose_room_was_claimed_since_cannot_append(store: &Store) {
    let room = new_room(store, "fenced").await;
    let other = new_room(store, "fenced").await;
    assert_eq!(store.room_epoch(&room).await.unwrap(), Epoch(0));
    let old = store.claim_room(&room).await.unwrap();
    assert!(old > Epoch(0));
    let mut w = Writer::new();
    store
        .append(&[append_as(old, &room, vec![w.note("the old owner writes")])])
        .await
        .unwrap();

    let new = store.claim_room(&room).await.unwrap();
    assert!(new > old, "epochs only increase: {old} then {new}");
    assert_eq!(store.room_epoch(&room).await.unwrap(), new);

    // The old owner's next append is refused, with its ballots, and with everything
    // else in its batch.
    let mut late = w.clone_writer();
    let stale = Append {
        sealed: vec![yes_no(1, Electorate::Binding, YesNo::No)],
        ..append_as(
            old,
            &room,
            vec![late.note("the old owner, after the claim")],
        )
    };
    let mut o = Writer::new();
    let err = store
        .append(&[append(&other, vec![o.note("elsewhere")], vec![]), stale])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced { room: ref r, held, current } if *r == room && held == old && current == new),
        "{err}"
    );
    let loaded = store.load(&room).await.unwrap();
    assert_eq!(loaded.entries.len(), 1);
    assert!(loaded.sealed.is_empty());
    assert!(store.load(&other).await.unwrap().entries.is_empty());

    // The new owner goes on from the record as stored, and it still verifies.
    store
        .append(&[append_as(new, &room, vec![w.note("the new owner writes")])])
        .await
        .unwrap();
    let loaded = store.load(&room).await.unwrap();
    assert_eq!(loaded.entries.len(), 2);
    let head = verify_chain(&loaded.entries).unwrap();
    assert_eq!(store.head(&room).await.unwrap(), Some((2, head)));
    assert!(matches!(
        store.claim_room("no-such-room").await,
        Err(StoreError::UnknownRoom(_))
    ));
}

/// A writer appends as fast as it can while the room is claimed: what is loaded right
/// after the claim is the whole record, then and forever (no append that started
/// before the claim commits after it).
async fn a_claim_sees_everything_the_previous_writer_wrote(store: &Store) {
    let room = new_room(store, "claim").await;
    let old = store.claim_room(&room).await.unwrap();
    let writer = {
        let store = store.clone();
        let room = room.clone();
        tokio::spawn(async move {
            let mut w = Writer::new();
            loop {
                let entry = w.note("busy");
                match store.append(&[append_as(old, &room, vec![entry])]).await {
                    Ok(()) => {}
                    Err(StoreError::Fenced { .. }) => return w.seq - 1,
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    let started = std::time::Instant::now();
    while store
        .head(&room)
        .await
        .unwrap()
        .is_none_or(|(seq, _)| seq < 3)
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let new = store.claim_room(&room).await.unwrap();
    let at_claim = store.load(&room).await.unwrap().entries;
    let written = writer.await.unwrap();
    assert_eq!(written as usize, at_claim.len());
    assert_eq!(store.load(&room).await.unwrap().entries, at_claim);
    assert!(new > old);
    verify_chain(&at_claim).unwrap();
}

async fn the_committer_refuses_only_the_fenced_room(store: &Store) {
    let fenced = new_room(store, "gc").await;
    let fine = new_room(store, "gc").await;
    let old = store.claim_room(&fenced).await.unwrap();
    let current = store.claim_room(&fenced).await.unwrap();
    let epoch = store.claim_room(&fine).await.unwrap();
    let committer = yishi::hub::Committer::spawn(store.clone());
    let mut f = Writer::new();
    let mut g = Writer::new();
    // Sent together, so they are likely to share a transaction.
    let (refused, written) = tokio::join!(
        committer.commit(append_as(old, &fenced, vec![f.note("stale")])),
        committer.commit(append_as(epoch, &fine, vec![g.note("fresh")])),
    );
    assert!(
        matches!(refused, Err(yishi::hub::CommitError::Fenced { held, current: c }) if held == old && c == current),
        "{refused:?}"
    );
    written.unwrap();
    assert!(store.load(&fenced).await.unwrap().entries.is_empty());
    assert_eq!(store.load(&fine).await.unwrap().entries.len(), 1);
}

/// Index `topics` as public topics `(id, title, text)`.
async fn index(store: &Store, topics: &[(u32, &str, &str)]) {
    let docs: Vec<SearchDoc> = topics
        .iter()
        .map(|(id, title, text)| SearchDoc {
            topic: TopicId(*id),
            text: Some(((*title).to_owned(), (*text).to_owned())),
        })
        .collect();
    store.board_append(&[], &docs).await.unwrap();
}

async fn search(store: &Store, query: &str) -> Vec<u32> {
    let found = store.board_search(query, 100).await.unwrap();
    found.into_iter().map(|t| t.0).collect()
}

async fn the_board_search_finds_words_from_two_characters_on(store: &Store) {
    index(
        store,
        &[
            (1, "小区停车难", "老旧小区停车位严重不足，晚上车辆乱停。"),
            (2, "加装电梯", "老旧楼房没有电梯，老人上下楼困难。"),
            (3, "WiFi信号差", "人民公园 Parking 停车场没有信号"),
            (4, "社区停车", "场地不足"),
            (5, "养老服务", "希望开办老年食堂"),
            (6, "东区停车", "车场收费高"),
            (7, "路边", "路边停车，车场收费高"),
        ],
    )
    .await;
    // Two characters, from the index; most recent first.
    assert_eq!(search(store, "停车").await, [7, 6, 4, 3, 1]);
    assert_eq!(search(store, "电梯").await, [2]);
    assert_eq!(search(store, "养老").await, [5]);
    assert_eq!(
        store.board_search("停车", 2).await.unwrap(),
        [TopicId(7), TopicId(6)]
    );
    // Three characters and more: the whole word, not its bigrams anywhere.
    assert_eq!(search(store, "停车场").await, [3]);
    assert_eq!(search(store, "老旧小区停车位").await, [1]);
    assert_eq!(search(store, "老年食堂").await, [5]);
    assert!(search(store, "停车楼").await.is_empty());
    // Latin words in any case and width, mixed with Chinese.
    assert_eq!(search(store, "parking").await, [3]);
    assert_eq!(search(store, "PARKING").await, [3]);
    assert_eq!(search(store, "ＷｉＦｉ信号").await, [3]);
    assert!(search(store, "parkings").await.is_empty());
    // Every word must match, in the title or the text.
    assert_eq!(search(store, "老旧 停车").await, [1]);
    assert_eq!(search(store, "老旧  电梯").await, [2]);
    assert_eq!(
        search(store, "老旧，乱停").await,
        [1],
        "punctuation cuts words"
    );
    assert!(search(store, "电梯 停车").await.is_empty());
    // A word never runs from the title into the text, nor across punctuation (6 and 7
    // hold 停车 then 车场 as neighbouring tokens but not 停车场).
    assert_eq!(search(store, "车场收费").await, [7, 6]);
    assert!(search(store, "停车场地").await.is_empty());
    assert!(search(store, "车场地").await.is_empty());
    assert!(search(store, "不足晚上").await.is_empty());
    // One character: a scan, the same meaning.
    assert_eq!(search(store, "梯").await, [2]);
    assert_eq!(search(store, "楼 梯").await, [2]);
    assert_eq!(search(store, "车 老旧").await, [1]);
    assert!(search(store, "医").await.is_empty());
    assert!(search(store, "  ，。 ").await.is_empty());
}

async fn query_syntax_is_searched_for_never_obeyed(store: &Store) {
    index(
        store,
        &[
            (1, "小区停车难", "晚上车辆乱停"),
            (2, "加装电梯", "老人上下楼困难"),
        ],
    )
    .await;
    for (query, found) in [
        ("\"停车\"", &[1][..]),
        ("停车*", &[1]),
        ("^停车", &[1]),
        ("words:停车", &[]),
        ("停车\" OR \"电梯", &[]),
        ("停车 OR 电梯", &[]),
        ("NEAR(停车 电梯)", &[]),
        ("停车 -电梯", &[]),
        ("停车 & !电梯", &[]),
        ("停车 <-> 电梯", &[]),
        ("'停车':* | '电梯'", &[]),
        ("a'b\\c\"d", &[]),
        ("%停车%", &[1]),
        ("'; DROP TABLE board_words; --", &[]),
    ] {
        assert_eq!(search(store, query).await, found, "{query}");
    }
    assert_eq!(search(store, "停车").await, [1], "the index is still there");
}

async fn a_topic_out_of_the_public_list_is_no_longer_found(store: &Store) {
    index(
        store,
        &[
            (1, "小区停车难", "晚上车辆乱停"),
            (2, "加装电梯", "老人上下楼困难"),
        ],
    )
    .await;
    // Its text changed: the new words are found, the old ones no longer.
    index(store, &[(1, "小区停车难", "希望增设充电桩")]).await;
    assert_eq!(search(store, "充电桩").await, [1]);
    assert!(search(store, "乱停").await.is_empty());
    assert_eq!(search(store, "停车").await, [1]);
    // Rejected, withdrawn or merged: out of the index (with another topic's change).
    let docs = [
        SearchDoc {
            topic: TopicId(1),
            text: None,
        },
        SearchDoc {
            topic: TopicId(3),
            text: Some(("停车位不足".into(), "同一问题".into())),
        },
    ];
    store.board_append(&[], &docs).await.unwrap();
    assert_eq!(search(store, "停车").await, [3]);
    assert!(search(store, "充电桩").await.is_empty());
    assert!(search(store, "停车 难").await.is_empty());
    assert_eq!(search(store, "电梯").await, [2]);
}

/// A database whose board was searched by migration 0008's table: the store opened with
/// 0011 indexes those topics (more than one batch) and finds them by two characters.
async fn an_old_search_table_is_reindexed(backend: &str) {
    use sqlx::migrate::Migrator;
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let migrations = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut before = Migrator::new(std::path::Path::new(&migrations))
        .await
        .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version <= 10)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let fill = "INSERT INTO board_search (rowid, title, body) \
                SELECT i, '小区停车难 ' || i, '第' || i || '号，晚上乱停' FROM n";
    let (url, schema) = if backend == "sqlite" {
        let url = format!("sqlite://{}/yishi.db", dir.path().display());
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        before.run(&mut conn).await.unwrap();
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) {fill}"
        );
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        (url, None)
    } else {
        let base = std::env::var("YISHI_TEST_PG").unwrap();
        let schema = unique("yishi_t");
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        before.run(&mut conn).await.unwrap();
        let sql = format!("WITH n(i) AS (SELECT generate_series(1, 2500)) {fill}");
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        (url, Some((base, schema)))
    };
    let store = Store::open(&url).await.unwrap();
    let all = store.board_search("停车", 5000).await.unwrap();
    assert_eq!(all.len(), 2500);
    assert_eq!(all[0], TopicId(2500));
    assert_eq!(search(&store, "第17号").await, [17]);
    assert_eq!(search(&store, "停车难 乱停 第2499号").await, [2499]);
    assert!(search(&store, "难第").await.is_empty());
    store.close().await;
    // Opened again: nothing left to index, the same answers.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.board_search("停车", 5000).await.unwrap(), all);
    store.close().await;
    if let Some((base, schema)) = schema {
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_search_table_is_reindexed_on_sqlite() {
    an_old_search_table_is_reindexed("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(yishi_pg), ignore = "needs PostgreSQL: set YISHI_TEST_PG")]
async fn an_old_search_table_is_reindexed_on_postgres() {
    an_old_search_table_is_reindexed("postgres").await;
}
