//! What the in-process benches share: the demo's simulators and a gateway over them.

use creditgate::model::ProviderKind;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::Demo;
use creditgate_sim::{RateLimit, SimOptions};

/// Simulators of `customers` customers with `entries` ledger entries each (no rate limits),
/// and an unthrottled gateway over them whose vendor answers stay cached for the whole run.
pub async fn cached_gateway(customers: usize, entries: usize) -> (Demo, Gateway) {
    let options = SimOptions {
        customers,
        entries_per_customer: entries,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    config.upstream.cache_ttl_secs = ProviderKind::ALL.into_iter().map(|p| (p, 3600)).collect();
    let gateway = Gateway::from_config(&config).unwrap();
    (demo, gateway)
}

/// `GET path` through `app` with `headers` (the API key or a console session, …): the
/// answer's length, after checking it succeeded. The normalization bench calls the
/// gateway directly and has no use for it.
#[allow(dead_code)]
pub async fn get_len(app: &creditgate::api::App, path: &str, headers: &[(&str, &str)]) -> usize {
    use tower::ServiceExt;
    let mut request = axum::http::Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(axum::body::Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .len()
}
