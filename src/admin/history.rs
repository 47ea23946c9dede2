//! `GET /api/admin/llm-callbacks`: history, newest first, filtered, with per-user `viewed`.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cursor::Cursor;
use super::page_limit;
use super::summary::Summary;
use crate::auth::handlers::ErrorBody;
use crate::auth::{AdminReader, ApiError, Deferred};
use crate::store::feed::{self, HistoryFilter};
use crate::store::Db;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;
const MAX_FILTER_CHARS: usize = 512;

#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    pub status: Option<String>,
    pub workflow_name: Option<String>,
    pub event: Option<String>,
    pub source: Option<String>,
    /// Plain text matched (case-insensitively) in job id, workflow name and error message.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub before: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryItem {
    #[serde(flatten)]
    pub summary: Summary,
    pub viewed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryResponse {
    /// Newest first.
    pub items: Vec<HistoryItem>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

#[utoipa::path(get, path = "/api/admin/llm-callbacks", tag = "admin", params(HistoryQuery),
    responses(
        (status = 200, body = HistoryResponse),
        (status = 400, description = "`invalid_cursor` or `invalid_request`", body = ErrorBody),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
    ))]
pub async fn history(
    admin: AdminReader,
    query: Deferred<web::Query<HistoryQuery>>,
    db: web::Data<Db>,
) -> Result<web::Json<HistoryResponse>, ApiError> {
    let page = admin
        .read(move |user_id, credential| async move {
            let query = query.take()?.into_inner();
            let before = Cursor::decode_optional(query.before.as_deref())?;
            let limit = page_limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
            let filter = HistoryFilter {
                status: filter_value("status", query.status)?,
                workflow_name: filter_value("workflow_name", query.workflow_name)?,
                event: filter_value("event", query.event)?,
                source: filter_value("source", query.source)?,
                q: filter_value("q", query.q)?,
            };
            let before = before.map(Cursor::id);
            Ok(feed::history(&db, user_id, &filter, before, limit, credential).await?)
        })
        .await?;
    let next_cursor = match (page.has_more, page.items.last()) {
        (true, Some((last, _))) => Some(Cursor::at(last.id).encode()),
        _ => None,
    };
    Ok(web::Json(HistoryResponse {
        items: page
            .items
            .into_iter()
            .map(|(row, viewed)| HistoryItem {
                summary: Summary::from(row),
                viewed,
            })
            .collect(),
        next_cursor,
        has_more: page.has_more,
    }))
}

/// Empty means "no filter"; overlong values are refused.
fn filter_value(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > MAX_FILTER_CHARS || v.contains('\0') => {
            Err(ApiError::InvalidRequest(format!(
                "`{name}` must be at most 512 characters without NUL"
            )))
        }
        Some(v) => Ok(Some(v)),
    }
}
