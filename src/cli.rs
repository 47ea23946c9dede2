//! What each command does, in terms of the library.

use std::time::Duration;

use crate::auth::password::Password;
use crate::auth::session::SessionPolicy;
use crate::auth::AuthSettings;
use crate::config::{AuthArgs, Cli, Command, DatabaseArgs, OpsArgs, PurgeArgs, ServeArgs};
use crate::ingest::secrets::{self, SecretOrigin};
use crate::ingest::source::{Source, Sources};
use crate::metrics::{IpNet, Metrics, MetricsAccess};
use crate::operations::OpsSettings;
use crate::rejections::RejectionLogLimits;
use crate::retention::{self, RetentionPolicy};
use crate::startup::{Application, Settings};
use crate::store::writer::BatchLimits;
use crate::store::{migrate, Db};

pub type CliError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Migrate(args)) => migrate_only(args).await,
        Some(Command::SendTest(args)) => crate::send_test::run(args).await,
        Some(Command::Purge(args)) => purge(args).await,
        Some(Command::User(command)) => crate::accounts_cli::user(command).await,
        Some(Command::Token(command)) => crate::accounts_cli::token(command).await,
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let database_url = args.database.url()?;
    let (secret_set, origin) = secrets::resolve(
        args.secrets.webhook_secret.as_deref(),
        args.secrets.webhook_secret_file.as_deref(),
        &args.database.data_dir,
    )?;
    match origin {
        SecretOrigin::Configured => {
            let labels: Vec<_> = secret_set.iter().map(|s| s.label().as_str()).collect();
            tracing::info!(secret.labels = ?labels, "webhook secrets configured");
        }
        SecretOrigin::Generated(path) => tracing::info!(
            path = %path.display(),
            "generated a webhook secret (readable by this user only); give its contents to your senders"
        ),
        SecretOrigin::PreviouslyGenerated(path) => {
            tracing::info!(path = %path.display(), "using the generated webhook secret")
        }
    }
    let settings = Settings {
        listen: args.listen.clone(),
        workers: args.workers,
        pool: args.database.pool(),
        sources: Sources::new([Source::llm_callback(secret_set)]),
        body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout_secs),
        handle_signals: true,
        batch: BatchLimits::default(),
        database_url: database_url.clone(),
        ops: ops_settings(&args.ops)?,
        auth: auth_settings(&args.auth)?,
    };
    let app = Application::build(settings).await?;
    tracing::info!(
        database = %database_url,
        "listening on http://{}:{}",
        args.listen.rsplit_once(':').map_or("127.0.0.1", |(host, _)| host),
        app.port()
    );
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate_only(args: DatabaseArgs) -> Result<(), CliError> {
    let url = args.url()?;
    let applied = migrate::run_pending(&url).await?;
    if applied.is_empty() {
        println!("{url}: already up to date");
    } else {
        println!("{url}: applied {}", applied.join(", "));
    }
    Ok(())
}

fn ops_settings(args: &OpsArgs) -> Result<OpsSettings, CliError> {
    Ok(OpsSettings {
        retention: args.retention_days.map(RetentionPolicy::days),
        rejection_log: RejectionLogLimits {
            max_rows: args.rejection_log_rows,
            ..RejectionLogLimits::default()
        },
        metrics_access: MetricsAccess::new(
            IpNet::parse_list(&args.metrics_allow)?,
            args.metrics_token.as_deref(),
        ),
    })
}

async fn purge(args: PurgeArgs) -> Result<(), CliError> {
    let url = args.database.url()?;
    let db = Db::connect(&url, &args.database.pool())?;
    let policy = RetentionPolicy::days(args.older_than);
    let cutoff = retention::cutoff(policy.max_age);
    let deleted =
        retention::purge_before(&db, cutoff, policy.batch, policy.pause, &Metrics::default())
            .await?;
    db.close();
    println!("{url}: deleted {deleted} callbacks received before {cutoff} UTC");
    Ok(())
}
fn auth_settings(args: &AuthArgs) -> Result<AuthSettings, CliError> {
    let admin_password = match &args.admin_password {
        Some(raw) => Some(
            Password::parse(raw.clone()).map_err(|why| format!("HOOKBOX_ADMIN_PASSWORD: {why}"))?,
        ),
        None => None,
    };
    Ok(AuthSettings {
        session: SessionPolicy {
            idle: Duration::from_secs(args.session_idle_secs.max(1)),
            absolute: Duration::from_secs(args.session_max_age_secs.max(1)),
        },
        cookie_secure: args.cookie_secure,
        admin_password,
        ..AuthSettings::default()
    })
}
