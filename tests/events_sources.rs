//! Events from what creditgate does not do itself, over the vendor simulators: a change
//! made at the vendor and pushed by it (read again, then the balances), the same push
//! retried, watched balances at vendors that push none, and low-balance alerts. Deliveries
//! are checked with the `standardwebhooks` crate, as in `tests/events.rs`.

mod common;

use std::time::Duration;

use common::eventing::*;
use common::receiver::Receiver;
use common::world::World;
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use serde_json::{json, Value};

/// A Stripe delivery of `body`, signed with `secret` as Stripe signs (the `hmac` crate
/// directly, not creditgate's code).
fn stripe_signature(secret: &str, body: &str) -> String {
    stripe_signature_at(secret, body, time::OffsetDateTime::now_utc().unix_timestamp())
}

/// [`stripe_signature`] as if signed at `t` (Unix seconds).
fn stripe_signature_at(secret: &str, body: &str, t: i64) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

#[tokio::test]
async fn a_change_made_at_the_vendor_and_pushed_by_it_reaches_the_endpoint_once() {
    let mut w = World::start(23, 2, 4, None).await;
    let receiver = Receiver::start().await;
    let secret = "whsec_stripe_test_secret";
    let secret_file = w.demo.dir().join("stripe.whsec");
    std::fs::write(&secret_file, secret).unwrap();
    let extra = format!("{FAST_RETRIES}{}", receiver.endpoint_toml(w.demo.dir(), ""));
    let _gateway = w.with_events_and(&extra, |config| {
        config.providers.stripe.as_mut().unwrap().webhook_secret =
            Some(creditgate::secret::SecretRef::File(secret_file.clone()));
    });
    let customer = w.customer(Vendor::Stripe, 0);
    let before = w.balances(&customer).await;
    // A grant voided at Stripe itself, not through creditgate.
    let grants = w
        .api
        .get(&format!("/v1/credit_grants?customer={customer}&status=active"))
        .await;
    let grant = grants.body["data"][0]["provider_id"].as_str().unwrap().to_owned();
    let simulator = w.demo.simulator(Vendor::Stripe);
    let voided = reqwest::Client::new()
        .post(format!(
            "{}/v1/billing/credit_grants/{grant}/void",
            w.demo.base_url(Vendor::Stripe)
        ))
        .bearer_auth(simulator.credential())
        .send()
        .await
        .unwrap();
    assert!(voided.status().is_success(), "{}", voided.text().await.unwrap());
    // Stripe pushes it.
    let vendor_id = simulator.customer_id(0);
    let body = json!({"id": "evt_vendor_void_1", "object": "event", "type": "billing.credit_grant.updated",
                      "data": {"object": {"id": grant, "object": "billing.credit_grant", "customer": vendor_id}}})
    .to_string();
    let push = || {
        let request = axum::http::Request::post("/v1/vendor_webhooks/stripe")
            .header("stripe-signature", stripe_signature(secret, &body))
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        w.api.send(request)
    };
    // Refused first, each recording and emitting nothing: a wrong secret, a body altered
    // after signing, a stale signature.
    let refused = |signature: String, sent: String| {
        let request = axum::http::Request::post("/v1/vendor_webhooks/stripe")
            .header("stripe-signature", signature)
            .body(axum::body::Body::from(sent))
            .unwrap();
        w.api.send(request)
    };
    let stale = stripe_signature_at(secret, &body, time::OffsetDateTime::now_utc().unix_timestamp() - 400);
    for (signature, sent) in [
        (stripe_signature("whsec_other", &body), body.clone()),
        (
            stripe_signature(secret, &body),
            body.replace("billing.credit_grant.updated", "billing.credit_grant.created"),
        ),
        (stale, body.clone()),
    ] {
        let answer = refused(signature, sent).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(
            ["invalid_webhook_signature", "stale_webhook_timestamp"].contains(&answer.code()),
            "{}",
            answer.body
        );
    }
    let first = push().await;
    assert_eq!(
        (first.status, &first.body["duplicate"]),
        (200, &json!(false)),
        "{}",
        first.body
    );
    let event = receiver
        .wait_for(WITHIN, |e| {
            e["type"] == "credit_balance.updated" && e["source"]["vendor_event_id"] == "evt_vendor_void_1"
        })
        .await
        .unwrap_or_else(|| panic!("no balance event: {:?}", receiver.accepted()));
    assert_eq!(event["customer"], customer);
    assert_eq!(event["source"]["kind"], "vendor_webhook");
    assert_eq!(event["source"]["vendor_event_type"], "billing.credit_grant.updated");
    // The balance the event carries is the one after the void, and a read now agrees.
    let after = w.balances(&customer).await;
    assert_ne!(before, after, "the void changed the balance");
    let unit = event["data"]["object"]["unit"].as_str().unwrap().to_owned();
    let carried: rust_decimal::Decimal = event["data"]["object"]["available"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(after[&("stripe".to_owned(), unit)], carried);
    // Stripe retrying the delivery makes no second event.
    let again = push().await;
    assert_eq!(again.body["duplicate"], true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut from_vendor: Vec<String> = receiver
        .accepted()
        .iter()
        .filter(|(_, e)| e["source"]["vendor_event_id"] == "evt_vendor_void_1")
        .map(|(_, e)| e["type"].as_str().unwrap().to_owned())
        .collect();
    from_vendor.sort();
    let listed = w.api.get("/v1/events?limit=100").await;
    let recorded_from_vendor = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"]["kind"] == "vendor_webhook")
        .count();
    assert_eq!(recorded_from_vendor, 2, "nothing recorded of the refused deliveries");
    assert_eq!(
        from_vendor,
        ["credit_balance.updated", "credit_grant.updated"],
        "the grant read again, and the balance, once each"
    );
    let grant_event = receiver
        .wait_for(WITHIN, |e| e["type"] == "credit_grant.updated")
        .await
        .unwrap();
    assert_eq!(grant_event["data"]["object"]["status"], "voided");
    assert_eq!(grant_event["data"]["object"]["provider_id"], grant.as_str());
}

/// Voids `grant` through creditgate.
async fn void(w: &World, grant: &Value, key: &str) {
    let path = format!("/v1/credit_grants/{}/void", grant["id"].as_str().unwrap());
    let answer = w.api.post_as(&path, DEMO_API_KEY, Some(key), "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn an_alert_fires_once_per_downward_crossing_and_arms_again() {
    let (w, receiver, _gateway) = world_with_receiver("events = [\"credit_balance.low\"]").await;
    let customer = w.customer(Vendor::Stripe, 0);
    let start = w.balances(&customer).await[&("stripe".to_owned(), "USD".to_owned())];
    let threshold = start + rust_decimal::Decimal::from(5);
    let body = json!({"customer": customer, "unit": "USD", "threshold": threshold.to_string()}).to_string();
    let created = w.api.post_as("/v1/balance_alerts", DEMO_API_KEY, None, &body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let alert = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["threshold"], threshold.to_string());
    let lows = || {
        receiver
            .accepted()
            .into_iter()
            .filter(|(_, e)| e["type"] == "credit_balance.low")
            .map(|(_, e)| e)
            .collect::<Vec<_>>()
    };
    // Below at creation: nothing fires until it has been back above.
    let (_, small) = credit(&w, Vendor::Stripe, "alert-small", "1.00").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(lows().is_empty(), "{:?}", lows());
    // Above (start + 11), then below (start + 1): fires once.
    let (_, big) = credit(&w, Vendor::Stripe, "alert-big", "10.00").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    void(&w, &big, "alert-void-big").await;
    let fired = receiver
        .wait_for(WITHIN, |e| e["type"] == "credit_balance.low")
        .await
        .expect("the alert fired");
    assert_eq!(fired["data"]["alert"]["id"], alert.as_str());
    assert_eq!(fired["customer"], customer);
    let carried: rust_decimal::Decimal = fired["data"]["object"]["available"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(carried < threshold, "{carried} < {threshold}");
    // Still below after another change: no second event.
    void(&w, &small, "alert-void-small").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(lows().len(), 1, "once per crossing: {:?}", lows());
    // Back above, then below again: it fires again.
    let (_, again) = credit(&w, Vendor::Stripe, "alert-again", "20.00").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    void(&w, &again, "alert-void-again").await;
    let started = std::time::Instant::now();
    while lows().len() < 2 {
        assert!(started.elapsed() < WITHIN, "not re-armed: {:?}", lows());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Listed, then deleted: no more events from it.
    let listed = w.api.get(&format!("/v1/balance_alerts?customer={customer}")).await;
    assert_eq!(listed.body["data"][0]["id"], alert.as_str(), "{}", listed.body);
    let deleted = w
        .api
        .send(
            axum::http::Request::delete(format!("/v1/balance_alerts/{alert}"))
                .header("authorization", format!("Bearer {DEMO_API_KEY}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = w.api.get(&format!("/v1/balance_alerts?customer={customer}")).await;
    assert_eq!(gone.body["data"], json!([]));
    let bad = w
        .api
        .post_as(
            "/v1/balance_alerts",
            DEMO_API_KEY,
            None,
            &json!({"customer": customer, "unit": "USD", "threshold": "-1"}).to_string(),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_parameter"), "{}", bad.body);
}

/// The webhook secrets the simulators sign with, one per vendor that pushes.
const PUSH_SECRETS: [(Vendor, &str); 3] = [
    (Vendor::Stripe, "whsec_simulated_stripe"),
    (Vendor::Metronome, "simulated-metronome-secret"),
    (Vendor::Lago, "5f794d50-085a-4db6-8d15-286e518b7225"),
];

#[tokio::test]
async fn changes_made_at_a_pushing_vendor_reach_the_endpoint_within_two_seconds() {
    let mut w = World::start(25, 2, 4, None).await;
    let receiver = Receiver::start().await;
    let extra = format!("{FAST_RETRIES}{}", receiver.endpoint_toml(w.demo.dir(), ""));
    let dir = w.demo.dir().to_owned();
    let gateway = w.with_events_and(&extra, |config| {
        for (vendor, secret) in PUSH_SECRETS {
            let path = dir.join(format!("{vendor}.webhook-secret"));
            std::fs::write(&path, secret).unwrap();
            let reference = Some(creditgate::secret::SecretRef::File(path));
            match vendor {
                Vendor::Stripe => config.providers.stripe.as_mut().unwrap().webhook_secret = reference,
                Vendor::Metronome => config.providers.metronome.as_mut().unwrap().webhook_secret = reference,
                _ => config.providers.lago.as_mut().unwrap().webhook_secret = reference,
            }
        }
    });
    // The gateway on a port, for the simulators to push to.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = creditgate::api::app(gateway.clone());
    let limits = creditgate::config::ServerConfig::default();
    tokio::spawn(async move { creditgate::api::serve(listener, app, &limits, std::future::pending()).await });
    let _pushers: Vec<_> = PUSH_SECRETS
        .iter()
        .map(|(vendor, secret)| {
            w.demo
                .simulator(*vendor)
                .push_to(&format!("{base}/v1/vendor_webhooks/{vendor}"), secret)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for (vendor, _) in PUSH_SECRETS {
        let customer = w.customer(vendor, 0);
        let from_vendor = |e: &Value, kind: &str| {
            e["type"] == kind && e["customer"] == customer.as_str() && e["source"]["kind"] == "vendor_webhook"
        };
        let started = std::time::Instant::now();
        // A grant made at the vendor itself.
        w.demo.simulator(vendor).grant_directly(0, 700).unwrap();
        let balance = receiver
            .wait_for(WITHIN, |e| from_vendor(e, "credit_balance.updated"))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{vendor}: no balance event within {WITHIN:?}: {:?}",
                    receiver.accepted()
                )
            });
        eprintln!(
            "{vendor}: a grant made at the vendor reached the endpoint in {:?}",
            started.elapsed()
        );
        let now = w.balances(&customer).await;
        let unit = balance["data"]["object"]["unit"].as_str().unwrap().to_owned();
        let carried: rust_decimal::Decimal = balance["data"]["object"]["available"]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            now[&(vendor.as_str().to_owned(), unit)],
            carried,
            "{vendor}: the balance after the grant"
        );
        if vendor != Vendor::Metronome {
            // The grant itself, read again.
            let grant = receiver
                .wait_for(WITHIN, |e| from_vendor(e, "credit_grant.created"))
                .await
                .unwrap_or_else(|| panic!("{vendor}: no credit_grant.created"));
            assert_eq!(grant["data"]["object"]["object"], "credit_grant");
            assert_eq!(grant["data"]["object"]["customer"], customer);
            // Usage at the vendor moves the balance again.
            let before = receiver.accepted().len();
            w.demo.simulator(vendor).consume(0, 100).unwrap();
            let started = std::time::Instant::now();
            loop {
                let moved = receiver.accepted()[before..]
                    .iter()
                    .any(|(_, e)| from_vendor(e, "credit_balance.updated"));
                if moved {
                    break;
                }
                assert!(started.elapsed() < WITHIN, "{vendor}: usage was not pushed through");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert_eq!(receiver.forged(), 0);
}

#[tokio::test]
async fn a_watched_balance_at_a_vendor_that_pushes_none_arrives_within_its_interval() {
    let mut w = World::start(27, 2, 4, None).await;
    let receiver = Receiver::start().await;
    let extra = format!(
        "{FAST_RETRIES}watch_interval_secs = 1\n{}",
        receiver.endpoint_toml(w.demo.dir(), "events = [\"credit_balance.updated\"]")
    );
    let _gateway = w.with_events(&extra);
    let watched = [Vendor::Metronome, Vendor::Sequence, Vendor::Togai, Vendor::Vayu];
    for vendor in watched {
        let customer = w.customer(vendor, 0);
        let unit = w.balances(&customer).await.keys().next().unwrap().1.clone();
        // An alert is what makes a balance watched.
        let body = json!({"customer": customer, "unit": unit, "threshold": "0"}).to_string();
        let alert = w.api.post_as("/v1/balance_alerts", DEMO_API_KEY, None, &body).await;
        assert_eq!(alert.status, 200, "{vendor}: {}", alert.body);
    }
    let watch_event = |vendor: Vendor| {
        let customer = w.customer(vendor, 0);
        move |e: &Value| e["customer"] == customer.as_str() && e["source"]["kind"] == "watch"
    };
    // The first read of each: its balance as first seen.
    for vendor in watched {
        receiver
            .wait_for(Duration::from_secs(4), watch_event(vendor))
            .await
            .unwrap_or_else(|| panic!("{vendor}: never read"));
    }
    for vendor in watched {
        let before = receiver.accepted().len();
        let started = std::time::Instant::now();
        w.demo.simulator(vendor).grant_directly(0, 900).unwrap();
        let customer = w.customer(vendor, 0);
        let now = loop {
            let seen = receiver.accepted()[before..]
                .iter()
                .find(|(_, e)| watch_event(vendor)(e))
                .map(|(_, e)| e.clone());
            if let Some(event) = seen {
                break event;
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{vendor}: the change was not seen within its interval"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        eprintln!("{vendor}: a change at the vendor was seen in {:?}", started.elapsed());
        let unit = now["data"]["object"]["unit"].as_str().unwrap().to_owned();
        let carried: rust_decimal::Decimal = now["data"]["object"]["available"]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            w.balances(&customer).await[&(vendor.as_str().to_owned(), unit)],
            carried,
            "{vendor}"
        );
    }
    // Nothing changes: nothing more is recorded.
    let quiet = receiver.accepted().len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(receiver.accepted().len(), quiet, "unchanged balances record nothing");
}
