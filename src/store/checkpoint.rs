//! SQLite's WAL checkpoints, moved off the commit path.
//!
//! With its automatic checkpoint, SQLite copies the WAL back into the database file (and, with
//! `synchronous=FULL`, flushes that file) inside whichever commit crosses 1,000 WAL pages, so
//! one batch in a few hundred made its requests wait for it. Hookbox turns the automatic
//! checkpoint off on its connections and checkpoints from this task instead:
//! - every quarter second a PASSIVE checkpoint on a reading connection, which copies what it can
//!   without waiting for the writer or holding it up;
//! - once the WAL has grown past `RESTART_PAGES`, a RESTART checkpoint on the write connection.
//!   Under sustained writes a passive checkpoint never catches up with the end of the WAL, and
//!   SQLite only starts the WAL from the beginning again after a checkpoint that did; without
//!   this the file would grow for as long as the writes go on. The writer waits while the
//!   RESTART runs, so a second PASSIVE first copies what was written during the first one,
//!   and the RESTART is left only the last few milliseconds of writes.
//!
//! Durability is unchanged: a commit is durable once its WAL frames are flushed, which still
//! happens in the commit itself.

use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::QueryableByName;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::RunQueryDsl;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Db, SqliteConn, StoreError};

const INTERVAL: Duration = Duration::from_millis(250);
/// 64 MiB of 4 KiB pages. Each RESTART holds the writer up, and a quarter second of writes at
/// 64 senders is already about 16 MiB: with 16 MiB here every tick restarted, and p99 at 64
/// senders was 27–31 ms; with 64 MiB, 14–17 ms (docs/performance.md). The WAL file keeps the
/// largest size it reached, since SQLite writes it again from the start after a restart: about
/// 100 MiB in those runs.
const RESTART_PAGES: i32 = 16_384;

/// The checkpointer of a SQLite database; `stop` ends it between two checkpoints.
pub struct Checkpointer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(QueryableByName)]
struct CheckpointResult {
    /// 1 when the checkpoint could not finish: a RESTART whose wait for readers ran out.
    #[diesel(sql_type = Integer)]
    busy: i32,
    /// Pages in the WAL (-1 when the database is not in WAL mode).
    #[diesel(sql_type = Integer)]
    log: i32,
}

impl Checkpointer {
    /// Starts checkpointing a SQLite database; Postgres needs none.
    pub fn start(db: &Db) -> Option<Checkpointer> {
        Checkpointer::restarting_past(db, RESTART_PAGES)
    }

    fn restarting_past(db: &Db, restart_pages: i32) -> Option<Checkpointer> {
        let Db::Sqlite { read, write } = db else {
            return None;
        };
        let (read, write) = (read.clone(), write.clone());
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut backoff = RestartBackoff::default();
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(INTERVAL) => {}
                }
                // Runs to completion once started: stopping is only looked at between
                // checkpoints, so no connection is dropped halfway through one.
                let passive = checkpoint(&read, "PASSIVE").await;
                let checkpointed = match passive {
                    Ok(pages) if pages > restart_pages && backoff.due() => {
                        catch_up_and_restart(&read, &write)
                            .await
                            .map(|restarted| backoff.record(restarted))
                    }
                    other => other.map(|_| ()),
                };
                if let Err(error) = checkpointed {
                    tracing::warn!(error = %error, "SQLite checkpoint failed; retrying");
                }
            }
        });
        Some(Checkpointer { stop, task })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A second PASSIVE copies what was written during the first, so that the RESTART, which the
/// writer waits for, has only the last few milliseconds of writes left to copy.
async fn catch_up_and_restart(
    read: &Pool<SqliteConn>,
    write: &Pool<SqliteConn>,
) -> Result<bool, StoreError> {
    checkpoint(read, "PASSIVE").await?;
    restart(write).await
}

/// After a RESTART that readers kept from finishing, the next waits 1, 2, 4, then 8 ticks:
/// each try holds the writer for up to `RESTART_WAIT`, and reads that overlap without a gap
/// (many dashboards polling) would otherwise cost it that every tick.
#[derive(Debug, Default)]
struct RestartBackoff {
    busy_in_a_row: u32,
    ticks_to_skip: u32,
}

/// Kept from restarting this many times in a row, the WAL's growth is worth a warning.
const WARN_AFTER_BUSY: u32 = 8;

impl RestartBackoff {
    fn due(&mut self) -> bool {
        if self.ticks_to_skip == 0 {
            return true;
        }
        self.ticks_to_skip -= 1;
        false
    }

    fn record(&mut self, restarted: bool) {
        if restarted {
            *self = RestartBackoff::default();
            return;
        }
        self.busy_in_a_row += 1;
        self.ticks_to_skip = 1 << (self.busy_in_a_row.min(4) - 1);
        if self.busy_in_a_row == WARN_AFTER_BUSY {
            tracing::warn!(
                tries = WARN_AFTER_BUSY,
                "SQLite's WAL could not be restarted: reads kept using it; it grows until a try \
                 finds them gone"
            );
        }
    }
}

/// How long a RESTART waits for readers still on the old WAL before it gives up until a later
/// tick. It waits on the write connection: with that connection's own busy timeout (5 s), one
/// long dashboard read held the writer, and every callback waiting for it past its 2 s.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Whether the WAL was restarted (not when readers still used it after `RESTART_WAIT`).
async fn restart(write: &Pool<SqliteConn>) -> Result<bool, StoreError> {
    let mut conn = write.get().await?;
    let set_busy_timeout = |millis: u128| format!("PRAGMA busy_timeout = {millis}");
    diesel::sql_query(set_busy_timeout(RESTART_WAIT.as_millis()))
        .execute(&mut conn)
        .await?;
    let restarted = diesel::sql_query("PRAGMA wal_checkpoint(RESTART)")
        .get_result::<CheckpointResult>(&mut conn)
        .await;
    let restored = diesel::sql_query(set_busy_timeout(u128::from(super::SQLITE_BUSY_TIMEOUT_MS)))
        .execute(&mut conn)
        .await;
    if restored.is_err() {
        // A write connection left with the short wait would refuse the CLI's brief writes.
        drop(Object::take(conn));
    }
    restored?;
    Ok(restarted?.busy == 0)
}

/// Runs one checkpoint in `mode`; returns the pages in the WAL.
async fn checkpoint(pool: &Pool<SqliteConn>, mode: &'static str) -> Result<i32, StoreError> {
    let mut conn = pool.get().await?;
    let result: CheckpointResult = diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})"))
        .get_result(&mut conn)
        .await?;
    Ok(result.log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DatabaseUrl, PoolSettings};

    const BLOB: usize = 8 << 10;

    /// A SQLite database `name` in `dir` with one reading connection beside the writer's and
    /// an empty table `filler (data BLOB)`.
    async fn filler_db(dir: &tempfile::TempDir, name: &str) -> Db {
        let settings = PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
            answer_timeout: crate::store::DEFAULT_ANSWER_TIMEOUT,
        };
        let url = DatabaseUrl::Sqlite(dir.path().join(name));
        let db = Db::connect(&url, &settings).expect("pools");
        let Db::Sqlite { write, .. } = &db else {
            unreachable!("a SQLite database")
        };
        let mut conn = write.get().await.expect("connection");
        diesel::sql_query("CREATE TABLE filler (data BLOB NOT NULL)")
            .execute(&mut conn)
            .await
            .expect("table");
        drop(conn);
        db
    }

    #[derive(QueryableByName)]
    struct BusyTimeout {
        #[diesel(sql_type = Integer)]
        timeout: i32,
    }

    /// A reader still on the WAL keeps a RESTART from finishing: it gives the write connection
    /// back after its short wait instead of the connection's 5-s busy timeout, and leaves that
    /// timeout as it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_held_up_by_a_reader_gives_the_writer_back_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = filler_db(&dir, "held.db").await;
        let Db::Sqlite { read, write } = &db else {
            unreachable!("a SQLite database")
        };
        let mut writing = write.get().await.expect("connection");
        diesel::sql_query(format!(
            "INSERT INTO filler (data) VALUES (randomblob({BLOB}))"
        ))
        .execute(&mut writing)
        .await
        .expect("insert");
        drop(writing);
        let mut reading = read.get().await.expect("connection");
        let opened_with: BusyTimeout = diesel::sql_query("PRAGMA busy_timeout")
            .get_result(&mut reading)
            .await
            .expect("pragma");
        assert_eq!(
            u64::try_from(opened_with.timeout).ok(),
            Some(crate::store::SQLITE_BUSY_TIMEOUT_MS),
            "SQLITE_PRAGMAS sets the timeout the RESTART puts back"
        );
        diesel_async::SimpleAsyncConnection::batch_execute(
            &mut *reading,
            "BEGIN; SELECT count(*) FROM filler;",
        )
        .await
        .expect("a read transaction on the WAL");

        let started = std::time::Instant::now();
        let restarted = restart(write).await.expect("answers");
        assert!(!restarted, "the reader still uses the WAL");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "held the writer {:?}",
            started.elapsed()
        );
        let mut writing = write.get().await.expect("connection");
        let busy: BusyTimeout = diesel::sql_query("PRAGMA busy_timeout")
            .get_result(&mut writing)
            .await
            .expect("pragma");
        assert_eq!(busy.timeout, opened_with.timeout, "put back as it was");
        drop(writing);
        diesel_async::SimpleAsyncConnection::batch_execute(&mut *reading, "COMMIT")
            .await
            .expect("the read ends");
        assert!(restart(write).await.expect("answers"), "the reader is gone");
    }

    #[test]
    fn a_restart_kept_from_finishing_is_tried_again_after_1_2_4_then_8_ticks() {
        let mut backoff = RestartBackoff::default();
        let mut tries = Vec::new();
        for tick in 0..40 {
            if backoff.due() {
                tries.push(tick);
                backoff.record(false);
            }
        }
        assert_eq!(tries, [0, 2, 5, 10, 19, 28, 37]);
        backoff.record(true);
        assert!(backoff.due(), "a restart that finished resets the wait");
    }

    /// Under sustained writes the passive checkpoints never let SQLite start the WAL from the
    /// beginning again; the RESTART past the threshold (here 1 MiB) does. Writes are paced at
    /// one 8 KiB commit per millisecond, at most 8 MiB/s, so that the bound holds on any disk.
    /// Measured: the WAL file peaked at 4.4 MB; with the threshold never reached, at 52 MB.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_keeps_the_wal_bounded_under_sustained_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = filler_db(&dir, "bounded.db").await;
        let Db::Sqlite { write, .. } = &db else {
            unreachable!("a SQLite database")
        };

        let checkpointer = Checkpointer::restarting_past(&db, 256).expect("SQLite");
        let wal = dir.path().join("bounded.db-wal");
        let mut pace = tokio::time::interval(Duration::from_millis(1));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut written, mut largest_wal) = (0, 0);
        while written < 24 << 20 {
            pace.tick().await;
            let mut conn = write.get().await.expect("connection");
            diesel::sql_query(format!(
                "INSERT INTO filler (data) VALUES (randomblob({BLOB}))"
            ))
            .execute(&mut conn)
            .await
            .expect("insert");
            written += BLOB;
            largest_wal = largest_wal.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        checkpointer.stop().await;
        assert!(
            largest_wal < 16 << 20,
            "the WAL file grew to {largest_wal} bytes while {written} bytes were written"
        );
    }
}
