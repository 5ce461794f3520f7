//! Events over the vendor simulators: writes through creditgate recorded once and delivered
//! signed (checked with the `standardwebhooks` crate), `/v1/events` and its cursor, a
//! receiver that is down and comes back, a gateway restarted with deliveries pending.
//! Events from vendor pushes, watchers and alerts are in `tests/events_sources.rs`.

mod common;

use std::time::Duration;

use common::eventing::*;
use common::receiver::Receiver;
use common::world::World;
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use serde_json::json;

/// The event `id` once the gateway has recorded its first delivery as made: the receiver
/// holds the request a moment before the gateway records the answer, so this waits.
async fn recorded_as_delivered(w: &World, id: &str) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let one = w.api.get(&format!("/v1/events/{id}")).await;
        assert_eq!(one.status, 200, "{}", one.body);
        if one.body["deliveries"][0]["status"] == "delivered" {
            return one.body;
        }
        assert!(started.elapsed() < WITHIN, "never recorded as delivered: {}", one.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    let one = recorded_as_delivered(&w, &id).await;
    assert_eq!(one["id"], id.as_str());
    let delivery = &one["deliveries"][0];
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
    let one = recorded_as_delivered(&w, &id).await;
    let delivery = &one["deliveries"][0];
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

/// The gateway process killed (SIGKILL) with deliveries pending, then started again over
/// the same store: every event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_with_deliveries_pending_delivers_them_after_its_restart() {
    use std::io::BufRead;
    let mut w = World::start(29, 2, 4, None).await;
    // The process opens the store: the world's own gateway lets go of it first.
    w.api = common::Api::new(axum::Router::new(), DEMO_API_KEY);
    let receiver = Receiver::start().await;
    receiver.fail(true);
    let dir = w.demo.dir();
    let config = format!(
        "{}{FAST_RETRIES}{}",
        w.demo.config_toml("127.0.0.1:0", None),
        receiver.endpoint_toml(dir, "events = [\"credit_grant.created\"]")
    );
    let path = dir.join("events-kill.toml");
    std::fs::write(&path, config).unwrap();
    let start = || {
        let mut child = common::process::KillOnDrop(
            common::process::creditgate()
                .args(["serve", "--config"])
                .arg(&path)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let addr = stderr
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("creditgate listening on ").map(str::to_owned))
            .expect("the gateway started");
        (child, addr)
    };
    let (mut child, base) = start();
    let http = reqwest::Client::new();
    let body = json!({"customer": w.customer(Vendor::Stripe, 0), "amount": {"value": "4.00", "unit": "USD"},
                      "name": "Killed", "expires_at": "2031-01-01T00:00:00Z"});
    let mut created = std::collections::BTreeSet::new();
    for n in 0..5 {
        let answer: serde_json::Value = http
            .post(format!("{base}/v1/credit_grants"))
            .bearer_auth(DEMO_API_KEY)
            .header("idempotency-key", format!("kill-{n}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        created.insert(answer["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!receiver.attempts().is_empty(), "tried while the receiver was down");
    child.kill().unwrap();
    child.wait().unwrap();
    receiver.fail(false);
    let (mut child, _) = start();
    let started = std::time::Instant::now();
    let delivered = loop {
        let delivered: std::collections::BTreeSet<String> = receiver
            .accepted()
            .iter()
            .map(|(_, e)| e["data"]["object"]["id"].as_str().unwrap().to_owned())
            .collect();
        if delivered.len() == created.len() || started.elapsed() > Duration::from_secs(20) {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(delivered, created, "every event after the restart");
}

/// The receiver down for a whole minute, then back: every event arrives, each under the
/// webhook-id of its failed attempts. (A minute long: left out of the fast loop.)
#[tokio::test]
async fn a_receiver_down_for_a_minute_gets_every_event_once_it_is_back() {
    let mut w = World::start(31, 2, 4, None).await;
    let receiver = Receiver::start().await;
    let extra = format!(
        "\n[events]\nfirst_retry_ms = 500\nmax_retry_interval_ms = 10000\nattempt_timeout_ms = 2000\n{}",
        receiver.endpoint_toml(w.demo.dir(), "events = [\"credit_grant.created\"]")
    );
    let _gateway = w.with_events(&extra);
    receiver.fail(true);
    let down = std::time::Instant::now();
    let mut created = std::collections::BTreeSet::new();
    for n in 0..10 {
        let (_, answer) = credit(&w, Vendor::Stripe, &format!("minute-{n}"), "1.00").await;
        created.insert(answer["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(down.elapsed())).await;
    let tried: std::collections::BTreeSet<String> = receiver.attempts().into_iter().collect();
    assert_eq!(tried.len(), 10, "{tried:?}");
    assert!(receiver.accepted().is_empty());
    receiver.fail(false);
    let back = std::time::Instant::now();
    while receiver.accepted().len() < 10 {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "{:?}",
            receiver.accepted().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered: std::collections::BTreeSet<String> = receiver.accepted().into_iter().map(|(id, _)| id).collect();
    assert_eq!(delivered, tried, "the same webhook-ids");
    let grants: std::collections::BTreeSet<String> = receiver
        .accepted()
        .iter()
        .map(|(_, e)| e["data"]["object"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(grants, created);
    eprintln!("all 10 delivered {:?} after the receiver came back", back.elapsed());
}
