//! The write side of the rejection log. `record` is synchronous and constant-time: a token
//! bucket caps the write rate, a small bounded queue caps memory, and whatever does not fit is
//! counted as dropped. One task drains the queue in batches and prunes the table to its cap.
//! Requests to a source name that does not exist, refused before anything is read and with no
//! per-address limit, get a quarter of the rate of their own: a scan of URLs filled the whole
//! budget, and a real sender's refused deliveries were dropped unlogged.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ingest::IngestError;
use crate::metrics::Metrics;
use crate::store::rejections::{self, NewRejection};
use crate::store::Db;
use crate::token_bucket::TokenBucket;

#[derive(Clone, Debug)]
pub struct RejectionLogLimits {
    /// Rows kept; older ones are deleted after each batch.
    pub max_rows: u32,
    /// Sustained entries written per second, and how many may come at once.
    pub per_second: f64,
    pub burst: u32,
    /// Entries waiting for the writer; more are dropped.
    pub queue: usize,
    /// Entries written per transaction.
    pub batch: usize,
}

impl Default for RejectionLogLimits {
    fn default() -> Self {
        RejectionLogLimits {
            max_rows: 10_000,
            per_second: 20.0,
            burst: 200,
            queue: 256,
            batch: 64,
        }
    }
}

#[derive(Clone)]
pub struct RejectionLog {
    queue: mpsc::Sender<NewRejection>,
    buckets: Arc<Mutex<Buckets>>,
    metrics: Metrics,
}

struct Buckets {
    every_entry: TokenBucket,
    unknown_sources: TokenBucket,
}

impl Buckets {
    fn new(limits: &RejectionLogLimits) -> Buckets {
        let burst = f64::from(limits.burst);
        Buckets {
            every_entry: TokenBucket::new(limits.per_second, burst),
            unknown_sources: TokenBucket::new(limits.per_second / 4.0, burst / 4.0),
        }
    }

    fn try_take(&mut self, reason: &str, now: Instant) -> bool {
        (reason != IngestError::UnknownSource.code() || self.unknown_sources.try_take(now))
            && self.every_entry.try_take(now)
    }
}

impl RejectionLog {
    /// Starts the writer task; it ends when every `RejectionLog` clone is dropped.
    pub fn start(
        db: Db,
        limits: RejectionLogLimits,
        metrics: Metrics,
    ) -> (RejectionLog, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(limits.queue.max(1));
        let log = RejectionLog {
            queue,
            buckets: Arc::new(Mutex::new(Buckets::new(&limits))),
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(run(db, limits, receiver, metrics));
        (log, task)
    }

    /// Queues `entry` if the rate and the queue allow; otherwise counts it as dropped.
    pub fn record(&self, entry: NewRejection) {
        let allowed = self
            .buckets
            .lock()
            .map(|mut buckets| buckets.try_take(&entry.reason, Instant::now()))
            .unwrap_or(false);
        if !allowed {
            self.metrics.rejection_log_dropped.inc("rate_limited");
            return;
        }
        if self.queue.try_send(entry).is_err() {
            self.metrics.rejection_log_dropped.inc("queue_full");
        }
    }
}

async fn run(
    db: Db,
    limits: RejectionLogLimits,
    mut receiver: mpsc::Receiver<NewRejection>,
    metrics: Metrics,
) {
    let mut batch = Vec::with_capacity(limits.batch.max(1));
    while receiver.recv_many(&mut batch, limits.batch.max(1)).await > 0 {
        match rejections::insert_batch(&db, &batch).await {
            Ok(written) => metrics.rejection_log_written.inc_by(written as u64),
            Err(error) => {
                tracing::warn!(error = %error, rows = batch.len(), "rejection log entries dropped");
                metrics
                    .rejection_log_dropped
                    .inc_by("write_failed", batch.len() as u64);
            }
        }
        batch.clear();
        if let Err(error) = rejections::prune_to(&db, limits.max_rows).await {
            tracing::warn!(error = %error, "rejection log not pruned this time");
        }
    }
}
