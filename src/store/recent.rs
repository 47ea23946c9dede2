//! The deliveries this instance stored in the last minute, so that a sender's retries (a retry
//! storm after a slow moment, say) are answered from memory instead of queueing for the
//! database behind new callbacks.
//!
//! Only rows this instance inserted are remembered, and only once their transaction has
//! committed, so an answer from here is the one the database would give, as long as the row
//! still exists. Retention counts in days and cannot delete a row younger than a minute; an
//! operator running `hookbox purge --older-than 0` while a sender retries can, and such a retry
//! is then answered "duplicate" for up to a minute. Bounded in count as well as in age.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::callbacks::NewCallback;
use super::writer::StoreOutcome;

pub struct RecentlyStored {
    inner: Mutex<Inner>,
    capacity: usize,
    max_age: Duration,
}

/// SHA-256 of (source, delivery key): fixed-size entries, no allocation per remembered
/// delivery, and no two keys share one.
type KeyDigest = [u8; 32];

struct Inner {
    by_key: HashMap<KeyDigest, Stored, BuildHasherDefault<DigestHasher>>,
    /// Oldest first: what eviction removes.
    order: VecDeque<(Instant, KeyDigest)>,
}

struct Stored {
    id: i64,
    body_sha256: [u8; 32],
    stored_at: Instant,
}

/// The key is already a uniformly spread digest that nobody can steer: its first bytes are
/// the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for (i, byte) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*byte) << (8 * i);
        }
    }
}

/// A delivery's key and body hash in the form this memory compares, computed once per request.
#[derive(Clone, Copy)]
pub struct Fingerprint {
    key: KeyDigest,
    body_sha256: Option<[u8; 32]>,
}

impl Fingerprint {
    pub fn of(callback: &NewCallback) -> Fingerprint {
        // The source's length first, so that no two (source, key) pairs hash the same bytes.
        let mut hasher = Sha256::new();
        hasher.update((callback.source.len() as u64).to_le_bytes());
        hasher.update(callback.source.as_bytes());
        hasher.update(callback.delivery_key.as_bytes());
        let mut body_sha256 = [0u8; 32];
        let body_sha256 = hex::decode_to_slice(&callback.body_sha256, &mut body_sha256)
            .ok()
            .map(|()| body_sha256);
        Fingerprint {
            key: hasher.finalize().into(),
            body_sha256,
        }
    }
}

impl RecentlyStored {
    /// `capacity` 0 remembers nothing.
    pub fn new(capacity: usize, max_age: Duration) -> RecentlyStored {
        // Allocated once at full size: growing by doubling would briefly hold both the old
        // and the new table, and leave the freed one behind in the allocator.
        let room = if capacity == 0 { 0 } else { capacity + 1 };
        RecentlyStored {
            inner: Mutex::new(Inner {
                by_key: HashMap::with_capacity_and_hasher(room, Default::default()),
                order: VecDeque::with_capacity(room),
            }),
            capacity,
            max_age,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked: every change is one insert or
        // one remove.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer for a redelivery of a callback stored here less than `max_age` ago.
    pub fn redelivery(&self, delivery: &Fingerprint, now: Instant) -> Option<StoreOutcome> {
        if self.capacity == 0 {
            return None;
        }
        let inner = self.lock();
        let stored = inner.by_key.get(&delivery.key)?;
        if now.saturating_duration_since(stored.stored_at) >= self.max_age {
            return None;
        }
        Some(StoreOutcome {
            id: stored.id,
            duplicate: true,
            body_differs: delivery.body_sha256 != Some(stored.body_sha256),
        })
    }

    /// Remembers a row this instance has just inserted and committed.
    pub fn remember(&self, delivery: &Fingerprint, id: i64, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        let Some(body_sha256) = delivery.body_sha256 else {
            return;
        };
        let key = delivery.key;
        let mut inner = self.lock();
        inner.by_key.insert(
            key,
            Stored {
                id,
                body_sha256,
                stored_at: now,
            },
        );
        inner.order.push_back((now, key));
        while let Some(&(stored_at, key)) = inner.order.front() {
            let too_many = inner.order.len() > self.capacity;
            let too_old = now.saturating_duration_since(stored_at) >= self.max_age;
            if !too_many && !too_old {
                break;
            }
            inner.order.pop_front();
            // The key may have been stored again since (deleted and re-inserted): keep the
            // newer entry.
            if inner.by_key.get(&key).map(|s| s.stored_at) == Some(stored_at) {
                inner.by_key.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delivery whose body hash is that of `body`.
    fn delivery(source: &str, key: &str, body: &str) -> Fingerprint {
        let sha = hex::encode(Sha256::digest(body.as_bytes()));
        Fingerprint::of(&NewCallback::for_tests(source, key, &sha))
    }

    /// The row id a redelivery of (source, key) with body "aa" is answered with, if any.
    fn answered_id(recent: &RecentlyStored, source: &str, key: &str, at: Instant) -> Option<i64> {
        recent
            .redelivery(&delivery(source, key, "aa"), at)
            .map(|o| o.id)
    }

    #[test]
    fn a_remembered_delivery_is_answered_as_a_duplicate_of_its_row() {
        let recent = RecentlyStored::new(10, Duration::from_secs(60));
        let now = Instant::now();
        recent.remember(&delivery("llm-callback", "k1", "aa"), 7, now);
        let same = recent.redelivery(&delivery("llm-callback", "k1", "aa"), now);
        assert_eq!(
            same,
            Some(StoreOutcome {
                id: 7,
                duplicate: true,
                body_differs: false
            })
        );
        let changed = recent.redelivery(&delivery("llm-callback", "k1", "bb"), now);
        assert_eq!(changed.map(|o| o.body_differs), Some(true));
    }

    #[test]
    fn keys_of_other_sources_and_unknown_keys_are_not_answered() {
        let recent = RecentlyStored::new(10, Duration::from_secs(60));
        let now = Instant::now();
        recent.remember(&delivery("llm-callback", "k1", "aa"), 7, now);
        assert_eq!(
            recent.redelivery(&delivery("openai", "k1", "aa"), now),
            None
        );
        assert_eq!(
            recent.redelivery(&delivery("llm-callback", "k2", "aa"), now),
            None
        );
        // Moving characters between source and key makes another delivery.
        recent.remember(&delivery("a", "b\0c", "aa"), 8, now);
        assert_eq!(recent.redelivery(&delivery("a\0b", "c", "aa"), now), None);
    }

    #[test]
    fn entries_expire_with_age() {
        let recent = RecentlyStored::new(10, Duration::from_secs(60));
        let then = Instant::now();
        recent.remember(&delivery("s", "old", "aa"), 1, then);
        let later = then + Duration::from_secs(61);
        assert_eq!(recent.redelivery(&delivery("s", "old", "aa"), later), None);
        // Storing something new evicts what has expired.
        recent.remember(&delivery("s", "new", "aa"), 2, later);
        assert_eq!(recent.len(), 1);
        assert!(recent
            .redelivery(&delivery("s", "new", "aa"), later)
            .is_some());
    }

    #[test]
    fn the_oldest_entries_make_room_beyond_the_capacity() {
        let recent = RecentlyStored::new(3, Duration::from_secs(60));
        let now = Instant::now();
        for id in 1..=5 {
            recent.remember(&delivery("s", &format!("k{id}"), "aa"), id, now);
        }
        assert_eq!(recent.len(), 3);
        assert_eq!(recent.redelivery(&delivery("s", "k2", "aa"), now), None);
        assert_eq!(answered_id(&recent, "s", "k5", now), Some(5));
    }

    #[test]
    fn a_key_stored_again_keeps_its_newer_row_when_the_older_entry_is_evicted() {
        let recent = RecentlyStored::new(2, Duration::from_secs(60));
        let now = Instant::now();
        recent.remember(&delivery("s", "k", "aa"), 1, now);
        recent.remember(&delivery("s", "k", "aa"), 2, now + Duration::from_millis(1));
        recent.remember(
            &delivery("s", "other", "aa"),
            3,
            now + Duration::from_millis(2),
        );
        let later = now + Duration::from_millis(3);
        assert_eq!(answered_id(&recent, "s", "k", later), Some(2));
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let recent = RecentlyStored::new(0, Duration::from_secs(60));
        let now = Instant::now();
        recent.remember(&delivery("s", "k", "aa"), 1, now);
        assert_eq!(recent.len(), 0);
        assert_eq!(recent.redelivery(&delivery("s", "k", "aa"), now), None);
    }
}
