//! Signature schemes. Each reads its headers before the body is read (`presented`), then
//! checks the digest over the raw bytes (`verify`), and can sign like a sender (`sign`).

use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName};

use super::secrets::{SecretLabel, SecretSet, WebhookSecret};
use super::signature::{header_value_with, PresentedSignature, SignatureError};
use super::standard_webhooks as sw;

pub const DEFAULT_REPLAY_TOLERANCE: Duration = Duration::from_secs(5 * 60);

pub enum Scheme {
    /// `<header>: sha256=<hex HMAC-SHA256 of the raw body>` (or the bare hex).
    HmacSha256Hex {
        header: HeaderName,
        prefixed: bool,
        secrets: SecretSet,
    },
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks {
        secrets: SecretSet,
        tolerance: Duration,
    },
}

/// The signature a request carries, parsed but not yet checked.
pub struct Presented {
    kind: PresentedKind,
    /// The header(s) as received, stored so the verdict can be re-checked later.
    pub header_text: String,
}

enum PresentedKind {
    Hex(PresentedSignature),
    Standard(sw::Presented),
}

impl Scheme {
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::HmacSha256Hex { .. } => "hmac-sha256-hex",
            Scheme::StandardWebhooks { .. } => "standard-webhooks",
        }
    }

    pub fn secrets(&self) -> &SecretSet {
        match self {
            Scheme::HmacSha256Hex { secrets, .. } | Scheme::StandardWebhooks { secrets, .. } => {
                secrets
            }
        }
    }

    /// Reads and checks the signature headers; `now` is Unix seconds.
    pub fn presented(&self, headers: &HeaderMap, now: i64) -> Result<Presented, SignatureError> {
        match self {
            Scheme::HmacSha256Hex {
                header, prefixed, ..
            } => {
                let value = headers.get(header);
                let signature =
                    PresentedSignature::parse_with(value.map(|v| v.as_bytes()), *prefixed)?;
                let header_text = value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                Ok(Presented {
                    kind: PresentedKind::Hex(signature),
                    header_text: header_text.unwrap_or_default(),
                })
            }
            Scheme::StandardWebhooks { tolerance, .. } => {
                let presented = sw::Presented::parse(headers, now, *tolerance)?;
                let signature = headers
                    .get(sw::SIGNATURE_HEADER)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                Ok(Presented {
                    header_text: sw::stored_header(&presented, &signature),
                    kind: PresentedKind::Standard(presented),
                })
            }
        }
    }

    /// Verifies the presented signature over the raw body.
    pub fn verify(
        &self,
        presented: &Presented,
        body: &[u8],
    ) -> Result<&SecretLabel, SignatureError> {
        match &presented.kind {
            PresentedKind::Hex(signature) => signature.verify(body, self.secrets()),
            PresentedKind::Standard(signature) => signature.verify(body, self.secrets()),
        }
    }

    /// The headers a sender holding `secret` puts on `body` at `now` (Unix seconds).
    pub fn sign(&self, secret: &WebhookSecret, body: &[u8], now: i64) -> Vec<(String, String)> {
        match self {
            Scheme::HmacSha256Hex {
                header, prefixed, ..
            } => vec![(
                header.as_str().to_owned(),
                header_value_with(secret.key(), body, *prefixed),
            )],
            Scheme::StandardWebhooks { .. } => {
                let id = format!("msg_{}", hex::encode(rand::random::<[u8; 12]>()));
                let timestamp = now.to_string();
                let signature = sw::signature_header(secret.key(), &id, &timestamp, body);
                vec![
                    (sw::ID_HEADER.to_owned(), id),
                    (sw::TIMESTAMP_HEADER.to_owned(), timestamp),
                    (sw::SIGNATURE_HEADER.to_owned(), signature),
                ]
            }
        }
    }
}
