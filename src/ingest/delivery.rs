//! What is stored about one delivery besides the payload: its idempotency key, a preview and
//! where it came from.

use sha2::{Digest, Sha256};

use super::error::IngestError;

const MAX_WEBHOOK_ID_LEN: usize = 256;
const PREVIEW_CHARS: usize = 200;

/// The sender's `webhook-id` header when present (stable across its retries); otherwise
/// job id + event + body hash, so a retried delivery is recognised while the distinct events
/// of one job are all kept.
pub fn delivery_key(
    webhook_id: Option<&[u8]>,
    job_id: &str,
    event: &str,
    body_sha256: &str,
) -> Result<String, IngestError> {
    if let Some(raw) = webhook_id {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_WEBHOOK_ID_LEN
            && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        return match std::str::from_utf8(raw) {
            Ok(id) if valid => Ok(format!("wid:{id}")),
            _ => Err(IngestError::InvalidHeader(
                "the webhook-id header must be 1-256 visible ASCII characters".into(),
            )),
        };
    }
    // Length-prefixed so that no two (job, event) pairs can produce the same input.
    let mut hasher = Sha256::new();
    for part in [job_id, event] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(body_sha256.as_bytes());
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The start of the body as one line of text, for lists.
pub fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(PREVIEW_CHARS * 4)]);
    let mut preview = String::with_capacity(PREVIEW_CHARS);
    let mut last_was_space = false;
    for c in text.chars().filter(|c| *c != '\0') {
        let space = c.is_whitespace() || c.is_control();
        if !(space && last_was_space) {
            preview.push(if space { ' ' } else { c });
        }
        last_was_space = space;
        if preview.chars().count() >= PREVIEW_CHARS {
            preview.push('…');
            break;
        }
    }
    preview.trim().to_owned()
}

/// A header as text for storage: lossy, without NUL, cut to `max` characters.
pub fn header_text(
    value: Option<&actix_web::http::header::HeaderValue>,
    max: usize,
) -> Option<String> {
    value.map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .filter(|c| *c != '\0')
            .take(max)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_id_header_is_the_key_when_present() {
        let a = delivery_key(Some(b"msg_123"), "j", "e", "h1").expect("valid");
        let b = delivery_key(Some(b"msg_123"), "other", "x", "h2").expect("valid");
        assert_eq!(a, b);
        assert_eq!(a, "wid:msg_123");
    }

    #[test]
    fn without_webhook_id_job_event_and_body_make_the_key() {
        let base = delivery_key(None, "job", "step", "h").expect("valid");
        assert_eq!(base, delivery_key(None, "job", "step", "h").expect("valid"));
        assert_ne!(base, delivery_key(None, "job", "done", "h").expect("valid"));
        assert_ne!(
            base,
            delivery_key(None, "job", "step", "h2").expect("valid")
        );
        assert_ne!(
            delivery_key(None, "ab", "c", "h").expect("valid"),
            delivery_key(None, "a", "bc", "h").expect("valid")
        );
    }

    #[test]
    fn an_unusable_webhook_id_is_refused_rather_than_ignored() {
        for bad in [&b""[..], b"has space", b"\xff", &[b'a'; 257][..]] {
            assert!(delivery_key(Some(bad), "j", "e", "h").is_err());
        }
    }

    #[test]
    fn the_preview_is_one_short_line() {
        let body = format!("{{\n  \"a\":\t\"{}\"\0}}", "x".repeat(1000));
        let preview = preview(body.as_bytes());
        assert!(preview.starts_with("{ \"a\": \"xxx"));
        assert!(!preview.contains('\n') && !preview.contains('\0'));
        assert_eq!(preview.chars().count(), PREVIEW_CHARS + 1);
    }
}
