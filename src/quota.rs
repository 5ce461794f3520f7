//! What one API key may ask of creditgate: a GCRA quota per key (governor), reported on
//! every authenticated response in `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset`, and refused past it with 429 `rate_limited` and `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultDirectRateLimiter, Quota};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ceil_secs;

/// `[inbound]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Each key's sustained rate, unless its `[[api_keys]]` entry sets its own.
    #[schemars(range(min = 1))]
    pub requests_per_second: u32,
    /// Requests a key may send at once above that rate.
    #[schemars(range(min = 1))]
    pub burst: u32,
    /// `/v1` requests served at once over all keys; more wait their turn. Bounds memory.
    /// Health, readiness and metrics never wait for a slot.
    #[schemars(range(min = 1))]
    pub max_in_flight: usize,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            requests_per_second: 100,
            burst: 200,
            max_in_flight: 1024,
        }
    }
}

/// A key's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyQuota {
    pub requests_per_second: u32,
    pub burst: u32,
}

impl KeyQuota {
    /// The burst, at least one request.
    pub fn burst_size(self) -> u32 {
        self.burst.max(1)
    }

    /// The time one request's share of the rate takes to come back (whole microseconds,
    /// as the shared count in Redis keeps it).
    pub fn interval(self) -> Duration {
        Duration::from_micros((1_000_000 / u64::from(self.requests_per_second.max(1))).max(1))
    }
}

/// One API key's limiter.
#[derive(Debug)]
pub struct KeyLimiter {
    limiter: DefaultDirectRateLimiter<StateInformationMiddleware>,
    interval: Duration,
    burst: u32,
}

/// The verdict on one request, with what its `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub allowed: bool,
    /// `RateLimit-Limit`: the burst a key may send.
    pub limit: u32,
    /// `RateLimit-Remaining`: requests it may still send right now.
    pub remaining: u32,
    /// `RateLimit-Reset`: seconds until the full burst is available again.
    pub reset_secs: u64,
    /// `Retry-After` when refused.
    pub retry_after_secs: u64,
}

impl KeyLimiter {
    pub fn new(quota: KeyQuota) -> Self {
        let burst = NonZeroU32::new(quota.burst).unwrap_or(NonZeroU32::MIN);
        let rate = NonZeroU32::new(quota.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        KeyLimiter {
            limiter: DefaultDirectRateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>(),
            interval: quota.replenish_interval(),
            burst: burst.get(),
        }
    }

    /// Counts one request against the key.
    pub fn check(&self) -> Admission {
        match self.limiter.check() {
            Ok(state) => Admission::allowed(self.burst, self.interval, state.remaining_burst_capacity()),
            Err(not_until) => Admission::refused(
                self.burst,
                self.interval,
                not_until.wait_time_from(self.limiter.clock().now()),
            ),
        }
    }
}

impl Admission {
    /// Admitted, with `remaining` of a `burst` that refills one request per `interval`.
    pub fn allowed(burst: u32, interval: Duration, remaining: u32) -> Admission {
        let remaining = remaining.min(burst);
        Admission {
            allowed: true,
            limit: burst,
            remaining,
            reset_secs: ceil_secs(interval * (burst - remaining)),
            retry_after_secs: 0,
        }
    }

    /// Refused: the next request is admitted after `wait`.
    pub fn refused(burst: u32, interval: Duration, wait: Duration) -> Admission {
        Admission {
            allowed: false,
            limit: burst,
            remaining: 0,
            reset_secs: ceil_secs(interval * burst),
            retry_after_secs: ceil_secs(wait).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_is_refused_with_a_wait() {
        let limiter = KeyLimiter::new(KeyQuota {
            requests_per_second: 1,
            burst: 3,
        });
        let seen: Vec<Admission> = (0..4).map(|_| limiter.check()).collect();
        assert_eq!(
            seen.iter().map(|a| (a.allowed, a.remaining)).collect::<Vec<_>>(),
            [(true, 2), (true, 1), (true, 0), (false, 0)]
        );
        assert_eq!(seen[0].limit, 3);
        assert_eq!(seen[2].reset_secs, 3);
        assert_eq!(seen[3].retry_after_secs, 1);
    }
}
