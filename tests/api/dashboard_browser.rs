//! The dashboard in a real headless Chromium against the real server.

use std::time::Duration;

use hookbox::dashboard::DashboardSettings;
use serde_json::{json, Value};

use crate::helpers::browser::Browser;
use crate::helpers::*;

pub const WAIT: Duration = Duration::from_secs(15);

pub async fn sqlite_app(poll: Duration) -> (TestApp, TestDb) {
    TestApp::spawn_sqlite(AppOptions {
        dashboard: DashboardSettings {
            poll_interval: poll,
            ..DashboardSettings::default()
        },
        ..AppOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_runs_its_script_under_the_content_security_policy() {
    let (app, _db) = sqlite_app(Duration::from_secs(10)).await;
    let Some(browser) = Browser::start("login_page_csp", &app.address).await else {
        return;
    };
    browser
        .check(async {
            browser.goto("/login?reason=expired").await;
            // login.js focuses the username field and shows the reason: both prove that the
            // module loaded and ran under `script-src 'self'`.
            browser
                .wait_until(
                    "document.activeElement?.id === 'username'",
                    WAIT,
                    "login.js to run",
                )
                .await;
            let message = browser.text("#login-message").await;
            assert_eq!(message, "Your session has expired. Please sign in again.");
            let styled = browser
                .js(
                    "return getComputedStyle(document.querySelector('.login-card')).borderRadius",
                    vec![],
                )
                .await;
            assert_eq!(styled, json!("12px"), "app.css must apply");

            browser.type_into("#username", "admin").await;
            browser.click("#login-submit").await;
            browser
                .wait_until(
                    "!document.querySelector('#login-error').hidden",
                    WAIT,
                    "the form error",
                )
                .await;
            assert_eq!(
                browser.text("#login-error").await,
                "Enter your username and password."
            );
            browser.assert_no_dialog("on the login page").await;
        })
        .await;
    browser.close().await;
}

pub const POLL: Duration = Duration::from_millis(2000);

/// Signs in as the first admin through the login form and waits for the dashboard.
pub async fn login(browser: &Browser) {
    login_at(browser, "/login").await;
}

/// `login` from the sign-in page at `path` (`/login?next=…`).
pub async fn login_at(browser: &Browser, path: &str) {
    browser.goto(path).await;
    submit_login_form(browser).await;
    browser
        .wait_until(
            "location.pathname === '/' && document.body.dataset.state === 'ready'",
            WAIT,
            &format!("the dashboard after signing in at {path}"),
        )
        .await;
}

/// Fills the sign-in form on the page shown with the first admin's credentials and submits it.
pub async fn submit_login_form(browser: &Browser) {
    browser
        .wait_until(
            "document.activeElement?.id === 'username'",
            WAIT,
            "the login form",
        )
        .await;
    browser.type_into("#username", "admin").await;
    browser.type_into("#password", ADMIN_PASSWORD).await;
    browser.click("#login-submit").await;
}

/// GET `path` on the API with the browser's session cookie; asserts 200.
pub async fn api_get(app: &TestApp, browser: &Browser, path: &str) -> serde_json::Value {
    let cookie = browser
        .client
        .get_named_cookie("hookbox_session")
        .await
        .expect("the browser holds a session cookie");
    let response = app
        .client
        .get(app.url(path))
        .header("cookie", format!("hookbox_session={}", cookie.value()))
        .send()
        .await
        .expect("request reaches the server");
    json_with_status(response, 200).await
}

/// Posts a signed callback; asserts 200 and returns its id.
pub async fn send(app: &TestApp, body: Value) -> i64 {
    let json = json_with_status(app.post_signed(&body.to_string()).await, 200).await;
    json["id"].as_i64().expect("numeric id")
}

/// Posts a completed callback of `job` (workflow `summarize`); returns its id.
pub async fn send_completed(app: &TestApp, job: &str) -> i64 {
    send(
        app,
        callback(job, "workflow.completed", "summarize", "completed", None),
    )
    .await
}

/// Waits until the Unread list shows `cards` callbacks.
pub async fn wait_for_cards(browser: &Browser, cards: usize) {
    browser
        .wait_until(
            &format!("document.querySelectorAll('#inbox-list li').length === {cards}"),
            WAIT,
            &format!("{cards} unread cards"),
        )
        .await;
}

/// A callback body of job `job`, with a small nested result.
pub fn callback(
    job: &str,
    event: &str,
    workflow: &str,
    status: &str,
    error: Option<&str>,
) -> Value {
    let mut body = json!({
        "job_id": job, "event": event, "workflow_name": workflow, "status": status,
        "timestamp": "2026-11-23T10:00:00Z",
        "result": { "partial": true, "tokens": 42, "pages": ["intro", "summary"] },
    });
    if let Some(error) = error {
        body["error_message"] = json!(error);
    }
    body
}

/// Waits for the dashboard's first check: the poller's cursor is stored.
pub async fn wait_poller_ready(browser: &Browser) {
    browser
        .wait_until(
            "localStorage.getItem('hookbox.cursor.admin')",
            WAIT,
            "the first check",
        )
        .await;
}
