//! What the write tests against mock vendors share: the vendor-facing key of a client key,
//! the bodies the mocks received, and waiting out a settle window.

use serde_json::Value;

use super::*;

/// The key the vendor sees for the writer key's `Idempotency-Key` `key`.
pub fn vendor_key(key: &str) -> String {
    format!("cg-{}", &sha256_hex(&format!("writer\u{0}{key}"))[..32])
}

/// The vendor key of `key` after `generation` refused writes under it.
pub fn vendor_key_of_generation(key: &str, generation: u32) -> String {
    format!(
        "cg-{}",
        &sha256_hex(&format!("writer\u{0}{key}\u{0}{generation}"))[..32]
    )
}

pub fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

pub fn body(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

pub async fn all_requests(h: &Harness) -> usize {
    let mut n = 0;
    for server in [&h.stripe, &h.metronome, &h.sequence, &h.togai, &h.vayu] {
        n += server.received_requests().await.unwrap_or_default().len();
    }
    n
}

pub async fn post(h: &Harness, path: &str, key: &str, body: Value) -> TestResponse {
    h.post_as(path, WRITER_KEY, Some(key), &body.to_string()).await
}

/// An unknown outcome settles for a second here instead of a minute.
pub fn settling_quickly() -> Options {
    Options {
        upstream: "attempt_timeout_ms = 500\nwrite_settle_ms = { stripe = 1000, sequence = 1000 }",
        ..Options::new()
    }
}

/// After an unknown outcome: a retry at once is told to come back after the settle window
/// (and sends nothing); the test then waits it out.
pub async fn settle(h: &Harness, path: &str, key: &str, body: &str) {
    let before = all_requests(h).await;
    let early = h.post_as(path, WRITER_KEY, Some(key), body).await;
    assert_eq!(
        (early.status, early.code()),
        (409, "write_outcome_settling"),
        "{}",
        early.body
    );
    // The disk store keeps whole seconds, so up to one more is waited.
    let retry_after: u64 = early.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(all_requests(h).await, before, "nothing is sent while it settles");
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
}
