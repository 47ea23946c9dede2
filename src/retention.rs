//! Retention: callbacks older than the configured age are deleted by a background job, a
//! small batch at a time with a pause in between, so ingest never waits long behind it.
//! `hookbox purge --older-than <days>` runs the same loop once.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::store::{retention, Db, StoreError};

#[derive(Clone, Debug)]
pub struct RetentionPolicy {
    /// Callbacks received longer ago than this are deleted.
    pub max_age: TimeDelta,
    /// Time between two sweeps.
    pub interval: Duration,
    /// Rows per delete statement; a batch holds the write lock only briefly.
    pub batch: i64,
    /// Most bytes of bodies per delete statement (at least one row): large bodies take
    /// longer to free.
    pub batch_bytes: i64,
    /// Pause between batches, so queued ingest writes get the lock in between.
    pub pause: Duration,
}

impl RetentionPolicy {
    pub fn days(days: u32) -> RetentionPolicy {
        RetentionPolicy {
            max_age: TimeDelta::days(i64::from(days)),
            interval: Duration::from_secs(600),
            batch: 500,
            batch_bytes: 8 * 1024 * 1024,
            pause: Duration::from_millis(50),
        }
    }
}

/// Deletes every callback received before `cutoff`, batch by batch (`policy`'s rows, bytes
/// and pause; its age and interval are not used); returns how many.
pub async fn purge_before(
    db: &Db,
    cutoff: NaiveDateTime,
    policy: &RetentionPolicy,
    metrics: &Metrics,
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let deleted =
            retention::delete_batch_before(db, cutoff, policy.batch.max(1), policy.batch_bytes)
                .await?;
        total += deleted.rows as u64;
        metrics.retention_deleted.inc_by(deleted.rows as u64);
        if !deleted.more {
            return Ok(total);
        }
        tokio::time::sleep(policy.pause).await;
    }
}

pub fn cutoff(max_age: TimeDelta) -> NaiveDateTime {
    (Utc::now() - max_age).naive_utc()
}

/// Sweeps now and then every `interval` until aborted. A failed sweep (database away) is
/// logged and tried again at the next interval.
pub fn start(db: Db, policy: RetentionPolicy, metrics: Metrics) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let cutoff = cutoff(policy.max_age);
            match purge_before(&db, cutoff, &policy, &metrics).await {
                Ok(0) => tracing::debug!("retention: nothing to delete"),
                Ok(deleted) => tracing::info!(deleted, %cutoff, "retention: old callbacks deleted"),
                Err(error) => {
                    tracing::warn!(error = %error, "retention sweep failed; retrying later")
                }
            }
            tokio::time::sleep(policy.interval).await;
        }
    })
}
