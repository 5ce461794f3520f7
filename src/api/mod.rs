//! The HTTP API v1 (README.md, "HTTP API"): axum routes over [`Gateway`], auth, errors as
//! JSON. The whole middleware stack is assembled once, in [`router`], from the steps in
//! [`front_door`]; [`App`] puts a lane for the hottest reads in front of it; the `/v1`
//! handlers are in [`handlers`].

mod app;
mod balances;
mod console;
mod events;
mod front_door;
mod handlers;
mod openapi;
mod operations;
mod params;
mod serve;
mod webhooks;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::middleware;
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
pub use app::App;
use front_door::{authenticate, request_context, FrontDoor};
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

/// The complete HTTP application, as `serve` runs it: [`router`] with a fast lane for the
/// hottest reads in front (see [`App`]).
pub fn app(gateway: Gateway) -> App {
    let (router, door) = assemble(gateway);
    App::new(router, door)
}

/// Every route and all of their middleware, as an axum router (to embed creditgate's API in
/// another axum application; [`app`] answers the same).
pub fn router(gateway: Gateway) -> Router {
    assemble(gateway).0
}

/// The router, and the front door its `/v1` routes share with [`App`]'s lane.
fn assemble(gateway: Gateway) -> (Router, FrontDoor) {
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
    let door = FrontDoor {
        gateway: gateway.clone(),
        slots: Arc::new(Semaphore::new(gateway.max_in_flight())),
    };
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
        .route_layer(middleware::from_fn_with_state(door.clone(), authenticate));
    // A vendor's push carries no API key: its signature authenticates it (the gateway
    // checks it); it waits for a slot like any vendor traffic.
    let vendor_webhooks = Router::new()
        .route(routes::VENDOR_WEBHOOK, post(receive_vendor_webhook))
        .route_layer(GlobalConcurrencyLimitLayer::with_semaphore(door.slots.clone()));
    // The console's pages read vendors like the API: they wait for a slot too.
    let console = match gateway.sessions() {
        Some(_) => console::router().route_layer(GlobalConcurrencyLimitLayer::with_semaphore(door.slots.clone())),
        None => Router::new(),
    };
    let router = Router::new()
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
        );
    (router, door)
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
