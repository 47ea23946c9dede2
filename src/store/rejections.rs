//! The rejections table: a bounded log of refused ingest attempts. Written in batches by
//! `crate::rejections`, pruned oldest first, read page by page (newest first) by the admin API.

use chrono::NaiveDateTime;
use diesel::{
    ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::literal_limit::literal_limit;
use super::schema::rejections;
use super::{with_conn, Db, StoreError};

/// What is kept about one refused attempt: never the body, never a secret.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = rejections)]
pub struct NewRejection {
    pub rejected_at: NaiveDateTime,
    pub reason: String,
    pub http_status: i32,
    pub source: String,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The declared `Content-Length`, if any.
    pub content_length: Option<i64>,
    /// How many body bytes were read before the answer (none when refused before reading).
    pub body_bytes: Option<i64>,
    /// The signature/delivery header names that were present, comma-separated.
    pub headers_present: String,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = rejections)]
pub struct Rejection {
    pub id: i64,
    pub rejected_at: NaiveDateTime,
    pub reason: String,
    pub http_status: i32,
    pub source: String,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    pub content_length: Option<i64>,
    pub body_bytes: Option<i64>,
    pub headers_present: String,
}

/// Writes a batch in one transaction (one commit for many rows). Row by row because SQLite
/// cannot take a multi-row insert with optional columns; inside one transaction that is cheap.
pub async fn insert_batch(db: &Db, rows: &[NewRejection]) -> Result<usize, StoreError> {
    with_conn!(db, write, |conn| {
        Ok(conn
            .transaction(async |conn| {
                let mut written = 0;
                for row in rows {
                    written += diesel::insert_into(rejections::table)
                        .values(row)
                        .execute(conn)
                        .await?;
                }
                Ok::<_, diesel::result::Error>(written)
            })
            .await?)
    })
}

/// Deletes the oldest rows beyond the newest `keep`; returns how many went.
pub async fn prune_to(db: &Db, keep: u32) -> Result<usize, StoreError> {
    with_conn!(db, write, |conn| {
        let boundary: Option<i64> = rejections::table
            .select(rejections::id)
            .order(rejections::id.desc())
            .offset(i64::from(keep))
            .limit(1)
            .first(conn)
            .await
            .optional()?;
        match boundary {
            None => Ok(0),
            Some(boundary) => Ok(diesel::delete(
                rejections::table.filter(rejections::id.le(boundary)),
            )
            .execute(conn)
            .await?),
        }
    })
}

/// Newest first: rows with `id < before` (all when `None`), at most `limit`.
pub async fn page(db: &Db, before: Option<i64>, limit: i64) -> Result<Vec<Rejection>, StoreError> {
    with_conn!(db, read, |conn| {
        let mut query = rejections::table
            .select(Rejection::as_select())
            .order(rejections::id.desc())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(rejections::id.lt(before));
        }
        Ok(literal_limit(query, limit).load(conn).await?)
    })
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(rejections::table.count().get_result(conn).await?)
    })
}
