//! Scoped API keys in the store (see `crate::apikeys`). Secrets never reach this module:
//! a key is looked up by its digest.

use super::{Backend, Store, StoreError, StoreResult, is_unique_violation};
use crate::apikeys::{Scope, split_scopes};

/// An API key as stored (its digest, never its secret).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub digest: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    /// Milliseconds since the epoch, as the other times.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

type KeyRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn key(
    (id, name, digest, scopes, created_by, created_at, last_used_at, expires_at, revoked_at): KeyRow,
) -> ApiKey {
    ApiKey {
        id,
        name,
        digest,
        scopes: split_scopes(&scopes),
        created_by,
        created_at,
        last_used_at,
        expires_at,
        revoked_at,
    }
}

const SELECT_KEY: &str = "SELECT id, name, digest, scopes, created_by, created_at, \
     last_used_at, expires_at, revoked_at FROM api_keys";

impl Store {
    /// Keep a new key (its digest); its id.
    pub async fn create_api_key(
        &self,
        name: &str,
        digest: &str,
        scopes: &str,
        created_by: &str,
        at: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            let done: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO api_keys (name, digest, scopes, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(name)
            .bind(digest)
            .bind(scopes)
            .bind(created_by)
            .bind(at)
            .bind(expires_at)
            .fetch_one(pool)
            .await;
            match done {
                Err(e) if is_unique_violation(&e) => Err(StoreError::KeyExists(name.to_owned())),
                Err(e) => Err(e.into()),
                Ok((id,)) => Ok(id),
            }
        })
    }

    /// Every key, revoked and expired ones included, newest first.
    pub async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<KeyRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("{SELECT_KEY} ORDER BY id DESC"))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(key).collect())
    }

    /// The key with this digest, whatever its standing.
    pub async fn api_key_by_digest(&self, digest: &str) -> StoreResult<Option<ApiKey>> {
        let row: Option<KeyRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("{SELECT_KEY} WHERE digest = $1"))
                .bind(digest)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(key))
    }

    /// Revoke the key with this id, or else this name; the key, `None` if there is none.
    /// A key revoked already keeps its first revocation time.
    pub async fn revoke_api_key(&self, id_or_name: &str, at: i64) -> StoreResult<Option<ApiKey>> {
        let id = id_or_name.parse::<i64>().unwrap_or(-1);
        let row: Option<KeyRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
                 WHERE id = $2 OR (name = $3 AND NOT EXISTS \
                 (SELECT 1 FROM api_keys WHERE id = $2)) \
                 RETURNING id, name, digest, scopes, created_by, created_at, last_used_at, \
                 expires_at, revoked_at",
            )
            .bind(at)
            .bind(id)
            .bind(id_or_name)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(key))
    }

    /// Note a key's use.
    pub async fn touch_api_key(&self, id: i64, at: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}
