//! What creditgate counts and times, served at `/metrics` in the Prometheus text format
//! (the `prometheus` crate, without its protobuf and process features: every crate it
//! needs is already in creditgate's tree). Counting takes no lock of creditgate's: each
//! series is an atomic, found by its labels under the metric family's read lock, and every
//! label is a `&'static str` (route templates, provider names, status codes).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `creditgate_http_requests_total` | counter | `route`, `status` |
//! | `creditgate_http_request_duration_seconds` | histogram | `route` |
//! | `creditgate_upstream_requests_total` | counter | `provider`, `status` (0: no answer) |
//! | `creditgate_upstream_request_duration_seconds` | histogram | `provider` (one attempt) |
//! | `creditgate_upstream_retries_total` | counter | `provider` |
//! | `creditgate_panics_total` | counter | |
//! | `creditgate_connections_open` | gauge | |
//! | `creditgate_connections_shed_total` | counter | `reason` (`evicted`: an idle one closed for a newer one; `refused`: all busy) |
//! | `creditgate_redis_degraded` | gauge | |
//! | `creditgate_redis_errors_total` | counter | `operation` (`quota`, `pace`, `pause`, `reserve`, `record`, `publish`, `subscribe`) |
//! | `creditgate_writes_total` | counter | `provider`, `operation` (`create`, `void`, `expire`, `adjust`), `outcome` (`written`, `found`, `replayed`, `conflict`, `unknown`, `failed`) |

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::model::ProviderKind;

/// Bucket bounds of the duration histograms, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
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
        let histogram = |name: &str, help: &str, label: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
                &[label],
            )
        };
        let metrics = Metrics {
            registry: Registry::new(),
            http_requests: counter(
                "creditgate_http_requests_total",
                "Requests answered by creditgate.",
                &["route", "status"],
            )?,
            http_duration: histogram(
                "creditgate_http_request_duration_seconds",
                "Time from a request's arrival to its answer.",
                "route",
            )?,
            upstream_requests: counter(
                "creditgate_upstream_requests_total",
                "Calls made to vendors (status 0: no response).",
                &["provider", "status"],
            )?,
            upstream_duration: histogram(
                "creditgate_upstream_request_duration_seconds",
                "One attempt at a vendor call, from sending to the last body byte or the failure.",
                "provider",
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
        Ok(metrics)
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

/// One answered client request, by route template and status.
pub fn record_http(route: &'static str, status: u16, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.http_requests.with_label_values(&[route, status_label(status)]).inc();
        m.http_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }
}

/// One vendor call attempt that got an answer (`status`) or none (0).
pub fn record_upstream(provider: ProviderKind, status: u16) {
    if let Some(m) = metrics() {
        m.upstream_requests
            .with_label_values(&[provider.as_str(), status_label(status)])
            .inc();
    }
}

/// How long one vendor call attempt took, whatever its outcome.
pub fn record_upstream_duration(provider: ProviderKind, elapsed: Duration) {
    if let Some(m) = metrics() {
        m.upstream_duration
            .with_label_values(&[provider.as_str()])
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

/// The metrics as Prometheus text.
pub fn render() -> String {
    let Some(m) = metrics() else {
        return "# creditgate: metrics unavailable (see the log)\n".to_owned();
    };
    TextEncoder::new()
        .encode_to_string(&m.registry.gather())
        .unwrap_or_else(|e| format!("# creditgate: metrics could not be written: {e}\n"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_accepted() {
        assert!(Metrics::new().is_ok());
    }

    #[test]
    fn counters_and_histograms_render_as_prometheus_text() {
        install();
        record_http("/v1/unit_test_route", 200, Duration::from_micros(300));
        record_http("/v1/unit_test_route", 200, Duration::from_millis(3));
        record_upstream(ProviderKind::Togai, 599);
        record_upstream_duration(ProviderKind::Togai, Duration::from_millis(20));
        record_retry(ProviderKind::Togai);
        let text = render();
        assert!(
            text.contains("creditgate_upstream_retries_total{provider=\"togai\"}"),
            "{text}"
        );
        assert!(text.contains("creditgate_http_requests_total{route=\"/v1/unit_test_route\",status=\"200\"} 2"));
        assert!(text.contains("creditgate_upstream_requests_total{provider=\"togai\",status=\"599\"} 1"));
        // Histograms: cumulative buckets with an `le` bound, and a count.
        assert!(
            text.contains(
                "creditgate_http_request_duration_seconds_bucket{route=\"/v1/unit_test_route\",le=\"0.0005\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("creditgate_http_request_duration_seconds_count{route=\"/v1/unit_test_route\"} 2"));
        assert!(text.contains("creditgate_upstream_request_duration_seconds_bucket{provider=\"togai\",le=\"0.025\"} 1"));
    }

    #[test]
    fn status_labels_are_the_digits() {
        assert_eq!(status_label(0), "0");
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(700), "other");
    }
}
