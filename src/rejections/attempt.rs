//! What is kept about one refused attempt: only what the request showed before (or while)
//! it was refused. Never the body, never a header value that could carry a secret.

use actix_web::http::header;
use actix_web::HttpRequest;
use chrono::Utc;

use crate::store::rejections::NewRejection;

/// The headers whose presence tells an operator how the sender signs; only names are kept.
const SIGNATURE_HEADERS: [&str; 6] = [
    "x-webhook-signature",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "x-hub-signature-256",
    "content-encoding",
];

/// `source_headers`: the headers of the source's own (`Source::own_header_names`), when the
/// name is one of a source.
pub fn describe(
    req: &HttpRequest,
    source: &str,
    source_headers: &[&str],
    reason: &'static str,
    http_status: u16,
    body_bytes: Option<usize>,
) -> NewRejection {
    let headers = req.headers();
    let mut present: Vec<&str> = Vec::new();
    for name in SIGNATURE_HEADERS.iter().chain(source_headers) {
        if headers.contains_key(*name) && !present.contains(name) {
            present.push(name);
        }
    }
    NewRejection {
        rejected_at: Utc::now().naive_utc(),
        reason: reason.to_owned(),
        http_status: i32::from(http_status),
        source: clean(source, 128),
        remote_addr: req.peer_addr().map(|addr| addr.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .map(|v| clean(&String::from_utf8_lossy(v.as_bytes()), 256)),
        content_length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok()),
        body_bytes: body_bytes.and_then(|n| i64::try_from(n).ok()),
        headers_present: present.join(","),
    }
}

/// Text for storage: no NUL (Postgres text cannot hold it), no control characters, bounded.
fn clean(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_header_names_are_kept_and_text_is_cleaned() {
        let req = TestRequest::post()
            .insert_header(("x-webhook-signature", "sha256=deadbeef"))
            .insert_header(("webhook-id", "msg_1"))
            .insert_header(("user-agent", "curl/8\tx"))
            .insert_header(("content-length", "12"))
            .peer_addr("10.0.0.7:4000".parse().unwrap())
            .to_http_request();
        let entry = describe(
            &req,
            "llm-\0callback",
            &[],
            "invalid_signature",
            401,
            Some(12),
        );
        assert_eq!(entry.headers_present, "x-webhook-signature,webhook-id");
        assert_eq!(entry.source, "llm-callback");
        assert_eq!(entry.user_agent.as_deref(), Some("curl/8x"));
        assert_eq!(entry.remote_addr.as_deref(), Some("10.0.0.7"));
        assert_eq!(entry.content_length, Some(12));
        assert_eq!(entry.body_bytes, Some(12));
        let debug = format!("{entry:?}");
        assert!(
            !debug.contains("deadbeef"),
            "no header value is kept: {debug}"
        );
    }

    #[test]
    fn a_sources_own_signature_and_idempotency_headers_are_named_too() {
        let req = TestRequest::post()
            .insert_header(("x-signature", "sha256=deadbeef"))
            .insert_header(("x-github-delivery", "d-1"))
            .insert_header(("x-webhook-signature", "sha256=00"))
            .to_http_request();
        let own = ["x-signature", "x-github-delivery", "x-webhook-signature"];
        let entry = describe(&req, "builds", &own, "invalid_signature", 401, None);
        assert_eq!(
            entry.headers_present,
            "x-webhook-signature,x-signature,x-github-delivery"
        );
    }
}
