//! The dashboard's main paths in a real browser against the real admin API: a signed callback
//! becomes a toast, opens in the detail view, counts as viewed; history filters; sign-out and
//! an ended session.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use fantoccini::key::Key;
use fantoccini::Locator;
use hookbox::dashboard::DashboardSettings;
use serde_json::json;

use crate::dashboard_browser::{
    api_get, callback, login, login_at, send, send_completed, sqlite_app, submit_login_form,
    wait_for_cards, wait_poller_ready, POLL, WAIT,
};
use crate::helpers::browser::Browser;
use crate::helpers::proxy::ChaosProxy;
use crate::helpers::*;

/// A toast must show within one poll interval of the callback being stored; the slack covers
/// the request, the rendering and a busy CI machine, and is still below the default 10 s.
const ONE_POLL: Duration = Duration::from_millis(POLL.as_millis() as u64 + 3000);

/// JS: how many rows the history table shows.
const HISTORY_ROWS: &str = "document.querySelectorAll('#history-rows tr').length";
/// JS: true once the history table is not loading.
const HISTORY_SETTLED: &str = "!document.querySelector('#history-table').hasAttribute('aria-busy')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_callback_toasts_opens_in_detail_and_is_then_viewed() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("toast_detail_viewed", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            browser
                .wait_until(
                    "!document.querySelector('#inbox-empty').hidden",
                    WAIT,
                    "the empty state",
                )
                .await;
            let empty = browser.text("#inbox-empty").await;
            assert!(
                empty.contains("No callbacks yet") && empty.contains("hookbox send-test"),
                "{empty}"
            );
            assert_eq!(browser.text("#unread-count").await, "0");
            wait_poller_ready(&browser).await;

            let id = send(
                &app,
                callback(
                    "job-e2e-1",
                    "workflow.failed",
                    "summarize-report",
                    "failed",
                    Some("model timeout"),
                ),
            )
            .await;
            browser
                .wait_until(
                    "document.querySelector('.toast .toast-view')",
                    ONE_POLL,
                    "a toast within one poll interval",
                )
                .await;
            let toast = browser.text(".toast").await;
            for expected in [
                "workflow.failed",
                "summarize-report",
                "job-e2e-1",
                "failed",
                "✕",
                "model timeout",
                "View details",
            ] {
                assert!(
                    toast.contains(expected),
                    "toast lacks {expected:?}: {toast}"
                );
            }
            assert!(
                toast.contains("just now") || toast.contains("s ago"),
                "toast shows no age: {toast}"
            );
            let class = browser
                .js("return document.querySelector('.toast').className", vec![])
                .await;
            assert!(
                class.as_str().unwrap().contains("toast-failure"),
                "failure colour: {class}"
            );
            browser
                .wait_until(
                    "document.title === '(1) Hookbox'",
                    WAIT,
                    "the count in the title",
                )
                .await;
            assert_eq!(browser.text("#unread-count").await, "1");

            browser.click(".toast .toast-view").await;
            browser
                .wait_until(
                    "document.querySelector('#panel[open] .json-tree')",
                    WAIT,
                    "the detail view",
                )
                .await;
            assert_eq!(browser.text(".detail-event").await, "workflow.failed");
            assert_eq!(browser.text(".detail-job").await, "job-e2e-1");
            assert_eq!(browser.text(".detail-workflow").await, "summarize-report");
            assert_eq!(browser.text(".detail-error").await, "model timeout");
            let signature = browser.text(".signature").await;
            for expected in ["Signature verified", "hmac-sha256-hex", "primary"] {
                assert!(
                    signature.contains(expected),
                    "signature lacks {expected:?}: {signature}"
                );
            }
            let fields = browser.text(".fields").await;
            for expected in ["127.0.0.1", "llm-callback", "application/json", "sha256="] {
                assert!(
                    fields.contains(expected),
                    "fields lack {expected:?}: {fields}"
                );
            }
            let tree = browser.text(".json-tree").await;
            for expected in ["result", "tokens", "42", "pages", "partial", "true"] {
                assert!(tree.contains(expected), "tree lacks {expected:?}: {tree}");
            }

            // Viewed: the counter drops, and the API agrees.
            browser
                .wait_until("document.title === 'Hookbox'", WAIT, "the count to drop")
                .await;
            assert_eq!(browser.text("#unread-count").await, "0");
            let detail = api_get(&app, &browser, &format!("/api/admin/llm-callbacks/{id}")).await;
            assert!(
                detail["viewed_at"].is_string(),
                "the API must say viewed: {detail}"
            );
            let check = api_get(&app, &browser, "/api/admin/llm-callbacks/check").await;
            assert_eq!(check["unviewed_count"], 0, "{check}");

            // The tree folds, and Esc closes the panel.
            browser.click_button_with_text("Collapse all").await;
            let open = browser
                .js(
                    "return document.querySelectorAll('.json-tree details[open]').length",
                    vec![],
                )
                .await;
            assert_eq!(open, json!(1), "only the root stays open");
            browser.click_button_with_text("Expand all").await;
            assert!(browser.text(".json-tree").await.contains("intro"));
            browser.press(Key::Escape).await;
            browser
                .wait_until(
                    "!document.querySelector('#panel').open",
                    WAIT,
                    "Esc to close the panel",
                )
                .await;

            // A burst becomes one summary toast rather than a wall.
            browser
                .js(
                    "document.querySelectorAll('.toast').forEach(t => t.remove())",
                    vec![],
                )
                .await;
            // Stored in one statement, so that they become visible together and one poll
            // finds all five: sent one by one, a poll may fall between two of them.
            hookbox::store::seed::callbacks(&app.db, 1_000_001, 1_000_005)
                .await
                .unwrap();
            browser
                .wait_until(
                    "document.querySelector('.toast-summary')",
                    ONE_POLL,
                    "a summary toast",
                )
                .await;
            assert_eq!(
                browser
                    .js("return document.querySelectorAll('.toast').length", vec![])
                    .await,
                json!(1)
            );
            assert!(browser
                .text(".toast-summary")
                .await
                .contains("5 new callbacks"));
            browser
                .wait_until("document.title === '(5) Hookbox'", WAIT, "five unread")
                .await;
            browser.assert_no_dialog("after the flow").await;
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_narrow_the_table_and_live_in_the_url() {
    let (app, _db) = sqlite_app(POLL).await;
    send_completed(&app, "job-h1").await;
    send(
        &app,
        callback(
            "job-h2",
            "workflow.failed",
            "translate",
            "failed",
            Some("quota exceeded"),
        ),
    )
    .await;
    send(
        &app,
        callback(
            "job-h3",
            "workflow.failed",
            "summarize",
            "failed",
            Some("timeout"),
        ),
    )
    .await;
    let Some(browser) = Browser::start("history_filters", &app.address).await else {
        return;
    };
    let rows = HISTORY_ROWS;
    browser
        .check(async {
            login(&browser).await;
            browser.click("#tab-history").await;
            browser.wait_until(&format!("{rows} === 3"), WAIT, "three rows").await;
            assert!(browser.text("#history-rows tr").await.contains("job-h3"), "newest first");
            assert_eq!(browser.js("return document.querySelectorAll('.row-unread').length", vec![]).await, json!(3));

            let status = browser.client.find(Locator::Css("select[name=status]")).await.unwrap();
            status.select_by_value("failed").await.unwrap();
            browser.wait_until(&format!("{rows} === 2"), WAIT, "the status filter").await;
            let table = browser.text("#history-rows").await;
            assert!(!table.contains("job-h1") && table.contains("job-h2"), "{table}");
            let workflow = browser.client.find(Locator::Css("select[name=workflow_name]")).await.unwrap();
            workflow.select_by_value("translate").await.unwrap();
            browser.wait_until(&format!("{rows} === 1"), WAIT, "both filters").await;
            let url = browser.client.current_url().await.unwrap().to_string();
            assert!(url.contains("tab=history") && url.contains("status=failed") && url.contains("workflow_name=translate"), "{url}");

            // The URL alone restores the view.
            browser.goto(&url[app.address.len()..]).await;
            browser.wait_until(&format!("document.body.dataset.state === 'ready' && {rows} === 1"), WAIT, "the restored view").await;
            assert_eq!(browser.js("return document.querySelector('select[name=status]').value", vec![]).await, json!("failed"));
            assert!(browser.text("#history-rows").await.contains("job-h2"));

            browser.click("#filters button[type=reset]").await;
            browser.wait_until(&format!("{rows} === 3"), WAIT, "cleared filters").await;
            browser.type_into("input[name=q]", "job-h3").await;
            browser.wait_until(&format!("{rows} === 1"), WAIT, "the text search").await;
            assert!(browser.text("#history-rows").await.contains("timeout"));

            // Open by keyboard-reachable button; Esc closes and gives focus back.
            browser.js("document.querySelector('#history-rows .row-open').focus()", vec![]).await;
            browser.click("#history-rows .row-open").await;
            browser.wait_until("document.querySelector('#panel[open] .json-tree')", WAIT, "the detail").await;
            // Tab goes on from the last toolbar button into the JSON tree: its nodes open by keyboard.
            browser.js("[...document.querySelectorAll('#panel button')].find(b => b.textContent === 'Copy JSON').focus()", vec![]).await;
            browser.press(Key::Tab).await;
            browser.wait_until("document.activeElement?.matches('#panel .json-tree summary')", WAIT, "a tree node focused").await;
            browser.press(Key::Escape).await;
            browser.wait_until("!document.querySelector('#panel').open", WAIT, "the panel to close").await;
            browser
                .wait_until("document.activeElement?.classList.contains('row-open')", WAIT, "focus back on the row")
                .await;
            browser.wait_until("document.querySelectorAll('.row-unread').length === 0", WAIT, "the row marked read").await;

            // The job timeline warns about conflicting outcomes.
            send_completed(&app, "job-h3").await;
            browser.click("#history-rows .row-job").await;
            browser.wait_until("document.querySelectorAll('.timeline-step').length === 2", WAIT, "the timeline").await;
            assert!(browser.text(".timeline-conflict").await.contains("Conflicting outcomes"));
            browser.press(Key::Escape).await;

            browser.click("#filters button[type=reset]").await;
            browser.wait_until(&format!("{rows} === 4"), WAIT, "all rows").await;
            browser.click("#history-mark-all").await;
            browser.wait_until("document.querySelectorAll('.row-unread').length === 0 && document.title === 'Hookbox'", WAIT, "all read").await;
            let check = api_get(&app, &browser, "/api/admin/llm-callbacks/check").await;
            assert_eq!(check["unviewed_count"], 0, "{check}");
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_and_an_ended_session_return_to_the_login_page() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("logout_expiry", &app.address).await else {
        return;
    };
    browser
        .check(async {
            browser.goto("/").await;
            browser
                .wait_until("location.pathname === '/login'", WAIT, "no session → login")
                .await;
            browser.type_into("#username", "admin").await;
            browser.type_into("#password", "not-the-password").await;
            browser.click("#login-submit").await;
            browser
                .wait_until(
                    "!document.querySelector('#login-error').hidden",
                    WAIT,
                    "the error",
                )
                .await;
            assert_eq!(
                browser.text("#login-error").await,
                "Wrong username or password."
            );

            login(&browser).await;
            let cookie = session_cookie(&browser).await;
            browser.click("#logout").await;
            browser
                .wait_until("location.pathname === '/login'", WAIT, "the login page")
                .await;
            assert_eq!(browser.text("#login-message").await, "You are signed out.");
            let me = app
                .client
                .get(app.url("/api/auth/me"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(me.status(), 401, "the session must be gone server-side");

            // A session that ends while the page is open (here: deleted server-side).
            login(&browser).await;
            end_session_and_wait_for_login_page(&app, &browser).await;
            browser
                .wait_until(
                    "!document.querySelector('#login-message').hidden",
                    WAIT,
                    "the message",
                )
                .await;
            assert_eq!(
                browser.text("#login-message").await,
                "Your session has expired. Please sign in again."
            );

            // Signed in again, the page is back where the session ended: tab and filters.
            let filtered = "/?tab=history&status=failed";
            login_at(&browser, "/login?next=/?tab=history%26status=failed").await;
            end_session_and_wait_for_login_page(&app, &browser).await;
            let next = browser
                .js(
                    "return new URLSearchParams(location.search).get('next')",
                    vec![],
                )
                .await;
            assert_eq!(next, filtered);
            submit_login_form(&browser).await;
            browser
                .wait_until(
                    &format!("location.pathname + location.search === '{filtered}'"),
                    WAIT,
                    "History with its filter again",
                )
                .await;
            // Already signed in (again, in another tab, say), the sign-in page goes on to `next`.
            browser.goto("/login?next=/?tab=history").await;
            browser
                .wait_until(
                    "location.pathname + location.search === '/?tab=history'",
                    WAIT,
                    "straight on to next",
                )
                .await;
        })
        .await;
    browser.close().await;
}

/// Deletes the browser's session server-side; the page's next poll sends it to the sign-in page.
async fn end_session_and_wait_for_login_page(app: &TestApp, browser: &Browser) {
    let logout = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("cookie", session_cookie(browser).await)
        .header("origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    browser
        .wait_until(
            "location.pathname === '/login'",
            ONE_POLL,
            "the next poll to notice",
        )
        .await;
}

async fn session_cookie(browser: &Browser) -> String {
    let cookie = browser
        .client
        .get_named_cookie("hookbox_session")
        .await
        .expect("session cookie");
    format!("hookbox_session={}", cookie.value())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_shows_a_quiet_reconnecting_state() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("reconnecting", &app.address).await else {
        return;
    };
    let page = &browser;
    page.check(async move {
        let browser = page;
        login(browser).await;
        wait_poller_ready(browser).await;
        let hidden = browser
            .js(
                "return document.querySelector('#conn-status').hidden",
                vec![],
            )
            .await;
        assert_eq!(
            hidden,
            json!(true),
            "no reconnecting state while the server answers"
        );
        app.stop().await;
        browser
            .wait_until(
                "!document.querySelector('#conn-status').hidden",
                ONE_POLL,
                "the reconnecting state",
            )
            .await;
        assert_eq!(browser.text("#conn-status").await, "Reconnecting…");
        assert_eq!(
            browser.js("return location.pathname", vec![]).await,
            json!("/"),
            "stays on the page"
        );
    })
    .await;
    browser.close().await;
}

/// A connection that dies without a word (a laptop that slept, a network that dropped it)
/// leaves a poll unanswered: the dashboard says it is reconnecting once the check has waited
/// three intervals (6 s here), not for as long as the browser would wait, and recovers once
/// answers come again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_poll_shows_the_reconnecting_state_and_the_dashboard_recovers() {
    let (app, _db) = sqlite_app(POLL).await;
    let proxy = ChaosProxy::start(app.port()).await;
    let through_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let Some(browser) = Browser::start("unanswered_poll", &through_proxy).await else {
        return;
    };
    let page = &browser;
    let proxy = &proxy;
    page.check(async move {
        let browser = page;
        login(browser).await;
        wait_poller_ready(browser).await;
        let reconnecting = "!document.querySelector('#conn-status').hidden";
        assert_eq!(
            browser.js(&format!("return {reconnecting}"), vec![]).await,
            json!(false)
        );

        proxy.freeze();
        browser
            .wait_until(reconnecting, WAIT, "the reconnecting state")
            .await;
        assert_eq!(browser.text("#conn-status").await, "Reconnecting…");

        proxy.restore();
        browser
            .wait_until(
                "document.querySelector('#conn-status').hidden",
                Duration::from_secs(40),
                "answers again after the backoff",
            )
            .await;
    })
    .await;
    browser.close().await;
}

/// A view's request that gets no answer (the connection died without a word) ends in an error
/// once the page's request timeout has passed (9 s here: twice 1 s for a connection and 1 s for
/// the answers, and 5 s), not whenever the browser gives up, and the view loads again once
/// answers come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_history_request_ends_in_an_error_and_the_view_loads_again() {
    let (app, _db) = TestApp::spawn_sqlite(AppOptions {
        dashboard: DashboardSettings {
            poll_interval: POLL,
            ..DashboardSettings::default()
        },
        acquire_timeout: Duration::from_secs(1),
        answer_timeout: Duration::from_secs(1),
        ..AppOptions::default()
    })
    .await;
    send_completed(&app, "job-t1").await;
    let proxy = ChaosProxy::start(app.port()).await;
    let through_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let Some(browser) = Browser::start("unanswered_history", &through_proxy).await else {
        return;
    };
    let (rows, settled) = (HISTORY_ROWS, HISTORY_SETTLED);
    let page = &browser;
    let proxy = &proxy;
    page.check(async move {
        let browser = page;
        login(browser).await;
        browser.click("#tab-history").await;
        browser
            .wait_until(&format!("{rows} === 1"), WAIT, "the history")
            .await;

        proxy.freeze();
        browser.type_into("input[name=q]", "job-t").await;
        browser
            .wait_until(
                "document.querySelector('#history-table').hasAttribute('aria-busy')",
                WAIT,
                "the search to start",
            )
            .await;
        browser
            .wait_until(settled, WAIT, "the search to give up")
            .await;
        let said = browser.text("#history-empty").await;
        assert!(said.contains("The server did not answer in time"), "{said}");
        assert_eq!(
            browser.js(&format!("return {rows}"), vec![]).await,
            json!(0)
        );

        proxy.restore();
        browser.type_into("input[name=q]", "1").await;
        browser
            .wait_until(
                &format!("{settled} && {rows} === 1"),
                Duration::from_secs(40),
                "the search once answered",
            )
            .await;
        assert!(browser.text("#history-rows").await.contains("job-t1"));
    })
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_share_the_cursor_and_do_not_toast_the_same_callback_again() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("two_tabs", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            wait_poller_ready(&browser).await;
            let first = browser.client.window().await.unwrap();
            let second = browser.client.new_window(false).await.unwrap().handle;
            browser
                .client
                .switch_to_window(second.clone())
                .await
                .unwrap();
            browser.goto("/").await;
            browser
                .wait_until(
                    "document.body.dataset.state === 'ready'",
                    WAIT,
                    "the second tab",
                )
                .await;

            send_completed(&app, "job-tabs").await;
            let count = "document.querySelectorAll('.toast').length";
            let mut toasts = Vec::new();
            // Several poll intervals: each tab polls a few times with the shared cursor.
            tokio::time::sleep(POLL * 4).await;
            for window in [first.clone(), second.clone()] {
                browser.client.switch_to_window(window).await.unwrap();
                toasts.push(
                    browser
                        .js(&format!("return {count}"), vec![])
                        .await
                        .as_u64()
                        .unwrap(),
                );
            }
            eprintln!("toasts per tab: {toasts:?}");
            let total: u64 = toasts.iter().sum();
            assert!(
                (1..=2).contains(&total),
                "one callback, toasted {toasts:?} times across two tabs"
            );
            let cursors = {
                let mut seen = Vec::new();
                for window in [first.clone(), second.clone()] {
                    browser.client.switch_to_window(window).await.unwrap();
                    seen.push(
                        browser
                            .js(
                                "return localStorage.getItem('hookbox.cursor.admin')",
                                vec![],
                            )
                            .await,
                    );
                }
                seen
            };
            assert_eq!(cursors[0], cursors[1], "the tabs share one cursor");

            // Later polls never toast it again, in either tab.
            tokio::time::sleep(POLL * 3).await;
            for (window, before) in [first, second].into_iter().zip(toasts) {
                browser.client.switch_to_window(window).await.unwrap();
                let now = browser
                    .js(&format!("return {count}"), vec![])
                    .await
                    .as_u64()
                    .unwrap();
                assert_eq!(now, before, "a tab toasted the same callback again");
            }
        })
        .await;
    browser.close().await;
}

/// The dashboard polling every `POLL` on Postgres, whose statements must be answered within 1 s:
/// a table the test locks turns a read into a `504 database_timeout` quickly.
async fn spawn_postgres_answering_within_a_second() -> Option<(TestApp, TestDb)> {
    TestApp::spawn_postgres(AppOptions {
        dashboard: DashboardSettings {
            poll_interval: POLL,
            ..DashboardSettings::default()
        },
        answer_timeout: Duration::from_secs(1),
        ..AppOptions::default()
    })
    .await
}

/// Signs in, waits for the poller, and opens the history showing `rows` rows.
async fn open_history(browser: &Browser, rows: usize) {
    login(browser).await;
    wait_poller_ready(browser).await;
    browser.click("#tab-history").await;
    browser
        .wait_until(&format!("{HISTORY_ROWS} === {rows}"), WAIT, "the history")
        .await;
}

/// A search the database does not answer within `--db-answer-timeout-ms` says so in the history
/// view, with no rows of the previous filters left standing as if they were its answer, and it
/// keeps saying so after the poller's next successful check (which clears the page-wide error
/// banner); "Try again" then loads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_the_database_does_not_answer_in_time_says_so_until_it_is_tried_again() {
    let Some((app, test_db)) = spawn_postgres_answering_within_a_second().await else {
        return;
    };
    for (job, status) in [("job-slow-1", "completed"), ("other-2", "failed")] {
        send(
            &app,
            callback(job, "workflow.completed", "summarize", status, None),
        )
        .await;
    }
    let Some(browser) = Browser::start("search_database_timeout", &app.address).await else {
        return;
    };
    let (rows, settled) = (HISTORY_ROWS, HISTORY_SETTLED);
    let said = "document.querySelector('#history-empty').textContent";
    let test_db = &test_db;
    let page = &browser;
    page.check(async move {
        let browser = page;
        open_history(browser, 2).await;

        let mut lock = test_db.lock_table("callbacks").await;
        browser.type_into("input[name=q]", "job-slow").await;
        browser
            .wait_until(
                &format!("{said}.includes('did not answer within 1000 ms')"),
                WAIT,
                "the search to fail",
            )
            .await;
        TestDb::unlock(&mut lock).await;

        // The poller answers again and clears the banner; the view still says what happened.
        browser
            .wait_until(
                "document.querySelector('#conn-status').hidden && !document.querySelector('#fatal').textContent",
                WAIT,
                "the poller to be answered again",
            )
            .await;
        tokio::time::sleep(POLL * 2).await;
        let text = browser.text("#history-empty").await;
        assert!(
            text.contains("Loading this search took too long: the database did not answer within 1000 ms")
                && text.contains("a status, workflow or event filter narrows it"),
            "{text}"
        );
        assert_eq!(browser.js(&format!("return {rows}"), vec![]).await, json!(0));
        assert_eq!(browser.text("#history-summary").await, "Not loaded.");

        browser.click_button_with_text("Try again").await;
        browser
            .wait_until(&format!("{settled} && {rows} === 1"), WAIT, "the search tried again")
            .await;
        assert!(browser.text("#history-rows").await.contains("job-slow-1"));
        assert!(
            browser
                .js("return document.querySelector('#history-empty').hidden", vec![])
                .await
                .as_bool()
                .unwrap_or(false),
            "the error is gone once the search is answered"
        );
    })
    .await;
    browser.close().await;
}

/// The detail and timeline panels say why they did not load and offer "Try again" (a callback the
/// database does not answer for in time), or say that what was asked for is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_that_did_not_load_says_why_and_can_be_tried_again() {
    let Some((app, test_db)) = spawn_postgres_answering_within_a_second().await else {
        return;
    };
    // Newest first in the history: job-slow's row, then job-gone's.
    for job in ["job-gone", "job-slow"] {
        send_completed(&app, job).await;
    }
    let Some(browser) = Browser::start("panel_load_error", &app.address).await else {
        return;
    };
    let panel = "document.querySelector('#panel[open] #panel-body')";
    let test_db = &test_db;
    let page = &browser;
    page.check(async move {
        let browser = page;
        open_history(browser, 2).await;

        let mut lock = test_db.lock_table("callbacks").await;
        browser.click("#history-rows .row-open").await;
        browser
            .wait_until(
                &format!("{panel}?.textContent.includes('did not answer within 1000 ms')"),
                WAIT,
                "the detail to fail",
            )
            .await;
        TestDb::unlock(&mut lock).await;
        let text = browser.text("#panel-body").await;
        assert!(
            text.contains(
                "Loading this callback took too long: the database did not answer within 1000 ms."
            ) && text.contains("The database may be busy"),
            "{text}"
        );
        browser.click_button_with_text("Try again").await;
        browser
            .wait_until(
                &format!("{panel}?.querySelector('.json-tree')"),
                WAIT,
                "the detail tried again",
            )
            .await;
        assert!(browser.text("#panel-body").await.contains("job-slow"));
        browser.press(Key::Escape).await;
        browser
            .wait_until("!document.querySelector('#panel').open", WAIT, "the panel to close")
            .await;

        // Deleted after the history showed it: the panels say it is gone, without a retry.
        test_db
            .postgres_connection()
            .await
            .batch_execute("DELETE FROM callbacks WHERE callback_id = 'job-gone'")
            .await
            .expect("deletes");
        let gone_row = "#history-rows tr:nth-child(2)";
        browser.click(&format!("{gone_row} .row-job")).await;
        browser
            .wait_until(
                &format!("{panel}?.textContent.includes('No callback of this job is stored any more.')"),
                WAIT,
                "the timeline of a deleted job",
            )
            .await;
        browser.press(Key::Escape).await;
        browser
            .wait_until("!document.querySelector('#panel').open", WAIT, "the panel to close")
            .await;
        browser.click(&format!("{gone_row} .row-open")).await;
        browser
            .wait_until(
                &format!("{panel}?.textContent.includes('This callback no longer exists.')"),
                WAIT,
                "the detail of a deleted callback",
            )
            .await;
        let buttons = browser
            .js(
                "return [...document.querySelectorAll('#panel-body button')].map((b) => b.textContent)",
                vec![],
            )
            .await;
        assert_eq!(buttons, json!([]), "nothing to try again");
    })
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_wraps_inside_the_panel_after_the_json_tree_was_expanded_and_collapsed() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("tree_focus_wrap", &app.address).await else {
        return;
    };
    browser
        .check(async {
            let nested = json!({ "event": "workflow.completed", "job_id": "job-tree", "status": "completed",
                                 "zz_last": { "inner": { "deep": [1, 2] } } });
            send(&app, nested).await;
            login(&browser).await;
            wait_for_cards(&browser, 1).await;
            browser.click("#inbox-list .card-view").await;
            browser.wait_until("document.querySelector('#panel[open] .json-tree')", WAIT, "the detail").await;
            browser.click_button_with_text("Expand all").await;
            browser.click_button_with_text("Collapse all").await;
            // The nodes inside a collapsed one stay laid out, hidden: Tab on the last node a user
            // can see must wrap to the panel's first control, not leave the panel.
            browser
                .js(
                    "const shown = [...document.querySelectorAll('#panel .json-tree summary')]
                         .filter(s => !s.parentElement.parentElement.closest('details:not([open])'));
                     shown[shown.length - 1].focus();
                     return shown[shown.length - 1].textContent",
                    vec![],
                )
                .await;
            browser.press(Key::Tab).await;
            browser
                .wait_until("document.activeElement?.id === 'panel-close'", WAIT, "Tab wrapped to Close")
                .await;
        })
        .await;
    browser.close().await;
}

/// JS: makes the page's facets request answer 1.5 s late; `window.facetsDone` says when it has.
const SLOW_FACETS: &str = "
    return import('/static/js/api.js').then(({ api }) => {
        const real = api.facets;
        window.facetsDone = false;
        api.facets = (...args) => new Promise((resolve) => setTimeout(resolve, 1500))
            .then(() => real(...args))
            .finally(() => { window.facetsDone = true; });
        return true;
    });";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_typed_while_the_filter_menus_load_is_kept() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("search_before_facets", &app.address).await else {
        return;
    };
    browser
        .check(async {
            for job in ["job-typed-a", "job-typed-b"] {
                send_completed(&app, job).await;
            }
            login(&browser).await;
            browser.js(SLOW_FACETS, vec![]).await;
            browser.click("#tab-history").await;
            browser.type_into("input[name=q]", "job-typed-b").await;
            browser
                .wait_until(
                    &format!(
                        "window.facetsDone && {HISTORY_SETTLED} && {HISTORY_ROWS} === 1 \
                         && document.querySelector('input[name=q]').value === 'job-typed-b' \
                         && location.search.includes('q=job-typed-b')"
                    ),
                    WAIT,
                    "the typed search kept once the menus arrived",
                )
                .await;
            assert!(browser.text("#history-rows").await.contains("job-typed-b"));
        })
        .await;
    browser.close().await;
}
