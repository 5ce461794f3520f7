//! `/v1/events`: the events the caller may see, newest first; one event with its
//! deliveries; a redelivery. `/v1/balance_alerts`: low-balance alerts (README.md, "Events").

use axum::extract::{Path, RawQuery, State};
use axum::Json;

use super::handlers::Authed;
use super::params::Params;
use crate::error::ApiError;
use crate::gateway::{EventWithDeliveries, EventsQuery, Gateway, ListPage};
use crate::model::event::{BalanceAlert, Event, NewBalanceAlertInput};

/// `GET /v1/events?customer=&type=&limit=&cursor=`.
pub(super) async fn list_events(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListPage<Event>>, ApiError> {
    let mut p = Params::parse(raw.as_deref());
    let query = EventsQuery {
        customer: p.take("customer")?,
        event_type: p.take_parsed("type")?,
        limit: p.take_parsed("limit")?.unwrap_or_default(),
        cursor: p.take("cursor")?,
    };
    p.finish()?;
    gateway.list_events(&caller, &query).await.map(Json)
}

/// `GET /v1/events/{id}`.
pub(super) async fn get_event(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventWithDeliveries>, ApiError> {
    Params::parse(raw.as_deref()).finish()?;
    gateway.event(&caller, &id).await.map(Json)
}

/// `POST /v1/events/{id}/redeliver` (the `write` scope): the event again, to every
/// endpoint that takes it, whatever became of its earlier deliveries.
pub(super) async fn redeliver_event(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventWithDeliveries>, ApiError> {
    Gateway::write_scope(&caller)?;
    Params::parse(raw.as_deref()).finish()?;
    gateway.redeliver_event(&caller, &id).await.map(Json)
}

/// `POST /v1/balance_alerts` (the `write` scope).
pub(super) async fn create_alert(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    request: axum::extract::Request,
) -> Result<Json<BalanceAlert>, ApiError> {
    Gateway::write_scope(&caller)?;
    // A writing key's body was read whole, within its bounds, before the handler.
    let bytes = axum::body::to_bytes(request.into_body(), super::handlers::MAX_WRITE_BODY_BYTES)
        .await
        .map_err(|_| super::handlers::body_too_large())?;
    let input = crate::gateway::WriteBody::<NewBalanceAlertInput>::parse(&bytes)?.into_input();
    gateway.create_alert(&caller, input).await.map(Json)
}

/// `GET /v1/balance_alerts?customer=`.
pub(super) async fn list_alerts(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListPage<BalanceAlert>>, ApiError> {
    let mut p = Params::parse(raw.as_deref());
    let customer = p.take("customer")?;
    p.finish()?;
    gateway.list_alerts(&caller, customer.as_deref()).await.map(Json)
}

/// `DELETE /v1/balance_alerts/{id}` (the `write` scope).
pub(super) async fn delete_alert(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<BalanceAlert>, ApiError> {
    Gateway::write_scope(&caller)?;
    Params::parse(raw.as_deref()).finish()?;
    gateway.delete_alert(&caller, &id).await.map(Json)
}

/// The event routes' OpenAPI paths (`customer_param`: the `customer` filter's).
pub(super) fn openapi_paths(customer_param: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;

    use crate::error::ErrorCode;
    let request_id = json!({"X-Request-Id": {"required": true, "schema": {"type": "string"}}});
    let errors = |codes: &[ErrorCode]| {
        let mut by_status: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
        for code in codes.iter().chain(&[
            ErrorCode::MissingApiKey,
            ErrorCode::InvalidApiKey,
            ErrorCode::InvalidParameter,
            ErrorCode::RateLimited,
            ErrorCode::EventsNotConfigured,
            ErrorCode::IdempotencyStoreUnavailable,
            ErrorCode::InternalError,
        ]) {
            by_status.entry(code.status().as_u16()).or_default().push(code.as_str());
        }
        by_status
            .into_iter()
            .map(|(status, codes)| {
                (
                    status.to_string(),
                    super::operations::error_answer(&codes, request_id.clone()),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    };
    let ok = |schema: &str, mut others: serde_json::Map<String, serde_json::Value>| {
        others.insert(
            "200".into(),
            json!({"description": "OK", "headers": request_id.clone(),
                   "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
        );
        serde_json::Value::Object(others)
    };
    let id = json!({"name": "id", "in": "path", "required": true, "description": "the event's id",
                    "schema": {"type": "string", "pattern": "^evt_[0-9a-f]{28}$"}});
    let mut paths = serde_json::Map::new();
    let alert_id = json!({"name": "id", "in": "path", "required": true, "description": "the alert's id",
                          "schema": {"type": "string", "pattern": "^alrt_[0-9a-f]{16}$"}});
    paths.insert("/v1/balance_alerts".into(), json!({
        "get": {
            "summary": "Low-balance alerts",
            "description": "The alerts the key may see, oldest first (one page: `has_more` is false).",
            "security": [{"bearer": []}],
            "parameters": [customer_param.clone()],
            "responses": ok("BalanceAlertList", errors(&[ErrorCode::UnknownCustomer, ErrorCode::CustomerNotAllowed]))
        },
        "post": {
            "summary": "Create a low-balance alert",
            "description": "`credit_balance.low` once each time the available balance of the customer in the unit goes \
                from at or above the threshold to below it (README.md, \"Events\"). The balance is read now to \
                arm it: one already below fires after it has been back at or above. Needs the `write` scope.",
            "security": [{"bearer": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewBalanceAlert"}}}},
            "responses": ok("BalanceAlert", errors(&[
                ErrorCode::WriteNotAllowed, ErrorCode::InvalidJson, ErrorCode::BodyTooLarge, ErrorCode::UnknownCustomer,
                ErrorCode::CustomerNotAllowed, ErrorCode::ProviderNotAllowed, ErrorCode::UnsupportedByProvider,
                ErrorCode::UpstreamTimeout, ErrorCode::UpstreamUnreachable, ErrorCode::UpstreamServerError]))
        }
    }));
    paths.insert(
        "/v1/balance_alerts/{id}".into(),
        json!({"delete": {
            "summary": "Delete a low-balance alert",
            "description": "Answers the alert deleted. Needs the `write` scope.",
            "security": [{"bearer": []}],
            "parameters": [alert_id],
            "responses": ok("BalanceAlert", errors(&[ErrorCode::AlertNotFound, ErrorCode::WriteNotAllowed]))
        }}),
    );
    paths.insert("/v1/events".into(), json!({"get": {
        "summary": "Events, newest first",
        "description": "Every change creditgate recorded that the key may see (README.md, \"Events\"), newest first, \
            kept for `[events] retention_days`. A page may hold fewer than `limit` events while `has_more` is \
            true: one request reads a bounded number of events.",
        "security": [{"bearer": []}],
        "parameters": [
            customer_param,
            {"name": "type", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/EventType"},
             "description": "only events of this type"},
            {"name": "limit", "in": "query", "required": false, "description": "page size",
             "schema": {"type": "integer", "minimum": crate::paging::MIN_LIMIT, "maximum": crate::paging::MAX_LIMIT, "default": 50}},
            {"name": "cursor", "in": "query", "required": false, "description": "`next_cursor` of an earlier page, with the same filters",
             "schema": {"type": "string", "minLength": 1, "maxLength": crate::paging::MAX_CURSOR_LEN, "pattern": "^[A-Za-z0-9_-]+$"}}
        ],
        "responses": ok("EventList", errors(&[ErrorCode::InvalidCursor, ErrorCode::UnknownCustomer, ErrorCode::CustomerNotAllowed]))
    }}));
    paths.insert(
        "/v1/events/{id}".into(),
        json!({"get": {
            "summary": "One event, with its delivery to each endpoint",
            "security": [{"bearer": []}],
            "parameters": [id.clone()],
            "responses": ok("EventWithDeliveries", errors(&[ErrorCode::EventNotFound]))
        }}),
    );
    paths.insert(
        "/v1/events/{id}/redeliver".into(),
        json!({"post": {
            "summary": "Deliver an event again",
            "description": "To every endpoint that takes it, whatever became of its earlier deliveries, with the same \
                `webhook-id`. Needs a key with the `write` scope.",
            "security": [{"bearer": []}],
            "parameters": [id],
            "responses": ok("EventWithDeliveries", errors(&[ErrorCode::EventNotFound, ErrorCode::WriteNotAllowed]))
        }}),
    );
    paths
}
