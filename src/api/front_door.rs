//! What every request passes before its handler: its context (request id, span, metrics,
//! log line) and, on the `/v1` routes, the key check, quota and in-flight slot.
//!
//! Each step is a plain function over the call it wraps, so that the router's middleware
//! ([`request_context`], [`authenticate`]) and the fast lane ([`super::App`]) run the same
//! code.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::{console, handlers, routes};
use crate::error::{ApiError, ErrorCode};
use crate::gateway::Gateway;

const RATELIMIT_LIMIT: header::HeaderName = header::HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: header::HeaderName = header::HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: header::HeaderName = header::HeaderName::from_static("ratelimit-reset");
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The router's middleware for every route: [`in_request_context`] under the route the
/// router matched.
pub(super) async fn request_context(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| {
            routes::ALL
                .into_iter()
                .chain(console::routes::ALL)
                .find(|r| *r == matched.as_str())
        })
        .unwrap_or("unmatched");
    in_request_context(route, request, |request| next.run(request)).await
}

/// Gives the request an id (the client's `X-Request-Id` if acceptable), makes it the current
/// id for errors and vendor calls while `inner` answers, echoes it, counts and logs the
/// request under `route` (a template of [`routes`], or `unmatched`).
pub(super) async fn in_request_context<F, Fut>(route: &'static str, request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::request_id::accept_client_id)
        .unwrap_or_else(crate::request_id::generate);
    let method = request.method().clone();
    let started = Instant::now();
    // Counted while it runs, whatever ends it (an answer, a panic, a client gone).
    struct InFlight;
    impl Drop for InFlight {
        fn drop(&mut self) {
            crate::metrics::add_in_flight(-1);
        }
    }
    crate::metrics::add_in_flight(1);
    let _in_flight = InFlight;
    // Every line logged while the request runs carries its id. `serve`'s own line formats
    // write it from the current id (`run_with` below) as this span would be written; other
    // subscribers, and traces, need the span itself (with `[telemetry]`, its trace id too),
    // at the highest level so that no log filter that lets a line through drops it.
    let span = if crate::telemetry::enabled() {
        let span = tracing::error_span!(
            "request",
            request_id = %id,
            trace_id = tracing::field::Empty,
            otel.name = format!("{method} {route}"),
            otel.kind = "server",
            http.request.method = %method,
            http.route = route,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        crate::telemetry::accept_parent(&span, request.headers());
        span
    } else if crate::request_id::request_spans() {
        tracing::error_span!("request", request_id = %id)
    } else {
        tracing::Span::none()
    };
    // Boxed first: the wrappers below move their future, and a request's future is several
    // kilobytes.
    let answer = Box::pin(inner(request));
    let mut response =
        tracing::Instrument::instrument(crate::request_id::run_with(id.clone(), answer), span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    crate::metrics::record_http(route, method.as_str(), status, started.elapsed());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    // In the request's context: the line carries the request id (and trace id) like every
    // other. Entered only when the line will be written.
    if tracing::enabled!(tracing::Level::INFO) {
        let elapsed_us = started.elapsed().as_micros() as u64;
        crate::request_id::in_scope(id, || {
            span.in_scope(|| tracing::info!(%method, route, status, elapsed_us, "request"));
        });
    }
    response
}

/// The gateway, and the one pool of `max_in_flight` slots shared by every route that
/// reaches vendors or the store.
#[derive(Clone)]
pub(super) struct FrontDoor {
    pub(super) gateway: Gateway,
    pub(super) slots: Arc<Semaphore>,
}

/// The router's middleware for the `/v1` routes: [`FrontDoor::admit`].
pub(super) async fn authenticate(State(door): State<FrontDoor>, request: Request, next: Next) -> Response {
    door.admit(request, |request| next.run(request)).await
}

impl FrontDoor {
    /// Checks `Authorization: Bearer <gateway api key>` and the key's quota before `inner`
    /// (the handler, and so any cache read or vendor call) runs. Every response to an
    /// authenticated request carries the key's `RateLimit-*` headers.
    ///
    /// A write's body is then read whole, within `[server] body_read_timeout_ms`, before the
    /// request waits for one of `max_in_flight`: a client sending its body slowly holds no
    /// capacity, and is cut off (408, connection closed) once the time is up. A read-only
    /// key's body is left unread: its handler refuses it first.
    pub(super) async fn admit<F, Fut>(&self, mut request: Request, inner: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let found = match presented_key(request.headers()) {
            Ok(key) => self.gateway.authenticate(key).await.ok_or_else(invalid_key),
            Err(e) => Err(e),
        };
        let (caller, admission) = match found {
            Ok(found) => found,
            Err(e) => return e.into_response(),
        };
        let mut response = if !admission.allowed {
            crate::metrics::record_rate_limited(&caller.key_name);
            ApiError::RateLimited {
                retry_after_secs: admission.retry_after_secs,
            }
            .into_response()
        } else {
            let writes = request.method() == axum::http::Method::POST && caller.may_write;
            request.extensions_mut().insert(caller);
            if !writes {
                self.run_in_slot(request, inner).await
            } else {
                match read_body(&self.gateway, request).await {
                    Ok(request) => self.run_in_slot(request, inner).await,
                    Err(refused) => refused,
                }
            }
        };
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(admission.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(admission.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(admission.reset_secs));
        response
    }

    /// Runs `inner` once one of the in-flight slots is free, holding it until the answer.
    async fn run_in_slot<F, Fut>(&self, request: Request, inner: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        match self.slots.acquire().await {
            Ok(_slot) => inner(request).await,
            // The pool is never closed; were it, no request could be served.
            Err(_) => ApiError::Internal("the in-flight slots are closed".into()).into_response(),
        }
    }
}

/// A write's body, read whole first (see [`FrontDoor::admit`]); or the answer refusing it.
async fn read_body(gateway: &Gateway, request: Request) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let timeout = gateway.body_read_timeout();
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, handlers::MAX_WRITE_BODY_BYTES)).await;
    match read {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        Ok(Err(_)) => Err(handlers::body_too_large().into_response()),
        Err(_) => {
            let mut response = ApiError::BodyTimeout {
                timeout_ms: timeout.as_millis() as u64,
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
    }
}

fn invalid_key() -> ApiError {
    ApiError::Authentication {
        code: ErrorCode::InvalidApiKey,
        message: "the API key is not valid".into(),
    }
}

/// The key presented as `Authorization: Bearer <key>`.
fn presented_key(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::Authentication {
            code: ErrorCode::MissingApiKey,
            message: "send your creditgate API key as `Authorization: Bearer <key>`".into(),
        });
    };
    if values.next().is_some() {
        return Err(ApiError::Authentication {
            code: ErrorCode::InvalidApiKey,
            message: "send exactly one `Authorization` header".into(),
        });
    }
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty());
    key.ok_or_else(invalid_key)
}
