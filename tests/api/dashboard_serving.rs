//! The dashboard's files: embedded in the binary or read from `--static-dir`, with the right
//! types, revalidation, security headers, and JSON 404s.

use std::time::Duration;

use hookbox::dashboard::DashboardSettings;

use crate::helpers::*;

async fn sqlite_app(dashboard: DashboardSettings) -> (TestApp, TestDb) {
    TestApp::spawn_sqlite(AppOptions {
        dashboard,
        ..AppOptions::default()
    })
    .await
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .send()
        .await
        .expect("request reaches the server")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header missing"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_root_serves_the_dashboard_with_security_headers_and_no_cache() {
    let (app, _db) = sqlite_app(DashboardSettings::default()).await;
    let response = get(&app, "/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "no-cache");
    assert!(header(&response, "etag").starts_with('"'));
    assert!(header(&response, "content-security-policy").contains("default-src 'self'"));
    assert!(header(&response, "content-security-policy").contains("script-src 'self'"));
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "x-frame-options"), "DENY");
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="/static/js/app.js">"#),
        "{html}"
    );

    let login = get(&app, "/login").await;
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("/static/js/login.js"));
}

#[tokio::test]
async fn every_asset_the_pages_load_is_served_with_its_type() {
    let (app, _db) = sqlite_app(DashboardSettings::default()).await;
    for (path, content_type) in [
        ("/static/js/app.js", "text/javascript; charset=utf-8"),
        ("/static/js/login.js", "text/javascript; charset=utf-8"),
        ("/static/js/jsontree.js", "text/javascript; charset=utf-8"),
        ("/static/css/app.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), content_type, "{path}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert!(
            !response.bytes().await.unwrap().is_empty(),
            "{path} is empty"
        );
    }
}

#[tokio::test]
async fn an_unchanged_file_revalidates_to_a_bodiless_304() {
    let (app, _db) = sqlite_app(DashboardSettings::default()).await;
    let first = get(&app, "/static/js/app.js").await;
    let etag = header(&first, "etag").to_owned();
    let again = app
        .client
        .get(app.url("/static/js/app.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let stale = app
        .client
        .get(app.url("/static/js/app.js"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn unknown_assets_and_traversal_attempts_are_json_404s() {
    let (app, _db) = sqlite_app(DashboardSettings::default()).await;
    for path in [
        "/static/nope.js",
        "/static/",
        "/static/js",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/.hidden",
        "/static/js/../../Cargo.toml",
    ] {
        let response = get(&app, path).await;
        let json = json_with_status(response, 404).await;
        assert_eq!(json["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn head_requests_get_the_headers_without_a_body() {
    let (app, _db) = sqlite_app(DashboardSettings::default()).await;
    let response = app.client.head(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_static_dir_serves_the_files_from_disk_and_picks_up_edits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("js")).unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><p>from disk</p>",
    )
    .unwrap();
    std::fs::write(dir.path().join("js/extra.js"), "export const x = 1;").unwrap();
    let (app, _db) = sqlite_app(DashboardSettings {
        static_dir: Some(dir.path().to_owned()),
        ..DashboardSettings::default()
    })
    .await;

    assert_eq!(
        get(&app, "/").await.text().await.unwrap(),
        "<!doctype html><p>from disk</p>"
    );
    let extra = get(&app, "/static/js/extra.js").await;
    assert_eq!(
        header(&extra, "content-type"),
        "text/javascript; charset=utf-8"
    );
    std::fs::write(dir.path().join("index.html"), "<p>edited</p>").unwrap();
    assert_eq!(get(&app, "/").await.text().await.unwrap(), "<p>edited</p>");
    json_with_status(get(&app, "/static/app.css").await, 404).await;
    json_with_status(get(&app, "/login").await, 404).await;
}

#[tokio::test]
async fn the_page_reads_its_poll_interval_and_request_timeout_from_the_config_endpoint() {
    let (app, _db) = TestApp::spawn_sqlite(AppOptions {
        dashboard: DashboardSettings {
            poll_interval: Duration::from_millis(1500),
            ..DashboardSettings::default()
        },
        acquire_timeout: Duration::from_secs(1),
        answer_timeout: Duration::from_secs(3),
        ..AppOptions::default()
    })
    .await;
    let json = json_with_status(get(&app, "/api/dashboard/config").await, 200).await;
    assert_eq!(json["poll_interval_ms"], 1500);
    // Twice (1 s for a connection + 3 s for the answers), and 5 s more.
    assert_eq!(json["request_timeout_ms"], 13_000);
}
