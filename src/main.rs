use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hookbox::config::Cli::parse();
    hookbox::telemetry::init(cli.log_format);
    // Multi-threaded even with one worker: diesel-async's SQLite connection may call
    // `block_in_place`, which a current-thread runtime refuses.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.runtime_threads() {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(hookbox::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut shown = error.to_string();
            eprintln!("error: {shown}");
            let mut source = std::error::Error::source(error.as_ref());
            while let Some(cause) = source {
                // Many messages already end with their cause ("cannot listen on …: {source}").
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                shown = text;
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
