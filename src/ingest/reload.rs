//! Reloading the sources while serving: SIGHUP (or an admin call) re-reads the config file
//! and swaps every source at once. A file that does not load leaves the running sources as
//! they were; the log says why.

use super::config::{LoadError, SourcesLoader};
use super::source::Sources;

/// Loads the sources again and, only if the whole file is valid, swaps them in. Returns the
/// names now served.
pub fn reload(sources: &Sources, loader: &SourcesLoader) -> Result<Vec<String>, LoadError> {
    match sources.reload(|| loader.load()) {
        Ok(()) => {
            let names = sources.names();
            tracing::info!(sources = ?names, "sources reloaded");
            Ok(names)
        }
        Err(error) => {
            tracing::error!(
                error = %error,
                sources = ?sources.names(),
                "sources not reloaded; the previous configuration stays in force"
            );
            Err(error)
        }
    }
}

/// Reloads on every SIGHUP until the runtime stops.
#[cfg(unix)]
pub fn reload_on_sighup(sources: Sources, loader: SourcesLoader) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the sources");
            let (sources, loader) = (sources.clone(), loader.clone());
            // Reading files (config, secrets) blocks; keep it off the runtime's threads.
            let joined = tokio::task::spawn_blocking(move || reload(&sources, &loader)).await;
            if let Err(error) = joined {
                tracing::error!(error = %error, "the reload task failed");
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
pub fn reload_on_sighup(_sources: Sources, _loader: SourcesLoader) -> std::io::Result<()> {
    Ok(())
}
