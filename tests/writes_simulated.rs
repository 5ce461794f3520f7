//! The write path end to end over the vendor simulators, where it is not one vendor's
//! conformance (`tests/common/conformance.rs`, run by each `tests/<vendor>.rs`): one key
//! sent twenty times at once, with and without the vendor's own idempotency, and Vayu's
//! entries, found again by content, never taken by two keys, and written one at a time.

mod common;

use common::world::World;
use common::TestResponse;
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use serde_json::json;

/// A credit entry of `value` USD for Vayu's customer 0.
fn vayu_credit(w: &World, value: &str) -> String {
    json!({"customer": w.customer(Vendor::Vayu, 0), "amount": {"value": value, "unit": "USD"}, "direction": "credit"})
        .to_string()
}

/// A grant of `value` for customer 0 of `vendor` (Sequence in GBP, the others in USD).
fn new_grant(w: &World, vendor: Vendor, value: &str) -> String {
    let unit = if vendor == Vendor::Sequence { "GBP" } else { "USD" };
    json!({"customer": w.customer(vendor, 0), "amount": {"value": value, "unit": unit},
           "name": "Burst credits", "expires_at": "2031-01-01T00:00:00Z"})
    .to_string()
}

#[tokio::test]
async fn twenty_concurrent_posts_with_one_key_make_one_grant() {
    let w = World::start(11, 3, 12, None).await;
    // Stripe has its own idempotency; Sequence has none, so only creditgate stands between;
    // Lago has none either, but refuses a second active wallet with the write's `code`.
    for vendor in [Vendor::Stripe, Vendor::Sequence, Vendor::Lago] {
        let body = new_grant(&w, vendor, "7.00");
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

/// Vayu's writes are found again by type and amount. An entry one key's write took is never
/// taken by another key's look: key B's credit, refused unapplied, is written on its retry
/// instead of answering key A's entry (one credit for two intended); and twenty concurrent
/// credits of one amount under twenty keys answer twenty different entries.
#[tokio::test]
async fn a_vayu_entry_taken_by_one_key_is_never_another_keys() {
    let w = World::start(11, 3, 12, None).await;
    let simulator = w.demo.simulator(Vendor::Vayu).clone();
    let path = "/v1/credit_ledger_entries";
    let credit = |value: &str| vayu_credit(&w, value);
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
    let wait = w
        .is_told_to_come_back(path, "claim-b", &credit("10.00"), Vendor::Vayu)
        .await;
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

/// Writes to one Vayu customer go one at a time (a Vayu write is found again by what it
/// changed). A second write that waits past its 10 s turn while the first is held at Vayu
/// is refused with 409 `customer_write_in_progress` and `Retry-After`, and reaches Vayu
/// only when sent again.
#[tokio::test]
async fn a_vayu_write_waiting_past_its_turn_is_a_409_customer_write_in_progress() {
    let mut w = World::start(12, 2, 6, None).await;
    // Attempts may last past the turn's 10 s wait (the settle window twice as long).
    w.with_events_and("", |config| {
        config.upstream.attempt_timeout_ms = 15_000;
        config.upstream.deadline_ms = 20_000;
        for settle in config.upstream.write_settle_ms.values_mut() {
            *settle = 30_000;
        }
    });
    let simulator = w.demo.simulator(Vendor::Vayu).clone();
    let path = "/v1/credit_ledger_entries";
    let credit = |value: &str| vayu_credit(&w, value);
    let before = simulator.written_grants(0);
    simulator.delay_next_writes(1, std::time::Duration::from_secs(12));
    let (three, four) = (credit("3.00"), credit("4.00"));
    let (first, second) = tokio::join!(w.api.post_as(path, DEMO_API_KEY, Some("turn-a"), &three), async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        w.api.post_as(path, DEMO_API_KEY, Some("turn-b"), &four).await
    });
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        (second.status, second.code()),
        (409, "customer_write_in_progress"),
        "{}",
        second.body
    );
    assert_eq!(second.headers["retry-after"], "1");
    assert_eq!(
        simulator.written_grants(0),
        before + 1,
        "the refused write reached Vayu"
    );
    let again = w.api.post_as(path, DEMO_API_KEY, Some("turn-b"), &four).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(simulator.written_grants(0), before + 2);
}
