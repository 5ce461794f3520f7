//! What creditgate counts and times, served at `/metrics` in the Prometheus text format,
//! through the `metrics` facade and its Prometheus exporter. Recording takes no lock of
//! ours: the exporter's registry is sharded and its handles atomic, and every label here is
//! a `&'static str` (route templates, provider names, status codes), so nothing is
//! allocated per request.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `creditgate_http_requests_total` | counter | `route`, `status` |
//! | `creditgate_http_request_duration_seconds` | histogram | `route` |
//! | `creditgate_upstream_requests_total` | counter | `provider`, `status` (0: no answer) |
//! | `creditgate_upstream_request_duration_seconds` | histogram | `provider` (one attempt) |
//! | `creditgate_upstream_retries_total` | counter | `provider` |

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::model::ProviderKind;

/// Bucket bounds of the duration histograms, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The exporter's handle: installed as the process's recorder on first use. `None` when the
/// process already had another recorder (an embedding application's); then it renders that
/// nothing is exported here.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), &DURATION_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics exports nothing");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!("creditgate_http_requests_total", "Requests answered by creditgate.");
    metrics::describe_histogram!(
        "creditgate_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer."
    );
    metrics::describe_counter!(
        "creditgate_upstream_requests_total",
        "Calls made to vendors (status 0: no response)."
    );
    metrics::describe_histogram!(
        "creditgate_upstream_request_duration_seconds",
        metrics::Unit::Seconds,
        "One attempt at a vendor call, from sending to the last body byte or the failure."
    );
    metrics::describe_counter!(
        "creditgate_upstream_retries_total",
        "Vendor call attempts that were retries."
    );
}

/// Installs the recorder (if not yet done), so that the first scrape already lists the
/// metrics' descriptions. Called when the HTTP application is built.
pub fn install() {
    let _ = handle();
}

/// One answered client request, by route template and status.
pub fn record_http(route: &'static str, status: u16, elapsed: Duration) {
    let status = status_label(status);
    counter!("creditgate_http_requests_total", "route" => route, "status" => status).increment(1);
    histogram!("creditgate_http_request_duration_seconds", "route" => route).record(elapsed);
}

/// One vendor call attempt that got an answer (`status`) or none (0).
pub fn record_upstream(provider: ProviderKind, status: u16) {
    let status = status_label(status);
    counter!("creditgate_upstream_requests_total", "provider" => provider.as_str(), "status" => status).increment(1);
}

/// How long one vendor call attempt took, whatever its outcome.
pub fn record_upstream_duration(provider: ProviderKind, elapsed: Duration) {
    histogram!("creditgate_upstream_request_duration_seconds", "provider" => provider.as_str()).record(elapsed);
}

/// One retried vendor call attempt.
pub fn record_retry(provider: ProviderKind) {
    counter!("creditgate_upstream_retries_total", "provider" => provider.as_str()).increment(1);
}

/// The metrics as Prometheus text.
pub fn render() -> String {
    match handle() {
        Some(handle) => handle.render(),
        None => "# creditgate: another metrics recorder is installed in this process\n".to_owned(),
    }
}

/// A status code as a label without allocating: three ASCII digits from a static table.
fn status_label(status: u16) -> &'static str {
    static LABELS: OnceLock<Vec<String>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..600).map(|code| code.to_string()).collect());
    labels.get(usize::from(status)).map_or("other", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Histograms, not summaries: cumulative buckets with an `le` bound.
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
