//! Realistic sample bodies, shaped as each kind of sender shapes them.

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::ingest::mapping::{FieldMap, Mapping, Rule};
use crate::ingest::presets::Preset;
use crate::ingest::source::{IdempotencyRule, Source};

pub struct SampleOptions {
    pub event: Option<String>,
    pub status: String,
    pub job_id: Option<String>,
    pub workflow: String,
}

impl SampleOptions {
    fn failed(&self) -> bool {
        ["failed", "error"]
            .iter()
            .any(|s| self.status.eq_ignore_ascii_case(s))
    }
}

pub(super) fn random_id(prefix: &str, bytes: usize) -> String {
    let random: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    format!("{prefix}{}", hex::encode(random))
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn sample_body(source: &Source, options: &SampleOptions) -> Result<Value, String> {
    let mut body = match (source.preset, &source.mapping) {
        (Some(Preset::LlmCallback), _) | (_, Mapping::LlmCallback) => llm_callback(options),
        (Some(Preset::OpenAi), _) => openai(options),
        (Some(Preset::Replicate), _) => replicate(options),
        (Some(Preset::StandardWebhooks), _) => standard_webhooks(options),
        (None, Mapping::Fields(fields)) => from_mapping(fields, options)?,
    };
    // A source keyed on a pointer refuses a body without an id there; its sender puts one.
    if let IdempotencyRule::Pointer(pointer) = &source.idempotency {
        if !matches!(
            body.pointer(pointer),
            Some(Value::String(_) | Value::Number(_))
        ) {
            set_pointer(&mut body, pointer, json!(random_id("evt_", 12)));
        }
    }
    Ok(body)
}

fn llm_callback(o: &SampleOptions) -> Value {
    let failed = o.failed();
    let mut body = json!({
        "event": o.event.as_deref().unwrap_or("workflow.completed"),
        "job_id": o.job_id.clone().unwrap_or_else(|| random_id("job_", 6)),
        "workflow_name": o.workflow,
        "status": o.status,
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "duration_ms": 4213,
        "result": if failed { Value::Null } else { json!({
            "model": "gpt-4o-mini",
            "output": "Quarterly revenue rose 12% on subscription growth; churn fell to 2.1%.",
            "usage": { "prompt_tokens": 1812, "completion_tokens": 164, "total_tokens": 1976 },
            "steps": [
                { "name": "fetch-document", "status": "completed", "duration_ms": 310 },
                { "name": "summarize", "status": "completed", "duration_ms": 3790 }
            ]
        }) },
    });
    if failed {
        body["error_message"] =
            json!("upstream model timed out after 3 retries (504 from provider)");
    }
    body
}

/// An OpenAI webhook event: `{id, object, created_at, type, data: {id}}`.
fn openai(o: &SampleOptions) -> Value {
    let default_event = if o.failed() {
        "batch.failed"
    } else {
        "batch.completed"
    };
    let event = o.event.as_deref().unwrap_or(default_event);
    let object_prefix = match event.split('.').next() {
        Some("batch") => "batch_",
        Some("fine_tuning") => "ftjob_",
        Some("response") => "resp_",
        Some("eval") => "evalrun_",
        _ => "obj_",
    };
    json!({
        "id": random_id("evt_", 16),
        "object": "event",
        "created_at": Utc::now().timestamp(),
        "type": event,
        "data": { "id": o.job_id.clone().unwrap_or_else(|| random_id(object_prefix, 12)) },
    })
}

/// A Replicate prediction object as its webhooks post it.
fn replicate(o: &SampleOptions) -> Value {
    let status = match o.status.as_str() {
        "completed" => "succeeded",
        other => other,
    };
    let id = o.job_id.clone().unwrap_or_else(|| random_id("", 13));
    let failed = status == "failed";
    json!({
        "id": id,
        "model": "meta/meta-llama-3-8b-instruct",
        "version": random_id("", 32),
        "input": { "prompt": "Summarize the quarterly report in one sentence.", "max_tokens": 128 },
        "logs": "Prompt processed in 0.21 s\n",
        "output": if failed { Value::Null } else { json!(["Revenue rose 12%", " on subscription growth."]) },
        "error": if failed { json!("CUDA out of memory. Tried to allocate 2.00 GiB") } else { Value::Null },
        "status": status,
        "source": "api",
        "created_at": now_rfc3339(),
        "started_at": now_rfc3339(),
        "completed_at": now_rfc3339(),
        "metrics": { "predict_time": 1.873, "total_time": 2.104 },
        "urls": {
            "get": format!("https://api.replicate.com/v1/predictions/{id}"),
            "cancel": format!("https://api.replicate.com/v1/predictions/{id}/cancel"),
        },
    })
}

/// The spec's recommended payload: `{type, timestamp, data}`.
fn standard_webhooks(o: &SampleOptions) -> Value {
    let mut data = json!({
        "id": o.job_id.clone().unwrap_or_else(|| random_id("job_", 6)),
        "status": o.status,
        "workflow": o.workflow,
    });
    if o.failed() {
        data["error"] = json!("upstream model timed out after 3 retries");
    }
    json!({
        "type": o.event.as_deref().unwrap_or(if o.failed() { "job.failed" } else { "job.completed" }),
        "timestamp": now_rfc3339(),
        "data": data,
    })
}

/// For a custom mapping: each field's first pointer receives the sample value.
fn from_mapping(fields: &FieldMap, o: &SampleOptions) -> Result<Value, String> {
    let mut body = json!({});
    let job_id = o.job_id.clone().unwrap_or_else(|| random_id("job_", 6));
    let event = o.event.clone().unwrap_or_else(|| "completed".into());
    let mut entries: Vec<(&str, Option<&Rule>, Value)> = vec![
        ("job_id", Some(&fields.job_id), json!(job_id)),
        ("event", Some(&fields.event), json!(event)),
        (
            "workflow_name",
            fields.workflow_name.as_ref(),
            json!(o.workflow),
        ),
        ("status", fields.status.as_ref(), json!(o.status)),
        ("timestamp", fields.timestamp.as_ref(), json!(now_rfc3339())),
    ];
    if o.failed() {
        entries.push((
            "error_message",
            fields.error_message.as_ref(),
            json!("sample failure"),
        ));
    }
    for (field, rule, value) in entries {
        let pointer = rule.and_then(|r| r.templates().iter().find_map(|t| t.first_pointer()));
        match pointer {
            Some(pointer) => set_pointer(&mut body, pointer, value),
            None if matches!(field, "job_id" | "event") => {
                return Err(format!(
                    "cannot build a sample: `{field}` reads no JSON pointer"
                ));
            }
            None => {}
        }
    }
    Ok(body)
}

/// Sets `value` at an RFC 6901 pointer, creating objects on the way.
fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut node = root;
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if !node.is_object() {
            *node = json!({});
        }
        let Value::Object(map) = node else { return };
        if i + 1 == tokens.len() {
            map.insert(token.clone(), value);
            return;
        }
        node = map.entry(token.clone()).or_insert_with(|| json!({}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_pointer_builds_nested_objects_and_unescapes() {
        let mut body = json!({});
        set_pointer(&mut body, "/build/id", json!(7));
        set_pointer(&mut body, "/build/status", json!("ok"));
        set_pointer(&mut body, "/a~1b", json!(true));
        assert_eq!(
            body,
            json!({"build": {"id": 7, "status": "ok"}, "a/b": true})
        );
    }
}
