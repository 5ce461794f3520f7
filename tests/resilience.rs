//! Resilience (ARCHITECTURE.md, "The path of a request") under faults: inbound quotas, the outbound pace, retries and their budget,
//! the circuit breaker, deadlines and the per-vendor bulkhead, each against wiremock
//! vendors (or a raw TCP server for the faults wiremock cannot make).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::*;
use common::*;
use futures_util::StreamExt;
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Respond, ResponseTemplate};

// ---- inbound quotas ----

#[tokio::test]
async fn every_authenticated_response_carries_the_keys_ratelimit_headers() {
    let h = Harness::with(Options {
        // One token a second refills: the three requests below see 9, 8, 7 however slow.
        inbound: "requests_per_second = 1\nburst = 10",
        ..Options::new()
    })
    .await;
    stripe_always(&h, ok_summary()).await;
    let ok = h.get(BALANCES).await;
    let bad = h.get("/v1/credit_balances?customer=stripe:cus_1&bogus=1").await;
    let missing = h.get("/v1/credit_grants/nowhere:x").await;
    assert_eq!((ok.status, bad.status), (200, 400));
    assert!(missing.status >= 400, "{}", missing.body);
    let remaining: Vec<u64> = [&ok, &bad, &missing]
        .iter()
        .map(|r| {
            assert_eq!(header(r, "ratelimit-limit"), Some("10"));
            assert!((1..=3).contains(&header_num(r, "ratelimit-reset")));
            header_num(r, "ratelimit-remaining")
        })
        .collect();
    assert_eq!(remaining, [9, 8, 7]);
}

#[tokio::test]
async fn a_key_past_its_quota_gets_429_before_any_vendor_call() {
    let h = Harness::with(Options {
        app_key: "requests_per_second = 1\nburst = 2",
        ..Options::new()
    })
    .await;
    stripe_always(&h, ok_summary()).await;
    for _ in 0..2 {
        assert_eq!(h.get_as(BALANCES, Some(API_KEY), NO_CACHE).await.status, 200);
    }
    let refused = h.get_as(BALANCES, Some(API_KEY), NO_CACHE).await;
    assert_eq!(
        (refused.status, refused.code()),
        (429, "rate_limited"),
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["type"], "rate_limit_error");
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    assert_eq!(header(&refused, "ratelimit-remaining"), Some("0"));
    assert_eq!(stripe_calls(&h).await, 2, "the refused request reached no vendor");
    // Quotas are per key: another key is unaffected.
    let other = h.get_as(BALANCES, Some(OTHER_TENANT_KEY), NO_CACHE).await;
    assert_eq!(other.status, 200);
    assert_eq!(header(&other, "ratelimit-limit"), Some("200"), "the [inbound] default");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(h.get(BALANCES).await.status, 200, "the quota refills");
}

// ---- outbound pace ----

/// Answers with `template` and notes when each request arrived.
struct Stamped {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    template: ResponseTemplate,
}

impl Respond for Stamped {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        self.template.clone()
    }
}

/// The most requests that arrived within any one-second window.
fn busiest_second(arrivals: &[Instant]) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|t| **t < sorted[i] + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_at_togais_ten_a_second_never_exceed_ten_in_any_second() {
    let h = Harness::with(Options {
        // Togai's documented rate (no test override), and waits long enough for all 200.
        upstream: "outbound_rate = {}\nrate_wait_ms = 60000\ndeadline_ms = 60000",
        inbound: "requests_per_second = 1000\nburst = 1000",
        ..Options::new()
    })
    .await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(path_regex(r"^/accounts/[^/]+/credit_balance$"))
        .respond_with(Stamped {
            arrivals: arrivals.clone(),
            template: togai_balance(),
        })
        .mount(&h.togai)
        .await;
    let started = Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter(0..200)
        .map(|i| {
            let api = &h.api;
            async move {
                api.get(&format!("/v1/credit_balances?customer=togai:ACC{i:04}"))
                    .await
                    .status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 200);
    assert!(
        busiest_second(&arrivals) <= 10,
        "{} in one second",
        busiest_second(&arrivals)
    );
    assert!(started.elapsed() >= Duration::from_secs(19), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_call_that_would_wait_past_rate_wait_ms_gets_503_with_retry_after() {
    let h = Harness::with(Options {
        upstream: "outbound_rate = { togai = { requests = 1, per_secs = 60 } }\nrate_wait_ms = 100",
        ..Options::new()
    })
    .await;
    Mock::given(path_regex(r"^/accounts/[^/]+/credit_balance$"))
        .respond_with(togai_balance())
        .expect(1)
        .mount(&h.togai)
        .await;
    assert_eq!(h.get("/v1/credit_balances?customer=togai:ACC1").await.status, 200);
    let started = Instant::now();
    let r = h.get("/v1/credit_balances?customer=togai:ACC2").await;
    assert_eq!((r.status, r.code()), (503, "upstream_rate_limited"), "{}", r.body);
    assert!(header_num(&r, "retry-after") >= 58);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn each_vendor_is_paced_at_its_documented_rate_per_credential() {
    let h = Harness::with(Options {
        upstream: "outbound_rate = {}",
        ..Options::new()
    })
    .await;
    let providers = h.get("/v1/providers").await;
    let rates: Vec<(String, serde_json::Value)> = providers.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["outbound_rate"].clone()))
        .collect();
    let rate = |requests: u32, per_secs: u32| json!({"requests": requests, "per_secs": per_secs});
    assert_eq!(
        rates,
        [
            // The harness's Stripe key is a test-mode key (sk_test_…).
            ("stripe".to_owned(), rate(25, 1)),
            ("metronome".to_owned(), rate(100, 1)),
            ("sequence".to_owned(), rate(1500, 60)),
            ("togai".to_owned(), rate(10, 1)),
            ("vayu".to_owned(), rate(500, 1)),
            ("lago".to_owned(), rate(50, 1)),
        ]
    );
}

// ---- retries ----

#[tokio::test]
async fn a_transient_server_error_is_retried_and_the_client_never_sees_it() {
    let h = Harness::new().await;
    stripe_fails_then_recovers(&h, ResponseTemplate::new(503), 2).await;
    let r = h.get(BALANCES).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(stripe_calls(&h).await, 3);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let h = Harness::new().await;
    stripe_always(&h, ResponseTemplate::new(500)).await;
    let r = h.get(BALANCES).await;
    assert_eq!((r.status, r.code()), (502, "upstream_server_error"));
    assert_eq!(stripe_calls(&h).await, 3);
}

#[tokio::test]
async fn a_short_retry_after_is_honoured() {
    let h = Harness::new().await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(fixture("stripe/error.rate-limit.json"));
    stripe_fails_then_recovers(&h, limited, 1).await;
    let started = Instant::now();
    let r = h.get(BALANCES).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let calls = h.stripe_requests().await;
    assert_eq!(calls.len(), 2);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[tokio::test]
async fn a_long_retry_after_is_passed_to_the_client_and_holds_the_lane() {
    let h = Harness::with(Options {
        upstream: "rate_wait_ms = 200",
        ..Options::new()
    })
    .await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "30")
        .set_body_json(fixture("stripe/error.rate-limit.json"));
    stripe_always(&h, limited).await;
    let started = Instant::now();
    let r = h.get(BALANCES).await;
    assert_eq!((r.status, r.code()), (503, "upstream_rate_limited"), "{}", r.body);
    assert_eq!(header(&r, "retry-after"), Some("30"));
    // The next call to that credential does not ask Stripe before the 30 s are up.
    let again = h.get("/v1/credit_balances?customer=stripe:cus_2").await;
    assert_eq!((again.status, again.code()), (503, "upstream_rate_limited"));
    assert!(header_num(&again, "retry-after") >= 29);
    assert_eq!(stripe_calls(&h).await, 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn stripe_should_retry_overrides_the_status() {
    let h = Harness::new().await;
    stripe_always(
        &h,
        ResponseTemplate::new(500).insert_header("stripe-should-retry", "false"),
    )
    .await;
    assert_eq!(h.get(BALANCES).await.status, 502);
    assert_eq!(stripe_calls(&h).await, 1, "Stripe said not to retry");

    let h = Harness::new().await;
    let conflict = ResponseTemplate::new(409)
        .insert_header("stripe-should-retry", "true")
        .set_body_json(json!({"error": {"type": "invalid_request_error", "message": "lock timeout"}}));
    stripe_fails_then_recovers(&h, conflict, 1).await;
    assert_eq!(h.get(BALANCES).await.status, 200);
    assert_eq!(stripe_calls(&h).await, 2, "Stripe said to retry a 409");
}

#[tokio::test]
async fn a_login_post_is_never_retried() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&h.vayu)
        .await;
    let r = h
        .get(&format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"))
        .await;
    assert_eq!((r.status, r.code()), (502, "upstream_server_error"), "{}", r.body);
}

#[tokio::test]
async fn the_retry_budget_keeps_a_failing_vendor_from_a_retry_storm() {
    let h = Harness::with(Options {
        // The breaker is kept shut so that every request reaches the vendor.
        upstream: "retry = { base_delay_ms = 1, max_delay_ms = 2 }\n\
                   breaker = { consecutive_failures = 1000000, window = 1000000 }",
        ..Options::new()
    })
    .await;
    stripe_always(&h, ResponseTemplate::new(500)).await;
    for i in 0..100 {
        let r = h.get(&format!("/v1/credit_balances?customer=stripe:cus_{i}")).await;
        assert_eq!(r.status, 502);
    }
    let calls = stripe_calls(&h).await;
    // 100 requests; without a budget, 300 attempts. The budget: a reserve of 10, then 20%.
    assert!((110..=130).contains(&calls), "{calls} vendor calls for 100 requests");
}

// ---- circuit breaker ----

#[tokio::test]
async fn the_breaker_opens_fails_fast_shows_its_state_and_recovers_through_a_probe() {
    let h = Harness::with(Options {
        upstream: "retry = { max_attempts = 1 }\nbreaker = { open_ms = 500 }",
        ..Options::new()
    })
    .await;
    stripe_always(&h, ResponseTemplate::new(502)).await;
    for _ in 0..5 {
        assert_eq!(h.get_as(BALANCES, Some(API_KEY), NO_CACHE).await.status, 502);
    }
    let started = Instant::now();
    let r = h.get_as(BALANCES, Some(API_KEY), NO_CACHE).await;
    assert_eq!((r.status, r.code()), (503, "circuit_open"), "{}", r.body);
    assert_eq!(r.body["error"]["type"], "upstream_unavailable");
    assert_eq!(r.body["error"]["provider"], "stripe");
    assert_eq!(header(&r, "retry-after"), Some("1"));
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(stripe_calls(&h).await, 5, "no call while open");

    let circuit_of = |body: &serde_json::Value, list: &str, id: &str| {
        body[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["circuit"].clone())
            .unwrap()
    };
    let providers = h.get("/v1/providers").await.body;
    assert_eq!(circuit_of(&providers, "data", "stripe"), "open");
    assert_eq!(circuit_of(&providers, "data", "togai"), "closed");
    let ready = h.get_as("/readyz", None, &[]).await.body;
    assert_eq!(circuit_of(&ready, "providers", "stripe"), "open");

    h.stripe.reset().await;
    stripe_always(&h, ok_summary()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let providers = h.get("/v1/providers").await.body;
    assert_eq!(circuit_of(&providers, "data", "stripe"), "half_open");
    assert_eq!(
        h.get_as(BALANCES, Some(API_KEY), NO_CACHE).await.status,
        200,
        "the probe"
    );
    let providers = h.get("/v1/providers").await.body;
    assert_eq!(circuit_of(&providers, "data", "stripe"), "closed");
}

// ---- bulkheads ----
