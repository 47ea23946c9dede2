CREATE OR REPLACE FUNCTION history_page_rows(ids BIGINT[]) RETURNS SETOF callbacks
    LANGUAGE sql STABLE
    SET enable_indexscan = off
    SET effective_io_concurrency = 64
AS $$ SELECT * FROM callbacks WHERE id = ANY (ids) $$;
