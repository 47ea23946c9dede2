//! The Standard Webhooks scheme (standardwebhooks.com), as OpenAI and Replicate send it:
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated
//! list of `v1,<base64 HMAC-SHA256>` entries over `{id}.{timestamp}.{raw body}`, keyed with the
//! base64-decoded part of a `whsec_…` secret.
//!
//! The headers are checked before the body is read: all three present, well formed, and the
//! timestamp within the tolerance either way. The digest is checked over the raw bytes after.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::secrets::{SecretLabel, SecretSet};
use super::signature::SignatureError;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
pub const SECRET_PREFIX: &str = "whsec_";

const DIGEST_LEN: usize = 32;
const MAX_ID_LEN: usize = 256;
/// More entries than any sender rotates through; bounds the work a forged header can cause.
const MAX_SIGNATURES: usize = 16;

/// The three headers, parsed; the digests are not checked yet.
#[derive(Clone, Debug)]
pub struct Presented {
    pub id: String,
    /// As sent: the signed content uses the header's exact text.
    pub timestamp: String,
    digests: Vec<[u8; DIGEST_LEN]>,
}

impl Presented {
    /// `now` is Unix seconds. Any header missing → `Missing`; unusable → `Malformed`; a
    /// timestamp further than `tolerance` from `now`, either way → `TimestampOutOfRange`.
    pub fn parse(
        headers: &HeaderMap,
        now: i64,
        tolerance: Duration,
    ) -> Result<Presented, SignatureError> {
        let text = |name: &str| -> Result<&str, SignatureError> {
            let value = headers.get(name).ok_or(SignatureError::Missing)?;
            value.to_str().map_err(|_| SignatureError::Malformed)
        };
        let (id, timestamp, signature) = (
            text(ID_HEADER)?,
            text(TIMESTAMP_HEADER)?,
            text(SIGNATURE_HEADER)?,
        );
        let id_ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !id_ok {
            return Err(SignatureError::Malformed);
        }
        let seconds = parse_unix_seconds(timestamp)?;
        if now.abs_diff(seconds) > tolerance.as_secs() {
            return Err(SignatureError::TimestampOutOfRange);
        }
        Ok(Presented {
            id: id.to_owned(),
            timestamp: timestamp.to_owned(),
            digests: parse_signatures(signature)?,
        })
    }

    /// The label of the secret that signed `body`. Every secret is compared with every
    /// presented digest, so timing says nothing about which one matched.
    pub fn verify<'s>(
        &self,
        body: &[u8],
        secrets: &'s SecretSet,
    ) -> Result<&'s SecretLabel, SignatureError> {
        let mut matched = None;
        for secret in secrets.iter() {
            let expected = sign(secret.key(), &self.id, &self.timestamp, body);
            for digest in &self.digests {
                if bool::from(expected.ct_eq(digest)) && matched.is_none() {
                    matched = Some(secret.label());
                }
            }
        }
        matched.ok_or(SignatureError::Mismatch)
    }
}

/// Digits only: no sign, no fraction, no blanks (the spec says an integer).
fn parse_unix_seconds(text: &str) -> Result<i64, SignatureError> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed);
    }
    text.parse().map_err(|_| SignatureError::Malformed)
}

/// Keeps the well-formed `v1` entries; other versions (`v1a`, future ones) are ignored as
/// the spec asks. No usable `v1` entry at all is a malformed header.
fn parse_signatures(header: &str) -> Result<Vec<[u8; DIGEST_LEN]>, SignatureError> {
    let mut digests = Vec::new();
    for entry in header
        .split(' ')
        .filter(|e| !e.is_empty())
        .take(MAX_SIGNATURES)
    {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            continue;
        };
        let mut digest = [0u8; DIGEST_LEN];
        if let Ok(DIGEST_LEN) = STANDARD.decode_slice(encoded, &mut digest) {
            digests.push(digest);
        }
    }
    if digests.is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok(digests)
}

/// HMAC-SHA256 over `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` value a sender with `key` would send.
pub fn signature_header(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(sign(key, id, timestamp, body)))
}

/// The key inside a `whsec_<base64>` secret (the prefix is optional, as in the reference
/// libraries).
pub fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let encoded = text.trim();
    let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "a Standard Webhooks secret must be `whsec_` followed by base64".to_owned())?;
    if key.is_empty() {
        return Err("the Standard Webhooks secret is empty".into());
    }
    Ok(key)
}

/// The stored signature header: all three, so the verdict can be re-checked later.
pub fn stored_header(presented: &Presented, signature: &str) -> String {
    format!(
        "{ID_HEADER}: {}\n{TIMESTAMP_HEADER}: {}\n{SIGNATURE_HEADER}: {signature}",
        presented.id, presented.timestamp
    )
}

#[cfg(test)]
#[path = "standard_webhooks_tests.rs"]
mod tests;
