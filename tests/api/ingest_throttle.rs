//! `--failed-signature-limit`: an address that keeps failing signature checks is answered 429
//! before its body is read; everyone else, and the default configuration, is unaffected.

use std::net::IpAddr;

use crate::helpers::*;
use hookbox::ingest::throttle::FailedSignatureLimit;
use hookbox::operations::OpsSettings;
use hookbox::store::{callbacks, rejections};

async fn spawn_limited(test_db: &TestDb, limit: &str) -> TestApp {
    let limit: FailedSignatureLimit = limit.parse().unwrap();
    let ops = OpsSettings {
        failed_signature_limit: Some(limit),
        ..OpsSettings::default()
    };
    TestApp::spawn_with_ops(test_db, ops).await
}

/// A client whose requests come from `local` (any 127.0.0.0/8 address reaches the server).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Posts a callback for `job` from `client`, rightly signed or not; returns the status.
async fn send(app: &TestApp, client: &reqwest::Client, job: &str, rightly_signed: bool) -> u16 {
    let body = callback_body(job, "workflow.completed");
    let signature = if rightly_signed {
        sign(SECRET, &body)
    } else {
        forged(&body)
    };
    client
        .post(app.url(CALLBACK_PATH))
        .header("content-type", "application/json")
        .header("x-webhook-signature", signature)
        .body(body)
        .send()
        .await
        .expect("request reaches the server")
        .status()
        .as_u16()
}

fn forged(body: &str) -> String {
    sign("not-the-secret-at-all-000000", body)
}

on_both_backends! {
    async fn past_the_limit_an_address_gets_429_with_retry_after_and_nothing_is_stored(test_db) {
        let app = spawn_limited(&test_db, "3/1h").await;
        let body = callback_body("job-probe", "workflow.completed");
        let bad = forged(&body);
        json_with_status(app.post_callback(&body, &[("x-webhook-signature", &bad)]).await, 401).await;
        json_with_status(app.post_callback(&body, &[]).await, 401).await;
        json_with_status(app.post_callback(&body, &[("x-webhook-signature", "sha256=zz")]).await, 401).await;

        let refused = app.post_callback(&body, &[("x-webhook-signature", &bad)]).await;
        let retry_after: u64 = refused.headers().get("retry-after").expect("Retry-After is set")
            .to_str().unwrap().parse().expect("Retry-After is whole seconds");
        assert!((1..=1200).contains(&retry_after), "3 per hour: one more try within 20 min, got {retry_after}");
        let json = json_with_status(refused, 429).await;
        assert_eq!(json["error"], "too_many_failed_signatures");
        assert_eq!(json["retry_after_secs"], retry_after);

        let valid = app.post_signed(&callback_body("job-late", "workflow.completed")).await;
        let json = json_with_status(valid, 429).await;
        assert_eq!(json["error"], "too_many_failed_signatures",
            "a throttled address is refused unread, even with a valid signature");
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 0, "nothing is stored");

        let metrics = scrape(&app).await;
        assert_eq!(sample(&metrics, "hookbox_ingest_requests_total{outcome=\"too_many_failed_signatures\"}"), 2.0);
        assert_eq!(sample(&metrics, "hookbox_ingest_requests_total{outcome=\"invalid_signature\"}"), 2.0);
        assert_eq!(sample(&metrics, "hookbox_ingest_body_bytes_count"), 1.0,
            "only the one mismatching signature had its body read; the 429s had not");

        eventually("five rejections logged", || async {
            rejections::count(&app.db).await.unwrap() == 5
        }).await;
        let admin = app.login_admin().await;
        let page = app.get_json(&admin, "/api/admin/rejections").await;
        let newest = &page["items"][0];
        assert_eq!(newest["reason"], "too_many_failed_signatures");
        assert_eq!(newest["http_status"], 429);
        assert_eq!(newest["remote_addr"], "127.0.0.1");
        assert!(newest["body_bytes"].is_null(), "refused before the body was read: {newest}");
        let explanation = newest["explanation"].as_str().unwrap();
        assert!(explanation.starts_with("too many failed signature checks from this address"), "{explanation}");
    }

    async fn valid_callbacks_are_stored_until_the_limit_and_other_addresses_keep_going(test_db) {
        let app = spawn_limited(&test_db, "2/1h").await;
        let here = client_from("127.0.0.1");
        let elsewhere = client_from("127.0.0.2");
        assert_eq!(send(&app, &here, "job-1", true).await, 200);
        assert_eq!(send(&app, &here, "job-x", false).await, 401);
        assert_eq!(send(&app, &here, "job-2", true).await, 200, "one failure left: still accepted");
        assert_eq!(send(&app, &here, "job-x", false).await, 401);
        assert_eq!(send(&app, &here, "job-3", true).await, 429, "the budget is used up");

        assert_eq!(send(&app, &elsewhere, "job-4", true).await, 200, "another address is not affected");
        assert_eq!(send(&app, &elsewhere, "job-x", false).await, 401, "and has its own budget");
        assert_eq!(send(&app, &elsewhere, "job-5", true).await, 200);

        let mut stored: Vec<String> = callbacks::all_of_source(&app.db, "llm-callback").await.unwrap()
            .into_iter().map(|row| format!("{} from {}", row.callback_id, row.remote_addr.unwrap_or_default())).collect();
        stored.sort();
        assert_eq!(stored, ["job-1 from 127.0.0.1", "job-2 from 127.0.0.1", "job-4 from 127.0.0.2", "job-5 from 127.0.0.2"]);
    }

    async fn without_the_limit_every_bad_signature_is_answered_401(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = callback_body("job-probe", "workflow.completed");
        let bad = forged(&body);
        for attempt in 0..40 {
            let response = app.post_callback(&body, &[("x-webhook-signature", &bad)]).await;
            let status = response.status().as_u16();
            assert_eq!(status, 401, "attempt {attempt}: the limit is off by default");
        }
        json_with_status(app.post_signed(&body).await, 200).await;
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 1);
    }
}
