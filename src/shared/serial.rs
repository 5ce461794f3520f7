//! Writes at a vendor where creditgate finds an earlier write again by what it changed
//! (Vayu: an entry of that type and amount, made since the write began) rather than by a key
//! or a marker. Two things keep such a look from taking another write's entry:
//!
//! - **One at a time per customer** ([`CustomerLocks`]): while one write to the customer
//!   runs (its write, its read-back, or its look after an unknown outcome), no other does,
//!   in this process (a mutex) or, with Redis, on any replica (a leased lock, renewed while
//!   held). A write waits at most [`SERIAL_WAIT`] for its turn, then is refused with
//!   `409 customer_write_in_progress`.
//! - **Claims**: each entry a write takes as its own is recorded under the customer, and a
//!   look never takes a claimed entry. Claims live [`CLAIM_RETENTION`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::records::{on_disk, renew_lease, Records, LEASE};
use super::SharedState;
use crate::model::ProviderKind;
use crate::store::{StoreError, CLAIM_RETENTION};

/// The longest a write waits for another write to the same customer to finish.
pub const SERIAL_WAIT: Duration = Duration::from_secs(10);

/// KEYS: the customer's claims (a sorted set by unix seconds). ARGV: entry, retention (s).
pub(super) const CLAIM: &str = r"
local t = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[1], t, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: the lock. ARGV: its holder's token, lease (ms), 'take' | 'renew' | 'free'.
/// Answers 1 when the holder has (or had, for 'free') the lock, else 0.
pub(super) const LOCK: &str = r"
if ARGV[3] == 'take' then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
";

/// The per-customer locks of this process.
#[derive(Debug, Default)]
pub struct CustomerLocks {
    local: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// One customer's turn to write; the next write waits until it is dropped.
#[derive(Debug)]
pub struct CustomerTurn {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _shared: Option<SharedTurn>,
}

#[derive(Debug)]
struct SharedTurn {
    shared: SharedState,
    key: String,
    token: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for SharedTurn {
    fn drop(&mut self) {
        self.renewal.abort();
        let (shared, key, token) = (self.shared.clone(), self.key.clone(), self.token.clone());
        // A lock that is not freed (Redis unreachable) runs out with its lease.
        tokio::spawn(async move {
            if let Err(e) = shared.lock_step(&key, &token, "free").await {
                tracing::warn!(error = %e, "a customer's write lock was not freed; it ends with its lease");
            }
        });
    }
}

fn customer_id(provider: ProviderKind, customer: &str) -> String {
    format!("{provider}\u{0}{customer}")
}

impl CustomerLocks {
    /// Waits up to `wait` for `customer`'s turn at `provider`; `None` when another write
    /// still holds it then.
    pub async fn turn(
        &self,
        records: &Records,
        provider: ProviderKind,
        customer: &str,
        wait: Duration,
    ) -> Result<Option<CustomerTurn>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        let id = customer_id(provider, customer);
        let mutex = {
            let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
            // Locks nobody holds or waits for are dropped, so the map stays small.
            local.retain(|_, m| Arc::strong_count(m) > 1);
            Arc::clone(local.entry(id.clone()).or_default())
        };
        let Ok(local) = tokio::time::timeout_at(deadline, mutex.lock_owned()).await else {
            return Ok(None);
        };
        let shared = match records {
            Records::Disk(_) => None,
            Records::Shared(shared) => match shared.take_lock(&id, deadline).await? {
                Some(turn) => Some(turn),
                None => return Ok(None),
            },
        };
        Ok(Some(CustomerTurn {
            _local: local,
            _shared: shared,
        }))
    }
}

impl Records {
    /// The entries of `customer` at `provider` that writes have claimed.
    pub async fn claims(&self, provider: ProviderKind, customer: &str) -> Result<BTreeSet<String>, StoreError> {
        match self {
            Records::Disk(store) => {
                on_disk(store, provider.as_str(), customer, |store, provider, customer| {
                    store.claims(provider, customer)
                })
                .await
            }
            Records::Shared(shared) => {
                let key = shared.claims_key(provider, customer);
                let mut connection = shared.inner.manager.clone();
                let claimed: Vec<String> = shared
                    .call(
                        "claims",
                        redis::cmd("ZRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(-1)
                            .query_async(&mut connection),
                    )
                    .await?;
                Ok(claimed.into_iter().collect())
            }
        }
    }

    /// Records that a write took `entry` as its own.
    pub async fn claim(&self, provider: ProviderKind, customer: &str, entry: &str) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                let entry = entry.to_owned();
                on_disk(store, provider.as_str(), customer, move |store, provider, customer| {
                    store.claim(provider, customer, &entry, SystemTime::now())
                })
                .await
            }
            Records::Shared(shared) => {
                let mut invocation = shared.inner.scripts.claim.prepare_invoke();
                invocation
                    .key(shared.claims_key(provider, customer))
                    .arg(entry)
                    .arg(CLAIM_RETENTION.as_secs());
                let _: i64 = shared.run_script("claim", &invocation).await?;
                Ok(())
            }
        }
    }
}

pub(super) fn digest(text: &str) -> String {
    crate::hex::lower(&Sha256::digest(text.as_bytes()))
}

impl SharedState {
    fn claims_key(&self, provider: ProviderKind, customer: &str) -> String {
        self.key("claims", &digest(&customer_id(provider, customer)))
    }

    async fn lock_step(&self, key: &str, token: &str, what: &str) -> Result<bool, StoreError> {
        let mut invocation = self.inner.scripts.lock.prepare_invoke();
        invocation.key(key).arg(token).arg(LEASE.as_millis() as u64).arg(what);
        let held: i64 = self.run_script("lock", &invocation).await?;
        Ok(held == 1)
    }

    /// Takes the customer's lock before `deadline`, polling; renewed until dropped.
    async fn take_lock(&self, id: &str, deadline: tokio::time::Instant) -> Result<Option<SharedTurn>, StoreError> {
        let key = self.key("lock", &digest(id));
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let token = format!("{}-{nanos}", std::process::id());
        loop {
            if self.lock_step(&key, &token, "take").await? {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (shared, renew_key, renew_token) = (self.clone(), key.clone(), token.clone());
        let renewal = renew_lease("a customer's write lock", move || {
            let (shared, key, token) = (shared.clone(), renew_key.clone(), renew_token.clone());
            async move { shared.lock_step(&key, &token, "renew").await.map(drop) }
        });
        Ok(Some(SharedTurn {
            shared: self.clone(),
            key,
            token,
            renewal,
        }))
    }
}
