//! The Postgres insert of a batch as ONE statement with ONE fixed text: the order lock, the
//! insert of every row and its commit happen in a single round trip, and the statement is
//! prepared once per connection.
//!
//! Why not diesel's multi-row `insert_into(..).values(&vec)`: its SQL text depends on the row
//! count, so diesel never caches it and every batch pays a Parse round trip, plus BEGIN, the
//! lock and COMMIT as round trips of their own (six per batch). On a busy machine each round
//! trip waits for the database process to be scheduled, and the single writer's batch time,
//! not the commit, became the ceiling. Here the rows travel as one array per column and
//! `unnest` turns them back into rows.

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Bool, Double, Integer, Nullable, Text, Timestamp};
use diesel::QueryResult;

use super::callbacks::NewCallback;
use super::delivery_digest::delivery_digest;

/// `WITH … INSERT … SELECT … FROM unnest(…) [ON CONFLICT DO NOTHING] RETURNING id, source, key`.
///
/// `C` says what a key that is already stored does: `SkipStored` leaves it out of the insert
/// (`ON CONFLICT DO NOTHING`); `FailOnStored` fails the whole statement with a unique violation
/// on `callbacks_delivery_digest_key`, and in exchange spares the database a search of the
/// unique index per row before its insert (see batch_insert.rs for when each is used). The two
/// are distinct types so that each has a prepared statement of its own.
///
/// Run outside an explicit transaction, the statement is its own transaction: the advisory
/// lock (taken by the CTE, which the plan scans before the first row reaches the insert, so
/// before any id is drawn) is held until the commit has been flushed. Ids therefore become
/// visible in id order across instances, as with the explicit transaction it replaces.
///
/// The two test-only knobs of `BatchLimits` live inside the statement too: `take_lock = false`
/// skips the lock (the CTE yields no row, and the LEFT JOIN keeps the batch), and `pause`
/// sleeps after every id has been drawn and before the commit (`pg_sleep` over the count of
/// inserted rows, which can only be computed once the insert is done). In production the
/// lock is taken and the pause is zero.
pub struct PgBulkInsert<'a, C> {
    conflicts: PhantomData<C>,
    lock: i64,
    take_lock: bool,
    pause_secs: f64,
    source: Vec<&'a str>,
    delivery_key: Vec<&'a str>,
    delivery_digest: Vec<[u8; 32]>,
    callback_id: Vec<&'a str>,
    event: Vec<&'a str>,
    workflow_name: Vec<Option<&'a str>>,
    status: Vec<Option<&'a str>>,
    error_message: Vec<Option<&'a str>>,
    sent_at: Vec<Option<NaiveDateTime>>,
    body: Vec<&'a [u8]>,
    body_sha256: Vec<&'a str>,
    preview: Vec<&'a str>,
    payload_size: Vec<i32>,
    signature_verdict: Vec<&'a str>,
    signature_scheme: Vec<&'a str>,
    signature_header: Vec<&'a str>,
    secret_label: Vec<&'a str>,
    verified_at: Vec<NaiveDateTime>,
    received_at: Vec<NaiveDateTime>,
    remote_addr: Vec<Option<&'a str>>,
    user_agent: Vec<Option<&'a str>>,
    content_type: Vec<Option<&'a str>>,
}

const COLUMNS: &str = "source, delivery_key, delivery_digest, callback_id, event, \
     workflow_name, status, error_message, sent_at, body, body_sha256, preview, payload_size, \
     signature_verdict, signature_scheme, signature_header, secret_label, verified_at, \
     received_at, remote_addr, user_agent, content_type";

/// What the insert does with a key that is already stored.
pub trait OnStoredKey: Send + 'static {
    /// Between the insert's `SELECT` and its `RETURNING`.
    const CLAUSE: &'static str;
}

/// A stored key is skipped; the insert returns only the rows it wrote.
pub struct SkipStored;

/// A stored key fails the statement (and so its transaction) with a unique violation.
pub struct FailOnStored;

impl OnStoredKey for SkipStored {
    const CLAUSE: &'static str = " ON CONFLICT (delivery_digest) DO NOTHING ";
}

impl OnStoredKey for FailOnStored {
    const CLAUSE: &'static str = " ";
}

impl<'a, C: OnStoredKey> PgBulkInsert<'a, C> {
    pub fn new(
        lock: i64,
        take_lock: bool,
        pause: Option<std::time::Duration>,
        rows: &'a [&'a NewCallback],
    ) -> PgBulkInsert<'a, C> {
        fn column<'a, T>(rows: &'a [&'a NewCallback], f: impl Fn(&'a NewCallback) -> T) -> Vec<T> {
            rows.iter().map(|&row| f(row)).collect()
        }
        PgBulkInsert {
            conflicts: PhantomData,
            lock,
            take_lock,
            pause_secs: pause.map_or(0.0, |p| p.as_secs_f64()),
            source: column(rows, |r| r.source.as_str()),
            delivery_key: column(rows, |r| r.delivery_key.as_str()),
            delivery_digest: column(rows, |r| delivery_digest(&r.source, &r.delivery_key)),
            callback_id: column(rows, |r| r.callback_id.as_str()),
            event: column(rows, |r| r.event.as_str()),
            workflow_name: column(rows, |r| r.workflow_name.as_deref()),
            status: column(rows, |r| r.status.as_deref()),
            error_message: column(rows, |r| r.error_message.as_deref()),
            sent_at: column(rows, |r| r.sent_at),
            body: column(rows, |r| r.body.as_slice()),
            body_sha256: column(rows, |r| r.body_sha256.as_str()),
            preview: column(rows, |r| r.preview.as_str()),
            payload_size: column(rows, |r| r.payload_size),
            signature_verdict: column(rows, |r| r.signature_verdict.as_str()),
            signature_scheme: column(rows, |r| r.signature_scheme.as_str()),
            signature_header: column(rows, |r| r.signature_header.as_str()),
            secret_label: column(rows, |r| r.secret_label.as_str()),
            verified_at: column(rows, |r| r.verified_at),
            received_at: column(rows, |r| r.received_at),
            remote_addr: column(rows, |r| r.remote_addr.as_deref()),
            user_agent: column(rows, |r| r.user_agent.as_deref()),
            content_type: column(rows, |r| r.content_type.as_deref()),
        }
    }
}

impl<C: OnStoredKey> QueryId for PgBulkInsert<'_, C> {
    type QueryId = PgBulkInsert<'static, C>;
    // The SQL text never changes, so the prepared statement can be reused.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C: OnStoredKey> Query for PgBulkInsert<'_, C> {
    type SqlType = (BigInt, Text, Text);
}

impl<C: OnStoredKey> QueryFragment<Pg> for PgBulkInsert<'_, C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH order_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(");
        out.push_bind_param::<BigInt, _>(&self.lock)?;
        out.push_sql(") WHERE ");
        out.push_bind_param::<Bool, _>(&self.take_lock)?;
        out.push_sql("), inserted AS (INSERT INTO callbacks (");
        out.push_sql(COLUMNS);
        out.push_sql(") SELECT r.* FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.source)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.delivery_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.delivery_digest)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.callback_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.event)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.workflow_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.error_message)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Timestamp>>, _>(&self.sent_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.body)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.body_sha256)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.preview)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.payload_size)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.signature_verdict)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.signature_scheme)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.signature_header)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.secret_label)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.verified_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.received_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.remote_addr)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.user_agent)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.content_type)?;
        out.push_sql(") AS r(");
        out.push_sql(COLUMNS);
        out.push_sql(") LEFT JOIN order_lock ON true");
        out.push_sql(C::CLAUSE);
        out.push_sql(
            "RETURNING id, source, delivery_key), \
             pause AS MATERIALIZED (SELECT pg_sleep(",
        );
        out.push_bind_param::<Double, _>(&self.pause_secs)?;
        out.push_sql(
            ") FROM (SELECT count(*) FROM inserted) AS done) \
             SELECT i.id, i.source, i.delivery_key FROM inserted i, pause",
        );
        Ok(())
    }
}
