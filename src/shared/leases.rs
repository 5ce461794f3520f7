//! A key's quota and a vendor credential's pace, taken from Redis in batches: most
//! requests and vendor calls of a replica then make no Redis call of their own.
//!
//! **Quota.** A replica takes a batch of a key's requests at once (the count in Redis
//! counts them then) and admits from it for at most [`LEASE_LIFE`]; what is left after
//! that goes back to Redis in the replica's next call. A batch starts at one request. It
//! doubles after a batch used up within its life and halves after one that was not, up to
//! a quarter of the burst or the rate's share of [`LEASE_LIFE`], whichever is smaller. So
//! Redis never grants more than one process would admit, and a replica admits a granted
//! request at most [`LEASE_LIFE`] after Redis counted it. Over any window, all replicas
//! together admit at most `rate × LEASE_LIFE` more than one process would (2.5 requests at
//! 50 a second). A refusal is kept for the wait Redis named (at most [`LONGEST_REFUSAL`]),
//! so a refused key does not ask again before it could be admitted.
//!
//! **Vendor slots.** A replica takes consecutive slots of a credential's pace at once, as
//! many as fit in [`LEASE_LIFE`] at most, sized the same way. Each call uses one slot; a
//! slot no call used in time is let pass. A slot let pass is a vendor request not sent, so
//! the shared pace can only fall below the vendor's rate, never go over it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::limits::Slot;
use super::{lock, SharedError, SharedState};
use crate::quota::{Admission, KeyQuota};

/// The longest a replica holds what it took from Redis before using it.
pub const LEASE_LIFE: Duration = Duration::from_millis(50);
/// The longest a replica refuses a key on its own after Redis refused it.
const LONGEST_REFUSAL: Duration = Duration::from_secs(1);
/// After a failed Redis call, the calls waiting for their turn (and those within this
/// long) fail at once instead of each waiting out the Redis timeout in turn.
const FAILURE_HOLD: Duration = LEASE_LIFE;

/// One call to Redis at a time per batch: the calls arriving meanwhile wait for its
/// batch, and for its failure, which they share for [`FAILURE_HOLD`].
#[derive(Debug, Default)]
struct Turn(tokio::sync::Mutex<Option<(Instant, SharedError)>>);

impl Turn {
    /// Runs `call` in turn, unless a call failed within [`FAILURE_HOLD`]: then its error.
    async fn take<T, F>(&self, ready: impl FnOnce() -> Option<T>, call: impl FnOnce() -> F) -> Result<T, SharedError>
    where
        F: std::future::Future<Output = Result<T, SharedError>>,
    {
        let mut last_failure = self.0.lock().await;
        if let Some(done) = ready() {
            return Ok(done);
        }
        if let Some((at, error)) = last_failure.as_ref() {
            if at.elapsed() < FAILURE_HOLD {
                return Err(error.clone());
            }
        }
        let outcome = call().await;
        *last_failure = outcome.as_ref().err().map(|e| (Instant::now(), e.clone()));
        outcome
    }
}

/// The next batch's size: doubled after a batch used up in time, halved after one that was
/// not, within 1..=`cap`.
fn next_size(size: u32, used_up: bool, cap: u32) -> u32 {
    let size = if used_up { size.saturating_mul(2) } else { size / 2 };
    size.clamp(1, cap.max(1))
}

/// One API key's batch of requests on this replica.
#[derive(Debug, Default)]
pub struct QuotaLease {
    state: Mutex<QuotaState>,
    turn: Turn,
}

#[derive(Debug, Default)]
struct QuotaState {
    /// Requests of the batch not yet admitted.
    left: u32,
    /// What Redis said the key could still send at once after the batch.
    remaining: u32,
    /// When the batch's requests stop being admitted.
    expires: Option<Instant>,
    size: u32,
    /// Refused until then, as Redis said.
    refused_until: Option<Instant>,
}

impl QuotaState {
    /// Admits one request from the batch, or refuses while Redis's refusal holds.
    fn take(&mut self, quota: KeyQuota, now: Instant) -> Option<Admission> {
        if self.left > 0 && self.expires.is_some_and(|e| now < e) {
            self.left -= 1;
            return Some(Admission::allowed(
                quota.burst_size(),
                quota.interval(),
                self.remaining.saturating_add(self.left),
            ));
        }
        match self.refused_until {
            Some(until) if now < until => Some(Admission::refused(quota.burst_size(), quota.interval(), until - now)),
            _ => None,
        }
    }
}

impl QuotaLease {
    /// One more request of the key `key_id`: admitted from this replica's batch, or from a
    /// new one asked of Redis (with what is left of the old one given back).
    pub async fn admit(&self, shared: &SharedState, key_id: &str, quota: KeyQuota) -> Result<Admission, SharedError> {
        if let Some(admission) = lock(&self.state).take(quota, Instant::now()) {
            return Ok(admission);
        }
        let (admission, read) = self
            .turn
            .take(
                || lock(&self.state).take(quota, Instant::now()).map(|a| (a, None)),
                || self.refill(shared, key_id, quota),
            )
            .await?;
        if let Some((sent, seq)) = read {
            shared.observed(sent, seq).await;
        }
        Ok(admission)
    }

    /// Asks Redis for a new batch; answers the verdict on the request that asked, and the
    /// invalidation number read with it (and when that call was sent).
    async fn refill(
        &self,
        shared: &SharedState,
        key_id: &str,
        quota: KeyQuota,
    ) -> Result<(Admission, Option<(Instant, u64)>), SharedError> {
        let (want, back) = {
            let mut state = lock(&self.state);
            let now = Instant::now();
            let cap = (quota.burst_size() / 4).min(quota.requests_per_second / 20);
            let used_up = state.left == 0 && state.expires.is_some_and(|e| now < e);
            state.size = next_size(state.size, used_up, cap);
            let back = std::mem::take(&mut state.left);
            state.refused_until = None;
            (state.size, back)
        };
        let sent = Instant::now();
        let grant = shared.lease_quota(key_id, quota, want, back).await?;
        let mut state = lock(&self.state);
        let admission = if grant.granted == 0 {
            state.refused_until = Some(sent + grant.wait.min(LONGEST_REFUSAL));
            Admission::refused(quota.burst_size(), quota.interval(), grant.wait)
        } else {
            state.left = grant.granted - 1;
            state.remaining = grant.remaining;
            state.expires = Some(sent + LEASE_LIFE);
            Admission::allowed(
                quota.burst_size(),
                quota.interval(),
                grant.remaining.saturating_add(state.left),
            )
        };
        Ok((admission, Some((sent, grant.invalidation_seq))))
    }
}

/// One vendor credential's batch of request slots on this replica.
#[derive(Debug, Default)]
pub struct SlotLease {
    state: Mutex<Slots>,
    turn: Turn,
}

#[derive(Debug, Default)]
struct Slots {
    /// The next slot of the batch, and how many are left from it on.
    next: Option<Instant>,
    left: u32,
    size: u32,
    /// A slot of the batch was let pass.
    let_pass: bool,
}

impl Slots {
    /// The next slot not yet past by more than `late` (the ones before it are let pass),
    /// taken unless it is after `give_up`: then how long away it is.
    fn take(
        &mut self,
        interval: Duration,
        late: Duration,
        give_up: Instant,
        now: Instant,
    ) -> Option<Result<Instant, Duration>> {
        let mut slot = self.next?;
        if self.left > 0 && slot + late < now {
            // The slots before the first one within `late` of now are let pass.
            let behind = now.duration_since(slot + late).as_nanos();
            let passed = behind.div_ceil(interval.as_nanos().max(1));
            let passed = u32::try_from(passed).unwrap_or(u32::MAX).min(self.left);
            slot += interval * passed;
            self.left -= passed;
            self.let_pass = true;
        }
        self.next = Some(slot);
        if self.left == 0 {
            return None;
        }
        if slot > give_up {
            return Some(Err(slot.saturating_duration_since(now)));
        }
        self.next = Some(slot + interval);
        self.left -= 1;
        Some(Ok(slot))
    }
}

impl SlotLease {
    /// This replica's next slot at the pace `interval` of the credential `lane_id` (from its
    /// batch, or a new one taken in Redis); `Ok(Err(wait))` when the first free slot is
    /// after `give_up`.
    pub async fn slot(
        &self,
        shared: &SharedState,
        lane_id: &str,
        interval: Duration,
        late: Duration,
        give_up: Instant,
    ) -> Result<Result<Instant, Duration>, SharedError> {
        if let Some(slot) = lock(&self.state).take(interval, late, give_up, Instant::now()) {
            return Ok(slot);
        }
        self.turn
            .take(
                || lock(&self.state).take(interval, late, give_up, Instant::now()),
                || async {
                    let now = Instant::now();
                    let want = {
                        let mut state = lock(&self.state);
                        let cap = u32::try_from(LEASE_LIFE.as_nanos() / interval.as_nanos().max(1)).unwrap_or(u32::MAX);
                        state.size = next_size(state.size, !std::mem::take(&mut state.let_pass), cap);
                        state.size
                    };
                    let longest = give_up.saturating_duration_since(now);
                    Ok(match shared.pace(lane_id, interval, longest, want).await? {
                        Slot::TooFar(wait) => Err(wait),
                        Slot::After { wait, slots } => {
                            // Measured from the answer: never before Redis's slot.
                            let first = Instant::now() + wait;
                            let mut state = lock(&self.state);
                            state.next = Some(first + interval);
                            state.left = slots.saturating_sub(1);
                            Ok(first)
                        }
                    })
                },
            )
            .await
    }

    /// Drops the batch (the vendor asked to wait: its slots are no longer good).
    pub fn clear(&self) {
        lock(&self.state).left = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_doubles_when_used_up_and_halves_when_not_within_its_cap() {
        assert_eq!(next_size(0, true, 8), 1);
        assert_eq!(next_size(1, true, 8), 2);
        assert_eq!(next_size(8, true, 8), 8);
        assert_eq!(next_size(8, false, 8), 4);
        assert_eq!(next_size(1, false, 8), 1);
        assert_eq!(next_size(5, true, 0), 1, "a cap under one is one");
    }

    #[test]
    fn a_quota_batch_admits_until_used_up_or_expired_and_keeps_a_refusal() {
        let quota = KeyQuota {
            requests_per_second: 100,
            burst: 10,
        };
        let now = Instant::now();
        let mut state = QuotaState {
            left: 2,
            remaining: 5,
            expires: Some(now + LEASE_LIFE),
            ..QuotaState::default()
        };
        assert_eq!(
            state.take(quota, now).map(|a| (a.allowed, a.remaining)),
            Some((true, 6))
        );
        assert_eq!(
            state.take(quota, now).map(|a| (a.allowed, a.remaining)),
            Some((true, 5))
        );
        assert!(state.take(quota, now).is_none(), "used up: ask Redis");
        state.left = 3;
        assert!(state.take(quota, now + LEASE_LIFE).is_none(), "expired: ask Redis");
        state.left = 0;
        state.refused_until = Some(now + Duration::from_millis(1500));
        let refused = state.take(quota, now).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 2);
        assert!(state.take(quota, now + Duration::from_secs(2)).is_none());
    }

    #[tokio::test]
    async fn callers_waiting_behind_a_failed_call_share_its_failure_instead_of_calling_again() {
        let turn = Turn::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let failing = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<u32, _>(SharedError {
                operation: "quota",
                detail: "no answer".into(),
            })
        };
        assert!(turn.take(|| None, failing).await.is_err());
        let again = turn.take(|| None, failing).await.unwrap_err();
        assert_eq!(
            (again.operation, calls.load(std::sync::atomic::Ordering::SeqCst)),
            ("quota", 1)
        );
        // A batch made meanwhile is taken; past the hold, Redis is asked again.
        assert_eq!(turn.take(|| Some(7), failing).await.unwrap(), 7);
        tokio::time::sleep(FAILURE_HOLD).await;
        assert_eq!(turn.take(|| None, || async { Ok(3) }).await.unwrap(), 3);
        assert!(turn.0.lock().await.is_none(), "a success clears the failure");
    }

    #[test]
    fn slots_are_taken_in_order_and_late_ones_let_pass() {
        let interval = Duration::from_millis(10);
        let late = Duration::from_millis(2);
        let start = Instant::now();
        let far = start + Duration::from_secs(1);
        let mut slots = Slots {
            next: Some(start),
            left: 4,
            ..Slots::default()
        };
        assert_eq!(slots.take(interval, late, far, start), Some(Ok(start)));
        // 25 ms on: the slot at 10 ms is past by more than 2 ms and let pass, 20 ms is
        // past by 5 ms too; the one at 30 ms is the next.
        let at = start + Duration::from_millis(25);
        assert_eq!(slots.take(interval, late, far, at), Some(Ok(start + 3 * interval)));
        assert!(slots.let_pass);
        assert_eq!(slots.left, 0);
        assert_eq!(slots.take(interval, late, far, at), None);
        // A slot past the caller's patience is not taken.
        let mut slots = Slots {
            next: Some(start + interval),
            left: 1,
            ..Slots::default()
        };
        assert_eq!(slots.take(interval, late, start, start), Some(Err(interval)));
        assert_eq!(slots.left, 1);
    }
}
