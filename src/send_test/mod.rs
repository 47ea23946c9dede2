//! `hookbox send-test`: signs a realistic callback the way a source's sender would and posts
//! it, so a new user sees the whole path work in one command, for any configured source.

mod samples;

use crate::cli::CliError;
use crate::config::SendTestArgs;
use crate::ingest::source::{IdempotencyRule, Source};

pub use samples::{sample_body, SampleOptions};

pub async fn run(args: SendTestArgs) -> Result<(), CliError> {
    let loader = crate::cli::sources_loader(
        args.config.config.as_deref(),
        &args.secrets,
        &args.data_dir,
        false,
    );
    let sources = loader.load()?;
    let Some(source) = sources.into_iter().find(|s| s.name == args.source) else {
        return Err(format!("no source named {:?} is configured", args.source).into());
    };
    let options = SampleOptions {
        event: args.event.clone(),
        status: args.status.clone(),
        job_id: args.job_id.clone(),
        workflow: args.workflow.clone(),
    };
    let body = sample_body(&source, &options)?.to_string();
    let (status, text) = send(&args.url, &source, body).await?;
    println!("{status}\n{text}");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the server answered {status}").into())
    }
}

/// Signs `body` with the source's first secret and posts it to `base_url`.
pub async fn send(
    base_url: &str,
    source: &Source,
    body: String,
) -> Result<(reqwest::StatusCode, String), CliError> {
    let secret = source.scheme.secrets().first();
    let url = format!(
        "{}/api/webhooks/{}",
        base_url.trim_end_matches('/'),
        source.name
    );
    println!(
        "POST {url}  ({} signed with secret {:?})",
        source.scheme.name(),
        secret.label().as_str()
    );
    let mut headers = source
        .scheme
        .sign(secret, body.as_bytes(), chrono::Utc::now().timestamp());
    headers.extend(delivery_id_header(&source.idempotency, &headers));
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|error| format!("could not reach {url}: {error} (is `hookbox` running?)"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Ok((status, text))
}

/// The header a source's idempotency rule requires, with a fresh id as its sender would send,
/// unless signing already set it (Standard Webhooks' `webhook-id`).
fn delivery_id_header(
    rule: &IdempotencyRule,
    signed: &[(String, String)],
) -> Option<(String, String)> {
    let name = match rule {
        IdempotencyRule::Header(name) => name.as_str(),
        IdempotencyRule::WebhookId => "webhook-id",
        IdempotencyRule::Auto | IdempotencyRule::Content | IdempotencyRule::Pointer(_) => {
            return None
        }
    };
    if signed
        .iter()
        .any(|(sent, _)| sent.eq_ignore_ascii_case(name))
    {
        return None;
    }
    Some((name.to_owned(), samples::random_id("delivery_", 12)))
}
