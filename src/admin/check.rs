//! `GET /api/admin/llm-callbacks/check`: what this user has not seen, newer than the cursor.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cursor::Cursor;
use super::page_limit;
use super::summary::Summary;
use crate::auth::handlers::ErrorBody;
use crate::auth::{AdminReader, ApiError, Deferred};
use crate::metrics::Metrics;
use crate::store::{check_page, Db};

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize, IntoParams)]
pub struct CheckQuery {
    /// The `next_cursor` of the previous poll; without it, the latest unviewed callbacks and a
    /// cursor at the current head.
    pub after: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckResponse {
    /// Oldest first.
    pub items: Vec<Summary>,
    pub next_cursor: String,
    pub has_more: bool,
    /// Unviewed among the newest 100 callbacks above this user's "mark all read" watermark.
    pub unviewed_count: i64,
    /// True when more than 100 callbacks lie above the watermark: the count is "at least".
    pub unviewed_count_capped: bool,
}

#[utoipa::path(get, path = "/api/admin/llm-callbacks/check", tag = "admin", params(CheckQuery),
    responses(
        (status = 200, body = CheckResponse),
        (status = 400, description = "`invalid_cursor` or `invalid_request`", body = ErrorBody),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
    ))]
pub async fn check(
    admin: AdminReader,
    query: Deferred<web::Query<CheckQuery>>,
    db: web::Data<Db>,
    metrics: web::Data<Metrics>,
) -> Result<web::Json<CheckResponse>, ApiError> {
    let page = admin
        .read(move |user_id, credential| async move {
            let query = query.take()?;
            let after = Cursor::decode_optional(query.after.as_deref())?;
            let limit = page_limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
            let after = after.map(Cursor::id);
            let page = check_page::check(&db, user_id, after, limit, credential).await?;
            if let (true, Some(after)) = (page.value.cursor_ahead, after) {
                if !check_page::cursor_was_handed_out(&db, after).await? {
                    return Err(ApiError::InvalidCursor);
                }
            }
            Ok(page)
        })
        .await?;
    metrics.polls_served.inc_by(1);
    Ok(web::Json(CheckResponse {
        items: page.items.into_iter().map(Summary::from).collect(),
        next_cursor: Cursor::at(page.next).encode(),
        has_more: page.has_more,
        unviewed_count: page.unviewed.count,
        unviewed_count_capped: page.unviewed.capped,
    }))
}
