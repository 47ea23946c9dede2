//! The shape of `hookbox.toml`, as read. Every value keeps its position in the file so that
//! a refusal can name the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileModel {
    #[serde(default)]
    pub sources: BTreeMap<Spanned<String>, Spanned<SourceModel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceModel {
    pub preset: Option<Spanned<String>>,
    pub scheme: Option<Spanned<String>>,
    pub signature_header: Option<Spanned<String>>,
    pub signature_prefix: Option<Spanned<String>>,
    pub secrets: Option<Spanned<Vec<Spanned<SecretModel>>>>,
    pub body_limit_bytes: Option<Spanned<u64>>,
    pub replay_tolerance_secs: Option<Spanned<u64>>,
    pub idempotency_key: Option<Spanned<String>>,
    pub fields: Option<Spanned<FieldsModel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretModel {
    pub label: Spanned<String>,
    pub value: Option<Spanned<String>>,
    pub env: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsModel {
    pub job_id: Option<Spanned<OneOrMany>>,
    pub event: Option<Spanned<OneOrMany>>,
    pub workflow_name: Option<Spanned<OneOrMany>>,
    pub status: Option<Spanned<OneOrMany>>,
    pub error_message: Option<Spanned<OneOrMany>>,
    pub timestamp: Option<Spanned<OneOrMany>>,
}

impl FieldsModel {
    /// Each given field with its config name.
    pub fn given(&self) -> Vec<(&'static str, &Spanned<OneOrMany>)> {
        [
            ("job_id", &self.job_id),
            ("event", &self.event),
            ("workflow_name", &self.workflow_name),
            ("status", &self.status),
            ("error_message", &self.error_message),
            ("timestamp", &self.timestamp),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
        .collect()
    }
}

/// A template, or a list of alternatives.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn texts(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(text) => vec![text.as_str()],
            OneOrMany::Many(texts) => texts.iter().map(String::as_str).collect(),
        }
    }
}
