//! Sequence adapter against wiremock: the account-wide list both ways, per-customer lists
//! paged by creditgate, numbers and strings read exactly, the spec's examples.

mod common;
#[path = "fidelity/sequence.rs"]
mod fidelity_endpoints;

/// Sequence's conformance tests against its simulator (`tests/common/conformance.rs`); a new
/// grant needs nothing beyond the common fields.
const CONFORMANCE: common::conformance::Conformance = common::conformance::Conformance {
    vendor: creditgate_sim::Vendor::Sequence,
    grant_extra: || serde_json::Value::Null,
    void_deletes: true,
    manual_entry_type: None,
    fidelity: fidelity_endpoints::endpoints,
};
crate::conformance_tests!(CONFORMANCE);

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(SEQUENCE_CREDENTIALS)
    )
}

async fn mount_account(h: &Harness, n: usize) {
    Mock::given(method("GET"))
        .and(path("/api/credits"))
        .and(header("authorization", basic().as_str()))
        .and(header("sequence-version", "2024-07-30"))
        .respond_with(SequenceCredits {
            grants: (0..n).map(sequence_grant).collect(),
        })
        .mount(&h.sequence)
        .await;
}

fn grant_ids(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| format!("sequence:00000000-0000-4000-9000-{i:012}"))
        .collect()
}

#[tokio::test]
async fn the_account_wide_list_pages_forwards_with_after() {
    let h = Harness::with(Options {
        sequence_page_size: Some(4),
        ..Options::new()
    })
    .await;
    mount_account(&h, 10).await;
    let pages = h.walk("/v1/credit_grants?provider=sequence&limit=3").await;
    assert_eq!(pages.iter().flat_map(ids).collect::<Vec<_>>(), grant_ids(0..10));
    let sent: Vec<(Option<String>, Option<String>)> = h
        .sequence
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| (query(r, "after"), query(r, "before")))
        .collect();
    let after = |s: &str| (Some(s.to_owned()), None);
    // Offsets inside Sequence's pages of 4: page 2 re-reads the first page from offset 3,
    // and that re-read (like every repeat) is answered by the cache: each vendor page once.
    assert_eq!(sent, vec![(None, None), after("c4"), after("c8")]);
    assert!(h
        .sequence
        .received_requests()
        .await
        .unwrap()
        .iter()
        .all(|r| query(r, "limit").as_deref() == Some("4")));
}

#[tokio::test]
async fn previous_cursor_pages_the_account_wide_list_backwards_with_before() {
    let h = Harness::with(Options {
        sequence_page_size: Some(4),
        ..Options::new()
    })
    .await;
    mount_account(&h, 10).await;
    let base = "/v1/credit_grants?provider=sequence&limit=3";
    let pages = h.walk(base).await;
    assert_eq!(pages[0].body["previous_cursor"], Value::Null);
    let mut back: Vec<Vec<String>> = Vec::new();
    let mut previous = pages.last().unwrap().body["previous_cursor"]
        .as_str()
        .map(str::to_owned);
    while let Some(cursor) = previous {
        let page = h.get(&format!("{base}&cursor={cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body["has_more"], true);
        back.push(ids(&page));
        previous = page.body["previous_cursor"].as_str().map(str::to_owned);
    }
    // The last forward page held item 9; going back: 6..9, 3..6, 0..3.
    assert_eq!(back, vec![grant_ids(6..9), grant_ids(3..6), grant_ids(0..3)]);
    let befores: Vec<String> = h
        .sequence
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| query(r, "before"))
        .collect();
    assert!(befores.contains(&"c8".to_owned()), "{befores:?}");
}

#[tokio::test]
async fn spec_examples_map() {
    let h = Harness::new().await;
    Mock::given(path("/api/credits"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": fixture("sequence/credits.spec-example.json")["items"], "pagination": {"totalResultSize": 1}})))
        .mount(&h.sequence)
        .await;
    Mock::given(path("/api/credits/746fc7f2-8098-4fe7-953c-7d51c580a126"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("sequence/credit.spec-example.json")))
        .mount(&h.sequence)
        .await;
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("sequence/balances.spec-example.json")))
        .mount(&h.sequence)
        .await;
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/grants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("sequence/customer_grants.spec-example.json")))
        .mount(&h.sequence)
        .await;

    let all = h.get("/v1/credit_grants?provider=sequence").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let g = &all.body["data"][0];
    assert_eq!(g["id"], "sequence:746fc7f2-8098-4fe7-953c-7d51c580a126");
    assert_eq!(g["customer"], format!("sequence:{SEQUENCE_CUSTOMER}"));
    assert_eq!(
        g["amount"],
        json!({"value": "10", "unit": "GBP", "unit_type": "currency"})
    );
    assert_eq!(g["effective_at"], "2023-01-01T00:00:00Z");
    assert_eq!(
        g["expires_at"], "2023-02-01T00:00:00Z",
        "expiryDate is the last usable day"
    );
    assert_eq!(g["status"], "expired");
    assert_eq!(g["created_at"], "2022-10-07T14:12:08.826121Z");
    assert_eq!(
        g["external_refs"],
        json!([{"system": "Xero", "id": "74ed2615-4730-49ab-9445-74f31723a206"}])
    );
    assert_eq!(g["metadata"]["credit_note_id"], "73086198-8752-4ec9-a99b-16209a32dc6c");

    let one = h
        .get("/v1/credit_grants/sequence:746fc7f2-8098-4fe7-953c-7d51c580a126")
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(
        one.body["balance"],
        Value::Null,
        "the example balances do not mention this grant"
    );

    let per_customer = h
        .get(&format!("/v1/credit_grants?customer=sequence:{SEQUENCE_CUSTOMER}"))
        .await;
    assert_eq!(per_customer.status, 200, "{}", per_customer.body);
    let c = &per_customer.body["data"][0];
    assert_eq!(c["name"], "API Calls");
    assert_eq!(
        c["amount"],
        json!({"value": "1000", "unit": "credits", "unit_type": "custom"})
    );
    assert_eq!(c["balance"]["value"], "324");
    assert_eq!(c["expires_at"], "2030-03-04T00:00:00Z");

    let ledger = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=sequence:{SEQUENCE_CUSTOMER}"
        ))
        .await;
    assert_eq!(ledger.status, 200, "{}", ledger.body);
    let e = &ledger.body["data"][0];
    assert_eq!(e["id"], "sequence:c770d296-ef09-459b-b8dd-42c334e00dab");
    assert_eq!(e["type"], "grant");
    assert_eq!(
        e["amount"],
        json!({"value": "10", "unit": "GBP", "unit_type": "currency"}),
        "the string \"10\""
    );
    assert_eq!(e["grant"], "sequence:5a0faea3-7ad5-4a83-a420-09bb6576f7e6");
    assert_eq!(e["invoice_id"], "c6864c69-42a3-4966-8c22-1c56d7375a05");
    assert_eq!(e["effective_at"], "2024-01-01T00:00:00Z");

    let balances = h
        .get(&format!("/v1/credit_balances?customer=sequence:{SEQUENCE_CUSTOMER}"))
        .await;
    assert_eq!(
        balances.body["data"][0]["available"],
        json!({"value": "50", "unit": "GBP", "unit_type": "currency"})
    );
}

fn balances_body() -> Value {
    let grant = |id: &str, currency: &str, original: Value, current: Value| {
        json!({"id": id, "sequenceAccountId": "a507e782-d26b-4d34-92b9-aacd1667e1f0", "customerId": SEQUENCE_CUSTOMER,
               "type": "CASH", "currency": currency, "name": currency, "originalAmount": original, "currentBalance": current,
               "costOfCredit": "10", "effectiveDate": "2024-01-01", "createdAt": "2024-01-01T12:00:00Z"})
    };
    let txn = |id: &str, grant: &str, kind: &str, amount: Value| json!({"id": id, "grantId": grant, "type": kind, "amount": amount, "date": "2024-02-01"});
    let g1 = "00000000-0000-4000-9000-000000000001";
    let g2 = "00000000-0000-4000-9000-000000000002";
    let g3 = "00000000-0000-4000-9000-000000000003";
    json!({"items": [
        {"id": "GBP", "type": "CASH", "name": "GBP", "balance": "12.3456789012345678901234567",
         "grants": [grant(g1, "GBP", json!("20.00"), json!(12.5)), grant(g2, "GBP", json!(5), json!("0"))],
         "transactions": [txn("t1", g1, "CREDIT", json!("20.00")), txn("t2", g1, "DEBIT", json!(7.5)), txn("t3", g2, "DEBIT", json!("5"))]},
        {"id": "f092246c-6b90-4106-bcca-304ccf06bf45", "type": "USAGE", "name": "API calls", "balance": 900,
         "grants": [grant(g3, "GBP", json!(1000), json!(900))],
         "transactions": [{"grantId": g3, "type": "DEBIT", "amount": 100, "date": "2024-03-01"}]}
    ]})
}

#[tokio::test]
async fn ledger_balances_and_exact_numbers_from_balances() {
    let h = Harness::new().await;
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(balances_body()))
        .mount(&h.sequence)
        .await;
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=sequence:{SEQUENCE_CUSTOMER}&limit=2"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.as_object().unwrap().contains_key("previous_cursor"));
    let pages = h
        .walk(&format!(
            "/v1/credit_ledger_entries?customer=sequence:{SEQUENCE_CUSTOMER}&limit=2"
        ))
        .await;
    let rows: Vec<(String, String, String, String)> = pages
        .iter()
        .flat_map(|p| p.body["data"].as_array().unwrap().clone())
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap().to_owned();
            (
                s(&e["id"]),
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
            row("sequence:t1", "grant", "20.00", "GBP"),
            row("sequence:t2", "debit", "-7.5", "GBP"),
            row("sequence:t3", "debit", "-5", "GBP"),
            row(
                "sequence:00000000-0000-4000-9000-000000000003.2024-03-01.0",
                "debit",
                "-100",
                "API calls"
            ),
        ]
    );
    let only = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=sequence:{SEQUENCE_CUSTOMER}&grant=sequence:00000000-0000-4000-9000-000000000001"
        ))
        .await;
    assert_eq!(ids(&only), vec!["sequence:t1", "sequence:t2"]);
    // A grant the customer does not have is not found, as at every vendor (issue 17).
    let other = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=sequence:{SEQUENCE_CUSTOMER}&grant=sequence:00000000-0000-4000-9000-000000000099"
        ))
        .await;
    assert_eq!((other.status, other.code()), (404, "grant_not_found"), "{}", other.body);

    let balances = h
        .get(&format!("/v1/credit_balances?customer=sequence:{SEQUENCE_CUSTOMER}"))
        .await;
    let rows: Vec<(Value, Value, Value)> = balances.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["available"]["value"].clone(),
                b["unit"].clone(),
                b["unit_type"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (json!("12.3456789012345678901234567"), json!("GBP"), json!("currency")),
            (json!("900"), json!("API calls"), json!("custom"))
        ]
    );
}

#[tokio::test]
async fn a_number_that_cannot_be_held_exactly_is_an_error_not_a_rounding() {
    let h = Harness::new().await;
    let mut body = balances_body();
    body["items"][1]["balance"] = serde_json::from_str("900.000000000000000000000000001").unwrap();
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.sequence)
        .await;
    let r = h
        .get(&format!("/v1/credit_balances?customer=sequence:{SEQUENCE_CUSTOMER}"))
        .await;
    assert_eq!((r.status, r.code()), (502, "upstream_invalid_response"), "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be represented exactly"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn customer_grants_take_units_from_balances_and_page_both_ways() {
    let h = Harness::new().await;
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(balances_body()))
        .mount(&h.sequence)
        .await;
    let item = |i: usize, amount: Value, balance: Value| {
        json!({"id": format!("00000000-0000-4000-9000-{i:012}"), "name": format!("G{i}"), "grantAmount": amount,
               "balance": balance, "issueDate": "2024-01-01", "expiryDate": "2099-01-01"})
    };
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/grants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            item(1, json!(20), json!("12.5")), item(2, json!("5"), json!(0)), item(3, json!(1000), json!(900))]})))
        .mount(&h.sequence)
        .await;
    let base = format!("/v1/credit_grants?customer=sequence:{SEQUENCE_CUSTOMER}&limit=2");
    let pages = h.walk(&base).await;
    let all: Vec<Value> = pages
        .iter()
        .flat_map(|p| p.body["data"].as_array().unwrap().clone())
        .collect();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0]["amount"],
        json!({"value": "20", "unit": "GBP", "unit_type": "currency"})
    );
    assert_eq!(all[0]["balance"]["value"], "12.5");
    assert_eq!(all[0]["created_at"], "2024-01-01T12:00:00Z");
    // Nothing left, but the account-wide list carries no balance: status is dates only, so
    // the grant is `active` in both lists (issue 17, defect 4).
    assert_eq!(all[1]["balance"]["value"], "0");
    assert_eq!(all[1]["status"], "active");
    assert_eq!(
        all[2]["amount"],
        json!({"value": "1000", "unit": "API calls", "unit_type": "custom"})
    );
    let previous = pages[1].body["previous_cursor"].as_str().unwrap();
    let back = h.get(&format!("{base}&cursor={previous}")).await;
    assert_eq!(ids(&back), grant_ids(1..3));
}

#[tokio::test]
async fn credentials_are_checked_at_start_up() {
    let dir = std::env::temp_dir().join(format!("creditgate-seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s"), "no-colon-here").unwrap();
    std::fs::write(dir.join("c"), "a-cursor-secret-of-at-least-32-bytes").unwrap();
    let text = format!(
        "cursor_secret = \"file:{d}/c\"\n[[api_keys]]\nname = \"a\"\nkey_sha256 = \"{k}\"\n\
         [providers.sequence]\nsecret = \"file:{d}/s\"\n",
        d = dir.display(),
        k = sha256_hex(API_KEY)
    );
    let err = creditgate::Gateway::from_config(&creditgate::Config::from_toml_str(&text).unwrap()).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let message = err.to_string();
    assert!(
        message.contains("providers.sequence.secret") && message.contains("clientId:clientSecret"),
        "{message}"
    );
    assert!(!message.contains("no-colon-here"));
}

#[tokio::test]
async fn errors_and_bad_ids() {
    let h = Harness::new().await;
    Mock::given(path("/api/credits/00000000-0000-4000-9000-000000000009"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&h.sequence)
        .await;
    Mock::given(path("/api/credits"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("sequence/error.unauthorized.json")))
        .mount(&h.sequence)
        .await;
    let r = h
        .get("/v1/credit_grants/sequence:00000000-0000-4000-9000-000000000009")
        .await;
    assert_eq!((r.status, r.code()), (404, "grant_not_found"));
    let r = h.get("/v1/credit_grants?provider=sequence").await;
    assert_eq!((r.status, r.code()), (502, "upstream_auth_failed"));
    assert!(!r.body.to_string().contains("seq-client-secret"));
    let before = h.sequence.received_requests().await.unwrap().len();
    for bad in ["sequence:cus_1", "sequence:61b083e0-1faa-47ca-9aeb"] {
        let r = h.get(&format!("/v1/credit_ledger_entries?customer={bad}")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_parameter"), "{bad}");
    }
    assert_eq!(
        h.sequence.received_requests().await.unwrap().len(),
        before,
        "no call for bad ids"
    );
}
