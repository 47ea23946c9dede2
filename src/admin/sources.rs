//! `POST /api/admin/sources/reload`: the same reload as SIGHUP, for operators without a shell
//! on the host. A file that does not load keeps the running sources and says why.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::error::detached;
use crate::auth::handlers::ErrorBody;
use crate::auth::{AdminUser, ApiError};
use crate::ingest::config::SourcesLoader;
use crate::ingest::reload::reload;
use crate::ingest::IngestState;

#[derive(Serialize, ToSchema)]
pub struct ReloadResponse {
    /// The source names served after the reload.
    pub sources: Vec<String>,
}

#[utoipa::path(post, path = "/api/admin/sources/reload", tag = "admin",
    responses(
        (status = 200, description = "The file loaded; these sources are now served", body = ReloadResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `cross_site_request`", body = ErrorBody),
        (status = 422, description = "`invalid_config`: the file did not load (`detail` names file, line and field); the previous sources stay", body = ErrorBody),
    ))]
pub async fn reload_sources(
    _admin: AdminUser,
    ingest: web::Data<IngestState>,
    loader: Option<web::Data<SourcesLoader>>,
) -> Result<web::Json<ReloadResponse>, ApiError> {
    // A server built without a loader (some tests) has nothing to reload from.
    let loader = loader.ok_or(ApiError::NotFound)?;
    let sources = ingest.sources.clone();
    // Reading the config and secret files blocks; keep it off the worker thread.
    let names = detached(async move {
        tokio::task::spawn_blocking(move || reload(&sources, &loader))
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?
            .map_err(|error| ApiError::InvalidConfig(error.to_string()))
    })
    .await?;
    Ok(web::Json(ReloadResponse { sources: names }))
}
