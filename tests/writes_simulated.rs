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
    let api = api_for(&config);
    World { demo, config, api }
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

/// One write whose connection the vendor drops after applying it, then the same request
/// again (after a restart when `restart`): one answer of 502 `upstream_outcome_unknown`,
/// then 200 with the write made the first time, and exactly one write at the vendor.
async fn unknown_outcome_then_retry(restart: bool) {
    let mut w = world().await;
    let mut cases: Vec<(Vendor, &str, String)> = [Vendor::Stripe, Vendor::Metronome, Vendor::Sequence, Vendor::Togai]
        .into_iter()
        .map(|v| (v, "/v1/credit_grants", new_grant(&w, v, "9.99").0))
        .collect();
    let vayu = json!({"customer": w.customer(Vendor::Vayu), "amount": {"value": "4.00", "unit": "USD"},
                      "direction": "credit"});
    cases.push((Vendor::Vayu, "/v1/credit_ledger_entries", vayu.to_string()));
    for (vendor, path, body) in cases {
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
