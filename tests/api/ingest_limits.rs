//! Body size and time limits: 1 MiB exactly is accepted, one byte more is refused, by
//! Content-Length and by chunked transfer; a trickling body is cut off.

use std::time::Duration;

use crate::helpers::*;
use bytes::Bytes;
use hookbox::store::{callbacks, rejections};

const LIMIT: usize = 1_048_576;

/// A valid callback of exactly `size` bytes.
fn body_of_size(size: usize) -> String {
    let head = r#"{"event":"workflow.completed","job_id":"big","pad":""#;
    let tail = "\"}";
    format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()))
}

/// Sends `body` with chunked transfer encoding (no Content-Length), in 64 KiB pieces.
async fn post_chunked(app: &TestApp, body: String) -> reqwest::Response {
    let signature = sign(SECRET, &body);
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    app.client
        .post(app.url(CALLBACK_PATH))
        .header("x-webhook-signature", signature)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request sent")
}

on_both_backends! {
    async fn exactly_one_mebibyte_is_accepted_and_one_byte_more_is_refused(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let body = body_of_size(LIMIT);
        assert_eq!(body.len(), LIMIT);
        let id = json_with_status(app.post_signed(&body).await, 200).await["id"].as_i64().unwrap();
        assert_eq!(callbacks::find(&app.db, id).await.unwrap().body.len(), LIMIT);

        let json = json_with_status(app.post_signed(&body_of_size(LIMIT + 1)).await, 413).await;
        assert_eq!(json["error"], "payload_too_large");
        assert_eq!(json["limit_bytes"], LIMIT);
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 1);
    }

    async fn chunked_bodies_obey_the_same_limit(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let accepted = post_chunked(&app, body_of_size(LIMIT)).await;
        json_with_status(accepted, 200).await;
        let refused = post_chunked(&app, body_of_size(LIMIT + 1)).await;
        let json = json_with_status(refused, 413).await;
        assert_eq!(json["error"], "payload_too_large");
        assert_eq!(callbacks::count(&app.db).await.unwrap(), 1);
        eventually("the refusal is logged", || async {
            rejections::count(&app.db).await.unwrap() == 1
        }).await;
        let logged = rejections::page(&app.db, None, 1).await.unwrap();
        assert!(logged[0].body_bytes.is_some_and(|read| read > LIMIT as i64), "{logged:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_declared_length_is_refused_before_the_body_is_sent() {
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn(&test_db).await;
    // Headers only: a server that waited for the 10 GB body would never answer.
    let request = format!(
        "POST {CALLBACK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\
         X-Webhook-Signature: {}\r\n\r\n",
        sign(SECRET, "")
    );
    let text = app.answer_to_head(&request).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_is_cut_off_by_the_body_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let test_db = TestDb::create(Backend::Sqlite).await.unwrap();
    let options = AppOptions {
        body_timeout: Duration::from_secs(1),
        ..AppOptions::default()
    };
    let app = TestApp::spawn_with(&test_db, options).await;
    let body = callback_body("slow", "workflow.completed");
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST {CALLBACK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nX-Webhook-Signature: {}\r\n\r\n",
        body.len(),
        sign(SECRET, &body)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("server answers the trickler")
        .unwrap();
    let text = String::from_utf8_lossy(&response[..read]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(callbacks::count(&app.db).await.unwrap(), 0);
    // The rejection log says how much of the body had arrived, not that none was read.
    eventually("the refusal is logged", || async {
        rejections::count(&app.db).await.unwrap() == 1
    })
    .await;
    let logged = rejections::page(&app.db, None, 1).await.unwrap();
    assert_eq!(logged[0].reason, "body_timeout");
    assert_eq!(logged[0].body_bytes, Some(5));
}
