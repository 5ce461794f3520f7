//! A year of balance history by day (`GET /v1/credit_balance_history`) for a customer with
//! 10,000 ledger entries, served in process through the router:
//! - `computed`: the answer made afresh (each iteration asks for another window end, so the
//!   answer cache cannot answer it) from the customer's kept timeline;
//! - `answer_cache`: the same request again, answered whole from the answer cache;
//! - `fresh`: with `Cache-Control: no-cache`, the whole ledger read again from the
//!   simulator (in this process: its time is counted too).

use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use criterion::{criterion_group, criterion_main, Criterion};

mod common;

async fn get(app: &creditgate::api::App, path: &str) -> usize {
    common::get_len(app, path, &[("authorization", &format!("Bearer {DEMO_API_KEY}"))]).await
}

/// The same, with `Cache-Control: no-cache`: every vendor page read again, nothing kept used.
async fn get_fresh(app: &creditgate::api::App, path: &str) -> usize {
    let key = format!("Bearer {DEMO_API_KEY}");
    common::get_len(app, path, &[("authorization", &key), ("cache-control", "no-cache")]).await
}

fn history(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (demo, gateway) = runtime.block_on(common::cached_gateway(1, 10_000));
    let app = creditgate::api::app(gateway);
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
    group.bench_function("fresh", |b| b.iter(|| runtime.block_on(get_fresh(&app, &path(0)))));
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
