//! What one client request brings to its vendor calls ([`CallScope`]) and what the cache
//! did for it ([`CacheUse`]): its `Cache-Control`, the vendor answers it staged for the
//! cache, and how long an answer made from them may be reused.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::cache::{Staged, Verdict};
use crate::model::ProviderKind;

/// The inputs of vendor calls that come from the client request rather than from the
/// vendor request itself.
#[derive(Debug, Clone, Copy)]
pub struct CallScope<'a> {
    /// The client request's cache wishes and tally.
    pub cache: &'a CacheUse,
    /// The vendor customer id the calls are about; what they store is tagged with it.
    pub customer: Option<&'a str>,
}

impl<'a> CallScope<'a> {
    /// Calls about no one customer (an account-wide list, a grant looked up by id).
    pub fn new(cache: &'a CacheUse) -> Self {
        CallScope { cache, customer: None }
    }

    /// The same calls, about `customer`.
    pub fn about(self, customer: Option<&'a str>) -> Self {
        CallScope { customer, ..self }
    }
}

/// One client request's cache wishes (`Cache-Control: no-cache` asks for fresh vendor
/// answers) and a tally of what the cache did for it.
#[derive(Debug, Default)]
pub struct CacheUse {
    bypass: bool,
    /// A walk: its vendor answers are neither taken from the cache nor kept in it.
    walk: bool,
    hits: AtomicU32,
    misses: AtomicU32,
    bypassed: AtomicU32,
    /// Vendor answers fetched for this request, stored by [`Self::commit`].
    staged: Staged,
    /// How long an answer made from this request's vendor answers may be reused.
    reuse: Mutex<Reuse>,
}

/// Which vendor customers some answers were about: (provider, vendor customer id), `None`
/// for a whole account.
pub type About = Vec<(ProviderKind, Option<String>)>;

/// The vendor answers one client answer was made from, as far as reusing it goes.
#[derive(Debug, Default)]
struct Reuse {
    /// The shortest TTL among them.
    ttl: Option<Duration>,
    /// One of them may not be cached at all.
    never: bool,
    /// Which (provider, vendor customer) each was about; `None`: a whole account.
    about: About,
}

impl CacheUse {
    /// `bypass`: the client asked for fresh answers.
    pub fn new(bypass: bool) -> Self {
        CacheUse {
            bypass,
            ..CacheUse::default()
        }
    }

    /// For a walk that reads each vendor answer once (the tools' export of a whole ledger):
    /// nothing is taken from the cache, and nothing it reads fills it.
    pub fn walk() -> Self {
        CacheUse {
            bypass: true,
            walk: true,
            ..CacheUse::default()
        }
    }

    /// Whether this request's vendor answers may be cached at all (not a [`Self::walk`]).
    pub fn stores(&self) -> bool {
        !self.walk
    }

    pub(super) fn note(&self, verdict: Verdict) {
        let counter = match verdict {
            Verdict::Hit => &self.hits,
            Verdict::Miss => &self.misses,
            Verdict::Bypass => &self.bypassed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the client asked for fresh vendor answers.
    pub fn bypass(&self) -> bool {
        self.bypass
    }

    /// The whole client answer came from the answer cache.
    pub fn note_answer_hit(&self) {
        self.note(Verdict::Hit);
    }

    fn lock_reuse(&self) -> std::sync::MutexGuard<'_, Reuse> {
        self.reuse.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A vendor answer that may be kept for `ttl`, about `customer` at `provider`.
    pub(super) fn note_reusable(&self, provider: ProviderKind, customer: Option<&str>, ttl: Duration) {
        let mut reuse = self.lock_reuse();
        reuse.ttl = Some(reuse.ttl.map_or(ttl, |t| t.min(ttl)));
        if !reuse
            .about
            .iter()
            .any(|(p, c)| *p == provider && c.as_deref() == customer)
        {
            reuse.about.push((provider, customer.map(str::to_owned)));
        }
    }

    /// A vendor answer that may not be cached (a TTL of 0, a login): nor may the client's.
    pub fn note_never_reusable(&self) {
        self.lock_reuse().never = true;
    }

    /// How long the client's answer may be reused, and which customers it is about (for
    /// invalidation); `None` when it used no vendor answer or one that may not be cached.
    pub fn reusable(&self) -> Option<(Duration, About)> {
        let reuse = self.lock_reuse();
        match (reuse.never, reuse.ttl) {
            (false, Some(ttl)) => Some((ttl, reuse.about.clone())),
            _ => None,
        }
    }

    /// The vendor answers this request fetched so far (for the cache's
    /// [`super::cache::VendorCache::get_or_fetch`]).
    pub(super) fn staged(&self) -> &Staged {
        &self.staged
    }

    /// Stores the vendor answers this request fetched: called once the client's answer was
    /// made from them without error. A request that fails stores nothing.
    pub async fn commit(&self) {
        self.staged.commit().await;
    }

    /// What the cache did over the whole request: `None` when no cacheable vendor call was made.
    pub fn verdict(&self) -> Option<Verdict> {
        let count = |a: &AtomicU32| a.load(Ordering::Relaxed);
        if count(&self.bypassed) > 0 {
            Some(Verdict::Bypass)
        } else if count(&self.misses) > 0 {
            Some(Verdict::Miss)
        } else if count(&self.hits) > 0 {
            Some(Verdict::Hit)
        } else {
            None
        }
    }
}
