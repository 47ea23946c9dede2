//! The rows of one history page, read by id once the page's ids have been found in an index
//! (feed.rs explains why in two steps).
//!
//! A page deep in a filtered history is about 50 rows on about 50 heap pages scattered over the
//! table, pages that no poll has touched lately and that are often no longer cached (the rows of
//! the first page are the newest, which ingest and polls keep cached). Read by a plain index
//! scan, they come from disk one after the other. A bitmap heap scan announces the next pages to
//! the kernel first (`effective_io_concurrency`), so the reads overlap. Postgres itself picks
//! the plain index scan for `id = ANY(…)`, because ids lie in physical order and it expects them
//! on neighbouring pages, so for pages after the first it runs the statement in a transaction
//! that turns plain index scans off for it alone. That costs two round trips (BEGIN, COMMIT).
//! SQLite reads pages synchronously either way and runs the plain statement.
//!
//! Measured on 1,000,000 callbacks with `hookbox-bench-polling` (`status=failed` pages at a
//! random depth, 1,000 per run), alternated with the build before: with the page cache dropped
//! before each run, p50 5.7–6.9 → 3.7–3.9 ms and p99 8.6–10.6 → 6.7–7.8 ms; with the table
//! cached, p50 1.5–1.9 → 2.0–2.3 ms. First pages measured the same in both builds.

use diesel::backend::Backend;
use diesel::dsl::{AsSelect, Desc, EqAny, Filter, Order, Select};
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel::{ExpressionMethods, QueryDsl, QueryResult, SelectableHelper};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::try_join;

use super::feed::SummaryRow;
use super::schema::callbacks;
use super::SqliteConn;

/// For the rest of the transaction: bitmap instead of plain index scans, reading up to 64 heap
/// pages ahead (16 and 64 measured the same on a cold cache, 8 slower), and a plan made under
/// these settings. Without the last, Postgres reuses the generic plan it settled on for the same
/// statement on first pages, a plain index scan: settings do not invalidate cached plans. Only
/// for statements that fetch a known set of ids: an ordered range scan with a limit would have to
/// read and sort its whole range.
const PREFER_BITMAP_HEAP_SCANS: &str = "SET LOCAL enable_indexscan = off; \
     SET LOCAL effective_io_concurrency = 64; SET LOCAL plan_cache_mode = force_custom_plan";

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

/// Where a page lies: its rows are read ahead only when it is not the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageDepth {
    First,
    Deeper,
}

/// Loads a page's rows on whichever backend the connection is.
pub(crate) trait LoadPageRows {
    async fn load_page_rows(
        &mut self,
        ids: &[i64],
        depth: PageDepth,
    ) -> QueryResult<Vec<SummaryRow>>;
}

impl LoadPageRows for AsyncPgConnection {
    async fn load_page_rows(
        &mut self,
        ids: &[i64],
        depth: PageDepth,
    ) -> QueryResult<Vec<SummaryRow>> {
        if depth == PageDepth::First {
            return page_rows::<Pg>(ids).load(self).await;
        }
        self.transaction(async |conn| {
            // Pipelined, one round trip for both: the settings leave first on this connection,
            // so Postgres runs them before it plans the SELECT.
            let (mut first, mut second): (&AsyncPgConnection, &AsyncPgConnection) = (conn, conn);
            let ((), rows) = try_join(
                first.batch_execute(PREFER_BITMAP_HEAP_SCANS),
                page_rows::<Pg>(ids).load(&mut second),
            )
            .await?;
            Ok(rows)
        })
        .await
    }
}

impl LoadPageRows for SqliteConn {
    async fn load_page_rows(
        &mut self,
        ids: &[i64],
        _depth: PageDepth,
    ) -> QueryResult<Vec<SummaryRow>> {
        page_rows::<Sqlite>(ids).load(self).await
    }
}
