//! The board's record and search index in the store (migration 0008): one hash-chained
//! record, appended in one transaction that checks it continues the stored head (so a
//! second writer with a stale board gets [`StoreError::Conflict`] and nothing is
//! written), and the search index of public topics updated in that same transaction, so
//! the index never shows a topic the record has not committed.

use sqlx::Row;

use super::{
    Backend, Pool, Store, StoreError, StoreResult, corrupt, extend_head, is_unique_violation,
    millis_in, millis_out,
};
use crate::board::{BoardEntry, Event, TopicId};
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

/// `INSERT … VALUES ($1, …, $width), …` for `rows` rows.
fn values_sql(insert: &str, rows: usize, width: usize) -> String {
    let mut sql = String::from(insert);
    for r in 0..rows {
        sql.push_str(if r == 0 { " (" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * width + c + 1));
        }
        sql.push(')');
    }
    sql
}

/// Terms searched at most.
const MAX_TERMS: usize = 8;

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
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries {
            rows.push((
                i64::try_from(e.event.seq).map_err(|_| StoreError::OutOfRange("board seq"))?,
                millis_in(e.event.at)?,
                serde_json::to_string(&e.event.actor)?,
                serde_json::to_string(&e.event.body)?,
            ));
        }
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
                    6,
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
            for chunk in docs.chunks(ROWS_PER_INSERT) {
                let ids: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    "DELETE FROM board_search WHERE rowid IN ({})",
                    ids.join(", ")
                );
                let mut delete = sqlx::query(&sql);
                for doc in chunk {
                    delete = delete.bind(i64::from(doc.topic.0));
                }
                delete.execute(&mut *tx).await?;
                let public: Vec<(i64, &str, &str)> = chunk
                    .iter()
                    .filter_map(|d| {
                        d.text
                            .as_ref()
                            .map(|(t, b)| (i64::from(d.topic.0), t.as_str(), b.as_str()))
                    })
                    .collect();
                if public.is_empty() {
                    continue;
                }
                let sql = values_sql(
                    "INSERT INTO board_search (rowid, title, body) VALUES",
                    public.len(),
                    3,
                );
                let mut insert = sqlx::query(&sql);
                for (id, title, body) in public {
                    insert = insert.bind(id).bind(title).bind(body);
                }
                insert.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        });
        match result {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict),
            other => other,
        }
    }

    /// Public topics whose title or text contains every word of `query` (split at white
    /// space), best first (most recent first), at most `limit`.
    pub async fn board_search(&self, query: &str, limit: u32) -> StoreResult<Vec<TopicId>> {
        // `%`, `_` and `\` are not searched for: LIKE patterns stay free of escapes, which
        // SQLite's trigram index would not use.
        let terms: Vec<String> = query
            .split_whitespace()
            .map(|t| t.replace(['%', '_', '\\'], ""))
            .filter(|t| !t.is_empty())
            .take(MAX_TERMS)
            .map(|t| format!("%{t}%"))
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let like: fn(usize) -> String = match self.backend {
            Backend::Sqlite(_) => |n: usize| format!("(title LIKE ${n} OR body LIKE ${n})"),
            Backend::Postgres(_) => |n: usize| format!("((title || ' ' || body) ILIKE ${n})"),
        };
        let clauses: Vec<String> = (1..=terms.len()).map(like).collect();
        let sql = format!(
            "SELECT rowid FROM board_search WHERE {} ORDER BY rowid DESC LIMIT {}",
            clauses.join(" AND "),
            limit
        );
        with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql);
            for t in &terms {
                q = q.bind(t.as_str());
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.try_get(0)?;
                    u32::try_from(id)
                        .map(TopicId)
                        .map_err(|_| corrupt("board_search.rowid", id))
                })
                .collect()
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
