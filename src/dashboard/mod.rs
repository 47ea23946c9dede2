//! The web dashboard: `GET /` (the app), `GET /login`, `GET /static/…` (its files) and
//! `GET /api/dashboard/config`. The pages are static; all data comes from the admin API.

mod assets;

use std::path::PathBuf;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{guard, web, HttpRequest, HttpResponse};
use serde_json::json;
use sha2::{Digest, Sha256};

pub use assets::{AssetError, AssetPath, AssetSource};

use crate::http::json_error;
use crate::store::PoolSettings;

/// What the operator can change about the dashboard.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// Serve `static/` from this directory instead of the embedded copy (development).
    pub static_dir: Option<PathBuf>,
    /// How often an open dashboard polls for new callbacks.
    pub poll_interval: Duration,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            static_dir: None,
            poll_interval: Duration::from_secs(10),
        }
    }
}

impl DashboardSettings {
    fn source(&self) -> AssetSource {
        match &self.static_dir {
            Some(dir) => AssetSource::Disk(dir.clone()),
            None => AssetSource::Embedded,
        }
    }
}

/// What `GET /api/dashboard/config` tells the page.
#[derive(Clone, Debug)]
pub struct PageConfig {
    poll_interval: Duration,
    request_timeout: Duration,
}

/// Beyond its database deadlines, for the server's own work and the network.
const REQUEST_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

impl PageConfig {
    /// The page gives up on an API request the server has not answered within twice its
    /// deadlines for one database request (a free connection, then the answers: a request looks
    /// up its session, then its data) and a margin. By then the server has answered, with a
    /// `503` or `504` if the database kept it waiting, unless the connection itself died
    /// without a word (a laptop that slept, a network that dropped it), which would otherwise
    /// leave a view loading for as long as the browser keeps the connection.
    pub fn new(settings: &DashboardSettings, pool: &PoolSettings) -> PageConfig {
        let one_database_request = pool.acquire_timeout + pool.answer_timeout;
        PageConfig {
            poll_interval: settings.poll_interval,
            request_timeout: 2 * one_database_request + REQUEST_TIMEOUT_MARGIN,
        }
    }
}

/// Expects `web::Data<DashboardSettings>` and `web::Data<PageConfig>` in the app data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", get_or_head().to(index))
        .route("/login", get_or_head().to(login))
        .route("/static/{path:.*}", get_or_head().to(asset))
        .route("/api/dashboard/config", web::get().to(config));
}

fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

async fn index(req: HttpRequest, settings: web::Data<DashboardSettings>) -> HttpResponse {
    serve(&req, &settings, "index.html").await
}

async fn login(req: HttpRequest, settings: web::Data<DashboardSettings>) -> HttpResponse {
    serve(&req, &settings, "login.html").await
}

async fn asset(
    req: HttpRequest,
    path: web::Path<String>,
    settings: web::Data<DashboardSettings>,
) -> HttpResponse {
    serve(&req, &settings, &path.into_inner()).await
}

/// The page reads its settings from here rather than from inline script, which the CSP forbids.
async fn config(page: web::Data<PageConfig>) -> HttpResponse {
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "poll_interval_ms": millis(page.poll_interval),
            "request_timeout_ms": millis(page.request_timeout),
        }))
}

async fn serve(req: &HttpRequest, settings: &DashboardSettings, raw_path: &str) -> HttpResponse {
    let Some(path) = AssetPath::parse(raw_path) else {
        return json_error(StatusCode::NOT_FOUND, "not_found");
    };
    let bytes = match settings.source().load(&path).await {
        Ok(bytes) => bytes,
        Err(AssetError::NotFound) => return json_error(StatusCode::NOT_FOUND, "not_found"),
        Err(error) => {
            tracing::error!(error = %error, "cannot read a dashboard file");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
        }
    };
    let etag = etag_of(&bytes);
    // The file names carry no content hash, so every load revalidates; the ETag makes an
    // unchanged file a bodiless 304.
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, path.content_type()))
            .body(bytes)
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..12]))
}
