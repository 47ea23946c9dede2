//! Command line and environment: every option is a flag with a `HOOKBOX_…` fallback.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ingest::throttle::FailedSignatureLimit;
use crate::store::{DatabaseUrl, InvalidDatabaseUrl, PoolSettings, DEFAULT_ANSWER_TIMEOUT};

/// The most HTTP workers actix-web starts: it panics when asked for more, so the flag refuses
/// them with a clear error instead.
pub const MOST_HTTP_WORKERS: u16 = 512;
/// Far more than any use; a runtime asked for more threads than the process may start panics
/// ("OS can't spawn worker thread") instead of failing with a clear error.
pub const MOST_RUNTIME_THREADS: u16 = 512;

#[derive(Parser, Debug)]
#[command(
    name = "hookbox",
    version,
    about = "A self-hosted inbox for signed webhook callbacks.",
    long_about = "A self-hosted inbox for signed webhook callbacks.\n\n\
        Without a command, runs the server (the same as `hookbox serve`).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log output: human-readable text, or one JSON object per line for log shippers.
    #[arg(long, global = true, env = "HOOKBOX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Cli {
    /// The runtime's worker threads if `serve` was given a number (`--runtime-threads`).
    pub fn runtime_threads(&self) -> Option<usize> {
        let threads = match &self.command {
            None => self.serve.runtime_threads,
            Some(Command::Serve(args)) => args.runtime_threads,
            Some(_) => None,
        };
        threads.map(usize::from)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseArgs),
    /// Sign a realistic sample callback with the configured secret and post it to a server.
    SendTest(SendTestArgs),
    /// Delete callbacks received more than a number of days ago, in small batches, then exit.
    Purge(PurgeArgs),
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens (`Authorization: Bearer …`) for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Work with the sources config file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the sources config file (and the secrets it names) without starting.
    Check(ConfigCheckArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ConfigFileArgs {
    /// The sources config file (`hookbox.toml`) [default: none: one `llm-callback` source].
    #[arg(long = "config", env = "HOOKBOX_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigCheckArgs {
    #[command(flatten)]
    pub file: ConfigFileArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// Where the server keeps its generated secret.
    #[arg(long, env = "HOOKBOX_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (prompts for the password when interactive).
    Add {
        name: String,
        /// Make the user an admin (only admins can use the admin API and dashboard).
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Set a new password; every session of the user ends.
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Disable a user; their sessions and tokens are refused at once.
    Disable {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for a user and print it (once; only its hash is stored).
    Create {
        user: String,
        /// A name to recognise (and revoke) the token by: 1-64 characters, not only digits.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke the token(s) with this id or name. A name tokens of several users share (`cli`,
    /// the default) needs `--user`.
    Revoke {
        id_or_name: String,
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Longer sessions would overflow the session's expiry time: beyond about 260,000 years the
/// date arithmetic panics. Ten years is "never" for a session.
const MOST_SESSION_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// Browsers fire a `setTimeout` longer than 2^31 - 1 ms (24.8 days) at once, so a longer poll
/// interval would make every open dashboard poll without pause.
const MOST_POLL_SECS: u64 = 24 * 60 * 60;

/// A century. Far beyond it the retention cutoff falls before the earliest time the date
/// arithmetic and Postgres can hold, and the retention job panicked instead of running.
const MOST_RETENTION_DAYS: i64 = 36_500;

#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// Seconds of inactivity after which a dashboard session ends (at most ten years).
    #[arg(long, env = "HOOKBOX_SESSION_IDLE_SECS", default_value_t = 7200,
        value_parser = clap::value_parser!(u64).range(..=MOST_SESSION_SECS))]
    pub session_idle_secs: u64,
    /// Seconds after login at which a session ends, used or not (also the cookie's Max-Age; at
    /// most ten years).
    #[arg(long, env = "HOOKBOX_SESSION_MAX_AGE_SECS", default_value_t = 604_800,
        value_parser = clap::value_parser!(u64).range(..=MOST_SESSION_SECS))]
    pub session_max_age_secs: u64,
    /// Always mark the session cookie `Secure` (set this behind a TLS-terminating proxy).
    #[arg(long, env = "HOOKBOX_COOKIE_SECURE")]
    pub cookie_secure: bool,
    /// Password of the first admin `admin`, created when no user exists
    /// [default: generated and printed once on stderr].
    #[arg(long, env = "HOOKBOX_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// postgres://user:password@host:port/db or sqlite://path/to/file.db
    /// [default: sqlite://<data-dir>/hookbox.db]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory for the SQLite file and the generated webhook secret.
    #[arg(long, env = "HOOKBOX_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Most database connections this instance opens. On Postgres at least 2 (the callback
    /// writer keeps one); each HTTP worker may open up to 4 of them for its own requests; the
    /// rest are shared.
    #[arg(long, env = "HOOKBOX_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "HOOKBOX_DB_TIMEOUT_MS", default_value_t = 2000)]
    pub db_timeout_ms: u64,
    /// Postgres: how long a dashboard or API request waits for the database's answers before
    /// answering 503 and closing the connection (a database or network that stopped
    /// answering). Long enough for a search through millions of rows; callbacks' batches wait
    /// at most 5 s.
    #[arg(long, env = "HOOKBOX_DB_ANSWER_TIMEOUT_MS", default_value_t = DEFAULT_ANSWER_TIMEOUT.as_millis() as u64)]
    pub db_answer_timeout_ms: u64,
}

impl DatabaseArgs {
    pub fn url(&self) -> Result<DatabaseUrl, InvalidDatabaseUrl> {
        match &self.database_url {
            Some(url) => DatabaseUrl::parse(url),
            None => Ok(DatabaseUrl::Sqlite(self.data_dir.join("hookbox.db"))),
        }
    }

    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_pool_size.max(1),
            acquire_timeout: Duration::from_millis(self.db_timeout_ms.max(1)),
            answer_timeout: Duration::from_millis(self.db_answer_timeout_ms.max(1)),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct SecretArgs {
    /// Webhook secret(s) for the llm-callback source: comma-separated `label:secret` or bare
    /// `secret` entries; any one matching is accepted (rotation without downtime).
    /// [default: the secret generated in <data-dir>/webhook-secret on first start]
    #[arg(long, env = "HOOKBOX_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// A file with the secret(s), one entry per line (e.g. a Docker or Kubernetes secret).
    #[arg(
        long,
        env = "HOOKBOX_WEBHOOK_SECRET_FILE",
        conflicts_with = "webhook_secret"
    )]
    pub webhook_secret_file: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
    /// Address and port to listen on.
    #[arg(long, env = "HOOKBOX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// HTTP worker threads, 1 to 512 [default: the number of CPU cores, at most 512].
    #[arg(long, env = "HOOKBOX_WORKERS", value_parser = clap::value_parser!(u16).range(1..=i64::from(MOST_HTTP_WORKERS)))]
    pub workers: Option<u16>,
    /// Threads of the runtime beside the HTTP workers, which runs the callback writer, the
    /// database connections it opens and the background jobs [default: the number of CPU
    /// cores]. With 1 the writer and its connections wake each other on one thread: a lone
    /// sender is answered sooner; many concurrent senders measured a little slower on some
    /// VMs, a little faster on others (docs/performance.md). 1 to 512.
    #[arg(long, env = "HOOKBOX_RUNTIME_THREADS", value_parser = clap::value_parser!(u16).range(1..=i64::from(MOST_RUNTIME_THREADS)))]
    pub runtime_threads: Option<u16>,
    /// Seconds a sender has to deliver the whole body before the request is answered 408.
    #[arg(long, env = "HOOKBOX_BODY_TIMEOUT_SECS", default_value_t = 10)]
    pub body_timeout_secs: u64,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "HOOKBOX_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// Serve the dashboard's files from this directory (e.g. `static`) instead of the copy
    /// built into the binary: for working on the page without rebuilding.
    #[arg(long, env = "HOOKBOX_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Seconds between an open dashboard's checks for new callbacks (at most a day).
    #[arg(long, env = "HOOKBOX_DASHBOARD_POLL_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(..=MOST_POLL_SECS))]
    pub dashboard_poll_secs: u64,
    #[command(flatten)]
    pub ops: OpsArgs,
}

#[derive(Args, Debug, Clone)]
pub struct OpsArgs {
    /// Delete callbacks received more than this many days ago (a background job, in small
    /// batches; at most 36,500). [default: keep forever]
    #[arg(long, env = "HOOKBOX_RETENTION_DAYS",
        value_parser = clap::value_parser!(u32).range(1..=MOST_RETENTION_DAYS))]
    pub retention_days: Option<u32>,
    /// Addresses or networks allowed to read /metrics without a token (comma-separated,
    /// e.g. `127.0.0.1,10.0.0.0/8`; empty for none).
    #[arg(long, env = "HOOKBOX_METRICS_ALLOW", default_value = "127.0.0.0/8,::1")]
    pub metrics_allow: String,
    /// A bearer token that opens /metrics from any address.
    #[arg(long, env = "HOOKBOX_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Most rows the rejection log keeps (oldest deleted first).
    #[arg(long, env = "HOOKBOX_REJECTION_LOG_ROWS", default_value_t = 10_000)]
    pub rejection_log_rows: u32,
    /// Answer 429, without reading the body, to an address that has used up this many failed
    /// signature checks on a source; the allowance refills over the window. `<failures>/<window>`,
    /// e.g. `20/1m` (window in s, m or h). [default: off]
    #[arg(
        long,
        env = "HOOKBOX_FAILED_SIGNATURE_LIMIT",
        value_name = "FAILURES/WINDOW"
    )]
    pub failed_signature_limit: Option<FailedSignatureLimit>,
}

#[derive(Args, Debug, Clone)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Delete callbacks received more than this many days ago (0 deletes everything
    /// received until now; at most 36,500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(..=MOST_RETENTION_DAYS))]
    pub older_than: u32,
}

#[derive(Args, Debug, Clone)]
pub struct SendTestArgs {
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
    /// The source to send to; the sample is shaped and signed as that source's sender would.
    #[arg(long, default_value = "llm-callback")]
    pub source: String,
    /// Where the server keeps its generated secret.
    #[arg(long, env = "HOOKBOX_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Base URL of the running server.
    #[arg(long, env = "HOOKBOX_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Event type of the sample callback [default: per source, e.g. workflow.completed].
    #[arg(long)]
    pub event: Option<String>,
    /// Status of the sample: `failed` also adds an error message.
    #[arg(long, default_value = "completed")]
    pub status: String,
    /// Job id [default: a new random one].
    #[arg(long)]
    pub job_id: Option<String>,
    /// Workflow name of the sample.
    #[arg(long, default_value = "summarize-report")]
    pub workflow: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime_threads(args: &[&str]) -> Result<Option<usize>, clap::Error> {
        Cli::try_parse_from(args).map(|cli| cli.runtime_threads())
    }

    #[test]
    fn http_workers_are_refused_outside_what_actix_web_can_start() {
        let workers = |args: &[&str]| -> Result<Option<u16>, clap::Error> {
            match Cli::try_parse_from(args)?.command {
                Some(Command::Serve(serve)) => Ok(serve.workers),
                _ => unreachable!("every case names serve"),
            }
        };
        assert_eq!(workers(&["hookbox", "serve"]).unwrap(), None);
        assert_eq!(
            workers(&["hookbox", "serve", "--workers", "1"]).unwrap(),
            Some(1)
        );
        assert_eq!(
            workers(&["hookbox", "serve", "--workers", "512"]).unwrap(),
            Some(512)
        );
        for refused in ["0", "513", "100000", "two"] {
            let error = workers(&["hookbox", "serve", "--workers", refused]).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{refused}"
            );
        }
    }

    #[test]
    fn durations_that_would_overflow_a_date_or_a_browser_timer_are_refused() {
        let accepted = |args: &[&str]| Cli::try_parse_from(args).map(|_| ());
        for (flag, most) in [
            ("--session-idle-secs", "315360000"),
            ("--session-max-age-secs", "315360000"),
            ("--dashboard-poll-secs", "86400"),
            ("--retention-days", "36500"),
        ] {
            assert!(
                accepted(&["hookbox", "serve", flag, most]).is_ok(),
                "{flag} {most}"
            );
            for refused in [
                format!("{}", most.parse::<u64>().unwrap() + 1),
                u64::MAX.to_string(),
            ] {
                let error = accepted(&["hookbox", "serve", flag, &refused]).unwrap_err();
                assert_eq!(
                    error.kind(),
                    clap::error::ErrorKind::ValueValidation,
                    "{flag} {refused}"
                );
            }
        }
        assert!(accepted(&["hookbox", "purge", "--older-than", "0"]).is_ok());
        assert!(accepted(&["hookbox", "purge", "--older-than", "36500"]).is_ok());
        assert!(accepted(&["hookbox", "purge", "--older-than", "4294967295"]).is_err());
    }

    #[test]
    fn the_runtime_has_as_many_threads_as_the_server_is_given() {
        assert_eq!(runtime_threads(&["hookbox"]).unwrap(), None);
        assert_eq!(runtime_threads(&["hookbox", "serve"]).unwrap(), None);
        assert_eq!(
            runtime_threads(&["hookbox", "--runtime-threads", "1"]).unwrap(),
            Some(1)
        );
        assert_eq!(
            runtime_threads(&["hookbox", "serve", "--runtime-threads", "3"]).unwrap(),
            Some(3)
        );
        assert_eq!(runtime_threads(&["hookbox", "migrate"]).unwrap(), None);
        assert!(runtime_threads(&["hookbox", "--runtime-threads", "0"]).is_err());
        assert!(runtime_threads(&["hookbox", "--runtime-threads", "513"]).is_err());
    }
}
