//! `schemas/openapi.json` is the generated document, and its schemas describe exactly the
//! fields the serializers emit. Regenerate with `cargo run -- openapi > schemas/openapi.json`.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

#[test]
fn checked_in_openapi_matches_the_code() {
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/schemas/openapi.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    assert!(
        checked_in == creditgate::api::openapi_document(),
        "schemas/openapi.json is stale: run `cargo run -- openapi > schemas/openapi.json`"
    );
}

fn schema(name: &str) -> Value {
    creditgate::api::openapi_document()["components"]["schemas"][name].clone()
}

/// Every key the object has is a documented property, and every required property is there.
fn assert_matches_schema(name: &str, object: &Value) {
    let schema = schema(name);
    let documented: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let present: BTreeSet<&str> = object.as_object().unwrap().keys().map(String::as_str).collect();
    let undocumented: Vec<_> = present.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "{name}: fields not in the OpenAPI schema: {undocumented:?}"
    );
    for required in schema["required"].as_array().unwrap() {
        assert!(
            present.contains(required.as_str().unwrap()),
            "{name}: required `{required}` missing from {object}"
        );
    }
}

#[tokio::test]
async fn responses_have_exactly_the_documented_fields() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_grants/credgr_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stripe/credit_balance_summary.stripe-mock.json")),
        )
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_balance_transactions"))
        .respond_with(StripeList {
            items: vec![stripe_txn(0)],
            url: "/v1/billing/credit_balance_transactions",
        })
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_grants"))
        .respond_with(StripeList {
            items: vec![stripe_grant(0)],
            url: "/v1/billing/credit_grants",
        })
        .mount(&h.stripe)
        .await;

    let grant = h.get("/v1/credit_grants/stripe:credgr_0001?include=ledger,raw").await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    assert_matches_schema("CreditGrant", &grant.body);
    assert_matches_schema("Money", &grant.body["amount"]);
    assert_matches_schema("CreditLedgerEntry", &grant.body["ledger"][0]);

    let list = h.get("/v1/credit_grants?customer=acme").await;
    assert_matches_schema("CreditGrantList", &list.body);
    assert_matches_schema("Skipped", &list.body["skipped"][0]);
    let entries = h
        .get("/v1/credit_ledger_entries?customer=stripe:cus_1&include=raw")
        .await;
    assert_matches_schema("CreditLedgerEntryList", &entries.body);
    assert_matches_schema("CreditLedgerEntry", &entries.body["data"][0]);
    let balances = h.get("/v1/credit_balances?customer=stripe:cus_1").await;
    assert_matches_schema("CreditBalanceList", &balances.body);
    assert_matches_schema("CreditBalance", &balances.body["data"][0]);
    let providers = h.get("/v1/providers").await;
    assert_matches_schema("ProviderList", &providers.body);
    assert_matches_schema("ProviderInfo", &providers.body["data"][0]);
    let capabilities = &schema("ProviderInfo");
    assert!(capabilities["properties"]["capabilities"].is_object());
    let error = h.get("/v1/credit_grants?customer=stripe:cus_1&limit=0").await;
    assert_matches_schema("Error", &error.body);
    let detail = &schema("Error")["properties"]["error"];
    let documented: BTreeSet<&str> = detail["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in error.body["error"].as_object().unwrap().keys() {
        assert!(documented.contains(key.as_str()), "error.{key} undocumented");
    }
    assert_eq!(json!(documented.len()), json!(6));
}
