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
    },
    /// Create the planned grants, each exactly once however often the plan is run; its
    /// idempotency records are kept beside the plan (`PLAN.redb`).
    Apply {
        /// A plan file from `migrate plan`.
        plan: PathBuf,
        #[arg(long, short)]
        config: PathBuf,
        /// Void (or, where the vendor cannot, expire) each source grant once its target
        /// grant is confirmed.
        #[arg(long)]
        void_source: bool,
    },
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
    fn pairs(&self) -> Result<Vec<migrate::Pair>, String> {
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

    fn unit_map(&self) -> std::collections::BTreeMap<String, String> {
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
pub fn export(
    config: &Path,
    customers: CustomerArgs,
    out: PathBuf,
    format: ExportFormat,
    resume: bool,
) -> Result<(), String> {
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
    let summary = runtime
        .block_on(export::export(&gateway, &request, &progress))
        .map_err(|e| e.to_string())?;
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
pub fn migrate(command: MigrateCommand) -> Result<(), String> {
    match command {
        MigrateCommand::Plan { config, pairs, out } => plan(&config, &pairs, &out),
        MigrateCommand::Apply {
            plan,
            config,
            void_source,
        } => apply(&plan, &config, void_source),
    }
}

fn plan(config: &Path, pairs: &PairArgs, out: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(format!("{} exists; remove it or choose another --out", out.display()));
    }
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = tool_gateway(config)?;
    let progress = Bar::new("read", "source grants");
    let plan = runtime
        .block_on(migrate::plan(&gateway, &pairs.pairs()?, &pairs.unit_map(), &progress))
        .map_err(|e| e.to_string())?;
    progress.finish();
    let text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
    // Created whole, and never through a link planted meanwhile.
    creditgate::files::create_atomically(out, |mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    for item in &plan.items {
        let amount = &item.create["amount"];
        println!(
            "  create  {:<40} {:>14} {:<8} at {}",
            item.source_grant,
            amount["value"].as_str().unwrap_or(""),
            amount["unit"].as_str().unwrap_or(""),
            item.create["customer"].as_str().unwrap_or("")
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

fn apply(plan: &Path, config: &Path, void_source: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(plan).map_err(|e| format!("{}: {e}", plan.display()))?;
    let parsed = migrate::read_plan(&text).map_err(|e| format!("{}: {e}", plan.display()))?;
    let mut config = Config::load(config).map_err(|e| e.to_string())?;
    config.inbound.requests_per_second = u32::MAX;
    config.inbound.burst = u32::MAX;
    let mut store = plan.as_os_str().to_owned();
    store.push(".redb");
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = Gateway::with_store_at(&config, std::path::Path::new(&store)).map_err(|e| e.to_string())?;
    let progress = Bar::new("applied", "plan items");
    let outcomes = runtime.block_on(migrate::apply(&gateway, &parsed, void_source, &progress));
    progress.finish();
    let failed: Vec<_> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let replayed = outcomes.iter().filter(|o| o.replayed).count();
    for o in &failed {
        println!("  failed  {:<40} {}", o.source_grant, o.error.as_deref().unwrap_or(""));
    }
    println!(
        "apply: {} created, {} done by an earlier run, {} failed{}",
        outcomes.len() - failed.len() - replayed,
        replayed,
        failed.len(),
        if void_source {
            format!(
                ", {} source grants ended",
                outcomes.iter().filter(|o| o.source_ended).count()
            )
        } else {
            String::new()
        }
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} plan items failed; run apply again once the cause is fixed (nothing is created twice)",
            failed.len()
        ))
    }
}

/// `creditgate reconcile`.
pub fn reconcile(config: &Path, pairs: &PairArgs, json: bool) -> Result<(), String> {
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = tool_gateway(config)?;
    let report = runtime
        .block_on(migrate::reconcile(&gateway, &pairs.pairs()?, &pairs.unit_map()))
        .map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        println!(
            "  {:<10} {:>16} {:>16} {:>22}",
            "unit", "left", "right", "right, migrated"
        );
        for b in &report.balances {
            println!(
                "  {:<10} {:>16} {:>16} {:>22}",
                b.unit, b.left, b.right, b.right_migrated
            );
        }
        for d in &report.differences {
            println!("  differs {:<40} left {}  right {}", d.what, d.left, d.right);
        }
        println!(
            "reconcile: {} migrated grants agree, {} differences",
            report.matched_grants,
            report.differences.len()
        );
    }
    if report.differences.is_empty() {
        Ok(())
    } else {
        Err(format!("{} differences", report.differences.len()))
    }
}

/// A gateway over a config for the tools: the same library `serve` runs, without its
/// inbound quota (the tools are the only caller). With `[redis]` it paces each vendor
/// together with the running replicas. Built inside the runtime.
fn tool_gateway(path: &std::path::Path) -> Result<Gateway, String> {
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
