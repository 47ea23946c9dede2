//! Postgres keys idempotency on a digest of (source, delivery_key) since migrations 000006–000009,
//! which make the change online: these tests walk a database of the older schema through them
//! one step at a time, as an instance of the newer version does at start while instances of the
//! older version keep writing.

use std::time::Duration;

use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::MigrationHarness;
use hookbox::store::{callbacks, migrate};
use sha2::{Digest, Sha256};

use crate::helpers::{eventually, Backend, TestDb};
use crate::writer::{delivery, start_writer};

const DIGEST_COLUMN: &str = "20261206000006";
const BACKFILL: &str = "20261206000007";
const UNIQUE_INDEX: &str = "20261206000008";

/// Rows written by the older schema, by the seed (which computes the digest in SQL) and by
/// Hookbox (which computes it in Rust) must all be found by a redelivery through the writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_from_before_the_digest_migration_and_from_the_seed_are_found_by_redeliveries() {
    let Some(test_db) = with_the_older_schema().await else {
        return;
    };
    let mut conn = test_db.postgres_connection().await;
    let stored_before = insert_as_the_older_version(&mut conn, "wid:before").await;
    let again = insert_as_the_older_version(&mut conn, "wid:before").await;
    assert!(
        again.is_err(),
        "the reverted schema is unique on (source, delivery_key) again"
    );
    let stored_before = stored_before.expect("stored before the migration");

    // Migrates again: 000007 backfills the digest of the row stored before 000006.
    let (db, writer) = start_writer(&test_db).await;
    let redelivered = writer.store(delivery("wid:before", "{}")).await.unwrap();
    assert_eq!(
        (redelivered.id, redelivered.duplicate),
        (stored_before, true)
    );
    assert!(!redelivered.body_differs);

    hookbox::store::seed::callbacks(&db, 1, 2).await.unwrap();
    let seeded = writer.store(delivery("bench-2", "{}")).await.unwrap();
    assert!(
        seeded.duplicate,
        "the seed's digest is Hookbox's: {seeded:?}"
    );
    let new = writer.store(delivery("wid:after", "{}")).await.unwrap();
    assert!(!new.duplicate);
    assert_eq!(
        callbacks::count(&db).await.unwrap(),
        4,
        "before, two seeded, after"
    );
}

/// Until the switch (000009) the older version keeps inserting, and its inserts get a digest
/// from 000006's trigger; the backfill takes no lock that an open insert holds off; afterwards
/// every row is found by the newer version, and the schema is a fresh database's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_version_keeps_storing_until_the_switch_and_nothing_is_missed() {
    let Some(test_db) = with_the_older_schema().await else {
        return;
    };
    let mut older = test_db.postgres_connection().await;
    let early = insert_as_the_older_version(&mut older, "wid:early")
        .await
        .expect("the older schema stores");

    migrate_through(&test_db, DIGEST_COLUMN).await;
    let during = insert_as_the_older_version(&mut older, "wid:during")
        .await
        .expect("the older version stores after 000006");
    // An insert of the older version, still open while the backfill runs: a backfill that
    // locked the table would wait for it, and the timeout turns that wait into a failure.
    let mut open = test_db.postgres_connection().await;
    open.batch_execute("BEGIN").await.unwrap();
    let open_id = insert_as_the_older_version(&mut open, "wid:open")
        .await
        .expect("the older version stores during the backfill");
    tokio::time::timeout(Duration::from_secs(60), migrate_through(&test_db, BACKFILL))
        .await
        .expect("the backfill does not wait for an open insert");
    open.batch_execute("COMMIT").await.unwrap();

    let duplicate = insert_as_the_older_version(&mut older, "wid:early").await;
    let error = duplicate.expect_err("the older version's constraint still holds");
    assert!(
        error
            .to_string()
            .contains("callbacks_source_delivery_key_key"),
        "the older version recognises its constraint: {error}"
    );
    assert_eq!(
        rows_without_a_digest(&mut older).await,
        0,
        "backfilled or filled by the trigger"
    );

    migrate_through(&test_db, UNIQUE_INDEX).await;
    let late = insert_as_the_older_version(&mut older, "wid:late")
        .await
        .expect("the older version stores until the switch");

    // The switch, as an instance of the newer version runs it at start.
    let (db, writer) = start_writer(&test_db).await;
    for (key, id) in [
        ("wid:early", early),
        ("wid:during", during),
        ("wid:open", open_id),
        ("wid:late", late),
    ] {
        let redelivered = writer.store(delivery(key, "{}")).await.unwrap();
        assert_eq!((redelivered.id, redelivered.duplicate), (id, true), "{key}");
    }
    assert!(
        !writer
            .store(delivery("wid:new", "{}"))
            .await
            .unwrap()
            .duplicate
    );
    assert_eq!(callbacks::count(&db).await.unwrap(), 5);
    let refused = insert_as_the_older_version(&mut older, "wid:too-late").await;
    assert!(
        refused.is_err(),
        "after the switch nothing fills the digest of the older version's rows"
    );

    assert_the_schema_of_a_fresh_database(&test_db).await;
}

/// 000006 and the switch (000009) need the table's exclusive lock for a moment. Behind a long
/// transaction (a long query, a pg_dump) they ask for it 250 ms at a time and pause in between,
/// instead of waiting in line and holding up every insert queued behind them until that
/// transaction ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_column_waits_for_a_long_transaction_without_holding_up_inserts() {
    if let Some(test_db) = with_the_older_schema().await {
        waits_for_a_long_transaction_without_holding_up_inserts(test_db, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_waits_for_a_long_transaction_without_holding_up_inserts() {
    if let Some(test_db) = with_the_older_schema().await {
        waits_for_a_long_transaction_without_holding_up_inserts(test_db, Some(UNIQUE_INDEX)).await;
    }
}

/// Migrates a database of the older schema through `through` (if any), then runs the rest
/// behind a long transaction.
async fn waits_for_a_long_transaction_without_holding_up_inserts(
    test_db: TestDb,
    through: Option<&'static str>,
) {
    if let Some(version) = through {
        migrate_through(&test_db, version).await;
    }
    let mut long = test_db.postgres_connection().await;
    long.batch_execute("BEGIN; SELECT count(*) FROM callbacks;")
        .await
        .unwrap();

    let url = test_db.url.clone();
    let migration = tokio::spawn(async move { migrate::run_pending(&url).await });
    eventually("the migration asks for the table's lock", || async {
        let mut conn = test_db.postgres_connection().await;
        migration_is_waiting_for_the_lock(&mut conn).await
    })
    .await;
    // Each insert would wait in line behind a migration that waited for its lock without a
    // limit: the older version's inserts carry on meanwhile.
    let mut older = test_db.postgres_connection().await;
    older
        .batch_execute("SET lock_timeout = '5s'")
        .await
        .unwrap();
    let mut stored = Vec::new();
    for n in 0..5 {
        let key = format!("wid:meanwhile-{n}");
        let id = insert_as_the_older_version(&mut older, &key)
            .await
            .expect("not held up by the waiting migration");
        stored.push((key, id));
    }
    assert!(
        !migration.is_finished(),
        "the long transaction still holds the table"
    );

    long.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), migration)
        .await
        .expect("the migrations go through once the long transaction ends")
        .unwrap()
        .expect("the migrations run");
    let (_db, writer) = start_writer(&test_db).await;
    for (key, id) in stored {
        let redelivered = writer.store(delivery(&key, "{}")).await.unwrap();
        assert_eq!((redelivered.id, redelivered.duplicate), (id, true), "{key}");
    }
}

async fn migration_is_waiting_for_the_lock(conn: &mut AsyncPgConnection) -> bool {
    let waiting = "SELECT count(*) AS count FROM pg_locks WHERE relation = 'callbacks'::regclass \
                   AND mode = 'AccessExclusiveLock' AND NOT granted";
    count_of(conn, waiting).await > 0
}

/// Instances starting together: one holds the migration lock and builds an index
/// concurrently while another waits for the lock. A wait inside `pg_advisory_lock` kept a
/// snapshot open that the build waited for, and Postgres ended one of the two as a deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_waiting_for_the_migration_lock_does_not_hold_up_an_index_build() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let lock = migrate::MIGRATION_LOCK_KEY;
    let mut migrating = test_db.postgres_connection().await;
    migrating
        .batch_execute(&format!(
            "SET deadlock_timeout = '100ms'; SELECT pg_advisory_lock({lock}); \
             CREATE TABLE building (n int); INSERT INTO building VALUES (1)"
        ))
        .await
        .unwrap();
    let holder = count_of(&mut migrating, "SELECT pg_backend_pid()::int8 AS count").await;

    let url = test_db.url.clone();
    let waiting = tokio::spawn(async move { migrate::run_pending(&url).await });
    eventually(
        "the second instance asks for the migration lock",
        || async {
            let mut conn = test_db.postgres_connection().await;
            // Neither this session nor the one holding the lock, whose last statement took it.
            let asking = format!(
                "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), {holder}) \
             AND query LIKE '%advisory_lock(%'"
            );
            count_of(&mut conn, &asking).await > 0
        },
    )
    .await;
    migrating
        .batch_execute("CREATE INDEX CONCURRENTLY building_n ON building (n)")
        .await
        .expect("the build is not held up by the instance waiting for the lock");
    assert!(!waiting.is_finished(), "still waiting for the lock");
    migrating
        .batch_execute(&format!("SELECT pg_advisory_unlock({lock})"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("migrates once the lock is free")
        .unwrap()
        .expect("the migrations run");
    migrating
        .batch_execute("DROP TABLE building")
        .await
        .unwrap();
    assert_the_schema_of_a_fresh_database(&test_db).await;
}

/// A `CREATE INDEX CONCURRENTLY` that fails or is cut off leaves an invalid index behind; the
/// next migration run drops it and builds it again instead of taking it for done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_index_build_is_built_again() {
    let Some(test_db) = with_the_older_schema().await else {
        return;
    };
    let mut conn = test_db.postgres_connection().await;
    let first = insert_as_the_older_version(&mut conn, "wid:first")
        .await
        .unwrap();
    insert_as_the_older_version(&mut conn, "wid:second")
        .await
        .unwrap();
    migrate_through(&test_db, BACKFILL).await;

    // Two equal digests make the build fail half-way, as an interruption would leave it.
    let broken = "UPDATE callbacks SET delivery_digest = '\\x00'";
    conn.batch_execute(broken).await.unwrap();
    let build = "CREATE UNIQUE INDEX CONCURRENTLY callbacks_delivery_digest_key \
                 ON callbacks (delivery_digest)";
    assert!(conn.batch_execute(build).await.is_err());
    assert_eq!(digest_index_is_valid(&mut conn).await, Some(false));
    let repaired = "UPDATE callbacks SET delivery_digest = sha256(convert_to(source, 'UTF8') \
                    || '\\x00'::bytea || convert_to(delivery_key, 'UTF8'))";
    conn.batch_execute(repaired).await.unwrap();

    let (_db, writer) = start_writer(&test_db).await;
    assert_eq!(digest_index_is_valid(&mut conn).await, Some(true));
    let redelivered = writer.store(delivery("wid:first", "{}")).await.unwrap();
    assert_eq!((redelivered.id, redelivered.duplicate), (first, true));
    assert_the_schema_of_a_fresh_database(&test_db).await;
}

/// A database that an earlier build migrated with a one-step 000006 (the whole change in one
/// transaction, under the table's lock) goes through 000007–000009 and ends in the same schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_the_one_step_000006_ends_in_the_same_schema() {
    let Some(test_db) = with_the_older_schema().await else {
        return;
    };
    let mut conn = test_db.postgres_connection().await;
    let stored = insert_as_the_older_version(&mut conn, "wid:stored")
        .await
        .unwrap();
    conn.batch_execute(&format!(
        "BEGIN;
         ALTER TABLE callbacks ADD COLUMN delivery_digest BYTEA;
         UPDATE callbacks SET delivery_digest = sha256(
             convert_to(source, 'UTF8') || '\\x00'::bytea || convert_to(delivery_key, 'UTF8'));
         ALTER TABLE callbacks ALTER COLUMN delivery_digest SET NOT NULL;
         ALTER TABLE callbacks ADD CONSTRAINT callbacks_delivery_digest_key UNIQUE (delivery_digest);
         ALTER TABLE callbacks DROP CONSTRAINT callbacks_source_delivery_key_key;
         INSERT INTO __diesel_schema_migrations (version) VALUES ('{DIGEST_COLUMN}');
         COMMIT;"
    ))
    .await
    .unwrap();

    let (_db, writer) = start_writer(&test_db).await;
    let redelivered = writer.store(delivery("wid:stored", "{}")).await.unwrap();
    assert_eq!((redelivered.id, redelivered.duplicate), (stored, true));
    assert_the_schema_of_a_fresh_database(&test_db).await;
}

/// A fresh database taken back to the schema before 000006 (`None`: Postgres is not there and
/// not required).
async fn with_the_older_schema() -> Option<TestDb> {
    let test_db = TestDb::create(Backend::Postgres).await?;
    test_db.migrate().await;
    revert_to_before_the_digest(&test_db).await;
    Some(test_db)
}

async fn assert_the_schema_of_a_fresh_database(test_db: &TestDb) {
    let fresh = TestDb::create(Backend::Postgres).await.unwrap();
    fresh.migrate().await;
    assert_eq!(schema_of(test_db).await, schema_of(&fresh).await);
}

/// Runs `body` on a migration harness connection of its own, off the async workers (the
/// harness is synchronous).
async fn with_harness<T: Send + 'static>(
    test_db: &TestDb,
    body: impl FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> T + Send + 'static,
) -> T {
    let hookbox::store::DatabaseUrl::Postgres(url) = test_db.url.clone() else {
        panic!("a Postgres test database");
    };
    tokio::task::spawn_blocking(move || {
        let mut conn =
            AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).expect("connects");
        body(&mut conn)
    })
    .await
    .expect("the harness ran")
}

fn is_applied(conn: &mut AsyncConnectionWrapper<AsyncPgConnection>, version: &str) -> bool {
    conn.applied_migrations()
        .expect("lists the applied migrations")
        .iter()
        .any(|applied| applied.to_string() == version)
}

/// Reverts migration 000006 and every migration after it.
async fn revert_to_before_the_digest(test_db: &TestDb) {
    with_harness(test_db, |conn| {
        assert!(
            is_applied(conn, DIGEST_COLUMN),
            "{DIGEST_COLUMN} is applied first"
        );
        while is_applied(conn, DIGEST_COLUMN) {
            conn.revert_last_migration(migrate::POSTGRES)
                .expect("the migration reverts");
        }
    })
    .await;
}

/// Applies the pending migrations one by one up to and including `version`.
async fn migrate_through(test_db: &TestDb, version: &'static str) {
    with_harness(test_db, move |conn| {
        while !is_applied(conn, version) {
            conn.run_next_migration(migrate::POSTGRES)
                .expect("the migration runs");
        }
    })
    .await;
}

/// A row as the version before the digest stores it: without `delivery_digest`.
async fn insert_as_the_older_version(
    conn: &mut AsyncPgConnection,
    delivery_key: &str,
) -> Result<i64, diesel::result::Error> {
    #[derive(diesel::QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    diesel::sql_query(
        "INSERT INTO callbacks (source, delivery_key, callback_id, event, body, body_sha256, \
         preview, payload_size, signature_verdict, signature_scheme, signature_header, \
         secret_label, verified_at, received_at) \
         VALUES ('llm-callback', $1, 'job', 'workflow.completed', '{}', $2, '{}', 2, \
         'verified', 'hmac-sha256', 'sha256=00', 'primary', now(), now()) RETURNING id",
    )
    .bind::<diesel::sql_types::Text, _>(delivery_key)
    .bind::<diesel::sql_types::Text, _>(hex::encode(Sha256::digest(b"{}")))
    .get_result::<Inserted>(conn)
    .await
    .map(|row| row.id)
}

async fn rows_without_a_digest(conn: &mut AsyncPgConnection) -> i64 {
    count_of(
        conn,
        "SELECT count(*) AS count FROM callbacks WHERE delivery_digest IS NULL",
    )
    .await
}

/// `sql` selects one `count` column.
async fn count_of(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .count
}

/// `None` when there is no such index.
async fn digest_index_is_valid(conn: &mut AsyncPgConnection) -> Option<bool> {
    #[derive(diesel::QueryableByName)]
    struct Valid {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        indisvalid: bool,
    }
    diesel::sql_query(
        "SELECT indisvalid FROM pg_index \
         WHERE indexrelid = to_regclass('callbacks_delivery_digest_key')",
    )
    .get_result::<Valid>(conn)
    .await
    .ok()
    .map(|row| row.indisvalid)
}

/// The callbacks table's columns, constraints, indexes and triggers, and the schema's
/// functions, one per line in a stable order.
async fn schema_of(test_db: &TestDb) -> String {
    #[derive(diesel::QueryableByName)]
    struct Schema {
        #[diesel(sql_type = diesel::sql_types::Text)]
        schema: String,
    }
    let mut conn = test_db.postgres_connection().await;
    diesel::sql_query(
        "SELECT string_agg(item, E'\\n' ORDER BY item) AS schema FROM ( \
           SELECT 'column ' || column_name || ' ' || data_type || ' nullable ' || is_nullable \
             FROM information_schema.columns WHERE table_name = 'callbacks' \
           UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE conrelid = 'callbacks'::regclass \
           UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE tablename = 'callbacks' \
           UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger \
             WHERE tgrelid = 'callbacks'::regclass AND NOT tgisinternal \
           UNION ALL SELECT 'function ' || proname FROM pg_proc \
             WHERE pronamespace = 'public'::regnamespace \
         ) AS items(item)",
    )
    .get_result::<Schema>(&mut conn)
    .await
    .unwrap()
    .schema
}
