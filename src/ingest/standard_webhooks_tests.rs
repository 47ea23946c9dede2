use super::*;
use actix_web::http::header::{HeaderName, HeaderValue};
use proptest::prelude::*;

// The vector published with the reference libraries (standard-webhooks repository,
// libraries/go/webhook_test.go `TestWebhookSign`, the same in the other languages).
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP: i64 = 1614265330;
const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const FIVE_MINUTES: Duration = Duration::from_secs(300);

fn secrets(list: &[(&str, &str)]) -> SecretSet {
    let entries = list
        .iter()
        .map(|(label, secret)| ((*label).to_owned(), decode_secret(secret).expect("base64")))
        .collect();
    SecretSet::from_labelled(entries, "test").expect("valid secrets")
}

fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in [
        (ID_HEADER, id),
        (TIMESTAMP_HEADER, timestamp),
        (SIGNATURE_HEADER, signature),
    ] {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

fn spec_headers(signature: &str) -> HeaderMap {
    headers(SPEC_ID, &SPEC_TIMESTAMP.to_string(), signature)
}

#[test]
fn the_published_test_vector_signs_and_verifies() {
    let key = decode_secret(SPEC_SECRET).expect("base64");
    assert_eq!(
        signature_header(
            &key,
            SPEC_ID,
            &SPEC_TIMESTAMP.to_string(),
            SPEC_BODY.as_bytes()
        ),
        SPEC_SIGNATURE
    );
    let presented = Presented::parse(&spec_headers(SPEC_SIGNATURE), SPEC_TIMESTAMP, FIVE_MINUTES)
        .expect("well formed");
    let set = secrets(&[("openai", SPEC_SECRET)]);
    assert_eq!(
        presented
            .verify(SPEC_BODY.as_bytes(), &set)
            .expect("matches")
            .as_str(),
        "openai"
    );
}

#[test]
fn the_vector_fails_with_a_tampered_body_or_another_secret() {
    let presented = Presented::parse(&spec_headers(SPEC_SIGNATURE), SPEC_TIMESTAMP, FIVE_MINUTES)
        .expect("well formed");
    let set = secrets(&[("a", SPEC_SECRET)]);
    assert_eq!(
        presented.verify(br#"{"test": 2432232315}"#, &set).err(),
        Some(SignatureError::Mismatch)
    );
    let other = secrets(&[("b", "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")]);
    assert_eq!(
        presented.verify(SPEC_BODY.as_bytes(), &other).err(),
        Some(SignatureError::Mismatch)
    );
}

#[test]
fn the_secret_prefix_is_optional() {
    assert_eq!(
        decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        decode_secret(SPEC_SECRET)
    );
    assert!(decode_secret("whsec_not base64!").is_err());
    assert!(decode_secret("whsec_").is_err());
}

#[test]
fn one_valid_entry_among_several_is_enough_and_other_versions_are_ignored() {
    let forged = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    let list = format!(
        "{forged} v2,{} v1a,AAAA {SPEC_SIGNATURE} {forged}",
        &forged[3..]
    );
    let presented =
        Presented::parse(&spec_headers(&list), SPEC_TIMESTAMP, FIVE_MINUTES).expect("parses");
    assert!(presented
        .verify(SPEC_BODY.as_bytes(), &secrets(&[("a", SPEC_SECRET)]))
        .is_ok());
    let only_forged = format!("{forged} {forged}");
    let presented = Presented::parse(&spec_headers(&only_forged), SPEC_TIMESTAMP, FIVE_MINUTES)
        .expect("parses");
    assert_eq!(
        presented
            .verify(SPEC_BODY.as_bytes(), &secrets(&[("a", SPEC_SECRET)]))
            .err(),
        Some(SignatureError::Mismatch)
    );
}

#[test]
fn during_rotation_either_secret_verifies_and_its_label_is_returned() {
    let set = secrets(&[
        ("old", "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"),
        ("new", SPEC_SECRET),
    ]);
    let presented = Presented::parse(&spec_headers(SPEC_SIGNATURE), SPEC_TIMESTAMP, FIVE_MINUTES)
        .expect("parses");
    assert_eq!(
        presented
            .verify(SPEC_BODY.as_bytes(), &set)
            .expect("matches")
            .as_str(),
        "new"
    );
}

#[test]
fn timestamps_outside_the_tolerance_either_way_are_refused_even_when_signed() {
    for now in [SPEC_TIMESTAMP + 301, SPEC_TIMESTAMP - 301, 0, i64::MAX] {
        assert_eq!(
            Presented::parse(&spec_headers(SPEC_SIGNATURE), now, FIVE_MINUTES).err(),
            Some(SignatureError::TimestampOutOfRange),
            "now = {now}"
        );
    }
    for now in [SPEC_TIMESTAMP + 300, SPEC_TIMESTAMP - 300] {
        assert!(Presented::parse(&spec_headers(SPEC_SIGNATURE), now, FIVE_MINUTES).is_ok());
    }
}

#[test]
fn missing_headers_are_missing_and_bad_ones_malformed() {
    let ts = SPEC_TIMESTAMP.to_string();
    let full = spec_headers(SPEC_SIGNATURE);
    for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
        let mut partial = full.clone();
        partial.remove(name);
        assert_eq!(
            Presented::parse(&partial, SPEC_TIMESTAMP, FIVE_MINUTES).err(),
            Some(SignatureError::Missing),
            "without {name}"
        );
    }
    let long_id = "a".repeat(257);
    for (id, timestamp, signature) in [
        ("", ts.as_str(), SPEC_SIGNATURE),
        (long_id.as_str(), ts.as_str(), SPEC_SIGNATURE),
        (SPEC_ID, "", SPEC_SIGNATURE),
        (SPEC_ID, "1614265330.5", SPEC_SIGNATURE),
        (SPEC_ID, "-1614265330", SPEC_SIGNATURE),
        (SPEC_ID, "2021-02-25T15:02:10Z", SPEC_SIGNATURE),
        (SPEC_ID, ts.as_str(), ""),
        (
            SPEC_ID,
            ts.as_str(),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (SPEC_ID, ts.as_str(), "v1,not-base64"),
        (SPEC_ID, ts.as_str(), "v1,AAAA"),
        (
            SPEC_ID,
            ts.as_str(),
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (SPEC_ID, ts.as_str(), "sha256=abcdef"),
    ] {
        assert_eq!(
            Presented::parse(
                &headers(id, timestamp, signature),
                SPEC_TIMESTAMP,
                FIVE_MINUTES
            )
            .err(),
            Some(SignatureError::Malformed),
            "{id:?} {timestamp:?} {signature:?}"
        );
    }
}

#[test]
fn the_stored_header_keeps_what_is_needed_to_recheck() {
    let presented = Presented::parse(&spec_headers(SPEC_SIGNATURE), SPEC_TIMESTAMP, FIVE_MINUTES)
        .expect("parses");
    let stored = stored_header(&presented, SPEC_SIGNATURE);
    assert!(
        stored.contains(SPEC_ID)
            && stored.contains("1614265330")
            && stored.contains(SPEC_SIGNATURE)
    );
}

proptest! {
    #[test]
    fn any_body_signed_with_any_key_verifies_and_any_flipped_bit_fails(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 1..1024),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let secret = format!("{SECRET_PREFIX}{}", STANDARD.encode(&key));
        let set = secrets(&[("k", &secret)]);
        let signature = signature_header(&key, "msg_1", "1700000000", &body);
        let presented = Presented::parse(&headers("msg_1", "1700000000", &signature), 1_700_000_000, FIVE_MINUTES)
            .expect("parses");
        prop_assert!(presented.verify(&body, &set).is_ok());
        let mut tampered = body.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= 1 << bit;
        prop_assert_eq!(presented.verify(&tampered, &set).err(), Some(SignatureError::Mismatch));
    }

    #[test]
    fn the_header_parser_never_panics(signature in "[ -~]{0,200}", timestamp in "[ -~]{0,20}") {
        let mut map = HeaderMap::new();
        map.insert(HeaderName::from_static(ID_HEADER), HeaderValue::from_static("msg_1"));
        if let (Ok(ts), Ok(sig)) = (HeaderValue::from_str(&timestamp), HeaderValue::from_str(&signature)) {
            map.insert(HeaderName::from_static(TIMESTAMP_HEADER), ts);
            map.insert(HeaderName::from_static(SIGNATURE_HEADER), sig);
        }
        let _ = Presented::parse(&map, 1_700_000_000, FIVE_MINUTES);
    }
}
