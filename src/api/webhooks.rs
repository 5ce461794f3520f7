//! `POST /v1/vendor_webhooks/{provider}`: a vendor's push, outside the API key's reach
//! (the gateway checks the vendor's signature; `gateway::webhooks`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorCode};
use crate::gateway::Gateway;

/// The largest vendor webhook body creditgate reads (vendors' events are a few KB).
pub const MAX_WEBHOOK_BODY_BYTES: usize = 512 * 1024;

/// `POST /v1/vendor_webhooks/{provider}`: no API key; the vendor's signature is checked
/// by the gateway. The body is read whole, within the body timeout and the cap, first.
pub(super) async fn receive_vendor_webhook(
    State(gateway): State<Gateway>,
    axum::extract::Path(provider): axum::extract::Path<String>,
    request: axum::extract::Request,
) -> Result<Json<crate::gateway::WebhookReceipt>, ApiError> {
    let (parts, body) = request.into_parts();
    let timeout = gateway.body_read_timeout();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_WEBHOOK_BODY_BYTES)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(ApiError::InvalidRequest {
                code: ErrorCode::BodyTooLarge,
                message: format!("a vendor webhook body is at most {MAX_WEBHOOK_BODY_BYTES} bytes"),
                param: None,
            })
        }
        Err(_) => {
            return Err(ApiError::BodyTimeout {
                timeout_ms: timeout.as_millis() as u64,
            })
        }
    };
    gateway
        .receive_vendor_webhook(&provider, &parts.headers, &bytes)
        .await
        .map(Json)
}

/// The route's OpenAPI operation: a vendor's signed push, no API key.
pub(super) fn openapi_operation() -> Value {
    let error = |codes: &[ErrorCode]| {
        let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        super::operations::error_answer(
            &names,
            json!({"X-Request-Id": {"required": true, "schema": {"type": "string"}}}),
        )
    };
    json!({"post": {
        "summary": "Receive a vendor's webhook delivery",
        "description": "For the vendor to call, not apps: no API key, the vendor's own signature authenticates it \
            (README.md, \"Events\", says which header each vendor signs with and how). Answered 200 once the \
            event's id is durably recorded; a redelivery is answered 200 with `duplicate: true`. Every \
            verified delivery drops the customer's cached reads.",
        "parameters": [{"name": "provider", "in": "path", "required": true, "schema": {"type": "string"},
                        "description": "the vendor, as in `[providers.<vendor>]`"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": {"description": "OK", "headers": {"X-Request-Id": {"required": true, "schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookReceipt"}}}},
            "400": error(&[ErrorCode::InvalidWebhookSignature, ErrorCode::StaleWebhookTimestamp, ErrorCode::InvalidJson, ErrorCode::BodyTooLarge]),
            "404": error(&[ErrorCode::UnknownProvider, ErrorCode::WebhooksNotConfigured]),
            "408": error(&[ErrorCode::RequestBodyTimeout]),
            "500": error(&[ErrorCode::InternalError]),
            "503": error(&[ErrorCode::IdempotencyStoreUnavailable])
        }
    }})
}
