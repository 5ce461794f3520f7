//! The events benchmark behind BENCHMARKS.md ("Events"), one run on this machine
//! (`scripts/events-bench.sh`): the Stripe simulator and the gateway (its store on disk,
//! every commit durable), served on loopback in this process, and a local receiver.
//!
//! 1. Ingest: `INGEST` signed Stripe deliveries (`billing.credit_balance_transaction.created`,
//!    each a distinct event) sent by `CONNECTIONS` clients as fast as answers come back:
//!    acknowledged deliveries a second (each durably queued before its 200).
//! 2. Delivery: after the backlog is read, Stripe deliveries of `billing.credit_grant.updated`
//!    at `RATE` a second for `SECONDS`; each makes one `credit_grant.updated` (the grant read
//!    again at the simulator) delivered to the receiver: latency from the event's
//!    `created` to its arrival, p50 and p99.
//!
//! Usage: `cargo bench --bench events -- [ingest count] [rate] [seconds]`. With
//! `BENCH_KIND=customer.created` the ingest sends a type creditgate acknowledges and does
//! not read, which measures intake alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::Demo;
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const CONNECTIONS: usize = 32;
const CUSTOMERS: usize = 50;

fn stripe_signature(secret: &str, body: &str) -> String {
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

fn delivery(n: usize, kind: &str) -> String {
    let customer = n % CUSTOMERS;
    let grant = format!("credgr_sim{customer:06}x00");
    let object = if kind == "billing.credit_grant.updated" {
        serde_json::json!({"id": grant, "object": "billing.credit_grant", "customer": format!("cus_sim{customer:06}")})
    } else {
        serde_json::json!({"id": format!("cbtxn_bench{n:09}"), "object": "billing.credit_balance_transaction", "credit_grant": grant})
    };
    serde_json::json!({"id": format!("evt_bench_{kind}_{n}"), "object": "event", "type": kind, "data": {"object": object}})
        .to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let ingest: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);

    // The receiver: when each event arrived, and when it was made.
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let kept = Arc::clone(&latencies);
    let receiver = axum::Router::new().fallback(axum::routing::post(move |body: axum::body::Bytes| {
        let kept = Arc::clone(&kept);
        async move {
            let arrived = time::OffsetDateTime::now_utc();
            if let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) {
                if event["type"] == "credit_grant.updated" {
                    let created = event["created"].as_str().and_then(|c| {
                        time::OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339).ok()
                    });
                    if let Some(created) = created {
                        kept.lock().unwrap().push((arrived - created).as_seconds_f64() * 1000.0);
                    }
                }
            }
            StatusCode::NO_CONTENT
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let options = SimOptions {
        customers: CUSTOMERS,
        entries_per_customer: 20,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let mut demo = Demo::start(&options).await.unwrap();
    demo.enable_events(&receiver_url).unwrap();
    let secret = demo.push_secret(Vendor::Stripe).unwrap();
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    config.events.first_retry_ms = 100;
    let gateway = Gateway::from_config(&config).unwrap();
    gateway.start_event_workers().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/v1/vendor_webhooks/stripe", listener.local_addr().unwrap());
    let app = creditgate::api::app(gateway.clone());
    let server = config.server.clone();
    tokio::spawn(async move { creditgate::api::serve(listener, app, &server, std::future::pending()).await });

    let http = reqwest::Client::new();
    let send = move |body: String| {
        let (http, hook, secret) = (http.clone(), hook.clone(), secret.clone());
        async move {
            let answer = http
                .post(&hook)
                .header("stripe-signature", stripe_signature(&secret, &body))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            answer.is_ok_and(|a| a.status().is_success())
        }
    };

    // 1. Ingest.
    let kind = std::env::var("BENCH_KIND").unwrap_or_else(|_| "billing.credit_balance_transaction.created".into());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (next, send, kind) = (Arc::clone(&next), send.clone(), kind.clone());
            tokio::spawn(async move {
                let mut failed = 0;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= ingest {
                        return failed;
                    }
                    if !send(delivery(n, &kind)).await {
                        failed += 1;
                    }
                }
            })
        })
        .collect();
    let mut failed = 0;
    for client in clients {
        failed += client.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ingest: {ingest} signed deliveries, {CONNECTIONS} connections, {elapsed:.2} s: {:.0} acknowledged/s ({failed} not 2xx)",
        ingest as f64 / elapsed
    );
    // The backlog (each queued event read: a grant lookup and the balances) drains.
    let drained = Instant::now();
    let sim = demo.simulator(Vendor::Stripe);
    let mut last = sim.requests();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sim.requests();
        if now == last {
            break;
        }
        last = now;
    }
    println!(
        "backlog read in {:.1} s after the last acknowledgement ({} simulator requests in all)",
        drained.elapsed().as_secs_f64() - 1.0,
        last
    );

    // 2. Delivery latency at a steady rate.
    latencies.lock().unwrap().clear();
    let total = (rate * seconds) as usize;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = Vec::with_capacity(total);
    for n in 0..total {
        ticker.tick().await;
        sent.push(tokio::spawn(send(delivery(ingest + n, "billing.credit_grant.updated"))));
    }
    let sending = started.elapsed().as_secs_f64();
    let mut acked = 0;
    for s in sent {
        acked += usize::from(s.await.unwrap());
    }
    let waited = Instant::now();
    while latencies.lock().unwrap().len() < acked && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sorted = latencies.lock().unwrap().clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "delivery: {total} pushes at {rate}/s over {sending:.1} s ({acked} acknowledged); {} events delivered: \
         latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.9),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
    gateway.stop_event_workers().await;
}
