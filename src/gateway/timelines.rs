//! Customers' ledgers summed into timelines (`history.rs`), kept like the vendor answers
//! they were read from: for the shortest time any of those may be kept, and dropped with
//! the customer's other kept answers when a write or a vendor event changes its credits. A
//! balance history or an `as_of` then sums a kept timeline instead of reading a whole
//! ledger again (the vendor cache keeps at most 1 MiB of one request's answers, a small
//! part of a long ledger).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::history::Timeline;
use crate::model::ProviderKind;
use crate::upstream::cache::drop_where;

/// What one summed ledger entry takes, about (its instant, type and money).
const ENTRY_BYTES: usize = 96;

struct Kept {
    timeline: Arc<Timeline>,
    ttl: Duration,
}

struct PerTimelineTtl;

impl moka::Expiry<(ProviderKind, String), Arc<Kept>> for PerTimelineTtl {
    fn expire_after_create(&self, _key: &(ProviderKind, String), kept: &Arc<Kept>, _at: Instant) -> Option<Duration> {
        Some(kept.ttl)
    }
}

/// The kept timelines, by provider and vendor customer id.
#[derive(Clone)]
pub struct TimelineCache {
    entries: moka::future::Cache<(ProviderKind, String), Arc<Kept>>,
    /// Moves on at every invalidation: a timeline read while one happened is not kept.
    generation: Arc<AtomicU64>,
}

impl TimelineCache {
    /// Timelines of at most `max_bytes` in all.
    pub fn new(max_bytes: u64) -> TimelineCache {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|(_, customer): &(ProviderKind, String), kept: &Arc<Kept>| {
                let size = kept.timeline.len() * ENTRY_BYTES + customer.len() + 256;
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .expire_after(PerTimelineTtl)
            .support_invalidation_closures()
            .build();
        TimelineCache {
            entries,
            generation: Arc::default(),
        }
    }

    /// Where invalidations stand: pass it to [`Self::keep`] for a timeline read from now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub async fn get(&self, provider: ProviderKind, customer: &str) -> Option<Arc<Timeline>> {
        let kept = self.entries.get(&(provider, customer.to_owned())).await?;
        Some(Arc::clone(&kept.timeline))
    }

    /// Keeps `timeline` for `ttl`, unless an invalidation happened since `generation` (it
    /// may have been read before the change it announced).
    pub async fn keep(
        &self,
        provider: ProviderKind,
        customer: &str,
        timeline: Arc<Timeline>,
        ttl: Duration,
        generation: u64,
    ) {
        let key = (provider, customer.to_owned());
        if self.generation() != generation {
            return;
        }
        self.entries.insert(key.clone(), Arc::new(Kept { timeline, ttl })).await;
        // An invalidation between the check and the insert: drop what was just kept.
        if self.generation() != generation {
            self.entries.invalidate(&key).await;
        }
    }

    pub fn invalidate_customer(&self, provider: ProviderKind, customer: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let customer = customer.to_owned();
        drop_where(&self.entries, move |(p, c), _| *p == provider && *c == customer);
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}
