//! `/v1/events`: the events the caller may see, newest first; one event with its
//! deliveries; a redelivery (README.md, "Events").

use axum::extract::{Path, RawQuery, State};
use axum::Json;

use super::handlers::Authed;
use super::params::Params;
use crate::error::ApiError;
use crate::gateway::{EventWithDeliveries, EventsQuery, Gateway, ListPage};
use crate::model::event::Event;

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
