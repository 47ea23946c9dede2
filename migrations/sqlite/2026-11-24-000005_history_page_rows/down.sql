-- Nothing to do on SQLite: the Postgres migration of this version adds a function for reading
-- history pages ahead, and SQLite reads pages synchronously either way. Kept so both backends
-- have the same versions.
SELECT 1;
