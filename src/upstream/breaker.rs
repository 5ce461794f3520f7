//! A circuit breaker per vendor credential: after enough failures creditgate stops asking a
//! vendor that is down, answers 503 `circuit_open` at once, and lets one probe through
//! after a pause to learn whether the vendor is back.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[upstream.breaker]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Opens after this many failed attempts in a row.
    #[schemars(range(min = 1))]
    pub consecutive_failures: u32,
    /// ...or when this share of the last `window` attempts failed (once half of it is filled).
    #[schemars(range(min = 1, max = 100))]
    pub failure_rate_percent: u32,
    #[schemars(range(min = 1))]
    pub window: u32,
    /// How long it stays open before letting one probe through.
    #[schemars(range(min = 1))]
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: 5,
            failure_rate_percent: 50,
            window: 20,
            open_ms: 10_000,
        }
    }
}

/// What `/v1/providers` and `/readyz` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// Open time is over; `probing` while the one trial attempt is out.
    HalfOpen {
        probing: bool,
    },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive: u32,
    /// Recent attempt outcomes, `true` = failed; at most `window` long.
    recent: VecDeque<bool>,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Permission for one attempt. Dropping it without [`Ticket::record`] (the attempt never
/// went out, or the client went away) records nothing, but frees the half-open probe slot
/// so a lost probe can never wedge the breaker.
#[derive(Debug)]
pub struct Ticket<'a> {
    breaker: &'a CircuitBreaker,
    done: bool,
}

impl Ticket<'_> {
    pub fn record(mut self, failed: bool) {
        self.done = true;
        self.breaker.record(failed);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut inner = self.breaker.lock();
            if let State::HalfOpen { probing: true } = inner.state {
                inner.state = State::HalfOpen { probing: false };
            }
        }
    }
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive: 0,
                recent: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A ticket for one attempt, or how long until the breaker lets one through.
    pub fn permit(&self) -> Result<Ticket<'_>, Duration> {
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.state {
            State::Closed => {}
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } | State::HalfOpen { probing: false } => inner.state = State::HalfOpen { probing: true },
            // One probe at a time; the others wait for its verdict as if still open.
            State::HalfOpen { probing: true } => return Err(Duration::from_secs(1)),
        }
        Ok(Ticket {
            breaker: self,
            done: false,
        })
    }

    fn record(&self, failed: bool) {
        let mut inner = self.lock();
        let open_for = Duration::from_millis(self.config.open_ms);
        if let State::HalfOpen { .. } = inner.state {
            inner.recent.clear();
            inner.consecutive = 0;
            inner.state = if failed {
                State::Open {
                    until: Instant::now() + open_for,
                }
            } else {
                State::Closed
            };
            return;
        }
        inner.consecutive = if failed { inner.consecutive + 1 } else { 0 };
        inner.recent.push_back(failed);
        while inner.recent.len() > self.config.window.max(1) as usize {
            inner.recent.pop_front();
        }
        let failures = inner.recent.iter().filter(|f| **f).count() as u32;
        let seen = inner.recent.len() as u32;
        let rate_tripped = seen * 2 >= self.config.window && failures * 100 >= self.config.failure_rate_percent * seen;
        if matches!(inner.state, State::Closed)
            && (inner.consecutive >= self.config.consecutive_failures || rate_tripped)
        {
            tracing::warn!(failures, seen, "circuit opened");
            inner.state = State::Open {
                until: Instant::now() + open_for,
            };
        }
    }

    pub fn state(&self) -> CircuitState {
        match self.lock().state {
            State::Closed => CircuitState::Closed,
            State::Open { until } if Instant::now() < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_ms: u64) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            open_ms,
            ..BreakerConfig::default()
        })
    }

    fn attempt(b: &CircuitBreaker, failed: bool) {
        b.permit().expect("admitted").record(failed);
    }

    #[test]
    fn opens_after_consecutive_failures_and_fails_fast() {
        let b = breaker(60_000);
        for _ in 0..4 {
            attempt(&b, true);
        }
        assert_eq!(b.state(), CircuitState::Closed);
        attempt(&b, true);
        assert_eq!(b.state(), CircuitState::Open);
        let wait = b.permit().unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
    }

    #[test]
    fn opens_on_error_rate_without_a_streak() {
        let b = breaker(60_000);
        for i in 0..10 {
            attempt(&b, i % 2 == 0);
        }
        assert_eq!(b.state(), CircuitState::Open);
        let b = breaker(60_000);
        for i in 0..10 {
            attempt(&b, i % 3 == 0);
        }
        assert_eq!(b.state(), CircuitState::Closed, "a third failing stays closed");
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_verdict_decides() {
        let b = breaker(0);
        for _ in 0..5 {
            attempt(&b, true);
        }
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let probe = b.permit().expect("the probe");
        assert!(b.permit().is_err(), "a second caller waits for the probe");
        probe.record(false);
        assert_eq!(b.state(), CircuitState::Closed);

        let b = breaker(60_000);
        for _ in 0..5 {
            attempt(&b, true);
        }
        b.lock().state = State::HalfOpen { probing: false };
        attempt(&b, true);
        assert_eq!(b.state(), CircuitState::Open, "a failed probe opens it again");
    }

    #[test]
    fn a_probe_that_never_went_out_frees_its_slot() {
        let b = breaker(60_000);
        b.lock().state = State::HalfOpen { probing: false };
        drop(b.permit().expect("the probe"));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(b.permit().is_ok(), "the next caller may probe");
    }
}
