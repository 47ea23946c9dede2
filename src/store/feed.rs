//! The admin reads: history pages, one job, facets (the dashboard's poll is in check_page.rs).
//! Every list walks an index from its cursor and stops after `limit + 1` rows.

use chrono::NaiveDateTime;
use diesel::sql_types::{Nullable, Text};
use diesel::{
    BoolExpressionMethods, EscapeExpressionMethods, ExpressionMethods, NullableExpressionMethods,
    QueryDsl, Queryable, QueryableByName, Selectable, SelectableHelper, TextExpressionMethods,
};
use diesel_async::RunQueryDsl;

use super::history_page::{LoadHistoryPage, Page, PageDepth};
use super::literal_limit::literal_limit;
use super::schema::callbacks;
use super::sessions::{CredentialKey, WithCredential};
use super::unviewed::position_of;
pub use super::unviewed::UnviewedCount;
use super::views::watermark;
use super::{with_conn, Db, StoreError};

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(x: Nullable<Text>) -> Nullable<Text>;
}

/// Most callbacks of one job returned.
pub const JOB_CALLBACKS_MAX: i64 = 1000;
/// Most distinct values per facet.
pub const FACET_VALUES_MAX: i64 = 200;

/// A callback without its body: what lists show.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = callbacks)]
pub struct SummaryRow {
    pub id: i64,
    pub source: String,
    pub callback_id: String,
    pub event: String,
    pub workflow_name: Option<String>,
    pub status: Option<String>,
    pub error_message: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub preview: String,
    pub payload_size: i32,
    pub signature_verdict: String,
    pub signature_scheme: String,
    pub secret_label: String,
    pub verified_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
}

#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    pub status: Option<String>,
    pub workflow_name: Option<String>,
    pub event: Option<String>,
    pub source: Option<String>,
    /// Plain text, matched case-insensitively inside job id, workflow name and error message.
    pub q: Option<String>,
}

pub struct HistoryPage {
    /// Newest first, each with whether this user viewed it.
    pub items: Vec<(SummaryRow, bool)>,
    pub has_more: bool,
}

impl HistoryPage {
    /// A page of at most `limit` items from up to `limit + 1` read.
    pub(super) fn of(mut items: Vec<(SummaryRow, bool)>, limit: i64) -> HistoryPage {
        let has_more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        HistoryPage { items, has_more }
    }
}

pub struct Facets {
    pub workflow_names: Vec<String>,
    pub statuses: Vec<String>,
    pub events: Vec<String>,
    pub sources: Vec<String>,
    pub unviewed: UnviewedCount,
}

/// History newest first, filters AND-ed, starting below `before`. With `credential`, Postgres
/// looks it up in the same pipeline (see `AdminReader`).
pub async fn history(
    db: &Db,
    user_id: i64,
    filter: &HistoryFilter,
    before: Option<i64>,
    limit: i64,
    credential: Option<CredentialKey>,
) -> Result<WithCredential<HistoryPage>, StoreError> {
    with_conn!(db, read, |conn| {
        // Each id comes with whether the user's "mark all read" watermark covers it.
        let mark = watermark(user_id);
        let mut query = callbacks::table
            .select((callbacks::id, callbacks::id.nullable().le(mark)))
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(callbacks::id.lt(before));
        }
        if let Some(status) = &filter.status {
            query = query.filter(callbacks::status.eq(status.clone()));
        }
        if let Some(workflow_name) = &filter.workflow_name {
            query = query.filter(callbacks::workflow_name.eq(workflow_name.clone()));
        }
        if let Some(event) = &filter.event {
            query = query.filter(callbacks::event.eq(event.clone()));
        }
        if let Some(source) = &filter.source {
            query = query.filter(callbacks::source.eq(source.clone()));
        }
        if let Some(q) = &filter.q {
            // The database folds the pattern as it folds the text, so the two agree on every
            // letter it folds (Rust and Postgres differ on some: a word-final capital sigma,
            // the dotted capital I). SQLite's `lower()` folds only ASCII: there the pattern
            // folded by Rust also finds text stored in lower case searched in capitals ("DÉLAI"
            // finds "délai"), and text in capitals is found as typed.
            let typed = like_pattern(q);
            let folded = like_pattern(&q.to_lowercase());
            macro_rules! text_matches {
                ($pattern:expr) => {
                    lower(callbacks::callback_id.nullable())
                        .like($pattern)
                        .escape('\\')
                        .or(lower(callbacks::workflow_name).like($pattern).escape('\\'))
                        .or(lower(callbacks::error_message).like($pattern).escape('\\'))
                };
            }
            query = if folded == typed {
                query.filter(text_matches!(lower(typed.clone())))
            } else {
                query.filter(text_matches!(lower(typed.clone())).or(text_matches!(folded.clone())))
            };
        }
        // The ids first, then their rows: an index on (filtered column, id) answers the first
        // step on its own, so Postgres takes it. Asked for whole rows, it walked the primary
        // key and read every row of a stretch where the value is rare (118,000 rows for one page
        // of `failed` above 140,000 completed ones). history_page.rs joins the two steps.
        let page = Page {
            user_id,
            limit,
            depth: match before {
                None => PageDepth::First,
                Some(_) => PageDepth::Deeper,
            },
        };
        Ok(conn
            .load_history_page(query.order(callbacks::id.desc()), page, credential.as_ref())
            .await?)
    })
}

/// `%q%` with LIKE's wildcards escaped, so `q` matches as plain text.
fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// The newest callbacks of one job (the caller orders them by the sender's timestamp).
pub struct JobCallbacks {
    /// At most `JOB_CALLBACKS_MAX`, newest first.
    pub newest: Vec<SummaryRow>,
    /// The job has older callbacks than these, left out.
    pub older_left_out: bool,
}

/// The newest `JOB_CALLBACKS_MAX` callbacks of one job: a job's last callbacks carry its
/// outcome, so those are kept when it has more.
pub async fn job(db: &Db, job_id: &str) -> Result<JobCallbacks, StoreError> {
    let mut newest: Vec<SummaryRow> = with_conn!(db, read, |conn| {
        literal_limit(
            callbacks::table
                .filter(callbacks::callback_id.eq(job_id))
                .order(callbacks::id.desc())
                .select(SummaryRow::as_select()),
            JOB_CALLBACKS_MAX + 1,
        )
        .load(conn)
        .await
    })?;
    let older_left_out = newest.len() > JOB_CALLBACKS_MAX as usize;
    newest.truncate(JOB_CALLBACKS_MAX as usize);
    Ok(JobCallbacks {
        newest,
        older_left_out,
    })
}

/// A facet: a column of `callbacks` with an index that starts with it.
#[derive(Clone, Copy)]
enum Facet {
    WorkflowName,
    Status,
    Event,
    Source,
}

impl Facet {
    fn column(self) -> &'static str {
        match self {
            Facet::WorkflowName => "workflow_name",
            Facet::Status => "status",
            Facet::Event => "event",
            Facet::Source => "source",
        }
    }

    /// Its distinct non-null values in order, at most `FACET_VALUES_MAX`, found one index
    /// probe per value (each step asks for the smallest value above the last): `SELECT
    /// DISTINCT` reads the whole index, 0.7 to 2.4 s per column at a million rows on Postgres.
    fn distinct_values_sql(self) -> String {
        let column = self.column();
        format!(
            "WITH RECURSIVE found(value, n) AS ( \
               SELECT min({column}), 1 FROM callbacks \
               UNION ALL \
               SELECT (SELECT min({column}) FROM callbacks WHERE {column} > found.value), n + 1 \
               FROM found WHERE found.value IS NOT NULL AND n < {FACET_VALUES_MAX}) \
             SELECT value FROM found WHERE value IS NOT NULL"
        )
    }
}

#[derive(QueryableByName)]
struct FacetValue {
    #[diesel(sql_type = Text)]
    value: String,
}

macro_rules! facet_values {
    ($conn:expr, $facet:expr) => {{
        let values: Vec<FacetValue> = diesel::sql_query($facet.distinct_values_sql())
            .load($conn)
            .await?;
        values.into_iter().map(|v| v.value).collect::<Vec<String>>()
    }};
}

pub async fn facets(db: &Db, user_id: i64) -> Result<Facets, StoreError> {
    with_conn!(db, read, |conn| {
        let workflow_names = facet_values!(conn, Facet::WorkflowName);
        let statuses = facet_values!(conn, Facet::Status);
        let events = facet_values!(conn, Facet::Event);
        let sources = facet_values!(conn, Facet::Source);
        let unviewed = position_of!(conn, user_id).unviewed;
        Ok(Facets {
            workflow_names,
            statuses,
            events,
            sources,
            unviewed,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_the_query_text_are_matched_literally() {
        assert_eq!(like_pattern("50%_a\\B"), "%50\\%\\_a\\\\B%");
    }
}
