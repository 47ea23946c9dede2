ALTER TABLE callbacks DROP CONSTRAINT IF EXISTS callbacks_delivery_digest_key;
DROP INDEX IF EXISTS callbacks_delivery_digest_key;
