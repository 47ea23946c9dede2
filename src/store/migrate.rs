//! Schema migrations, embedded in the binary, one directory per backend with identical
//! version names (checked by a test).

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DatabaseUrl, SQLITE_PRAGMAS};

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any fixed number works; it only has to be the same for every Hookbox instance so that
/// instances starting together migrate one after the other.
const MIGRATION_LOCK_KEY: i64 = 0x486f_6f6b_626f_7801;

/// A `CREATE INDEX CONCURRENTLY` that is interrupted (the process or the server stops) leaves
/// an invalid index behind that Postgres keeps maintaining but never uses, and the migration's
/// `IF NOT EXISTS` would take it for done. Postgres will not drop it in the migration that
/// builds it (that statement must run alone), so it is dropped here, before the migrations run
/// again. Under the migration lock no other runner can be building it; an orphaned build whose
/// client is gone still holds that lock until it ends.
const DROP_INTERRUPTED_INDEX_BUILDS: &str = "DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index
                WHERE indexrelid = to_regclass('callbacks_delivery_digest_key')
                  AND NOT indisvalid) THEN
        DROP INDEX callbacks_delivery_digest_key;
    END IF;
END $$";

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error("cannot create the directory for {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migration failed: {0}")]
    Run(String),
}

/// Applies every pending migration and returns the versions applied.
pub async fn run_pending(url: &DatabaseUrl) -> Result<Vec<String>, MigrationError> {
    let url = url.clone();
    // diesel_migrations is synchronous; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(&url))
        .await
        .map_err(|error| MigrationError::Run(error.to_string()))?
}

fn run_blocking(url: &DatabaseUrl) -> Result<Vec<String>, MigrationError> {
    let connect_error = |source| MigrationError::Connect {
        url: url.to_string(),
        source,
    };
    match url {
        DatabaseUrl::Postgres(raw) => {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(raw)
                .map_err(connect_error)?;
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(run_error)?;
            let applied = conn
                .batch_execute(DROP_INTERRUPTED_INDEX_BUILDS)
                .map_err(run_error)
                .and_then(|()| apply(&mut conn, POSTGRES));
            let unlocked = conn
                .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .map_err(run_error);
            let applied = applied?;
            unlocked?;
            Ok(applied)
        }
        DatabaseUrl::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| MigrationError::CreateDir {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            let mut conn =
                SqliteConnection::establish(&path.to_string_lossy()).map_err(connect_error)?;
            conn.batch_execute(SQLITE_PRAGMAS).map_err(run_error)?;
            apply(&mut conn, SQLITE)
        }
    }
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<Vec<String>, MigrationError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|error| MigrationError::Run(error.to_string()))
}

fn run_error(error: diesel::result::Error) -> MigrationError {
    MigrationError::Run(error.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn versions(dir: &str) -> BTreeSet<String> {
        std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
            .expect("migrations directory exists")
            .map(|entry| {
                entry
                    .expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        assert_eq!(versions("postgres"), versions("sqlite"));
    }
}
