//! Togai adapter against wiremock: nextToken paging with a token on the last page, the
//! ledger fan-out over credits (bounded, ordered), the spec's examples, statuses and errors.

mod common;
#[path = "fidelity/togai.rs"]
mod fidelity_endpoints;

/// Togai's conformance tests against its simulator (`tests/common/conformance.rs`); a new
/// grant needs nothing beyond the common fields.
const CONFORMANCE: common::conformance::Conformance = common::conformance::Conformance {
    vendor: creditgate_sim::Vendor::Togai,
    grant_extra: || serde_json::Value::Null,
    void_deletes: false,
    manual_entry_type: None,
    fidelity: fidelity_endpoints::endpoints,
};
crate::conformance_tests!(CONFORMANCE);

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, Request, ResponseTemplate};

async fn mount_credits(h: &Harness, credits: Vec<Value>, trailing_token: bool) {
    Mock::given(method("GET"))
        .and(path("/credits"))
        .and(header("authorization", format!("Bearer {TOGAI_KEY}").as_str()))
        .respond_with(TogaiCredits {
            credits,
            trailing_token,
        })
        .mount(&h.togai)
        .await;
}

async fn mount_details(h: &Harness, delay: Duration) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/credits/cred\.[0-9]{4}\.x$"))
        .respond_with(TogaiCreditDetails { delay })
        .mount(&h.togai)
        .await;
}

fn token_sequence(requests: &[Request]) -> Vec<Option<String>> {
    requests
        .iter()
        .filter(|r| r.url.path() == "/credits")
        .map(|r| query(r, "nextToken"))
        .collect()
}

#[tokio::test]
async fn a_token_on_the_last_page_does_not_make_an_empty_client_page() {
    let h = Harness::with(Options {
        togai_page_size: Some(2),
        ..Options::new()
    })
    .await;
    mount_credits(&h, (0..6).map(togai_credit).collect(), true).await;

    let pages = h.walk("/v1/credit_grants?customer=togai:ACC001&limit=2").await;
    assert_eq!(pages.len(), 3, "6 credits, 2 a page, and no empty fourth page");
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(all, (0..6).map(|i| format!("togai:cred.{i:04}.x")).collect::<Vec<_>>());

    let requests = h.togai.received_requests().await.unwrap();
    assert!(requests
        .iter()
        .all(|r| query(r, "account_id").as_deref() == Some("ACC001")));
    assert!(requests.iter().all(|r| query(r, "pageSize").as_deref() == Some("2")));
    // Each client page ends on a vendor page whose token may lead nowhere, so creditgate
    // looks at the next page before saying `has_more`; reading that page for the next
    // client page is then a cache hit. Page 3 carries `tok6`, which yields an empty page:
    // the walk ends there.
    let t = |s: &str| Some(s.to_owned());
    assert_eq!(token_sequence(&requests), vec![None, t("tok2"), t("tok4"), t("tok6")]);
}

#[tokio::test]
async fn a_page_of_grants_spans_vendor_pages_with_offsets() {
    let h = Harness::with(Options {
        togai_page_size: Some(4),
        ..Options::new()
    })
    .await;
    mount_credits(&h, (0..10).map(togai_credit).collect(), false).await;
    for limit in [1, 3, 4, 7, 50] {
        let pages = h
            .walk(&format!("/v1/credit_grants?customer=togai:ACC001&limit={limit}"))
            .await;
        let all: Vec<String> = pages.iter().flat_map(ids).collect();
        assert_eq!(all.len(), 10, "limit {limit}");
        assert_eq!(all, (0..10).map(|i| format!("togai:cred.{i:04}.x")).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn spec_examples_map() {
    let h = Harness::new().await;
    let example = fixture("togai/credits.spec-example.json");
    // The example's nextToken leads to an empty page, as Togai's last pages do.
    Mock::given(path("/credits"))
        .and(query_param("nextToken", example["nextToken"].as_str().unwrap()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .with_priority(1)
        .mount(&h.togai)
        .await;
    Mock::given(path("/credits"))
        .and(query_param("account_id", "ACC001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(example))
        .mount(&h.togai)
        .await;
    Mock::given(path("/credits/cred.1znqBOVcai0.0tBFz"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("togai/credit_details.spec-example.json")))
        .mount(&h.togai)
        .await;
    Mock::given(path("/accounts/ACC001/credit_balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("togai/credit_balance.spec-example.json")))
        .mount(&h.togai)
        .await;

    let grants = h.get("/v1/credit_grants?customer=togai:ACC001").await;
    assert_eq!(grants.status, 200, "{}", grants.body);
    let g = &grants.body["data"][0];
    assert_eq!(g["id"], "togai:creds.1znQx9jiIXw.r44fc");
    assert_eq!(g["customer"], "togai:ACC001");
    assert_eq!(g["name"], "Prepaid Credit");
    assert_eq!(
        g["amount"],
        json!({"value": "1000", "unit": "USD", "unit_type": "currency"})
    );
    assert_eq!(g["balance"]["value"], "600", "granted 1000 − consumed 400");
    assert_eq!(g["status"], "active");
    assert_eq!(g["priority"], "1");
    assert_eq!(g["effective_at"], "2020-07-04T00:00:00Z");
    assert_eq!(g["expires_at"], "2021-07-04T00:00:00Z");
    assert_eq!(g["created_at"], "2020-07-04T12:00:00Z");
    assert_eq!(g["metadata"]["hold_amount"], "500");
    assert_eq!(
        grants.body["has_more"], false,
        "the spec example's token leads to nothing here"
    );

    let one = h
        .get("/v1/credit_grants/togai:cred.1znqBOVcai0.0tBFz?include=ledger")
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["ledger"].as_array().unwrap().len(), 2);
    let entry = &one.body["ledger"][0];
    assert_eq!(entry["type"], "grant");
    assert_eq!(entry["provider_type"], "CREDITED");
    assert_eq!(
        entry["amount"],
        json!({"value": "200", "unit": "USD", "unit_type": "currency"})
    );
    assert_eq!(entry["grant"], "togai:creditId");
    assert_eq!(entry["invoice_id"], "invoiceId");
    assert_eq!(entry["created_at"], "2000-01-23T04:56:07Z");

    let balance = h.get("/v1/credit_balances?customer=togai:ACC001").await;
    assert_eq!(balance.status, 200, "{}", balance.body);
    let b = &balance.body["data"][0];
    assert_eq!(
        b["available"],
        json!({"value": "800", "unit": "USD", "unit_type": "currency"})
    );
    assert_eq!(b["as_of"], "2020-07-04T12:00:00Z");
}

#[tokio::test]
async fn ledger_fans_out_over_credits_in_order() {
    let h = Harness::with(Options {
        togai_page_size: Some(2),
        ..Options::new()
    })
    .await;
    mount_credits(&h, (0..7).map(togai_credit).collect(), true).await;
    mount_details(&h, Duration::ZERO).await;
    let expected: Vec<String> = (0..7)
        .flat_map(|i| (0..i % 3).map(move |t| format!("togai:ctx.{i:04}.{t}")))
        .collect();
    for limit in [1, 2, 3, 5, 500] {
        let pages = h
            .walk(&format!(
                "/v1/credit_ledger_entries?customer=togai:ACC001&limit={limit}"
            ))
            .await;
        let all: Vec<String> = pages.iter().flat_map(ids).collect();
        assert_eq!(all, expected, "limit {limit}");
        assert!(pages.iter().all(|p| !ids(p).is_empty()), "limit {limit}: no empty page");
    }
    let page = h.get("/v1/credit_ledger_entries?customer=togai:ACC001&limit=500").await;
    let debit = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["provider_type"] == "DEBITED")
        .unwrap()
        .clone();
    assert_eq!(debit["type"], "debit");
    assert_eq!(debit["amount"]["value"], "-20");
}

#[tokio::test]
async fn the_fan_out_is_bounded_by_the_configured_concurrency() {
    let delay = Duration::from_millis(300);
    for (concurrency, at_least, at_most) in [(1, 6, 100), (2, 3, 100), (6, 1, 3)] {
        let h = Harness::with(Options {
            togai_page_size: Some(6),
            togai_concurrency: Some(concurrency),
            ..Options::new()
        })
        .await;
        mount_credits(&h, (0..6).map(togai_credit).collect(), false).await;
        mount_details(&h, delay).await;
        let started = Instant::now();
        let r = h.get("/v1/credit_ledger_entries?customer=togai:ACC001&limit=500").await;
        let elapsed = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        // Six detail calls of 300 ms: `concurrency` at a time take ceil(6 / concurrency) rounds.
        assert!(elapsed >= delay * at_least, "concurrency {concurrency}: {elapsed:?}");
        assert!(elapsed < delay * at_most, "concurrency {concurrency}: {elapsed:?}");
    }
}

#[tokio::test]
async fn ledger_of_one_grant_reads_only_that_credit() {
    let h = Harness::new().await;
    mount_details(&h, Duration::ZERO).await;
    let r = h
        .get("/v1/credit_ledger_entries?customer=togai:ACC001&grant=togai:cred.0005.x")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r), vec!["togai:ctx.0005.0", "togai:ctx.0005.1"]);
    assert_eq!(h.togai.received_requests().await.unwrap().len(), 1);

    let r = h
        .get("/v1/credit_ledger_entries?customer=togai:OTHER&grant=togai:cred.0005.x")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "grant_not_found"),
        "a grant of another account"
    );
}

#[tokio::test]
async fn statuses_including_unknown_and_not_yet_effective() {
    let h = Harness::new().await;
    let mut credits: Vec<Value> = (0..6).map(togai_credit).collect();
    for (credit, status) in credits
        .iter_mut()
        .zip(["ACTIVE", "CONSUMED", "EXPIRED", "VOIDED", "SUSPENDED", "ACTIVE"])
    {
        credit["status"] = json!(status);
    }
    credits[5]["effectiveFrom"] = json!("2999-01-01");
    mount_credits(&h, credits, false).await;
    let r = h.get("/v1/credit_grants?customer=togai:ACC001").await;
    let statuses: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["active", "depleted", "expired", "voided", "unknown", "pending"]
    );
    let r = h.get("/v1/credit_grants?customer=togai:ACC001&status=voided").await;
    assert_eq!(ids(&r), vec!["togai:cred.0003.x"]);
}

#[tokio::test]
async fn vendor_errors() {
    let h = Harness::new().await;
    Mock::given(path("/credits/cred.missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture("togai/error.not-found.json")))
        .mount(&h.togai)
        .await;
    Mock::given(path("/credits"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("togai/error.unauthorized.json")))
        .mount(&h.togai)
        .await;
    Mock::given(path("/accounts/ACC001/credit_balance"))
        .respond_with(ResponseTemplate::new(429).set_body_json(fixture("togai/error.rate-limit.json")))
        .mount(&h.togai)
        .await;
    let r = h.get("/v1/credit_grants/togai:cred.missing").await;
    assert_eq!((r.status, r.code()), (404, "grant_not_found"));
    let r = h.get("/v1/credit_grants?customer=togai:ACC001").await;
    assert_eq!((r.status, r.code()), (502, "upstream_auth_failed"));
    assert!(!r.body.to_string().contains(TOGAI_KEY));
    let r = h.get("/v1/credit_balances?customer=togai:ACC001").await;
    assert_eq!((r.status, r.code()), (503, "upstream_rate_limited"));
}

/// Issue 12, defect 1: an id from the vendor is input too. A credit whose id is empty (or
/// only dots) cannot become a path segment; the ledger fan-out answers a 502 naming the
/// problem instead of panicking into a 500.
#[tokio::test]
async fn a_credit_id_from_togai_that_cannot_be_a_path_is_a_502_not_a_panic() {
    for bad in ["", ".."] {
        let h = Harness::new().await;
        let mut credit = togai_credit(0);
        credit["id"] = json!(bad);
        mount_credits(&h, vec![credit], false).await;
        let r = h.get("/v1/credit_ledger_entries?customer=togai:ACC001").await;
        assert_eq!(
            (r.status, r.code()),
            (502, "upstream_invalid_response"),
            "{bad:?}: {}",
            r.body
        );
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("data[0]")
                && (message.contains("`id` is empty") || message.contains("cannot name an item in a URL")),
            "{message}"
        );
        let details: Vec<_> = h
            .togai
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() != "/credits")
            .collect();
        assert!(details.is_empty(), "{bad:?}: no call was made with it: {details:?}");
    }
}

/// Issue 12, defect 3: a Togai credit with `id: ""` became `provider_id: ""` and an id
/// `togai:`. An item that cannot be named is a 502 naming the field.
#[tokio::test]
async fn a_credit_without_an_id_is_a_502_naming_the_field() {
    let h = Harness::new().await;
    let mut nameless = togai_credit(1);
    nameless["id"] = json!("");
    Mock::given(path("/credits"))
        .respond_with(TogaiCredits {
            credits: vec![togai_credit(0), nameless],
            trailing_token: false,
        })
        .mount(&h.togai)
        .await;
    let r = h.get("/v1/credit_grants?customer=togai:ACC001").await;
    assert_eq!((r.status, r.code()), (502, "upstream_invalid_response"), "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`id` is empty"), "{message}");
    assert!(
        message.contains("data[1]"),
        "the bad item is named by its place: {message}"
    );
}
