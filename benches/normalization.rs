//! Normalization: a client page of 100 ledger entries from each vendor's dialect, with the
//! vendor's answer already in the vendor cache. What is timed is what creditgate itself
//! does for a client answer it has not kept: the vendor cache lookup, parsing the vendor
//! JSON into the spec's serde structs, mapping to the normalized model (exact money, enum
//! tables, signs), and writing the contract's JSON. The listing is called on the gateway
//! itself: through the router, the answer cache would answer every request after the first
//! (what `scripts/bench.sh` measures as a hit).

use creditgate::paging::Limit;
use creditgate::upstream::CacheUse;
use creditgate::LedgerQuery;
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;

fn normalization(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (demo, gateway) = runtime.block_on(common::cached_gateway(2, 400));
    let (caller, _) = runtime.block_on(gateway.authenticate(DEMO_API_KEY)).unwrap();
    // One client answer: the listing, then its JSON.
    let answer = |query: &LedgerQuery| {
        runtime.block_on(async {
            let cache = CacheUse::new(false);
            let page = gateway.list_ledger_entries(&caller, query, &cache).await.unwrap();
            cache.commit().await;
            serde_json::to_vec(&page).unwrap().len()
        })
    };
    let mut group = c.benchmark_group("normalize_ledger_page_100");
    group.throughput(Throughput::Elements(100));
    for vendor in Vendor::ALL {
        let query = LedgerQuery {
            customer: format!("{vendor}:{}", demo.simulator(vendor).customer_id(0)),
            limit: "100".parse::<Limit>().unwrap(),
            ..LedgerQuery::default()
        };
        answer(&query);
        group.bench_function(vendor.as_str(), |b| b.iter(|| answer(&query)));
    }
    group.finish();
}

criterion_group!(benches, normalization);
criterion_main!(benches);
