//! The dashboard in a real headless Chromium against the real server.

use std::time::Duration;

use hookbox::dashboard::DashboardSettings;
use serde_json::json;

use crate::helpers::browser::Browser;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

async fn sqlite_app(poll: Duration) -> (TestApp, TestDb) {
    let db = TestDb::create(Backend::Sqlite).await.expect("sqlite works");
    let dashboard = DashboardSettings {
        poll_interval: poll,
        ..DashboardSettings::default()
    };
    let app = TestApp::spawn_with(
        &db,
        AppOptions {
            dashboard,
            ..AppOptions::default()
        },
    )
    .await;
    (app, db)
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
