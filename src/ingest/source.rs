//! A source is one sender URL (`/api/webhooks/{name}`) with its signature scheme, secrets and
//! limits. Today there is one, `llm-callback`; more schemes plug in as `Scheme` variants.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderName};

use super::secrets::{SecretLabel, SecretSet};
use super::signature::{PresentedSignature, SignatureError};

pub const LLM_CALLBACK: &str = "llm-callback";
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

pub enum Scheme {
    /// `<header>: sha256=<hex HMAC-SHA256 of the raw body>`.
    HmacSha256Hex {
        header: HeaderName,
        secrets: SecretSet,
    },
}

impl Scheme {
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::HmacSha256Hex { .. } => "hmac-sha256-hex",
        }
    }

    /// Reads and checks the signature headers; runs before the body is read.
    pub fn presented(&self, headers: &HeaderMap) -> Result<Presented, SignatureError> {
        match self {
            Scheme::HmacSha256Hex { header, .. } => {
                let value = headers.get(header);
                let signature = PresentedSignature::parse(value.map(|v| v.as_bytes()))?;
                let header_text = value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                Ok(Presented {
                    signature,
                    header_text: header_text.unwrap_or_default(),
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
        match self {
            Scheme::HmacSha256Hex { secrets, .. } => presented.signature.verify(body, secrets),
        }
    }
}

/// The signature a request carries, parsed but not yet checked.
pub struct Presented {
    signature: PresentedSignature,
    /// The header as received, stored so the verdict can be re-checked later.
    pub header_text: String,
}

pub struct Source {
    pub name: String,
    pub scheme: Scheme,
    pub body_limit: usize,
}

impl Source {
    /// The built-in source of the LLM-callback contract.
    pub fn llm_callback(secrets: SecretSet) -> Source {
        Source {
            name: LLM_CALLBACK.to_owned(),
            scheme: Scheme::HmacSha256Hex {
                header: HeaderName::from_static("x-webhook-signature"),
                secrets,
            },
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// The configured sources by URL name.
#[derive(Clone)]
pub struct Sources(Arc<HashMap<String, Arc<Source>>>);

impl Sources {
    pub fn new(sources: impl IntoIterator<Item = Source>) -> Sources {
        Sources(Arc::new(
            sources
                .into_iter()
                .map(|source| (source.name.clone(), Arc::new(source)))
                .collect(),
        ))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Source>> {
        self.0.get(name).cloned()
    }
}
