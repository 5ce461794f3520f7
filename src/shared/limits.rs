//! Rates every replica counts together: each API key's quota (GCRA, the algorithm governor
//! runs in process, so the `RateLimit-*` headers read the same) and each vendor
//! credential's outbound pace. Each decision is one Lua script, atomic in Redis. A replica
//! takes quota and slots in batches (`leases.rs`), so most requests and vendor calls
//! make no Redis call of their own.

use std::time::Duration;

use super::{micros, SharedError, SharedState};
use crate::quota::KeyQuota;

/// GCRA over the key's theoretical arrival time (TAT, microseconds of Redis time), taking
/// up to `want` requests' worth at once after giving back `back` a replica did not use.
/// KEYS: the key's TAT, the invalidation sequence. ARGV: interval (µs), burst, want, back.
/// Answers {granted, remaining, wait (µs) when none was granted, invalidation sequence}.
pub(super) const LEASE_QUOTA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = (stored or now) - back * interval
if tat < now then tat = now end
local seq = tonumber(redis.call('GET', KEYS[2])) or 0
local room = math.floor((interval * burst - (tat - now)) / interval)
local granted = math.min(want, room)
if granted < 1 then
  if back > 0 and stored then
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
  end
  return {0, 0, tat + interval - interval * burst - now, seq}
end
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {granted, math.floor((interval * burst - (new_tat - now)) / interval), 0, seq}
";

/// Up to `want` consecutive request slots at a vendor credential's pace: from the slot
/// after the last one taken (or now), unless that is further away than the caller will
/// wait. Also holds a vendor's `Retry-After` pause (`PAUSE`). KEYS: the credential's next
/// free slot. ARGV: interval (µs), longest wait (µs), want. Answers {slots taken, wait
/// (µs) until the first}.
pub(super) const PACE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local want = math.max(1, tonumber(ARGV[3]))
local next = tat + want * tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {want, wait}
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

/// What Redis granted of a key's quota.
#[derive(Debug, Clone, Copy)]
pub struct QuotaGrant {
    /// Requests granted (0: refused).
    pub granted: u32,
    /// Requests the key could still send at once after these.
    pub remaining: u32,
    /// When refused: how long until one request is allowed.
    pub wait: Duration,
    /// The invalidation sequence, read in the same script.
    pub invalidation_seq: u64,
}

/// The pace's verdict: `slots` request slots, the first after `wait`, one every interval;
/// or the first slot is further than the caller waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    After { wait: Duration, slots: u32 },
    TooFar(Duration),
}

impl SharedState {
    /// Takes up to `want` requests of the quota of the API key `key_id` (a stable id of the
    /// key, never the key itself), giving back `back` taken earlier and not used.
    pub async fn lease_quota(
        &self,
        key_id: &str,
        quota: KeyQuota,
        want: u32,
        back: u32,
    ) -> Result<QuotaGrant, SharedError> {
        let interval_us = u64::try_from(quota.interval().as_micros()).unwrap_or(1_000_000);
        let mut invocation = self.inner.scripts.lease_quota.prepare_invoke();
        invocation
            .key(self.key("quota", key_id))
            .key(self.invalidation_seq_key())
            .arg(interval_us)
            .arg(quota.burst_size())
            .arg(want.max(1))
            .arg(back);
        let (granted, remaining, wait, seq): (i64, i64, i64, i64) = self.run_script("quota", &invocation).await?;
        Ok(QuotaGrant {
            granted: u32::try_from(granted.max(0)).unwrap_or(0).min(want.max(1)),
            remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
            wait: micros(wait),
            invalidation_seq: u64::try_from(seq).unwrap_or(0),
        })
    }

    /// Takes up to `want` consecutive request slots of the vendor credential `lane_id`,
    /// spaced `interval` after the previous one over all replicas, unless the first is more
    /// than `longest_wait` away.
    pub async fn pace(
        &self,
        lane_id: &str,
        interval: Duration,
        longest_wait: Duration,
        want: u32,
    ) -> Result<Slot, SharedError> {
        let mut invocation = self.inner.scripts.pace.prepare_invoke();
        invocation
            .key(self.key("pace", lane_id))
            .arg(as_micros(interval).max(1))
            .arg(as_micros(longest_wait.min(Duration::from_secs(86_400))))
            .arg(want.max(1));
        let (taken, wait): (i64, i64) = self.run_script("pace", &invocation).await?;
        Ok(if taken >= 1 {
            Slot::After {
                wait: micros(wait),
                slots: u32::try_from(taken).unwrap_or(1).min(want.max(1)),
            }
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
