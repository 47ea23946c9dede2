//! Sources from a config file: each scheme and preset, mapping onto the columns, isolation
//! between sources, and signatures made by an independent Standard Webhooks implementation.

use std::path::Path;

use hookbox::ingest::config::{DefaultSecret, Generation, SourcesLoader};
use hookbox::ingest::source::{Source, Sources};
use hookbox::ingest::standard_webhooks::{decode_secret, signature_header};
use hookbox::send_test::{sample_body, send, SampleOptions};
use hookbox::store::{callbacks, rejections};

use crate::helpers::*;

pub const OPENAI_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const REPLICATE_OLD: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
pub const REPLICATE_NEW: &str = "whsec_cmVwbGljYXRlLW5ldy1zZWNyZXQtMDEyMw==";
pub const GENERIC_SECRET: &str = "whsec_Z2VuZXJpYy1zdGFuZGFyZC13ZWJob29rcy0x";
pub const BUILDS_SECRET: &str = "builds-secret-0123456789";

pub fn config_text() -> String {
    format!(
        r#"
[sources.llm-callback]
preset = "llm-callback"

[sources.openai]
preset = "openai"
secrets = [{{ label = "current", value = "{OPENAI_SECRET}" }}]

[sources.replicate]
preset = "replicate"
secrets = [
  {{ label = "old", value = "{REPLICATE_OLD}" }},
  {{ label = "new", value = "{REPLICATE_NEW}" }},
]

[sources.generic]
preset = "standard-webhooks"
replay_tolerance_secs = 120
secrets = [{{ label = "g1", value = "{GENERIC_SECRET}" }}]

[sources.builds]
scheme = "hmac-sha256-hex"
signature_header = "x-hub-signature-256"
body_limit_bytes = 2048
secrets = [{{ label = "ci", value = "{BUILDS_SECRET}" }}]
[sources.builds.fields]
job_id = "/build/id"
event = "build.{{/action}}"
workflow_name = "/repository"
status = "/build/conclusion"
error_message = "/build/error"
"#
    )
}

pub fn loader_for(path: &Path) -> SourcesLoader {
    SourcesLoader {
        config: Some(path.to_owned()),
        default_secret: DefaultSecret {
            inline: Some(format!("{SECRET_LABEL}:{SECRET}")),
            file: None,
            data_dir: path.parent().expect("dir").to_owned(),
            generation: Generation::Never,
        },
    }
}

/// The sources of `text`, loaded as the server loads them.
pub fn sources_from(text: &str) -> (Sources, SourcesLoader, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookbox.toml");
    std::fs::write(&path, text).expect("write config");
    let loader = loader_for(&path);
    (
        Sources::new(loader.load().expect("config loads")),
        loader,
        dir,
    )
}

pub async fn spawn_with_sources(test_db: &TestDb, sources: Sources) -> TestApp {
    let options = AppOptions {
        sources: Some(sources),
        ..AppOptions::default()
    };
    TestApp::spawn_with(test_db, options).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Standard Webhooks headers for `body` signed with `secret` at `timestamp`.
pub fn sw_headers(secret: &str, id: &str, timestamp: i64, body: &str) -> Vec<(String, String)> {
    let key = decode_secret(secret).expect("secret");
    let ts = timestamp.to_string();
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts.clone()),
        (
            "webhook-signature".into(),
            signature_header(&key, id, &ts, body.as_bytes()),
        ),
    ]
}

async fn error_code(response: reqwest::Response, status: u16) -> String {
    json_with_status(response, status).await["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn openai_event(kind: &str, object_id: &str) -> String {
    format!(
        r#"{{"id":"evt_{object_id}","object":"event","created_at":1750287018,"type":"{kind}","data":{{"id":"{object_id}"}}}}"#
    )
}

fn replicate_prediction(id: &str, status: &str, error: Option<&str>) -> String {
    serde_json::json!({
        "id": id, "model": "meta/meta-llama-3-8b-instruct",
        "version": "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
        "input": {"prompt": "hi"}, "output": if error.is_some() { serde_json::Value::Null } else { serde_json::json!(["hello"]) },
        "error": error, "logs": "", "status": status,
        "created_at": "2026-11-23T10:00:00.000000Z", "started_at": "2026-11-23T10:00:01.000000Z",
        "completed_at": "2026-11-23T10:00:03.500000Z", "metrics": {"predict_time": 2.5},
        "urls": {"get": format!("https://api.replicate.com/v1/predictions/{id}")}
    })
    .to_string()
}

on_both_backends! {
    async fn each_standard_webhooks_preset_verifies_exactly_and_refuses_everything_else(test_db) {
        let (sources, _, _dir) = sources_from(&config_text());
        let app = spawn_with_sources(&test_db, sources).await;
        let presets = [
            ("openai", OPENAI_SECRET, openai_event("batch.completed", "batch_1"), 300),
            ("replicate", REPLICATE_NEW, replicate_prediction("p1", "succeeded", None), 300),
            ("generic", GENERIC_SECRET, r#"{"type":"job.completed","timestamp":"2026-11-23T10:00:00Z","data":{"id":"j1"}}"#.to_owned(), 120),
        ];
        for (source, secret, body, tolerance) in presets {
            let id = format!("msg_{source}_1");
            let valid = sw_headers(secret, &id, now(), &body);
            let json = json_with_status(app.post_to_source(source, &body, &valid).await, 200).await;
            assert_eq!(json["duplicate"], false, "{source}");
            let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.unwrap();
            assert_eq!(row.source, source);
            assert_eq!(row.signature_scheme, "standard-webhooks");
            assert_eq!(row.delivery_key, format!("wid:{id}"), "{source}: the webhook-id is the idempotency key");
            assert!(row.signature_header.contains(&valid[2].1), "{source}: the stored header keeps the signature");

            let again = json_with_status(app.post_to_source(source, &body, &sw_headers(secret, &id, now(), &body)).await, 200).await;
            assert_eq!(again["duplicate"], true, "{source}: a redelivery is recognised by webhook-id");

            let mut tampered = body.clone();
            tampered.insert(1, ' ');
            assert_eq!(error_code(app.post_to_source(source, &tampered, &valid).await, 401).await, "invalid_signature", "{source} tampered");
            let wrong = sw_headers("whsec_d3Jvbmctc2VjcmV0LXZhbHVlLTAxMjM0NQ==", "msg_w", now(), &body);
            assert_eq!(error_code(app.post_to_source(source, &body, &wrong).await, 401).await, "invalid_signature", "{source} wrong secret");
            for skew in [-(tolerance + 5), tolerance + 5] {
                let replayed = sw_headers(secret, "msg_r", now() + skew, &body);
                assert_eq!(error_code(app.post_to_source(source, &body, &replayed).await, 401).await, "timestamp_out_of_range", "{source} skew {skew}");
            }
            for missing in 0..3 {
                let mut partial = sw_headers(secret, "msg_m", now(), &body);
                partial.remove(missing);
                assert_eq!(error_code(app.post_to_source(source, &body, &partial).await, 401).await, "missing_signature", "{source} without header {missing}");
            }
            let mut malformed = sw_headers(secret, "msg_x", now(), &body);
            for bad in ["v1,***", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v2,abcd"] {
                malformed[2].1 = bad.into();
                assert_eq!(error_code(app.post_to_source(source, &body, &malformed).await, 401).await, "invalid_signature", "{source} {bad}");
            }
            let mut bad_ts = sw_headers(secret, "msg_t", now(), &body);
            bad_ts[1].1 = "yesterday".into();
            assert_eq!(error_code(app.post_to_source(source, &body, &bad_ts).await, 401).await, "invalid_signature");

            let mut several = sw_headers(secret, &format!("msg_{source}_2"), now(), &body);
            let good = several[2].1.clone();
            several[2].1 = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,AAAA {good} v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            json_with_status(app.post_to_source(source, &body, &several).await, 200).await;
        }
        let total = callbacks::count(&app.db).await.unwrap();
        assert_eq!(total, 6, "two accepted deliveries per source, nothing for the refusals");
    }

    async fn rotated_standard_webhooks_secrets_are_both_accepted_and_labelled(test_db) {
        let (sources, _, _dir) = sources_from(&config_text());
        let app = spawn_with_sources(&test_db, sources).await;
        for (secret, label) in [(REPLICATE_OLD, "old"), (REPLICATE_NEW, "new")] {
            let body = replicate_prediction(&format!("pred_{label}"), "succeeded", None);
            let headers = sw_headers(secret, &format!("msg_{label}"), now(), &body);
            let json = json_with_status(app.post_to_source("replicate", &body, &headers).await, 200).await;
            let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.unwrap();
            assert_eq!(row.secret_label, label);
        }
    }

    async fn openai_and_replicate_bodies_land_in_the_job_event_workflow_status_error_columns(test_db) {
        let (sources, _, _dir) = sources_from(&config_text());
        let app = spawn_with_sources(&test_db, sources).await;
        let body = openai_event("fine_tuning.job.failed", "ftjob_abc123");
        let json = json_with_status(app.post_to_source("openai", &body, &sw_headers(OPENAI_SECRET, "msg_ft", now(), &body)).await, 200).await;
        assert_eq!(json["callback_id"], "ftjob_abc123");
        let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(
            (row.callback_id.as_str(), row.event.as_str(), row.workflow_name.as_deref(), row.status.as_deref()),
            ("ftjob_abc123", "fine_tuning.job.failed", Some("fine_tuning.job"), Some("failed"))
        );
        assert_eq!(row.sent_at.map(|t| t.to_string()).as_deref(), Some("2025-06-18 22:50:18"));
        assert_eq!(row.body, body.as_bytes());

        let body = replicate_prediction("rrr111", "failed", Some("CUDA out of memory"));
        let json = json_with_status(app.post_to_source("replicate", &body, &sw_headers(REPLICATE_NEW, "msg_rep", now(), &body)).await, 200).await;
        let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(
            (row.callback_id.as_str(), row.event.as_str(), row.workflow_name.as_deref(), row.status.as_deref(), row.error_message.as_deref()),
            ("rrr111", "prediction.failed", Some("meta/meta-llama-3-8b-instruct"), Some("failed"), Some("CUDA out of memory"))
        );
        assert_eq!(row.sent_at.map(|t| t.to_string()).as_deref(), Some("2026-11-23 10:00:03.500"));

        let no_id = r#"{"type":"batch.completed","data":{}}"#;
        let response = app.post_to_source("openai", no_id, &sw_headers(OPENAI_SECRET, "msg_noid", now(), no_id)).await;
        let json = json_with_status(response, 400).await;
        assert_eq!(json["error"], "invalid_payload");
        assert!(json["detail"].as_str().unwrap().contains("job_id"), "{json}");
    }

    async fn a_refusal_names_the_sources_own_headers_in_the_rejection_log(test_db) {
        let config = format!(r#"
[sources.builds]
scheme = "hmac-sha256-hex"
signature_header = "x-signature"
idempotency_key = "header:x-delivery"
secrets = [{{ label = "ci", value = "{BUILDS_SECRET}" }}]
[sources.builds.fields]
job_id = "/id"
event = "/type"
"#);
        let (sources, _, _dir) = sources_from(&config);
        let app = spawn_with_sources(&test_db, sources).await;
        let body = r#"{"id":"b-1","type":"build.done"}"#;
        let wrong = vec![
            ("x-signature".to_owned(), sign("another-secret-0000000", body)),
            ("x-delivery".to_owned(), "d-1".to_owned()),
        ];
        assert_eq!(error_code(app.post_to_source("builds", body, &wrong).await, 401).await, "invalid_signature");
        eventually("the refusal is logged", || async {
            rejections::count(&app.db).await.unwrap() == 1
        }).await;
        let logged = rejections::page(&app.db, None, 1).await.unwrap();
        assert_eq!(logged[0].headers_present, "x-signature,x-delivery", "not 'none': the sender did sign");
    }

    async fn a_custom_hmac_source_uses_its_header_mapping_limit_and_secret(test_db) {
        let (sources, _, _dir) = sources_from(&config_text());
        let app = spawn_with_sources(&test_db, sources).await;
        let body = r#"{"action":"completed","repository":"api","build":{"id":"b-77","conclusion":"failure","error":"tests failed"}}"#;
        let signed = vec![("x-hub-signature-256".to_owned(), sign(BUILDS_SECRET, body))];
        let json = json_with_status(app.post_to_source("builds", body, &signed).await, 200).await;
        let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(
            (row.callback_id.as_str(), row.event.as_str(), row.workflow_name.as_deref(), row.status.as_deref(), row.error_message.as_deref()),
            ("b-77", "build.completed", Some("api"), Some("failure"), Some("tests failed"))
        );
        assert_eq!(row.signature_scheme, "hmac-sha256-hex");
        let tampered = body.replace("failure", "success");
        assert_eq!(error_code(app.post_to_source("builds", &tampered, &signed).await, 401).await, "invalid_signature");
        let wrong = vec![("x-hub-signature-256".to_owned(), sign("another-secret-0000000", body))];
        assert_eq!(error_code(app.post_to_source("builds", body, &wrong).await, 401).await, "invalid_signature");
        let elsewhere = vec![("x-webhook-signature".to_owned(), sign(BUILDS_SECRET, body))];
        assert_eq!(error_code(app.post_to_source("builds", body, &elsewhere).await, 401).await, "missing_signature");
        let big = format!(r#"{{"action":"x","build":{{"id":"b"}},"pad":"{}"}}"#, "x".repeat(2048));
        let big_signed = vec![("x-hub-signature-256".to_owned(), sign(BUILDS_SECRET, &big))];
        let json = json_with_status(app.post_to_source("builds", &big, &big_signed).await, 413).await;
        assert_eq!(json["limit_bytes"], 2048);
    }

    async fn two_sources_never_accept_each_others_callbacks(test_db) {
        let (sources, _, _dir) = sources_from(&config_text());
        let app = spawn_with_sources(&test_db, sources).await;
        let body = openai_event("batch.completed", "batch_cross");
        for (signed_for, secret, posted_to) in [
            ("openai", OPENAI_SECRET, "generic"),
            ("openai", OPENAI_SECRET, "replicate"),
            ("generic", GENERIC_SECRET, "openai"),
            ("replicate", REPLICATE_OLD, "generic"),
        ] {
            let headers = sw_headers(secret, "msg_cross", now(), &body);
            assert_eq!(error_code(app.post_to_source(posted_to, &body, &headers).await, 401).await, "invalid_signature", "{signed_for} → {posted_to}");
        }
        let llm = callback_body("job-cross", "workflow.completed");
        let headers = vec![("x-hub-signature-256".to_owned(), sign(SECRET, &llm)), ("x-webhook-signature".to_owned(), sign(SECRET, &llm))];
        assert_eq!(error_code(app.post_to_source("builds", &llm, &headers).await, 401).await, "invalid_signature", "llm-callback → builds");
        let builds = r#"{"action":"completed","build":{"id":"b1"}}"#;
        let headers = vec![("x-hub-signature-256".to_owned(), sign(BUILDS_SECRET, builds)), ("x-webhook-signature".to_owned(), sign(BUILDS_SECRET, builds))];
        assert_eq!(error_code(app.post_to_source("llm-callback", builds, &headers).await, 401).await, "invalid_signature", "builds → llm-callback");
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 0);
        json_with_status(app.post_signed(&llm).await, 200).await;
    }

    async fn send_test_samples_for_every_source_are_accepted_and_mapped(test_db) {
        // Sources whose idempotency rule needs what a bare signed sample lacks: a header of
        // their own, webhook-id on an HMAC source, an id deep in the body.
        let keyed = format!(
            r#"
[sources.builds-by-delivery]
scheme = "hmac-sha256-hex"
signature_header = "x-hub-signature-256"
idempotency_key = "header:x-github-delivery"
secrets = [{{ label = "ci", value = "{BUILDS_SECRET}" }}]
[sources.builds-by-delivery.fields]
job_id = "/build/id"
event = "build.{{/action}}"
error_message = "/build/error"

[sources.llm-by-webhook-id]
preset = "llm-callback"
idempotency_key = "webhook-id"

[sources.llm-by-event-id]
preset = "llm-callback"
idempotency_key = "/meta/delivery/id"
"#
        );
        let (sources, loader, _dir) = sources_from(&(config_text() + &keyed));
        let app = spawn_with_sources(&test_db, sources).await;
        for source in loader.load().unwrap() {
            for status in ["completed", "failed"] {
                let options = SampleOptions { event: None, status: status.into(), job_id: None, workflow: "nightly".into() };
                let body = sample_body(&source, &options).expect("sample");
                let (code, text) = send(&app.address, &source, body.to_string()).await.expect("sent");
                assert_eq!(code.as_u16(), 200, "{} {status}: {text}", source.name);
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.unwrap();
                assert_eq!(row.source, source.name);
                if status == "failed" && source.name != "openai" {
                    assert!(row.error_message.is_some(), "{}: a failed sample carries an error", source.name);
                }
            }
        }
    }
}

/// The `standardwebhooks` package from PyPI, run by tests/support/sign_standard_webhooks.py.
/// `None` (with a message) when it is not installed outside CI; in CI a missing package fails.
fn python_standard_webhooks(args: &[&str], body: &str) -> Option<(bool, String)> {
    use std::io::Write;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/sign_standard_webhooks.py"
    );
    let child = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let required = std::env::var("HOOKBOX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true");
    let mut child = match child {
        Ok(child) => child,
        Err(error) if !required => {
            eprintln!("SKIPPED (standardwebhooks check): cannot run python3: {error}");
            return None;
        }
        Err(error) => panic!("python3 is required in CI: {error}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.code() == Some(3) {
        assert!(
            !required,
            "the standardwebhooks package is required in CI (pip install standardwebhooks)"
        );
        eprintln!("SKIPPED (standardwebhooks check): pip install standardwebhooks to run it");
        return None;
    }
    Some((
        output.status.success(),
        String::from_utf8(output.stdout).unwrap().trim().to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_made_by_the_standardwebhooks_package_are_accepted() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let (sources, _, _dir) = sources_from(&config_text());
    let app = spawn_with_sources(&test_db, sources).await;
    let body = openai_event("response.completed", "resp_py1");
    let ts = now().to_string();
    let Some((ok, signature)) =
        python_standard_webhooks(&["sign", OPENAI_SECRET, "msg_py1", &ts], &body)
    else {
        return;
    };
    assert!(ok && signature.starts_with("v1,"), "{signature}");
    let headers = vec![
        ("webhook-id".to_owned(), "msg_py1".to_owned()),
        ("webhook-timestamp".to_owned(), ts.clone()),
        ("webhook-signature".to_owned(), signature.clone()),
    ];
    json_with_status(app.post_to_source("openai", &body, &headers).await, 200).await;
    let tampered = body.replace("resp_py1", "resp_py2");
    assert_eq!(
        error_code(app.post_to_source("openai", &tampered, &headers).await, 401).await,
        "invalid_signature"
    );
    let (_, other) =
        python_standard_webhooks(&["sign", GENERIC_SECRET, "msg_py3", &ts], &body).unwrap();
    let headers = vec![
        ("webhook-id".to_owned(), "msg_py3".to_owned()),
        ("webhook-timestamp".to_owned(), ts),
        ("webhook-signature".to_owned(), other),
    ];
    assert_eq!(
        error_code(app.post_to_source("openai", &body, &headers).await, 401).await,
        "invalid_signature",
        "another key"
    );
}

#[test]
fn the_standardwebhooks_package_accepts_what_hookbox_signs() {
    let sources = sources_from(&config_text()).1.load().unwrap();
    let openai: &Source = sources.iter().find(|s| s.name == "openai").unwrap();
    let body = openai_event("batch.completed", "batch_py");
    let headers = openai
        .scheme
        .sign(openai.scheme.secrets().first(), body.as_bytes(), now());
    let value = |name: &str| headers.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let Some((ok, _)) = python_standard_webhooks(
        &[
            "verify",
            OPENAI_SECRET,
            &value("webhook-id"),
            &value("webhook-timestamp"),
            &value("webhook-signature"),
        ],
        &body,
    ) else {
        return;
    };
    assert!(ok, "the reference package must accept Hookbox's signature");
    let Some((ok, _)) = python_standard_webhooks(
        &[
            "verify",
            GENERIC_SECRET,
            &value("webhook-id"),
            &value("webhook-timestamp"),
            &value("webhook-signature"),
        ],
        &body,
    ) else {
        return;
    };
    assert!(!ok, "and refuse it under another key");
}
