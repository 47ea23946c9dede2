//! The optional limit on failed signature checks, per remote address and source.
//!
//! Each (address, source) pair that fails a signature check gets a token bucket of the
//! configured size; every failure takes a token, and time puts them back. While a pair's
//! bucket is empty, its requests are refused with 429 before their body is read. Successes
//! never refill it: a replayed valid delivery (answered 200 as a duplicate) must not buy an
//! attacker more guesses. Addresses that never fail cost nothing, and the tracked pairs are
//! capped, so a flood from many addresses cannot grow memory without bound.

mod limit;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use limit::FailedSignatureLimit;

use crate::token_bucket::TokenBucket;

/// Pairs tracked at most (each an address, a source name and a bucket). Past this, refilled
/// buckets are dropped first, then the fullest ones.
pub const TRACKED_PAIRS: usize = 10_000;

/// Shared by every worker. Without a limit it does nothing and takes no lock.
pub struct SignatureThrottle(Option<Mutex<Buckets>>);

impl SignatureThrottle {
    pub fn disabled() -> SignatureThrottle {
        SignatureThrottle(None)
    }

    pub fn new(limit: Option<FailedSignatureLimit>) -> SignatureThrottle {
        SignatureThrottle(limit.map(|limit| Mutex::new(Buckets::new(limit, TRACKED_PAIRS))))
    }

    /// `Err(seconds to wait)` while `peer` has no failed checks left on `source`. A request
    /// whose peer is unknown cannot be attributed and is never refused.
    pub fn check(&self, peer: Option<IpAddr>, source: &str) -> Result<(), u64> {
        let (Some(buckets), Some(ip)) = (&self.0, peer) else {
            return Ok(());
        };
        let key = (ip, source.to_owned());
        match lock(buckets).wait(&key, Instant::now()) {
            None => Ok(()),
            Some(wait) => Err(round_up_secs(wait)),
        }
    }

    /// Counts one failed signature check of `peer` on `source`.
    pub fn record_failure(&self, peer: Option<IpAddr>, source: &str) {
        if let (Some(buckets), Some(ip)) = (&self.0, peer) {
            let key = (ip, source.to_owned());
            lock(buckets).charge(key, Instant::now());
        }
    }
}

/// A panic cannot leave the map half-updated in a way that matters (the worst is one bucket
/// with a token more or less), so a poisoned lock is used as it is.
fn lock(buckets: &Mutex<Buckets>) -> std::sync::MutexGuard<'_, Buckets> {
    buckets
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn round_up_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

type Key = (IpAddr, String);

/// The buckets themselves, with time passed in so the rules can be tested without waiting.
struct Buckets {
    limit: FailedSignatureLimit,
    capacity: usize,
    entries: HashMap<Key, TokenBucket>,
}

impl Buckets {
    fn new(limit: FailedSignatureLimit, capacity: usize) -> Buckets {
        Buckets {
            limit,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// `Some(wait)` while `key` has no failures left at `now`.
    fn wait(&self, key: &Key, now: Instant) -> Option<Duration> {
        let bucket = self.entries.get(key)?;
        match bucket.wait_for_token(now) {
            Some(wait) if wait.is_zero() => None,
            Some(wait) => Some(wait),
            // Unreachable with a validated limit (it always refills); refuse for a window.
            None => Some(self.limit.window()),
        }
    }

    /// Takes a token for one failure. Concurrent requests that all passed `wait` may each
    /// fail; the bucket then just stays empty, so the overshoot is at most the requests one
    /// address had in flight at that moment.
    fn charge(&mut self, key: Key, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let limit = self.limit;
        self.entries
            .entry(key)
            .or_insert_with(|| TokenBucket::new(limit.per_second(), limit.burst()))
            .try_take(now);
    }

    /// Drops the buckets that have refilled (they hold nothing a new one would not); if
    /// every tracked pair is still short of failures, forgets the fullest eighth at once, so
    /// the next additions are cheap again and the cost per addition stays constant on
    /// average.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, bucket| !bucket.is_full(now));
        if self.entries.len() < self.capacity {
            return;
        }
        let evict = (self.capacity / 8).max(1);
        let mut fullest: Vec<(f64, Key)> = self
            .entries
            .iter()
            .map(|(key, bucket)| (bucket.tokens_at(now), key.clone()))
            .collect();
        if evict < fullest.len() {
            fullest.select_nth_unstable_by(evict - 1, |a, b| b.0.total_cmp(&a.0));
            fullest.truncate(evict);
        }
        for (_, key) in fullest {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests;
