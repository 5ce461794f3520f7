//! What the in-process benches share: the demo's simulators and a gateway over them.

use creditgate::model::ProviderKind;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::Demo;
use creditgate_sim::{RateLimit, SimOptions};

/// Simulators of `customers` customers with `entries` ledger entries each (no rate limits),
/// and an unthrottled gateway over them whose vendor answers stay cached for the whole run.
pub async fn cached_gateway(customers: usize, entries: usize) -> (Demo, Gateway) {
    let options = SimOptions {
        customers,
        entries_per_customer: entries,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    config.upstream.cache_ttl_secs = ProviderKind::ALL.into_iter().map(|p| (p, 3600)).collect();
    let gateway = Gateway::from_config(&config).unwrap();
    (demo, gateway)
}
