//! `creditgate reconcile`: both sides of a migration compared, or an applied plan's
//! finished state, printed as a table or JSON; exit 1 when anything differs.

use std::path::Path;

use creditgate::migrate;

use super::runtime;
use super::tools::{failed, read_plan, tool_gateway, Failure, PairArgs};

/// `creditgate reconcile`: the pairs before (or without) ending the sources, or with
/// `--plan` the finished state of an applied plan.
pub(super) fn reconcile(config: &Path, pairs: &PairArgs, plan: Option<&Path>, json: bool) -> Result<(), Failure> {
    let runtime = runtime()?;
    let _inside = runtime.enter();
    let gateway = tool_gateway(config)?;
    let report = match plan {
        Some(plan) => {
            let parsed = read_plan(plan)?;
            runtime.block_on(migrate::reconcile_plan(&gateway, &parsed))?
        }
        None => runtime.block_on(migrate::reconcile(&gateway, &pairs.pairs()?, &pairs.unit_map()))?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        let (left, right) = if plan.is_some() {
            ("planned", "target")
        } else {
            ("left", "right")
        };
        println!(
            "  {:<10} {:>16} {:>16} {:>22}",
            "unit",
            left,
            right,
            format!("{right}, migrated")
        );
        for b in &report.balances {
            println!(
                "  {:<10} {:>16} {:>16} {:>22}",
                b.unit, b.left, b.right, b.right_migrated
            );
        }
        for d in &report.differences {
            println!("  differs {:<40} {left} {}  {right} {}", d.what, d.left, d.right);
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
        Err(failed(format!("{} differences", report.differences.len())))
    }
}
