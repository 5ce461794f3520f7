//! Resilience under load: a stalled vendor does not slow another (the per-vendor bulkhead),
//! health, readiness and metrics never wait behind vendor traffic, and the listener's
//! bounds hold against idle sockets and slow write bodies. Quotas, pace, retries and the
//! breaker are in `resilience.rs`.

mod common;

use std::time::{Duration, Instant};

use common::faults::*;
use common::*;
use wiremock::matchers::path;
use wiremock::Mock;

/// `clients` requests for Stripe balances (customers `cus_0`...), each in its own task.
fn ask_stripe_balances(h: &Harness, clients: usize) -> Vec<tokio::task::JoinHandle<TestResponse>> {
    (0..clients)
        .map(|i| {
            let app = h.api.app.clone();
            tokio::spawn(async move {
                Api::new(app, API_KEY)
                    .get(&format!("/v1/credit_balances?customer=stripe:cus_{i}"))
                    .await
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_vendor_does_not_slow_another() {
    let h = Harness::with(Options {
        upstream: "max_concurrency_per_vendor = 2\nattempt_timeout_ms = 60000\ndeadline_ms = 60000",
        inbound: "max_in_flight = 8",
        ..Options::new()
    })
    .await;
    stripe_always(&h, ok_summary().set_delay(Duration::from_secs(30))).await;
    Mock::given(path("/accounts/ACC001/credit_balance"))
        .respond_with(togai_balance())
        .mount(&h.togai)
        .await;
    // Twenty clients ask the stalled vendor at once: more than the gateway serves at once.
    let stalled = ask_stripe_balances(&h, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let r = h
            .get_as("/v1/credit_balances?customer=togai:ACC001", Some(API_KEY), NO_CACHE)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    // All but the two in flight were refused at once, not queued behind the stall.
    let mut saturated = 0;
    for task in &stalled {
        if task.is_finished() {
            saturated += 1;
        }
    }
    assert_eq!(saturated, 18);
    for task in stalled {
        if task.is_finished() {
            let r = task.await.unwrap();
            assert_eq!((r.status, r.code()), (503, "upstream_saturated"), "{}", r.body);
        } else {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_never_wait_behind_vendor_traffic() {
    let h = Harness::with(Options {
        upstream: "attempt_timeout_ms = 60000\ndeadline_ms = 60000",
        inbound: "max_in_flight = 2",
        ..Options::new()
    })
    .await;
    stripe_always(&h, ok_summary().set_delay(Duration::from_secs(30))).await;
    // Two clients hold both of the gateway's slots on a stalled vendor.
    let stalled = ask_stripe_balances(&h, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for route in ["/healthz", "/readyz", "/metrics"] {
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(2), h.get_as(route, None, &[]))
            .await
            .unwrap_or_else(|_| panic!("{route} waited behind the vendor traffic"));
        assert_eq!(r.status, 200, "{route}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{route}: {:?}",
            started.elapsed()
        );
    }
    assert!(
        stalled.iter().all(|t| !t.is_finished()),
        "the stalled requests still hold the slots"
    );
    for task in stalled {
        task.abort();
    }
}

/// Serves the harness's gateway on a loopback port with `limits`.
async fn serve_on_loopback(h: &Harness, limits: creditgate::config::ServerConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = creditgate::api::app(h.gateway.clone());
    tokio::spawn(async move { creditgate::api::serve(listener, app, &limits, std::future::pending()).await });
    addr
}

/// Whether the server has closed `socket`: a read sees the end of the stream (or a reset)
/// within `wait`.
async fn closed_by_server(socket: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(wait, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close: keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Sends `GET /healthz` on `socket` and reads the whole answer; its status line.
async fn healthz_on(socket: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).ends_with("{\"status\":\"ok\"}") {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).lines().next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_sockets_is_bounded_timed_out_and_does_not_lock_out_others() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::new().await;
    let limits = creditgate::config::ServerConfig {
        header_read_timeout_ms: 700,
        max_connections: 64,
        max_request_head_bytes: 8192,
        ..creditgate::config::ServerConfig::default()
    };
    let addr = serve_on_loopback(&h, limits).await;

    // 300 sockets that send half a request line and then nothing.
    let mut flood = Vec::new();
    for _ in 0..300 {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(b"GET /healthz HT").await.unwrap();
        flood.push(socket);
    }
    let started = Instant::now();
    // Someone else is served at once, during the flood.
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(2), healthz_on(&mut client))
        .await
        .expect("a normal client waited more than 2 s during the flood");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(started.elapsed() < Duration::from_millis(600));

    // The cap holds: at most 64 connections stay open (the client's among them).
    let mut open = 0;
    for socket in &mut flood {
        if !closed_by_server(socket, Duration::from_millis(1)).await {
            open += 1;
        }
    }
    assert!(open < 64, "{open} flood sockets still open with max_connections = 64");
    assert!(
        open > 0,
        "the newest flood sockets should still be open within their head timeout"
    );

    // The head timeout closes the rest.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (i, socket) in flood.iter_mut().enumerate() {
        assert!(
            closed_by_server(socket, Duration::from_millis(500)).await,
            "flood socket {i} still open after the header read timeout"
        );
    }
    drop(flood);

    // Well-behaved keep-alive clients, up to the cap, are all served, several times each.
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    for round in 0..3 {
        for (i, socket) in clients.iter_mut().enumerate() {
            assert_eq!(healthz_on(socket).await, "HTTP/1.1 200 OK", "client {i}, round {round}");
        }
    }
}

/// Writers that send their bodies a byte at a time hold none of `max_in_flight`: another
/// client is served at once meanwhile, and each slow writer gets 408
/// `request_body_timeout` and a closed connection once `body_read_timeout_ms` is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_write_bodies_hold_no_capacity_and_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::with(Options {
        inbound: "max_in_flight = 4",
        server: "body_read_timeout_ms = 1000",
        ..Options::new()
    })
    .await;
    let addr = serve_on_loopback(&h, creditgate::config::ServerConfig::default()).await;
    let mut slow = Vec::new();
    for i in 0..6 {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/credit_grants HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {WRITER_KEY}\r\n\
             Idempotency-Key: slow-{i}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        slow.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Another tenant's request, on the same server (and so the same slots), meanwhile.
    let started = Instant::now();
    let mut other = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/providers HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {OTHER_TENANT_KEY}\r\n\
         Connection: close\r\n\r\n"
    );
    other.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_millis(800), other.read_to_end(&mut answer))
        .await
        .expect("another tenant waited behind the slow writers")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    for (i, socket) in slow.iter_mut().enumerate() {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), socket.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "slow writer {i} was never cut off");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "slow writer {i}: {text}");
        assert!(text.contains("request_body_timeout"), "slow writer {i}: {text}");
    }
}
