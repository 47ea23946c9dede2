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

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            other => StoreError::Query(other),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}
