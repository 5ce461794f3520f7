//! `creditgate check-config`: everything `serve` checks of a config file, without serving,
//! then what the config sets up, per provider; with `--probe`, one authenticated read at
//! each vendor, with its latency.

use std::path::Path;

use creditgate::{Config, Gateway};

/// Checks the config at `path`; with `probe`, reads once at every vendor. `Err` names
/// every problem found, or the providers whose probe failed.
pub fn check(path: &Path, probe: bool) -> Result<(), String> {
    let config = Config::load_unvalidated(path).map_err(|e| e.to_string())?;
    let gateway = Gateway::check_config(&config).map_err(|e| e.to_string())?;
    println!("config ok: {}", path.display());
    println!("  listen {}", config.listen);
    for summary in gateway.provider_summaries() {
        let can: Vec<String> = serde_json::to_value(summary.capabilities)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, on)| on.as_bool() == Some(true))
            .map(|(name, _)| name)
            .collect();
        let webhooks = if summary.takes_webhooks {
            "; takes its webhooks"
        } else {
            ""
        };
        println!(
            "  provider {:<10} {}\n    can: {}{webhooks}",
            summary.provider.as_str(),
            summary.base_url,
            can.join(", ")
        );
    }
    let writers = config
        .api_keys
        .iter()
        .filter(|k| k.scopes.contains(&creditgate::config::Scope::Write))
        .count();
    println!(
        "  {} API key(s) ({writers} may write), {} customer alias(es), {} webhook endpoint(s)",
        config.api_keys.len(),
        config.customers.0.len(),
        config.webhook_endpoints.len()
    );
    let needs_store = writers > 0
        || !config.webhook_endpoints.is_empty()
        || gateway.provider_summaries().iter().any(|s| s.takes_webhooks);
    match (&config.redis, needs_store) {
        (Some(_), true) => println!("  records and events: in Redis ([redis])"),
        (None, true) => println!("  records and events: {} ([store] path)", config.store.path.display()),
        (_, false) => println!("  no store: nothing here writes, takes webhooks or delivers events"),
    }
    match config.telemetry.as_ref().map(|t| (t.traces_url(), t.sample_ratio)) {
        Some((Ok(url), ratio)) => println!("  traces: to {url} (sample ratio {ratio})"),
        _ => println!("  traces: off (no [telemetry])"),
    }
    if !probe {
        return Ok(());
    }
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let gateway = Gateway::for_tools(&config).map_err(|e| e.to_string())?;
        let mut failed = Vec::new();
        for summary in gateway.provider_summaries() {
            let provider = summary.provider;
            match gateway.probe(provider).await {
                Ok(probe) => println!(
                    "  probe {provider}: ok, read {} in {} ms",
                    probe.what,
                    probe.elapsed.as_millis()
                ),
                Err(e) => {
                    println!("  probe {provider}: FAILED, {}: {e}", e.code().as_str());
                    failed.push(provider.as_str());
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("the probe failed at {}", failed.join(", ")))
        }
    })
}
