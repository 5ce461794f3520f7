//! Process-wide counters exposed at `/metrics` in the Prometheus text format.
//! A handful of labelled counters do not justify a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::model::ProviderKind;

static HTTP: Mutex<BTreeMap<(String, u16), u64>> = Mutex::new(BTreeMap::new());
static UPSTREAM: Mutex<BTreeMap<(ProviderKind, u16), u64>> = Mutex::new(BTreeMap::new());

/// One answered client request, by matched route template and status.
pub fn record_http(route: &str, status: u16) {
    if let Ok(mut map) = HTTP.lock() {
        *map.entry((route.to_owned(), status)).or_default() += 1;
    }
}

/// One vendor call, by provider and status (0 when no HTTP status came back).
pub fn record_upstream(provider: ProviderKind, status: u16) {
    if let Ok(mut map) = UPSTREAM.lock() {
        *map.entry((provider, status)).or_default() += 1;
    }
}

static RETRIES: Mutex<BTreeMap<ProviderKind, u64>> = Mutex::new(BTreeMap::new());

/// One retried vendor call attempt.
pub fn record_retry(provider: ProviderKind) {
    if let Ok(mut map) = RETRIES.lock() {
        *map.entry(provider).or_default() += 1;
    }
}

/// The current counters as Prometheus text.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("# HELP creditgate_http_requests_total Requests answered by creditgate.\n");
    out.push_str("# TYPE creditgate_http_requests_total counter\n");
    if let Ok(map) = HTTP.lock() {
        for ((route, status), n) in map.iter() {
            let _ = writeln!(
                out,
                "creditgate_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP creditgate_upstream_requests_total Calls made to vendors (status 0: no response).\n");
    out.push_str("# TYPE creditgate_upstream_requests_total counter\n");
    if let Ok(map) = UPSTREAM.lock() {
        for ((provider, status), n) in map.iter() {
            let _ = writeln!(
                out,
                "creditgate_upstream_requests_total{{provider=\"{provider}\",status=\"{status}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP creditgate_upstream_retries_total Vendor call attempts that were retries.\n");
    out.push_str("# TYPE creditgate_upstream_retries_total counter\n");
    if let Ok(map) = RETRIES.lock() {
        for (provider, n) in map.iter() {
            let _ = writeln!(out, "creditgate_upstream_retries_total{{provider=\"{provider}\"}} {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        record_http("/v1/unit_test_route", 200);
        record_http("/v1/unit_test_route", 200);
        record_upstream(ProviderKind::Togai, 599);
        record_retry(ProviderKind::Togai);
        let text = render();
        assert!(text.contains("creditgate_upstream_retries_total{provider=\"togai\"}"));
        assert!(text.contains("creditgate_http_requests_total{route=\"/v1/unit_test_route\",status=\"200\"} 2"));
        assert!(text.contains("creditgate_upstream_requests_total{provider=\"togai\",status=\"599\"} 1"));
    }
}
