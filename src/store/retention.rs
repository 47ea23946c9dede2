//! Deleting old callbacks in small batches, so that a large purge never holds the write lock
//! (SQLite's single writer, or row locks on Postgres) for long and ingest keeps flowing.
//! Views of a deleted callback go with it through the foreign key's `ON DELETE CASCADE`.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use super::schema::callbacks;
use super::{with_conn, Db, StoreError};

/// Deletes at most `batch` of the oldest callbacks received before `cutoff`; returns how many.
pub async fn delete_batch_before(
    db: &Db,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<usize, StoreError> {
    with_conn!(db, write, |conn| {
        let ids: Vec<i64> = callbacks::table
            .filter(callbacks::received_at.lt(cutoff))
            .order(callbacks::received_at.asc())
            .select(callbacks::id)
            .limit(batch)
            .load(conn)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(
            diesel::delete(callbacks::table.filter(callbacks::id.eq_any(ids)))
                .execute(conn)
                .await?,
        )
    })
}
