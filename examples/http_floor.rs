//! The floor under the gateway's figures in `scripts/bench.sh`: the least the same HTTP
//! stack can do on the same machine, with none of creditgate's work.
//!
//! ```text
//! http_floor file  hyper|axum      ADDR FILE [THREADS]      answers every request with FILE's bytes
//! http_floor proxy reqwest|hyper   ADDR UPSTREAM [THREADS]  forwards each request's path, query
//!                                                           and Authorization to UPSTREAM,
//!                                                           answers its body
//! ```
//!
//! Both run on tokio's multi-threaded runtime with THREADS workers (default: one per core,
//! like `creditgate serve`). A file
//! answer carries the headers of a gateway cache hit (same names, same lengths), so the
//! bytes on the wire match. `hyper` is the server alone; `axum` adds a router with one
//! route. A proxy calls through `reqwest` (what the gateway uses) or hyper-util's client
//! (what reqwest is built on): the cost of a miss's two HTTP exchanges with no parsing,
//! normalizing or serializing.

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: http_floor file hyper|axum ADDR FILE [THREADS] | http_floor proxy reqwest|hyper ADDR UPSTREAM [THREADS]";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, flavour, addr, target, threads) = match args.as_slice() {
        [kind, flavour, addr, target] => (kind, flavour, addr, target, None),
        [kind, flavour, addr, target, threads] => (kind, flavour, addr, target, Some(threads.parse::<usize>()?)),
        _ => return Err(USAGE.into()),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
        match (kind.as_str(), flavour.as_str()) {
            ("file", "hyper") => {
                let body = Bytes::from(std::fs::read(target)?);
                serve(listener, move |_| {
                    let body = body.clone();
                    async move { hit(body) }
                })
                .await
            }
            ("file", "axum") => {
                let body = Bytes::from(std::fs::read(target)?);
                let app = axum::Router::new().fallback(move || {
                    let body = body.clone();
                    async move { hit(body) }
                });
                // Through the same connection handling as every other floor (and as
                // `creditgate serve`): `axum::serve` would leave Nagle's delay on.
                serve(listener, move |request| {
                    let app = app.clone();
                    async move {
                        match app.oneshot(request.map(Body::new)).await {
                            Ok(answer) => answer,
                            Err(never) => match never {},
                        }
                    }
                })
                .await
            }
            ("proxy", "reqwest") => {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?;
                let upstream: Arc<str> = target.as_str().into();
                serve(listener, move |request| {
                    let (client, upstream) = (client.clone(), upstream.clone());
                    async move {
                        let mut call = client.get(format!("{upstream}{}", path_and_query(&request)));
                        if let Some(auth) = request.headers().get(hyper::header::AUTHORIZATION) {
                            call = call.header(hyper::header::AUTHORIZATION, auth);
                        }
                        match call.send().await {
                            Ok(answer) => answer.bytes().await.map(hit).unwrap_or_else(|_| bad_gateway()),
                            Err(_) => bad_gateway(),
                        }
                    }
                })
                .await
            }
            ("proxy", "hyper") => {
                let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Body>();
                let upstream: Arc<str> = target.as_str().into();
                serve(listener, move |request| {
                    let (client, upstream) = (client.clone(), upstream.clone());
                    async move {
                        let mut call = Request::get(format!("{upstream}{}", path_and_query(&request)));
                        if let Some(auth) = request.headers().get(hyper::header::AUTHORIZATION) {
                            call = call.header(hyper::header::AUTHORIZATION, auth);
                        }
                        let Ok(call) = call.body(Body::empty()) else {
                            return bad_gateway();
                        };
                        match client.request(call).await {
                            Ok(answer) => axum::body::to_bytes(Body::new(answer.into_body()), 1 << 24)
                                .await
                                .map(hit)
                                .unwrap_or_else(|_| bad_gateway()),
                            Err(_) => bad_gateway(),
                        }
                    }
                })
                .await
            }
            _ => Err(USAGE.into()),
        }
    })
}

/// Serves HTTP/1.1 on every accepted connection with `answer`, like `creditgate serve`
/// (no Nagle delay on the answers).
async fn serve<F, Fut>(listener: tokio::net::TcpListener, answer: F) -> Result<(), Box<dyn Error>>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(answer(request).await) }
            });
            // A connection that fails ends alone; the floor has nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn path_and_query(request: &Request<Incoming>) -> &str {
    request.uri().path_and_query().map_or("/", |p| p.as_str())
}

/// `body` with the headers of a gateway cache hit.
fn hit(body: Bytes) -> Response<Body> {
    let mut answer = Response::new(Body::from(body));
    for (name, value) in [
        ("content-type", "application/json"),
        ("etag", "\"6191141e1a2dc76759718f79fcc6c582\""),
        ("vary", "accept-encoding"),
        ("x-cache", "hit"),
        ("ratelimit-limit", "1000000"),
        ("ratelimit-remaining", "999999"),
        ("ratelimit-reset", "1"),
        ("x-request-id", "req_18eef62a70d27553000000"),
    ] {
        answer
            .headers_mut()
            .insert(name, hyper::header::HeaderValue::from_static(value));
    }
    answer
}

fn bad_gateway() -> Response<Body> {
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::BAD_GATEWAY;
    answer
}
