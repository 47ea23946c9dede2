//! The Rejected tab in a real browser against the real server: deliveries refused over real
//! HTTP show with their reasons in plain words, newest first, a tally of the reasons, paging
//! with Load more, a reload whenever the tab is opened, keyboard navigation between the tabs,
//! and an empty and an error state.

use fantoccini::key::Key;
use serde_json::{json, Value};

use crate::dashboard_browser::{login, sqlite_app, POLL, WAIT};
use crate::helpers::browser::Browser;
use crate::helpers::*;
use hookbox::store::rejections;

/// One page of the tab (the API's default page size).
const PAGE: usize = 50;
const DECLARED: u64 = 5 * 1024 * 1024;

/// Waits until the rejection log (written in the background) holds `expected` rows.
pub async fn wait_logged(app: &TestApp, expected: i64) {
    eventually(&format!("{expected} rejections logged"), || async {
        rejections::count(&app.db).await.unwrap() == expected
    })
    .await;
}

/// A signed request declaring a 5 MiB body and sending none: refused on its Content-Length.
async fn declare_oversized_body(app: &TestApp, user_agent: &str) {
    let request = format!(
        "POST {CALLBACK_PATH} HTTP/1.1\r\nHost: x\r\nUser-Agent: {user_agent}\r\n\
         Content-Length: {DECLARED}\r\nX-Webhook-Signature: {}\r\n\r\n",
        sign(SECRET, "")
    );
    let text = app.answer_to_head(&request).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

/// The tab `name` is selected, focused and shown, and the other two are not.
fn tab_is(name: &str) -> String {
    format!(
        "document.activeElement?.id === 'tab-{name}' \
         && ['inbox', 'history', 'rejected'].every(t => \
              (document.querySelector('#tab-' + t).getAttribute('aria-selected') === String(t === '{name}')) \
              && (document.querySelector('#view-' + t).hidden === (t !== '{name}')))"
    )
}

/// What each entry of the list shows, top to bottom.
async fn entries(browser: &Browser) -> Vec<Value> {
    let value = browser
        .js(
            "const get = (li, css) => li.querySelector(css)?.textContent ?? null;
             return [...document.querySelectorAll('#rejected-list > li')].map(li => ({
                 explanation: get(li, '.rejection-explanation'),
                 status: get(li, '.rejection-status'),
                 code: get(li, '.rejection-code'),
                 source: get(li, '.rejection-source'),
                 addr: get(li, '.rejection-addr'),
                 agent: get(li, '.rejection-agent'),
                 size: get(li, '.rejection-size'),
                 headers: get(li, '.rejection-headers'),
                 age: get(li, '.rejection-age'),
                 exact: li.querySelector('.rejection-age')?.title ?? null,
             }));",
            vec![],
        )
        .await;
    value.as_array().expect("a list of entries").clone()
}

/// The tally of reasons, most frequent first, as its lines of text.
async fn tally(browser: &Browser) -> Vec<String> {
    let value = browser
        .js(
            "return [...document.querySelectorAll('#rejected-reasons .reason')].map(li => li.innerText.replace(/\\s+/g, ' ').trim());",
            vec![],
        )
        .await;
    serde_json::from_value(value).expect("lines of text")
}

fn count_is(n: usize) -> String {
    format!("document.querySelector('#rejected-list').getAttribute('aria-busy') === null && document.querySelectorAll('#rejected-list > li').length === {n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rejected_tab_explains_refused_deliveries_newest_first_and_pages() {
    let (app, _db) = sqlite_app(POLL).await;
    let Some(browser) = Browser::start("rejected_tab", &app.address).await else {
        return;
    };
    let page = &browser;
    page.check(async move {
        let browser = page;
        login(browser).await;

        // Arrow keys move between all three tabs, wrapping; Home and End go to the ends.
        browser.js("document.querySelector('#tab-inbox').focus()", vec![]).await;
        browser.press(Key::Left).await;
        browser.wait_until(&tab_is("rejected"), WAIT, "ArrowLeft from Unread to Rejected").await;
        browser.wait_until("!document.querySelector('#rejected-empty').hidden", WAIT, "the empty state").await;
        let empty = browser.text("#rejected-empty").await;
        assert!(
            empty.contains("No rejected deliveries in the log."),
            "{empty}"
        );
        let url = browser.client.current_url().await.unwrap().to_string();
        assert!(url.ends_with("/?tab=rejected"), "the tab lives in the URL: {url}");
        let hidden = browser
            .js("return ['#rejected-reasons', '#rejected-more', '#rejected-error'].map(s => document.querySelector(s).hidden)", vec![])
            .await;
        assert_eq!(hidden, json!([true, true, true]), "no tally, paging or error when empty");
        browser.press(Key::Right).await;
        browser.wait_until(&tab_is("inbox"), WAIT, "ArrowRight from Rejected wraps to Unread").await;
        browser.press(Key::Right).await;
        browser.wait_until(&tab_is("history"), WAIT, "ArrowRight to History").await;
        browser.press(Key::Right).await;
        browser.wait_until(&tab_is("rejected"), WAIT, "ArrowRight to Rejected").await;
        browser.press(Key::Home).await;
        browser.wait_until(&tab_is("inbox"), WAIT, "Home to Unread").await;
        browser.press(Key::End).await;
        browser.wait_until(&tab_is("rejected"), WAIT, "End to Rejected").await;

        // More refusals than one page: fillers first, then three telling ones.
        for n in 0..PAGE {
            let body = format!("not json {n}");
            let agent = format!("filler/{n}");
            let headers = [("x-webhook-signature", sign(SECRET, &body)), ("user-agent", agent)];
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            json_with_status(app.post_callback(&body, &headers).await, 400).await;
        }
        let body = callback_body("job-rejected", "workflow.completed");
        let forged = sign("not-the-secret", &body);
        let refused = app
            .post_callback(&body, &[("x-webhook-signature", &forged), ("webhook-id", "msg-1"), ("user-agent", "sender-wrong-secret/2.1")])
            .await;
        assert_eq!(json_with_status(refused, 401).await["error"], "invalid_signature");
        let refused = app.post_callback(&body, &[("user-agent", "sender-unsigned/1.0")]).await;
        assert_eq!(json_with_status(refused, 401).await["error"], "missing_signature");
        declare_oversized_body(&app, "sender-huge/3.0").await;
        wait_logged(&app, PAGE as i64 + 3).await;

        // Opening the tab again loads what arrived meanwhile.
        browser.click("#tab-inbox").await;
        browser.click("#tab-rejected").await;
        browser.wait_until(&count_is(PAGE), WAIT, "the first page").await;
        let shown = entries(browser).await;
        let codes: Vec<&Value> = shown[..3].iter().map(|e| &e["code"]).collect();
        assert_eq!(codes, [&json!("payload_too_large"), &json!("missing_signature"), &json!("invalid_signature")], "newest first");
        let [huge, unsigned, forged_entry] = [&shown[0], &shown[1], &shown[2]];
        assert!(huge["explanation"].as_str().unwrap().starts_with("the body is over the source's size limit (1 MiB"), "{huge}");
        assert_eq!(huge["status"], "413");
        assert_eq!(huge["agent"], "sender-huge/3.0");
        assert_eq!(huge["size"], "5.00 MiB declared · not read", "refused on its declared length");
        assert_eq!(huge["headers"], "x-webhook-signature");
        assert!(unsigned["explanation"].as_str().unwrap().starts_with("no signature header (X-Webhook-Signature"), "{unsigned}");
        assert_eq!(unsigned["status"], "401");
        assert_eq!(unsigned["headers"], "none", "no signature header at all");
        assert_eq!(unsigned["size"], format!("{} B declared · not read", body.len()));
        assert_eq!(
            forged_entry["explanation"],
            "the signature did not match any of the source's secrets, or was not in its scheme's form — check the sender's secret, and that it signs the exact raw body (as sha256=<hex> by default)"
        );
        assert_eq!(forged_entry["status"], "401");
        assert_eq!(forged_entry["agent"], "sender-wrong-secret/2.1");
        assert_eq!(forged_entry["headers"], "x-webhook-signature, webhook-id");
        assert_eq!(forged_entry["size"], format!("{0} B declared · {0} B read", body.len()));
        for entry in &shown {
            assert_eq!(entry["addr"], "127.0.0.1", "{entry}");
            assert_eq!(entry["source"], "llm-callback", "{entry}");
            let age = entry["age"].as_str().unwrap();
            assert!(age == "just now" || age.ends_with(" s ago"), "relative time: {entry}");
            let exact = entry["exact"].as_str().unwrap();
            assert!(
                exact.len() == 19 && exact.as_bytes()[4] == b'-' && exact.as_bytes()[13] == b':',
                "exact time on hover: {entry}"
            );
        }
        assert_eq!(shown[3]["code"], "invalid_json");
        assert_eq!(shown[3]["agent"], "filler/49");
        assert_eq!(shown[3]["explanation"], "the signature was right but the body is not valid JSON");
        assert_eq!(browser.text("#rejected-summary").await, "50 rejected deliveries shown, newest first — more below.");
        assert!(browser.text("#rejected-reasons h2").await.contains("50 deliveries"));
        let reasons = tally(browser).await;
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert_eq!(reasons[0], "47 × the signature was right but the body is not valid JSON invalid_json", "the most common first");
        assert!(reasons[1..].iter().all(|line| line.starts_with("1 × ")), "{reasons:?}");
        assert!(reasons.iter().any(|line| line == "1 × the signature did not match any of the source's secrets, or was not in its scheme's form invalid_signature"), "{reasons:?}");

        browser.click("#rejected-more").await;
        browser.wait_until(&count_is(PAGE + 3), WAIT, "the second page").await;
        browser.wait_until("document.querySelector('#rejected-more').hidden", WAIT, "no more pages").await;
        let shown = entries(browser).await;
        let agents: Vec<String> = shown[3..].iter().map(|e| e["agent"].as_str().unwrap().to_owned()).collect();
        let expected: Vec<String> = (0..PAGE).rev().map(|n| format!("filler/{n}")).collect();
        assert_eq!(agents, expected, "every filler once, newest first, across both pages");
        assert_eq!(browser.text("#rejected-summary").await, "53 rejected deliveries shown, newest first.");
        assert!(tally(browser).await[0].starts_with("50 × the signature was right"), "the tally counts every loaded page");

        // A new refusal shows when the tab is opened again, on a fresh first page.
        let lost = app.post_to_source("nowhere", "{}", &[("user-agent", "sender-lost/1.0")]).await;
        assert_eq!(json_with_status(lost, 404).await["error"], "unknown_source");
        wait_logged(&app, PAGE as i64 + 4).await;
        browser.click("#tab-history").await;
        browser.click("#tab-rejected").await;
        browser
            .wait_until(
                &format!("{} && document.querySelector('#rejected-list .rejection-code').textContent === 'unknown_source'", count_is(PAGE)),
                WAIT,
                "the newest refusal on top",
            )
            .await;
        let newest = &entries(browser).await[0];
        assert_eq!(newest["explanation"], "no webhook source is configured at the URL the sender used");
        assert_eq!(newest["status"], "404");
        assert_eq!(newest["source"], "nowhere");
        assert!(!browser.js("return document.querySelector('#rejected-more').hidden", vec![]).await.as_bool().unwrap());

        // When the server cannot be reached, the tab says so and keeps what it showed.
        app.stop().await;
        browser.click("#rejected-refresh").await;
        browser.wait_until("!document.querySelector('#rejected-error').hidden", WAIT, "the error state").await;
        let error = browser.text("#rejected-error").await;
        assert!(
            error.contains("The server cannot be reached. The list below is from the last successful load. Use Refresh to try again."),
            "{error}"
        );
        assert_eq!(entries(browser).await.len(), PAGE, "the last good list stays");
        assert!(browser.js("return document.querySelector('#rejected-empty').hidden", vec![]).await.as_bool().unwrap());
        browser.assert_no_dialog("in the Rejected tab").await;
    })
    .await;
    browser.close().await;
}
