-- Nothing to do on SQLite: the Postgres migration of this version rewrites the function that
-- reads history pages ahead, which SQLite does not have. Kept so both backends have the same
-- versions.
SELECT 1;
