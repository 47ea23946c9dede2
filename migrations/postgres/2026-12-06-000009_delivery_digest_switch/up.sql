-- The switch to the digest. Validating the check scans the table under a lock that lets
-- inserts and reads go on; only the ALTER TABLE after it locks the table, for a moment: with a
-- valid check, SET NOT NULL needs no scan, and the index is already built. From here on
-- instances of the older version cannot store callbacks (their ON CONFLICT names the old
-- constraint). Written to also finish a database migrated by an earlier 000006 that did all of
-- this in one transaction (no check, no trigger, the constraint in place).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'callbacks_delivery_digest_set'
                AND conrelid = 'callbacks'::regclass) THEN
        ALTER TABLE callbacks VALIDATE CONSTRAINT callbacks_delivery_digest_set;
    END IF;
END $$;
-- The ALTER TABLEs below need the table's exclusive lock. Asked for plainly, a request that
-- waits (behind a long query or a pg_dump) would hold up every insert and read queued behind
-- it for as long; so it waits at most 250 ms at a time, with a second's pause between tries,
-- and gives up after about five minutes with an error that says why.
SET LOCAL lock_timeout = '250ms';
DO $$
DECLARE
    tries INT := 0;
BEGIN
    LOOP
        BEGIN
            LOCK TABLE callbacks IN ACCESS EXCLUSIVE MODE;
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            tries := tries + 1;
            IF tries >= 240 THEN
                RAISE EXCEPTION 'another transaction has held the callbacks table for five minutes (a long query or a pg_dump?): start Hookbox or run `hookbox migrate` again when it is done';
            END IF;
            PERFORM pg_sleep(1);
        END;
    END LOOP;
END $$;
DO $$
BEGIN
    ALTER TABLE callbacks ALTER COLUMN delivery_digest SET NOT NULL;
    ALTER TABLE callbacks DROP CONSTRAINT IF EXISTS callbacks_delivery_digest_set;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'callbacks_delivery_digest_key'
                    AND conrelid = 'callbacks'::regclass) THEN
        ALTER TABLE callbacks ADD CONSTRAINT callbacks_delivery_digest_key
            UNIQUE USING INDEX callbacks_delivery_digest_key;
    END IF;
    ALTER TABLE callbacks DROP CONSTRAINT IF EXISTS callbacks_source_delivery_key_key;
    DROP TRIGGER IF EXISTS callbacks_fill_delivery_digest ON callbacks;
    DROP FUNCTION IF EXISTS callbacks_fill_delivery_digest();
END $$;
