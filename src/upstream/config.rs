//! `[upstream]`: timeouts, bounds, rates, retries and the breaker for every vendor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::breaker::BreakerConfig;
use super::lane::OutboundRate;
use super::retry::RetryConfig;
use crate::model::ProviderKind;

/// `[upstream]`: how creditgate talks to every vendor.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    #[schemars(range(min = 1))]
    pub connect_timeout_ms: u64,
    /// One attempt, from connecting to the last body byte.
    #[schemars(range(min = 1))]
    pub attempt_timeout_ms: u64,
    /// One vendor call, every attempt, wait and backoff included.
    #[schemars(range(min = 1))]
    pub deadline_ms: u64,
    /// The longest a call waits for the vendor's rate to allow it before 503
    /// `upstream_rate_limited`.
    pub rate_wait_ms: u64,
    /// Calls in flight per vendor credential; more are refused at once (503
    /// `upstream_saturated`) so a stalled vendor cannot hold the gateway's capacity.
    #[schemars(range(min = 1))]
    pub max_concurrency_per_vendor: usize,
    /// A vendor answer larger than this is refused instead of buffered.
    #[schemars(range(min = 1))]
    pub max_body_bytes: usize,
    /// Bound on the cached vendor answers, in bytes.
    pub cache_max_bytes: u64,
    /// Per-provider cache TTL in seconds, overriding the provider file's; 0 turns caching
    /// off for it.
    pub cache_ttl_secs: BTreeMap<ProviderKind, u64>,
    /// Per-provider outbound rate overriding the documented one (Metronome publishes none).
    pub outbound_rate: BTreeMap<ProviderKind, OutboundRate>,
    /// Per-provider settle window of a write whose outcome is unknown, in milliseconds
    /// (default 60000): how long after the attempt ended the write may still land at the
    /// vendor. A retry inside it is told to come back (409 `write_outcome_settling`); after
    /// it, creditgate looks at the vendor before writing again. At least twice
    /// `attempt_timeout_ms`.
    pub write_settle_ms: BTreeMap<ProviderKind, u64>,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

/// The settle window of a vendor not named in `write_settle_ms`. A vendor's front end
/// drops a request it has not answered within its own timeout (commonly 30 to 60 seconds);
/// a write not applied by then will not be. A minute is also what a client can wait.
pub const DEFAULT_WRITE_SETTLE_MS: u64 = 60_000;

impl UpstreamConfig {
    /// How long after an attempt with an unknown outcome a write to `provider` may still
    /// land: the configured window, or the default (never under twice the attempt timeout).
    pub fn write_settle(&self, provider: ProviderKind) -> std::time::Duration {
        let ms = self
            .write_settle_ms
            .get(&provider)
            .copied()
            .unwrap_or_else(|| DEFAULT_WRITE_SETTLE_MS.max(self.attempt_timeout_ms.saturating_mul(2)));
        std::time::Duration::from_millis(ms)
    }

    /// Lifts the outbound pace for every vendor: for simulators and mocks without rate
    /// limits (tests, benchmarks), which are sent far more than any vendor allows.
    pub fn unpaced(&mut self) {
        let unlimited = OutboundRate {
            requests: 1_000_000,
            per_secs: 1,
        };
        self.outbound_rate = ProviderKind::ALL.into_iter().map(|p| (p, unlimited)).collect();
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 2_000,
            attempt_timeout_ms: 5_000,
            deadline_ms: 15_000,
            rate_wait_ms: 2_000,
            max_concurrency_per_vendor: 32,
            max_body_bytes: 8 * 1024 * 1024,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_secs: BTreeMap::new(),
            outbound_rate: BTreeMap::new(),
            write_settle_ms: BTreeMap::new(),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}
