//! The deliveries a run sends: pre-signed before the clock starts, so signing costs nothing
//! during the measurement, and which one each request sends (new or a redelivery).

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::header::HeaderValue;
use sha2::Sha256;

/// One signed callback: the body and its `X-Webhook-Signature` value (both cheap to clone).
#[derive(Clone)]
pub struct Signed {
    pub body: Bytes,
    pub signature: HeaderValue,
}

/// Builds `count` distinct callbacks of `body_bytes` bytes each (at least the JSON skeleton).
/// `run_tag` goes into every job id so that repeated runs against one database stay distinct.
pub fn presign(count: usize, body_bytes: usize, secret: &[u8], run_tag: &str) -> Vec<Signed> {
    (0..count)
        .map(|index| signed(index, body_bytes, secret, run_tag))
        .collect()
}

/// The callback number `index` of a run; the same index always gives the same bytes.
pub fn signed(index: usize, body_bytes: usize, secret: &[u8], run_tag: &str) -> Signed {
    let body = callback_body(index, body_bytes, run_tag);
    let signature = sign(secret, &body);
    Signed {
        body: Bytes::from(body),
        signature,
    }
}

fn callback_body(index: usize, body_bytes: usize, run_tag: &str) -> Vec<u8> {
    let head = format!(
        r#"{{"event":"workflow.completed","job_id":"job_{run_tag}_{index:08}","workflow_name":"summarize-report","status":"completed","timestamp":"2026-11-23T10:00:00Z","result":{{"model":"bench-1","tokens":{index},"summary":""#
    );
    let tail = r#""}}"#;
    let filler = body_bytes.saturating_sub(head.len() + tail.len());
    let mut body = Vec::with_capacity(head.len() + filler + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend((0..filler).map(|i| b"lorem ipsum dolor sit amet "[i % 27]));
    body.extend_from_slice(tail.as_bytes());
    body
}

fn sign(secret: &[u8], body: &[u8]) -> HeaderValue {
    // HMAC accepts keys of any length and hex is a valid header value, so neither step can
    // fail; an empty signature (refused by the server, visible in the report) beats a panic.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return HeaderValue::from_static("");
    };
    mac.update(body);
    let text = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static(""))
}

/// Hands out deliveries: a fresh callback, or with probability `duplicate_ratio` a repeat of
/// one already handed out (a sender's retry).
pub struct Picker {
    next_new: AtomicUsize,
    total: usize,
    duplicate_per_million: u64,
}

pub enum Pick {
    New(usize),
    Duplicate(usize),
    /// Every pre-signed callback has been sent once.
    Exhausted,
}

impl Picker {
    pub fn new(total: usize, duplicate_ratio: f64) -> Picker {
        Picker {
            next_new: AtomicUsize::new(0),
            total,
            duplicate_per_million: (duplicate_ratio.clamp(0.0, 1.0) * 1e6) as u64,
        }
    }

    pub fn pick(&self, rng: &mut Rng) -> Pick {
        let sent = self.next_new.load(Ordering::Relaxed).min(self.total);
        if sent > 0 && rng.next() % 1_000_000 < self.duplicate_per_million {
            return Pick::Duplicate((rng.next() % sent as u64) as usize);
        }
        match self.next_new.fetch_add(1, Ordering::Relaxed) {
            index if index < self.total => Pick::New(index),
            _ => Pick::Exhausted,
        }
    }

    pub fn new_sent(&self) -> usize {
        self.next_new.load(Ordering::Relaxed).min(self.total)
    }
}

/// xorshift64*: enough to spread duplicates, and free of locks and dependencies.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_requested_size_and_are_distinct() {
        let signed = presign(3, 1024, b"secret", "t");
        assert!(signed.iter().all(|s| s.body.len() == 1024));
        assert_ne!(signed[0].body, signed[1].body);
        let parsed: serde_json::Value = serde_json::from_slice(&signed[2].body).unwrap();
        assert_eq!(parsed["job_id"], "job_t_00000002");
    }

    #[test]
    fn without_duplicates_every_pick_is_new_until_exhausted() {
        let picker = Picker::new(2, 0.0);
        let mut rng = Rng::seeded(1);
        assert!(matches!(picker.pick(&mut rng), Pick::New(0)));
        assert!(matches!(picker.pick(&mut rng), Pick::New(1)));
        assert!(matches!(picker.pick(&mut rng), Pick::Exhausted));
    }

    #[test]
    fn with_all_duplicates_only_sent_callbacks_repeat() {
        let picker = Picker::new(10, 1.0);
        let mut rng = Rng::seeded(7);
        assert!(matches!(picker.pick(&mut rng), Pick::New(0)));
        for _ in 0..100 {
            assert!(matches!(picker.pick(&mut rng), Pick::Duplicate(0)));
        }
    }
}
