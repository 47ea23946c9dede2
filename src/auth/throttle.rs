//! Failed-login throttling, in memory, per client IP and per username: after `max_failures`
//! failures within `window`, further attempts are refused until the window ends.

use std::collections::HashMap;
use std::sync::Mutex;
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

/// Past this many tracked keys, expired ones are dropped before a new one is added.
const MAX_KEYS: usize = 10_000;

struct Limiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Limiter {
    fn new(max_failures: u32, window: Duration) -> Limiter {
        Limiter {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `key` is locked out.
    fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(key) {
            Some(&(count, started)) if count >= self.max_failures => {
                let ends = started + self.window;
                if now < ends {
                    Err(ends - now)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn fail(&self, key: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS && !failures.contains_key(key) {
            let window = self.window;
            failures.retain(|_, (_, started)| now < *started + window);
        }
        let entry = failures.entry(key.to_owned()).or_insert((0, now));
        if now >= entry.1 + self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn clear(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

pub struct LoginThrottle {
    by_ip: Limiter,
    by_username: Limiter,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> LoginThrottle {
        LoginThrottle {
            by_ip: Limiter::new(settings.max_failures_per_ip, settings.window),
            by_username: Limiter::new(settings.max_failures_per_username, settings.window),
        }
    }

    /// `Err(seconds to wait)` when either the IP or the username is locked out.
    pub fn check(&self, ip: &str, username: &str) -> Result<(), u64> {
        let now = Instant::now();
        let ip = self.by_ip.check(ip, now);
        let user = self.by_username.check(&username.to_lowercase(), now);
        match (ip, user) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(round_up(a.max(b))),
            (Err(wait), _) | (_, Err(wait)) => Err(round_up(wait)),
        }
    }

    pub fn record_failure(&self, ip: &str, username: &str) {
        let now = Instant::now();
        self.by_ip.fail(ip, now);
        self.by_username.fail(&username.to_lowercase(), now);
    }

    /// A successful login clears the username's failures (not the IP's).
    pub fn record_success(&self, username: &str) {
        self.by_username.clear(&username.to_lowercase());
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

    #[test]
    fn a_username_is_locked_after_its_limit_and_others_are_not() {
        let t = throttle();
        for _ in 0..3 {
            assert!(t.check("1.1.1.1", "alice").is_ok());
            t.record_failure("1.1.1.1", "alice");
        }
        let wait = t.check("2.2.2.2", "Alice").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(t.check("2.2.2.2", "bob").is_ok());
    }

    #[test]
    fn an_ip_is_locked_after_its_limit_across_usernames() {
        let t = throttle();
        for i in 0..5 {
            t.record_failure("1.1.1.1", &format!("user{i}"));
        }
        assert!(t.check("1.1.1.1", "fresh").is_err());
        assert!(t.check("9.9.9.9", "fresh").is_ok());
    }

    #[test]
    fn success_clears_the_username() {
        let t = throttle();
        for _ in 0..2 {
            t.record_failure("1.1.1.1", "alice");
        }
        t.record_success("alice");
        t.record_failure("1.1.1.1", "alice");
        assert!(t.check("1.1.1.1", "alice").is_ok());
    }
}
