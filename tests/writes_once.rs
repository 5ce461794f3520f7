//! Exactly once at the edges against mock vendors: an accepted write whose answer cannot be
//! read, a client hanging up at any instant, a retry after a refusal, and ending a grant
//! already ended.

mod common;

use common::writing::*;
use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

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
