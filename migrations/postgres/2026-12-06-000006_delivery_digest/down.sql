ALTER TABLE callbacks ADD CONSTRAINT callbacks_source_delivery_key_key UNIQUE (source, delivery_key);
ALTER TABLE callbacks DROP COLUMN delivery_digest;
