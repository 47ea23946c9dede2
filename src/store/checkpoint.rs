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
//!   this the file would grow for as long as the writes go on.
//!
//! Durability is unchanged: a commit is durable once its WAL frames are flushed, which still
//! happens in the commit itself.

use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::QueryableByName;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::RunQueryDsl;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Db, SqliteConn, StoreError};

const INTERVAL: Duration = Duration::from_millis(250);
/// 16 MiB of 4 KiB pages. The WAL file keeps the size it reached (SQLite writes it again
/// from the start after a restart): about this much plus a quarter second of writes.
const RESTART_PAGES: i32 = 4_096;

/// The checkpointer of a SQLite database; `stop` ends it between two checkpoints.
pub struct Checkpointer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(QueryableByName)]
struct CheckpointResult {
    /// Pages in the WAL (-1 when the database is not in WAL mode).
    #[diesel(sql_type = Integer)]
    log: i32,
}

impl Checkpointer {
    /// Starts checkpointing a SQLite database; Postgres needs none.
    pub fn start(db: &Db) -> Option<Checkpointer> {
        let Db::Sqlite { read, write } = db else {
            return None;
        };
        let (read, write) = (read.clone(), write.clone());
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(INTERVAL) => {}
                }
                // Runs to completion once started: stopping is only looked at between
                // checkpoints, so no connection is dropped halfway through one.
                let passive = checkpoint(&read, "PASSIVE").await;
                let restarted = match passive {
                    Ok(pages) if pages > RESTART_PAGES => checkpoint(&write, "RESTART").await,
                    other => other,
                };
                if let Err(error) = restarted {
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

/// Runs one checkpoint in `mode`; returns the pages in the WAL.
async fn checkpoint(pool: &Pool<SqliteConn>, mode: &'static str) -> Result<i32, StoreError> {
    let mut conn = pool.get().await?;
    let result: CheckpointResult = diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})"))
        .get_result(&mut conn)
        .await?;
    Ok(result.log)
}
