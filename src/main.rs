//! The `creditgate` command: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use creditgate::{Config, Gateway};

#[derive(Debug, Parser)]
#[command(
    name = "creditgate",
    version,
    about = "One credits API in front of many billing vendors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Load a config file, resolve its secrets and build every adapter, then say what it
    /// configures; exits non-zero with the bad key's path on any problem.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print creditgate's OpenAPI document (the checked-in schemas/openapi.json).
    Openapi,
    /// Print the config file's JSON Schema (the checked-in schemas/config.schema.json).
    ConfigSchema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CREDITGATE_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("creditgate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let gateway = Gateway::from_config(&config).map_err(|e| e.to_string())?;
            let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
            runtime.block_on(serve(gateway, &config.listen))
        }
        Command::CheckConfig { config } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let gateway = Gateway::from_config(&config).map_err(|e| e.to_string())?;
            println!("config ok: listen {}", config.listen);
            for provider in gateway.providers() {
                println!("  provider {} ({})", provider.id, provider.paging);
            }
            println!(
                "  {} API key(s), {} customer alias(es)",
                config.api_keys.len(),
                config.customers.0.len()
            );
            Ok(())
        }
        Command::Openapi => print_json(&creditgate::api::openapi_document()),
        Command::ConfigSchema => print_json(&creditgate::config::json_schema()),
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    Ok(())
}

async fn serve(gateway: Gateway, listen: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("creditgate listening on http://{addr}");
    axum::serve(listener, creditgate::api::router(gateway))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server error: {e}"))
}
