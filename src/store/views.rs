//! Per-user "viewed" state, kept two ways:
//! - a mark per opened callback in `callback_views`, idempotent by its (user_id, callback_id)
//!   primary key: concurrent marks of the same callback both succeed, one row remains;
//! - "mark all read" as a watermark in `view_marks`: every callback with an id up to the user's
//!   highest `up_to` is viewed. One row per advance, however many callbacks it covers.
//!
//! A callback is viewed by a user when either says so; it was first viewed at the earliest of
//! its own mark and the marks covering it.

use chrono::NaiveDateTime;
use diesel::dsl::{max, min, Eq, Filter, Find, GtEq, Select, SingleValue};
use diesel::pg::Pg;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::Sqlite;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, QueryResult};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join4;

use super::callbacks::{by_id, Callback};
use super::schema::{callback_views, callbacks, view_marks};
use super::sessions::{lookup_pipelined, CredentialKey, WithCredential};
use super::unviewed::{position_of, Position};
use super::{with_conn, Db, SqliteConn, StoreError};

/// The user's own mark of one callback: when they opened it.
fn own_view(user_id: i64, callback_id: i64) -> OwnView {
    callback_views::table
        .find((user_id, callback_id))
        .select(callback_views::viewed_at)
}

type OwnView = Select<Find<callback_views::table, (i64, i64)>, callback_views::viewed_at>;

/// When the earliest of the user's watermarks covering one callback was set.
fn covering_marks(user_id: i64, callback_id: i64) -> CoveringMarks {
    view_marks::table
        .filter(view_marks::user_id.eq(user_id))
        .filter(view_marks::up_to.ge(callback_id))
        .select(min(view_marks::viewed_at))
}

type CoveringMarks = Select<
    Filter<Filter<view_marks::table, Eq<view_marks::user_id, i64>>, GtEq<view_marks::up_to, i64>>,
    diesel::helper_types::min<view_marks::viewed_at>,
>;

/// The user's "mark all read" watermark as a subquery; NULL while they have none.
pub(super) fn watermark(user_id: i64) -> Watermark {
    view_marks::table
        .filter(view_marks::user_id.eq(user_id))
        .select(max(view_marks::up_to))
        .single_value()
}

pub(crate) type Watermark = SingleValue<
    Select<
        Filter<view_marks::table, Eq<view_marks::user_id, i64>>,
        diesel::helper_types::max<view_marks::up_to>,
    >,
>;

/// First viewed: the earlier of the user's own mark and the watermarks covering the callback.
fn earliest(own: Option<NaiveDateTime>, marked: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    match (own, marked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When a user first viewed a callback, read with the connection the caller holds.
macro_rules! first_viewed_at {
    ($conn:expr, $user_id:expr, $callback_id:expr) => {{
        let own = own_view($user_id, $callback_id)
            .first($conn)
            .await
            .optional()?;
        let marked = covering_marks($user_id, $callback_id).first($conn).await?;
        earliest(own, marked)
    }};
}

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
        Ok(first_viewed_at!(conn, user_id, callback_id))
    })
}

/// Marks every callback with an id up to `up_to` viewed; returns how many were newly marked.
///
/// The watermark never passes the newest stored callback: a cursor ahead of it (from a client
/// with a wrong clock of ids, or another server) must not mark callbacks nobody has seen yet.
/// Every id up to the newest visible one is committed (the writer's order lock), so nothing can
/// still appear below the watermark.
pub async fn mark_up_to(
    db: &Db,
    user_id: i64,
    up_to: i64,
    now: NaiveDateTime,
) -> Result<u64, StoreError> {
    let marked = with_conn!(db, write, |conn| {
        // The unread count read alongside is not needed here; one statement for the head
        // and the watermark is worth it on an action as rare as "mark all read".
        let Position {
            head,
            mark: previous,
            ..
        } = position_of!(conn, user_id);
        let target = up_to.min(head);
        if target > previous {
            diesel::insert_into(view_marks::table)
                .values((
                    view_marks::user_id.eq(user_id),
                    view_marks::up_to.eq(target),
                    view_marks::viewed_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        Ok::<_, StoreError>(previous..=target)
    })?;
    newly_marked(db, user_id, marked).await
}

/// How many callbacks of `(previous, target]` `user_id` had not viewed one by one: the count
/// `mark_up_to` answers. Counted on a read connection, as it walks every row of the range (all
/// of them at a user's first "mark all read"), and on SQLite the write connection is the one
/// ingest waits for. Two concurrent advances may both count the same callbacks, and retention
/// may delete some in between: the total is informational, the state is the mark.
async fn newly_marked(
    db: &Db,
    user_id: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<u64, StoreError> {
    let (previous, target) = range.into_inner();
    if target <= previous {
        return Ok(0);
    }
    with_conn!(db, read, |conn| {
        let covered: i64 = callbacks::table
            .filter(callbacks::id.gt(previous))
            .filter(callbacks::id.le(target))
            .count()
            .get_result(conn)
            .await?;
        let already: i64 = callback_views::table
            .filter(callback_views::user_id.eq(user_id))
            .filter(callback_views::callback_id.gt(previous))
            .filter(callback_views::callback_id.le(target))
            .count()
            .get_result(conn)
            .await?;
        Ok(u64::try_from(covered - already).unwrap_or(0))
    })
}

/// One callback and when `user_id` first viewed it, if ever (the detail view). With
/// `credential`, Postgres looks it up in the same pipeline (see `AdminReader`).
pub async fn find_with_viewed_at(
    db: &Db,
    user_id: i64,
    callback_id: i64,
    credential: Option<CredentialKey>,
) -> Result<WithCredential<(Callback, Option<NaiveDateTime>)>, StoreError> {
    with_conn!(db, read, |conn| Ok(conn
        .find_with_viewed_at(user_id, callback_id, credential.as_ref())
        .await?))
}

trait FindWithViewedAt {
    async fn find_with_viewed_at(
        &mut self,
        user_id: i64,
        callback_id: i64,
        credential: Option<&CredentialKey>,
    ) -> QueryResult<WithCredential<(Callback, Option<NaiveDateTime>)>>;
}

impl FindWithViewedAt for AsyncPgConnection {
    /// The statements are independent, so they are pipelined: one round trip. While ingest
    /// keeps both cores busy, each round trip of a request waits for a CPU (README, "Polling
    /// cost").
    async fn find_with_viewed_at(
        &mut self,
        user_id: i64,
        callback_id: i64,
        credential: Option<&CredentialKey>,
    ) -> QueryResult<WithCredential<(Callback, Option<NaiveDateTime>)>> {
        let lookup = lookup_pipelined(&*self, credential);
        let (mut for_row, mut for_own, mut for_marks) = (&*self, &*self, &*self);
        let row = by_id::<Pg>(callback_id).first(&mut for_row);
        let own = own_view(user_id, callback_id).first(&mut for_own);
        let marked = covering_marks(user_id, callback_id).first(&mut for_marks);
        let (credential, row, own, marked) =
            try_join4(lookup, row, async { own.await.optional() }, marked).await?;
        Ok(WithCredential {
            value: (row, earliest(own, marked)),
            credential,
        })
    }
}

impl FindWithViewedAt for SqliteConn {
    async fn find_with_viewed_at(
        &mut self,
        user_id: i64,
        callback_id: i64,
        _credential: Option<&CredentialKey>,
    ) -> QueryResult<WithCredential<(Callback, Option<NaiveDateTime>)>> {
        let row = by_id::<Sqlite>(callback_id).first(self).await?;
        Ok(WithCredential {
            value: (row, first_viewed_at!(self, user_id, callback_id)),
            credential: None,
        })
    }
}
