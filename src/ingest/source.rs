//! A source is one sender URL (`/api/webhooks/{name}`) with its signature scheme, secrets,
//! limits, field mapping and idempotency rule. Without a config file there is one,
//! `llm-callback`; a config file declares any number (see `ingest::config`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use actix_web::http::header::HeaderName;

pub use super::delivery::IdempotencyRule;
pub use super::mapping::Mapping;
use super::presets::Preset;
pub use super::scheme::{Presented, Scheme};
use super::secrets::SecretSet;

pub const LLM_CALLBACK: &str = "llm-callback";
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

pub struct Source {
    pub name: String,
    pub scheme: Scheme,
    pub body_limit: usize,
    pub mapping: Mapping,
    pub idempotency: IdempotencyRule,
    /// The preset it was declared with, if any: `send-test` uses it for a realistic sample.
    pub preset: Option<Preset>,
}

impl Source {
    /// The built-in source of the LLM-callback contract.
    pub fn llm_callback(secrets: SecretSet) -> Source {
        Source {
            name: LLM_CALLBACK.to_owned(),
            scheme: Scheme::HmacSha256Hex {
                header: HeaderName::from_static("x-webhook-signature"),
                prefixed: true,
                secrets,
            },
            body_limit: DEFAULT_BODY_LIMIT,
            mapping: Mapping::LlmCallback,
            idempotency: IdempotencyRule::Auto,
            preset: Some(Preset::LlmCallback),
        }
    }
}

type Table = BTreeMap<String, Arc<Source>>;

/// The configured sources by URL name. Clones share one table, which a reload swaps as a
/// whole: a request holds the `Arc<Source>` it started with, so in-flight requests finish
/// with the configuration they began under.
#[derive(Clone)]
pub struct Sources(Arc<RwLock<Arc<Table>>>);

impl Sources {
    pub fn new(sources: impl IntoIterator<Item = Source>) -> Sources {
        Sources(Arc::new(RwLock::new(Arc::new(table(sources)))))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Source>> {
        self.snapshot().get(name).cloned()
    }

    /// The source names, in order.
    pub fn names(&self) -> Vec<String> {
        self.snapshot().keys().cloned().collect()
    }

    /// Replaces every source at once.
    pub fn replace(&self, sources: impl IntoIterator<Item = Source>) {
        let fresh = Arc::new(table(sources));
        // A writer cannot panic while holding the lock (it only swaps an Arc), so a poisoned
        // lock still guards a consistent table.
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }

    fn snapshot(&self) -> Arc<Table> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

fn table(sources: impl IntoIterator<Item = Source>) -> Table {
    sources
        .into_iter()
        .map(|source| (source.name.clone(), Arc::new(source)))
        .collect()
}
