//! One transaction that inserts many callbacks and reports, per delivery key, whether the row is
//! new or which row already had that key. Idempotency is decided by the unique constraint on
//! (source, delivery_key), never by a read before the write.

use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, QueryResult,
    SqliteConnection,
};

use super::callbacks::NewCallback;
use super::pg_bulk_insert::PgBulkInsert;
use super::schema::callbacks::dsl;
use super::writer::BatchLimits;
use super::{Db, StoreError};

/// Held by each writing transaction from before its ids are drawn until it has committed, so
/// ids become visible in the order they were assigned, across every Hookbox instance sharing
/// the database. This is what lets readers page by `id > cursor` without ever skipping a row.
pub const CALLBACK_ORDER_LOCK: i64 = 0x486f_6f6b_626f_7802;

pub type DeliveryKey = (String, String);

/// Per key: (row id, body SHA-256 of the stored row, whether this transaction inserted it).
pub struct Written {
    pub rows: Vec<(DeliveryKey, i64, String, bool)>,
}

/// `rows` must not repeat a key (the writer merges repeats before calling). Borrowed: on the
/// writer's serial path, copying every body of a batch showed up in profiles; only SQLite's
/// blocking thread needs its own copy.
pub async fn insert_unique(
    db: &Db,
    rows: &[&NewCallback],
    limits: &BatchLimits,
) -> Result<Written, StoreError> {
    let delay = commit_delay(limits);
    match db {
        Db::Postgres(pool) => {
            use diesel_async::RunQueryDsl;
            let mut conn = pool.get().await?;
            // One statement, one round trip, its own transaction (see pg_bulk_insert.rs).
            let inserted: Vec<(i64, String, String)> =
                PgBulkInsert::new(CALLBACK_ORDER_LOCK, limits.order_lock, delay, rows)
                    .load(&mut *conn)
                    .await?;
            let (inserted, missing) = split_inserted(rows.iter().copied(), inserted);
            // A key that conflicted belongs to a committed row: ON CONFLICT waits for a
            // concurrent inserter to finish, so this later snapshot sees its row.
            let existing = if missing.is_empty() {
                Vec::new()
            } else {
                existing_rows_pg(&missing).load(&mut *conn).await?
            };
            let existing = existing.into_iter().map(ExistingRow::into_tuple).collect();
            Ok(combine(inserted, existing))
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

/// The distinct sources and the keys of `missing`, the two lists a lookup matches against.
/// Both columns of the unique (source, delivery_key) index, so that the lookup is an index
/// scan: on the key alone neither database can use that index and reads the whole table. The
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

/// The Postgres form of `existing_query`, as raw SQL because diesel never caches raw SQL as a
/// prepared statement: Postgres then plans it with the values each time. Cached, its generic
/// plan was settled while the table was nearly empty, walked the `(source, id)` index and
/// filtered every row of the source, and stayed until autovacuum first analyzed the table
/// (docs/performance.md, "Targets").
fn existing_rows_pg(
    missing: &[DeliveryKey],
) -> diesel::query_builder::BoxedSqlQuery<'_, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    use diesel::sql_types::{Array, Text};
    let (sources, keys) = lookup_columns(missing);
    diesel::sql_query(
        "SELECT id, source, delivery_key, body_sha256 FROM callbacks \
         WHERE source = ANY($1) AND delivery_key = ANY($2)",
    )
    .into_boxed()
    .bind::<Array<Text>, _>(sources)
    .bind::<Array<Text>, _>(keys)
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
    Written { rows }
}
