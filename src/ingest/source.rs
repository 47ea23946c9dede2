//! A source is one sender URL (`/api/webhooks/{name}`) with its signature scheme, secrets,
//! limits, field mapping and idempotency rule. Without a config file there is one,
//! `llm-callback`; a config file declares any number (see `ingest::config`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

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
    /// The headers of its own this source reads (its signature header, its idempotency
    /// header), beside the fixed ones every rejection entry looks for.
    pub fn own_header_names(&self) -> Vec<&str> {
        let signature = match &self.scheme {
            Scheme::HmacSha256Hex { header, .. } => Some(header.as_str()),
            Scheme::StandardWebhooks { .. } => None,
        };
        let idempotency = match &self.idempotency {
            IdempotencyRule::Header(name) => Some(name.as_str()),
            _ => None,
        };
        signature.into_iter().chain(idempotency).collect()
    }

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
pub struct Sources {
    table: Arc<RwLock<Arc<Table>>>,
    /// Held by a reload from before it reads the file until its table is in place.
    reloading: Arc<Mutex<()>>,
}

impl Sources {
    pub fn new(sources: impl IntoIterator<Item = Source>) -> Sources {
        Sources {
            table: Arc::new(RwLock::new(Arc::new(table(sources)))),
            reloading: Arc::default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Source>> {
        self.snapshot().get(name).cloned()
    }

    /// The source names, in order.
    pub fn names(&self) -> Vec<String> {
        self.snapshot().keys().cloned().collect()
    }

    /// Loads the sources with `load` and, if it succeeds, replaces every source at once. One
    /// reload at a time: two at once (a SIGHUP and the admin call) could read the file in one
    /// order and swap in the other, leaving the older file in force.
    pub fn reload<I, E>(&self, load: impl FnOnce() -> Result<I, E>) -> Result<(), E>
    where
        I: IntoIterator<Item = Source>,
    {
        // Nothing that panics runs under these locks but `load`, and a reload that panicked
        // swapped nothing in: a poisoned lock still guards a consistent table.
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let fresh = Arc::new(table(load()?));
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn snapshot(&self) -> Arc<Table> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn table(sources: impl IntoIterator<Item = Source>) -> Table {
    sources
        .into_iter()
        .map(|source| (source.name.clone(), Arc::new(source)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn named(name: &str) -> Vec<Source> {
        let secrets = SecretSet::parse_list("secret", "test").expect("a secret");
        let mut source = Source::llm_callback(secrets);
        source.name = name.to_owned();
        vec![source]
    }

    #[test]
    fn a_reload_that_read_the_file_first_is_not_swapped_in_last() {
        let sources = Sources::new(named("initial"));
        let (reading, read_started) = mpsc::channel();
        let (finish_reading, may_finish) = mpsc::channel::<()>();
        let first = {
            let sources = sources.clone();
            std::thread::spawn(move || {
                sources.reload(|| {
                    reading.send(()).expect("the test waits");
                    may_finish.recv().expect("the test releases it");
                    Ok::<_, ()>(named("older"))
                })
            })
        };
        read_started.recv().expect("the first reload reads");
        let second_read = Arc::new(AtomicBool::new(false));
        let second = {
            let (sources, second_read) = (sources.clone(), second_read.clone());
            std::thread::spawn(move || {
                sources.reload(|| {
                    second_read.store(true, Ordering::SeqCst);
                    Ok::<_, ()>(named("newer"))
                })
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !second_read.load(Ordering::SeqCst),
            "the second reload waits for the first"
        );
        finish_reading.send(()).expect("the first reload waits");
        assert_eq!(first.join().expect("joins"), Ok(()));
        assert_eq!(second.join().expect("joins"), Ok(()));
        assert_eq!(sources.names(), ["newer"]);
    }

    #[test]
    fn a_reload_that_fails_keeps_the_sources() {
        let sources = Sources::new(named("kept"));
        assert_eq!(
            sources.reload(|| Err::<Vec<Source>, _>("bad file")),
            Err("bad file")
        );
        assert_eq!(sources.names(), ["kept"]);
    }
}
