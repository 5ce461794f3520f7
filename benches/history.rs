//! A year of balance history by day (`GET /v1/credit_balance_history`) for a customer with
//! 10,000 ledger entries, served in process through the router:
//! - `computed`: the vendor's pages already in the vendor cache, the answer made afresh
//!   (each iteration asks for another window end, so the answer cache cannot answer it);
//! - `answer_cache`: the same request again, answered whole from the answer cache.

use axum::body::Body;
use axum::http::Request;
use creditgate::model::ProviderKind;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::{Demo, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use criterion::{criterion_group, criterion_main, Criterion};
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

fn history(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = SimOptions {
        customers: 1,
        entries_per_customer: 10_000,
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
    let customer = format!("stripe:{}", demo.simulator(Vendor::Stripe).customer_id(0));
    // The simulators date their ledgers from 2024-01-01, an entry a minute.
    // Each `n` a window ending a second later: another answer, the same vendor pages.
    let path = |n: u32| {
        format!(
            "/v1/credit_balance_history?customer={customer}&unit=USD&from=2024-01-01T00:00:00Z\
             &to=2024-12-30T{:02}:{:02}:{:02}Z&interval=day",
            n / 3600 % 24,
            n / 60 % 60,
            n % 60
        )
    };
    runtime.block_on(get(&app, &path(0)));
    let mut group = c.benchmark_group("history_year_by_day_10k_entries");
    let mut second = 0;
    group.bench_function("computed", |b| {
        b.iter(|| {
            second += 1;
            runtime.block_on(get(&app, &path(second)))
        })
    });
    group.bench_function("answer_cache", |b| b.iter(|| runtime.block_on(get(&app, &path(0)))));
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
