//! Webhook secrets: where they come from, how they are labelled, and how they stay out of logs.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A name for a secret that may be stored and shown; never the secret itself.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretLabel(String);

impl SecretLabel {
    fn parse(label: &str) -> Option<SecretLabel> {
        let valid = !label.is_empty()
            && label.len() <= 64
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        valid.then(|| SecretLabel(label.to_owned()))
    }

    /// For a secret given without a label: a short fingerprint, stable across restarts and
    /// useless for guessing a strong secret.
    fn fingerprint(key: &[u8]) -> SecretLabel {
        let digest = Sha256::digest(key);
        SecretLabel(format!("fp-{}", hex::encode(&digest[..4])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One HMAC key with its label. `Debug` never shows the key.
#[derive(Clone)]
pub struct WebhookSecret {
    label: SecretLabel,
    key: Vec<u8>,
}

impl WebhookSecret {
    pub fn label(&self) -> &SecretLabel {
        &self.label
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecret({:?}, <redacted>)", self.label)
    }
}

/// The secrets one source accepts; never empty. Several at once allow rotation without
/// downtime: any one matching is accepted and its label recorded.
#[derive(Clone, Debug)]
pub struct SecretSet(Vec<WebhookSecret>);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{origin}: entry {index} is empty")]
    Empty { origin: String, index: usize },
    #[error("{origin}: no secret given")]
    NoneGiven { origin: String },
    #[error("{origin}: label {label:?} must be 1-64 of A-Z a-z 0-9 - _ .")]
    BadLabel { origin: String, label: String },
    #[error("{origin}: label {label:?} is used twice")]
    DuplicateLabel { origin: String, label: String },
    #[error("cannot read the webhook secret file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the generated webhook secret to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SecretSet {
    pub fn iter(&self) -> impl Iterator<Item = &WebhookSecret> {
        self.0.iter()
    }

    pub fn first(&self) -> &WebhookSecret {
        // The constructor refuses an empty set.
        &self.0[0]
    }

    /// Parses entries of the form `label:secret` or a bare `secret`. A label is 1-64 of
    /// `A-Z a-z 0-9 - _ .`; a bare secret is labelled by its fingerprint.
    pub fn parse_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
        origin: &str,
    ) -> Result<SecretSet, SecretError> {
        let mut secrets: Vec<WebhookSecret> = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let entry = entry.trim();
            let (label, key) = match entry.split_once(':') {
                Some((label, key)) if SecretLabel::parse(label).is_some() => {
                    (SecretLabel::parse(label), key)
                }
                _ => (None, entry),
            };
            if key.is_empty() {
                return Err(SecretError::Empty {
                    origin: origin.to_owned(),
                    index: index + 1,
                });
            }
            let key = key.as_bytes().to_vec();
            let label = label.unwrap_or_else(|| SecretLabel::fingerprint(&key));
            if secrets.iter().any(|s| s.label == label) {
                return Err(SecretError::DuplicateLabel {
                    origin: origin.to_owned(),
                    label: label.0,
                });
            }
            if key.len() < 16 {
                tracing::warn!(
                    secret.label = label.as_str(),
                    "webhook secret is shorter than 16 bytes; use a longer random secret"
                );
            }
            secrets.push(WebhookSecret { label, key });
        }
        if secrets.is_empty() {
            return Err(SecretError::NoneGiven {
                origin: origin.to_owned(),
            });
        }
        Ok(SecretSet(secrets))
    }

    /// A comma-separated list, as given in `HOOKBOX_WEBHOOK_SECRET`.
    pub fn parse_list(list: &str, origin: &str) -> Result<SecretSet, SecretError> {
        SecretSet::parse_entries(list.split(','), origin)
    }

    /// One entry per line; blank lines and lines starting with `#` are ignored, so a file
    /// holding just the secret (a Docker or Kubernetes secret mount) works as it is.
    pub fn read_file(path: &Path) -> Result<SecretSet, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            path: path.to_owned(),
            source,
        })?;
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        SecretSet::parse_entries(lines, &path.display().to_string())
    }

    /// Secrets from a config file: each with an explicit label and already-decoded key.
    pub fn from_labelled(
        entries: Vec<(String, Vec<u8>)>,
        origin: &str,
    ) -> Result<SecretSet, SecretError> {
        let mut secrets: Vec<WebhookSecret> = Vec::new();
        for (index, (label, key)) in entries.into_iter().enumerate() {
            let label = SecretLabel::parse(&label).ok_or_else(|| SecretError::BadLabel {
                origin: origin.to_owned(),
                label: label.clone(),
            })?;
            if key.is_empty() {
                return Err(SecretError::Empty {
                    origin: origin.to_owned(),
                    index: index + 1,
                });
            }
            if secrets.iter().any(|s| s.label == label) {
                return Err(SecretError::DuplicateLabel {
                    origin: origin.to_owned(),
                    label: label.0,
                });
            }
            secrets.push(WebhookSecret { label, key });
        }
        if secrets.is_empty() {
            return Err(SecretError::NoneGiven {
                origin: origin.to_owned(),
            });
        }
        Ok(SecretSet(secrets))
    }

    fn single(label: &str, key: Vec<u8>) -> SecretSet {
        SecretSet(vec![WebhookSecret {
            label: SecretLabel(label.to_owned()),
            key,
        }])
    }
}

/// Where the secrets of the default source came from, for one clear log line at start.
pub enum SecretOrigin {
    Configured,
    Generated(PathBuf),
    PreviouslyGenerated(PathBuf),
}

pub const GENERATED_SECRET_FILE: &str = "webhook-secret";

/// Secrets from the flag or environment, else from the secret file, else the secret that
/// Hookbox generated in the data directory on its first start (created now if missing).
pub fn resolve(
    inline: Option<&str>,
    file: Option<&Path>,
    data_dir: &Path,
) -> Result<(SecretSet, SecretOrigin), SecretError> {
    if let Some(list) = inline {
        return Ok((
            SecretSet::parse_list(list, "HOOKBOX_WEBHOOK_SECRET")?,
            SecretOrigin::Configured,
        ));
    }
    if let Some(path) = file {
        return Ok((SecretSet::read_file(path)?, SecretOrigin::Configured));
    }
    let path = data_dir.join(GENERATED_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim().as_bytes().to_vec();
            if key.is_empty() {
                return Err(SecretError::Read {
                    path,
                    source: std::io::Error::other("the file is empty"),
                });
            }
            Ok((
                SecretSet::single("generated", key),
                SecretOrigin::PreviouslyGenerated(path),
            ))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_into(&path)?;
            Ok((
                SecretSet::single("generated", key),
                SecretOrigin::Generated(path),
            ))
        }
        Err(source) => Err(SecretError::Read { path, source }),
    }
}

/// Only reads: for commands such as `send-test` that must not create a secret of their own.
pub fn resolve_existing(
    inline: Option<&str>,
    file: Option<&Path>,
    data_dir: &Path,
) -> Result<SecretSet, SecretError> {
    let generated = data_dir.join(GENERATED_SECRET_FILE);
    if inline.is_none() && file.is_none() && !generated.exists() {
        return Err(SecretError::Read {
            path: generated,
            source: std::io::Error::other(
                "no secret configured and no generated one: the server generates it at its \
                 first start (a reload never does in place of one that has gone); or set \
                 HOOKBOX_WEBHOOK_SECRET",
            ),
        });
    }
    resolve(inline, file, data_dir).map(|(set, _)| set)
}

fn generate_into(path: &Path) -> Result<Vec<u8>, SecretError> {
    let write_error = |source| SecretError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error)?;
    Ok(key.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_and_bare_entries_are_told_apart() {
        let set = SecretSet::parse_list("old:first-secret-value, second-secret-value", "test")
            .expect("valid list");
        let labels: Vec<_> = set.iter().map(|s| s.label().as_str().to_owned()).collect();
        assert_eq!(labels[0], "old");
        assert!(
            labels[1].starts_with("fp-"),
            "bare secret gets a fingerprint label"
        );
        assert_eq!(
            set.iter().nth(1).map(|s| s.key()),
            Some(&b"second-secret-value"[..])
        );
    }

    #[test]
    fn a_colon_after_something_that_is_not_a_label_stays_part_of_the_secret() {
        let set = SecretSet::parse_list("not a label:rest", "test").expect("valid");
        assert_eq!(set.first().key(), b"not a label:rest");
    }

    #[test]
    fn empty_entries_and_repeated_labels_are_refused() {
        assert!(SecretSet::parse_list("", "test").is_err());
        assert!(SecretSet::parse_list("a:x,,b:y", "test").is_err());
        assert!(SecretSet::parse_list("a:", "test").is_err());
        assert!(SecretSet::parse_list("a:x,a:y", "test").is_err());
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let set = SecretSet::parse_list("k:super-secret-value", "test").expect("valid");
        assert!(!format!("{set:?}").contains("super-secret-value"));
    }

    #[test]
    fn a_generated_secret_is_written_once_owner_only_and_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (first, origin) = resolve(None, None, dir.path()).expect("generated");
        assert!(matches!(origin, SecretOrigin::Generated(_)));
        assert_eq!(first.first().key().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GENERATED_SECRET_FILE))
                .expect("file exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "secret file must be owner-only");
        }
        let (again, origin) = resolve(None, None, dir.path()).expect("reused");
        assert!(matches!(origin, SecretOrigin::PreviouslyGenerated(_)));
        assert_eq!(first.first().key(), again.first().key());
    }

    #[test]
    fn a_secret_file_may_hold_just_the_secret_or_labelled_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s");
        std::fs::write(
            &path,
            "# rotated 2026-11\nnew:abcdefghijklmnop\nold:qrstuvwxyz012345\n",
        )
        .expect("write");
        let set = SecretSet::read_file(&path).expect("valid file");
        assert_eq!(set.iter().count(), 2);
        std::fs::write(&path, "just-the-secret-value\n").expect("write");
        assert_eq!(
            SecretSet::read_file(&path).expect("valid").first().key(),
            b"just-the-secret-value"
        );
    }
}
