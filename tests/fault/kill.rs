//! SIGKILL under full load, restart on the same database: every 200 is stored intact exactly
//! once, and after the sender retries the rest, the set is complete without duplicates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::database::{Backend, TestDb};
use crate::load::{self, Message};
use crate::server::{rounds, stored, Server};

async fn kill_rounds(backend: Backend) {
    let Some(test_db) = TestDb::create(backend).await else {
        return;
    };
    let rounds = rounds(2);
    let mut everything: Vec<Message> = Vec::new();
    let (mut total_acked, mut total_unacked, mut stored_unacked) = (0, 0, 0);
    for round in 0..rounds {
        let mut server = Server::start(&test_db.url, &[]).await;
        let stop = Arc::new(AtomicBool::new(false));
        let load = load::start(server.url(""), &format!("r{round}"), 32, stop.clone());
        let delay = rand::random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        let sent = load.await.unwrap();

        let (acked, unacked) = load::split_by_answer(&sent);
        assert!(
            !acked.is_empty(),
            "round {round}: the load got some 200s before the kill"
        );
        let rows = stored(&test_db.url).await;
        let kept = load::check_acked(&rows, &acked, &unacked);
        println!(
            "kill -9 {backend:?} round {round}: killed after {delay} ms; {} answered 200 (all stored intact), \
             {} without a 200 ({kept} of those stored anyway)",
            acked.len(),
            unacked.len()
        );
        total_acked += acked.len();
        total_unacked += unacked.len();
        stored_unacked += kept;

        let server = Server::start(&test_db.url, &[]).await;
        let retry: Vec<Message> = unacked.into_iter().cloned().collect();
        load::retry_until_stored(&server.url(""), &retry).await;
        everything.extend(sent.into_iter().map(|s| s.message));
        let rows = stored(&test_db.url).await;
        load::check_complete(&rows, &everything.iter().collect::<Vec<_>>());
    }
    println!(
        "kill -9 {backend:?}: {rounds} rounds, {total_acked} × 200 all stored intact once, \
         {total_unacked} retried ({stored_unacked} had been stored before the kill), \
         final set complete: {} rows, no duplicates, nothing lost",
        everything.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_callback_on_sqlite() {
    kill_rounds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_callback_on_postgres() {
    kill_rounds(Backend::Postgres).await;
}
