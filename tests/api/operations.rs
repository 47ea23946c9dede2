//! What operators rely on: the rejection log, /metrics and retention.

use std::time::Duration;

use crate::helpers::*;
use hookbox::metrics::{IpNet, MetricsAccess};
use hookbox::operations::OpsSettings;
use hookbox::rejections::RejectionLogLimits;
use hookbox::retention::RetentionPolicy;
use hookbox::store::{callbacks, rejections, retention};
use serde_json::json;

on_both_backends! {
    async fn rejected_attempts_are_logged_without_body_or_secret(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = callback_body("job-rej", "workflow.completed");
        let forged = sign("not-the-secret", &body);
        json_with_status(app.post_callback(&body, &[("x-webhook-signature", &forged), ("user-agent", "sender/1.0")]).await, 401).await;
        json_with_status(app.post_callback(&body, &[]).await, 401).await;
        json_with_status(app.post_signed("{\"event\":\"e\"}").await, 400).await;
        eventually("three rejections logged", || async {
            rejections::count(&app.db).await.unwrap() == 3
        }).await;
        let rows = rejections::page(&app.db, None, 10).await.unwrap();
        let reasons: Vec<_> = rows.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons, ["invalid_payload", "missing_signature", "invalid_signature"], "newest first");
        let forged_row = &rows[2];
        assert_eq!(forged_row.http_status, 401);
        assert_eq!(forged_row.source, "llm-callback");
        assert_eq!(forged_row.remote_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(forged_row.user_agent.as_deref(), Some("sender/1.0"));
        assert_eq!(forged_row.body_bytes, Some(body.len() as i64));
        assert_eq!(forged_row.headers_present, "x-webhook-signature");
        assert_eq!(rows[1].headers_present, "");
        let everything = format!("{rows:?}");
        assert!(!everything.contains("job-rej") && !everything.contains(&forged[7..]) && !everything.contains(SECRET),
            "neither body, signature nor secret is kept: {everything}");
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 0);
    }

    async fn admins_page_through_the_rejection_log_with_explanations(test_db) {
        let app = TestApp::spawn(&test_db).await;
        for i in 0..5 {
            let body = callback_body(&format!("job-{i}"), "e");
            json_with_status(app.post_callback(&body, &[("x-webhook-signature", &sign("wrong", &body)), ("webhook-id", "m1")]).await, 401).await;
        }
        eventually("five rejections logged", || async {
            rejections::count(&app.db).await.unwrap() == 5
        }).await;
        let admin = app.login_admin().await;
        let first = app.get_json(&admin, "/api/admin/rejections?limit=3").await;
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        assert_eq!(first["has_more"], true);
        let item = &first["items"][0];
        assert_eq!(item["reason"], "invalid_signature");
        assert_eq!(item["http_status"], 401);
        assert!(item["explanation"].as_str().unwrap().starts_with("the signature did not match any of the source's secrets"), "{item}");
        assert_eq!(item["headers_present"], serde_json::json!(["x-webhook-signature", "webhook-id"]));
        assert!(item["rejected_at"].as_str().unwrap().ends_with('Z'));
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = app.get_json(&admin, &format!("/api/admin/rejections?limit=3&before={cursor}")).await;
        assert_eq!(second["items"].as_array().unwrap().len(), 2);
        assert_eq!(second["has_more"], false);
        assert!(second["next_cursor"].is_null());
        let mut ids: Vec<i64> = first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap())
            .map(|i| i["id"].as_i64().unwrap()).collect();
        let listed = ids.clone();
        ids.sort_by(|a, b| b.cmp(a));
        ids.dedup();
        assert_eq!(ids, listed, "every row once, newest first");
        let bad = app.get_as(&admin, "/api/admin/rejections?before=nope").await;
        assert_eq!(json_with_status(bad, 400).await["error"], "invalid_cursor");
        // Rejection ids are not callback ids: a cursor of one list is refused by the others.
        let callbacks_cursor = hookbox::admin::cursor::Cursor::at(4).encode();
        let crossed = [
            format!("/api/admin/rejections?before={callbacks_cursor}"),
            format!("/api/admin/llm-callbacks?before={cursor}"),
            format!("/api/admin/llm-callbacks/check?after={cursor}"),
        ];
        for path in crossed {
            assert_eq!(json_with_status(app.get_as(&admin, &path).await, 400).await["error"], "invalid_cursor", "{path}");
        }
        let view_all = app.post_as(&admin, "/api/admin/llm-callbacks/view-all", serde_json::json!({ "up_to": cursor })).await;
        assert_eq!(json_with_status(view_all, 400).await["error"], "invalid_cursor");
    }

    async fn the_rejection_log_is_capped_in_rows_and_in_rate(test_db) {
        let app = app_with_a_rejection_log_of(&test_db, 5).await;
        for _ in 0..50 {
            json_with_status(app.post_callback("{}", &[]).await, 401).await;
        }
        rejection_log_wrote(&app, 20.0, 30.0).await;
        eventually("pruned to 5 rows", || async {
            rejections::count(&app.db).await.unwrap() == 5
        }).await;
        let kept = rejections::page(&app.db, None, 10).await.unwrap();
        let newest = kept.iter().map(|r| r.id).max().unwrap();
        assert!(kept.iter().all(|r| r.id > newest - 5), "the newest rows are kept: {kept:?}");
    }

    async fn a_scan_of_unknown_source_names_leaves_room_for_a_real_senders_refusals(test_db) {
        let app = app_with_a_rejection_log_of(&test_db, 100).await;
        for n in 0..30 {
            json_with_status(app.post_to_source::<&str, &str>(&format!("scan-{n}"), "{}", &[]).await, 404).await;
        }
        for _ in 0..10 {
            json_with_status(app.post_callback("{}", &[]).await, 401).await;
        }
        // 5 of the scan and the 10 refusals.
        rejection_log_wrote(&app, 15.0, 25.0).await;
        let kept = rejections::page(&app.db, None, 100).await.unwrap();
        assert_eq!(kept.iter().filter(|r| r.source == "llm-callback").count(), 10, "{kept:?}");
    }

    async fn metrics_count_ingest_outcomes_and_are_refused_to_strangers(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let before = scrape(&app).await;
        let accepted = "hookbox_ingest_requests_total{outcome=\"accepted\"}";
        assert_eq!(sample(&before, accepted), 0.0);
        let body = callback_body("job-m", "workflow.completed");
        json_with_status(app.post_signed(&body).await, 200).await;
        json_with_status(app.post_signed(&body).await, 200).await;
        json_with_status(app.post_callback(&body, &[("x-webhook-signature", "sha256=00")]).await, 401).await;
        let after = scrape(&app).await;
        assert_eq!(sample(&after, accepted), 1.0);
        assert_eq!(sample(&after, "hookbox_ingest_requests_total{outcome=\"duplicate\"}"), 1.0);
        assert_eq!(sample(&after, "hookbox_ingest_requests_total{outcome=\"invalid_signature\"}"), 1.0);
        assert_eq!(sample(&after, "hookbox_ingest_duplicates_total"), 1.0);
        assert_eq!(sample(&after, "hookbox_ingest_duration_seconds_count"), 3.0);
        // The malformed signature was refused before its body was read.
        assert_eq!(sample(&after, "hookbox_ingest_body_bytes_count"), 2.0);
        assert_eq!(sample(&after, "hookbox_ingest_body_bytes_bucket{le=\"+Inf\"}"), 2.0);
        assert!(after.contains("# TYPE hookbox_ingest_duration_seconds histogram"));
        assert!(after.contains("hookbox_db_pool_connections_in_use{pool="), "{after}");
        assert!(after.contains("hookbox_db_pool_waiting{pool="), "{after}");
        if test_db.backend == Backend::Postgres {
            // Of the test server's four connections each of its two HTTP workers has one of
            // its own (the worker answering the scrape reports its pool); two are shared.
            let max = |pool: &str| sample(&after, &format!("hookbox_db_pool_max_connections{{pool=\"{pool}\"}}"));
            assert_eq!((max("postgres"), max("postgres_worker")), (2.0, 1.0), "{after}");
        }
        assert_eq!(sample(&after, "hookbox_storage_errors_total"), 0.0);
        let polls = "hookbox_polls_served_total";
        let sessions = "hookbox_sessions_active{kind=\"session\"}";
        assert_eq!(sample(&after, polls), 0.0);
        let active = sample(&after, sessions);
        let admin = app.login_admin().await;
        app.get_json(&admin, "/api/admin/llm-callbacks/check").await;
        let polled = scrape(&app).await;
        assert_eq!(sample(&polled, polls), 1.0);
        assert_eq!(sample(&polled, sessions), active + 1.0, "the login opened a session");

        let ops = OpsSettings {
            metrics_access: MetricsAccess::new(IpNet::parse_list("10.0.0.0/8").unwrap(), Some("scrape-token")),
            ..OpsSettings::default()
        };
        let guarded = TestApp::spawn_with(&test_db, AppOptions { ops, ..AppOptions::default() }).await;
        let refused = guarded.client.get(guarded.url("/metrics")).send().await.unwrap();
        assert_eq!(json_with_status(refused, 403).await["error"], "forbidden");
        let wrong = guarded.client.get(guarded.url("/metrics")).bearer_auth("nope").send().await.unwrap();
        assert_eq!(wrong.status(), 403);
        let allowed = guarded.client.get(guarded.url("/metrics")).bearer_auth("scrape-token").send().await.unwrap();
        assert_eq!(allowed.status(), 200);
        assert!(allowed.text().await.unwrap().contains("hookbox_ingest_requests_total"));
    }

    async fn retention_deletes_large_bodies_a_few_at_a_time(test_db) {
        // Freeing a body's pages costs in proportion to its size; a batch of 500 large bodies
        // held SQLite's write lock longer than ingest waits for it.
        let app = TestApp::spawn(&test_db).await;
        for i in 0..3 {
            let body = json!({ "event": "workflow.completed", "job_id": format!("large-{i}"),
                               "result": { "text": "x".repeat(600 * 1024) } }).to_string();
            json_with_status(app.post_signed(&body).await, 200).await;
        }
        let cutoff = chrono::Utc::now().naive_utc() + chrono::Duration::hours(1);
        let batch = || retention::delete_batch_before(&app.db, cutoff, 500, 1024 * 1024);
        assert_eq!(batch().await.unwrap(), retention::Deleted { rows: 1, more: true });
        assert_eq!(batch().await.unwrap(), retention::Deleted { rows: 1, more: true });
        assert_eq!(batch().await.unwrap(), retention::Deleted { rows: 1, more: false });
        assert_eq!(batch().await.unwrap(), retention::Deleted { rows: 0, more: false });
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 0);
    }

    async fn retention_deletes_old_callbacks_in_batches_while_ingest_goes_on(test_db) {
        let policy = RetentionPolicy {
            max_age: chrono::TimeDelta::seconds(1),
            interval: Duration::from_millis(200),
            batch: 7,
            batch_bytes: 1024 * 1024,
            pause: Duration::from_millis(1),
        };
        let ops = OpsSettings { retention: Some(policy), ..OpsSettings::default() };
        let app = TestApp::spawn_with(&test_db, AppOptions { ops, ..AppOptions::default() }).await;
        for i in 0..30 {
            json_with_status(app.post_signed(&callback_body(&format!("old-{i}"), "e")).await, 200).await;
        }
        eventually("the 30 old callbacks are deleted", || async {
            callbacks::count(&app.db).await.unwrap() == 0
        }).await;
        json_with_status(app.post_signed(&callback_body("fresh", "e")).await, 200).await;
        let rows = callbacks::all_of_source(&app.db, "llm-callback").await.unwrap();
        assert!(rows.len() <= 1, "only the fresh one may remain");
        let text = scrape(&app).await;
        assert!(sample(&text, "hookbox_retention_deleted_total") >= 30.0, "{text}");
    }
}

#[test]
fn purge_deletes_everything_older_than_the_given_days() {
    // The command's own behaviour on SQLite: a fresh file with one callback, `--older-than 0`.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let test_db = runtime.block_on(TestDb::create(Backend::Sqlite)).unwrap();
    let url = test_db.url.to_string();
    runtime.block_on(async {
        let app = TestApp::spawn(&test_db).await;
        json_with_status(app.post_signed(&callback_body("purge-me", "e")).await, 200).await;
        app.stop().await;
    });
    let keep = std::process::Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .args(["purge", "--older-than", "1", "--database-url", &url])
        .output()
        .unwrap();
    assert!(keep.status.success(), "{keep:?}");
    assert!(
        String::from_utf8_lossy(&keep.stdout).contains("deleted 0 callbacks"),
        "{keep:?}"
    );
    let all = std::process::Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .args(["purge", "--older-than", "0", "--database-url", &url])
        .output()
        .unwrap();
    assert!(all.status.success(), "{all:?}");
    assert!(
        String::from_utf8_lossy(&all.stdout).contains("deleted 1 callbacks"),
        "{all:?}"
    );
}

/// A server whose rejection log keeps `max_rows` and writes a burst of 20, then nothing more.
async fn app_with_a_rejection_log_of(test_db: &TestDb, max_rows: u32) -> TestApp {
    let rejection_log = RejectionLogLimits {
        max_rows,
        per_second: 0.0,
        burst: 20,
        queue: 256,
        batch: 4,
    };
    let ops = OpsSettings {
        rejection_log,
        ..OpsSettings::default()
    };
    TestApp::spawn_with_ops(test_db, ops).await
}

/// Waits until the log has written `written` entries and dropped `dropped` by its rate.
async fn rejection_log_wrote(app: &TestApp, written: f64, dropped: f64) {
    let dropped_series = "hookbox_rejection_log_dropped_total{cause=\"rate_limited\"}";
    eventually(
        &format!("{written} written, {dropped} dropped by rate"),
        || async {
            let text = scrape(app).await;
            sample(&text, "hookbox_rejection_log_written_total") == written
                && sample(&text, dropped_series) == dropped
        },
    )
    .await;
}
