//! Work queues, on disk or in Redis: items due at a time, handed to one worker at a time
//! with a lease (an item whose work is cut short by a crash is due again when the lease
//! ends, for any replica), and settled (done, or due again later) with the state of the
//! work recorded in the same step. Deliveries to endpoints and vendor events waiting to be
//! read travel on them (the delivery workers, the reader of vendor events).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::blocking;
use super::records::Records;
use super::serial::digest;
use super::SharedState;
use crate::model::ProviderKind;
use crate::store::{Claimed, StoreError, VENDOR_EVENT_RETENTION};

/// KEYS: queue, bodies, and optionally a key that must be new (else nothing is queued).
/// ARGV: item, body, that key's retention (s). Answers 1 if queued (or already queued).
pub(super) const ENQUEUE: &str = r"
if KEYS[3] and not redis.call('SET', KEYS[3], 1, 'NX', 'EX', ARGV[3]) then return 0 end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZADD', KEYS[1], 'NX', now_ms, ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return 1
";

/// KEYS: queue, bodies. ARGV: lease (ms), max. Answers item, body, item, body...
pub(super) const CLAIM_DUE: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, item in ipairs(items) do
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]), item)
  table.insert(out, item)
  table.insert(out, redis.call('HGET', KEYS[2], item) or '')
end
return out
";

/// KEYS: queue, bodies, delivery states. ARGV: item, due again in (ms; '' to remove),
/// state field ('' for none), state, retention (s).
pub(super) const SETTLE: &str = r"
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
elseif redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return 1
";

impl SharedState {
    pub(super) fn queue_keys(&self, queue: &str) -> (String, String) {
        (self.key("queue", queue), self.key("queue_body", queue))
    }
}

impl Records {
    /// Queues `item` (with `body`) on `queue`, due now, unless it is queued already.
    pub async fn enqueue(&self, queue: &str, item: &str, body: &[u8]) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, queue, item, body) = (Arc::clone(store), queue.to_owned(), item.to_owned(), body.to_vec());
                blocking(move || store.enqueue(&queue, &item, &body, SystemTime::now())).await
            }
            Records::Shared(shared) => {
                let (queue_key, bodies) = shared.queue_keys(queue);
                let mut invocation = shared.inner.scripts.enqueue.prepare_invoke();
                invocation.key(queue_key).key(bodies).arg(item).arg(body).arg(1);
                let _: i64 = shared.run_script("enqueue", &invocation).await?;
                Ok(())
            }
        }
    }

    /// Records vendor event `id` of `provider` and queues `body` on `queue` for reading,
    /// durably before it returns, unless it was received before: `true` if it is new.
    pub async fn receive_vendor_event(
        &self,
        provider: ProviderKind,
        id: &str,
        queue: &str,
        body: Vec<u8>,
    ) -> Result<bool, StoreError> {
        match self {
            Records::Disk(store) => {
                let received = crate::store::Received {
                    provider: provider.as_str(),
                    id: id.to_owned(),
                    queue: queue.to_owned(),
                    body,
                };
                store.receive_vendor_event(received).await
            }
            Records::Shared(shared) => {
                let item = format!("{provider}\u{0}{id}");
                let (queue_key, bodies) = shared.queue_keys(queue);
                let mut invocation = shared.inner.scripts.enqueue.prepare_invoke();
                invocation
                    .key(queue_key)
                    .key(bodies)
                    .key(shared.key("vendor_event", &format!("{provider}:{}", digest(id))))
                    .arg(item)
                    .arg(body)
                    .arg(VENDOR_EVENT_RETENTION.as_secs());
                let new: i64 = shared.run_script("vendor event", &invocation).await?;
                Ok(new == 1)
            }
        }
    }

    /// Up to `max` items of `queue` that are due, each due again after `lease` unless
    /// settled before (so work cut short by a crash is done again, by any replica).
    pub async fn claim_due(&self, queue: &str, lease: Duration, max: usize) -> Result<Vec<Claimed>, StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, queue) = (Arc::clone(store), queue.to_owned());
                blocking(move || store.claim_due(&queue, SystemTime::now(), lease, max)).await
            }
            Records::Shared(shared) => {
                let (queue_key, bodies) = shared.queue_keys(queue);
                let mut invocation = shared.inner.scripts.claim_due.prepare_invoke();
                invocation
                    .key(queue_key)
                    .key(bodies)
                    .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
                    .arg(max);
                let flat: Vec<Vec<u8>> = shared.run_script("claim due", &invocation).await?;
                Ok(flat
                    .chunks(2)
                    .filter_map(|pair| match pair {
                        [item, body] => Some(Claimed {
                            item: String::from_utf8_lossy(item).into_owned(),
                            body: body.clone(),
                        }),
                        _ => None,
                    })
                    .collect())
            }
        }
    }

    /// Ends a claimed item's turn: off `queue` (`retry_in` is `None`) or due again after
    /// `retry_in`; with `state` recorded as event `state.0`'s delivery to endpoint
    /// `state.1`, kept for `retention`.
    pub async fn settle(
        &self,
        queue: &str,
        item: &str,
        retry_in: Option<Duration>,
        state: Option<(&str, &str, Vec<u8>)>,
        retention: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, queue, item) = (Arc::clone(store), queue.to_owned(), item.to_owned());
                let state = state.map(|(event, endpoint, bytes)| (format!("{event}\u{0}{endpoint}"), bytes));
                blocking(move || {
                    let next = retry_in.map(|d| SystemTime::now() + d);
                    store.settle(
                        &queue,
                        &item,
                        next,
                        state.as_ref().map(|(k, v)| (k.as_str(), v.as_slice())),
                    )
                })
                .await
            }
            Records::Shared(shared) => {
                let (queue_key, bodies) = shared.queue_keys(queue);
                let (states, field, value) = match &state {
                    Some((event, endpoint, bytes)) => (shared.key("deliveries", event), *endpoint, bytes.as_slice()),
                    None => (shared.key("deliveries", "-"), "", &[][..]),
                };
                let mut invocation = shared.inner.scripts.settle.prepare_invoke();
                invocation
                    .key(queue_key)
                    .key(bodies)
                    .key(states)
                    .arg(item)
                    .arg(retry_in.map_or_else(String::new, |d| d.as_millis().to_string()))
                    .arg(field)
                    .arg(value)
                    .arg(retention.as_secs().max(1));
                let _: i64 = shared.run_script("settle", &invocation).await?;
                Ok(())
            }
        }
    }

    /// Event `id`'s delivery states, by endpoint id.
    pub async fn deliveries(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, id) = (Arc::clone(store), id.to_owned());
                blocking(move || store.deliveries(&id)).await
            }
            Records::Shared(shared) => {
                let mut connection = shared.inner.manager.clone();
                let key = shared.key("deliveries", id);
                Ok(shared
                    .call(
                        "deliveries",
                        redis::cmd("HGETALL").arg(&key).query_async(&mut connection),
                    )
                    .await?)
            }
        }
    }
}
