//! The `hmac-sha256-hex` scheme: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
//! The header is parsed before the body is read; the digest is checked over the raw bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::secrets::{SecretLabel, SecretSet};

const PREFIX: &str = "sha256=";
const DIGEST_LEN: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match any configured secret")]
    Mismatch,
    /// The signed timestamp is further from now than the source's replay tolerance.
    #[error("the signed timestamp is outside the replay tolerance")]
    TimestampOutOfRange,
}

/// A well-formed signature header: the digest the sender claims.
#[derive(Clone, Debug)]
pub struct PresentedSignature {
    digest: [u8; DIGEST_LEN],
}

impl PresentedSignature {
    /// Accepts `sha256=` in any case followed by exactly 64 hex digits in any case, with
    /// surrounding blanks ignored. Anything else is malformed.
    pub fn parse(header: Option<&[u8]>) -> Result<PresentedSignature, SignatureError> {
        PresentedSignature::parse_with(header, true)
    }

    /// As `parse`; without `prefixed`, the header holds the bare 64 hex digits (senders that
    /// do not write `sha256=`).
    pub fn parse_with(
        header: Option<&[u8]>,
        prefixed: bool,
    ) -> Result<PresentedSignature, SignatureError> {
        let raw = header.ok_or(SignatureError::Missing)?;
        let text = std::str::from_utf8(raw)
            .map_err(|_| SignatureError::Malformed)?
            .trim_matches([' ', '\t']);
        let hex_digits = if prefixed {
            text.get(..PREFIX.len())
                .filter(|prefix| prefix.eq_ignore_ascii_case(PREFIX))
                .and_then(|_| text.get(PREFIX.len()..))
                .ok_or(SignatureError::Malformed)?
        } else {
            text
        };
        let mut digest = [0u8; DIGEST_LEN];
        hex::decode_to_slice(hex_digits, &mut digest).map_err(|_| SignatureError::Malformed)?;
        Ok(PresentedSignature { digest })
    }

    /// Returns the label of the secret that signed `body`. Every secret is tried, so the time
    /// taken does not depend on which one matched or how many leading bytes agreed.
    pub fn verify<'s>(
        &self,
        body: &[u8],
        secrets: &'s SecretSet,
    ) -> Result<&'s SecretLabel, SignatureError> {
        let mut matched = None;
        for secret in secrets.iter() {
            let expected = sign(secret.key(), body);
            if bool::from(expected.ct_eq(&self.digest)) && matched.is_none() {
                matched = Some(secret.label());
            }
        }
        matched.ok_or(SignatureError::Mismatch)
    }
}

/// HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value a sender using `key` would put on `body`.
pub fn header_value(key: &[u8], body: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(sign(key, body)))
}

/// As `header_value`, with or without the `sha256=` prefix.
pub fn header_value_with(key: &[u8], body: &[u8], prefixed: bool) -> String {
    let digest = hex::encode(sign(key, body));
    if prefixed {
        format!("{PREFIX}{digest}")
    } else {
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secrets(list: &str) -> SecretSet {
        SecretSet::parse_list(list, "test").expect("valid secrets")
    }

    #[test]
    fn a_known_digest_verifies() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published vector.
        let header = b"sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let presented = PresentedSignature::parse(Some(header)).expect("well formed");
        let set = secrets("k:key");
        let label = presented
            .verify(b"The quick brown fox jumps over the lazy dog", &set)
            .expect("matches");
        assert_eq!(label.as_str(), "k");
    }

    #[test]
    fn uppercase_hex_and_prefix_and_surrounding_blanks_are_accepted() {
        let value = header_value(b"key", b"body").to_uppercase();
        let presented = PresentedSignature::parse(Some(format!("  {value}\t").as_bytes()));
        assert!(presented
            .expect("well formed")
            .verify(b"body", &secrets("key"))
            .is_ok());
    }

    #[test]
    fn malformed_headers_are_told_apart_from_missing_ones() {
        assert_eq!(
            PresentedSignature::parse(None).err(),
            Some(SignatureError::Missing)
        );
        let good_hex = "a".repeat(64);
        for bad in [
            String::new(),
            "sha256=".into(),
            good_hex.clone(),
            format!("sha1={good_hex}"),
            format!("sha256={}", "a".repeat(63)),
            format!("sha256={}", "a".repeat(65)),
            format!("sha256={}g", "a".repeat(63)),
            format!("sha256= {good_hex}"),
            format!("sha256={good_hex},sha256={good_hex}"),
            "sha256=é".into(),
        ] {
            assert_eq!(
                PresentedSignature::parse(Some(bad.as_bytes())).err(),
                Some(SignatureError::Malformed),
                "{bad:?} should be malformed"
            );
        }
        assert_eq!(
            PresentedSignature::parse(Some(b"sha256=\xff\xfe")).err(),
            Some(SignatureError::Malformed)
        );
    }

    #[test]
    fn without_prefix_the_bare_hex_digest_is_the_signature() {
        let bare = header_value_with(b"key", b"body", false);
        assert_eq!(bare.len(), 64);
        let presented = PresentedSignature::parse_with(Some(bare.as_bytes()), false);
        assert!(presented
            .expect("well formed")
            .verify(b"body", &secrets("key"))
            .is_ok());
        let prefixed = header_value(b"key", b"body");
        assert_eq!(
            PresentedSignature::parse_with(Some(prefixed.as_bytes()), false).err(),
            Some(SignatureError::Malformed)
        );
    }

    #[test]
    fn during_rotation_either_secret_verifies_and_its_label_is_returned() {
        let set = secrets("old:old-secret-0123456,new:new-secret-0123456");
        for (key, label) in [("old-secret-0123456", "old"), ("new-secret-0123456", "new")] {
            let presented =
                PresentedSignature::parse(Some(header_value(key.as_bytes(), b"x").as_bytes()))
                    .expect("well formed");
            assert_eq!(
                presented.verify(b"x", &set).expect("matches").as_str(),
                label
            );
        }
    }

    proptest! {
        #[test]
        fn any_body_signed_with_any_secret_verifies(
            key in proptest::collection::vec(any::<u8>().prop_filter("no comma", |b| *b != b','), 1..64)
                .prop_map(|k| k.iter().map(|b| char::from(b'a' + b % 26)).collect::<String>()),
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let set = secrets(&key);
            let header = header_value(key.as_bytes(), &body);
            let presented = PresentedSignature::parse(Some(header.as_bytes())).expect("well formed");
            prop_assert!(presented.verify(&body, &set).is_ok());
        }

        #[test]
        fn flipping_any_bit_of_body_or_digest_fails(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            flip_body in any::<bool>(),
            index in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let set = secrets("k:a-strong-secret-value");
            let mut digest = sign(b"a-strong-secret-value", &body);
            let mut body = body;
            if flip_body {
                let i = index.index(body.len());
                body[i] ^= 1 << bit;
            } else {
                let i = index.index(digest.len());
                digest[i] ^= 1 << bit;
            }
            let header = format!("sha256={}", hex::encode(digest));
            let presented = PresentedSignature::parse(Some(header.as_bytes())).expect("well formed");
            prop_assert_eq!(presented.verify(&body, &set).err(), Some(SignatureError::Mismatch));
        }

        #[test]
        fn the_parser_never_panics(header in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = PresentedSignature::parse(Some(&header));
        }
    }
}
