//! The Unread tab and what announces callbacks, in a real browser: what *Mark all read* marks,
//! a poll whose later page fails, an Unread list that failed to load, a focused toast pushed
//! out by newer ones; and where signing in may lead.

use std::time::Duration;

use fantoccini::key::Key;
use serde_json::json;

use crate::dashboard_browser::{
    api_get, callback, login, login_at, send, send_completed, sqlite_app, wait_for_cards,
    wait_poller_ready, POLL, WAIT,
};
use crate::helpers::browser::Browser;
use crate::helpers::TestApp;

/// Long enough that no poll but the first runs during a test.
const NO_SECOND_POLL: Duration = Duration::from_secs(600);

/// JS: replaces `api.check` in the page's own module (the app's too) so that the next load of
/// the Unread list (a check without a cursor) fails as a 503 would; `window.checkFailed` says
/// when it has.
const FAIL_NEXT_UNREAD_LOAD: &str = "
    return import('/static/js/api.js').then(({ api, ApiError }) => {
        const real = api.check;
        window.checkFailed = false;
        api.check = (after, limit, timeoutMs) => {
            if (!window.checkFailed && after === undefined && limit === 100) {
                window.checkFailed = true;
                return Promise.reject(new ApiError(503, 'storage_unavailable', null));
            }
            return real(after, limit, timeoutMs);
        };
        return true;
    });";

/// The server holds exactly one callback unread for the browser's user: `job`'s.
async fn assert_only_unread(app: &TestApp, browser: &Browser, job: &str) {
    let check = api_get(app, browser, "/api/admin/llm-callbacks/check").await;
    assert_eq!(check["unviewed_count"], 1, "{check}");
    assert_eq!(check["items"][0]["callback_id"], job, "{check}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_returns_only_to_a_path_on_this_site() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("login_next", &app.address).await else {
        return;
    };
    browser
        .check(async {
            // Tabs and line breaks are dropped and a backslash is a slash to the browser's URL
            // parser: each of the first three reads as `//evil.example/…`, another site.
            for (next, lands_on) in [
                ("/%09/evil.example/x", "/"),
                ("/%0A/evil.example/x", "/"),
                ("/%5Cevil.example/x", "/"),
                ("//evil.example/x", "/"),
                (
                    "/?tab=history%26status=failed",
                    "/?tab=history&status=failed",
                ),
            ] {
                // Signed out each time: a signed-in visit to /login goes on without the form.
                browser
                    .client
                    .delete_all_cookies()
                    .await
                    .expect("cookies cleared");
                login_at(&browser, &format!("/login?next={next}")).await;
                let at = browser.js("return location.href", vec![]).await;
                assert_eq!(
                    at,
                    json!(format!("{}{lands_on}", app.address)),
                    "next={next}"
                );
            }
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_all_read_marks_what_was_announced_not_what_arrived_since() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("mark_all_announced", &app.address).await else {
        return;
    };
    browser
        .check(async {
            signed_in_with_one_unread(&app, &browser, "job-listed").await;
            // Stored after the last poll: neither toasted nor listed yet.
            send_completed(&app, "job-unseen").await;
            browser.click("#inbox-mark-all").await;
            browser
                .wait_until(
                    "document.querySelector('#inbox-list')?.textContent.includes('job-unseen')",
                    WAIT,
                    "the list after marking",
                )
                .await;
            assert_only_unread(&app, &browser, "job-unseen").await;
        })
        .await;
    browser.close().await;
}

/// Stores a completed callback for `job`, signs in and waits until its card is listed.
async fn signed_in_with_one_unread(app: &TestApp, browser: &Browser, job: &str) {
    send_completed(app, job).await;
    login(browser).await;
    wait_poller_ready(browser).await;
    wait_for_cards(browser, 1).await;
}

/// JS: makes the page's next "mark all read" fail as a 503 would.
const FAIL_MARK_ALL: &str = "
    return import('/static/js/api.js').then(({ api, ApiError }) => {
        api.markAllViewed = () => Promise.reject(new ApiError(503, 'storage_unavailable', null));
        return true;
    });";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_all_read_that_failed_says_to_try_again_and_marks_nothing() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("mark_all_failed", &app.address).await else {
        return;
    };
    browser
        .check(async {
            signed_in_with_one_unread(&app, &browser, "job-kept").await;
            browser.js(FAIL_MARK_ALL, vec![]).await;
            browser.click("#inbox-mark-all").await;
            // Nothing repeats what the user did: the banner must not promise a retry.
            browser
                .wait_until(
                    "document.querySelector('#fatal').textContent.includes('try again')",
                    WAIT,
                    "the banner",
                )
                .await;
            let banner = browser.text("#fatal").await;
            assert!(
                banner.contains("storage_unavailable") && !banner.contains("retried"),
                "{banner}"
            );
            assert_eq!(
                browser
                    .js(
                        "return document.querySelectorAll('#inbox-list li').length",
                        vec![]
                    )
                    .await,
                json!(1)
            );
            assert_only_unread(&app, &browser, "job-kept").await;
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_all_read_on_history_marks_what_history_showed_not_the_hidden_unread_list() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("mark_all_history", &app.address).await else {
        return;
    };
    browser
        .check(async {
            let stored = [
                ("job-older", "workflow.completed", "completed", None),
                ("job-failed", "workflow.failed", "failed", Some("boom")),
                ("job-newest", "workflow.completed", "completed", None),
            ];
            for (job, event, status, error) in stored {
                send(&app, callback(job, event, "summarize", status, error)).await;
            }
            // A first visit toasts nothing; History shows the failure only, while the Unread
            // list, loaded behind it, holds all three.
            login_at(&browser, "/login?next=/?tab=history%26status=failed").await;
            wait_poller_ready(&browser).await;
            browser
                .wait_until(
                    "document.querySelectorAll('#history-rows tr').length === 1 \
                     && document.querySelectorAll('#inbox-list li').length === 3",
                    WAIT,
                    "the history page and the hidden Unread list",
                )
                .await;
            browser.click("#history-mark-all").await;
            wait_for_cards(&browser, 1).await;
            assert_only_unread(&app, &browser, "job-newest").await;
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_callback_opened_from_the_unread_list_focuses_the_card_now_in_its_place() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("unread_focus_back", &app.address).await else {
        return;
    };
    browser
        .check(async {
            for job in ["job-a", "job-b", "job-c"] {
                send_completed(&app, job).await;
            }
            login(&browser).await;
            wait_for_cards(&browser, 3).await;
            // Newest first: job-c, job-b, job-a. Open job-b's from the keyboard.
            browser
                .js(
                    "document.querySelectorAll('#inbox-list .card-view')[1].focus()",
                    vec![],
                )
                .await;
            browser.press(Key::Enter).await;
            browser
                .wait_until(
                    "document.querySelector('#panel[open] .json-tree')",
                    WAIT,
                    "the detail",
                )
                .await;
            // Viewed, job-b's card leaves the list, redrawn behind the panel.
            wait_for_cards(&browser, 2).await;
            browser.press(Key::Escape).await;
            browser
                .wait_until(
                    "document.activeElement?.classList.contains('card-view') \
                     && document.activeElement.closest('li').textContent.includes('job-a')",
                    WAIT,
                    "focus on the card now second, job-a's",
                )
                .await;
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_callback_viewed_elsewhere_clears_its_unread_row() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("viewed_elsewhere", &app.address).await else {
        return;
    };
    browser
        .check(async {
            let id = send_completed(&app, "job-elsewhere").await;
            login_at(&browser, "/login?next=/?tab=history").await;
            browser
                .wait_until(
                    "document.querySelectorAll('#history-rows .row-unread').length === 1",
                    WAIT,
                    "the unread row",
                )
                .await;
            // Viewed in another tab of the same user.
            let cookie = browser
                .client
                .get_named_cookie("hookbox_session")
                .await
                .expect("a session cookie");
            let viewed = app
                .client
                .post(app.url(&format!("/api/admin/llm-callbacks/{id}/view")))
                .header("cookie", format!("hookbox_session={}", cookie.value()))
                .send()
                .await
                .expect("request reaches the server");
            assert_eq!(viewed.status(), 200);
            browser.click("#history-rows .row-open").await;
            browser
                .wait_until(
                    "document.querySelector('#panel[open] .json-tree')",
                    WAIT,
                    "the detail",
                )
                .await;
            browser
                .wait_until(
                    "document.querySelectorAll('#history-rows .row-unread').length === 0",
                    WAIT,
                    "the row read",
                )
                .await;
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_whose_later_page_fails_still_announces_the_pages_before() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("poll_later_page_fails", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            wait_poller_ready(&browser).await;
            // A poller of its own over a stubbed check: a first page, then a failure.
            let outcome = browser
                .js(
                    "return Promise.all([import('/static/js/api.js'), import('/static/js/notify.js')])
                       .then(async ([{ api, ApiError }, { Poller }]) => {
                         const real = api.check;
                         const pages = [
                           { items: [{ id: 1 }, { id: 2 }], next_cursor: 'c1', has_more: true,
                             unviewed_count: 3, unviewed_count_capped: false },
                         ];
                         api.check = () => pages.length
                           ? Promise.resolve(pages.shift())
                           : Promise.reject(new ApiError(503, 'storage_unavailable', null));
                         const announced = [];
                         localStorage.setItem('hookbox.cursor.stub', 'c0');
                         const poller = new Poller({
                           user: 'stub', intervalMs: 1000, onNew: (items) => announced.push(items.map((i) => i.id)),
                           onCount: () => {}, onHealth: () => {}, onCursorMoved: () => {},
                         });
                         let failed = null;
                         try { await poller.poll(); } catch (error) { failed = error.code; }
                         finally { api.check = real; }
                         return { announced, failed, cursor: localStorage.getItem('hookbox.cursor.stub') };
                       })",
                    vec![],
                )
                .await;
            assert_eq!(
                outcome,
                json!({ "announced": [[1, 2]], "failed": "storage_unavailable", "cursor": "c1" }),
                "the cursor stands past the first page, so its callbacks must be announced"
            );
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_list_that_failed_to_load_loads_again_at_the_next_poll() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("unread_list_retried", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            wait_poller_ready(&browser).await;
            // The next load of the Unread list (a check without a cursor) fails once.
            let stubbed = browser.js(FAIL_NEXT_UNREAD_LOAD, vec![]).await;
            assert_eq!(stubbed, json!(true));
            send_completed(&app, "job-after-failure").await;
            browser.wait_until("window.checkFailed", WAIT, "the failed load").await;
            browser
                .wait_until(
                    "document.querySelector('#inbox-list')?.textContent.includes('job-after-failure')",
                    WAIT,
                    "the Unread list loaded again",
                )
                .await;
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toast_pushed_out_while_it_has_the_focus_leaves_the_focus_on_the_page() {
    let (app, _db) = sqlite_app(NO_SECOND_POLL).await;
    let Some(browser) = Browser::start("toast_evicted_focus", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            let focused = browser
                .js(
                    "return import('/static/js/toasts.js').then(({ announce }) => {
                       const item = (id) => ({ id, event: 'workflow.failed', status: 'failed',
                         callback_id: `job-${id}`, workflow_name: 'w', received_at: new Date().toISOString() });
                       announce([item(1)], { onView: () => {}, onShowAll: () => {} });
                       document.querySelector('#toasts .toast-close').focus();
                       for (let id = 2; id <= 6; id += 1) announce([item(id)], { onView: () => {}, onShowAll: () => {} });
                       return { toasts: document.querySelectorAll('#toasts .toast').length,
                                focused: document.activeElement?.id ?? null };
                     })",
                    vec![],
                )
                .await;
            assert_eq!(focused, json!({ "toasts": 5, "focused": "main" }), "the sixth toast pushed out the focused first");
        })
        .await;
    browser.close().await;
}
