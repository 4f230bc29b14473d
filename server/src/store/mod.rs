//! The store: the durable record of every room. SQLite by default (one file, WAL,
//! `synchronous=FULL`), PostgreSQL in production; one API for both, chosen by URL.
//!
//! The store *is* the record: nothing is acknowledged or broadcast before [`Store::append`]
//! has returned, and it returns only after the commit. Appends are group-committed: the
//! caller gathers the appends of many commands and many rooms and hands them over in one
//! call, which is one transaction.
//!
//! Three tables (see `server/migrations/`):
//! - `rooms`: id, title, kind, creation, closing, the final hash published at close and
//!   the owner's epoch (see [`Store::claim_room`]);
//! - `events`: one row per [`RecordEntry`] — sequence number, time, actor, the canonical
//!   JSON of the event's body, `prev` and `hash` — so the exact entry comes back and
//!   [`crate::room::verify_chain`] passes on what is loaded;
//! - `ballot_box`: the sealed ballot box of secret polls, as counts per
//!   (room, poll, electorate, choice). It holds no voter, no time and no sequence, so it
//!   reveals no order; a `PollReset` appended for a poll empties that poll's box in the
//!   same transaction.
//!
//! What the physical storage may still remember: a database's own history (SQLite's WAL
//! frames until they are checkpointed and overwritten, PostgreSQL's dead row versions
//! until vacuum, and on PostgreSQL the `xmin` of each row) can tie a change of the ballot
//! box to the transaction that also wrote the `BallotCast` event. Group commit mixes the
//! ballots of a batch; on PostgreSQL every row of a poll touched by a batch is rewritten in
//! it, so the `xmin`s of a poll's rows do not single one out; SQLite zeroes deleted content
//! (`secure_delete`) and keeps the ballot box without rowids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Transaction};
use yishi_protocol::{
    Choice, Electorate, Event, EventBody, Millis, ParticipantId, PollId, RecordEntry, RequestId,
    Seq,
};

use crate::room::{GENESIS, SealedBallot};

/// What went wrong in the store. Nothing of a failed call was written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL {0:?}: expected sqlite:… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the database directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no room {0:?}")]
    UnknownRoom(String),
    #[error("room {0:?} exists already")]
    RoomExists(String),
    #[error("staff account {0:?} exists already")]
    StaffExists(String),
    #[error("an API key named {0:?} exists already")]
    KeyExists(String),
    #[error("room {0:?} is closed: its record is final")]
    RoomClosed(String),
    #[error("room {room:?}: entry {found} does not continue the record (expected {expected})")]
    OutOfOrder {
        room: String,
        expected: Seq,
        found: Seq,
    },
    #[error("room {room:?}: entry {seq} does not link to the last entry's hash")]
    BrokenLink { room: String, seq: Seq },
    #[error("room {room:?}: the final hash given is not the record's last hash {head}")]
    FinalHashMismatch { room: String, head: String },
    #[error("another writer appended to the same record at the same time")]
    Conflict,
    /// The writer's claim on the room is stale: another writer took the room since (a new
    /// owner, a restart). Stop writing for this room; whoever holds it now goes on.
    #[error(
        "room {room:?} was taken over: this writer holds epoch {held}, the room is at {current}"
    )]
    Fenced {
        room: String,
        held: Epoch,
        current: Epoch,
    },
    #[error("value out of range for the store: {0}")]
    OutOfRange(&'static str),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The fencing token of a room's writer: [`Store::claim_room`] returns a new, larger one
/// each time, and an [`Append`] carrying any other is refused. Only ever increases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(pub u64);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a room is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Consultation,
    Lecture,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Consultation => "consultation",
            RoomKind::Lecture => "lecture",
        }
    }

    fn parse(s: &str) -> StoreResult<RoomKind> {
        match s {
            "consultation" => Ok(RoomKind::Consultation),
            "lecture" => Ok(RoomKind::Lecture),
            other => Err(StoreError::Corrupt(format!("room kind {other:?}"))),
        }
    }
}

/// A room to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRoom {
    pub id: String,
    pub title: String,
    pub kind: RoomKind,
    pub created_at: Millis,
    /// Free-form settings or metadata (JSON object), kept as given.
    pub settings: serde_json::Value,
}

/// A room as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRoom {
    pub id: String,
    pub title: String,
    pub kind: RoomKind,
    pub created_at: Millis,
    pub closed_at: Option<Millis>,
    /// The record's last hash, published when the room was closed.
    pub final_hash: Option<String>,
    pub settings: serde_json::Value,
}

/// What one command (or tick) of one room adds to the store: its record entries, which
/// must continue the room's record, and the secret ballots it cast.
///
/// Within one `Append` the entries are written first, then the ballots: a `PollReset`
/// among the entries empties the poll's box before its ballots are added. Keep one
/// `Append` per command so this order is the order things happened.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Append {
    pub room: String,
    /// The writer's claim on the room ([`Store::claim_room`]); the append is refused with
    /// [`StoreError::Fenced`] unless it is the room's current epoch.
    pub epoch: Epoch,
    pub entries: Vec<RecordEntry>,
    /// Request ids answered by these entries: the command's request id goes on the row of
    /// its last event (sequence number), for deduplication across restarts.
    pub requests: Vec<(Seq, RequestId)>,
    pub sealed: Vec<SealedBallot>,
}

/// A room's record and sealed ballot box, ready for [`crate::room::Room::replay`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Loaded {
    pub entries: Vec<RecordEntry>,
    /// The request ids of the last [`REQUEST_WINDOW`] commands that caused events: who
    /// sent it, its request id, the sequence number it was acknowledged with; oldest first.
    pub requests: Vec<(ParticipantId, RequestId, Seq)>,
    /// The sealed ballots, expanded from their counts, sorted by poll, electorate and
    /// choice: an order that reveals nothing.
    pub sealed: Vec<SealedBallot>,
}

/// The durable store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the backend's pool: the body is compiled once for
/// each backend, so the same SQL and the same code serve both.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

mod apikeys;
mod board;
mod meetings;
mod photos;
mod roster;
mod staff;
pub use apikeys::ApiKey;
pub use board::{BOARD_CURSOR, SearchDoc};
pub use meetings::{AgendaEntry, Invitee, MeetingDetails, StoredMeeting, VenueEntry};
pub use photos::Photo;
pub use roster::{Imported, Member, MemberInput};
pub use staff::{AuditEntry, StaffAccount, TokenPurpose};
mod webhooks;
pub use webhooks::{AttemptOutcome, DeliveryLog, DueDelivery, NewDelivery, Webhook};

/// What differs between the backends beyond the SQL they share.
trait Pool {
    type Db: sqlx::Database;
    /// Rewrite every ballot-box row of a poll touched by a transaction (see module docs).
    const TOUCH_POLLS: bool;
    /// A transaction that will write: on SQLite it takes the write lock at once, so a
    /// read-then-write never fails to upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
    /// Appended to the look-up of the rooms' heads in an append (whose room table is
    /// `r`): on PostgreSQL a share lock on each room's row, so a concurrent claim waits
    /// for the append to commit, or the append sees the claim's epoch (SQLite's write
    /// transactions are serial already).
    const LOCK_ROOMS: &'static str;
    /// A transaction whose reads all see the same snapshot.
    async fn begin_read(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl Pool for SqlitePool {
    type Db = sqlx::Sqlite;
    const TOUCH_POLLS: bool = false;
    const LOCK_ROOMS: &'static str = "";
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
    async fn begin_read(&self) -> Result<Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        // A deferred transaction reads one WAL snapshot from its first read on.
        self.begin().await
    }
}

impl Pool for PgPool {
    type Db = sqlx::Postgres;
    const TOUCH_POLLS: bool = true;
    const LOCK_ROOMS: &'static str = " FOR SHARE OF r";
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
    async fn begin_read(&self) -> Result<Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }
}

const SELECT_ROOM: &str = "SELECT id, title, kind, created_at, closed_at, final_hash, settings \
                           FROM rooms";
const SELECT_ENTRY: &str = "SELECT seq, at, actor, body, prev, hash FROM events";
/// The room's closing and its record's head, in one look-up.
const ROOM_HEAD: &str = "SELECT r.closed_at, e.seq, e.hash FROM rooms r \
     LEFT JOIN events e ON e.room_id = r.id \
       AND e.seq = (SELECT MAX(seq) FROM events WHERE room_id = r.id) \
     WHERE r.id = $1";
/// The same for many rooms: the caller adds the ids and the closing parenthesis.
const ROOM_HEADS: &str = "SELECT r.id, r.closed_at, e.seq, e.hash, r.owner_epoch FROM rooms r \
     LEFT JOIN events e ON e.room_id = r.id \
       AND e.seq = (SELECT MAX(seq) FROM events WHERE room_id = r.id) \
     WHERE r.id IN (";
/// Request ids loaded with a room for deduplication.
pub const REQUEST_WINDOW: usize = 65_536;
/// Rooms looked up in one statement.
const ROOMS_PER_LOOKUP: usize = 500;
/// Entries inserted in one statement (8 parameters each; both backends allow 32,766).
const ROWS_PER_INSERT: usize = 1_000;

/// A row of `SELECT_ENTRY` as an entry.
macro_rules! entry_of_row {
    ($row:expr) => {
        entry_from(
            $row.try_get(0)?,
            $row.try_get(1)?,
            $row.try_get(2)?,
            $row.try_get(3)?,
            $row.try_get(4)?,
            $row.try_get(5)?,
        )
    };
}

/// An entry encoded for its row.
struct EventRow<'a> {
    room: &'a str,
    entry: &'a RecordEntry,
    at: i64,
    body: String,
    req: Option<&'a str>,
}

impl Store {
    /// Open the store at `url` and bring its schema up to date.
    ///
    /// - `sqlite://./data/yishi.db`, `sqlite:yishi.db`: a file, created with its directory
    ///   if missing; WAL, `synchronous=FULL` (each commit is on disk when it returns),
    ///   foreign keys on.
    /// - `sqlite::memory:`: a private in-memory database (tests).
    /// - `postgres://…`, `postgresql://…`.
    pub async fn open(url: &str) -> StoreResult<Store> {
        if url.starts_with("sqlite:") {
            Self::open_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A writer paused or cut off in the middle of a transaction (SIGSTOP, a
            // partition) would hold its row locks, and with them every other node's
            // claim of the room, for as long as PostgreSQL waits: the server ends such
            // a transaction after a while instead (ours never idle between statements).
            let options = PgConnectOptions::from_str(url)?
                .options([("idle_in_transaction_session_timeout", "10s")]);
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            let store = Store {
                backend: Backend::Postgres(pool),
            };
            store.board_reindex().await?;
            Ok(store)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    async fn open_sqlite(url: &str) -> StoreResult<Store> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("secure_delete", "on");
        let pool = if memory {
            // One connection that never closes: the database lives as long as it does.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            private_file(options.get_filename())?;
            SqlitePoolOptions::new().max_connections(4)
        }
        .connect_with(options)
        .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let store = Store {
            backend: Backend::Sqlite(pool),
        };
        store.board_reindex().await?;
        Ok(store)
    }

    /// Which backend this is: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Close the pool, waiting for connections to finish.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    // ----- rooms -----

    pub async fn create_room(&self, room: &NewRoom) -> StoreResult<()> {
        let created_at = millis_in(room.created_at)?;
        let settings = serde_json::to_string(&room.settings)?;
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "INSERT INTO rooms (id, title, kind, created_at, settings) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&room.id)
            .bind(&room.title)
            .bind(room.kind.as_str())
            .bind(created_at)
            .bind(&settings)
            .execute(pool)
            .await;
            match done {
                Err(e) if is_unique_violation(&e) => Err(StoreError::RoomExists(room.id.clone())),
                Err(e) => Err(e.into()),
                Ok(_) => Ok(()),
            }
        })
    }

    pub async fn room(&self, id: &str) -> StoreResult<Option<StoredRoom>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(&format!("{SELECT_ROOM} WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.map(|row| {
                room_from(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                    row.try_get(5)?,
                    row.try_get(6)?,
                )
            })
            .transpose()
        })
    }

    /// Every room, oldest first.
    pub async fn list_rooms(&self) -> StoreResult<Vec<StoredRoom>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(&format!("{SELECT_ROOM} ORDER BY created_at, id"))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    room_from(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                        row.try_get(6)?,
                    )
                })
                .collect()
        })
    }

    /// Close a room: its record becomes final and `final_hash`, which must be the hash of
    /// its last entry, is published with it. Appending to it is refused from then on.
    pub async fn close_room(&self, id: &str, final_hash: &str, at: Millis) -> StoreResult<()> {
        let at = millis_in(at)?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query(ROOM_HEAD)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::UnknownRoom(id.to_owned()))?;
            let closed: Option<i64> = row.try_get(0)?;
            let head: Option<String> = row.try_get(2)?;
            if closed.is_some() {
                return Err(StoreError::RoomClosed(id.to_owned()));
            }
            let head = head.unwrap_or_else(|| GENESIS.to_owned());
            if head != final_hash {
                return Err(StoreError::FinalHashMismatch {
                    room: id.to_owned(),
                    head,
                });
            }
            sqlx::query("UPDATE rooms SET closed_at = $2, final_hash = $3 WHERE id = $1")
                .bind(id)
                .bind(at)
                .bind(final_hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Take room `id` for writing: its epoch is incremented in one statement and the new
    /// value returned. From the moment this commits, appends carrying an older epoch are
    /// refused ([`StoreError::Fenced`]), and no append with an older epoch that was still
    /// running can commit after it (see `LOCK_ROOMS`): load the room after claiming it to
    /// see everything its previous writer wrote.
    pub async fn claim_room(&self, id: &str) -> StoreResult<Epoch> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "UPDATE rooms SET owner_epoch = owner_epoch + 1 WHERE id = $1 \
                 RETURNING owner_epoch",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| StoreError::UnknownRoom(id.to_owned()))?;
            epoch_out(row.try_get(0)?)
        })
    }

    /// Room `id`'s current epoch: that of its last claim, 0 if never claimed.
    pub async fn room_epoch(&self, id: &str) -> StoreResult<Epoch> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT owner_epoch FROM rooms WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| StoreError::UnknownRoom(id.to_owned()))?;
            epoch_out(row.try_get(0)?)
        })
    }

    // ----- the record -----

    /// Write a batch of appends, from any rooms, in one transaction, and return once it is
    /// committed. Each room's entries must continue its record (sequence number one past
    /// the last, `prev` equal to the last hash), the room must exist and be open; if any
    /// check fails, nothing of the batch is written.
    pub async fn append(&self, batch: &[Append]) -> StoreResult<()> {
        if batch
            .iter()
            .all(|a| a.entries.is_empty() && a.sealed.is_empty())
        {
            return Ok(());
        }
        // Encode everything before the transaction, so the write lock is held briefly.
        let mut rows = Vec::with_capacity(batch.iter().map(|a| a.entries.len()).sum());
        for append in batch {
            for entry in &append.entries {
                let req = append
                    .requests
                    .iter()
                    .find(|(seq, _)| *seq == entry.event.seq)
                    .map(|(_, req)| req.0.as_str());
                rows.push(EventRow {
                    room: &append.room,
                    entry,
                    at: millis_in(entry.event.at)?,
                    body: serde_json::to_string(&entry.event.body)?,
                    req,
                });
            }
        }
        let mut cast = Vec::with_capacity(batch.iter().map(|a| a.sealed.len()).sum());
        for append in batch {
            for ballot in &append.sealed {
                cast.push(serde_json::to_string(&ballot.choice)?);
            }
        }
        let mut rooms: Vec<&str> = Vec::new();
        for append in batch {
            if !rooms.contains(&append.room.as_str()) {
                rooms.push(&append.room);
            }
        }

        let result = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;

            // 1. The head of every room of the batch, and whether it is open.
            let mut heads: HashMap<&str, (u64, String)> = HashMap::with_capacity(rooms.len());
            for chunk in rooms.chunks(ROOMS_PER_LOOKUP) {
                let mut query = sqlx::QueryBuilder::new(ROOM_HEADS);
                let mut ids = query.separated(", ");
                for room in chunk {
                    ids.push_bind(*room);
                }
                ids.push_unseparated(")");
                query.push(lock_rooms(pool));
                for row in query.build().fetch_all(&mut *tx).await? {
                    let id: String = row.try_get(0)?;
                    let closed: Option<i64> = row.try_get(1)?;
                    let seq: Option<i64> = row.try_get(2)?;
                    let hash: Option<String> = row.try_get(3)?;
                    let current = epoch_out(row.try_get(4)?)?;
                    let Some(room) = chunk.iter().find(|r| **r == id) else {
                        continue;
                    };
                    if closed.is_some() {
                        return Err(StoreError::RoomClosed(id));
                    }
                    if let Some(stale) = batch.iter().find(|a| a.room == id && a.epoch != current) {
                        return Err(StoreError::Fenced {
                            room: id,
                            held: stale.epoch,
                            current,
                        });
                    }
                    let head = match (seq, hash) {
                        (Some(seq), Some(hash)) => (u64::from(seq_out(seq)?), hash),
                        _ => (0, GENESIS.to_owned()),
                    };
                    heads.insert(room, head);
                }
            }

            // 2. Every entry continues its room's record; resets empty boxes; ballots are
            //    gathered so each box row is written once.
            let mut resets: BTreeSet<(&str, u32)> = BTreeSet::new();
            let mut ballots: BTreeMap<(&str, u32, &'static str, &str), i64> = BTreeMap::new();
            let mut rows_left = rows.iter();
            let mut cast_left = cast.iter();
            for append in batch {
                let room = append.room.as_str();
                let Some(head) = heads.get_mut(room) else {
                    return Err(StoreError::UnknownRoom(room.to_owned()));
                };
                for entry in &append.entries {
                    let event = &entry.event;
                    extend_head(room, head, event.seq.into(), &entry.prev, &entry.hash)?;
                    if let EventBody::PollReset { poll, .. } = &event.body {
                        resets.insert((room, poll.0));
                        ballots.retain(|(r, p, _, _), _| !(*r == room && *p == poll.0));
                    }
                }
                for ballot in &append.sealed {
                    let choice = cast_left.next().map_or("", String::as_str);
                    let key = (
                        room,
                        ballot.poll.0,
                        electorate_str(ballot.electorate),
                        choice,
                    );
                    *ballots.entry(key).or_default() += 1;
                }
            }

            // 3. Write.
            while rows_left.len() > 0 {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO events (room_id, seq, at, actor, body, prev, hash, req) ",
                );
                query.push_values(rows_left.by_ref().take(ROWS_PER_INSERT), |mut b, row| {
                    let event = &row.entry.event;
                    b.push_bind(row.room)
                        .push_bind(i64::from(event.seq))
                        .push_bind(row.at)
                        .push_bind(event.actor.as_ref().map(|a| a.0.as_str()))
                        .push_bind(row.body.as_str())
                        .push_bind(row.entry.prev.as_str())
                        .push_bind(row.entry.hash.as_str())
                        .push_bind(row.req);
                });
                query.build().execute(&mut *tx).await?;
            }
            for (room, poll) in &resets {
                sqlx::query("DELETE FROM ballot_box WHERE room_id = $1 AND poll = $2")
                    .bind(*room)
                    .bind(i64::from(*poll))
                    .execute(&mut *tx)
                    .await?;
            }
            let mut polls = BTreeSet::new();
            for ((room, poll, electorate, choice), n) in &ballots {
                sqlx::query(
                    "INSERT INTO ballot_box (room_id, poll, electorate, choice, count) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (room_id, poll, electorate, choice) \
                     DO UPDATE SET count = ballot_box.count + excluded.count",
                )
                .bind(*room)
                .bind(i64::from(*poll))
                .bind(*electorate)
                .bind(*choice)
                .bind(*n)
                .execute(&mut *tx)
                .await?;
                polls.insert((*room, *poll));
            }
            if pool_touches(pool) {
                for (room, poll) in polls {
                    sqlx::query(
                        "UPDATE ballot_box SET count = count WHERE room_id = $1 AND poll = $2",
                    )
                    .bind(room)
                    .bind(i64::from(poll))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        });
        match result {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict),
            other => other,
        }
    }

    /// A room's whole record and its sealed ballot box, read from one snapshot.
    pub async fn load(&self, room: &str) -> StoreResult<Loaded> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let rows = sqlx::query(&format!("{SELECT_ENTRY} WHERE room_id = $1 ORDER BY seq"))
                .bind(room)
                .fetch_all(&mut *tx)
                .await?;
            let entries = rows
                .iter()
                .map(|row| entry_of_row!(row))
                .collect::<StoreResult<Vec<_>>>()?;
            let window = i64::try_from(REQUEST_WINDOW).unwrap_or(i64::MAX);
            let rows = sqlx::query(
                "SELECT actor, req, seq FROM events \
                 WHERE room_id = $1 AND req IS NOT NULL AND actor IS NOT NULL \
                 ORDER BY seq DESC LIMIT $2",
            )
            .bind(room)
            .bind(window)
            .fetch_all(&mut *tx)
            .await?;
            let mut requests = rows
                .iter()
                .map(|row| -> StoreResult<(ParticipantId, RequestId, Seq)> {
                    Ok((
                        ParticipantId(row.try_get(0)?),
                        RequestId(row.try_get(1)?),
                        seq_out(row.try_get(2)?)?,
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            requests.reverse();
            let rows = sqlx::query(
                "SELECT poll, electorate, choice, count FROM ballot_box WHERE room_id = $1",
            )
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
            let mut counts = rows
                .iter()
                .map(|row| -> StoreResult<(i64, String, String, i64)> {
                    Ok((
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            tx.commit().await?;
            // Sorted here rather than by the database, whose text collation may differ.
            counts.sort();
            let mut sealed = Vec::new();
            for (poll, electorate, choice, count) in counts {
                let ballot = SealedBallot {
                    poll: PollId(
                        u32::try_from(poll).map_err(|_| corrupt("ballot_box.poll", poll))?,
                    ),
                    electorate: electorate_parse(&electorate)?,
                    choice: serde_json::from_str::<Choice>(&choice)?,
                };
                let count =
                    usize::try_from(count).map_err(|_| corrupt("ballot_box.count", count))?;
                sealed.extend(std::iter::repeat_n(ballot, count));
            }
            Ok(Loaded {
                entries,
                requests,
                sealed,
            })
        })
    }

    /// At most `limit` entries after sequence number `after`, in order (for resume).
    pub async fn entries_since(
        &self,
        room: &str,
        after: Seq,
        limit: u32,
    ) -> StoreResult<Vec<RecordEntry>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(&format!(
                "{SELECT_ENTRY} WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ))
            .bind(room)
            .bind(i64::from(after))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| entry_of_row!(row)).collect()
        })
    }

    /// A room's entries of one event type (`recording_archived`), in order: the bodies
    /// are JSON with their `type` first, so a prefix finds them without reading the
    /// whole record.
    pub async fn entries_of_type(&self, room: &str, kind: &str) -> StoreResult<Vec<RecordEntry>> {
        // `_` in a type name is LIKE's one-character wildcard: escaped.
        let prefix = format!(r#"{{"type":"{}","#, kind.replace('_', r"\_"));
        with_pool!(self, |pool| {
            let rows = sqlx::query(&format!(
                r"{SELECT_ENTRY} WHERE room_id = $1 AND body LIKE $2 ESCAPE '\' ORDER BY seq"
            ))
            .bind(room)
            .bind(format!("{prefix}%"))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| entry_of_row!(row)).collect()
        })
    }

    /// The sequence number and hash of a room's last entry; `None` for an empty record.
    pub async fn head(&self, room: &str) -> StoreResult<Option<(Seq, String)>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT seq, hash FROM events WHERE room_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(room)
            .fetch_optional(pool)
            .await?;
            row.map(|row| -> StoreResult<(Seq, String)> {
                Ok((seq_out(row.try_get(0)?)?, row.try_get(1)?))
            })
            .transpose()
        })
    }
}

/// Make sure the database file and its directory are the owner's alone: the directory is
/// created 0700 if missing, the file created 0600 before SQLite opens it (SQLite gives
/// the `-wal` and `-shm` files the mode of the database), and an existing file that
/// others could read is made 0600.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %file.display(), "the database was readable by others: made 0600");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

fn pool_touches<P: Pool>(_pool: &P) -> bool {
    P::TOUCH_POLLS
}

fn lock_rooms<P: Pool>(_pool: &P) -> &'static str {
    P::LOCK_ROOMS
}

fn epoch_out(epoch: i64) -> StoreResult<Epoch> {
    u64::try_from(epoch)
        .map(Epoch)
        .map_err(|_| corrupt("rooms.owner_epoch", epoch))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} = {value}"))
}

fn millis_in(at: Millis) -> StoreResult<i64> {
    i64::try_from(at.0).map_err(|_| StoreError::OutOfRange("time in milliseconds"))
}

fn millis_out(at: i64) -> StoreResult<Millis> {
    u64::try_from(at)
        .map(Millis)
        .map_err(|_| corrupt("time", at))
}

/// Check that the entry `seq` linked to `prev` continues a record (a room's, or the
/// board's) whose head is `head` (its seq and hash), and make it the head (`hash`).
pub(crate) fn extend_head(
    record: &str,
    head: &mut (u64, String),
    seq: u64,
    prev: &str,
    hash: &str,
) -> StoreResult<()> {
    let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    if seq != head.0 + 1 {
        return Err(StoreError::OutOfOrder {
            room: record.to_owned(),
            expected: narrow(head.0 + 1),
            found: narrow(seq),
        });
    }
    if prev != head.1 {
        return Err(StoreError::BrokenLink {
            room: record.to_owned(),
            seq: narrow(seq),
        });
    }
    *head = (seq, hash.to_owned());
    Ok(())
}

fn seq_out(seq: i64) -> StoreResult<Seq> {
    Seq::try_from(seq).map_err(|_| corrupt("events.seq", seq))
}

fn electorate_str(electorate: Electorate) -> &'static str {
    match electorate {
        Electorate::Binding => "binding",
        Electorate::Advisory => "advisory",
    }
}

fn electorate_parse(s: &str) -> StoreResult<Electorate> {
    match s {
        "binding" => Ok(Electorate::Binding),
        "advisory" => Ok(Electorate::Advisory),
        other => Err(corrupt("ballot_box.electorate", other)),
    }
}

fn entry_from(
    seq: i64,
    at: i64,
    actor: Option<String>,
    body: String,
    prev: String,
    hash: String,
) -> StoreResult<RecordEntry> {
    Ok(RecordEntry {
        event: Event {
            seq: seq_out(seq)?,
            at: millis_out(at)?,
            actor: actor.map(ParticipantId),
            body: serde_json::from_str(&body)?,
        },
        prev,
        hash,
    })
}

fn room_from(
    id: String,
    title: String,
    kind: String,
    created_at: i64,
    closed_at: Option<i64>,
    final_hash: Option<String>,
    settings: String,
) -> StoreResult<StoredRoom> {
    Ok(StoredRoom {
        id,
        title,
        kind: RoomKind::parse(&kind)?,
        created_at: millis_out(created_at)?,
        closed_at: closed_at.map(millis_out).transpose()?,
        final_hash,
        settings: serde_json::from_str(&settings)?,
    })
}
