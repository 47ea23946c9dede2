//! Hostile input for the parsers that see untrusted bytes first: every input gets a defined
//! answer (never a panic), and the answer is the right kind.

use proptest::prelude::*;

use super::payload::{CallbackPayload, PayloadError};
use super::signature::{PresentedSignature, SignatureError};
use crate::admin::cursor::Cursor;

/// JSON-ish fragments that stress a parser: BOM, NUL, deep nesting, huge numbers, duplicates.
fn nasty_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\u{feff}".to_owned()),
        Just("\\u0000".to_owned()),
        Just("\0".to_owned()),
        Just("1e999999".to_owned()),
        Just("-0.0e-400".to_owned()),
        Just("123456789012345678901234567890123456789".to_owned()),
        Just("\"job_id\":\"a\",\"job_id\":\"b\"".to_owned()),
        Just("null".to_owned()),
        Just("[".repeat(300)),
        Just("{\"a\":".repeat(300)),
        Just("\"\\ud800\"".to_owned()),
        "[ -~]{0,20}",
    ]
}

proptest! {
    #[test]
    fn payloads_built_from_hostile_fragments_get_a_defined_answer(
        parts in proptest::collection::vec(nasty_fragment(), 0..8),
        wrap_as_object in any::<bool>(),
    ) {
        let inner = parts.join(",");
        let body = if wrap_as_object {
            format!("{{\"event\":\"e\",\"job_id\":\"j\",\"x\":{inner}}}")
        } else {
            inner
        };
        let _ = CallbackPayload::parse(body.as_bytes());
    }

    #[test]
    fn json_that_is_not_an_object_is_always_an_invalid_payload(
        value in prop_oneof![
            "\"[ -~]{0,40}\"".prop_map(|s| s),
            Just("null".to_owned()),
            Just("[]".to_owned()),
            Just("[{\"event\":\"e\",\"job_id\":\"j\"}]".to_owned()),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
        ],
        padding in "[ \t\r\n]{0,4}",
    ) {
        let body = format!("{padding}{value}{padding}");
        prop_assume!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
        prop_assert_eq!(
            CallbackPayload::parse(body.as_bytes()),
            Err(PayloadError::InvalidPayload("the payload must be a JSON object".into()))
        );
    }

    #[test]
    fn invalid_utf8_anywhere_is_invalid_json(
        prefix in "[ -~]{0,20}",
        bad in proptest::collection::vec(0x80u8..=0xff, 1..4),
    ) {
        let mut body = format!("{{\"event\":\"e\",\"job_id\":\"{}", prefix.replace(['"', '\\'], "")).into_bytes();
        body.extend_from_slice(&bad);
        body.extend_from_slice(b"\"}");
        prop_assume!(std::str::from_utf8(&body).is_err());
        prop_assert!(matches!(CallbackPayload::parse(&body), Err(PayloadError::InvalidJson(_))));
    }

    #[test]
    fn a_signature_header_is_accepted_only_in_its_one_shape(
        lead in "[ \t]{0,2}",
        prefix in prop_oneof![Just("sha256="), Just("SHA256="), Just("sha256:"), Just("sha1="), Just("v1,"), Just(""), Just("sha256 =")],
        digest in "[0-9a-fA-F]{62,66}",
        tail in prop_oneof![Just(""), Just(" "), Just(","), Just(", sha256=00"), Just("\0")],
    ) {
        let header = format!("{lead}{prefix}{digest}{tail}");
        let well_formed = prefix.eq_ignore_ascii_case("sha256=") && digest.len() == 64 && tail.trim().is_empty();
        let parsed = PresentedSignature::parse(Some(header.as_bytes()));
        if well_formed {
            prop_assert!(parsed.is_ok(), "{header:?}");
        } else {
            prop_assert_eq!(parsed.err(), Some(SignatureError::Malformed), "{:?}", header);
        }
    }

    #[test]
    fn cursors_of_arbitrary_bytes_are_refused_or_decoded_never_panicking(
        text in proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ) {
        if let Ok(cursor) = Cursor::decode(&text) {
            prop_assert!(cursor.id() >= 0);
            prop_assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
        }
    }
}

#[test]
fn a_mebibyte_of_open_brackets_does_not_blow_the_stack() {
    let deep = "[".repeat(1 << 20);
    assert!(matches!(
        CallbackPayload::parse(deep.as_bytes()),
        Err(PayloadError::InvalidJson(_))
    ));
    let deep_object = format!("{{\"event\":\"e\",\"job_id\":\"j\",\"x\":{deep}");
    assert!(CallbackPayload::parse(deep_object.as_bytes()).is_err());
}
