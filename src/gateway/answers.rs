//! Client answers, cached whole (ARCHITECTURE.md, "Caching"): the JSON bytes creditgate
//! sent, their strong `ETag`, and each compressed form the first time a client asks for
//! it. A hit is a lookup and a copy of a pointer: no vendor bytes parsed, nothing
//! normalized or serialized, nothing compressed twice.
//!
//! The key is the API key that asked (so an answer reaches only a caller who was already
//! authorized for exactly that request), the route, the path id and the raw query
//! string. An answer lives as long as the shortest TTL of the vendor answers it was made
//! from, and is tagged with the customers those were about, so a write can drop it.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use sha2::{Digest, Sha256};

use super::Caller;
use crate::model::ProviderKind;
use crate::upstream::cache::drop_where;
use crate::upstream::About;

/// Which client answer a request is.
#[derive(Clone)]
pub struct AnswerKey {
    caller: Arc<Caller>,
    route: &'static str,
    /// The path's id, if the route has one.
    target: String,
    /// The raw query string: the parser refuses repeats and unknown names, so it names
    /// one request.
    query: String,
}

impl AnswerKey {
    /// The route template the answer is for.
    pub fn route(&self) -> &'static str {
        self.route
    }

    pub fn new(caller: &Arc<Caller>, route: &'static str, target: String, query: Option<String>) -> Self {
        AnswerKey {
            caller: Arc::clone(caller),
            route,
            target,
            query: query.unwrap_or_default(),
        }
    }

    fn parts(&self) -> (&str, &str, &str, &str) {
        (&self.caller.key_name, self.route, &self.target, &self.query)
    }
}

impl PartialEq for AnswerKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for AnswerKey {}

impl std::hash::Hash for AnswerKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

/// A content coding a client may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
}

impl Coding {
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        })
    }
}

/// Bodies shorter than this are sent as they are: compressing them saves too little.
pub const MIN_COMPRESSED_BYTES: usize = 1024;

/// One client answer: its JSON, its `ETag`, its compressed forms once made.
#[derive(Debug)]
pub struct Answer {
    pub body: Bytes,
    pub etag: HeaderValue,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
    ttl: Duration,
    /// The customers the answer is about.
    about: About,
}

impl Answer {
    /// An answer from its JSON bytes; the `ETag` is a SHA-256 prefix of them.
    pub fn new(body: Vec<u8>) -> Answer {
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", crate::hex::lower(&digest[..16]));
        let etag = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Answer {
            body: Bytes::from(body),
            etag,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
            ttl: Duration::ZERO,
            about: Vec::new(),
        }
    }

    /// The body in `coding`, compressed on first use and kept.
    pub fn encoded(&self, coding: Coding) -> Bytes {
        match coding {
            Coding::Gzip => self.gzip.get_or_init(|| Bytes::from(gzip(&self.body))),
            Coding::Brotli => self.brotli.get_or_init(|| Bytes::from(brotli(&self.body))),
        }
        .clone()
    }

    /// Whether `If-None-Match` names this answer (weak comparison, as RFC 9110 asks of it).
    pub fn matches(&self, if_none_match: &str) -> bool {
        let ours = self.etag.as_bytes();
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 5,
        ..Default::default()
    };
    let mut input = body;
    // Reading a slice and writing a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    out
}

struct PerAnswerTtl;

impl moka::Expiry<AnswerKey, Arc<Answer>> for PerAnswerTtl {
    fn expire_after_create(&self, _key: &AnswerKey, value: &Arc<Answer>, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The client answers, bounded in bytes, and the customers' ledgers summed for them
/// (dropped with them).
#[derive(Clone)]
pub struct AnswerCache {
    entries: moka::future::Cache<AnswerKey, Arc<Answer>>,
    timelines: super::timelines::TimelineCache,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl AnswerCache {
    pub fn new(max_bytes: u64) -> AnswerCache {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &AnswerKey, answer: &Arc<Answer>| {
                // The compressed forms are a fraction of the body; count them as half of it.
                let size = key.query.len() + key.target.len() + answer.body.len() * 3 / 2 + 256;
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .expire_after(PerAnswerTtl)
            .support_invalidation_closures()
            .build();
        AnswerCache {
            entries,
            // A quarter of the answers' bound again, for the ledgers they are summed from.
            timelines: super::timelines::TimelineCache::new(max_bytes / 4),
        }
    }

    /// The kept timelines (`timelines.rs`).
    pub fn timelines(&self) -> &super::timelines::TimelineCache {
        &self.timelines
    }

    pub async fn get(&self, key: &AnswerKey) -> Option<Arc<Answer>> {
        self.entries.get(key).await
    }

    /// Keeps `answer` for `ttl`, tagged with what it is about.
    pub async fn insert(&self, key: AnswerKey, mut answer: Answer, ttl: Duration, about: About) -> Arc<Answer> {
        answer.ttl = ttl;
        answer.about = about;
        let answer = Arc::new(answer);
        self.entries.insert(key, Arc::clone(&answer)).await;
        answer
    }

    /// Drops every answer about `customer` at `provider`, and every account-wide answer of
    /// that provider (which may list the customer too), and its timeline.
    pub fn invalidate_customer(&self, provider: ProviderKind, customer: &str) {
        self.timelines.invalidate_customer(provider, customer);
        let customer = customer.to_owned();
        drop_where(&self.entries, move |_, answer| {
            answer
                .about
                .iter()
                .any(|(p, c)| *p == provider && c.as_deref().is_none_or(|c| c == customer))
        });
    }

    /// Drops every answer.
    pub fn invalidate_all(&self) {
        self.timelines.invalidate_all();
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_forms_decompress_to_the_body_and_are_made_once() {
        let answer = Answer::new(br#"{"object":"list","data":[]}"#.repeat(100));
        let gz = answer.encoded(Coding::Gzip);
        assert!(gz.len() < answer.body.len() / 4);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, answer.body);
        let br = answer.encoded(Coding::Brotli);
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut plain).unwrap();
        assert_eq!(plain, answer.body);
        // The second ask shares the first's bytes.
        assert_eq!(answer.encoded(Coding::Gzip).as_ptr(), gz.as_ptr());
    }

    #[test]
    fn etags_are_strong_and_matched_weakly() {
        let answer = Answer::new(b"{}".to_vec());
        let tag = answer.etag.to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34, "{tag}");
        assert!(answer.matches(&tag));
        assert!(answer.matches(&format!("\"other\", W/{tag}")));
        assert!(answer.matches("*"));
        assert!(!answer.matches("\"other\""));
        assert_ne!(Answer::new(b"{ }".to_vec()).etag, answer.etag);
    }
}
