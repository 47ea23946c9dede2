//! Which user a credential belongs to, for credentials that have authenticated an admin on this
//! server before. A credential never changes owner (sessions and API tokens are random and
//! never reassigned), so the id is right for as long as the credential is valid; whether it
//! still is, and whether its user is still an enabled admin, is judged on every request
//! (`AdminReader`). Knowing the id ahead only lets the credential's lookup travel with the read.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::sessions::CredentialKind;

/// More credentials than one server's admins hold; past it the map starts again empty.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Default)]
pub struct KnownAdmins {
    by_token_hash: Mutex<HashMap<String, (i64, CredentialKind)>>,
}

impl KnownAdmins {
    /// The user, and whether the credential was an API token or a session's token.
    pub fn user_of(&self, token_hash: &str) -> Option<(i64, CredentialKind)> {
        self.map().get(token_hash).copied()
    }

    pub fn remember(&self, token_hash: &str, user_id: i64, kind: CredentialKind) {
        let mut map = self.map();
        if map.len() >= MAX_REMEMBERED && !map.contains_key(token_hash) {
            map.clear();
        }
        map.insert(token_hash.to_owned(), (user_id, kind));
    }

    pub fn forget(&self, token_hash: &str) {
        self.map().remove(token_hash);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, CredentialKind)>> {
        // Nothing here can panic while holding the lock; should it, the map is still sound.
        self.by_token_hash
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_remembered_until_forgotten_and_the_map_stays_bounded() {
        let known = KnownAdmins::default();
        known.remember("a", 1, CredentialKind::ApiToken);
        assert_eq!(known.user_of("a"), Some((1, CredentialKind::ApiToken)));
        known.forget("a");
        assert_eq!(known.user_of("a"), None);
        for n in 0..MAX_REMEMBERED {
            known.remember(&n.to_string(), 7, CredentialKind::Session);
        }
        assert_eq!(known.user_of("0"), Some((7, CredentialKind::Session)));
        known.remember("one more", 8, CredentialKind::Session);
        assert_eq!(known.user_of("0"), None, "full: started again");
        assert_eq!(
            known.user_of("one more"),
            Some((8, CredentialKind::Session))
        );
        assert!(known.map().len() <= MAX_REMEMBERED);
    }
}
