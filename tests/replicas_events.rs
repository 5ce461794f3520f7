//! The event log across replicas sharing one real Redis (`[redis]`, README.md, "Events"):
//! one vendor event recorded once, queued items taken by one replica at a time, one event
//! per cause, and deliveries made once between replicas with none lost when one is killed.
//! Like `tests/replicas.rs`, each test starts its own `redis-server` and stops it.

#[allow(dead_code)]
mod cluster;
#[allow(dead_code)]
#[path = "common/receiver.rs"]
mod receiver;

use cluster::*;
use creditgate_sim::{RateLimit, Vendor};
use std::time::{Duration, Instant};

/// One vendor event delivered to two replicas at once (a vendor retrying while the first
/// delivery is slow) is recorded once between them: exactly one is told it is new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_vendor_event_at_two_replicas_is_recorded_once() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("vendor-events");
    let (a, b) = two_replicas(&redis);
    for round in 0..20 {
        let id = format!("evt_{round}");
        let (first, second) = tokio::join!(
            a.receive_vendor_event(creditgate::model::ProviderKind::Stripe, &id, "inbox", b"{}".to_vec()),
            b.receive_vendor_event(creditgate::model::ProviderKind::Stripe, &id, "inbox", b"{}".to_vec())
        );
        assert!(
            first.unwrap() ^ second.unwrap(),
            "round {round}: exactly one replica records it"
        );
    }
    // Another vendor's event with the same id is another event.
    assert!(a
        .receive_vendor_event(creditgate::model::ProviderKind::Lago, "evt_0", "inbox", b"{}".to_vec())
        .await
        .unwrap());
}

/// Two handles on one Redis, as two replicas hold.
fn two_replicas(
    redis: &Redis,
) -> (
    creditgate::shared::records::Records,
    creditgate::shared::records::Records,
) {
    let url_file = redis.dir.join("url");
    std::fs::write(&url_file, redis.url()).unwrap();
    let config: creditgate::shared::RedisConfig =
        toml::from_str(&format!("url = \"file:{}\"\ntimeout_ms = 2000", url_file.display())).unwrap();
    let replica =
        || creditgate::shared::records::Records::Shared(creditgate::shared::SharedState::new(&config).unwrap());
    (replica(), replica())
}

/// Queued items are handed to one replica at a time, come back after their lease, and are
/// gone once settled; one cause recorded at both replicas is one event, and a guarded
/// event (a balance) is recorded only when its value changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_event_log_and_take_each_queued_item_once() {
    use creditgate::store::NewEvent;
    let _serial = one_at_a_time().await;
    let redis = Redis::start("event-log");
    let (a, b) = two_replicas(&redis);
    for n in 0..30 {
        a.enqueue("we_test", &format!("evt_{n:02}"), b"").await.unwrap();
    }
    let lease = Duration::from_millis(600);
    let (x, y) = tokio::join!(a.claim_due("we_test", lease, 20), b.claim_due("we_test", lease, 20));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 30, "every due item handed out");
    let mut items: Vec<&String> = x.iter().chain(&y).map(|c| &c.item).collect();
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 30, "each to one replica only");
    assert!(b.claim_due("we_test", lease, 50).await.unwrap().is_empty(), "leased");
    // Settled ones are gone; the others come back when their lease ends.
    for claimed in &x {
        a.settle("we_test", &claimed.item, None, None, Duration::from_secs(60))
            .await
            .unwrap();
    }
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let again = b.claim_due("we_test", lease, 50).await.unwrap();
    assert_eq!(again.len(), y.len(), "the unsettled ones are due again");
    let event = |id: &str, source: &str, guard: Option<(&str, &str)>| NewEvent {
        id: id.to_owned(),
        customer: "stripe:cus_1".into(),
        source: source.to_owned(),
        json: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        deliver_to: vec!["we_events".into()],
        guard: guard.map(|(k, v)| (k.to_owned(), v.to_owned())),
    };
    let retention = Duration::from_secs(3600);
    // Ids of now: older ones than the retention are trimmed as they are recorded.
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() as u64 * 1000;
    let id = |n: u64| creditgate::model::event::event_id(now_ms, n);
    let ids = [id(1), id(2)];
    let (first, second) = tokio::join!(
        a.append_events(vec![event(&ids[0], "write-1", None)], retention),
        b.append_events(vec![event(&ids[1], "write-1", None)], retention)
    );
    assert!(
        first.unwrap()[0] ^ second.unwrap()[0],
        "one cause, one event, whichever replica records it"
    );
    let balance = |id: &str, value: &str| event(id, id, Some(("balance-cus_1-USD", value)));
    let recorded = a
        .append_events(
            vec![balance(&id(11), "10"), balance(&id(12), "10"), balance(&id(13), "9.5")],
            retention,
        )
        .await
        .unwrap();
    assert_eq!(recorded, vec![true, false, true], "only changes are recorded");
    let delivered = a.claim_due("we_events", lease, 50).await.unwrap();
    assert_eq!(delivered.len(), 3, "each recorded event owes its delivery once");
    let everything: creditgate::shared::events::Keep = std::sync::Arc::new(|_: &[u8]| true);
    let listed = b.list_events(None, None, 10, everything).await.unwrap();
    assert_eq!(listed.events.len(), 3);
    assert!(listed.next_before.is_none());
}

/// Two replicas on one Redis deliver each event once between them; one killed with
/// deliveries pending loses none (the other delivers them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once_and_a_killed_one_loses_none() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("deliveries");
    let receiver = receiver::Receiver::start().await;
    let dir = std::env::temp_dir().join(format!("creditgate-deliveries-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let extra = format!(
        "[events]\nfirst_retry_ms = 100\nmax_retry_interval_ms = 300\nattempt_timeout_ms = 2000\n{}",
        receiver.endpoint_toml(&dir, "events = [\"credit_grant.created\"]")
    );
    let mut c = cluster("deliveries", &redis, RateLimit::Off, &extra, PATIENT, 2).await;
    for n in 0..10 {
        let answer = c
            .post(
                n % 2,
                "/v1/credit_grants",
                &format!("once-{n}"),
                &c.new_grant(Vendor::Stripe, "1.00"),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let started = Instant::now();
    while receiver.accepted().len() < 10 {
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", receiver.accepted());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<String> = receiver.accepted().into_iter().map(|(id, _)| id).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (10, 10),
        "each event delivered once: {ids:?}"
    );
    // The receiver goes down; replica 0 records more and is killed; replica 1 delivers them.
    receiver.fail(true);
    for n in 10..14 {
        let answer = c
            .post(
                0,
                "/v1/credit_grants",
                &format!("once-{n}"),
                &c.new_grant(Vendor::Stripe, "1.00"),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.replicas[0].child.kill().unwrap();
    c.replicas[0].child.wait().unwrap();
    receiver.fail(false);
    let started = Instant::now();
    while receiver.accepted().len() < 14 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} of 14 after replica 0 died",
            receiver.accepted().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// An alert made at one replica fires, once, on a crossing a write at the other made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_made_at_one_replica_fires_once_for_a_write_at_the_other() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("alerts");
    let receiver = receiver::Receiver::start().await;
    let dir = std::env::temp_dir().join(format!("creditgate-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let extra = receiver.endpoint_toml(&dir, "events = [\"credit_balance.low\"]");
    let c = cluster("alerts", &redis, RateLimit::Off, &extra, PATIENT, 2).await;
    let start = c.balance(0, Vendor::Stripe).await;
    let threshold = start + rust_decimal::Decimal::from(5);
    let alert = c
        .send(
            c.http
                .post(format!("{}/v1/balance_alerts", c.replicas[0].base))
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"customer": c.customer(Vendor::Stripe), "unit": "USD",
                                       "threshold": threshold.to_string()})
                    .to_string(),
                ),
        )
        .await;
    assert_eq!(alert.status, 200, "{}", alert.body);
    let listed = c.get(1, "/v1/balance_alerts").await;
    assert_eq!(listed.body["data"][0]["id"], alert.body["id"], "{}", listed.body);
    let grant = c
        .post(
            1,
            "/v1/credit_grants",
            "alert-up",
            &c.new_grant(Vendor::Stripe, "10.00"),
        )
        .await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let path = format!("/v1/credit_grants/{}/void", grant.body["id"].as_str().unwrap());
    let voided = c.post(1, &path, "alert-down", &serde_json::json!({})).await;
    assert_eq!(voided.status, 200, "{}", voided.body);
    let fired = receiver
        .wait_for(Duration::from_secs(3), |e| e["type"] == "credit_balance.low")
        .await
        .expect("the alert fired");
    assert_eq!(fired["data"]["alert"]["id"], alert.body["id"]);
    // The other replica reads the balance after a write that leaves it below: still one.
    let small = c
        .post(
            0,
            "/v1/credit_grants",
            "alert-small",
            &c.new_grant(Vendor::Stripe, "1.00"),
        )
        .await;
    assert_eq!(small.status, 200, "{}", small.body);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let lows = receiver
        .accepted()
        .iter()
        .filter(|(_, e)| e["type"] == "credit_balance.low")
        .count();
    assert_eq!(lows, 1);
    let _ = std::fs::remove_dir_all(dir);
}
