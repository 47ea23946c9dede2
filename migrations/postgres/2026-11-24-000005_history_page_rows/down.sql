DROP FUNCTION history_page_rows(BIGINT[]);
