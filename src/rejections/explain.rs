//! Each refusal code in plain words, with what to check: shown next to each logged rejection.

pub fn explain(reason: &str) -> &'static str {
    match reason {
        "missing_signature" => {
            "no signature header (X-Webhook-Signature, the source's own signature_header, or \
             webhook-signature under Standard Webhooks) — the sender does not sign its \
             requests, or signs them under another header name"
        }
        "invalid_signature" => {
            "the signature did not match any of the source's secrets, or was not in its \
             scheme's form — check the sender's secret, and that it signs the exact raw body \
             (as sha256=<hex> by default)"
        }
        "timestamp_out_of_range" => {
            "the signed webhook-timestamp is further from this server's clock than the \
             source's replay tolerance (5 minutes unless replay_tolerance_secs says otherwise) \
             — the sender's or this server's clock is off, or an old delivery was replayed"
        }
        "payload_too_large" => {
            "the body is over the source's size limit (1 MiB unless body_limit_bytes says \
             otherwise) — the sender should send less (e.g. a link to large results)"
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
        "invalid_header" => {
            "the header the source's idempotency key is read from (webhook-id, or the one its \
             idempotency_key names) is missing where required, or not 1-256 visible ASCII \
             characters"
        }
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
    use crate::ingest::IngestError;

    #[test]
    fn every_ingest_code_has_its_own_explanation() {
        let refusals = [
            IngestError::UnknownSource,
            IngestError::MissingSignature,
            IngestError::InvalidSignature,
            IngestError::TimestampOutOfRange,
            IngestError::PayloadTooLarge { limit: 1 },
            IngestError::BodyTimeout,
            IngestError::BodyRead(String::new()),
            IngestError::UnsupportedEncoding(String::new()),
            IngestError::InvalidJson(String::new()),
            IngestError::InvalidPayload(String::new()),
            IngestError::InvalidHeader(String::new()),
            IngestError::StorageUnavailable,
            IngestError::TooManyFailedSignatures {
                retry_after_secs: 1,
            },
        ];
        let unknown = explain("something_else");
        for refusal in &refusals {
            // No wildcard: a new refusal stops this test from compiling until it is listed.
            match refusal {
                IngestError::UnknownSource
                | IngestError::MissingSignature
                | IngestError::InvalidSignature
                | IngestError::TimestampOutOfRange
                | IngestError::PayloadTooLarge { .. }
                | IngestError::BodyTimeout
                | IngestError::BodyRead(_)
                | IngestError::UnsupportedEncoding(_)
                | IngestError::InvalidJson(_)
                | IngestError::InvalidPayload(_)
                | IngestError::InvalidHeader(_)
                | IngestError::StorageUnavailable
                | IngestError::TooManyFailedSignatures { .. } => {}
            }
            let code = refusal.code();
            assert_ne!(explain(code), unknown, "{code} is explained");
        }
    }
}
