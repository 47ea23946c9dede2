//! `GET /api/admin/llm-callbacks/facets`: values for the filter menus and the unviewed count.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::error::detached;
use crate::auth::handlers::ErrorBody;
use crate::auth::{AdminUser, ApiError};
use crate::store::{feed, Db};

#[derive(Serialize, ToSchema)]
pub struct FacetsResponse {
    pub workflow_names: Vec<String>,
    pub statuses: Vec<String>,
    pub events: Vec<String>,
    pub sources: Vec<String>,
    /// As in `check`: unviewed among the newest 100 above the watermark.
    pub unviewed_count: i64,
    /// True when the count is "at least".
    pub unviewed_count_capped: bool,
}

#[utoipa::path(get, path = "/api/admin/llm-callbacks/facets", tag = "admin",
    responses(
        (status = 200, description = "At most 200 values per facet", body = FacetsResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
    ))]
pub async fn facets(
    user: AdminUser,
    db: web::Data<Db>,
) -> Result<web::Json<FacetsResponse>, ApiError> {
    let facets = detached(async move { Ok(feed::facets(&db, user.0.id).await?) }).await?;
    Ok(web::Json(FacetsResponse {
        workflow_names: facets.workflow_names,
        statuses: facets.statuses,
        events: facets.events,
        sources: facets.sources,
        unviewed_count: facets.unviewed.count,
        unviewed_count_capped: facets.unviewed.capped,
    }))
}
