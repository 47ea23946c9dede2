//! The key of the Postgres idempotency index (`callbacks_delivery_digest_key`, migration
//! 000006): SHA-256 over the source, one NUL byte and the delivery key. 32 bytes instead of
//! ~90 of text keep that index, whose keys arrive in random order, half as large (see the
//! migration for why that matters). The migration's backfill and the polling benchmark's seed
//! compute the same in SQL; a test in tests/api/writer.rs proves a backfilled row is found.

use sha2::{Digest, Sha256};

pub fn delivery_digest(source: &str, delivery_key: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    // Neither part can hold NUL (Postgres text cannot), so no two pairs hash the same input.
    hasher.update([0]);
    hasher.update(delivery_key.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::delivery_digest;

    #[test]
    fn is_sha256_of_source_nul_key() {
        // sha256(b"llm-callback\0wid:msg_1"), computed independently.
        assert_eq!(
            hex::encode(delivery_digest("llm-callback", "wid:msg_1")),
            "fbdb63c4d155c425107b4e9a7750e873d678637a101f36ac77a44a55da6063c5"
        );
    }

    #[test]
    fn the_separator_keeps_source_and_key_apart() {
        assert_ne!(delivery_digest("ab", "c"), delivery_digest("a", "bc"));
    }
}
