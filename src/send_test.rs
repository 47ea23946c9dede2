//! `hookbox send-test`: signs a realistic callback the way a sender would and posts it, so a
//! new user sees the whole path work in one command.

use serde_json::json;

use crate::cli::CliError;
use crate::config::SendTestArgs;
use crate::ingest::secrets;
use crate::ingest::signature::header_value;
use crate::ingest::source::LLM_CALLBACK;

pub async fn run(args: SendTestArgs) -> Result<(), CliError> {
    let secret_set = secrets::resolve_existing(
        args.secrets.webhook_secret.as_deref(),
        args.secrets.webhook_secret_file.as_deref(),
        &args.data_dir,
    )?;
    let secret = secret_set.first();
    let body = sample_body(&args).to_string();
    let url = format!(
        "{}/api/webhooks/{LLM_CALLBACK}",
        args.url.trim_end_matches('/')
    );
    println!(
        "POST {url}  (signed with secret {:?})",
        secret.label().as_str()
    );
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header(
            "x-webhook-signature",
            header_value(secret.key(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .map_err(|error| format!("could not reach {url}: {error} (is `hookbox` running?)"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{status}\n{text}");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the server answered {status}").into())
    }
}

fn sample_body(args: &SendTestArgs) -> serde_json::Value {
    let job_id = args
        .job_id
        .clone()
        .unwrap_or_else(|| format!("job_{}", hex::encode(rand::random::<[u8; 6]>())));
    let failed =
        args.status.eq_ignore_ascii_case("failed") || args.status.eq_ignore_ascii_case("error");
    let mut body = json!({
        "event": args.event,
        "job_id": job_id,
        "workflow_name": args.workflow,
        "status": args.status,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "duration_ms": 4213,
        "result": if failed { serde_json::Value::Null } else { json!({
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
