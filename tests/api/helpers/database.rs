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

/// The admin URL's `user[:password]` and `host:port`.
fn admin_credentials_and_server() -> (String, String) {
    let admin = postgres_admin_url();
    let after_scheme = admin
        .split_once("://")
        .map_or(admin.as_str(), |(_, rest)| rest);
    let (credentials, server) = after_scheme
        .rsplit_once('@')
        .unwrap_or(("postgres", after_scheme));
    let server = server.split_once('/').map_or(server, |(server, _)| server);
    (credentials.to_owned(), server.to_owned())
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
        let (credentials, _) = admin_credentials_and_server();
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
        execute_from_drop(
            postgres_admin_url(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A login role of a test's own with only the privileges it was given on one test database:
/// for what a server connected as a restricted account meets. Dropped with its privileges when
/// it goes out of scope; declared after its `TestDb`, it goes first.
pub struct TestRole {
    /// The role's URL of the test database.
    pub url: DatabaseUrl,
    name: String,
    database_url: String,
}

impl TestDb {
    /// A new login role (with a password, so that it works whatever the server's auth method)
    /// holding `privileges`, each a `GRANT` without its `TO` (`"INSERT ON callbacks"`).
    pub async fn login_role(&self, privileges: &[&str]) -> TestRole {
        let name = format!("{}_role", self.name);
        let password = hex::encode(rand::random::<[u8; 16]>());
        let mut admin = self.postgres_connection().await;
        admin
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
            .await
            .expect("creates the role");
        for privilege in privileges {
            admin
                .batch_execute(&format!("GRANT {privilege} TO {name}"))
                .await
                .unwrap_or_else(|e| panic!("cannot grant {privilege}: {e}"));
        }
        let (_, server) = admin_credentials_and_server();
        TestRole {
            url: DatabaseUrl::parse(&format!(
                "postgres://{name}:{password}@{server}/{}",
                self.name
            ))
            .expect("valid url"),
            name,
            database_url: match &self.url {
                DatabaseUrl::Postgres(url) => url.as_str().to_owned(),
                other => panic!("a Postgres test database, not {other:?}"),
            },
        }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        // Its privileges live in the test database and must go before the role can.
        execute_from_drop(
            self.database_url.clone(),
            format!("DROP OWNED BY {0}; DROP ROLE {0}", self.name),
        );
    }
}

/// Runs `sql` on `url`, ignoring failure: cleanup in `Drop`, which runs outside async, so on a
/// runtime of its own on a plain thread.
fn execute_from_drop(url: String, sql: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            if let Ok(mut conn) = AsyncPgConnection::establish(&url).await {
                let _ = conn.batch_execute(&sql).await;
            }
        });
        Ok::<_, std::io::Error>(())
    })
    .join();
}

/// Drops the test databases and roles left by runs whose process is gone.
async fn sweep_leftovers(admin: &str) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            use diesel::sql_types::Text;
            use diesel_async::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Name {
                #[diesel(sql_type = Text)]
                name: String,
            }
            let Ok(mut conn) = AsyncPgConnection::establish(admin).await else {
                return;
            };
            // Databases first: a role's privileges go with its database, and then it can go too.
            let leftovers = [
                (
                    "datname",
                    "pg_database",
                    "DROP DATABASE IF EXISTS",
                    " WITH (FORCE)",
                ),
                ("rolname", "pg_roles", "DROP ROLE IF EXISTS", ""),
            ];
            for (column, catalog, drop, options) in leftovers {
                let names: Vec<Name> = diesel::sql_query(format!(
                    "SELECT {column} AS name FROM {catalog} WHERE {column} LIKE '{PREFIX}%'"
                ))
                .load(&mut conn)
                .await
                .unwrap_or_default();
                for Name { name } in names {
                    if left_by_a_finished_run(&name) {
                        let _ = conn.batch_execute(&format!("{drop} {name}{options}")).await;
                    }
                }
            }
        })
        .await;
}

/// Whether a test database or role was made by a test process that is no longer running.
fn left_by_a_finished_run(name: &str) -> bool {
    let pid = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|pid| pid.parse::<u32>().ok());
    !pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}
