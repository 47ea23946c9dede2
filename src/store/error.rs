use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong talking to the database, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (down, pool exhausted, connection lost).
    /// Callers answer 503 so that senders retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("record not found")]
    NotFound,
    /// The database answered with an error; the request itself may be at fault or the
    /// database may be failing (disk full). Never turned into a success.
    #[error("database query failed")]
    Query(#[source] DieselError),
}

impl StoreError {
    pub fn no_answer_within(timeout: std::time::Duration) -> StoreError {
        StoreError::Unavailable(format!(
            "the database did not answer within {} ms",
            timeout.as_millis()
        ))
    }
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
