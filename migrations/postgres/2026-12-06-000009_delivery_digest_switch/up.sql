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
