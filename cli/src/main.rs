//! The `pinta` binary: parses the command line, sets up logging, runs the subcommand.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // The CLI prints its own progress; logs are for warnings unless RUST_LOG asks for more.
    pinta_platform::telemetry::init(pinta_platform::telemetry::LogFormat::from_env(), "warn,sqlx=error");
    let cli = pinta_cli::commands::Cli::parse();
    match pinta_cli::commands::dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pinta: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
