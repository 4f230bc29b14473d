//! The board's record and search index in the store (migration 0008): one hash-chained
//! record, appended in one transaction that checks it continues the stored head (so a
//! second writer with a stale board gets [`StoreError::Conflict`] and nothing is
//! written), and the search index of public topics updated in that same transaction, so
//! the index never shows a topic the record has not committed. The index (migration
//! 0011) holds each public topic's words cut into bigrams by [`search`]: SQLite answers a
//! word from an FTS5 table as the phrase of its bigrams, PostgreSQL from a `tsvector`
//! with a GIN index and the phrase checked on the topic's tokens.

use sqlx::Row;

use super::{
    Backend, Pool, Store, StoreError, StoreResult, corrupt, extend_head, is_unique_violation,
    millis_in, millis_out,
};
use crate::board::{BoardEntry, Event, TopicId, search};
use crate::room::GENESIS;

/// A change to the search index: a topic's public text, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDoc {
    pub topic: TopicId,
    /// Title and text while the topic is public; `None` takes it out of the index.
    pub text: Option<(String, String)>,
}

/// The webhook cursor key of the board's record (room ids never contain `~`).
pub const BOARD_CURSOR: &str = "~board";

/// Rows one INSERT writes at most (six parameters each: under SQLite's and PostgreSQL's
/// limits on a statement's parameters).
const ROWS_PER_INSERT: usize = 1000;

/// `INSERT … VALUES ($1, …, $width), …` for `rows` rows, each parameter followed by its
/// column's cast (`::tsvector`, or nothing).
fn values_sql(insert: &str, rows: usize, casts: &[&str]) -> String {
    let width = casts.len();
    let mut sql = String::from(insert);
    for r in 0..rows {
        sql.push_str(if r == 0 { " (" } else { ", (" });
        for (c, cast) in casts.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}{cast}", r * width + c + 1));
        }
        sql.push(')');
    }
    sql
}

/// Words searched at most.
const MAX_TERMS: usize = 8;

/// Topics re-indexed a transaction when the store opens (see [`Store::board_reindex`]).
const REINDEX_BATCH: usize = 1000;

fn topic_of(id: i64) -> StoreResult<TopicId> {
    u32::try_from(id)
        .map(TopicId)
        .map_err(|_| corrupt("board_words.rowid", id))
}

/// `token` as a quoted lexeme of a `tsvector` or `tsquery` literal. (Tokens are letters
/// and digits; the escapes keep any other text a lexeme, never syntax.)
fn pg_lexeme(token: &str) -> String {
    format!("'{}'", token.replace('\\', "\\\\").replace('\'', "''"))
}

/// A topic's [`search::indexed`] tokens as a PostgreSQL `tsvector` literal (the gaps left
/// out; no positions: phrases are checked on `words`, see [`Store::board_search`]).
fn tsvector(indexed: &str) -> String {
    let lexemes: Vec<String> = indexed
        .split(' ')
        .filter(|t| !t.is_empty() && *t != search::GAP)
        .map(pg_lexeme)
        .collect();
    lexemes.join(" ")
}

/// The index condition of words of two characters or more on PostgreSQL: each word's
/// first bigram, all of them required (`'充电' & '光明'`). One bigram a word, because
/// the planner takes a word's bigrams as independent and would expect far fewer matches
/// than there are (a phrase of 充电 电桩: 698 expected, 8,333 found at 100,000 topics),
/// then read them all through the index instead of reading the newest topics backwards
/// until `limit` match: 66–253 ms instead of 8–18 ms (docs/bench/board.md).
fn tsquery(words: &[String]) -> String {
    let lexemes: Vec<String> = words
        .iter()
        .filter_map(|w| search::tokens(w).first().map(|t| pg_lexeme(t)))
        .collect();
    lexemes.join(" & ")
}

/// The same as an FTS5 query: each word the phrase of its quoted bigrams
/// (`"停车" + "车场"`), all of them required.
fn fts5_query(words: &[String]) -> String {
    let phrases: Vec<String> = words
        .iter()
        .map(|w| {
            let tokens: Vec<String> = search::tokens(w)
                .iter()
                .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
                .collect();
            tokens.join(" + ")
        })
        .collect();
    phrases.join(" AND ")
}

fn entry_from(
    seq: i64,
    at: i64,
    actor: String,
    body: String,
    prev: String,
    hash: String,
) -> StoreResult<BoardEntry> {
    let seq = u64::try_from(seq).map_err(|_| corrupt("board_events.seq", seq))?;
    Ok(BoardEntry {
        event: Event {
            seq,
            at: millis_out(at)?,
            actor: serde_json::from_str(&actor)?,
            body: serde_json::from_str(&body)?,
        },
        prev,
        hash,
    })
}

const SELECT: &str = "SELECT seq, at, actor, body, prev, hash FROM board_events";

impl Store {
    /// The board's whole record, in order.
    pub async fn board_load(&self) -> StoreResult<Vec<BoardEntry>> {
        self.board_entries_since(0, u32::MAX).await
    }

    /// At most `limit` entries after sequence number `after`, in order.
    pub async fn board_entries_since(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<BoardEntry>> {
        let after = i64::try_from(after).map_err(|_| StoreError::OutOfRange("board seq"))?;
        with_pool!(self, |pool| {
            let rows = sqlx::query(&format!("{SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2"))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    entry_from(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                    )
                })
                .collect()
        })
    }

    /// Append entries that continue the board's record, and apply `docs` to the search
    /// index, in one transaction. Refused with [`StoreError::OutOfOrder`] or
    /// [`StoreError::BrokenLink`] if the first entry does not continue the stored head,
    /// and [`StoreError::Conflict`] if another writer got there in between.
    pub async fn board_append(
        &self,
        entries: &[BoardEntry],
        docs: &[SearchDoc],
    ) -> StoreResult<()> {
        if entries.is_empty() && docs.is_empty() {
            return Ok(());
        }
        self.board_write(entries, Some(docs)).await.map(|_| ())
    }

    /// Index the topics migration 0011 queued in `board_reindex` (their words are cut by
    /// Rust, not SQL), [`REINDEX_BATCH`] a transaction. Run when the store opens;
    /// servers opening together share the queue.
    pub(super) async fn board_reindex(&self) -> StoreResult<()> {
        while self.board_write(&[], None).await? > 0 {}
        Ok(())
    }

    /// [`Store::board_append`]; without `docs`, the index changes are the next batch of
    /// `board_reindex`, taken in the same transaction (locked on PostgreSQL, so a
    /// command's newer text of a queued topic waits for it and is written after).
    /// Answers how many index changes were written.
    async fn board_write(
        &self,
        entries: &[BoardEntry],
        docs: Option<&[SearchDoc]>,
    ) -> StoreResult<usize> {
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries {
            rows.push((
                i64::try_from(e.event.seq).map_err(|_| StoreError::OutOfRange("board seq"))?,
                millis_in(e.event.at)?,
                serde_json::to_string(&e.event.actor)?,
                serde_json::to_string(&e.event.body)?,
            ));
        }
        let postgres = matches!(self.backend, Backend::Postgres(_));
        let result = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let head = sqlx::query("SELECT seq, hash FROM board_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            let mut head = match head {
                Some(row) => {
                    let seq = row.try_get::<i64, _>(0)?;
                    let seq = u64::try_from(seq).map_err(|_| corrupt("board_events.seq", seq))?;
                    (seq, row.try_get::<String, _>(1)?)
                }
                None => (0, GENESIS.to_owned()),
            };
            for e in entries {
                extend_head(BOARD_CURSOR, &mut head, e.event.seq, &e.prev, &e.hash)?;
            }
            // Many rows a statement: a command writes one or two, a seed thousands.
            for chunk in entries
                .iter()
                .zip(&rows)
                .collect::<Vec<_>>()
                .chunks(ROWS_PER_INSERT)
            {
                let sql = values_sql(
                    "INSERT INTO board_events (seq, at, actor, body, prev, hash) VALUES",
                    chunk.len(),
                    &[""; 6],
                );
                let mut q = sqlx::query(&sql);
                for (e, (row_seq, at, actor, body)) in chunk {
                    q = q
                        .bind(*row_seq)
                        .bind(*at)
                        .bind(actor.as_str())
                        .bind(body.as_str())
                        .bind(e.prev.as_str())
                        .bind(e.hash.as_str());
                }
                q.execute(&mut *tx).await?;
            }
            let queued: Vec<SearchDoc>;
            let docs = match docs {
                Some(docs) => docs,
                None => {
                    let lock = if postgres {
                        " FOR UPDATE SKIP LOCKED"
                    } else {
                        ""
                    };
                    let sql = format!(
                        "SELECT rowid, title, body FROM board_reindex ORDER BY rowid \
                         LIMIT {REINDEX_BATCH}{lock}"
                    );
                    queued = sqlx::query(&sql)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|row| {
                            let id: i64 = row.try_get(0)?;
                            Ok(SearchDoc {
                                topic: topic_of(id)?,
                                text: Some((row.try_get(1)?, row.try_get(2)?)),
                            })
                        })
                        .collect::<StoreResult<_>>()?;
                    &queued
                }
            };
            for chunk in docs.chunks(ROWS_PER_INSERT) {
                let ids: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
                // Out of the queue first: a re-indexing server holding the row is waited for.
                for table in ["board_reindex", "board_words"] {
                    let sql = format!("DELETE FROM {table} WHERE rowid IN ({})", ids.join(", "));
                    let mut delete = sqlx::query(&sql);
                    for doc in chunk {
                        delete = delete.bind(i64::from(doc.topic.0));
                    }
                    delete.execute(&mut *tx).await?;
                }
                let public: Vec<(i64, String)> = chunk
                    .iter()
                    .filter_map(|d| {
                        d.text
                            .as_ref()
                            .map(|(t, b)| (i64::from(d.topic.0), search::indexed(t, b)))
                    })
                    .collect();
                if public.is_empty() {
                    continue;
                }
                let sql = if postgres {
                    values_sql(
                        "INSERT INTO board_words (rowid, words, vector) VALUES",
                        public.len(),
                        &["", "", "::tsvector"],
                    )
                } else {
                    values_sql(
                        "INSERT INTO board_words (rowid, words) VALUES",
                        public.len(),
                        &["", ""],
                    )
                };
                let mut insert = sqlx::query(&sql);
                for (id, words) in public {
                    let vector = postgres.then(|| tsvector(&words));
                    insert = insert.bind(id).bind(words);
                    if let Some(vector) = vector {
                        insert = insert.bind(vector);
                    }
                }
                insert.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(docs.len())
        });
        match result {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict),
            other => other,
        }
    }

    /// Public topics whose title or text contains every word of `query`, most recent
    /// first, at most `limit`. Words are cut by [`search::words`] (at spaces and
    /// punctuation, in lower case). A word of two characters or more is the phrase of its
    /// bigrams, answered from the index (SQLite: an FTS5 phrase; PostgreSQL: the GIN
    /// index finds the topics holding its first bigram, newest first, and the phrase is
    /// checked on their `words`); a word of one character is looked for in every topic's
    /// tokens (a scan).
    pub async fn board_search(&self, query: &str, limit: u32) -> StoreResult<Vec<TopicId>> {
        let words: Vec<String> = search::words(query).into_iter().take(MAX_TERMS).collect();
        let (phrases, chars): (Vec<String>, Vec<String>) =
            words.into_iter().partition(|w| w.chars().count() > 1);
        let postgres = matches!(self.backend, Backend::Postgres(_));
        let mut binds: Vec<String> = Vec::new();
        let mut clauses: Vec<String> = Vec::new();
        if !phrases.is_empty() {
            if postgres {
                binds.push(tsquery(&phrases));
                clauses.push("vector @@ $1::tsquery".into());
            } else {
                binds.push(fts5_query(&phrases));
                clauses.push("board_words MATCH $1".into());
            }
        }
        // PostgreSQL: the whole phrase, as consecutive tokens of `words`.
        for w in phrases.iter().filter(|_| postgres) {
            let tokens = search::tokens(w);
            if tokens.len() > 1 {
                binds.push(format!(" {} ", tokens.join(" ")));
                let n = binds.len();
                clauses.push(format!("strpos(' ' || words || ' ', ${n}) > 0"));
            }
        }
        for c in chars {
            binds.push(c);
            let n = binds.len();
            clauses.push(if postgres {
                format!("strpos(words, ${n}) > 0")
            } else {
                format!("instr(words, ${n}) > 0")
            });
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT rowid FROM board_words WHERE {} ORDER BY rowid DESC LIMIT {}",
            clauses.join(" AND "),
            limit
        );
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql);
            for b in &binds {
                q = q.bind(b.as_str());
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(|row| topic_of(row.try_get(0)?)).collect()
        })
    }

    /// How far a webhook subscription has read the record under `key` (0 if not yet).
    pub async fn webhook_cursor(&self, webhook: &str, key: &str) -> StoreResult<u64> {
        let seq: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT seq FROM webhook_cursors WHERE webhook_id = $1 AND room_id = $2",
            )
            .bind(webhook)
            .bind(key)
            .fetch_optional(pool)
            .await
        })?;
        Ok(seq.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
    }
}
