//! Where a source's JSON body keeps what Hookbox indexes. The LLM-callback contract has fixed
//! field names (payload.rs); every other source maps its own body onto the same columns with
//! templates over JSON pointers (RFC 6901):
//!
//! - `"/data/id"`: the value at that pointer;
//! - `"prediction.{/status}"`: text with placeholders, each `{/pointer}`, `{/pointer|head}`
//!   (up to the last `.`), `{/pointer|tail}` (after the last `.`) or `{header:name}`;
//! - a list of templates: the first one whose placeholders all resolve wins.
//!
//! A pointer that leads nowhere or to `null` leaves its template unresolved; one that leads to
//! a value of the wrong kind is a 400 naming the field.

use actix_web::http::header::{HeaderMap, HeaderName};
use serde_json::Value;

use super::payload::{parse_timestamp, type_name, CallbackPayload, Identifier, PayloadError};
use super::shallow_json::Wanted;

pub enum Mapping {
    /// The LLM-callback contract: strict, fixed field names.
    LlmCallback,
    Fields(FieldMap),
}

pub struct FieldMap {
    pub job_id: Rule,
    pub event: Rule,
    pub workflow_name: Option<Rule>,
    pub status: Option<Rule>,
    pub error_message: Option<Rule>,
    pub timestamp: Option<Rule>,
}

/// Alternatives, tried in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule(Vec<Template>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Pointer(String, Filter),
    Header(HeaderName),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filter {
    Whole,
    Head,
    Tail,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.starts_with('/') && !text.contains(['{', '}']) {
            return Ok(Template {
                text: text.to_owned(),
                parts: vec![Part::Pointer(text.to_owned(), Filter::Whole)],
            });
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("unmatched `}}` in {text:?}"));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in {text:?}"))?;
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            parts.push(placeholder(&rest[open + 1..open + close])?);
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("a field template must not be empty".into());
        }
        Ok(Template {
            text: text.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pointer when the template is exactly one unfiltered pointer.
    pub fn plain_pointer(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Pointer(pointer, Filter::Whole)] => Some(pointer),
            _ => None,
        }
    }

    /// The first pointer the template reads, if any (to build a sample body).
    pub fn first_pointer(&self) -> Option<&str> {
        self.pointers().next()
    }

    fn pointers(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Pointer(pointer, _) => Some(pointer.as_str()),
            _ => None,
        })
    }

    /// `Ok(None)` when a placeholder does not resolve.
    fn render(
        &self,
        field: &str,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<String>, PayloadError> {
        let mut out = String::new();
        for part in &self.parts {
            let piece = match part {
                Part::Literal(text) => text.clone(),
                Part::Header(name) => match headers.get(name).and_then(|v| v.to_str().ok()) {
                    Some(value) => value.to_owned(),
                    None => return Ok(None),
                },
                Part::Pointer(pointer, filter) => match body.pointer(pointer) {
                    None | Some(Value::Null) => return Ok(None),
                    Some(Value::String(text)) => filter.apply(text).to_owned(),
                    Some(Value::Number(number)) => filter.apply(&number.to_string()).to_owned(),
                    Some(other) => {
                        return Err(PayloadError::InvalidPayload(format!(
                            "`{field}` ({pointer}) must be a string or a number, not {}",
                            type_name(other)
                        )))
                    }
                },
            };
            out.push_str(&piece);
        }
        Ok(Some(out))
    }
}

fn placeholder(inner: &str) -> Result<Part, String> {
    if let Some(name) = inner.strip_prefix("header:") {
        return HeaderName::from_bytes(name.trim().as_bytes())
            .map(Part::Header)
            .map_err(|_| format!("{name:?} is not a header name"));
    }
    let (pointer, filter) = match inner.split_once('|') {
        None => (inner, Filter::Whole),
        Some((pointer, "head")) => (pointer, Filter::Head),
        Some((pointer, "tail")) => (pointer, Filter::Tail),
        Some((_, other)) => return Err(format!("unknown filter {other:?} (use `head` or `tail`)")),
    };
    if !pointer.starts_with('/') {
        return Err(format!(
            "{{{inner}}} must be a JSON pointer starting with `/`, or `header:<name>`"
        ));
    }
    Ok(Part::Pointer(pointer.to_owned(), filter))
}

impl Filter {
    fn apply(self, text: &str) -> &str {
        match (self, text.rsplit_once('.')) {
            (Filter::Whole, _) | (_, None) => text,
            (Filter::Head, Some((head, _))) => head,
            (Filter::Tail, Some((_, tail))) => tail,
        }
    }
}

impl Rule {
    pub fn new(templates: Vec<Template>) -> Rule {
        Rule(templates)
    }

    pub fn parse(texts: &[&str]) -> Result<Rule, String> {
        texts
            .iter()
            .map(|t| Template::parse(t))
            .collect::<Result<_, _>>()
            .map(Rule)
    }

    pub fn templates(&self) -> &[Template] {
        &self.0
    }

    fn text(
        &self,
        field: &str,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<String>, PayloadError> {
        for template in &self.0 {
            if let Some(text) = template.render(field, body, headers)? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// The raw value for a plain pointer (so a timestamp may be a number), else the text.
    fn value(
        &self,
        field: &str,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<Value>, PayloadError> {
        for template in &self.0 {
            if let Some(pointer) = template.plain_pointer() {
                match body.pointer(pointer) {
                    None | Some(Value::Null) => continue,
                    Some(value) => return Ok(Some(value.clone())),
                }
            }
            if let Some(text) = template.render(field, body, headers)? {
                return Ok(Some(Value::String(text)));
            }
        }
        Ok(None)
    }

    fn describe(&self) -> String {
        let texts: Vec<_> = self.0.iter().map(Template::as_str).collect();
        texts.join(", ")
    }
}

impl Mapping {
    /// Parses the verified body into the indexed fields.
    pub fn parse(&self, body: &[u8], headers: &HeaderMap) -> Result<CallbackPayload, PayloadError> {
        match self {
            Mapping::LlmCallback => CallbackPayload::parse(body),
            Mapping::Fields(fields) => fields.parse(body, headers),
        }
    }
}

impl FieldMap {
    fn parse(&self, body: &[u8], headers: &HeaderMap) -> Result<CallbackPayload, PayloadError> {
        let value = Wanted::new(self.pointers())
            .parse(body)
            .map_err(|error| PayloadError::InvalidJson(error.to_string()))?;
        if !value.is_object() {
            return Err(PayloadError::InvalidPayload(
                "the payload must be a JSON object".into(),
            ));
        }
        let identifier = |field: &str, rule: &Rule| -> Result<Option<Identifier>, PayloadError> {
            rule.text(field, &value, headers)?
                .map(|text| Identifier::parse(field, &text))
                .transpose()
        };
        let required = |field: &str, rule: &Rule| -> Result<Identifier, PayloadError> {
            identifier(field, rule)?.ok_or_else(|| {
                PayloadError::InvalidPayload(format!(
                    "`{field}` is required: nothing found at {}",
                    rule.describe()
                ))
            })
        };
        let optional = |field: &str, rule: &Option<Rule>| {
            rule.as_ref()
                .map_or(Ok(None), |rule| identifier(field, rule))
        };
        Ok(CallbackPayload {
            job_id: required("job_id", &self.job_id)?,
            event: required("event", &self.event)?,
            workflow_name: optional("workflow_name", &self.workflow_name)?,
            status: optional("status", &self.status)?,
            error_message: self.error_message(&value, headers)?,
            sent_at: match &self.timestamp {
                None => None,
                Some(rule) => rule
                    .value("timestamp", &value, headers)?
                    .map(parse_timestamp)
                    .transpose()?,
            },
        })
    }

    /// Every pointer any field's templates read.
    fn pointers(&self) -> impl Iterator<Item = &str> {
        [
            &self.workflow_name,
            &self.status,
            &self.error_message,
            &self.timestamp,
        ]
        .into_iter()
        .flatten()
        .chain([&self.job_id, &self.event])
        .flat_map(|rule| rule.0.iter().flat_map(Template::pointers))
    }

    /// Free text; an error object (as some senders give) is kept as compact JSON.
    fn error_message(
        &self,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<String>, PayloadError> {
        let Some(rule) = &self.error_message else {
            return Ok(None);
        };
        let text = match rule.value("error_message", body, headers)? {
            None => None,
            Some(Value::String(text)) => Some(text),
            Some(other) => Some(other.to_string()),
        };
        Ok(text.map(|t| t.replace('\0', "\u{fffd}")))
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
