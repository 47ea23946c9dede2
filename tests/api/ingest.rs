//! The ingest contract: signatures, payload validation, what is stored.

use crate::helpers::*;
use hookbox::store::callbacks;

async fn stored_count(app: &TestApp) -> i64 {
    callbacks::count(&app.db).await.expect("count works")
}

on_both_backends! {
    async fn a_valid_callback_is_stored_with_every_field(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = r#"{"event":"workflow.failed","job_id":"job-42","workflow_name":"summarize",
            "status":"failed","error_message":"model timeout","timestamp":"2026-11-23T10:00:00Z",
            "result":{"partial":true},"extra_field":[1,2,3]}"#;
        let response = app
            .post_callback(body, &[
                ("x-webhook-signature", &sign(SECRET, body)),
                ("user-agent", "llm-service/1.0"),
            ])
            .await;
        let json = json_with_status(response, 200).await;
        assert_eq!(json["status"], "accepted");
        assert_eq!(json["callback_id"], "job-42");
        assert_eq!(json["duplicate"], false);
        let id = json["id"].as_i64().expect("numeric id");

        let row = callbacks::find(&app.db, id).await.expect("row stored");
        assert_eq!(row.body, body.as_bytes(), "raw body must be stored byte for byte");
        assert_eq!(row.source, "llm-callback");
        assert_eq!(row.callback_id, "job-42");
        assert_eq!(row.event, "workflow.failed");
        assert_eq!(row.workflow_name.as_deref(), Some("summarize"));
        assert_eq!(row.status.as_deref(), Some("failed"));
        assert_eq!(row.error_message.as_deref(), Some("model timeout"));
        assert_eq!(row.sent_at.map(|t| t.to_string()).as_deref(), Some("2026-11-23 10:00:00"));
        assert_eq!(row.payload_size as usize, body.len());
        assert_eq!(row.signature_verdict, "verified");
        assert_eq!(row.signature_scheme, "hmac-sha256-hex");
        assert_eq!(row.signature_header, sign(SECRET, body));
        assert_eq!(row.secret_label, SECRET_LABEL);
        assert_eq!(row.remote_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(row.user_agent.as_deref(), Some("llm-service/1.0"));
        assert_eq!(row.content_type.as_deref(), Some("application/json"));
        assert!(row.preview.starts_with("{\"event\":\"workflow.failed\""), "{}", row.preview);
        assert!(row.verified_at >= row.received_at);
        assert_eq!(row.body_sha256.len(), 64);
    }

    async fn a_lone_surrogate_in_free_text_is_stored_as_the_replacement_character(test_db) {
        // A sender that cut its error text in the middle of an emoji; a 400 is never retried.
        let app = TestApp::spawn(&test_db).await;
        let body = r#"{"event":"workflow.failed","job_id":"job-cut","error_message":"boom \ud83d"}"#;
        let json = json_with_status(app.post_signed(body).await, 200).await;
        let row = callbacks::find(&app.db, json["id"].as_i64().unwrap()).await.expect("row stored");
        assert_eq!(row.error_message.as_deref(), Some("boom \u{fffd}"));
        assert_eq!(row.body, body.as_bytes(), "the body is stored as received");
        let again = json_with_status(app.post_signed(body).await, 200).await;
        assert_eq!(again["duplicate"], true, "a retry is still a duplicate");
    }

    async fn signature_failures_are_401_and_store_nothing(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = callback_body("job-1", "workflow.completed");
        let wrong = sign("another-secret-value-0000", &body);
        let other_body = sign(SECRET, "{}");
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "missing_signature"),
            (vec![("x-webhook-signature", wrong.as_str())], "invalid_signature"),
            (vec![("x-webhook-signature", other_body.as_str())], "invalid_signature"),
            (vec![("x-webhook-signature", "sha256=zz")], "invalid_signature"),
            (vec![("x-webhook-signature", "sha1=0123")], "invalid_signature"),
            (vec![("x-webhook-signature", "")], "invalid_signature"),
        ];
        for (headers, code) in cases {
            let json = json_with_status(app.post_callback(&body, &headers).await, 401).await;
            assert_eq!(json["error"], code, "headers {headers:?}");
        }
        assert_eq!(stored_count(&app).await, 0, "a rejected request must store nothing");
    }

    async fn uppercase_hex_signatures_are_accepted(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = callback_body("job-upper", "workflow.completed");
        let upper = sign(SECRET, &body).to_uppercase();
        let response = app.post_callback(&body, &[("x-webhook-signature", &upper)]).await;
        json_with_status(response, 200).await;
    }

    async fn invalid_json_and_invalid_payloads_are_400_and_store_nothing(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let cases = [
            ("not json", "invalid_json", ""),
            ("{\"event\":", "invalid_json", ""),
            ("[1,2]", "invalid_payload", "object"),
            ("\"text\"", "invalid_payload", "object"),
            ("null", "invalid_payload", "object"),
            (r#"{"event":"e"}"#, "invalid_payload", "job_id"),
            (r#"{"event":"e","job_id":""}"#, "invalid_payload", "job_id"),
            (r#"{"event":"e","job_id":17}"#, "invalid_payload", "job_id"),
            (r#"{"job_id":"j"}"#, "invalid_payload", "event"),
            (r#"{"event":"e","job_id":"j","workflow_name":5}"#, "invalid_payload", "workflow_name"),
            (r#"{"event":"e","job_id":"j","status":{}}"#, "invalid_payload", "status"),
            (r#"{"event":"e","job_id":"j","error_message":[]}"#, "invalid_payload", "error_message"),
            (r#"{"event":"e","job_id":"j","timestamp":false}"#, "invalid_payload", "timestamp"),
        ];
        for (body, code, field) in cases {
            let json = json_with_status(app.post_signed(body).await, 400).await;
            assert_eq!(json["error"], code, "body {body}");
            let detail = json["detail"].as_str().expect("detail text");
            assert!(detail.contains(field), "detail {detail:?} should name {field:?} for {body}");
        }
        assert_eq!(stored_count(&app).await, 0);
    }

    async fn during_rotation_old_and_new_secrets_are_accepted_and_the_label_recorded(test_db) {
        let options = AppOptions {
            secrets: "old:old-secret-0123456789,new:new-secret-0123456789".into(),
            ..AppOptions::default()
        };
        let app = TestApp::spawn_with(&test_db, options).await;
        for (secret, label) in [("old-secret-0123456789", "old"), ("new-secret-0123456789", "new")] {
            let body = callback_body(&format!("job-{label}"), "workflow.completed");
            let response = app.post_callback(&body, &[("x-webhook-signature", &sign(secret, &body))]).await;
            let id = json_with_status(response, 200).await["id"].as_i64().expect("id");
            let row = callbacks::find(&app.db, id).await.expect("stored");
            assert_eq!(row.secret_label, label);
        }
        let body = callback_body("job-retired", "workflow.completed");
        let response = app.post_callback(&body, &[("x-webhook-signature", &sign(SECRET, &body))]).await;
        json_with_status(response, 401).await;
    }

    async fn other_methods_unknown_sources_and_encoded_bodies_get_json_errors(test_db) {
        let app = TestApp::spawn(&test_db).await;
        for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE] {
            let response = app.client.request(method.clone(), app.url(CALLBACK_PATH)).send().await.unwrap();
            assert_eq!(response.headers().get("allow").map(|v| v.to_str().unwrap()), Some("POST"));
            let json = json_with_status(response, 405).await;
            assert_eq!(json["error"], "method_not_allowed", "{method}");
        }
        let body = callback_body("job-x", "workflow.completed");
        let response = app
            .client
            .post(app.url("/api/webhooks/no-such-source"))
            .header("x-webhook-signature", sign(SECRET, &body))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(json_with_status(response, 404).await["error"], "unknown_source");
        let response = app
            .post_callback(&body, &[("x-webhook-signature", &sign(SECRET, &body)), ("content-encoding", "gzip")])
            .await;
        assert_eq!(json_with_status(response, 415).await["error"], "unsupported_content_encoding");
        let response = app.client.get(app.url("/nothing/here")).send().await.unwrap();
        assert_eq!(json_with_status(response, 404).await["error"], "not_found");
        assert_eq!(stored_count(&app).await, 0);
    }

    async fn health_and_readiness_answer(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(json_with_status(response, 200).await["status"], "ok");
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(json_with_status(response, 200).await["status"], "ready");
    }

    async fn every_response_carries_the_security_headers(test_db) {
        let app = TestApp::spawn(&test_db).await;
        for response in [
            app.client.get(app.url("/healthz")).send().await.unwrap(),
            app.post_signed("{}").await,
        ] {
            let headers = response.headers();
            let csp = headers.get("content-security-policy").expect("CSP").to_str().unwrap();
            assert!(csp.contains("default-src 'self'"), "{csp}");
            assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
            assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
            assert!(headers.get("referrer-policy").is_some());
        }
    }
}
