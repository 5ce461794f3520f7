//! How each vendor's calls went: the last outcome, for `/v1/providers` and `/readyz` (one
//! atomic per provider, so recording it takes no lock), and the attempts of the last few
//! minutes, for the console's providers page (error rate and latency).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::ProviderKind;

/// How far back [`RecentCalls`] looks.
pub const RECENT_WINDOW: Duration = Duration::from_secs(300);
/// The attempts kept per provider: past this many in the window, the oldest are dropped
/// (the figures then cover less than the window, and say so with `since`).
const RECENT_MAX_ATTEMPTS: usize = 2_000;

#[derive(Debug, Default)]
pub struct HealthBoard {
    /// Indexed by the provider's position in [`ProviderKind::ALL`].
    last: [AtomicU8; ProviderKind::ALL.len()],
    /// Each provider's recent attempts, oldest first: when, how long, whether it failed.
    recent: [Mutex<VecDeque<(Instant, Duration, bool)>>; ProviderKind::ALL.len()],
}

/// A vendor's attempts over the last [`RECENT_WINDOW`] in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentCalls {
    pub attempts: usize,
    /// Attempts that failed as [`Outcome::Failing`] counts them.
    pub failed: usize,
    /// The median and 95th-percentile attempt durations (nearest rank), when there were any.
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    /// How long ago the oldest attempt counted was made.
    pub since: Option<Duration>,
}

impl RecentCalls {
    /// Failed attempts per hundred, rounded down; `None` without attempts.
    pub fn failed_percent(&self) -> Option<usize> {
        (self.attempts > 0).then(|| self.failed * 100 / self.attempts)
    }
}

/// Whether a vendor's answer with this status (0: none) means the vendor is failing.
fn failing(status: u16) -> bool {
    !matches!(status, 200..=399 | 400 | 404 | 409 | 422)
}

/// How a vendor's most recent call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No call yet.
    Unknown,
    /// The vendor answered (2xx, or a 4xx about the request itself).
    Ok,
    /// 5xx, 429, auth failure, timeout or no connection.
    Failing,
}

impl HealthBoard {
    fn slot(&self, provider: ProviderKind) -> Option<&AtomicU8> {
        self.last.get(Self::index(provider)?)
    }

    fn index(provider: ProviderKind) -> Option<usize> {
        ProviderKind::ALL.iter().position(|p| *p == provider)
    }

    /// A vendor call at `endpoint` answered with `status` (0: none), counted in the metrics.
    pub(super) fn record(&self, provider: ProviderKind, endpoint: &str, status: u16) {
        crate::metrics::record_upstream(provider, endpoint, status);
        let outcome = if failing(status) { Outcome::Failing } else { Outcome::Ok };
        if let Some(slot) = self.slot(provider) {
            slot.store(outcome as u8, Ordering::Relaxed);
        }
    }

    /// One attempt at `provider`'s `endpoint` that took `elapsed` and ended with `status`
    /// (0: no answer), timed in the metrics too.
    pub(super) fn attempted(&self, provider: ProviderKind, endpoint: &str, elapsed: Duration, status: u16) {
        crate::metrics::record_upstream_duration(provider, endpoint, elapsed);
        let Some(recent) = Self::index(provider).and_then(|i| self.recent.get(i)) else {
            return;
        };
        let now = Instant::now();
        let mut recent = recent.lock().unwrap_or_else(|p| p.into_inner());
        while recent
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > RECENT_WINDOW)
            || recent.len() >= RECENT_MAX_ATTEMPTS
        {
            recent.pop_front();
        }
        recent.push_back((now, elapsed, failing(status)));
    }

    /// `provider`'s attempts over the last [`RECENT_WINDOW`].
    pub fn recent(&self, provider: ProviderKind) -> RecentCalls {
        let now = Instant::now();
        let kept: Vec<(Instant, Duration, bool)> = Self::index(provider)
            .and_then(|i| self.recent.get(i))
            .map(|r| {
                let recent = r.lock().unwrap_or_else(|p| p.into_inner());
                recent
                    .iter()
                    .filter(|(at, _, _)| now.duration_since(*at) <= RECENT_WINDOW)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut durations: Vec<Duration> = kept.iter().map(|(_, d, _)| *d).collect();
        durations.sort_unstable();
        // Nearest rank: the smallest duration at or above the share asked for.
        let rank = |percent: usize| {
            let n = durations.len();
            (n > 0).then(|| durations[(n * percent).div_ceil(100).clamp(1, n) - 1])
        };
        RecentCalls {
            attempts: kept.len(),
            failed: kept.iter().filter(|(_, _, failed)| *failed).count(),
            p50: rank(50),
            p95: rank(95),
            since: kept.first().map(|(at, _, _)| now.duration_since(*at)),
        }
    }

    pub fn outcome(&self, provider: ProviderKind) -> Outcome {
        match self.slot(provider).map(|slot| slot.load(Ordering::Relaxed)) {
            Some(n) if n == Outcome::Ok as u8 => Outcome::Ok,
            Some(n) if n == Outcome::Failing as u8 => Outcome::Failing,
            _ => Outcome::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_keeps_its_last_outcome() {
        let board = HealthBoard::default();
        assert_eq!(board.outcome(ProviderKind::Togai), Outcome::Unknown);
        board.record(ProviderKind::Togai, "e", 503);
        board.record(ProviderKind::Stripe, "e", 200);
        assert_eq!(board.outcome(ProviderKind::Togai), Outcome::Failing);
        assert_eq!(board.outcome(ProviderKind::Stripe), Outcome::Ok);
        board.record(ProviderKind::Togai, "e", 404);
        assert_eq!(
            board.outcome(ProviderKind::Togai),
            Outcome::Ok,
            "a 404 is about the request"
        );
        assert_eq!(board.outcome(ProviderKind::Vayu), Outcome::Unknown);
    }

    #[test]
    fn recent_attempts_give_the_error_rate_and_nearest_rank_latencies() {
        let board = HealthBoard::default();
        assert_eq!(board.recent(ProviderKind::Lago).attempts, 0);
        assert_eq!(board.recent(ProviderKind::Lago).failed_percent(), None);
        for ms in 1..=20u64 {
            let status = if ms % 5 == 0 { 503 } else { 200 };
            board.attempted(ProviderKind::Lago, "e", Duration::from_millis(ms), status);
        }
        board.attempted(ProviderKind::Stripe, "e", Duration::from_millis(7), 0);
        let lago = board.recent(ProviderKind::Lago);
        assert_eq!((lago.attempts, lago.failed), (20, 4));
        assert_eq!(lago.failed_percent(), Some(20));
        assert_eq!(lago.p50, Some(Duration::from_millis(10)));
        assert_eq!(lago.p95, Some(Duration::from_millis(19)));
        let stripe = board.recent(ProviderKind::Stripe);
        assert_eq!((stripe.attempts, stripe.failed), (1, 1), "no answer is a failure");
        assert_eq!(stripe.p95, Some(Duration::from_millis(7)));
    }

    #[test]
    fn the_oldest_attempts_go_past_the_cap() {
        let board = HealthBoard::default();
        for _ in 0..RECENT_MAX_ATTEMPTS + 10 {
            board.attempted(ProviderKind::Togai, "e", Duration::from_millis(1), 200);
        }
        assert_eq!(board.recent(ProviderKind::Togai).attempts, RECENT_MAX_ATTEMPTS);
    }
}
