//! The write endpoints against mock vendors: the exact request each vendor receives (path,
//! encoding, amounts in the vendor's unit, idempotency field), the normalized answer, the
//! idempotency semantics, scopes, and bad input refused before any vendor call.

mod common;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// The key the vendor sees for the writer key's `Idempotency-Key` `key`.
fn vendor_key(key: &str) -> String {
    format!("cg-{}", &sha256_hex(&format!("writer\u{0}{key}"))[..32])
}

/// The vendor key of `key` after `generation` refused writes under it.
fn vendor_key_of_generation(key: &str, generation: u32) -> String {
    format!(
        "cg-{}",
        &sha256_hex(&format!("writer\u{0}{key}\u{0}{generation}"))[..32]
    )
}

fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

fn body(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

async fn all_requests(h: &Harness) -> usize {
    let mut n = 0;
    for server in [&h.stripe, &h.metronome, &h.sequence, &h.togai, &h.vayu] {
        n += server.received_requests().await.unwrap_or_default().len();
    }
    n
}

async fn post(h: &Harness, path: &str, key: &str, body: Value) -> TestResponse {
    h.post_as(path, WRITER_KEY, Some(key), &body.to_string()).await
}

/// An unknown outcome settles for a second here instead of a minute.
fn settling_quickly() -> Options {
    Options {
        upstream: "attempt_timeout_ms = 500\nwrite_settle_ms = { stripe = 1000, sequence = 1000 }",
        ..Options::new()
    }
}

/// After an unknown outcome: a retry at once is told to come back after the settle window
/// (and sends nothing); the test then waits it out.
async fn settle(h: &Harness, path: &str, key: &str, body: &str) {
    let before = all_requests(h).await;
    let early = h.post_as(path, WRITER_KEY, Some(key), body).await;
    assert_eq!(
        (early.status, early.code()),
        (409, "write_outcome_settling"),
        "{}",
        early.body
    );
    // The disk store keeps whole seconds, so up to one more is waited.
    let retry_after: u64 = early.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(all_requests(h).await, before, "nothing is sent while it settles");
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
}

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

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_no_vendor_sees_anything() {
    let h = Harness::new().await;
    let stripe = "stripe:cus_1";
    let metronome = format!("metronome:{METRONOME_CUSTOMER}");
    let sequence = format!("sequence:{SEQUENCE_CUSTOMER}");
    let usd = |v: &str| json!({"value": v, "unit": "USD"});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("0.001")}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "1.5", "unit": "JPY"}}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("-5")}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("0")}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": 5, "unit": "USD"}}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "5", "unit": "API calls"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "priority": "101"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "colour": "red"}),
            "",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "effective_at": "2027-01-01T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": "stripe:", "amount": usd("5")}),
            "customer",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": "acme", "amount": usd("5")}),
            "provider",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": metronome, "amount": usd("5"), "priority": "1"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": metronome, "amount": usd("5"), "expires_at": "2030-01-01T00:00:00Z"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "GBP"}, "priority": "1"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "GBP"}, "expires_at": "2030-01-01T12:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "expires_at": "9999-12-31T23:59:59-23:00"}),
            "expires_at",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": {"value": "5", "unit": "EUR"}, "direction": "credit"}),
            "amount.unit",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": metronome, "amount": usd("5"), "direction": "credit"}),
            "grant",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": usd("5"), "direction": "sideways"}),
            "direction",
        ),
        // Issue 24, item 12: what the vendors would refuse, refused here first.
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "HUF"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "KWD"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "5", "unit": "XYZ"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": usd("12345678901234567890"), "direction": "debit"}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "metadata": {"a[b]": "x"}}),
            "metadata",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "priority": "1e2"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "expires_at": "0000-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "expires_at": "2030-06-30T23:59:60Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": metronome, "amount": usd("5"), "priority": "1", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": "togai:ACC001", "amount": usd("5"), "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "5", "unit": " "}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": " ", "amount": usd("5")}),
            "customer",
        ),
    ];
    for (n, (route, body, field)) in cases.into_iter().enumerate() {
        let r = post(&h, route, &format!("bad-{n}"), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_request_error", "{body}");
        if !field.is_empty() {
            assert_eq!(r.body["error"]["param"], field, "{body}: {}", r.body);
        }
    }
    // Unsupported where the vendor lacks the operation: a 501 naming it.
    let r = post(
        &h,
        "/v1/credit_grants/sequence:00000000-0000-4000-9000-000000000001/expire",
        "e-1",
        json!({}),
    )
    .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("expire_grants"));
    let r = post(
        &h,
        "/v1/credit_grants",
        "e-2",
        json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": usd("1")}),
    )
    .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"), "{}", r.body);

    // No Idempotency-Key; a bad one; not JSON.
    let grant = json!({"customer": stripe, "amount": usd("5")}).to_string();
    let r = h.post_as("/v1/credit_grants", WRITER_KEY, None, &grant).await;
    assert_eq!((r.status, r.code()), (400, "idempotency_key_required"));
    let r = h
        .post_as("/v1/credit_grants", WRITER_KEY, Some(&"k".repeat(300)), &grant)
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_idempotency_key"));
    let r = h
        .post_as("/v1/credit_grants", WRITER_KEY, Some("j-1"), "{not json")
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"));
    assert_eq!(all_requests(&h).await, 0, "no vendor saw any of it");
}

#[tokio::test]
async fn a_read_only_key_is_refused_before_anything_else() {
    let h = Harness::new().await;
    // Even without an Idempotency-Key and with a body that is not JSON: the scope comes first.
    for (key, body) in [
        (
            Some("k"),
            r#"{"customer":"stripe:cus_1","amount":{"value":"1","unit":"USD"}}"#,
        ),
        (None, "nope"),
    ] {
        for path in [
            "/v1/credit_grants",
            "/v1/credit_ledger_entries",
            "/v1/credit_grants/stripe:credgr_1/void",
        ] {
            let r = h.post_as(path, API_KEY, key, body).await;
            assert_eq!((r.status, r.code()), (403, "write_not_allowed"), "{path}: {}", r.body);
            assert_eq!(r.body["error"]["type"], "permission_error");
        }
    }
    assert_eq!(all_requests(&h).await, 0);
}

#[tokio::test]
async fn providers_say_which_writes_each_vendor_takes() {
    let h = Harness::new().await;
    let r = h.get("/v1/providers").await;
    let caps = |i: usize| {
        let c = &r.body["data"][i]["capabilities"];
        [
            c["create_grants"].as_bool().unwrap(),
            c["void_grants"].as_bool().unwrap(),
            c["expire_grants"].as_bool().unwrap(),
            c["ledger_adjustments"].as_bool().unwrap(),
        ]
    };
    assert_eq!(caps(0), [true, true, true, false], "stripe");
    assert_eq!(caps(1), [true, false, true, true], "metronome");
    assert_eq!(caps(2), [true, true, false, false], "sequence");
    assert_eq!(caps(3), [true, true, false, false], "togai");
    assert_eq!(caps(4), [false, false, false, true], "vayu");
}

/// Each answer a write gives is one its operation documents, with a body its schema takes.
#[tokio::test]
async fn write_answers_are_the_documented_ones() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(2)))
        .up_to_n_times(1)
        .mount(&h.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.stripe)
        .await;
    let document = creditgate::api::openapi_document();
    let operation = &document["paths"]["/v1/credit_grants"]["post"];
    let check = |value: &Value, schema: &Value| {
        let mut root = schema.clone();
        root["components"] = document["components"].clone();
        let validator = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{value}: {errors:?}");
    };
    let grant = json!({"customer": "stripe:cus_1", "amount": {"value": "10.02", "unit": "USD"}, "priority": "5"});
    check(
        &grant,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    );
    let answers = [
        post(&h, "/v1/credit_grants", "d-1", grant.clone()).await,
        post(&h, "/v1/credit_grants", "d-1", grant.clone()).await,
        post(
            &h,
            "/v1/credit_grants",
            "d-1",
            json!({"customer": "stripe:cus_1", "amount": {"value": "1", "unit": "USD"}}),
        )
        .await,
        post(&h, "/v1/credit_grants", "d-2", grant.clone()).await,
        h.post_as("/v1/credit_grants", API_KEY, Some("d-3"), &grant.to_string())
            .await,
        h.post_as("/v1/credit_grants", WRITER_KEY, None, &grant.to_string())
            .await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 409, 502, 403, 400]);
    for r in &answers {
        let answer = &operation["responses"][r.status.to_string()];
        assert!(answer.is_object(), "{} is not documented", r.status);
        check(&r.body, &answer["content"]["application/json"]["schema"]);
        for (name, header) in answer["headers"].as_object().unwrap() {
            if header["required"] == true {
                assert!(r.headers.contains_key(name.as_str()), "{} without {name}", r.status);
            }
        }
    }
}

/// Any body a client may send to a write endpoint gets an answer its operation documents,
/// never a 500, and an answer refusing the request (4xx, 501) means no vendor saw a write.
/// Bodies are mostly well-formed with a few fields off, so that they reach every step:
/// parsing, the checks, the vendor's rules, the vendor call (mocks that accept writes).
#[test]
fn any_write_body_gets_a_documented_answer_and_a_refusal_writes_nothing() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let (runtime, h) = harness_on_runtime(Options::unlimited());
    runtime.block_on(async {
        mount_all_five(&h).await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/credit_grants"))
            .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
            .mount(&h.stripe)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/billing/credit_grants/credgr_0001"))
            .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
            .mount(&h.stripe)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/credit_grants/credgr_0001/void"))
            .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
            .mount(&h.stripe)
            .await;
        Mock::given(method("POST"))
            .and(path("/login"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "tok"})))
            .mount(&h.vayu)
            .await;
        Mock::given(method("POST"))
            .and(path("/credits/grant"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&h.vayu)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/contracts/customerCredits/create"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"data": {"id": "00000000-0000-4000-8000-000000000001"}})),
            )
            .mount(&h.metronome)
            .await;
    });
    let document = creditgate::api::openapi_document();
    let metronome = format!("metronome:{METRONOME_CUSTOMER}");
    let customers = prop_oneof![
        4 => Just(json!("stripe:cus_1")),
        2 => Just(json!(metronome.clone())),
        2 => Just(json!(format!("sequence:{SEQUENCE_CUSTOMER}"))),
        2 => Just(json!("togai:ACC001")),
        3 => Just(json!(format!("vayu:{VAYU_CUSTOMER}"))),
        1 => Just(json!("acme")),
        1 => Just(json!("nobody")),
        1 => Just(json!("stripe:")),
        1 => Just(json!(5)),
        1 => "[ -~]{0,12}".prop_map(Value::from),
    ];
    let values = prop_oneof![
        6 => Just(json!("12.50")),
        3 => Just(json!("1")),
        1 => Just(json!("0.001")),
        1 => Just(json!("-3")),
        1 => Just(json!("1e3")),
        1 => Just(json!("")),
        1 => Just(json!(7.5)),
        1 => "[0-9.]{1,8}".prop_map(Value::from),
    ];
    let units = prop_oneof![6 => Just(json!("USD")), 1 => Just(json!("jpy")), 1 => Just(json!("GBP")), 1 => Just(json!("credits")), 1 => Just(json!(""))];
    let times = prop_oneof![
        Just(json!("2026-01-01T00:00:00Z")),
        Just(json!("2031-01-01T00:00:00Z")),
        Just(json!("2027-06-01T12:30:00Z")),
        Just(json!("yesterday")),
    ];
    let rare = |s: BoxedStrategy<Value>| proptest::option::weighted(0.3, s).boxed();
    let fields = (
        customers,
        (values, units).prop_map(|(v, u)| json!({"value": v, "unit": u})),
        rare(prop_oneof![Just(json!("50")), Just(json!("0.5")), Just(json!("101"))].boxed()),
        rare(times.clone().boxed()),
        rare(times.boxed()),
        prop_oneof![5 => Just(json!("credit")), 3 => Just(json!("debit")), 1 => Just(json!("up"))],
        rare(
            prop_oneof![
                Just(json!(metronome.replace("13117714", "00000000"))),
                Just(json!("stripe:credgr_1"))
            ]
            .boxed(),
        ),
        proptest::bool::weighted(0.1),
    );
    let cases = (0..3usize, fields, proptest::bool::weighted(0.9)).prop_map(
        |(route, (customer, amount, priority, effective, expires, direction, grant, surprise), with_key)| {
            let mut body = serde_json::Map::new();
            let (template, url) = match route {
                0 => {
                    body.insert("customer".into(), customer);
                    body.insert("amount".into(), amount);
                    for (key, value) in [
                        ("priority", priority),
                        ("effective_at", effective),
                        ("expires_at", expires),
                    ] {
                        if let Some(v) = value {
                            body.insert(key.into(), v);
                        }
                    }
                    ("/v1/credit_grants", "/v1/credit_grants")
                }
                1 => {
                    body.insert("customer".into(), customer);
                    body.insert("amount".into(), amount);
                    body.insert("direction".into(), direction);
                    if let Some(g) = grant {
                        body.insert("grant".into(), g);
                    }
                    ("/v1/credit_ledger_entries", "/v1/credit_ledger_entries")
                }
                _ => {
                    if priority.is_some() {
                        body.insert("customer".into(), customer);
                    }
                    (
                        "/v1/credit_grants/{id}/void",
                        "/v1/credit_grants/stripe:credgr_0001/void",
                    )
                }
            };
            if surprise {
                body.insert("surprise".into(), json!(true));
            }
            (template, url, Value::Object(body), with_key)
        },
    );
    let writes_seen = || {
        runtime.block_on(async {
            let mut n = 0;
            for server in [&h.stripe, &h.metronome, &h.sequence, &h.togai, &h.vayu] {
                let requests = server.received_requests().await.unwrap_or_default();
                n += requests
                    .iter()
                    .filter(|r| {
                        r.method.as_str() != "GET" && !r.url.path().ends_with("/list") && r.url.path() != "/login"
                    })
                    .count();
            }
            n
        })
    };
    let counter = std::cell::Cell::new(0);
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&cases, |(template, url, body, with_key)| {
            counter.set(counter.get() + 1);
            let key = with_key.then(|| format!("prop-{}", counter.get()));
            let before = writes_seen();
            let r = runtime.block_on(h.post_as(url, WRITER_KEY, key.as_deref(), &body.to_string()));
            *statuses.borrow_mut().entry(r.status).or_default() += 1;
            let operation = &document["paths"][template]["post"];
            let answer = &operation["responses"][r.status.to_string()];
            prop_assert!(
                answer.is_object(),
                "{url} {body}: undocumented {}: {}",
                r.status,
                r.body
            );
            prop_assert!(r.status != 500, "{url} {body}: {}", r.body);
            let mut root = answer["content"]["application/json"]["schema"].clone();
            root["components"] = document["components"].clone();
            let validator = jsonschema::validator_for(&root).unwrap();
            prop_assert!(
                validator.is_valid(&r.body),
                "{url} {body}: {} breaks its schema: {}",
                r.status,
                r.body
            );
            if (400..500).contains(&r.status) && r.status != 404 || r.status == 501 {
                prop_assert_eq!(
                    writes_seen(),
                    before,
                    "{} {}: refused with {} after a vendor write",
                    url,
                    body,
                    r.status
                );
            }
            Ok(())
        })
        .unwrap();
    // The cases reached the vendors, not only the checks.
    let statuses = statuses.into_inner();
    assert!(statuses.get(&200).copied().unwrap_or(0) >= 50, "{statuses:?}");
    assert!(statuses.get(&400).copied().unwrap_or(0) >= 30, "{statuses:?}");
}

/// A write the vendor accepted is never taken for one that did not happen, even when its
/// answer cannot be read: the key is kept as an unknown outcome and the retry finds the
/// write instead of repeating it.
#[tokio::test]
async fn an_accepted_write_whose_answer_cannot_be_read_is_an_unknown_outcome() {
    let h = Harness::with(settling_quickly()).await;
    Mock::given(method("POST"))
        .and(path("/api/credits"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"unexpected": true})))
        .mount(&h.sequence)
        .await;
    let marker = format!("[{}]", vendor_key("a-1"));
    Mock::given(method("GET"))
        .and(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/grants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"id": "00000000-0000-4000-9000-000000000004", "name": format!("Credits {marker}"), "grantAmount": 3,
             "balance": 3, "issueDate": "2026-01-01"}]})))
        .mount(&h.sequence)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&h.sequence)
        .await;
    let grant = json!({"customer": format!("sequence:{SEQUENCE_CUSTOMER}"), "amount": {"value": "3", "unit": "GBP"}});
    let first = post(&h, "/v1/credit_grants", "a-1", grant.clone()).await;
    assert_eq!(
        (first.status, first.code()),
        (502, "upstream_outcome_unknown"),
        "{}",
        first.body
    );
    settle(&h, "/v1/credit_grants", "a-1", &grant.to_string()).await;
    let second = post(&h, "/v1/credit_grants", "a-1", grant).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["id"], "sequence:00000000-0000-4000-9000-000000000004");
    let posts = h.sequence.received_requests().await.unwrap();
    assert_eq!(posts.iter().filter(|r| r.method.as_str() == "POST").count(), 1);
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

/// A client that hangs up at any instant of its write never strands the key: whatever
/// point the request was dropped at, the same request afterwards is answered (replayed or
/// written), never `409 idempotency_key_in_use` for good, and each key writes at most once.
#[tokio::test]
async fn a_client_hanging_up_at_any_instant_never_strands_its_key() {
    use std::future::Future;
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(3)))
        .mount(&h.stripe)
        .await;
    let grant = json!({"customer": "stripe:cus_1", "amount": {"value": "5.00", "unit": "USD"}}).to_string();
    let request = |key: &str| {
        axum::http::Request::post("/v1/credit_grants")
            .header("authorization", format!("Bearer {WRITER_KEY}"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(axum::body::Body::from(grant.clone()))
            .unwrap()
    };
    // The request is polled `polls` times (the runtime running other tasks in between),
    // then dropped, as hyper drops a handler whose client closed the connection.
    for polls in 1..=40 {
        let mut call = Box::pin(tower::ServiceExt::oneshot(
            h.api.app.clone(),
            request(&format!("hang-{polls}")),
        ));
        for _ in 0..polls {
            let waker = std::task::Waker::noop();
            if call
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
                .is_ready()
            {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    // Whatever the dropped requests had started runs to its end.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for polls in 1..=40 {
        let again = h.api.send(request(&format!("hang-{polls}"))).await;
        assert_eq!(again.status, 200, "dropped after {polls} polls: {}", again.body);
    }
    let posts = h.stripe_requests().await;
    let keys: std::collections::BTreeSet<_> = posts.iter().map(|r| r.headers["idempotency-key"].clone()).collect();
    assert_eq!(keys.len(), posts.len(), "no key was sent twice");
}

/// A write the vendor refused (a 4xx) frees the client's key, and the corrected retry under
/// it reaches the vendor as a new request: with a vendor-side key of its own, since Stripe
/// keeps the answer of a request that started executing under its key.
#[tokio::test]
async fn a_retry_after_a_refusal_reaches_the_vendor_under_a_new_vendor_key() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "resource_missing", "param": "customer",
            "message": "No such customer: 'cus_1'"}})))
        .up_to_n_times(1)
        .mount(&h.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(4)))
        .mount(&h.stripe)
        .await;
    let grant = json!({"customer": "stripe:cus_1", "amount": {"value": "5.00", "unit": "USD"}});
    let refused = post(&h, "/v1/credit_grants", "fix-1", grant.clone()).await;
    assert!(
        (400..500).contains(&refused.status) || refused.status == 502,
        "{}",
        refused.body
    );
    assert_ne!(refused.code(), "upstream_outcome_unknown");
    // The same request again (the customer has been made meanwhile), then a corrected one.
    let again = post(&h, "/v1/credit_grants", "fix-1", grant.clone()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let sent: Vec<String> = h
        .stripe_requests()
        .await
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, [vendor_key("fix-1"), vendor_key_of_generation("fix-1", 1)]);
    let replay = post(&h, "/v1/credit_grants", "fix-1", grant).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
}

/// Ending a grant the vendor already ended answers the grant as it is, whichever way it
/// ended and in whatever order: expiring a voided Stripe grant sends nothing, and the
/// second of two voids (both read the grant before either was sent) is refused by Stripe
/// and answered with the voided grant.
#[tokio::test]
async fn ending_a_grant_already_ended_answers_it_as_it_is() {
    let h = Harness::new().await;
    let mut voided = stripe_grant(1);
    voided["voided_at"] = json!(1726619500);
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants/credgr_0002"))
        .respond_with(ResponseTemplate::new(200).set_body_json({
            let mut g = stripe_grant(2);
            g["voided_at"] = json!(1726619500);
            g
        }))
        .mount(&h.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_summary()))
        .mount(&h.stripe)
        .await;
    let expired = h
        .post_as(
            "/v1/credit_grants/stripe:credgr_0002/expire",
            WRITER_KEY,
            Some("end-1"),
            "",
        )
        .await;
    assert_eq!(expired.status, 200, "{}", expired.body);
    assert_eq!(expired.body["status"], "voided");
    assert!(h.stripe_requests().await.iter().all(|r| r.method.as_str() == "GET"));

    // Two voids at once: both read the grant live, the second void is refused.
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants/credgr_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
        .up_to_n_times(2)
        .mount(&h.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants/credgr_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(voided.clone()))
        .mount(&h.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants/credgr_0001/void"))
        .respond_with(ResponseTemplate::new(200).set_body_json(voided))
        .up_to_n_times(1)
        .mount(&h.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants/credgr_0001/void"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error",
            "message": "The credit grant credgr_0001 has already been voided or expired."}})))
        .mount(&h.stripe)
        .await;
    let path_ = "/v1/credit_grants/stripe:credgr_0001/void";
    let (a, b) = tokio::join!(
        h.post_as(path_, WRITER_KEY, Some("void-a"), ""),
        h.post_as(path_, WRITER_KEY, Some("void-b"), "")
    );
    for r in [&a, &b] {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "voided");
    }
}
