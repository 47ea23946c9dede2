//! What each command does, in terms of the library.

use std::time::Duration;

use std::path::Path;

use crate::auth::password::Password;
use crate::auth::session::SessionPolicy;
use crate::auth::AuthSettings;
use crate::config::{
    AuthArgs, Cli, Command, ConfigCheckArgs, ConfigCommand, DatabaseArgs, OpsArgs, PurgeArgs,
    SecretArgs, ServeArgs,
};
use crate::dashboard::DashboardSettings;
use crate::ingest::config::{DefaultSecret, Generation, SourcesLoader};
use crate::ingest::reload::reload_on_sighup;
use crate::ingest::source::Sources;
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
        Some(Command::Config(ConfigCommand::Check(args))) => config_check(args),
    }
}

/// How the sources are read for these options; only the server may generate a secret.
pub fn sources_loader(
    config: Option<&Path>,
    secrets: &SecretArgs,
    data_dir: &Path,
    may_generate: bool,
) -> SourcesLoader {
    SourcesLoader {
        config: config.map(Path::to_owned),
        default_secret: DefaultSecret {
            inline: secrets.webhook_secret.clone(),
            file: secrets.webhook_secret_file.clone(),
            data_dir: data_dir.to_owned(),
            generation: if may_generate {
                Generation::until_one_existed()
            } else {
                Generation::Never
            },
        },
    }
}

fn config_check(args: ConfigCheckArgs) -> Result<(), CliError> {
    let loader = sources_loader(
        args.file.config.as_deref(),
        &args.secrets,
        &args.data_dir,
        false,
    );
    let sources = loader.load()?;
    let file = args
        .file
        .config
        .as_ref()
        .map_or("(no config file)".into(), |p| p.display().to_string());
    println!("{file}: {} source(s) valid", sources.len());
    for source in sources {
        let labels: Vec<_> = source
            .scheme
            .secrets()
            .iter()
            .map(|s| s.label().as_str())
            .collect();
        println!(
            "  /api/webhooks/{}  scheme={} preset={} secrets={} body_limit_bytes={}",
            source.name,
            source.scheme.name(),
            source.preset.map_or("-", |p| p.name()),
            labels.join(","),
            source.body_limit,
        );
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let database_url = args.database.url()?;
    let loader = sources_loader(
        args.config.config.as_deref(),
        &args.secrets,
        &args.database.data_dir,
        true,
    );
    let sources = Sources::new(loader.load()?);
    tracing::info!(sources = ?sources.names(), "sources loaded");
    // Also without a config file: a reload then re-reads the llm-callback secret (file).
    reload_on_sighup(sources.clone(), loader.clone())?;
    let settings = Settings {
        listen: args.listen.clone(),
        workers: args.workers.map(usize::from),
        pool: args.database.pool(),
        sources,
        sources_loader: Some(loader),
        body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout_secs),
        handle_signals: true,
        batch: BatchLimits::default(),
        database_url: database_url.clone(),
        ops: ops_settings(&args.ops)?,
        auth: auth_settings(&args.auth)?,
        dashboard: DashboardSettings {
            static_dir: args.static_dir.clone(),
            poll_interval: Duration::from_secs(args.dashboard_poll_secs.max(1)),
        },
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
    if let Some(limit) = args.failed_signature_limit {
        tracing::info!(limit = %limit, "failed-signature limit on (per address and source)");
    }
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
        failed_signature_limit: args.failed_signature_limit,
    })
}

async fn purge(args: PurgeArgs) -> Result<(), CliError> {
    let url = args.database.url()?;
    let db = Db::connect(&url, &args.database.pool())?;
    let policy = RetentionPolicy::days(args.older_than);
    let cutoff = retention::cutoff(policy.max_age);
    let deleted = retention::purge_before(&db, cutoff, &policy, &Metrics::default()).await?;
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
