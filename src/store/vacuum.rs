//! Whether Postgres' autovacuum looks after the callbacks table. Hookbox relies on it: vacuum
//! marks pages all-visible, which the index-only scans of every poll rely on; it reclaims the
//! rows that retention deletes; and its ANALYZE keeps the planner's statistics current. With
//! autovacuum off for the server or the table, polls get slower and the table only grows, so
//! startup says so in the log (the server's settings are the operator's to change).

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use super::{Db, StoreError};

/// Why autovacuum does not look after `callbacks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutovacuumOff {
    /// `autovacuum = off` in the server's configuration.
    Server,
    /// The table's own storage parameter `autovacuum_enabled` is false.
    Table,
}

impl AutovacuumOff {
    /// What the operator reads in the log.
    pub fn advice(self) -> &'static str {
        match self {
            AutovacuumOff::Server => {
                "autovacuum is off on this Postgres server: polls will slow down as callbacks \
                 arrive and deleted callbacks will not be reclaimed; turn it on \
                 (autovacuum = on) or run VACUUM ANALYZE callbacks regularly"
            }
            AutovacuumOff::Table => {
                "autovacuum is off for the callbacks table (autovacuum_enabled = false): polls \
                 will slow down as callbacks arrive and deleted callbacks will not be reclaimed; \
                 run ALTER TABLE callbacks RESET (autovacuum_enabled) or VACUUM ANALYZE \
                 callbacks regularly"
            }
        }
    }
}

/// What decides whether autovacuum looks after `callbacks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, QueryableByName)]
pub struct AutovacuumSettings {
    /// The server's `autovacuum`.
    #[diesel(sql_type = Bool)]
    pub server_on: bool,
    /// The table's `autovacuum_enabled` (true when not set).
    #[diesel(sql_type = Bool)]
    pub table_on: bool,
}

impl AutovacuumSettings {
    pub fn off(self) -> Option<AutovacuumOff> {
        if !self.server_on {
            Some(AutovacuumOff::Server)
        } else if !self.table_on {
            Some(AutovacuumOff::Table)
        } else {
            None
        }
    }
}

/// The settings on Postgres; `None` on SQLite, which has no such process.
pub async fn autovacuum_settings(db: &Db) -> Result<Option<AutovacuumSettings>, StoreError> {
    let Db::Postgres { pool, .. } = db else {
        return Ok(None);
    };
    let mut conn = pool.get().await?;
    // The table's option is kept as it was written (`autovacuum_enabled=no`, `=0`, `=fal` …);
    // Postgres' own boolean cast reads every spelling its `ALTER TABLE` accepted.
    let settings: AutovacuumSettings = diesel::sql_query(
        "SELECT current_setting('autovacuum')::boolean AS server_on, \
         coalesce((SELECT option_value::boolean \
                   FROM pg_class, pg_options_to_table(reloptions) \
                   WHERE oid = 'callbacks'::regclass \
                     AND option_name = 'autovacuum_enabled'), true) AS table_on",
    )
    .get_result(&mut *conn)
    .await?;
    Ok(Some(settings))
}

/// Logs what to do when autovacuum does not look after `callbacks`. Never fails startup: a
/// setting that cannot be read is logged too.
pub async fn warn_when_off(db: &Db) {
    match autovacuum_settings(db).await {
        Ok(settings) => {
            if let Some(off) = settings.and_then(AutovacuumSettings::off) {
                tracing::warn!("{}", off.advice());
            }
        }
        Err(error) => tracing::warn!(error = %error, "could not read the autovacuum settings"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_setting_comes_first() {
        let settings = |server_on, table_on| AutovacuumSettings {
            server_on,
            table_on,
        };
        assert_eq!(settings(false, true).off(), Some(AutovacuumOff::Server));
        assert_eq!(settings(false, false).off(), Some(AutovacuumOff::Server));
        assert_eq!(settings(true, false).off(), Some(AutovacuumOff::Table));
        assert_eq!(settings(true, true).off(), None);
    }
}
