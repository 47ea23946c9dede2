//! A request part (query string, JSON body) whose refusal waits behind the credential's.
//!
//! actix runs a handler's extractors side by side and answers with the first that fails. A
//! query string fails at once while the credential's lookup is still on its way, so an
//! anonymous `?limit=abc` would be answered 400 instead of 401, telling a caller without a
//! credential how the endpoint parses its input. Wrapped in [`Deferred`], the part never fails
//! extraction; the handler takes it with [`Deferred::take`] once it holds the admin.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest};

use super::ApiError;

pub struct Deferred<T>(Result<T, ApiError>);

impl<T> FromRequest for Deferred<T>
where
    T: FromRequest<Error = actix_web::Error> + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let part = T::from_request(req, payload);
        Box::pin(async move { Ok(Deferred(part.await.map_err(invalid_request))) })
    }
}

impl<T> Deferred<T> {
    /// The part, or the 400 its extraction ended in.
    pub fn take(self) -> Result<T, ApiError> {
        self.0
    }
}

/// The scope's `QueryConfig`/`JsonConfig` already turn actix's rejections into
/// [`ApiError::InvalidRequest`]; this keeps their detail.
fn invalid_request(error: actix_web::Error) -> ApiError {
    match error.as_error::<ApiError>() {
        Some(ApiError::InvalidRequest(detail)) => ApiError::InvalidRequest(detail.clone()),
        _ => ApiError::InvalidRequest(error.to_string()),
    }
}
