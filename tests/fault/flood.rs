//! Floods: thousands of idle connections, oversized bodies (declared and chunked), trickled
//! bodies, readers that never read, and invalid signatures at a high rate — while a valid
//! sender keeps getting 200s. Memory stays bounded and nothing invalid is stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::database::{Backend, TestDb};
use crate::load::{self, Message, Outcome};
use crate::server::{rounds, stored, Server, PATH};

const LIMIT: usize = 1 << 20;

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// Sends `head` and `body` (ignoring write errors: the server may cut us off), then reads the
/// status line, giving up after 30 s.
async fn raw_status(port: u16, head: String, body: Vec<u8>) -> Option<u16> {
    let mut stream = connect(port).await;
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer)).await;
    let n = read.ok()?.ok()?;
    std::str::from_utf8(&buffer[..n])
        .ok()?
        .get(9..12)?
        .parse()
        .ok()
}

fn head(extra: &str) -> String {
    format!(
        "POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{extra}\r\n"
    )
}

fn chunked(total: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        body.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        body.extend_from_slice(&chunk[..n]);
        body.extend_from_slice(b"\r\n");
        sent += n;
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn floods_of_bad_traffic_leave_valid_callbacks_answered_and_memory_bounded() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut server = Server::start(&test_db.url, &["--body-timeout-secs", "2"]).await;
    let scale = rounds(1);
    let port = server.port;
    let (rss_start, _) = server.rss_kib();

    // A valid sender throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let valid = load::start(server.url(""), "valid", 2, stop.clone());

    // 1. Thousands of idle connections, held open during everything else.
    let idle_count = 2000 * scale.min(4);
    let mut idle = Vec::with_capacity(idle_count);
    for _ in 0..idle_count {
        idle.push(connect(port).await);
    }
    let (rss_idle, _) = server.rss_kib();

    // 2. Oversized bodies: declared (refused before reading) and chunked (cut at the limit).
    let declared = (0..200 * scale).map(|_| {
        raw_status(
            port,
            head(&format!(
                "x-webhook-signature: sha256={}\r\ncontent-length: 104857600\r\n",
                "0".repeat(64)
            )),
            vec![b'x'; 1024],
        )
    });
    let declared = futures_util::future::join_all(declared).await;
    assert!(
        declared.iter().all(|s| *s == Some(413)),
        "declared oversize: {declared:?}"
    );
    let chunked_requests = (0..50 * scale).map(|_| {
        raw_status(
            port,
            head(&format!(
                "x-webhook-signature: sha256={}\r\ntransfer-encoding: chunked\r\n",
                "0".repeat(64)
            )),
            chunked(LIMIT + 128 * 1024),
        )
    });
    let chunked_answers = futures_util::future::join_all(chunked_requests).await;
    assert!(
        chunked_answers.iter().all(|s| *s == Some(413)),
        "chunked oversize: {chunked_answers:?}"
    );
    let (rss_oversize, _) = server.rss_kib();

    // 3. Slow trickle: a byte every 500 ms; the 2 s body timeout answers 408.
    let trickles = (0..200 * scale).map(|_| async move {
        let mut stream = connect(port).await;
        stream
            .write_all(
                head(&format!(
                    "x-webhook-signature: sha256={}\r\ncontent-length: 1000\r\n",
                    "0".repeat(64)
                ))
                .as_bytes(),
            )
            .await
            .unwrap();
        for _ in 0..10 {
            if stream.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut buffer = [0u8; 64];
        let n = stream.read(&mut buffer).await.unwrap_or(0);
        String::from_utf8_lossy(&buffer[..n])
            .get(9..12)
            .map(str::to_owned)
    });
    let trickled = futures_util::future::join_all(trickles).await;
    assert!(
        trickled.iter().all(|s| s.as_deref() == Some("408")),
        "trickled: {trickled:?}"
    );

    // 4. Slow readers: 200 connections each pipeline 100 requests and never read.
    let mut unread = Vec::new();
    for _ in 0..200 * scale {
        let mut stream = connect(port).await;
        let requests = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(100);
        let _ = stream.write_all(requests.as_bytes()).await;
        unread.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_unread, _) = server.rss_kib();
    drop(unread);

    // 5. Invalid signatures at a high rate.
    let client = load::client();
    let base = server.url("");
    let invalid_total = 5000 * scale;
    let forged = futures_util::stream::iter(0..invalid_total)
        .map(|i| {
            let client = &client;
            let base = &base;
            async move {
                // 0: no HTTP answer (connection reset); counted and reported.
                load::send_forged(client, base, i)
                    .await
                    .map_or(0, |r| r.status().as_u16())
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<u16>>()
        .await;
    let forged_unanswered = forged.iter().filter(|s| **s == 0).count();
    let mut forged_statuses = std::collections::BTreeMap::new();
    for status in &forged {
        *forged_statuses.entry(*status).or_insert(0usize) += 1;
    }
    assert!(
        forged.iter().all(|s| *s == 401 || *s == 0),
        "every forged callback is refused; answers by status: {forged_statuses:?}"
    );
    assert!(
        forged_unanswered * 100 <= forged.len(),
        "{forged_unanswered} forged requests got no answer"
    );

    stop.store(true, Ordering::SeqCst);
    let sent = valid.await.unwrap();
    let (rss_end, rss_hwm) = server.rss_kib();
    assert!(server.is_running(), "hookbox survived the floods");
    drop(idle);

    let unanswered: Vec<(&str, &Outcome)> = sent
        .iter()
        .filter(|s| s.outcome != Outcome::Stored)
        .map(|s| (s.message.key.as_str(), &s.outcome))
        .collect();
    assert!(
        unanswered.is_empty(),
        "every valid callback got a 200 during the floods; of {} these did not: {unanswered:?}",
        sent.len()
    );
    let rows = stored(&test_db.url).await;
    let all: Vec<&Message> = sent.iter().map(|s| &s.message).collect();
    load::check_complete(&rows, &all);
    assert!(
        rows.iter().all(|(key, _)| !key.contains("forged")),
        "nothing forged is stored"
    );
    assert!(rss_hwm < 512 * 1024, "peak RSS {rss_hwm} KiB");
    println!(
        "floods: {idle_count} idle connections, {} declared-oversize (413), {} chunked-oversize (413), \
         {} trickled (408), {} slow readers × 100 pipelined requests, {invalid_total} forged (401; {forged_unanswered} of them reset without an answer): \
         {} valid callbacks sent meanwhile, all 200 and stored; nothing forged stored. \
         RSS KiB: start {rss_start}, with idle connections {rss_idle}, after oversize {rss_oversize}, \
         with slow readers {rss_unread}, end {rss_end}, high-water mark {rss_hwm}",
        declared.len(),
        chunked_answers.len(),
        trickled.len(),
        200 * scale,
        sent.len()
    );
}
