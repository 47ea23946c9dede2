//! Argon2id password hashes with the crate's recommended parameters, computed off the async
//! workers (each takes tens of milliseconds on purpose) and no more of them at once than the
//! machine has cores: each holds about 19 MiB while it runs, and hundreds of logins sent at once
//! (unknown names included) would otherwise each get a thread of the blocking pool and their own
//! 19 MiB, with no answer sooner for any of them.

use std::future::Future;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

use super::error::ApiError;

/// A password as typed; `Debug` does not show it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// At least 8 characters, at most 1024 bytes (hashing cost is bounded).
    pub fn parse(raw: String) -> Result<Password, String> {
        if raw.chars().count() < 8 {
            return Err("the password must have at least 8 characters".into());
        }
        if raw.len() > 1024 {
            return Err("the password must be at most 1024 bytes".into());
        }
        Ok(Password(raw))
    }

    /// For verifying a login: any length is compared (length rules apply when setting).
    pub fn presented(raw: String) -> Password {
        Password(raw)
    }

    /// A random 24-character password (for the first admin).
    pub fn generate() -> Password {
        let bytes: [u8; 18] = rand::random();
        Password(base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            bytes,
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

pub async fn hash(password: Password) -> Result<String, ApiError> {
    off_the_workers(&HASHING, move || hash_blocking(&password)).await?
}

static HASHING: OnceLock<tokio::sync::Semaphore> = OnceLock::new();

/// Runs `work` on the blocking pool once one of the cores' permits is free (waiting for it
/// costs nothing but the queued request).
fn off_the_workers<T: Send + 'static>(
    permits: &'static OnceLock<tokio::sync::Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, ApiError>> {
    let permits = permits.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    async move {
        let _permit = permits
            .acquire()
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))
    }
}

fn hash_blocking(password: &Password) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.0.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| ApiError::Internal(error.to_string()))
}

/// Whether `password` matches `stored`. With no stored hash (unknown user) a dummy hash is
/// verified instead, so both answers take about the same time.
pub async fn verify(password: Password, stored: Option<String>) -> Result<bool, ApiError> {
    off_the_workers(&HASHING, move || {
        let dummy;
        let hash = match &stored {
            Some(hash) => hash.as_str(),
            None => {
                dummy = dummy_hash()?;
                dummy
            }
        };
        let matches = Argon2::default()
            .verify_password(password.0.as_bytes(), hash)
            .is_ok();
        Ok(matches && stored.is_some())
    })
    .await?
}

fn dummy_hash() -> Result<&'static str, ApiError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_blocking(&Password::generate())?;
    Ok(DUMMY.get_or_init(|| hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify(
            Password::presented("correct horse".into()),
            Some(hash.clone())
        )
        .await
        .unwrap());
        assert!(
            !verify(Password::presented("wrong horse".into()), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify(Password::presented("anything".into()), None)
            .await
            .unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let tasks: Vec<_> = (0..cores * 4)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(off_the_workers(&PERMITS, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }

    #[test]
    fn short_passwords_are_refused_and_debug_hides_the_text() {
        assert!(Password::parse("short".into()).is_err());
        let password = Password::parse("long enough".into()).unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }
}
