-- Built without blocking inserts. A build that is interrupted leaves an invalid index of this
-- name behind, which IF NOT EXISTS would take for done: the migration runner drops such an
-- index before it runs migrations (src/store/migrate.rs). Exists already, valid, in a database
-- migrated by an earlier 000006 that did all of this in one transaction.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS callbacks_delivery_digest_key
    ON callbacks (delivery_digest);
