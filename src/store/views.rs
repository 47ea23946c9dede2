//! Per-user "viewed" marks. Idempotent by the (user_id, callback_id) primary key: concurrent
//! marks of the same callback both succeed, one row remains.

use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{ExpressionMethods, IntoSql, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use super::schema::{callback_views, callbacks};
use super::{with_conn, Db, StoreError};

/// Marks one callback viewed; returns when it was first viewed, or `None` for an unknown id.
pub async fn mark(
    db: &Db,
    user_id: i64,
    callback_id: i64,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, StoreError> {
    with_conn!(db, write, |conn| {
        let inserted = diesel::insert_into(callback_views::table)
            .values((
                callback_views::user_id.eq(user_id),
                callback_views::callback_id.eq(callback_id),
                callback_views::viewed_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await;
        match inserted {
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                return Ok(None)
            }
            Err(other) => return Err(other.into()),
        }
        Ok(callback_views::table
            .find((user_id, callback_id))
            .select(callback_views::viewed_at)
            .first(conn)
            .await
            .optional()?)
    })
}

/// Marks every callback with an id up to `up_to` viewed; returns how many were newly marked.
pub async fn mark_up_to(
    db: &Db,
    user_id: i64,
    up_to: i64,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    with_conn!(db, write, |conn| {
        let unviewed = callbacks::table
            .filter(callbacks::id.le(up_to))
            .filter(not(exists(
                callback_views::table
                    .filter(callback_views::user_id.eq(user_id))
                    .filter(callback_views::callback_id.eq(callbacks::id)),
            )))
            .select((
                user_id.into_sql::<diesel::sql_types::BigInt>(),
                callbacks::id,
                now.into_sql::<diesel::sql_types::Timestamp>(),
            ));
        Ok(diesel::insert_into(callback_views::table)
            .values(unviewed)
            .into_columns((
                callback_views::user_id,
                callback_views::callback_id,
                callback_views::viewed_at,
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?)
    })
}

/// When `user_id` viewed `callback_id`, if ever.
pub async fn viewed_at(
    db: &Db,
    user_id: i64,
    callback_id: i64,
) -> Result<Option<NaiveDateTime>, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(callback_views::table
            .find((user_id, callback_id))
            .select(callback_views::viewed_at)
            .first(conn)
            .await
            .optional()?)
    })
}
