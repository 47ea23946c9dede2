//! Opaque page cursors: base64url of `v1:<callback id>` for the callbacks' lists, `r1:<id>` for
//! the rejection log. Clients must not build them; the prefix says which list a cursor is of
//! (one of the other list is refused, not read as a position in this one) and leaves room to
//! change what is inside.

use std::marker::PhantomData;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::auth::ApiError;

/// Longer input cannot be a cursor of ours; refused before decoding.
const MAX_LEN: usize = 64;

/// The list a cursor is a position in, by its prefix.
pub trait List {
    const PREFIX: &'static str;
}

/// The callbacks' lists: check, history, view-all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Callbacks;

impl List for Callbacks {
    const PREFIX: &'static str = "v1:";
}

/// The rejection log, whose ids are not callbacks'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejections;

impl List for Rejections {
    const PREFIX: &'static str = "r1:";
}

/// A position in list `L`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position<L>(i64, PhantomData<L>);

pub type Cursor = Position<Callbacks>;
pub type RejectionCursor = Position<Rejections>;

impl<L: List> Position<L> {
    pub fn at(id: i64) -> Position<L> {
        Position(id.max(0), PhantomData)
    }

    pub fn id(self) -> i64 {
        self.0
    }

    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}", L::PREFIX, self.0))
    }

    pub fn decode(text: &str) -> Result<Position<L>, ApiError> {
        if text.len() > MAX_LEN {
            return Err(ApiError::InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| ApiError::InvalidCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::InvalidCursor)?;
        let digits = text
            .strip_prefix(L::PREFIX)
            .ok_or(ApiError::InvalidCursor)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::InvalidCursor);
        }
        digits
            .parse::<i64>()
            .map(Position::at)
            .map_err(|_| ApiError::InvalidCursor)
    }

    /// An optional query parameter: absent or empty is `None`.
    pub fn decode_optional(text: Option<&str>) -> Result<Option<Position<L>>, ApiError> {
        match text {
            None | Some("") => Ok(None),
            Some(text) => Position::decode(text).map(Some),
        }
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
