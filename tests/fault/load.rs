//! A sender at full speed: many tasks posting distinct signed callbacks, each outcome recorded,
//! and the checks that compare what was answered with what is stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox::ingest::signature::header_value;

use crate::server::{PATH, SECRET};

#[derive(Clone, Debug)]
pub struct Message {
    /// Sent as `webhook-id`, so the stored delivery key is `wid:<key>`.
    pub key: String,
    pub body: String,
}

impl Message {
    pub fn new(tag: &str, n: usize) -> Message {
        let key = format!("{tag}-{n}");
        // Varying sizes and a non-ASCII character, so "intact" means something.
        let body = serde_json::json!({
            "event": "workflow.completed",
            "job_id": key,
            "status": "completed",
            "result": { "text": format!("résumé {}", "x".repeat(n % 700)) },
        })
        .to_string();
        Message { key, body }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Refused {
        status: u16,
        retry_after: bool,
    },
    /// No HTTP answer (connection refused, reset, closed).
    Transport,
}

#[derive(Clone, Debug)]
pub struct Sent {
    pub message: Message,
    pub outcome: Outcome,
    pub started: Instant,
    pub finished: Instant,
}

/// How long Hookbox keeps an idle connection open (actix-web's default keep-alive).
pub const SERVER_KEEP_ALIVE: Duration = Duration::from_secs(5);

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        // Hookbox (actix-web) closes a connection idle for 5 s. Reusing a pooled connection at
        // about that age races the close: the request is cut off without an answer (hyper's
        // `IncompleteMessage` or a reset), more often under load, when the server's idle clock
        // starts well before the client's. Dropping idle connections after 1 s, as a sender
        // should with any server's keep-alive, avoids reusing one the server is closing.
        .pool_idle_timeout(SERVER_KEEP_ALIVE / 5)
        .build()
        .unwrap()
}

/// Posts callback `i` of the "forged" kind, signed with a secret the server does not know.
pub async fn send_forged(
    client: &reqwest::Client,
    base: &str,
    i: usize,
) -> reqwest::Result<reqwest::Response> {
    let message = Message::new("forged", i);
    client
        .post(format!("{base}{PATH}"))
        .header(
            "x-webhook-signature",
            header_value(b"wrong-secret", message.body.as_bytes()),
        )
        .body(message.body)
        .send()
        .await
}

pub async fn send(client: &reqwest::Client, base: &str, message: &Message) -> Outcome {
    let response = client
        .post(format!("{base}{PATH}"))
        .header("content-type", "application/json")
        .header("webhook-id", &message.key)
        .header(
            "x-webhook-signature",
            header_value(SECRET.as_bytes(), message.body.as_bytes()),
        )
        .body(message.body.clone())
        .send()
        .await;
    match response {
        Ok(response) if response.status() == 200 => match response.bytes().await {
            Ok(_) => Outcome::Stored,
            Err(_) => Outcome::Transport,
        },
        Ok(response) => Outcome::Refused {
            status: response.status().as_u16(),
            retry_after: response.headers().contains_key("retry-after"),
        },
        Err(_) => Outcome::Transport,
    }
}

/// Starts `tasks` senders posting `tag-0`, `tag-1`, … until `stop` is set.
pub fn start(
    base: String,
    tag: &str,
    tasks: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Sent>> {
    let next = Arc::new(AtomicUsize::new(0));
    let client = client();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (base, tag, stop, next, client) = (
                base.clone(),
                tag.to_owned(),
                stop.clone(),
                next.clone(),
                client.clone(),
            );
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let message = Message::new(&tag, next.fetch_add(1, Ordering::SeqCst));
                    let started = Instant::now();
                    let outcome = send(&client, &base, &message).await;
                    sent.push(Sent {
                        message,
                        outcome,
                        started,
                        finished: Instant::now(),
                    });
                }
                sent
            })
        })
        .collect();
    tokio::spawn(async move {
        let mut all = Vec::new();
        for handle in handles {
            all.extend(handle.await.unwrap());
        }
        all
    })
}

/// Sends each message until it gets a 200 (a sender's retries), 16 at a time.
pub async fn retry_until_stored(base: &str, messages: &[Message]) {
    use futures_util::StreamExt;
    let client = client();
    futures_util::stream::iter(messages)
        .for_each_concurrent(16, |message| {
            let client = &client;
            async move {
                let mut attempts = 0;
                while send(client, base, message).await != Outcome::Stored {
                    attempts += 1;
                    assert!(attempts < 50, "{} never got a 200", message.key);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .await;
}

/// Every message in `acked` is stored once with identical bytes; returns how many of the
/// `unacked` were stored anyway (a 200 that never reached the sender).
/// The messages that got a 200 (stored), and all the others.
pub fn split_by_answer(sent: &[Sent]) -> (Vec<&Message>, Vec<&Message>) {
    let (acked, unacked): (Vec<&Sent>, Vec<&Sent>) =
        sent.iter().partition(|s| s.outcome == Outcome::Stored);
    (
        acked.into_iter().map(|s| &s.message).collect(),
        unacked.into_iter().map(|s| &s.message).collect(),
    )
}

pub fn check_acked(
    stored: &[(String, Vec<u8>)],
    acked: &[&Message],
    unacked: &[&Message],
) -> usize {
    let mut by_key: HashMap<&str, Vec<&[u8]>> = HashMap::new();
    for (key, body) in stored {
        by_key.entry(key.as_str()).or_default().push(body);
    }
    for (key, bodies) in &by_key {
        assert_eq!(bodies.len(), 1, "{key} is stored {} times", bodies.len());
    }
    for message in acked {
        let key = format!("wid:{}", message.key);
        let bodies = by_key
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{} got a 200 but is not stored", message.key));
        assert_eq!(
            bodies[0],
            message.body.as_bytes(),
            "{} stored intact",
            message.key
        );
    }
    unacked
        .iter()
        .filter(|m| by_key.contains_key(format!("wid:{}", m.key).as_str()))
        .count()
}

/// After the retries: exactly the messages sent, each once, each intact.
pub fn check_complete(stored: &[(String, Vec<u8>)], all: &[&Message]) {
    let everything: Vec<&Message> = all.to_vec();
    check_acked(stored, &everything, &[]);
    assert_eq!(stored.len(), all.len(), "no row that was never sent");
}
