//! A token bucket: at most `burst` events at once, refilled at `per_second`.

use std::time::Instant;

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
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
