//! Metronome adapter against wiremock: the JSON-body `next_page` paging (25 a page), the
//! spec's example, every ledger entry type, cents vs custom credit types, balances.

mod common;
#[path = "fidelity/metronome.rs"]
mod fidelity_endpoints;

/// Metronome's conformance tests against its simulator (`tests/common/conformance.rs`); a new
/// grant needs a priority (its credits are applied by priority).
const CONFORMANCE: common::conformance::Conformance = common::conformance::Conformance {
    vendor: creditgate_sim::Vendor::Metronome,
    grant_extra: || serde_json::json!({"priority": "0.5"}),
    void_deletes: false,
    manual_entry_type: Some("CREDIT_MANUAL"),
    fidelity: fidelity_endpoints::endpoints,
};
crate::conformance_tests!(CONFORMANCE);

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

const LIST: &str = "/v1/contracts/customerCredits/list";

async fn mount_credits(h: &Harness, credits: Vec<Value>) {
    Mock::given(method("POST"))
        .and(path(LIST))
        .and(header("authorization", format!("Bearer {METRONOME_KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(MetronomeCredits { credits })
        .mount(&h.metronome)
        .await;
}

fn bodies(requests: &[Request]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_page_of_500_takes_20_calls_of_25_with_the_exact_tokens() {
    let h = Harness::new().await;
    mount_credits(&h, (0..520).map(metronome_credit).collect()).await;
    let page = h
        .get(&format!(
            "/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}&limit=500"
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(ids(&page).len(), 500);
    assert_eq!(page.body["has_more"], true);
    let sent = bodies(&h.metronome.received_requests().await.unwrap());
    assert_eq!(sent.len(), 20);
    let tokens: Vec<Value> = sent
        .iter()
        .map(|b| b.get("next_page").cloned().unwrap_or(Value::Null))
        .collect();
    let expected: Vec<Value> = (0..20)
        .map(|k| {
            if k == 0 {
                Value::Null
            } else {
                json!(format!("p{}", 25 * k))
            }
        })
        .collect();
    assert_eq!(tokens, expected);
    for body in &sent {
        assert_eq!(body["customer_id"], METRONOME_CUSTOMER);
        assert_eq!(body["limit"], 25);
        assert_eq!(body["include_balance"], true);
    }
    // The rest of the walk picks up at p500.
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = h
        .get(&format!(
            "/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}&limit=500&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids(&rest).len(), 20);
    assert_eq!(rest.body["has_more"], false);
}

#[tokio::test]
async fn walks_with_any_limit_see_every_credit_once() {
    let h = Harness::with(Options {
        metronome_page_size: Some(4),
        ..Options::new()
    })
    .await;
    mount_credits(&h, (0..11).map(metronome_credit).collect()).await;
    let expected: Vec<String> = (0..11)
        .map(|i| format!("metronome:00000000-0000-4000-8000-{i:012}"))
        .collect();
    for limit in [1, 3, 4, 5, 11, 500] {
        let pages = h
            .walk(&format!(
                "/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}&limit={limit}"
            ))
            .await;
        assert_eq!(
            pages.iter().flat_map(ids).collect::<Vec<_>>(),
            expected,
            "limit {limit}"
        );
    }
}

#[tokio::test]
async fn the_spec_example_maps() {
    let h = Harness::new().await;
    Mock::given(path(LIST))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("metronome/credits.spec-example.json")))
        .mount(&h.metronome)
        .await;
    let grants = h
        .get(&format!("/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}"))
        .await;
    assert_eq!(grants.status, 200, "{}", grants.body);
    let g = &grants.body["data"][0];
    assert_eq!(g["id"], "metronome:fa411f5b-fb85-4755-9d4d-530717be083c");
    assert_eq!(g["customer"], format!("metronome:{METRONOME_CUSTOMER}"));
    assert_eq!(g["name"], "My test credit");
    assert_eq!(
        g["amount"],
        json!({"value": "100000.00", "unit": "USD", "unit_type": "currency"}),
        "USD (cents)"
    );
    assert_eq!(g["effective_at"], "2020-02-01T00:00:00Z");
    assert_eq!(g["expires_at"], "2021-02-01T00:00:00Z");
    assert_eq!(g["status"], "expired");
    assert_eq!(g["priority"], "100");
    assert_eq!(g["metadata"]["product_name"], "My product A");
    assert_eq!(g["metadata"]["rate_type"], "LIST_RATE");

    let ledger = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=metronome:{METRONOME_CUSTOMER}"
        ))
        .await;
    assert_eq!(ledger.status, 200, "{}", ledger.body);
    let e = &ledger.body["data"][0];
    assert_eq!(e["id"], "metronome:fa411f5b-fb85-4755-9d4d-530717be083c.0");
    assert_eq!(e["grant"], "metronome:fa411f5b-fb85-4755-9d4d-530717be083c");
    assert_eq!(e["type"], "debit");
    assert_eq!(e["provider_type"], "CREDIT_AUTOMATED_INVOICE_DEDUCTION");
    assert_eq!(
        e["amount"]["value"], "-100000.00",
        "a deduction lowers the balance even written positive"
    );
    assert_eq!(e["invoice_id"], "525b9759-7bbd-4a05-aab1-d7c43c976b57");
    assert_eq!(e["effective_at"], "2020-03-01T00:00:00Z");
}

#[tokio::test]
async fn every_ledger_type_units_and_exact_cents() {
    let h = Harness::new().await;
    Mock::given(path(LIST))
        .and(body_partial_json(json!({"include_ledgers": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("metronome/credits.edge-cases.json")))
        .mount(&h.metronome)
        .await;
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=metronome:{METRONOME_CUSTOMER}&limit=500"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows: Vec<(String, String, String, String)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap().to_owned();
            (
                s(&e["provider_type"]),
                s(&e["type"]),
                s(&e["amount"]["value"]),
                s(&e["amount"]["unit"]),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned());
    assert_eq!(
        rows,
        vec![
            row("CREDIT_SEGMENT_START", "grant", "500.00", "USD"),
            row("CREDIT_AUTOMATED_INVOICE_DEDUCTION", "debit", "-12.5025", "USD"),
            row("CREDIT_EXPIRATION", "expiration", "-1.00", "USD"),
            row("CREDIT_CANCELED", "void", "-3.00", "USD"),
            row("CREDIT_CREDITED", "adjustment", "0.75", "USD"),
            row("CREDIT_MANUAL", "adjustment", "-0.20", "USD"),
            row("CREDIT_SEAT_BASED_ADJUSTMENT", "adjustment", "-0.10", "USD"),
            row("CREDIT_ROLLOVER", "rollover", "-0.05", "USD"),
            row("CREDIT_REFUNDED", "unknown", "0.07", "USD"),
            row("CREDIT_SEGMENT_START", "grant", "1000", "API tokens"),
        ]
    );
    assert_eq!(r.body["data"][3]["contract_id"], "d7abd0cd-4ae9-4db7-8676-e986a4ebd8dc");
    assert_eq!(r.body["data"][9]["amount"]["unit_type"], "custom");
}

#[tokio::test]
async fn grants_from_edge_cases() {
    let h = Harness::new().await;
    Mock::given(path(LIST))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("metronome/credits.edge-cases.json")))
        .mount(&h.metronome)
        .await;
    let r = h
        .get(&format!("/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = &r.body["data"][0];
    assert_eq!(g["amount"]["value"], "750.005", "two schedule items, 75000.5 cents");
    assert_eq!(g["balance"]["value"], "123.45678");
    assert_eq!(g["effective_at"], "2024-01-01T00:00:00Z");
    assert_eq!(g["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(g["status"], "active");
    assert_eq!(
        g["priority"], "1.5",
        "Metronome priorities are numbers, fractions included"
    );
    assert_eq!(
        g["external_refs"],
        json!([{"system": "netsuite_sales_order", "id": "SO-1"}])
    );
    assert_eq!(g["metadata"]["custom_fields"], json!({"campaign": "spring"}));
    let custom = &r.body["data"][1];
    assert_eq!(
        custom["amount"],
        json!({"value": "1000", "unit": "API tokens", "unit_type": "custom"})
    );
    assert_eq!(custom["status"], "pending");
}

#[tokio::test]
async fn ledger_of_one_credit_asks_metronome_for_that_credit() {
    let h = Harness::new().await;
    mount_credits(&h, (0..6).map(metronome_credit).collect()).await;
    let credit = "00000000-0000-4000-8000-000000000005";
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=metronome:{METRONOME_CUSTOMER}&grant=metronome:{credit}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&r),
        vec![format!("metronome:{credit}.0"), format!("metronome:{credit}.1")]
    );
    let sent = bodies(&h.metronome.received_requests().await.unwrap());
    assert_eq!(sent[0]["credit_id"], credit);
    assert_eq!(sent[0]["include_ledgers"], true);
    // A credit the customer does not have is not found, as at every vendor (issue 17).
    let unknown = "00000000-0000-4000-8000-000000000099";
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=metronome:{METRONOME_CUSTOMER}&grant=metronome:{unknown}"
        ))
        .await;
    assert_eq!((r.status, r.code()), (404, "grant_not_found"), "{}", r.body);
}

#[tokio::test]
async fn balances_sum_per_credit_type() {
    let h = Harness::with(Options {
        metronome_page_size: Some(2),
        ..Options::new()
    })
    .await;
    let mut credits: Vec<Value> = (0..3).map(metronome_credit).collect();
    credits[2]["access_schedule"]["credit_type"]["name"] = json!("API tokens");
    mount_credits(&h, credits).await;
    let r = h
        .get(&format!("/v1/credit_balances?customer=metronome:{METRONOME_CUSTOMER}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows: Vec<(Value, Value)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["unit"].clone(), b["available"]["value"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![(json!("USD"), json!("10.01")), (json!("API tokens"), json!("502"))]
    );
}

#[tokio::test]
async fn lookups_by_id_are_a_501_and_bad_ids_never_reach_metronome() {
    let h = Harness::new().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&h.metronome)
        .await;
    let r = h
        .get("/v1/credit_grants/metronome:fa411f5b-fb85-4755-9d4d-530717be083c")
        .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));
    assert_eq!(r.body["error"]["message"], "metronome does not support grant_lookup");
    let r = h.get("/v1/credit_grants?provider=metronome").await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));
    for bad in [
        "metronome:cus_1",
        "metronome:13117714-3f05-48e5-a6e9",
        "metronome:13117714-3f05-48e5-a6e9-a66093f13b4z",
    ] {
        let r = h.get(&format!("/v1/credit_grants?customer={bad}")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_parameter"), "{bad}");
    }
}

#[tokio::test]
async fn vendor_errors() {
    for (template, status, code) in [
        (
            ResponseTemplate::new(401).set_body_json(fixture("metronome/error.unauthorized.json")),
            502,
            "upstream_auth_failed",
        ),
        (
            ResponseTemplate::new(400).set_body_json(fixture("metronome/error.bad-request.json")),
            502,
            "upstream_request_rejected",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "x"}], "next_page": null})),
            502,
            "upstream_invalid_response",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"data": [], "next_page": "p0"})),
            200,
            "",
        ),
    ] {
        let h = Harness::new().await;
        Mock::given(path(LIST)).respond_with(template).mount(&h.metronome).await;
        let r = h
            .get(&format!("/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}"))
            .await;
        if status == 200 {
            // A vendor that answers an empty page and the same token again is stopped.
            assert_eq!((r.status, r.code()), (502, "upstream_invalid_response"), "{}", r.body);
            assert!(r.body["error"]["message"].as_str().unwrap().contains("twice"));
            continue;
        }
        assert_eq!((r.status, r.code()), (status, code), "{}", r.body);
        assert!(!r.body.to_string().contains(METRONOME_KEY));
    }
}

/// Issue 12, defect 2: Metronome's `priority` is a number; creditgate emitted
/// `-21528918.92616178` where its contract said integer. It is now an exact decimal string
/// everywhere, and the contract says so.
#[tokio::test]
async fn a_fractional_priority_is_kept_exactly_as_a_decimal_string() {
    let h = Harness::new().await;
    let mut credit = metronome_credit(0);
    credit["priority"] = serde_json::from_str("-21528918.92616178").unwrap();
    mount_credits(&h, vec![credit]).await;
    let r = h
        .get(&format!("/v1/credit_grants?customer=metronome:{METRONOME_CUSTOMER}"))
        .await;
    assert_eq!(r.body["data"][0]["priority"], "-21528918.92616178", "{}", r.body);
    let schema = &creditgate::api::openapi_document()["components"]["schemas"]["CreditGrant"]["properties"]["priority"];
    assert!(jsonschema::is_valid(schema, &r.body["data"][0]["priority"]), "{schema}");
}
