//! The tool commands: `export`, `migrate plan|apply`, `reconcile` (README.md, "Migrating
//! between vendors"). Each builds a gateway from the config, the same library `serve` runs,
//! and calls `creditgate::export` or `creditgate::migrate`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use creditgate::{export, migrate, Config, Gateway};

use super::progress::Bar;
use super::runtime;

/// Which customers to export.
#[derive(Debug, clap::Args)]
pub struct CustomerArgs {
    /// A customer (`provider:id` or an alias); repeat for several.
    #[arg(long = "customer", conflicts_with_all = ["customers", "all_customers"])]
    customer: Vec<String>,
    /// A file of customer references, one per line (`#` starts a comment).
    #[arg(long, conflicts_with = "all_customers")]
    customers: Option<PathBuf>,
    /// With --all-customers: the provider whose whole account to export.
    #[arg(long, requires = "all_customers")]
    provider: Option<creditgate::model::ProviderKind>,
    /// Every customer with a grant at --provider (Stripe, Sequence and Togai list their
    /// whole account).
    #[arg(long, requires = "provider")]
    all_customers: bool,
}

impl CustomerArgs {
    fn resolve(self) -> Result<export::Customers, String> {
        match (self.customers, self.provider.filter(|_| self.all_customers)) {
            (_, Some(provider)) => Ok(export::Customers::AllOf(provider)),
            (Some(file), None) => Ok(export::Customers::Listed(customer_file(&file)?)),
            (None, None) if !self.customer.is_empty() => Ok(export::Customers::Listed(self.customer)),
            (None, None) => {
                Err("name the customers: --customer, --customers FILE or --provider P --all-customers".into())
            }
        }
    }
}

/// The tool commands.
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Write every grant, ledger entry and balance of some customers, normalized, to a file
    /// (NDJSON or CSV); `--resume` continues an interrupted export.
    Export {
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        customers: CustomerArgs,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "ndjson")]
        format: ExportFormat,
        /// Continue the export whose checkpoint sits beside --out.
        #[arg(long)]
        resume: bool,
    },
    /// Move credits from one vendor to another: `plan`, then `apply`.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Compare two sides of a migration: each migrated grant's remaining amount, and per
    /// unit the source balance with what the target holds in migrated grants. Exits 1 when
    /// they differ.
    Reconcile {
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        pairs: PairArgs,
        /// Check an applied plan's finished state instead: every item's target grant holds
        /// the planned amount and its source grant has ended.
        #[arg(long, conflicts_with_all = ["from", "customers"])]
        plan: Option<PathBuf>,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a tool command. Exit codes: 0 done (or agreed), 1 differences or failed items, 2
/// usage or config errors (clap's own usage errors are 2 as well).
pub fn run(tool: Tool) -> Result<(), Failure> {
    match tool {
        Tool::Export {
            config,
            customers,
            out,
            format,
            resume,
        } => export(&config, customers, out, format, resume),
        Tool::Migrate(command) => migrate(command),
        Tool::Reconcile {
            config,
            pairs,
            plan,
            json,
        } => super::reconcile::reconcile(&config, &pairs, plan.as_deref(), json),
    }
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Write the grants to create at the target for every source grant with something
    /// left, and list what cannot be carried and why. Nothing is written to a vendor.
    Plan {
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        pairs: PairArgs,
        /// The plan file to write (JSON).
        #[arg(long)]
        out: PathBuf,
        /// Also carry grants that are themselves the product of a migration (they carry
        /// its marker); by default they are listed as not carried.
        #[arg(long)]
        include_migrated: bool,
    },
    /// Create the planned grants, each exactly once however often the plan is run; its
    /// idempotency records are kept beside the plan (`PLAN.redb`).
    Apply {
        /// A plan file from `migrate plan`.
        plan: PathBuf,
        #[arg(long, short)]
        config: PathBuf,
        /// Void (or, where the vendor cannot, expire) each source grant once its target
        /// grant is confirmed. Where a void deletes the grant's history (Sequence), the
        /// customers' whole history is first exported to `PLAN.history.ndjson`.
        #[arg(long)]
        void_source: bool,
    },
}

/// How a tool command failed, as its exit code says: 1 for differences, failed items or a
/// vendor that failed; 2 for usage or config errors (a bad argument, file, plan or config).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { code: 2, message }
    }
}

impl From<creditgate::export::ToolError> for Failure {
    fn from(error: creditgate::export::ToolError) -> Self {
        let code = match error {
            creditgate::export::ToolError::Api { .. } => 1,
            creditgate::export::ToolError::Input(_) | creditgate::export::ToolError::Io { .. } => 2,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

/// Differences found, or items that failed: exit 1.
pub(super) fn failed(message: String) -> Failure {
    Failure { code: 1, message }
}

/// Which customers move where.
#[derive(Debug, clap::Args)]
pub struct PairArgs {
    /// The source customer (`provider:id` or an alias at one provider).
    #[arg(long, requires = "to", conflicts_with = "customers")]
    from: Option<String>,
    /// The target customer.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// A file of pairs, `<from> <to>` per line (`#` starts a comment).
    #[arg(long)]
    customers: Option<PathBuf>,
    /// `SOURCE=TARGET` for a unit that differs between the vendors (repeatable).
    #[arg(long = "unit-map", value_parser = parse_unit_map)]
    unit_map: Vec<(String, String)>,
}

impl PairArgs {
    pub(super) fn pairs(&self) -> Result<Vec<migrate::Pair>, String> {
        match (&self.from, &self.to, &self.customers) {
            (Some(from), Some(to), None) => Ok(vec![migrate::Pair {
                from: from.clone(),
                to: to.clone(),
            }]),
            (None, None, Some(file)) => customer_file(file)?
                .into_iter()
                .map(|line| {
                    let mut words = line.split_whitespace();
                    match (words.next(), words.next(), words.next()) {
                        (Some(from), Some(to), None) => Ok(migrate::Pair {
                            from: from.into(),
                            to: to.into(),
                        }),
                        _ => Err(format!("{}: `{line}` is not `<from> <to>`", file.display())),
                    }
                })
                .collect(),
            _ => Err("name the customers: --from and --to, or --customers FILE".into()),
        }
    }

    pub(super) fn unit_map(&self) -> std::collections::BTreeMap<String, String> {
        self.unit_map.iter().cloned().collect()
    }
}

fn parse_unit_map(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
            Ok((from.trim().to_owned(), to.trim().to_owned()))
        }
        _ => Err(format!("`{text}` is not SOURCE=TARGET (e.g. credits=USD)")),
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

/// `creditgate export`.
fn export(
    config: &Path,
    customers: CustomerArgs,
    out: PathBuf,
    format: ExportFormat,
    resume: bool,
) -> Result<(), Failure> {
    let customers = customers.resolve()?;
    let request = export::ExportRequest {
        customers,
        out,
        format: match format {
            ExportFormat::Ndjson => export::Format::Ndjson,
            ExportFormat::Csv => export::Format::Csv,
        },
        resume,
    };
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = tool_gateway(config)?;
    let progress = Bar::new("exported", "objects");
    let started = std::time::Instant::now();
    let summary = runtime.block_on(export::export(&gateway, &request, &progress))?;
    progress.finish();
    let total = summary.grants + summary.ledger_entries + summary.balances;
    println!(
        "exported {} customers: {} grants, {} ledger entries, {} balances to {} ({:.0} objects/s)",
        summary.customers,
        summary.grants,
        summary.ledger_entries,
        summary.balances,
        request.out.display(),
        total as f64 / started.elapsed().as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// `creditgate migrate plan|apply`.
fn migrate(command: MigrateCommand) -> Result<(), Failure> {
    match command {
        MigrateCommand::Plan {
            config,
            pairs,
            out,
            include_migrated,
        } => plan(&config, &pairs, &out, include_migrated),
        MigrateCommand::Apply {
            plan,
            config,
            void_source,
        } => apply(&plan, &config, void_source),
    }
}

fn plan(config: &Path, pairs: &PairArgs, out: &Path, include_migrated: bool) -> Result<(), Failure> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(format!("{} exists; remove it or choose another --out", out.display()).into());
    }
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = tool_gateway(config)?;
    let progress = Bar::new("read", "source grants");
    let options = migrate::PlanOptions {
        unit_map: pairs.unit_map(),
        include_migrated,
    };
    let plan = runtime.block_on(migrate::plan(&gateway, &pairs.pairs()?, &options, &progress))?;
    progress.finish();
    let text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
    // Created whole, and never through a link planted meanwhile.
    creditgate::files::create_atomically(out, |mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    for item in &plan.items {
        let amount = &item.create.amount;
        println!(
            "  create  {:<40} {:>14} {:<8} at {}",
            item.source_grant, amount.value, amount.unit, item.create.customer
        );
    }
    for skip in &plan.unmapped {
        println!("  skip    {:<40} {}", skip.source_grant, skip.reason);
    }
    println!(
        "plan: {} grants to create, {} not carried; written to {}",
        plan.items.len(),
        plan.unmapped.len(),
        out.display()
    );
    Ok(())
}

/// `PLAN` + `suffix`: the files `apply` keeps beside its plan.
fn beside(plan: &Path, suffix: &str) -> PathBuf {
    let mut name = plan.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(super) fn read_plan(plan: &Path) -> Result<migrate::Plan, Failure> {
    let text = std::fs::read_to_string(plan).map_err(|e| format!("{}: {e}", plan.display()))?;
    Ok(migrate::read_plan(&text).map_err(|e| format!("{}: {e}", plan.display()))?)
}

fn apply(plan: &Path, config: &Path, void_source: bool) -> Result<(), Failure> {
    let parsed = read_plan(plan)?;
    let mut config = Config::load(config).map_err(|e| e.to_string())?;
    config.inbound.requests_per_second = u32::MAX;
    config.inbound.burst = u32::MAX;
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = Gateway::with_store_at(&config, &beside(plan, ".redb")).map_err(|e| e.to_string())?;
    let progress = Bar::new("applied", "plan items");
    let options = migrate::ApplyOptions {
        void_source,
        history: beside(plan, ".history.ndjson"),
    };
    let report = runtime.block_on(migrate::apply(&gateway, &parsed, &options, &progress));
    progress.finish();
    let report = report?;
    if let Some((path, customers)) = &report.history {
        println!(
            "  kept    the whole history of {} (their vendor's void deletes it) in {}",
            customers.join(", "),
            path.display()
        );
    }
    let outcomes = &report.items;
    let failures: Vec<_> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let replayed = outcomes.iter().filter(|o| o.replayed).count();
    for o in &failures {
        println!("  failed  {:<40} {}", o.source_grant, o.error.as_deref().unwrap_or(""));
    }
    println!(
        "apply: {} created, {} done by an earlier run, {} failed{}",
        outcomes.len() - failures.len() - replayed,
        replayed,
        failures.len(),
        if void_source {
            format!(
                ", {} source grants ended",
                outcomes.iter().filter(|o| o.source_ended).count()
            )
        } else {
            String::new()
        }
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "{} plan items failed; run apply again once the cause is fixed (nothing is created twice)",
            failures.len()
        )))
    }
}

/// A gateway over a config for the tools: the same library `serve` runs, without its
/// inbound quota (the tools are the only caller). With `[redis]` it paces each vendor
/// together with the running replicas. Built inside the runtime.
pub(super) fn tool_gateway(path: &std::path::Path) -> Result<Gateway, String> {
    let mut config = Config::load(path).map_err(|e| e.to_string())?;
    config.inbound.requests_per_second = u32::MAX;
    config.inbound.burst = u32::MAX;
    Gateway::for_tools(&config).map_err(|e| e.to_string())
}

/// Customer references from a file: one per line, blank lines and `#` comments skipped.
fn customer_file(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let customers: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if customers.is_empty() {
        return Err(format!("{} names no customer", path.display()));
    }
    Ok(customers)
}
