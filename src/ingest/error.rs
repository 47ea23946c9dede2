use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::payload::PayloadError;
use super::signature::SignatureError;

/// How long a sender should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Every way an ingest request can be refused. Each maps to one status and one stable code,
/// here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no webhook source is configured at this URL")]
    UnknownSource,
    #[error("the signature header is missing")]
    MissingSignature,
    #[error("the signature is malformed or does not match")]
    InvalidSignature,
    #[error("the signed timestamp is outside the replay tolerance")]
    TimestampOutOfRange,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the body did not arrive within the body read timeout")]
    BodyTimeout,
    #[error("the body could not be read: {0}")]
    BodyRead(String),
    #[error("Content-Encoding {0:?} is not accepted: the signature covers the bytes as sent")]
    UnsupportedEncoding(String),
    #[error("the body is not valid JSON")]
    InvalidJson(String),
    #[error("the payload does not match the callback contract")]
    InvalidPayload(String),
    #[error("a delivery header is unusable")]
    InvalidHeader(String),
    #[error("storage is unavailable")]
    StorageUnavailable,
    #[error("too many failed signature checks from this address")]
    TooManyFailedSignatures { retry_after_secs: u64 },
}

impl IngestError {
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::UnknownSource => "unknown_source",
            IngestError::MissingSignature => "missing_signature",
            IngestError::InvalidSignature => "invalid_signature",
            IngestError::TimestampOutOfRange => "timestamp_out_of_range",
            IngestError::PayloadTooLarge { .. } => "payload_too_large",
            IngestError::BodyTimeout => "body_timeout",
            IngestError::BodyRead(_) => "body_read_error",
            IngestError::UnsupportedEncoding(_) => "unsupported_content_encoding",
            IngestError::InvalidJson(_) => "invalid_json",
            IngestError::InvalidPayload(_) => "invalid_payload",
            IngestError::InvalidHeader(_) => "invalid_header",
            IngestError::StorageUnavailable => "storage_unavailable",
            IngestError::TooManyFailedSignatures { .. } => "too_many_failed_signatures",
        }
    }

    /// The refusals that count against the sender's failed-signature budget: requests that
    /// showed no proof of knowing a secret. A missing signature counts too: a sender that
    /// never signs is as wrong as one with the wrong secret, and counting it means probing
    /// cannot alternate between the two. A stale Standard Webhooks timestamp does not count:
    /// it says the clock is off or the delivery is replayed, not that the secret was guessed.
    pub fn is_failed_signature(&self) -> bool {
        matches!(
            self,
            IngestError::MissingSignature | IngestError::InvalidSignature
        )
    }
}

impl From<SignatureError> for IngestError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::Missing => IngestError::MissingSignature,
            SignatureError::Malformed | SignatureError::Mismatch => IngestError::InvalidSignature,
            SignatureError::TimestampOutOfRange => IngestError::TimestampOutOfRange,
        }
    }
}

impl From<PayloadError> for IngestError {
    fn from(error: PayloadError) -> Self {
        match error {
            PayloadError::InvalidJson(detail) => IngestError::InvalidJson(detail),
            PayloadError::InvalidPayload(detail) => IngestError::InvalidPayload(detail),
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::UnknownSource => StatusCode::NOT_FOUND,
            IngestError::MissingSignature
            | IngestError::InvalidSignature
            | IngestError::TimestampOutOfRange => StatusCode::UNAUTHORIZED,
            IngestError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            IngestError::BodyRead(_)
            | IngestError::InvalidJson(_)
            | IngestError::InvalidPayload(_)
            | IngestError::InvalidHeader(_) => StatusCode::BAD_REQUEST,
            IngestError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::TooManyFailedSignatures { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        let body = match self {
            IngestError::PayloadTooLarge { limit } => {
                json!({ "error": code, "limit_bytes": limit })
            }
            IngestError::InvalidJson(detail)
            | IngestError::InvalidPayload(detail)
            | IngestError::InvalidHeader(detail) => {
                json!({ "error": code, "detail": detail })
            }
            IngestError::TooManyFailedSignatures { retry_after_secs } => {
                json!({ "error": code, "retry_after_secs": retry_after_secs })
            }
            _ => json!({ "error": code }),
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            IngestError::StorageUnavailable => {
                response
                    .insert_header((header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
            }
            IngestError::TooManyFailedSignatures { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
            }
            _ => {}
        }
        if matches!(
            self,
            IngestError::PayloadTooLarge { .. }
                | IngestError::BodyTimeout
                | IngestError::BodyRead(_)
        ) {
            // The rest of the body was not read; the connection cannot be reused.
            response.insert_header((header::CONNECTION, HeaderValue::from_static("close")));
        }
        response.json(body)
    }
}
