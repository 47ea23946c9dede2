-- Fills delivery_digest in the rows stored before 000006 (its trigger fills the rows inserted
-- since), 10,000 rows by id at a time, each batch committed on its own: no table lock, so
-- instances of the older version keep inserting and every reader keeps reading, and an
-- interrupted run simply continues where the digests are still missing.
-- Skipped where the column is already NOT NULL (a database migrated by an earlier 000006 that
-- did all of this in one transaction).
DO $$
DECLARE
    batch CONSTANT BIGINT := 10000;
    next_id BIGINT;
    last_id BIGINT;
BEGIN
    IF (SELECT attnotnull FROM pg_attribute
         WHERE attrelid = 'callbacks'::regclass AND attname = 'delivery_digest') THEN
        RETURN;
    END IF;
    SELECT min(id), max(id) INTO next_id, last_id FROM callbacks;
    WHILE next_id <= last_id LOOP
        UPDATE callbacks
           SET delivery_digest = sha256(convert_to(source, 'UTF8') || '\x00'::bytea
                                        || convert_to(delivery_key, 'UTF8'))
         WHERE id >= next_id AND id < next_id + batch AND delivery_digest IS NULL;
        COMMIT;
        next_id := next_id + batch;
    END LOOP;
END $$;
