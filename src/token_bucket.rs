//! A token bucket: at most `burst` events at once, refilled at `per_second`. Shared by the
//! rejection log's write rate and the failed-signature limit on ingest.

use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(per_second: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            per_second: per_second.max(0.0),
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there: zero when one is there at `now`, `None` when the
    /// bucket never refills.
    pub fn wait_for_token(&self, now: Instant) -> Option<Duration> {
        let missing = 1.0 - self.tokens_at(now);
        if missing <= 0.0 {
            Some(Duration::ZERO)
        } else if self.per_second > 0.0 {
            Duration::try_from_secs_f64(missing / self.per_second).ok()
        } else {
            None
        }
    }

    /// The tokens there would be at `now`, without taking any.
    pub fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Full again: no different from a bucket made afresh.
    pub fn is_full(&self, now: Instant) -> bool {
        self.tokens_at(now) >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0);
        let taken = (0..100).filter(|_| bucket.try_take(start)).count();
        assert_eq!(taken, 5, "only the burst passes at one instant");
        let later = start + Duration::from_millis(500);
        let taken = (0..100).filter(|_| bucket.try_take(later)).count();
        assert_eq!(taken, 5, "half a second at 10/s refills 5");
        let much_later = later + Duration::from_secs(3600);
        let taken = (0..100).filter(|_| bucket.try_take(much_later)).count();
        assert_eq!(taken, 5, "the bucket never holds more than the burst");
    }

    #[test]
    fn the_wait_is_the_time_until_the_next_token_and_taking_nothing_changes_nothing() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.5, 2.0);
        assert_eq!(bucket.wait_for_token(start), Some(Duration::ZERO));
        assert!(bucket.try_take(start) && bucket.try_take(start));
        assert!(!bucket.is_full(start));
        assert_eq!(bucket.wait_for_token(start), Some(Duration::from_secs(2)));
        let later = start + Duration::from_millis(1500);
        assert_eq!(
            bucket.wait_for_token(later),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            bucket.wait_for_token(later),
            Some(Duration::from_millis(500)),
            "asking does not take a token"
        );
        assert!(bucket.is_full(start + Duration::from_secs(4)));
    }

    #[test]
    fn a_bucket_that_never_refills_has_no_wait_once_empty() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.0, 1.0);
        assert!(bucket.try_take(start));
        assert_eq!(bucket.wait_for_token(start + Duration::from_secs(60)), None);
    }
}
