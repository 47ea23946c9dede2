//! `POST /api/admin/llm-callbacks/{id}/view` and `POST /api/admin/llm-callbacks/view-all`.

use actix_web::web;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::cursor::Cursor;
use super::parse_id;
use crate::auth::error::detached;
use crate::auth::handlers::ErrorBody;
use crate::auth::{api_time, AdminUser, ApiError, Deferred};
use crate::store::{views, Db};

#[derive(Serialize, ToSchema)]
pub struct Viewed {
    pub id: i64,
    /// When this user first viewed it.
    pub viewed_at: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ViewAllRequest {
    /// A cursor: every callback up to and including it is marked (never past the newest
    /// stored callback, so later ones stay unviewed).
    pub up_to: String,
}

#[derive(Serialize, ToSchema)]
pub struct ViewAllResponse {
    /// How many callbacks were newly marked.
    pub marked: u64,
}

#[utoipa::path(post, path = "/api/admin/llm-callbacks/{id}/view", tag = "admin",
    params(("id" = i64, Path, description = "Callback id")),
    responses(
        (status = 200, description = "Marked (idempotent)", body = Viewed),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `cross_site_request`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn view(
    user: AdminUser,
    id: web::Path<String>,
    db: web::Data<Db>,
) -> Result<web::Json<Viewed>, ApiError> {
    let id = parse_id(&id)?;
    let viewed_at =
        detached(async move { Ok(views::mark(&db, user.0.id, id, Utc::now().naive_utc()).await?) })
            .await?
            .ok_or(ApiError::NotFound)?;
    Ok(web::Json(Viewed {
        id,
        viewed_at: api_time(viewed_at),
    }))
}

#[utoipa::path(post, path = "/api/admin/llm-callbacks/view-all", tag = "admin",
    request_body = ViewAllRequest,
    responses(
        (status = 200, body = ViewAllResponse),
        (status = 400, description = "`invalid_cursor` or `invalid_request`", body = ErrorBody),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `cross_site_request`", body = ErrorBody),
    ))]
pub async fn view_all(
    user: AdminUser,
    body: Deferred<web::Json<ViewAllRequest>>,
    db: web::Data<Db>,
) -> Result<web::Json<ViewAllResponse>, ApiError> {
    let up_to = Cursor::decode(&body.take()?.up_to)?;
    let marked = detached(async move {
        Ok(views::mark_up_to(&db, user.0.id, up_to.id(), Utc::now().naive_utc()).await?)
    })
    .await?;
    Ok(web::Json(ViewAllResponse {
        marked: marked as u64,
    }))
}
