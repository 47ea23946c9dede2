//! `POST /api/webhooks/{source}`: size check → signature over the raw bytes → JSON parse →
//! validate → store → respond. Each step is a function of its own module; this file only
//! puts them in order.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use serde::Serialize;

use super::body::{check_declared_length, read_limited, BodyRead};
use super::delivery::{body_sha256, header_text, preview};
use super::error::IngestError;
use super::source::{Source, Sources};
use super::throttle::SignatureThrottle;
use crate::metrics::Metrics;
use crate::rejections::{self, RejectionLog};
use crate::store::callbacks::NewCallback;
use crate::store::writer::CallbackWriter;

pub struct IngestState {
    pub sources: Sources,
    pub writer: CallbackWriter,
    pub body_timeout: Duration,
    pub metrics: Metrics,
    pub rejections: RejectionLog,
    /// Refuses addresses that failed too many signature checks (does nothing when off).
    pub signature_throttle: SignatureThrottle,
}

/// The answer to a stored (or already stored) callback.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    status: &'static str,
    id: i64,
    callback_id: String,
    duplicate: bool,
}

#[utoipa::path(post, path = "/api/webhooks/{source}", tag = "ingest",
    params(
        ("source" = String, Path, description = "A configured source, e.g. `llm-callback`"),
        ("x-webhook-signature" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256(secret, raw body)>` (the default scheme; sources may use another)"),
        ("webhook-id" = Option<String>, Header, description = "The sender's delivery id (idempotency key)"),
    ),
    request_body(content = String, content_type = "application/json", description = "The callback; signed byte for byte"),
    responses(
        (status = 200, description = "Stored (or a duplicate of a stored delivery)", body = Accepted),
        (status = 400, description = "`invalid_json`, `invalid_payload`, `invalid_header`, `body_read_error`", body = crate::auth::handlers::ErrorBody),
        (status = 401, description = "`missing_signature`, `invalid_signature`, `timestamp_out_of_range` (Standard Webhooks)", body = crate::auth::handlers::ErrorBody),
        (status = 404, description = "`unknown_source`", body = crate::auth::handlers::ErrorBody),
        (status = 408, description = "`body_timeout`", body = crate::auth::handlers::ErrorBody),
        (status = 413, description = "`payload_too_large`", body = crate::auth::handlers::ErrorBody),
        (status = 415, description = "`unsupported_content_encoding`", body = crate::auth::handlers::ErrorBody),
        (status = 429, description = "`too_many_failed_signatures` (only with `--failed-signature-limit`); retry after `Retry-After` seconds", body = crate::auth::handlers::ErrorBody),
        (status = 503, description = "`storage_unavailable`", body = crate::auth::handlers::ErrorBody),
    ))]
pub async fn receive(
    req: HttpRequest,
    source: web::Path<String>,
    payload: web::Payload,
    state: web::Data<IngestState>,
) -> HttpResponse {
    let started = Instant::now();
    let mut read = BodyRead::default();
    // Looked up once: the answer and the rejection log's entry speak of the same source, even
    // when a reload swaps the table meanwhile.
    let known = state.sources.get(&source);
    let result = accept(&req, known.as_deref(), payload, &state, &mut read).await;
    let outcome = match &result {
        Ok(accepted) if accepted.duplicate => "duplicate",
        Ok(_) => "accepted",
        Err(error) => error.code(),
    };
    state
        .metrics
        .observe_ingest(outcome, started.elapsed(), read.whole);
    match result {
        Ok(accepted) => {
            if accepted.duplicate {
                state.metrics.duplicates.inc_by(1);
            }
            HttpResponse::Ok().json(accepted)
        }
        Err(error) => {
            warn_rejected(&req, &source, error.code());
            if matches!(error, IngestError::StorageUnavailable) {
                state.metrics.storage_errors.inc_by(1);
            }
            if error.is_failed_signature() {
                state
                    .signature_throttle
                    .record_failure(peer_ip(&req), &source);
            }
            let status = error.status_code().as_u16();
            let own_headers = known.as_deref().map(Source::own_header_names);
            let entry = rejections::describe(
                &req,
                &source,
                own_headers.as_deref().unwrap_or_default(),
                error.code(),
                status,
                read.received,
            );
            state.rejections.record(entry);
            error.error_response()
        }
    }
}

fn warn_rejected(req: &HttpRequest, source: &str, reason: &str) {
    tracing::warn!(
        reason,
        // Escaped: the path is the sender's, and a `%0A` in it would start a forged line in a
        // text log.
        source = %source.escape_debug(),
        remote_addr = %remote_addr(req).unwrap_or_default(),
        content_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        "webhook rejected"
    );
}

async fn accept(
    req: &HttpRequest,
    source: Option<&Source>,
    payload: web::Payload,
    state: &IngestState,
    read: &mut BodyRead,
) -> Result<Accepted, IngestError> {
    let received_at = Utc::now().naive_utc();
    let source = source.ok_or(IngestError::UnknownSource)?;
    // Before anything is read: a throttled address costs one map lookup. It is refused even
    // with a valid signature, which cannot be known without reading the body.
    state
        .signature_throttle
        .check(peer_ip(req), &source.name)
        .map_err(|retry_after_secs| IngestError::TooManyFailedSignatures { retry_after_secs })?;
    let headers = req.headers();
    refuse_content_encoding(headers)?;
    check_declared_length(req, source.body_limit)?;
    let presented = source.scheme.presented(headers, Utc::now().timestamp())?;
    let mut received = 0;
    let body = read_limited(
        payload,
        source.body_limit,
        state.body_timeout,
        &mut received,
    )
    .await;
    read.received = Some(received);
    let body = body?;
    read.whole = Some(body.len());
    let secret_label = source.scheme.verify(&presented, &body)?;
    let verified_at = Utc::now().naive_utc();
    let parsed = source.mapping.parse(&body, headers)?;

    let body_sha256 = body_sha256(&body);
    let callback = NewCallback {
        source: source.name.clone(),
        delivery_key: source
            .idempotency
            .key(headers, &body, &parsed, &body_sha256)?,
        callback_id: parsed.job_id.into_string(),
        event: parsed.event.into_string(),
        workflow_name: parsed.workflow_name.map(|v| v.into_string()),
        status: parsed.status.map(|v| v.into_string()),
        error_message: parsed.error_message,
        sent_at: parsed.sent_at,
        preview: preview(&body),
        payload_size: i32::try_from(body.len()).unwrap_or(i32::MAX),
        body_sha256,
        // Moved, not copied: a request waiting for its commit holds its body once.
        body: body.into(),
        signature_verdict: "verified".to_owned(),
        signature_scheme: source.scheme.name().to_owned(),
        signature_header: presented.header_text,
        secret_label: secret_label.as_str().to_owned(),
        verified_at,
        received_at,
        remote_addr: remote_addr(req),
        user_agent: header_text(headers.get(header::USER_AGENT), 512),
        content_type: header_text(headers.get(header::CONTENT_TYPE), 256),
    };
    store(&state.writer, source, callback).await
}

async fn store(
    writer: &CallbackWriter,
    source: &Source,
    callback: NewCallback,
) -> Result<Accepted, IngestError> {
    let callback_id = callback.callback_id.clone();
    let delivery_key = callback.delivery_key.clone();
    let outcome = writer.store(callback).await.map_err(|error| {
        tracing::error!(error = %error, source = %source.name, "callback not stored");
        IngestError::StorageUnavailable
    })?;
    if outcome.body_differs {
        tracing::warn!(
            callback.id = outcome.id,
            source = %source.name,
            delivery_key = %delivery_key,
            "redelivery with a different body: the first body is kept"
        );
    }
    Ok(Accepted {
        status: "accepted",
        id: outcome.id,
        callback_id,
        duplicate: outcome.duplicate,
    })
}

/// actix-web is built without decompression, so an encoded body would be verified and
/// stored as the compressed bytes; refuse it with a clear answer instead.
fn refuse_content_encoding(headers: &HeaderMap) -> Result<(), IngestError> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(()),
        Some(value) if value.as_bytes().eq_ignore_ascii_case(b"identity") => Ok(()),
        Some(value) => Err(IngestError::UnsupportedEncoding(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )),
    }
}

/// The TCP peer, as the rejection log records it. Forwarded headers are not trusted: anyone
/// can send them.
fn peer_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|addr| addr.ip())
}

fn remote_addr(req: &HttpRequest) -> Option<String> {
    peer_ip(req).map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use crate::telemetry::capture::Captured;

    #[test]
    fn a_line_break_in_the_source_name_cannot_start_a_log_line_of_its_own() {
        let captured = Captured::default();
        let _default = tracing::subscriber::set_default(captured.subscriber());
        let req = TestRequest::post().to_http_request();
        let forged = "x\n2026-01-01T00:00:00Z  INFO forged";
        super::warn_rejected(&req, forged, "unknown_source");
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r"source=x\n2026-01-01"), "{text}");
    }
}
