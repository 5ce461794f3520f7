//! The event log, on disk ([`crate::store`]'s `events` tables) or in Redis across
//! replicas: the same operations, each atomic (one redb transaction, one Lua script), so
//! two replicas recording the same cause make one event, and an event is recorded with the
//! deliveries it owes or not at all. The queues those deliveries travel on are in
//! [`super::queues`].
//!
//! In Redis: `event:<id>` holds an event's JSON for the retention; `events` and
//! `events_by:<customer digest>` index the ids (sorted sets compared as text: ids sort by
//! time); `event_source:<digest>` names the event a cause made; `event_guard:<digest>` the
//! value an event is recorded only on a change of (a balance); a queue is a sorted set
//! `queue:<name>` (score: when the item is due, in Redis's milliseconds) and a hash
//! `queue_body:<name>`; `deliveries:<event id>` holds each endpoint's delivery state.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::blocking;
use super::records::Records;
use super::serial::digest;
use super::SharedState;
use crate::store::{NewEvent, StoreError};

/// KEYS: source, body, all index, customer index, guard, then one queue per endpoint.
/// ARGV: id, JSON, retention (s), the oldest id kept, the guard's value ('': none).
/// Answers 1 if recorded, 0 if the source was, or the guard holds the value already.
pub(super) const APPEND: &str = r"
if ARGV[5] ~= '' and redis.call('GET', KEYS[5]) == ARGV[5] then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then return 0 end
if ARGV[5] ~= '' then redis.call('SET', KEYS[5], ARGV[5]) end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
redis.call('ZREMRANGEBYLEX', KEYS[3], '-', '(' .. ARGV[4])
redis.call('ZREMRANGEBYLEX', KEYS[4], '-', '(' .. ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[3])
for i = 6, #KEYS do redis.call('ZADD', KEYS[i], 'NX', now_ms, ARGV[1]) end
return 1
";

/// The most events one listing reads before it answers what it found (a listing whose
/// filters match little stays bounded; its cursor goes on from where it stopped).
pub const MAX_SCANNED: usize = 5_000;

/// A page of events read from the log: the JSON of those `keep` took, newest first, and
/// where to go on from if there may be more.
#[derive(Debug, Default)]
pub struct EventScan {
    pub events: Vec<Vec<u8>>,
    pub next_before: Option<String>,
}

/// Which events a listing wants, as a test on each one's JSON.
pub type Keep = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl SharedState {
    fn customer_index(&self, customer: &str) -> String {
        self.key("events_by", &digest(customer))
    }
}

/// Collects up to `limit` events `keep` takes from a scan that offers ids and JSON newest
/// first, reading at most [`MAX_SCANNED`]. `next_before` is set when it stopped before the
/// end: everything from there on is not known yet.
struct Collect {
    limit: usize,
    keep: Keep,
    scanned: usize,
    out: EventScan,
}

impl Collect {
    fn offer(&mut self, id: &str, json: &[u8]) -> ControlFlow<()> {
        self.scanned += 1;
        if (self.keep)(json) {
            if self.out.events.len() == self.limit {
                // One more: the page is full, and goes on after its last event.
                self.out.next_before = self.out.events.last().and_then(|last| event_id_of(last));
                return ControlFlow::Break(());
            }
            self.out.events.push(json.to_vec());
        }
        if self.scanned >= MAX_SCANNED {
            self.out.next_before = Some(id.to_owned());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl Records {
    /// Records `events` (each once per source) with their deliveries: per event, whether it
    /// was recorded now.
    pub async fn append_events(&self, events: Vec<NewEvent>, retention: Duration) -> Result<Vec<bool>, StoreError> {
        match self {
            Records::Disk(store) => {
                let store = Arc::clone(store);
                blocking(move || store.append_events(&events, SystemTime::now())).await
            }
            Records::Shared(shared) => {
                let oldest = crate::model::event::event_id(
                    millis(SystemTime::now()).saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(0)),
                    0,
                );
                let mut recorded = Vec::with_capacity(events.len());
                for event in &events {
                    let mut invocation = shared.inner.scripts.append.prepare_invoke();
                    invocation
                        .key(shared.key("event_source", &digest(&event.source)))
                        .key(shared.key("event", &event.id))
                        .key(shared.key("events", "all"))
                        .key(shared.customer_index(&event.customer))
                        .key(shared.key(
                            "event_guard",
                            &digest(event.guard.as_ref().map_or("-", |g| g.0.as_str())),
                        ));
                    for endpoint in &event.deliver_to {
                        invocation.key(shared.queue_keys(endpoint).0);
                    }
                    invocation
                        .arg(&event.id)
                        .arg(event.json.as_slice())
                        .arg(retention.as_secs().max(1))
                        .arg(&oldest)
                        .arg(event.guard.as_ref().map_or("", |g| g.1.as_str()));
                    let new: i64 = shared.run_script("append event", &invocation).await?;
                    recorded.push(new == 1);
                }
                Ok(recorded)
            }
        }
    }

    /// The JSON of event `id`, if it is kept.
    pub async fn event(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, id) = (Arc::clone(store), id.to_owned());
                blocking(move || store.event(&id)).await
            }
            Records::Shared(shared) => {
                let mut connection = shared.inner.manager.clone();
                let key = shared.key("event", id);
                Ok(shared
                    .call("event", redis::cmd("GET").arg(&key).query_async(&mut connection))
                    .await?)
            }
        }
    }

    /// Up to `limit` events `keep` takes, newest first, from right before `before`: every
    /// event, or those of `customers` (`<provider>:<id>` each).
    pub async fn list_events(
        &self,
        customers: Option<Vec<String>>,
        before: Option<String>,
        limit: usize,
        keep: Keep,
    ) -> Result<EventScan, StoreError> {
        let sources: Vec<Option<String>> = match customers {
            None => vec![None],
            Some(customers) => customers.into_iter().map(Some).collect(),
        };
        let mut pages = Vec::with_capacity(sources.len());
        for customer in sources {
            let page = self
                .scan_one(customer, before.clone(), limit, Arc::clone(&keep))
                .await?;
            pages.push(page);
        }
        Ok(merge(pages, limit))
    }

    async fn scan_one(
        &self,
        customer: Option<String>,
        before: Option<String>,
        limit: usize,
        keep: Keep,
    ) -> Result<EventScan, StoreError> {
        let mut collect = Collect {
            limit,
            keep,
            scanned: 0,
            out: EventScan::default(),
        };
        match self {
            Records::Disk(store) => {
                let store = Arc::clone(store);
                let collect = blocking(move || {
                    store.scan_events(customer.as_deref(), before.as_deref(), |id, json| {
                        collect.offer(id, json)
                    })?;
                    Ok(collect)
                })
                .await?;
                Ok(collect.out)
            }
            Records::Shared(shared) => {
                let index = match &customer {
                    Some(customer) => shared.customer_index(customer),
                    None => shared.key("events", "all"),
                };
                let mut upper = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
                let mut connection = shared.inner.manager.clone();
                'pages: loop {
                    let ids: Vec<String> = shared
                        .call(
                            "list events",
                            redis::cmd("ZREVRANGEBYLEX")
                                .arg(&index)
                                .arg(&upper)
                                .arg("-")
                                .arg("LIMIT")
                                .arg(0)
                                .arg(200)
                                .query_async(&mut connection),
                        )
                        .await?;
                    let Some(last) = ids.last() else { break };
                    upper = format!("({last}");
                    let keys: Vec<String> = ids.iter().map(|id| shared.key("event", id)).collect();
                    let bodies: Vec<Option<Vec<u8>>> = shared
                        .call(
                            "list events",
                            redis::cmd("MGET").arg(&keys).query_async(&mut connection),
                        )
                        .await?;
                    for (id, body) in ids.iter().zip(bodies) {
                        // An id whose event expired is skipped.
                        let Some(body) = body else { continue };
                        if collect.offer(id, &body).is_break() {
                            break 'pages;
                        }
                    }
                }
                Ok(collect.out)
            }
        }
    }
}

impl SharedState {
    fn guard_key(&self, key: &str) -> String {
        self.key("event_guard", &digest(key))
    }
}

/// Balance alerts, kept until deleted (in Redis: `alert:<id>`, and the sets `alerts` and
/// `alerts_by:<customer digest>` of their ids).
impl Records {
    /// Sets what `key` guards to `value` (`None`: forgets it), with no event.
    pub async fn set_guard(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, key, value) = (Arc::clone(store), key.to_owned(), value.map(str::to_owned));
                blocking(move || store.set_guard(&key, value.as_deref())).await
            }
            Records::Shared(shared) => {
                let mut connection = shared.inner.manager.clone();
                let command = match value {
                    Some(value) => redis::cmd("SET").arg(shared.guard_key(key)).arg(value).clone(),
                    None => redis::cmd("DEL").arg(shared.guard_key(key)).clone(),
                };
                let _: () = shared.call("guard", command.query_async(&mut connection)).await?;
                Ok(())
            }
        }
    }

    pub async fn put_alert(&self, id: &str, customer: &str, json: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, id, customer) = (Arc::clone(store), id.to_owned(), customer.to_owned());
                blocking(move || store.put_alert(&id, &customer, &json)).await
            }
            Records::Shared(shared) => {
                let mut connection = shared.inner.manager.clone();
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .set(shared.key("alert", id), json)
                    .sadd(shared.key("alerts", "all"), id)
                    .sadd(shared.key("alerts_by", &digest(customer)), id);
                let _: () = shared.call("put alert", pipe.query_async(&mut connection)).await?;
                Ok(())
            }
        }
    }

    /// The alerts of `customer` (`<provider>:<id>`), or every alert.
    pub async fn alerts(&self, customer: Option<&str>) -> Result<Vec<Vec<u8>>, StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, customer) = (Arc::clone(store), customer.map(str::to_owned));
                blocking(move || store.alerts(customer.as_deref())).await
            }
            Records::Shared(shared) => {
                let mut connection = shared.inner.manager.clone();
                let set = match customer {
                    Some(customer) => shared.key("alerts_by", &digest(customer)),
                    None => shared.key("alerts", "all"),
                };
                let ids: Vec<String> = shared
                    .call("alerts", redis::cmd("SMEMBERS").arg(&set).query_async(&mut connection))
                    .await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let keys: Vec<String> = ids.iter().map(|id| shared.key("alert", id)).collect();
                let found: Vec<Option<Vec<u8>>> = shared
                    .call("alerts", redis::cmd("MGET").arg(&keys).query_async(&mut connection))
                    .await?;
                Ok(found.into_iter().flatten().collect())
            }
        }
    }

    /// Removes alert `id` of `customer` and what `guard` kept of it: its JSON, if it was
    /// there.
    pub async fn delete_alert(&self, id: &str, customer: &str, guard: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Records::Disk(store) => {
                let (store, id, customer, guard) =
                    (Arc::clone(store), id.to_owned(), customer.to_owned(), guard.to_owned());
                blocking(move || store.delete_alert(&id, &customer, &guard)).await
            }
            Records::Shared(shared) => {
                let mut connection = shared.inner.manager.clone();
                let key = shared.key("alert", id);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .get(&key)
                    .del(&key)
                    .srem(shared.key("alerts", "all"), id)
                    .srem(shared.key("alerts_by", &digest(customer)), id)
                    .del(shared.guard_key(guard));
                let (json, (), (), (), ()): (Option<Vec<u8>>, (), (), (), ()) =
                    shared.call("delete alert", pipe.query_async(&mut connection)).await?;
                Ok(json)
            }
        }
    }
}

/// The `id` of an event's JSON.
fn event_id_of(json: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(json).ok().map(|e| e.id)
}

/// Several newest-first scans (one per customer) as one page of at most `limit`. Each scan
/// knows every event from where it stopped on; the newest of those places (the floor)
/// bounds what the union knows, so nothing older than it is answered yet.
fn merge(pages: Vec<EventScan>, limit: usize) -> EventScan {
    let floor = pages.iter().filter_map(|p| p.next_before.clone()).max();
    let mut all: Vec<(String, Vec<u8>)> = pages
        .into_iter()
        .flat_map(|p| p.events)
        .filter_map(|json| event_id_of(&json).map(|id| (id, json)))
        .filter(|(id, _)| floor.as_ref().is_none_or(|f| id >= f))
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0));
    all.dedup_by(|a, b| a.0 == b.0);
    let truncated = all.len() > limit;
    all.truncate(limit);
    let next_before = if truncated {
        all.last().map(|(id, _)| id.clone())
    } else {
        floor
    };
    EventScan {
        events: all.into_iter().map(|(_, json)| json).collect(),
        next_before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[u64], next_before: Option<u64>) -> EventScan {
        let id = |n: u64| crate::model::event::event_id(n, 0);
        EventScan {
            events: ids
                .iter()
                .map(|n| format!("{{\"id\":\"{}\"}}", id(*n)).into_bytes())
                .collect(),
            next_before: next_before.map(id),
        }
    }

    fn ids(scan: &EventScan) -> Vec<String> {
        scan.events.iter().filter_map(|json| event_id_of(json)).collect()
    }

    #[test]
    fn merged_scans_answer_only_what_every_scan_knows() {
        let id = |n: u64| crate::model::event::event_id(n, 0);
        // Both scans ran to their end: the newest `limit` of the union.
        let merged = merge(vec![page(&[9, 5, 1], None), page(&[8, 2], None)], 3);
        assert_eq!(ids(&merged), vec![id(9), id(8), id(5)]);
        assert_eq!(merged.next_before, Some(id(5)));
        // One stopped at 6 (full): nothing older than 6 is answered yet, and the next page
        // goes on before it.
        let merged = merge(vec![page(&[9, 6], Some(6)), page(&[8, 2], None)], 5);
        assert_eq!(ids(&merged), vec![id(9), id(8), id(6)]);
        assert_eq!(merged.next_before, Some(id(6)));
        // Everything fits: no next page.
        let merged = merge(vec![page(&[3], None), page(&[], None)], 5);
        assert_eq!((ids(&merged), merged.next_before), (vec![id(3)], None));
    }
}
