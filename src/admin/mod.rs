//! The admin API under `/api/admin/`: admins only, each with their own "viewed" state.

pub mod check;
pub mod cursor;
pub mod detail;
pub mod facets;
pub mod history;
pub mod jobs;
pub mod rejections;
pub mod sources;
pub mod summary;
pub mod views;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::auth::{error, origin, ApiError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/admin")
            .wrap(from_fn(origin::refuse_cross_site))
            .app_data(error::json_config())
            .app_data(error::query_config())
            .app_data(error::path_config())
            .route("/llm-callbacks", web::get().to(history::history))
            .route("/llm-callbacks/check", web::get().to(check::check))
            .route("/llm-callbacks/facets", web::get().to(facets::facets))
            .route("/llm-callbacks/view-all", web::post().to(views::view_all))
            .route("/llm-callbacks/{id}", web::get().to(detail::detail))
            .route("/llm-callbacks/{id}/view", web::post().to(views::view))
            .route("/jobs/{job_id}", web::get().to(jobs::job))
            .route("/sources/reload", web::post().to(sources::reload_sources))
            .route("/rejections", web::get().to(rejections::rejections))
            .default_service(web::to(crate::http::not_found)),
    );
}

/// A page size: default when absent, 1..=max otherwise.
fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::InvalidRequest(format!(
            "`limit` must be between 1 and {max}"
        ))),
    }
}

/// A callback id in a path; anything but a positive number names nothing.
fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}
