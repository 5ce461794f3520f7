//! The HTTP contract end to end through the real router: auth, errors, ops routes,
//! bad input refused before any vendor call, cursor binding, customers across vendors.

mod common;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{any, header, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn authentication_errors_use_the_contract_format() {
    let h = Harness::new().await;
    forbid_vendor_calls(&h).await;
    let r = h.get_as("/v1/providers", None, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["type"], "authentication_error");
    assert_eq!(r.code(), "missing_api_key");
    let request_id = r.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(r.body["error"]["request_id"], request_id);
    assert!(request_id.starts_with("req_"));

    for header_value in ["Bearer wrong", "Basic Y2c6", "Bearer", "cg_test_app_key"] {
        let r = h
            .get_as("/v1/providers", None, &[("authorization", header_value)])
            .await;
        assert_eq!((r.status, r.code()), (401, "invalid_api_key"), "{header_value}");
    }
    let r = h.get_as("/v1/providers", Some(API_KEY), &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn request_ids_are_echoed_and_forwarded_to_the_vendor() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_grants"))
        .and(header("x-request-id", "client-req-42"))
        .respond_with(StripeList {
            items: vec![stripe_grant(0)],
            url: "/v1/billing/credit_grants",
        })
        .expect(1)
        .mount(&h.stripe)
        .await;
    let r = h
        .get_as(
            "/v1/credit_grants?customer=stripe:cus_1",
            Some(API_KEY),
            &[("x-request-id", "client-req-42")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers.get("x-request-id").unwrap(), "client-req-42");
    let r = h
        .get_as("/healthz", None, &[("x-request-id", "bad id with spaces")])
        .await;
    assert_ne!(r.headers.get("x-request-id").unwrap(), "bad id with spaces");
}

#[tokio::test]
async fn ops_routes() {
    let h = Harness::new().await;
    assert_eq!(h.get_as("/healthz", None, &[]).await.body, json!({"status": "ok"}));
    let ready = h.get_as("/readyz", None, &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ready");
    // Stopping: not ready for new traffic while open connections finish.
    h.gateway.start_draining();
    let draining = h.get_as("/readyz", None, &[]).await;
    assert_eq!((draining.status, &draining.body["status"]), (503, &json!("draining")));
    assert_eq!(
        ready.body["providers"].as_array().unwrap().len(),
        creditgate::model::ProviderKind::ALL.len()
    );
    let openapi = h.get_as("/openapi.json", None, &[]).await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.body["paths"]["/v1/credit_grants"].is_object());
    h.get("/v1/providers").await;
    let metrics = h.get_as("/metrics", None, &[]).await;
    assert!(metrics
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(metrics
        .body
        .as_str()
        .unwrap()
        .contains("creditgate_http_requests_total{method=\"GET\",route=\"/v1/providers\",status=\"200\"}"));
    assert!(metrics.body.as_str().unwrap().contains(
        "creditgate_http_request_duration_seconds_bucket{class=\"2xx\",method=\"GET\",route=\"/v1/providers\",le=\"15\"}"
    ));

    let r = h.get("/v1/nope").await;
    assert_eq!((r.status, r.code()), (404, "route_not_found"));
    let response = tower::ServiceExt::oneshot(
        h.app.clone(),
        axum::http::Request::delete("/v1/credit_grants")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn providers_show_capabilities_and_health() {
    let h = Harness::new().await;
    let r = h.get("/v1/providers").await;
    assert_eq!(r.body["object"], "list");
    let data = r.body["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|p| p["id"].as_str().unwrap()).collect();
    let every: Vec<&str> = creditgate::model::ProviderKind::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(ids, every);
    assert_eq!(data[0]["capabilities"]["backward_paging"], true);
    assert_eq!(data[0]["health"], "unknown");
    assert_eq!(
        data[1]["capabilities"]["grant_lookup"], false,
        "metronome lists credits per customer only"
    );
    assert_eq!(
        data[2]["capabilities"]["backward_paging"], true,
        "sequence pages back with `before`"
    );
    assert_eq!(data[3]["capabilities"]["ledger_by_grant"], true);
    assert_eq!(data[3]["capabilities"]["backward_paging"], false);
    assert_eq!(
        data[4]["capabilities"],
        json!({
            "credit_grants": false, "account_wide_grants": false, "grant_lookup": false, "credit_ledger": true,
            "ledger_by_grant": false, "credit_balances": true, "backward_paging": false,
            "create_grants": false, "void_grants": false, "expire_grants": false, "ledger_adjustments": true
        })
    );

    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.stripe)
        .await;
    h.get("/v1/credit_grants?customer=stripe:cus_1").await;
    let r = h.get("/v1/providers").await;
    assert_eq!(r.body["data"][0]["health"], "failing");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_vendor_call() {
    let h = Harness::new().await;
    forbid_vendor_calls(&h).await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "/v1/credit_grants?customer=stripe:cus_1&provider=paypal",
            "invalid_parameter",
            "provider",
        ),
        (
            "/v1/credit_grants?customer=paypal:cus_1",
            "invalid_parameter",
            "customer",
        ),
        ("/v1/credit_grants?customer=nobody", "unknown_customer", "customer"),
        ("/v1/credit_grants?customer=", "invalid_parameter", "customer"),
        (
            "/v1/credit_grants?customer=stripe:65f0c0ffee0123456789abcd",
            "invalid_parameter",
            "customer",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1%2F..%2Fcharges",
            "invalid_parameter",
            "customer",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&provider=vayu",
            "invalid_parameter",
            "provider",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&limit=0",
            "invalid_parameter",
            "limit",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&limit=501",
            "invalid_parameter",
            "limit",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&limit=abc",
            "invalid_parameter",
            "limit",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&limit=-1",
            "invalid_parameter",
            "limit",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&limit=1&limit=2",
            "invalid_parameter",
            "limit",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&cursor=garbage",
            "invalid_cursor",
            "cursor",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&status=bogus",
            "invalid_parameter",
            "status",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&include=ledger",
            "invalid_parameter",
            "include",
        ),
        (
            "/v1/credit_grants?customer=stripe:cus_1&foo=1",
            "invalid_parameter",
            "foo",
        ),
        ("/v1/credit_grants", "invalid_parameter", "customer"),
        (
            "/v1/credit_grants/stripe:65f0c0ffee0123456789abcd",
            "invalid_parameter",
            "id",
        ),
        ("/v1/credit_grants/stripe:cus_1", "invalid_parameter", "id"),
        ("/v1/credit_grants/credgr_123", "invalid_parameter", "id"),
        (
            "/v1/credit_grants/stripe:credgr_1?include=everything",
            "invalid_parameter",
            "include",
        ),
        (
            "/v1/credit_ledger_entries?customer=stripe:cus_1&grant=stripe:cus_1",
            "invalid_parameter",
            "grant",
        ),
        (
            "/v1/credit_ledger_entries?customer=stripe:cus_1&grant=credgr_1",
            "invalid_parameter",
            "grant",
        ),
        (
            "/v1/credit_ledger_entries?grant=stripe:credgr_1",
            "invalid_parameter",
            "customer",
        ),
        ("/v1/credit_balances", "invalid_parameter", "customer"),
        ("/v1/credit_balances?customer=vayu:xyz", "invalid_parameter", "customer"),
    ];
    for (url, code, param) in cases {
        let r = h.get(url).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert_eq!(r.code(), *code, "{url}: {}", r.body);
        assert_eq!(r.body["error"]["param"], *param, "{url}: {}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    // A capability the vendor lacks: a precise 501 naming it, no call.
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}&grant=vayu:abc"
        ))
        .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));
    assert_eq!(r.body["error"]["message"], "vayu does not support ledger_by_grant");
    for bad in ["togai:..", "togai:ACC%2F001", "togai:ACC%20001"] {
        let r = h.get(&format!("/v1/credit_balances?customer={bad}")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_parameter"), "{bad}");
        assert_eq!(r.body["error"]["param"], "customer");
    }
    let r = h.get("/v1/credit_grants/togai:cred%2F..%2Fx").await;
    assert_eq!((r.status, r.code()), (400, "invalid_parameter"));
}

#[tokio::test]
async fn keys_limited_to_providers_and_customers() {
    let h = Harness::new().await;
    mount_stripe_grants(&h, 1).await;
    let get = |url: &'static str| h.get_as(url, Some(STRIPE_ONLY_KEY), &[]);
    let r = get("/v1/credit_grants?customer=stripe:cus_1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get("/v1/credit_ledger_entries?customer=vayu:65f0c0ffee0123456789abcd").await;
    assert_eq!((r.status, r.code()), (403, "provider_not_allowed"));
    assert_eq!(r.body["error"]["type"], "permission_error");
    let r = get("/v1/credit_grants?customer=stripe:cus_2").await;
    assert_eq!((r.status, r.code()), (403, "customer_not_allowed"));
    let r = get("/v1/credit_grants?provider=stripe").await;
    assert_eq!((r.status, r.code()), (403, "customer_not_allowed"));
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_not_buffered() {
    let h = Harness::with(Options {
        upstream: "max_body_bytes = 2048",
        ..Options::new()
    })
    .await;
    Mock::given(path("/v1/billing/credit_grants"))
        .respond_with(StripeList {
            items: (0..40).map(stripe_grant).collect(),
            url: "/v1/billing/credit_grants",
        })
        .mount(&h.stripe)
        .await;
    let r = h.get("/v1/credit_grants?customer=stripe:cus_1").await;
    assert_eq!((r.status, r.code()), (502, "upstream_invalid_response"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("2048 byte cap"));
}

#[tokio::test]
async fn providers_missing_from_the_config_are_a_400() {
    let dir = std::env::temp_dir().join(format!("creditgate-only-vayu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s"), "secret-long-enough-to-sign-cursors-too").unwrap();
    let config = creditgate::Config::from_toml_str(&format!(
        "cursor_secret = \"file:{d}/s\"\n[[api_keys]]\nname = \"a\"\nkey_sha256 = \"{k}\"\n[providers.vayu]\nsecret = \"file:{d}/s\"\nbase_url = \"http://127.0.0.1:9\"\n",
        d = dir.display(),
        k = sha256_hex(API_KEY)
    ))
    .unwrap();
    let app = creditgate::api::router(creditgate::Gateway::from_config(&config).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    for (url, param) in [
        ("/v1/credit_grants?provider=stripe", "provider"),
        ("/v1/credit_balances?customer=togai:ACC001", "customer"),
        ("/v1/credit_grants/sequence:00000000-0000-4000-9000-000000000001", "id"),
    ] {
        let request = axum::http::Request::get(url)
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request).await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        let body: Value =
            serde_json::from_slice(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
        assert_eq!(body["error"]["param"], param, "{url}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("is not configured"),
            "{body}"
        );
    }
}

/// Issue 17, defect 3: a key limited to some customers asking for another customer's grant
/// by id got `403 ... may not read customer <the owner>`, while an unknown id got 404, so
/// the key could probe which ids exist and whose they are. Both are now the same 404.
#[tokio::test]
async fn a_restricted_key_cannot_tell_another_customers_grant_from_a_missing_one() {
    let h = Harness::new().await;
    let mut others = stripe_grant(7);
    others["customer"] = json!("cus_2");
    Mock::given(path("/v1/billing/credit_grants/credgr_0007"))
        .respond_with(ResponseTemplate::new(200).set_body_json(others))
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_grants/credgr_0008"))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture("stripe/error.no-such-grant.json")))
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_summary()))
        .mount(&h.stripe)
        .await;
    let url = |id: &str| format!("/v1/credit_grants/stripe:{id}?include=ledger");
    let not_theirs = h.get_as(&url("credgr_0007"), Some(STRIPE_ONLY_KEY), &[]).await;
    let missing = h.get_as(&url("credgr_0008"), Some(STRIPE_ONLY_KEY), &[]).await;
    for r in [&not_theirs, &missing] {
        assert_eq!((r.status, r.code()), (404, "grant_not_found"), "{}", r.body);
    }
    let message = |r: &TestResponse| r.body["error"]["message"].as_str().unwrap().replace(['7', '8'], "#");
    assert_eq!(message(&not_theirs), message(&missing));
    assert!(!not_theirs.body.to_string().contains("cus_2"), "{}", not_theirs.body);
    // The other customer's ledger was never read.
    let ledger_reads = h
        .stripe_requests()
        .await
        .into_iter()
        .filter(|r| r.url.path().contains("credit_balance_transactions"))
        .count();
    assert_eq!(ledger_reads, 0);
    // An unrestricted key still sees the grant.
    let r = h.get("/v1/credit_grants/stripe:credgr_0007").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Issue 17, defect 7: two `Authorization` headers, `limit=+5` or `05`, a 20 KB bad id
/// echoed whole, and id errors reading "expected `` followed by ...".
#[tokio::test]
async fn ambiguous_input_is_refused_and_bad_values_are_quoted_short() {
    let h = Harness::new().await;
    let twice = axum::http::Request::get("/v1/providers")
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("authorization", format!("Bearer {OTHER_TENANT_KEY}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(creditgate::api::router(h.gateway.clone()), twice)
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    for limit in ["+5", "05", "%205", "5.0"] {
        let r = h
            .get(&format!("/v1/credit_grants?customer=stripe:cus_1&limit={limit}"))
            .await;
        assert_eq!(
            (r.status, r.body["error"]["param"].as_str()),
            (400, Some("limit")),
            "limit={limit}"
        );
    }

    let huge = "x".repeat(20_000);
    let r = h.get(&format!("/v1/credit_grants?customer=stripe:{huge}")).await;
    assert_eq!(r.status, 400);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.len() < 300, "{} bytes: {}", message.len(), &message[..200]);
    assert!(message.contains("(20000 bytes)"), "{message}");

    let r = h.get("/v1/credit_ledger_entries?customer=vayu:nothex").await;
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("``"), "{message}");
    assert!(message.contains("expected 24 hex characters"), "{message}");
}
