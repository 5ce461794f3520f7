//! Balances in the past over the simulators of every vendor (README.md, "Balance history"):
//! at random past instants, `as_of` answers the sum of the customer's ledger up to that
//! instant; today it answers what `/v1/credit_balances` does; a history's points are `as_of`
//! at their starts and move by what they say; and what is refused is refused by name.

mod common;

use std::collections::BTreeMap;

use common::world::{amount, World};
use creditgate_sim::Vendor;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use rust_decimal::Decimal;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The simulators date their ledgers from 2024-01-01T00:00:00Z, an entry a minute.
const START: i64 = 1_704_067_200;

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// A customer's whole ledger through `/v1`: (instant, unit, signed amount, the vendor's
/// balance after it where it says) per entry.
async fn ledger(w: &World, customer: &str) -> Vec<(i64, String, Decimal, Option<Decimal>)> {
    let mut entries = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = w
            .api
            .get(&format!(
                "/v1/credit_ledger_entries?customer={customer}&limit=500{cursor}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        for e in page.body["data"].as_array().unwrap() {
            let at = e["effective_at"].as_str().or(e["created_at"].as_str()).unwrap();
            let at = OffsetDateTime::parse(at, &Rfc3339).unwrap().unix_timestamp();
            let after = e["balance_after"].is_object().then(|| amount(&e["balance_after"]));
            entries.push((
                at,
                e["amount"]["unit"].as_str().unwrap().to_owned(),
                amount(&e["amount"]),
                after,
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return entries,
        }
    }
}

/// unit → available, as the balance list answers it.
fn by_unit(list: &Value) -> BTreeMap<String, Decimal> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["unit"].as_str().unwrap().to_owned(), amount(&b["available"])))
        .collect()
}

#[test]
fn as_of_is_the_ledger_summed_to_that_instant_at_every_vendor() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = runtime.block_on(World::start(21, 2, 30, Some(7)));
    for vendor in Vendor::ALL {
        let customer = w.customer(vendor, 0);
        let entries = runtime.block_on(ledger(&w, &customer));
        let units: Vec<String> = entries.iter().fold(Vec::new(), |mut units, (_, unit, _, _)| {
            if !units.contains(unit) {
                units.push(unit.clone());
            }
            units
        });
        let expected = |at: i64| -> BTreeMap<String, Decimal> {
            units
                .iter()
                .map(|unit| {
                    let sum = entries
                        .iter()
                        .filter(|(t, u, _, _)| *t <= at && u == unit)
                        .map(|(_, _, v, _)| *v)
                        .sum();
                    (unit.clone(), sum)
                })
                .collect()
        };
        // Today: the balance the vendor reports is the whole ledger's sum.
        let now = runtime.block_on(w.api.get(&format!("/v1/credit_balances?customer={customer}")));
        let today = runtime.block_on(w.api.get(&format!(
            "/v1/credit_balances?customer={customer}&as_of={}",
            rfc3339(OffsetDateTime::now_utc().unix_timestamp() - 1)
        )));
        assert_eq!(by_unit(&today.body), by_unit(&now.body), "{vendor}: today");
        let as_of = |at: i64| {
            let answer = runtime.block_on(w.api.get(&format!(
                "/v1/credit_balances?customer={customer}&as_of={}",
                rfc3339(at)
            )));
            assert_eq!(answer.status, 200, "{}", answer.body);
            by_unit(&answer.body)
        };
        // At each entry's instant and the second before it: an entry counts from its instant on.
        for (at, unit, _, after) in &entries {
            assert_eq!(as_of(*at), expected(*at), "{vendor} at {}", rfc3339(*at));
            assert_eq!(as_of(at - 1), expected(at - 1), "{vendor} before {}", rfc3339(*at));
            // Where the vendor says the balance after an entry (Vayu), it is that instant's.
            if let Some(after) = after.filter(|_| entries.iter().filter(|e| e.0 == *at).count() == 1) {
                assert_eq!(
                    as_of(*at)[unit],
                    after,
                    "{vendor}: its own balance after the entry at {}",
                    rfc3339(*at)
                );
            }
        }
        // At random past instants, around and between the entries.
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 48,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let outcome = runner.run(&(-120i64..3_600), |offset| {
            let at = START + offset;
            let answer = runtime.block_on(w.api.get(&format!(
                "/v1/credit_balances?customer={customer}&as_of={}",
                rfc3339(at)
            )));
            prop_assert_eq!(answer.status, 200, "{}", answer.body);
            prop_assert!(answer.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["as_of"] == rfc3339(at)));
            prop_assert_eq!(by_unit(&answer.body), expected(at), "{} at {}", vendor, rfc3339(at));
            Ok(())
        });
        if let Err(e) = outcome {
            panic!("{vendor}: {e}");
        }
    }
}

#[test]
fn a_historys_points_are_as_of_their_starts_and_move_by_what_they_say() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let w = runtime.block_on(World::start(22, 1, 40, None));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let vendors = proptest::sample::select(Vendor::ALL.to_vec());
    let outcome = runner.run(&(vendors, -7_200i64..3_600, 1i64..6), |(vendor, offset, hours)| {
        let customer = w.customer(vendor, 0);
        let unit = if vendor == Vendor::Sequence { "GBP" } else { "USD" };
        let (from, to) = (START + offset, START + offset + hours * 3_600);
        let history = runtime.block_on(w.api.get(&format!(
            "/v1/credit_balance_history?customer={customer}&unit={unit}&from={}&to={}&interval=hour",
            rfc3339(from),
            rfc3339(to)
        )));
        prop_assert_eq!(history.status, 200, "{}", history.body);
        let points = history.body["points"].as_array().unwrap();
        prop_assert_eq!(points.len() as i64, hours);
        prop_assert_eq!(&history.body["providers"][0]["points"], &history.body["points"]);
        for (i, point) in points.iter().enumerate() {
            let start = point["start"].as_str().unwrap();
            prop_assert_eq!(start, rfc3339(from + i as i64 * 3_600));
            let as_of = runtime.block_on(
                w.api
                    .get(&format!("/v1/credit_balances?customer={customer}&as_of={start}")),
            );
            let at_start = by_unit(&as_of.body).get(unit).copied().unwrap_or_default();
            prop_assert_eq!(amount(&point["available"]), at_start, "{} at {}", vendor, start);
            if let Some(next) = points.get(i + 1) {
                let moved = amount(&point["granted"]) - amount(&point["used"]) - amount(&point["expired"])
                    + amount(&point["other"]);
                prop_assert_eq!(amount(&point["available"]) + moved, amount(&next["available"]));
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// An alias's history is its providers' added point by point, and only its unit's.
#[tokio::test]
async fn an_alias_history_adds_its_providers_in_one_unit() {
    let w = World::start(23, 1, 20, None).await;
    let path = format!(
        "/v1/credit_balance_history?customer=acme&unit=USD&from={}&to={}&interval=hour",
        rfc3339(START - 3_600),
        rfc3339(START + 3 * 3_600)
    );
    let history = w.api.get(&path).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let providers = history.body["providers"].as_array().unwrap();
    assert_eq!(providers.len(), Vendor::ALL.len());
    for (i, point) in history.body["points"].as_array().unwrap().iter().enumerate() {
        let sum: Decimal = providers.iter().map(|p| amount(&p["points"][i]["available"])).sum();
        assert_eq!(amount(&point["available"]), sum);
    }
    // Sequence's ledger is in GBP: it adds nothing to a USD history.
    let sequence = providers.iter().find(|p| p["provider"] == "sequence").unwrap();
    assert!(sequence["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| amount(&p["available"]).is_zero()));
    let last = &history.body["points"][3]["available"];
    assert_eq!(last["unit"], "USD");
    assert!(amount(last) > Decimal::ZERO);
}

/// A customer's summed ledger is kept between requests (the second window needs no vendor
/// call) and dropped by a write to that customer: the next balance in the past has it.
#[tokio::test]
async fn a_kept_ledger_serves_the_next_window_and_a_write_drops_it() {
    let mut w = World::start(24, 1, 30, None).await;
    let _gateway = w.with_events("");
    let customer = w.customer(Vendor::Stripe, 0);
    let as_of = |at: i64| format!("/v1/credit_balances?customer={customer}&as_of={}", rfc3339(at));
    let now = || OffsetDateTime::now_utc().unix_timestamp();
    let first = w.api.get(&as_of(now() - 2)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.headers["x-cache"], "miss");
    let before = by_unit(&first.body)["USD"];
    let again = w.api.get(&as_of(now() - 1)).await;
    assert_eq!(again.headers["x-cache"], "hit", "the kept ledger, no vendor call");
    assert_eq!(by_unit(&again.body)["USD"], before);
    let (_, grant) = common::eventing::credit(&w, Vendor::Stripe, "history-kept", "5.00").await;
    assert!(grant["id"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let after = w.api.get(&as_of(now())).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.headers["x-cache"], "miss", "read again after the write");
    assert_eq!(by_unit(&after.body)["USD"], before + Decimal::new(500, 2));
}

#[tokio::test]
async fn instants_and_windows_that_cannot_be_answered_are_refused_by_name() {
    let w = World::start(24, 1, 5, None).await;
    let customer = w.customer(Vendor::Stripe, 0);
    let future = rfc3339(OffsetDateTime::now_utc().unix_timestamp() + 3_600);
    let history = |query: &str| format!("/v1/credit_balance_history?customer={customer}&{query}");
    for (path, param) in [
        (
            format!("/v1/credit_balances?customer={customer}&as_of={future}"),
            "as_of",
        ),
        (
            format!("/v1/credit_balances?customer={customer}&as_of=yesterday"),
            "as_of",
        ),
        (
            history(&format!("unit=USD&from={}&to={}", rfc3339(START), rfc3339(START))),
            "to",
        ),
        (history(&format!("unit=USD&from={}&to={future}", rfc3339(START))), "to"),
        (
            history(&format!(
                "unit=USD&from={}&to={}&interval=hour",
                rfc3339(START),
                rfc3339(START + 1_001 * 3_600)
            )),
            "interval",
        ),
        (
            history(&format!(
                "unit=USD&from={}&to={}&interval=month",
                rfc3339(START),
                rfc3339(START + 3_600)
            )),
            "interval",
        ),
        (
            history(&format!("from={}&to={}", rfc3339(START), rfc3339(START + 3_600))),
            "unit",
        ),
    ] {
        let r = w.api.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.code(), "invalid_parameter", "{path}");
        assert_eq!(r.body["error"]["param"], param, "{path}: {}", r.body);
    }
    // 1,000 points is the most: accepted.
    let most = w
        .api
        .get(&history(&format!(
            "unit=USD&from={}&to={}&interval=hour",
            rfc3339(START),
            rfc3339(START + 1_000 * 3_600)
        )))
        .await;
    assert_eq!(most.status, 200, "{}", most.body);
    assert_eq!(most.body["points"].as_array().unwrap().len(), 1_000);
}
