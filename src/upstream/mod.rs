//! The one HTTP path every adapter uses to reach a vendor.
//!
//! [`UpstreamClient::send`] is the seam: caching, outbound rate limits, retries and the
//! circuit breaker wrap that one call, so no adapter has to know about them.

pub mod cache;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use crate::model::ProviderKind;

/// Transport settings shared by every vendor.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    pub connect_timeout_ms: u64,
    /// Whole request, from connecting to the last body byte.
    pub request_timeout_ms: u64,
    /// A vendor answer larger than this is refused instead of buffered.
    pub max_body_bytes: usize,
    /// Bound on the cached vendor answers, in bytes.
    pub cache_max_bytes: u64,
    /// Per-provider TTL overriding the provider file's; 0 turns caching off for it.
    pub cache_ttl_secs: BTreeMap<ProviderKind, u64>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 2_000,
            request_timeout_ms: 10_000,
            max_body_bytes: 8 * 1024 * 1024,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_secs: BTreeMap::new(),
        }
    }
}

/// How a vendor call failed, in terms the contract has codes for.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("{provider} returned an invalid response: {detail}")]
    InvalidResponse { provider: ProviderKind, detail: String },
    #[error("{provider} answered with HTTP {status}")]
    ServerError { provider: ProviderKind, status: u16 },
    #[error("{provider} rejected creditgate's credentials (HTTP {status})")]
    AuthFailed { provider: ProviderKind, status: u16 },
    #[error("{provider} is rate limiting creditgate")]
    RateLimited {
        provider: ProviderKind,
        retry_after: Option<u64>,
    },
    #[error("{provider} could not be reached: {detail}")]
    Unreachable { provider: ProviderKind, detail: String },
    #[error("{provider} did not answer in time")]
    Timeout { provider: ProviderKind },
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    Rejected {
        provider: ProviderKind,
        status: u16,
        vendor_code: Option<String>,
        param: Option<String>,
        message: String,
    },
    #[error("{provider} has no such object: {message}")]
    NotFound { provider: ProviderKind, message: String },
}

impl UpstreamError {
    pub fn provider(&self) -> ProviderKind {
        match self {
            UpstreamError::InvalidResponse { provider, .. }
            | UpstreamError::ServerError { provider, .. }
            | UpstreamError::AuthFailed { provider, .. }
            | UpstreamError::RateLimited { provider, .. }
            | UpstreamError::Unreachable { provider, .. }
            | UpstreamError::Timeout { provider }
            | UpstreamError::Rejected { provider, .. }
            | UpstreamError::NotFound { provider, .. } => *provider,
        }
    }

    pub fn invalid(provider: ProviderKind, detail: impl Into<String>) -> Self {
        UpstreamError::InvalidResponse {
            provider,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::InvalidResponse { .. }
            | UpstreamError::ServerError { .. }
            | UpstreamError::AuthFailed { .. }
            | UpstreamError::Rejected { .. } => StatusCode::BAD_GATEWAY,
            UpstreamError::RateLimited { .. } | UpstreamError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::NotFound { .. } => StatusCode::NOT_FOUND,
        }
    }

    pub fn type_and_code(&self) -> (&'static str, &'static str) {
        match self {
            UpstreamError::InvalidResponse { .. } => ("upstream_error", "upstream_invalid_response"),
            UpstreamError::ServerError { .. } => ("upstream_error", "upstream_server_error"),
            UpstreamError::AuthFailed { .. } => ("upstream_error", "upstream_auth_failed"),
            UpstreamError::Rejected { .. } => ("upstream_error", "upstream_request_rejected"),
            UpstreamError::RateLimited { .. } => ("upstream_unavailable", "upstream_rate_limited"),
            UpstreamError::Unreachable { .. } => ("upstream_unavailable", "upstream_unreachable"),
            UpstreamError::Timeout { .. } => ("upstream_timeout", "upstream_timeout"),
            UpstreamError::NotFound { .. } => ("not_found_error", "resource_not_found"),
        }
    }

    /// Seconds a client should wait: the vendor's `Retry-After`, or 1 s when it gave none.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            UpstreamError::RateLimited { retry_after, .. } => Some(retry_after.unwrap_or(1)),
            _ => None,
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
    /// A read that may be cached (and, later, retried): every GET, and POSTs that only read.
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
pub fn parse_json_slice<T: DeserializeOwned>(provider: ProviderKind, body: &[u8]) -> Result<T, UpstreamError> {
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

/// The HTTP client. One per gateway; clones share the connection pool and health board.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    max_body_bytes: usize,
    health: std::sync::Arc<HealthBoard>,
    cache: cache::VendorCache,
}

impl UpstreamClient {
    pub fn new(config: &UpstreamConfig) -> Result<Self, String> {
        let mut ttls = crate::providers::cache_ttls();
        ttls.extend(config.cache_ttl_secs.iter().map(|(p, secs)| (*p, *secs)));
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("creditgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(UpstreamClient {
            http,
            max_body_bytes: config.max_body_bytes,
            health: Default::default(),
            cache: cache::VendorCache::new(ttls, config.cache_max_bytes),
        })
    }

    pub fn health(&self) -> &HealthBoard {
        &self.health
    }

    fn record(&self, provider: ProviderKind, status: u16) {
        crate::metrics::record_upstream(provider, status);
        self.health.record(provider, status);
    }

    /// Sends one request, or answers it from the cache (see [`cache`]). Status codes are
    /// not judged here; callers use [`UpstreamResponse::error_for_status`].
    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        match self.cache.admit(&request) {
            Some((key, ttl)) => self.cache.get_or_fetch(key, ttl, self.fetch(request)).await,
            None => self.fetch(request).await,
        }
    }

    /// Sends one request and reads the whole body, at most `max_body_bytes` of it.
    /// Carries the current `X-Request-Id` to the vendor.
    async fn fetch(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let provider = request.provider;
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers);
        if let Some(id) = crate::request_id::current() {
            builder = builder.header("x-request-id", id);
        }
        if let Some(body) = request.json_body {
            builder = builder.header("content-type", "application/json").body(body);
        }
        let started = std::time::Instant::now();
        let mut response = builder.send().await.map_err(|e| self.transport_error(provider, &e))?;
        let status = response.status();
        if let Some(len) = response.content_length() {
            if len > self.max_body_bytes as u64 {
                return Err(self.too_large(provider));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(provider, &e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
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

    fn too_large(&self, provider: ProviderKind) -> UpstreamError {
        self.record(provider, 0);
        UpstreamError::invalid(
            provider,
            format!("response body exceeds the {} byte cap", self.max_body_bytes),
        )
    }

    /// Transport failures. The reqwest error's text is not passed on: it can carry the URL.
    fn transport_error(&self, provider: ProviderKind, e: &reqwest::Error) -> UpstreamError {
        self.record(provider, 0);
        if e.is_timeout() {
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
