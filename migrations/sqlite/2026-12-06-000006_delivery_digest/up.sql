-- Nothing to do on SQLite: the Postgres migration of this version keys idempotency on a compact
-- digest to spare Postgres the full-page images of a large index with random keys after every
-- checkpoint. SQLite writes no full-page images, and changing its table constraint would mean
-- rebuilding the table. Kept so both backends have the same versions.
SELECT 1;
