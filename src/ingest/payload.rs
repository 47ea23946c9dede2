//! The LLM-callback payload: parsed once the signature holds. Only the fields Hookbox indexes
//! are read; everything else stays in the raw body, exactly as the sender wrote it.

use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;
use serde_json::Value;

use super::lone_surrogates::parse_reading_lone_surrogates_as_replacement;

const MAX_ID_CHARS: usize = 512;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON at all.
    #[error("{0}")]
    InvalidJson(String),
    /// Valid JSON that does not satisfy the contract; the message names the field.
    #[error("{0}")]
    InvalidPayload(String),
}

/// A non-empty identifier without NUL, at most 512 characters (job ids, event names,
/// workflow names, statuses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identifier(String);

impl Identifier {
    pub(crate) fn parse(field: &str, value: &str) -> Result<Identifier, PayloadError> {
        let invalid = |why: &str| PayloadError::InvalidPayload(format!("`{field}` {why}"));
        if value.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        if value.contains('\0') {
            return Err(invalid("must not contain NUL characters"));
        }
        if value.chars().count() > MAX_ID_CHARS {
            return Err(invalid("must be at most 512 characters"));
        }
        Ok(Identifier(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CallbackPayload {
    pub job_id: Identifier,
    pub event: Identifier,
    pub workflow_name: Option<Identifier>,
    pub status: Option<Identifier>,
    /// Free text; NUL characters (which Postgres text cannot hold) are replaced by U+FFFD.
    /// The raw body keeps the original.
    pub error_message: Option<String>,
    /// When the sender says the event happened (UTC).
    pub sent_at: Option<NaiveDateTime>,
}

/// The known fields. Unknown ones are skipped without being built; a repeated known field is
/// refused rather than silently resolved to one of its values.
#[derive(Deserialize)]
struct KnownFields {
    job_id: Option<Value>,
    event: Option<Value>,
    workflow_name: Option<Value>,
    status: Option<Value>,
    error_message: Option<Value>,
    timestamp: Option<Value>,
}

impl CallbackPayload {
    pub fn parse(body: &[u8]) -> Result<CallbackPayload, PayloadError> {
        let fields = known_fields(body)?;
        Ok(CallbackPayload {
            job_id: required_identifier("job_id", fields.job_id)?,
            event: required_identifier("event", fields.event)?,
            workflow_name: optional_identifier("workflow_name", fields.workflow_name)?,
            status: optional_identifier("status", fields.status)?,
            error_message: optional_string("error_message", fields.error_message)?
                .map(|text| text.replace('\0', "\u{fffd}")),
            sent_at: fields.timestamp.map(parse_timestamp).transpose()?,
        })
    }
}

fn known_fields(body: &[u8]) -> Result<KnownFields, PayloadError> {
    parse_reading_lone_surrogates_as_replacement(body, known_fields_as_sent)
}

fn known_fields_as_sent(body: &[u8]) -> Result<KnownFields, PayloadError> {
    let invalid_json = |error: serde_json::Error| PayloadError::InvalidJson(error.to_string());
    let starts_as_object = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(&b'{');
    if !starts_as_object {
        // serde would read a struct from an array too; tell broken JSON from JSON of the
        // wrong shape. Skipping a value is iterative in serde_json, so deep nesting is safe.
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(invalid_json)?;
        return Err(PayloadError::InvalidPayload(
            "the payload must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => PayloadError::InvalidPayload(error.to_string()),
        _ => invalid_json(error),
    })
}

fn required_identifier(field: &str, value: Option<Value>) -> Result<Identifier, PayloadError> {
    optional_identifier(field, value)?
        .ok_or_else(|| PayloadError::InvalidPayload(format!("`{field}` is required")))
}

fn optional_identifier(
    field: &str,
    value: Option<Value>,
) -> Result<Option<Identifier>, PayloadError> {
    optional_string(field, value)?
        .map(|text| Identifier::parse(field, &text))
        .transpose()
}

fn optional_string(field: &str, value: Option<Value>) -> Result<Option<String>, PayloadError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(PayloadError::InvalidPayload(format!(
            "`{field}` must be a string, not {}",
            type_name(&other)
        ))),
    }
}

/// RFC 3339 text, or a number of Unix seconds, also written as text (a `webhook-timestamp`
/// header mapped onto it, a sender that quotes its numbers). A number beyond 10^11 (seconds
/// past the year 5000) is taken for milliseconds, as JavaScript's `Date.now()` gives them:
/// refused, every callback of such a sender was a `400` it never retries.
pub(crate) fn parse_timestamp(value: Value) -> Result<NaiveDateTime, PayloadError> {
    let invalid = || {
        PayloadError::InvalidPayload(
            "`timestamp` must be an RFC 3339 date-time string or a number of Unix seconds \
             (or milliseconds)"
                .into(),
        )
    };
    let number = match value {
        Value::String(text) if is_decimal(text.trim()) => text.trim().parse::<f64>().ok(),
        Value::String(text) => {
            return DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.naive_utc())
                .map_err(|_| invalid())
        }
        Value::Number(number) => number.as_f64(),
        _ => None,
    };
    let number = number.filter(|n| n.is_finite()).ok_or_else(invalid)?;
    // Whole seconds and the rest in the number's own unit, so that milliseconds stay exact.
    let (whole, nanos) = if number.abs() > MOST_SECONDS {
        let whole = (number / 1000.0).floor();
        (whole, (number - whole * 1000.0) * 1e6)
    } else {
        let whole = number.floor();
        (whole, (number - whole) * 1e9)
    };
    if whole.abs() > MOST_SECONDS {
        return Err(invalid());
    }
    let nanos = nanos as u32;
    DateTime::from_timestamp(whole as i64, nanos)
        .map(|t| t.naive_utc())
        .ok_or_else(invalid)
}

/// Beyond ±10^11 s (about 3,000 years either side of 1970) is not a time anyone means.
const MOST_SECONDS: f64 = 1e11;

/// Digits, with an optional minus sign and fraction: what Unix seconds look like as text.
fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    [whole, fraction]
        .iter()
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<CallbackPayload, PayloadError> {
        CallbackPayload::parse(text.as_bytes())
    }

    fn payload_error(text: &str) -> String {
        match parse(text) {
            Err(PayloadError::InvalidPayload(detail)) => detail,
            other => panic!("expected invalid_payload for {text}, got {other:?}"),
        }
    }

    #[test]
    fn a_full_callback_parses_every_known_field() {
        let payload = parse(
            r#"{"event":"workflow.failed","job_id":"j-1","workflow_name":"summarize",
                "status":"failed","error_message":"model timeout","timestamp":"2026-11-23T10:00:00+01:00",
                "result":{"anything":[1,2,3]}}"#,
        )
        .expect("valid");
        assert_eq!(payload.job_id.as_str(), "j-1");
        assert_eq!(payload.event.as_str(), "workflow.failed");
        assert_eq!(
            payload.workflow_name.as_ref().map(Identifier::as_str),
            Some("summarize")
        );
        assert_eq!(
            payload.status.as_ref().map(Identifier::as_str),
            Some("failed")
        );
        assert_eq!(payload.error_message.as_deref(), Some("model timeout"));
        assert_eq!(
            payload.sent_at.map(|t| t.to_string()).as_deref(),
            Some("2026-11-23 09:00:00")
        );
    }

    #[test]
    fn unix_seconds_are_a_timestamp_too() {
        let payload =
            parse(r#"{"event":"e","job_id":"j","timestamp":1700000000.5}"#).expect("valid");
        assert_eq!(
            payload.sent_at.map(|t| t.to_string()).as_deref(),
            Some("2023-11-14 22:13:20.500")
        );
    }

    #[test]
    fn numbers_beyond_the_year_5000_in_seconds_are_milliseconds() {
        for timestamp in ["1700000000123", "\"1700000000123\"", "1700000000123.0"] {
            let body = format!(r#"{{"event":"e","job_id":"j","timestamp":{timestamp}}}"#);
            let payload = parse(&body).expect(timestamp);
            assert_eq!(
                payload.sent_at.map(|t| t.to_string()).as_deref(),
                Some("2023-11-14 22:13:20.123"),
                "{timestamp}"
            );
        }
        let too_far = r#"{"event":"e","job_id":"j","timestamp":1000000000000000}"#;
        assert!(payload_error(too_far).contains("timestamp"));
    }

    #[test]
    fn unix_seconds_written_as_text_are_a_timestamp_too() {
        for (text, expected) in [
            ("1700000000", "2023-11-14 22:13:20"),
            (" 1700000000.5 ", "2023-11-14 22:13:20.500"),
            ("-1", "1969-12-31 23:59:59"),
        ] {
            let body = format!(r#"{{"event":"e","job_id":"j","timestamp":"{text}"}}"#);
            let payload = parse(&body).expect(text);
            assert_eq!(
                payload.sent_at.map(|t| t.to_string()).as_deref(),
                Some(expected)
            );
        }
        for text in [
            "1e9",
            "+5",
            "inf",
            "NaN",
            "1.",
            ".5",
            "0x10",
            "1700000000000000",
            "- 1",
            "",
        ] {
            let body = format!(r#"{{"event":"e","job_id":"j","timestamp":"{text}"}}"#);
            assert!(payload_error(&body).contains("timestamp"), "{text}");
        }
    }

    #[test]
    fn broken_json_is_invalid_json() {
        for text in [
            "",
            "{",
            "{\"event\":}",
            "{} trailing",
            "\u{feff}{}",
            "nul\0",
        ] {
            assert!(
                matches!(parse(text), Err(PayloadError::InvalidJson(_))),
                "{text:?}"
            );
        }
        assert!(matches!(
            CallbackPayload::parse(b"{\"event\":\"\xff\"}"),
            Err(PayloadError::InvalidJson(_))
        ));
    }

    #[test]
    fn json_that_is_not_an_object_is_an_invalid_payload() {
        for text in ["[]", "\"text\"", "null", "42", "true"] {
            assert_eq!(
                payload_error(text),
                "the payload must be a JSON object",
                "{text}"
            );
        }
    }

    #[test]
    fn required_fields_are_named_when_missing_empty_or_mistyped() {
        assert_eq!(payload_error(r#"{"event":"e"}"#), "`job_id` is required");
        assert_eq!(
            payload_error(r#"{"event":"e","job_id":""}"#),
            "`job_id` must not be empty"
        );
        assert_eq!(
            payload_error(r#"{"event":"e","job_id":"  "}"#),
            "`job_id` must not be empty"
        );
        assert_eq!(
            payload_error(r#"{"event":"e","job_id":7}"#),
            "`job_id` must be a string, not a number"
        );
        assert_eq!(payload_error(r#"{"job_id":"j"}"#), "`event` is required");
        assert_eq!(
            payload_error(r#"{"job_id":"j","event":null}"#),
            "`event` is required"
        );
    }

    #[test]
    fn optional_fields_of_the_wrong_type_are_refused() {
        for (field, value) in [
            ("workflow_name", "1"),
            ("status", "[]"),
            ("error_message", "{}"),
            ("timestamp", "true"),
            ("timestamp", "\"yesterday\""),
            ("timestamp", "1e300"),
        ] {
            let text = format!(r#"{{"event":"e","job_id":"j","{field}":{value}}}"#);
            assert!(payload_error(&text).contains(field), "{text}");
        }
    }

    #[test]
    fn a_repeated_known_field_is_refused() {
        let detail = payload_error(r#"{"event":"e","job_id":"a","job_id":"b"}"#);
        assert!(detail.contains("duplicate field"), "{detail}");
    }

    #[test]
    fn nul_is_refused_in_identifiers_and_replaced_in_free_text() {
        assert!(payload_error(r#"{"event":"e","job_id":"a\u0000b"}"#).contains("NUL"));
        let payload =
            parse(r#"{"event":"e","job_id":"j","error_message":"a\u0000b"}"#).expect("valid");
        assert_eq!(payload.error_message.as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn deep_nesting_never_exhausts_the_stack() {
        let deep = format!(
            r#"{{"event":"e","job_id":"j","x":{}{}}}"#,
            "[".repeat(1 << 20),
            "]".repeat(1 << 20)
        );
        // Unknown fields are skipped, not built, so nesting there is accepted and kept raw.
        assert!(parse(&deep).is_ok());
        let unclosed = "[".repeat(1 << 20);
        assert!(matches!(
            parse(&unclosed),
            Err(PayloadError::InvalidJson(_))
        ));
        let closed = format!("{}{}", "[".repeat(1 << 20), "]".repeat(1 << 20));
        assert!(matches!(
            parse(&closed),
            Err(PayloadError::InvalidPayload(_))
        ));
        let deep_in_known = format!(
            r#"{{"event":"e","job_id":{}1{}}}"#,
            "[".repeat(1 << 20),
            "]".repeat(1 << 20)
        );
        assert!(parse(&deep_in_known).is_err());
    }

    #[test]
    fn huge_numbers_in_unknown_fields_are_kept_as_they_are() {
        let payload =
            parse(r#"{"event":"e","job_id":"j","m":123456789012345678901234567890,"f":1e308}"#);
        assert!(payload.is_ok(), "{payload:?}");
        let payload = parse(r#"{"event":"e","job_id":"j","n":1e999999}"#);
        assert!(payload.is_ok(), "{payload:?}");
        let payload = parse(r#"{"event":"e","job_id":"j","timestamp":1e999999}"#);
        assert!(payload.is_err(), "{payload:?}");
    }

    proptest! {
        #[test]
        fn the_parser_gives_a_defined_answer_for_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = CallbackPayload::parse(&body);
        }
    }
}
