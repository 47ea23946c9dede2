//! The Postgres pools' connections and the runtimes around them. Each HTTP worker runs a
//! runtime of its own on its own thread, and at a graceful shutdown an idle worker stops first,
//! while requests on the others are still being answered.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use hookbox::store::{users, Db, PoolSettings, StoreError};

use crate::helpers::proxy::ChaosProxy;
use crate::helpers::{assert_no_answer_in_time, eventually, Backend, TestDb};

/// Waiting for a connection outlasts `TestDb::wait_for_users_lock_waiters`: a read that waits for a busy
/// connection instead of taking a free one is seen to.
fn pool_of(size: usize) -> PoolSettings {
    PoolSettings {
        max_connections: size,
        acquire_timeout: Duration::from_secs(30),
        answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
    }
}

/// Connections checked out of each pool, by the names `/metrics` gives them.
fn in_use(db: &Db) -> Vec<(&'static str, usize)> {
    db.pool_status()
        .into_iter()
        .map(|(name, status)| (name, status.size - status.available))
        .collect()
}

/// A read of `users`, run beside the test.
fn read_users(db: &Db) -> tokio::task::JoinHandle<Result<Vec<users::User>, StoreError>> {
    let db = db.clone();
    tokio::spawn(async move { users::list(&db).await })
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

    let mut users_lock = test_db.lock_users().await;
    let first = read_users(&worker);
    test_db.wait_for_users_lock_waiters(1).await;
    assert_eq!(in_use(&worker), [("postgres", 0), ("postgres_worker", 1)]);
    // The worker's one connection is busy: the next read does not wait for it.
    let second = read_users(&worker);
    test_db.wait_for_users_lock_waiters(2).await;
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
async fn a_read_takes_an_idle_shared_connection_when_its_worker_cannot_open_one() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let proxy = ChaosProxy::start(5432).await;
    let url = test_db.url_via(proxy.port);
    let shared = Db::connect(&url, &pool_of(1)).expect("pool builds");
    // The shared pool's one connection is opened, and then idle.
    users::list(&shared).await.expect("the shared pool reads");
    let worker = shared
        .for_http_worker(&url, &pool_of(1))
        .expect("the worker's pool builds");

    proxy.refuse_new();
    let answer = tokio::time::timeout(Duration::from_secs(10), users::list(&worker))
        .await
        .expect("the read ends");
    assert!(
        answer.is_ok(),
        "a read is answered over the idle shared connection: {answer:?}"
    );
    assert_eq!(in_use(&worker), [("postgres", 0), ("postgres_worker", 0)]);
    assert_eq!(
        worker.pool_status()[0].1.size,
        1,
        "the shared pool opened no second connection"
    );
}

/// A connection that stops answering without closing (a network that dropped it without a
/// word) costs one read a prompt "unavailable"; it is then closed, not put back for the next
/// read to wait on as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_given_no_answer_fails_in_time_and_its_connection_is_not_used_again() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let proxy = ChaosProxy::start(5432).await;
    let answer_timeout = Duration::from_secs(1);
    let db = Db::connect(
        &test_db.url_via(proxy.port),
        &PoolSettings {
            answer_timeout,
            ..pool_of(1)
        },
    )
    .expect("pool builds");
    users::list(&db)
        .await
        .expect("the pool's one connection reads");

    proxy.silence_open();
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(20), users::list(&db))
        .await
        .expect("the read ends without an answer from the database");
    assert_no_answer_in_time(&answer);
    assert!(
        started.elapsed() >= answer_timeout,
        "{:?}",
        started.elapsed()
    );

    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(20), users::list(&db))
            .await
            .expect("the read ends");
        assert!(answer.is_ok(), "read over a new connection: {answer:?}");
    }
    assert_eq!(db.pool_status()[0].1.size, 1, "the silent one is gone");
}

/// A statement given up at the deadline does not go on in the database: there a backend whose
/// client has gone waits for a lock for ever, and scans on until it next sends a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_given_up_at_the_deadline_is_cancelled_in_the_database() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let db = Db::connect(
        &test_db.url,
        &PoolSettings {
            answer_timeout: Duration::from_secs(1),
            ..pool_of(1)
        },
    )
    .expect("pool builds");
    let mut users_lock = test_db.lock_users().await;
    let answer = tokio::time::timeout(Duration::from_secs(20), users::list(&db))
        .await
        .expect("the read ends while the lock is held");
    assert_no_answer_in_time(&answer);

    eventually("the read given up no longer waits for the lock", || async {
        let mut observer = test_db.postgres_connection().await;
        test_db.users_lock_waiters(&mut observer).await == 0
    })
    .await;
    users_lock
        .batch_execute("COMMIT")
        .await
        .expect("unlocks users");
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
    let mut users_lock = test_db.lock_users().await;
    let read = read_users(&db);
    test_db.wait_for_users_lock_waiters(1).await;

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

/// A database server that accepts the connection and never answers: the start gives up in
/// bounded time and says why, instead of waiting, silent, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_never_answers_fails_the_start_in_bounded_time() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let proxy = ChaosProxy::start(5432).await;
    proxy.freeze();
    let started = std::time::Instant::now();
    let refused = tokio::time::timeout(
        Duration::from_secs(60),
        hookbox::store::migrate::run_pending(&test_db.url_via(proxy.port)),
    )
    .await
    .expect("gives up by itself")
    .expect_err("nothing answered");
    assert!(
        refused.to_string().contains("no answer within 10 s"),
        "{refused}"
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
}

/// A database that takes no writes (a standby after a failover; here one set read-only) answers
/// reads while every callback would be refused: `/readyz`'s ping says it is not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_takes_no_writes_is_not_ready() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    Db::connect(&test_db.url, &pool_of(1))
        .expect("pool builds")
        .ping()
        .await
        .expect("takes writes");
    let mut admin = test_db.postgres_connection().await;
    let read_only = format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        test_db.name
    );
    admin.batch_execute(&read_only).await.unwrap();
    // Settings of the database apply to the connections opened after them.
    let refused = Db::connect(&test_db.url, &pool_of(1))
        .expect("pool builds")
        .ping()
        .await
        .expect_err("takes no writes");
    assert!(refused.to_string().contains("takes no writes"), "{refused}");
}
