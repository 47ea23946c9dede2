//! Wakes the writer once enough deliveries have queued for its next batch, rather than at each
//! one. While a batch is on its way the writer waits for as many deliveries as that batch
//! carries (pipeline.rs). Woken by every arrival, its thread went to sleep and was woken once
//! per delivery, and those switches were most of what the writer's threads did (a profile at 16
//! senders: 29 of their 37 % of Hookbox's samples). Alternated at 16 senders, waking it once per
//! batch took 1–3 µs of CPU off a request and gave 3 % more throughput on average
//! (docs/performance.md, 2026-12-04 21:26).
//!
//! The signal only ever brings a dispatch forward: a wake-up that is missed or comes early
//! costs the writer a look at the queue, or the wait until the batch on its way finishes.

use std::sync::atomic::{fence, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// No one waits: arrivals wake nothing.
const NOT_WAITING: usize = usize::MAX;

#[derive(Debug)]
pub(super) struct Arrivals {
    /// How many queued deliveries the writer waits for, or `NOT_WAITING`.
    wake_at: AtomicUsize,
    enough: Notify,
}

impl Default for Arrivals {
    fn default() -> Self {
        Arrivals {
            wake_at: AtomicUsize::new(NOT_WAITING),
            enough: Notify::new(),
        }
    }
}

impl Arrivals {
    /// Called by a request right after it queued its delivery; `queued` counts it.
    pub(super) fn arrived(&self, queued: usize) {
        // Pairs with the fence in `wait_for`: either the writer sees this delivery in the
        // queue, or this request sees the writer's threshold.
        fence(Ordering::SeqCst);
        if queued >= self.wake_at.load(Ordering::Relaxed) {
            self.wake_at.store(NOT_WAITING, Ordering::Relaxed);
            self.enough.notify_one();
        }
    }

    /// Announces that the writer waits for `wanted` queued deliveries and returns whether
    /// `queued()` already holds them; if not, await `enough()` next.
    pub(super) fn wait_for(&self, wanted: usize, queued: impl Fn() -> usize) -> bool {
        self.wake_at.store(wanted, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let already = queued() >= wanted;
        if already {
            self.wake_at.store(NOT_WAITING, Ordering::Relaxed);
        }
        already
    }

    pub(super) async fn enough(&self) {
        self.enough.notified().await;
    }

    pub(super) fn stop_waiting(&self) {
        self.wake_at.store(NOT_WAITING, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Arrivals;

    async fn woken(arrivals: &Arrivals) -> bool {
        tokio::time::timeout(Duration::from_millis(50), arrivals.enough())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_writer_is_woken_when_enough_have_queued_not_before() {
        let arrivals = Arrivals::default();
        assert!(!arrivals.wait_for(3, || 1));
        arrivals.arrived(2);
        assert!(!woken(&arrivals).await, "two of three wake nothing");
        arrivals.arrived(3);
        assert!(woken(&arrivals).await);
    }

    #[tokio::test]
    async fn a_wait_for_what_is_already_queued_is_over_at_once() {
        let arrivals = Arrivals::default();
        assert!(arrivals.wait_for(2, || 2));
        arrivals.arrived(3);
        assert!(!woken(&arrivals).await, "the writer no longer waits");
    }

    #[tokio::test]
    async fn one_wake_up_per_wait_however_many_arrive() {
        let arrivals = Arrivals::default();
        assert!(!arrivals.wait_for(1, || 0));
        arrivals.arrived(1);
        arrivals.arrived(2);
        assert!(woken(&arrivals).await);
        assert!(
            !woken(&arrivals).await,
            "the second arrival left no wake-up behind"
        );
    }

    #[tokio::test]
    async fn arrivals_wake_nothing_while_the_writer_does_not_wait() {
        let arrivals = Arrivals::default();
        arrivals.arrived(4096);
        assert!(!woken(&arrivals).await);
        assert!(!arrivals.wait_for(2, || 0));
        arrivals.stop_waiting();
        arrivals.arrived(4096);
        assert!(!woken(&arrivals).await);
    }

    #[tokio::test]
    async fn a_wake_up_given_before_the_writer_sleeps_is_kept() {
        let arrivals = Arrivals::default();
        assert!(!arrivals.wait_for(1, || 0));
        // The delivery arrives between the writer's look at the queue and its sleep.
        arrivals.arrived(1);
        assert!(woken(&arrivals).await);
    }
}
