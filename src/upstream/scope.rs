//! What one client request brings to its vendor calls ([`CallScope`]) and what the cache
//! did for it ([`CacheUse`]): its `Cache-Control`, the vendor answers it staged for the
//! cache, and how long an answer made from them may be reused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::cache::{CacheKey, Cached, VendorCache};
use super::UpstreamResponse;
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

/// What the cache did for one client request, for its `X-Cache` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every vendor answer came from the cache.
    Hit,
    /// At least one went to the vendor.
    Miss,
    /// The client asked for fresh answers (`Cache-Control: no-cache`).
    Bypass,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Hit => "hit",
            Verdict::Miss => "miss",
            Verdict::Bypass => "bypass",
        }
    }
}

/// One client request's cache wishes (`Cache-Control: no-cache` asks for fresh vendor
/// answers) and a tally of what the cache did for it.
#[derive(Debug, Default)]
pub struct CacheUse {
    bypass: bool,
    hits: AtomicU32,
    misses: AtomicU32,
    bypassed: AtomicU32,
    /// Vendor answers fetched for this request, stored by [`Self::commit`].
    staged: Mutex<HashMap<CacheKey, (VendorCache, Cached)>>,
    /// How long an answer made from this request's vendor answers may be reused.
    reuse: Mutex<Reuse>,
    /// What the request's vendor writes did: 0 (none sent), [`WRITE_REFUSED`] or
    /// [`WRITE_MAY_HAVE_APPLIED`] (never lowered once raised).
    writes: AtomicU8,
    /// The answer leaves out a provider that failed (`X-Partial: true`).
    partial: std::sync::atomic::AtomicBool,
}

/// The most vendor answer bytes one client request keeps for reuse and for the cache.
pub const MAX_STAGED_BYTES: usize = 1024 * 1024;

/// Writes were sent and refused (a 4xx), or stopped before sending: nothing was written.
const WRITE_REFUSED: u8 = 1;
/// A write was accepted, or may have been (a 2xx, a 5xx, a timeout after sending).
const WRITE_MAY_HAVE_APPLIED: u8 = 2;

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

    /// The answer leaves out a provider that failed: it says so, and is never kept (the
    /// provider may answer the next request).
    pub fn note_partial(&self) {
        self.partial.store(true, Ordering::Relaxed);
        self.note_never_reusable();
    }

    /// Whether [`Self::note_partial`] was called.
    pub fn is_partial(&self) -> bool {
        self.partial.load(Ordering::Relaxed)
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

    /// Keeps a vendor answer for the rest of the request (and for the cache, once the
    /// client's answer is made), up to [`MAX_STAGED_BYTES`] in all: a request that walks a
    /// whole ledger (a Vayu balance, an export page) must not hold every page it read. An
    /// answer over the bound is used once and not kept.
    pub(super) fn stage(&self, cache: VendorCache, key: CacheKey, cached: Cached) {
        let mut staged = self.lock_staged();
        let held: usize = staged.values().map(|(_, c)| c.response.body.len()).sum();
        if held + cached.response.body.len() <= MAX_STAGED_BYTES {
            staged.insert(key, (cache, cached));
        }
    }

    pub(super) fn staged(&self, key: &CacheKey) -> Option<UpstreamResponse> {
        self.lock_staged().get(key).map(|(_, cached)| cached.response.clone())
    }

    fn lock_staged(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, (VendorCache, Cached)>> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what one vendor write did: `may_have_applied` for anything but a refusal.
    pub fn note_write(&self, may_have_applied: bool) {
        let state = if may_have_applied {
            WRITE_MAY_HAVE_APPLIED
        } else {
            WRITE_REFUSED
        };
        self.writes.fetch_max(state, Ordering::AcqRel);
    }

    /// Whether a vendor write of this request may have changed something: then a failure
    /// after it (an answer that cannot be read, a read-back that fails) is an unknown
    /// outcome, never a write that did not happen.
    pub fn write_may_have_applied(&self) -> bool {
        self.writes.load(Ordering::Acquire) == WRITE_MAY_HAVE_APPLIED
    }

    /// Drops the answers staged so far without storing them: after a write they may be
    /// stale, and a read that follows must go to the vendor.
    pub fn forget_staged(&self) {
        self.lock_staged().clear();
    }

    /// Stores the vendor answers this request fetched: called once the client's answer was
    /// made from them without error. A request that fails stores nothing.
    pub async fn commit(&self) {
        let staged = std::mem::take(&mut *self.lock_staged());
        for (key, (cache, cached)) in staged {
            cache.store(key, cached).await;
        }
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
