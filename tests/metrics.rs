//! `/metrics` as operators chart it: every series of a closed label list is there before
//! the first request, at zero; labels name routes, methods and status classes.

mod common;

use common::*;

#[tokio::test]
async fn every_series_of_a_closed_list_is_there_at_start() {
    let h = Harness::new().await;
    // Before any /v1 request: every series of a closed label list is there at zero.
    let at_start = h.api.get_as("/metrics", None, &[]).await;
    let text = at_start.body.as_str().unwrap().to_owned();
    for series in [
        "creditgate_build_info{version=",
        "creditgate_writes_total{operation=\"create\",outcome=\"written\",provider=\"stripe\"} 0",
        "creditgate_upstream_retries_total{provider=\"togai\"} 0",
        "creditgate_vendor_cache_total{provider=\"lago\",result=\"hit\"} 0",
        "creditgate_answer_cache_total{result=\"miss\",route=\"/v1/credit_balances\"} 0",
        "creditgate_vendor_webhooks_total{outcome=\"refused\",provider=\"metronome\"} 0",
        "creditgate_events_total{type=\"credit_balance.low\"} 0",
        "creditgate_event_deliveries_total{outcome=\"failed\"} 0",
        "creditgate_circuit_state{provider=\"vayu\"} 0",
        "creditgate_http_requests_in_flight",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(series), "{series} missing at start");
    }
    assert!(
        text.contains("creditgate_rate_limited_total{key="),
        "one series per key name"
    );
    h.api.get("/v1/providers").await;
    // Refused before any vendor call, but computed: a miss of the answer cache.
    assert_eq!(h.api.get("/v1/credit_balances").await.status, 400);
    let after = h.api.get_as("/metrics", None, &[]).await;
    let text = after.body.as_str().unwrap();
    assert!(text.contains("creditgate_http_requests_total{method=\"GET\",route=\"/v1/providers\",status=\"200\"} 1"));
    assert!(text.contains(
        "creditgate_http_request_duration_seconds_bucket{class=\"2xx\",method=\"GET\",route=\"/v1/providers\",le=\"15\"} 1"
    ));
    assert!(
        text.contains("creditgate_answer_cache_total{result=\"miss\",route=\"/v1/credit_balances\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("creditgate_http_requests_in_flight 1"),
        "only the scrape itself: {text}"
    );
}
