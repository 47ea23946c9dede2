//! Deleting old callbacks in small batches, so that a large purge never holds the write lock
//! (SQLite's single writer, or row locks on Postgres) for long and ingest keeps flowing.
//! Views of a deleted callback go with it through the foreign key's `ON DELETE CASCADE`.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use super::schema::callbacks;
use super::{with_conn, Db, StoreError};

#[diesel::declare_sql_function]
extern "SQL" {
    /// A body's size in bytes, which both databases read without the body itself: SQLite from
    /// the row's header, Postgres from the value's. `payload_size`, a column after the body in
    /// SQLite's rows, made SQLite read every body's overflow pages to reach it (183 ms for the
    /// sizes of 500 bodies of 1 MiB, cached; 1 ms this way).
    fn length(body: diesel::sql_types::Binary) -> diesel::sql_types::Integer;
}

/// What one batch deleted.
#[derive(Debug, PartialEq, Eq)]
pub struct Deleted {
    pub rows: usize,
    /// Callbacks received before the cutoff may remain: the batch was full.
    pub more: bool,
}

/// Deletes the oldest callbacks received before `cutoff`: at most `batch` rows, and no more
/// than `max_bytes` of bodies (but always one row). Freeing a body's pages costs in proportion
/// to its size: 500 bodies of 1 MiB held SQLite's one write lock for 1.8–2.3 s, longer than
/// ingest waits for it (`--db-timeout-ms`, 2 s) before answering 503.
pub async fn delete_batch_before(
    db: &Db,
    cutoff: NaiveDateTime,
    batch: i64,
    max_bytes: i64,
) -> Result<Deleted, StoreError> {
    with_conn!(db, write, |conn| {
        let oldest: Vec<(i64, i32)> = callbacks::table
            .filter(callbacks::received_at.lt(cutoff))
            .order(callbacks::received_at.asc())
            .select((callbacks::id, length(callbacks::body)))
            .limit(batch)
            .load(conn)
            .await?;
        let ids = within_bytes(&oldest, max_bytes);
        let more = ids.len() < oldest.len() || oldest.len() as i64 >= batch;
        if ids.is_empty() {
            return Ok(Deleted { rows: 0, more });
        }
        let rows = diesel::delete(callbacks::table.filter(callbacks::id.eq_any(ids)))
            .execute(conn)
            .await?;
        Ok(Deleted { rows, more })
    })
}

/// The ids of the first rows whose sizes add up to at most `max_bytes`, and at least the first.
fn within_bytes(rows: &[(i64, i32)], max_bytes: i64) -> Vec<i64> {
    let mut bytes = 0i64;
    let mut ids = Vec::new();
    for &(id, size) in rows {
        bytes += i64::from(size);
        if !ids.is_empty() && bytes > max_bytes {
            break;
        }
        ids.push(id);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::within_bytes;

    #[test]
    fn a_batch_takes_rows_up_to_the_bytes_and_always_the_first() {
        let rows = [(1, 600), (2, 300), (3, 200), (4, 10)];
        assert_eq!(within_bytes(&rows, 1000), [1, 2]);
        assert_eq!(within_bytes(&rows, 100), [1]);
        assert_eq!(within_bytes(&rows, 10_000), [1, 2, 3, 4]);
        assert!(within_bytes(&[], 100).is_empty());
    }
}
