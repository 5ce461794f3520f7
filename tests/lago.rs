//! Lago adapter against wiremock: the exact requests sent (page numbers, the `status`
//! filter, the Bearer key), wallets as grants (amounts in money from credits and the rate,
//! statuses), settled transactions as the ledger, balances per currency, and the writes'
//! bodies (a wallet with a fixed `code`; a void as voided credits then a termination).

mod common;
#[path = "fidelity/lago.rs"]
mod fidelity_endpoints;

/// Lago's conformance tests against its simulator (`tests/common/conformance/`); a new
/// grant needs nothing beyond the common fields.
const CONFORMANCE: common::conformance::Conformance = common::conformance::Conformance {
    vendor: creditgate_sim::Vendor::Lago,
    grant_extra: || serde_json::Value::Null,
    void_deletes: false,
    manual_entry_type: None,
    fidelity: fidelity_endpoints::endpoints,
};
crate::conformance_tests!(CONFORMANCE);

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const WALLET_A: &str = "0b5a8f0e-1111-4c1a-9d1e-aaaaaaaaaaaa";
const WALLET_B: &str = "0b5a8f0e-2222-4c1a-9d1e-bbbbbbbbbbbb";

fn auth() -> String {
    format!("Bearer {}", harness_secret("lago"))
}

fn wallet(id: &str, rate: &str, balance: &str, consumed: &str, status: &str, created: &str) -> Value {
    json!({
        "lago_id": id, "lago_customer_id": "c0c0c0c0-0000-4000-8000-000000000000",
        "external_customer_id": "cust_1", "status": status, "currency": "EUR",
        "name": "Prepaid", "code": format!("code-{id}"), "priority": 3, "rate_amount": rate,
        "credits_balance": balance, "balance_cents": 0, "consumed_credits": consumed,
        "created_at": created, "expiration_at": null,
        "terminated_at": if status == "terminated" { json!("2024-03-01T00:00:00Z") } else { Value::Null },
        "ongoing_balance_cents": 0, "invoice_requires_successful_payment": false,
        "ongoing_usage_balance_cents": 0, "credits_ongoing_balance": balance,
        "credits_ongoing_usage_balance": "0", "metadata": {"team": "growth"},
    })
}

fn transaction(id: &str, wallet: &str, kind: (&str, &str, &str), credits: &str, created: &str) -> Value {
    let (transaction_status, transaction_type, status) = kind;
    json!({
        "lago_id": id, "lago_wallet_id": wallet, "lago_invoice_id": null, "lago_credit_note_id": null,
        "lago_voided_invoice_id": null, "status": status, "source": "manual",
        "transaction_status": transaction_status, "transaction_type": transaction_type,
        "credit_amount": credits, "amount": "0", "remaining_amount_cents": null,
        "remaining_credit_amount": null, "priority": 50, "invoice_requires_successful_payment": false,
        "settled_at": if status == "settled" { json!(created) } else { Value::Null }, "failed_at": null,
        "created_at": created, "metadata": [], "name": null, "payment_method": null,
    })
}

fn meta(count: usize) -> Value {
    json!({"current_page": 1, "next_page": null, "prev_page": null, "total_pages": 1, "total_count": count})
}

async fn mount_wallets(h: &Harness, wallets: Vec<Value>) {
    let count = wallets.len();
    Mock::given(method("GET"))
        .and(path("/api/v1/wallets"))
        .and(query_param("external_customer_id", "cust_1"))
        .and(query_param("page", "1"))
        .and(query_param("per_page", "100"))
        .and(header("authorization", auth().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"wallets": wallets, "meta": meta(count)})))
        .mount(h.mock("lago"))
        .await;
}

async fn mount_transactions(h: &Harness, wallet: &str, transactions: Vec<Value>) {
    let count = transactions.len();
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/wallets/{wallet}/wallet_transactions")))
        .and(query_param("status", "settled"))
        .and(query_param("page", "1"))
        .and(header("authorization", auth().as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"wallet_transactions": transactions, "meta": meta(count)})),
        )
        .mount(h.mock("lago"))
        .await;
}

#[tokio::test]
async fn wallets_are_grants_in_money_at_their_rate() {
    let h = Harness::new().await;
    mount_wallets(
        &h,
        vec![
            wallet(WALLET_B, "0.5", "30.12345", "9.5", "active", "2024-02-01T00:00:00Z"),
            wallet(WALLET_A, "2", "4", "6", "terminated", "2024-01-01T00:00:00Z"),
        ],
    )
    .await;
    let r = h.get("/v1/credit_grants?customer=lago:cust_1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    // (30.12345 + 9.5) credits × 0.5, exactly; the balance 30.12345 × 0.5.
    assert_eq!(data[0]["id"], format!("lago:{WALLET_B}"));
    assert_eq!(data[0]["provider_id"], WALLET_B);
    assert_eq!(data[0]["customer"], "lago:cust_1");
    assert_eq!(
        data[0]["amount"],
        json!({"value": "19.811725", "unit": "EUR", "unit_type": "currency"})
    );
    assert_eq!(data[0]["balance"]["value"], "15.061725");
    assert_eq!(data[0]["status"], "active");
    assert_eq!(data[0]["priority"], "3");
    assert_eq!(data[0]["metadata"], json!({"team": "growth"}));
    // Terminated before any expiry: voided, nothing left to use.
    assert_eq!(data[1]["status"], "voided");
    assert_eq!(data[1]["amount"]["value"], "20");
    assert_eq!(data[1]["balance"]["value"], "0");

    let b = h.get("/v1/credit_balances?customer=lago:cust_1").await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.body["data"][0]["unit"], "EUR");
    assert_eq!(b.body["data"][0]["available"]["value"], "15.061725");
}

#[tokio::test]
async fn the_ledger_is_each_wallets_settled_transactions_signed_and_in_money() {
    let h = Harness::new().await;
    mount_wallets(
        &h,
        vec![
            wallet(WALLET_B, "0.5", "10", "0", "active", "2024-02-01T00:00:00Z"),
            wallet(WALLET_A, "2", "1", "2", "active", "2024-01-01T00:00:00Z"),
        ],
    )
    .await;
    mount_transactions(
        &h,
        WALLET_B,
        vec![transaction(
            "t-b1",
            WALLET_B,
            ("granted", "inbound", "settled"),
            "20",
            "2024-02-01T00:00:00Z",
        )],
    )
    .await;
    mount_transactions(
        &h,
        WALLET_A,
        vec![
            transaction(
                "t-a3",
                WALLET_A,
                ("voided", "outbound", "settled"),
                "2",
                "2024-01-03T00:00:00Z",
            ),
            transaction(
                "t-a2",
                WALLET_A,
                ("invoiced", "outbound", "settled"),
                "2",
                "2024-01-02T00:00:00Z",
            ),
            // The filter asked for settled ones; a pending purchase is dropped all the same.
            transaction(
                "t-a9",
                WALLET_A,
                ("purchased", "inbound", "pending"),
                "7",
                "2024-01-02T00:00:00Z",
            ),
            transaction(
                "t-a1",
                WALLET_A,
                ("purchased", "inbound", "settled"),
                "5",
                "2024-01-01T00:00:00Z",
            ),
        ],
    )
    .await;
    let pages = h.walk("/v1/credit_ledger_entries?customer=lago:cust_1&limit=2").await;
    let entries: Vec<(String, String, String, String)> = pages
        .iter()
        .flat_map(|p| p.body["data"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["provider_id"].as_str().unwrap().to_owned(),
                e["type"].as_str().unwrap().to_owned(),
                e["provider_type"].as_str().unwrap().to_owned(),
                e["amount"]["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("t-b1", "grant", "granted", "10"),
        ("t-a3", "void", "voided", "-4"),
        ("t-a2", "debit", "invoiced", "-4"),
        ("t-a1", "grant", "purchased", "10"),
    ];
    assert_eq!(
        entries,
        expected
            .iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_unknown_customer_and_an_unknown_wallet_are_404s() {
    let h = Harness::new().await;
    let missing = ResponseTemplate::new(404)
        .set_body_json(json!({"status": 404, "error": "Not Found", "code": "wallet_not_found"}));
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/wallets/{WALLET_A}")))
        .respond_with(missing)
        .mount(h.mock("lago"))
        .await;
    let r = h.get(&format!("/v1/credit_grants/lago:{WALLET_A}")).await;
    assert_eq!((r.status, r.code()), (404, "resource_not_found"), "{}", r.body);
    // A wallet id is a UUID: anything else is refused before Lago is asked.
    let r = h.get("/v1/credit_grants/lago:not-a-wallet").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn a_grant_is_a_new_wallet_keyed_by_its_code_and_a_void_terminates_it() {
    let h = Harness::new().await;
    let created = wallet(WALLET_A, "1", "12.5", "0", "active", "2024-01-01T00:00:00Z");
    Mock::given(method("POST"))
        .and(path("/api/v1/wallets"))
        .and(header("authorization", auth().as_str()))
        .respond_with(move |request: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let w = &body["wallet"];
            assert_eq!(w["external_customer_id"], "cust_1");
            assert_eq!(w["currency"], "EUR");
            assert_eq!(w["rate_amount"], "1");
            assert_eq!(w["granted_credits"], "12.5");
            assert_eq!(w["name"], "Welcome");
            assert!(w["code"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
            ResponseTemplate::new(200).set_body_json(json!({"wallet": created.clone()}))
        })
        .expect(1)
        .mount(h.mock("lago"))
        .await;
    let body = r#"{"customer": "lago:cust_1", "amount": {"value": "12.50", "unit": "EUR"}, "name": "Welcome"}"#;
    let r = h
        .post_as("/v1/credit_grants", WRITER_KEY, Some("lago-create-1"), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["amount"]["value"], "12.5");

    // Void: read the wallet, void what it holds, terminate it.
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/wallets/{WALLET_A}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "wallet": wallet(WALLET_A, "1", "12.5", "0", "active", "2024-01-01T00:00:00Z")
        })))
        .mount(h.mock("lago"))
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/wallet_transactions"))
        .respond_with(|request: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let t = &body["wallet_transaction"];
            assert_eq!(t["wallet_id"], WALLET_A);
            assert_eq!(t["voided_credits"], "12.5");
            assert_eq!(t["metadata"][0]["key"], "creditgate_op");
            ResponseTemplate::new(200).set_body_json(json!({"wallet_transactions": [
                transaction("t-v", WALLET_A, ("voided", "outbound", "settled"), "12.5", "2024-01-02T00:00:00Z")
            ]}))
        })
        .expect(1)
        .mount(h.mock("lago"))
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v1/wallets/{WALLET_A}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "wallet": wallet(WALLET_A, "1", "0", "0", "terminated", "2024-01-01T00:00:00Z")
        })))
        .expect(1)
        .mount(h.mock("lago"))
        .await;
    let r = h
        .post_as(
            &format!("/v1/credit_grants/lago:{WALLET_A}/void"),
            WRITER_KEY,
            Some("lago-void-1"),
            "{}",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "voided");
    assert_eq!(r.body["balance"]["value"], "0");
}

#[tokio::test]
async fn lago_refuses_what_a_wallet_cannot_hold_before_any_call() {
    let h = Harness::new().await;
    for (body, field) in [
        (
            r#"{"customer": "lago:cust_1", "amount": {"value": "5", "unit": "EUR"}, "priority": "51"}"#,
            "priority",
        ),
        (
            r#"{"customer": "lago:cust_1", "amount": {"value": "5", "unit": "EUR"}, "effective_at": "2030-01-01T00:00:00Z"}"#,
            "effective_at",
        ),
        (
            r#"{"customer": "lago:cust_1", "amount": {"value": "5", "unit": "EUR"}, "metadata": {"a": "b"}}"#,
            "metadata",
        ),
    ] {
        let r = h.post_as("/v1/credit_grants", WRITER_KEY, Some(field), body).await;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert_eq!(r.body["error"]["param"], field, "{}", r.body);
    }
    assert!(h.mock("lago").received_requests().await.unwrap_or_default().is_empty());
}
