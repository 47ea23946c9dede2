//! What startup reads to warn when Postgres' autovacuum does not look after the callbacks table
//! (src/store/vacuum.rs): the server's setting as the server reports it, and the table's own.

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use hookbox::store::vacuum::{autovacuum_settings, AutovacuumSettings};

use crate::helpers::{Backend, TestApp, TestDb};

#[derive(QueryableByName)]
struct ServerSetting {
    #[diesel(sql_type = Bool)]
    on: bool,
}

#[tokio::test]
async fn the_autovacuum_settings_of_server_and_table_are_read_as_postgres_has_them() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let app = TestApp::spawn(&test_db).await;
    let mut conn = test_db.postgres_connection().await;
    // The server's setting cannot be changed from here (it needs a reload); it is whatever
    // this server has, read independently.
    let server: ServerSetting =
        diesel::sql_query("SELECT setting = 'on' AS on FROM pg_settings WHERE name = 'autovacuum'")
            .get_result(&mut conn)
            .await
            .expect("server setting");

    let read = || async { autovacuum_settings(&app.db).await.expect("read") };
    assert_eq!(
        read().await,
        Some(AutovacuumSettings {
            server_on: server.on,
            table_on: true
        })
    );
    // Postgres keeps the option as written; every spelling its ALTER TABLE takes for false,
    // prefixes included, must read as off.
    for spelling in ["off", "false", "no", "0", "FALSE", "Off", "fal", "n"] {
        conn.batch_execute(&format!(
            "ALTER TABLE callbacks SET (autovacuum_enabled = '{spelling}', fillfactor = 100)"
        ))
        .await
        .expect("table option set");
        assert_eq!(
            read().await,
            Some(AutovacuumSettings {
                server_on: server.on,
                table_on: false
            }),
            "autovacuum_enabled = '{spelling}'"
        );
    }
    conn.batch_execute("ALTER TABLE callbacks RESET (autovacuum_enabled)")
        .await
        .expect("table option reset");
    assert_eq!(read().await.map(|settings| settings.table_on), Some(true));
}

#[tokio::test]
async fn sqlite_has_no_autovacuum_settings_to_read() {
    let test_db = TestDb::create(Backend::Sqlite)
        .await
        .expect("SQLite test databases need no service");
    let app = TestApp::spawn(&test_db).await;
    assert_eq!(autovacuum_settings(&app.db).await.expect("read"), None);
}
