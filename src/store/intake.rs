//! Vendor events in, on disk: each recorded once and queued to be read, durably before the
//! vendor is answered. Concurrent deliveries share one write transaction (a group commit):
//! each commit waits for the disk, so one per delivery would bound intake by the disk's
//! commit rate (BENCHMARKS.md, "Events").

use std::time::SystemTime;

use redb::ReadableTable;

use super::events::{enqueue, millis, QUEUE, QUEUE_ITEMS};
use super::{DiskStore, StoreError};

/// One vendor event to record and queue (see [`DiskStore::receive_vendor_event`]).
#[derive(Debug)]
pub struct Received {
    pub provider: &'static str,
    pub id: String,
    pub queue: String,
    pub body: Vec<u8>,
}

/// A received vendor event waiting for the group commit, and who waits for its outcome.
pub(super) type Intake = (Received, tokio::sync::oneshot::Sender<Result<bool, StoreError>>);

/// The most vendor events one group commit records.
const GROUP_COMMIT_MAX: usize = 512;

impl DiskStore {
    /// Records vendor event `received.id` and queues its body for reading, unless it was
    /// received before (within [`super::VENDOR_EVENT_RETENTION`]): `true` if it is new;
    /// durable when the answer comes. Concurrent calls share one write transaction (a
    /// group commit on a thread of the store's own): each commit waits for the disk, so
    /// one each would bound intake by the disk's commit rate.
    pub async fn receive_vendor_event(self: &std::sync::Arc<Self>, received: Received) -> Result<bool, StoreError> {
        let intake = self.intake.get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::channel::<Intake>();
            let store = std::sync::Arc::downgrade(self);
            // The thread ends when the store (which holds the sender) is dropped.
            std::thread::spawn(move || group_commits(&store, &receiver));
            sender
        });
        let (reply, outcome) = tokio::sync::oneshot::channel();
        intake
            .send((received, reply))
            .map_err(|_| StoreError("the store's intake has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError("the store's intake dropped a vendor event".into()))?
    }

    /// Records `received` in one transaction: per event, whether it is new.
    fn receive_vendor_events(&self, received: &[&Received], now: SystemTime) -> Result<Vec<bool>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut new = Vec::with_capacity(received.len());
        {
            let mut seen_events = txn.open_table(super::VENDOR_EVENTS)?;
            let mut queue_table = txn.open_table(QUEUE)?;
            let mut items = txn.open_table(QUEUE_ITEMS)?;
            for event in received {
                let key = format!("{}\u{0}{}", event.provider, event.id);
                let seen = seen_events.get(key.as_str())?.is_some_and(|at| {
                    super::unix(now).saturating_sub(at.value()) < super::VENDOR_EVENT_RETENTION.as_secs()
                });
                if !seen {
                    seen_events.insert(key.as_str(), super::unix(now))?;
                    enqueue(
                        &mut queue_table,
                        &mut items,
                        &event.queue,
                        &key,
                        millis(now),
                        &event.body,
                    )?;
                }
                new.push(!seen);
            }
        }
        txn.commit()?;
        Ok(new)
    }
}

/// The group commit: takes what waits, up to [`GROUP_COMMIT_MAX`], records it in one
/// transaction and answers each.
fn group_commits(store: &std::sync::Weak<DiskStore>, receiver: &std::sync::mpsc::Receiver<Intake>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let Some(store) = store.upgrade() else { return };
        let received: Vec<&Received> = batch.iter().map(|(r, _)| r).collect();
        match store.receive_vendor_events(&received, SystemTime::now()) {
            Ok(new) => {
                for ((_, reply), new) in batch.into_iter().zip(new) {
                    let _ = reply.send(Ok(new));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError(e.0.clone())));
                }
            }
        }
    }
}
