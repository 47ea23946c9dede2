//! The one Postgres connection the writer's batches share. A batch sent while another is on its
//! way is pipelined behind it on this connection, so the database runs it in the same backend the
//! moment the first has committed. With a connection of its own, the second batch's backend
//! waited for the order lock and had to be woken, and given a core, when the first released it.
//! Alternated on one VM, sharing the connection gave 7–10 % more throughput on average at 16
//! senders, with slightly larger batches, and no change at 1 or 64 (docs/performance.md,
//! 2026-12-04 18:13). With one writer backend instead of two, the admin reads' backend has one
//! process fewer to wait behind for a core: checks and history pages during 64-sender ingest
//! came down from 4.0–5.9 to 2.3–4.0 ms at p99 there. The order lock is still taken: other
//! instances may write to the same database.
//!
//! Each statement is its own transaction with its own sync point, so a batch that fails (a
//! refused row, a stored key met by a plain insert) leaves the statements behind it untouched.
//! A batch that fails gives the connection up all the same: the next batch takes one from the
//! pool, which checks the old one (and drops it if broken) once the last batch using it lets go.
//! One that got no answer in time is closed by the last batch that lets go of it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::AsyncPgConnection;

use super::StoreError;

pub type WriterConnection = Arc<Object<AsyncPgConnection>>;

#[derive(Default)]
pub struct SharedPgConnection {
    current: Mutex<Option<WriterConnection>>,
}

impl SharedPgConnection {
    /// The connection the batches on their way use, or, when there is none or it broke while
    /// idle, one from the pool.
    pub async fn get(
        &self,
        pool: &Pool<AsyncPgConnection>,
    ) -> Result<WriterConnection, StoreError> {
        if let Some(current) = self.usable() {
            return Ok(current);
        }
        let fresh = Arc::new(pool.get().await?);
        // Another batch may have taken one meanwhile: all use the first, so that they stay in
        // one pipeline; the spare goes back to the pool.
        Ok(self.slot().get_or_insert(fresh).clone())
    }

    /// After a failed batch: the next batch starts on another connection. A batch still on its
    /// way on this one keeps it until it is answered.
    pub fn give_up(&self, connection: &WriterConnection) {
        let mut slot = self.slot();
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, connection))
        {
            *slot = None;
        }
    }

    /// After a batch got no answer in time: the next batch starts on another connection, and
    /// this one is closed once no batch uses it, instead of going back to the pool, where its
    /// next user would wait behind the answers that never came.
    pub fn close_silent(&self, connection: WriterConnection) {
        self.give_up(&connection);
        if let Ok(last) = Arc::try_unwrap(connection) {
            super::abandon(Object::take(last));
        }
    }

    fn usable(&self) -> Option<WriterConnection> {
        let mut slot = self.slot();
        let current = slot.as_mut()?;
        // Only while no batch uses it can it be asked whether its socket closed (the check needs
        // it alone); a batch on its way on a broken connection fails and gives it up.
        if Arc::get_mut(current).is_some_and(|idle| idle.is_broken()) {
            *slot = None;
            return None;
        }
        Some(current.clone())
    }

    fn slot(&self) -> MutexGuard<'_, Option<WriterConnection>> {
        // Nothing panics while holding it; a poisoned slot still holds a valid `Option`.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
