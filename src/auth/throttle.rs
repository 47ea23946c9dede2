//! Failed-login throttling, in memory, per client IP and per username: after `max_failures`
//! failures within `window`, further attempts are refused until the window ends.
//!
//! An attempt counts as a failure from the moment it is let through (`LoginThrottle::begin`)
//! until it turns out to be a success. Checking the password takes tens of milliseconds, and
//! attempts counted only once they had failed all passed the check while the first ones were
//! still being verified: a burst of hundreds of guesses at once was let through in full.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    pub max_failures_per_username: u32,
    pub max_failures_per_ip: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            max_failures_per_username: 5,
            max_failures_per_ip: 20,
            window: Duration::from_secs(5 * 60),
        }
    }
}

/// Past this many tracked keys, expired ones are dropped before a new one is added (at most
/// once a second, as each drop walks them all); while this many are still live, new keys are
/// not tracked, except an account's name (`Attempt::for_an_account`): made-up names must not
/// lift an account's limit. The map and the time spent under its lock stay bounded whatever
/// the number of addresses a client sends from; a username's key is at most 64 characters.
const MAX_KEYS: usize = 10_000;
const PRUNE_EVERY: Duration = Duration::from_secs(1);

struct Limiter {
    max_failures: u32,
    window: Duration,
    /// Failures (attempts under way included) and when the window of the first one started.
    failures: HashMap<String, (u32, Instant)>,
    pruned_at: Option<Instant>,
}

impl Limiter {
    fn new(max_failures: u32, window: Duration) -> Limiter {
        Limiter {
            max_failures: max_failures.max(1),
            window,
            failures: HashMap::new(),
            pruned_at: None,
        }
    }

    /// `Some(wait)` while `key` is locked out.
    fn locked(&self, key: &str, now: Instant) -> Option<Duration> {
        match self.failures.get(key) {
            Some(&(count, started)) if count >= self.max_failures => {
                let ends = started + self.window;
                (now < ends).then(|| ends - now)
            }
            _ => None,
        }
    }

    /// Counts a failure of `key`; false when it was not counted, `MAX_KEYS` keys being live.
    fn fail(&mut self, key: &str, now: Instant) -> bool {
        if self.failures.len() >= MAX_KEYS && !self.failures.contains_key(key) {
            if self.pruned_at.is_none_or(|at| now >= at + PRUNE_EVERY) {
                let window = self.window;
                self.failures
                    .retain(|_, (_, started)| now < *started + window);
                self.pruned_at = Some(now);
            }
            if self.failures.len() >= MAX_KEYS {
                return false;
            }
        }
        self.count(key, now);
        true
    }

    /// Counts a failure of `key`, however many keys are tracked.
    fn count(&mut self, key: &str, now: Instant) {
        let entry = self.failures.entry(key.to_owned()).or_insert((0, now));
        if now >= entry.1 + self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// Takes back one failure counted by `fail`.
    fn undo(&mut self, key: &str) {
        if let Some(entry) = self.failures.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                self.failures.remove(key);
            }
        }
    }

    fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

struct Limiters {
    by_ip: Limiter,
    by_username: Limiter,
}

pub struct LoginThrottle {
    /// One lock for both, so that checking and counting an attempt is one step.
    limiters: Mutex<Limiters>,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> LoginThrottle {
        LoginThrottle {
            limiters: Mutex::new(Limiters {
                by_ip: Limiter::new(settings.max_failures_per_ip, settings.window),
                by_username: Limiter::new(settings.max_failures_per_username, settings.window),
            }),
        }
    }

    fn limiters(&self) -> MutexGuard<'_, Limiters> {
        self.limiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets an attempt through, counted as a failure until it is settled, or `Err(seconds to
    /// wait)` when the IP or the username is locked out. `username` is `None` for a name no
    /// account can have: such an attempt counts against the IP only.
    pub fn begin(&self, ip: &str, username: Option<&str>) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let username = username.map(str::to_lowercase);
        let mut limiters = self.limiters();
        let wait = [
            limiters.by_ip.locked(ip, now),
            username
                .as_deref()
                .and_then(|name| limiters.by_username.locked(name, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(round_up(wait));
        }
        limiters.by_ip.fail(ip, now);
        let username_counted = username
            .as_deref()
            .is_some_and(|name| limiters.by_username.fail(name, now));
        Ok(Attempt {
            throttle: self,
            ip: ip.to_owned(),
            username,
            username_counted,
            settled: false,
        })
    }
}

/// A login attempt let through by `LoginThrottle::begin`. Dropped unsettled (the check could
/// not be made: the database failed), it is taken back as if it had not been made.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    ip: String,
    username: Option<String>,
    /// False for a name left untracked while `MAX_KEYS` names were live.
    username_counted: bool,
    settled: bool,
}

impl Attempt<'_> {
    /// The name is an account's: counted even past `MAX_KEYS`, or `Err(seconds to wait)` when
    /// it is locked out by now (attempts under way since `begin` count). Without it, made-up
    /// names filling the map would leave an account's guesses uncounted.
    pub fn for_an_account(&mut self) -> Result<(), u64> {
        let Some(name) = self.username.as_deref() else {
            return Ok(());
        };
        if self.username_counted {
            return Ok(());
        }
        let now = Instant::now();
        let mut limiters = self.throttle.limiters();
        if let Some(wait) = limiters.by_username.locked(name, now) {
            return Err(round_up(wait));
        }
        limiters.by_username.count(name, now);
        self.username_counted = true;
        Ok(())
    }

    /// Wrong credentials: the failure stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The right credentials: the IP's count goes back to what it was, the username's failures
    /// are cleared.
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut limiters = self.throttle.limiters();
        limiters.by_ip.undo(&self.ip);
        if let (Some(name), true) = (&self.username, self.username_counted) {
            limiters.by_username.clear(name);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let mut limiters = self.throttle.limiters();
            limiters.by_ip.undo(&self.ip);
            if let (Some(name), true) = (&self.username, self.username_counted) {
                limiters.by_username.undo(name);
            }
        }
    }
}

fn round_up(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleSettings {
            max_failures_per_username: 3,
            max_failures_per_ip: 5,
            window: Duration::from_secs(60),
        })
    }

    fn fail(t: &LoginThrottle, ip: &str, username: &str) {
        t.begin(ip, Some(username)).expect("let through").failed();
    }

    #[test]
    fn a_username_is_locked_after_its_limit_and_others_are_not() {
        let t = throttle();
        for _ in 0..3 {
            fail(&t, "1.1.1.1", "alice");
        }
        let wait = t.begin("2.2.2.2", Some("Alice")).err().expect("locked");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(t.begin("2.2.2.2", Some("bob")).is_ok());
    }

    #[test]
    fn an_ip_is_locked_after_its_limit_across_usernames() {
        let t = throttle();
        for i in 0..5 {
            fail(&t, "1.1.1.1", &format!("user{i}"));
        }
        assert!(t.begin("1.1.1.1", Some("fresh")).is_err());
        assert!(t.begin("9.9.9.9", Some("fresh")).is_ok());
    }

    #[test]
    fn success_clears_the_username_and_does_not_count_for_the_ip() {
        let t = throttle();
        for _ in 0..2 {
            fail(&t, "1.1.1.1", "alice");
        }
        for _ in 0..10 {
            t.begin("1.1.1.1", Some("alice"))
                .expect("let through")
                .succeeded();
        }
        fail(&t, "1.1.1.1", "alice");
        assert!(t.begin("1.1.1.1", Some("alice")).is_ok());
        // The IP's fifth failure: alice's three, bob's and carol's. Neither the ten successes
        // nor the attempt dropped unsettled counted.
        fail(&t, "1.1.1.1", "bob");
        fail(&t, "1.1.1.1", "carol");
        assert!(t.begin("1.1.1.1", Some("dave")).is_err());
    }

    #[test]
    fn attempts_under_way_count_against_the_limit() {
        let t = throttle();
        let under_way: Vec<Attempt<'_>> = (0..3)
            .map(|_| t.begin("1.1.1.1", Some("alice")).expect("let through"))
            .collect();
        assert!(
            t.begin("2.2.2.2", Some("alice")).is_err(),
            "a fourth at once"
        );
        drop(under_way);
        assert!(
            t.begin("2.2.2.2", Some("alice")).is_ok(),
            "attempts that could not be checked are taken back"
        );
    }

    #[test]
    fn a_name_no_account_can_have_counts_against_the_ip_only() {
        let t = throttle();
        for _ in 0..4 {
            t.begin("1.1.1.1", None).expect("let through").failed();
        }
        assert!(t.limiters().by_username.failures.is_empty());
        fail(&t, "1.1.1.1", "alice");
        assert!(t.begin("1.1.1.1", None).is_err(), "the IP's fifth failure");
    }

    #[test]
    fn past_the_most_keys_only_live_ones_are_kept_and_new_ones_go_untracked() {
        let window = Duration::from_secs(60);
        let mut limiter = Limiter::new(1, window);
        let start = Instant::now();
        for i in 0..MAX_KEYS {
            assert!(limiter.fail(&format!("old{i}"), start));
        }
        let later = start + Duration::from_secs(30);
        assert!(!limiter.fail("live", later));
        assert_eq!(
            limiter.failures.len(),
            MAX_KEYS,
            "nothing had expired: not tracked"
        );
        assert!(limiter.locked("live", later).is_none());

        let expired = start + window;
        assert!(limiter.fail("new", expired + Duration::from_millis(10)));
        assert_eq!(limiter.failures.len(), 1, "the expired keys were dropped");
        assert!(limiter
            .locked("new", expired + Duration::from_millis(10))
            .is_some());
    }

    #[test]
    fn made_up_names_filling_the_map_do_not_lift_an_accounts_limit() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..MAX_KEYS {
            t.limiters().by_username.count(&format!("made-up-{i}"), now);
        }
        // Five guesses at once, all let through before any was known to be an account's.
        let mut at_once: Vec<Attempt<'_>> = (0..5)
            .map(|i| {
                t.begin(&format!("10.0.0.{i}"), Some("admin"))
                    .expect("let through: an untracked name is not locked")
            })
            .collect();
        let answers: Vec<bool> = at_once
            .iter_mut()
            .map(|attempt| attempt.for_an_account().is_ok())
            .collect();
        assert_eq!(answers, [true, true, true, false, false]);
        for attempt in at_once {
            attempt.failed();
        }
        assert!(t.begin("10.0.0.9", Some("Admin")).is_err(), "locked out");
        let other = t.begin("10.0.0.9", Some("someone")).expect("let through");
        assert!(
            !other.username_counted,
            "a name that is no account's stays untracked"
        );
        other.failed();
    }
}
