-- Idempotency moves to a 32-byte digest of (source, delivery_key) instead of the two text
-- columns. Keys derived from content are random (`sha256:<hex>`), so every insert lands on a
-- random leaf page of the unique index: after each checkpoint Postgres writes each leaf page it
-- touches again as a full-page image. With ~90-byte text entries the index was six to seven
-- times the primary key's size and, in a long run at full speed, the source of nearly every
-- full-page image in the WAL; 32-byte entries halve its pages (docs/performance.md, the results
-- of 2026-12-06).
--
-- The digest is SHA-256 over the UTF-8 bytes of source, one NUL byte, and the UTF-8 bytes of
-- delivery_key (Postgres text never holds NUL, so the split is unambiguous). Hookbox computes
-- the same in src/store/delivery_digest.rs.
--
-- The change is made online, in four migrations, so that a table of millions of callbacks is
-- never locked for more than a moment and instances of the older version keep storing and
-- serving callbacks until the last step:
--   000006  the column, a trigger that fills it in rows the older version inserts meanwhile,
--           and a NOT VALID check that it is set (so 000009 can make it NOT NULL without
--           scanning the table under lock);
--   000007  the backfill, in batches each committed on its own;
--   000008  the unique index, built CONCURRENTLY;
--   000009  the switch: the check is validated, the column becomes NOT NULL, the index becomes
--           the constraint, and the old constraint and the trigger go. From then on instances
--           of the older version cannot store callbacks (they answer 503 and senders retry).
-- Each step can run again after an interruption (see src/store/migrate.rs for the index).
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
ALTER TABLE callbacks ADD COLUMN delivery_digest BYTEA;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_delivery_digest_set
    CHECK (delivery_digest IS NOT NULL) NOT VALID;

CREATE FUNCTION callbacks_fill_delivery_digest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.delivery_digest IS NULL THEN
        NEW.delivery_digest := sha256(convert_to(NEW.source, 'UTF8') || '\x00'::bytea
                                      || convert_to(NEW.delivery_key, 'UTF8'));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER callbacks_fill_delivery_digest BEFORE INSERT ON callbacks
    FOR EACH ROW EXECUTE FUNCTION callbacks_fill_delivery_digest();
