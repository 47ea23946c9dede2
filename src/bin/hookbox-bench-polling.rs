//! Polling benchmark (not a test): seeds N callbacks (default 1,000,000) and 10 admins who have
//! viewed 0%, 10%, … 90% of them, starts the real server, and measures over HTTP, one request
//! at a time, the dashboard's poll (`check` after a cursor 100 rows behind the head), history
//! filtered by status (its first page, as the dashboard opens it, and random pages anywhere in
//! the table), and a callback's detail. Prints p50/p99 per operation. Two reference operations
//! follow, to tell a poll's own cost from the machine's: `/healthz` (HTTP only, no database)
//! and `/api/auth/me` (the token lookup alone, which every admin request begins with).
//!
//!     cargo run --release --bin hookbox-bench-polling -- --database-url postgres://…/db
//!
//! Seeding bypasses the callback writer: use a database of its own.

use std::time::{Duration, Instant};

use clap::Parser;
use hookbox::admin::cursor::Cursor;
use hookbox::auth::{accounts, password::Password, AuthSettings};
use hookbox::ingest::secrets::SecretSet;
use hookbox::ingest::source::{Source, Sources};
use hookbox::startup::{Application, Settings};
use hookbox::store::writer::BatchLimits;
use hookbox::store::{callbacks, migrate, seed, DatabaseUrl, Db, PoolSettings};

#[derive(Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    rows: i64,
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// Senders of `hookbox-loadgen` posting new callbacks as fast as they can while the polls
    /// are measured (0: measure on an idle server).
    #[arg(long, default_value_t = 0)]
    ingest_senders: usize,
    /// HTTP worker threads of the server under test.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

const USERS: i64 = 10;
const BENCH_SECRET: &str = "bench-secret-0123456789";
const SEED_BATCH: i64 = 50_000;
/// Unmeasured requests before each operation's measured ones.
const WARMUP_REQUESTS: usize = 50;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// An operation's name and how to build its request path for iteration `i`.
type Operation = (&'static str, Box<dyn Fn(usize) -> String + Send>);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let url = DatabaseUrl::parse(&args.database_url)?;
    migrate::run_pending(&url).await?;
    let pool = PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(30),
        answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
    };
    let db = Db::connect(&url, &pool)?;
    let tokens = prepare(&db, args.rows).await?;

    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        workers: Some(args.workers),
        database_url: url.clone(),
        // As `hookbox serve` by default (`--db-pool-size`, `--db-timeout-ms`).
        pool: PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(2),
            answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
        },
        sources: Sources::new([Source::llm_callback(SecretSet::parse_list(
            &format!("bench:{BENCH_SECRET}"),
            "bench",
        )?)]),
        sources_loader: None,
        body_timeout: Duration::from_secs(10),
        shutdown_timeout: Duration::from_secs(1),
        handle_signals: false,
        batch: BatchLimits::default(),
        auth: AuthSettings::default(),
        dashboard: hookbox::dashboard::DashboardSettings::default(),
        ops: hookbox::operations::OpsSettings::default(),
    };
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let head = callbacks::count(&db).await?;
    let near_head = Cursor::at(head - 100).encode();
    println!(
        "backend {}, {head} callbacks, {USERS} users, {} iterations per operation",
        db.backend_name(),
        args.iterations
    );
    let ops: [Operation; 7] = [
        (
            "check (after a cursor 100 rows behind the head, limit 20)",
            Box::new(move |_| format!("/api/admin/llm-callbacks/check?after={near_head}&limit=20")),
        ),
        (
            "check (no cursor: latest 20 unviewed + head)",
            Box::new(|_| "/api/admin/llm-callbacks/check?limit=20".to_owned()),
        ),
        (
            "history (status=failed, limit 50, first page)",
            Box::new(|_| "/api/admin/llm-callbacks?status=failed&limit=50".to_owned()),
        ),
        (
            "history (status=failed, limit 50, random page)",
            Box::new(move |_| {
                let before = Cursor::at(rand::random_range(1..=head)).encode();
                format!("/api/admin/llm-callbacks?status=failed&limit=50&before={before}")
            }),
        ),
        (
            "detail (random id)",
            Box::new(move |_| format!("/api/admin/llm-callbacks/{}", rand::random_range(1..=head))),
        ),
        (
            "reference: /healthz (HTTP only, no database)",
            Box::new(|_| "/healthz".to_owned()),
        ),
        (
            "reference: /api/auth/me (the token lookup alone)",
            Box::new(|_| "/api/auth/me".to_owned()),
        ),
    ];
    let polls = ops.len() * (args.iterations + WARMUP_REQUESTS);
    let ingest = Ingest::start(&db, &base, args.ingest_senders, polls).await?;
    // The polls run on a thread and runtime of their own, as an admin's browser is a client
    // of its own: on this runtime, which also runs the server's writer task, a poll's response
    // could wait for that task, and the wait would be counted as the server's.
    let iterations = args.iterations;
    let steal_before = CpuSteal::read();
    let poller = std::thread::spawn(move || -> Result<(), BoxError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(measure(&base, &ops, &tokens, iterations))
    });
    tokio::task::spawn_blocking(move || poller.join())
        .await?
        .map_err(|_| "the polling thread panicked")??;
    match (steal_before, CpuSteal::read()) {
        (Some(before), Some(after)) => println!(
            "the hypervisor gave {:.1} % of this machine's CPU time to other guests meanwhile \
             (steal, /proc/stat)",
            after.percent_since(&before)
        ),
        _ => println!("steal unknown (no /proc/stat)"),
    }
    if let Some(ingest) = ingest {
        let (stored, elapsed) = ingest.stop(&db).await?;
        println!(
            "meanwhile hookbox-loadgen with {} senders stored {stored} new callbacks ({:.0}/s)",
            args.ingest_senders,
            stored as f64 / elapsed.as_secs_f64()
        );
    }
    handle.stop(true).await;
    server.await??;
    Ok(())
}

/// Measures each operation `iterations` times, one request at a time, after
/// `WARMUP_REQUESTS` unmeasured ones, and prints its p50, p99 and maximum.
async fn measure(
    base: &str,
    ops: &[Operation],
    tokens: &[String],
    iterations: usize,
) -> Result<(), BoxError> {
    let client = reqwest::Client::new();
    for (name, path) in ops {
        let mut samples = Vec::with_capacity(iterations);
        for i in 0..(iterations + WARMUP_REQUESTS) {
            let token = &tokens[i % tokens.len()];
            let started = Instant::now();
            let response = client
                .get(format!("{base}{}", path(i)))
                .bearer_auth(token)
                .send()
                .await?;
            let status = response.status();
            response.bytes().await?;
            if !status.is_success() {
                return Err(format!("{name}: HTTP {status}").into());
            }
            if i >= WARMUP_REQUESTS {
                samples.push(started.elapsed());
            }
        }
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        println!(
            "{name:<60} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
            ms(at(0.50)),
            ms(at(0.99)),
            ms(at(1.0))
        );
    }
    Ok(())
}

/// Ingest at full speed while the polls are measured: `hookbox-loadgen`, the generator of
/// `bench/run.sh`, as a process of its own (pre-signed bodies, one keep-alive connection per
/// sender), so that the ingest here is the ingest measured there and its senders do not share
/// a runtime with the server's writer task. How much was stored is read from the database.
struct Ingest {
    generator: std::process::Child,
    rows_before: i64,
    started: Instant,
}

impl Ingest {
    async fn start(
        db: &Db,
        base: &str,
        senders: usize,
        polls: usize,
    ) -> Result<Option<Ingest>, BoxError> {
        if senders == 0 {
            return Ok(None);
        }
        let program = std::env::current_exe()?.with_file_name("hookbox-loadgen");
        let generator = std::process::Command::new(&program)
            .args(["--url", &format!("{base}/api/webhooks/llm-callback")])
            .args(["--secret", BENCH_SECRET])
            .args(["--concurrency", &senders.to_string()])
            // Stopped when the polls are done; the limit (a minute plus 20 ms per poll) only
            // ends it should this process die without stopping it.
            .args(["--duration-secs", &(60 + polls / 50).to_string()])
            .args(["--warmup-secs", "0"])
            .args(["--callbacks", "50000", "--sign-beyond"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|error| {
                format!(
                    "cannot start {} ({error}); build it with `cargo build --release --bins`",
                    program.display()
                )
            })?;
        let mut ingest = Ingest {
            generator,
            rows_before: 0,
            started: Instant::now(),
        };
        let seeded = callbacks::count(db).await?;
        // Polls start once callbacks arrive, not while the generator is still signing.
        while callbacks::count(db).await? < seeded + 1_000 {
            if let Some(status) = ingest.generator.try_wait()? {
                return Err(format!("hookbox-loadgen exited early: {status}").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ingest.rows_before = callbacks::count(db).await?;
        ingest.started = Instant::now();
        Ok(Some(ingest))
    }

    /// Stops the generator; returns the callbacks stored while the polls ran, and for how long.
    async fn stop(mut self, db: &Db) -> Result<(i64, Duration), BoxError> {
        if let Some(status) = self.generator.try_wait()? {
            return Err(format!("hookbox-loadgen ended before the polls did: {status}").into());
        }
        let stored = callbacks::count(db).await? - self.rows_before;
        Ok((stored, self.started.elapsed()))
    }
}

/// The generator never outlives the benchmark, also when a poll fails half-way.
impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.generator.kill();
        let _ = self.generator.wait();
    }
}

/// Seeds what is missing and returns one API token per benchmark user.
async fn prepare(db: &Db, rows: i64) -> Result<Vec<String>, BoxError> {
    let existing = callbacks::count(db).await?;
    let started = Instant::now();
    let mut from = existing + 1;
    while from <= rows {
        let to = (from + SEED_BATCH - 1).min(rows);
        seed::callbacks(db, from, to).await?;
        eprint!("\rseeded {to} callbacks");
        from = to + 1;
    }
    if existing < rows {
        eprintln!(" in {:.1} s", started.elapsed().as_secs_f64());
    }
    let mut tokens = Vec::new();
    for k in 0..USERS {
        let name = format!("bench-{k}");
        if hookbox::store::users::find_by_name(db, &name)
            .await?
            .is_none()
        {
            accounts::add_user(db, &name, Password::parse("bench-password".into())?, true).await?;
            let user = hookbox::store::users::find_by_name(db, &name)
                .await?
                .ok_or("user just added")?;
            // User k has viewed k tenths of everything, spread over the whole table.
            seed::views(db, user.id, 10, k).await?;
            eprintln!("user {name} has viewed {}0% of the callbacks", k);
        }
        let (_, token) = accounts::create_token(db, &name, "bench").await?;
        tokens.push(token.expose().to_owned());
    }
    Ok(tokens)
}

/// Machine-wide CPU time so far, from the `cpu` line of /proc/stat, in clock ticks: on a shared
/// host the hypervisor can take a fifth of it for minutes, which shows up as slow polls.
struct CpuSteal {
    stolen: u64,
    total: u64,
}

impl CpuSteal {
    fn read() -> Option<CpuSteal> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        CpuSteal::parse(stat.lines().next()?)
    }

    /// `cpu  user nice system idle iowait irq softirq steal …`; guest time is already counted
    /// in user and nice.
    fn parse(line: &str) -> Option<CpuSteal> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let ticks: Vec<u64> = fields
            .take(8)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (ticks.len() == 8).then(|| CpuSteal {
            stolen: ticks[7],
            total: ticks.iter().sum(),
        })
    }

    fn percent_since(&self, before: &CpuSteal) -> f64 {
        let total = self.total.saturating_sub(before.total);
        let stolen = self.stolen.saturating_sub(before.stolen);
        if total == 0 {
            0.0
        } else {
            100.0 * stolen as f64 / total as f64
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::CpuSteal;

    #[test]
    fn steal_is_the_eighth_field_of_the_cpu_line() {
        let before = CpuSteal::parse("cpu  100 0 50 800 20 0 10 20 0 0").unwrap();
        let after = CpuSteal::parse("cpu  160 0 70 880 20 0 10 60 5 0").unwrap();
        // 200 ticks passed (60 + 20 + 80 + 40), 40 of them stolen; guest ticks not added.
        assert_eq!(after.percent_since(&before), 20.0);
        assert!(CpuSteal::parse("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(CpuSteal::parse("cpu  1 2 3").is_none());
    }
}
