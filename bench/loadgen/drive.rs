//! The senders: each keeps one keep-alive HTTP/1.1 connection and sends one request at a
//! time, as a webhook sender's worker does, recording what came back.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::callbacks::{self, Pick, Picker, Rng, Signed};

pub struct Target {
    pub address: String,
    pub host: HeaderValue,
    pub path: String,
}

pub struct Plan {
    pub target: Target,
    pub callbacks: Vec<Signed>,
    /// Callbacks past the pre-signed ones are signed when sent (long soak runs); `None`
    /// stops the run when the pre-signed ones are used up.
    pub sign_beyond: Option<Signer>,
    pub picker: Picker,
    /// Requests started before this are sent but not measured (connections, caches, JIT).
    pub measure_from: Instant,
    pub stop_at: Instant,
    /// Latencies are kept apart by the interval of this length in which their request
    /// started (report.rs's `Interval`); the whole measured window when not asked for.
    pub interval: Duration,
}

pub struct Signer {
    pub secret: Vec<u8>,
    pub body_bytes: usize,
    pub run_tag: String,
}

impl Plan {
    /// Which interval of the measured window a request started at `started` belongs to. One
    /// that starts a hair after `stop_at` (the loop checks the clock just before) counts in
    /// the last one rather than opening an interval of its own.
    fn interval_of(&self, started: Instant) -> usize {
        let length = self.interval.as_nanos().max(1);
        let window = self.stop_at.saturating_duration_since(self.measure_from);
        let last = window.as_nanos().saturating_sub(1) / length;
        let index = started
            .saturating_duration_since(self.measure_from)
            .as_nanos()
            / length;
        usize::try_from(index.min(last)).unwrap_or(usize::MAX)
    }

    fn callback(&self, index: usize) -> Cow<'_, Signed> {
        match (self.callbacks.get(index), &self.sign_beyond) {
            (Some(signed), _) => Cow::Borrowed(signed),
            (None, Some(s)) => Cow::Owned(callbacks::signed(
                index,
                s.body_bytes,
                &s.secret,
                &s.run_tag,
            )),
            // The picker never hands out an index past the pre-signed ones without a signer.
            (None, None) => Cow::Owned(callbacks::signed(index, 0, b"", "")),
        }
    }
}

/// What one sender saw. Latencies and statuses cover the measured window; `new_ids` covers
/// the whole run, for the check against the database.
#[derive(Default)]
pub struct Tally {
    /// Indexed by `Plan::interval_of` the request's start.
    pub latencies_us_by_interval: Vec<Vec<u32>>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub duplicates_sent: u64,
    /// Ids answered `200 duplicate:false`, warm-up included.
    pub new_ids: Vec<i64>,
    /// 200 answers whose body was not the expected JSON.
    pub malformed: u64,
    pub exhausted: bool,
}

#[derive(Deserialize)]
struct Accepted {
    id: i64,
    duplicate: bool,
}

pub async fn sender(plan: Arc<Plan>, seed: u64) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng::seeded(seed);
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    while Instant::now() < plan.stop_at {
        let (index, duplicate) = match plan.picker.pick(&mut rng) {
            Pick::New(index) => (index, false),
            Pick::Duplicate(index) => (index, true),
            Pick::Exhausted => {
                tally.exhausted = true;
                break;
            }
        };
        let started = Instant::now();
        let measured = started >= plan.measure_from;
        if measured && duplicate {
            tally.duplicates_sent += 1;
        }
        let answer = send(&plan, &mut connection, &plan.callback(index)).await;
        let elapsed = started.elapsed();
        match answer {
            Ok((status, body)) => {
                if status == 200 {
                    match serde_json::from_slice::<Accepted>(&body) {
                        Ok(accepted) if !accepted.duplicate => tally.new_ids.push(accepted.id),
                        Ok(_) => {}
                        Err(_) => tally.malformed += 1,
                    }
                }
                if measured {
                    *tally.statuses.entry(status).or_default() += 1;
                    let interval = plan.interval_of(started);
                    if tally.latencies_us_by_interval.len() <= interval {
                        tally
                            .latencies_us_by_interval
                            .resize_with(interval + 1, Vec::new);
                    }
                    tally.latencies_us_by_interval[interval].push(micros(elapsed));
                }
            }
            Err(error) => {
                connection = None;
                if measured {
                    tally.transport_errors += 1;
                }
                if tally.transport_errors <= 3 {
                    eprintln!("request failed: {error}");
                }
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

type Answer = (u16, Bytes);

async fn send(
    plan: &Plan,
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    callback: &Signed,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
    let open = match connection {
        Some(open) if !open.is_closed() => open,
        _ => connection.insert(connect(&plan.target.address).await?),
    };
    open.ready().await?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(plan.target.path.as_str())
        .header(HOST, plan.target.host.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header("x-webhook-signature", callback.signature.clone())
        .body(Full::new(callback.body.clone()))?;
    let response = open.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

async fn connect(
    address: &str,
) -> Result<SendRequest<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (send, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender drops it or the server closes it; a failure
        // shows up on the next request, which reconnects.
        let _ = connection.await;
    });
    Ok(send)
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(measure_from: Instant, seconds: u64, interval_secs: u64) -> Plan {
        Plan {
            target: Target {
                address: "127.0.0.1:9".into(),
                host: HeaderValue::from_static("127.0.0.1:9"),
                path: "/".into(),
            },
            callbacks: Vec::new(),
            sign_beyond: None,
            picker: Picker::new(0, 0.0),
            measure_from,
            stop_at: measure_from + Duration::from_secs(seconds),
            interval: Duration::from_secs(interval_secs),
        }
    }

    #[test]
    fn requests_fall_in_the_interval_they_started_in_and_late_ones_in_the_last() {
        let from = Instant::now();
        let every_3_s = plan(from, 10, 3);
        let at = |millis| every_3_s.interval_of(from + Duration::from_millis(millis));
        assert_eq!(at(0), 0);
        assert_eq!(at(2_999), 0);
        assert_eq!(at(3_000), 1);
        assert_eq!(at(9_999), 3);
        assert_eq!(at(10_001), 3, "a request started just after stop_at");
        // Without --interval-secs the interval is the whole window: one.
        let whole = plan(from, 10, 10);
        assert_eq!(whole.interval_of(from + Duration::from_millis(10_050)), 0);
    }
}
