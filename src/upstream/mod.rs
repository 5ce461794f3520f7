//! The one HTTP path every adapter uses to reach a vendor.
//!
//! [`VendorClient::send`] is the seam: the cache, the bulkhead, the circuit breaker, the
//! outbound pace, the deadlines and the retries all wrap that one call, so no adapter has
//! to know about them. Each adapter holds a [`VendorClient`] bound to its credential's
//! [`lane::VendorLane`].

pub mod breaker;
pub mod cache;
pub mod lane;
pub mod retry;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use url::Url;

use crate::error::{ceil_secs, UpstreamError};
use crate::model::ProviderKind;
use crate::secret::Secret;
use breaker::BreakerConfig;
pub use cache::{CacheUse, CallScope, Verdict};
use lane::{OutboundRate, VendorLane};
use retry::RetryConfig;

/// `[upstream]`: how creditgate talks to every vendor.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    pub connect_timeout_ms: u64,
    /// One attempt, from connecting to the last body byte.
    pub attempt_timeout_ms: u64,
    /// One vendor call, every attempt, wait and backoff included.
    pub deadline_ms: u64,
    /// The longest a call waits for the vendor's rate to allow it before 503
    /// `upstream_rate_limited`.
    pub rate_wait_ms: u64,
    /// Calls in flight per vendor credential; more are refused at once (503
    /// `upstream_saturated`) so a stalled vendor cannot hold the gateway's capacity.
    #[schemars(range(min = 1))]
    pub max_concurrency_per_vendor: usize,
    /// A vendor answer larger than this is refused instead of buffered.
    pub max_body_bytes: usize,
    /// Bound on the cached vendor answers, in bytes.
    pub cache_max_bytes: u64,
    /// Per-provider cache TTL in seconds, overriding the provider file's; 0 turns caching
    /// off for it.
    pub cache_ttl_secs: BTreeMap<ProviderKind, u64>,
    /// Per-provider outbound rate overriding the documented one (Metronome publishes none).
    pub outbound_rate: BTreeMap<ProviderKind, OutboundRate>,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

impl UpstreamConfig {
    /// Lifts the outbound pace for every vendor: for simulators and mocks without rate
    /// limits (tests, benchmarks), which are sent far more than any vendor allows.
    pub fn unpaced(&mut self) {
        let unlimited = OutboundRate {
            requests: 1_000_000,
            per_secs: 1,
        };
        self.outbound_rate = ProviderKind::ALL.into_iter().map(|p| (p, unlimited)).collect();
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 2_000,
            attempt_timeout_ms: 5_000,
            deadline_ms: 15_000,
            rate_wait_ms: 2_000,
            max_concurrency_per_vendor: 32,
            max_body_bytes: 8 * 1024 * 1024,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_secs: BTreeMap::new(),
            outbound_rate: BTreeMap::new(),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// A vendor request, independent of the HTTP transport that sends it.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub provider: ProviderKind,
    pub method: Method,
    pub url: Url,
    /// Auth and vendor headers; auth values are marked sensitive by the adapters.
    pub headers: HeaderMap,
    /// A JSON body, for vendors that take POST bodies (login, Metronome lists).
    pub json_body: Option<Vec<u8>>,
    /// A read that may be cached and retried: every GET, and POSTs that only read.
    pub idempotent_read: bool,
}

impl UpstreamRequest {
    pub fn get(provider: ProviderKind, url: Url) -> Self {
        UpstreamRequest {
            provider,
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            json_body: None,
            idempotent_read: true,
        }
    }

    pub fn post_json(provider: ProviderKind, url: Url, body: &serde_json::Value) -> Self {
        UpstreamRequest {
            provider,
            method: Method::POST,
            url,
            headers: HeaderMap::new(),
            json_body: Some(serde_json::to_vec(body).unwrap_or_default()),
            idempotent_read: false,
        }
    }

    /// Marks a POST that only reads (Metronome's list calls) as cacheable.
    pub fn idempotent_read(mut self) -> Self {
        self.idempotent_read = true;
        self
    }

    /// Adds a header whose value never appears in `Debug` output.
    pub fn sensitive_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.insert(name, v);
        }
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// A vendor answer, body fully read (and capped).
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub provider: ProviderKind,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl UpstreamResponse {
    /// Maps a non-2xx status to the contract's codes; 2xx passes through.
    pub fn error_for_status(self) -> Result<UpstreamResponse, UpstreamError> {
        let provider = self.provider;
        let status = self.status;
        if status.is_success() {
            return Ok(self);
        }
        let (vendor_code, param, message) = vendor_error_fields(&self.body);
        Err(match status.as_u16() {
            401 | 403 => UpstreamError::AuthFailed {
                provider,
                status: status.as_u16(),
            },
            404 => UpstreamError::NotFound {
                provider,
                message: message.unwrap_or_else(|| "not found".into()),
            },
            408 | 504 => UpstreamError::Timeout { provider },
            429 => UpstreamError::RateLimited {
                provider,
                retry_after: retry_after_secs(&self.headers),
            },
            500..=599 => UpstreamError::ServerError {
                provider,
                status: status.as_u16(),
            },
            other => UpstreamError::Rejected {
                provider,
                status: other,
                vendor_code,
                param,
                message: message.unwrap_or_else(|| "no message".into()),
            },
        })
    }

    /// Parses a JSON body into a vendor struct; a wrong shape names the field that broke.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, UpstreamError> {
        parse_vendor_json(self.provider, &self.headers, &self.body)
    }
}

/// Parses vendor JSON, refusing non-JSON content types and naming the path of a bad field.
pub fn parse_vendor_json<T: DeserializeOwned>(
    provider: ProviderKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, UpstreamError> {
    if let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) {
        if !ct.to_ascii_lowercase().contains("json") {
            return Err(UpstreamError::invalid(
                provider,
                format!("expected a JSON body, got content type `{ct}`"),
            ));
        }
    }
    parse_json_slice(provider, body)
}

/// Deserializes `body`, reporting the JSON path of the first field that did not fit.
/// Path tracking costs on every field, so it only runs again once a plain parse failed.
pub fn parse_json_slice<T: DeserializeOwned>(provider: ProviderKind, body: &[u8]) -> Result<T, UpstreamError> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("at `{path}`: {inner}")
        };
        UpstreamError::invalid(provider, detail)
    })
}

/// `Retry-After` in seconds (the delta form; an HTTP date is treated as 1 s).
pub fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    Some(value.trim().parse::<u64>().unwrap_or(1))
}

/// Pulls `code`, `param` and `message` out of the usual vendor error bodies:
/// Stripe's `{"error":{...}}` and the flat `{"code","message"}` most others use.
fn vendor_error_fields(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None, None);
    };
    let obj = match value.get("error") {
        Some(inner @ serde_json::Value::Object(_)) => inner,
        _ => &value,
    };
    let text = |key: &str| {
        obj.get(key)
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(300).collect::<String>())
    };
    let message = text("message").or_else(|| value.get("error").and_then(|v| v.as_str()).map(str::to_owned));
    (text("code"), text("param"), message)
}

/// The last outcome of each vendor's calls, for `/v1/providers` and `/readyz`.
#[derive(Debug, Default)]
pub struct HealthBoard {
    last: std::sync::Mutex<std::collections::HashMap<ProviderKind, Outcome>>,
}

/// How a vendor's most recent call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No call yet.
    Unknown,
    /// The vendor answered (2xx, or a 4xx about the request itself).
    Ok,
    /// 5xx, 429, auth failure, timeout or no connection.
    Failing,
}

impl HealthBoard {
    fn record(&self, provider: ProviderKind, status: u16) {
        let outcome = match status {
            200..=399 | 400 | 404 | 409 | 422 => Outcome::Ok,
            _ => Outcome::Failing,
        };
        if let Ok(mut last) = self.last.lock() {
            last.insert(provider, outcome);
        }
    }

    pub fn outcome(&self, provider: ProviderKind) -> Outcome {
        self.last
            .lock()
            .ok()
            .and_then(|last| last.get(&provider).copied())
            .unwrap_or(Outcome::Unknown)
    }
}

/// One lane per vendor and credential (a SHA-256 fingerprint of it).
type LaneKey = (ProviderKind, [u8; 32]);

/// The HTTP client. One per gateway; clones share the connection pool, the cache, the
/// health board and the lanes. Adapters get a [`VendorClient`] from [`Self::for_vendor`].
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    config: Arc<UpstreamConfig>,
    health: Arc<HealthBoard>,
    cache: cache::VendorCache,
    lanes: Arc<Mutex<std::collections::HashMap<LaneKey, Arc<VendorLane>>>>,
}

impl UpstreamClient {
    pub fn new(config: &UpstreamConfig) -> Result<Self, String> {
        if config.retry.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        if let Some((p, _)) = config
            .outbound_rate
            .iter()
            .find(|(_, r)| r.requests == 0 || r.per_secs == 0)
        {
            return Err(format!("outbound_rate.{p}: requests and per_secs must be at least 1"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("creditgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(UpstreamClient {
            http,
            config: Arc::new(config.clone()),
            health: Default::default(),
            cache: cache::VendorCache::new(config.cache_max_bytes),
            lanes: Default::default(),
        })
    }

    /// The client an adapter uses for one credential. `documented` is the vendor's rate
    /// for that credential and `documented_ttl_secs` how long its answers may be cached;
    /// `[upstream.outbound_rate]` and `[upstream.cache_ttl_secs]` override them. Adapters
    /// sharing a credential share its lane.
    pub fn for_vendor(
        &self,
        provider: ProviderKind,
        credential: &Secret,
        documented: OutboundRate,
        documented_ttl_secs: u64,
    ) -> VendorClient {
        let fingerprint: [u8; 32] = sha2::Sha256::digest(credential.expose().as_bytes()).into();
        let rate = self.config.outbound_rate.get(&provider).copied().unwrap_or(documented);
        let ttl_secs = self
            .config
            .cache_ttl_secs
            .get(&provider)
            .copied()
            .unwrap_or(documented_ttl_secs);
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = lanes
            .entry((provider, fingerprint))
            .or_insert_with(|| Arc::new(VendorLane::new(provider, rate, &self.config)))
            .clone();
        VendorClient {
            client: self.clone(),
            lane,
            cache_ttl: (ttl_secs > 0).then(|| Duration::from_secs(ttl_secs)),
        }
    }

    /// See [`cache::VendorCache::invalidate_customer`].
    pub fn invalidate_customer(&self, provider: ProviderKind, customer: &str) {
        self.cache.invalidate_customer(provider, customer);
    }

    pub fn health(&self) -> &HealthBoard {
        &self.health
    }

    fn record(&self, provider: ProviderKind, status: u16) {
        crate::metrics::record_upstream(provider, status);
        self.health.record(provider, status);
    }

    /// Sends one attempt and reads the whole body, at most `max_body_bytes` of it.
    /// Carries the current `X-Request-Id` to the vendor.
    async fn attempt(&self, request: &UpstreamRequest) -> Result<UpstreamResponse, Failure> {
        let provider = request.provider;
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone());
        if let Some(id) = crate::request_id::current() {
            builder = builder.header("x-request-id", id);
        }
        if let Some(body) = &request.json_body {
            builder = builder.header("content-type", "application/json").body(body.clone());
        }
        let started = Instant::now();
        let mut response = builder.send().await.map_err(|e| self.transport_error(provider, &e))?;
        let status = response.status();
        if let Some(len) = response.content_length() {
            if len > self.config.max_body_bytes as u64 {
                return Err(self.too_large(provider));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(provider, &e))? {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(self.too_large(provider));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            %provider,
            method = %request.method,
            path = request.url.path(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "vendor call"
        );
        self.record(provider, status.as_u16());
        Ok(UpstreamResponse {
            provider,
            status,
            headers: response.headers().clone(),
            body,
        })
    }

    fn too_large(&self, provider: ProviderKind) -> Failure {
        self.record(provider, 0);
        Failure {
            error: UpstreamError::invalid(
                provider,
                format!("response body exceeds the {} byte cap", self.config.max_body_bytes),
            ),
            retryable: false,
        }
    }

    /// Transport failures, all worth a retry. The reqwest error's text is not passed on:
    /// it can carry the URL.
    fn transport_error(&self, provider: ProviderKind, e: &reqwest::Error) -> Failure {
        self.record(provider, 0);
        let error = if e.is_timeout() {
            UpstreamError::Timeout { provider }
        } else if e.is_connect() {
            UpstreamError::Unreachable {
                provider,
                detail: "connection failed".into(),
            }
        } else if e.is_body() || e.is_decode() {
            UpstreamError::invalid(provider, "the response body was cut off")
        } else {
            UpstreamError::Unreachable {
                provider,
                detail: "network error".into(),
            }
        };
        Failure { error, retryable: true }
    }
}

/// An attempt that got no usable answer.
#[derive(Debug)]
struct Failure {
    error: UpstreamError,
    retryable: bool,
}

/// What an adapter sends through: the shared client plus its credential's lane.
#[derive(Debug, Clone)]
pub struct VendorClient {
    client: UpstreamClient,
    lane: Arc<VendorLane>,
    /// How long this vendor's answers are cached; `None`: not at all.
    cache_ttl: Option<Duration>,
}

impl VendorClient {
    /// Sends one request, or answers it from the cache (see [`cache`]). Status codes are
    /// not judged here; callers use [`UpstreamResponse::error_for_status`].
    pub async fn send(
        &self,
        scope: CallScope<'_>,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let cache = &self.client.cache;
        match (self.cache_ttl, cache::CacheKey::of(&request)) {
            (Some(ttl), Some(key)) => cache.get_or_fetch(scope, key, ttl, self.call(request)).await,
            _ => self.call(request).await,
        }
    }

    pub fn lane(&self) -> &VendorLane {
        &self.lane
    }

    /// One vendor call: a bulkhead slot, then attempts until an answer that is final, the
    /// attempt cap, an empty retry budget or the deadline. Each attempt passes the breaker
    /// and waits for the vendor's pace first.
    async fn call(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let provider = request.provider;
        let config = &self.client.config;
        let lane = &self.lane;
        let deadline = Instant::now() + Duration::from_millis(config.deadline_ms);
        let _slot = lane.enter().ok_or(UpstreamError::Saturated {
            provider,
            limit: lane.max_concurrency,
        })?;
        lane.budget.deposit();
        let mut retries = 0;
        loop {
            let ticket = lane.breaker.admit().map_err(|wait| UpstreamError::CircuitOpen {
                provider,
                retry_after: ceil_secs(wait),
            })?;
            let give_up = deadline.min(Instant::now() + Duration::from_millis(config.rate_wait_ms));
            if let Err(wait) = lane.pace(give_up).await {
                return Err(UpstreamError::RateLimited {
                    provider,
                    retry_after: Some(ceil_secs(wait)),
                });
            }
            let budget = Duration::from_millis(config.attempt_timeout_ms).min(deadline - Instant::now());
            let started = Instant::now();
            let outcome = tokio::time::timeout(budget, self.client.attempt(&request)).await;
            crate::metrics::record_upstream_duration(provider, started.elapsed());
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(_) => {
                    self.client.record(provider, 0);
                    Err(Failure {
                        error: UpstreamError::Timeout { provider },
                        retryable: true,
                    })
                }
            };
            let retry = match &outcome {
                Ok(answer) => {
                    ticket.record(answer.status.is_server_error() || answer.status == StatusCode::REQUEST_TIMEOUT);
                    if answer.status == StatusCode::TOO_MANY_REQUESTS {
                        lane.pause_for(Duration::from_secs(retry_after_secs(&answer.headers).unwrap_or(0)));
                    }
                    retry::retry_for_answer(answer.status, &answer.headers)
                }
                Err(failure) => {
                    ticket.record(true);
                    failure.retryable.then_some(None)
                }
            };
            // A vendor that asks for a longer wait than `max_delay_ms` is not waited for:
            // the client gets its `Retry-After` and decides.
            let wait = retry
                .filter(|_| request.idempotent_read && retries + 1 < config.retry.max_attempts)
                .map(|hint| hint.unwrap_or_else(|| config.retry.backoff(retries)))
                .filter(|wait| *wait <= Duration::from_millis(config.retry.max_delay_ms))
                .filter(|wait| Instant::now() + *wait < deadline);
            match wait {
                Some(wait) if lane.budget.try_withdraw() => {
                    retries += 1;
                    crate::metrics::record_retry(provider);
                    tracing::debug!(%provider, retries, wait_ms = wait.as_millis() as u64, "retrying vendor call");
                    tokio::time::sleep(wait).await;
                }
                _ => return outcome.map_err(|f| f.error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> UpstreamResponse {
        UpstreamResponse {
            provider: ProviderKind::Stripe,
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_contract_codes() {
        let code = |s: u16| response(s, "{}").error_for_status().unwrap_err().type_and_code().1;
        assert_eq!(code(401), "upstream_auth_failed");
        assert_eq!(code(403), "upstream_auth_failed");
        assert_eq!(code(429), "upstream_rate_limited");
        assert_eq!(code(500), "upstream_server_error");
        assert_eq!(code(503), "upstream_server_error");
        assert_eq!(code(504), "upstream_timeout");
        assert_eq!(code(400), "upstream_request_rejected");
        assert_eq!(code(404), "resource_not_found");
        assert!(response(200, "{}").error_for_status().is_ok());
    }

    #[test]
    fn stripe_error_bodies_are_read() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"customer","message":"No such customer: 'cus_x'"}}"#;
        match response(400, body).error_for_status().unwrap_err() {
            UpstreamError::Rejected {
                vendor_code,
                param,
                message,
                ..
            } => {
                assert_eq!(vendor_code.as_deref(), Some("resource_missing"));
                assert_eq!(param.as_deref(), Some("customer"));
                assert_eq!(message, "No such customer: 'cus_x'");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Page {
            data: Vec<Item>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Item {
            id: String,
        }
        let err = parse_json_slice::<Page>(ProviderKind::Stripe, br#"{"data":[{"id":"a"},{"id":5}]}"#).unwrap_err();
        assert!(err.to_string().contains("data[1].id"), "{err}");
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        let err = parse_vendor_json::<Page>(ProviderKind::Stripe, &headers, b"<html>").unwrap_err();
        assert!(err.to_string().contains("text/html"));
    }

    #[test]
    fn retry_after_is_read() {
        let mut r = response(429, "{}");
        r.headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(r.error_for_status().unwrap_err().retry_after(), Some(7));
        assert_eq!(
            response(429, "{}").error_for_status().unwrap_err().retry_after(),
            Some(1)
        );
    }
}
