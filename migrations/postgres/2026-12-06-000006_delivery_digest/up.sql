-- Idempotency is now enforced on a 32-byte digest of (source, delivery_key) instead of on the
-- two text columns. Keys derived from content are random (`sha256:<hex>`), so every insert
-- lands on a random leaf page of this index: after each checkpoint Postgres writes each leaf
-- page it touches again as a full-page image. With ~90-byte text entries the index was six to
-- seven times the primary key's size and, in a long run at full speed, the source of nearly
-- every full-page image in the WAL; 32-byte entries halve its pages (docs/performance.md, the
-- results of 2026-12-06).
--
-- The digest is SHA-256 over the UTF-8 bytes of source, one NUL byte, and the UTF-8 bytes of
-- delivery_key (Postgres text never holds NUL, so the split is unambiguous). Hookbox computes
-- the same in src/store/delivery_digest.rs; a test proves that a row backfilled here is still
-- found by a redelivery.
--
-- The backfill rewrites every row once and holds the table's lock while it runs: instances of
-- an older version cannot write until they are upgraded (they do not fill the column).
ALTER TABLE callbacks ADD COLUMN delivery_digest BYTEA;
UPDATE callbacks SET delivery_digest = sha256(
    convert_to(source, 'UTF8') || '\x00'::bytea || convert_to(delivery_key, 'UTF8'));
ALTER TABLE callbacks ALTER COLUMN delivery_digest SET NOT NULL;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_delivery_digest_key UNIQUE (delivery_digest);
ALTER TABLE callbacks DROP CONSTRAINT callbacks_source_delivery_key_key;
