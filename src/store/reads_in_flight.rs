//! How many reads (admin pages, token lookups, readiness pings) are running on the Postgres pool
//! right now. The callback writer looks at it before it pipelines a second batch behind the
//! first (writer/pipeline.rs): a pipelined batch keeps the writer's database process on a core
//! without a break, and on a small machine a poll's statement then waits for a core behind it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct ReadsInFlight(Arc<AtomicUsize>);

impl ReadsInFlight {
    /// Counts a read until the returned guard is dropped; `counted: false` counts nothing.
    pub(crate) fn enter(&self, counted: bool) -> ReadGuard<'_> {
        if counted {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        ReadGuard {
            reads: counted.then_some(self),
        }
    }

    pub(crate) fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// Holds a read's place in the count; also dropped when a read fails or is cancelled.
pub(crate) struct ReadGuard<'a> {
    reads: Option<&'a ReadsInFlight>,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if let Some(reads) = self.reads {
            reads.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadsInFlight;

    #[test]
    fn a_read_counts_until_its_guard_is_dropped() {
        let reads = ReadsInFlight::default();
        assert!(!reads.any());
        let first = reads.enter(true);
        let second = reads.enter(true);
        drop(first);
        assert!(reads.any());
        drop(second);
        assert!(!reads.any());
    }

    #[test]
    fn a_write_is_not_counted() {
        let reads = ReadsInFlight::default();
        let _write = reads.enter(false);
        assert!(!reads.any());
    }
}
