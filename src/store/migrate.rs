//! Schema migrations, embedded in the binary, one directory per backend with identical
//! version names (checked by a test).

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{Integer, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DatabaseUrl, SQLITE_PRAGMAS};

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any fixed number works; it only has to be the same for every Hookbox instance so that
/// instances starting together migrate one after the other.
pub const MIGRATION_LOCK_KEY: i64 = 0x486f_6f6b_626f_7801;

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

/// The oldest Postgres Hookbox runs on, as `server_version_num` counts: its batch insert and
/// history page fence their first step with `WITH … AS MATERIALIZED` (Postgres 12), and the
/// digest's backfill commits inside a `DO` block (11). Refusing an older server at start says
/// so in one line instead of a syntax error at the first callback or poll.
const OLDEST_POSTGRES: i32 = 120_000;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error(
        "cannot connect to {url}: no answer within {} s (is the host reachable?)",
        CONNECT_TIMEOUT.as_secs()
    )]
    ConnectTimeout { url: String },
    #[error("cannot create the directory for {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "Hookbox needs PostgreSQL {oldest} or later; the server at {url} runs PostgreSQL {version}",
        oldest = OLDEST_POSTGRES / 10_000
    )]
    UnsupportedServer { url: String, version: String },
    #[error("migration failed: {0}")]
    Run(String),
}

#[derive(QueryableByName)]
struct ServerVersion {
    #[diesel(sql_type = Integer)]
    number: i32,
    #[diesel(sql_type = Text)]
    name: String,
}

impl ServerVersion {
    fn is_supported(&self) -> bool {
        self.number >= OLDEST_POSTGRES
    }
}

/// How long the first connection at start may take. A host that drops packets otherwise
/// kept the start silent for the system's TCP timeout (about two minutes), and a server that
/// accepted the connection and never answered, for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Applies every pending migration and returns the versions applied.
pub async fn run_pending(url: &DatabaseUrl) -> Result<Vec<String>, MigrationError> {
    let url = url.clone();
    // diesel_migrations is synchronous; keep it off the async workers.
    let blocking = match &url {
        DatabaseUrl::Postgres(raw) => {
            let connection = connect_postgres(&url, raw).await?;
            tokio::task::spawn_blocking(move || migrate_postgres(&url, connection))
        }
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || migrate_sqlite(&url, &path))
        }
    };
    blocking
        .await
        .map_err(|error| MigrationError::Run(error.to_string()))?
}

async fn connect_postgres(
    url: &DatabaseUrl,
    raw: &str,
) -> Result<AsyncPgConnection, MigrationError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(raw)).await {
        Ok(connected) => connected.map_err(|source| MigrationError::Connect {
            url: url.to_string(),
            source,
        }),
        Err(_) => Err(MigrationError::ConnectTimeout {
            url: url.to_string(),
        }),
    }
}

fn migrate_postgres(
    url: &DatabaseUrl,
    connection: AsyncPgConnection,
) -> Result<Vec<String>, MigrationError> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(connection);
    let server: ServerVersion = diesel::sql_query(
        "SELECT current_setting('server_version_num')::int4 AS number, \
                current_setting('server_version') AS name",
    )
    .get_result(&mut conn)
    .map_err(run_error)?;
    if !server.is_supported() {
        return Err(MigrationError::UnsupportedServer {
            url: url.to_string(),
            version: server.name,
        });
    }
    take_migration_lock(&mut conn, url)?;
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

fn migrate_sqlite(url: &DatabaseUrl, path: &Path) -> Result<Vec<String>, MigrationError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| MigrationError::CreateDir {
            path: path.display().to_string(),
            source,
        })?;
    }
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).map_err(|source| {
        MigrationError::Connect {
            url: url.to_string(),
            source,
        }
    })?;
    conn.batch_execute(SQLITE_PRAGMAS).map_err(run_error)?;
    apply(&mut conn, SQLITE)
}

#[derive(QueryableByName)]
struct LockTaken {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    taken: bool,
}

/// Takes the migration lock, asking again every `LOCK_RETRY` while another instance holds it.
/// Waiting inside `pg_advisory_lock` would keep a statement, and its snapshot, open all along:
/// a `CREATE INDEX CONCURRENTLY` run by the instance holding the lock waits for every older
/// snapshot to end, so the two waited for each other and Postgres ended one as a deadlock.
fn take_migration_lock(
    conn: &mut AsyncConnectionWrapper<AsyncPgConnection>,
    url: &DatabaseUrl,
) -> Result<(), MigrationError> {
    let mut said = false;
    loop {
        let lock: LockTaken = diesel::sql_query(format!(
            "SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY}) AS taken"
        ))
        .get_result(conn)
        .map_err(run_error)?;
        if lock.taken {
            return Ok(());
        }
        if !said {
            tracing::info!(%url, "another instance is migrating the database; waiting for it");
            said = true;
        }
        std::thread::sleep(LOCK_RETRY);
    }
}

const LOCK_RETRY: Duration = Duration::from_millis(200);

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

    use super::{MigrationError, ServerVersion};
    use crate::store::DatabaseUrl;

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

    fn server(number: i32, name: &str) -> ServerVersion {
        ServerVersion {
            number,
            name: name.to_owned(),
        }
    }

    #[test]
    fn postgres_12_and_later_are_supported_and_11_is_not() {
        assert!(!server(110_022, "11.22").is_supported());
        assert!(!server(90_624, "9.6.24").is_supported());
        assert!(server(120_000, "12.0").is_supported());
        assert!(server(150_020, "15.20 (Debian 15.20-0+deb12u1)").is_supported());
        assert!(server(180_001, "18.1").is_supported());
    }

    #[test]
    fn an_old_server_is_named_with_its_version_and_without_the_password() {
        let url = DatabaseUrl::parse("postgres://hookbox:s3cret@db.internal:5432/hookbox")
            .expect("a valid url");
        let error = MigrationError::UnsupportedServer {
            url: url.to_string(),
            version: "11.22".to_owned(),
        };
        let message = error.to_string();
        assert!(
            message.contains("needs PostgreSQL 12 or later"),
            "{message}"
        );
        assert!(message.contains("runs PostgreSQL 11.22"), "{message}");
        assert!(message.contains("db.internal"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}
