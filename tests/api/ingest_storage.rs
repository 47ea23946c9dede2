//! Idempotency and durability: retries never duplicate, races are decided by the database,
//! and a database that is unreachable or silent gives senders 503 (dashboards 503, or 504 when
//! a statement got no answer in time) until it is back.

use std::time::Duration;

use crate::helpers::proxy::ChaosProxy;
use crate::helpers::*;
use hookbox::store::callbacks;
use hookbox::store::writer::BatchLimits;

on_both_backends! {
    async fn fifty_concurrent_identical_deliveries_store_one_row(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = callback_body("job-race", "workflow.completed");
        let responses = futures_util::future::join_all((0..50).map(|_| app.post_signed(&body))).await;
        let mut fresh = 0;
        let mut ids = std::collections::HashSet::new();
        for response in responses {
            let json = json_with_status(response, 200).await;
            if json["duplicate"] == false {
                fresh += 1;
            }
            ids.insert(json["id"].as_i64().unwrap());
        }
        assert_eq!(fresh, 1, "exactly one delivery may be new");
        assert_eq!(ids.len(), 1, "every answer names the same row");
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 1);
    }

    async fn a_retry_is_a_duplicate_but_distinct_events_of_a_job_are_kept(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let step = callback_body("job-7", "llm.step.completed");
        let done = callback_body("job-7", "workflow.completed");
        let first = json_with_status(app.post_signed(&step).await, 200).await;
        let retry = json_with_status(app.post_signed(&step).await, 200).await;
        assert_eq!(retry["duplicate"], true);
        assert_eq!(retry["id"], first["id"]);
        let other = json_with_status(app.post_signed(&done).await, 200).await;
        assert_eq!(other["duplicate"], false);
        assert_eq!(other["callback_id"], "job-7");
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 2);
    }

    async fn the_webhook_id_header_keys_redeliveries_and_the_first_body_wins(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let first = callback_body("job-w", "workflow.completed");
        let changed = first.replace("\"ok\"", "\"changed\"");
        assert_ne!(first, changed);
        let post = |body: &str| {
            let signature = sign(SECRET, body);
            let body = body.to_owned();
            let app = &app;
            async move {
                app.post_callback(&body, &[("x-webhook-signature", &signature), ("webhook-id", "msg_1")]).await
            }
        };
        let a = json_with_status(post(&first).await, 200).await;
        let b = json_with_status(post(&changed).await, 200).await;
        assert_eq!(a["duplicate"], false);
        assert_eq!(b["duplicate"], true);
        assert_eq!(a["id"], b["id"]);
        let row = callbacks::find(&app.db, a["id"].as_i64().unwrap()).await.unwrap();
        assert_eq!(row.body, first.as_bytes(), "the first body is kept");
        let json = json_with_status(
            app.post_callback(&first, &[("x-webhook-signature", &sign(SECRET, &first)), ("webhook-id", "has space")]).await,
            400,
        ).await;
        assert_eq!(json["error"], "invalid_header");
    }

    async fn concurrent_distinct_callbacks_each_get_their_own_row(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let bodies: Vec<String> = (0..200).map(|i| callback_body(&format!("job-{i}"), "workflow.completed")).collect();
        let responses = futures_util::future::join_all(bodies.iter().map(|b| app.post_signed(b))).await;
        let mut ids = std::collections::HashSet::new();
        for response in responses {
            let json = json_with_status(response, 200).await;
            assert_eq!(json["duplicate"], false);
            ids.insert(json["id"].as_i64().unwrap());
        }
        assert_eq!(ids.len(), 200);
        let rows = callbacks::all_of_source(&app.db, "llm-callback").await.unwrap();
        assert_eq!(rows.len(), 200);
        for row in rows {
            let expected = callback_body(&row.callback_id, "workflow.completed");
            assert_eq!(row.body, expected.as_bytes(), "row {} holds its own body", row.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_racing_the_same_key_store_one_row() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let first = TestApp::spawn(&test_db).await;
    let second = TestApp::spawn(&test_db).await;
    for round in 0..10 {
        let body = callback_body(&format!("job-shared-{round}"), "workflow.completed");
        let requests = (0..10).map(|i| {
            if i % 2 == 0 {
                first.post_signed(&body)
            } else {
                second.post_signed(&body)
            }
        });
        let responses = futures_util::future::join_all(requests).await;
        let mut fresh = 0;
        for response in responses {
            if json_with_status(response, 200).await["duplicate"] == false {
                fresh += 1;
            }
        }
        assert_eq!(
            fresh, 1,
            "round {round}: one instance wins, the other sees a duplicate"
        );
    }
    assert_eq!(callbacks::count(&first.db).await.unwrap(), 10);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_gives_503_and_ingest_recovers_without_a_restart() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (proxy, app) = app_via_proxy(&test_db, AppOptions::default()).await;

    proxy.cut();
    let down = callback_body("during", "workflow.completed");
    for _ in 0..3 {
        assert_storage_unavailable(app.post_signed(&down).await).await;
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        json_with_status(ready, 503).await["error"],
        "storage_unavailable"
    );

    proxy.restore();
    assert_ingest_recovers(&app, &test_db, &down).await;
}

/// A server that reaches Postgres through a proxy the test controls, with one callback stored
/// before anything goes wrong.
async fn app_via_proxy(test_db: &TestDb, options: AppOptions) -> (ChaosProxy, TestApp) {
    let proxy = ChaosProxy::start(5432).await;
    let options = AppOptions {
        database_url: Some(test_db.url_via(proxy.port)),
        acquire_timeout: Duration::from_millis(500),
        ..options
    };
    let app = TestApp::spawn_with(test_db, options).await;
    json_with_status(
        app.post_signed(&callback_body("before", "workflow.completed"))
            .await,
        200,
    )
    .await;
    (proxy, app)
}

/// What a callback sent while the database is out gets.
async fn assert_storage_unavailable(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("5")
    );
    let json = json_with_status(response, 503).await;
    assert_eq!(json["error"], "storage_unavailable");
}

/// A dashboard read refused while the database is silent: `504 database_timeout` when it got a
/// connection whose answer never came, `503 storage_unavailable` when it could not get one at
/// all (which of the two depends on the connections its HTTP worker already had open).
async fn assert_read_refused(response: reqwest::Response) {
    if response.status() == 503 {
        return assert_storage_unavailable(response).await;
    }
    assert_eq!(response.headers().get("retry-after"), None);
    let json = json_with_status(response, 504).await;
    assert_eq!(json["error"], "database_timeout");
    assert_eq!(json["detail"], "the database did not answer within 1000 ms");
}

/// After an outage: `body` (refused during it) is stored within 10 s without a restart,
/// `/readyz` is 200 again, and the database, read directly, holds it and the one callback
/// stored before the outage, each once.
async fn assert_ingest_recovers(app: &TestApp, test_db: &TestDb, body: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.post_signed(body).await;
        if response.status() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ingest did not recover within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    json_with_status(ready, 200).await;
    let direct = hookbox::store::Db::connect(
        &test_db.url,
        &hookbox::store::PoolSettings {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(2),
            answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
        },
    )
    .unwrap();
    assert_eq!(
        callbacks::count(&direct).await.unwrap(),
        2,
        "nothing lost, nothing doubled"
    );
}

/// Every deadline a test of a silent database shortens to 1 s.
fn answering_within_a_second() -> AppOptions {
    AppOptions {
        batch: BatchLimits {
            answer_timeout: Duration::from_secs(1),
            ..BatchLimits::default()
        },
        answer_timeout: Duration::from_secs(1),
        ..AppOptions::default()
    }
}

/// Sends `request` while the database is silent: it must be answered well before the test
/// gives up, not left waiting.
async fn answered_while_silent<T>(request: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), request)
        .await
        .expect("answered while the database is silent, not left waiting")
}

/// A database that stops answering without closing its connections: the requests whose
/// batch it never answers, and those after them, get 503 instead of waiting until the
/// connection dies, and so do the dashboard's reads; once it answers again, ingest resumes
/// without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_that_stops_answering_gives_503_and_ingest_recovers_without_a_restart() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (proxy, app) = app_via_proxy(&test_db, answering_within_a_second()).await;
    let admin = app.login_admin().await;
    // The readiness check's connection stays open in the pool, to be used again when silent.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    json_with_status(ready, 200).await;

    proxy.freeze();
    let during = callback_body("during", "workflow.completed");
    for _ in 0..3 {
        assert_storage_unavailable(answered_while_silent(app.post_signed(&during)).await).await;
    }
    let ready = answered_while_silent(app.client.get(app.url("/readyz")).send()).await;
    assert_eq!(
        json_with_status(ready.unwrap(), 503).await["error"],
        "storage_unavailable"
    );
    let history = answered_while_silent(app.get_as(&admin, "/api/admin/llm-callbacks")).await;
    assert_read_refused(history).await;

    proxy.restore();
    assert_ingest_recovers(&app, &test_db, &during).await;
    let history = app.get_json(&admin, "/api/admin/llm-callbacks").await;
    assert_eq!(history["items"].as_array().map(Vec::len), Some(2));
}

/// A connection that goes silent for good while others can still be opened (a network that
/// dropped it without a word): each silent connection costs at most one request a 503 (a
/// callback) or 504 (a dashboard read), then it is closed instead of going back to the pool,
/// and the next batch or read opens a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stops_answering_is_closed_and_the_next_requests_get_a_new_one() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (proxy, app) = app_via_proxy(&test_db, answering_within_a_second()).await;
    let admin = app.login_admin().await;
    json_with_status(app.get_as(&admin, "/api/admin/llm-callbacks").await, 200).await;

    proxy.silence_open();
    // Each of the test app's four connections (`TestApp::spawn_with`) may cost one request.
    let mut refused = 0;
    let mut count_refusal = || {
        refused += 1;
        assert!(refused <= 4, "a silent connection was used again");
    };
    for n in 0..8 {
        let body = callback_body(&format!("after-{n}"), "workflow.completed");
        loop {
            let response = answered_while_silent(app.post_signed(&body)).await;
            if response.status() == 200 {
                break;
            }
            count_refusal();
            assert_storage_unavailable(response).await;
        }
        let history = answered_while_silent(app.get_as(&admin, "/api/admin/llm-callbacks")).await;
        if history.status() != 200 {
            count_refusal();
            assert_read_refused(history).await;
        }
    }
    assert!(refused >= 1, "the silent connections were not used at all");
    let history = app.get_json(&admin, "/api/admin/llm-callbacks").await;
    assert_eq!(history["items"].as_array().map(Vec::len), Some(9));
}

/// SQLite's WAL is copied back into the database file by Hookbox's own checkpoint task, not
/// inside commits (whose automatic checkpoint is off). 200 small callbacks stay far below the
/// 1,000 pages at which SQLite's automatic checkpoint would have run, so without the task the
/// database file would not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_run_in_the_background() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let hookbox::store::DatabaseUrl::Sqlite(path) = &test_db.url else {
        unreachable!("a SQLite test database")
    };
    let app = TestApp::spawn(&test_db).await;
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = size();
    for i in 0..200 {
        let body = callback_body(&format!("job-checkpoint-{i}"), "workflow.completed");
        json_with_status(app.post_signed(&body).await, 200).await;
    }
    eventually(
        &format!("the database file grows past {before} bytes (a checkpoint)"),
        || async { size() > before },
    )
    .await;
}

/// A scrape during an outage answers in time, with the counters and without the one figure
/// the database would have to give: it waited as long as any read (30 s) and a scraper that
/// gives up sooner got nothing, the storage errors included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_scrape_answers_in_time_while_postgres_is_silent() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (proxy, app) = app_via_proxy(&test_db, AppOptions::default()).await;
    let sessions = "hookbox_sessions_active{kind=\"session\"}";
    // Each scrape on the client's one connection, so on one worker, whose own database
    // connection is open and idle when the database goes silent.
    for _ in 0..3 {
        assert!(scrape(&app).await.contains(sessions));
    }

    proxy.freeze();
    let scraped = tokio::time::timeout(Duration::from_secs(5), scrape(&app))
        .await
        .expect("answered within a scraper's patience");
    assert!(!scraped.contains(sessions), "{scraped}");
    assert!(
        scraped.contains("hookbox_storage_errors_total"),
        "{scraped}"
    );
    // The next scrape starts no second count behind the one still waiting.
    let again = tokio::time::timeout(Duration::from_secs(5), scrape(&app))
        .await
        .expect("answered");
    assert!(!again.contains(sessions), "{again}");
    proxy.restore();
    eventually("the sessions are counted again", || async {
        scrape(&app).await.contains(sessions)
    })
    .await;
}
