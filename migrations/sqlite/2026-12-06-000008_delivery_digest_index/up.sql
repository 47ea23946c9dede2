-- Nothing to do on SQLite (see 000006). Kept so both backends have the same versions.
SELECT 1;
