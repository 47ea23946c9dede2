//! The batching writer on its own, against real databases: what each delivery of a batch is
//! answered, and that one row the database refuses does not fail the others.

use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::join_all;
use hookbox::store::callbacks::{self, NewCallback};
use hookbox::store::writer::{BatchLimits, CallbackWriter, StoreOutcome};
use hookbox::store::{users, DatabaseUrl, Db, PoolSettings, StoreError, CALLBACK_ORDER_LOCK};
use sha2::{Digest, Sha256};

use crate::helpers::proxy::ChaosProxy;
use crate::helpers::{assert_no_answer_in_time, eventually, on_both_backends, Backend, TestDb};

pub(crate) fn delivery(key: &str, body: &str) -> NewCallback {
    let now = Utc::now().naive_utc();
    NewCallback {
        source: "llm-callback".into(),
        delivery_key: key.into(),
        callback_id: format!("job-{key}"),
        event: "workflow.completed".into(),
        workflow_name: None,
        status: Some("completed".into()),
        error_message: None,
        sent_at: None,
        body: body.as_bytes().to_vec(),
        body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
        preview: body.chars().take(20).collect(),
        payload_size: body.len() as i32,
        signature_verdict: "verified".into(),
        signature_scheme: "hmac-sha256".into(),
        signature_header: "sha256=00".into(),
        secret_label: "primary".into(),
        verified_at: now,
        received_at: now,
        remote_addr: None,
        user_agent: None,
        content_type: None,
    }
}

pub(crate) async fn start_writer(test_db: &TestDb) -> (Db, CallbackWriter) {
    start_writer_with(test_db, BatchLimits::default()).await
}

async fn start_writer_with(test_db: &TestDb, limits: BatchLimits) -> (Db, CallbackWriter) {
    test_db.migrate().await;
    connect_writer(&test_db.url, limits)
}

/// A writer on a database already migrated.
fn connect_writer(url: &DatabaseUrl, limits: BatchLimits) -> (Db, CallbackWriter) {
    let settings = PoolSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
    };
    let db = Db::connect(url, &settings).expect("pool builds");
    let (writer, _task) = CallbackWriter::start(db.clone(), limits);
    (db, writer)
}

on_both_backends! {
    async fn concurrent_copies_of_one_delivery_store_one_row_and_one_new_answer(test_db) {
        let (db, writer) = start_writer(&test_db).await;
        let copies = (0..20).map(|_| writer.store(delivery("same", "{}")));
        let answers: Vec<StoreOutcome> = join_all(copies)
            .await
            .into_iter()
            .map(|a| a.expect("every copy is stored or recognised"))
            .collect();
        assert_eq!(answers.iter().filter(|a| !a.duplicate).count(), 1, "{answers:?}");
        assert!(answers.iter().all(|a| a.id == answers[0].id), "one row id for all: {answers:?}");
        assert!(answers.iter().all(|a| !a.body_differs));
        assert_eq!(callbacks::count(&db).await.unwrap(), 1);
        let stats = writer.stats();
        assert_eq!(stats.rows, 20, "every delivery is counted: {stats:?}");
        assert!((1..=20).contains(&stats.batches), "{stats:?}");
    }

    async fn a_redelivery_with_another_body_keeps_the_first_and_reports_it(test_db) {
        // Answered by the database (nothing remembered) and from memory.
        for remember_recent in [0, 16] {
            let limits = BatchLimits { remember_recent, ..BatchLimits::default() };
            let (db, writer) = start_writer_with(&test_db, limits).await;
            let key = format!("k{remember_recent}");
            let first = writer.store(delivery(&key, r#"{"v":1}"#)).await.unwrap();
            let second = writer.store(delivery(&key, r#"{"v":2}"#)).await.unwrap();
            let third = writer.store(delivery(&key, r#"{"v":1}"#)).await.unwrap();
            assert!(!first.duplicate && second.duplicate && second.body_differs);
            assert!(third.duplicate && !third.body_differs);
            assert_eq!((first.id, first.id), (second.id, third.id));
            let stored = callbacks::find(&db, first.id).await.unwrap();
            assert_eq!(stored.body, br#"{"v":1}"#.to_vec(), "the first body is kept");
            let from_memory = writer.stats().answered_from_memory;
            assert_eq!(from_memory, if remember_recent == 0 { 0 } else { 2 });
        }
    }

    async fn a_recent_redelivery_is_answered_from_memory_and_another_instance_asks_the_database(test_db) {
        let (db, writer) = start_writer(&test_db).await;
        let first = writer.store(delivery("retried", "{}")).await.unwrap();
        let retry = writer.store(delivery("retried", "{}")).await.unwrap();
        assert_eq!((retry.id, retry.duplicate), (first.id, true));
        let stats = writer.stats();
        assert_eq!((stats.rows, stats.answered_from_memory), (1, 1), "{stats:?}");
        // A second instance has not stored it: it asks the database and gets the same row.
        let (_, other_instance) = start_writer(&test_db).await;
        let elsewhere = other_instance.store(delivery("retried", "{}")).await.unwrap();
        assert_eq!((elsewhere.id, elsewhere.duplicate), (first.id, true));
        assert_eq!(other_instance.stats().answered_from_memory, 0);
        assert_eq!(callbacks::count(&db).await.unwrap(), 1);
    }
}

/// The writer transactions of this test's database blocked on the order lock (pg_locks shows
/// every database's, and the tests run side by side).
const WAITING_WRITERS: &str = "FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// Holds the writer's order lock from another connection so that deliveries queue up, then
/// releases it: the queued deliveries are written as one batch.
struct OrderLockHolder(AsyncPgConnection);

impl OrderLockHolder {
    async fn take(test_db: &TestDb) -> OrderLockHolder {
        let mut conn = test_db.postgres_connection().await;
        conn.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({CALLBACK_ORDER_LOCK})"
        ))
        .await
        .expect("takes the lock");
        OrderLockHolder(conn)
    }

    /// Writer transactions blocked on the lock right now.
    async fn writers_waiting(&mut self) -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) {WAITING_WRITERS})"
        )))
        .get_result(&mut self.0)
        .await
        .expect("pg_locks reads")
    }

    /// Waits until a writer transaction is blocked on the lock.
    async fn wait_for_a_writer(&mut self) {
        for _ in 0..500 {
            if self.writers_waiting().await >= 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no writer transaction waited for the order lock");
    }

    /// Ends the backend of the writer transaction waiting for the lock, and waits until it
    /// has exited.
    async fn terminate_the_waiting_writer(&mut self) {
        let terminated: Vec<bool> = diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid, 5000) AS terminated {WAITING_WRITERS}"
        ))
        .load::<Terminated>(&mut self.0)
        .await
        .expect("terminates the backend")
        .into_iter()
        .map(|row| row.terminated)
        .collect();
        assert_eq!(terminated, [true], "one writer backend waited, and exited");
    }

    async fn release(mut self) {
        self.0
            .batch_execute("COMMIT")
            .await
            .expect("releases the lock");
    }
}

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    terminated: bool,
}

type Answer = tokio::task::JoinHandle<Result<StoreOutcome, StoreError>>;

fn store_in_background(writer: &CallbackWriter, callback: NewCallback) -> Answer {
    let writer = writer.clone();
    tokio::spawn(async move { writer.store(callback).await })
}

/// Waits until at least `count` deliveries wait in `writer`'s queue.
async fn until_queued(writer: &CallbackWriter, count: usize) {
    while writer.queued() < count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Stores `deliveries` in the background one after the other, each queued before the next is
/// sent, so that they wait in `writer`'s queue in this order (while the writer takes none).
async fn queue_in_order(writer: &CallbackWriter, deliveries: Vec<NewCallback>) -> Vec<Answer> {
    let mut answers = Vec::new();
    for (n, callback) in deliveries.into_iter().enumerate() {
        answers.push(store_in_background(writer, callback));
        until_queued(writer, n + 1).await;
    }
    answers
}

/// Takes the order lock, then sends one blocker delivery after another until `writer` has two
/// batches on its way (its most): the first waits for the lock, the second behind it on the
/// writer's connection. Until the returned lock is released, the writer takes nothing more from
/// its queue. Returns the lock and the blockers' answers.
async fn block_writer(test_db: &TestDb, writer: &CallbackWriter) -> (OrderLockHolder, Vec<Answer>) {
    let mut lock = OrderLockHolder::take(test_db).await;
    let mut blockers = Vec::new();
    for on_their_way in 1..=2 {
        blockers.push(store_in_background(
            writer,
            delivery(&format!("blocker {on_their_way}"), "{}"),
        ));
        eventually(&format!("{on_their_way} batches on their way"), || async {
            writer.batches_on_their_way() >= on_their_way
        })
        .await;
        assert_eq!(writer.batches_on_their_way(), on_their_way);
    }
    lock.wait_for_a_writer().await;
    // Give a second backend, had the writer opened one, the time to reach the lock too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        lock.writers_waiting().await,
        1,
        "the second batch waits behind the first on the writer's one connection"
    );
    (lock, blockers)
}

/// Releases the lock `block_writer` took, checks that both blockers were stored as new, and
/// returns the answers of the deliveries `queued` behind them, in order.
async fn release_blocked_writer(
    lock: OrderLockHolder,
    blockers: Vec<Answer>,
    queued: Vec<Answer>,
) -> Vec<Result<StoreOutcome, StoreError>> {
    lock.release().await;
    for blocker in blockers {
        assert!(!blocker.await.unwrap().unwrap().duplicate);
    }
    let mut answers = Vec::new();
    for answer in queued {
        answers.push(answer.await.unwrap());
    }
    answers
}

/// Makes `deliveries` one batch of `writer`: while two batches are on their way (the writer's
/// most), blocked by the order lock, the deliveries are held by the writer until the first of
/// those is done, and then sent together. Returns their answers, in order.
async fn store_as_one_batch(
    test_db: &TestDb,
    writer: &CallbackWriter,
    deliveries: Vec<NewCallback>,
) -> Vec<Result<StoreOutcome, StoreError>> {
    let (lock, blockers) = block_writer(test_db, writer).await;
    let count = deliveries.len();
    let queued: Vec<Answer> = deliveries
        .into_iter()
        .map(|d| store_in_background(writer, d))
        .collect();
    until_queued(writer, count).await;
    release_blocked_writer(lock, blockers, queued).await
}

/// Holds SQLite's write lock on `path` from another connection, as the CLI's purge or a backup
/// would, until the returned sender is dropped.
fn hold_sqlite_write_lock(path: &std::path::Path) -> std::sync::mpsc::Sender<()> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let path = path.to_string_lossy().into_owned();
    std::thread::spawn(move || {
        let mut conn = diesel::SqliteConnection::establish(&path).expect("opens the file");
        conn.batch_execute("BEGIN IMMEDIATE")
            .expect("takes the write lock");
        locked.send(()).unwrap();
        let _ = released.recv();
        conn.batch_execute("ROLLBACK").expect("lets go");
    });
    is_locked.recv().expect("the lock is held");
    release
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_answers_unavailable_without_retrying_row_by_row() {
    let test_db = TestDb::create(Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let (db, writer) = start_writer(&test_db).await;
    let DatabaseUrl::Sqlite(path) = &test_db.url else {
        unreachable!("a SQLite test database")
    };
    let lock = hold_sqlite_write_lock(path);
    let first = store_in_background(&writer, delivery("first", "{}"));
    eventually("the first delivery on its way", || async {
        writer.batches_on_their_way() == 1
    })
    .await;
    let behind = (0..3)
        .map(|n| delivery(&format!("behind {n}"), "{}"))
        .collect();
    let behind = queue_in_order(&writer, behind).await;
    for answer in std::iter::once(first).chain(behind) {
        let answer = answer.await.unwrap();
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "a busy database is no fault of the row: {answer:?}"
        );
    }
    let stats = writer.stats();
    assert_eq!(
        stats.largest_batch, 3,
        "the three behind were one batch: {stats:?}"
    );
    assert_eq!(
        stats.fallbacks, 0,
        "and were not retried one by one: {stats:?}"
    );
    drop(lock);
    let after = writer
        .store(delivery("after", "{}"))
        .await
        .expect("stored once the lock is gone");
    assert!(!after.duplicate);
    assert_eq!(callbacks::count(&db).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_that_takes_no_writes_answers_unavailable_without_retrying_row_by_row() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    // As a standby after a failover would: every new session's transactions are read-only.
    test_db
        .postgres_connection()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            test_db.name
        ))
        .await
        .expect("the database is made read-only");
    let (_db, writer) = connect_writer(&test_db.url, BatchLimits::default());
    let answers = join_all((0..4).map(|n| writer.store(delivery(&format!("ro {n}"), "{}")))).await;
    for answer in &answers {
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "a read-only database is no fault of the row: {answer:?}"
        );
    }
    let stats = writer.stats();
    assert_eq!(stats.fallbacks, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_stored_keys_cannot_be_read_after_the_commit_the_new_rows_are_still_answered_new()
{
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let (db, first) = connect_writer(&test_db.url, BatchLimits::default());
    let stored = first.store(delivery("stored", "{}")).await.expect("stored");
    // An account that may insert callbacks but not read their body hashes: the batch insert
    // commits, and the lookup of the rows already holding its other keys (it reads the hash,
    // to tell a redelivery with another body) fails after that commit.
    let role = test_db
        .login_role(&[
            "INSERT ON callbacks",
            "SELECT (id, source, delivery_key, delivery_digest) ON callbacks",
            "USAGE ON SEQUENCE callbacks_id_seq",
        ])
        .await;
    let (_role_db, writer) = connect_writer(&role.url, BatchLimits::default());
    let answers = store_as_one_batch(
        &test_db,
        &writer,
        vec![delivery("new", "{}"), delivery("stored", "{}")],
    )
    .await;
    let new = answers[0]
        .as_ref()
        .expect("the row the batch inserted is answered");
    assert!(
        !new.duplicate,
        "its first delivery is told it was new: {new:?}"
    );
    assert_ne!(new.id, stored.id);
    assert!(
        matches!(answers[1], Err(StoreError::Query(_))),
        "the delivery whose stored row could not be read is an error, never a success: {:?}",
        answers[1]
    );
    assert_eq!(
        callbacks::count(&db).await.unwrap(),
        4,
        "stored, the blockers and new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_waiting_for_a_slow_database_are_bounded_in_bytes_not_only_in_count() {
    let test_db = TestDb::create(Backend::Sqlite)
        .await
        .expect("SQLite needs no server");
    let limits = BatchLimits {
        queue_bytes: 4096,
        enqueue_timeout: Duration::from_millis(300),
        ..BatchLimits::default()
    };
    let (db, writer) = start_writer_with(&test_db, limits).await;
    let DatabaseUrl::Sqlite(path) = &test_db.url else {
        unreachable!("a SQLite test database")
    };
    let lock = hold_sqlite_write_lock(path);
    let big = "x".repeat(3000);
    // Written while the file is locked: its batch waits out the 5 s busy timeout.
    let first = store_in_background(&writer, delivery("first", &big));
    eventually("the first delivery on its way", || async {
        writer.batches_on_their_way() == 1
    })
    .await;
    let second = writer.store(delivery("second", &big)).await;
    assert!(
        matches!(&second, Err(StoreError::Unavailable(why)) if why.contains("full")),
        "3,000 bytes more do not fit beside the first 3,000 of 4,096: {second:?}"
    );
    assert!(
        !first.is_finished(),
        "refused while the first still waits for the database, not after it"
    );
    assert_eq!(
        writer.queued(),
        0,
        "the first is on its way; the second never joined the queue"
    );
    drop(lock);
    // Stored if the lock went within its busy timeout, a 503 otherwise.
    let first_stored = match first.await.unwrap() {
        Ok(outcome) => i64::from(!outcome.duplicate),
        Err(StoreError::Unavailable(_)) => 0,
        Err(error) => panic!("the first is stored or unavailable: {error:?}"),
    };
    let after = writer
        .store(delivery("after", &big))
        .await
        .expect("room again once answered");
    assert!(!after.duplicate);
    assert_eq!(callbacks::count(&db).await.unwrap(), 1 + first_stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_the_database_refuses_fails_alone_and_in_batch_duplicates_stay_duplicates() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (db, writer) = start_writer(&test_db).await;
    // Postgres text cannot hold NUL: this row is refused, and only this one.
    let mut refused = delivery("refused", "{}");
    refused.preview = "nul\0inside".into();
    let batch = vec![
        delivery("a", "{}"),
        refused,
        delivery("a", "{}"),
        delivery("b", "{}"),
    ];
    let answers = store_as_one_batch(&test_db, &writer, batch).await;
    assert!(
        matches!(answers[1], Err(StoreError::Query(_))),
        "the refused row is an error, never a success: {:?}",
        answers[1]
    );
    // The two copies of `a` may have reached the queue in either order.
    let a = answers[0].as_ref().expect("a is stored");
    let a_again = answers[2].as_ref().expect("the copy of a is answered");
    assert_eq!(a.id, a_again.id, "both copies of a name one row");
    assert!(
        a.duplicate != a_again.duplicate,
        "exactly one copy is new: {a:?} {a_again:?}"
    );
    assert!(!answers[3].as_ref().expect("b is stored").duplicate);
    assert_eq!(
        callbacks::count(&db).await.unwrap(),
        4,
        "the blockers, a and b"
    );
    let stats = writer.stats();
    assert_eq!(
        stats.fallbacks, 1,
        "the four were one batch, retried one by one: {stats:?}"
    );
    assert_eq!(stats.largest_batch, 4, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_limit_ends_a_batch_before_the_row_limit_and_a_body_over_it_goes_alone() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    // Three bodies of 1,000 bytes fill a hold (3,000 >= 2,500); the row limit stays far away.
    let limits = BatchLimits {
        max_bytes: 2_500,
        ..BatchLimits::default()
    };
    let (db, writer) = start_writer_with(&test_db, limits).await;
    let (lock, blockers) = block_writer(&test_db, &writer).await;
    let body = |len: usize| format!("{{\"pad\":\"{}\"}}", "x".repeat(len - 10));
    let sizes = [1_000, 1_000, 1_000, 3_000, 1_000, 1_000, 1_000];
    let deliveries = sizes
        .into_iter()
        .enumerate()
        .map(|(n, size)| {
            let callback = delivery(&format!("sized {n}"), &body(size));
            assert_eq!(callback.body.len(), size);
            callback
        })
        .collect();
    let queued = queue_in_order(&writer, deliveries).await;
    for answer in release_blocked_writer(lock, blockers, queued).await {
        assert!(!answer.unwrap().duplicate);
    }
    assert_eq!(callbacks::count(&db).await.unwrap(), 9);
    let stats = writer.stats();
    assert_eq!(
        stats.largest_batch, 3,
        "batches end at the byte limit, not at 256 rows: {stats:?}"
    );
    assert_eq!(
        (stats.batches, stats.rows),
        (5, 9),
        "the two blockers, then 3 + 1 (the body over the limit, alone) + 3: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_plain_insert_meets_a_stored_key_is_written_again_losing_nothing() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (db, writer) = start_writer(&test_db).await;
    // Stored by another instance, so `writer` does not remember it and expects new keys.
    let (_, other_instance) = start_writer(&test_db).await;
    let stored = other_instance
        .store(delivery("stored", "{}"))
        .await
        .unwrap();

    let batch = vec![
        delivery("new 1", "{}"),
        delivery("stored", "{}"),
        delivery("new 2", "{}"),
    ];
    let answers = store_as_one_batch(&test_db, &writer, batch).await;
    let answers: Vec<StoreOutcome> = answers.into_iter().map(|a| a.unwrap()).collect();
    assert!(
        !answers[0].duplicate && !answers[2].duplicate,
        "{answers:?}"
    );
    assert_eq!((answers[1].id, answers[1].duplicate), (stored.id, true));
    assert_eq!(
        callbacks::count(&db).await.unwrap(),
        5,
        "stored, two blockers, two new"
    );
    let stats = writer.stats();
    assert_eq!(
        (stats.rewritten, stats.fallbacks),
        (1, 0),
        "one rewrite, no one-by-one retry: {stats:?}"
    );

    // Having met a stored key, the writer skips stored keys from the start for a while.
    let again = writer.store(delivery("stored", "{}")).await.unwrap();
    assert_eq!((again.id, again.duplicate), (stored.id, true));
    assert_eq!(writer.stats().rewritten, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_batches_waiting_the_writer_takes_no_more_and_the_full_queue_refuses_more() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let limits = BatchLimits {
        max_rows: 2,
        queue_capacity: 2,
        enqueue_timeout: Duration::from_millis(300),
        ..BatchLimits::default()
    };
    let (db, writer) = start_writer_with(&test_db, limits).await;
    let (lock, mut accepted) = block_writer(&test_db, &writer).await;
    // The queue's capacity, and no more: no third batch may join the two on their way, so the
    // writer leaves arrivals in the queue.
    let held = (0..2)
        .map(|n| delivery(&format!("held {n}"), "{}"))
        .collect();
    accepted.extend(queue_in_order(&writer, held).await);
    // A writer that drained the queue would take this one in, and its answer would wait for
    // the lock: the timeout turns that hang into a failure.
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        writer.store(delivery("one too many", "{}")),
    )
    .await
    .expect("refused within the enqueue timeout, not held");
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "the writer must not drain the queue while no batch may join: {refused:?}"
    );
    lock.release().await;
    for answer in accepted {
        assert!(!answer.await.unwrap().unwrap().duplicate);
    }
    assert_eq!(callbacks::count(&db).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_read_runs_the_writer_sends_no_second_batch_behind_the_first() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (db, writer) = start_writer(&test_db).await;
    let mut lock = OrderLockHolder::take(&test_db).await;
    let first = store_in_background(&writer, delivery("first", "{}"));
    lock.wait_for_a_writer().await;
    // A read that lasts until `users` is unlocked, made as an HTTP worker makes it: over a
    // connection of the worker's own, counted where the writer looks.
    let worker = db
        .for_http_worker(
            &test_db.url,
            &PoolSettings {
                max_connections: 1,
                acquire_timeout: Duration::from_secs(5),
                answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
            },
        )
        .expect("the worker's pool builds");
    let mut users_lock = test_db.lock_users().await;
    let read = tokio::spawn(async move { users::list(&worker).await });
    test_db.wait_for_users_lock_waiters(1).await;

    let second = store_in_background(&writer, delivery("second", "{}"));
    eventually("the second delivery reaches the writer", || async {
        writer.queued() == 1 || writer.batches_on_their_way() == 2
    })
    .await;
    // Without a read running, the second batch goes at once (`block_writer` relies on it).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        writer.batches_on_their_way(),
        1,
        "no batch is pipelined behind the first while a read runs"
    );

    users_lock
        .batch_execute("COMMIT")
        .await
        .expect("unlocks users");
    assert!(read.await.unwrap().expect("the read ends").is_empty());
    lock.release().await;
    for answer in [first, second] {
        assert!(!answer.await.unwrap().unwrap().duplicate);
    }
    assert_eq!(callbacks::count(&db).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_writers_connection_is_cut_while_idle_the_next_delivery_is_stored_on_a_new_one() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (db, writer) = start_writer(&test_db).await;
    let first = writer.store(delivery("before", "{}")).await.unwrap();
    // Ends every other backend of the database: the writer's connection and the pool's.
    let mut admin = test_db.postgres_connection().await;
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .expect("terminates the backends");
    // The connection's task notices the closed socket; the writer must not lose a batch on it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = writer
        .store(delivery("after", "{}"))
        .await
        .expect("stored on a new connection, not refused");
    assert!(!after.duplicate && after.id > first.id, "{after:?}");
    assert_eq!(callbacks::count(&db).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_writers_connection_is_cut_under_two_batches_the_next_batch_is_stored_on_a_new_one(
) {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (db, writer) = start_writer(&test_db).await;
    let (mut lock, blockers) = block_writer(&test_db, &writer).await;
    let next: Vec<Answer> = ["next 1", "next 2"]
        .into_iter()
        .map(|key| store_in_background(&writer, delivery(key, "{}")))
        .collect();
    until_queued(&writer, next.len()).await;
    // Both batches on their way fail. The first to be answered lets the held deliveries go
    // while the other still holds the dead connection: they must not be sent on it.
    lock.terminate_the_waiting_writer().await;
    lock.release().await;
    for blocker in blockers {
        let answer = blocker.await.unwrap();
        assert!(
            answer.is_err(),
            "a batch cut before its commit is never a success: {answer:?}"
        );
    }
    for answer in next {
        let stored = answer
            .await
            .unwrap()
            .expect("stored on a new connection, not failed on the cut one");
        assert!(!stored.duplicate);
    }
    assert_eq!(
        callbacks::count(&db).await.unwrap(),
        2,
        "the two that came next, and neither blocker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_given_no_answer_fails_in_time_and_its_connection_is_closed_not_reused() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let proxy = ChaosProxy::start(5432).await;
    // One connection in all: one put back would be the next batch's.
    let settings = PoolSettings {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
    };
    let db = Db::connect(&test_db.url_via(proxy.port), &settings).expect("pool builds");
    let answer_timeout = Duration::from_secs(1);
    let limits = BatchLimits {
        answer_timeout,
        ..BatchLimits::default()
    };
    let (writer, _task) = CallbackWriter::start(db.clone(), limits);
    writer.store(delivery("before", "{}")).await.unwrap();

    proxy.silence_open();
    let started = std::time::Instant::now();
    let silent = tokio::time::timeout(
        Duration::from_secs(20),
        writer.store(delivery("silent", "{}")),
    )
    .await
    .expect("answered without the database's answer");
    assert_no_answer_in_time(&silent);
    assert!(
        started.elapsed() >= answer_timeout,
        "{:?}",
        started.elapsed()
    );

    let after = tokio::time::timeout(
        Duration::from_secs(20),
        writer.store(delivery("after", "{}")),
    )
    .await
    .expect("answered")
    .expect("stored on a new connection, not sent to the silent one");
    assert!(!after.duplicate, "{after:?}");
    let direct = Db::connect(&test_db.url, &settings).expect("pool builds");
    assert_eq!(
        callbacks::count(&direct).await.unwrap(),
        2,
        "before and after"
    );
}
