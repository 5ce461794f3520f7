//! Vendor answers, cached per vendor, credential and request (ARCHITECTURE.md, "Caching").
//!
//! The key is built by destructuring [`UpstreamRequest`] whole, so a field added to it is a
//! compile error here until someone decides whether it belongs in the key. Headers (the
//! credential among them) enter as a SHA-256 fingerprint: the key never holds a secret.
//! Concurrent identical misses share one vendor call. An answer is stored only once the
//! client's answer was made from it without error (see [`VendorCache::get_or_fetch`]).
//! Authorization is decided before any of this runs: the API checks the caller, then the
//! adapters ask.
//!
//! Everything else the cache uses is passed in explicitly by its caller
//! ([`super::VendorClient::send`], from the request's `CallScope`): the answers the client
//! request staged so far ([`Staged`]), whether the client asked for fresh answers, and the
//! customer the call is about. It answers what it did ([`Verdict`]) rather than noting it
//! anywhere. Each stored answer is tagged with that customer so a write path can drop a
//! customer's answers with [`VendorCache::invalidate_customer`]. The tag is not part of the
//! key: the same vendor request is one entry whoever asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use axum::http::Method;
use sha2::{Digest, Sha256};

use super::{UpstreamRequest, UpstreamResponse};
use crate::error::UpstreamError;
use crate::model::ProviderKind;

/// Which vendor answer a request is, without the secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    provider: ProviderKind,
    /// SHA-256 over the headers (auth and version headers): the credential fingerprint.
    headers: [u8; 32],
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fingerprint: String = crate::hex::lower(&self.headers[..6]);
        write!(
            f,
            "CacheKey({} {} {} creds:{fingerprint})",
            self.provider, self.method, self.url
        )
    }
}

impl CacheKey {
    /// The key of a request that may be cached; `None` for one that may not (a login).
    pub fn of(request: &UpstreamRequest) -> Option<CacheKey> {
        let UpstreamRequest {
            provider,
            method,
            url,
            headers,
            body,
            idempotent_read,
        } = request;
        if !idempotent_read {
            return None;
        }
        let mut pairs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        pairs.sort();
        let mut digest = Sha256::new();
        for (name, value) in pairs {
            digest.update(name.as_bytes());
            digest.update([0]);
            digest.update(value);
            digest.update([0]);
        }
        Some(CacheKey {
            provider: *provider,
            headers: digest.finalize().into(),
            method: method.clone(),
            url: url.to_string(),
            body: body.as_ref().map(|(_, bytes)| bytes.clone()),
        })
    }
}

#[derive(Debug, Clone)]
struct Cached {
    response: UpstreamResponse,
    ttl: Duration,
    /// The vendor customer id this answer was fetched for, if any.
    customer: Option<String>,
}

struct PerEntryTtl;

impl moka::Expiry<CacheKey, Cached> for PerEntryTtl {
    fn expire_after_create(&self, _key: &CacheKey, value: &Cached, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Cached,
        _updated_at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A vendor call that other requests for the same answer wait on.
type SharedFetch = Shared<BoxFuture<'static, Result<UpstreamResponse, UpstreamError>>>;

/// The cache of vendor answers, bounded in bytes; each entry lives for its vendor's TTL.
#[derive(Clone)]
pub struct VendorCache {
    entries: moka::future::Cache<CacheKey, Cached>,
    /// Vendor calls in progress, by key: identical concurrent misses share one.
    in_flight: Arc<Mutex<HashMap<CacheKey, SharedFetch>>>,
}

impl std::fmt::Debug for VendorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl VendorCache {
    /// `max_bytes` bounds the stored bodies and keys.
    pub fn new(max_bytes: u64) -> VendorCache {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, value: &Cached| {
                let size = key.url.len() + key.body.as_ref().map_or(0, Vec::len) + value.response.body.len() + 256;
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        VendorCache {
            entries,
            in_flight: Arc::default(),
        }
    }

    /// Where the answer for `key` came from (a failed vendor call is a miss too), and the
    /// cached answer or `fetch`'s. A successful
    /// vendor answer is not stored here but in `staged`, the client request's, which stores
    /// it only when the client's answer was made from it without error ([`Staged::commit`]):
    /// a body that does not normalize is never served from the cache. Until then the same
    /// request reads its own staged answers. With `bypass` (the client asked for fresh
    /// answers) the vendor is asked even if an answer is stored. A staged answer is tagged
    /// with `customer`.
    pub async fn get_or_fetch<F>(
        &self,
        staged: &Staged,
        bypass: bool,
        customer: Option<&str>,
        key: CacheKey,
        ttl: Duration,
        fetch: F,
    ) -> (Verdict, Result<UpstreamResponse, UpstreamError>)
    where
        F: std::future::Future<Output = Result<UpstreamResponse, UpstreamError>> + Send + 'static,
    {
        if let Some(response) = staged.get(&key) {
            return (Verdict::Hit, Ok(response));
        }
        let (verdict, fetched) = if bypass {
            (Verdict::Bypass, fetch.await)
        } else if let Some(hit) = self.entries.get(&key).await {
            return (Verdict::Hit, Ok(hit.response));
        } else {
            (Verdict::Miss, self.shared_fetch(&key, fetch).await)
        };
        if let Some(response) = fetched.as_ref().ok().filter(|r| r.status.is_success()) {
            let cached = Cached {
                response: response.clone(),
                ttl,
                // The customer tag is made only when an answer is staged, never on a hit.
                customer: customer.map(str::to_owned),
            };
            staged.stage(self.clone(), key, cached);
        }
        (verdict, fetched)
    }

    /// `fetch`, or the identical call already in progress.
    async fn shared_fetch<F>(&self, key: &CacheKey, fetch: F) -> Result<UpstreamResponse, UpstreamError>
    where
        F: std::future::Future<Output = Result<UpstreamResponse, UpstreamError>> + Send + 'static,
    {
        let call = self
            .lock_in_flight()
            .entry(key.clone())
            .or_insert_with(|| fetch.boxed().shared())
            .clone();
        let result = call.clone().await;
        let mut in_flight = self.lock_in_flight();
        if in_flight.get(key).is_some_and(|c| c.ptr_eq(&call)) {
            in_flight.remove(key);
        }
        result
    }

    /// Stores an answer a client request staged, once its client answer was made.
    async fn store(&self, key: CacheKey, cached: Cached) {
        self.entries.insert(key, cached).await;
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, SharedFetch>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl VendorCache {
    /// Drops every answer fetched for `customer` at `provider`: what a write path calls
    /// after changing that customer's credits. Takes effect for every later read at once.
    pub fn invalidate_customer(&self, provider: ProviderKind, customer: &str) {
        let customer = customer.to_owned();
        drop_where(&self.entries, move |key, value| {
            key.provider == provider && value.customer.as_deref() == Some(&customer)
        });
    }

    /// Drops every answer.
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
}

/// What the cache did for one vendor call, and over a client request, for its `X-Cache`.
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

/// The most vendor answer bytes one client request keeps for reuse and for the cache.
pub const MAX_STAGED_BYTES: usize = 1024 * 1024;

/// The vendor answers one client request fetched, kept for the rest of the request and
/// stored in their caches by [`Self::commit`] once its client answer was made.
#[derive(Debug, Default)]
pub struct Staged(Mutex<HashMap<CacheKey, (VendorCache, Cached)>>);

impl Staged {
    /// Keeps a vendor answer, up to [`MAX_STAGED_BYTES`] in all: a request that walks a
    /// whole ledger (a Vayu balance, an export page) must not hold every page it read. An
    /// answer over the bound is used once and not kept.
    fn stage(&self, cache: VendorCache, key: CacheKey, cached: Cached) {
        let mut staged = self.lock();
        let held: usize = staged.values().map(|(_, c)| c.response.body.len()).sum();
        if held + cached.response.body.len() <= MAX_STAGED_BYTES {
            staged.insert(key, (cache, cached));
        }
    }

    fn get(&self, key: &CacheKey) -> Option<UpstreamResponse> {
        self.lock().get(key).map(|(_, cached)| cached.response.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, (VendorCache, Cached)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the answers staged so far without storing them: after a write they may be
    /// stale, and a read that follows must go to the vendor.
    pub fn forget(&self) {
        self.lock().clear();
    }

    /// Stores the staged answers: called once the client's answer was made from them
    /// without error. A request that fails stores nothing.
    pub async fn commit(&self) {
        let staged = std::mem::take(&mut *self.lock());
        for (key, (cache, cached)) in staged {
            cache.store(key, cached).await;
        }
    }
}

/// Drops the entries of `cache` that `doomed` picks, for every later read at once. Should
/// moka refuse the predicate (only possible for a cache built without
/// `support_invalidation_closures`) the whole cache is dropped: a stale answer is never
/// the fallback.
pub fn drop_where<K, V>(cache: &moka::future::Cache<K, V>, doomed: impl Fn(&K, &V) -> bool + Send + Sync + 'static)
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    if let Err(e) = cache.invalidate_entries_if(doomed) {
        tracing::error!(error = %e, "cache invalidation refused; clearing the whole cache");
        cache.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn request(key: &str) -> UpstreamRequest {
        UpstreamRequest::get(
            ProviderKind::Stripe,
            Url::parse("https://api.stripe.com/v1/x?customer=cus_1").unwrap(),
        )
        .sensitive_header("authorization", &format!("Bearer {key}"))
    }

    #[test]
    fn keys_differ_by_credential_and_never_show_it() {
        let a = CacheKey::of(&request("sk_test_one")).unwrap();
        let b = CacheKey::of(&request("sk_test_two")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, CacheKey::of(&request("sk_test_one")).unwrap());
        assert!(!format!("{a:?}").contains("sk_test_one"));
    }

    /// A request that walks a whole ledger keeps at most `MAX_STAGED_BYTES` of it: an
    /// export or a Vayu balance of a million entries held every page read (127 MiB RSS
    /// for 200,000 entries) before the bound.
    #[tokio::test]
    async fn one_request_keeps_a_bounded_share_of_what_it_read() {
        let cache = VendorCache::new(1 << 30);
        let ttl = Duration::from_secs(60);
        let staged = Staged::default();
        let page = 512 * 1024;
        for i in 0..40 {
            let key = CacheKey::of(&request(&format!("sk_test_{i}"))).unwrap();
            let answer = UpstreamResponse {
                provider: ProviderKind::Stripe,
                status: axum::http::StatusCode::OK,
                headers: axum::http::HeaderMap::new(),
                body: vec![b' '; page],
            };
            cache
                .get_or_fetch(&staged, false, None, key, ttl, async { Ok(answer) })
                .await
                .1
                .unwrap();
        }
        let kept = (0..40)
            .filter(|i| {
                let key = CacheKey::of(&request(&format!("sk_test_{i}"))).unwrap();
                staged.get(&key).is_some()
            })
            .count();
        assert_eq!(kept, MAX_STAGED_BYTES / page);
    }

    #[tokio::test]
    async fn the_byte_bound_evicts() {
        let cache = VendorCache::new(64 * 1024);
        let ttl = Duration::from_secs(60);
        for i in 0..100 {
            let key = CacheKey::of(&request(&format!("sk_test_{i}"))).unwrap();
            let answer = UpstreamResponse {
                provider: ProviderKind::Stripe,
                status: axum::http::StatusCode::OK,
                headers: axum::http::HeaderMap::new(),
                body: vec![b' '; 4096],
            };
            let staged = Staged::default();
            cache
                .get_or_fetch(&staged, false, None, key, ttl, async { Ok(answer) })
                .await
                .1
                .unwrap();
            staged.commit().await;
        }
        cache.entries.run_pending_tasks().await;
        // 100 answers of ~4.4 KB each were offered to a 64 KiB cache.
        assert!(
            cache.entries.weighted_size() <= 64 * 1024,
            "{}",
            cache.entries.weighted_size()
        );
        assert!(cache.entries.entry_count() <= 15, "{}", cache.entries.entry_count());
        assert!(cache.entries.entry_count() > 0);
    }

    #[test]
    fn only_idempotent_reads_have_keys() {
        let url = Url::parse("https://connect.withvayu.com/login").unwrap();
        let login = UpstreamRequest::post_json(ProviderKind::Vayu, url.clone(), &serde_json::json!({}));
        assert!(CacheKey::of(&login).is_none());
        let list = UpstreamRequest::post_json(ProviderKind::Metronome, url, &serde_json::json!({})).idempotent_read();
        assert!(CacheKey::of(&list).is_some());
    }
}
