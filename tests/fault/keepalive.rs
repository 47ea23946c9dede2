//! A pooled sender and the server's keep-alive: after an idle gap around the 5 s at which
//! Hookbox closes idle connections, with the server busy, every callback is still answered.
//! With reqwest's default pool (idle connections kept 90 s) a few of 400 such callbacks were
//! cut off without an answer: the client reused a connection the server was closing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::database::{Backend, TestDb};
use crate::load::{self, Message, Outcome, SERVER_KEEP_ALIVE};
use crate::server::Server;

const SENDERS: u64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pooled_sender_is_not_cut_off_by_the_keep_alive_close() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = Server::start(&test_db.url, &[]).await;
    let base = server.url("");

    // Keeps the workers busy, so the server's idle clock runs ahead of the client's.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (base, stop) = (base.clone(), stop.clone());
        tokio::spawn(async move {
            let client = load::client();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let batch = (n..n + 64).map(|i| load::send_forged(&client, &base, i));
                futures_util::future::join_all(batch).await;
                n += 64;
            }
        })
    };

    // Each sender: one callback, an idle gap from keep-alive − 200 ms to keep-alive + 200 ms
    // (1 ms apart across the senders), then another on the same client.
    let senders = (0..SENDERS).map(|i| {
        let base = base.clone();
        async move {
            let client = load::client();
            let first = load::send(&client, &base, &Message::new("before-gap", i as usize)).await;
            let gap = SERVER_KEEP_ALIVE - Duration::from_millis(200) + Duration::from_millis(i);
            tokio::time::sleep(gap).await;
            let second = load::send(&client, &base, &Message::new("after-gap", i as usize)).await;
            (i, first, second)
        }
    });
    let outcomes = futures_util::future::join_all(senders).await;
    stop.store(true, Ordering::SeqCst);
    busy.await.unwrap();

    let cut_off: Vec<_> = outcomes
        .iter()
        .filter(|(_, first, second)| *first != Outcome::Stored || *second != Outcome::Stored)
        .collect();
    assert!(
        cut_off.is_empty(),
        "{} of {SENDERS} senders lost a callback around the keep-alive: {cut_off:?}",
        cut_off.len()
    );
}
