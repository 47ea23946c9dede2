use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong talking to the database, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (down, pool exhausted, connection lost).
    /// Callers answer 503 so that senders retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    NoAnswer(#[from] NoAnswer),
    #[error("record not found")]
    NotFound,
    /// The database answered with an error; the request itself may be at fault or the
    /// database may be failing (disk full). Never turned into a success.
    #[error("database query failed")]
    Query(#[source] DieselError),
}

/// A statement sent on a working connection got no answer within the deadline: a search
/// through many rows, a lock held elsewhere, or a database that stopped answering. The statement
/// is given up (and cancelled); whether a write in it was committed is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the database did not answer within {} ms", waited.as_millis())]
pub struct NoAnswer {
    pub waited: Duration,
}

impl StoreError {
    /// The same error again, for another delivery it fails too. Diesel's errors cannot be
    /// cloned; a query error keeps its message.
    pub(crate) fn copied(&self) -> StoreError {
        match self {
            StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
            StoreError::NoAnswer(no_answer) => StoreError::NoAnswer(*no_answer),
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Query(inner) => {
                StoreError::Query(DieselError::QueryBuilderError(inner.to_string().into()))
            }
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                // A Postgres server in recovery (a standby after a failover) takes no writes.
                | DatabaseErrorKind::ReadOnlyTransaction,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_sqlite_busy(info.message()) =>
            {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Query(other),
        }
    }
}

/// SQLite's messages for `SQLITE_BUSY` and `SQLITE_LOCKED`: another connection (the CLI's
/// purge, a backup) held the write lock for the whole `busy_timeout`. Diesel reports them with
/// no kind of their own. No row is at fault, and the same write may succeed in a moment.
fn is_sqlite_busy(message: &str) -> bool {
    matches!(message, "database is locked" | "database table is locked")
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}
