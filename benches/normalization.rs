//! Normalization: a client page of 100 ledger entries from each vendor's dialect, with the
//! vendor's answer already in the cache. What is timed is what creditgate itself does per
//! request: routing and auth, the cache lookup, parsing the vendor JSON into the spec's
//! serde structs, mapping to the normalized model (exact money, enum tables, signs), and
//! writing the contract's JSON.

use axum::body::Body;
use axum::http::Request;
use creditgate::model::ProviderKind;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::{Demo, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tower::ServiceExt;

async fn get(app: &axum::Router, path: &str) -> usize {
    let request = Request::get(path)
        .header("authorization", format!("Bearer {DEMO_API_KEY}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .len()
}

fn normalization(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = SimOptions {
        customers: 2,
        entries_per_customer: 400,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let (demo, app) = runtime.block_on(async {
        let demo = Demo::start(&options).await.unwrap();
        let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
        config.unthrottle();
        // The vendor answers stay cached for the whole run.
        config.upstream.cache_ttl_secs = ProviderKind::ALL.into_iter().map(|p| (p, 3600)).collect();
        let app = creditgate::api::router(Gateway::from_config(&config).unwrap());
        (demo, app)
    });
    let mut group = c.benchmark_group("normalize_ledger_page_100");
    group.throughput(Throughput::Elements(100));
    for vendor in Vendor::ALL {
        let customer = demo.simulator(vendor).customer_id(0);
        let path = format!("/v1/credit_ledger_entries?customer={vendor}:{customer}&limit=100");
        runtime.block_on(get(&app, &path));
        group.bench_function(vendor.as_str(), |b| b.iter(|| runtime.block_on(get(&app, &path))));
    }
    group.finish();
}

criterion_group!(benches, normalization);
criterion_main!(benches);
