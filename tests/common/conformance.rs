//! The tests every vendor passes, generated per vendor by one macro call in its own test
//! file (`crate::conformance_tests!(CONFORMANCE)` in `tests/stripe.rs`), against its simulator:
//! reads equal the simulator's ground truth for every capability `/v1/providers` shows; a
//! capability it does not show is a 501 naming it; writes land once and move the balance;
//! a write whose outcome is unknown is written exactly once, across a restart too, and
//! one the vendor applies after creditgate gave up is found, not written again.

use std::collections::{BTreeMap, BTreeSet};

use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::world::{amount, balances_of, World};

/// What a vendor's conformance tests need to know that is not in creditgate's answers.
pub struct Conformance {
    pub vendor: Vendor,
    /// Fields a new grant needs at this vendor beyond `customer`, `amount`, `name` and
    /// `expires_at` (Metronome: a `priority`).
    pub grant_extra: fn() -> Value,
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
                conformance::writes_land_once(&super::$config).await;
            }

            #[tokio::test]
            async fn an_unknown_outcome_then_a_retry_writes_exactly_once() {
                conformance::unknown_outcome_then_retry(&super::$config, false).await;
            }

            #[tokio::test]
            async fn an_unknown_outcome_then_a_restart_and_a_retry_writes_exactly_once() {
                conformance::unknown_outcome_then_retry(&super::$config, true).await;
            }

            #[tokio::test]
            async fn a_write_the_vendor_applies_late_is_not_written_again() {
                conformance::late_write_is_found(&super::$config).await;
            }
        }
    };
}

const LIMITS: [usize; 4] = [1, 7, 50, 500];
const CUSTOMERS: usize = 4;

fn has(capabilities: &Value, name: &str) -> bool {
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
fn unit_of(w: &World, vendor: Vendor) -> String {
    let units: Vec<String> = w.truth(vendor, 0).balances.into_keys().collect();
    let currency = units
        .iter()
        .find(|u| u.len() == 3 && u.bytes().all(|b| b.is_ascii_uppercase()));
    currency.or(units.first()).cloned().expect("a balance")
}

/// A grant body this vendor takes, for customer 0 in the unit of its first balance: (JSON
/// text, unit).
fn grant_body(c: &Conformance, w: &World, value: &str) -> (String, String) {
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

/// One write this vendor takes: a grant where it creates them, else a ledger credit (on
/// one of its grants where it has grants). (path, body, unit).
async fn one_write(c: &Conformance, w: &World, value: &str) -> (&'static str, String, String) {
    let caps = w.capabilities(c.vendor).await;
    if has(&caps, "create_grants") {
        let (body, unit) = grant_body(c, w, value);
        return ("/v1/credit_grants", body, unit);
    }
    assert!(has(&caps, "ledger_adjustments"), "{}: takes no write at all", c.vendor);
    let unit = unit_of(w, c.vendor);
    let mut body = json!({"customer": w.customer(c.vendor, 0), "amount": {"value": value, "unit": unit},
                          "direction": "credit"});
    if has(&caps, "credit_grants") {
        body["grant"] = json!(w.truth(c.vendor, 0).grants.into_keys().next().expect("a grant"));
    }
    ("/v1/credit_ledger_entries", body.to_string(), unit)
}

/// Creates (and ends, each way the vendor ends grants) and books manual entries, as the
/// vendor allows: each write is answered, replayed under its key, and moves the balance by
/// exactly its amount.
pub async fn writes_land_once(c: &Conformance) {
    let vendor = c.vendor;
    let w = World::start(11, 3, 12, None).await;
    let caps = w.capabilities(vendor).await;
    let mut writes = 0;
    for end in ["void", "expire"] {
        if !has(&caps, "create_grants") || !has(&caps, &format!("{end}_grants")) {
            continue;
        }
        writes += 1;
        let (body, unit) = grant_body(c, &w, "12.50");
        let before = w.balance(vendor, &unit).await;
        let key = format!("create-{end}");
        let created = w
            .api
            .post_as("/v1/credit_grants", DEMO_API_KEY, Some(&key), &body)
            .await;
        assert_eq!(created.status, 200, "{vendor}: {}", created.body);
        assert_eq!(created.body["status"], "active", "{vendor}: {}", created.body);
        assert_eq!(amount(&created.body["amount"]), Decimal::new(1250, 2), "{vendor}");
        let id = created.body["id"].as_str().unwrap().to_owned();
        if has(&caps, "credit_grants") {
            let listed = w.grant_in_list(vendor, &id).await.expect("the new grant is listed");
            assert_eq!(amount(&listed["amount"]), Decimal::new(1250, 2), "{vendor}");
        }
        assert_eq!(
            w.balance(vendor, &unit).await,
            before + Decimal::new(1250, 2),
            "{vendor}: up by the amount"
        );
        let again = w
            .api
            .post_as("/v1/credit_grants", DEMO_API_KEY, Some(&key), &body)
            .await;
        assert_eq!(again.headers["idempotent-replayed"], "true", "{vendor}");
        assert_eq!(again.body["id"], created.body["id"], "{vendor}");

        let end_body = json!({"customer": w.customer(vendor, 0)}).to_string();
        let path = format!("/v1/credit_grants/{id}/{end}");
        let ended = w
            .api
            .post_as(&path, DEMO_API_KEY, Some(&format!("end-{end}")), &end_body)
            .await;
        let status = if end == "void" { "voided" } else { "expired" };
        assert_eq!(ended.status, 200, "{vendor} {end}: {}", ended.body);
        assert_eq!(ended.body["status"], status, "{vendor} {end}: {}", ended.body);
        assert_eq!(
            w.balance(vendor, &unit).await,
            before,
            "{vendor} {end}: the balance falls back"
        );
        if let Some(listed) = w.grant_in_list(vendor, &id).await {
            assert_eq!(listed["status"], status, "{vendor} {end}");
        }
    }
    if has(&caps, "ledger_adjustments") {
        writes += 1;
        let unit = unit_of(&w, vendor);
        let path = "/v1/credit_ledger_entries";
        let mut credit = json!({"customer": w.customer(vendor, 0), "amount": {"unit": unit}});
        if has(&caps, "credit_grants") {
            credit["grant"] = json!(w.truth(vendor, 0).grants.into_keys().next().expect("a grant"));
        }
        let before = w.balance(vendor, &unit).await;
        for (n, (direction, value, signed)) in [("credit", "5.00", 500), ("debit", "2.25", -225)]
            .into_iter()
            .enumerate()
        {
            let mut body = credit.clone();
            body["direction"] = json!(direction);
            body["amount"]["value"] = json!(value);
            let key = format!("adjust-{n}");
            let r = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body.to_string()).await;
            assert_eq!(r.status, 200, "{vendor} {direction}: {}", r.body);
            assert_eq!(r.body["object"], "credit_ledger_adjustment");
            assert_eq!(
                amount(&r.body["entry"]["amount"]),
                Decimal::new(signed, 2),
                "{vendor}: {}",
                r.body
            );
            let again = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body.to_string()).await;
            assert_eq!(again.headers["idempotent-replayed"], "true", "{vendor}");
        }
        assert_eq!(
            w.balance(vendor, &unit).await,
            before + Decimal::new(275, 2),
            "{vendor}: up by 2.75"
        );
    }
    assert!(writes > 0, "{vendor}: takes no write at all");
}

/// The vendor applies a write but its connection is dropped: 502 `upstream_outcome_unknown`;
/// an immediate retry is told to come back and sends nothing; after the settle window (and
/// a restart of the gateway, with `restart`) the retry answers the write made the first
/// time; the vendor holds exactly one.
pub async fn unknown_outcome_then_retry(c: &Conformance, restart: bool) {
    let vendor = c.vendor;
    let mut w = World::start(11, 3, 12, None).await;
    let (path, body, _) = one_write(c, &w, "4.00").await;
    let simulator = w.demo.simulator(vendor).clone();
    let before = simulator.written_grants(0);
    simulator.drop_next_writes(1);
    let key = format!("unknown-{vendor}");
    let first = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
    assert_eq!(
        (first.status, first.code()),
        (502, "upstream_outcome_unknown"),
        "{vendor}: {}",
        first.body
    );
    assert_eq!(
        simulator.written_grants(0),
        before + 1,
        "{vendor}: the vendor applied it"
    );
    if restart {
        w.restart();
    }
    let wait = w.is_told_to_come_back(path, &key, &body, vendor).await;
    assert_eq!(simulator.written_grants(0), before + 1, "{vendor}: nothing sent");
    tokio::time::sleep(wait).await;
    let second = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
    assert_eq!(second.status, 200, "{vendor}: {}", second.body);
    assert_eq!(simulator.written_grants(0), before + 1, "{vendor}: not written twice");
    let written = if path == "/v1/credit_grants" {
        &second.body["amount"]
    } else {
        &second.body["entry"]["amount"]
    };
    assert_eq!(amount(written), Decimal::new(400, 2), "{vendor}: {}", second.body);
    let third = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
    assert_eq!(third.headers["idempotent-replayed"], "true", "{vendor}");
    assert_eq!(simulator.written_grants(0), before + 1, "{vendor}");
}

/// The vendor applies a write after creditgate's attempt timed out. The client's immediate
/// retry must not write again: it is told to come back until the settle window has passed,
/// and then the look finds the write that landed late.
pub async fn late_write_is_found(c: &Conformance) {
    let vendor = c.vendor;
    let w = World::start(11, 3, 12, None).await;
    let (path, body, _) = one_write(c, &w, "7.77").await;
    let simulator = w.demo.simulator(vendor).clone();
    let before = simulator.written_grants(0);
    // Applied a little after the attempt timed out, well inside the settle window.
    simulator.delay_next_writes(1, super::world::ATTEMPT_TIMEOUT * 2);
    let key = format!("late-{vendor}");
    let first = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
    assert_eq!(
        (first.status, first.code()),
        (502, "upstream_outcome_unknown"),
        "{vendor}: {}",
        first.body
    );
    let wait = w.is_told_to_come_back(path, &key, &body, vendor).await;
    tokio::time::sleep(wait).await;
    assert_eq!(
        simulator.written_grants(0),
        before + 1,
        "{vendor}: the late write landed"
    );
    let after = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
    assert_eq!(after.status, 200, "{vendor}: {}", after.body);
    assert_eq!(simulator.written_grants(0), before + 1, "{vendor}: not written twice");
}
