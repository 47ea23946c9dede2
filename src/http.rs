//! Responses and headers shared by every capability: the JSON error envelope, 404/405, and
//! the security headers sent on every response.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::HttpResponse;
use serde_json::json;

/// `{"error": code}` with `status`.
pub fn json_error(status: StatusCode, code: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": code }))
}

pub async fn not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "not_found")
}

pub async fn method_not_allowed_post() -> HttpResponse {
    let mut response = json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

pub async fn method_not_allowed_get() -> HttpResponse {
    let mut response = json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Sent on every page and API response: no foreign origins, no inline script, no framing,
/// no MIME sniffing, no referrer leaks.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}
