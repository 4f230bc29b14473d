//! Staff accounts, their tokens and the audit log in the store (see `crate::staff`).
//! Secrets never reach this module: tokens are looked up by their digest.

use serde::Serialize;

use super::{Backend, Store, StoreError, StoreResult, is_unique_violation};
use crate::staff::StaffRole;

/// A staff account as stored.
#[derive(Debug, Clone)]
pub struct StaffAccount {
    pub name: String,
    pub role: StaffRole,
    pub password_hash: Option<String>,
    /// Wrong passwords in a row since the last success or lock.
    pub failed_logins: u32,
    /// Locked until this time (milliseconds since the epoch; 0: not locked).
    pub locked_until: i64,
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// A one-time link to set (or reset) a password.
    Password,
    /// A login session.
    Session,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Password => "password",
            TokenPurpose::Session => "session",
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub staff: String,
    pub action: String,
    pub target: String,
}

type AccountRow = (String, String, Option<String>, i64, i64);
/// An account's row and a session's CSRF token.
type TokenRow = (String, String, Option<String>, i64, i64, Option<String>);
/// An account's row, a session's CSRF token and its last use.
type SessionRow = (
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    i64,
);

fn account(
    (name, role, password_hash, failed, locked_until): AccountRow,
) -> StoreResult<StaffAccount> {
    Ok(StaffAccount {
        role: StaffRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("staff role {role:?}")))?,
        name,
        password_hash,
        failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until,
    })
}

const SELECT_STAFF: &str =
    "SELECT name, role, password_hash, failed_logins, locked_until FROM staff";

impl Store {
    /// Add an account without a password (it gets one through a set-password link).
    pub async fn create_staff(&self, name: &str, role: StaffRole, at: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let done =
                sqlx::query("INSERT INTO staff (name, role, created_at) VALUES ($1, $2, $3)")
                    .bind(name)
                    .bind(role.as_str())
                    .bind(at)
                    .execute(pool)
                    .await;
            match done {
                Err(e) if is_unique_violation(&e) => Err(StoreError::StaffExists(name.to_owned())),
                Err(e) => Err(e.into()),
                Ok(_) => Ok(()),
            }
        })
    }

    pub async fn staff(&self, name: &str) -> StoreResult<Option<StaffAccount>> {
        let row: Option<AccountRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("{SELECT_STAFF} WHERE name = $1"))
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        row.map(account).transpose()
    }

    pub async fn list_staff(&self) -> StoreResult<Vec<StaffAccount>> {
        let rows: Vec<AccountRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("{SELECT_STAFF} ORDER BY name"))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(account).collect()
    }

    /// Set a password hash; clears failures and a lock, and ends the account's sessions.
    pub async fn set_password(&self, name: &str, hash: &str) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE staff SET password_hash = $1, failed_logins = 0, locked_until = 0 \
                 WHERE name = $2",
            )
            .bind(hash)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM staff_tokens WHERE staff = $1 AND purpose = 'session'")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Record the outcome of a login attempt: the failures in a row and the lock.
    pub async fn set_login_state(
        &self,
        name: &str,
        failed: u32,
        locked_until: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE staff SET failed_logins = $1, locked_until = $2 WHERE name = $3")
                .bind(i64::from(failed))
                .bind(locked_until)
                .bind(name)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Keep a token's digest for an account, with its CSRF token for a session, made
    /// (and so last used) at `at`.
    pub async fn put_staff_token(
        &self,
        digest: &str,
        staff: &str,
        purpose: TokenPurpose,
        csrf: Option<&str>,
        at: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO staff_tokens (digest, staff, purpose, csrf, expires_at, last_used) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(digest)
            .bind(staff)
            .bind(purpose.as_str())
            .bind(csrf)
            .bind(expires_at)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The account and CSRF token of an unexpired token of this purpose.
    pub async fn staff_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: i64,
    ) -> StoreResult<Option<(StaffAccount, Option<String>)>> {
        let row: Option<TokenRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.name, s.role, s.password_hash, s.failed_logins, s.locked_until, t.csrf \
                 FROM staff_tokens t JOIN staff s ON s.name = t.staff \
                 WHERE t.digest = $1 AND t.purpose = $2 AND t.expires_at > $3",
            )
            .bind(digest)
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        row.map(|(n, r, h, f, l, csrf)| Ok((account((n, r, h, f, l))?, csrf)))
            .transpose()
    }

    /// The account, CSRF token and last use of a session that is neither past its
    /// absolute expiry at `now` nor unused since `idle_since`.
    pub async fn staff_session(
        &self,
        digest: &str,
        now: i64,
        idle_since: i64,
    ) -> StoreResult<Option<(StaffAccount, Option<String>, i64)>> {
        let row: Option<SessionRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.name, s.role, s.password_hash, s.failed_logins, s.locked_until, \
                     t.csrf, t.last_used \
                     FROM staff_tokens t JOIN staff s ON s.name = t.staff \
                     WHERE t.digest = $1 AND t.purpose = 'session' AND t.expires_at > $2 \
                     AND t.last_used > $3",
            )
            .bind(digest)
            .bind(now)
            .bind(idle_since)
            .fetch_optional(pool)
            .await
        })?;
        row.map(|(n, r, h, f, l, csrf, used)| Ok((account((n, r, h, f, l))?, csrf, used)))
            .transpose()
    }

    /// Note a session's use at `at`.
    pub async fn touch_staff_token(&self, digest: &str, at: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE staff_tokens SET last_used = $1 WHERE digest = $2")
                .bind(at)
                .bind(digest)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Forget a token (a used set-password link, a logout); also drops expired ones.
    pub async fn delete_staff_token(&self, digest: &str, now: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM staff_tokens WHERE digest = $1 OR expires_at <= $2")
                .bind(digest)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Write one line to the audit log.
    pub async fn audit(&self, at: i64, staff: &str, action: &str, target: &str) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("INSERT INTO audit_log (at, staff, action, target) VALUES ($1, $2, $3, $4)")
                .bind(at)
                .bind(staff)
                .bind(action)
                .bind(target)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The audit log, oldest first.
    pub async fn audit_log(&self) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<(i64, i64, String, String, String)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id, at, staff, action, target FROM audit_log ORDER BY id")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, at, staff, action, target)| AuditEntry {
                id,
                at,
                staff,
                action,
                target,
            })
            .collect())
    }
}
