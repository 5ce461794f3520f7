//! The HTTP API v1 (README.md, "HTTP API"): axum routes over [`Gateway`], auth, errors as
//! JSON. The whole middleware stack is assembled once, in [`router`]; the `/v1` handlers
//! are in [`handlers`].

mod balances;
mod console;
mod events;
mod handlers;
mod openapi;
mod operations;
mod params;
mod serve;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::{ApiError, ErrorCode};
use crate::gateway::Gateway;
use handlers::{
    adjust_ledger, create_grant, expire_grant, get_grant, list_grants, list_ledger_entries, list_providers, void_grant,
};
pub use openapi::openapi_document;
pub use serve::serve;
use webhooks::receive_vendor_webhook;

/// Every route template, as metrics label them.
mod routes {
    pub const PROVIDERS: &str = "/v1/providers";
    pub const GRANTS: &str = "/v1/credit_grants";
    pub const GRANT: &str = "/v1/credit_grants/{id}";
    pub const GRANT_VOID: &str = "/v1/credit_grants/{id}/void";
    pub const GRANT_EXPIRE: &str = "/v1/credit_grants/{id}/expire";
    pub const LEDGER: &str = "/v1/credit_ledger_entries";
    pub const BALANCES: &str = "/v1/credit_balances";
    pub const HISTORY: &str = "/v1/credit_balance_history";
    pub const VENDOR_WEBHOOK: &str = "/v1/vendor_webhooks/{provider}";
    pub const EVENTS: &str = "/v1/events";
    pub const EVENT: &str = "/v1/events/{id}";
    pub const EVENT_REDELIVER: &str = "/v1/events/{id}/redeliver";
    pub const ALERTS: &str = "/v1/balance_alerts";
    pub const ALERT: &str = "/v1/balance_alerts/{id}";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
    pub const ALL: [&str; 18] = [
        PROVIDERS,
        GRANTS,
        GRANT,
        GRANT_VOID,
        GRANT_EXPIRE,
        LEDGER,
        BALANCES,
        HISTORY,
        VENDOR_WEBHOOK,
        EVENTS,
        EVENT,
        EVENT_REDELIVER,
        ALERTS,
        ALERT,
        HEALTHZ,
        READYZ,
        METRICS,
        OPENAPI,
    ];
}

/// The complete HTTP application.
pub fn router(gateway: Gateway) -> Router {
    crate::metrics::install();
    crate::metrics::start_series(
        &gateway.key_names(),
        &[
            routes::PROVIDERS,
            routes::GRANTS,
            routes::GRANT,
            routes::LEDGER,
            routes::BALANCES,
            routes::HISTORY,
        ],
    );
    // One pool of slots for every route that reaches vendors or the store.
    let slots = Arc::new(Semaphore::new(gateway.max_in_flight()));
    let v1 = Router::new()
        .route(routes::PROVIDERS, get(list_providers))
        .route(routes::GRANTS, get(list_grants).post(create_grant))
        .route(routes::GRANT, get(get_grant))
        .route(routes::GRANT_VOID, post(void_grant))
        .route(routes::GRANT_EXPIRE, post(expire_grant))
        .route(routes::LEDGER, get(list_ledger_entries).post(adjust_ledger))
        .route(routes::BALANCES, get(balances::list_balances))
        .route(routes::HISTORY, get(balances::balance_history))
        .route(routes::EVENTS, get(events::list_events))
        .route(routes::EVENT, get(events::get_event))
        .route(routes::EVENT_REDELIVER, post(events::redeliver_event))
        .route(routes::ALERTS, get(events::list_alerts).post(events::create_alert))
        .route(routes::ALERT, axum::routing::delete(events::delete_alert))
        // Only vendor traffic waits for a slot (taken in `authenticate`): health, readiness
        // and metrics never queue behind it.
        .route_layer(middleware::from_fn_with_state(
            FrontDoor {
                gateway: gateway.clone(),
                slots: slots.clone(),
            },
            authenticate,
        ));
    // A vendor's push carries no API key: its signature authenticates it (the gateway
    // checks it); it waits for a slot like any vendor traffic.
    let vendor_webhooks = Router::new()
        .route(routes::VENDOR_WEBHOOK, post(receive_vendor_webhook))
        .route_layer(GlobalConcurrencyLimitLayer::with_semaphore(slots.clone()));
    // The console's pages read vendors like the API: they wait for a slot too.
    let console = match gateway.sessions() {
        Some(_) => console::router().route_layer(GlobalConcurrencyLimitLayer::with_semaphore(slots.clone())),
        None => Router::new(),
    };
    Router::new()
        .merge(v1)
        .merge(vendor_webhooks)
        .merge(console)
        .route(routes::HEALTHZ, get(healthz))
        .route(routes::READYZ, get(readyz))
        .route(routes::METRICS, get(metrics))
        .route(routes::OPENAPI, get(openapi))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(gateway)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(request_context))
                .layer(CatchPanicLayer::custom(panicked)),
        )
}

/// A handler that panicked: a bug, never an answer to input. It is logged with the request
/// id and counted (`creditgate_panics_total`), and the client gets a 500 in the contract's
/// format.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned());
    crate::metrics::record_panic();
    tracing::error!(
        request_id = crate::request_id::current().as_deref().unwrap_or("-"),
        panic = %what,
        "request handler panicked"
    );
    ApiError::Internal("the request handler panicked".into()).into_response()
}

/// Gives every request an id (the client's `X-Request-Id` if acceptable), makes it the
/// current id for errors and vendor calls, echoes it, counts and logs the request.
async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::request_id::accept_client_id)
        .unwrap_or_else(crate::request_id::generate);
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
    // Every line logged while the request runs carries its id (the span's field), and its
    // trace id with `[telemetry]`. The span is at the highest level so that no log filter
    // that lets a line through drops it.
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
    } else {
        tracing::error_span!("request", request_id = %id)
    };
    let mut response =
        tracing::Instrument::instrument(crate::request_id::run_with(id.clone(), next.run(request)), span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    crate::metrics::record_http(route, method.as_str(), status, started.elapsed());
    // Inside the span: the line carries the request id (and trace id) like every other. The
    // span is entered only when the line will be written.
    if tracing::enabled!(tracing::Level::INFO) {
        span.in_scope(
            || tracing::info!(%method, route, status, elapsed_us = started.elapsed().as_micros() as u64, "request"),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

/// Checks `Authorization: Bearer <gateway api key>` and the key's quota before any
/// handler (and so before any cache read or vendor call) runs. Every response to an
/// authenticated request carries the key's `RateLimit-*` headers.
///
/// A write's body is then read whole, within `[server] body_read_timeout_ms`, before the
/// request waits for one of `max_in_flight`: a client sending its body slowly holds no
/// capacity, and is cut off (408, connection closed) once the time is up. A read-only
/// key's body is left unread: its handler refuses it first. (One middleware for all three:
/// a cache hit pays for one layer, not three.)
async fn authenticate(State(door): State<FrontDoor>, mut request: Request, next: Next) -> Response {
    let FrontDoor { gateway, slots } = &door;
    let found = match presented_key(request.headers()) {
        Ok(key) => gateway.authenticate(key).await.ok_or_else(invalid_key),
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
            run_in_slot(slots, request, next).await
        } else {
            match read_body(gateway, request).await {
                Ok(request) => run_in_slot(slots, request, next).await,
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

const RATELIMIT_LIMIT: header::HeaderName = header::HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: header::HeaderName = header::HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: header::HeaderName = header::HeaderName::from_static("ratelimit-reset");
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// What [`authenticate`] needs: the gateway, and the one pool of `max_in_flight` slots
/// shared by every route that reaches vendors or the store.
#[derive(Clone)]
struct FrontDoor {
    gateway: Gateway,
    slots: Arc<Semaphore>,
}

/// Runs the request once one of the in-flight slots is free, holding it until the answer.
async fn run_in_slot(slots: &Semaphore, request: Request, next: Next) -> Response {
    match slots.acquire().await {
        Ok(_slot) => next.run(request).await,
        // The pool is never closed; were it, no request could be served.
        Err(_) => ApiError::Internal("the in-flight slots are closed".into()).into_response(),
    }
}

/// A write's body, read whole first (see [`authenticate`]); or the answer refusing it.
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

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready once the gateway is built (config loaded, secrets resolved); lists each
/// provider's last call outcome and circuit. A vendor whose circuit is open does not make
/// the gateway unready: the others, and cached answers, are still served.
async fn readyz(State(gateway): State<Gateway>) -> Response {
    let providers: Vec<_> = gateway
        .providers()
        .into_iter()
        .map(|p| json!({"id": p.id, "health": p.health, "circuit": p.circuit}))
        .collect();
    // Degraded Redis does not make a replica unready: reads go on with its own limits.
    let redis = match gateway.shared_state() {
        None => "not_configured",
        Some(shared) if shared.is_degraded() => "degraded",
        Some(_) => "ok",
    };
    // Stopping: a load balancer takes the replica out while open connections finish.
    let (status, code) = if gateway.is_draining() {
        ("draining", axum::http::StatusCode::SERVICE_UNAVAILABLE)
    } else {
        ("ready", axum::http::StatusCode::OK)
    };
    (
        code,
        Json(json!({"status": status, "redis": redis, "providers": providers})),
    )
        .into_response()
}

async fn metrics(State(gateway): State<Gateway>) -> impl IntoResponse {
    for provider in gateway.providers() {
        let state = match provider.circuit {
            crate::upstream::breaker::CircuitState::Closed => 0,
            crate::upstream::breaker::CircuitState::HalfOpen => 1,
            crate::upstream::breaker::CircuitState::Open => 2,
        };
        crate::metrics::set_circuit_state(provider.id, state);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

/// The document, serialized once: it depends only on the code.
async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let bytes = DOCUMENT.get_or_init(|| serde_json::to_vec(&openapi_document()).unwrap_or_default().into());
    ([(header::CONTENT_TYPE, "application/json")], bytes.clone()).into_response()
}

async fn route_not_found() -> ApiError {
    no_such_route()
}

pub(super) fn no_such_route() -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::RouteNotFound,
        message: "no such route; see /openapi.json".into(),
        provider: None,
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::InvalidRequest {
        code: ErrorCode::MethodNotAllowed,
        message: "this route does not take this method; see /openapi.json".into(),
        param: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_a_500_in_the_contract_format_and_is_counted() {
        crate::metrics::install();
        let before = crate::metrics::render();
        let response = crate::request_id::run_with("req_panic".into(), async { panicked(Box::new("boom")) }).await;
        assert_eq!(response.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let count = |text: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix("creditgate_panics_total "))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        assert!(count(&crate::metrics::render()) > count(&before));
    }
}
