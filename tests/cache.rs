//! The vendor cache: coalesced misses, hits, `Cache-Control: no-cache`, TTL overrides,
//! failures never stored, and authorization before any cached answer.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const BALANCES: &str = "/v1/credit_balances?customer=stripe:cus_1";

async fn mount_summary(h: &Harness, status: u16, delay: Duration, calls: u64) {
    let body = if status == 200 {
        stripe_summary()
    } else {
        json!({"error": {"type": "api_error", "message": "boom"}})
    };
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(status).set_delay(delay).set_body_json(body))
        .expect(calls)
        .mount(&h.stripe)
        .await;
}

fn x_cache(r: &TestResponse) -> Option<&str> {
    r.headers.get("x-cache").and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn fifty_concurrent_identical_misses_make_one_vendor_call() {
    let h = Harness::new().await;
    mount_summary(&h, 200, Duration::from_millis(300), 1).await;
    let responses = futures_util::future::join_all((0..50).map(|_| h.get(BALANCES))).await;
    assert!(responses.iter().all(|r| r.status == 200));
    assert!(responses
        .iter()
        .all(|r| r.body["data"][0]["available"] == json!({"value": "12.50", "unit": "USD", "unit_type": "currency"})));
    let misses = responses.iter().filter(|r| x_cache(r) == Some("miss")).count();
    assert!(misses >= 1, "the call that went to Stripe is a miss");
    assert!(responses.iter().all(|r| matches!(x_cache(r), Some("miss" | "hit"))));
}

#[tokio::test]
async fn a_repeat_is_a_hit_and_no_cache_asks_the_vendor_again() {
    let h = Harness::new().await;
    mount_summary(&h, 200, Duration::ZERO, 2).await;
    assert_eq!(x_cache(&h.get(BALANCES).await), Some("miss"));
    assert_eq!(x_cache(&h.get(BALANCES).await), Some("hit"));
    let fresh = h
        .get_as(BALANCES, Some(API_KEY), &[("cache-control", "no-cache")])
        .await;
    assert_eq!(fresh.status, 200);
    assert_eq!(x_cache(&fresh), Some("bypass"));
    assert_eq!(x_cache(&h.get(BALANCES).await), Some("hit"));
    // Endpoints that ask no vendor carry no X-Cache.
    assert_eq!(x_cache(&h.get("/v1/providers").await), None);
}

#[tokio::test]
async fn the_caller_is_checked_before_any_cached_answer() {
    let h = Harness::new().await;
    mount_summary(&h, 200, Duration::ZERO, 1).await;
    assert_eq!(h.get(BALANCES).await.status, 200);
    let anonymous = h.get_as(BALANCES, None, &[]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(x_cache(&anonymous), None);
    let wrong_key = h.get_as(BALANCES, Some("cg_not_a_key"), &[]).await;
    assert_eq!(wrong_key.status, 401);
    // A key limited to other customers is refused, though the answer sits in the cache.
    let limited = h
        .get_as("/v1/credit_balances?customer=stripe:cus_2", Some(STRIPE_ONLY_KEY), &[])
        .await;
    assert_eq!(limited.status, 403);
}

#[tokio::test]
async fn vendor_failures_are_never_stored() {
    let h = Harness::with(Options {
        upstream: "retry = { max_attempts = 1 }",
        ..Options::new()
    })
    .await;
    mount_summary(&h, 500, Duration::ZERO, 2).await;
    for _ in 0..2 {
        let r = h.get(BALANCES).await;
        assert_eq!(r.status, 502, "{}", r.body);
        assert_eq!(x_cache(&r), Some("miss"));
    }
}

#[tokio::test]
async fn a_ttl_of_zero_in_config_turns_the_cache_off_for_that_vendor() {
    let h = Harness::with(Options {
        upstream: "cache_ttl_secs = { stripe = 0 }",
        ..Options::new()
    })
    .await;
    mount_summary(&h, 200, Duration::ZERO, 2).await;
    for _ in 0..2 {
        let r = h.get(BALANCES).await;
        assert_eq!(r.status, 200);
        assert_eq!(x_cache(&r), None);
    }
}

#[tokio::test]
async fn invalidating_a_customer_drops_their_answers_and_only_theirs() {
    let h = Harness::new().await;
    mount_summary(&h, 200, Duration::ZERO, 3).await;
    let other = "/v1/credit_balances?customer=stripe:cus_2";
    for path in [BALANCES, other] {
        assert_eq!(x_cache(&h.get(path).await), Some("miss"));
        assert_eq!(x_cache(&h.get(path).await), Some("hit"));
    }
    // Through the alias: `acme` is stripe:cus_1 (and a Vayu customer).
    h.gateway.invalidate_customer("acme").await.unwrap();
    assert_eq!(x_cache(&h.get(BALANCES).await), Some("miss"), "cus_1 asked again");
    assert_eq!(x_cache(&h.get(other).await), Some("hit"), "cus_2 kept");
    assert_eq!(
        h.gateway
            .invalidate_customer("nobody")
            .await
            .unwrap_err()
            .type_and_code()
            .1,
        "unknown_customer"
    );
}

/// Issue 17, defect 2: a vendor 200 that creditgate cannot normalize (a body cut off, an
/// amount it cannot read) was stored, and every client got `502 X-Cache: hit` until the TTL
/// ran out. Only answers that normalized cleanly are stored.
#[tokio::test]
async fn a_success_status_whose_body_does_not_normalize_is_never_stored() {
    let h = Harness::new().await;
    let whole = serde_json::to_string(&stripe_summary()).unwrap();
    let cut_off = &whole[..whole.len() / 2];
    let mut unreadable = stripe_summary();
    unreadable["balances"][0]["available_balance"]["type"] = json!("mystery");
    for (body, times) in [(cut_off.to_owned(), 1), (unreadable.to_string(), 1)] {
        Mock::given(path("/v1/billing/credit_balance_summary"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&h.stripe)
            .await;
    }
    mount_summary(&h, 200, Duration::ZERO, 1).await;
    for attempt in ["cut off", "unreadable amount"] {
        let failed = h.get(BALANCES).await;
        assert_eq!(failed.status, 502, "{attempt}: {}", failed.body);
        assert_eq!(failed.code(), "upstream_invalid_response", "{attempt}");
    }
    let next = h.get(BALANCES).await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(x_cache(&next), Some("miss"));
    assert_eq!(x_cache(&h.get(BALANCES).await), Some("hit"));
    assert_eq!(h.stripe_requests().await.len(), 3);
}

/// The raw answer to `GET path` with `headers`: status, headers and the body's bytes.
async fn raw_get(h: &Harness, path: &str, headers: &[(&str, &str)]) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    let mut request = axum::http::Request::get(path).header("authorization", format!("Bearer {API_KEY}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let app = creditgate::api::app(h.gateway.clone());
    let response = tower::ServiceExt::oneshot(app, request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, body.to_vec())
}

/// Issue 13: a client holding the answer's `ETag` gets `304` with no body, counted as a hit,
/// and the vendor is not asked.
#[tokio::test]
async fn a_hit_with_if_none_match_is_a_304_without_body_or_vendor_call() {
    let h = Harness::new().await;
    mount_summary(&h, 200, Duration::ZERO, 1).await;
    let (status, headers, body) = raw_get(&h, BALANCES, &[]).await;
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
    let (status, headers, empty) = raw_get(&h, BALANCES, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 304);
    assert!(empty.is_empty());
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(headers["x-cache"], "hit");
    // Another tag: the whole answer, the same bytes.
    let (status, _, again) = raw_get(&h, BALANCES, &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!((status, again), (200, body));
    assert_eq!(h.stripe_requests().await.len(), 1);
}

/// Issue 13: `Accept-Encoding` gets the compressed form, which decompresses to the very
/// bytes of the plain answer; a hit sends the form made the first time.
#[tokio::test]
async fn a_compressed_answer_decompresses_to_the_identical_json() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_balance_transactions"))
        .respond_with(StripeList {
            items: (0..40).map(stripe_txn).collect(),
            url: "/v1/billing/credit_balance_transactions",
        })
        .expect(1)
        .mount(&h.stripe)
        .await;
    let page = "/v1/credit_ledger_entries?customer=stripe:cus_1&limit=40";
    let (_, plain_headers, plain) = raw_get(&h, page, &[]).await;
    assert!(plain.len() > 4096, "{}", plain.len());
    let (_, headers, gz) = raw_get(&h, page, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(headers["etag"], plain_headers["etag"]);
    assert!(gz.len() < plain.len() / 3);
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
    let (_, headers, br) = raw_get(&h, page, &[("accept-encoding", "gzip;q=0.5, br")]).await;
    assert_eq!(headers["content-encoding"], "br");
    let mut unbrotlied = Vec::new();
    brotli::BrotliDecompress(&mut &br[..], &mut unbrotlied).unwrap();
    assert_eq!(unbrotlied, plain);
    let (_, headers, again) = raw_get(&h, page, &[("accept-encoding", "gzip")]).await;
    assert_eq!((headers["x-cache"].to_str().unwrap(), again), ("hit", gz));
    // Refused codings and small answers are sent as they are.
    let (_, headers, _) = raw_get(&h, page, &[("accept-encoding", "gzip;q=0, identity")]).await;
    assert!(headers.get("content-encoding").is_none());
}

/// Issue 13: a kept answer reaches only the key that was authorized for it.
#[tokio::test]
async fn a_kept_answer_is_not_served_to_a_key_that_may_not_read_it() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_summary()))
        .mount(&h.stripe)
        .await;
    let other_customer = "/v1/credit_balances?customer=stripe:cus_2";
    assert_eq!(h.get(other_customer).await.status, 200);
    assert_eq!(x_cache(&h.get(other_customer).await), Some("hit"));
    let restricted = h.get_as(other_customer, Some(STRIPE_ONLY_KEY), &[]).await;
    assert_eq!((restricted.status, restricted.code()), (403, "customer_not_allowed"));
}
