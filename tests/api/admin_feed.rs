//! The admin API: per-user views, check and history paging, detail, jobs, facets.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::auth::Cred;
use crate::helpers::*;

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

/// Follows `next_cursor` of check from `cursor` until `has_more` is false.
async fn drain_check(
    app: &TestApp,
    cred: &Cred,
    mut cursor: String,
    limit: usize,
) -> (Vec<i64>, String) {
    let mut seen = Vec::new();
    loop {
        let page = app
            .get_json(
                cred,
                &format!("/api/admin/llm-callbacks/check?after={cursor}&limit={limit}"),
            )
            .await;
        let page_ids = ids(&page);
        assert!(page_ids.len() <= limit);
        assert!(
            page_ids.windows(2).all(|w| w[0] < w[1]),
            "check is oldest first: {page_ids:?}"
        );
        seen.extend(page_ids);
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if !page["has_more"].as_bool().unwrap() {
            return (seen, cursor);
        }
    }
}

on_both_backends! {
    async fn check_without_a_cursor_shows_the_latest_and_starts_at_the_head(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let posted = app.post_many("head", 5).await;
        let page = app.get_json(&admin, "/api/admin/llm-callbacks/check?limit=3").await;
        assert_eq!(ids(&page), posted[2..].to_vec(), "the 3 latest, oldest first");
        assert_eq!(page["has_more"], false);
        assert_eq!(page["unviewed_count"], 5);
        assert_eq!(page["unviewed_count_capped"], false);
        let item = &page["items"][0];
        for field in ["cursor", "callback_id", "source", "event", "workflow_name", "status", "error_message",
                      "outcome", "received_at", "sent_at", "preview", "payload_size", "signature"] {
            assert!(item.get(field).is_some(), "summary lacks {field}: {item}");
        }
        assert_eq!(item["outcome"], "success");
        assert_eq!(item["signature"]["verdict"], "verified");
        let head = page["next_cursor"].as_str().unwrap().to_owned();
        let empty = app.get_json(&admin, &format!("/api/admin/llm-callbacks/check?after={head}")).await;
        assert_eq!(ids(&empty), Vec::<i64>::new(), "nothing newer than the head");
        assert_eq!(empty["next_cursor"], head.as_str());
        let later = app.post_many("later", 2).await;
        let (seen, _) = drain_check(&app, &admin, head, 20).await;
        assert_eq!(seen, later);
    }

    async fn following_next_cursor_returns_every_unviewed_callback_exactly_once(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let head = app.get_json(&admin, "/api/admin/llm-callbacks/check").await["next_cursor"]
            .as_str().unwrap().to_owned();
        let posted = app.post_many("page", 23).await;
        for id in [posted[3], posted[10], posted[11]] {
            json_with_status(app.post_as(&admin, &format!("/api/admin/llm-callbacks/{id}/view"), json!({})).await, 200).await;
        }
        let (seen, _) = drain_check(&app, &admin, head, 4).await;
        let expected: Vec<i64> = posted.iter().copied()
            .filter(|id| ![posted[3], posted[10], posted[11]].contains(id)).collect();
        assert_eq!(seen, expected, "every unviewed callback once, in order, across pages");
    }

    async fn views_are_per_user(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("bob", "bob-password", true).await;
        let alice = app.login_admin().await;
        let bob = app.login("bob", "bob-password").await;
        let id = app.post_many("per-user", 1).await[0];
        let first = json_with_status(app.post_as(&alice, &format!("/api/admin/llm-callbacks/{id}/view"), json!({})).await, 200).await;
        let again = json_with_status(app.post_as(&alice, &format!("/api/admin/llm-callbacks/{id}/view"), json!({})).await, 200).await;
        assert_eq!(first, again, "marking is idempotent and keeps the first time");
        assert_eq!(first["id"], id);
        assert_eq!(app.get_json(&alice, "/api/admin/llm-callbacks/check").await["unviewed_count"], 0);
        assert_eq!(ids(&app.get_json(&bob, "/api/admin/llm-callbacks/check").await), vec![id]);
        assert_eq!(app.get_json(&alice, "/api/admin/llm-callbacks").await["items"][0]["viewed"], true);
        assert_eq!(app.get_json(&bob, "/api/admin/llm-callbacks").await["items"][0]["viewed"], false);
        assert!(app.get_json(&alice, &format!("/api/admin/llm-callbacks/{id}")).await["viewed_at"].is_string());
        assert!(app.get_json(&bob, &format!("/api/admin/llm-callbacks/{id}")).await["viewed_at"].is_null(),
            "reading the detail does not mark it viewed");
        let missing = app.post_as(&alice, "/api/admin/llm-callbacks/999999/view", json!({})).await;
        assert_eq!(json_with_status(missing, 404).await["error"], "not_found");
    }

    async fn concurrent_marks_of_one_callback_all_succeed(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let id = app.post_many("race", 1).await[0];
        let path = format!("/api/admin/llm-callbacks/{id}/view");
        let calls = (0..16).map(|_| app.post_as(&admin, &path, json!({})));
        for response in futures_util::future::join_all(calls).await {
            assert_eq!(response.status(), 200);
        }
    }

    async fn view_all_marks_up_to_the_cursor_for_this_user(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let posted = app.post_many("all", 6).await;
        let cursor = hookbox::admin::cursor::Cursor::at(posted[3]).encode();
        let marked = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", json!({ "up_to": cursor })).await, 200).await;
        assert_eq!(marked, json!({ "marked": 4 }));
        let again = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", json!({ "up_to": cursor })).await, 200).await;
        assert_eq!(again, json!({ "marked": 0 }));
        assert_eq!(ids(&app.get_json(&admin, "/api/admin/llm-callbacks/check").await), posted[4..].to_vec());
        let bad = app.post_as(&admin, "/api/admin/llm-callbacks/view-all", json!({ "up_to": "nope" })).await;
        assert_eq!(json_with_status(bad, 400).await, json!({ "error": "invalid_cursor" }));
        let missing = app.post_as(&admin, "/api/admin/llm-callbacks/view-all", json!({})).await;
        assert_eq!(json_with_status(missing, 400).await["error"], "invalid_request");
    }

    async fn check_refuses_a_cursor_above_every_id_ever_drawn_but_not_one_from_before_a_purge(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let posted = app.post_many("drawn", 3).await;
        let check_after = |id: i64| format!("/api/admin/llm-callbacks/check?after={}", hookbox::admin::cursor::Cursor::at(id).encode());
        // From another database, or this one before it was reset: never handed out here.
        let foreign = app.get_as(&admin, &check_after(posted[2] + 1000)).await;
        assert_eq!(json_with_status(foreign, 400).await, json!({ "error": "invalid_cursor" }));
        let head = app.get_json(&admin, &check_after(posted[2])).await;
        assert_eq!(head["next_cursor"], hookbox::admin::cursor::Cursor::at(posted[2]).encode());
        // Every callback purged: the newest cursor handed out is above them all, and still good.
        let purged = hookbox::retention::purge_before(&app.db, chrono::Utc::now().naive_utc() + chrono::Duration::hours(1),
                                                      &hookbox::retention::RetentionPolicy::days(1),
                                                      &hookbox::metrics::Metrics::default()).await.unwrap();
        assert_eq!(purged, 3);
        let after_purge = app.get_json(&admin, &check_after(posted[2])).await;
        assert_eq!(ids(&after_purge), Vec::<i64>::new());
        assert_eq!(after_purge["next_cursor"], hookbox::admin::cursor::Cursor::at(posted[2]).encode());
        let newer = app.post_many("after-purge", 1).await;
        assert_eq!(ids(&app.get_json(&admin, &check_after(posted[2])).await), newer);
    }

    async fn view_all_is_a_watermark_that_keeps_first_view_times_and_never_covers_later_callbacks(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        app.add_user("watermark-other", "another-long-password", true).await;
        let other = app.login("watermark-other", "another-long-password").await;
        let posted = app.post_many("mark", 6).await;
        let detail = |id: i64| format!("/api/admin/llm-callbacks/{id}");
        let opened = json_with_status(app.post_as(&admin, &format!("{}/view", detail(posted[1])), json!({})).await, 200).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let up_to = |id: i64| json!({ "up_to": hookbox::admin::cursor::Cursor::at(id).encode() });
        let marked = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", up_to(posted[3])).await, 200).await;
        assert_eq!(marked, json!({ "marked": 3 }), "the one opened before is not counted again");
        let first_view = app.get_json(&admin, &detail(posted[1])).await["viewed_at"].clone();
        assert_eq!(first_view, opened["viewed_at"], "an earlier view keeps its time");
        let by_mark = app.get_json(&admin, &detail(posted[2])).await["viewed_at"].clone();
        assert!(by_mark.is_string() && by_mark != first_view, "{by_mark}");
        assert!(app.get_json(&admin, &detail(posted[4])).await["viewed_at"].is_null());
        let reopened = json_with_status(app.post_as(&admin, &format!("{}/view", detail(posted[2])), json!({})).await, 200).await;
        assert_eq!(reopened["viewed_at"], by_mark, "opening it later keeps the first time");

        let history = app.get_json(&admin, "/api/admin/llm-callbacks?limit=10").await;
        let flags: Vec<(i64, bool)> = history["items"].as_array().unwrap().iter()
            .map(|i| (i["id"].as_i64().unwrap(), i["viewed"].as_bool().unwrap())).collect();
        let expected: Vec<(i64, bool)> = posted.iter().rev().map(|&id| (id, id <= posted[3])).collect();
        assert_eq!(flags, expected);
        let check = app.get_json(&admin, "/api/admin/llm-callbacks/check").await;
        assert_eq!(ids(&check), posted[4..].to_vec());
        assert_eq!((check["unviewed_count"].clone(), check["unviewed_count_capped"].clone()), (json!(2), json!(false)));

        let older = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", up_to(posted[2])).await, 200).await;
        assert_eq!(older, json!({ "marked": 0 }), "a mark never moves back");
        let ahead = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", up_to(posted[5] + 1000)).await, 200).await;
        assert_eq!(ahead, json!({ "marked": 2 }));
        let later = app.post_many("after-mark", 2).await;
        let check = app.get_json(&admin, "/api/admin/llm-callbacks/check").await;
        assert_eq!(ids(&check), later, "a cursor ahead of the newest callback does not mark later ones");
        assert_eq!(check["unviewed_count"], 2);
        let theirs = app.get_json(&other, "/api/admin/llm-callbacks/facets").await;
        assert_eq!(theirs["unviewed_count"], 8, "another user's marks are their own");
    }

    async fn the_unread_count_looks_at_the_newest_hundred_above_the_mark(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        hookbox::store::seed::callbacks(&app.db, 1, 103).await.unwrap();
        let count = |page: &Value| (page["unviewed_count"].as_i64().unwrap(), page["unviewed_count_capped"].as_bool().unwrap());
        let facets = app.get_json(&admin, "/api/admin/llm-callbacks/facets").await;
        assert_eq!(count(&facets), (100, true));
        for id in [103, 102, 2] {
            json_with_status(app.post_as(&admin, &format!("/api/admin/llm-callbacks/{id}/view"), json!({})).await, 200).await;
        }
        let check = app.get_json(&admin, "/api/admin/llm-callbacks/check?limit=1").await;
        assert_eq!(count(&check), (98, true), "the newest 100 less the two opened among them; #2 is outside");
        assert_eq!(ids(&check), vec![101]);
        let up_to = json!({ "up_to": hookbox::admin::cursor::Cursor::at(10).encode() });
        let marked = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", up_to).await, 200).await;
        assert_eq!(marked, json!({ "marked": 9 }), "#2 was opened before");
        let facets = app.get_json(&admin, "/api/admin/llm-callbacks/facets").await;
        assert_eq!(count(&facets), (91, false), "93 above the mark, two of them opened");
    }

    async fn every_history_page_flags_the_users_own_views_and_watermark(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("flags-other", "another-long-password", true).await;
        let admin = app.login_admin().await;
        let other = app.login("flags-other", "another-long-password").await;
        let posted = app.post_many("flags", 7).await;
        let up_to = json!({ "up_to": hookbox::admin::cursor::Cursor::at(posted[1]).encode() });
        json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", up_to).await, 200).await;
        for opened in [posted[3], posted[6]] {
            json_with_status(app.post_as(&admin, &format!("/api/admin/llm-callbacks/{opened}/view"), json!({})).await, 200).await;
        }
        json_with_status(app.post_as(&other, &format!("/api/admin/llm-callbacks/{}/view", posted[4]), json!({})).await, 200).await;
        // Pages of two: the first page and the deeper ones are read by different statements.
        let mut flags = Vec::new();
        let mut path = "/api/admin/llm-callbacks?limit=2".to_owned();
        loop {
            let page = app.get_json(&admin, &path).await;
            flags.extend(page["items"].as_array().unwrap().iter()
                .map(|i| (i["id"].as_i64().unwrap(), i["viewed"].as_bool().unwrap())));
            match page["next_cursor"].as_str() {
                Some(next) => path = format!("/api/admin/llm-callbacks?limit=2&before={next}"),
                None => break,
            }
        }
        let viewed = [posted[0], posted[1], posted[3], posted[6]];
        let expected: Vec<(i64, bool)> = posted.iter().rev().map(|&id| (id, viewed.contains(&id))).collect();
        assert_eq!(flags, expected, "marked up to the 2nd, opened the 4th and 7th; another user opened the 5th");
    }

    async fn history_pages_cover_every_matching_row_once_newest_first(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let mut failed = Vec::new();
        for i in 0..17 {
            let event = if i % 3 == 0 { "workflow.failed" } else { "workflow.completed" };
            let body = serde_json::json!({
                "event": event, "job_id": format!("hist-{i}"),
                "workflow_name": if i % 2 == 0 { "even_flow" } else { "odd-flow" },
                "status": if i % 3 == 0 { "failed" } else { "completed" },
                "error_message": if i % 3 == 0 { Some(format!("Model TIMEOUT 50%_{i}")) } else { None },
            }).to_string();
            let id = json_with_status(app.post_signed(&body).await, 200).await["id"].as_i64().unwrap();
            if i % 3 == 0 && i % 2 == 0 { failed.push(id); }
        }
        failed.reverse();
        for query in ["status=failed&workflow_name=even_flow", "q=timeout%2050%25_&workflow_name=even_flow",
                      "event=workflow.failed&workflow_name=even_flow&source=llm-callback"] {
            let mut seen = Vec::new();
            let mut path = format!("/api/admin/llm-callbacks?{query}&limit=1");
            loop {
                let page = app.get_json(&admin, &path).await;
                seen.extend(ids(&page));
                match page["next_cursor"].as_str() {
                    Some(next) => {
                        assert_eq!(page["has_more"], true);
                        path = format!("/api/admin/llm-callbacks?{query}&limit=1&before={next}");
                    }
                    None => { assert_eq!(page["has_more"], false); break; }
                }
            }
            assert_eq!(seen, failed, "{query}");
        }
        let all = app.get_json(&admin, "/api/admin/llm-callbacks?limit=200").await;
        assert_eq!(ids(&all).len(), 17);
        assert_eq!(ids(&app.get_json(&admin, "/api/admin/llm-callbacks?q=no-such-text").await).len(), 0);
        let seen: HashSet<i64> = ids(&all).into_iter().collect();
        assert_eq!(seen.len(), 17);
    }

    async fn bad_cursors_and_limits_are_400_in_the_json_envelope(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        for path in ["/api/admin/llm-callbacks/check?after=%%%", "/api/admin/llm-callbacks?before=bm9wZQ"] {
            assert_eq!(json_with_status(app.get_as(&admin, path).await, 400).await, json!({ "error": "invalid_cursor" }), "{path}");
        }
        for path in ["/api/admin/llm-callbacks/check?limit=0", "/api/admin/llm-callbacks/check?limit=101",
                     "/api/admin/llm-callbacks?limit=201", "/api/admin/llm-callbacks?limit=abc"] {
            assert_eq!(json_with_status(app.get_as(&admin, path).await, 400).await["error"], "invalid_request", "{path}");
        }
        assert_eq!(json_with_status(app.get_as(&admin, "/api/admin/llm-callbacks/12345").await, 404).await,
            json!({ "error": "not_found" }));
        assert_eq!(json_with_status(app.get_as(&admin, "/api/admin/llm-callbacks/abc").await, 404).await,
            json!({ "error": "not_found" }));
    }

    async fn detail_passes_on_every_body_ingest_accepted_as_json(test_db) {
        // Ingest checks only the syntax of the fields it does not read; a `serde_json::Value`
        // refuses each of these, and the detail showed the body as one string.
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for body in [
            r#"{"event":"workflow.completed","job_id":"surrogate","output":"cut\ud83d"}"#.to_owned(),
            r#"{"event":"workflow.completed","job_id":"huge","x":1e400}"#.to_owned(),
            format!(r#"{{"event":"workflow.completed","job_id":"deep","input":{deep}}}"#),
        ] {
            let id = json_with_status(app.post_signed(&body).await, 200).await["id"].as_i64().unwrap();
            let detail = app.get_as(&admin, &format!("/api/admin/llm-callbacks/{id}")).await;
            assert_eq!(detail.status(), 200);
            let text = detail.text().await.unwrap();
            assert!(text.contains(&format!(r#""payload":{body}"#)), "{body}: {text}");
        }
    }

    async fn detail_shows_everything_stored_and_raw_gives_the_bytes(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let body = r#"{"event":"workflow.failed","job_id":"job-d","status":"failed","error_message":"boom","result":{"n":1}}"#;
        let id = json_with_status(app.post_signed(body).await, 200).await["id"].as_i64().unwrap();
        let detail = app.get_json(&admin, &format!("/api/admin/llm-callbacks/{id}")).await;
        assert_eq!(detail["payload"]["result"]["n"], 1);
        assert_eq!(detail["signature"]["header"], sign(SECRET, body).as_str());
        assert_eq!(detail["signature"]["secret_label"], SECRET_LABEL);
        assert_eq!(detail["outcome"], "failure");
        assert_eq!(detail["remote_addr"], "127.0.0.1");
        assert_eq!(detail["content_type"], "application/json");
        assert!(detail["delivery_key"].is_string());
        assert!(detail["viewed_at"].is_null());
        let raw = app.get_as(&admin, &format!("/api/admin/llm-callbacks/{id}?raw=1")).await;
        assert_eq!(raw.status(), 200);
        assert_eq!(raw.headers()["content-type"], "application/octet-stream");
        assert!(raw.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        assert_eq!(raw.bytes().await.unwrap().as_ref(), body.as_bytes());
        let explicit_json = app.get_json(&admin, &format!("/api/admin/llm-callbacks/{id}?raw=0")).await;
        assert_eq!(explicit_json["payload"], detail["payload"]);
        for unknown in ["true", "yes", ""] {
            let refused = app.get_as(&admin, &format!("/api/admin/llm-callbacks/{id}?raw={unknown}")).await;
            let answer = json_with_status(refused, 400).await;
            assert_eq!(answer["error"], "invalid_request", "raw={unknown}: {answer}");
        }
        // Refused before the row is looked up: a missing callback with a bad `raw` is a 400, not a 404.
        let missing = app.get_as(&admin, &format!("/api/admin/llm-callbacks/{}?raw=yes", id + 1_000_000)).await;
        assert_eq!(json_with_status(missing, 400).await["error"], "invalid_request");
    }

    async fn a_search_finds_text_outside_ascii_as_it_was_written(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let body = json!({ "event": "workflow.failed", "job_id": "job-fr", "status": "failed",
                           "error_message": "Délai DÉPASSÉ pour le modèle" }).to_string();
        let id = json_with_status(app.post_signed(&body).await, 200).await["id"].as_i64().unwrap();
        for q in ["D%C3%89PASS%C3%89", "d%C3%A9lai", "D%C3%89LAI", "mod%C3%A8le"] {
            let found = app.get_json(&admin, &format!("/api/admin/llm-callbacks?q={q}")).await;
            assert_eq!(ids(&found), [id], "q={q}");
        }
    }

    async fn search_finds_text_typed_as_stored_whatever_letters_it_holds(test_db) {
        // Rust's and Postgres' lower case differ on some letters (a word-final capital sigma,
        // the dotted capital I): the pattern is folded by the database, like the text.
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let body = json!({ "event": "workflow.failed", "job_id": "job-gr", "status": "failed",
                           "error_message": "ΛΗΞΗ ΧΡΟΝΟΥ ΑΝΑΜΟΝΗΣ İstanbul" }).to_string();
        let id = json_with_status(app.post_signed(&body).await, 200).await["id"].as_i64().unwrap();
        for q in ["ΑΝΑΜΟΝΗΣ", "ΧΡΟΝΟΥ ΑΝΑΜΟΝΗΣ", "İstanbul"] {
            let found = app.get_json(&admin, &format!("/api/admin/llm-callbacks?q={q}")).await;
            assert_eq!(ids(&found), [id], "q={q}");
        }
    }

    async fn a_job_lists_its_callbacks_in_sender_order_and_flags_conflicts(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let sent = [("workflow.completed", "2026-11-23T10:00:03Z"), ("llm.step.completed", "2026-11-23T10:00:01Z"),
                    ("workflow.failed", "2026-11-23T10:00:02Z")];
        for (event, timestamp) in sent {
            let body = json!({ "event": event, "job_id": "job-j", "timestamp": timestamp }).to_string();
            json_with_status(app.post_signed(&body).await, 200).await;
        }
        let job = app.get_json(&admin, "/api/admin/jobs/job-j").await;
        let events: Vec<&str> = job["callbacks"].as_array().unwrap().iter().map(|c| c["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["llm.step.completed", "workflow.failed", "workflow.completed"]);
        assert_eq!(job["conflict"], true);
        assert_eq!(job["outcome"], "success");
        assert_eq!(job["job_id"], "job-j");
        assert_eq!(json_with_status(app.get_as(&admin, "/api/admin/jobs/none").await, 404).await["error"], "not_found");
        // Postgres refuses NUL in text: the id is refused before it reaches the database.
        let nul = json_with_status(app.get_as(&admin, "/api/admin/jobs/job%00j").await, 400).await;
        assert_eq!(nul["error"], "invalid_request", "{nul}");
    }

    async fn a_job_with_more_callbacks_than_listed_keeps_its_newest_and_says_so(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        let app = &app;
        let post = move |event: &str, step: usize| {
            let body = json!({ "event": event, "job_id": "long", "status": "running", "step": step }).to_string();
            async move { json_with_status(app.post_signed(&body).await, 200).await }
        };
        post("workflow.completed", 0).await;
        for chunk in (1..1000).collect::<Vec<_>>().chunks(50) {
            futures_util::future::join_all(chunk.iter().map(|&step| post("llm.step.started", step))).await;
        }
        post("workflow.failed", 1000).await;
        let job = app.get_json(&admin, "/api/admin/jobs/long").await;
        let events: Vec<&str> = job["callbacks"].as_array().unwrap().iter().map(|c| c["event"].as_str().unwrap()).collect();
        assert_eq!(events.len(), 1000);
        assert_eq!(events.last(), Some(&"workflow.failed"), "the newest is kept");
        assert!(!events.contains(&"workflow.completed"), "the oldest is left out");
        assert_eq!(job["truncated"], true);
        assert_eq!(job["outcome"], "failure");
        assert_eq!(job["conflict"], false, "over the callbacks listed");
        let short = app.post_many("short", 1).await;
        assert_eq!(short.len(), 1);
        assert_eq!(app.get_json(&admin, "/api/admin/jobs/short-0").await["truncated"], false);
    }

    async fn facets_list_distinct_values_and_the_unviewed_count(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let admin = app.login_admin().await;
        app.post_many("facet", 2).await;
        let body = json!({ "event": "workflow.failed", "job_id": "f", "status": "failed", "workflow_name": "other" }).to_string();
        json_with_status(app.post_signed(&body).await, 200).await;
        let facets = app.get_json(&admin, "/api/admin/llm-callbacks/facets").await;
        assert_eq!(facets, json!({
            "workflow_names": ["other", "summarize-report"], "statuses": ["completed", "failed"],
            "events": ["workflow.completed", "workflow.failed"], "sources": ["llm-callback"],
            "unviewed_count": 3, "unviewed_count_capped": false,
        }));
    }
}

/// A search the database does not answer within `--db-answer-timeout-ms` (here: it waits for a
/// lock another session holds on `callbacks`) is a `504 database_timeout` that says how long it
/// waited, not the `503 storage_unavailable` of a database that cannot be reached; the same
/// search is answered once the database answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_the_database_does_not_answer_in_time_is_a_504_database_timeout() {
    let Some((app, test_db)) = TestApp::spawn_postgres(AppOptions {
        answer_timeout: std::time::Duration::from_millis(500),
        ..AppOptions::default()
    })
    .await
    else {
        return;
    };
    let admin = app.login_admin().await;
    app.post_many("slow-search", 3).await;
    let search = "/api/admin/llm-callbacks?q=slow-search";

    let mut lock = test_db.lock_table("callbacks").await;
    let refused = app.get_as(&admin, search).await;
    assert_eq!(refused.headers().get("retry-after"), None);
    let answer = json_with_status(refused, 504).await;
    assert_eq!(
        answer,
        json!({
            "error": "database_timeout",
            "detail": "the database did not answer within 500 ms"
        })
    );

    TestDb::unlock(&mut lock).await;
    assert_eq!(ids(&app.get_json(&admin, search).await).len(), 3);
}
