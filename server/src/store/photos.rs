//! The studios' photos (see `crate::http::board`): bytes kept once under their digest.

use super::{Backend, Store, StoreResult};

/// A stored photo.
#[derive(Debug, Clone)]
pub struct Photo {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Store {
    /// Keep a photo under `id` (its digest); the same bytes uploaded again keep the first
    /// upload's name and time.
    pub async fn put_photo(
        &self,
        id: &str,
        content_type: &str,
        bytes: &[u8],
        by: &str,
        at: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO board_photos (id, content_type, bytes, uploaded_by, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(content_type)
            .bind(bytes)
            .bind(by)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The photo kept under `id`, if any.
    pub async fn photo(&self, id: &str) -> StoreResult<Option<Photo>> {
        let row: Option<(String, Vec<u8>)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT content_type, bytes FROM board_photos WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(content_type, bytes)| Photo {
            content_type,
            bytes,
        }))
    }
}
