//! The gateway over the vendor simulators of `serve --demo`, for the end-to-end tests
//! (`simulated.rs`, `writes_simulated.rs` and every vendor's conformance tests).

use std::time::Duration;

use creditgate::{Config, Gateway};
use creditgate_sim::demo::{Demo, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Truth, Vendor};
use rust_decimal::Decimal;
use serde_json::Value;

use super::Api;

/// The settle window of an unknown outcome, shortened for tests (with the attempt timeout,
/// which it must be twice of).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
pub const SETTLE: Duration = Duration::from_millis(1_500);

pub struct World {
    pub demo: Demo,
    pub config: Config,
    pub api: Api,
}

impl World {
    /// The demo's simulators (`customers` of them, `entries` ledger entries each, their
    /// rate limits off) and a gateway over them, with writes that settle quickly;
    /// `page_size` forces small vendor pages.
    pub async fn start(seed: u64, customers: usize, entries: usize, page_size: Option<usize>) -> World {
        let options = SimOptions {
            seed,
            customers,
            entries_per_customer: entries,
            rate_limit: RateLimit::Off,
            ..SimOptions::default()
        };
        let demo = Demo::start(&options).await.unwrap();
        let config = Self::config(&demo.config_toml("127.0.0.1:0", page_size));
        let api = Self::api_for(&config);
        World { demo, config, api }
    }

    /// The config of `text`, unthrottled (the walks send hundreds of requests a second),
    /// with writes that settle quickly.
    fn config(text: &str) -> Config {
        let mut config = Config::from_toml_str(text).unwrap();
        config.unthrottle();
        config.upstream.attempt_timeout_ms = ATTEMPT_TIMEOUT.as_millis() as u64;
        config.upstream.write_settle_ms = creditgate::model::ProviderKind::ALL
            .into_iter()
            .map(|p| (p, SETTLE.as_millis() as u64))
            .collect();
        config
    }

    /// Builds the gateway again over the demo's config plus `extra` (TOML appended to it),
    /// with its event workers running, and answers it.
    pub fn with_events(&mut self, extra: &str) -> Gateway {
        self.with_events_and(extra, |_| {})
    }

    /// [`Self::with_events`], with the config changed by `adjust` before the gateway is built.
    pub fn with_events_and(&mut self, extra: &str, adjust: impl FnOnce(&mut Config)) -> Gateway {
        // The previous gateway holds the store: it goes first.
        self.api = Api::new(axum::Router::new(), DEMO_API_KEY);
        self.config = Self::config(&(self.demo.config_toml("127.0.0.1:0", None) + extra));
        adjust(&mut self.config);
        let gateway = Gateway::from_config(&self.config).unwrap();
        gateway.start_event_workers().unwrap();
        self.api = Api::new(creditgate::api::app(gateway.clone()), DEMO_API_KEY);
        gateway
    }

    /// A gateway over `config`: building a second one over the same config (after the
    /// first is dropped) is a restart, with the same idempotency store on disk.
    pub fn api_for(config: &Config) -> Api {
        let gateway = Gateway::from_config(config).unwrap();
        Api::new(creditgate::api::app(gateway), DEMO_API_KEY)
    }

    /// Drops the gateway and builds it again over the same store.
    pub fn restart(&mut self) {
        self.api = Api::new(axum::Router::new(), DEMO_API_KEY);
        self.api = Self::api_for(&self.config);
    }

    pub fn truth(&self, vendor: Vendor, customer: usize) -> Truth {
        self.demo.simulator(vendor).truth(customer)
    }

    /// `<vendor>:<id>` of simulated customer `index`.
    pub fn customer(&self, vendor: Vendor, index: usize) -> String {
        format!("{vendor}:{}", self.demo.simulator(vendor).customer_id(index))
    }

    /// The capability flags `/v1/providers` shows for `vendor`.
    pub async fn capabilities(&self, vendor: Vendor) -> Value {
        let page = self.api.get("/v1/providers").await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == vendor.as_str())
            .map(|p| p["capabilities"].clone())
            .unwrap_or_else(|| panic!("{vendor} is not configured: {}", page.body))
    }

    /// Every item of a walk as id → (amount, unit), failing on any id seen twice.
    pub async fn collect(&self, path: &str) -> std::collections::BTreeMap<String, (Decimal, String)> {
        let mut items = std::collections::BTreeMap::new();
        for page in self.api.walk(path).await {
            for item in page.body["data"].as_array().unwrap() {
                let id = item["id"].as_str().unwrap().to_owned();
                let amount = &item["amount"];
                let value: Decimal = amount["value"].as_str().unwrap().parse().unwrap();
                let unit = amount["unit"].as_str().unwrap().to_owned();
                assert!(
                    items.insert(id.clone(), (value, unit)).is_none(),
                    "{id} twice in {path}"
                );
            }
        }
        items
    }

    /// A customer's balances as (provider, unit) → available.
    pub async fn balances(&self, customer: &str) -> std::collections::BTreeMap<(String, String), Decimal> {
        let page = self.api.get(&format!("/v1/credit_balances?customer={customer}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let key = (
                    b["provider"].as_str().unwrap().to_owned(),
                    b["unit"].as_str().unwrap().to_owned(),
                );
                (key, amount(&b["available"]))
            })
            .collect()
    }

    /// Simulated customer 0's available balance in `unit` at `vendor` (0 when none).
    pub async fn balance(&self, vendor: Vendor, unit: &str) -> Decimal {
        let customer = self.customer(vendor, 0);
        self.balances(&customer)
            .await
            .get(&(vendor.to_string(), unit.to_owned()))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    /// Grant `id` as customer 0's grant list shows it, if it does.
    pub async fn grant_in_list(&self, vendor: Vendor, id: &str) -> Option<Value> {
        let path = format!("/v1/credit_grants?customer={}&limit=100", self.customer(vendor, 0));
        let pages = self.api.walk(&path).await;
        pages
            .into_iter()
            .flat_map(|p| p.body["data"].as_array().cloned().unwrap_or_default())
            .find(|g| g["id"] == id)
    }

    /// A retry inside the settle window is told to come back (409 `write_outcome_settling`
    /// with `Retry-After`) and sends nothing. Returns the wait it was told.
    pub async fn is_told_to_come_back(&self, path: &str, key: &str, body: &str, vendor: Vendor) -> Duration {
        let early = self.api.post_as(path, DEMO_API_KEY, Some(key), body).await;
        assert_eq!(
            (early.status, early.code()),
            (409, "write_outcome_settling"),
            "{vendor}: {}",
            early.body
        );
        let retry_after: u64 = early.headers["retry-after"].to_str().unwrap().parse().unwrap();
        // The window, rounded up to whole seconds, and the disk store's whole second.
        assert!((1..=3).contains(&retry_after), "{vendor}: Retry-After {retry_after}");
        assert_eq!(early.body["error"]["provider"], vendor.to_string());
        Duration::from_secs(retry_after)
    }
}

/// A contract amount's exact value.
pub fn amount(value: &Value) -> Decimal {
    value["value"].as_str().unwrap().parse().unwrap()
}

/// `truth`'s balances keyed as [`World::balances`] keys them.
pub fn balances_of(vendor: Vendor, truth: &Truth) -> std::collections::BTreeMap<(String, String), Decimal> {
    truth
        .balances
        .iter()
        .map(|(unit, value)| ((vendor.to_string(), unit.clone()), *value))
        .collect()
}

/// A read-only API key limited to one customer, for the console's tests.
pub const SUPPORT_KEY: &str = "cg_support_key";

impl World {
    /// The config lines of [`SUPPORT_KEY`]: read-only, customer 1 at Stripe only.
    pub fn support_key_toml(&self) -> String {
        format!(
            "\n[[api_keys]]\nname = \"support\"\nkey_sha256 = \"{}\"\nscopes = [\"read\"]\ncustomers = [\"{}\"]\n",
            super::sha256_hex(SUPPORT_KEY),
            self.customer(creditgate_sim::Vendor::Stripe, 1)
        )
    }
}
