//! Rates every replica counts together: each API key's quota (GCRA, the algorithm governor
//! runs in process, so the `RateLimit-*` headers read the same) and each vendor
//! credential's outbound pace. Each decision is one Lua script, atomic in Redis.

use std::time::Duration;

use super::{micros, SharedError, SharedState};
use crate::quota::{Admission, KeyQuota};

/// GCRA over the key's theoretical arrival time (TAT, microseconds of Redis time).
/// KEYS: the key's TAT, the invalidation sequence. ARGV: interval (µs), burst.
/// Answers {admitted, remaining, wait (µs), invalidation sequence}.
pub(super) const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local seq = tonumber(redis.call('GET', KEYS[2])) or 0
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, 0, allow_at - now, seq}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((interval * burst - (new_tat - now)) / interval), 0, seq}
";

/// One request slot at a vendor credential's pace: the slot after the last one taken (or
/// now), unless that is further away than the caller will wait. Also holds a vendor's
/// `Retry-After` pause (`PAUSE`). KEYS: the credential's next free slot. ARGV: interval
/// (µs), longest wait (µs). Answers {taken, wait (µs)}.
pub(super) const PACE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local next = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {1, wait}
";

/// No slot before now + ARGV[1] µs. KEYS: the credential's next free slot.
pub(super) const PAUSE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < until_ then
  redis.call('SET', KEYS[1], string.format('%d', until_), 'PX', math.ceil((until_ - now) / 1000) + 1)
end
return 1
";

/// What the shared quota said, with the invalidation sequence read in the same script.
#[derive(Debug, Clone, Copy)]
pub struct SharedAdmission {
    pub admission: Admission,
    pub invalidation_seq: u64,
}

/// The pace's verdict: go after `wait`, or the slot is further than the caller waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    After(Duration),
    TooFar(Duration),
}

impl SharedState {
    /// Counts one request against the quota of the API key `key_id` (a stable id of the
    /// key, never the key itself).
    pub async fn admit(&self, key_id: &str, quota: KeyQuota) -> Result<SharedAdmission, SharedError> {
        let burst = quota.burst.max(1);
        let interval_us = (1_000_000 / u64::from(quota.requests_per_second.max(1))).max(1);
        let mut invocation = self.inner.scripts.admit.prepare_invoke();
        invocation
            .key(self.key("quota", key_id))
            .key(self.invalidation_seq_key())
            .arg(interval_us)
            .arg(burst);
        let (admitted, remaining, wait, seq): (i64, i64, i64, i64) = self.run_script("quota", &invocation).await?;
        let interval = Duration::from_micros(interval_us);
        let remaining = u32::try_from(remaining.max(0)).unwrap_or(0).min(burst);
        let admission = if admitted == 1 {
            Admission {
                allowed: true,
                limit: burst,
                remaining,
                reset_secs: crate::error::ceil_secs(interval * (burst - remaining)),
                retry_after_secs: 0,
            }
        } else {
            Admission {
                allowed: false,
                limit: burst,
                remaining: 0,
                reset_secs: crate::error::ceil_secs(interval * burst),
                retry_after_secs: crate::error::ceil_secs(micros(wait)).max(1),
            }
        };
        Ok(SharedAdmission {
            admission,
            invalidation_seq: u64::try_from(seq).unwrap_or(0),
        })
    }

    /// Takes the next request slot of the vendor credential `lane_id`, spaced `interval`
    /// after the previous one over all replicas, unless it is more than `longest_wait` away.
    pub async fn pace(&self, lane_id: &str, interval: Duration, longest_wait: Duration) -> Result<Slot, SharedError> {
        let mut invocation = self.inner.scripts.pace.prepare_invoke();
        invocation
            .key(self.key("pace", lane_id))
            .arg(as_micros(interval).max(1))
            .arg(as_micros(longest_wait.min(Duration::from_secs(86_400))));
        let (taken, wait): (i64, i64) = self.run_script("pace", &invocation).await?;
        Ok(if taken == 1 {
            Slot::After(micros(wait))
        } else {
            Slot::TooFar(micros(wait))
        })
    }

    /// Holds every replica's requests on the credential `lane_id` for `wait` (a vendor's
    /// `Retry-After`).
    pub async fn pause(&self, lane_id: &str, wait: Duration) -> Result<(), SharedError> {
        let mut invocation = self.inner.scripts.pause.prepare_invoke();
        // A vendor asking for more than an hour is held for an hour, then asked again.
        let wait = wait.min(Duration::from_secs(3_600));
        invocation.key(self.key("pace", lane_id)).arg(as_micros(wait));
        let _: i64 = self.run_script("pause", &invocation).await?;
        Ok(())
    }
}

fn as_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2)
}
