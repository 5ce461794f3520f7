//! The write half of the conformance tests: writes land once and move the balance, and an
//! unknown outcome or a late write is never written twice.

use creditgate_sim::demo::DEMO_API_KEY;
use rust_decimal::Decimal;
use serde_json::json;

use super::{grant_body, has, unit_of, Conformance};
use crate::common::world::{amount, World};

/// One write this vendor takes: a grant where it creates them, else a ledger credit (on
/// one of its grants where it has grants). (path, body, unit).
async fn one_write(c: &Conformance, w: &World, value: &str) -> (&'static str, String, String) {
    let caps = w.capabilities(c.vendor).await;
    if has(&caps, "create_grants") {
        let (body, unit) = grant_body(c, w, value);
        return ("/v1/credit_grants", body, unit);
    }
    assert!(has(&caps, "ledger_adjustments"), "{}: takes no write at all", c.vendor);
    let (body, unit) = adjustment(w, c.vendor, &caps, "credit", value);
    ("/v1/credit_ledger_entries", body.to_string(), unit)
}

/// A manual entry of `value` in `direction` for customer 0, booked on one of its grants
/// where the vendor has grants: (body, unit).
fn adjustment(
    w: &World,
    vendor: creditgate_sim::Vendor,
    caps: &serde_json::Value,
    direction: &str,
    value: &str,
) -> (serde_json::Value, String) {
    let unit = unit_of(w, vendor);
    let mut body = json!({"customer": w.customer(vendor, 0), "amount": {"value": value, "unit": unit},
                          "direction": direction});
    if has(caps, "credit_grants") {
        body["grant"] = json!(w.truth(vendor, 0).grants.into_keys().next().expect("a grant"));
    }
    (body, unit)
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
        match w.grant_in_list(vendor, &id).await {
            None => assert!(
                end == "void" && c.void_deletes,
                "{vendor} {end}: the grant left the list"
            ),
            Some(listed) => assert_eq!(listed["status"], status, "{vendor} {end}"),
        }
    }
    if has(&caps, "ledger_adjustments") {
        writes += 1;
        let path = "/v1/credit_ledger_entries";
        let unit = unit_of(&w, vendor);
        let before = w.balance(vendor, &unit).await;
        for (n, (direction, value, signed)) in [("credit", "5.00", 500), ("debit", "2.25", -225)]
            .into_iter()
            .enumerate()
        {
            let (body, _) = adjustment(&w, vendor, &caps, direction, value);
            let key = format!("adjust-{n}");
            let r = w.api.post_as(path, DEMO_API_KEY, Some(&key), &body.to_string()).await;
            assert_eq!(r.status, 200, "{vendor} {direction}: {}", r.body);
            assert_eq!(r.body["object"], "credit_ledger_adjustment");
            if let (Some(kind), "credit") = (c.manual_entry_type, direction) {
                assert_eq!(r.body["entry"]["provider_type"], kind, "{vendor}: {}", r.body);
            }
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
    super::every_vendor_call_had_a_template(vendor);
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
    if path == "/v1/credit_grants" && has(&w.capabilities(vendor).await, "credit_grants") {
        let id = second.body["id"].as_str().unwrap();
        assert!(
            w.grant_in_list(vendor, id).await.is_some(),
            "{vendor}: the answer is the grant made the first time"
        );
    }
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
    simulator.delay_next_writes(1, crate::common::world::ATTEMPT_TIMEOUT * 2);
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
