//! One history page with its viewed flags, from the page's ids found in an index (feed.rs
//! explains why the ids come first). On Postgres that is one statement and one round trip:
//!
//! ```sql
//! WITH page (id, covered) AS MATERIALIZED (<the ids, each with whether the watermark covers it>)
//! SELECT <summary>, coalesce(page.covered, false) OR EXISTS (<the user's own mark>)
//! FROM callbacks JOIN page ON page.id = callbacks.id ORDER BY callbacks.id DESC
//! ```
//!
//! The ids, the rows and the flags then come from one snapshot, so a row removed by retention
//! between two statements can no longer shorten a page. Before, the ids were a statement of
//! their own and the rows and flags two more, pipelined: two round trips instead of one.
//! Alternated with that build on 1,000,000 callbacks (`hookbox-bench-polling`, 1,000 polls per
//! operation, 2026-12-02), an idle server's first pages went from p50 1.12 to 0.98–1.07 ms in
//! the calm runs; while 16 senders stored callbacks, five runs each showed no difference beyond
//! the run-to-run spread (first page p50 1.87–2.13 against 1.99–2.67 ms, p99 4.61–8.47 against
//! 5.51–8.10 ms). The own-mark probe is a per-row subquery: with the page materialized and its
//! `LIMIT` in the text, Postgres' generic plan expects `limit + 1` rows and probes the primary
//! key of `callback_views` once per row (checked with `EXPLAIN` for a user with 900,000 views)
//! instead of hashing all of the user's views first, which took 100 ms for a user with 200,000
//! of them when the number of ids was unknown to the plan.
//!
//! A page deep in a filtered history is about 50 rows on about 50 heap pages scattered over the
//! table, pages that no poll has touched lately and that are often no longer cached (the rows of
//! the first page are the newest, which ingest and polls keep cached). Read by a plain index
//! scan, they come from disk one after the other. A bitmap heap scan announces the next pages to
//! the kernel first (`effective_io_concurrency`), so the reads overlap. Postgres itself picks
//! the plain index scan for `id = ANY(…)`, because ids lie in physical order and it expects them
//! on neighbouring pages, so pages after the first read their rows through the function
//! `history_page_rows` (migration 000005), which turns plain index scans off while it runs. It is
//! PL/pgSQL since migration 000010, so its statement is planned once per connection rather than
//! at every call (docs/performance.md, 2026-12-06 21:24).
//! SQLite, in process, has no round trips to save: it reads the ids, then the rows and the own
//! marks, with plain statements.
//!
//! The read-ahead, measured on 1,000,000 callbacks with `hookbox-bench-polling` (`status=failed`
//! pages at a random depth, 1,000 per run), alternated with the build before: with the page cache
//! dropped before each run, p50 5.7–6.9 → 3.7–3.9 ms and p99 8.6–10.6 → 6.7–7.8 ms; with the table
//! cached, p50 1.5–1.9 → 2.0–2.3 ms. That build scoped the settings with `SET LOCAL` in a
//! transaction, two round trips more (BEGIN, COMMIT) than the function.

use std::collections::HashSet;

use diesel::backend::Backend;
use diesel::dsl::{AsSelect, Desc, Eq, EqAny, Filter, IntoBoxed, LtEq, Order, Select};
use diesel::expression::Expression;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool};
use diesel::sqlite::Sqlite;
use diesel::{ExpressionMethods, QueryDsl, QueryResult, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join;

use super::feed::{HistoryPage, SummaryRow};
use super::literal_limit::{literal_limit, LiteralLimit};
use super::schema::{callback_views, callbacks};
use super::sessions::{lookup_pipelined, CredentialKey, WithCredential};
use super::views::Watermark;
use super::SqliteConn;

/// The history's ids, newest first, each with whether the user's watermark covers it (NULL
/// while the user has none): filters and cursor applied, no limit yet.
pub(crate) type HistoryIds<'a, DB> = IntoBoxed<
    'a,
    Select<
        callbacks::table,
        (
            callbacks::id,
            LtEq<diesel::dsl::Nullable<callbacks::id>, Watermark>,
        ),
    >,
    DB,
>;

/// Which page of the history is wanted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Page {
    pub user_id: i64,
    pub limit: i64,
    pub depth: PageDepth,
}

/// Where a page lies: its rows are read ahead only when it is not the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageDepth {
    First,
    Deeper,
}

/// Loads a page on whichever backend the connection is, from the history's ids (one more than
/// the page holds is read, to know whether there is more).
pub(crate) trait LoadHistoryPage {
    type Ids<'a>;

    /// With `credential`, Postgres looks it up in the same pipeline (see `AdminReader`).
    async fn load_history_page(
        &mut self,
        ids: Self::Ids<'_>,
        page: Page,
        credential: Option<&CredentialKey>,
    ) -> QueryResult<WithCredential<HistoryPage>>;
}

impl LoadHistoryPage for AsyncPgConnection {
    type Ids<'a> = HistoryIds<'a, Pg>;

    async fn load_history_page(
        &mut self,
        ids: HistoryIds<'_, Pg>,
        page: Page,
        credential: Option<&CredentialKey>,
    ) -> QueryResult<WithCredential<HistoryPage>> {
        let lookup = lookup_pipelined(&*self, credential);
        let statement = PageWithFlags {
            ids: literal_limit(ids, page.limit + 1),
            user_id: page.user_id,
            depth: page.depth,
            columns: SummaryRow::as_select(),
        };
        let mut for_page = &*self;
        let (credential, items) = try_join(lookup, statement.load(&mut for_page)).await?;
        Ok(WithCredential {
            // One snapshot: every id found has its row, so one row too many means one more page.
            value: HistoryPage::of(items, page.limit),
            credential,
        })
    }
}

/// The statement shown at the top of this file.
struct PageWithFlags<'a> {
    ids: LiteralLimit<HistoryIds<'a, Pg>>,
    user_id: i64,
    depth: PageDepth,
    columns: AsSelect<SummaryRow, Pg>,
}

impl QueryId for PageWithFlags<'_> {
    type QueryId = ();
    // The text depends on the filters and the limit: the statement cache keys it by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PageWithFlags<'_> {
    type SqlType = (<AsSelect<SummaryRow, Pg> as Expression>::SqlType, Bool);
}

impl QueryFragment<Pg> for PageWithFlags<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH page (id, covered) AS MATERIALIZED (");
        self.ids.walk_ast(out.reborrow())?;
        out.push_sql(") SELECT ");
        self.columns.walk_ast(out.reborrow())?;
        out.push_sql(
            ", coalesce(page.covered, false) OR EXISTS (SELECT 1 FROM callback_views \
             WHERE callback_views.user_id = ",
        );
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(" AND callback_views.callback_id = callbacks.id) FROM ");
        match self.depth {
            PageDepth::First => out.push_sql("callbacks"),
            PageDepth::Deeper => {
                out.push_sql("history_page_rows(ARRAY(SELECT id FROM page)) AS callbacks")
            }
        }
        out.push_sql(" JOIN page ON page.id = callbacks.id ORDER BY callbacks.id DESC");
        Ok(())
    }
}

impl LoadHistoryPage for SqliteConn {
    type Ids<'a> = HistoryIds<'a, Sqlite>;

    async fn load_history_page(
        &mut self,
        ids: HistoryIds<'_, Sqlite>,
        page: Page,
        _credential: Option<&CredentialKey>,
    ) -> QueryResult<WithCredential<HistoryPage>> {
        let mut found: Vec<(i64, Option<bool>)> =
            literal_limit(ids, page.limit + 1).load(self).await?;
        // Counted before the rows are read: a row deleted in between (retention) does not
        // end the history early.
        let has_more = found.len() as i64 > page.limit;
        found.truncate(page.limit as usize);
        let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
        let mut viewed: HashSet<i64> = found
            .iter()
            .filter(|(_, covered)| *covered == Some(true))
            .map(|(id, _)| *id)
            .collect();
        let rows = page_rows::<Sqlite>(&ids).load(self).await?;
        let opened: Vec<i64> = opened_among(page.user_id, &ids).load(self).await?;
        viewed.extend(opened);
        let items = rows
            .into_iter()
            .map(|row| {
                let seen = viewed.contains(&row.id);
                (row, seen)
            })
            .collect();
        Ok(WithCredential {
            value: HistoryPage { items, has_more },
            credential: None,
        })
    }
}

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
