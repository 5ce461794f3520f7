//! The fault matrix: for every way a vendor can fail, the client gets the documented
//! contract error within the deadline, never a partial page, never more attempts than
//! allowed. Faults wiremock cannot make (reset, drip, truncation) come from a raw TCP
//! server below.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{path, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

const SUMMARY: &str = "/v1/billing/credit_balance_summary";
const BALANCES: &str = "/v1/credit_balances?customer=stripe:cus_1";
/// Short deadlines so the matrix runs in seconds: 300 ms an attempt, 1 s a vendor call.
const UPSTREAM: &str = "attempt_timeout_ms = 300\ndeadline_ms = 1000\nmax_body_bytes = 4096\n\
                        retry = { base_delay_ms = 10, max_delay_ms = 50 }";
const DEADLINE: Duration = Duration::from_millis(1000);

/// Faults that need a socket rather than an HTTP response.
#[derive(Debug, Clone, Copy)]
enum RawFault {
    /// The connection is reset (RST) once the request is read.
    Reset,
    /// Headers promise 1000 bytes; 40 arrive, then the connection closes.
    Truncated,
    /// Headers at once, then the body one byte every 100 ms.
    Drip,
}

/// Serves `fault` on every connection; returns its base URL and a count of requests.
async fn raw_server(fault: RawFault) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let headers = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
                match fault {
                    RawFault::Reset => {
                        let _ = socket.set_zero_linger();
                    }
                    RawFault::Truncated => {
                        let _ = socket.write_all(headers.as_bytes()).await;
                        let _ = socket.write_all(br#"{"object":"billing.credit_balance_summ"#).await;
                    }
                    RawFault::Drip => {
                        let _ = socket.write_all(headers.as_bytes()).await;
                        for _ in 0..1000 {
                            if socket.write_all(b" ").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), requests)
}

enum Fault {
    Http(ResponseTemplate),
    Raw(RawFault),
}

struct Case {
    name: &'static str,
    fault: Fault,
    status: u16,
    code: &'static str,
    /// Vendor attempts allowed: the cap (3) for retried faults, 1 for final ones.
    attempts: std::ops::RangeInclusive<usize>,
    retry_after: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let http = |name, template, status, code, attempts| Case {
        name,
        fault: Fault::Http(template),
        status,
        code,
        attempts,
        retry_after: None,
    };
    let raw = |name, fault, status, code, attempts| Case {
        name,
        fault: Fault::Raw(fault),
        status,
        code,
        attempts,
        retry_after: None,
    };
    let rate_limit = || ResponseTemplate::new(429).set_body_json(fixture("stripe/error.rate-limit.json"));
    let ok_json = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    vec![
        Case {
            retry_after: Some("30"),
            ..http(
                "429 with a long Retry-After",
                rate_limit().insert_header("retry-after", "30"),
                503,
                "upstream_rate_limited",
                1..=1,
            )
        },
        Case {
            retry_after: Some("1"),
            ..http(
                "429 without Retry-After",
                rate_limit(),
                503,
                "upstream_rate_limited",
                3..=3,
            )
        },
        http(
            "500",
            ResponseTemplate::new(500).set_body_string("oops"),
            502,
            "upstream_server_error",
            3..=3,
        ),
        http("502", ResponseTemplate::new(502), 502, "upstream_server_error", 3..=3),
        http(
            "503",
            ResponseTemplate::new(503).set_body_string("<html>down</html>"),
            502,
            "upstream_server_error",
            3..=3,
        ),
        http(
            "slow headers",
            ok_json(json!({})).set_delay(Duration::from_secs(5)),
            504,
            "upstream_timeout",
            1..=3,
        ),
        http(
            "invalid JSON",
            ResponseTemplate::new(200).set_body_raw("{\"object\": ", "application/json"),
            502,
            "upstream_invalid_response",
            1..=1,
        ),
        http(
            "valid JSON of the wrong shape",
            ok_json(json!({"object": "billing.credit_balance_summary", "balances": "none"})),
            502,
            "upstream_invalid_response",
            1..=1,
        ),
        http(
            "a body over the size cap",
            ResponseTemplate::new(200).set_body_raw(vec![b' '; 10_000], "application/json"),
            502,
            "upstream_invalid_response",
            1..=1,
        ),
        http(
            "wrong content type",
            ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
            502,
            "upstream_invalid_response",
            1..=1,
        ),
        raw("connection reset", RawFault::Reset, 503, "upstream_unreachable", 3..=3),
        raw("slow body drip", RawFault::Drip, 504, "upstream_timeout", 1..=3),
        raw(
            "truncated body",
            RawFault::Truncated,
            502,
            "upstream_invalid_response",
            3..=3,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_gets_its_contract_error_within_the_deadline() {
    for case in cases() {
        let (raw_url, raw_requests) = match case.fault {
            Fault::Raw(fault) => {
                let (url, count) = raw_server(fault).await;
                (Some(url), Some(count))
            }
            Fault::Http(_) => (None, None),
        };
        let h = Harness::with(Options {
            upstream: UPSTREAM,
            stripe_base_url: raw_url,
            ..Options::new()
        })
        .await;
        if let Fault::Http(template) = &case.fault {
            Mock::given(path(SUMMARY))
                .respond_with(template.clone())
                .mount(&h.stripe)
                .await;
        }
        let started = Instant::now();
        let r = h.get(BALANCES).await;
        let elapsed = started.elapsed();
        let name = case.name;
        assert_eq!((r.status, r.code()), (case.status, case.code), "{name}: {}", r.body);
        assert_eq!(r.body["error"]["provider"], "stripe", "{name}");
        assert!(r.body["error"]["request_id"].is_string(), "{name}");
        assert!(r.body.get("data").is_none(), "{name}: no data beside an error");
        assert!(
            elapsed < DEADLINE + Duration::from_millis(300),
            "{name}: answered after {elapsed:?}"
        );
        let attempts = match raw_requests {
            Some(count) => count.load(Ordering::SeqCst),
            None => h.stripe_requests().await.len(),
        };
        assert!(case.attempts.contains(&attempts), "{name}: {attempts} attempts");
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            case.retry_after,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_vendor_failing_mid_walk_gives_an_error_not_a_partial_page() {
    let h = Harness::with(Options {
        upstream: UPSTREAM,
        stripe_page_size: Some(5),
        ..Options::new()
    })
    .await;
    let url = "/v1/billing/credit_balance_transactions";
    let first: Vec<_> = (0..5).map(stripe_txn).collect();
    Mock::given(path(url))
        .and(query_param_is_missing("starting_after"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "url": url, "has_more": true, "data": first})),
        )
        .mount(&h.stripe)
        .await;
    Mock::given(path(url))
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.stripe)
        .await;
    let r = h.get("/v1/credit_ledger_entries?customer=stripe:cus_1&limit=8").await;
    assert_eq!((r.status, r.code()), (502, "upstream_server_error"), "{}", r.body);
    assert!(r.body.get("data").is_none());
    // A page the first vendor page fills is still whole.
    let r = h.get("/v1/credit_ledger_entries?customer=stripe:cus_1&limit=4").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r).len(), 4);
    assert_eq!(r.body["has_more"], true);
}
