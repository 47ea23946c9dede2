//! A fresh database per test: a temp SQLite file, or a throw-away Postgres database that is
//! dropped when the test ends. Leftovers of crashed runs are swept at the first use.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use hookbox::store::DatabaseUrl;
use tokio::sync::OnceCell;

const PREFIX: &str = "hookbox_test_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server that holds the test databases (trust auth on the CI machine).
pub fn postgres_admin_url() -> String {
    std::env::var("HOOKBOX_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// CI sets this so that a missing Postgres fails the run instead of skipping tests.
fn postgres_required() -> bool {
    std::env::var("HOOKBOX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

pub struct TestDb {
    pub url: DatabaseUrl,
    pub backend: Backend,
    /// For Postgres: the database name, so tests can build URLs through a proxy.
    pub name: String,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl TestDb {
    /// `None` only for Postgres when it is unreachable and not required (prints why).
    pub async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("hookbox.db");
                Some(TestDb {
                    url: DatabaseUrl::Sqlite(path),
                    backend,
                    name: "hookbox.db".into(),
                    _dir: Some(Arc::new(dir)),
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = match AsyncPgConnection::establish(&admin).await {
                    Ok(conn) => conn,
                    Err(error) if !postgres_required() => {
                        eprintln!(
                            "SKIPPED (Postgres test): cannot reach {admin}: {error}. \
                             Set HOOKBOX_REQUIRE_POSTGRES=1 to make this a failure."
                        );
                        return None;
                    }
                    Err(error) => {
                        panic!("Postgres is required but unreachable at {admin}: {error}")
                    }
                };
                sweep_leftovers(&admin).await;
                let name = format!(
                    "{PREFIX}{}_{}",
                    std::process::id(),
                    hex::encode(rand::random::<[u8; 6]>())
                );
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Some(TestDb {
                    url: DatabaseUrl::parse(&format!("{base}/{name}")).expect("valid url"),
                    backend,
                    name,
                    _dir: None,
                })
            }
        }
    }

    /// Applies every migration, as the server does at start.
    pub async fn migrate(&self) {
        hookbox::store::migrate::run_pending(&self.url)
            .await
            .expect("migrations run");
    }

    /// The same database, reached through another host:port (a proxy).
    pub fn url_via(&self, port: u16) -> DatabaseUrl {
        let admin = postgres_admin_url();
        let credentials = admin
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map_or("postgres", |(credentials, _)| credentials);
        DatabaseUrl::parse(&format!(
            "postgres://{credentials}@127.0.0.1:{port}/{}",
            self.name
        ))
        .expect("valid url")
    }

    /// A connection of its own to this Postgres database, outside the app's pool: for setting
    /// up what the server cannot be asked for (locks, table options, statistics).
    pub async fn postgres_connection(&self) -> AsyncPgConnection {
        let DatabaseUrl::Postgres(url) = &self.url else {
            panic!("a Postgres test database, not {:?}", self.url)
        };
        AsyncPgConnection::establish(url.as_str())
            .await
            .expect("connects")
    }

    /// Reads of `users` wait until the returned connection commits: a read held mid-flight.
    pub async fn lock_users(&self) -> AsyncPgConnection {
        self.lock_table("users").await
    }

    /// Every statement on `table` waits until the returned connection ends its transaction
    /// (`unlock`).
    pub async fn lock_table(&self, table: &str) -> AsyncPgConnection {
        let mut connection = self.postgres_connection().await;
        connection
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .unwrap_or_else(|e| panic!("cannot lock {table}: {e}"));
        connection
    }

    /// Ends the transaction of `lock_table`, releasing its lock.
    pub async fn unlock(locked: &mut AsyncPgConnection) {
        locked.batch_execute("COMMIT").await.expect("unlocks");
    }

    /// How many statements wait for the lock `lock_users` holds.
    pub async fn users_lock_waiters(&self, observer: &mut AsyncPgConnection) -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass)",
        ))
        .get_result::<i64>(observer)
        .await
        .expect("pg_locks reads")
    }

    /// Returns once `waiters` statements wait for the lock `lock_users` holds (about 5 s at
    /// most).
    pub async fn wait_for_users_lock_waiters(&self, waiters: i64) {
        let mut observer = self.postgres_connection().await;
        for attempt in 0.. {
            let waiting = self.users_lock_waiters(&mut observer).await;
            if waiting >= waiters {
                return;
            }
            assert!(
                attempt < 500,
                "{waiters} reads never waited for the users table"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let name = self.name.clone();
        // Drop runs outside async; use a runtime of its own on a plain thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&postgres_admin_url()).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// Drops test databases left by runs whose process is gone.
async fn sweep_leftovers(admin: &str) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            use diesel::sql_types::Text;
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Name {
                #[diesel(sql_type = Text)]
                datname: String,
            }
            let Ok(mut conn) = AsyncPgConnection::establish(admin).await else {
                return;
            };
            let names: Vec<Name> = diesel::sql_query(format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"
            ))
            .load(&mut conn)
            .await
            .unwrap_or_default();
            for Name { datname } in names {
                let pid = datname
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|pid| pid.parse::<u32>().ok());
                let alive =
                    pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
                if !alive {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"))
                        .await;
                }
            }
        })
        .await;
}
