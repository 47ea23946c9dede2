//! Session and API tokens: 256 random bits, shown to the client once; the server keeps only
//! their SHA-256. Expiry rules are pure functions of the stored times.

use std::time::Duration;

use base64::Engine;
use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

/// Prefix of API tokens, so a leaked one is recognisable (secret scanners, logs).
pub const API_TOKEN_PREFIX: &str = "hbx_";

/// A token as presented or generated; `Debug` does not show it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn generate_session() -> Token {
        Token(random_text())
    }

    pub fn generate_api() -> Token {
        Token(format!("{API_TOKEN_PREFIX}{}", random_text()))
    }

    /// A presented token: printable ASCII, at most 200 bytes; anything else cannot match.
    pub fn parse(raw: &str) -> Option<Token> {
        let raw = raw.trim();
        let plausible =
            !raw.is_empty() && raw.len() <= 200 && raw.bytes().all(|b| b.is_ascii_graphic());
        plausible.then(|| Token(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: hex SHA-256 of the token text.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

fn random_text() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How long sessions live.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after login, used or not.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(2 * 60 * 60),
            absolute: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

/// The stored times of one session that decide whether it still holds. A password change or a
/// disable deletes the user's sessions in its transaction, and a login stores its session only
/// if neither came first (`sessions::create`), so no time of the user's is needed here: one
/// would compare clocks of different machines (the server's and the CLI's).
pub struct SessionTimes {
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SessionState {
    Valid { touch: bool },
    Expired,
}

impl SessionPolicy {
    pub fn expires_at(&self, now: NaiveDateTime) -> NaiveDateTime {
        now + chrono_duration(self.absolute)
    }

    pub fn judge(&self, times: &SessionTimes, now: NaiveDateTime) -> SessionState {
        let idle = chrono_duration(self.idle);
        // The expiry stored at login, or the one of the current policy if that is earlier:
        // an operator who lowers the maximum age means it for the sessions already open.
        let expires_at = times
            .expires_at
            .min(times.created_at + chrono_duration(self.absolute));
        if now >= expires_at || now >= times.last_seen_at + idle {
            return SessionState::Expired;
        }
        // Refresh `last_seen_at` only once a quarter of the idle time (at most a minute) has
        // passed, so polling does not write on every request.
        let refresh_after = (idle / 4).min(chrono::Duration::seconds(60));
        SessionState::Valid {
            touch: now - times.last_seen_at >= refresh_after,
        }
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            idle: Duration::from_secs(100),
            absolute: Duration::from_secs(1000),
        }
    }

    fn times(last_seen: i64) -> SessionTimes {
        SessionTimes {
            created_at: at(0),
            last_seen_at: at(last_seen),
            expires_at: policy().expires_at(at(0)),
        }
    }

    #[test]
    fn a_session_ends_when_idle_too_long() {
        assert_eq!(
            policy().judge(&times(0), at(99)),
            SessionState::Valid { touch: true }
        );
        assert_eq!(policy().judge(&times(0), at(100)), SessionState::Expired);
    }

    #[test]
    fn a_session_ends_at_its_absolute_expiry_even_when_used() {
        assert_eq!(
            policy().judge(&times(990), at(999)),
            SessionState::Valid { touch: false }
        );
        assert_eq!(policy().judge(&times(999), at(1000)), SessionState::Expired);
    }

    #[test]
    fn a_lower_maximum_age_also_ends_sessions_opened_under_a_higher_one() {
        let mut opened_under_a_day = times(990);
        opened_under_a_day.expires_at = at(86_400);
        assert_eq!(
            policy().judge(&opened_under_a_day, at(999)),
            SessionState::Valid { touch: false }
        );
        assert_eq!(
            policy().judge(&opened_under_a_day, at(1000)),
            SessionState::Expired
        );
    }

    #[test]
    fn tokens_are_random_hashed_and_hidden_in_debug() {
        let a = Token::generate_session();
        let b = Token::generate_session();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43, "256 bits in base64url");
        assert_eq!(a.hash().len(), 64);
        assert_eq!(format!("{a:?}"), "Token(***)");
        assert!(Token::generate_api().expose().starts_with(API_TOKEN_PREFIX));
        assert!(Token::parse("has space").is_none());
    }
}
