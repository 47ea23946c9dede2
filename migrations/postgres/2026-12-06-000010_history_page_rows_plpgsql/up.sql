-- history_page_rows (migration 000005) in PL/pgSQL instead of SQL, same settings, same rows. A
-- SQL function with SET clauses is not inlined, and its statement was planned again at every
-- call; PL/pgSQL keeps the plan of its statement for the connection. Timed with pgbench on a copy
-- of 1,000,000 callbacks (a deeper page of `failed`, prepared, one client, 2026-12-06): 0.49 ms
-- a page with the SQL function, 0.40 ms with this one (0.34 ms with the plain index scan that
-- does not read ahead). The plan is still a bitmap heap scan, also once generic
-- (tests/api/history_reads.rs). Older instances call it by the same name and get the same rows.
CREATE OR REPLACE FUNCTION history_page_rows(ids BIGINT[]) RETURNS SETOF callbacks
    LANGUAGE plpgsql STABLE
    SET enable_indexscan = off
    SET effective_io_concurrency = 64
AS $$
BEGIN
    RETURN QUERY SELECT * FROM callbacks WHERE id = ANY (ids);
END
$$;
