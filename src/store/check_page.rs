//! The dashboard's poll: where the user stands (unviewed.rs) and the callbacks they have not
//! seen after their cursor.
//!
//! On Postgres both statements are pipelined: they leave together on one connection and cost
//! one round trip instead of two. While ingest keeps both cores busy, every statement of a poll
//! waits for a CPU (README, "Polling cost"). Pipelined, the items cannot take the head from the
//! first statement's answer, so they read head and watermark themselves, in their own snapshot,
//! and return that head beside each row. Postgres runs the two in order, so the items' head is
//! never below the first statement's.
//!
//! Measured on 1,000,000 callbacks with `hookbox-bench-polling`, alternated with the build
//! before: during 16-sender ingest, five rounds, the worse of the two checks' p99 was 7.47 /
//! 6.70 / 7.25 / 8.26 / 7.02 ms before and 7.08 / 4.34 / 6.49 / 7.82 / 3.83 ms after; check
//! without a cursor p50 3.65 / 3.24 / 3.20 / 2.46 / 3.34 → 2.30 / 1.84 / 2.69 / 1.15 / 1.66 ms.
//!
//! SQLite has no round trips to save. There the items take head and watermark as values read
//! by the first statement: given two lower bounds (`id > mark AND id > after`), SQLite walks
//! from the smaller one, a scan of the whole table for a cursor near the head.

use diesel::dsl::{exists, max, not};
use diesel::sql_types::{BigInt, Nullable};
use diesel::SelectableHelper;
use diesel::{ExpressionMethods, NullableExpressionMethods, QueryDsl, QueryResult};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join3;

use super::feed::SummaryRow;
use super::literal_limit::literal_limit;
use super::schema::{callback_views, callbacks};
use super::sessions::{lookup_pipelined, CredentialKey, FoundCredential, WithCredential};
use super::unviewed::{position_of, Position, UnviewedCount, UserPosition};
use super::views::watermark;
use super::{with_conn, Db, SqliteConn, StoreError};

diesel::alias!(callbacks as newest: Newest);

#[diesel::declare_sql_function]
extern "SQL" {
    fn coalesce(x: Nullable<BigInt>, y: BigInt) -> BigInt;
}

pub struct CheckPage {
    /// Oldest first; at most `limit`.
    pub items: Vec<SummaryRow>,
    pub has_more: bool,
    /// Where the next poll continues: the last item when there is more, else the head.
    pub next: i64,
    pub unviewed: UnviewedCount,
    /// The cursor was above every stored callback: one handed out before the newest were
    /// deleted, or one this database never handed out (`cursor_was_handed_out` tells).
    pub cursor_ahead: bool,
}

/// Callbacks `user_id` has not viewed after `after` (or the latest ones without it).
///
/// Every id up to a visible id is committed (the writer's order lock), so no row at or below
/// the head the items were read with can appear later, and rows committed after it are left for
/// the next poll.
///
/// With `credential`, Postgres looks it up in the same pipeline and the answer carries what it
/// found (auth judges it, see `AdminReader`); SQLite leaves that to the caller.
pub async fn check(
    db: &Db,
    user_id: i64,
    after: Option<i64>,
    limit: i64,
    credential: Option<CredentialKey>,
) -> Result<WithCredential<CheckPage>, StoreError> {
    let wanted = match after {
        Some(after) => Wanted::After { after, limit },
        None => Wanted::Latest { limit },
    };
    let found = with_conn!(db, read, |conn| conn
        .load_check_rows(user_id, wanted, credential.as_ref())
        .await)?;
    let cursor_ahead = after.is_some_and(|after| after > found.head);
    let head = found.head.max(after.unwrap_or(0));
    let mut items = found.items;
    let value = match wanted {
        Wanted::After { limit, .. } => {
            let has_more = items.len() as i64 > limit;
            items.truncate(limit as usize);
            let next = match (has_more, items.last()) {
                (true, Some(last)) => last.id,
                _ => head,
            };
            CheckPage {
                items,
                has_more,
                next,
                unviewed: found.position.unviewed,
                cursor_ahead,
            }
        }
        Wanted::Latest { .. } => {
            items.reverse();
            CheckPage {
                items,
                has_more: false,
                next: head,
                unviewed: found.position.unviewed,
                cursor_ahead,
            }
        }
    };
    Ok(WithCredential {
        value,
        credential: found.credential,
    })
}

/// Whether a cursor at `id` can have come from this database: ids are never reused
/// (`BIGSERIAL`, SQLite's `AUTOINCREMENT`), so a cursor above the highest id ever drawn (also
/// by an insert that then found a duplicate) comes from another database, or from this one
/// before it was reset or restored from an older backup. Polled from there, it would wait
/// for that many new callbacks before showing one. Asked only for a cursor above the newest
/// stored callback (`CheckPage::cursor_ahead`): after a purge, a cursor handed out before is
/// above them all and still good.
pub async fn cursor_was_handed_out(db: &Db, id: i64) -> Result<bool, StoreError> {
    let highest_drawn = match db {
        Db::Postgres { .. } => {
            "COALESCE(pg_sequence_last_value(pg_get_serial_sequence('callbacks', 'id')::regclass), 0)"
        }
        Db::Sqlite { .. } => {
            "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'callbacks'), 0)"
        }
    };
    let highest: i64 = with_conn!(db, read, |conn| {
        diesel::select(diesel::dsl::sql::<BigInt>(highest_drawn))
            .get_result(conn)
            .await
    })?;
    Ok(id <= highest)
}

/// Which unviewed callbacks a poll asks for.
#[derive(Clone, Copy)]
enum Wanted {
    /// Oldest first after the cursor, one more than `limit` to tell whether there is more.
    After { after: i64, limit: i64 },
    /// The newest `limit`, newest first.
    Latest { limit: i64 },
}

struct CheckRows {
    position: Position,
    /// In the order the statement read them: oldest first after a cursor, else newest first.
    items: Vec<SummaryRow>,
    /// The head the items were read below.
    head: i64,
    /// What the credential's lookup found, when it travelled with the statements.
    credential: Option<FoundCredential>,
}

trait LoadCheckRows {
    async fn load_check_rows(
        &mut self,
        user_id: i64,
        wanted: Wanted,
        credential: Option<&CredentialKey>,
    ) -> QueryResult<CheckRows>;
}

/// Not opened one by one by the user (the watermark is the lower bound of the id range).
macro_rules! not_opened_by {
    ($user_id:expr) => {
        not(exists(
            callback_views::table
                .filter(callback_views::user_id.eq($user_id))
                .filter(callback_views::callback_id.eq(callbacks::id)),
        ))
    };
}

impl LoadCheckRows for AsyncPgConnection {
    async fn load_check_rows(
        &mut self,
        user_id: i64,
        wanted: Wanted,
        credential: Option<&CredentialKey>,
    ) -> QueryResult<CheckRows> {
        let head_now = newest
            .select(max(newest.field(callbacks::id)))
            .single_value();
        let mark_now = coalesce(watermark(user_id), 0);
        let unviewed = callbacks::table
            .filter(callbacks::id.nullable().le(head_now))
            .filter(callbacks::id.gt(mark_now))
            .filter(not_opened_by!(user_id))
            .select((SummaryRow::as_select(), head_now));
        let (mut for_position, mut for_items) = (&*self, &*self);
        let lookup = lookup_pipelined(&*self, credential);
        let position = UserPosition::of(user_id).get_result(&mut for_position);
        let items = async {
            match wanted {
                Wanted::After { after, limit } => {
                    literal_limit(
                        unviewed
                            .filter(callbacks::id.gt(after))
                            .order(callbacks::id.asc()),
                        limit + 1,
                    )
                    .load::<(SummaryRow, Option<i64>)>(&mut for_items)
                    .await
                }
                Wanted::Latest { limit } => {
                    literal_limit(unviewed.order(callbacks::id.desc()), limit)
                        .load(&mut for_items)
                        .await
                }
            }
        };
        // Polled in this order, the three leave in this order, in one round trip.
        let (credential, position, rows) = try_join3(lookup, position, items).await?;
        let position = Position::from_row(position);
        let head = rows
            .iter()
            .find_map(|(_, head)| *head)
            .unwrap_or(position.head);
        let items = rows.into_iter().map(|(row, _)| row).collect();
        Ok(CheckRows {
            position,
            items,
            head,
            credential,
        })
    }
}

impl LoadCheckRows for SqliteConn {
    async fn load_check_rows(
        &mut self,
        user_id: i64,
        wanted: Wanted,
        _credential: Option<&CredentialKey>,
    ) -> QueryResult<CheckRows> {
        let position = position_of!(self, user_id);
        let unviewed = callbacks::table
            .filter(callbacks::id.le(position.head))
            .filter(not_opened_by!(user_id))
            .select(SummaryRow::as_select());
        let items = match wanted {
            Wanted::After { after, limit } => {
                literal_limit(
                    unviewed
                        .filter(callbacks::id.gt(after.max(position.mark)))
                        .order(callbacks::id.asc()),
                    limit + 1,
                )
                .load(self)
                .await?
            }
            Wanted::Latest { limit } => {
                literal_limit(
                    unviewed
                        .filter(callbacks::id.gt(position.mark))
                        .order(callbacks::id.desc()),
                    limit,
                )
                .load(self)
                .await?
            }
        };
        Ok(CheckRows {
            position,
            items,
            head: position.head,
            credential: None,
        })
    }
}
