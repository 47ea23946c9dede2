DROP TRIGGER IF EXISTS callbacks_fill_delivery_digest ON callbacks;
DROP FUNCTION IF EXISTS callbacks_fill_delivery_digest();
-- Also drops the check and any index on the column.
ALTER TABLE callbacks DROP COLUMN delivery_digest;
