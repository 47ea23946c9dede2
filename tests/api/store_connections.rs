//! The Postgres pools' connections and the runtimes around them. Each HTTP worker runs a
//! runtime of its own on its own thread, and at a graceful shutdown an idle worker stops first,
//! while requests on the others are still being answered.

use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use hookbox::store::{users, Db, PoolSettings};

use crate::helpers::{Backend, TestDb};

/// Waiting for a connection outlasts `wait_for_lock_waiters`: a read that waits for a busy
/// connection instead of taking a free one is seen to.
fn pool_of(size: usize) -> PoolSettings {
    PoolSettings {
        max_connections: size,
        acquire_timeout: Duration::from_secs(30),
    }
}

/// Connections checked out of each pool, by the names `/metrics` gives them.
fn in_use(db: &Db) -> Vec<(&'static str, usize)> {
    db.pool_status()
        .into_iter()
        .map(|(name, status)| (name, status.size - status.available))
        .collect()
}

/// Reads of `users` wait until the returned connection commits.
async fn lock_users(test_db: &TestDb) -> AsyncPgConnection {
    let mut connection = test_db.postgres_connection().await;
    connection
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locks users");
    connection
}

async fn wait_for_lock_waiters(test_db: &TestDb, waiters: i64) {
    let mut observer = test_db.postgres_connection().await;
    for attempt in 0.. {
        let waiting = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass)",
        ))
        .get_result::<i64>(&mut observer)
        .await
        .expect("pg_locks reads");
        if waiting >= waiters {
            return;
        }
        assert!(
            attempt < 500,
            "{waiters} reads never waited for the users table"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_reads_use_its_own_connections_then_the_shared_ones() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let shared = Db::connect(&test_db.url, &pool_of(2)).expect("pool builds");
    let worker = shared
        .for_http_worker(&test_db.url, &pool_of(1))
        .expect("the worker's pool builds");

    let mut users_lock = lock_users(&test_db).await;
    let first = tokio::spawn({
        let worker = worker.clone();
        async move { users::list(&worker).await }
    });
    wait_for_lock_waiters(&test_db, 1).await;
    assert_eq!(in_use(&worker), [("postgres", 0), ("postgres_worker", 1)]);
    // The worker's one connection is busy: the next read does not wait for it.
    let second = tokio::spawn({
        let worker = worker.clone();
        async move { users::list(&worker).await }
    });
    wait_for_lock_waiters(&test_db, 2).await;
    assert_eq!(in_use(&worker), [("postgres", 1), ("postgres_worker", 1)]);

    users_lock
        .batch_execute("COMMIT")
        .await
        .expect("unlocks users");
    for read in [first, second] {
        assert!(read
            .await
            .unwrap()
            .expect("the read is answered")
            .is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_keeps_its_connection_when_the_worker_that_opened_it_stops() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let db = Db::connect(&test_db.url, &pool_of(1)).expect("pool builds");

    // A worker's first read opens the pool's only connection; the worker then idles until
    // told to stop, and its runtime ends with its thread.
    let (stop_worker, stop) = tokio::sync::oneshot::channel::<()>();
    let (opened_tx, opened) = tokio::sync::oneshot::channel();
    let worker = std::thread::spawn({
        let db = db.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a worker's runtime");
            let _ = opened_tx.send(runtime.block_on(users::list(&db)).map(|_| ()));
            // Idle as a worker idles: its runtime keeps running what was spawned on it.
            let _ = runtime.block_on(stop);
        }
    });
    opened
        .await
        .expect("the worker reports")
        .expect("the worker's read opens a connection");

    // A read elsewhere takes that connection and waits on a lock the test holds.
    let mut users_lock = lock_users(&test_db).await;
    let read = tokio::spawn({
        let db = db.clone();
        async move { users::list(&db).await }
    });
    wait_for_lock_waiters(&test_db, 1).await;

    stop_worker.send(()).expect("the worker waits");
    tokio::task::spawn_blocking(move || worker.join())
        .await
        .expect("joins")
        .expect("the worker ends");
    users_lock
        .batch_execute("COMMIT")
        .await
        .expect("unlocks users");
    let answer = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the read ends")
        .expect("the read's task ends");
    assert!(
        answer.is_ok(),
        "the read is answered after the worker that opened its connection stopped: {answer:?}"
    );
}
