-- Back to the state after 000008: both constraints, the trigger, a nullable column.
ALTER TABLE callbacks ADD CONSTRAINT callbacks_source_delivery_key_key UNIQUE (source, delivery_key);
ALTER TABLE callbacks ALTER COLUMN delivery_digest DROP NOT NULL;
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
