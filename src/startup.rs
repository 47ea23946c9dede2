//! Building and running the server. Tests start exactly this path on port 0.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

use crate::auth::accounts::{self, AccountError, FirstAdmin};
use crate::auth::{AuthSettings, AuthState};
use crate::dashboard::{DashboardSettings, PageConfig};
use crate::ingest::config::SourcesLoader;
use crate::ingest::source::Sources;
use crate::ingest::throttle::SignatureThrottle;
use crate::ingest::IngestState;
use crate::metrics::Metrics;
use crate::operations::OpsSettings;
use crate::rejections::RejectionLog;
use crate::store::checkpoint::Checkpointer;
use crate::store::migrate::{self, MigrationError};
use crate::store::vacuum;
use crate::store::writer::{BatchLimits, CallbackWriter};
use crate::store::{DatabaseUrl, Db, PoolSettings, StoreError};
use crate::telemetry::RequestSpan;
use crate::{admin, auth, dashboard, health, http, ingest, metrics, openapi, retention};

pub struct Settings {
    pub listen: String,
    pub workers: Option<usize>,
    pub database_url: DatabaseUrl,
    pub pool: PoolSettings,
    pub sources: Sources,
    /// Re-reads the sources for `POST /api/admin/sources/reload`; `None` disables it.
    pub sources_loader: Option<SourcesLoader>,
    pub body_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Stop gracefully on SIGTERM/SIGINT. Off in tests, which start many servers at once.
    pub handle_signals: bool,
    pub batch: BatchLimits,
    pub ops: OpsSettings,
    pub auth: AuthSettings,
    pub dashboard: DashboardSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error("cannot set up the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot create the first admin: {0}")]
    FirstAdmin(#[from] AccountError),
    #[error(
        "--db-pool-size {size} is too small for Postgres: the callback writer keeps one \
         connection and the rest of Hookbox needs at least one more; use {LEAST_POSTGRES_POOL} or more"
    )]
    PoolTooSmall { size: usize },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

pub struct Application {
    server: Server,
    port: u16,
    db: Db,
    writer: CallbackWriter,
    writer_task: JoinHandle<()>,
    background: Background,
}

/// Tasks that live as long as the server: the rejection-log writer, the retention job and
/// SQLite's checkpointer.
struct Background {
    rejections: RejectionLog,
    rejections_task: JoinHandle<()>,
    retention_task: Option<JoinHandle<()>>,
    checkpointer: Option<Checkpointer>,
}

impl Application {
    /// Migrates the database, starts the writer and binds the listener.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let workers = settings.workers.unwrap_or_else(default_workers).max(1);
        let shares = PoolShares::of(&settings.pool, workers, &settings.database_url)?;
        let applied = migrate::run_pending(&settings.database_url).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        let db = Db::connect(&settings.database_url, &shares.shared)?;
        vacuum::warn_when_off(&db).await;
        announce_first_admin(
            accounts::ensure_first_admin(&db, settings.auth.admin_password.clone()).await?,
        );
        let (writer, writer_task) = CallbackWriter::start(db.clone(), settings.batch.clone());
        let metrics = Metrics::default();
        let (rejections, rejections_task) =
            RejectionLog::start(db.clone(), settings.ops.rejection_log, metrics.clone());
        let retention_task = settings
            .ops
            .retention
            .map(|policy| retention::start(db.clone(), policy, metrics.clone()));
        let checkpointer = Checkpointer::start(&db);

        let listener =
            TcpListener::bind(&settings.listen).map_err(|source| StartupError::Bind {
                address: settings.listen.clone(),
                source,
            })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind {
            address: settings.listen.clone(),
            source,
        })?;

        let state = AppState {
            db: web::Data::new(db.clone()),
            ingest: web::Data::new(IngestState {
                sources: settings.sources,
                writer: writer.clone(),
                body_timeout: settings.body_timeout,
                metrics: metrics.clone(),
                rejections: rejections.clone(),
                signature_throttle: SignatureThrottle::new(settings.ops.failed_signature_limit),
            }),
            metrics: web::Data::new(metrics),
            metrics_access: web::Data::new(settings.ops.metrics_access),
            auth: web::Data::new(AuthState::new(&settings.auth)),
            page_config: web::Data::new(PageConfig::new(&settings.dashboard, &settings.pool)),
            dashboard: web::Data::new(settings.dashboard),
            sources_loader: settings.sources_loader.map(web::Data::new),
        };
        let database_url = settings.database_url.clone();
        let mut server = HttpServer::new(move || {
            // Runs on each worker's thread.
            let state = state.for_http_worker(&database_url, &shares.per_worker);
            App::new()
                .wrap(http::security_headers())
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(|cfg| configure(cfg, &state))
        })
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: settings.listen.clone(),
            source,
        })?;
        server = server.workers(workers);
        if !settings.handle_signals {
            server = server.disable_signals();
        }
        Ok(Application {
            server: server.run(),
            port: port.port(),
            db,
            writer,
            writer_task,
            background: Background {
                rejections,
                rejections_task,
                retention_task,
                checkpointer,
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (tests; signals do the same in production).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then lets queued writes finish and closes the pools.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(retention) = self.background.retention_task {
            retention.abort();
        }
        drop(self.background.rejections);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.background.rejections_task).await;
        drop(self.writer);
        if tokio::time::timeout(Duration::from_secs(10), self.writer_task)
            .await
            .is_err()
        {
            tracing::warn!("the callback writer did not finish within 10 s");
        }
        if let Some(checkpointer) = self.background.checkpointer {
            checkpointer.stop().await;
        }
        self.db.close();
        tracing::info!("stopped");
        served
    }
}

/// Everything the handlers share. Cloned into each worker's `App`.
#[derive(Clone)]
struct AppState {
    db: web::Data<Db>,
    ingest: web::Data<IngestState>,
    metrics: web::Data<Metrics>,
    metrics_access: web::Data<metrics::MetricsAccess>,
    auth: web::Data<AuthState>,
    dashboard: web::Data<DashboardSettings>,
    page_config: web::Data<PageConfig>,
    sources_loader: Option<web::Data<SourcesLoader>>,
}

impl AppState {
    fn for_http_worker(&self, url: &DatabaseUrl, own: &PoolSettings) -> AppState {
        match self.db.for_http_worker(url, own) {
            Ok(db) => AppState {
                db: web::Data::new(db),
                ..self.clone()
            },
            Err(error) => {
                tracing::warn!(%error, "an HTTP worker uses the shared connections only");
                self.clone()
            }
        }
    }
}

/// How `--db-pool-size` is shared out: each HTTP worker may open up to `per_worker`
/// connections of its own (at most `MOST_PER_WORKER`), leaving to the pool the writer, the
/// background jobs and busy workers share at least as many, plus the one the writer keeps on
/// Postgres for its batches (`SharedPgConnection`). With many workers and a small total,
/// workers get none and every request uses the shared pool.
/// SQLite's workers share its one read pool (`Db::for_http_worker`), so it keeps the whole total.
#[derive(Clone, Debug)]
struct PoolShares {
    shared: PoolSettings,
    per_worker: PoolSettings,
}

/// Enough for a dashboard's polls and a search at a time; more waits for the shared pool.
const MOST_PER_WORKER: usize = 4;

/// On Postgres: the one the writer keeps, and one for everything else.
const LEAST_POSTGRES_POOL: usize = 2;

impl PoolShares {
    fn of(
        total: &PoolSettings,
        workers: usize,
        url: &DatabaseUrl,
    ) -> Result<PoolShares, StartupError> {
        let per_worker = match url {
            DatabaseUrl::Postgres(_) if total.max_connections < LEAST_POSTGRES_POOL => {
                return Err(StartupError::PoolTooSmall {
                    size: total.max_connections,
                })
            }
            DatabaseUrl::Postgres(_) => {
                ((total.max_connections - 1) / (workers + 1)).min(MOST_PER_WORKER)
            }
            DatabaseUrl::Sqlite(_) => 0,
        };
        Ok(PoolShares {
            shared: PoolSettings {
                max_connections: total.max_connections - workers * per_worker,
                ..total.clone()
            },
            per_worker: PoolSettings {
                max_connections: per_worker,
                ..total.clone()
            },
        })
    }
}

/// actix-web's own default: one worker per CPU the process may use, at most 512.
fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(usize::from(crate::config::MOST_HTTP_WORKERS))
}

/// The one place where capabilities are composed into the app.
fn configure(cfg: &mut web::ServiceConfig, state: &AppState) {
    if let Some(loader) = &state.sources_loader {
        cfg.app_data(loader.clone());
    }
    cfg.app_data(state.db.clone())
        .app_data(state.ingest.clone())
        .app_data(state.metrics.clone())
        .app_data(state.metrics_access.clone())
        .configure(metrics::routes)
        .app_data(state.auth.clone())
        .configure(health::routes)
        .configure(ingest::routes)
        .configure(auth::routes)
        .configure(admin::routes)
        .configure(openapi::routes)
        .app_data(state.dashboard.clone())
        .app_data(state.page_config.clone())
        .configure(dashboard::routes)
        .default_service(web::to(http::not_found));
}

/// The generated first-admin password is shown once, on stderr, never in the log.
fn announce_first_admin(outcome: FirstAdmin) {
    match outcome {
        FirstAdmin::NotNeeded => {}
        FirstAdmin::CreatedWithConfigured => {
            tracing::info!("created the first admin `admin` with HOOKBOX_ADMIN_PASSWORD")
        }
        FirstAdmin::CreatedWithGenerated(password) => {
            tracing::info!(
                "created the first admin `admin`; its password is printed once on stderr"
            );
            eprintln!(
                "\n  First start: created user `admin` with password\n\n    {}\n\n  \
                 It is not shown again. Change it with `hookbox user passwd admin`.\n",
                password.expose()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(total: usize, workers: usize) -> (usize, usize) {
        shares_on("postgres://h/db", total, workers).expect("a pool large enough")
    }

    fn shares_on(url: &str, total: usize, workers: usize) -> Result<(usize, usize), StartupError> {
        let settings = PoolSettings {
            max_connections: total,
            acquire_timeout: Duration::from_secs(2),
            answer_timeout: crate::store::DEFAULT_ANSWER_TIMEOUT,
        };
        let url = DatabaseUrl::parse(url).expect("valid");
        let shares = PoolShares::of(&settings, workers, &url)?;
        Ok((
            shares.shared.max_connections,
            shares.per_worker.max_connections,
        ))
    }

    #[test]
    fn workers_get_a_few_connections_of_their_own_and_the_rest_is_shared() {
        assert_eq!(shares(16, 2), (8, 4));
        assert_eq!(shares(16, 1), (12, 4));
        assert_eq!(shares(10, 2), (4, 3));
        assert_eq!(shares(4, 2), (2, 1));
    }

    #[test]
    fn sqlite_keeps_the_whole_pool_its_workers_share() {
        for (total, workers) in [(16, 2), (16, 4), (1, 2)] {
            assert_eq!(
                shares_on("sqlite://hookbox.db", total, workers).expect("any size"),
                (total, 0)
            );
        }
    }

    #[test]
    fn with_few_connections_for_many_workers_all_are_shared() {
        assert_eq!(shares(16, 16), (16, 0));
        assert_eq!(shares(3, 2), (3, 0));
        assert_eq!(shares(2, 2), (2, 0));
    }

    #[test]
    fn postgres_refuses_a_pool_with_nothing_beside_the_writers_connection() {
        let refused = shares_on("postgres://h/db", 1, 2).expect_err("too small");
        assert!(
            refused.to_string().contains("--db-pool-size 1"),
            "{refused}"
        );
    }

    #[test]
    fn the_instance_never_opens_more_than_the_pool_size_and_the_writer_never_takes_the_last() {
        for total in 2..=64 {
            for workers in 1..=32 {
                let (shared, per_worker) = shares(total, workers);
                assert!(shared + workers * per_worker <= total, "{total} {workers}");
                // Beside the writer's: at least one, and as many as a worker may have.
                assert!(shared > per_worker.max(1), "{total} {workers}");
            }
        }
    }
}
