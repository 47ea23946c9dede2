//! The served OpenAPI document lists every route the app serves, and real responses validate
//! against the schemas it declares.

use serde_json::{json, Value};

use crate::helpers::*;

/// Every route the server answers, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/webhooks/{source}"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("get", "/api/admin/llm-callbacks/check"),
    ("get", "/api/admin/llm-callbacks"),
    ("get", "/api/admin/llm-callbacks/{id}"),
    ("post", "/api/admin/llm-callbacks/{id}/view"),
    ("post", "/api/admin/llm-callbacks/view-all"),
    ("get", "/api/admin/jobs/{job_id}"),
    ("get", "/api/admin/llm-callbacks/facets"),
    ("post", "/api/admin/sources/reload"),
    ("get", "/api/openapi.json"),
    ("get", "/api/admin/rejections"),
    ("get", "/metrics"),
];

/// Validates `instance` against the 200 response schema of `method path`.
fn validate(doc: &Value, method: &str, path: &str, instance: &Value) {
    let schema =
        &doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} declares a JSON 200 schema"
    );
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{method} {path}: {errors:?}\n{instance}");
    // The schema must be strict enough to refuse something.
    assert!(
        !validator.is_valid(&json!(42)),
        "{method} {path} schema accepts anything"
    );
}

on_both_backends! {
    async fn the_document_lists_every_route_and_real_responses_match_it(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let doc = json_with_status(app.client.get(app.url("/api/openapi.json")).send().await.unwrap(), 200).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1: {}", doc["openapi"]);
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            assert!(paths.get(*path).and_then(|p| p.get(*method)).is_some(), "{method} {path} is missing");
        }
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, ROUTES.len(), "the document lists a route the test does not know");

        let body = r#"{"event":"workflow.failed","job_id":"doc-1","status":"failed","error_message":"x","timestamp":"2026-11-23T10:00:00Z"}"#;
        let accepted = json_with_status(app.post_signed(body).await, 200).await;
        validate(&doc, "post", "/api/webhooks/{source}", &accepted);
        let id = accepted["id"].as_i64().unwrap();

        let login = json_with_status(app.post_login("admin", ADMIN_PASSWORD).await, 200).await;
        validate(&doc, "post", "/api/auth/login", &login);
        let admin = app.login_admin().await;
        let examples = [
            ("/api/auth/me", "/api/auth/me".to_owned()),
            ("/api/admin/llm-callbacks/check", "/api/admin/llm-callbacks/check".to_owned()),
            ("/api/admin/llm-callbacks", "/api/admin/llm-callbacks?limit=1".to_owned()),
            ("/api/admin/llm-callbacks/{id}", format!("/api/admin/llm-callbacks/{id}")),
            ("/api/admin/jobs/{job_id}", "/api/admin/jobs/doc-1".to_owned()),
            ("/api/admin/llm-callbacks/facets", "/api/admin/llm-callbacks/facets".to_owned()),
            ("/api/admin/rejections", "/api/admin/rejections?limit=5".to_owned()),
        ];
        for (template, path) in examples {
            validate(&doc, "get", template, &app.get_json(&admin, &path).await);
        }
        let view = json_with_status(app.post_as(&admin, &format!("/api/admin/llm-callbacks/{id}/view"), json!({})).await, 200).await;
        validate(&doc, "post", "/api/admin/llm-callbacks/{id}/view", &view);
        let cursor = hookbox::admin::cursor::Cursor::at(id).encode();
        let all = json_with_status(app.post_as(&admin, "/api/admin/llm-callbacks/view-all", json!({ "up_to": cursor })).await, 200).await;
        validate(&doc, "post", "/api/admin/llm-callbacks/view-all", &all);
        let out = json_with_status(app.post_as(&admin, "/api/auth/logout", json!({})).await, 200).await;
        validate(&doc, "post", "/api/auth/logout", &out);
    }
}
