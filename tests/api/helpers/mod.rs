//! The test harness: a real server on a random port, against a fresh database of either
//! backend, spoken to over HTTP.

pub mod auth;
pub mod browser;
pub mod database;
pub mod observe;
pub mod proxy;

use std::time::Duration;

use actix_web::dev::ServerHandle;
use hookbox::auth::password::Password;
use hookbox::auth::AuthSettings;
use hookbox::dashboard::DashboardSettings;
use hookbox::ingest::secrets::SecretSet;
use hookbox::ingest::signature::header_value;
use hookbox::ingest::source::{Source, Sources};
use hookbox::operations::OpsSettings;
use hookbox::startup::{Application, Settings};
use hookbox::store::writer::BatchLimits;
use hookbox::store::{DatabaseUrl, Db, PoolSettings};

pub use database::{Backend, TestDb};
pub use observe::{eventually, sample, scrape};

pub const SECRET: &str = "test-secret-0123456789abcdef";
pub const SECRET_LABEL: &str = "primary";
pub const CALLBACK_PATH: &str = "/api/webhooks/llm-callback";
/// The first admin `admin` of every test server has this password.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Runs each test body once per backend, as `name::sqlite` and `name::postgres`. The body
/// sees `$db`, a fresh `TestDb`; it skips (saying so) when Postgres is not reachable outside CI.
macro_rules! on_both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        $(mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = $crate::helpers::TestDb::create($crate::helpers::Backend::Sqlite).await.expect("sqlite always works");
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($db) = $crate::helpers::TestDb::create($crate::helpers::Backend::Postgres).await else { return };
                $body
            }
        })*
    };
}
pub(crate) use on_both_backends;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// What a test may change before the server starts.
pub struct AppOptions {
    pub secrets: String,
    pub database_url: Option<DatabaseUrl>,
    pub body_timeout: Duration,
    pub acquire_timeout: Duration,
    /// `PoolSettings::answer_timeout`: how long a request's queries wait for Postgres.
    pub answer_timeout: Duration,
    pub ops: OpsSettings,
    pub auth: AuthSettings,
    pub batch: BatchLimits,
    pub dashboard: DashboardSettings,
    /// Serve these sources instead of the one `llm-callback` source with `secrets`.
    pub sources: Option<Sources>,
    /// Enables `POST /api/admin/sources/reload` with this loader.
    pub sources_loader: Option<hookbox::ingest::config::SourcesLoader>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            secrets: format!("{SECRET_LABEL}:{SECRET}"),
            database_url: None,
            body_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(1),
            answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
            ops: OpsSettings::default(),
            auth: AuthSettings {
                admin_password: Some(
                    Password::parse(ADMIN_PASSWORD.into()).expect("test password is valid"),
                ),
                ..AuthSettings::default()
            },
            batch: BatchLimits::default(),
            dashboard: DashboardSettings::default(),
            sources: None,
            sources_loader: None,
        }
    }
}

impl TestApp {
    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the app's port")
    }

    /// The server on a fresh SQLite file, for tests about the HTTP side.
    pub async fn spawn_sqlite(options: AppOptions) -> (TestApp, TestDb) {
        let db = TestDb::create(Backend::Sqlite).await.expect("sqlite works");
        let app = TestApp::spawn_with(&db, options).await;
        (app, db)
    }

    /// The server on a fresh Postgres database; `None` when Postgres is not there and not
    /// required (`TestDb::create`).
    pub async fn spawn_postgres(options: AppOptions) -> Option<(TestApp, TestDb)> {
        let db = TestDb::create(Backend::Postgres).await?;
        let app = TestApp::spawn_with(&db, options).await;
        Some((app, db))
    }

    pub async fn spawn(db: &TestDb) -> TestApp {
        TestApp::spawn_with(db, AppOptions::default()).await
    }

    /// The server with these operational settings (rejection log, throttle, retention).
    pub async fn spawn_with_ops(db: &TestDb, ops: OpsSettings) -> TestApp {
        let options = AppOptions {
            ops,
            ..AppOptions::default()
        };
        TestApp::spawn_with(db, options).await
    }

    pub async fn spawn_with(db: &TestDb, options: AppOptions) -> TestApp {
        let database_url = options.database_url.unwrap_or_else(|| db.url.clone());
        let pool = PoolSettings {
            max_connections: 4,
            acquire_timeout: options.acquire_timeout,
            answer_timeout: options.answer_timeout,
        };
        let secrets = SecretSet::parse_list(&options.secrets, "test").expect("test secrets parse");
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            workers: Some(2),
            database_url: database_url.clone(),
            pool: pool.clone(),
            sources: options
                .sources
                .unwrap_or_else(|| Sources::new([Source::llm_callback(secrets)])),
            sources_loader: options.sources_loader,
            body_timeout: options.body_timeout,
            shutdown_timeout: Duration::from_secs(5),
            handle_signals: false,
            ops: options.ops,
            batch: options.batch,
            auth: options.auth,
            dashboard: options.dashboard,
        };
        let app = Application::build(settings).await.expect("server starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client builds"),
            db: Db::connect(&database_url, &pool).expect("pool builds"),
            handle,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Posts `body` signed with the test secret.
    pub async fn post_signed(&self, body: &str) -> reqwest::Response {
        self.post_callback(body, &[("x-webhook-signature", &sign(SECRET, body))])
            .await
    }

    /// Posts `body` to the callback URL with exactly these extra headers.
    pub async fn post_callback(&self, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        self.post_to_source("llm-callback", body, headers).await
    }

    /// Posts `body` as JSON to `/api/webhooks/<source>` with exactly these extra headers.
    pub async fn post_to_source<N: AsRef<str>, V: AsRef<str>>(
        &self,
        source: &str,
        body: &str,
        headers: &[(N, V)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/api/webhooks/{source}")))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(name.as_ref(), value.as_ref());
        }
        request.send().await.expect("request reaches the server")
    }

    /// Sends only a request head (no body) over a raw connection and returns the first answer
    /// read: a server that waited for the declared body would not answer within 5 s.
    pub async fn answer_to_head(&self, head: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.address.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        String::from_utf8_lossy(&response[..read]).into_owned()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if self.task.is_some() {
            let handle = self.handle.clone();
            tokio::spawn(async move { handle.stop(false).await });
        }
    }
}

/// What a store call whose database stopped answering must end with: no answer within the
/// deadline (not a failed connection).
pub fn assert_no_answer_in_time<T: std::fmt::Debug>(
    answer: &Result<T, hookbox::store::StoreError>,
) {
    assert!(
        matches!(answer, Err(hookbox::store::StoreError::NoAnswer(_))),
        "{answer:?}"
    );
}

pub fn sign(secret: &str, body: &str) -> String {
    header_value(secret.as_bytes(), body.as_bytes())
}

/// A realistic callback body for `job_id` and `event`.
pub fn callback_body(job_id: &str, event: &str) -> String {
    serde_json::json!({
        "event": event,
        "job_id": job_id,
        "workflow_name": "summarize-report",
        "status": if event.ends_with("failed") { "failed" } else { "completed" },
        "result": { "output": "ok", "tokens": 42 },
        "timestamp": "2026-11-23T10:00:00Z",
    })
    .to_string()
}

/// The JSON body of a response, asserting its status first.
pub async fn json_with_status(response: reqwest::Response, status: u16) -> serde_json::Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body reads");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is JSON: {text}"))
}
