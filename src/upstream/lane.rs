//! Everything creditgate keeps per vendor credential: the outbound pace, the concurrency
//! bound (bulkhead), the circuit breaker and the retry budget. Each adapter holds one lane,
//! so a slow, failing or rate-limited vendor only ever uses up its own.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::breaker::CircuitBreaker;
use super::retry::RetryBudget;
use super::UpstreamConfig;
use crate::model::ProviderKind;
use crate::shared::leases::SlotLease;
use crate::shared::SharedState;

/// A vendor's request rate per credential: `requests` every `per_secs` seconds.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutboundRate {
    #[schemars(range(min = 1))]
    pub requests: u32,
    #[schemars(range(min = 1))]
    pub per_secs: u32,
}

impl OutboundRate {
    /// Requests are spaced evenly, one per interval, plus 2% so that network jitter can
    /// never bunch up enough of them to break the vendor's count in any one window.
    fn interval(self) -> Duration {
        (self.exact_interval() * 51 / 50).max(Duration::from_micros(1))
    }

    /// `per_secs` over `requests`, without a margin.
    fn exact_interval(self) -> Duration {
        Duration::from_secs(u64::from(self.per_secs.max(1))) / self.requests.max(1)
    }

    /// The spacing replicas sharing a pace keep: 5% over the rate's interval. A slot is
    /// taken in Redis, then the request leaves from its own process, whose scheduling delay
    /// (a busy CPU, a loaded runtime) differs from the others': the margin lets
    /// any request leave up to 5% of `per_secs` (50 ms at Togai's 10 a second) later than
    /// its slot without the vendor ever counting one too many in a window.
    fn shared_interval(self) -> Duration {
        (self.exact_interval() * 21 / 20).max(Duration::from_micros(1))
    }

    /// How late after its shared slot a request may still leave: half the margin of
    /// [`Self::shared_interval`] (25 ms at 10 a second).
    fn late_allowance(self) -> Duration {
        Duration::from_secs(u64::from(self.per_secs.max(1))) / 40
    }

    fn quota(self) -> Quota {
        Quota::with_period(self.interval())
            .expect("a non-zero interval")
            .allow_burst(NonZeroU32::MIN)
    }
}

/// The outbound state for one vendor credential.
#[derive(Debug)]
pub struct VendorLane {
    pub provider: ProviderKind,
    pub rate: OutboundRate,
    pacer: DefaultDirectRateLimiter,
    /// Set from a vendor 429's `Retry-After`: no request leaves before then.
    paused_until: Mutex<Option<Instant>>,
    bulkhead: Arc<Semaphore>,
    pub max_concurrency: usize,
    pub breaker: CircuitBreaker,
    pub budget: RetryBudget,
    /// With `[redis]`: the pace every replica keeps together, under this lane's id (the
    /// provider and a fingerprint of the credential). The local pacer takes over while
    /// Redis is unavailable.
    /// This replica's batch of the shared pace's slots ([`SlotLease`]) rides with it.
    shared: Option<(SharedState, String, SlotLease)>,
}

impl VendorLane {
    pub fn new(provider: ProviderKind, rate: OutboundRate, config: &UpstreamConfig) -> Self {
        Self::shared(provider, rate, config, None)
    }

    /// A lane whose pace is kept together with every replica's through `shared`, for the
    /// credential whose SHA-256 is the second member.
    pub fn shared(
        provider: ProviderKind,
        rate: OutboundRate,
        config: &UpstreamConfig,
        shared: Option<(&SharedState, &[u8; 32])>,
    ) -> Self {
        let shared = shared.map(|(shared, fingerprint)| {
            let id = crate::hex::lower(&fingerprint[..8]);
            (shared.clone(), format!("{provider}:{id}"), SlotLease::default())
        });
        let max_concurrency = config.max_concurrency_per_vendor.max(1);
        VendorLane {
            provider,
            rate,
            pacer: DefaultDirectRateLimiter::direct(rate.quota()),
            paused_until: Mutex::new(None),
            bulkhead: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
            breaker: CircuitBreaker::new(config.breaker.clone()),
            budget: RetryBudget::new(&config.retry),
            shared,
        }
    }

    /// A slot among the vendor's concurrent calls, or `None` at once when all are taken:
    /// callers fail fast rather than queue behind a vendor that has stalled.
    pub fn enter(&self) -> Option<OwnedSemaphorePermit> {
        self.bulkhead.clone().try_acquire_owned().ok()
    }

    /// Waits until the vendor's rate allows one more request. Refuses, with how long the
    /// wait would be, when that is past `give_up`.
    pub async fn pace(&self, give_up: Instant) -> Result<(), Duration> {
        loop {
            let now = Instant::now();
            let paused = self.paused_until.lock().ok().and_then(|p| *p).filter(|t| *t > now);
            let wait = match paused {
                Some(until) => until - now,
                None => {
                    if let Some((shared, lane_id, slots)) = &self.shared {
                        let (interval, late) = (self.rate.shared_interval(), self.rate.late_allowance());
                        // Boxed: every vendor call's future would otherwise nest this one.
                        match Box::pin(slots.slot(shared, lane_id, interval, late, give_up)).await {
                            Ok(Ok(slot)) => {
                                tokio::time::sleep_until(slot.into()).await;
                                // Woken much later than the slot (a starved process), the
                                // request could bunch with the slots after it: take another.
                                if slot.elapsed() <= late {
                                    return Ok(());
                                }
                                continue;
                            }
                            Ok(Err(wait)) => return Err(wait),
                            // Degraded (logged, counted): this replica paces on its own.
                            Err(_) => {}
                        }
                    }
                    match self.pacer.check() {
                        Ok(()) => return Ok(()),
                        Err(not_until) => not_until.wait_time_from(self.pacer.clock().now()),
                    }
                }
            };
            if now + wait > give_up {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The vendor said to wait: hold every request on this lane until then.
    pub fn pause_for(&self, wait: Duration) {
        if let Some((shared, lane_id, slots)) = &self.shared {
            slots.clear();
            let (shared, lane_id) = (shared.clone(), lane_id.clone());
            tokio::spawn(async move { shared.pause(&lane_id, wait).await });
        }
        let until = Instant::now() + wait;
        if let Ok(mut paused) = self.paused_until.lock() {
            if paused.is_none_or(|p| p < until) {
                *paused = Some(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(requests: u32, per_secs: u32) -> VendorLane {
        VendorLane::new(
            ProviderKind::Togai,
            OutboundRate { requests, per_secs },
            &UpstreamConfig::default(),
        )
    }

    #[tokio::test]
    async fn pacing_spaces_requests_at_the_rate() {
        let lane = lane(50, 1);
        let started = Instant::now();
        for _ in 0..11 {
            lane.pace(started + Duration::from_secs(5)).await.unwrap();
        }
        // Ten intervals of 20 ms (+2%) after the first.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    }

    #[tokio::test]
    async fn pacing_refuses_a_wait_past_the_limit() {
        let lane = lane(1, 60);
        let now = Instant::now();
        lane.pace(now + Duration::from_secs(1)).await.unwrap();
        let wait = lane.pace(Instant::now() + Duration::from_secs(1)).await.unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
    }

    #[tokio::test]
    async fn a_vendor_pause_holds_the_lane() {
        let lane = lane(1000, 1);
        lane.pause_for(Duration::from_secs(30));
        let wait = lane.pace(Instant::now() + Duration::from_secs(1)).await.unwrap_err();
        assert!(wait > Duration::from_secs(29), "{wait:?}");
    }

    #[test]
    fn the_bulkhead_refuses_past_its_bound() {
        let lane = lane(10, 1);
        let held: Vec<_> = (0..lane.max_concurrency).map(|_| lane.enter().unwrap()).collect();
        assert!(lane.enter().is_none());
        drop(held);
        assert!(lane.enter().is_some());
    }
}
