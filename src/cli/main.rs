//! The `creditgate` command: a thin layer over the library.

mod check;
mod demo;
mod line_formats;
mod listen;
mod logs;
mod progress;
mod reconcile;
mod tools;

/// mimalloc instead of glibc's malloc: fewer cycles per allocation on the request path, and
/// freed memory is returned instead of kept in per-thread arenas (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use creditgate::config::ServerConfig;
use creditgate::{Config, Gateway};
use creditgate_sim::{Faults, RateLimit, SimOptions, Simulator, Vendor};
use logs::Output;

#[derive(Debug, Parser)]
#[command(
    name = "creditgate",
    version,
    about = "One credits API in front of many billing vendors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: `text` (colour only on a terminal, and never
    /// with NO_COLOR set) or `json`, one object a line.
    #[arg(long, global = true, env = "CREDITGATE_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API over the vendors in a config file, or, with `--demo`, over
    /// local vendor simulators (no accounts needed).
    Serve {
        /// The TOML config file (default: `CREDITGATE_CONFIG`).
        #[arg(long, short, conflicts_with = "demo")]
        config: Option<PathBuf>,
        /// Start a simulator of every vendor and a gateway over them, with the API key
        /// `cg_demo_key` and the customer alias `acme` at every vendor.
        #[arg(long)]
        demo: bool,
        /// Where the gateway listens: over the config's `listen` (and `CREDITGATE_LISTEN`);
        /// the demo's default is 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
        /// The demo's gateways share this Redis (`redis://host:port`): quotas, vendor pace,
        /// idempotency records and cache invalidation.
        #[arg(long, requires = "demo")]
        redis: Option<String>,
        /// Gateway processes over the same simulators, on consecutive ports from `--listen`'s
        /// (more than one needs `--redis`).
        #[arg(long, default_value_t = 1, requires = "demo", value_parser = clap::value_parser!(u16).range(1..=16))]
        replicas: u16,
        /// Simulated usage in the demo: every this many seconds, each customer consumes a
        /// little, so balances move (and the pushing simulators say so).
        #[arg(long, requires = "demo", value_parser = clap::value_parser!(u64).range(1..))]
        usage_every: Option<u64>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Run one vendor simulator alone.
    Simulate {
        /// The vendor's name, as in `[providers.<name>]` (`stripe`, `togai`...).
        vendor: Vendor,
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[command(flatten)]
        data: DataArgs,
        /// Requests a second before the vendor's 429: a number, `vendor` (its documented
        /// rate) or `off`.
        #[arg(long, default_value = "vendor", value_parser = parse_rate_limit)]
        rate_limit: RateLimit,
        /// Milliseconds added before every answer.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Fraction of requests answered with the vendor's 500.
        #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
        error_rate: f64,
        /// Fraction of requests answered with the vendor's 429.
        #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
        rate_limited_rate: f64,
        /// Fraction of requests answered 200 with half a body.
        #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
        malformed_rate: f64,
        /// The first N writes are applied, then their connection is dropped unanswered.
        #[arg(long, default_value_t = 0)]
        write_drops: u32,
        /// Write every simulated customer's id to this file, one per line.
        #[arg(long)]
        list_customers: Option<PathBuf>,
    },
    /// Receive creditgate's events locally (as an endpoint would), check each signature and
    /// print it.
    Listen {
        /// Where to listen (the demo delivers to 127.0.0.1:8788).
        #[arg(long, default_value = demo::LISTEN_DEFAULT)]
        listen: String,
        /// The endpoint's `whsec_…` secret, as a reference: `file:/path` or `env:NAME`.
        #[arg(long, value_parser = listen::parse_secret_ref)]
        secret: creditgate::secret::SecretRef,
        /// Print each event's JSON instead of a line.
        #[arg(long)]
        json: bool,
    },
    /// Load a config file, resolve its secrets and build every adapter, then say what it
    /// configures; exits non-zero with the bad key's path on any problem.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
        /// Also read once at every vendor with its credential, and say how it went.
        #[arg(long)]
        probe: bool,
    },
    /// export, migrate plan|apply, reconcile.
    #[command(flatten)]
    Tool(tools::Tool),
    /// Print creditgate's OpenAPI document (the checked-in schemas/openapi.json).
    Openapi,
    /// Print the config file's JSON Schema (the checked-in schemas/config.schema.json).
    ConfigSchema,
}

/// The simulated data: the same seed and sizes give the same customers and ledgers.
#[derive(Debug, clap::Args)]
struct DataArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 5)]
    customers: usize,
    #[arg(long, default_value_t = 40)]
    entries_per_customer: usize,
    /// Grants per customer (one to three, drawn from the seed, when absent).
    #[arg(long)]
    grants_per_customer: Option<usize>,
}

impl DataArgs {
    fn options(&self) -> SimOptions {
        SimOptions {
            seed: self.seed,
            customers: self.customers,
            entries_per_customer: self.entries_per_customer,
            grants_per_customer: self.grants_per_customer,
            ..SimOptions::default()
        }
    }
}

fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    match text {
        "vendor" => Ok(RateLimit::Vendor),
        "off" => Ok(RateLimit::Off),
        n => n
            .parse()
            .map(RateLimit::PerSecond)
            .map_err(|_| format!("`{n}` is not a number of requests a second, `vendor` or `off`")),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{text}` is not a fraction between 0 and 1")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` over a config starts logging once it has read `[telemetry]`.
    match cli.command {
        Command::Serve { demo: false, .. } => {}
        Command::Serve { demo: true, .. } => logs::init(cli.log_format, None, Output::Background),
        _ => logs::init(cli.log_format, None, Output::Direct),
    }
    let outcome = run(cli.command, cli.log_format);
    logs::finish();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("creditgate: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The tool commands have exit codes of their own (`tools::Failure`); the other commands
/// exit 1 on any error.
fn run(command: Command, log_format: LogFormat) -> Result<(), tools::Failure> {
    match command {
        Command::Tool(tool) => tools::run(tool),
        other => serve_and_others(other, log_format).map_err(|message| tools::Failure { code: 1, message }),
    }
}

/// Every command, its failure a message (the tools' exit codes are kept by [`run`]).
fn serve_and_others(command: Command, log_format: LogFormat) -> Result<(), String> {
    match command {
        Command::Serve {
            config: path,
            demo: false,
            listen,
            ..
        } => {
            let path = path
                .or_else(|| std::env::var_os("CREDITGATE_CONFIG").map(PathBuf::from))
                .ok_or("give the config file (`--config FILE`, or CREDITGATE_CONFIG), or `--demo`")?;
            let mut config = Config::load(&path).map_err(|e| {
                logs::init(log_format, None, Output::Direct);
                e.to_string()
            })?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            let runtime = runtime_with(config.server.worker_threads)?;
            let traces = match &config.telemetry {
                Some(telemetry) => Some(runtime.block_on(async { creditgate::telemetry::Tracing::start(telemetry) })?),
                None => None,
            };
            logs::init(log_format, traces.as_ref(), Output::Background);
            let served = runtime.block_on(async {
                let gateway = Gateway::from_config(&config).map_err(|e| e.to_string())?;
                let listener = bind(&config.listen).await?;
                serve(gateway, listener, &config.server).await
            });
            // The spans still batched go out while the runtime that sends them is alive.
            if let Some(traces) = traces {
                traces.shutdown(Duration::from_secs(5));
            }
            served
        }
        Command::Serve {
            listen,
            data,
            redis,
            replicas,
            usage_every,
            ..
        } => {
            if replicas > 1 && redis.is_none() {
                return Err("--replicas above 1 needs --redis: replicas share their state there".into());
            }
            let listen = listen
                .or_else(|| std::env::var("CREDITGATE_LISTEN").ok())
                .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
            let run = demo::DemoRun {
                listen: &listen,
                redis: redis.as_deref(),
                replicas,
                usage_every: usage_every.map(Duration::from_secs),
            };
            runtime()?.block_on(demo::demo(run, data.options()))
        }
        Command::Listen { listen, secret, json } => runtime()?.block_on(listen::listen(&listen, &secret, json)),
        Command::Simulate {
            vendor,
            port,
            data,
            rate_limit,
            latency_ms,
            error_rate,
            rate_limited_rate,
            malformed_rate,
            write_drops,
            list_customers,
        } => {
            let options = SimOptions {
                rate_limit,
                faults: Faults {
                    latency: Duration::from_millis(latency_ms),
                    error_rate,
                    rate_limited_rate,
                    malformed_rate,
                    write_drops,
                },
                ..data.options()
            };
            if let Some(path) = list_customers {
                let simulator = Simulator::new(vendor, options.clone());
                let ids: Vec<String> = (0..options.customers).map(|i| simulator.customer_id(i)).collect();
                creditgate::files::write_atomically(&path, (ids.join("\n") + "\n").as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            runtime()?.block_on(demo::simulate(vendor, port, options))
        }
        Command::CheckConfig { config, probe } => check::check(&config, probe),
        Command::Openapi => print_json(&creditgate::api::openapi_document()),
        Command::ConfigSchema => print_json(&creditgate::config::json_schema()),
        Command::Tool(tool) => tools::run(tool).map_err(|failure| failure.message),
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    runtime_with(None)
}

/// The multi-threaded runtime, with `workers` threads (one per core when `None`).
fn runtime_with(workers: Option<usize>) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

async fn bind(listen: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))
}

async fn serve(gateway: Gateway, listener: tokio::net::TcpListener, limits: &ServerConfig) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    gateway.start_event_workers()?;
    eprintln!("creditgate listening on http://{addr}");
    let draining = gateway.clone();
    let stop = async move {
        stop_signal().await;
        draining.start_draining(); // `/readyz` answers 503 while open connections finish.
    };
    creditgate::api::serve(listener, creditgate::api::app(gateway.clone()), limits, stop).await;
    // Deliveries in flight finish and are recorded; the rest stay queued for the next start.
    gateway.stop_event_workers().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what a container runtime, systemd or `kill` sends).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Prints what a long-running command announces, in one write. A closed stdout (a reader
/// that stopped after the line it wanted) is not a reason to stop serving, so write errors
/// are ignored where `println!` would panic.
fn banner(text: &str) {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}
