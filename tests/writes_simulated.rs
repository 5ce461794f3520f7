//! The write path end to end over the five vendor simulators: grants created, voided and
//! expired, ledger adjustments, and exactly-once under concurrency, unknown outcomes and a
//! gateway restart.

mod common;

use common::*;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::{Demo, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use rust_decimal::Decimal;
use serde_json::{json, Value};

struct World {
    demo: Demo,
    config: Config,
    api: Api,
}

async fn world() -> World {
    let options = SimOptions {
        seed: 11,
        customers: 3,
        entries_per_customer: 12,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    settle_quickly(&mut config);
    let api = api_for(&config);
    World { demo, config, api }
}

/// The settle window of an unknown outcome, shortened for tests (with the attempt timeout,
/// which it must be twice of).
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
const SETTLE: std::time::Duration = std::time::Duration::from_millis(1_500);

fn settle_quickly(config: &mut Config) {
    config.upstream.attempt_timeout_ms = ATTEMPT_TIMEOUT.as_millis() as u64;
    config.upstream.write_settle_ms = creditgate::model::ProviderKind::ALL
        .into_iter()
        .map(|p| (p, SETTLE.as_millis() as u64))
        .collect();
}

/// A retry inside the settle window is told to come back (409 `write_outcome_settling`
/// with `Retry-After`) and sends nothing. Returns the wait it was told.
async fn is_told_to_come_back(w: &World, path: &str, key: &str, body: &str, vendor: Vendor) -> std::time::Duration {
    let early = w.api.post_as(path, DEMO_API_KEY, Some(key), body).await;
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
    std::time::Duration::from_secs(retry_after)
}

/// A gateway over `config`: building a second one over the same config (after the first
/// is dropped) is a restart, with the same idempotency store on disk.
fn api_for(config: &Config) -> Api {
    let gateway = Gateway::from_config(config).unwrap();
    Api::new(creditgate::api::router(gateway), DEMO_API_KEY)
}

impl World {
    fn customer(&self, vendor: Vendor) -> String {
        format!("{vendor}:{}", self.demo.simulator(vendor).customer_id(0))
    }

    async fn balance(&self, vendor: Vendor, unit: &str) -> Decimal {
        let page = self
            .api
            .get(&format!("/v1/credit_balances?customer={}", self.customer(vendor)))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["unit"] == unit)
            .map_or(Decimal::ZERO, |b| {
                b["available"]["value"].as_str().unwrap().parse().unwrap()
            })
    }

    async fn grant_in_list(&self, vendor: Vendor, id: &str) -> Option<Value> {
        let pages = self
            .api
            .walk(&format!(
                "/v1/credit_grants?customer={}&limit=100",
                self.customer(vendor)
            ))
            .await;
        pages
            .into_iter()
            .flat_map(|p| p.body["data"].as_array().cloned().unwrap_or_default())
            .find(|g| g["id"] == id)
    }
}

/// A grant body each vendor takes: its unit, and what it requires (Metronome a priority
/// and an end; Togai and Sequence whole days).
fn new_grant(w: &World, vendor: Vendor, value: &str) -> (String, &'static str) {
    let unit = match vendor {
        Vendor::Sequence => "GBP",
        _ => "USD",
    };
    let mut body = json!({
        "customer": w.customer(vendor),
        "amount": {"value": value, "unit": unit},
        "name": "Migrated credits",
        "expires_at": "2031-01-01T00:00:00Z",
    });
    if vendor == Vendor::Metronome {
        body["priority"] = json!("0.5");
    }
    (body.to_string(), unit)
}

fn amount(value: &Value) -> Decimal {
    value["value"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn created_grants_appear_with_their_amount_and_ending_them_takes_the_balance_back() {
    let w = world().await;
    let cases = [
        (Vendor::Stripe, "void", "voided"),
        (Vendor::Stripe, "expire", "expired"),
        (Vendor::Metronome, "expire", "expired"),
        (Vendor::Sequence, "void", "voided"),
        (Vendor::Togai, "void", "voided"),
    ];
    for (n, (vendor, end, status)) in cases.into_iter().enumerate() {
        let (body, unit) = new_grant(&w, vendor, "12.50");
        let before = w.balance(vendor, unit).await;
        let created = w
            .api
            .post_as("/v1/credit_grants", DEMO_API_KEY, Some(&format!("create-{n}")), &body)
            .await;
        assert_eq!(created.status, 200, "{vendor}: {}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(amount(&created.body["amount"]), Decimal::new(1250, 2), "{vendor}");
        assert_eq!(created.body["status"], "active", "{vendor}: {}", created.body);
        let listed = w.grant_in_list(vendor, &id).await.expect("the new grant is listed");
        assert_eq!(amount(&listed["amount"]), Decimal::new(1250, 2), "{vendor}");
        assert_eq!(
            w.balance(vendor, unit).await,
            before + Decimal::new(1250, 2),
            "{vendor}: the balance rises by exactly the amount"
        );

        let end_body = if vendor == Vendor::Metronome {
            json!({"customer": w.customer(vendor)}).to_string()
        } else {
            String::new()
        };
        let ended = w
            .api
            .post_as(
                &format!("/v1/credit_grants/{id}/{end}"),
                DEMO_API_KEY,
                Some(&format!("end-{n}")),
                &end_body,
            )
            .await;
        assert_eq!(ended.status, 200, "{vendor} {end}: {}", ended.body);
        assert_eq!(ended.body["status"], status, "{vendor} {end}: {}", ended.body);
        assert_eq!(
            w.balance(vendor, unit).await,
            before,
            "{vendor} {end}: the balance falls back"
        );
        match w.grant_in_list(vendor, &id).await {
            // Sequence's void is a delete.
            None => assert_eq!(vendor, Vendor::Sequence),
            Some(g) => assert_eq!(g["status"], status, "{vendor} {end}"),
        }
    }
}

#[tokio::test]
async fn ledger_adjustments_move_the_balance_and_answer_the_entry() {
    let w = world().await;
    // Vayu: a credit, then a debit.
    let before = w.balance(Vendor::Vayu, "USD").await;
    for (n, (direction, value, expected)) in [("credit", "5.00", 500), ("debit", "2.25", -225)]
        .into_iter()
        .enumerate()
    {
        let body = json!({"customer": w.customer(Vendor::Vayu), "amount": {"value": value, "unit": "USD"},
                          "direction": direction})
        .to_string();
        let r = w
            .api
            .post_as(
                "/v1/credit_ledger_entries",
                DEMO_API_KEY,
                Some(&format!("vayu-{n}")),
                &body,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["object"], "credit_ledger_adjustment");
        assert_eq!(
            amount(&r.body["entry"]["amount"]),
            Decimal::new(expected, 2),
            "{}",
            r.body
        );
    }
    assert_eq!(w.balance(Vendor::Vayu, "USD").await, before + Decimal::new(275, 2));

    // Metronome: a manual entry on one of the customer's credits.
    let grant = w
        .demo
        .simulator(Vendor::Metronome)
        .truth(0)
        .grants
        .into_keys()
        .next()
        .unwrap();
    let before = w.balance(Vendor::Metronome, "USD").await;
    let body = json!({"customer": w.customer(Vendor::Metronome), "grant": grant, "direction": "credit",
                      "amount": {"value": "3.10", "unit": "USD"}, "reason": "goodwill"})
    .to_string();
    let r = w
        .api
        .post_as("/v1/credit_ledger_entries", DEMO_API_KEY, Some("metronome-1"), &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"]["provider_type"], "CREDIT_MANUAL", "{}", r.body);
    assert_eq!(amount(&r.body["entry"]["amount"]), Decimal::new(310, 2));
    assert_eq!(w.balance(Vendor::Metronome, "USD").await, before + Decimal::new(310, 2));
}

#[tokio::test]
async fn twenty_concurrent_posts_with_one_key_make_one_grant() {
    let w = world().await;
    // Stripe has its own idempotency; Sequence has none, so only creditgate stands between.
    for vendor in [Vendor::Stripe, Vendor::Sequence] {
        let (body, _) = new_grant(&w, vendor, "7.00");
        let key = format!("burst-{vendor}");
        let posts = (0..20).map(|_| w.api.post_as("/v1/credit_grants", DEMO_API_KEY, Some(&key), &body));
        let answers = futures_util::future::join_all(posts).await;
        let ok: Vec<&TestResponse> = answers.iter().filter(|r| r.status == 200).collect();
        let in_use = answers
            .iter()
            .filter(|r| r.status == 409 && r.code() == "idempotency_key_in_use")
            .count();
        assert_eq!(ok.len() + in_use, 20, "{vendor}: only answers and 409s");
        assert!(!ok.is_empty(), "{vendor}");
        assert!(
            ok.iter().all(|r| r.body["id"] == ok[0].body["id"]),
            "{vendor}: one grant"
        );
        assert_eq!(
            w.demo.simulator(vendor).written_grants(0),
            1,
            "{vendor}: one grant at the vendor"
        );
        // Afterwards the key replays.
        let again = w
            .api
            .post_as("/v1/credit_grants", DEMO_API_KEY, Some(&key), &body)
            .await;
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.body["id"], ok[0].body["id"]);
    }
}

/// A grant of `value` at each vendor that takes them, and a credit of `value` at Vayu:
/// (vendor, path, body).
fn one_write_per_vendor(w: &World, value: &str) -> Vec<(Vendor, &'static str, String)> {
    let mut cases: Vec<(Vendor, &str, String)> = [Vendor::Sequence, Vendor::Stripe, Vendor::Metronome, Vendor::Togai]
        .into_iter()
        .map(|v| (v, "/v1/credit_grants", new_grant(w, v, value).0))
        .collect();
    let vayu = json!({"customer": w.customer(Vendor::Vayu), "amount": {"value": value, "unit": "USD"},
                      "direction": "credit"});
    cases.push((Vendor::Vayu, "/v1/credit_ledger_entries", vayu.to_string()));
    cases
}

/// One write whose connection the vendor drops after applying it, then the same request
/// again (after a restart when `restart`): one answer of 502 `upstream_outcome_unknown`,
/// then 200 with the write made the first time, and exactly one write at the vendor.
async fn unknown_outcome_then_retry(restart: bool) {
    let mut w = world().await;
    for (vendor, path, body) in one_write_per_vendor(&w, "4.00") {
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
            w.api = Api::new(axum::Router::new(), DEMO_API_KEY);
            w.api = api_for(&w.config);
        }
        let wait = is_told_to_come_back(&w, path, &key, &body, vendor).await;
        assert_eq!(simulator.written_grants(0), before + 1, "{vendor}: nothing sent");
        tokio::time::sleep(wait).await;
        let second = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
        assert_eq!(second.status, 200, "{vendor}: {}", second.body);
        assert_eq!(simulator.written_grants(0), before + 1, "{vendor}: not written twice");
        if path == "/v1/credit_grants" {
            let listed = w.grant_in_list(vendor, second.body["id"].as_str().unwrap()).await;
            assert!(
                listed.is_some(),
                "{vendor}: the answer is the grant made the first time"
            );
        } else {
            assert_eq!(
                amount(&second.body["entry"]["amount"]),
                Decimal::new(400, 2),
                "{}",
                second.body
            );
        }
        let third = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
        assert_eq!(third.headers["idempotent-replayed"], "true", "{vendor}");
        assert_eq!(simulator.written_grants(0), before + 1, "{vendor}");
    }
}

#[tokio::test]
async fn an_unknown_outcome_then_a_retry_writes_exactly_once_at_every_vendor() {
    unknown_outcome_then_retry(false).await;
}

#[tokio::test]
async fn an_unknown_outcome_then_a_restart_and_a_retry_writes_exactly_once_at_every_vendor() {
    unknown_outcome_then_retry(true).await;
}

/// The vendor applies a write after creditgate's attempt timed out. The client's immediate
/// retry must not write again: it is told to come back until the settle window has passed,
/// and then the look finds the write that landed late. (Sequence and Vayu have no
/// idempotency key of their own; the others are checked the same way.)
#[tokio::test]
async fn a_write_the_vendor_applies_late_is_not_written_again() {
    let w = world().await;
    for (vendor, path, body) in one_write_per_vendor(&w, "7.77") {
        let simulator = w.demo.simulator(vendor).clone();
        let before = simulator.written_grants(0);
        // Applied a little after the attempt timed out, well inside the settle window.
        simulator.delay_next_writes(1, ATTEMPT_TIMEOUT * 2);
        let key = format!("late-{vendor}");
        let first = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body).await;
        assert_eq!(
            (first.status, first.code()),
            (502, "upstream_outcome_unknown"),
            "{vendor}: {}",
            first.body
        );
        let wait = is_told_to_come_back(&w, path, &key, &body, vendor).await;
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
}

/// Vayu's writes are found again by type and amount. An entry one key's write took is never
/// taken by another key's look: key B's credit, refused unapplied, is written on its retry
/// instead of answering key A's entry (one credit for two intended); and twenty concurrent
/// credits of one amount under twenty keys answer twenty different entries.
#[tokio::test]
async fn a_vayu_entry_taken_by_one_key_is_never_another_keys() {
    let w = world().await;
    let simulator = w.demo.simulator(Vendor::Vayu).clone();
    let path = "/v1/credit_ledger_entries";
    let credit = |value: &str| {
        json!({"customer": w.customer(Vendor::Vayu), "amount": {"value": value, "unit": "USD"}, "direction": "credit"})
            .to_string()
    };
    let before = simulator.written_grants(0);
    let a = w
        .api
        .post_as(path, DEMO_API_KEY, Some("claim-a"), &credit("10.00"))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    simulator.fail_next_writes(1);
    let b = w
        .api
        .post_as(path, DEMO_API_KEY, Some("claim-b"), &credit("10.00"))
        .await;
    assert_eq!((b.status, b.code()), (502, "upstream_outcome_unknown"), "{}", b.body);
    let wait = is_told_to_come_back(&w, path, "claim-b", &credit("10.00"), Vendor::Vayu).await;
    tokio::time::sleep(wait).await;
    let b = w
        .api
        .post_as(path, DEMO_API_KEY, Some("claim-b"), &credit("10.00"))
        .await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_ne!(b.body["entry"]["id"], a.body["entry"]["id"], "B took A's entry");
    assert!(b.body["entry"]["id"].is_string(), "{}", b.body);
    assert_eq!(simulator.written_grants(0), before + 2, "two credits for two intended");

    let writes = (0..20).map(|i| {
        let api = &w.api;
        let body = credit("5.00");
        async move {
            api.post_as(path, DEMO_API_KEY, Some(&format!("claim-many-{i}")), &body)
                .await
        }
    });
    let answers = futures_util::future::join_all(writes).await;
    let mut entries = std::collections::BTreeSet::new();
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        entries.insert(answer.body["entry"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(entries.len(), 20, "each write answers its own entry");
    assert_eq!(simulator.written_grants(0), before + 22);
}
