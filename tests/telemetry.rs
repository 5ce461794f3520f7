//! Traces over OTLP (README.md, "Traces"): the `creditgate` binary over the demo's
//! simulators, with `[telemetry]` pointing at a test OTLP/HTTP receiver that decodes every
//! export. One alias read and one write (sent twice) are traced under the trace ids their
//! clients sent in `traceparent`, with the spans the README names; the vendors receive the
//! trace; and the log lines written inside a request carry its trace id.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use common::process::{creditgate, KillOnDrop};
use creditgate_sim::demo::{Demo, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// A span as the receiver decoded it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    /// 2: server, 3: client (OTLP's `SpanKind`).
    kind: i32,
    attributes: HashMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver on `/v1/traces` (protobuf), keeping every span it is sent.
async fn start_receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let export = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                let mut kept = kept.lock().unwrap();
                for span in export
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(AnyValue::StringValue(s)) => s.clone(),
                                Some(AnyValue::IntValue(i)) => i.to_string(),
                                Some(AnyValue::BoolValue(b)) => b.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect();
                    kept.push(Received {
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        kind: span.kind,
                        attributes,
                    });
                }
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), spans)
}

/// The Stripe simulator of `demo` behind a front that keeps each request's `traceparent`.
async fn recording_stripe(demo: &Demo) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = seen.clone();
    let app = demo.simulator(Vendor::Stripe).router().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let kept = kept.clone();
            async move {
                if let Some(value) = request.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
                    kept.lock().unwrap().push(value.to_owned());
                }
                next.run(request).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

const READ_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const WRITE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn traceparent(trace: &str) -> String {
    format!("00-{trace}-{CLIENT_SPAN}-01")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_read_and_a_write_are_traced_under_the_clients_trace_ids() {
    let options = SimOptions {
        seed: 7,
        customers: 2,
        entries_per_customer: 5,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    let (collector, spans) = start_receiver().await;
    let (stripe, traceparents) = recording_stripe(&demo).await;
    let config = demo
        .config_toml("127.0.0.1:0", None)
        .replace(&demo.base_url(Vendor::Stripe), &stripe)
        + &format!("\n[telemetry]\nendpoint = \"{collector}\"\nbatch_delay_ms = 100\n");
    let path = demo.dir().join("traced.toml");
    std::fs::write(&path, config).unwrap();

    let mut child = KillOnDrop(
        creditgate()
            .args(["serve", "--log-format", "json", "--config"])
            .arg(&path)
            .env("CREDITGATE_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines, received) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let addr = loop {
        let line = received.recv_timeout(Duration::from_secs(60)).unwrap();
        if let Some(addr) = line.strip_prefix("creditgate listening on http://") {
            break addr.to_owned();
        }
    };
    let http = reqwest::Client::new();
    let read = http
        .get(format!("http://{addr}/v1/credit_balances?customer=acme"))
        .bearer_auth(DEMO_API_KEY)
        .header("traceparent", traceparent(READ_TRACE))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let customer = format!("stripe:{}", demo.simulator(Vendor::Stripe).customer_id(0));
    let grant = serde_json::json!({"customer": customer, "amount": {"value": "5.00", "unit": "USD"}, "name": "Traced"});
    for _ in 0..2 {
        let write = http
            .post(format!("http://{addr}/v1/credit_grants"))
            .bearer_auth(DEMO_API_KEY)
            .header("idempotency-key", "traced-write-1")
            .header("traceparent", traceparent(WRITE_TRACE))
            .header("content-type", "application/json")
            .body(grant.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(write.status(), 200, "{}", write.text().await.unwrap());
    }

    // Spans are exported every 100 ms; wait for both writes' spans.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let now: Vec<Received> = spans.lock().unwrap().clone();
        let writes = now.iter().filter(|s| s.name == "write create").count();
        if writes >= 2 || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut logged = Vec::new();
    while let Ok(line) = received.try_recv() {
        logged.push(line);
    }
    drop(child);

    // The read: a server span under the client's span, every vendor's cache decision and
    // attempts under it, in the client's trace.
    let read_spans: Vec<&Received> = spans.iter().filter(|s| s.trace_id == READ_TRACE).collect();
    let request = read_spans
        .iter()
        .find(|s| s.name == "GET /v1/credit_balances")
        .unwrap_or_else(|| panic!("no request span in {read_spans:#?}"));
    assert_eq!(request.kind, 2, "a server span");
    assert_eq!(request.parent_span_id, CLIENT_SPAN);
    assert_eq!(request.attributes["http.response.status_code"], "200");
    assert_eq!(request.attributes["http.route"], "/v1/credit_balances");
    let answer_cache = read_spans
        .iter()
        .find(|s| s.name == "cache answer")
        .unwrap_or_else(|| panic!("{read_spans:#?}"));
    assert_eq!(answer_cache.attributes["cache.outcome"], "miss");
    assert_eq!(answer_cache.parent_span_id, request.span_id);
    let vendors_cached: std::collections::BTreeSet<&str> = read_spans
        .iter()
        .filter(|s| s.name == "cache vendor")
        .map(|s| s.attributes["cache.subject"].as_str())
        .collect();
    let attempted: std::collections::BTreeSet<&str> = read_spans
        .iter()
        .filter(|s| s.attributes.contains_key("endpoint"))
        .map(|s| {
            assert_eq!(s.kind, 3, "a client span: {s:?}");
            assert_eq!(
                s.name,
                format!("{} {}", s.attributes["vendor"], s.attributes["endpoint"])
            );
            assert_ne!(s.attributes["endpoint"], "other", "{s:?}");
            assert_eq!(s.attributes["retry"], "0", "{s:?}");
            assert!(s.attributes.contains_key("http.response.status_code"), "{s:?}");
            assert!(s.attributes["url.path"].starts_with('/'), "{s:?}");
            s.attributes["vendor"].as_str()
        })
        .collect();
    let every: std::collections::BTreeSet<&str> = Vendor::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(attempted, every, "one vendor attempt at least per vendor of the alias");
    assert!(vendors_cached.contains("stripe"), "{vendors_cached:?}");

    // The write, twice: a `write` span under each request, new then replayed; the vendor
    // attempt only under the first.
    let write_spans: Vec<&Received> = spans.iter().filter(|s| s.trace_id == WRITE_TRACE).collect();
    let requests: Vec<&&Received> = write_spans
        .iter()
        .filter(|s| s.name == "POST /v1/credit_grants")
        .collect();
    assert_eq!(requests.len(), 2, "{write_spans:#?}");
    assert!(requests.iter().all(|r| r.parent_span_id == CLIENT_SPAN));
    let mut outcomes: Vec<&str> = write_spans
        .iter()
        .filter(|s| s.name == "write create")
        .map(|s| {
            assert!(requests.iter().any(|r| r.span_id == s.parent_span_id), "{s:?}");
            assert_eq!(s.attributes["vendor"], "stripe");
            s.attributes["idempotency"].as_str()
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["new", "replayed"], "{write_spans:#?}");
    let posted: Vec<&&Received> = write_spans
        .iter()
        .filter(|s| s.name == "stripe POST /v1/billing/credit_grants")
        .collect();
    assert_eq!(posted.len(), 1, "one vendor write: {write_spans:#?}");

    // Stripe was sent the trace of each request that reached it.
    let traceparents = traceparents.lock().unwrap();
    for trace in [READ_TRACE, WRITE_TRACE] {
        assert!(
            traceparents.iter().any(|t| t.starts_with(&format!("00-{trace}-"))),
            "{trace} not in {traceparents:?}"
        );
    }
    assert!(
        traceparents.iter().all(|t| !t.contains(CLIENT_SPAN)),
        "the vendor's parent is creditgate's attempt"
    );

    // Every line logged about a request carries its id, and its trace id.
    let request_lines: Vec<serde_json::Value> = logged
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["span"]["name"] == "request")
        .collect();
    assert!(!request_lines.is_empty(), "{logged:#?}");
    for line in &request_lines {
        assert!(line["span"]["request_id"].is_string(), "{line}");
        let trace = line["span"]["trace_id"].as_str().unwrap_or_default();
        assert!(trace == READ_TRACE || trace == WRITE_TRACE, "{line}");
    }
}
