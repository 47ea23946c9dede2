//! One history page's rows and viewed flags, read by id once the page's ids have been found in
//! an index (feed.rs explains why in two steps). On Postgres both statements are pipelined:
//! they leave in order on one connection and Postgres runs them in that order, in one round
//! trip. The flags have a statement of their own because, as a subquery per row, Postgres'
//! generic plan may hash all of the user's views first (100 ms for a user with 200,000 of them)
//! instead of probing 50 keys. Pipelining them, alternated with the build before on 1,000,000
//! callbacks: first pages p50 0.99–1.17 → 0.94–0.96 ms idle, 2.05–2.19 → 1.90–1.95 ms while
//! 16 senders stored callbacks.
//!
//! A page deep in a filtered history is about 50 rows on about 50 heap pages scattered over the
//! table, pages that no poll has touched lately and that are often no longer cached (the rows of
//! the first page are the newest, which ingest and polls keep cached). Read by a plain index
//! scan, they come from disk one after the other. A bitmap heap scan announces the next pages to
//! the kernel first (`effective_io_concurrency`), so the reads overlap. Postgres itself picks
//! the plain index scan for `id = ANY(…)`, because ids lie in physical order and it expects them
//! on neighbouring pages, so pages after the first read their rows through the function
//! `history_page_rows` (migration 000005), which turns plain index scans off while it runs.
//! SQLite reads pages synchronously either way and runs the plain statement.
//!
//! Measured on 1,000,000 callbacks with `hookbox-bench-polling` (`status=failed` pages at a
//! random depth, 1,000 per run), alternated with the build before: with the page cache dropped
//! before each run, p50 5.7–6.9 → 3.7–3.9 ms and p99 8.6–10.6 → 6.7–7.8 ms; with the table
//! cached, p50 1.5–1.9 → 2.0–2.3 ms. That build scoped the settings with `SET LOCAL` in a
//! transaction, two round trips more (BEGIN, COMMIT) than the function.

use diesel::backend::Backend;
use diesel::dsl::{AsSelect, Desc, Eq, EqAny, Filter, Order, Select};
use diesel::expression::Expression;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt};
use diesel::sqlite::Sqlite;
use diesel::{ExpressionMethods, QueryDsl, QueryResult, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join;

use super::feed::SummaryRow;
use super::schema::{callback_views, callbacks};
use super::SqliteConn;

pub type PageRows<'a, DB> = Select<
    Order<Filter<callbacks::table, EqAny<callbacks::id, &'a [i64]>>, Desc<callbacks::id>>,
    AsSelect<SummaryRow, DB>,
>;

/// The summaries of `ids` that still exist, newest first.
pub fn page_rows<DB: Backend>(ids: &[i64]) -> PageRows<'_, DB> {
    callbacks::table
        .filter(callbacks::id.eq_any(ids))
        .order(callbacks::id.desc())
        .select(SummaryRow::as_select())
}

type OpenedAmong<'a> = Select<
    Filter<
        Filter<callback_views::table, Eq<callback_views::user_id, i64>>,
        EqAny<callback_views::callback_id, &'a [i64]>,
    >,
    callback_views::callback_id,
>;

/// Those of `ids` that `user_id` opened one by one (the watermark is applied by the caller).
fn opened_among(user_id: i64, ids: &[i64]) -> OpenedAmong<'_> {
    callback_views::table
        .filter(callback_views::user_id.eq(user_id))
        .filter(callback_views::callback_id.eq_any(ids))
        .select(callback_views::callback_id)
}

/// Where a page lies: its rows are read ahead only when it is not the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageDepth {
    First,
    Deeper,
}

/// The rows of `ids` that still exist, newest first, and those of `ids` that `user_id` opened.
type PageContents = (Vec<SummaryRow>, Vec<i64>);

/// Loads a page on whichever backend the connection is.
pub(crate) trait LoadHistoryPage {
    async fn load_history_page(
        &mut self,
        ids: &[i64],
        user_id: i64,
        depth: PageDepth,
    ) -> QueryResult<PageContents>;
}

impl LoadHistoryPage for AsyncPgConnection {
    async fn load_history_page(
        &mut self,
        ids: &[i64],
        user_id: i64,
        depth: PageDepth,
    ) -> QueryResult<PageContents> {
        // Both statements depend only on `ids`: pipelined, they cost one round trip.
        let (mut for_flags, mut for_rows) = (&*self, &*self);
        let flags = opened_among(user_id, ids).load(&mut for_flags);
        let (opened, rows) = match depth {
            PageDepth::First => try_join(flags, page_rows::<Pg>(ids).load(&mut for_rows)).await?,
            PageDepth::Deeper => try_join(flags, ReadAhead::of(ids).load(&mut for_rows)).await?,
        };
        Ok((rows, opened))
    }
}

/// `SELECT <summary columns> FROM history_page_rows(ids) AS callbacks ORDER BY id DESC`: the
/// summaries of `ids`, newest first, read with a bitmap heap scan. The alias lets diesel's
/// column list for [`SummaryRow`] (`"callbacks"."id"`, …) name the function's columns.
struct ReadAhead<'a> {
    columns: AsSelect<SummaryRow, Pg>,
    ids: &'a [i64],
}

impl ReadAhead<'_> {
    fn of(ids: &[i64]) -> ReadAhead<'_> {
        ReadAhead {
            columns: SummaryRow::as_select(),
            ids,
        }
    }
}

impl QueryId for ReadAhead<'_> {
    type QueryId = ReadAhead<'static>;
    // The text never changes, so Postgres prepares it once per connection.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for ReadAhead<'_> {
    type SqlType = <AsSelect<SummaryRow, Pg> as Expression>::SqlType;
}

impl QueryFragment<Pg> for ReadAhead<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        self.columns.walk_ast(out.reborrow())?;
        out.push_sql(" FROM history_page_rows(");
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql(") AS callbacks ORDER BY callbacks.id DESC");
        Ok(())
    }
}

impl LoadHistoryPage for SqliteConn {
    async fn load_history_page(
        &mut self,
        ids: &[i64],
        user_id: i64,
        _depth: PageDepth,
    ) -> QueryResult<PageContents> {
        let rows = page_rows::<Sqlite>(ids).load(self).await?;
        let opened = opened_among(user_id, ids).load(self).await?;
        Ok((rows, opened))
    }
}
