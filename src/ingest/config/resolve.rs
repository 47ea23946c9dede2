//! From what the file says to a `Source`: presets filled in, secrets read, templates parsed.
//! Each refusal carries the span and dotted path of the value at fault.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use toml::Spanned;

use super::model::{OneOrMany, SecretModel, SourceModel};
use crate::ingest::delivery::IdempotencyRule;
use crate::ingest::mapping::{FieldMap, Mapping, Rule, Template};
use crate::ingest::presets::{self, Preset, SchemeKind};
use crate::ingest::scheme::{Scheme, DEFAULT_REPLAY_TOLERANCE};
use crate::ingest::secrets::SecretSet;
use crate::ingest::source::{Source, DEFAULT_BODY_LIMIT};
use crate::ingest::standard_webhooks;

const MAX_BODY_LIMIT: u64 = 64 << 20;

/// A refusal before the file position is turned into a line number.
pub struct Fault {
    pub span: Range<usize>,
    pub field: String,
    pub message: String,
}

fn fault<T>(
    span: Range<usize>,
    field: impl Into<String>,
    message: impl Into<String>,
) -> Result<T, Fault> {
    Err(Fault {
        span,
        field: field.into(),
        message: message.into(),
    })
}

/// A source whose secrets may still be the server's default (`llm-callback` without
/// `secrets`), which is resolved only when some source needs it.
pub struct Draft {
    pub secrets: Option<SecretSet>,
    pub build: Box<dyn FnOnce(SecretSet) -> Source + Send>,
}

pub fn source(
    name: &Spanned<String>,
    model: &SourceModel,
    base_dir: &Path,
) -> Result<Draft, Fault> {
    let path = format!("sources.{}", name.get_ref());
    check_name(name, &path)?;
    let preset = match &model.preset {
        None => None,
        Some(text) => Some(Preset::parse(text.get_ref()).map_or_else(
            || {
                fault(
                    text.span(),
                    format!("{path}.preset"),
                    format!(
                        "unknown preset {:?}; use one of {}",
                        text.get_ref(),
                        presets::NAMES
                    ),
                )
            },
            Ok,
        )?),
    };
    let kind = scheme_kind(model, preset, &path, name.span())?;
    let secrets = match &model.secrets {
        Some(list) => Some(secrets(list, kind, &path, base_dir)?),
        None if preset == Some(Preset::LlmCallback) => None,
        None => {
            return fault(
                name.span(),
                format!("{path}.secrets"),
                "at least one secret is required",
            )
        }
    };
    let body_limit = match &model.body_limit_bytes {
        None => DEFAULT_BODY_LIMIT,
        Some(limit) if (1..=MAX_BODY_LIMIT).contains(limit.get_ref()) => *limit.get_ref() as usize,
        Some(limit) => {
            return fault(
                limit.span(),
                format!("{path}.body_limit_bytes"),
                format!("must be 1 to {MAX_BODY_LIMIT}"),
            )
        }
    };
    let idempotency = match &model.idempotency_key {
        None => preset.map_or(IdempotencyRule::Auto, Preset::idempotency),
        Some(text) => IdempotencyRule::parse(text.get_ref())
            .or_else(|m| fault(text.span(), format!("{path}.idempotency_key"), m))?,
    };
    let mapping = mapping(model, preset, &path, name.span())?;
    let scheme = scheme_builder(model, kind, &path)?;
    let source_name = name.get_ref().clone();
    Ok(Draft {
        secrets,
        build: Box::new(move |secrets| Source {
            name: source_name,
            scheme: scheme(secrets),
            body_limit,
            mapping,
            idempotency,
            preset,
        }),
    })
}

fn check_name(name: &Spanned<String>, path: &str) -> Result<(), Fault> {
    let text = name.get_ref();
    let valid = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if valid {
        return Ok(());
    }
    fault(
        name.span(),
        path,
        "a source name is 1-64 of a-z 0-9 - _ . (it is the URL /api/webhooks/<name>)",
    )
}

fn scheme_kind(
    model: &SourceModel,
    preset: Option<Preset>,
    path: &str,
    span: Range<usize>,
) -> Result<SchemeKind, Fault> {
    let field = format!("{path}.scheme");
    let given = match &model.scheme {
        None => None,
        Some(text) => Some(match text.get_ref().as_str() {
            "hmac-sha256-hex" => (SchemeKind::HmacSha256Hex, text.span()),
            "standard-webhooks" => (SchemeKind::StandardWebhooks, text.span()),
            other => {
                return fault(
                    text.span(),
                    field,
                    format!("unknown scheme {other:?}; use hmac-sha256-hex or standard-webhooks"),
                )
            }
        }),
    };
    match (preset, given) {
        (None, None) => fault(span, field, "give a `preset` or a `scheme`"),
        (None, Some((kind, _))) => Ok(kind),
        (Some(preset), None) => Ok(preset.scheme()),
        (Some(preset), Some((kind, _))) if kind == preset.scheme() => Ok(kind),
        (Some(preset), Some((_, span))) => fault(
            span,
            field,
            format!(
                "preset {} uses another scheme; leave `scheme` out",
                preset.name()
            ),
        ),
    }
}

type SchemeBuilder = Box<dyn FnOnce(SecretSet) -> Scheme + Send>;

fn scheme_builder(
    model: &SourceModel,
    kind: SchemeKind,
    path: &str,
) -> Result<SchemeBuilder, Fault> {
    match kind {
        SchemeKind::HmacSha256Hex => {
            if let Some(t) = &model.replay_tolerance_secs {
                return fault(t.span(), format!("{path}.replay_tolerance_secs"), "hmac-sha256-hex carries no timestamp; only standard-webhooks has a replay tolerance");
            }
            let header = match &model.signature_header {
                None => HeaderName::from_static("x-webhook-signature"),
                Some(text) => HeaderName::from_bytes(text.get_ref().as_bytes()).or_else(|_| {
                    fault(
                        text.span(),
                        format!("{path}.signature_header"),
                        "not a valid header name",
                    )
                })?,
            };
            let prefixed = match &model.signature_prefix {
                None => true,
                Some(text) => match text.get_ref().as_str() {
                    "sha256=" => true,
                    "" => false,
                    _ => {
                        return fault(
                            text.span(),
                            format!("{path}.signature_prefix"),
                            "must be \"sha256=\" or \"\" (bare hex)",
                        )
                    }
                },
            };
            Ok(Box::new(move |secrets| Scheme::HmacSha256Hex {
                header,
                prefixed,
                secrets,
            }))
        }
        SchemeKind::StandardWebhooks => {
            for (field, value) in [
                ("signature_header", &model.signature_header),
                ("signature_prefix", &model.signature_prefix),
            ] {
                if let Some(v) = value {
                    return fault(
                        v.span(),
                        format!("{path}.{field}"),
                        "standard-webhooks always uses the webhook-signature header",
                    );
                }
            }
            let tolerance = match &model.replay_tolerance_secs {
                None => DEFAULT_REPLAY_TOLERANCE,
                Some(t) if (1..=86_400).contains(t.get_ref()) => Duration::from_secs(*t.get_ref()),
                Some(t) => {
                    return fault(
                        t.span(),
                        format!("{path}.replay_tolerance_secs"),
                        "must be 1 to 86400 seconds",
                    )
                }
            };
            Ok(Box::new(move |secrets| Scheme::StandardWebhooks {
                secrets,
                tolerance,
            }))
        }
    }
}

fn mapping(
    model: &SourceModel,
    preset: Option<Preset>,
    path: &str,
    span: Range<usize>,
) -> Result<Mapping, Fault> {
    let base = preset.map(Preset::mapping);
    let Some(fields) = &model.fields else {
        return match base {
            Some(mapping) => Ok(mapping),
            None => fault(
                span,
                format!("{path}.fields"),
                "a source without a preset needs `fields` with at least job_id and event",
            ),
        };
    };
    let mut map = match base {
        Some(Mapping::LlmCallback) => {
            return fault(
                fields.span(),
                format!("{path}.fields"),
                "the llm-callback contract has fixed fields; leave `fields` out",
            )
        }
        Some(Mapping::Fields(map)) => map,
        None => FieldMap {
            job_id: Rule::new(Vec::new()),
            event: Rule::new(Vec::new()),
            workflow_name: None,
            status: None,
            error_message: None,
            timestamp: None,
        },
    };
    for (name, value) in fields.get_ref().given() {
        let rule = rule(value, &format!("{path}.fields.{name}"))?;
        match name {
            "job_id" => map.job_id = rule,
            "event" => map.event = rule,
            "workflow_name" => map.workflow_name = Some(rule),
            "status" => map.status = Some(rule),
            "error_message" => map.error_message = Some(rule),
            _ => map.timestamp = Some(rule),
        }
    }
    for (name, rule) in [("job_id", &map.job_id), ("event", &map.event)] {
        if rule.templates().is_empty() {
            return fault(
                fields.span(),
                format!("{path}.fields.{name}"),
                "is required",
            );
        }
    }
    Ok(Mapping::Fields(map))
}

fn rule(value: &Spanned<OneOrMany>, field: &str) -> Result<Rule, Fault> {
    let texts = value.get_ref().texts();
    if texts.is_empty() {
        return fault(value.span(), field, "give at least one template");
    }
    let templates = texts
        .iter()
        .map(|t| Template::parse(t))
        .collect::<Result<Vec<_>, _>>();
    templates
        .map(Rule::new)
        .or_else(|m| fault(value.span(), field, m))
}

fn secrets(
    list: &Spanned<Vec<Spanned<SecretModel>>>,
    kind: SchemeKind,
    path: &str,
    base_dir: &Path,
) -> Result<SecretSet, Fault> {
    let mut entries = Vec::new();
    for (index, entry) in list.get_ref().iter().enumerate() {
        let field = format!("{path}.secrets[{index}]");
        let model = entry.get_ref();
        let text = match (&model.value, &model.env, &model.file) {
            (Some(value), None, None) => value.get_ref().clone(),
            (None, Some(var), None) => match std::env::var(var.get_ref()) {
                Ok(text) if !text.trim().is_empty() => text,
                _ => {
                    return fault(
                        var.span(),
                        format!("{field}.env"),
                        format!("environment variable {} is not set or empty", var.get_ref()),
                    )
                }
            },
            (None, None, Some(file)) => {
                let file_path = base_dir.join(file.get_ref());
                std::fs::read_to_string(&file_path).or_else(|e| {
                    fault(
                        file.span(),
                        format!("{field}.file"),
                        format!("cannot read {}: {e}", file_path.display()),
                    )
                })?
            }
            _ => {
                return fault(
                    entry.span(),
                    field,
                    "give exactly one of `value`, `env` or `file`",
                )
            }
        };
        let key = match kind {
            SchemeKind::HmacSha256Hex => text.trim().as_bytes().to_vec(),
            SchemeKind::StandardWebhooks => standard_webhooks::decode_secret(&text)
                .or_else(|m| fault(entry.span(), field.clone(), m))?,
        };
        entries.push((model.label.get_ref().clone(), key));
    }
    SecretSet::from_labelled(entries, "secrets")
        .or_else(|e| fault(list.span(), format!("{path}.secrets"), e.to_string()))
}
