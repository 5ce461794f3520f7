//! The event log on disk: creditgate's events, each once, and the work queues that carry
//! them (deliveries to endpoints, vendor events waiting to be read). Each change is one
//! write transaction, so an event and the deliveries it owes are recorded together or not
//! at all, and a vendor event is acknowledged only once it is queued.
//!
//! Tables:
//! - `events`: event id → its JSON, as served;
//! - `events_by_customer`: `customer NUL event id` → (), to list one customer's;
//! - `event_sources`: what caused an event (a write, a vendor event) → its id, so the same
//!   cause recorded twice is one event;
//! - `queue`: `queue NUL due (16 hex ms) NUL item` → the item's body, in the order due;
//!   `queue_items`: `queue NUL item` → its `queue` key;
//! - `deliveries`: `event id NUL endpoint id` → the delivery's state (JSON);
//! - `event_guards`: what an event is recorded only on a change of (a balance, an alert's
//!   state) → its value last recorded;
//! - `balance_alerts` (and `balance_alerts_by_customer`): the alerts, kept until deleted.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use redb::{ReadableTable, TableDefinition};

use super::{DiskStore, StoreError};
use crate::model::event::event_id_millis;

const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("events");
const EVENTS_BY_CUSTOMER: TableDefinition<&str, ()> = TableDefinition::new("events_by_customer");
const EVENT_SOURCES: TableDefinition<&str, &str> = TableDefinition::new("event_sources");
pub(super) const QUEUE: TableDefinition<&str, &[u8]> = TableDefinition::new("queue");
pub(super) const QUEUE_ITEMS: TableDefinition<&str, &str> = TableDefinition::new("queue_items");
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
const GUARDS: TableDefinition<&str, &str> = TableDefinition::new("event_guards");

/// One event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    /// `<provider>:<id>`.
    pub customer: String,
    /// What caused it: a second event with the same source is not recorded.
    pub source: String,
    pub json: Vec<u8>,
    /// The queues (one per endpoint) it is to be delivered through.
    pub deliver_to: Vec<String>,
    /// `(key, value)`: the event is recorded only if `value` is not already the one kept
    /// under `key`, which it then becomes (a balance seen: an event only when it changed).
    pub guard: Option<(String, String)>,
}

/// An item a queue handed out: it is due again after the lease unless settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub item: String,
    pub body: Vec<u8>,
}

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVENTS)?;
    txn.open_table(EVENTS_BY_CUSTOMER)?;
    txn.open_table(EVENT_SOURCES)?;
    txn.open_table(QUEUE)?;
    txn.open_table(QUEUE_ITEMS)?;
    txn.open_table(DELIVERIES)?;
    txn.open_table(GUARDS)?;
    txn.open_table(ALERTS)?;
    txn.open_table(ALERTS_BY_CUSTOMER)?;
    Ok(())
}

pub(super) fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn queue_key(queue: &str, due_ms: u64, item: &str) -> String {
    format!("{queue}\u{0}{due_ms:016x}\u{0}{item}")
}

/// Puts `item` on `queue`, due at `due_ms`, unless it is there already.
pub(super) fn enqueue(
    queue_table: &mut redb::Table<&str, &[u8]>,
    items: &mut redb::Table<&str, &str>,
    queue: &str,
    item: &str,
    due_ms: u64,
    body: &[u8],
) -> Result<(), StoreError> {
    let item_key = format!("{queue}\u{0}{item}");
    if items.get(item_key.as_str())?.is_some() {
        return Ok(());
    }
    let key = queue_key(queue, due_ms, item);
    queue_table.insert(key.as_str(), body)?;
    items.insert(item_key.as_str(), key.as_str())?;
    Ok(())
}

impl DiskStore {
    /// Records `events` (each unless its source was recorded before) with their deliveries,
    /// in one transaction; answers, per event, whether it was recorded now.
    pub fn append_events(&self, events: &[NewEvent], now: SystemTime) -> Result<Vec<bool>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut recorded = Vec::with_capacity(events.len());
        {
            let mut bodies = txn.open_table(EVENTS)?;
            let mut by_customer = txn.open_table(EVENTS_BY_CUSTOMER)?;
            let mut sources = txn.open_table(EVENT_SOURCES)?;
            let mut queue = txn.open_table(QUEUE)?;
            let mut items = txn.open_table(QUEUE_ITEMS)?;
            let mut guards = txn.open_table(GUARDS)?;
            for event in events {
                if sources.get(event.source.as_str())?.is_some() {
                    recorded.push(false);
                    continue;
                }
                if let Some((key, value)) = &event.guard {
                    if guards.get(key.as_str())?.is_some_and(|kept| kept.value() == value) {
                        recorded.push(false);
                        continue;
                    }
                    guards.insert(key.as_str(), value.as_str())?;
                }
                sources.insert(event.source.as_str(), event.id.as_str())?;
                bodies.insert(event.id.as_str(), event.json.as_slice())?;
                by_customer.insert(format!("{}\u{0}{}", event.customer, event.id).as_str(), ())?;
                for endpoint in &event.deliver_to {
                    enqueue(&mut queue, &mut items, endpoint, &event.id, millis(now), b"")?;
                }
                recorded.push(true);
            }
        }
        txn.commit()?;
        Ok(recorded)
    }

    /// The JSON of event `id`, if it is kept.
    pub fn event(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(EVENTS)?;
        Ok(table.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Events newest first, from right before `before` (or the newest), each offered to
    /// `take` until it says stop: every event, or those of `customer`.
    pub fn scan_events(
        &self,
        customer: Option<&str>,
        before: Option<&str>,
        mut take: impl FnMut(&str, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let bodies = txn.open_table(EVENTS)?;
        match customer {
            None => {
                let range = match before {
                    Some(before) => bodies.range::<&str>(..before)?,
                    None => bodies.range::<&str>(..)?,
                };
                for entry in range.rev() {
                    let (id, json) = entry?;
                    if take(id.value(), json.value()).is_break() {
                        break;
                    }
                }
            }
            Some(customer) => {
                let index = txn.open_table(EVENTS_BY_CUSTOMER)?;
                let start = format!("{customer}\u{0}");
                let end = match before {
                    Some(before) => format!("{customer}\u{0}{before}"),
                    None => format!("{customer}\u{1}"),
                };
                for entry in index.range::<&str>(start.as_str()..end.as_str())?.rev() {
                    let (key, _) = entry?;
                    let key = key.value();
                    let id = &key[start.len()..];
                    // An index entry whose event was purged is skipped.
                    let Some(json) = bodies.get(id)? else { continue };
                    if take(id, json.value()).is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts `item` on `queue` due now, unless it is there already (a redelivery).
    pub fn enqueue(&self, queue: &str, item: &str, body: &[u8], now: SystemTime) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut queue_table = txn.open_table(QUEUE)?;
            let mut items = txn.open_table(QUEUE_ITEMS)?;
            enqueue(&mut queue_table, &mut items, queue, item, millis(now), body)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Up to `max` items of `queue` due at `now`, each then due again after `lease` (so an
    /// item whose work is cut short by a crash is handed out again).
    pub fn claim_due(
        &self,
        queue: &str,
        now: SystemTime,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now_ms = millis(now);
        let start = format!("{queue}\u{0}");
        let end = format!("{queue}\u{0}{:016x}", now_ms.saturating_add(1));
        // Most looks find nothing due: a read says so without a write transaction's commit.
        {
            let read = self.db.begin_read()?;
            if read
                .open_table(QUEUE)?
                .range::<&str>(start.as_str()..end.as_str())?
                .next()
                .is_none()
            {
                return Ok(Vec::new());
            }
        }
        let txn = self.db.begin_write()?;
        let mut claimed = Vec::new();
        {
            let mut queue_table = txn.open_table(QUEUE)?;
            let mut items = txn.open_table(QUEUE_ITEMS)?;
            let due: Vec<(String, Vec<u8>)> = queue_table
                .range::<&str>(start.as_str()..end.as_str())?
                .take(max)
                .map(|entry| entry.map(|(k, v)| (k.value().to_owned(), v.value().to_vec())))
                .collect::<Result<_, _>>()?;
            let leased_until = now_ms.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
            for (key, body) in due {
                // `queue NUL due NUL item`: the item is what follows the second NUL.
                let item = key[start.len() + 17..].to_owned();
                queue_table.remove(key.as_str())?;
                let next = queue_key(queue, leased_until, &item);
                queue_table.insert(next.as_str(), body.as_slice())?;
                items.insert(format!("{queue}\u{0}{item}").as_str(), next.as_str())?;
                claimed.push(Claimed { item, body });
            }
        }
        txn.commit()?;
        Ok(claimed)
    }

    /// Ends a claimed item's turn: off the queue (`next` is `None`) or due again at `next`,
    /// with `state` (if any) recorded for it in the same transaction.
    pub fn settle(
        &self,
        queue: &str,
        item: &str,
        next: Option<SystemTime>,
        state: Option<(&str, &[u8])>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut queue_table = txn.open_table(QUEUE)?;
            let mut items = txn.open_table(QUEUE_ITEMS)?;
            let item_key = format!("{queue}\u{0}{item}");
            let current = items.remove(item_key.as_str())?.map(|k| k.value().to_owned());
            if let Some(current) = current {
                let body = queue_table.remove(current.as_str())?.map(|b| b.value().to_vec());
                if let (Some(next), Some(body)) = (next, body) {
                    let key = queue_key(queue, millis(next), item);
                    queue_table.insert(key.as_str(), body.as_slice())?;
                    items.insert(item_key.as_str(), key.as_str())?;
                }
            }
            if let Some((key, value)) = state {
                txn.open_table(DELIVERIES)?.insert(key, value)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The delivery states recorded under `prefix` (`event id NUL`), by their key's rest.
    pub fn deliveries(&self, event: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let start = format!("{event}\u{0}");
        let end = format!("{event}\u{1}");
        table
            .range::<&str>(start.as_str()..end.as_str())?
            .map(|entry| {
                entry
                    .map(|(k, v)| (k.value()[start.len()..].to_owned(), v.value().to_vec()))
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// Removes the events recorded more than `kept` before `now`, with what points at them.
    pub(super) fn purge_events(
        txn: &redb::WriteTransaction,
        now: SystemTime,
        kept: Duration,
    ) -> Result<(), StoreError> {
        let cutoff = millis(now).saturating_sub(u64::try_from(kept.as_millis()).unwrap_or(u64::MAX));
        let old = |id: &str| event_id_millis(id).is_some_and(|ms| ms < cutoff);
        txn.open_table(EVENTS)?.retain(|id, _| !old(id))?;
        txn.open_table(EVENT_SOURCES)?.retain(|_, id| !old(id))?;
        txn.open_table(EVENTS_BY_CUSTOMER)?
            .retain(|key, ()| !key.rsplit('\u{0}').next().is_some_and(old))?;
        txn.open_table(DELIVERIES)?
            .retain(|key, _| !key.split('\u{0}').next().is_some_and(old))?;
        Ok(())
    }
}

/// Balance alerts: alert id → its JSON; `alerts_by_customer`: `customer NUL id` → ().
const ALERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("balance_alerts");
const ALERTS_BY_CUSTOMER: TableDefinition<&str, ()> = TableDefinition::new("balance_alerts_by_customer");

impl DiskStore {
    /// Sets what `key` guards to `value` (an alert's state), with no event.
    pub fn set_guard(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut guards = txn.open_table(GUARDS)?;
            match value {
                Some(value) => guards.insert(key, value)?,
                None => guards.remove(key)?,
            };
        }
        txn.commit()?;
        Ok(())
    }

    /// Keeps alert `id` of `customer` (kept until deleted: it guards nothing that expires).
    pub fn put_alert(&self, id: &str, customer: &str, json: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(ALERTS)?.insert(id, json)?;
            txn.open_table(ALERTS_BY_CUSTOMER)?
                .insert(format!("{customer}\u{0}{id}").as_str(), ())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The alerts of `customer`, or every alert.
    pub fn alerts(&self, customer: Option<&str>) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let alerts = txn.open_table(ALERTS)?;
        let Some(customer) = customer else {
            return alerts
                .iter()?
                .map(|entry| entry.map(|(_, json)| json.value().to_vec()).map_err(StoreError::from))
                .collect();
        };
        let index = txn.open_table(ALERTS_BY_CUSTOMER)?;
        let (start, end) = (format!("{customer}\u{0}"), format!("{customer}\u{1}"));
        let mut found = Vec::new();
        for entry in index.range::<&str>(start.as_str()..end.as_str())? {
            let (key, _) = entry?;
            if let Some(json) = alerts.get(&key.value()[start.len()..])? {
                found.push(json.value().to_vec());
            }
        }
        Ok(found)
    }

    /// Removes alert `id` of `customer` and its state (under `guard`): its JSON, if it was
    /// there.
    pub fn delete_alert(&self, id: &str, customer: &str, guard: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let removed = txn.open_table(ALERTS)?.remove(id)?.map(|json| json.value().to_vec());
            txn.open_table(ALERTS_BY_CUSTOMER)?
                .remove(format!("{customer}\u{0}{id}").as_str())?;
            txn.open_table(GUARDS)?.remove(guard)?;
            removed
        };
        txn.commit()?;
        Ok(removed)
    }
}
