//! Traces over OpenTelemetry (README.md, "Traces"): off unless `[telemetry]` is configured.
//!
//! creditgate's spans are `tracing` spans; with `[telemetry]`, [`Tracing`] turns them into
//! OpenTelemetry spans (the `tracing-opentelemetry` layer) and exports them in batches over
//! OTLP/HTTP (protobuf) to the configured collector. The spans:
//! - `request`, one per HTTP request (kind server), child of the client's `traceparent`;
//! - `write`, one per `/v1` write, with its idempotency outcome ([`record_idempotency`]);
//! - `cache`, one per cache decision: the answer cache's and the vendor cache's;
//! - `vendor_attempt`, one per attempt sent to a vendor (kind client: vendor, endpoint,
//!   status, retry number), whose context goes to the vendor as `traceparent`.
//!
//! Only `request` is at `error` level (its `request_id` is on every log line written inside a
//! request); the others are at `debug`, so that without `[telemetry]` (and with the default
//! log filter) they are never built and a request pays nothing for them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::secret::SecretRef;

/// `[telemetry]`: where traces are exported, and how many.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP endpoint, e.g. `http://127.0.0.1:4318`: `/v1/traces` is
    /// appended when the URL has no path; a URL with a path is used as it is.
    /// `https://`, or plain `http://` to a collector (plain `http://` with `headers` only to
    /// this machine: they usually hold a credential).
    pub endpoint: String,
    /// The fraction of traces started here that are kept, 0 to 1. A request whose
    /// `traceparent` says whether its trace is sampled follows that decision instead.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// `service.name` on every span.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Headers sent with every export (a vendor's API key, say), each value a secret
    /// reference.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretRef>,
    /// The longest one export may take; past it the batch is dropped (and counted by the
    /// exporter's own log line), never retried forever.
    #[serde(default = "default_export_timeout_ms")]
    #[schemars(range(min = 1, max = 60000))]
    pub export_timeout_ms: u64,
    /// How long finished spans wait to be exported together.
    #[serde(default = "default_batch_delay_ms")]
    #[schemars(range(min = 1, max = 60000))]
    pub batch_delay_ms: u64,
}

fn default_sample_ratio() -> f64 {
    1.0
}
fn default_service_name() -> String {
    "creditgate".into()
}
fn default_export_timeout_ms() -> u64 {
    10_000
}
fn default_batch_delay_ms() -> u64 {
    5_000
}

impl TelemetryConfig {
    /// The URL spans are posted to: `endpoint`, with `/v1/traces` when it has no path.
    pub fn traces_url(&self) -> Result<url::Url, String> {
        let mut url = url::Url::parse(&self.endpoint).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err("not an http(s) URL".into());
        }
        if url.path() == "/" || url.path().is_empty() {
            url.set_path("/v1/traces");
        }
        Ok(url)
    }

    /// Problems a config file can hold (the URL's own security is judged by the config's
    /// validation, which knows what "this machine" is).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Some((
                "sample_ratio",
                format!("must be between 0 and 1, got {}", self.sample_ratio),
            ));
        }
        if self.service_name.trim().is_empty() {
            return Some(("service_name", "must not be empty".into()));
        }
        if let Some(name) = self
            .headers
            .keys()
            .find(|n| axum::http::HeaderName::try_from(n.as_str()).is_err())
        {
            return Some(("headers", format!("`{name}` is not a header name")));
        }
        self.traces_url().err().map(|e| ("endpoint", e))
    }
}

/// Whether spans are exported (a [`Tracing`] was started): the request path asks before
/// doing any work for traces.
static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The exporting half: the tracer provider and its batch thread.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Tracing {
    /// Starts the exporter of `config`. Must be called inside the tokio runtime: exports go
    /// out through it.
    pub fn start(config: &TelemetryConfig) -> Result<Tracing, String> {
        if let Some((key, problem)) = config.problem() {
            return Err(format!("[telemetry] {key}: {problem}"));
        }
        let url = config.traces_url()?;
        let mut headers = std::collections::HashMap::new();
        for (name, secret) in &config.headers {
            let value = secret
                .resolve()
                .map_err(|e| format!("[telemetry] headers.{name}: {e}"))?;
            headers.insert(name.clone(), value.expose().to_owned());
        }
        let timeout = Duration::from_millis(config.export_timeout_ms);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url.as_str())
            .with_timeout(timeout)
            .with_headers(headers)
            .with_http_client(ExportClient::new(timeout)?)
            .build()
            .map_err(|e| format!("[telemetry]: cannot build the OTLP exporter: {e}"))?;
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(Duration::from_millis(config.batch_delay_ms))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(batches).build())
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("creditgate");
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Tracing { provider, tracer })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans for this exporter.
    pub fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            .with_tracked_inactivity(false)
    }

    /// Exports what is still batched, waiting at most `within`. Call it outside the
    /// runtime's `block_on` while the runtime is alive: the exports run on it.
    pub fn shutdown(self, within: Duration) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown_with_timeout(within) {
            tracing::warn!(error = %e, "the last traces could not all be exported");
        }
    }
}

/// Makes `span` (a request's) a child of the trace the client's `traceparent` names, and
/// records its trace id in the span's `trace_id` field (so log lines carry it).
pub fn accept_parent(span: &tracing::Span, headers: &HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let trace = context.span().span_context().trace_id();
    if trace != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace));
    }
}

/// The current span's context (`traceparent`, `tracestate`) as headers for a vendor
/// request; none without `[telemetry]` (an empty map, which allocates nothing).
pub fn trace_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    if enabled() {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut opentelemetry_http::HeaderInjector(&mut headers));
    }
    headers
}

/// A `write` span: one `/v1` write (`operation`: `create`, `void`, `expire` or `adjust`), at `provider`.
/// Its idempotency outcome is recorded by [`record_idempotency`].
pub fn write_span(operation: &'static str, provider: &str) -> tracing::Span {
    tracing::debug_span!(
        "write",
        otel.name = format!("write {operation}"),
        operation,
        vendor = provider,
        idempotency = tracing::field::Empty,
    )
}

/// How a write's `Idempotency-Key` was met (`new`, `replayed`, `in_progress`,
/// `conflict`...), on the current `write` span.
pub fn record_idempotency(outcome: &'static str) {
    tracing::Span::current().record("idempotency", outcome);
}

/// A `cache` span: one decision of the `layer` cache (`answer` or `vendor`) about `subject`
/// (a route, or a vendor); its outcome is recorded with [`record_cache_outcome`].
pub fn cache_span(layer: &'static str, subject: &str) -> tracing::Span {
    tracing::debug_span!(
        "cache",
        otel.name = format!("cache {layer}"),
        cache.layer = layer,
        cache.subject = subject,
        cache.outcome = tracing::field::Empty,
    )
}

pub fn record_cache_outcome(span: &tracing::Span, outcome: &'static str) {
    span.record("cache.outcome", outcome);
}

/// A `vendor_attempt` span: one request sent to a vendor's `endpoint` (its template, as
/// metrics label it: `GET /credits/{id}`), `retry` 0 for the first.
pub fn vendor_attempt_span(vendor: &str, endpoint: &str, method: &str, path: &str, retry: u32) -> tracing::Span {
    tracing::debug_span!(
        "vendor_attempt",
        otel.name = format!("{vendor} {endpoint}"),
        otel.kind = "client",
        vendor,
        endpoint,
        http.request.method = method,
        url.path = path,
        retry,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Sends the exporter's requests through reqwest on the tokio runtime that started it: the
/// batch processor runs on a thread of its own, outside the runtime.
#[derive(Debug)]
struct ExportClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl ExportClient {
    fn new(timeout: Duration) -> Result<ExportClient, String> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| "[telemetry]: started outside the runtime".to_owned())?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("[telemetry]: cannot build the HTTP client: {e}"))?;
        Ok(ExportClient { http, runtime })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<opentelemetry_http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let answer = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = answer.status();
            let body = answer.bytes().await?;
            let mut response = opentelemetry_http::Response::new(body);
            *response.status_mut() = status;
            Ok::<_, reqwest::Error>(response)
        });
        Ok(sent.await??)
    }
}
