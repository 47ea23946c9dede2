//! The callbacks table: what is written for each accepted delivery and how it is read back.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::dsl::{AsSelect, Find, Select};
use diesel::{ExpressionMethods, Insertable, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::RunQueryDsl;

use super::schema::callbacks;
use super::{with_conn, Db, StoreError};

/// A verified, parsed delivery ready to be stored. Built by the ingest path only.
#[derive(Clone, Insertable)]
#[diesel(table_name = callbacks)]
pub struct NewCallback {
    pub source: String,
    /// Unique per source; a second delivery with the same key is a redelivery.
    pub delivery_key: String,
    pub callback_id: String,
    pub event: String,
    pub workflow_name: Option<String>,
    pub status: Option<String>,
    pub error_message: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub body: Vec<u8>,
    pub body_sha256: String,
    pub preview: String,
    pub payload_size: i32,
    pub signature_verdict: String,
    pub signature_scheme: String,
    pub signature_header: String,
    pub secret_label: String,
    pub verified_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
}

#[cfg(test)]
impl NewCallback {
    /// A delivery with the given key and body hash (the body is the hash's bytes).
    pub(crate) fn for_tests(source: &str, delivery_key: &str, body_sha256: &str) -> NewCallback {
        NewCallback {
            source: source.into(),
            delivery_key: delivery_key.into(),
            callback_id: "job".into(),
            event: "workflow.completed".into(),
            workflow_name: None,
            status: None,
            error_message: None,
            sent_at: None,
            body: body_sha256.as_bytes().to_vec(),
            body_sha256: body_sha256.into(),
            preview: String::new(),
            payload_size: 0,
            signature_verdict: "verified".into(),
            signature_scheme: "hmac-sha256".into(),
            signature_header: String::new(),
            secret_label: "primary".into(),
            verified_at: NaiveDateTime::default(),
            received_at: NaiveDateTime::default(),
            remote_addr: None,
            user_agent: None,
            content_type: None,
        }
    }
}

/// A stored callback, every column.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = callbacks)]
pub struct Callback {
    pub id: i64,
    pub source: String,
    pub delivery_key: String,
    pub callback_id: String,
    pub event: String,
    pub workflow_name: Option<String>,
    pub status: Option<String>,
    pub error_message: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub body: Vec<u8>,
    pub body_sha256: String,
    pub preview: String,
    pub payload_size: i32,
    pub signature_verdict: String,
    pub signature_scheme: String,
    pub signature_header: String,
    pub secret_label: String,
    pub verified_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
}

pub async fn find(db: &Db, id: i64) -> Result<Callback, StoreError> {
    with_conn!(db, read, |conn| Ok(by_id(id).first(conn).await?))
}

pub(super) type ById<DB> = Select<Find<callbacks::table, i64>, AsSelect<Callback, DB>>;

/// The statement that reads one callback, every column.
pub(super) fn by_id<DB: Backend>(id: i64) -> ById<DB> {
    callbacks::table.find(id).select(Callback::as_select())
}

/// All callbacks of one source, by id. Meant for tests and small tables.
pub async fn all_of_source(db: &Db, source: &str) -> Result<Vec<Callback>, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(callbacks::table
            .filter(callbacks::source.eq(source))
            .order(callbacks::id.asc())
            .select(Callback::as_select())
            .load(conn)
            .await?)
    })
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(callbacks::table.count().get_result(conn).await?)
    })
}
