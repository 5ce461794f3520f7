//! The console's customer page (`GET /console/customer`), rendered in process through the
//! router, signed in as the demo key, for a customer with 10,000 ledger entries at each
//! vendor, the vendors' pages already in the vendor cache (the page itself is never kept:
//! each request reads the balances, a page of grants and of the ledger, alerts and events,
//! and computes the chart's history from the whole ledger):
//! - `stripe_year_by_day`: one vendor, the chart over a year by day (365 points);
//! - `alias_six_vendors_30_days`: the demo alias over all six vendors, the default chart.

use axum::body::Body;
use axum::http::{header, Request};
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

mod common;

async fn send(app: &creditgate::api::App, request: Request<Body>) -> (axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// `name=value` of the cookie a response sets.
fn cookie(headers: &axum::http::HeaderMap) -> String {
    let set = headers[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Signs in as the demo key: the session cookie.
async fn sign_in(app: &creditgate::api::App) -> String {
    let (headers, page) = send(app, Request::get("/console/sign-in").body(Body::empty()).unwrap()).await;
    let marker = "name=\"csrf\" value=\"";
    let csrf = page[page.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap();
    let form = format!("csrf={csrf}&key={DEMO_API_KEY}");
    let request = Request::post("/console/sign-in")
        .header(header::COOKIE, cookie(&headers))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (headers, _) = send(app, request).await;
    cookie(&headers)
}

async fn page(app: &creditgate::api::App, session: &str, path: &str) -> usize {
    common::get_len(app, path, &[("cookie", session)]).await
}

fn customer_page(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (demo, gateway) = runtime.block_on(common::cached_gateway(1, 10_000));
    let app = creditgate::api::app(gateway);
    let session = runtime.block_on(sign_in(&app));
    let stripe = format!(
        "/console/customer?customer=stripe%3A{}&window=365d",
        demo.simulator(Vendor::Stripe).customer_id(0)
    );
    let alias = "/console/customer?customer=acme".to_owned();
    // Warm: every vendor's pages in the vendor cache.
    for path in [&stripe, &alias] {
        runtime.block_on(page(&app, &session, path));
    }
    let mut group = c.benchmark_group("console_customer_page_10k_entries");
    group.bench_function("stripe_year_by_day", |b| {
        b.iter(|| runtime.block_on(page(&app, &session, &stripe)))
    });
    group.bench_function("alias_six_vendors_30_days", |b| {
        b.iter(|| runtime.block_on(page(&app, &session, &alias)))
    });
    group.finish();
}

criterion_group!(benches, customer_page);
criterion_main!(benches);
