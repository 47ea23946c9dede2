//! Hostile text in every field the dashboard shows, opened in every view: nothing runs, no
//! element is made from it, and it reads literally.

use serde_json::{json, Value};

use crate::dashboard_browser::{login, sqlite_app, wait_poller_ready, POLL, WAIT};
use crate::helpers::browser::Browser;
use crate::helpers::*;

/// Each tries to run `window.__xss = 1` (or open a dialog) if it were ever parsed as markup,
/// used as a URL, or evaluated.
const HOSTILE: [&str; 6] = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=\"window.__xss=1;alert(1)\">",
    "\"><svg onload=\"window.__xss=1\"><a href=\"javascript:alert(1)\">x</a>",
    "javascript:window.__xss=1//",
    "</textarea><iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "{{constructor.constructor('window.__xss=1')()}}${window.__xss=1}",
];

fn hostile_body(n: usize, event: &str, status: &str) -> Value {
    let h = HOSTILE[n % HOSTILE.len()];
    let mut body = json!({
        "job_id": format!("job{h}"),
        "event": format!("{event}{h}"),
        "workflow_name": format!("wf{h}"),
        "status": format!("{status}{h}"),
        "error_message": format!("err{h}"),
        "timestamp": format!("2026-11-23T10:00:0{n}Z"),
        "links": [{ "href": "javascript:window.__xss=1", "title": h }],
    });
    // Hostile keys and values at several depths.
    body[h] = json!(h);
    body["nested"] = json!({});
    body["nested"][format!("key{h}")] = json!({ "deep": h });
    body
}

/// No script ran, no dialog opened, and nothing from the data became an element.
async fn assert_inert(browser: &Browser, view: &str) {
    browser.assert_no_dialog(view).await;
    let report = browser
        .js(
            "return {
                flag: typeof window.__xss,
                injected: [...document.querySelectorAll('script:not([src]), iframe, svg, object, embed, a[href^=\"javascript\"], img:not(.brand img)')]
                    .map(e => e.outerHTML.slice(0, 80)),
            };",
            vec![],
        )
        .await;
    assert_eq!(
        report["flag"], "undefined",
        "a payload ran in the {view}: {report}"
    );
    assert_eq!(
        report["injected"],
        json!([]),
        "markup from data became elements in the {view}"
    );
}

async fn assert_shows(browser: &Browser, css: &str, expected: &str, view: &str) {
    let text = browser.text(css).await;
    assert!(
        text.contains(expected),
        "{view}: {css} should show {expected:?} literally, shows {text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_in_every_field_stays_text_in_every_view() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("xss", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            wait_poller_ready(&browser).await;
            // The same hostile job reports failure then success: toasts, timeline and conflict.
            let failed = hostile_body(1, "workflow.failed", "failed");
            let completed = hostile_body(1, "workflow.completed", "completed");
            for body in [&failed, &completed] {
                json_with_status(app.post_signed(&body.to_string()).await, 200).await;
            }
            let h = HOSTILE[1];

            browser.wait_until("document.querySelectorAll('.toast').length === 2", WAIT, "the toasts").await;
            assert_inert(&browser, "toasts").await;
            assert_shows(&browser, "#toasts", &format!("workflow.failed{h}"), "toast").await;
            assert_shows(&browser, "#toasts", &format!("wf{h}"), "toast").await;
            assert_shows(&browser, "#toasts", &format!("job{h}"), "toast").await;
            assert_shows(&browser, "#toasts", &format!("failed{h}"), "toast").await;
            assert_shows(&browser, "#toasts", &format!("err{h}"), "toast").await;

            browser.wait_until("document.querySelectorAll('#inbox-list .card').length === 2", WAIT, "the unread list").await;
            assert_inert(&browser, "unread list").await;
            assert_shows(&browser, "#inbox-list", &format!("err{h}"), "unread list").await;

            // Detail, with the whole JSON tree open.
            browser
                .js(
                    "[...document.querySelectorAll('.toast')].find(t => t.innerText.includes('workflow.failed')).querySelector('.toast-view').click()",
                    vec![],
                )
                .await;
            browser.wait_until("document.querySelector('#panel[open] .json-tree')", WAIT, "the detail").await;
            browser.click_button_with_text("Expand all").await;
            assert_inert(&browser, "detail").await;
            assert_eq!(browser.text(".detail-event").await, format!("workflow.failed{h}"));
            assert_eq!(browser.text(".detail-job").await, format!("job{h}"));
            assert_eq!(browser.text(".detail-workflow").await, format!("wf{h}"));
            assert_eq!(browser.text(".detail-error").await, format!("err{h}"));
            assert_shows(&browser, ".fields", &format!("failed{h}"), "detail fields").await;
            assert_shows(&browser, ".json-tree", &format!("key{h}"), "JSON tree key").await;
            assert_shows(&browser, ".json-tree", &format!("\"{h}\""), "JSON tree value").await;
            assert_shows(&browser, ".json-tree", "\"javascript:window.__xss=1\"", "JSON tree link").await;

            browser.click(".detail-timeline").await;
            browser.wait_until("document.querySelectorAll('.timeline-step').length === 2", WAIT, "the timeline").await;
            assert_inert(&browser, "timeline").await;
            assert_shows(&browser, ".timeline-job", &format!("job{h}"), "timeline").await;
            assert_shows(&browser, ".timeline", &format!("workflow.completed{h}"), "timeline").await;
            assert_shows(&browser, ".timeline", &format!("err{h}"), "timeline").await;
            browser.js("document.getElementById('panel').close()", vec![]).await;

            // Every other hostile string through history, its filter menus and search.
            for n in [0, 2, 3, 4, 5] {
                let body = hostile_body(n, "workflow.failed", "failed");
                json_with_status(app.post_signed(&body.to_string()).await, 200).await;
            }
            browser.click("#tab-history").await;
            browser.wait_until("document.querySelectorAll('#history-rows tr').length === 7", WAIT, "the history").await;
            assert_inert(&browser, "history").await;
            for hostile in HOSTILE {
                assert_shows(&browser, "#history-rows", &format!("err{hostile}"), "history").await;
                assert_shows(&browser, "#history-rows", &format!("job{hostile}"), "history").await;
                let in_menu = browser
                    .js(
                        "return [...document.querySelectorAll('select[name=workflow_name] option')].some(o => o.textContent === arguments[0])",
                        vec![json!(format!("wf{hostile}"))],
                    )
                    .await;
                assert_eq!(in_menu, json!(true), "the workflow menu lists wf{hostile} literally");
            }
            browser.type_into("input[name=q]", HOSTILE[4]).await;
            browser.wait_until("document.querySelectorAll('#history-rows tr').length === 1", WAIT, "the search").await;
            assert_inert(&browser, "history search").await;
            browser.click("#filters button[type=reset]").await;
            browser.wait_until("document.querySelectorAll('#history-rows tr').length === 7", WAIT, "all rows").await;
            // The five newest rows carry the strings not opened in detail yet.
            for row in 1..=5 {
                browser.click(&format!("#history-rows tr:nth-child({row}) .row-open")).await;
                browser.wait_until("document.querySelector('#panel[open] .json-tree')", WAIT, "a detail").await;
                browser.click_button_with_text("Expand all").await;
                assert_inert(&browser, &format!("detail of history row {row}")).await;
                assert_shows(&browser, ".detail-error", "err", "detail").await;
                browser.js("document.getElementById('panel').close()", vec![]).await;
            }
        })
        .await;
    browser.close().await;
}

/// `text` as one URL path segment, every byte but letters and digits percent-encoded.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_in_a_rejection_stays_text_in_the_rejected_tab() {
    let (app, _db) = sqlite_app(POLL).await;
    // Every hostile string as the user agent of an unsigned request…
    for hostile in HOSTILE {
        let refused = app.post_callback("{}", &[("user-agent", hostile)]).await;
        json_with_status(refused, 401).await;
    }
    // …and as the source name in the URL.
    let lost = app
        .post_to_source(
            &path_segment(HOSTILE[1]),
            "{}",
            &[("user-agent", "plain/1.0")],
        )
        .await;
    assert_eq!(json_with_status(lost, 404).await["error"], "unknown_source");
    crate::dashboard_rejected::wait_logged(&app, HOSTILE.len() as i64 + 1).await;
    let Some(browser) = Browser::start("xss_rejected", &app.address).await else {
        return;
    };
    browser
        .check(async {
            login(&browser).await;
            browser.click("#tab-rejected").await;
            browser
                .wait_until(
                    "document.querySelectorAll('#rejected-list > li').length === 7",
                    WAIT,
                    "the rejected deliveries",
                )
                .await;
            assert_inert(&browser, "Rejected tab").await;
            let agents = browser
                .js(
                    "return [...document.querySelectorAll('#rejected-list .rejection-agent')].map(e => e.textContent)",
                    vec![],
                )
                .await;
            let mut expected: Vec<&str> = HOSTILE.iter().rev().copied().collect();
            expected.insert(0, "plain/1.0");
            assert_eq!(agents, json!(expected), "each user agent literally, newest first");
            assert_eq!(
                browser.text("#rejected-list .rejection-source").await,
                HOSTILE[1],
                "the hostile source name literally"
            );
            assert_shows(&browser, "#rejected-reasons", "6 ×", "tally").await;
        })
        .await;
    browser.close().await;
}
