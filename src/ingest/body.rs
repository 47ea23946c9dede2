//! Reading a request body without ever holding more than the limit, nor waiting forever.

use std::time::Duration;

use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt;

use super::error::IngestError;

/// Refuses a declared `Content-Length` over `limit` before a single body byte is read.
pub fn check_declared_length(
    req: &actix_web::HttpRequest,
    limit: usize,
) -> Result<(), IngestError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(IngestError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// The body in an allocation of its size. Grown chunk by chunk, its buffer doubles, and the
/// spare room would stay with it until the writer has stored it: a body of 600 KiB could hold
/// 1 MiB, and the writer's bound on the bodies waiting for it counts their lengths.
fn fitted(body: BytesMut) -> Bytes {
    if body.capacity() - body.len() > body.len() / 4 {
        Bytes::copy_from_slice(&body)
    } else {
        body.freeze()
    }
}

/// How much of a request's body was read: `received` also for one refused part-way (too
/// large, too slow, cut off), which the rejection log records; `whole` once all of it was.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyRead {
    pub received: Option<usize>,
    pub whole: Option<usize>,
}

/// Reads the whole body, stopping with 413 the moment it crosses `limit` (a chunked body has
/// no declared length) and with 408 when it has not fully arrived within `timeout`. `received`
/// counts the bytes that arrived, whatever the outcome.
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
    timeout: Duration,
    received: &mut usize,
) -> Result<Bytes, IngestError> {
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|error| IngestError::BodyRead(error.to_string()))?;
            *received += chunk.len();
            if body.len() + chunk.len() > limit {
                return Err(IngestError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(fitted(body))
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| IngestError::BodyTimeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_grown_chunk_by_chunk_keeps_no_spare_room() {
        let mut grown = BytesMut::new();
        for _ in 0..600 {
            grown.extend_from_slice(&[7u8; 1024]);
        }
        assert!(
            grown.capacity() > grown.len() * 5 / 4,
            "the buffer grew by doubling"
        );
        let body = Vec::from(fitted(grown));
        assert_eq!(body.len(), 600 * 1024);
        assert!(body.capacity() <= body.len() * 5 / 4, "{}", body.capacity());
    }
}
