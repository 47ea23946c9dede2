//! SIGTERM during load: a request whose body is still arriving gets its true answer, new
//! connections are refused, every 200 is stored, and the process exits in bounded time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox::ingest::signature::header_value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::database::{Backend, TestDb};
use crate::load::{self, Message, Outcome};
use crate::server::{stored, Server, PATH, SECRET};

async fn sigterm_during_load(backend: Backend) {
    let Some(test_db) = TestDb::create(backend).await else {
        return;
    };
    let mut server = Server::start(&test_db.url, &["--shutdown-timeout-secs", "10"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = load::start(server.url(""), "term", 16, stop.clone());

    // A request in flight across the signal: headers and half the body now, the rest later.
    let slow = Message::new("slow", 1);
    let mut in_flight = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let signature = header_value(SECRET.as_bytes(), slow.body.as_bytes());
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         webhook-id: {}\r\nx-webhook-signature: {signature}\r\ncontent-length: {}\r\n\r\n",
        slow.key,
        slow.body.len()
    );
    let (first, rest) = slow.body.as_bytes().split_at(slow.body.len() / 2);
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(first).await.unwrap();

    tokio::time::sleep(Duration::from_millis(700)).await;
    server.sigterm();
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .is_err();
    in_flight.write_all(rest).await.unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let exit = server.wait_exit(Duration::from_secs(30)).await;
    let exited_after = signalled.elapsed();
    let sent = load.await.unwrap();

    assert!(refused, "a new connection after SIGTERM is refused");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the in-flight request gets its answer: {answer}"
    );
    let exit = exit.expect("hookbox exits within 30 s of SIGTERM");
    assert!(exit.success(), "clean exit: {exit:?}");

    let (acked, unacked) = load::split_by_answer(&sent);
    let refused_http = sent
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Refused { .. }))
        .count();
    assert_eq!(
        refused_http, 0,
        "nothing is answered with an error because of the shutdown"
    );
    let mut acked_all = acked.clone();
    acked_all.push(&slow);
    let rows = stored(&test_db.url).await;
    let kept = load::check_acked(&rows, &acked_all, &unacked);
    println!(
        "SIGTERM {backend:?}: {} × 200 before/while stopping, all stored; the half-sent request \
         finished with 200 and is stored; new connection refused; {} requests without an answer \
         (connection refused/closed, {kept} of them stored); exited {:?} after the signal with {exit}",
        acked.len(),
        unacked.len(),
        exited_after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_requests_and_refuses_new_ones_on_sqlite() {
    sigterm_during_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_requests_and_refuses_new_ones_on_postgres() {
    sigterm_during_load(Backend::Postgres).await;
}
