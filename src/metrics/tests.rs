//! The definitions are accepted, and what is counted renders as Prometheus text.

use super::*;

#[test]
fn the_definitions_are_accepted() {
    assert!(Metrics::new().is_ok());
}

#[test]
fn counters_and_histograms_render_as_prometheus_text() {
    install();
    record_http("/v1/unit_test_route", "GET", 200, Duration::from_micros(300));
    record_http("/v1/unit_test_route", "GET", 200, Duration::from_millis(3));
    record_upstream(ProviderKind::Togai, "GET /credits", 599);
    record_upstream_duration(ProviderKind::Togai, "GET /credits", Duration::from_millis(20));
    record_retry(ProviderKind::Togai);
    let text = render();
    assert!(
        text.contains("creditgate_upstream_retries_total{provider=\"togai\"}"),
        "{text}"
    );
    assert!(
        text.contains("creditgate_http_requests_total{method=\"GET\",route=\"/v1/unit_test_route\",status=\"200\"} 2")
    );
    assert!(text
        .contains("creditgate_upstream_requests_total{endpoint=\"GET /credits\",provider=\"togai\",status=\"599\"} 1"));
    // Histograms: cumulative buckets with an `le` bound, and a count.
    assert!(
        text.contains(
            "creditgate_http_request_duration_seconds_bucket{class=\"2xx\",method=\"GET\",route=\"/v1/unit_test_route\",le=\"0.0005\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "creditgate_http_request_duration_seconds_count{class=\"2xx\",method=\"GET\",route=\"/v1/unit_test_route\"} 2"
    ));
    assert!(text.contains("creditgate_upstream_request_duration_seconds_bucket{endpoint=\"GET /credits\",provider=\"togai\",le=\"0.025\"} 1"));
}

#[test]
fn status_labels_are_the_digits() {
    assert_eq!(status_label(0), "0");
    assert_eq!(status_label(404), "404");
    assert_eq!(status_label(700), "other");
}
