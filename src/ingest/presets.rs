//! Presets: what most users write instead of a scheme and a field mapping. Each names the
//! signature scheme its sender uses, where its body keeps the indexed fields, and its
//! idempotency key.

use super::delivery::IdempotencyRule;
use super::mapping::{FieldMap, Mapping, Rule};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Hookbox's own contract: `X-Webhook-Signature: sha256=<hex>`, fixed field names.
    LlmCallback,
    /// OpenAI webhooks (`batch.completed`, `fine_tuning.job.failed`, `response.completed`, …).
    OpenAi,
    /// Replicate prediction webhooks: the body is the prediction object.
    Replicate,
    /// Any Standard Webhooks sender with the spec's `{type, timestamp, data}` payload.
    StandardWebhooks,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemeKind {
    HmacSha256Hex,
    StandardWebhooks,
}

pub const NAMES: &str = "llm-callback, openai, replicate, standard-webhooks";

impl Preset {
    pub fn parse(name: &str) -> Option<Preset> {
        match name {
            "llm-callback" => Some(Preset::LlmCallback),
            "openai" => Some(Preset::OpenAi),
            "replicate" => Some(Preset::Replicate),
            "standard-webhooks" => Some(Preset::StandardWebhooks),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::LlmCallback => "llm-callback",
            Preset::OpenAi => "openai",
            Preset::Replicate => "replicate",
            Preset::StandardWebhooks => "standard-webhooks",
        }
    }

    pub fn scheme(self) -> SchemeKind {
        match self {
            Preset::LlmCallback => SchemeKind::HmacSha256Hex,
            Preset::OpenAi | Preset::Replicate | Preset::StandardWebhooks => {
                SchemeKind::StandardWebhooks
            }
        }
    }

    pub fn idempotency(self) -> IdempotencyRule {
        match self {
            Preset::LlmCallback => IdempotencyRule::Auto,
            Preset::OpenAi | Preset::Replicate | Preset::StandardWebhooks => {
                IdempotencyRule::WebhookId
            }
        }
    }

    pub fn mapping(self) -> Mapping {
        match self {
            Preset::LlmCallback => Mapping::LlmCallback,
            Preset::OpenAi => Mapping::Fields(fields(PresetFields {
                job_id: &["/data/id"],
                event: &["/type"],
                // `fine_tuning.job.succeeded` → workflow `fine_tuning.job`, status `succeeded`.
                workflow_name: &["{/type|head}"],
                status: &["{/type|tail}"],
                error_message: &[],
                timestamp: &["/created_at"],
            })),
            Preset::Replicate => Mapping::Fields(fields(PresetFields {
                job_id: &["/id"],
                event: &["prediction.{/status}"],
                workflow_name: &["/model", "/version"],
                status: &["/status"],
                error_message: &["/error"],
                timestamp: &["/completed_at", "/started_at", "/created_at"],
            })),
            Preset::StandardWebhooks => Mapping::Fields(fields(PresetFields {
                job_id: &["/data/id", "/id", "{header:webhook-id}"],
                event: &["/type"],
                workflow_name: &["{/type|head}"],
                status: &["/data/status", "{/type|tail}"],
                error_message: &["/data/error", "/data/error_message"],
                timestamp: &["/timestamp"],
            })),
        }
    }
}

struct PresetFields {
    job_id: &'static [&'static str],
    event: &'static [&'static str],
    workflow_name: &'static [&'static str],
    status: &'static [&'static str],
    error_message: &'static [&'static str],
    timestamp: &'static [&'static str],
}

fn fields(spec: PresetFields) -> FieldMap {
    // The preset templates are constants checked by the tests below; an empty list means
    // the sender has no such field.
    let rule = |texts: &[&str]| Rule::parse(texts).unwrap_or_else(|_| Rule::new(Vec::new()));
    let optional = |texts: &[&str]| (!texts.is_empty()).then(|| rule(texts));
    FieldMap {
        job_id: rule(spec.job_id),
        event: rule(spec.event),
        workflow_name: optional(spec.workflow_name),
        status: optional(spec.status),
        error_message: optional(spec.error_message),
        timestamp: optional(spec.timestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_template_parses_and_names_round_trip() {
        for preset in [
            Preset::LlmCallback,
            Preset::OpenAi,
            Preset::Replicate,
            Preset::StandardWebhooks,
        ] {
            assert_eq!(Preset::parse(preset.name()), Some(preset));
            if let Mapping::Fields(map) = preset.mapping() {
                assert!(!map.job_id.templates().is_empty(), "{preset:?} job_id");
                assert!(!map.event.templates().is_empty(), "{preset:?} event");
            }
        }
        assert_eq!(Preset::parse("stripe"), None);
    }
}
