//! Whether Postgres' autovacuum looks after the callbacks table. Hookbox relies on it: vacuum
//! marks pages all-visible, which the index-only scans of every poll rely on; it reclaims the
//! rows that retention deletes; and its ANALYZE keeps the planner's statistics current. With
//! autovacuum off for the server or the table, polls get slower and the table only grows, so
//! startup says so in the log (the server's settings are the operator's to change).

use diesel::sql_types::{Array, Bool, Nullable, Text};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutovacuumSettings {
    /// The server's `autovacuum`.
    pub server_on: bool,
    /// The table's `autovacuum_enabled` (true when not set).
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

#[derive(QueryableByName)]
struct Read {
    #[diesel(sql_type = Bool)]
    server_on: bool,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    table_options: Option<Vec<String>>,
}

/// The settings on Postgres; `None` on SQLite, which has no such process.
pub async fn autovacuum_settings(db: &Db) -> Result<Option<AutovacuumSettings>, StoreError> {
    let Db::Postgres(pool) = db else {
        return Ok(None);
    };
    let mut conn = pool.get().await?;
    let read: Read = diesel::sql_query(
        "SELECT current_setting('autovacuum')::boolean AS server_on, \
         (SELECT reloptions FROM pg_class WHERE oid = 'callbacks'::regclass) AS table_options",
    )
    .get_result(&mut *conn)
    .await?;
    Ok(Some(AutovacuumSettings {
        server_on: read.server_on,
        table_on: !turned_off_in(read.table_options.as_deref().unwrap_or_default()),
    }))
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

/// Whether a table's storage parameters (`key=value`, as Postgres keeps them) turn autovacuum
/// off, in any of the spellings Postgres accepts for false.
fn turned_off_in(table_options: &[String]) -> bool {
    table_options.iter().any(|option| {
        option.split_once('=').is_some_and(|(key, value)| {
            key.trim() == "autovacuum_enabled"
                && matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "false" | "off" | "no" | "0" | "f" | "n"
                )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

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

    #[test]
    fn the_table_can_turn_it_off_in_any_spelling() {
        for value in ["false", "off", "no", "0", "FALSE", "Off"] {
            let table = options(&["fillfactor=90", &format!("autovacuum_enabled={value}")]);
            assert!(turned_off_in(&table), "{value}");
        }
    }

    #[test]
    fn other_parameters_leave_it_on() {
        assert!(!turned_off_in(&[]));
        assert!(!turned_off_in(&options(&["autovacuum_enabled=true"])));
        assert!(!turned_off_in(&options(&[
            "autovacuum_vacuum_scale_factor=0"
        ])));
    }
}
