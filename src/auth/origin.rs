//! Cross-site requests cannot change state: a non-GET request under /api/auth or /api/admin
//! whose `Sec-Fetch-Site` says `cross-site`/`same-site`, or whose `Origin` is not this host,
//! is refused with 403 `cross_site_request` before any handler runs. Requests without either
//! header (curl, scripts with a bearer token) are not browser cross-site requests and pass.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::ResponseError;

use super::error::ApiError;

pub async fn refuse_cross_site(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_cross_site(req.method(), req.headers()) {
        let response = ApiError::CrossSite.error_response();
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

pub fn is_cross_site(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn foreign_origins_and_cross_site_fetches_are_refused_on_posts_only() {
        let foreign = headers(&[("host", "hookbox:8080"), ("origin", "https://evil.example")]);
        assert!(is_cross_site(&Method::POST, &foreign));
        assert!(!is_cross_site(&Method::GET, &foreign));
        let fetch = headers(&[("host", "hookbox:8080"), ("sec-fetch-site", "cross-site")]);
        assert!(is_cross_site(&Method::POST, &fetch));
        assert!(is_cross_site(
            &Method::POST,
            &headers(&[("host", "h"), ("origin", "null")])
        ));
    }

    #[test]
    fn same_origin_and_header_less_requests_pass() {
        let same = headers(&[
            ("host", "hookbox:8080"),
            ("origin", "http://hookbox:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(!is_cross_site(&Method::POST, &same));
        assert!(!is_cross_site(
            &Method::POST,
            &headers(&[("host", "hookbox:8080")])
        ));
    }
}
