//! `GET /metrics`: Prometheus text format, for the addresses the operator allows or with a
//! bearer token. Written by hand: a dozen series do not need a metrics framework.

mod access;
mod registry;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub use access::{IpNet, MetricsAccess};
use registry::Exposition;
pub use registry::{Counter, CounterVec, Histogram};

use crate::http::json_error;
use crate::store::{on_a_task_within, sessions, Db};

/// Upper bounds of the ingest latency histogram, in nanoseconds (1 ms … 10 s).
static LATENCY_NS: [u64; 12] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];
/// Upper bounds of the body size histogram, in bytes (256 B … the 1 MiB limit).
static BODY_BYTES: [u64; 7] = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576];

/// Every counter Hookbox keeps. Cheap to clone; shared by all workers.
#[derive(Clone)]
pub struct Metrics(Arc<Series>);

pub struct Series {
    /// `accepted`, `duplicate`, or the error code of the refusal.
    pub ingest_requests: CounterVec,
    pub ingest_duration: Histogram,
    pub ingest_body_bytes: Histogram,
    pub duplicates: Counter,
    pub storage_errors: Counter,
    pub rejection_log_written: Counter,
    /// Why rejection-log entries were not written: `rate_limited`, `queue_full`, `write_failed`.
    pub rejection_log_dropped: CounterVec,
    pub retention_deleted: Counter,
    /// Successful `GET /api/admin/llm-callbacks/check` polls.
    pub polls_served: Counter,
    /// A scrape's session count still waits for the database: the next scrapes ask for none,
    /// so that a database that stopped answering holds one connection for it, not one a scrape.
    session_count_in_flight: AtomicBool,
}

impl Metrics {
    /// Whether this scrape may count the sessions: no earlier count still waits.
    fn start_session_count(&self) -> bool {
        !self.0.session_count_in_flight.swap(true, Ordering::SeqCst)
    }

    fn end_session_count(&self) {
        self.0
            .session_count_in_flight
            .store(false, Ordering::SeqCst);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Arc::new(Series {
            ingest_requests: CounterVec::new("outcome", &["accepted", "duplicate"]),
            ingest_duration: Histogram::new(&LATENCY_NS, 1e9),
            ingest_body_bytes: Histogram::new(&BODY_BYTES, 1.0),
            duplicates: Counter::default(),
            storage_errors: Counter::default(),
            rejection_log_written: Counter::default(),
            rejection_log_dropped: CounterVec::new(
                "cause",
                &["rate_limited", "queue_full", "write_failed"],
            ),
            retention_deleted: Counter::default(),
            polls_served: Counter::default(),
            session_count_in_flight: AtomicBool::new(false),
        }))
    }
}

impl std::ops::Deref for Metrics {
    type Target = Series;
    fn deref(&self) -> &Series {
        &self.0
    }
}

impl Metrics {
    /// Records one answered ingest request.
    pub fn observe_ingest(&self, outcome: &'static str, elapsed: Duration, body: Option<usize>) {
        self.ingest_requests.inc(outcome);
        self.ingest_duration
            .observe(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        if let Some(bytes) = body {
            self.ingest_body_bytes.observe(bytes as u64);
        }
    }

    /// `active_sessions` is `None` when the database could not be asked; the series is left
    /// out then rather than reported as zero.
    pub fn render(&self, db: &Db, active_sessions: Option<i64>) -> String {
        let mut out = Exposition::default();
        out.counter_vec(
            "hookbox_ingest_requests_total",
            "Ingest requests answered, by outcome (accepted, duplicate, or the error code).",
            &self.ingest_requests,
        );
        out.histogram(
            "hookbox_ingest_duration_seconds",
            "Time from request to answer on the ingest route.",
            &self.ingest_duration,
        );
        out.histogram(
            "hookbox_ingest_body_bytes",
            "Size of ingest bodies that were read in full.",
            &self.ingest_body_bytes,
        );
        out.counter(
            "hookbox_ingest_duplicates_total",
            "Redeliveries answered 200 without storing anything new.",
            &self.duplicates,
        );
        out.counter(
            "hookbox_storage_errors_total",
            "Callbacks that could not be stored (answered 503).",
            &self.storage_errors,
        );
        out.counter(
            "hookbox_rejection_log_written_total",
            "Rejected attempts written to the rejection log.",
            &self.rejection_log_written,
        );
        out.counter_vec(
            "hookbox_rejection_log_dropped_total",
            "Rejected attempts not written to the rejection log, by cause.",
            &self.rejection_log_dropped,
        );
        out.counter(
            "hookbox_retention_deleted_total",
            "Callbacks deleted by the retention job.",
            &self.retention_deleted,
        );
        out.counter(
            "hookbox_polls_served_total",
            "Notification polls (GET /api/admin/llm-callbacks/check) answered.",
            &self.polls_served,
        );
        if let Some(active) = active_sessions {
            out.gauge(
                "hookbox_sessions_active",
                "Dashboard sessions not past their absolute expiry.",
                "kind",
                &[("session", active.max(0) as u64)],
            );
        }
        let pools = db.pool_status();
        let in_use: Vec<(&str, u64)> = pools
            .iter()
            .map(|(name, s)| (*name, s.size.saturating_sub(s.available) as u64))
            .collect();
        let idle: Vec<(&str, u64)> = pools
            .iter()
            .map(|(name, s)| (*name, s.available as u64))
            .collect();
        let waiting: Vec<(&str, u64)> = pools
            .iter()
            .map(|(name, s)| (*name, s.waiting as u64))
            .collect();
        let max: Vec<(&str, u64)> = pools
            .iter()
            .map(|(name, s)| (*name, s.max_size as u64))
            .collect();
        out.gauge(
            "hookbox_db_pool_connections_in_use",
            "Database connections checked out of the pool.",
            "pool",
            &in_use,
        );
        out.gauge(
            "hookbox_db_pool_connections_idle",
            "Open database connections waiting in the pool.",
            "pool",
            &idle,
        );
        out.gauge(
            "hookbox_db_pool_waiting",
            "Tasks waiting for a database connection.",
            "pool",
            &waiting,
        );
        out.gauge(
            "hookbox_db_pool_max_connections",
            "Most connections the pool opens.",
            "pool",
            &max,
        );
        out.finish()
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(scrape));
}

/// How long a scrape waits for the one figure it asks the database for. A database that stopped
/// answering held the scrape for the answer timeout (30 s), past Prometheus's own 10-s limit, and
/// the whole scrape failed, the storage error counters with it, while they mattered most.
const SESSION_COUNT_WAIT: Duration = Duration::from_secs(1);

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 403, description = "`forbidden`: not an allowed address and no valid token"),
    ))]
pub async fn scrape(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    access: web::Data<MetricsAccess>,
    db: web::Data<Db>,
) -> HttpResponse {
    let peer = req.peer_addr().map(|addr| addr.ip());
    let authorization = req.headers().get(header::AUTHORIZATION);
    if !access.permits(peer, authorization.map(HeaderValue::as_bytes)) {
        tracing::warn!(remote_addr = ?peer, "metrics scrape refused");
        return json_error(StatusCode::FORBIDDEN, "forbidden");
    }
    let now = chrono::Utc::now().naive_utc();
    let active_sessions = if !metrics.start_session_count() {
        tracing::warn!("metrics: active sessions not counted: an earlier count still waits");
        None
    } else {
        count_sessions(&metrics, &db, now).await
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(&db, active_sessions))
}

/// The unexpired sessions, or `None` (said in the log) when the database does not answer
/// within `SESSION_COUNT_WAIT`; the count goes on until its own deadline.
async fn count_sessions(metrics: &Metrics, db: &Db, now: chrono::NaiveDateTime) -> Option<i64> {
    let (db, metrics) = (db.clone(), metrics.clone());
    let counting = async move {
        let _in_flight = SessionCountInFlight(metrics);
        sessions::count_unexpired(&db, now).await
    };
    match on_a_task_within(SESSION_COUNT_WAIT, counting).await {
        Ok(count) => Some(count),
        Err(error) => {
            tracing::warn!(error = %error, "metrics: active sessions not counted");
            None
        }
    }
}

/// Marks the session count done when its task ends, however it ends.
struct SessionCountInFlight(Metrics);

impl Drop for SessionCountInFlight {
    fn drop(&mut self) {
        self.0.end_session_count();
    }
}
