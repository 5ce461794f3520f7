//! Vayu adapter against wiremock: login and token refresh, the cursor sequence, a full last
//! page without an extra empty client page, mapping, balances and id validation.

mod common;
#[path = "fidelity/vayu.rs"]
mod fidelity_endpoints;

/// Vayu's conformance tests against its simulator (`tests/common/conformance.rs`); a new
/// grant needs nothing beyond the common fields.
const CONFORMANCE: common::conformance::Conformance = common::conformance::Conformance {
    vendor: creditgate_sim::Vendor::Vayu,
    grant_extra: || serde_json::Value::Null,
    void_deletes: false,
    manual_entry_type: None,
    fidelity: fidelity_endpoints::endpoints,
};
crate::conformance_tests!(CONFORMANCE);

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{any, body_json, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const ACCESS: &str = "vayu-access-1";

async fn mount_login(h: &Harness, token: &str, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/login"))
        .and(body_json(json!({"refreshToken": VAYU_REFRESH})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": token})))
        .expect(expect)
        .mount(&h.vayu)
        .await;
}

async fn mount_ledger(h: &Harness, entries: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path("/credits"))
        .and(query_param("customerId", VAYU_CUSTOMER))
        .and(header("authorization", format!("Bearer {ACCESS}").as_str()))
        .respond_with(VayuLedger { entries })
        .mount(&h.vayu)
        .await;
}

fn ledger_url(limit: usize) -> String {
    format!("/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}&limit={limit}")
}

#[tokio::test]
async fn ledger_walk_logs_in_once_and_sends_last_entry_ids_as_cursors() {
    let h = Harness::with(Options {
        vayu_page_size: Some(3),
        ..Options::new()
    })
    .await;
    mount_login(&h, ACCESS, 1).await;
    mount_ledger(&h, (0..8).map(vayu_entry).collect()).await;

    let pages = h.walk(&ledger_url(4)).await;
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    let expected: Vec<String> = (0..8).map(|i| format!("vayu:65f0c0ffee01234567{i:06x}")).collect();
    assert_eq!(all, expected);
    assert_eq!(pages.len(), 2);
    assert!(
        pages
            .iter()
            .all(|p| !p.body.as_object().unwrap().contains_key("previous_cursor")),
        "Vayu cannot page backwards"
    );

    let credit_calls: Vec<(Option<String>, Option<String>)> = h
        .vayu_requests()
        .await
        .iter()
        .filter(|r| r.url.path() == "/credits")
        .map(|r| (query(r, "cursor"), query(r, "limit")))
        .collect();
    let id = |i: usize| Some(format!("65f0c0ffee01234567{i:06x}"));
    let three = Some("3".to_owned());
    assert_eq!(
        credit_calls,
        // Page 1: [0,1,2] then [3,4,5] (takes 3, resumes after it). Page 2: [4,5,6] then [7].
        vec![
            (None, three.clone()),
            (id(2), three.clone()),
            (id(3), three.clone()),
            (id(6), three)
        ]
    );
}

#[tokio::test]
async fn a_full_last_vendor_page_does_not_leave_an_empty_client_page() {
    let h = Harness::with(Options {
        vayu_page_size: Some(3),
        ..Options::new()
    })
    .await;
    mount_login(&h, ACCESS, 1).await;
    mount_ledger(&h, (0..6).map(vayu_entry).collect()).await;
    let pages = h.walk(&ledger_url(3)).await;
    assert_eq!(pages.len(), 2);
    assert!(pages.iter().all(|p| ids(p).len() == 3));
    assert_eq!(pages[1].body["has_more"], false);
}

#[tokio::test]
async fn entries_map_with_signs_units_and_references() {
    let h = Harness::new().await;
    mount_login(&h, ACCESS, 1).await;
    Mock::given(method("GET"))
        .and(path("/credits"))
        .and(query_param("limit", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("vayu/credit_ledger_entries.json")))
        .mount(&h.vayu)
        .await;
    let page = h
        .get(&format!("/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let grant = &page.body["data"][0];
    assert_eq!(grant["type"], "grant");
    assert_eq!(grant["provider_type"], "Grant");
    assert_eq!(
        grant["amount"],
        json!({"value": "1000", "unit": "USD", "unit_type": "currency"})
    );
    assert_eq!(grant["balance_after"]["value"], "1000");
    assert_eq!(grant["grant"], Value::Null);
    assert_eq!(grant["contract_id"], "65f0c0ffee0123456789c0de");
    assert_eq!(grant["external_refs"], json!([{"system": "NetSuite", "id": "NS-4411"}]));
    assert_eq!(grant["created_at"], "2024-03-01T09:00:00Z");
    let deduct = &page.body["data"][1];
    assert_eq!(deduct["type"], "debit");
    assert_eq!(deduct["amount"]["value"], "-250.5");
    assert_eq!(deduct["invoice_id"], "65f0c0ffee0123456789beef");
    assert_eq!(deduct["external_refs"], json!([{"system": "erp", "id": "ERP-77"}]));
    let negative_deduct = &page.body["data"][2];
    assert_eq!(
        negative_deduct["amount"]["value"], "-49.5",
        "a Deduct lowers the balance whatever its sign"
    );
    assert_eq!(
        negative_deduct["created_at"], "2024-03-08T22:00:00Z",
        "normalized to UTC"
    );
}

#[tokio::test]
async fn huge_amounts_stay_exact_and_unknown_types_are_kept() {
    let h = Harness::new().await;
    mount_login(&h, ACCESS, 1).await;
    Mock::given(path("/credits"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(
                std::fs::read(format!(
                    "{}/fixtures/vayu/credit_ledger_entries.edge-cases.json",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap(),
                "application/json",
            ),
        )
        .mount(&h.vayu)
        .await;
    let page = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}&include=raw"
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["data"][0]["amount"]["value"], "12345678901234567890.123456");
    let refund = &page.body["data"][1];
    assert_eq!(refund["type"], "unknown");
    assert_eq!(refund["provider_type"], "Refund");
    assert_eq!(refund["amount"]["value"], "5");
    assert_eq!(refund["external_refs"][0]["system"], "Chargebee");
    assert_eq!(refund["raw"]["type"], "Refund");

    let balance = h
        .get(&format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"))
        .await;
    assert_eq!(
        balance.body["data"][0]["available"]["value"],
        "12345678901234567895.123456"
    );
}

#[tokio::test]
async fn balance_is_the_newest_entrys_balance_after() {
    let h = Harness::with(Options {
        vayu_page_size: Some(2),
        ..Options::new()
    })
    .await;
    mount_login(&h, ACCESS, 1).await;
    let mut entries: Vec<Value> = (0..5).map(vayu_entry).collect();
    // Out of date order: the newest entry is in the middle of the list.
    entries[2]["createdAt"] = json!("2024-05-01T00:00:00Z");
    entries[2]["balanceAfterEntry"] = json!(42.25);
    mount_ledger(&h, entries).await;
    let r = h
        .get(&format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body["data"][0];
    assert_eq!(b["object"], "credit_balance");
    assert_eq!(b["provider"], "vayu");
    assert_eq!(b["customer"], format!("vayu:{VAYU_CUSTOMER}"));
    assert_eq!(b["unit"], "USD");
    assert_eq!(b["unit_type"], "currency");
    assert_eq!(b["available"]["value"], "42.25");
    assert_eq!(b["pending"], Value::Null);
}

#[tokio::test]
async fn no_entries_is_a_zero_balance_in_the_configured_unit() {
    for (unit, expected) in [
        (
            Some("usd"),
            json!({"value": "0", "unit": "USD", "unit_type": "currency"}),
        ),
        (
            Some("tokens"),
            json!({"value": "0", "unit": "tokens", "unit_type": "custom"}),
        ),
        (None, json!({"value": "0", "unit": "credits", "unit_type": "custom"})),
    ] {
        let h = Harness::with(Options {
            vayu_unit: unit,
            ..Options::new()
        })
        .await;
        mount_login(&h, ACCESS, 1).await;
        mount_ledger(&h, Vec::new()).await;
        let r = h
            .get(&format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"))
            .await;
        assert_eq!(r.body["data"][0]["available"], expected, "{unit:?}");
        assert_eq!(r.body["data"][0]["unit"], expected["unit"]);
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "stale"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.vayu)
        .await;
    mount_login(&h, ACCESS, 1).await;
    Mock::given(path("/credits"))
        .and(header("authorization", "Bearer stale"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("vayu/error.unauthorized.json")))
        .expect(1)
        .mount(&h.vayu)
        .await;
    mount_ledger(&h, (0..2).map(vayu_entry).collect()).await;
    let r = h.get(&ledger_url(10)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r).len(), 2);
}

#[tokio::test]
async fn a_persistent_401_is_upstream_auth_failed_after_one_refresh() {
    let h = Harness::new().await;
    mount_login(&h, ACCESS, 2).await;
    Mock::given(path("/credits"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("vayu/error.unauthorized.json")))
        .expect(2)
        .mount(&h.vayu)
        .await;
    let r = h.get(&ledger_url(10)).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.code(), "upstream_auth_failed");
}

#[tokio::test]
async fn concurrent_requests_share_one_login() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_millis(200))
                .set_body_json(json!({"accessToken": ACCESS})),
        )
        .expect(1)
        .mount(&h.vayu)
        .await;
    mount_ledger(&h, (0..3).map(vayu_entry).collect()).await;
    let url = ledger_url(10);
    let results = futures_join_all((0..20).map(|_| h.get(&url))).await;
    assert!(results.iter().all(|r| r.status == 200));
}

/// `join_all` without the futures crate: spawn-free, polls all on this task.
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn a_refused_refresh_token_is_upstream_auth_failed() {
    let h = Harness::new().await;
    Mock::given(path("/login"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("vayu/error.unauthorized.json")))
        .expect(1)
        .mount(&h.vayu)
        .await;
    let r = h.get(&ledger_url(10)).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.code(), "upstream_auth_failed");
    assert!(!r.body.to_string().contains(VAYU_REFRESH));
}

#[tokio::test]
async fn vendor_errors_map_to_contract_errors() {
    for (template, status, code) in [
        (
            ResponseTemplate::new(429).set_body_json(fixture("vayu/error.rate-limit.json")),
            503,
            "upstream_rate_limited",
        ),
        (
            ResponseTemplate::new(500).set_body_json(fixture("vayu/error.internal.json")),
            502,
            "upstream_server_error",
        ),
        (
            ResponseTemplate::new(400).set_body_json(fixture("vayu/error.validation.json")),
            502,
            "upstream_request_rejected",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"entries": [{"id": "x"}]})),
            502,
            "upstream_invalid_response",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"items": []})),
            502,
            "upstream_invalid_response",
        ),
    ] {
        let h = Harness::new().await;
        mount_login(&h, ACCESS, 1).await;
        Mock::given(path("/credits"))
            .respond_with(template)
            .mount(&h.vayu)
            .await;
        let r = h.get(&ledger_url(10)).await;
        assert_eq!((r.status, r.code()), (status, code), "{}", r.body);
        assert_eq!(r.body["error"]["provider"], "vayu");
    }
}

#[tokio::test]
async fn vayu_has_no_grants_and_bad_ids_never_reach_it() {
    let h = Harness::new().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&h.vayu)
        .await;

    let r = h.get(&format!("/v1/credit_grants?customer=vayu:{VAYU_CUSTOMER}")).await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));
    assert_eq!(r.body["error"]["message"], "vayu does not support credit_grants");
    assert_eq!(r.body["error"]["type"], "unsupported_error");

    let r = h.get("/v1/credit_grants/vayu:65f0c0ffee0123456789abcd").await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));

    for bad in [
        "vayu:65f0c0ffee0123456789abc",
        "vayu:65f0c0ffee0123456789abcg",
        "vayu:cus_123",
        "vayu:..%2F..%2Flogin",
    ] {
        let r = h.get(&format!("/v1/credit_ledger_entries?customer={bad}")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_parameter"), "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["param"], "customer");
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Vayu customer id"));
    }
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}&grant=vayu:abc"
        ))
        .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));
}
