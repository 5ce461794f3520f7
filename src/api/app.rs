//! [`App`]: the HTTP application `serve` runs, the router with a fast lane in front of it.
//!
//! The three list reads apps poll (`GET` balances, ledger entries, grants) are usually
//! answered from the answer cache in a few microseconds; at that size, the router's
//! plumbing (matching every route, a boxed future and a service clone for each middleware
//! layer) was a seventh of a cache hit's instructions (BENCHMARKS.md, "A lane past the
//! router"). The lane recognizes those three by method and exact path and runs the same
//! steps the router would, from the same functions: the request context, the key check,
//! quota and in-flight slot ([`front_door`]), a panic caught as a 500, then the route's own
//! handler with its own extractors. Every other request, and any other method or spelling of
//! those paths, goes through the router. `tests/simulated.rs` checks that the lane and the
//! router answer the same requests alike: status, headers, body.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::HttpBody;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use axum::Router;
use futures_util::FutureExt;
use tower::ServiceExt;

use super::front_door::{in_request_context, FrontDoor};
use super::{balances, handlers, routes};
use crate::gateway::Gateway;

/// The complete HTTP application: [`super::router`]'s routes, with the lane described in
/// the module's documentation in front of them. A `tower::Service` over requests.
#[derive(Clone)]
pub struct App {
    router: Router,
    door: FrontDoor,
}

impl App {
    pub(super) fn new(router: Router, door: FrontDoor) -> App {
        App { router, door }
    }

    /// The answer to `request`.
    pub async fn answer(self, request: Request) -> Response {
        match lane_route(&request) {
            Some(routes::BALANCES) => self.lane(routes::BALANCES, request, balances::list_balances).await,
            Some(routes::LEDGER) => self.lane(routes::LEDGER, request, handlers::list_ledger_entries).await,
            Some(routes::GRANTS) => self.lane(routes::GRANTS, request, handlers::list_grants).await,
            _ => match self.router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
        }
    }

    /// `request` answered by `handler` (the handler the router has at `route`) with the
    /// router's middleware, in the router's order.
    async fn lane<H, T>(self, route: &'static str, request: Request, handler: H) -> Response
    where
        H: Handler<T, Gateway>,
    {
        let App { door, .. } = self;
        let mut response = in_request_context(route, request, |request| async move {
            let gateway = door.gateway.clone();
            let answer = door.admit(request, |request| handler.call(request, gateway));
            match AssertUnwindSafe(answer).catch_unwind().await {
                Ok(response) => response,
                Err(panic) => super::panicked(panic),
            }
        })
        .await;
        // As the router does for every answer whose body's length is known.
        if let Some(length) = response.body().size_hint().exact() {
            if !response.headers().contains_key(header::CONTENT_LENGTH) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
        }
        response
    }
}

/// The route template of a request the lane answers: `GET` at exactly one of its paths.
fn lane_route(request: &Request) -> Option<&'static str> {
    if request.method() != Method::GET {
        return None;
    }
    [routes::BALANCES, routes::LEDGER, routes::GRANTS]
        .into_iter()
        .find(|route| *route == request.uri().path())
}

impl tower::Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Box::pin(self.clone().answer(request).map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    /// A gateway with one key, `cg_lane_key`, and one vendor nobody listens for.
    fn gateway() -> Gateway {
        let dir = std::env::temp_dir().join(format!("creditgate-lane-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "a-secret-long-enough-to-sign-cursors").unwrap();
        let config = crate::Config::from_toml_str(&format!(
            "cursor_secret = \"file:{s}\"\n[[api_keys]]\nname = \"lane\"\nkey_sha256 = \"{k}\"\n\
             [providers.vayu]\nsecret = \"file:{s}\"\nbase_url = \"http://127.0.0.1:9\"\n",
            s = secret.display(),
            k = crate::hex::lower(&<sha2::Sha256 as sha2::Digest>::digest(b"cg_lane_key")),
        ))
        .unwrap();
        let gateway = Gateway::from_config(&config).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        gateway
    }

    #[tokio::test]
    async fn a_panic_in_the_lane_is_a_500_in_the_contract_format_with_the_request_id() {
        let (router, door) = super::super::assemble(gateway());
        let app = App::new(router, door);
        let request = Request::get(routes::BALANCES)
            .header("authorization", "Bearer cg_lane_key")
            .header("x-request-id", "req-lane-panic")
            .body(axum::body::Body::empty())
            .unwrap();
        let panicking = || async {
            panic!("a bug in a handler");
            #[allow(unreachable_code)]
            ()
        };
        let response = app.lane(routes::BALANCES, request, panicking).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["x-request-id"], "req-lane-panic");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "api_error", "{body}");
        assert_eq!(body["error"]["request_id"], "req-lane-panic", "{body}");
    }

    #[test]
    fn the_lane_takes_only_gets_at_exactly_its_three_paths() {
        for (uri, route) in [
            ("/v1/credit_balances?customer=acme", routes::BALANCES),
            ("/v1/credit_ledger_entries?customer=acme&limit=5", routes::LEDGER),
            ("/v1/credit_grants", routes::GRANTS),
        ] {
            assert_eq!(lane_route(&request(Method::GET, uri)), Some(route), "{uri}");
            for method in [Method::HEAD, Method::POST, Method::DELETE] {
                assert_eq!(lane_route(&request(method.clone(), uri)), None, "{method} {uri}");
            }
        }
        for uri in [
            "/v1/credit_balances/",
            "/v1/credit%5Fbalances",
            "/V1/credit_grants",
            "/v1/credit_grants/stripe:credgr_1",
            "/v1/credit_balance_history",
            "/v1/providers",
            "//v1/credit_grants",
        ] {
            assert_eq!(lane_route(&request(Method::GET, uri)), None, "{uri}");
        }
    }
}
