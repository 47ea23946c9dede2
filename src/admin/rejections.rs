//! `GET /api/admin/rejections`: the rejection log, newest first, paged like history, each
//! entry with its reason in plain words.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cursor::RejectionCursor;
use super::page_limit;
use crate::auth::error::detached;
use crate::auth::handlers::ErrorBody;
use crate::auth::{api_time, AdminUser, ApiError, Deferred};
use crate::rejections::explain;
use crate::store::rejections::{self, Rejection};
use crate::store::Db;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Deserialize, IntoParams)]
pub struct RejectionsQuery {
    /// The `next_cursor` of the previous page.
    pub before: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// One refused ingest attempt. Never the body or a header value: only what it looked like.
#[derive(Serialize, ToSchema)]
pub struct RejectionItem {
    pub id: i64,
    pub cursor: String,
    /// RFC 3339 UTC.
    pub rejected_at: String,
    /// The stable error code the sender was answered with, e.g. `invalid_signature`.
    pub reason: String,
    /// The reason in plain words, with what to check.
    pub explanation: String,
    pub http_status: i32,
    pub source: String,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The declared `Content-Length`, if any.
    pub content_length: Option<i64>,
    /// Body bytes read before the refusal (`null` when refused before reading).
    pub body_bytes: Option<i64>,
    /// Names of the signature-related headers that were present.
    pub headers_present: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RejectionsResponse {
    /// Newest first.
    pub items: Vec<RejectionItem>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

#[utoipa::path(get, path = "/api/admin/rejections", tag = "admin", params(RejectionsQuery),
    responses(
        (status = 200, body = RejectionsResponse),
        (status = 400, description = "`invalid_cursor` or `invalid_request`", body = ErrorBody),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
    ))]
pub async fn rejections(
    _user: AdminUser,
    query: Deferred<web::Query<RejectionsQuery>>,
    db: web::Data<Db>,
) -> Result<web::Json<RejectionsResponse>, ApiError> {
    let query = query.take()?;
    let before = RejectionCursor::decode_optional(query.before.as_deref())?;
    let limit = page_limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut rows = detached(async move {
        Ok(rejections::page(&db, before.map(RejectionCursor::id), limit + 1).await?)
    })
    .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = match (has_more, rows.last()) {
        (true, Some(last)) => Some(RejectionCursor::at(last.id).encode()),
        _ => None,
    };
    Ok(web::Json(RejectionsResponse {
        items: rows.into_iter().map(RejectionItem::from).collect(),
        next_cursor,
        has_more,
    }))
}

impl From<Rejection> for RejectionItem {
    fn from(row: Rejection) -> Self {
        RejectionItem {
            id: row.id,
            cursor: RejectionCursor::at(row.id).encode(),
            rejected_at: api_time(row.rejected_at),
            explanation: explain(&row.reason).to_owned(),
            reason: row.reason,
            http_status: row.http_status,
            source: row.source,
            remote_addr: row.remote_addr,
            user_agent: row.user_agent,
            content_length: row.content_length,
            body_bytes: row.body_bytes,
            headers_present: row
                .headers_present
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}
