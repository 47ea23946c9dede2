//! Postgres unreachable during full load (a TCP proxy cut between Hookbox and the shared
//! server, which is never touched): no 200 while it is down, 503 + Retry-After instead,
//! /readyz unhealthy, no crash, bounded memory; after restore, recovery without a restart
//! and nothing lost. And a retry of a callback stored just before the cut is still answered 200
//! from the writer's memory, while new callbacks get 503.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::database::{Backend, TestDb};
use crate::load::{self, Message, Outcome};
use crate::proxy::ChaosProxy;
use crate::server::{rounds, stored, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_under_load_gives_503s_and_recovers_without_loss() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let proxy = ChaosProxy::start(5432).await;
    let via_proxy = test_db.url_via(proxy.port);
    let mut server = Server::start(&via_proxy, &["--db-timeout-ms", "1000"]).await;
    let client = load::client();
    let outage = Duration::from_secs(rounds(2).max(2) as u64 * 2);

    let stop = Arc::new(AtomicBool::new(false));
    let load = load::start(server.url(""), "outage", 16, stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_before, _) = server.rss_kib();

    proxy.cut();
    let cut_at = Instant::now();
    let mut readyz_while_down = Vec::new();
    let mut rss_peak_down = 0;
    while cut_at.elapsed() < outage {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        readyz_while_down.push(status.as_u16());
        rss_peak_down = rss_peak_down.max(server.rss_kib().0);
        assert!(
            server.is_running(),
            "hookbox must not crash while the database is away"
        );
    }
    proxy.restore();
    let restored_at = Instant::now();

    let probe = Message::new("probe", 0);
    let recovered_after = loop {
        if load::send(&client, &server.url(""), &probe).await == Outcome::Stored {
            break restored_at.elapsed();
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(30),
            "ingest did not recover within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ready_after = client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let sent = load.await.unwrap();
    let (_, rss_hwm) = server.rss_kib();

    // A request that began after the cut and was answered before the restore cannot have
    // been stored: it must not be a 200, and it must be a 503 with Retry-After.
    let during: Vec<_> = sent
        .iter()
        .filter(|s| s.started > cut_at && s.finished < restored_at)
        .collect();
    assert!(
        !during.is_empty(),
        "the load kept sending during the outage"
    );
    for s in &during {
        assert_eq!(
            s.outcome,
            Outcome::Refused {
                status: 503,
                retry_after: true
            },
            "{} during the outage",
            s.message.key
        );
    }
    assert!(
        readyz_while_down.iter().all(|s| *s == 503),
        "/readyz while down: {readyz_while_down:?}"
    );
    assert_eq!(ready_after, 200);
    assert_eq!(
        sent.iter()
            .filter(|s| s.outcome == Outcome::Transport)
            .count(),
        0,
        "every request got an HTTP answer"
    );

    let (acked, unacked) = load::split_by_answer(&sent);
    let rows = stored(&test_db.url).await;
    load::check_acked(&rows, &acked, &unacked);
    let retry: Vec<Message> = unacked.iter().map(|m| (*m).clone()).collect();
    load::retry_until_stored(&server.url(""), &retry).await;
    let mut all: Vec<&Message> = sent.iter().map(|s| &s.message).collect();
    all.push(&probe);
    load::check_complete(&stored(&test_db.url).await, &all);
    assert!(rss_hwm < 512 * 1024, "peak RSS {rss_hwm} KiB");
    println!(
        "outage: {} requests, {} during a {:.1} s outage (all 503 + Retry-After), {} × 200 all stored; \
         recovered {:.2} s after restore without restart; {} retried, final set complete ({} rows); \
         RSS before {} KiB, peak while down {} KiB, high-water mark {} KiB",
        sent.len(),
        during.len(),
        outage.as_secs_f64(),
        acked.len(),
        recovered_after.as_secs_f64(),
        retry.len(),
        all.len(),
        rss_before,
        rss_peak_down,
        rss_hwm
    );
}

/// A sender that retries a callback Hookbox has just stored gets its 200 even while the
/// database is away (the writer remembers what it stored in the last minute), while anything
/// new is refused with 503 until the database is back; no row is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_just_stored_callback_is_answered_during_an_outage() {
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let proxy = ChaosProxy::start(5432).await;
    let server = Server::start(&test_db.url_via(proxy.port), &["--db-timeout-ms", "1000"]).await;
    let client = load::client();
    let base = server.url("");
    let stored_before = Message::new("stored-before", 0);
    assert_eq!(
        load::send(&client, &base, &stored_before).await,
        Outcome::Stored
    );

    proxy.cut();
    assert_eq!(
        load::send(&client, &base, &stored_before).await,
        Outcome::Stored,
        "a retry of a stored callback while the database is away"
    );
    let new = Message::new("new-during-outage", 0);
    assert_eq!(
        load::send(&client, &base, &new).await,
        Outcome::Refused {
            status: 503,
            retry_after: true
        },
        "a new callback while the database is away"
    );

    proxy.restore();
    load::retry_until_stored(&base, std::slice::from_ref(&new)).await;
    load::check_complete(&stored(&test_db.url).await, &[&stored_before, &new]);
}
