//! Where a user stands, read in one statement: the newest callback id (the head), the user's
//! "mark all read" watermark, and the unread count. Every poll asks for it. As five statements
//! it was five round trips, and while ingest keeps both cores busy each round trip waits for
//! the database process to be scheduled (README, "Polling cost").
//!
//! The unread count looks at the newest `UNVIEWED_COUNT_WINDOW` callbacks between the watermark
//! and the head: the window's size minus the user's opened callbacks inside it, two index range
//! scans whose cost does not depend on how the user's views are spread. It is exact when the
//! window holds every callback above the watermark, else a lower bound flagged `capped`.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::BigInt;
use diesel::QueryResult;

/// How many of the newest callbacks above a user's watermark the unread count looks at; with
/// more, the count says "at least". Every poll pays for the window: while ingest runs, the
/// newest rows are not yet marked all-visible, so Postgres checks each of them in the table.
/// With 1,000 that was most of a poll's time in the database (0.85 ms at the median, measured
/// with `log_min_duration_statement` during 16-sender ingest); with 100, the dashboard's poll
/// went from p50 2.51–2.69 to 1.67–2.21 ms and p99 5.15–5.45 to 3.36–4.88 ms there.
pub const UNVIEWED_COUNT_WINDOW: i64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnviewedCount {
    pub count: i64,
    pub capped: bool,
}

/// What [`UserPosition`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The newest callback id, 0 for an empty table.
    pub head: i64,
    /// Every callback up to here counts as viewed by the user (0 without a mark).
    pub mark: i64,
    pub unviewed: UnviewedCount,
}

/// The statement, with one fixed text on both backends so Postgres prepares it once per
/// connection. `standing` is evaluated once, so head, watermark and count come from the same
/// snapshot.
pub struct UserPosition {
    user_id: i64,
}

impl UserPosition {
    pub fn of(user_id: i64) -> UserPosition {
        UserPosition { user_id }
    }
}

/// (head, mark, callbacks in the window plus at most one beyond it, the user's views in it).
pub type PositionRow = (i64, i64, i64, i64);

impl Position {
    pub fn from_row((head, mark, in_window, viewed): PositionRow) -> Position {
        Position {
            head,
            mark,
            unviewed: UnviewedCount {
                // Never below zero, whatever a concurrent retention run removes.
                count: (in_window.min(UNVIEWED_COUNT_WINDOW) - viewed).max(0),
                capped: in_window > UNVIEWED_COUNT_WINDOW,
            },
        }
    }
}

impl QueryId for UserPosition {
    type QueryId = UserPosition;
    // The text never changes; only the bound values do.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for UserPosition {
    type SqlType = (BigInt, BigInt, BigInt, BigInt);
}

impl<DB> QueryFragment<DB> for UserPosition
where
    DB: Backend,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "WITH standing AS (\
               SELECT (SELECT coalesce(max(id), 0) FROM callbacks) AS head, \
                      (SELECT coalesce(max(up_to), 0) FROM view_marks WHERE user_id = ",
        );
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(
            ") AS mark), \
             recent AS (\
               SELECT id FROM callbacks \
               WHERE id > (SELECT mark FROM standing) AND id <= (SELECT head FROM standing) \
               ORDER BY id DESC LIMIT ",
        );
        // The window's limits are written into the text, not bound: see literal_limit.rs.
        out.push_sql(&(UNVIEWED_COUNT_WINDOW + 1).to_string());
        out.push_sql(
            ") \
             SELECT p.head, p.mark, \
               (SELECT count(*) FROM recent) AS in_window, \
               (SELECT count(*) FROM callback_views v \
                WHERE v.user_id = ",
        );
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(
            " AND v.callback_id <= p.head \
                  AND v.callback_id >= (SELECT min(id) FROM \
                        (SELECT id FROM recent ORDER BY id DESC LIMIT ",
        );
        out.push_sql(&UNVIEWED_COUNT_WINDOW.to_string());
        out.push_sql(") AS newest)) AS viewed FROM standing p");
        Ok(())
    }
}

/// Reads the [`Position`] of `$user_id` on whichever backend's connection the caller holds.
macro_rules! position_of {
    ($conn:expr, $user_id:expr) => {{
        let row: $crate::store::unviewed::PositionRow =
            $crate::store::unviewed::UserPosition::of($user_id)
                .get_result($conn)
                .await?;
        $crate::store::unviewed::Position::from_row(row)
    }};
}
pub(crate) use position_of;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_is_a_capped_lower_bound() {
        let position = Position::from_row((5000, 10, UNVIEWED_COUNT_WINDOW + 1, 3));
        assert_eq!(
            position.unviewed,
            UnviewedCount {
                count: UNVIEWED_COUNT_WINDOW - 3,
                capped: true
            }
        );
        let exact = Position::from_row((5000, 4990, 10, 3));
        assert_eq!(
            exact.unviewed,
            UnviewedCount {
                count: 7,
                capped: false
            }
        );
    }

    #[test]
    fn only_the_user_is_bound_so_postgres_can_keep_one_plan() {
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&UserPosition::of(7)).to_string();
        assert!(
            sql.contains(&format!("LIMIT {}", UNVIEWED_COUNT_WINDOW + 1)),
            "{sql}"
        );
        assert!(
            sql.contains(&format!("LIMIT {}", UNVIEWED_COUNT_WINDOW)),
            "{sql}"
        );
        assert!(sql.ends_with("binds: [7, 7]"), "{sql}");
    }

    #[test]
    fn the_count_never_goes_below_zero() {
        assert_eq!(Position::from_row((1, 0, 1, 2)).unviewed.count, 0);
    }
}
