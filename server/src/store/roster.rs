//! The roster of members (委员名册) in the store: listed and searched, imported in one
//! transaction (a row with a member number already stored updates that member), and one
//! member (de)activated. Files are read and checked in `crate::roster`.

use std::collections::HashMap;

use serde::Serialize;

use super::{Backend, Pool, Store, StoreResult};

/// A member as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: i64,
    pub number: Option<String>,
    pub name: String,
    pub sector: String,
    pub venue: String,
    pub phone: String,
    pub active: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A member to add, or to update when the number is stored already. A `None` field
/// leaves an updated member's stored value as it is (the file had no such column, or a
/// masked phone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInput {
    pub number: Option<String>,
    pub name: String,
    pub sector: Option<String>,
    pub venue: Option<String>,
    pub phone: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub added: usize,
    pub updated: usize,
}

type MemberRow = (
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    bool,
    i64,
    i64,
);

fn member(
    (id, number, name, sector, venue, phone, active, created_at, updated_at): MemberRow,
) -> Member {
    Member {
        id,
        number,
        name,
        sector,
        venue,
        phone,
        active,
        created_at,
        updated_at,
    }
}

const MEMBER_COLUMNS: &str =
    "id, number, name, sector, venue, phone, active, created_at, updated_at";

/// How an import keeps concurrent imports apart: SQLite's write transaction (`BEGIN
/// IMMEDIATE`) is serial already; on PostgreSQL a lock on the table, taken first, makes a
/// second import wait, so its look-ups by number see the first one's rows.
trait LockMembers {
    const LOCK: Option<&'static str>;
}

impl LockMembers for sqlx::SqlitePool {
    const LOCK: Option<&'static str> = None;
}

impl LockMembers for sqlx::PgPool {
    const LOCK: Option<&'static str> = Some("LOCK TABLE members IN SHARE ROW EXCLUSIVE MODE");
}

fn lock_of<P: LockMembers>(_: &P) -> Option<&'static str> {
    P::LOCK
}

/// `text` as a LIKE pattern that matches it anywhere, its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// The members whose name, number or sector contains `query` (all without one),
    /// active first, by number then name.
    pub async fn list_members(&self, query: Option<&str>) -> StoreResult<Vec<Member>> {
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        let rows: Vec<MemberRow> = with_pool!(self, |pool| {
            match query {
                Some(q) => {
                    sqlx::query_as(&format!(
                        "SELECT {MEMBER_COLUMNS} FROM members WHERE name LIKE $1 ESCAPE '\\' \
                         OR number LIKE $1 ESCAPE '\\' OR sector LIKE $1 ESCAPE '\\' \
                         ORDER BY active DESC, number IS NULL, number, name, id"
                    ))
                    .bind(contains_pattern(q))
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query_as(&format!(
                        "SELECT {MEMBER_COLUMNS} FROM members ORDER BY active DESC, number IS NULL, number, name, id"
                    ))
                    .fetch_all(pool)
                    .await
                }
            }
        })?;
        Ok(rows.into_iter().map(member).collect())
    }

    /// The stored members that have a number, by number.
    pub async fn members_by_number(&self) -> StoreResult<HashMap<String, Member>> {
        let rows: Vec<MemberRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE number IS NOT NULL"
            ))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(member)
            .filter_map(|m| Some((m.number.clone()?, m)))
            .collect())
    }

    /// Add or update every member in one transaction: all or nothing. A member whose
    /// number is stored is updated (and active again); any other is added.
    pub async fn import_members(&self, rows: &[MemberInput], at: i64) -> StoreResult<Imported> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if let Some(lock) = lock_of(pool) {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let mut done = Imported {
                added: 0,
                updated: 0,
            };
            // The stored numbers, read once inside the transaction (which no other
            // import can write in meanwhile).
            let stored: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, number FROM members WHERE number IS NOT NULL")
                    .fetch_all(&mut *tx)
                    .await?;
            let stored: HashMap<String, i64> = stored.into_iter().map(|(id, n)| (n, id)).collect();
            for row in rows {
                match row.number.as_ref().and_then(|n| stored.get(n)) {
                    Some(&id) => {
                        sqlx::query(
                            "UPDATE members SET name = $1, sector = COALESCE($2, sector), \
                             venue = COALESCE($3, venue), phone = COALESCE($4, phone), \
                             active = TRUE, updated_at = $5 WHERE id = $6",
                        )
                        .bind(&row.name)
                        .bind(&row.sector)
                        .bind(&row.venue)
                        .bind(&row.phone)
                        .bind(at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        done.updated += 1;
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO members (number, name, sector, venue, phone, active, \
                             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)",
                        )
                        .bind(&row.number)
                        .bind(&row.name)
                        .bind(row.sector.as_deref().unwrap_or(""))
                        .bind(row.venue.as_deref().unwrap_or(""))
                        .bind(row.phone.as_deref().unwrap_or(""))
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                        done.added += 1;
                    }
                }
            }
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Mark a member active or not; the member as it is now, if there is one.
    pub async fn set_member_active(
        &self,
        id: i64,
        active: bool,
        at: i64,
    ) -> StoreResult<Option<Member>> {
        let row: Option<MemberRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "UPDATE members SET active = $1, updated_at = $2 WHERE id = $3 \
                 RETURNING {MEMBER_COLUMNS}"
            ))
            .bind(active)
            .bind(at)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(member))
    }
}
