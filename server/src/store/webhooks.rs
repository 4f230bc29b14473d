//! Webhook subscriptions, their cursors in the record and the outbox of deliveries (see
//! `crate::webhooks` and migration 0005). Times are milliseconds since the epoch.
//!
//! Claiming a due delivery is one `UPDATE … RETURNING` that sets `locked_until` only on
//! rows whose claim has lapsed, rechecked on the row itself, so two senders (two nodes of
//! a cluster on one PostgreSQL) never claim the same attempt; on PostgreSQL the rows are
//! picked with `FOR UPDATE SKIP LOCKED`, so a second sender takes other rows instead of
//! waiting. SQLite serialises writers, and only one process opens its file.

use serde::Serialize;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use yishi_protocol::{EventBody, Participant, ParticipantId, Seq};

use super::{Backend, Pool, Store, StoreError, StoreResult};

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The event types it is sent.
    pub types: Vec<String>,
    /// `whsec_…`: the signing secret.
    pub secret: String,
    pub enabled: bool,
    /// Who created it: a staff account's name, or `admin` for the admin key.
    pub created_by: String,
    pub created_at: i64,
}

/// A delivery to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The `webhook-id`: the same for every attempt.
    pub id: String,
    pub kind: String,
    /// The JSON body, exactly as it will be signed and sent.
    pub payload: String,
}

/// A delivery claimed by a sender, with where to send it and how to sign it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub webhook_id: String,
    pub id: String,
    pub kind: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Another answer or none: tried again at `next_at`, or given up (`next_at` = `None`).
    Failed {
        status: Option<u16>,
        error: String,
        next_at: Option<i64>,
    },
}

/// One line of a subscription's delivery log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryLog {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What differs between the backends here.
trait ClaimSql {
    /// Appended to the selection of rows to claim.
    const SKIP_LOCKED: &'static str;
}

impl ClaimSql for SqlitePool {
    const SKIP_LOCKED: &'static str = "";
}

impl ClaimSql for PgPool {
    const SKIP_LOCKED: &'static str = " FOR UPDATE OF d SKIP LOCKED";
}

fn skip_locked<P: ClaimSql>(_pool: &P) -> &'static str {
    P::SKIP_LOCKED
}

/// Insert a delivery in transaction `$tx`, unless one with its id is there.
macro_rules! insert_delivery {
    ($tx:expr, $webhook:expr, $d:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO webhook_deliveries \
               (webhook_id, id, type, payload, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $5) ON CONFLICT (webhook_id, id) DO NOTHING",
        )
        .bind($webhook)
        .bind(&$d.id)
        .bind(&$d.kind)
        .bind(&$d.payload)
        .bind($now)
        .execute(&mut *$tx)
        .await
    };
}

type WebhookRow = (String, String, String, String, i64, String, i64);

fn webhook_from(
    (id, url, types, secret, enabled, created_by, created_at): WebhookRow,
) -> StoreResult<Webhook> {
    Ok(Webhook {
        id,
        url,
        types: serde_json::from_str(&types)?,
        secret,
        enabled: enabled != 0,
        created_by,
        created_at,
    })
}

const SELECT_WEBHOOK: &str =
    "SELECT id, url, types, secret, enabled, created_by, created_at FROM webhooks";

type LogRow = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    i64,
);

impl Store {
    /// Add a subscription. It starts at the present: its cursor in every room that has a
    /// record is set to the room's last event, in the same transaction, so it is sent
    /// what happens from now on (and everything of rooms whose record starts later).
    pub async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let types = serde_json::to_string(&webhook.types)?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO webhooks (id, url, types, secret, enabled, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&webhook.id)
            .bind(&webhook.url)
            .bind(&types)
            .bind(&webhook.secret)
            .bind(i64::from(webhook.enabled))
            .bind(&webhook.created_by)
            .bind(webhook.created_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO webhook_cursors (webhook_id, room_id, seq) \
                 SELECT $1, room_id, MAX(seq) FROM events GROUP BY room_id",
            )
            .bind(&webhook.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Every subscription, oldest first.
    pub async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("{SELECT_WEBHOOK} ORDER BY created_at, id"))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(webhook_from).collect()
    }

    pub async fn webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        let row: Option<WebhookRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("{SELECT_WEBHOOK} WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(webhook_from).transpose()
    }

    /// Remove a subscription with its cursors and deliveries; whether it existed.
    pub async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// The rooms whose record has events after the subscription's cursor, with the
    /// cursor (0 where it has none).
    pub async fn webhook_backlog(&self, webhook: &str) -> StoreResult<Vec<(String, Seq)>> {
        let rows: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id, COALESCE(c.seq, 0) FROM rooms r \
                 LEFT JOIN webhook_cursors c ON c.webhook_id = $1 AND c.room_id = r.id \
                 WHERE EXISTS (SELECT 1 FROM events e \
                               WHERE e.room_id = r.id AND e.seq > COALESCE(c.seq, 0)) \
                 ORDER BY r.id",
            )
            .bind(webhook)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(room, seq)| Ok((room, super::seq_out(seq)?)))
            .collect()
    }

    /// Enqueue deliveries (those already there, by id, are left as they are) and move the
    /// subscription's cursor in `room` to `seq` (never back), in one transaction.
    pub async fn enqueue_webhook(
        &self,
        webhook: &str,
        room: &str,
        seq: Seq,
        deliveries: &[NewDelivery],
        now: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for d in deliveries {
                insert_delivery!(tx, webhook, d, now)?;
            }
            sqlx::query(
                "INSERT INTO webhook_cursors (webhook_id, room_id, seq) VALUES ($1, $2, $3) \
                 ON CONFLICT (webhook_id, room_id) DO UPDATE SET seq = CASE \
                   WHEN excluded.seq > webhook_cursors.seq THEN excluded.seq \
                   ELSE webhook_cursors.seq END",
            )
            .bind(webhook)
            .bind(room)
            .bind(i64::from(seq))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Enqueue one delivery that is not from the record (a test).
    pub async fn enqueue_delivery(
        &self,
        webhook: &str,
        delivery: &NewDelivery,
        now: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            insert_delivery!(tx, webhook, delivery, now)?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Claim at most `limit` deliveries that are due at `now` until `until`, of enabled
    /// subscriptions, soonest due first (see the module docs).
    pub async fn claim_deliveries(
        &self,
        now: i64,
        until: i64,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        // A read first: when nothing is due (most of the time) no write lock is taken,
        // which on SQLite would stand in the way of the record's appends.
        let due = with_pool!(self, |pool| {
            sqlx::query(
                "SELECT 1 FROM webhook_deliveries \
                 WHERE status = 'pending' AND next_attempt_at <= $1 AND locked_until <= $1 \
                 LIMIT 1",
            )
            .bind(now)
            .fetch_optional(pool)
            .await
            .map(|row| row.is_some())
        })?;
        if !due {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String, String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "UPDATE webhook_deliveries SET locked_until = $2 \
                 WHERE status = 'pending' AND next_attempt_at <= $1 AND locked_until <= $1 \
                   AND (webhook_id, id) IN ( \
                     SELECT d.webhook_id, d.id FROM webhook_deliveries d \
                     JOIN webhooks w ON w.id = d.webhook_id \
                     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                       AND d.locked_until <= $1 AND w.enabled = 1 \
                     ORDER BY d.next_attempt_at LIMIT $3{}) \
                 RETURNING webhook_id, id, type, payload, attempts",
                skip_locked(pool)
            ))
            .bind(now)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(webhook_id, id, kind, payload, attempts)| DueDelivery {
                webhook_id,
                id,
                kind,
                payload,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            })
            .collect())
    }

    /// Record an attempt's outcome and release the claim.
    pub async fn finish_delivery(
        &self,
        webhook: &str,
        id: &str,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> StoreResult<()> {
        let (status, next_at, code, error) = match outcome {
            AttemptOutcome::Delivered { status } => ("delivered", now, Some(*status), None),
            AttemptOutcome::Failed {
                status,
                error,
                next_at,
            } => match next_at {
                Some(at) => ("pending", *at, *status, Some(error.as_str())),
                None => ("failed", now, *status, Some(error.as_str())),
            },
        };
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, \
                   next_attempt_at = $4, locked_until = 0, last_status = $5, last_error = $6, \
                   updated_at = $7 \
                 WHERE webhook_id = $1 AND id = $2",
            )
            .bind(webhook)
            .bind(id)
            .bind(status)
            .bind(next_at)
            .bind(code.map(i64::from))
            .bind(error)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Release every claim: for a server that is the only sender on its database, at
    /// start, so what a killed process had claimed is sent again at once.
    pub async fn release_delivery_claims(&self) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE webhook_deliveries SET locked_until = 0 WHERE locked_until > 0")
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// A subscription's delivery log, newest first, at most `limit` lines.
    pub async fn delivery_log(&self, webhook: &str, limit: u32) -> StoreResult<Vec<DeliveryLog>> {
        let rows: Vec<LogRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, type, status, attempts, next_attempt_at, last_status, last_error, \
                   created_at, updated_at \
                 FROM webhook_deliveries WHERE webhook_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(webhook)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    kind,
                    status,
                    attempts,
                    next_attempt_at,
                    last_status,
                    last_error,
                    created_at,
                    updated_at,
                )| DeliveryLog {
                    id,
                    kind,
                    status,
                    attempts,
                    next_attempt_at,
                    last_status,
                    last_error,
                    created_at,
                    updated_at,
                },
            )
            .collect())
    }

    /// The participant as they last joined `room` before `before` (name, venue), if the
    /// record has them.
    pub async fn joined_before(
        &self,
        room: &str,
        participant: &ParticipantId,
        before: Seq,
    ) -> StoreResult<Option<Participant>> {
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT body FROM events WHERE room_id = $1 AND seq < $2 \
                   AND body LIKE '{\"type\":\"joined\",%' ORDER BY seq DESC",
            )
            .bind(room)
            .bind(i64::from(before))
            .fetch_all(pool)
            .await
        })?;
        for (body,) in rows {
            if let EventBody::Joined { participant: p } = serde_json::from_str(&body)?
                && &p.id == participant
            {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Whether `room`'s record has an event with exactly this body before `before`.
    pub async fn has_event_before(
        &self,
        room: &str,
        body: &EventBody,
        before: Seq,
    ) -> StoreResult<bool> {
        let body = serde_json::to_string(body)?;
        let row = with_pool!(self, |pool| {
            sqlx::query(
                "SELECT 1 FROM events WHERE room_id = $1 AND seq < $2 AND body = $3 LIMIT 1",
            )
            .bind(room)
            .bind(i64::from(before))
            .bind(&body)
            .fetch_optional(pool)
            .await
            .map(|row| row.is_some())
        })?;
        Ok(row)
    }
}
