//! Where the write path keeps its idempotency records: the embedded [`DiskStore`] of one
//! process, or Redis when replicas share them. Both give the semantics of
//! [`crate::store`]; each decision is atomic (one redb write transaction, one Lua script).
//!
//! In Redis a record is a hash that expires [`RETENTION`] after its last change. A write in
//! progress holds its key with a lease of [`LEASE`], renewed while the write runs: a key
//! whose lease ran out (its replica died mid-write) reads as an unknown outcome, so the next
//! attempt looks at the vendor before writing, exactly as after a restart with the disk store.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::{SharedError, SharedState};
use crate::store::{DiskStore, Fingerprint, Reservation, StoreError, StoredAnswer, RETENTION};

/// How long a write in progress holds its key in Redis without renewing it.
pub const LEASE: Duration = Duration::from_secs(30);

/// KEYS: the record. ARGV: fingerprint, owner, lease (ms), retention (s), settle (ms).
/// Answers {'fresh'} | {'reused'} | {'in_use'} | {'replay', status, body} |
/// {'settling', until (ms)} | {'unknown', started, generation} | {'fresh', generation}. An
/// unknown outcome settles from when it was marked unknown, a write whose replica died from
/// the end of its lease. A released key is fresh for any request, as the next generation.
pub(super) const RESERVE: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = string.format('%d', now_ms + tonumber(ARGV[3]))
local r = redis.call('HMGET', KEYS[1], 'fp', 'state', 'started', 'lease', 'status', 'body', 'unknown_at', 'gen')
if (not r[1]) or r[2] == 'released' then
  local gen = 0
  if r[1] then gen = tonumber(r[8] or '0') + 1 end
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'flight', 'started', t[1], 'lease', lease, 'owner', ARGV[2], 'gen', gen)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return {'fresh', tostring(gen)}
end
if r[1] ~= ARGV[1] then return {'reused'} end
if r[2] == 'done' then return {'replay', r[5], r[6]} end
if r[2] == 'flight' and tonumber(r[4]) > now_ms then return {'in_use'} end
local quiet = tonumber(r[4])
if r[2] == 'unknown' then quiet = tonumber(r[7] or '0') end
local until_ms = quiet + tonumber(ARGV[5])
if until_ms > now_ms then return {'settling', string.format('%d', until_ms)} end
redis.call('HSET', KEYS[1], 'state', 'flight', 'lease', lease, 'owner', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'unknown', r[3], r[8] or '0'}
";

/// Changes a record this owner holds. KEYS: the record. ARGV: owner, what ('done',
/// 'unknown', 'release', 'renew'), retention (s), lease (ms), status, body. Answers 1, or 0
/// when the owner does not hold it.
pub(super) const FINISH: &str = r"
local r = redis.call('HMGET', KEYS[1], 'owner', 'state')
if r[1] ~= ARGV[1] or r[2] ~= 'flight' then return 0 end
if ARGV[2] == 'release' then
  redis.call('HSET', KEYS[1], 'state', 'released')
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
if ARGV[2] == 'renew' then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'lease', string.format('%d', now_ms + tonumber(ARGV[4])))
  return 1
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
if ARGV[2] == 'unknown' then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'unknown_at', string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
end
if ARGV[2] == 'done' then
  redis.call('HSET', KEYS[1], 'status', ARGV[5], 'body', ARGV[6])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

/// The idempotency records of this gateway.
#[derive(Debug, Clone)]
pub enum Records {
    Disk(Arc<DiskStore>),
    Shared(SharedState),
}

impl From<SharedError> for StoreError {
    fn from(e: SharedError) -> Self {
        StoreError(e.to_string())
    }
}

impl Records {
    /// Decides, atomically, what a write under (`tenant`, `key`) with `fingerprint` may do.
    pub async fn reserve(
        &self,
        tenant: &str,
        key: &str,
        fingerprint: Fingerprint,
        now: SystemTime,
        settle: Duration,
    ) -> Result<Reservation, StoreError> {
        match self {
            Records::Disk(store) => {
                on_disk(store, tenant, key, move |store, tenant, key| {
                    store.reserve(tenant, key, fingerprint, now, settle)
                })
                .await
            }
            Records::Shared(shared) => shared.reserve(tenant, key, fingerprint, settle).await,
        }
    }

    /// The reserved write finished with `answer`: later identical requests replay it.
    pub async fn complete(&self, tenant: &str, key: &str, answer: &StoredAnswer) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                let answer = answer.clone();
                on_disk(store, tenant, key, move |store, tenant, key| {
                    store.complete(tenant, key, &answer, SystemTime::now())
                })
                .await
            }
            Records::Shared(shared) => shared.finish(tenant, key, Finish::Done(answer)).await,
        }
    }

    /// The reserved write's outcome is unknown: it may have happened.
    pub async fn mark_unknown(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                on_disk(store, tenant, key, |store, tenant, key| {
                    store.mark_unknown(tenant, key, SystemTime::now())
                })
                .await
            }
            Records::Shared(shared) => shared.finish(tenant, key, Finish::Unknown).await,
        }
    }

    /// The reserved write certainly did not happen: the key is free again.
    pub async fn release(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                on_disk(store, tenant, key, |store, tenant, key| {
                    store.release(tenant, key, SystemTime::now())
                })
                .await
            }
            Records::Shared(shared) => shared.finish(tenant, key, Finish::Release).await,
        }
    }

    /// Keeps a reserved key held while its write runs (Redis leases; the disk store holds
    /// a key for as long as its process lives). Renewal stops when the guard is dropped.
    pub fn hold(&self, tenant: &str, key: &str) -> Option<Holding> {
        let Records::Shared(shared) = self else {
            return None;
        };
        let (shared, tenant, key) = (shared.clone(), tenant.to_owned(), key.to_owned());
        let task = renew_lease("the lease of a write in progress", move || {
            let (shared, tenant, key) = (shared.clone(), tenant.clone(), key.clone());
            async move { shared.finish(&tenant, &key, Finish::Renew).await }
        });
        Some(Holding(task))
    }

    /// Removes expired records, in the background, at most once per `due` call (Redis
    /// expires its records itself).
    pub fn purge_in_background(&self, now: SystemTime) {
        if let Records::Disk(store) = self {
            let store = Arc::clone(store);
            tokio::task::spawn_blocking(move || match store.purge(now) {
                Ok(purged) => tracing::debug!(purged, "expired idempotency records removed"),
                Err(e) => tracing::warn!(error = %e, "expired idempotency records could not be removed"),
            });
        }
    }
}

/// Runs `renew` every third of [`LEASE`] until the task is aborted; a failed renewal is
/// logged as `what` (the lease then runs out, and the key or lock reads as abandoned).
pub(super) fn renew_lease<F, Fut>(what: &'static str, renew: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), StoreError>> + Send,
{
    tokio::spawn(async move {
        let mut every = tokio::time::interval(LEASE / 3);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = renew().await {
                tracing::warn!(error = %e, "{what} was not renewed");
            }
        }
    })
}

/// Renews a write's lease until dropped.
#[derive(Debug)]
pub struct Holding(tokio::task::JoinHandle<()>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a disk store call about (`tenant`, `key`) on the blocking pool (its transactions
/// wait for the disk).
pub(super) async fn on_disk<T: Send + 'static>(
    store: &Arc<DiskStore>,
    tenant: &str,
    key: &str,
    call: impl FnOnce(&DiskStore, &str, &str) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (store, tenant, key) = (Arc::clone(store), tenant.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || call(&store, &tenant, &key))
        .await
        .map_err(|e| StoreError(e.to_string()))?
}

enum Finish<'a> {
    Done(&'a StoredAnswer),
    Unknown,
    Release,
    Renew,
}

/// This process, as the owner of the records it reserves.
fn owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}", std::process::id())
    })
}

impl SharedState {
    /// The record of (`tenant`, `key`): hashed, so no client text becomes part of a key.
    fn record_key(&self, tenant: &str, key: &str) -> String {
        let digest = Sha256::new()
            .chain_update(tenant)
            .chain_update([0])
            .chain_update(key)
            .finalize();
        self.key("idempotency", &crate::hex::lower(&digest))
    }

    async fn reserve(
        &self,
        tenant: &str,
        key: &str,
        fingerprint: Fingerprint,
        settle: Duration,
    ) -> Result<Reservation, StoreError> {
        let mut invocation = self.inner.scripts.reserve.prepare_invoke();
        invocation
            .key(self.record_key(tenant, key))
            .arg(crate::hex::lower(&fingerprint.0))
            .arg(owner())
            .arg(LEASE.as_millis() as u64)
            .arg(RETENTION.as_secs())
            .arg(settle.as_millis() as u64);
        let answer: Vec<Vec<u8>> = self.run_script("reserve", &invocation).await?;
        let text = |i: usize| answer.get(i).map(|b| String::from_utf8_lossy(b).into_owned());
        let broken = || StoreError(format!("the record of key `{key}` cannot be read"));
        match text(0).as_deref() {
            Some("fresh") => Ok(Reservation::Fresh {
                generation: text(1).and_then(|s| s.parse().ok()).unwrap_or(0),
            }),
            Some("reused") => Ok(Reservation::Reused),
            Some("in_use") => Ok(Reservation::InUse),
            Some("replay") => {
                let status = text(1).and_then(|s| s.parse().ok()).ok_or_else(broken)?;
                let body = answer.get(2).cloned().ok_or_else(broken)?;
                Ok(Reservation::Replay(StoredAnswer { status, body }))
            }
            Some("settling") => {
                let until: u64 = text(1).and_then(|s| s.parse().ok()).ok_or_else(broken)?;
                Ok(Reservation::Settling {
                    until: UNIX_EPOCH + Duration::from_millis(until),
                })
            }
            Some("unknown") => {
                let started: u64 = text(1).and_then(|s| s.parse().ok()).ok_or_else(broken)?;
                Ok(Reservation::OutcomeUnknown {
                    since: UNIX_EPOCH + Duration::from_secs(started),
                    generation: text(2).and_then(|s| s.parse().ok()).unwrap_or(0),
                })
            }
            _ => Err(broken()),
        }
    }

    async fn finish(&self, tenant: &str, key: &str, finish: Finish<'_>) -> Result<(), StoreError> {
        let mut invocation = self.inner.scripts.finish.prepare_invoke();
        let (what, status, body): (&str, u16, &[u8]) = match finish {
            Finish::Done(answer) => ("done", answer.status, &answer.body),
            Finish::Unknown => ("unknown", 0, b""),
            Finish::Release => ("release", 0, b""),
            Finish::Renew => ("renew", 0, b""),
        };
        invocation
            .key(self.record_key(tenant, key))
            .arg(owner())
            .arg(what)
            .arg(RETENTION.as_secs())
            .arg(LEASE.as_millis() as u64)
            .arg(status)
            .arg(body);
        let held: i64 = self.run_script("record", &invocation).await?;
        if held == 1 {
            Ok(())
        } else {
            Err(StoreError(format!(
                "key `{key}` is no longer held by this process (its lease ran out)"
            )))
        }
    }
}
