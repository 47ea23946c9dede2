-- The backfilled digests go with the column when 000006 is reverted.
SELECT 1;
