//! `hookbox-loadgen`: drives a webhook receiver with pre-signed callbacks at a fixed number of
//! concurrent senders, prints throughput and latency, and checks afterwards that the rows
//! stored equal the `200 duplicate:false` answers. Used by `bench/run.sh`; see
//! docs/performance.md.

mod callbacks;
mod drive;
mod report;

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use hookbox::store::{callbacks::count, DatabaseUrl, Db, PoolSettings};
use hyper::header::HeaderValue;
use hyper::Uri;

use drive::{Plan, Tally, Target};
use report::{Interval, Summary};

#[derive(Parser, Debug)]
#[command(
    name = "hookbox-loadgen",
    about = "Load generator for webhook receivers: pre-signed callbacks, C senders, D seconds."
)]
struct Args {
    /// The ingest URL.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080/api/webhooks/llm-callback"
    )]
    url: String,
    /// The raw webhook secret the receiver verifies with (not `label:secret`).
    #[arg(long, env = "HOOKBOX_BENCH_SECRET", hide_env_values = true)]
    secret: String,
    /// Concurrent senders, each with one keep-alive connection and one request in flight.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Seconds of load before measuring starts; their requests still count for the check.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Distinct callbacks signed before the run; the run stops early if they run out.
    #[arg(long, default_value_t = 200_000)]
    callbacks: usize,
    /// Keep sending new callbacks after the pre-signed ones run out, signing each when sent
    /// (for long soak runs, where pre-signing everything would take gigabytes).
    #[arg(long)]
    sign_beyond: bool,
    /// Size of each callback body in bytes.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// Share of requests (0..1) that redeliver a callback already sent.
    #[arg(long, default_value_t = 0.0)]
    duplicate_ratio: f64,
    /// Runtime threads of the generator (1 = a single-threaded runtime, the cheapest).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The receiver's database (postgres://… or sqlite://…): after the run, rows stored must
    /// equal the `200 duplicate:false` answers. The table read is `callbacks`.
    #[arg(long)]
    database_url: Option<String>,
    /// Also print req/s and latency for each interval of this many measured seconds (by the
    /// time each request started), for long runs.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    interval_secs: Option<u64>,
    /// A name for the summary line.
    #[arg(long, default_value = "run")]
    label: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    match runtime
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run(args)))
    {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(false)` when the run completed but the stored rows do not match the answers.
async fn run(args: Args) -> Result<bool, String> {
    let target = target(&args.url)?;
    let db = match &args.database_url {
        Some(url) => Some(connect(url)?),
        None => None,
    };
    let rows_before = match &db {
        Some(db) => Some(count(db).await.map_err(|e| e.to_string())?),
        None => None,
    };

    let run_tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
        .to_string();
    let signing = Instant::now();
    let callbacks = callbacks::presign(
        args.callbacks,
        args.body_bytes,
        args.secret.as_bytes(),
        &run_tag,
    );
    println!(
        "{}: {} senders, {} s (+{} s warm-up), {} pre-signed callbacks of {} bytes (signed in {:.1} s), duplicate ratio {}",
        args.url,
        args.concurrency,
        args.duration_secs,
        args.warmup_secs,
        args.callbacks,
        callbacks.first().map_or(0, |c| c.body.len()),
        signing.elapsed().as_secs_f64(),
        args.duplicate_ratio
    );

    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup_secs);
    let seed: u64 = run_tag.parse().unwrap_or(1);
    let total = if args.sign_beyond {
        usize::MAX
    } else {
        args.callbacks
    };
    let plan = Arc::new(Plan {
        target,
        callbacks,
        sign_beyond: args.sign_beyond.then(|| drive::Signer {
            secret: args.secret.as_bytes().to_vec(),
            body_bytes: args.body_bytes,
            run_tag: run_tag.clone(),
        }),
        picker: callbacks::Picker::new(total, args.duplicate_ratio),
        measure_from,
        stop_at: measure_from + Duration::from_secs(args.duration_secs),
        interval: Duration::from_secs(args.interval_secs.unwrap_or(args.duration_secs)),
    });
    let senders: Vec<_> = (0..args.concurrency.max(1))
        .map(|i| tokio::spawn(drive::sender(plan.clone(), seed ^ i as u64)))
        .collect();
    let mut tallies = Vec::with_capacity(senders.len());
    for sender in senders {
        tallies.push(sender.await.map_err(|e| e.to_string())?);
    }
    let elapsed = measure_from.elapsed();

    if args.interval_secs.is_some() {
        for interval in Interval::split(&tallies, plan.interval, elapsed) {
            interval.print();
        }
    }
    let summary = Summary::new(&tallies, elapsed);
    summary.print();
    if tallies.iter().any(|t| t.exhausted) {
        println!(
            "NOTE       all {} pre-signed callbacks were sent before the time was up; the run \
             was shorter than asked (raise --callbacks)",
            plan.picker.new_sent()
        );
    }
    let (check, consistent) = match (&db, rows_before) {
        (Some(db), Some(before)) => {
            let after = count(db).await.map_err(|e| e.to_string())?;
            check_rows(&tallies, after - before)
        }
        _ => ("skipped".to_owned(), true),
    };
    println!("check      {check}");
    println!(
        "{}",
        summary.line(&args.label, args.concurrency, check_word(&db, consistent))
    );
    Ok(consistent)
}

fn check_word(db: &Option<Db>, consistent: bool) -> &'static str {
    match (db, consistent) {
        (None, _) => "skipped",
        (Some(_), true) => "ok",
        (Some(_), false) => "MISMATCH",
    }
}

/// Every `200 duplicate:false` must be one new row with an id of its own, and nothing else
/// may have been stored.
fn check_rows(tallies: &[Tally], stored: i64) -> (String, bool) {
    let answered: Vec<i64> = tallies
        .iter()
        .flat_map(|t| t.new_ids.iter().copied())
        .collect();
    let distinct = answered.iter().collect::<HashSet<_>>().len();
    let consistent = distinct == answered.len() && stored == answered.len() as i64;
    let verdict = if consistent { "ok" } else { "MISMATCH" };
    (
        format!(
            "{verdict}: {stored} rows stored, {} answers `200 duplicate:false` ({distinct} distinct ids)",
            answered.len()
        ),
        consistent,
    )
}

fn target(url: &str) -> Result<Target, String> {
    let uri: Uri = url.parse().map_err(|e| format!("invalid --url: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("--url must be http://host:port/path".into());
    }
    let host = uri.host().ok_or("--url has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = format!("{host}:{port}");
    Ok(Target {
        host: HeaderValue::try_from(authority.as_str()).map_err(|e| e.to_string())?,
        address: authority,
        path: uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned()),
    })
}

fn connect(url: &str) -> Result<Db, String> {
    let url = DatabaseUrl::parse(url).map_err(|e| e.to_string())?;
    let settings = PoolSettings {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(10),
        answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
    };
    Db::connect(&url, &settings).map_err(|e| e.to_string())
}
