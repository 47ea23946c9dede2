//! What is stored about one delivery besides the payload: its idempotency key, a preview and
//! where it came from.

use actix_web::http::header::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

use super::error::IngestError;
use super::payload::CallbackPayload;
use super::shallow_json::Wanted;

const MAX_WEBHOOK_ID_LEN: usize = 256;
const PREVIEW_CHARS: usize = 200;

/// How a source recognises a redelivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyRule {
    /// The `webhook-id` header when present, else job id + event + body hash.
    Auto,
    /// The `webhook-id` header, required.
    WebhookId,
    /// Job id + event + body hash, whatever the headers say.
    Content,
    /// Another header that the sender keeps stable across retries, required.
    Header(HeaderName),
    /// A JSON pointer into the body (an event id), required.
    Pointer(String),
}

impl IdempotencyRule {
    /// `auto`, `webhook-id`, `content`, `header:<name>` or a JSON pointer `/…`.
    pub fn parse(text: &str) -> Result<IdempotencyRule, String> {
        match text {
            "auto" => Ok(IdempotencyRule::Auto),
            "webhook-id" => Ok(IdempotencyRule::WebhookId),
            "content" => Ok(IdempotencyRule::Content),
            pointer if pointer.starts_with('/') => Ok(IdempotencyRule::Pointer(pointer.into())),
            other => match other.strip_prefix("header:") {
                Some(name) => HeaderName::from_bytes(name.trim().as_bytes())
                    .map(IdempotencyRule::Header)
                    .map_err(|_| format!("{name:?} is not a header name")),
                None => Err(format!(
                    "{other:?} is not an idempotency rule: use auto, webhook-id, content, \
                     header:<name> or a JSON pointer such as /id"
                )),
            },
        }
    }

    pub fn key(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        payload: &CallbackPayload,
        body_sha256: &str,
    ) -> Result<String, IngestError> {
        let (job, event) = (payload.job_id.as_str(), payload.event.as_str());
        let required_header = |name: &str| {
            headers.get(name).map(|v| v.as_bytes()).ok_or_else(|| {
                IngestError::InvalidHeader(format!("this source requires a {name} header"))
            })
        };
        match self {
            IdempotencyRule::Auto => delivery_key(
                headers.get("webhook-id").map(|v| v.as_bytes()),
                job,
                event,
                body_sha256,
            ),
            IdempotencyRule::WebhookId => delivery_key(
                Some(required_header("webhook-id")?),
                job,
                event,
                body_sha256,
            ),
            IdempotencyRule::Content => delivery_key(None, job, event, body_sha256),
            IdempotencyRule::Header(name) => {
                let value = required_header(name.as_str())?;
                key_text(value)
                    .map(|id| format!("hdr:{id}"))
                    .ok_or_else(|| {
                        IngestError::InvalidHeader(format!(
                            "the {name} header must be 1-256 visible ASCII characters"
                        ))
                    })
            }
            IdempotencyRule::Pointer(pointer) => {
                let value = Wanted::new([pointer.as_str()])
                    .parse(body)
                    .map_err(|error| IngestError::InvalidJson(error.to_string()))?;
                let id = match value.pointer(pointer) {
                    Some(serde_json::Value::String(text)) => Some(text.clone()),
                    Some(serde_json::Value::Number(number)) if !is_rounded(number) => {
                        Some(number.to_string())
                    }
                    Some(serde_json::Value::Number(_)) => {
                        return Err(IngestError::InvalidPayload(format!(
                            "the idempotency key at {pointer} is a number too large to keep \
                             exactly; send it as a string"
                        )))
                    }
                    _ => None,
                };
                id.as_deref()
                    .and_then(|id| key_text(id.as_bytes()))
                    .map(|id| format!("ptr:{id}"))
                    .ok_or_else(|| {
                        IngestError::InvalidPayload(format!(
                            "the idempotency key at {pointer} must be a string or number of \
                             1-256 visible ASCII characters"
                        ))
                    })
            }
        }
    }
}

/// An integer beyond what serde_json keeps exactly (past the 64-bit range it holds as `f64`):
/// two ids that differ only in their last digits would be one key, and the second delivery
/// answered as a duplicate of the first and dropped.
fn is_rounded(number: &serde_json::Number) -> bool {
    number
        .as_f64()
        .is_some_and(|n| number.is_f64() && n.fract() == 0.0 && n.abs() >= 9_007_199_254_740_992.0)
}

fn key_text(raw: &[u8]) -> Option<&str> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_WEBHOOK_ID_LEN
        && raw.iter().all(|b| (0x21..=0x7e).contains(b));
    std::str::from_utf8(raw).ok().filter(|_| valid)
}

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
        return match key_text(raw) {
            Some(id) => Ok(format!("wid:{id}")),
            None => Err(IngestError::InvalidHeader(
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
    // Counted as we go: re-counting the string on every character made this quadratic.
    let mut chars = 0;
    let mut last_was_space = false;
    for c in text.chars().filter(|c| *c != '\0') {
        let space = c.is_whitespace() || c.is_control();
        if !(space && last_was_space) {
            preview.push(if space { ' ' } else { c });
            chars += 1;
        }
        last_was_space = space;
        if chars >= PREVIEW_CHARS {
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
    fn idempotency_rules_parse_and_name_what_they_need() {
        use super::IdempotencyRule as R;
        assert_eq!(R::parse("auto"), Ok(R::Auto));
        assert_eq!(R::parse("webhook-id"), Ok(R::WebhookId));
        assert_eq!(R::parse("content"), Ok(R::Content));
        assert_eq!(R::parse("/event/id"), Ok(R::Pointer("/event/id".into())));
        assert!(matches!(
            R::parse("header:X-GitHub-Delivery"),
            Ok(R::Header(_))
        ));
        assert!(R::parse("header:bad name").is_err());
        assert!(R::parse("random").is_err());
        let payload = crate::ingest::payload::CallbackPayload::parse(
            br#"{"job_id":"j","event":"e","event_id":"evt_1"}"#,
        )
        .expect("valid");
        let none = HeaderMap::new();
        let body = br#"{"job_id":"j","event":"e","event_id":"evt_1"}"#;
        assert!(R::WebhookId.key(&none, body, &payload, "h").is_err());
        assert_eq!(
            R::Pointer("/event_id".into())
                .key(&none, body, &payload, "h")
                .ok(),
            Some("ptr:evt_1".into())
        );
        assert!(R::Pointer("/missing".into())
            .key(&none, body, &payload, "h")
            .is_err());
        assert_eq!(
            R::Content.key(&none, body, &payload, "h").ok(),
            delivery_key(None, "j", "e", "h").ok()
        );
    }

    #[test]
    fn a_pointer_key_is_read_however_deep_the_rest_of_the_body_is() {
        let body = format!(
            r#"{{"job_id":"j","event":"e","result":{}0{},"meta":{{"id":"evt_9"}}}}"#,
            "[".repeat(1_000),
            "]".repeat(1_000)
        );
        let payload = crate::ingest::payload::CallbackPayload::parse(body.as_bytes())
            .expect("the contract skips what it does not read");
        assert_eq!(
            IdempotencyRule::Pointer("/meta/id".into())
                .key(&HeaderMap::new(), body.as_bytes(), &payload, "h")
                .ok(),
            Some("ptr:evt_9".into())
        );
    }

    #[test]
    fn a_numeric_pointer_key_too_large_to_keep_exactly_is_refused_not_merged() {
        let key = |id: &str| {
            let body = format!(r#"{{"job_id":"j","event":"e","meta":{{"id":{id}}}}}"#);
            let payload = crate::ingest::payload::CallbackPayload::parse(body.as_bytes())
                .expect("a valid payload");
            IdempotencyRule::Pointer("/meta/id".into()).key(
                &HeaderMap::new(),
                body.as_bytes(),
                &payload,
                "h",
            )
        };
        assert_eq!(
            key("18446744073709551615").ok(),
            Some("ptr:18446744073709551615".into())
        );
        assert_eq!(key("-42").ok(), Some("ptr:-42".into()));
        assert_eq!(key("1.5").ok(), Some("ptr:1.5".into()));
        for rounded in ["18446744073709551617", "18446744073709551618", "1e20"] {
            assert!(
                matches!(key(rounded), Err(IngestError::InvalidPayload(_))),
                "{rounded}"
            );
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
