//! The write endpoints against mock vendors: the exact request each vendor receives (path,
//! encoding, amounts in the vendor's unit, idempotency field) and the normalized answer.
//! Refusals are in `writes_refused.rs`, any body in `writes_any_body.rs`, the exactly-once
//! cases in `writes_once.rs`.

mod common;

use common::writing::*;
use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn stripe_gets_a_form_in_minor_units_with_the_derived_idempotency_key() {
    let h = Harness::new().await;
    let mut created = stripe_grant(7);
    created["amount"] = json!({"monetary": {"currency": "usd", "value": 1250}, "type": "monetary"});
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(200).set_body_json(created))
        .mount(&h.stripe)
        .await;
    let grant = json!({"customer": "stripe:cus_1", "amount": {"value": "12.50", "unit": "usd"}, "name": "Welcome",
                       "category": "promotional", "priority": "10", "effective_at": "2026-01-01T00:00:00Z",
                       "expires_at": "2027-01-01T00:00:00Z", "metadata": {"source": "migration"}});
    let r = post(&h, "/v1/credit_grants", "order-1", grant.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "stripe:credgr_0007");
    assert_eq!(
        r.body["amount"],
        json!({"value": "12.50", "unit": "USD", "unit_type": "currency"})
    );
    assert!(r.headers.get("idempotent-replayed").is_none());

    let sent = h.stripe_requests().await;
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.url.path(), "/v1/billing/credit_grants");
    assert_eq!(request.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(request.headers["idempotency-key"], vendor_key("order-1").as_str());
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {STRIPE_SECRET}").as_str()
    );
    assert!(request.headers.contains_key("stripe-version"));
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    assert_eq!(
        form(request),
        pairs(&[
            ("customer", "cus_1"),
            ("amount[type]", "monetary"),
            ("amount[monetary][currency]", "usd"),
            ("amount[monetary][value]", "1250"),
            ("applicability_config[scope][price_type]", "metered"),
            ("category", "promotional"),
            ("name", "Welcome"),
            ("priority", "10"),
            ("effective_at", "1767225600"),
            ("expires_at", "1798761600"),
            ("metadata[source]", "migration"),
        ])
    );

    // The same request again: the first answer, replayed, and nothing sent.
    let again = post(&h, "/v1/credit_grants", "order-1", grant.clone()).await;
    assert_eq!((again.status, &again.body), (200, &r.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // The key with another request: refused.
    let mut other = grant.clone();
    other["amount"]["value"] = json!("13.00");
    let reused = post(&h, "/v1/credit_grants", "order-1", other).await;
    assert_eq!((reused.status, reused.code()), (409, "idempotency_key_reused"));
    assert_eq!(reused.body["error"]["type"], "idempotency_error");
    assert_eq!(h.stripe_requests().await.len(), 1);

    // Another tenant's key of the same text is another write, with another vendor key.
    // (A zero-decimal currency goes as whole yen.)
    let yen = json!({"customer": "stripe:cus_1", "amount": {"value": "1000", "unit": "JPY"}});
    let r = post(&h, "/v1/credit_grants", "order-2", yen).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = h.stripe_requests().await;
    assert!(form(&sent[1]).contains(&("amount[monetary][value]".into(), "1000".into())));
    assert_ne!(sent[1].headers["idempotency-key"], sent[0].headers["idempotency-key"]);
}

#[tokio::test]
async fn a_stripe_write_with_an_unknown_outcome_is_sent_again_only_with_the_same_key() {
    let h = Harness::with(settling_quickly()).await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants/credgr_0001/void"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&h.stripe)
        .await;
    let mut voided = stripe_grant(1);
    voided["voided_at"] = json!(1726619500);
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants/credgr_0001/void"))
        .respond_with(ResponseTemplate::new(200).set_body_json(voided))
        .mount(&h.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants/credgr_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
        .mount(&h.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_summary()))
        .mount(&h.stripe)
        .await;
    let first = h
        .post_as(
            "/v1/credit_grants/stripe:credgr_0001/void",
            WRITER_KEY,
            Some("void-1"),
            "",
        )
        .await;
    assert_eq!(
        (first.status, first.code()),
        (502, "upstream_outcome_unknown"),
        "{}",
        first.body
    );
    settle(&h, "/v1/credit_grants/stripe:credgr_0001/void", "void-1", "").await;
    let second = h
        .post_as(
            "/v1/credit_grants/stripe:credgr_0001/void",
            WRITER_KEY,
            Some("void-1"),
            "",
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["status"], "voided");
    let voids: Vec<_> = h
        .stripe_requests()
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    assert_eq!(
        voids.len(),
        2,
        "the first attempt, and the retry with the vendor's own key"
    );
    assert_eq!(voids[0].headers["idempotency-key"], voids[1].headers["idempotency-key"]);
}

#[tokio::test]
async fn metronome_gets_cents_and_a_uniqueness_key_and_a_409_resolves_to_the_first_credit() {
    let h = Harness::new().await;
    let key = vendor_key("m-1");
    let mut credit = metronome_credit(3);
    credit["uniqueness_key"] = json!(key);
    Mock::given(method("POST"))
        .and(path("/v1/contracts/customerCredits/create"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"message": "uniqueness key already used"})))
        .mount(&h.metronome)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/contracts/customerCredits/list"))
        .respond_with(MetronomeCredits {
            credits: vec![metronome_credit(1), credit],
        })
        .mount(&h.metronome)
        .await;
    let grant = json!({"customer": format!("metronome:{METRONOME_CUSTOMER}"), "amount": {"value": "12.50", "unit": "USD"},
                       "priority": "0.5", "name": "Prepaid", "effective_at": "2026-01-01T00:00:00Z",
                       "expires_at": "2027-01-01T00:00:00Z"});
    let r = post(&h, "/v1/credit_grants", "m-1", grant).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["id"], "metronome:00000000-0000-4000-8000-000000000003",
        "the credit the key made"
    );

    let sent = h.metronome.received_requests().await.unwrap();
    let create = sent
        .iter()
        .find(|r| r.url.path().ends_with("/create"))
        .expect("a create was sent");
    assert_eq!(
        create.headers["authorization"],
        format!("Bearer {METRONOME_KEY}").as_str()
    );
    assert_eq!(
        body(create),
        json!({"customer_id": METRONOME_CUSTOMER, "product_id": METRONOME_PRODUCT, "priority": 0.5,
               "name": "Prepaid", "uniqueness_key": key,
               "access_schedule": {"schedule_items": [{"amount": 1250,
                   "starting_at": "2026-01-01T00:00:00Z", "ending_before": "2027-01-01T00:00:00Z"}]}})
    );
    // Exactly `0.5`, not a float's rendering of it.
    assert!(String::from_utf8_lossy(&create.body).contains(r#""priority":0.5"#));
}

#[tokio::test]
async fn togai_gets_its_credit_request_with_the_idempotency_key_in_the_accounts_unit() {
    let h = Harness::new().await;
    Mock::given(method("GET"))
        .and(path("/accounts/ACC001/credit_balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "availableBalance": 10, "unit": "USD", "lastUpdatedAt": "2024-01-01 00:00:00+00:00"})))
        .mount(&h.togai)
        .await;
    let mut credit = togai_credit(4);
    credit["creditAmount"] = json!(12.5);
    Mock::given(method("POST"))
        .and(path("/credits"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"credits": [credit]})))
        .mount(&h.togai)
        .await;
    let grant = json!({"customer": "togai:ACC001", "amount": {"value": "12.5", "unit": "USD"}, "name": "PREPAID_CREDIT",
                       "priority": "2", "effective_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z"});
    let r = post(&h, "/v1/credit_grants", "t-1", grant).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "togai:cred.0004.x");
    let sent = h.togai.received_requests().await.unwrap();
    let create = sent.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert_eq!(
        body(create),
        json!({"creditRequests": [{"accountId": "ACC001", "purpose": "PREPAID_CREDIT", "effectiveFrom": "2026-01-01",
               "effectiveUntil": "2027-01-01", "creditAmount": 12.5, "priority": 2,
               "idempotencyKey": vendor_key("t-1")}]})
    );

    // A grant in another unit than the account's is refused, and nothing is written.
    let euros = json!({"customer": "togai:ACC001", "amount": {"value": "5", "unit": "EUR"}});
    let r = post(&h, "/v1/credit_grants", "t-2", euros).await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (400, Some("amount.unit")),
        "{}",
        r.body
    );
    let posts = h.togai.received_requests().await.unwrap();
    assert_eq!(posts.iter().filter(|r| r.method.as_str() == "POST").count(), 1);
}

#[tokio::test]
async fn sequence_gets_major_units_and_a_marked_name_and_a_retry_finds_the_marked_grant() {
    let h = Harness::with(settling_quickly()).await;
    Mock::given(method("POST"))
        .and(path("/api/credits"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&h.sequence)
        .await;
    let marker = format!("[{}]", vendor_key("s-1"));
    Mock::given(method("GET"))
        .and(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/grants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"id": "00000000-0000-4000-9000-000000000009", "name": format!("Top-up {marker}"), "grantAmount": 12.5,
             "balance": 12.5, "issueDate": "2026-01-01", "expiryDate": "2026-12-31"}]})))
        .mount(&h.sequence)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&h.sequence)
        .await;
    let grant = json!({"customer": format!("sequence:{SEQUENCE_CUSTOMER}"), "amount": {"value": "12.50", "unit": "GBP"},
                       "name": "Top-up", "effective_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z"});
    let first = post(&h, "/v1/credit_grants", "s-1", grant.clone()).await;
    assert_eq!(
        (first.status, first.code()),
        (502, "upstream_outcome_unknown"),
        "{}",
        first.body
    );
    let sent = h.sequence.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].headers["sequence-version"], "2024-07-30");
    assert_eq!(
        body(&sent[0]),
        json!({"sequenceAccountId": SEQUENCE_ACCOUNT, "customerId": SEQUENCE_CUSTOMER, "name": format!("Top-up {marker}"),
               "creditUnitType": "CURRENCY", "currency": "GBP", "amount": 12.5,
               "effectiveDate": "2026-01-01", "expiryDate": "2026-12-31"})
    );
    // Sequence has no idempotency: the retry (once the first attempt can no longer land)
    // looks for the marked grant and writes nothing.
    settle(&h, "/v1/credit_grants", "s-1", &grant.to_string()).await;
    let second = post(&h, "/v1/credit_grants", "s-1", grant).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["id"], "sequence:00000000-0000-4000-9000-000000000009");
    let posts = h.sequence.received_requests().await.unwrap();
    assert_eq!(posts.iter().filter(|r| r.method.as_str() == "POST").count(), 1);
}

#[tokio::test]
async fn vayu_gets_grant_and_deduct_and_the_entry_is_read_back() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "tok"})))
        .mount(&h.vayu)
        .await;
    for path_name in ["/credits/grant", "/credits/deduct"] {
        Mock::given(method("POST"))
            .and(path(path_name))
            .respond_with(ResponseTemplate::new(200))
            .mount(&h.vayu)
            .await;
    }
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/credits"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"entries": [
            vayu_entry(1),
            {"id": "65f0c0ffee0123456789aaaa", "createdAt": now, "type": "Deduct", "amount": 2.25,
             "balanceAfterEntry": 97.75, "integrationEntities": []}]})))
        .mount(&h.vayu)
        .await;
    let adjustment = json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": {"value": "2.25", "unit": "USD"},
                            "direction": "debit"});
    let r = post(&h, "/v1/credit_ledger_entries", "v-1", adjustment).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"]["id"], "vayu:65f0c0ffee0123456789aaaa", "{}", r.body);
    assert_eq!(r.body["amount"]["value"], "2.25");
    let sent = h.vayu_requests().await;
    let deduct = sent.iter().find(|r| r.url.path() == "/credits/deduct").unwrap();
    assert_eq!(deduct.headers["authorization"], "Bearer tok");
    assert_eq!(body(deduct), json!({"creditAmount": 2.25, "customerId": VAYU_CUSTOMER}));
    assert!(!sent.iter().any(|r| r.url.path() == "/credits/grant"));
}

/// Metronome's other writes: an expiry is `updateEndDate` to now, and a manual entry goes on
/// the credit's current segment in cents with the write's marker in its reason.
#[tokio::test]
async fn metronome_expiry_and_manual_entries_send_what_the_sdk_documents() {
    let h = Harness::new().await;
    let marker = format!("[{}]", vendor_key("m-entry"));
    let mut credit = metronome_credit(3);
    credit["ledger"] = json!([{"type": "CREDIT_MANUAL", "timestamp": "2026-01-01T00:00:00Z", "amount": -250,
                               "reason": format!("refund {marker}")}]);
    Mock::given(method("POST"))
        .and(path("/v1/contracts/customerCredits/list"))
        .respond_with(MetronomeCredits { credits: vec![credit] })
        .mount(&h.metronome)
        .await;
    for write in [
        "/v1/contracts/customerCredits/updateEndDate",
        "/v1/contracts/addManualBalanceLedgerEntry",
    ] {
        Mock::given(method("POST"))
            .and(path(write))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&h.metronome)
            .await;
    }
    let customer = format!("metronome:{METRONOME_CUSTOMER}");
    let credit_id = "00000000-0000-4000-8000-000000000003";
    let entry = json!({"customer": customer, "grant": format!("metronome:{credit_id}"), "direction": "debit",
                       "amount": {"value": "2.50", "unit": "USD"}, "reason": "refund"});
    let r = post(&h, "/v1/credit_ledger_entries", "m-entry", entry).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"]["id"], format!("metronome:{credit_id}.0"), "{}", r.body);
    assert_eq!(r.body["entry"]["amount"]["value"], "-2.50");

    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let r = post(
        &h,
        &format!("/v1/credit_grants/metronome:{credit_id}/expire"),
        "m-end",
        json!({"customer": customer}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let sent = h.metronome.received_requests().await.unwrap();
    let find = |suffix: &str| body(sent.iter().find(|r| r.url.path().ends_with(suffix)).unwrap());
    let mut manual = find("/addManualBalanceLedgerEntry");
    // Dated at the write (Metronome would date it at the segment's start).
    let dated = time::OffsetDateTime::parse(
        manual["timestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        (time::OffsetDateTime::now_utc() - dated).whole_seconds().abs() < 60,
        "{dated}"
    );
    manual.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(
        manual,
        json!({"customer_id": METRONOME_CUSTOMER, "id": credit_id, "segment_id": "2d45952c-5a6e-43a9-8aab-f61ee21be81a",
               "amount": -250, "reason": format!("refund {marker}")})
    );
    let end = find("/updateEndDate");
    assert_eq!(
        (&end["customer_id"], &end["credit_id"]),
        (&json!(METRONOME_CUSTOMER), &json!(credit_id))
    );
    let ending = time::OffsetDateTime::parse(
        end["access_ending_before"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert!((before - 1..=before + 5).contains(&ending), "ends now: {end}");
}
