-- The rows of a history page after the first, by id. Such a page's rows lie on scattered heap
-- pages that are often no longer cached; a bitmap heap scan asks the kernel for up to 64 of them
-- ahead instead of reading them one after the other as a plain index scan does (see
-- src/store/history_page.rs); 16 and 64 pages ahead measured the same on a cold cache, 8 was
-- slower. The settings hold while the function runs, so the caller needs no transaction (and no
-- round trips for BEGIN and COMMIT) to scope them. Only for a known set of ids: an ordered range
-- scan with a limit, without plain index scans, would read and sort its whole range.
CREATE FUNCTION history_page_rows(ids BIGINT[]) RETURNS SETOF callbacks
    LANGUAGE sql STABLE
    SET enable_indexscan = off
    SET effective_io_concurrency = 64
AS $$ SELECT * FROM callbacks WHERE id = ANY (ids) $$;
