//! Reads a JSON body keeping only what a source's JSON pointers can reach; everything else is
//! checked and skipped without being built. Built whole, a body nested deeper than serde_json's
//! 128 levels anywhere (a Replicate prediction's free-form `input` or `output`, say) was
//! refused as invalid JSON, a `400` its sender never retries. Skipping is iterative in
//! serde_json, so depth outside the named paths costs nothing; the values the pointers name are
//! still built whole, as before.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::lone_surrogates::parse_reading_lone_surrogates_as_replacement;

/// The paths a set of JSON pointers (RFC 6901) can reach, as a tree of unescaped tokens.
#[derive(Debug, Default)]
pub struct Wanted {
    children: BTreeMap<String, Wanted>,
    /// A pointer ends here: the value is built whole.
    whole: bool,
}

impl Wanted {
    pub fn new<'a>(pointers: impl IntoIterator<Item = &'a str>) -> Wanted {
        let mut root = Wanted::default();
        for pointer in pointers {
            let mut node = &mut root;
            // "" names the whole document; every other pointer starts with "/".
            for token in pointer.split('/').skip(1) {
                let token = token.replace("~1", "/").replace("~0", "~");
                node = node.children.entry(token).or_default();
            }
            node.whole = true;
        }
        root
    }

    /// The body with only the wanted paths filled in: `value.pointer(p)` gives what it gives on
    /// the whole document for every wanted `p`. Skipped array elements before a wanted index
    /// are `null`, so that indexes stay where they were. A lone surrogate escape reads as
    /// U+FFFD, as in the known fields' payload.
    pub fn parse(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        parse_reading_lone_surrogates_as_replacement(body, |body| self.parse_as_sent(body))
    }

    fn parse_as_sent(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let value = self.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }
}

impl<'de> DeserializeSeed<'de> for &Wanted {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.whole {
            return serde::Deserialize::deserialize(deserializer);
        }
        deserializer.deserialize_any(Along(self))
    }
}

/// Builds a value on a wanted path: its wanted members, skipping the rest.
struct Along<'w>(&'w Wanted);

impl<'de> Visitor<'de> for Along<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.0.children.get(&key) {
                Some(child) => {
                    kept.insert(key, map.next_value_seed(child)?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut kept = Vec::new();
        if let Some(last_wanted) = self.0.children.keys().filter_map(|t| index(t)).max() {
            for at in 0..=last_wanted {
                let element = match self.0.children.get(&at.to_string()) {
                    Some(child) => seq.next_element_seed(child)?,
                    // A placeholder keeps the later wanted indexes where they were.
                    None => seq.next_element::<IgnoredAny>()?.map(|_| Value::Null),
                };
                match element {
                    Some(value) => kept.push(value),
                    None => return Ok(Value::Array(kept)),
                }
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(kept))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An array index as serde_json's `pointer` reads one: digits, no leading zero.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_wanted_paths_read_as_on_the_whole_document() {
        let body = br#"{"id":"p1","status":"succeeded","data":{"id":7,"x":[1,2]},
            "output":["a","b","c"],"error":{"code":"E1","detail":[{"m":1}]},"a/b":1,"m~n":2}"#;
        let pointers = [
            "/id",
            "/status",
            "/data/id",
            "/output/1",
            "/error",
            "/missing/deep",
            "/a~1b",
            "/m~0n",
            "/status/0",
        ];
        let shallow = Wanted::new(pointers).parse(body).expect("valid");
        let whole: Value = serde_json::from_slice(body).expect("valid");
        for pointer in pointers {
            assert_eq!(
                shallow.pointer(pointer),
                whole.pointer(pointer),
                "{pointer}"
            );
        }
        assert_eq!(
            shallow.pointer("/data/x"),
            None,
            "unwanted members are skipped"
        );
    }

    #[test]
    fn nesting_outside_the_wanted_paths_is_skipped_however_deep() {
        let deep = format!(
            r#"{{"id":"p1","input":{}1{},"data":{{"deep":{}1{},"id":7}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000),
            "{\"a\":".repeat(100_000),
            "}".repeat(100_000)
        );
        assert!(serde_json::from_slice::<Value>(deep.as_bytes()).is_err());
        let value = Wanted::new(["/id", "/data/id"])
            .parse(deep.as_bytes())
            .expect("deep elsewhere is fine");
        assert_eq!(value.pointer("/id"), Some(&json!("p1")));
        assert_eq!(value.pointer("/data/id"), Some(&json!(7)));
    }

    #[test]
    fn broken_json_is_still_refused() {
        let wanted = Wanted::new(["/id"]);
        for body in [
            &br#"{"id":"p1","x":[1,2}"#[..],
            br#"{"id":"p1"} trailing"#,
            b"",
        ] {
            assert!(
                wanted.parse(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_shape_of_the_document_is_kept() {
        let wanted = Wanted::new(["/id"]);
        assert!(wanted.parse(b"[1,2]").expect("valid").is_array());
        assert!(wanted.parse(b"\"text\"").expect("valid").is_string());
        assert!(wanted.parse(b"{}").expect("valid").is_object());
    }
}
