//! Bulk seeding for the polling benchmark (`hookbox-bench-polling`) and for tests that need
//! many callbacks, or several that become visible at once: generates rows in the database with
//! one statement per batch. It bypasses the callback writer, so it must not run while a server
//! writes to the same database.

use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::{Db, StoreError};

/// `delivery_digest` as Hookbox computes it (src/store/delivery_digest.rs).
const PG_CALLBACKS: &str = "INSERT INTO callbacks (source, delivery_key, delivery_digest, \
    callback_id, event, workflow_name, status, error_message, sent_at, body, body_sha256, \
    preview, payload_size, signature_verdict, signature_scheme, signature_header, secret_label, \
    verified_at, received_at, remote_addr, user_agent, content_type) \
    SELECT 'llm-callback', 'bench-' || g, \
      sha256(convert_to('llm-callback', 'UTF8') || '\\x00'::bytea \
        || convert_to('bench-' || g, 'UTF8')), \
      'job-' || (g / 3), \
      CASE WHEN g % 10 = 0 THEN 'workflow.failed' ELSE 'workflow.completed' END, \
      'flow-' || (g % 7), CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, \
      CASE WHEN g % 10 = 0 THEN 'model timeout after 30s' END, now() AT TIME ZONE 'UTC', \
      convert_to('{\"event\":\"workflow.completed\",\"job_id\":\"job-' || (g / 3) || '\",\"result\":\"' || repeat('x', 300) || '\"}', 'UTF8'), \
      md5(g::text) || md5(g::text), left('{\"event\":\"workflow.completed\",\"job_id\":\"job-' || (g / 3) || repeat('x', 300), 200), 360, \
      'verified', 'hmac-sha256-hex', 'sha256=' || md5(g::text) || md5(g::text), 'primary', \
      now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', '127.0.0.1', 'bench', 'application/json' \
    FROM generate_series($1::bigint, $2::bigint) AS g";

const SQLITE_CALLBACKS: &str = "WITH RECURSIVE s(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM s WHERE g < ?) \
    INSERT INTO callbacks (source, delivery_key, callback_id, event, \
    workflow_name, status, error_message, sent_at, body, body_sha256, preview, payload_size, \
    signature_verdict, signature_scheme, signature_header, secret_label, verified_at, received_at, \
    remote_addr, user_agent, content_type) \
    SELECT 'llm-callback', 'bench-' || g, 'job-' || (g / 3), \
      CASE WHEN g % 10 = 0 THEN 'workflow.failed' ELSE 'workflow.completed' END, \
      'flow-' || (g % 7), CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, \
      CASE WHEN g % 10 = 0 THEN 'model timeout after 30s' END, datetime('now'), \
      CAST('{\"event\":\"workflow.completed\",\"job_id\":\"job-' || (g / 3) || '\",\"result\":\"' || printf('%.300c', 'x') || '\"}' AS BLOB), \
      lower(hex(randomblob(32))), substr('{\"event\":\"workflow.completed\",\"job_id\":\"job-' || (g / 3) || printf('%.300c', 'x'), 1, 200), 360, \
      'verified', 'hmac-sha256-hex', 'sha256=' || lower(hex(randomblob(32))), 'primary', \
      datetime('now'), datetime('now'), '127.0.0.1', 'bench', 'application/json' \
    FROM s";

/// Inserts callbacks numbered `from..=to` (synthetic; 10% failed, 7 workflows).
pub async fn callbacks(db: &Db, from: i64, to: i64) -> Result<(), StoreError> {
    match db {
        Db::Postgres { pool, .. } => {
            let mut conn = pool.get().await?;
            diesel::sql_query(PG_CALLBACKS)
                .bind::<BigInt, _>(from)
                .bind::<BigInt, _>(to)
                .execute(&mut conn)
                .await?;
        }
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await?;
            diesel::sql_query(SQLITE_CALLBACKS)
                .bind::<BigInt, _>(from)
                .bind::<BigInt, _>(to)
                .execute(&mut conn)
                .await?;
        }
    }
    Ok(())
}

/// Marks viewed, for `user_id`, every callback whose id modulo `modulus` is below `below`.
pub async fn views(db: &Db, user_id: i64, modulus: i64, below: i64) -> Result<(), StoreError> {
    match db {
        Db::Postgres { pool, .. } => {
            let mut conn = pool.get().await?;
            diesel::sql_query(
                "INSERT INTO callback_views (user_id, callback_id, viewed_at) \
                 SELECT $1, id, now() AT TIME ZONE 'UTC' FROM callbacks WHERE id % $2 < $3 \
                 ON CONFLICT DO NOTHING",
            )
            .bind::<BigInt, _>(user_id)
            .bind::<BigInt, _>(modulus)
            .bind::<BigInt, _>(below)
            .execute(&mut conn)
            .await?;
            // As autovacuum would: sets the visibility map so index-only scans skip the heap.
            diesel::sql_query("VACUUM ANALYZE callbacks, callback_views")
                .execute(&mut conn)
                .await?;
        }
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await?;
            diesel::sql_query(
                "INSERT INTO callback_views (user_id, callback_id, viewed_at) \
                 SELECT ?, id, datetime('now') FROM callbacks WHERE id % ? < ? \
                 ON CONFLICT DO NOTHING",
            )
            .bind::<BigInt, _>(user_id)
            .bind::<BigInt, _>(modulus)
            .bind::<BigInt, _>(below)
            .execute(&mut conn)
            .await?;
            diesel::sql_query("ANALYZE").execute(&mut conn).await?;
        }
    }
    Ok(())
}
