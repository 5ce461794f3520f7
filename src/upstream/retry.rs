//! When an idempotent read is tried again, and how long to wait first.
//!
//! Retries use exponential backoff with full jitter (a random wait between zero and the
//! doubling cap), or the vendor's own `Retry-After`. Each request has a cap on attempts, and
//! a [`RetryBudget`] per vendor credential keeps retries to a share of requests, so a vendor
//! that fails everything sees at most that share more traffic, never a storm.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[upstream.retry]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per vendor call, the first included; 1 turns retries off.
    #[schemars(range(min = 1))]
    pub max_attempts: u32,
    /// The first backoff cap; it doubles with each retry up to `max_delay_ms`.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Retries allowed per 100 vendor calls, over time.
    pub budget_percent: u32,
    /// Retries available before any call has paid into the budget, and its ceiling.
    pub budget_reserve: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base_delay_ms: 100,
            max_delay_ms: 2_000,
            budget_percent: 20,
            budget_reserve: 10,
        }
    }
}

impl RetryConfig {
    /// The wait before retry number `retry` (0-based): uniform in `0..=min(max, base * 2^retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .base_delay_ms
            .saturating_mul(1u64 << retry.min(20))
            .min(self.max_delay_ms);
        Duration::from_millis(random_u64() % (cap + 1))
    }
}

/// A random number from std's randomly keyed SipHash; enough for jitter, and no crate.
fn random_u64() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A token bucket of retries: each call pays in `budget_percent / 100` of a retry, each
/// retry takes one out, and the balance never exceeds `budget_reserve`.
#[derive(Debug)]
pub struct RetryBudget {
    /// In thousandths of a retry.
    balance: AtomicI64,
    deposit: i64,
    ceiling: i64,
}

impl RetryBudget {
    pub fn new(config: &RetryConfig) -> Self {
        let ceiling = i64::from(config.budget_reserve) * 1000;
        RetryBudget {
            balance: AtomicI64::new(ceiling),
            deposit: i64::from(config.budget_percent) * 10,
            ceiling,
        }
    }

    /// Called once per vendor call (not per attempt).
    pub fn deposit(&self) {
        let _ = self.balance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some((b + self.deposit).min(self.ceiling))
        });
    }

    /// Takes one retry out if the budget has one.
    pub fn try_withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= 1000).then_some(b - 1000)
            })
            .is_ok()
    }
}

/// Whether a vendor answer is worth asking again, and after how long if the vendor said.
/// `Stripe-Should-Retry` overrides the status either way.
pub fn retry_for_answer(status: StatusCode, headers: &HeaderMap) -> Option<Option<Duration>> {
    let hint = super::retry_after_secs(headers).map(Duration::from_secs);
    match headers.get("stripe-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => return Some(hint),
        Some("false") => return None,
        _ => {}
    }
    match status.as_u16() {
        408 | 429 | 500 | 502 | 503 | 504 => Some(hint),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn backoff_is_jittered_under_a_doubling_cap() {
        let config = RetryConfig::default();
        for retry in 0..8 {
            let cap = (100u64 << retry).min(2_000);
            let waits: Vec<u64> = (0..200).map(|_| config.backoff(retry).as_millis() as u64).collect();
            assert!(waits.iter().all(|w| *w <= cap), "retry {retry}: {waits:?}");
            let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
            assert!(distinct.len() > 20, "not jittered: {distinct:?}");
        }
    }

    #[test]
    fn the_budget_allows_its_share_of_calls() {
        let budget = RetryBudget::new(&RetryConfig::default());
        let mut retries = 0;
        for _ in 0..1000 {
            budget.deposit();
            while budget.try_withdraw() {
                retries += 1;
            }
        }
        // The reserve of 10, then one retry per five calls.
        assert!((200..=210).contains(&retries), "{retries}");
    }

    #[test]
    fn answers_worth_retrying() {
        let none = HeaderMap::new();
        assert_eq!(retry_for_answer(StatusCode::SERVICE_UNAVAILABLE, &none), Some(None));
        assert_eq!(retry_for_answer(StatusCode::BAD_REQUEST, &none), None);
        assert_eq!(retry_for_answer(StatusCode::OK, &none), None);
        let mut after = HeaderMap::new();
        after.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(
            retry_for_answer(StatusCode::TOO_MANY_REQUESTS, &after),
            Some(Some(Duration::from_secs(3)))
        );
        let mut stripe_no = HeaderMap::new();
        stripe_no.insert("stripe-should-retry", HeaderValue::from_static("false"));
        assert_eq!(retry_for_answer(StatusCode::INTERNAL_SERVER_ERROR, &stripe_no), None);
        let mut stripe_yes = HeaderMap::new();
        stripe_yes.insert("stripe-should-retry", HeaderValue::from_static("true"));
        assert_eq!(retry_for_answer(StatusCode::CONFLICT, &stripe_yes), Some(None));
    }
}
