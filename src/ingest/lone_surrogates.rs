//! Lone surrogate escapes in the fields ingest reads. A sender that cuts text in the middle of
//! an emoji (JavaScript's `slice` on an error message, a model's output) sends `"\ud83d"`,
//! which `JSON.parse` and Postgres's `json` accept but serde_json refuses to build into a
//! string. Refused, the callback was a `400 invalid_json` its sender never retries: lost. Such
//! an escape in a field ingest reads stands for U+FFFD instead; the body is stored as received.

/// Parses `body` with `parse`; if that fails and the body holds lone surrogate escapes, parses
/// it again with each of them read as `\ufffd`. The first error is kept when the second parse
/// fails too, or when there was nothing to replace.
pub fn parse_reading_lone_surrogates_as_replacement<T, E>(
    body: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, E>,
) -> Result<T, E> {
    parse(body).or_else(|error| match with_lone_surrogates_replaced(body) {
        Some(repaired) => parse(&repaired).map_err(|_| error),
        None => Err(error),
    })
}

/// `body` with every `\uXXXX` escape of a surrogate that is not one half of a pair written as
/// `\uD8xx\uDCxx` replaced by `\ufffd` (the same length), or `None` when there is none.
/// Only escapes inside strings are read: an escaped backslash (`\\ud83d`) is not one.
fn with_lone_surrogates_replaced(body: &[u8]) -> Option<Vec<u8>> {
    let mut repaired: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut at = 0;
    while at < body.len() {
        match (in_string, body[at]) {
            (false, b'"') => in_string = true,
            (false, _) => {}
            (true, b'"') => in_string = false,
            (true, b'\\') => {
                let Some(unit) = escaped_unit(body, at) else {
                    // `\"`, `\\`, `\n`, …: two bytes, neither of which ends the string.
                    at += 2;
                    continue;
                };
                let paired = match unit {
                    0xD800..=0xDBFF => escaped_unit(body, at + 6)
                        .is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)),
                    0xDC00..=0xDFFF => false,
                    _ => {
                        at += 6;
                        continue;
                    }
                };
                if paired {
                    at += 12;
                    continue;
                }
                repaired.get_or_insert_with(|| body.to_vec())[at..at + 6]
                    .copy_from_slice(b"\\ufffd");
                at += 6;
                continue;
            }
            (true, _) => {}
        }
        at += 1;
    }
    repaired
}

/// The code unit of a `\uXXXX` escape starting at `at`, if one starts there.
fn escaped_unit(body: &[u8], at: usize) -> Option<u16> {
    let escape = body.get(at..at + 6)?;
    if &escape[..2] != b"\\u" {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(body: &str) -> Option<String> {
        with_lone_surrogates_replaced(body.as_bytes())
            .map(|bytes| String::from_utf8(bytes).expect("still UTF-8"))
    }

    #[test]
    fn lone_halves_become_the_replacement_character_and_pairs_stay() {
        assert_eq!(
            repaired(r#"{"e":"cut \ud83d"}"#).as_deref(),
            Some(r#"{"e":"cut \ufffd"}"#)
        );
        assert_eq!(
            repaired(r#"{"e":"\uDE00 and \ud83d\ude00 and \uD83D"}"#).as_deref(),
            Some(r#"{"e":"\ufffd and \ud83d\ude00 and \ufffd"}"#)
        );
        assert_eq!(
            repaired(r#"{"\ud83dkey":"\ud83d\u0041"}"#).as_deref(),
            Some(r#"{"\ufffdkey":"\ufffd\u0041"}"#)
        );
    }

    #[test]
    fn bodies_without_lone_halves_are_left_alone() {
        for body in [
            r#"{"e":"\ud83d\ude00 \u00e9 \n \" \\"}"#,
            r#"{"e":"\\ud83d is text, not an escape"}"#,
            r#"{"e":"\ud83"}"#,
            r#"{"e":"ends with a backslash \"#,
            r#"{"e":"ends in an escape \ud83"#,
            "\\ud83d outside any string",
        ] {
            assert_eq!(repaired(body), None, "{body}");
        }
    }

    #[test]
    fn a_parse_that_fails_on_a_lone_half_is_tried_again_and_other_failures_stay() {
        let parse = |body: &[u8]| serde_json::from_slice::<String>(body).map_err(|e| e.to_string());
        assert_eq!(
            parse_reading_lone_surrogates_as_replacement(br#""boom \ud83d""#, parse),
            Ok("boom \u{fffd}".to_owned())
        );
        let broken = parse_reading_lone_surrogates_as_replacement(br#""boom \ud83d"#, parse)
            .expect_err("unterminated");
        assert_eq!(Err(broken), parse(br#""boom \ud83d"#));
    }
}
