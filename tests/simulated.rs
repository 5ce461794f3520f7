//! End to end: the gateway against the five vendor simulators, every list walked to the
//! end at limits 1, 7, 50 and 500 and compared with the simulators' own ground truth.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::{Demo, DEMO_ALIAS, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Truth, Vendor};
use rust_decimal::Decimal;

const LIMITS: [usize; 4] = [1, 7, 50, 500];
const CUSTOMERS: usize = 4;

struct World {
    demo: Demo,
    api: Api,
}

/// The demo's simulators and gateway; `page_size` forces small vendor pages.
async fn world(page_size: Option<usize>) -> World {
    let options = SimOptions {
        seed: 7,
        customers: CUSTOMERS,
        entries_per_customer: 45,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    // The simulators' rate limits are off, and the walks send hundreds of requests a second.
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", page_size)).unwrap();
    config.unthrottle();
    let gateway = Gateway::from_config(&config).unwrap();
    World {
        api: Api::new(creditgate::api::router(gateway), DEMO_API_KEY),
        demo,
    }
}

impl World {
    fn truth(&self, vendor: Vendor, customer: usize) -> Truth {
        self.demo.simulator(vendor).truth(customer)
    }

    fn customer(&self, vendor: Vendor, customer: usize) -> String {
        format!("{vendor}:{}", self.demo.simulator(vendor).customer_id(customer))
    }

    /// Every item of a walk as id → (amount, unit), failing on any id seen twice.
    async fn collect(&self, path: &str) -> BTreeMap<String, (Decimal, String)> {
        let mut items = BTreeMap::new();
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

    async fn balances(&self, customer: &str) -> BTreeMap<(String, String), Decimal> {
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
                (key, b["available"]["value"].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }
}

fn balances_of(vendor: Vendor, truth: &Truth) -> BTreeMap<(String, String), Decimal> {
    truth
        .balances
        .iter()
        .map(|(unit, value)| ((vendor.to_string(), unit.clone()), *value))
        .collect()
}

/// Each vendor, each customer, each limit: ledger, grants, ledger by grant and balances
/// equal the simulator's truth, to the last digit.
async fn every_vendor_matches_its_simulator(page_size: Option<usize>) {
    let w = world(page_size).await;
    for vendor in Vendor::ALL {
        for c in 0..CUSTOMERS {
            let truth = w.truth(vendor, c);
            let customer = w.customer(vendor, c);
            assert!(!truth.ledger.is_empty());
            for limit in LIMITS {
                let ledger = w
                    .collect(&format!("/v1/credit_ledger_entries?customer={customer}&limit={limit}"))
                    .await;
                assert_eq!(ledger, truth.ledger, "{vendor} customer {c} ledger at limit {limit}");
                if vendor == Vendor::Vayu {
                    continue;
                }
                let grants = w
                    .collect(&format!("/v1/credit_grants?customer={customer}&limit={limit}"))
                    .await;
                assert_eq!(grants, truth.grants, "{vendor} customer {c} grants at limit {limit}");
                for (grant, ids) in &truth.ledger_by_grant {
                    let path = format!("/v1/credit_ledger_entries?customer={customer}&grant={grant}&limit={limit}");
                    let got: BTreeSet<String> = w.collect(&path).await.into_keys().collect();
                    assert_eq!(got, ids.iter().cloned().collect(), "{path}");
                }
            }
            assert_eq!(
                w.balances(&customer).await,
                balances_of(vendor, &truth),
                "{vendor} customer {c} balances"
            );
        }
    }
}

#[tokio::test]
async fn every_vendor_matches_its_simulator_with_the_vendors_page_sizes() {
    every_vendor_matches_its_simulator(None).await;
}

#[tokio::test]
async fn every_vendor_matches_its_simulator_across_many_small_vendor_pages() {
    every_vendor_matches_its_simulator(Some(6)).await;
}

#[tokio::test]
async fn account_wide_grant_lists_hold_every_customers_grants_once() {
    let w = world(Some(5)).await;
    for vendor in [Vendor::Stripe, Vendor::Sequence, Vendor::Togai] {
        let mut expected = BTreeMap::new();
        for c in 0..CUSTOMERS {
            expected.extend(w.truth(vendor, c).grants);
        }
        for limit in LIMITS {
            let got = w
                .collect(&format!("/v1/credit_grants?provider={vendor}&limit={limit}"))
                .await;
            assert_eq!(got, expected, "{vendor} at limit {limit}");
        }
    }
}

#[tokio::test]
async fn the_acme_alias_walks_all_five_vendors_as_one_list() {
    let w = world(Some(6)).await;
    let mut ledger = BTreeMap::new();
    let mut grants = BTreeMap::new();
    let mut balances = BTreeMap::new();
    for vendor in Vendor::ALL {
        let truth = w.truth(vendor, 0);
        ledger.extend(truth.ledger.clone());
        grants.extend(truth.grants.clone());
        balances.extend(balances_of(vendor, &truth));
    }
    for limit in LIMITS {
        let got = w
            .collect(&format!(
                "/v1/credit_ledger_entries?customer={DEMO_ALIAS}&limit={limit}"
            ))
            .await;
        assert_eq!(got, ledger, "acme ledger at limit {limit}");
        let got = w
            .collect(&format!("/v1/credit_grants?customer={DEMO_ALIAS}&limit={limit}"))
            .await;
        assert_eq!(got, grants, "acme grants at limit {limit}");
    }
    assert_eq!(w.balances(DEMO_ALIAS).await, balances);
    assert_eq!(balances.len(), 5);
    // Vayu has no grants: the list says so instead of failing.
    let page = w.api.get(&format!("/v1/credit_grants?customer={DEMO_ALIAS}")).await;
    assert_eq!(page.body["skipped"][0]["provider"], "vayu", "{}", page.body);
}

#[tokio::test]
async fn one_grant_with_its_balance_and_ledger_matches_the_simulator() {
    let w = world(None).await;
    for vendor in [Vendor::Stripe, Vendor::Sequence, Vendor::Togai] {
        let truth = w.truth(vendor, 1);
        let (grant, ids) = truth.ledger_by_grant.iter().next().unwrap();
        let page = w.api.get(&format!("/v1/credit_grants/{grant}?include=ledger")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let amount: Decimal = page.body["amount"]["value"].as_str().unwrap().parse().unwrap();
        assert_eq!(amount, truth.grants[grant].0, "{vendor}");
        let ledger: BTreeSet<String> = page.body["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ledger, ids.iter().cloned().collect(), "{vendor}");
        let sum: Decimal = ids.iter().map(|id| truth.ledger[id].0).sum();
        let balance: Decimal = page.body["balance"]["value"].as_str().unwrap().parse().unwrap();
        assert_eq!(balance, sum, "{vendor}: a grant's balance is what its ledger sums to");
    }
}
