//! Sources declared in `hookbox.toml` (path by `--config` / `HOOKBOX_CONFIG`). Without a file
//! there is one source, `llm-callback`, with the server's default secret. A file is read
//! whole: either every source in it is valid, or none is used and the refusal names the file,
//! line and field.

mod model;
mod resolve;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::secrets::{self, SecretError, SecretOrigin, SecretSet};
use super::source::Source;

#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid config: {0}")]
    Config(ConfigError),
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl From<ConfigError> for LoadError {
    fn from(error: ConfigError) -> Self {
        LoadError::Config(error)
    }
}

/// Where the `llm-callback` source's secrets come from when the file gives none.
#[derive(Clone, Debug)]
pub struct DefaultSecret {
    pub inline: Option<String>,
    pub file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub generation: Generation,
}

/// Whether the default secret may be generated in the data directory.
#[derive(Clone, Debug)]
pub enum Generation {
    /// Never: `send-test` and `config check` must not create a secret of their own.
    Never,
    /// The server's loads, at start and at every reload: while no generated secret has been
    /// used. Once one has, one that has gone (deleted, a data directory mounted afresh) fails
    /// the load, so a reload keeps the running sources, instead of a new secret that refuses
    /// every sender's signature. Shared by the loader's clones.
    UntilOneExisted(Arc<AtomicBool>),
}

impl Generation {
    pub fn until_one_existed() -> Generation {
        Generation::UntilOneExisted(Arc::default())
    }
}

impl DefaultSecret {
    fn resolve(&self) -> Result<SecretSet, SecretError> {
        let (inline, file) = (self.inline.as_deref(), self.file.as_deref());
        let existed = match &self.generation {
            Generation::UntilOneExisted(existed) if !existed.load(Ordering::SeqCst) => existed,
            _ => return secrets::resolve_existing(inline, file, &self.data_dir),
        };
        let (set, origin) = secrets::resolve(inline, file, &self.data_dir)?;
        if matches!(
            origin,
            SecretOrigin::Generated(_) | SecretOrigin::PreviouslyGenerated(_)
        ) {
            existed.store(true, Ordering::SeqCst);
        }
        match origin {
            SecretOrigin::Configured => {
                let labels: Vec<_> = set.iter().map(|s| s.label().as_str()).collect();
                tracing::info!(secret.labels = ?labels, "webhook secrets configured");
            }
            SecretOrigin::Generated(path) => tracing::info!(
                path = %path.display(),
                "generated a webhook secret (readable by this user only); give its contents to your senders"
            ),
            SecretOrigin::PreviouslyGenerated(path) => {
                tracing::info!(path = %path.display(), "using the generated webhook secret")
            }
        }
        Ok(set)
    }
}

/// Reads the sources: at start, on every reload, and for `send-test` / `config check`.
#[derive(Clone, Debug)]
pub struct SourcesLoader {
    pub config: Option<PathBuf>,
    pub default_secret: DefaultSecret,
}

impl SourcesLoader {
    pub fn load(&self) -> Result<Vec<Source>, LoadError> {
        let Some(path) = &self.config else {
            return Ok(vec![Source::llm_callback(self.default_secret.resolve()?)]);
        };
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let drafts = parse(path, &text)?;
        let mut default = None;
        let mut sources = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let secrets = match draft.secrets {
                Some(secrets) => secrets,
                None => match &default {
                    Some(set) => SecretSet::clone(set),
                    None => default.insert(self.default_secret.resolve()?).clone(),
                },
            };
            sources.push((draft.build)(secrets));
        }
        Ok(sources)
    }
}

/// Parses and checks a whole file; the secrets it names are read (env vars, files) too.
fn parse(path: &Path, text: &str) -> Result<Vec<resolve::Draft>, ConfigError> {
    let located = |span: std::ops::Range<usize>, field: String, message: String| {
        let (line, column) = position(text, span.start);
        ConfigError {
            file: path.to_owned(),
            line,
            column,
            field,
            message,
        }
    };
    let file: model::FileModel = toml::from_str(text).map_err(|mut error| {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().to_owned();
        // Without the input, toml's Display names the key path ("in `a.b`") instead of
        // quoting the line; that is the field we report.
        error.set_input(None);
        let field = error
            .to_string()
            .lines()
            .find_map(|line| {
                line.strip_prefix("in `")?
                    .strip_suffix('`')
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "(file)".to_owned());
        let message = if field.contains(".secrets") {
            without_quoted_values(&message)
        } else {
            message
        };
        located(span, field, message)
    })?;
    if file.sources.is_empty() {
        return Err(located(
            0..0,
            "sources".into(),
            "no [sources.<name>] table; declare at least one source".into(),
        ));
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    file.sources
        .iter()
        .map(|(name, model)| resolve::source(name, model.get_ref(), base_dir))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|fault| located(fault.span, fault.field, fault.message))
}

/// A type error quotes the value it met (`invalid type: string "whsec_…", expected struct
/// SecretModel`). Under `secrets` that value may be the secret itself, written where a table
/// was expected; the message goes to the log, the reload API's answer and `config check`.
fn without_quoted_values(message: &str) -> String {
    let mut kept = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        kept.push(c);
        if c == '"' {
            // Skip to the closing quote of serde's `{:?}` quoting, past escaped characters.
            while let Some(inner) = chars.next() {
                match inner {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
            kept.push_str("…\"");
        }
    }
    kept
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
