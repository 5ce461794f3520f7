//! What the resilience tests share: the Stripe balance summary that fails, recovers or
//! stalls, and the headers they read.

use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use super::*;

pub const SUMMARY: &str = "/v1/billing/credit_balance_summary";
pub const BALANCES: &str = "/v1/credit_balances?customer=stripe:cus_1";
pub const NO_CACHE: &[(&str, &str)] = &[("cache-control", "no-cache")];

pub fn togai_balance() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(fixture("togai/credit_balance.spec-example.json"))
}

pub fn ok_summary() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(stripe_summary())
}

/// Answers the first `times` summary calls with `first`, every later one with a success.
pub async fn stripe_fails_then_recovers(h: &Harness, first: ResponseTemplate, times: u64) {
    Mock::given(path(SUMMARY))
        .respond_with(first)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&h.stripe)
        .await;
    Mock::given(path(SUMMARY))
        .respond_with(ok_summary())
        .with_priority(2)
        .mount(&h.stripe)
        .await;
}

pub async fn stripe_always(h: &Harness, answer: ResponseTemplate) {
    Mock::given(path(SUMMARY)).respond_with(answer).mount(&h.stripe).await;
}

pub async fn stripe_calls(h: &Harness) -> usize {
    h.stripe_requests().await.len()
}

pub fn header<'a>(r: &'a TestResponse, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn header_num(r: &TestResponse, name: &str) -> u64 {
    header(r, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {name} header"))
}
