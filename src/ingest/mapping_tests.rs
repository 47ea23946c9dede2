use super::*;
use crate::ingest::presets::Preset;
use actix_web::http::header::HeaderValue;

fn map(preset: Preset, body: &str) -> Result<CallbackPayload, PayloadError> {
    map_with(preset, body, &HeaderMap::new())
}

fn map_with(
    preset: Preset,
    body: &str,
    headers: &HeaderMap,
) -> Result<CallbackPayload, PayloadError> {
    preset.mapping().parse(body.as_bytes(), headers)
}

fn columns(
    p: &CallbackPayload,
) -> (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    (
        p.job_id.as_str().to_owned(),
        p.event.as_str().to_owned(),
        p.workflow_name.as_ref().map(|v| v.as_str().to_owned()),
        p.status.as_ref().map(|v| v.as_str().to_owned()),
        p.error_message.clone(),
        p.sent_at.map(|t| t.to_string()),
    )
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[test]
fn openai_events_map_onto_job_event_workflow_and_status() {
    // The shape of OpenAI's webhook events (developers.openai.com, "Webhook Events").
    let cases = [
        ("batch.completed", "batch_abc123", "batch", "completed"),
        ("batch.failed", "batch_abc123", "batch", "failed"),
        ("batch.expired", "batch_abc123", "batch", "expired"),
        (
            "fine_tuning.job.succeeded",
            "ftjob_abc123",
            "fine_tuning.job",
            "succeeded",
        ),
        (
            "fine_tuning.job.failed",
            "ftjob_abc123",
            "fine_tuning.job",
            "failed",
        ),
        ("response.completed", "resp_abc123", "response", "completed"),
        ("response.failed", "resp_abc123", "response", "failed"),
        (
            "eval.run.canceled",
            "evalrun_abc123",
            "eval.run",
            "canceled",
        ),
    ];
    for (event, object_id, workflow, status) in cases {
        let body = format!(
            r#"{{"id":"evt_685343a1381c819085d44c354e1b330e","object":"event","created_at":1750287018,"type":"{event}","data":{{"id":"{object_id}"}}}}"#
        );
        let payload = map(Preset::OpenAi, &body).expect("maps");
        assert_eq!(
            columns(&payload),
            (
                object_id.into(),
                event.into(),
                some(workflow),
                some(status),
                None,
                some("2025-06-18 22:50:18")
            ),
            "{event}"
        );
    }
}

#[test]
fn replicate_predictions_map_with_an_event_derived_from_their_status() {
    // A finished prediction as Replicate posts it (replicate.com/docs, "Receive a webhook").
    let succeeded = r#"{"id":"gm3qorzdhgbfurvjtvhg6dckhu","model":"replicate/hello-world",
        "version":"5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
        "input":{"text":"Alice"},"logs":"","output":"hello Alice","error":null,"status":"succeeded",
        "created_at":"2023-09-08T16:19:34.765994Z","started_at":"2023-09-08T16:19:34.779176Z",
        "completed_at":"2023-09-08T16:19:34.791859Z","metrics":{"predict_time":0.012683},
        "urls":{"cancel":"https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
                "get":"https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu"}}"#;
    assert_eq!(
        columns(&map(Preset::Replicate, succeeded).expect("maps")),
        (
            "gm3qorzdhgbfurvjtvhg6dckhu".into(),
            "prediction.succeeded".into(),
            some("replicate/hello-world"),
            some("succeeded"),
            None,
            some("2023-09-08 16:19:34.791859"),
        )
    );
    let failed = r#"{"id":"xyz","version":"5c7d5dc6","status":"failed","error":"CUDA out of memory",
        "created_at":"2023-09-08T16:19:34Z","started_at":"2023-09-08T16:19:35Z","completed_at":"2023-09-08T16:19:40Z",
        "input":{},"output":null,"logs":"Traceback …","metrics":{}}"#;
    let payload = map(Preset::Replicate, failed).expect("maps");
    assert_eq!(payload.event.as_str(), "prediction.failed");
    assert_eq!(
        payload.workflow_name.as_ref().map(Identifier::as_str),
        Some("5c7d5dc6"),
        "version when no model"
    );
    assert_eq!(payload.error_message.as_deref(), Some("CUDA out of memory"));
    let starting = r#"{"id":"ufawqhfynnddngldkgtslldrkq","version":"5c7d5dc6","created_at":"2022-04-26T22:13:06.224088Z",
        "started_at":null,"completed_at":null,"status":"starting","input":{"text":"Alice"},"output":null,
        "error":null,"logs":null,"metrics":{}}"#;
    let payload = map(Preset::Replicate, starting).expect("maps");
    assert_eq!(payload.event.as_str(), "prediction.starting");
    assert_eq!(
        payload.sent_at.map(|t| t.to_string()).as_deref(),
        Some("2022-04-26 22:13:06.224088"),
        "falls back to created_at"
    );
}

#[test]
fn the_generic_standard_webhooks_preset_reads_the_spec_payload() {
    let body = r#"{"type":"invoice.paid","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"inv_1","status":"paid"}}"#;
    assert_eq!(
        columns(&map(Preset::StandardWebhooks, body).expect("maps")),
        (
            "inv_1".into(),
            "invoice.paid".into(),
            some("invoice"),
            some("paid"),
            None,
            some("2022-11-03 20:26:10.344522")
        )
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("webhook-id"),
        HeaderValue::from_static("msg_9"),
    );
    let no_id = r#"{"type":"user.created","timestamp":"2022-11-03T20:26:10Z","data":{"name":"x"}}"#;
    let payload = map_with(Preset::StandardWebhooks, no_id, &headers).expect("maps");
    assert_eq!(
        payload.job_id.as_str(),
        "msg_9",
        "falls back to the webhook-id"
    );
    assert_eq!(
        payload.status.as_ref().map(Identifier::as_str),
        Some("created")
    );
}

#[test]
fn missing_or_mistyped_mapped_fields_are_named() {
    let err =
        map(Preset::OpenAi, r#"{"type":"batch.completed","data":{}}"#).expect_err("no job id");
    assert_eq!(
        err,
        PayloadError::InvalidPayload("`job_id` is required: nothing found at /data/id".into())
    );
    let err = map(
        Preset::OpenAi,
        r#"{"type":"batch.completed","data":{"id":{"a":1}}}"#,
    )
    .expect_err("object id");
    assert!(
        matches!(&err, PayloadError::InvalidPayload(d) if d.contains("job_id") && d.contains("an object")),
        "{err:?}"
    );
    let err = map(
        Preset::Replicate,
        r#"{"id":"p","status":"succeeded","completed_at":"yesterday"}"#,
    )
    .expect_err("bad time");
    assert!(
        matches!(&err, PayloadError::InvalidPayload(d) if d.contains("timestamp")),
        "{err:?}"
    );
    assert!(matches!(
        map(Preset::OpenAi, "[1]"),
        Err(PayloadError::InvalidPayload(_))
    ));
    assert!(matches!(
        map(Preset::OpenAi, "{"),
        Err(PayloadError::InvalidJson(_))
    ));
}

#[test]
fn numbers_are_identifiers_and_error_objects_are_kept_as_json() {
    let rule = |t: &str| Rule::parse(&[t]).expect("template");
    let mapping = Mapping::Fields(FieldMap {
        job_id: rule("/build/number"),
        event: rule("build.{/result}"),
        workflow_name: Some(rule("{/repo}@{header:x-branch}")),
        status: None,
        error_message: Some(rule("/error")),
        timestamp: None,
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("x-branch"),
        HeaderValue::from_static("main"),
    );
    let payload = mapping
        .parse(
            br#"{"build":{"number":42},"result":"failed","repo":"api","error":{"code":7}}"#,
            &headers,
        )
        .expect("maps");
    assert_eq!(payload.job_id.as_str(), "42");
    assert_eq!(payload.event.as_str(), "build.failed");
    assert_eq!(
        payload.workflow_name.as_ref().map(Identifier::as_str),
        Some("api@main")
    );
    assert_eq!(payload.error_message.as_deref(), Some(r#"{"code":7}"#));
    let payload = mapping.parse(
        br#"{"build":{"number":42},"result":"ok","repo":"api"}"#,
        &HeaderMap::new(),
    );
    assert!(
        payload.expect("maps").workflow_name.is_none(),
        "an unresolved header leaves the field empty"
    );
}

#[test]
fn templates_refuse_what_they_cannot_mean() {
    for bad in [
        "",
        "{",
        "}",
        "a{/x",
        "{x}",
        "{/x|upper}",
        "{header:bad name}",
        "a}b",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad:?}");
    }
    for good in [
        "/a/b",
        "literal",
        "x.{/a}.{/b|head}",
        "{/a|tail}",
        "{header:webhook-id}",
        "/a~1b",
    ] {
        assert!(Template::parse(good).is_ok(), "{good:?}");
    }
}

#[test]
fn free_form_input_and_output_nested_deeper_than_serde_json_builds_are_accepted() {
    let deep = |n: usize| format!("{}\"x\"{}", "[".repeat(n), "]".repeat(n));
    let body = format!(
        r#"{{"id":"p1","status":"succeeded","input":{{"tree":{}}},"output":{}}}"#,
        deep(200),
        deep(5_000)
    );
    let payload = map(Preset::Replicate, &body).expect("a valid prediction");
    assert_eq!(payload.job_id.as_str(), "p1");
    assert_eq!(payload.event.as_str(), "prediction.succeeded");
    let openai = format!(
        r#"{{"id":"evt_1","type":"batch.completed","data":{{"id":"batch_1","meta":{}}}}}"#,
        deep(1_000)
    );
    assert_eq!(
        map(Preset::OpenAi, &openai).expect("valid").job_id.as_str(),
        "batch_1"
    );
    // Still refused: broken JSON, however shallow what the mapping reads.
    assert!(matches!(
        map(
            Preset::Replicate,
            r#"{"id":"p1","status":"succeeded","output":[}"#
        ),
        Err(PayloadError::InvalidJson(_))
    ));
}

#[test]
fn a_lone_surrogate_in_a_mapped_error_reads_as_the_replacement_character() {
    // Cut in the middle of an emoji by its sender; refused, the prediction was lost.
    let body = r#"{"id":"p1","status":"failed","error":"out of memory \ud83d","output":"\udc00"}"#;
    let payload = map(Preset::Replicate, body).expect("a valid prediction");
    assert_eq!(
        payload.error_message.as_deref(),
        Some("out of memory \u{fffd}")
    );
    assert_eq!(payload.event.as_str(), "prediction.failed");
}

#[test]
fn a_timestamp_taken_from_a_header_of_unix_seconds_is_read() {
    let rule = |t: &str| Rule::parse(&[t]).expect("template");
    let mapping = Mapping::Fields(FieldMap {
        job_id: rule("/id"),
        event: rule("/type"),
        workflow_name: None,
        status: None,
        error_message: None,
        timestamp: Some(rule("{header:webhook-timestamp}")),
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("webhook-timestamp"),
        HeaderValue::from_static("1700000000"),
    );
    let payload = mapping
        .parse(br#"{"id":"m1","type":"ping"}"#, &headers)
        .expect("maps");
    assert_eq!(
        payload.sent_at.map(|t| t.to_string()).as_deref(),
        Some("2023-11-14 22:13:20")
    );
}
