//! Stripe adapter against wiremock: exact requests and cursor sequences, the spec's
//! fixtures, money edge cases, and every vendor failure mapped to the contract.

mod common;
#[path = "fidelity/stripe.rs"]
mod fidelity_endpoints;

/// Stripe's conformance tests against its simulator (`tests/common/conformance.rs`); a new
/// grant needs nothing beyond the common fields.
const CONFORMANCE: common::conformance::Conformance = common::conformance::Conformance {
    vendor: creditgate_sim::Vendor::Stripe,
    grant_extra: || serde_json::Value::Null,
    void_deletes: false,
    manual_entry_type: None,
    fidelity: fidelity_endpoints::endpoints,
};
crate::conformance_tests!(CONFORMANCE);

use common::stripe::*;
use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{any, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn starting_after_sequence(requests: &[wiremock::Request]) -> Vec<Option<String>> {
    requests.iter().map(|r| query(r, "starting_after")).collect()
}

#[tokio::test]
async fn grants_walk_sends_the_exact_cursor_sequence() {
    let h = Harness::with(Options {
        stripe_page_size: Some(3),
        ..Options::new()
    })
    .await;
    mount_grants(&h, (0..7).map(stripe_grant).collect()).await;

    let pages = h.walk("/v1/credit_grants?customer=stripe:cus_1&limit=2").await;
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    let expected: Vec<String> = (0..7).map(|i| format!("stripe:credgr_{i:04}")).collect();
    assert_eq!(all, expected);
    assert_eq!(pages.len(), 4);

    let requests = h.stripe_requests().await;
    assert_eq!(
        starting_after_sequence(&requests),
        vec![
            None,
            Some("credgr_0001".into()),
            Some("credgr_0003".into()),
            Some("credgr_0005".into())
        ]
    );
    for r in &requests {
        assert_eq!(query(r, "customer").as_deref(), Some("cus_1"));
        assert_eq!(query(r, "limit").as_deref(), Some("3"));
        assert!(r.headers.get("x-request-id").is_some(), "request id forwarded");
    }
}

#[tokio::test]
async fn a_page_of_500_is_filled_from_pages_of_100() {
    let h = Harness::new().await;
    mount_grants(&h, (0..250).map(stripe_grant).collect()).await;
    let page = h.get("/v1/credit_grants?customer=stripe:cus_1&limit=500").await;
    assert_eq!(page.status, 200);
    assert_eq!(ids(&page).len(), 250);
    assert_eq!(page.body["has_more"], false);
    assert_eq!(page.body["next_cursor"], Value::Null);
    let requests = h.stripe_requests().await;
    assert_eq!(
        starting_after_sequence(&requests),
        vec![None, Some("credgr_0099".into()), Some("credgr_0199".into())]
    );
    assert!(requests.iter().all(|r| query(r, "limit").as_deref() == Some("100")));
}

#[tokio::test]
async fn previous_cursor_pages_backwards_with_ending_before() {
    let h = Harness::with(Options {
        stripe_page_size: Some(3),
        ..Options::new()
    })
    .await;
    mount_grants(&h, (0..7).map(stripe_grant).collect()).await;
    let base = "/v1/credit_grants?customer=stripe:cus_1&limit=2";
    let pages = h.walk(base).await;
    assert!(pages[0].body.as_object().unwrap().contains_key("previous_cursor"));
    assert_eq!(pages[0].body["previous_cursor"], Value::Null);

    let mut back = Vec::new();
    let mut previous = pages.last().unwrap().body["previous_cursor"]
        .as_str()
        .map(str::to_owned);
    while let Some(cursor) = previous {
        let page = h.get(&format!("{base}&cursor={cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body["has_more"], true, "coming back there is always more after");
        back.push(ids(&page));
        previous = page.body["previous_cursor"].as_str().map(str::to_owned);
    }
    let expect = |v: &[usize]| v.iter().map(|i| format!("stripe:credgr_{i:04}")).collect::<Vec<_>>();
    assert_eq!(back, vec![expect(&[4, 5]), expect(&[2, 3]), expect(&[0, 1])]);
    let sent: Vec<String> = h
        .stripe_requests()
        .await
        .iter()
        .filter_map(|r| query(r, "ending_before"))
        .collect();
    assert_eq!(sent, vec!["credgr_0006", "credgr_0004", "credgr_0002"]);
}

#[tokio::test]
async fn docs_example_transactions_map_exactly() {
    let h = Harness::new().await;
    let example = fixture("stripe/credit_balance_transactions.docs-example.json");
    let mut grant = stripe_grant(1);
    grant["id"] = json!("credgr_test_61R9ZkIkIzLSp0xze41L6nFOS1ekDTPE");
    mount_body(
        &h,
        "/v1/billing/credit_grants/credgr_test_61R9ZkIkIzLSp0xze41L6nFOS1ekDTPE",
        grant,
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_transactions"))
        .and(query_param("customer", "cus_1"))
        .and(query_param(
            "credit_grant",
            "credgr_test_61R9ZkIkIzLSp0xze41L6nFOS1ekDTPE",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(example))
        .expect(1)
        .mount(&h.stripe)
        .await;
    let page = h
        .get(
            "/v1/credit_ledger_entries?customer=stripe:cus_1&grant=stripe:credgr_test_61R9ZkIkIzLSp0xze41L6nFOS1ekDTPE",
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let debit = &page.body["data"][0];
    assert_eq!(debit["object"], "credit_ledger_entry");
    assert_eq!(debit["id"], "stripe:cbtxn_test_61R9ZljjaFmdidb6e41L6nFOS1ekD9Ue");
    assert_eq!(debit["provider"], "stripe");
    assert_eq!(debit["provider_id"], "cbtxn_test_61R9ZljjaFmdidb6e41L6nFOS1ekD9Ue");
    assert_eq!(debit["customer"], "stripe:cus_1");
    assert_eq!(debit["grant"], "stripe:credgr_test_61R9ZkIkIzLSp0xze41L6nFOS1ekDTPE");
    assert_eq!(debit["type"], "debit");
    assert_eq!(debit["provider_type"], "debit.credits_applied");
    assert_eq!(
        debit["amount"],
        json!({"value": "-10.00", "unit": "USD", "unit_type": "currency"})
    );
    assert_eq!(debit["balance_after"], Value::Null);
    assert_eq!(debit["invoice_id"], "in_1Q0BoLL6nFOS1ekDbwBM5ER1");
    assert_eq!(debit["effective_at"], "2024-10-18T00:29:11Z");
    assert_eq!(debit["created_at"], "2024-09-18T00:32:04Z");
    let credit = &page.body["data"][1];
    assert_eq!(credit["type"], "grant");
    assert_eq!(credit["provider_type"], "credit.credits_granted");
    assert_eq!(credit["amount"]["value"], "10.00");
    assert!(credit.get("raw").is_none(), "raw only with include=raw");
}

#[tokio::test]
async fn stripe_mock_fixtures_parse_and_map() {
    let h = Harness::new().await;
    let mut grant = fixture("stripe/credit_grant.stripe-mock.json");
    grant["id"] = json!("credgr_obj123");
    mount_body(
        &h,
        "/v1/billing/credit_grants",
        json!({"object": "list", "url": "/v1/billing/credit_grants", "has_more": false, "data": [grant]}),
    )
    .await;
    let mut txn = fixture("stripe/credit_balance_transaction.stripe-mock.json");
    txn["id"] = json!("cbtxn_obj123");
    mount_body(
        &h,
        "/v1/billing/credit_balance_transactions",
        json!({"object": "list", "url": "/v1/billing/credit_balance_transactions", "has_more": false, "data": [txn]}),
    )
    .await;
    mount_body(
        &h,
        "/v1/billing/credit_balance_summary",
        fixture("stripe/credit_balance_summary.stripe-mock.json"),
    )
    .await;

    let grants = h.get("/v1/credit_grants?customer=stripe:cus_1&include=raw").await;
    assert_eq!(grants.status, 200, "{}", grants.body);
    let g = &grants.body["data"][0];
    assert_eq!(g["customer"], "stripe:obj_123", "expanded customer object");
    assert_eq!(
        g["amount"],
        json!({"value": "1119727.21", "unit": "CURRENCY", "unit_type": "currency"})
    );
    assert_eq!(g["category"], "paid");
    assert_eq!(g["priority"], "50");
    assert_eq!(g["status"], "active");
    assert_eq!(g["balance"], Value::Null);
    assert_eq!(g["metadata"], json!({"undefined": "metadata"}));
    assert_eq!(
        g["raw"]["applicability_config"]["scope"]["price_type"], "metered",
        "raw keeps the vendor object"
    );

    let ledger = h.get("/v1/credit_ledger_entries?customer=stripe:cus_1").await;
    assert_eq!(ledger.status, 200, "{}", ledger.body);
    let t = &ledger.body["data"][0];
    assert_eq!(t["type"], "unknown", "type null with both sides is kept as unknown");
    assert_eq!(t["provider_type"], "null");
    assert_eq!(t["amount"]["value"], "0.00");

    let balances = h.get("/v1/credit_balances?customer=stripe:cus_1").await;
    assert_eq!(balances.status, 200, "{}", balances.body);
    assert_eq!(balances.body["data"][0]["available"]["value"], "1119727.21");
    assert_eq!(balances.body["data"][0]["provider"], "stripe");
}

#[tokio::test]
async fn one_grant_with_balance_and_ledger() {
    let h = Harness::new().await;
    mount_body(&h, "/v1/billing/credit_grants/credgr_0001", stripe_grant(1)).await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_summary"))
        .and(query_param("customer", "cus_1"))
        .and(query_param("filter[type]", "credit_grant"))
        .and(query_param("filter[credit_grant]", "credgr_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "billing.credit_balance_summary", "customer": "cus_1", "customer_account": null, "livemode": false,
            "balances": [{"available_balance": {"monetary": {"currency": "usd", "value": 0}, "type": "monetary"},
                          "ledger_balance": {"monetary": {"currency": "usd", "value": 0}, "type": "monetary"}}]})))
        .expect(1)
        .mount(&h.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_transactions"))
        .and(query_param("credit_grant", "credgr_0001"))
        .and(query_param("customer", "cus_1"))
        .respond_with(StripeList {
            items: (0..5).map(stripe_txn).collect(),
            url: "/v1/billing/credit_balance_transactions",
        })
        .mount(&h.stripe)
        .await;

    let grant = h.get("/v1/credit_grants/stripe:credgr_0001?include=ledger").await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    assert_eq!(grant.body["object"], "credit_grant");
    assert_eq!(grant.body["amount"]["value"], "10.01");
    assert_eq!(grant.body["balance"]["value"], "0.00");
    assert_eq!(
        grant.body["status"], "active",
        "a grant's status does not depend on the balance only this endpoint fetches"
    );
    assert_eq!(grant.body["ledger"].as_array().unwrap().len(), 5);
    assert_eq!(grant.body["ledger"][4]["amount"]["value"], "-1.04");
}

#[tokio::test]
async fn a_missing_grant_is_404() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_grants/credgr_missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture("stripe/error.no-such-grant.json")))
        .expect(1)
        .mount(&h.stripe)
        .await;
    let r = h.get("/v1/credit_grants/stripe:credgr_missing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "grant_not_found");
    assert_eq!(r.body["error"]["type"], "not_found_error");
    assert_eq!(r.body["error"]["provider"], "stripe");
}

#[tokio::test]
async fn balances_use_the_applicability_scope_filter() {
    let h = Harness::new().await;
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_summary"))
        .and(query_param("customer", "cus_1"))
        .and(query_param("filter[type]", "applicability_scope"))
        .and(query_param("filter[applicability_scope][price_type]", "metered"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "billing.credit_balance_summary", "customer": "cus_1", "customer_account": null, "livemode": false,
            "balances": [
                {"available_balance": {"monetary": {"currency": "usd", "value": 1234}, "type": "monetary"},
                 "ledger_balance": {"monetary": {"currency": "usd", "value": 1500}, "type": "monetary"}},
                {"available_balance": {"monetary": {"currency": "krw", "value": 5000}, "type": "monetary"},
                 "ledger_balance": {"monetary": {"currency": "krw", "value": 5000}, "type": "monetary"}}]})))
        .expect(1)
        .mount(&h.stripe)
        .await;
    let r = h.get("/v1/credit_balances?customer=stripe:cus_1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "list");
    assert_eq!(
        r.body["data"][0]["available"],
        json!({"value": "12.34", "unit": "USD", "unit_type": "currency"})
    );
    assert_eq!(r.body["data"][0]["unit"], "USD");
    assert_eq!(r.body["data"][1]["available"]["value"], "5000");
}

#[tokio::test]
async fn vendor_failures_map_to_contract_errors() {
    let cases: Vec<(ResponseTemplate, u16, &str, &str)> = vec![
        (ResponseTemplate::new(401).set_body_json(fixture("stripe/error.invalid-api-key.json")), 502, "upstream_auth_failed", "credentials"),
        (ResponseTemplate::new(403).set_body_json(json!({"error": {"type": "invalid_request_error"}})), 502, "upstream_auth_failed", "credentials"),
        (ResponseTemplate::new(500).set_body_string("oops"), 502, "upstream_server_error", "HTTP 500"),
        (ResponseTemplate::new(503).set_body_string(""), 502, "upstream_server_error", "HTTP 503"),
        (ResponseTemplate::new(429).insert_header("retry-after", "7").set_body_json(fixture("stripe/error.rate-limit.json")), 503, "upstream_rate_limited", "rate limiting"),
        (ResponseTemplate::new(200).set_body_raw("not json{", "application/json"), 502, "upstream_invalid_response", "invalid response"),
        (ResponseTemplate::new(200).set_body_json(json!({"data": "nope", "has_more": false})), 502, "upstream_invalid_response", "data"),
        (ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": 5}], "has_more": false})), 502, "upstream_invalid_response", "data[0]"),
        (ResponseTemplate::new(200).set_body_raw("<html>hi</html>", "text/html"), 502, "upstream_invalid_response", "text/html"),
        (ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": [], "has_more": true})), 502, "upstream_invalid_response", "no cursor"),
        (ResponseTemplate::new(400).set_body_json(fixture("stripe/error.no-such-customer.json")), 404, "customer_not_found", "No such customer"),
        (ResponseTemplate::new(400).set_body_json(json!({"error": {"type": "invalid_request_error", "code": "parameter_unknown", "message": "Received unknown parameter: foo"}})), 502, "upstream_request_rejected", "unknown parameter"),
    ];
    for (template, status, code, says) in cases {
        let h = Harness::new().await;
        Mock::given(any()).respond_with(template).mount(&h.stripe).await;
        let r = h
            .get_as(
                "/v1/credit_grants?customer=stripe:cus_1",
                Some(API_KEY),
                &[("x-request-id", "req-fault-1")],
            )
            .await;
        assert_eq!(r.status, status, "{code}: {}", r.body);
        assert_eq!(r.code(), code, "{}", r.body);
        assert_eq!(r.body["error"]["provider"], "stripe");
        assert_eq!(r.body["error"]["request_id"], "req-fault-1");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{code}: {message}");
        assert!(
            !r.body.to_string().contains("sk_test"),
            "no secret or key fragment in errors: {}",
            r.body
        );
        if code == "upstream_rate_limited" {
            assert_eq!(r.headers.get("retry-after").unwrap(), "7");
        }
    }
}

#[tokio::test]
async fn an_empty_list_is_one_empty_page() {
    let h = Harness::new().await;
    mount_grants(&h, Vec::new()).await;
    let r = h.get("/v1/credit_grants?customer=stripe:cus_1").await;
    assert_eq!(
        r.body,
        json!({"object": "list", "data": [], "has_more": false, "next_cursor": null, "previous_cursor": null})
    );
}

#[tokio::test]
async fn account_wide_grants_without_a_customer() {
    let h = Harness::with(Options {
        stripe_page_size: Some(2),
        ..Options::new()
    })
    .await;
    mount_grants(&h, (0..3).map(stripe_grant).collect()).await;
    let pages = h.walk("/v1/credit_grants?provider=stripe&limit=2").await;
    assert_eq!(pages.iter().map(|p| ids(p).len()).sum::<usize>(), 3);
    assert!(h.stripe_requests().await.iter().all(|r| query(r, "customer").is_none()));
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let h = Harness::new().await;
    let debug = format!("{:?}", h.gateway);
    assert!(!debug.contains(STRIPE_SECRET));
    assert!(!debug.contains(VAYU_REFRESH));
    assert!(!debug.contains("cursor-secret"));
    assert!(debug.contains("Secret(****)"));
}
