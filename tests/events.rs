//! Events over the vendor simulators: writes through creditgate recorded once and delivered
//! signed (checked with the `standardwebhooks` crate), `/v1/events` and its cursor, a
//! receiver that is down and comes back, a gateway restarted with deliveries pending.

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::world::World;
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use serde_json::{json, Value};

/// Fast retries, so that a receiver coming back is reached within a second.
const FAST_RETRIES: &str = "\n[events]\nfirst_retry_ms = 100\nmax_retry_interval_ms = 300\nattempt_timeout_ms = 2000\n";

/// How long an event may take from its cause to the receiver.
const WITHIN: Duration = Duration::from_secs(2);

async fn world_with_receiver(endpoint_extra: &str) -> (World, Receiver, creditgate::Gateway) {
    let mut w = World::start(21, 2, 4, None).await;
    let receiver = Receiver::start().await;
    let extra = format!("{FAST_RETRIES}{}", receiver.endpoint_toml(w.demo.dir(), endpoint_extra));
    let gateway = w.with_events(&extra);
    (w, receiver, gateway)
}

/// Credits for customer 0 of `vendor`: a grant where it makes grants, else a ledger credit.
/// Answers the path written to and the answer.
async fn credit(w: &World, vendor: Vendor, key: &str, value: &str) -> (String, Value) {
    let unit = if vendor == Vendor::Sequence { "GBP" } else { "USD" };
    let customer = w.customer(vendor, 0);
    let grants = w.capabilities(vendor).await["create_grants"] == true;
    let (path, body) = if grants {
        let mut grant = json!({"customer": customer, "amount": {"value": value, "unit": unit},
                               "name": "Event credits", "expires_at": "2031-01-01T00:00:00Z"});
        if vendor == Vendor::Metronome {
            grant["priority"] = json!("1");
        }
        ("/v1/credit_grants", grant)
    } else {
        (
            "/v1/credit_ledger_entries",
            json!({"customer": customer, "amount": {"value": value, "unit": unit}, "direction": "credit"}),
        )
    };
    let answer = w.api.post_as(path, DEMO_API_KEY, Some(key), &body.to_string()).await;
    assert_eq!(answer.status, 200, "{vendor}: {}", answer.body);
    (path.to_owned(), answer.body)
}

#[tokio::test]
async fn a_write_at_every_vendor_reaches_the_endpoint_signed_as_its_event() {
    let (w, receiver, _gateway) = world_with_receiver("").await;
    for vendor in Vendor::ALL {
        let (path, answer) = credit(&w, vendor, &format!("event-{vendor}"), "5.00").await;
        let customer = w.customer(vendor, 0);
        let (event_type, object_id) = if path == "/v1/credit_grants" {
            ("credit_grant.created", answer["id"].clone())
        } else {
            ("credit_ledger_entry.created", answer["entry"]["id"].clone())
        };
        let event = receiver
            .wait_for(WITHIN, |e| {
                e["type"] == event_type && e["data"]["object"]["id"] == object_id
            })
            .await
            .unwrap_or_else(|| panic!("{vendor}: no {event_type} within {WITHIN:?}: {:?}", receiver.accepted()));
        assert_eq!(event["object"], "event");
        assert_eq!(event["provider"], vendor.as_str());
        assert_eq!(event["customer"], customer);
        assert_eq!(event["source"]["kind"], "write");
        if path == "/v1/credit_grants" {
            assert_eq!(
                event["data"]["object"], answer,
                "{vendor}: the grant exactly as answered"
            );
        }
        // The write changed the balance: its new value follows.
        let balance = receiver
            .wait_for(WITHIN, |e| {
                e["type"] == "credit_balance.updated" && e["customer"] == customer
            })
            .await
            .unwrap_or_else(|| panic!("{vendor}: no credit_balance.updated"));
        assert_eq!(balance["data"]["object"]["object"], "credit_balance");
    }
    assert_eq!(receiver.forged(), 0, "every delivery verifies");
    let ids: Vec<String> = receiver.accepted().into_iter().map(|(id, _)| id).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "each event delivered once: {ids:?}");
    for (id, event) in receiver.accepted() {
        assert_eq!(event["id"], id.as_str(), "webhook-id is the event id");
    }
}

#[tokio::test]
async fn a_replayed_write_records_no_second_event_and_the_list_pages_newest_first() {
    let (w, receiver, _gateway) = world_with_receiver("").await;
    let mut created = Vec::new();
    for n in 0..5 {
        let (_, answer) = credit(&w, Vendor::Stripe, &format!("list-{n}"), "1.00").await;
        created.push(answer["id"].as_str().unwrap().to_owned());
    }
    // The same key again replays: no second event.
    let (_, again) = credit(&w, Vendor::Stripe, "list-4", "1.00").await;
    assert_eq!(again["id"], created[4].as_str());
    let page = w.api.get("/v1/events?type=credit_grant.created&limit=2").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut seen = Vec::new();
    let mut next = page.body.clone();
    loop {
        for event in next["data"].as_array().unwrap() {
            assert_eq!(event["type"], "credit_grant.created");
            seen.push(event["data"]["object"]["id"].as_str().unwrap().to_owned());
        }
        let Some(cursor) = next["next_cursor"].as_str() else {
            break;
        };
        assert_eq!(next["has_more"], true);
        let page = w
            .api
            .get(&format!("/v1/events?type=credit_grant.created&limit=2&cursor={cursor}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        next = page.body;
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "each write once, newest first");
    // A cursor is bound to its filters.
    let first = w.api.get("/v1/events?type=credit_grant.created&limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let other = w.api.get(&format!("/v1/events?limit=1&cursor={cursor}")).await;
    assert_eq!((other.status, other.code()), (400, "invalid_cursor"));
    // By customer: only that customer's.
    let stripe = w.customer(Vendor::Stripe, 0);
    let mine = w.api.get(&format!("/v1/events?customer={stripe}&limit=100")).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert!(mine.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["customer"] == stripe.as_str()));
    let theirs = w.customer(Vendor::Lago, 0);
    let none = w.api.get(&format!("/v1/events?customer={theirs}")).await;
    assert_eq!(none.body["data"], json!([]));
    // One event, with its delivery.
    let id = first.body["data"][0]["id"].as_str().unwrap().to_owned();
    receiver
        .wait_for(WITHIN, |e| e["id"] == id.as_str())
        .await
        .expect("delivered");
    let one = w.api.get(&format!("/v1/events/{id}")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["id"], id.as_str());
    let delivery = &one.body["deliveries"][0];
    assert_eq!(delivery["status"], "delivered", "{}", one.body);
    assert_eq!(delivery["url"], receiver.url.as_str());
    assert_eq!(delivery["attempts"][0]["status_code"], 204);
    let missing = w.api.get("/v1/events/evt_0000000000000000000000000000").await;
    assert_eq!((missing.status, missing.code()), (404, "event_not_found"));
    // Redelivered on demand, with the same webhook-id.
    let redelivered = w
        .api
        .post_as(&format!("/v1/events/{id}/redeliver"), DEMO_API_KEY, None, "")
        .await;
    assert_eq!(redelivered.status, 200, "{}", redelivered.body);
    let started = std::time::Instant::now();
    while receiver.accepted().iter().filter(|(hook, _)| *hook == id).count() < 2 {
        assert!(started.elapsed() < WITHIN, "not redelivered: {:?}", receiver.attempts());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_receiver_down_then_back_gets_every_event_with_the_same_ids() {
    let (w, receiver, _gateway) = world_with_receiver("events = [\"credit_grant.created\"]").await;
    receiver.fail(true);
    let mut created = Vec::new();
    for n in 0..6 {
        let (_, answer) = credit(&w, Vendor::Metronome, &format!("down-{n}"), "2.00").await;
        created.push(answer["id"].as_str().unwrap().to_owned());
    }
    // Tried, refused, tried again while the receiver is down.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tried: std::collections::BTreeSet<String> = receiver.attempts().into_iter().collect();
    assert_eq!(tried.len(), 6, "each event tried under one id: {tried:?}");
    assert!(receiver.attempts().len() > 6, "and retried");
    assert!(receiver.accepted().is_empty());
    receiver.fail(false);
    let started = std::time::Instant::now();
    while receiver.accepted().len() < 6 {
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", receiver.accepted());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered: std::collections::BTreeSet<String> = receiver.accepted().into_iter().map(|(id, _)| id).collect();
    assert_eq!(delivered, tried, "the same webhook-ids as the failed attempts");
    let grants: std::collections::BTreeSet<String> = receiver
        .accepted()
        .iter()
        .map(|(_, e)| e["data"]["object"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(grants, created.into_iter().collect(), "every grant's event");
    // Only the type the endpoint takes was sent.
    assert!(receiver
        .accepted()
        .iter()
        .all(|(_, e)| e["type"] == "credit_grant.created"));
    // The event shows its failed attempts and the delivery.
    let id = receiver.accepted()[0].0.clone();
    let one = w.api.get(&format!("/v1/events/{id}")).await;
    let delivery = &one.body["deliveries"][0];
    assert_eq!(delivery["status"], "delivered");
    assert!(delivery["attempt_count"].as_u64().unwrap() >= 2, "{delivery}");
    assert_eq!(delivery["attempts"][0]["status_code"], 503);
}

#[tokio::test]
async fn deliveries_pending_at_a_restart_are_made_after_it() {
    let (mut w, receiver, gateway) = world_with_receiver("events = [\"credit_grant.created\"]").await;
    receiver.fail(true);
    let (_, answer) = credit(&w, Vendor::Stripe, "restart-0", "3.00").await;
    let id = answer["id"].clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!receiver.attempts().is_empty());
    // The gateway stops (its workers with it), and starts again over the same store.
    gateway.stop_event_workers().await;
    drop(gateway);
    receiver.fail(false);
    let extra = format!(
        "{FAST_RETRIES}{}",
        receiver.endpoint_toml(w.demo.dir(), "events = [\"credit_grant.created\"]")
    );
    let _again = w.with_events(&extra);
    let event = receiver
        .wait_for(Duration::from_secs(15), |e| e["data"]["object"]["id"] == id)
        .await
        .expect("delivered after the restart");
    assert_eq!(event["type"], "credit_grant.created");
}

/// A Stripe delivery of `body`, signed with `secret` as Stripe signs (the `hmac` crate
/// directly, not creditgate's code).
fn stripe_signature(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
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
    let from_vendor = receiver
        .accepted()
        .iter()
        .filter(|(_, e)| e["source"]["vendor_event_id"] == "evt_vendor_void_1")
        .count();
    assert_eq!(from_vendor, 1, "{:?}", receiver.accepted());
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
