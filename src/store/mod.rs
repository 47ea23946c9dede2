//! Storage: one `Db` over Postgres or SQLite. Everything outside this module calls plain async
//! functions and never sees a diesel connection type.

mod batch_insert;
mod batch_plan;
pub mod callbacks;
pub mod check_page;
pub mod checkpoint;
mod delivery_digest;
mod error;
pub mod feed;
pub mod history_page;
mod literal_limit;
pub mod migrate;
mod pg_bulk_insert;
mod pg_writer_connection;
mod reads_in_flight;
mod recent;
pub mod rejections;
pub mod retention;
mod schema;
pub mod seed;
pub mod sessions;
mod unviewed;
mod url;
pub mod users;
pub mod vacuum;
pub mod views;
pub mod writer;

use std::time::Duration;

use deadpool::managed::{TimeoutType, Timeouts};
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, SetupCallback,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::FutureExt;
use tokio_postgres::NoTls;

pub use batch_insert::CALLBACK_ORDER_LOCK;
pub use error::{NoAnswer, StoreError};
pub use reads_in_flight::ReadsInFlight;
pub use url::{DatabaseUrl, InvalidDatabaseUrl};

type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Every SQLite connection gets these. `synchronous=FULL` because a 200 must survive power
/// loss, as on Postgres; `busy_timeout` covers another process (the CLI) writing briefly, and
/// comes first because setting the journal mode already needs a lock (held, for instance, by
/// another connection checkpointing as it closes); no automatic checkpoint because the server
/// checkpoints off the commit path (checkpoint.rs).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;";
/// The `busy_timeout` of `SQLITE_PRAGMAS`, for a connection that lowers it for a moment.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5000;

/// Runs `work` as a task of its own and waits for it at most `wait`: the caller gets `NoAnswer`
/// then, while the task runs on, never dropped mid-flight, to its own deadline. A diesel-async
/// SQLite query dropped mid-flight (the caller hung up, or gave up waiting) waits for itself with
/// `block_in_place`, which panics on actix's current-thread workers.
pub async fn on_a_task_within<T, F>(wait: Duration, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
{
    match tokio::time::timeout(wait, tokio::spawn(work)).await {
        Ok(Ok(answered)) => answered,
        Ok(Err(stopped)) => Err(StoreError::Unavailable(stopped.to_string())),
        Err(_) => Err(NoAnswer { waited: wait }.into()),
    }
}

/// `PoolSettings::answer_timeout` unless configured (`--db-answer-timeout-ms`).
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: usize,
    /// How long a request may wait for a free connection before it is told "unavailable".
    pub acquire_timeout: Duration,
    /// Postgres: how long a request's queries may wait for the database's answers before it
    /// is told "unavailable" and the connection is closed. Generous, for long searches; it is
    /// there for a database or network that stops answering without closing anything.
    pub answer_timeout: Duration,
}

#[derive(Clone)]
pub enum Db {
    Postgres {
        /// Shared by the writer, the background jobs and requests whose worker has no
        /// connection of its own free.
        pool: Pool<AsyncPgConnection>,
        /// Counted by `with_conn!(…, read, …)`; the callback writer yields to them.
        reads: ReadsInFlight,
        /// In the `Db` of an HTTP worker's requests, the connections that worker opened and
        /// drives itself (`Db::for_http_worker`).
        own: Option<Pool<AsyncPgConnection>>,
        /// `PoolSettings::answer_timeout`, applied by `with_conn!`.
        answer_timeout: Duration,
    },
    /// SQLite allows one writer at a time. Writes go through `write`, a pool of exactly one
    /// connection, so they queue in-process instead of failing with "database is locked".
    Sqlite {
        read: Pool<SqliteConn>,
        write: Pool<SqliteConn>,
    },
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend `$db` is. The
/// body is compiled once per backend. `read` and `write` pick the SQLite pool; on Postgres a
/// `read` is counted in `reads` while it waits for a connection and runs, and a connection of
/// the worker's own is taken when one is free. A Postgres body that gets no answer within the
/// `answer_timeout` is abandoned and the enclosing function returns `StoreError::NoAnswer`.
/// (SQLite's run on a blocking thread that cannot be abandoned; see health.rs.)
macro_rules! with_conn {
    ($db:expr, $mode:ident, |$conn:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Postgres {
                pool,
                reads,
                own,
                answer_timeout,
            } => {
                let _reading = reads.enter(with_conn!(@is_read $mode));
                let mut pooled = $crate::store::checkout(pool, own.as_ref()).await?;
                let answered = ::tokio::time::timeout(*answer_timeout, async {
                    let $conn = &mut *pooled;
                    $body
                })
                .await;
                match answered {
                    Ok(answer) => answer,
                    Err(_) => {
                        return Err($crate::store::close_silent(pooled, *answer_timeout).into())
                    }
                }
            }
            $crate::store::Db::Sqlite { read, write } => {
                let _ = (&read, &write);
                let mut pooled = with_conn!(@pick $mode, read, write).get().await?;
                let $conn = &mut *pooled;
                $body
            }
        }
    };
    (@pick read, $read:ident, $write:ident) => { $read };
    (@pick write, $read:ident, $write:ident) => { $write };
    (@is_read read) => { true };
    (@is_read write) => { false };
}
pub(crate) use with_conn;

impl Db {
    /// Builds the connection pools. Connections are opened lazily, so this does not fail when
    /// the database is down; the first query does, with `StoreError::Unavailable`.
    pub fn connect(url: &DatabaseUrl, settings: &PoolSettings) -> Result<Db, StoreError> {
        match url {
            DatabaseUrl::Postgres(url) => Ok(Db::Postgres {
                pool: postgres_pool(url, settings)?,
                reads: ReadsInFlight::default(),
                own: None,
                answer_timeout: settings.answer_timeout,
            }),
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy().into_owned();
                let manager = || {
                    let mut config = fast_recycling();
                    config.custom_setup = Box::new(|url| establish_sqlite(url.to_owned()).boxed());
                    AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                        path.clone(),
                        config,
                    )
                };
                Ok(Db::Sqlite {
                    read: build_pool(manager(), settings.max_connections, settings)?,
                    write: build_pool(manager(), 1, settings)?,
                })
            }
        }
    }

    /// The `Db` for the requests of one HTTP worker, made on that worker's thread. On Postgres
    /// it adds a pool of up to `settings.max_connections` connections opened where the worker's
    /// requests ask for them, so on the worker's own runtime: a read's statements and answers
    /// then pass through no other thread. Through the shared pool's connections, driven on the
    /// process's runtime, every admin read waited for one of its threads as well, which during
    /// ingest at full speed is busy; alternated on one VM, the polls' worst p99 was lower with
    /// connections of the worker's own in all 13 pairs, during 16- and 64-sender ingest
    /// (docs/performance.md, 2026-12-06 18:34). These connections end
    /// with the worker, which stops only when its own requests are answered. SQLite
    /// connections have no task to drive them: the shared pools are kept.
    pub fn for_http_worker(
        &self,
        url: &DatabaseUrl,
        settings: &PoolSettings,
    ) -> Result<Db, StoreError> {
        match (self, url) {
            (
                Db::Postgres {
                    pool,
                    reads,
                    answer_timeout,
                    ..
                },
                DatabaseUrl::Postgres(url),
            ) if settings.max_connections > 0 => Ok(Db::Postgres {
                pool: pool.clone(),
                reads: reads.clone(),
                own: Some(postgres_pool(url, settings)?),
                answer_timeout: *answer_timeout,
            }),
            _ => Ok(self.clone()),
        }
    }

    /// Answers whether the database can run a query right now (for `/readyz`), and on Postgres
    /// whether it would store a callback: a standby (an address a failover left pointing at a
    /// replica) or a database set read-only answers reads while every callback is refused.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let takes_writes = match self {
            Db::Postgres { .. } => {
                "NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"
            }
            Db::Sqlite { .. } => "1 = 1",
        };
        let writable: bool = with_conn!(self, read, |conn| {
            Ok::<bool, StoreError>(
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(takes_writes))
                    .get_result::<bool>(conn)
                    .await?,
            )
        })?;
        if writable {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "the database takes no writes (a standby, or read-only)".into(),
            ))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Postgres { .. } => "postgres",
            Db::Sqlite { .. } => "sqlite",
        }
    }

    /// Each pool's size and waiters, named (`postgres` and, in an HTTP worker's `Db`,
    /// `postgres_worker`; or SQLite's `read` and `write`).
    pub fn pool_status(&self) -> Vec<(&'static str, deadpool::Status)> {
        match self {
            Db::Postgres { pool, own, .. } => std::iter::once(("postgres", pool.status()))
                .chain(own.iter().map(|own| ("postgres_worker", own.status())))
                .collect(),
            Db::Sqlite { read, write } => {
                vec![
                    ("sqlite_read", read.status()),
                    ("sqlite_write", write.status()),
                ]
            }
        }
    }

    /// Closes the pools so no new connection is opened during shutdown.
    pub fn close(&self) {
        match self {
            Db::Postgres { pool, .. } => pool.close(),
            Db::Sqlite { read, write } => {
                read.close();
                write.close();
            }
        }
    }
}

fn fast_recycling<C: AsyncConnection + 'static>() -> ManagerConfig<C> {
    // A broken connection is detected on return to the pool (closed socket or a failed
    // transaction), so there is no need for a round trip on every checkout.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config
}

fn postgres_pool(
    url: &str,
    settings: &PoolSettings,
) -> Result<Pool<AsyncPgConnection>, StoreError> {
    let mut config = fast_recycling();
    config.custom_setup = open_on_this_runtime();
    let manager = AsyncDieselConnectionManager::new_with_config(url, config);
    build_pool(manager, settings.max_connections, settings)
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    max_size: usize,
    settings: &PoolSettings,
) -> Result<Pool<C>, StoreError>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|error| StoreError::Unavailable(error.to_string()))
}

/// Opens each Postgres connection on the runtime that builds the pool (in `hookbox serve`, the
/// process's runtime for the shared pool, which outlives it, and an HTTP worker's own runtime for
/// that worker's pool), set up by `establish_postgres`. A connection is driven by a task on the
/// runtime that opens it, and its socket belongs to that runtime's I/O driver. Opened where a request
/// first needed it, that is one HTTP worker's runtime, and the connection dies with the worker:
/// at a graceful shutdown an idle worker stops at once, and a read still running on another
/// worker over such a connection was answered 503.
fn open_on_this_runtime() -> SetupCallback<AsyncPgConnection> {
    let runtime = tokio::runtime::Handle::try_current().ok();
    Box::new(move |url| {
        let open = establish_postgres(url.to_owned());
        match &runtime {
            Some(runtime) => runtime
                .spawn(open)
                .map(|opened| {
                    opened.unwrap_or_else(|stopped| {
                        Err(diesel::ConnectionError::BadConnection(stopped.to_string()))
                    })
                })
                .boxed(),
            None => open.boxed(),
        }
    })
}

/// Asked of every Postgres session Hookbox opens. The buffers a session writes out to make room
/// (the writer's, and a history page's that reads in pages the ingest left dirty) otherwise
/// wait in the kernel's page cache until its 30-second expiry writes them all at once: during
/// ingest at full speed several hundred megabytes every half minute, and the commits behind that
/// write-out stalled. With `backend_flush_after` the session hands its writes to the kernel's
/// write-back every 256 kB (Postgres's own default for its checkpointer on Linux). In six
/// alternated one-minute pairs at 64 senders the slowest request went from 641–1,001 ms to
/// 152–350 ms, with as many callbacks stored (docs/performance.md, 2026-12-07 05:30). A session
/// setting: the server's configuration is left alone.
const POSTGRES_SESSION_SETUP: &str = "SET backend_flush_after = '256kB'";

async fn establish_postgres(url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    if let Err(error) = conn.batch_execute(POSTGRES_SESSION_SETUP).await {
        // A slower session is better than none.
        tracing::warn!(%error, setup = POSTGRES_SESSION_SETUP, "a Postgres session setting was refused");
    }
    Ok(conn)
}

/// A connection of the worker's own pool when one is free or can be opened, else one of the
/// shared pool (waiting there up to the acquire timeout).
pub(crate) async fn checkout(
    shared: &Pool<AsyncPgConnection>,
    own: Option<&Pool<AsyncPgConnection>>,
) -> Result<Object<AsyncPgConnection>, StoreError> {
    if let Some(own) = own {
        let at_once = Timeouts {
            wait: Some(Duration::ZERO),
            ..own.timeouts()
        };
        match own.timeout_get(&at_once).await {
            Ok(connection) => return Ok(connection),
            Err(PoolError::Timeout(TimeoutType::Wait)) => {}
            // Postgres out of connection slots refuses the worker a new connection while the
            // shared pool may hold an idle one. With none idle there, the shared pool would
            // have to open one too, and a database that is down would keep the request
            // twice as long before its 503.
            Err(not_opened) if shared.status().available == 0 => return Err(not_opened.into()),
            Err(not_opened) => tracing::warn!(
                error = %not_opened,
                "an HTTP worker could not open a connection of its own; an idle shared one serves"
            ),
        }
    }
    Ok(shared.get().await?)
}

/// Closes a connection whose answer did not come in time instead of putting it back: its next
/// user would wait behind the answer that never came. The pool opens a new one when needed.
pub(crate) fn close_silent(pooled: Object<AsyncPgConnection>, waited: Duration) -> StoreError {
    abandon(Object::take(pooled));
    tracing::warn!(
        waited_ms = waited.as_millis(),
        "the database did not answer in time; its connection is closed"
    );
    NoAnswer { waited }.into()
}

/// How long the cancel request of `abandon` may take to be sent.
const CANCEL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes a connection whose statement is given up, and asks the server to cancel that
/// statement: Postgres runs on for a client that has gone until it next sends it a row, and
/// waits for a lock for ever, so a long search given up at the deadline, and retried, would
/// pile up scans. The request goes over a connection of its own, in the background; to a
/// database that stopped answering it is merely lost.
pub(crate) fn abandon(connection: AsyncPgConnection) {
    let token = connection.cancel_token();
    drop(connection);
    tokio::spawn(async move {
        let sent = tokio::time::timeout(CANCEL_REQUEST_TIMEOUT, token.cancel_query(NoTls)).await;
        if let Ok(Err(error)) = sent {
            tracing::debug!(%error, "could not ask the database to cancel a statement given up");
        }
    });
}

async fn establish_sqlite(path: String) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    conn.batch_execute(SQLITE_PRAGMAS)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;
    use diesel::QueryableByName;

    use super::*;

    #[derive(QueryableByName)]
    struct FlushAfter {
        #[diesel(sql_type = Text)]
        backend_flush_after: String,
    }

    async fn flush_after(db: &Db) -> Result<String, StoreError> {
        with_conn!(db, read, |conn| {
            let setting: FlushAfter = diesel::sql_query("SHOW backend_flush_after")
                .get_result(conn)
                .await?;
            Ok(setting.backend_flush_after)
        })
    }

    /// Both kinds of connection: the shared pool's, and an HTTP worker's own.
    #[tokio::test]
    async fn every_postgres_session_hands_its_writes_to_the_kernel_early() {
        // The server and the switch the integration tests use (tests/api/helpers/database.rs).
        let url = std::env::var("HOOKBOX_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let required = std::env::var("HOOKBOX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let url = DatabaseUrl::parse(&url).expect("a Postgres URL");
        let settings = PoolSettings {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            answer_timeout: Duration::from_secs(5),
        };
        let shared = Db::connect(&url, &settings).expect("pool builds");
        let worker = shared
            .for_http_worker(&url, &settings)
            .expect("the worker's pool builds");
        for db in [&shared, &worker] {
            match flush_after(db).await {
                Ok(value) => assert_eq!(value, "256kB"),
                Err(error) if !required => {
                    eprintln!(
                        "SKIPPED (Postgres test): cannot reach {url}: {error}. \
                         Set HOOKBOX_REQUIRE_POSTGRES=1 to make this a failure."
                    );
                    return;
                }
                Err(error) => panic!("cannot reach {url}: {error}"),
            }
        }
        let opened: Vec<_> = worker
            .pool_status()
            .into_iter()
            .map(|(pool, status)| (pool, status.size))
            .collect();
        assert_eq!(opened, [("postgres", 1), ("postgres_worker", 1)]);
    }
}
