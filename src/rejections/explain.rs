//! Each refusal code in plain words, with what to check: shown next to each logged rejection.

pub fn explain(reason: &str) -> &'static str {
    match reason {
        "missing_signature" => {
            "no X-Webhook-Signature header — the sender does not sign its requests, or signs \
             them under another header name"
        }
        "invalid_signature" => {
            "signature did not match any configured secret — check the sender's secret, and \
             that it signs the exact raw body as sha256=<hex>"
        }
        "payload_too_large" => {
            "the body is over the 1 MiB limit — the sender should send less (e.g. a link to \
             large results)"
        }
        "body_timeout" => {
            "the body did not arrive within the body timeout — a slow or stalled sender or \
             network"
        }
        "body_read_error" => "the connection broke while the body was being read",
        "unsupported_content_encoding" => {
            "the body was compressed (Content-Encoding) — the sender must send it uncompressed, \
             because the signature covers the bytes as sent"
        }
        "invalid_json" => "the signature was right but the body is not valid JSON",
        "invalid_payload" => {
            "valid JSON that breaks the callback contract — job_id and event must be non-empty \
             strings, and known fields must have their types"
        }
        "invalid_header" => "the webhook-id header is not 1-256 visible ASCII characters",
        "storage_unavailable" => {
            "the database was unavailable; the sender was told to retry (503 + Retry-After)"
        }
        "unknown_source" => "no webhook source is configured at the URL the sender used",
        "too_many_failed_signatures" => {
            "too many failed signature checks from this address — the sender's secret is \
             probably wrong (or someone is guessing it); its requests to this source are \
             refused without being read, valid ones too, until its allowance refills: one more \
             try after the Retry-After seconds (--failed-signature-limit)"
        }
        _ => "refused for a reason this Hookbox version does not describe",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ingest_code_has_its_own_explanation() {
        let codes = [
            "missing_signature",
            "invalid_signature",
            "payload_too_large",
            "body_timeout",
            "body_read_error",
            "unsupported_content_encoding",
            "invalid_json",
            "invalid_payload",
            "invalid_header",
            "storage_unavailable",
            "unknown_source",
            "too_many_failed_signatures",
        ];
        let unknown = explain("something_else");
        for code in codes {
            assert_ne!(explain(code), unknown, "{code} is explained");
        }
    }
}
