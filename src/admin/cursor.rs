//! Opaque page cursors: base64url of `v1:<callback id>` for the callbacks' lists, `r1:<id>` for
//! the rejection log. Clients must not build them; the prefix says which list a cursor is of
//! (one of the other list is refused, not read as a position in this one) and leaves room to
//! change what is inside.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::auth::ApiError;

const PREFIX: &str = "v1:";
const REJECTIONS_PREFIX: &str = "r1:";
/// Longer input cannot be a cursor of ours; refused before decoding.
const MAX_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor(i64);

impl Cursor {
    pub fn at(id: i64) -> Cursor {
        Cursor(id.max(0))
    }

    pub fn id(self) -> i64 {
        self.0
    }

    pub fn encode(self) -> String {
        encode(PREFIX, self.0)
    }

    pub fn decode(text: &str) -> Result<Cursor, ApiError> {
        decode(PREFIX, text).map(Cursor)
    }

    /// An optional query parameter: absent or empty is `None`.
    pub fn decode_optional(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
        optional(text, Cursor::decode)
    }
}

/// A position in the rejection log, whose ids are not callbacks'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectionCursor(i64);

impl RejectionCursor {
    pub fn at(id: i64) -> RejectionCursor {
        RejectionCursor(id.max(0))
    }

    pub fn id(self) -> i64 {
        self.0
    }

    pub fn encode(self) -> String {
        encode(REJECTIONS_PREFIX, self.0)
    }

    /// An optional query parameter: absent or empty is `None`.
    pub fn decode_optional(text: Option<&str>) -> Result<Option<RejectionCursor>, ApiError> {
        optional(text, |text| {
            decode(REJECTIONS_PREFIX, text).map(RejectionCursor)
        })
    }
}

fn encode(prefix: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{prefix}{id}"))
}

fn decode(prefix: &str, text: &str) -> Result<i64, ApiError> {
    if text.len() > MAX_LEN {
        return Err(ApiError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| ApiError::InvalidCursor)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::InvalidCursor)?;
    let digits = text.strip_prefix(prefix).ok_or(ApiError::InvalidCursor)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::InvalidCursor);
    }
    digits.parse::<i64>().map_err(|_| ApiError::InvalidCursor)
}

fn optional<T>(
    text: Option<&str>,
    decode: impl FnOnce(&str) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => decode(text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cursor_of_one_list_is_refused_by_the_other() {
        let rejection = RejectionCursor::at(42).encode();
        assert_eq!(rejection, "cjE6NDI");
        assert!(matches!(
            Cursor::decode(&rejection),
            Err(ApiError::InvalidCursor)
        ));
        assert!(matches!(
            RejectionCursor::decode_optional(Some(&Cursor::at(42).encode())),
            Err(ApiError::InvalidCursor)
        ));
        assert_eq!(
            RejectionCursor::decode_optional(Some(&rejection)).ok(),
            Some(Some(RejectionCursor::at(42)))
        );
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "!!",
            "djE6",
            "djE6LTE",
            "eDox",
            "djE6MSA",
            &"A".repeat(65),
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(ApiError::InvalidCursor)),
                "{bad:?} must be refused"
            );
        }
    }

    proptest! {
        #[test]
        fn every_cursor_round_trips(id in 0i64..=i64::MAX) {
            prop_assert_eq!(Cursor::decode(&Cursor::at(id).encode()).ok(), Some(Cursor::at(id)));
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".{0,100}") {
            let _ = Cursor::decode(&text);
        }

        #[test]
        fn decoding_arbitrary_base64_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = Cursor::decode(&URL_SAFE_NO_PAD.encode(bytes));
        }
    }
}
