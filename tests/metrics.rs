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
        // Each configured vendor's endpoints, from its provider file: templates, never ids.
        "creditgate_upstream_request_duration_seconds_count{endpoint=\"GET /v1/billing/credit_grants/{id}\",provider=\"stripe\"} 0",
        "creditgate_upstream_request_duration_seconds_count{endpoint=\"other\",provider=\"stripe\"} 0",
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

/// `docs/grafana-dashboard.json` charts only series creditgate exports (a histogram by its
/// `_bucket` series).
#[test]
fn the_example_dashboard_uses_only_series_creditgate_exports() {
    creditgate::metrics::install();
    creditgate::metrics::start_series(&["billing-app"], &["/v1/credit_balances"]);
    // The series with a status label appear with their first use.
    let provider = creditgate::model::ProviderKind::Stripe;
    creditgate::metrics::record_http("/v1/credit_balances", "GET", 200, std::time::Duration::from_millis(1));
    creditgate::metrics::record_upstream(provider, "GET /v1/billing/credit_grants", 200);
    creditgate::metrics::record_upstream_duration(
        provider,
        "GET /v1/billing/credit_grants",
        std::time::Duration::from_millis(1),
    );
    creditgate::metrics::record_redis_error("quota");
    let exported = creditgate::metrics::render();
    let path = format!("{}/docs/grafana-dashboard.json", env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().iter())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    exprs.extend(
        dashboard["annotations"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["expr"].as_str().unwrap().to_owned()),
    );
    let mut charted = std::collections::BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("creditgate_").or_else(|| rest.find("process_")) {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            charted.insert(name);
        }
    }
    assert!(charted.len() >= 15, "{charted:?}");
    for name in &charted {
        let family = name.strip_suffix("_bucket").unwrap_or(name);
        assert!(
            exported.contains(&format!("# TYPE {family} ")),
            "the dashboard charts {name}, which creditgate does not export"
        );
    }
}

/// `docs/creditgate.service` starts the binary with flags it takes (a missing config is the
/// only complaint), and passes `systemd-analyze verify` where systemd is installed.
#[test]
fn the_example_systemd_unit_runs_the_binary_with_flags_it_takes() {
    let unit = std::fs::read_to_string(format!("{}/docs/creditgate.service", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let exec = unit.lines().find_map(|line| line.strip_prefix("ExecStart=")).unwrap();
    let mut args = exec.split_whitespace().skip(1).map(str::to_owned).collect::<Vec<_>>();
    let config = args.iter().position(|a| a == "--config").unwrap() + 1;
    args[config] = "/nonexistent/creditgate.toml".into();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_creditgate"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/creditgate.toml"),
        "the flags parse; only the config is missing: {stderr}"
    );
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = std::env::temp_dir().join(format!("creditgate-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let local = dir.join("creditgate.service");
        std::fs::write(
            &local,
            unit.replace("/usr/local/bin/creditgate", env!("CARGO_BIN_EXE_creditgate")),
        )
        .unwrap();
        let verify = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&local)
            .output()
            .unwrap();
        assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
        let _ = std::fs::remove_dir_all(dir);
    }
}
