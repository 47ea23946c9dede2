//! How Postgres reads the rows of a history page (src/store/history_page.rs): a bitmap heap scan,
//! whose reads of scattered heap pages overlap, instead of the plain index scan Postgres would
//! pick, which reads them one by one. Told apart by the primary key's statistics: a plain index
//! scan counts the rows it fetches through the index (`idx_tup_fetch`), a bitmap scan only the
//! index entries it reads (`idx_tup_read`).

use std::time::Duration;

use diesel::pg::Pg;
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use hookbox::store::feed::{self, HistoryFilter};
use hookbox::store::history_page::page_rows;
use hookbox::store::{seed, Db, PoolSettings};

use crate::helpers::{Backend, TestDb};

#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
struct PrimaryKeyReads {
    #[diesel(sql_type = BigInt)]
    index_entries: i64,
    #[diesel(sql_type = BigInt)]
    rows_through_index: i64,
}

async fn primary_key_reads(conn: &mut AsyncPgConnection) -> PrimaryKeyReads {
    diesel::sql_query(
        "SELECT idx_tup_read AS index_entries, idx_tup_fetch AS rows_through_index \
         FROM pg_stat_user_indexes WHERE indexrelname = 'callbacks_pkey'",
    )
    .get_result(conn)
    .await
    .expect("index statistics")
}

/// Other backends publish their statistics when idle, at most every 10 s.
async fn primary_key_reads_once_published(
    conn: &mut AsyncPgConnection,
    before: PrimaryKeyReads,
    entries_read: i64,
) -> PrimaryKeyReads {
    for _ in 0..300 {
        let now = primary_key_reads(conn).await;
        if now.index_entries >= before.index_entries + entries_read {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the primary key's statistics did not show {entries_read} more reads in 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_page_reads_its_rows_with_a_bitmap_heap_scan_on_postgres() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    test_db.migrate().await;
    let db = Db::connect(
        &test_db.url,
        &PoolSettings {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
        },
    )
    .expect("pool builds");
    // Every tenth callback failed; the table settled, as it is long after ingest.
    seed::callbacks(&db, 1, 20_000).await.expect("seeded");
    let mut conn = test_db.postgres_connection().await;
    conn.batch_execute("VACUUM ANALYZE callbacks")
        .await
        .expect("vacuumed");
    let failed_page: Vec<i64> = (0..50).map(|n| 12_000 - 10 * n).collect();

    // Left to itself, Postgres reads such a page with a plain index scan.
    let start = primary_key_reads(&mut conn).await;
    let plain = page_rows::<Pg>(&failed_page)
        .load(&mut conn)
        .await
        .expect("rows");
    assert_eq!(plain.len(), 50);
    conn.batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .expect("flushed");
    let after_plain = primary_key_reads_once_published(&mut conn, start, 50).await;
    assert!(
        after_plain.rows_through_index >= start.rows_through_index + 50,
        "a plain index scan, else this test proves nothing: {start:?} → {after_plain:?}"
    );

    let filter = HistoryFilter {
        status: Some("failed".into()),
        ..HistoryFilter::default()
    };
    // On a connection that has not prepared the page's statements yet.
    let after_fresh =
        read_deeper_pages(&db, &filter, &failed_page, 1, &mut conn, after_plain).await;
    // After first pages, read with the plain index scan and enough of them for Postgres to
    // settle on a generic plan for their statement: no deeper page may reuse it.
    for _ in 0..8 {
        feed::history(&db, 1, &filter, None, 50, None)
            .await
            .expect("first page");
    }
    let after_first_pages = primary_key_reads_once_published(&mut conn, after_fresh, 8 * 50).await;
    // Deeper pages again and again: the function's own statement may settle on a generic plan
    // after five calls (PL/pgSQL caches its plans), which must read ahead too.
    read_deeper_pages(&db, &filter, &failed_page, 8, &mut conn, after_first_pages).await;
}

/// Reads the page of `expected` (ids newest first) `times` times through `feed::history` and
/// asserts that no row came through the primary key one by one.
async fn read_deeper_pages(
    db: &Db,
    filter: &HistoryFilter,
    expected: &[i64],
    times: i64,
    conn: &mut AsyncPgConnection,
    before: PrimaryKeyReads,
) -> PrimaryKeyReads {
    for _ in 0..times {
        let page = feed::history(db, 1, filter, Some(expected[0] + 1), 50, None)
            .await
            .expect("history")
            .value;
        let ids: Vec<i64> = page.items.iter().map(|(row, _)| row.id).collect();
        assert_eq!(ids, expected);
    }
    let after = primary_key_reads_once_published(conn, before, times * 50).await;
    assert_eq!(
        after.rows_through_index, before.rows_through_index,
        "a deeper page fetched its rows through the primary key one by one: {before:?} → \
         {after:?}"
    );
    after
}
