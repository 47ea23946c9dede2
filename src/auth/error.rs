//! The one error type of the auth and admin boundary, mapped to status and code here only.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::ingest::RETRY_AFTER_SECONDS;
use crate::store::{NoAnswer, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not authenticated")]
    Unauthenticated,
    #[error("not an admin")]
    Forbidden,
    #[error("cross-site request refused")]
    CrossSite,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many failed logins")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("malformed cursor")]
    InvalidCursor,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("not found")]
    NotFound,
    /// A sources file that does not load; `detail` names file, line and field.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("storage unavailable")]
    StorageUnavailable,
    /// The database took longer than `--db-answer-timeout-ms` over a statement: most often a
    /// text search through many rows. Not `storage_unavailable`: retrying the same request
    /// unchanged would most likely take as long again.
    #[error(transparent)]
    DatabaseTimeout(NoAnswer),
    /// Logged where it is turned into a response; the body says only `internal_error`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden => "forbidden",
            ApiError::CrossSite => "cross_site_request",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::TooManyAttempts { .. } => "too_many_attempts",
            ApiError::InvalidCursor => "invalid_cursor",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::NotFound => "not_found",
            ApiError::InvalidConfig(_) => "invalid_config",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::DatabaseTimeout(_) => "database_timeout",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::StorageUnavailable,
            StoreError::NoAnswer(no_answer) => ApiError::DatabaseTimeout(no_answer),
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Query(inner) => ApiError::Internal(inner.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidCursor | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::InvalidConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::DatabaseTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::TooManyAttempts { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
            }
            ApiError::StorageUnavailable => {
                tracing::warn!("admin request refused: storage unavailable");
                response
                    .insert_header((header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS)));
            }
            ApiError::DatabaseTimeout(NoAnswer { waited }) => tracing::warn!(
                waited_ms = waited.as_millis(),
                "admin request refused: the database did not answer in time"
            ),
            ApiError::Internal(cause) => tracing::error!(error = %cause, "admin request failed"),
            _ => {}
        }
        let body = match self {
            ApiError::InvalidRequest(detail) | ApiError::InvalidConfig(detail) => {
                json!({ "error": code, "detail": detail })
            }
            ApiError::DatabaseTimeout(no_answer) => {
                json!({ "error": code, "detail": no_answer.to_string() })
            }
            _ => json!({ "error": code }),
        };
        response.json(body)
    }
}

/// actix's own rejections (bad JSON, query or path) in the same envelope.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(64 << 10)
        .error_handler(|error, _| ApiError::InvalidRequest(error.to_string()).into())
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|error, _| ApiError::InvalidRequest(error.to_string()).into())
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default()
        .error_handler(|error, _| ApiError::InvalidRequest(error.to_string()).into())
}

/// Runs `work` as a task of its own, so it runs to completion even when the request future is
/// dropped midway (client gone, or a sibling extractor failed first). A diesel-async SQLite
/// query dropped mid-flight waits for itself with `block_in_place`, which panics on actix's
/// current-thread workers; a detached task is never dropped mid-flight.
pub async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn answer(error: StoreError) -> (StatusCode, Option<HeaderValue>, serde_json::Value) {
        let response = ApiError::from(error).error_response();
        let status = response.status();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("a JSON body");
        (
            status,
            retry_after,
            serde_json::from_slice(&body).expect("JSON"),
        )
    }

    #[actix_web::test]
    async fn a_statement_the_database_did_not_answer_in_time_is_a_504_that_says_how_long() {
        let (status, retry_after, body) = answer(StoreError::NoAnswer(NoAnswer {
            waited: Duration::from_millis(30_000),
        }))
        .await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            retry_after, None,
            "the same search would most likely take as long again"
        );
        assert_eq!(
            body,
            json!({
                "error": "database_timeout",
                "detail": "the database did not answer within 30000 ms"
            })
        );
    }

    #[actix_web::test]
    async fn a_database_that_cannot_be_reached_is_a_503_to_retry_later() {
        let (status, retry_after, body) =
            answer(StoreError::Unavailable("connection refused".into())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after, Some(HeaderValue::from(RETRY_AFTER_SECONDS)));
        assert_eq!(body, json!({ "error": "storage_unavailable" }));
    }
}
