//! The one HTTP path every adapter uses to reach a vendor.
//!
//! [`VendorClient::send`] is the seam: the cache, the bulkhead, the circuit breaker, the
//! outbound pace, the deadlines and the retries all wrap that one call, so no adapter has
//! to know about them. Each adapter holds a [`VendorClient`] bound to its credential's
//! [`lane::VendorLane`].

pub mod breaker;
pub mod cache;
mod config;
mod endpoints;
mod health;
pub mod lane;
mod request;
pub mod retry;
mod scope;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sha2::Digest;

use crate::error::{ceil_secs, UpstreamError};
use crate::model::ProviderKind;
use crate::secret::Secret;
use crate::shared::SharedState;
pub use cache::Verdict;
pub use config::UpstreamConfig;
pub use endpoints::VendorEndpoints;
pub use health::{HealthBoard, Outcome, RecentCalls, RECENT_WINDOW};
use lane::{OutboundRate, VendorLane};
pub use request::{parse_json_slice, parse_vendor_json, retry_after_secs, UpstreamRequest, UpstreamResponse};
pub use scope::{About, CacheUse, CallScope};

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
    /// With `[redis]`: vendor pacing shared with the other replicas.
    shared: Option<SharedState>,
}

impl UpstreamClient {
    pub fn new(config: &UpstreamConfig) -> Result<Self, String> {
        // Its numbers' bounds were checked with the config's (`config/bounds.rs`).
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
            shared: None,
        })
    }

    /// Paces every vendor with the replicas sharing `shared` (before any adapter is built).
    pub fn with_shared(mut self, shared: SharedState) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Drops every cached vendor answer (some invalidations may have been missed).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    /// The client an adapter uses for one credential. `documented` is the vendor's rate
    /// for that credential and `documented_ttl_secs` how long its answers may be cached;
    /// `[upstream.outbound_rate]` and `[upstream.cache_ttl_secs]` override them. Adapters
    /// sharing a credential share its lane. Its calls are labelled by `endpoints`, whose
    /// series start at zero.
    pub fn for_vendor(
        &self,
        provider: ProviderKind,
        credential: &Secret,
        documented: OutboundRate,
        documented_ttl_secs: u64,
        endpoints: VendorEndpoints,
    ) -> VendorClient {
        crate::metrics::start_vendor_series(provider, endpoints.labels());
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
            .or_insert_with(|| {
                let shared = self.shared.as_ref().map(|s| (s, &fingerprint));
                Arc::new(VendorLane::shared(provider, rate, &self.config, shared))
            })
            .clone();
        VendorClient {
            client: self.clone(),
            lane,
            cache_ttl: (ttl_secs > 0).then(|| Duration::from_secs(ttl_secs)),
            endpoints: Arc::new(endpoints),
        }
    }

    /// See [`cache::VendorCache::invalidate_customer`].
    pub fn invalidate_customer(&self, provider: ProviderKind, customer: &str) {
        self.cache.invalidate_customer(provider, customer);
    }

    pub fn health(&self) -> &HealthBoard {
        &self.health
    }

    /// Sends one attempt and reads the whole body, at most `max_body_bytes` of it.
    /// Carries the current `X-Request-Id` to the vendor.
    async fn attempt(&self, call: Call<'_>, request: &UpstreamRequest) -> Result<UpstreamResponse, Failure> {
        let provider = request.provider;
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone());
        if let Some(id) = crate::request_id::current() {
            builder = builder.header("x-request-id", id);
        }
        builder = builder.headers(crate::telemetry::trace_headers());
        if let Some((content_type, body)) = &request.body {
            builder = builder.header("content-type", *content_type).body(body.clone());
        }
        let started = Instant::now();
        let mut response = builder.send().await.map_err(|e| self.transport_error(call, &e))?;
        let status = response.status();
        if let Some(len) = response.content_length() {
            if len > self.config.max_body_bytes as u64 {
                return Err(self.too_large(call));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(call, &e))? {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(self.too_large(call));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            %provider,
            endpoint = call.endpoint,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "vendor call"
        );
        self.health.record(call.provider, call.endpoint, status.as_u16());
        Ok(UpstreamResponse {
            provider,
            status,
            headers: response.headers().clone(),
            body,
        })
    }

    fn too_large(&self, call: Call<'_>) -> Failure {
        let provider = call.provider;
        self.health.record(call.provider, call.endpoint, 0);
        Failure {
            error: UpstreamError::invalid(
                provider,
                format!("response body exceeds the {} byte cap", self.config.max_body_bytes),
            ),
            retryable: false,
            sent: true,
        }
    }

    /// Transport failures, all worth a retry. The reqwest error's text is not passed on:
    /// it can carry the URL.
    fn transport_error(&self, call: Call<'_>, e: &reqwest::Error) -> Failure {
        let provider = call.provider;
        self.health.record(call.provider, call.endpoint, 0);
        // Only a failure to connect proves the request never reached the vendor.
        let sent = !e.is_connect();
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
        Failure {
            error,
            retryable: true,
            sent,
        }
    }
}

/// Which vendor endpoint an attempt is for, as its metrics label it.
#[derive(Debug, Clone, Copy)]
struct Call<'a> {
    provider: ProviderKind,
    endpoint: &'a str,
}

/// A vendor call that got no usable answer.
#[derive(Debug)]
struct Failure {
    error: UpstreamError,
    retryable: bool,
    /// The request may have reached the vendor (anything but a refused connection, or a
    /// refusal of creditgate's own before sending: breaker, pace, bulkhead).
    sent: bool,
}

impl Failure {
    fn unsent(error: UpstreamError) -> Failure {
        Failure {
            error,
            retryable: false,
            sent: false,
        }
    }
}

/// Whether a write whose [`VendorClient::write`] answered `outcome` may have changed
/// something at the vendor: anything but a refusal (nothing sent, or a 4xx answer).
pub fn write_may_have_applied(outcome: &Result<UpstreamResponse, UpstreamError>) -> bool {
    match outcome {
        Ok(answer) => !answer.status.is_client_error(),
        Err(error) => matches!(error, UpstreamError::OutcomeUnknown { .. }),
    }
}

/// What an adapter sends through: the shared client plus its credential's lane.
#[derive(Debug, Clone)]
pub struct VendorClient {
    client: UpstreamClient,
    lane: Arc<VendorLane>,
    /// How long this vendor's answers are cached; `None`: not at all.
    cache_ttl: Option<Duration>,
    endpoints: Arc<VendorEndpoints>,
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
        match (
            self.cache_ttl.filter(|_| scope.cache.stores()),
            cache::CacheKey::of(&request),
        ) {
            (Some(ttl), Some(key)) => {
                let client = self.clone();
                let provider = request.provider;
                scope.cache.note_reusable(provider, scope.customer, ttl);
                let fetch = async move { client.call(request).await };
                let staged = scope.cache.staged();
                let span = crate::telemetry::cache_span("vendor", provider.as_str());
                let (verdict, response) = tracing::Instrument::instrument(
                    cache.get_or_fetch(staged, scope.cache.bypass(), scope.customer, key, ttl, fetch),
                    span.clone(),
                )
                .await;
                crate::telemetry::record_cache_outcome(&span, verdict.as_str());
                scope.cache.note(verdict);
                crate::metrics::record_vendor_cache(provider, verdict.as_str());
                response
            }
            _ => {
                scope.cache.note_never_reusable();
                self.call(request).await
            }
        }
    }

    /// Sends one write, once: never from the cache, never retried. A failure after the
    /// request may have reached the vendor (a timeout, a reset, a 5xx or 408 answer, an
    /// answer that cannot be read) is [`UpstreamError::OutcomeUnknown`], so the caller
    /// looks at the vendor before writing again; a refusal before sending (breaker, pace,
    /// bulkhead, no connection) or a 4xx answer means nothing was written.
    /// Whatever the outcome, the answers `scope` staged before are dropped: a read after a
    /// write goes to the vendor. [`write_may_have_applied`] reads the outcome.
    pub async fn write(
        &self,
        scope: CallScope<'_>,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, UpstreamError> {
        debug_assert!(!request.idempotent_read, "a write must not be marked as a read");
        let provider = request.provider;
        let outcome = self.attempts(request).await;
        scope.cache.staged().forget();
        match outcome {
            Ok(answer) if answer.status.is_server_error() || answer.status == StatusCode::REQUEST_TIMEOUT => {
                Err(UpstreamError::OutcomeUnknown {
                    provider,
                    detail: format!("it answered HTTP {}", answer.status.as_u16()),
                })
            }
            Ok(answer) => Ok(answer),
            Err(Failure { error, sent: true, .. }) => Err(UpstreamError::OutcomeUnknown {
                provider,
                detail: error.to_string(),
            }),
            Err(failure) => Err(failure.error),
        }
    }

    pub fn lane(&self) -> &VendorLane {
        &self.lane
    }

    /// One vendor call: a bulkhead slot, then attempts until an answer that is final, the
    /// attempt cap, an empty retry budget or the deadline. Each attempt passes the breaker
    /// and waits for the vendor's pace first.
    async fn call(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        self.attempts(request).await.map_err(|f| f.error)
    }

    /// [`Self::call`]'s attempts, saying whether a failed call may have reached the vendor.
    async fn attempts(&self, request: UpstreamRequest) -> Result<UpstreamResponse, Failure> {
        let provider = request.provider;
        let config = &self.client.config;
        let lane = &self.lane;
        let deadline = Instant::now() + Duration::from_millis(config.deadline_ms);
        let call = Call {
            provider,
            endpoint: self.endpoints.label(&request.method, request.url.path()),
        };
        let _slot = lane.enter().ok_or(Failure::unsent(UpstreamError::Saturated {
            provider,
            limit: lane.max_concurrency,
        }))?;
        lane.budget.deposit();
        let mut retries = 0;
        loop {
            let ticket = lane.breaker.permit().map_err(|wait| {
                Failure::unsent(UpstreamError::CircuitOpen {
                    provider,
                    retry_after: ceil_secs(wait),
                })
            })?;
            let give_up = deadline.min(Instant::now() + Duration::from_millis(config.rate_wait_ms));
            if let Err(wait) = lane.pace(give_up).await {
                return Err(Failure::unsent(UpstreamError::RateLimited {
                    provider,
                    retry_after: Some(ceil_secs(wait)),
                }));
            }
            let budget = Duration::from_millis(config.attempt_timeout_ms).min(deadline - Instant::now());
            let started = Instant::now();
            let span = crate::telemetry::vendor_attempt_span(
                provider.as_str(),
                call.endpoint,
                request.method.as_str(),
                request.url.path(),
                retries,
            );
            let sent = tracing::Instrument::instrument(
                tokio::time::timeout(budget, self.client.attempt(call, &request)),
                span.clone(),
            );
            let outcome = sent.await;
            let status = outcome
                .as_ref()
                .map_or(0, |o| o.as_ref().map_or(0, |a| a.status.as_u16()));
            self.client
                .health
                .attempted(call.provider, call.endpoint, started.elapsed(), status);
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(_) => {
                    self.client.health.record(call.provider, call.endpoint, 0);
                    Err(Failure {
                        error: UpstreamError::Timeout { provider },
                        retryable: true,
                        sent: true,
                    })
                }
            };
            match &outcome {
                Ok(answer) => {
                    span.record("http.response.status_code", answer.status.as_u16());
                    if !answer.status.is_success() {
                        span.record("otel.status_code", "ERROR");
                    }
                }
                Err(failure) => {
                    span.record("error.type", failure.error.code().as_str());
                    span.record("otel.status_code", "ERROR");
                }
            }
            drop(span);
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
                _ => return outcome,
            }
        }
    }
}
