//! What creditgate counts and times, served at `/metrics` in the Prometheus text format
//! (the `prometheus` crate, without its protobuf and process features: every crate it
//! needs is already in creditgate's tree). Counting takes no lock of creditgate's: each
//! series is an atomic, found by its labels under the metric family's read lock. The
//! series and their labels are listed once, in README.md, "Metrics"; every label's values
//! come from a closed list (route templates, providers, the vendors' endpoint templates,
//! key names, status codes), never from ids.
//!
//! Every series whose labels come from a closed list (providers, operations, outcomes,
//! routes, key names) exists from the start at zero, so `rate()` shows 0 rather than no
//! data; a series with a `status` label appears with the first answer of that status.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::model::ProviderKind;

/// Bucket bounds of the duration histograms, in seconds.
/// They reach past the default attempt timeout (5 s) and deadline (15 s).
const DURATION_BUCKETS: [f64; 17] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];

/// The closed lists the series are made from at start.
const WRITE_OPERATIONS: [&str; 4] = ["create", "void", "expire", "adjust"];
const WRITE_OUTCOMES: [&str; 7] = [
    "written", "found", "replayed", "conflict", "settling", "unknown", "failed",
];
const WEBHOOK_OUTCOMES: [&str; 4] = ["accepted", "unknown_type", "duplicate", "refused"];
const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "retry", "failed"];
const SHED_REASONS: [&str; 2] = ["evicted", "refused"];
const VENDOR_CACHE_RESULTS: [&str; 3] = ["hit", "miss", "bypass"];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    in_flight: IntGauge,
    rate_limited: IntCounterVec,
    answer_cache: IntCounterVec,
    vendor_cache: IntCounterVec,
    circuit_state: IntGaugeVec,
    build_info: IntGaugeVec,
    upstream_requests: IntCounterVec,
    upstream_duration: HistogramVec,
    upstream_retries: IntCounterVec,
    connections_open: IntGauge,
    connections_shed: IntCounterVec,
    writes: IntCounterVec,
    vendor_webhooks: IntCounterVec,
    events: IntCounterVec,
    deliveries: IntCounterVec,
    redis_degraded: IntGauge,
    redis_errors: IntCounterVec,
    panics: IntCounter,
}

impl Metrics {
    fn new() -> prometheus::Result<Metrics> {
        let counter = |name: &str, help: &str, labels: &[&str]| IntCounterVec::new(Opts::new(name, help), labels);
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
                labels,
            )
        };
        let metrics = Metrics {
            registry: Registry::new(),
            http_requests: counter(
                "creditgate_http_requests_total",
                "Requests answered by creditgate.",
                &["route", "method", "status"],
            )?,
            http_duration: histogram(
                "creditgate_http_request_duration_seconds",
                "Time from a request's arrival to its answer, by status class.",
                &["route", "method", "class"],
            )?,
            in_flight: IntGauge::new("creditgate_http_requests_in_flight", "Requests being served now.")?,
            rate_limited: counter(
                "creditgate_rate_limited_total",
                "Requests refused with 429 for their key's quota, by the key's name.",
                &["key"],
            )?,
            answer_cache: counter(
                "creditgate_answer_cache_total",
                "Lookups of whole client answers (hit: answered from the cache; miss: computed).",
                &["route", "result"],
            )?,
            vendor_cache: counter(
                "creditgate_vendor_cache_total",
                "Lookups of vendor answers (bypass: the client asked for no-cache, or a read after a write).",
                &["provider", "result"],
            )?,
            circuit_state: IntGaugeVec::new(
                Opts::new(
                    "creditgate_circuit_state",
                    "Each provider's circuit breaker: 0 closed, 1 half open, 2 open.",
                ),
                &["provider"],
            )?,
            build_info: IntGaugeVec::new(
                Opts::new("creditgate_build_info", "1, labelled with the running version."),
                &["version"],
            )?,
            upstream_requests: counter(
                "creditgate_upstream_requests_total",
                "Calls made to vendors (status 0: no response).",
                &["provider", "endpoint", "status"],
            )?,
            upstream_duration: histogram(
                "creditgate_upstream_request_duration_seconds",
                "One attempt at a vendor call, from sending to the last body byte or the failure.",
                &["provider", "endpoint"],
            )?,
            upstream_retries: counter(
                "creditgate_upstream_retries_total",
                "Vendor call attempts that were retries.",
                &["provider"],
            )?,
            panics: IntCounter::new("creditgate_panics_total", "Request handlers that panicked (bugs).")?,
            connections_open: IntGauge::new("creditgate_connections_open", "Client connections open now.")?,
            connections_shed: counter(
                "creditgate_connections_shed_total",
                "Client connections closed because max_connections were open.",
                &["reason"],
            )?,
            writes: counter(
                "creditgate_writes_total",
                "Write requests, by what happened: written at the vendor, found there after an unknown outcome, \
                 replayed, refused for the idempotency key, unknown outcome, failed.",
                &["provider", "operation", "outcome"],
            )?,
            vendor_webhooks: counter(
                "creditgate_vendor_webhooks_total",
                "Vendor webhook deliveries, by what happened: a new event of a known type, of another type \
                 (acknowledged), a redelivery, refused.",
                &["provider", "outcome"],
            )?,
            events: counter(
                "creditgate_events_total",
                "Events recorded, by type (each once, whichever replica recorded it).",
                &["type"],
            )?,
            deliveries: counter(
                "creditgate_event_deliveries_total",
                "Delivery attempts to webhook endpoints, by outcome: delivered, retry (failed, tried again \
                 later), failed (given up after the retry window).",
                &["outcome"],
            )?,
            redis_degraded: IntGauge::new(
                "creditgate_redis_degraded",
                "1 while the last call to the shared Redis failed: limits are per replica, writes answer 503.",
            )?,
            redis_errors: counter(
                "creditgate_redis_errors_total",
                "Calls to the shared Redis that failed or did not answer in time.",
                &["operation"],
            )?,
        };
        let registry = &metrics.registry;
        registry.register(Box::new(metrics.http_requests.clone()))?;
        registry.register(Box::new(metrics.http_duration.clone()))?;
        registry.register(Box::new(metrics.in_flight.clone()))?;
        registry.register(Box::new(metrics.rate_limited.clone()))?;
        registry.register(Box::new(metrics.answer_cache.clone()))?;
        registry.register(Box::new(metrics.vendor_cache.clone()))?;
        registry.register(Box::new(metrics.circuit_state.clone()))?;
        registry.register(Box::new(metrics.build_info.clone()))?;
        registry.register(Box::new(metrics.upstream_requests.clone()))?;
        registry.register(Box::new(metrics.upstream_duration.clone()))?;
        registry.register(Box::new(metrics.upstream_retries.clone()))?;
        registry.register(Box::new(metrics.panics.clone()))?;
        registry.register(Box::new(metrics.connections_open.clone()))?;
        registry.register(Box::new(metrics.connections_shed.clone()))?;
        registry.register(Box::new(metrics.writes.clone()))?;
        registry.register(Box::new(metrics.vendor_webhooks.clone()))?;
        registry.register(Box::new(metrics.events.clone()))?;
        registry.register(Box::new(metrics.deliveries.clone()))?;
        registry.register(Box::new(metrics.redis_degraded.clone()))?;
        registry.register(Box::new(metrics.redis_errors.clone()))?;
        metrics.start_series();
        Ok(metrics)
    }

    /// The series of closed label lists, at zero (see the module's documentation).
    fn start_series(&self) {
        for provider in ProviderKind::ALL.map(ProviderKind::as_str) {
            self.upstream_retries.with_label_values(&[provider]);
            self.circuit_state.with_label_values(&[provider]);
            for operation in WRITE_OPERATIONS {
                for outcome in WRITE_OUTCOMES {
                    self.writes.with_label_values(&[provider, operation, outcome]);
                }
            }
            for outcome in WEBHOOK_OUTCOMES {
                self.vendor_webhooks.with_label_values(&[provider, outcome]);
            }
            for result in VENDOR_CACHE_RESULTS {
                self.vendor_cache.with_label_values(&[provider, result]);
            }
        }
        for event_type in crate::model::event::EventType::ALL {
            self.events.with_label_values(&[event_type.as_str()]);
        }
        for outcome in DELIVERY_OUTCOMES {
            self.deliveries.with_label_values(&[outcome]);
        }
        for reason in SHED_REASONS {
            self.connections_shed.with_label_values(&[reason]);
        }
        self.build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    }
}

/// The process's metrics, made on first use. `None` only if the fixed definitions above
/// were refused, which a unit test rules out; then nothing is counted.
fn metrics() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
    METRICS
        .get_or_init(|| {
            Metrics::new()
                .map_err(|e| tracing::error!(error = %e, "metrics: definitions refused; /metrics exports nothing"))
                .ok()
        })
        .as_ref()
}

/// Makes the metrics (if not yet done), so that the first scrape already lists them.
/// Called when the HTTP application is built.
pub fn install() {
    let _ = metrics();
}

/// One answered client request, by route template, method and status.
pub fn record_http(route: &'static str, method: &str, status: u16, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.http_requests
            .with_label_values(&[route, method, status_label(status)])
            .inc();
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        m.http_duration
            .with_label_values(&[route, method, class])
            .observe(elapsed.as_secs_f64());
    }
}

/// A request starts (`1`) or ends (`-1`).
pub fn add_in_flight(change: i64) {
    if let Some(m) = metrics() {
        m.in_flight.add(change);
    }
}

/// A request refused for the quota of the key named `key`.
pub fn record_rate_limited(key: &str) {
    if let Some(m) = metrics() {
        m.rate_limited.with_label_values(&[key]).inc();
    }
}

/// One lookup of a whole client answer on `route`: `hit` or `miss`.
pub fn record_answer_cache(route: &'static str, result: &'static str) {
    if let Some(m) = metrics() {
        m.answer_cache.with_label_values(&[route, result]).inc();
    }
}

/// One lookup of a vendor answer: `hit`, `miss` or `bypass`.
pub fn record_vendor_cache(provider: ProviderKind, result: &'static str) {
    if let Some(m) = metrics() {
        m.vendor_cache.with_label_values(&[provider.as_str(), result]).inc();
    }
}

/// Each provider's breaker, as the scrape finds it: 0 closed, 1 half open, 2 open.
pub fn set_circuit_state(provider: ProviderKind, state: i64) {
    if let Some(m) = metrics() {
        m.circuit_state.with_label_values(&[provider.as_str()]).set(state);
    }
}

/// Makes at zero the series of the configured API keys' names and of the cached routes.
pub fn start_series(key_names: &[&str], cached_routes: &[&'static str]) {
    if let Some(m) = metrics() {
        for key in key_names {
            m.rate_limited.with_label_values(&[key]);
        }
        for route in cached_routes {
            for result in ["hit", "miss"] {
                m.answer_cache.with_label_values(&[route, result]);
            }
        }
    }
}

/// The series of a configured vendor's endpoints (the closed list of its provider file),
/// at zero (their attempts' durations; a series with a status appears with its first
/// answer).
pub fn start_vendor_series<'a>(provider: ProviderKind, endpoints: impl Iterator<Item = &'a str>) {
    if let Some(m) = metrics() {
        for endpoint in endpoints {
            m.upstream_duration.with_label_values(&[provider.as_str(), endpoint]);
        }
    }
}

/// One vendor call attempt to `endpoint` (its template) that got an answer (`status`) or
/// none (0).
pub fn record_upstream(provider: ProviderKind, endpoint: &str, status: u16) {
    if let Some(m) = metrics() {
        m.upstream_requests
            .with_label_values(&[provider.as_str(), endpoint, status_label(status)])
            .inc();
    }
}

/// How long one vendor call attempt to `endpoint` took, whatever its outcome.
pub fn record_upstream_duration(provider: ProviderKind, endpoint: &str, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.upstream_duration
            .with_label_values(&[provider.as_str(), endpoint])
            .observe(elapsed.as_secs_f64());
    }
}

/// One retried vendor call attempt.
pub fn record_retry(provider: ProviderKind) {
    if let Some(m) = metrics() {
        m.upstream_retries.with_label_values(&[provider.as_str()]).inc();
    }
}

/// One request handler that panicked.
pub fn record_panic() {
    if let Some(m) = metrics() {
        m.panics.inc();
    }
}

/// How many client connections are open.
pub fn set_connections_open(open: usize) {
    if let Some(m) = metrics() {
        m.connections_open.set(i64::try_from(open).unwrap_or(i64::MAX));
    }
}

/// One client connection closed for lack of room: `evicted` or `refused`.
pub fn record_connection_shed(reason: &'static str) {
    if let Some(m) = metrics() {
        m.connections_shed.with_label_values(&[reason]).inc();
    }
}

/// One write request's outcome.
pub fn record_write(provider: ProviderKind, operation: &'static str, outcome: &'static str) {
    if let Some(m) = metrics() {
        m.writes
            .with_label_values(&[provider.as_str(), operation, outcome])
            .inc();
    }
}

/// One vendor webhook delivery (`outcome`: `accepted`, `unknown_type`, `duplicate`, `refused`).
pub fn record_vendor_webhook(provider: ProviderKind, outcome: &'static str) {
    if let Some(m) = metrics() {
        m.vendor_webhooks.with_label_values(&[provider.as_str(), outcome]).inc();
    }
}

/// Whether the shared Redis is unavailable (each change, not each call).
pub fn set_redis_degraded(degraded: bool) {
    if let Some(m) = metrics() {
        m.redis_degraded.set(i64::from(degraded));
    }
}

/// One failed call to the shared Redis, by what it was for.
pub fn record_redis_error(operation: &'static str) {
    if let Some(m) = metrics() {
        m.redis_errors.with_label_values(&[operation]).inc();
    }
}

/// The metrics as Prometheus text, with the process's own figures.
pub fn render() -> String {
    let Some(m) = metrics() else {
        return "# creditgate: metrics unavailable (see the log)\n".to_owned();
    };
    let mut text = TextEncoder::new()
        .encode_to_string(&m.registry.gather())
        .unwrap_or_else(|e| format!("# creditgate: metrics could not be written: {e}\n"));
    text.push_str(&log_lines::render());
    text.push_str(&process::render());
    text
}

/// A status code as a label without allocating: its digits from a table made once.
fn status_label(status: u16) -> &'static str {
    static LABELS: OnceLock<Vec<String>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..600).map(|code| code.to_string()).collect());
    labels.get(usize::from(status)).map_or("other", String::as_str)
}

/// One event recorded, of `event_type`.
pub fn record_event(event_type: &'static str) {
    if let Some(m) = metrics() {
        m.events.with_label_values(&[event_type]).inc();
    }
}

/// One delivery attempt to an endpoint (`outcome`: `delivered`, `retry`, `failed`).
pub fn record_delivery(outcome: &'static str) {
    if let Some(m) = metrics() {
        m.deliveries.with_label_values(&[outcome]).inc();
    }
}

mod log_lines;
mod process;

pub use log_lines::{count_dropped_log_lines, dropped_log_lines};

#[cfg(test)]
mod tests;
