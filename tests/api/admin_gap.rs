//! The gap test: several Hookbox instances on one Postgres database write concurrently with
//! random commit delays (a test-only writer knob), so transactions commit out of id order,
//! while a poller follows `next_cursor` of the check endpoint. With the writer's order lock
//! the poller sees every callback exactly once; with the lock switched off (test-only) the
//! same scenario misses callbacks, which shows the test can fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookbox::admin::cursor::Cursor;
use hookbox::store::writer::BatchLimits;

use crate::helpers::auth::Cred;
use crate::helpers::*;

const INSTANCES: usize = 3;
const SENDERS_PER_INSTANCE: usize = 6;
const CALLBACKS_PER_SENDER: usize = 12;

struct Outcome {
    /// How often the poller saw each stored id.
    seen: HashMap<i64, usize>,
    stored: Vec<i64>,
}

impl Outcome {
    fn missed(&self) -> Vec<i64> {
        self.stored
            .iter()
            .copied()
            .filter(|id| !self.seen.contains_key(id))
            .collect()
    }
    fn repeated(&self) -> Vec<i64> {
        self.seen
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .collect()
    }
}

async fn run_scenario(test_db: &TestDb, order_lock: bool, round: usize) -> Outcome {
    let mut apps = Vec::new();
    for _ in 0..INSTANCES {
        let options = AppOptions {
            batch: BatchLimits {
                commit_delay: Some((Duration::ZERO, Duration::from_millis(40))),
                order_lock,
                ..BatchLimits::default()
            },
            ..AppOptions::default()
        };
        apps.push(Arc::new(TestApp::spawn_with(test_db, options).await));
    }
    let admin = apps[0].login_admin().await;
    // Start from the current head so earlier rounds do not count.
    let head = apps[0]
        .get_json(&admin, "/api/admin/llm-callbacks/check?limit=1")
        .await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let head_id = Cursor::decode(&head).unwrap().id();

    let writing = Arc::new(AtomicBool::new(true));
    let poller = {
        let app = apps[0].clone();
        let writing = writing.clone();
        let admin = admin.clone();
        tokio::spawn(async move { poll(&app, &admin, head, &writing).await })
    };
    let mut senders = Vec::new();
    for (instance, app) in apps.iter().enumerate() {
        for sender in 0..SENDERS_PER_INSTANCE {
            let app = app.clone();
            senders.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..CALLBACKS_PER_SENDER {
                    let job = format!("gap-{round}-{instance}-{sender}-{i}");
                    let body = callback_body(&job, "workflow.completed");
                    let json = json_with_status(app.post_signed(&body).await, 200).await;
                    ids.push(json["id"].as_i64().unwrap());
                }
                ids
            }));
        }
    }
    let mut stored = Vec::new();
    for sender in senders {
        stored.extend(sender.await.unwrap());
    }
    writing.store(false, Ordering::SeqCst);
    let seen = poller.await.unwrap();
    stored.retain(|id| *id > head_id);
    for app in apps {
        if let Ok(app) = Arc::try_unwrap(app) {
            app.stop().await;
        }
    }
    Outcome { seen, stored }
}

/// Polls like the dashboard (but without pause) while writers run, then once more after.
async fn poll(
    app: &TestApp,
    admin: &Cred,
    mut cursor: String,
    writing: &AtomicBool,
) -> HashMap<i64, usize> {
    let mut seen = HashMap::new();
    let mut final_rounds = 0;
    loop {
        let still_writing = writing.load(Ordering::SeqCst);
        let page = app
            .get_json(
                admin,
                &format!("/api/admin/llm-callbacks/check?after={cursor}&limit=7"),
            )
            .await;
        for item in page["items"].as_array().unwrap() {
            *seen.entry(item["id"].as_i64().unwrap()).or_insert(0) += 1;
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if !still_writing && !page["has_more"].as_bool().unwrap() {
            final_rounds += 1;
            if final_rounds == 2 {
                return seen;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poller_following_next_cursor_sees_every_callback_once_despite_out_of_order_commits() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let outcome = run_scenario(&test_db, true, 0).await;
    assert_eq!(
        outcome.stored.len(),
        INSTANCES * SENDERS_PER_INSTANCE * CALLBACKS_PER_SENDER
    );
    assert_eq!(
        outcome.missed(),
        Vec::<i64>::new(),
        "the poller skipped callbacks"
    );
    assert_eq!(
        outcome.repeated(),
        Vec::<i64>::new(),
        "the poller saw callbacks twice"
    );
    assert_eq!(outcome.seen.len(), outcome.stored.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_order_lock_the_same_poller_misses_callbacks() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    // Out-of-order commits are likely in every round but not certain; up to 20 rounds make a
    // miss overwhelmingly likely, which is what shows the scenario detects gaps.
    let mut missed = Vec::new();
    for round in 0..20 {
        let outcome = run_scenario(&test_db, false, round).await;
        assert_eq!(outcome.repeated(), Vec::<i64>::new());
        missed = outcome.missed();
        if !missed.is_empty() {
            break;
        }
    }
    assert!(
        !missed.is_empty(),
        "without the order lock, commits out of id order must make a naive cursor skip rows"
    );
}
