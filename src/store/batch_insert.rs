//! One transaction that inserts many callbacks and reports, per delivery key, whether the row is
//! new or which row already had that key. Idempotency is decided by a unique constraint, never
//! by a read before the write: on (source, delivery_key) in SQLite, on their digest in Postgres
//! (delivery_digest.rs).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::result::DatabaseErrorKind;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, QueryResult,
    SqliteConnection,
};
use diesel_async::AsyncPgConnection;

use super::callbacks::NewCallback;
use super::delivery_digest::delivery_digest;
use super::pg_bulk_insert::{FailOnStored, OnStoredKey, PgBulkInsert, SkipStored};
use super::pg_writer_connection::SharedPgConnection;
use super::schema::callbacks::dsl;
use super::writer::BatchLimits;
use super::{Db, NoAnswer, StoreError};

/// Held by each writing transaction from before its ids are drawn until it has committed, so
/// ids become visible in the order they were assigned, across every Hookbox instance sharing
/// the database. This is what lets readers page by `id > cursor` without ever skipping a row.
pub const CALLBACK_ORDER_LOCK: i64 = 0x486f_6f6b_626f_7802;

/// The unique constraint on the digest of (source, delivery_key), as the Postgres migration
/// names it.
const DELIVERY_KEY_CONSTRAINT: &str = "callbacks_delivery_digest_key";

pub type DeliveryKey = (String, String);

/// Per key: (row id, body SHA-256 of the stored row, whether this transaction inserted it).
pub struct Written {
    pub rows: Vec<(DeliveryKey, i64, String, bool)>,
    /// A plain insert met a stored key, and the batch was written again skipping stored keys.
    pub rewritten: bool,
    /// The batch committed, but reading the rows that already held its other keys failed: the
    /// keys missing from `rows` get this error, while the rows this batch inserted are still
    /// answered as new (answered with the error, their senders' retries would be told
    /// "duplicate" about the first delivery of their callback).
    pub lookup_failed: Option<StoreError>,
}

/// `rows` must not repeat a key (the writer merges repeats before calling). Borrowed: on the
/// writer's serial path, copying every body of a batch showed up in profiles; only SQLite's
/// blocking thread needs its own copy.
pub async fn insert_unique(
    db: &Db,
    pg_connection: &SharedPgConnection,
    rows: &[&NewCallback],
    limits: &BatchLimits,
    forecast: &KeyForecast,
) -> Result<Written, StoreError> {
    let delay = commit_delay(limits);
    match db {
        Db::Postgres { pool, .. } => {
            let connection = pg_connection.get(pool).await?;
            let insert = insert_unique_pg(&connection, rows, limits.order_lock, delay, forecast);
            // Answered 503, a batch that did commit meanwhile is found by the sender's retry
            // and answered as a duplicate.
            let Ok(written) = tokio::time::timeout(limits.answer_timeout, insert).await else {
                pg_connection.close_silent(connection);
                return Err(NoAnswer {
                    waited: limits.answer_timeout,
                }
                .into());
            };
            if written.as_ref().map_or(true, |w| w.lookup_failed.is_some()) {
                pg_connection.give_up(&connection);
            }
            written
        }
        Db::Sqlite { write, .. } => {
            let rows: Vec<NewCallback> = rows.iter().map(|&row| row.clone()).collect();
            let mut conn = write.get().await?;
            let written = conn
                .spawn_blocking(move |conn| {
                    conn.immediate_transaction(|conn| {
                        let written = insert_sqlite(conn, &rows)?;
                        if let Some(delay) = delay {
                            std::thread::sleep(delay);
                        }
                        Ok(written)
                    })
                })
                .await?;
            Ok(written)
        }
    }
}

/// Postgres: one statement, one round trip, its own transaction (see pg_bulk_insert.rs), on
/// the writer's shared connection, where it may be pipelined behind another batch.
async fn insert_unique_pg(
    connection: &AsyncPgConnection,
    rows: &[&NewCallback],
    lock: bool,
    delay: Option<Duration>,
    forecast: &KeyForecast,
) -> Result<Written, StoreError> {
    use diesel_async::RunQueryDsl;
    let mut conn = connection;
    let conn = &mut conn;
    let mut rewritten = false;
    let inserted = if forecast.expects_new_keys() {
        match insert_pg::<FailOnStored>(conn, lock, delay, rows).await {
            Err(error) if is_a_stored_key(&error) => {
                // Its transaction wrote nothing: write the batch again, skipping the stored keys.
                forecast.met_stored_key();
                rewritten = true;
                insert_pg::<SkipStored>(conn, lock, delay, rows).await?
            }
            written => written?,
        }
    } else {
        insert_pg::<SkipStored>(conn, lock, delay, rows).await?
    };
    let (inserted, missing) = split_inserted(rows.iter().copied(), inserted);
    // A key that conflicted belongs to a committed row: ON CONFLICT waits for a concurrent
    // inserter to finish, so this later snapshot sees its row.
    let (existing, lookup_failed) = if missing.is_empty() {
        (Vec::new(), None)
    } else {
        forecast.met_stored_key();
        match existing_rows_pg(&missing).load(conn).await {
            Ok(existing) => (existing, None),
            Err(error) => (Vec::new(), Some(StoreError::from(error))),
        }
    };
    let existing = existing.into_iter().map(ExistingRow::into_tuple).collect();
    Ok(Written {
        rewritten,
        lookup_failed,
        ..combine(inserted, existing)
    })
}

async fn insert_pg<C: OnStoredKey>(
    conn: &mut &AsyncPgConnection,
    take_lock: bool,
    pause: Option<Duration>,
    rows: &[&NewCallback],
) -> QueryResult<Vec<(i64, String, String)>> {
    use diesel_async::RunQueryDsl;
    PgBulkInsert::<C>::new(CALLBACK_ORDER_LOCK, take_lock, pause, rows)
        .load(conn)
        .await
}

/// The unique violation a `FailOnStored` insert fails with when a key is already stored.
fn is_a_stored_key(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(DELIVERY_KEY_CONSTRAINT)
    )
}

/// Which insert the next Postgres batch uses. Most batches carry only new keys: a sender's
/// retries of what this instance stored lately are answered from memory (recent.rs). For them
/// the plain insert (`FailOnStored`) spares the database a search of the unique index per row;
/// a batch that meets a stored key that way fails as a whole and is written again with
/// `SkipStored`. After a stored key has been met (either way), the next `CAUTIOUS_BATCHES`
/// batches use `SkipStored` from the start, so a stream of redeliveries costs at most one
/// failed statement per `CAUTIOUS_BATCHES` batches.
#[derive(Debug, Default)]
pub struct KeyForecast {
    cautious_batches_left: AtomicU32,
}

const CAUTIOUS_BATCHES: u32 = 64;

impl KeyForecast {
    /// Whether this batch should expect only new keys (and counts the batch).
    fn expects_new_keys(&self) -> bool {
        self.cautious_batches_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_err()
    }

    fn met_stored_key(&self) {
        self.cautious_batches_left
            .store(CAUTIOUS_BATCHES, Ordering::Relaxed);
    }
}

/// The test-only commit delay for this transaction, if the fault knob is set.
fn commit_delay(limits: &BatchLimits) -> Option<std::time::Duration> {
    let (low, high) = limits.commit_delay?;
    if high <= low {
        return Some(low);
    }
    Some(rand::random_range(low..high))
}

fn insert_sqlite(conn: &mut SqliteConnection, rows: &[NewCallback]) -> QueryResult<Written> {
    use diesel::RunQueryDsl;
    let mut inserted = Vec::with_capacity(rows.len());
    // Diesel cannot combine a multi-row insert with RETURNING on SQLite; inside one
    // transaction the per-row statements are cheap, the commit is what costs.
    for row in rows {
        let id: Option<(i64, String, String)> = diesel::insert_into(dsl::callbacks)
            .values(row)
            .on_conflict((dsl::source, dsl::delivery_key))
            .do_nothing()
            .returning((dsl::id, dsl::source, dsl::delivery_key))
            .get_result(conn)
            .optional()?;
        inserted.extend(id);
    }
    let (inserted, missing) = split_inserted(rows, inserted);
    let existing = if missing.is_empty() {
        Vec::new()
    } else {
        existing_query(&missing).load(conn)?
    };
    Ok(combine(inserted, existing))
}

type InsertedRow = (DeliveryKey, i64, String);

/// Pairs returned ids with their rows' body hashes, and lists the keys that hit a conflict.
fn split_inserted<'a>(
    rows: impl IntoIterator<Item = &'a NewCallback>,
    returned: Vec<(i64, String, String)>,
) -> (Vec<InsertedRow>, Vec<DeliveryKey>) {
    let mut returned: std::collections::HashMap<DeliveryKey, i64> = returned
        .into_iter()
        .map(|(id, source, key)| ((source, key), id))
        .collect();
    let mut inserted = Vec::new();
    let mut missing = Vec::new();
    for row in rows {
        let key = (row.source.clone(), row.delivery_key.clone());
        match returned.remove(&key) {
            Some(id) => inserted.push((key, id, row.body_sha256.clone())),
            None => missing.push(key),
        }
    }
    (inserted, missing)
}

type ExistingQuery<'a> = diesel::dsl::Select<
    diesel::dsl::Filter<
        dsl::callbacks,
        diesel::dsl::And<
            diesel::dsl::EqAny<dsl::source, Vec<&'a str>>,
            diesel::dsl::EqAny<dsl::delivery_key, Vec<&'a str>>,
        >,
    >,
    (dsl::id, dsl::source, dsl::delivery_key, dsl::body_sha256),
>;

/// The distinct sources and the keys of `missing`, the two lists a SQLite lookup matches
/// against. Both columns of the unique (source, delivery_key) index, so that the lookup is an
/// index scan: on the key alone SQLite cannot use that index and reads the whole table. The
/// cross product may also match rows of another listed source; answers are looked up by exact
/// (source, key), so those are never used.
fn lookup_columns(missing: &[DeliveryKey]) -> (Vec<&str>, Vec<&str>) {
    let mut sources: Vec<&str> = missing.iter().map(|(source, _)| source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let keys: Vec<&str> = missing.iter().map(|(_, key)| key.as_str()).collect();
    (sources, keys)
}

/// The stored rows holding the keys of `missing` (SQLite; Postgres uses `existing_rows_pg`).
fn existing_query(missing: &[DeliveryKey]) -> ExistingQuery<'_> {
    let (sources, keys) = lookup_columns(missing);
    dsl::callbacks
        .filter(
            dsl::source
                .eq_any(sources)
                .and(dsl::delivery_key.eq_any(keys)),
        )
        .select((dsl::id, dsl::source, dsl::delivery_key, dsl::body_sha256))
}

/// The Postgres form of `existing_query`, by the digest its unique index holds. Raw SQL because
/// diesel never caches raw SQL as a prepared statement: Postgres then plans it with the values
/// each time. Cached, its generic plan was settled while the table was nearly empty, walked the
/// `(source, id)` index and filtered every row of the source, and stayed until autovacuum first
/// analyzed the table (docs/performance.md, "Targets").
fn existing_rows_pg(
    missing: &[DeliveryKey],
) -> diesel::query_builder::BoxedSqlQuery<'_, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    use diesel::sql_types::{Array, Binary};
    let digests: Vec<[u8; 32]> = missing
        .iter()
        .map(|(source, key)| delivery_digest(source, key))
        .collect();
    diesel::sql_query(
        "SELECT id, source, delivery_key, body_sha256 FROM callbacks \
         WHERE delivery_digest = ANY($1)",
    )
    .into_boxed()
    .bind::<Array<Binary>, _>(digests)
}

#[derive(diesel::QueryableByName)]
struct ExistingRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    source: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    delivery_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    body_sha256: String,
}

impl ExistingRow {
    fn into_tuple(self) -> (i64, String, String, String) {
        (self.id, self.source, self.delivery_key, self.body_sha256)
    }
}

fn combine(inserted: Vec<InsertedRow>, existing: Vec<(i64, String, String, String)>) -> Written {
    let mut rows: Vec<_> = inserted
        .into_iter()
        .map(|(key, id, sha)| (key, id, sha, true))
        .collect();
    rows.extend(
        existing
            .into_iter()
            .map(|(id, source, key, sha)| ((source, key), id, sha, false)),
    );
    Written {
        rows,
        rewritten: false,
        lookup_failed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyForecast, CAUTIOUS_BATCHES};

    #[test]
    fn new_keys_are_expected_until_a_stored_key_is_met() {
        let forecast = KeyForecast::default();
        assert!(forecast.expects_new_keys());
        assert!(forecast.expects_new_keys());
        forecast.met_stored_key();
        for batch in 0..CAUTIOUS_BATCHES {
            assert!(!forecast.expects_new_keys(), "cautious batch {batch}");
        }
        assert!(
            forecast.expects_new_keys(),
            "quiet again after the cautious batches"
        );
    }

    #[test]
    fn another_stored_key_restarts_the_cautious_batches() {
        let forecast = KeyForecast::default();
        forecast.met_stored_key();
        for _ in 0..CAUTIOUS_BATCHES - 1 {
            assert!(!forecast.expects_new_keys());
        }
        forecast.met_stored_key();
        for _ in 0..CAUTIOUS_BATCHES {
            assert!(!forecast.expects_new_keys());
        }
        assert!(forecast.expects_new_keys());
    }
}
