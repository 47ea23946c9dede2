//! The callback writer: one task per Hookbox instance that gathers the inserts waiting at that
//! moment, writes them in one transaction, commits once, and answers each request with its own
//! outcome. Concurrent requests share a commit; a lone request never waits for company. When
//! batches are sent is pipeline.rs's business.

mod arrivals;
mod pipeline;
mod reply;

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::batch_insert::{insert_unique, KeyForecast};
use super::batch_plan::BatchPlan;
use super::callbacks::NewCallback;
use super::pg_writer_connection::SharedPgConnection;
use super::recent::{Fingerprint, RecentlyStored};
use super::{Db, StoreError};
use arrivals::Arrivals;
use pipeline::Pipeline;
use reply::{Answer, Reply};

/// What happened to one delivery once its transaction committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOutcome {
    pub id: i64,
    /// The key was already stored (or stored earlier in the same batch); nothing new was written.
    pub duplicate: bool,
    /// A duplicate whose body differs from the stored one: the first body is kept.
    pub body_differs: bool,
}

/// How long a batch waits for the database's answer by default (`BatchLimits::answer_timeout`).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct BatchLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    /// How many deliveries may wait for the writer before new ones are refused.
    pub queue_capacity: usize,
    /// How many bytes of bodies may wait for the writer (queued, or in a batch on its way)
    /// before new ones wait for room. The count alone let 4,096 bodies of up to 1 MiB each,
    /// 4 GiB, pile up behind a slow database. A body larger than this waits for all of it.
    pub queue_bytes: usize,
    /// How long a request may wait for room in a full queue.
    pub enqueue_timeout: Duration,
    /// How long a batch may wait for the database's answer before its requests are answered
    /// "unavailable". A database that stops answering without closing its connections (a
    /// frozen server, a network that drops packets) would otherwise keep them waiting for as
    /// long as the connection stays open.
    pub answer_timeout: Duration,
    /// How many of the callbacks this instance stored lately are remembered, so that their
    /// redeliveries are answered without the database (0: none; see recent.rs).
    pub remember_recent: usize,
    /// How long a stored callback is remembered.
    pub remember_for: Duration,
    /// TEST-ONLY fault knob (default `None`): sleep a random time in this range inside each
    /// write transaction, after the ids are drawn and before the commit, so that transactions
    /// of several writers commit out of id order. Used by the gap test; never set by the CLI.
    pub commit_delay: Option<(Duration, Duration)>,
    /// TEST-ONLY switch (default `true`): take the callback order lock. Turned off only to
    /// show that the gap test fails without it; never set by the CLI.
    pub order_lock: bool,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_rows: 256,
            max_bytes: 8 << 20,
            queue_capacity: 4096,
            queue_bytes: 64 << 20,
            enqueue_timeout: Duration::from_secs(2),
            answer_timeout: ANSWER_TIMEOUT,
            remember_recent: 32_768,
            remember_for: Duration::from_secs(60),
            commit_delay: None,
            order_lock: true,
        }
    }
}

struct Pending {
    callback: NewCallback,
    reply: Reply,
}

/// The handle requests use to store a callback. Cheap to clone.
#[derive(Clone)]
pub struct CallbackWriter {
    queue: mpsc::Sender<Pending>,
    /// One permit per byte of body under way (`BatchLimits::queue_bytes`).
    room: Arc<Semaphore>,
    room_bytes: usize,
    enqueue_timeout: Duration,
    stats: Arc<WriterStats>,
    recent: Arc<RecentlyStored>,
    arrivals: Arc<Arrivals>,
}

/// Running totals of the writer, updated once per batch (a few relaxed atomic adds), for a
/// metrics endpoint and the shutdown log.
#[derive(Debug, Default)]
struct WriterStats {
    batches: AtomicU64,
    rows: AtomicU64,
    busy_us: AtomicU64,
    largest_batch: AtomicU64,
    fallbacks: AtomicU64,
    rewritten: AtomicU64,
    answered_from_memory: AtomicU64,
    /// Deliveries the writer has taken from the queue but not yet sent.
    held: AtomicUsize,
    /// Batches sent and not yet answered.
    on_their_way: AtomicUsize,
}

/// A copy of the writer's totals since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStatsSnapshot {
    /// Batches written (one transaction each, not counting one-by-one retries).
    pub batches: u64,
    /// Deliveries answered, duplicates and failures included.
    pub rows: u64,
    /// Time during which at least one batch was on its way to the database.
    pub busy: Duration,
    pub largest_batch: u64,
    /// Batches with deliveries the database refused, which were retried one at a time.
    pub fallbacks: u64,
    /// Postgres batches written again because their plain insert met a stored key
    /// (batch_insert.rs, `KeyForecast`).
    pub rewritten: u64,
    /// Redeliveries answered from the recently stored callbacks, without the database.
    pub answered_from_memory: u64,
}

impl WriterStats {
    fn record(&self, rows: usize, fell_back: bool) {
        let rows = rows as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.largest_batch.fetch_max(rows, Ordering::Relaxed);
        if fell_back {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn add_busy(&self, took: Duration) {
        self.busy_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn set_on_their_way(&self, batches: usize) {
        self.on_their_way.store(batches, Ordering::Relaxed);
    }

    fn set_held(&self, held: usize) {
        self.held.store(held, Ordering::Relaxed);
    }

    fn snapshot(&self) -> WriterStatsSnapshot {
        WriterStatsSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            busy: Duration::from_micros(self.busy_us.load(Ordering::Relaxed)),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            rewritten: self.rewritten.load(Ordering::Relaxed),
            answered_from_memory: self.answered_from_memory.load(Ordering::Relaxed),
        }
    }
}

impl CallbackWriter {
    /// Starts the writer task. It ends once every `CallbackWriter` clone is dropped and the
    /// queue is drained, so awaiting the handle after shutdown lets in-flight writes finish.
    pub fn start(db: Db, limits: BatchLimits) -> (CallbackWriter, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(limits.queue_capacity.max(1));
        let stats = Arc::new(WriterStats::default());
        let arrivals = Arc::new(Arrivals::default());
        let room_bytes = limits
            .queue_bytes
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let writer = CallbackWriter {
            arrivals: arrivals.clone(),
            queue,
            room: Arc::new(Semaphore::new(room_bytes)),
            room_bytes,
            enqueue_timeout: limits.enqueue_timeout,
            stats: stats.clone(),
            recent: Arc::new(RecentlyStored::new(
                limits.remember_recent,
                limits.remember_for,
            )),
        };
        let batches = Batches {
            db,
            pg_connection: SharedPgConnection::default(),
            limits,
            stats,
            forecast: KeyForecast::default(),
            arrivals,
        };
        let task = tokio::spawn(run(batches, receiver));
        (writer, task)
    }

    /// Deliveries waiting for the writer right now: queued, or taken by it and not yet sent.
    pub fn queued(&self) -> usize {
        self.in_queue() + self.stats.held.load(Ordering::Relaxed)
    }

    /// Deliveries in the queue, not yet taken by the writer.
    fn in_queue(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Batches sent to the database and not yet answered (at most two on Postgres, one on
    /// SQLite; see pipeline.rs).
    pub fn batches_on_their_way(&self) -> usize {
        self.stats.on_their_way.load(Ordering::Relaxed)
    }

    /// The writer's totals so far (batches, rows, time spent writing).
    pub fn stats(&self) -> WriterStatsSnapshot {
        self.stats.snapshot()
    }

    /// Stores `callback` and returns only after its transaction has committed (or failed).
    /// A redelivery of a callback this instance stored lately is answered at once.
    pub async fn store(&self, callback: NewCallback) -> Result<StoreOutcome, StoreError> {
        let fingerprint = Fingerprint::of(&callback);
        if let Some(outcome) = self.recent.redelivery(&fingerprint, Instant::now()) {
            self.stats
                .answered_from_memory
                .fetch_add(1, Ordering::Relaxed);
            return Ok(outcome);
        }
        let queue_full = || StoreError::Unavailable("the write queue is full".into());
        let deadline = tokio::time::Instant::now() + self.enqueue_timeout;
        let bytes = callback.body.len().clamp(1, self.room_bytes) as u32;
        // Held until the answer is in: the body is in memory until then.
        let _room = tokio::time::timeout_at(deadline, self.room.clone().acquire_many_owned(bytes))
            .await
            .map_err(|_| queue_full())?
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?;
        let (reply, answer) = reply::channel();
        let pending = Pending { callback, reply };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.queue
            .send_timeout(pending, left)
            .await
            .map_err(|_| queue_full())?;
        self.arrivals.arrived(self.in_queue());
        let outcome = answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))??;
        if !outcome.duplicate {
            self.recent
                .remember(&fingerprint, outcome.id, Instant::now());
        }
        Ok(outcome)
    }
}

/// What every batch is written with.
struct Batches {
    db: Db,
    /// Postgres: the connection every batch is written on (pg_writer_connection.rs).
    pg_connection: SharedPgConnection,
    limits: BatchLimits,
    stats: Arc<WriterStats>,
    forecast: KeyForecast,
    arrivals: Arc<Arrivals>,
}

async fn run(batches: Batches, mut receiver: mpsc::Receiver<Pending>) {
    Pipeline::new(&batches).run(&mut receiver).await;
    let stats = &batches.stats;
    let totals = stats.snapshot();
    tracing::info!(
        batches = totals.batches,
        rows = totals.rows,
        rows_per_batch = totals.rows as f64 / totals.batches.max(1) as f64,
        largest_batch = totals.largest_batch,
        busy_ms = totals.busy.as_millis() as u64,
        fallbacks = totals.fallbacks,
        rewritten = totals.rewritten,
        answered_from_memory = totals.answered_from_memory,
        "callback writer stopped: queue closed and drained"
    );
}

/// A written batch's outcomes, not yet sent to the requests waiting for them.
struct Answers {
    replies: Vec<Reply>,
    outcomes: Vec<Answer>,
}

impl Answers {
    /// A request that gave up (client gone) is skipped; its row is stored regardless.
    fn send(self) {
        reply::deliver(self.replies.into_iter().zip(self.outcomes));
    }
}

async fn write_batch(batches: &Batches, batch: Vec<Pending>) -> Answers {
    let started = Instant::now();
    let rows = batch.len();
    let (callbacks, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.callback, p.reply)).unzip();
    let mut outcomes = store_batch(batches, &callbacks).await;
    let refused: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, outcome)| matches!(outcome, Err(StoreError::Query(_))))
        .map(|(index, _)| index)
        .collect();
    let fall_back = rows > 1 && !refused.is_empty();
    if fall_back {
        // Something in the batch was refused by the database: the whole statement, or the
        // lookup of stored keys after it committed. Retry each refused delivery on its own so
        // one bad row cannot fail the others; each request still gets its true answer.
        tracing::warn!(
            batch.rows = rows,
            batch.refused = refused.len(),
            "batch insert failed, retrying one by one"
        );
        let to_retry: Vec<&NewCallback> = refused.iter().map(|&index| &callbacks[index]).collect();
        let retried = one_by_one(to_retry, |callback| async move {
            let mut single = store_batch(batches, std::slice::from_ref(callback)).await;
            single.pop().unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "a batch of one without an outcome".into(),
                ))
            })
        })
        .await;
        for (index, outcome) in refused.into_iter().zip(retried) {
            outcomes[index] = outcome;
        }
    }
    let took = started.elapsed();
    batches.stats.record(rows, fall_back);
    tracing::debug!(
        batch.rows = rows,
        batch.new = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(o) if !o.duplicate))
            .count(),
        batch.failed = outcomes.iter().filter(|o| o.is_err()).count(),
        batch.fallback = fall_back,
        duration_ms = took.as_secs_f64() * 1000.0,
        "callback batch written"
    );
    Answers { replies, outcomes }
}

/// Stores each callback on its own with `store_one`, in order. A row can be refused (`Query`);
/// a database that stops answering or can no longer be reached fails every row alike, each after
/// its own wait, so once one row gets such an answer the rest get it too without being tried.
async fn one_by_one<'a, F, Fut>(
    callbacks: impl IntoIterator<Item = &'a NewCallback>,
    mut store_one: F,
) -> Vec<Result<StoreOutcome, StoreError>>
where
    F: FnMut(&'a NewCallback) -> Fut,
    Fut: Future<Output = Result<StoreOutcome, StoreError>>,
{
    let mut outcomes = Vec::new();
    let mut database_failed: Option<StoreError> = None;
    for callback in callbacks {
        let outcome = match &database_failed {
            Some(error) => Err(error.copied()),
            None => store_one(callback).await,
        };
        if let Err(error @ (StoreError::Unavailable(_) | StoreError::NoAnswer(_))) = &outcome {
            database_failed = Some(error.copied());
        }
        outcomes.push(outcome);
    }
    outcomes
}

/// Stores a batch and returns one outcome per input, in order.
async fn store_batch(
    batches: &Batches,
    callbacks: &[NewCallback],
) -> Vec<Result<StoreOutcome, StoreError>> {
    let plan = BatchPlan::new(callbacks);
    let unique: Vec<&NewCallback> = plan.leaders.iter().map(|&i| &callbacks[i]).collect();
    let written = insert_unique(
        &batches.db,
        &batches.pg_connection,
        &unique,
        &batches.limits,
        &batches.forecast,
    )
    .await;
    match written {
        Ok(written) => {
            if written.rewritten {
                batches.stats.rewritten.fetch_add(1, Ordering::Relaxed);
            }
            let stored = written
                .rows
                .into_iter()
                .map(|(key, id, sha, inserted)| (key, (id, sha, inserted)))
                .collect();
            plan.outcomes(callbacks, &stored, written.lookup_failed.as_ref())
        }
        Err(error) => {
            tracing::error!(error = %error, batch.rows = callbacks.len(), "callback batch failed");
            callbacks.iter().map(|_| Err(error.copied())).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn stored(id: i64) -> Result<StoreOutcome, StoreError> {
        Ok(StoreOutcome {
            id,
            duplicate: false,
            body_differs: false,
        })
    }

    #[tokio::test]
    async fn one_by_one_stops_trying_once_the_database_itself_fails() {
        let callbacks: Vec<NewCallback> = (0..5)
            .map(|n| NewCallback::for_tests("s", &format!("k{n}"), &format!("{n:064x}")))
            .collect();
        let tried = RefCell::new(Vec::new());
        let outcomes = one_by_one(&callbacks, |callback| {
            tried.borrow_mut().push(callback.delivery_key.clone());
            let outcome = match callback.delivery_key.as_str() {
                "k0" => stored(1),
                "k1" => Err(StoreError::Query(diesel::result::Error::NotFound)),
                "k2" => stored(3),
                _ => Err(StoreError::Unavailable("gone".into())),
            };
            async move { outcome }
        })
        .await;
        assert_eq!(*tried.borrow(), ["k0", "k1", "k2", "k3"], "k4 is not tried");
        assert!(matches!(outcomes[0], Ok(StoreOutcome { id: 1, .. })));
        assert!(
            matches!(outcomes[1], Err(StoreError::Query(_))),
            "a refused row"
        );
        assert!(
            matches!(outcomes[2], Ok(StoreOutcome { id: 3, .. })),
            "the next row still tried"
        );
        assert!(matches!(outcomes[3], Err(StoreError::Unavailable(_))));
        assert!(
            matches!(outcomes[4], Err(StoreError::Unavailable(_))),
            "{:?}",
            outcomes[4]
        );
    }
}
