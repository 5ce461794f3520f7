//! The tests every vendor passes, generated per vendor by one macro call in its own test
//! file (`crate::conformance_tests!(CONFORMANCE)` in `tests/stripe.rs`), against its simulator:
//! reads equal the simulator's ground truth for every capability `/v1/providers` shows; a
//! capability it does not show is a 501 naming it; writes land once and move the balance;
//! a write whose outcome is unknown is written exactly once, across a restart too, and
//! one the vendor applies after creditgate gave up is found, not written again; answers
//! generated from the vendor's spec normalize or are refused for a listed reason, and any
//! bytes are a 502.

use std::collections::{BTreeMap, BTreeSet};

use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::world::{amount, balances_of, World};

pub mod writes;

/// What a vendor's conformance tests need to know that is not in creditgate's answers.
pub struct Conformance {
    pub vendor: Vendor,
    /// Fields a new grant needs at this vendor beyond `customer`, `amount`, `name` and
    /// `expires_at` (Metronome: a `priority`).
    pub grant_extra: fn() -> Value,
    /// Whether a voided grant leaves the vendor's lists (Sequence's void is a `DELETE`).
    pub void_deletes: bool,
    /// The vendor's own type of the entry a manual credit books, where it names one.
    pub manual_entry_type: Option<&'static str>,
    /// The vendor endpoints creditgate reads (`tests/fidelity/<vendor>.rs`), for the
    /// answers generated from its spec.
    pub fidelity: fn() -> Vec<super::fidelity::Endpoint>,
}

/// Generates the module `conformance` of tests for one vendor, from `CONFIG`, a
/// [`Conformance`] const of the calling file.
#[macro_export]
macro_rules! conformance_tests {
    ($config:ident) => {
        mod conformance {
            use super::common::conformance;

            #[tokio::test]
            async fn reads_match_the_simulator_with_the_vendors_page_sizes() {
                conformance::reads_match_the_simulator(&super::$config, None).await;
            }

            #[tokio::test]
            async fn reads_match_the_simulator_across_many_small_vendor_pages() {
                conformance::reads_match_the_simulator(&super::$config, Some(6)).await;
            }

            #[tokio::test]
            async fn what_it_lacks_is_a_501_naming_the_capability() {
                conformance::what_it_lacks_is_a_501(&super::$config).await;
            }

            #[tokio::test]
            async fn writes_land_once_and_move_the_balance() {
                conformance::writes::writes_land_once(&super::$config).await;
            }

            #[tokio::test]
            async fn an_unknown_outcome_then_a_retry_writes_exactly_once() {
                conformance::writes::unknown_outcome_then_retry(&super::$config, false).await;
            }

            #[tokio::test]
            async fn an_unknown_outcome_then_a_restart_and_a_retry_writes_exactly_once() {
                conformance::writes::unknown_outcome_then_retry(&super::$config, true).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn generated_vendor_answers_normalize_or_are_refused_for_a_listed_reason() {
                let endpoints = (super::$config.fidelity)();
                $crate::common::fidelity::checks::generated_answers_normalize_or_are_refused_for_a_listed_reason(
                    endpoints,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn arbitrary_vendor_bytes_are_a_502_never_a_panic() {
                let endpoints = (super::$config.fidelity)();
                $crate::common::fidelity::checks::arbitrary_bytes_are_a_502_never_a_panic(endpoints).await;
            }

            #[tokio::test]
            async fn a_write_the_vendor_applies_late_is_not_written_again() {
                conformance::writes::late_write_is_found(&super::$config).await;
            }
        }
    };
}

const LIMITS: [usize; 4] = [1, 7, 50, 500];
const CUSTOMERS: usize = 4;

pub(super) fn has(capabilities: &Value, name: &str) -> bool {
    capabilities[name]
        .as_bool()
        .unwrap_or_else(|| panic!("no capability {name}: {capabilities}"))
}

/// Each customer, each limit: every read the vendor offers equals the simulator's truth,
/// to the last digit; each list holds every item once.
pub async fn reads_match_the_simulator(c: &Conformance, page_size: Option<usize>) {
    let vendor = c.vendor;
    let w = World::start(7, CUSTOMERS, 45, page_size).await;
    let caps = w.capabilities(vendor).await;
    assert!(
        has(&caps, "credit_ledger") && has(&caps, "credit_balances"),
        "{vendor}: {caps}"
    );
    let mut every_grant = BTreeMap::new();
    for index in 0..CUSTOMERS {
        let truth = w.truth(vendor, index);
        let customer = w.customer(vendor, index);
        assert!(!truth.ledger.is_empty(), "{vendor}: the simulator has a ledger");
        every_grant.extend(truth.grants.clone());
        for limit in LIMITS {
            let ledger = w
                .collect(&format!("/v1/credit_ledger_entries?customer={customer}&limit={limit}"))
                .await;
            assert_eq!(
                ledger, truth.ledger,
                "{vendor} customer {index} ledger at limit {limit}"
            );
            if has(&caps, "credit_grants") {
                let grants = w
                    .collect(&format!("/v1/credit_grants?customer={customer}&limit={limit}"))
                    .await;
                assert_eq!(
                    grants, truth.grants,
                    "{vendor} customer {index} grants at limit {limit}"
                );
            }
            if has(&caps, "ledger_by_grant") {
                for (grant, ids) in &truth.ledger_by_grant {
                    let path = format!("/v1/credit_ledger_entries?customer={customer}&grant={grant}&limit={limit}");
                    let got: BTreeSet<String> = w.collect(&path).await.into_keys().collect();
                    assert_eq!(got, ids.iter().cloned().collect(), "{path}");
                }
            }
        }
        assert_eq!(
            w.balances(&customer).await,
            balances_of(vendor, &truth),
            "{vendor} customer {index} balances"
        );
    }
    if has(&caps, "account_wide_grants") {
        for limit in LIMITS {
            let got = w
                .collect(&format!("/v1/credit_grants?provider={vendor}&limit={limit}"))
                .await;
            assert_eq!(got, every_grant, "{vendor}: the whole account at limit {limit}");
        }
    }
    if has(&caps, "grant_lookup") {
        one_grant_matches_the_simulator(&w, vendor, has(&caps, "ledger_by_grant")).await;
    }
    if has(&caps, "backward_paging") {
        let customer = w.customer(vendor, 0);
        let first = w
            .api
            .get(&format!("/v1/credit_ledger_entries?customer={customer}&limit=1"))
            .await;
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = w
            .api
            .get(&format!(
                "/v1/credit_ledger_entries?customer={customer}&limit=1&cursor={cursor}"
            ))
            .await;
        let back = second.body["previous_cursor"].as_str().expect("a way back");
        let again = w
            .api
            .get(&format!(
                "/v1/credit_ledger_entries?customer={customer}&limit=1&cursor={back}"
            ))
            .await;
        assert_eq!(
            again.body["data"], first.body["data"],
            "{vendor}: back is where it came from"
        );
    }
    every_vendor_call_had_a_template(vendor);
}

/// Every vendor call of the test was labelled by a template of the vendor's `[endpoints]`
/// list (none as `other`), and some were made.
pub(super) fn every_vendor_call_had_a_template(vendor: Vendor) {
    let text = creditgate::metrics::render();
    let calls: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("creditgate_upstream_requests_total{") && l.contains(&format!("provider=\"{vendor}\""))
        })
        .collect();
    assert!(!calls.is_empty(), "{vendor}: no vendor call counted");
    let unlabelled: Vec<&&str> = calls.iter().filter(|l| l.contains("endpoint=\"other\"")).collect();
    assert!(
        unlabelled.is_empty(),
        "{vendor}: calls no template of providers/{vendor}.toml matches: {unlabelled:?}"
    );
}

/// A grant by id: its amount, its ledger (with `include=ledger`), and a balance that is
/// what its ledger sums to.
async fn one_grant_matches_the_simulator(w: &World, vendor: Vendor, with_ledger: bool) {
    let truth = w.truth(vendor, 1);
    let (grant, ids) = truth.ledger_by_grant.iter().next().unwrap();
    let include = if with_ledger { "?include=ledger" } else { "" };
    let page = w.api.get(&format!("/v1/credit_grants/{grant}{include}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(amount(&page.body["amount"]), truth.grants[grant].0, "{vendor}");
    if with_ledger {
        let ledger: BTreeSet<String> = page.body["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ledger, ids.iter().cloned().collect(), "{vendor}");
        let sum: Decimal = ids.iter().map(|id| truth.ledger[id].0).sum();
        assert_eq!(
            amount(&page.body["balance"]),
            sum,
            "{vendor}: a grant's balance is what its ledger sums to"
        );
    }
}

/// Every capability `/v1/providers` does not show: its request is a 501 that names it, and
/// nothing is written.
pub async fn what_it_lacks_is_a_501(c: &Conformance) {
    let vendor = c.vendor;
    let w = World::start(3, 2, 8, None).await;
    let caps = w.capabilities(vendor).await;
    let customer = w.customer(vendor, 0);
    let grant = format!("{vendor}:x1");
    let adjustment = json!({"customer": customer, "amount": {"value": "1", "unit": "USD"}, "direction": "credit"});
    let requests: [(&str, &str, String, Option<String>); 9] = [
        (
            "credit_grants",
            "GET",
            format!("/v1/credit_grants?customer={customer}"),
            None,
        ),
        (
            "account_wide_grants",
            "GET",
            format!("/v1/credit_grants?provider={vendor}"),
            None,
        ),
        ("grant_lookup", "GET", format!("/v1/credit_grants/{grant}"), None),
        (
            "ledger_by_grant",
            "GET",
            format!("/v1/credit_ledger_entries?customer={customer}&grant={grant}"),
            None,
        ),
        (
            "create_grants",
            "POST",
            "/v1/credit_grants".into(),
            Some(grant_body(c, &w, "1.00").0),
        ),
        (
            "void_grants",
            "POST",
            format!("/v1/credit_grants/{grant}/void"),
            Some(String::new()),
        ),
        (
            "expire_grants",
            "POST",
            format!("/v1/credit_grants/{grant}/expire"),
            Some(String::new()),
        ),
        (
            "ledger_adjustments",
            "POST",
            "/v1/credit_ledger_entries".into(),
            Some(adjustment.to_string()),
        ),
        (
            "credit_balances",
            "GET",
            format!("/v1/credit_balances?customer={customer}"),
            None,
        ),
    ];
    let simulator = w.demo.simulator(vendor).clone();
    let written = simulator.written_grants(0);
    let mut lacking = 0;
    for (capability, verb, path, body) in requests {
        if has(&caps, capability) {
            continue;
        }
        lacking += 1;
        let r = match (verb, body) {
            ("POST", Some(body)) => {
                w.api
                    .post_as(&path, DEMO_API_KEY, Some(&format!("lacks-{capability}")), &body)
                    .await
            }
            _ => w.api.get(&path).await,
        };
        assert_eq!(
            (r.status, r.code()),
            (501, "unsupported_by_provider"),
            "{vendor} {capability}: {}",
            r.body
        );
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(capability), "{vendor}: {message}");
        assert_eq!(r.body["error"]["provider"], vendor.as_str());
    }
    assert_eq!(
        simulator.written_grants(0),
        written,
        "{vendor}: a refusal writes nothing"
    );
    let shown: usize = caps
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v == &&json!(false))
        .count();
    let backward = usize::from(!has(&caps, "backward_paging"));
    assert_eq!(
        lacking + backward,
        shown,
        "{vendor}: every capability not shown was asked for"
    );
}

/// The unit customer 0 holds credits in at `vendor`: a currency where it holds one.
pub(super) fn unit_of(w: &World, vendor: Vendor) -> String {
    let units: Vec<String> = w.truth(vendor, 0).balances.into_keys().collect();
    let currency = units
        .iter()
        .find(|u| u.len() == 3 && u.bytes().all(|b| b.is_ascii_uppercase()));
    currency.or(units.first()).cloned().expect("a balance")
}

/// A grant body this vendor takes, for customer 0 in the unit of its first balance: (JSON
/// text, unit).
pub(super) fn grant_body(c: &Conformance, w: &World, value: &str) -> (String, String) {
    let unit = unit_of(w, c.vendor);
    let mut body = json!({
        "customer": w.customer(c.vendor, 0),
        "amount": {"value": value, "unit": unit},
        "name": "Conformance credits",
        "expires_at": "2031-01-01T00:00:00Z",
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), (c.grant_extra)()) {
        body.extend(extra);
    }
    (body.to_string(), unit)
}
