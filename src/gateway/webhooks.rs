//! `POST /v1/vendor_webhooks/{provider}`: a vendor's push, believed only once its
//! signature checks out (README.md, "Events"). A delivery is answered 2xx only after its
//! event is durably recorded and queued to be read (`gateway::events`), so the vendor
//! retries anything creditgate did not keep; a redelivery is recorded once. Every verified delivery drops the customer's cached
//! reads, on every replica, so a read after a vendor-side change is fresh.

use axum::http::HeaderMap;
use serde::Serialize;
use time::OffsetDateTime;

use super::Gateway;
use crate::error::{ApiError, ErrorCode};
use crate::model::ProviderKind;

/// What creditgate answers a vendor's delivery.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WebhookReceipt {
    #[schemars(extend("const" = "vendor_webhook_receipt"))]
    pub object: &'static str,
    pub provider: ProviderKind,
    /// What names the event: the vendor's event id, or a digest where it sends none.
    pub event_id: String,
    /// The vendor's own event type.
    pub event_type: String,
    /// A redelivery of an event received before.
    pub duplicate: bool,
    /// Whether creditgate knows the type as one about credits; others are acknowledged.
    pub known_type: bool,
}

fn not_found(code: ErrorCode, message: String) -> ApiError {
    ApiError::NotFound {
        code,
        message,
        provider: None,
    }
}

impl Gateway {
    /// Verifies, records and acknowledges one vendor delivery.
    pub async fn receive_vendor_webhook(
        &self,
        provider: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookReceipt, ApiError> {
        let kind: ProviderKind = provider
            .parse()
            .map_err(|e: String| not_found(ErrorCode::UnknownProvider, e))?;
        let adapter = self.adapter(kind).ok_or_else(|| {
            not_found(
                ErrorCode::UnknownProvider,
                format!("provider {kind} is not configured in this gateway"),
            )
        })?;
        let Some(hooks) = adapter.webhooks() else {
            return Err(not_found(
                ErrorCode::WebhooksNotConfigured,
                format!(
                    "{kind} deliveries cannot be verified here: set `webhook_secret` in [providers.{kind}] \
                     (where {kind} signs its webhooks; README.md, \"Events\", says which vendors do)"
                ),
            ));
        };
        let checked = hooks
            .verify(headers, body, OffsetDateTime::now_utc())
            .and_then(|()| hooks.read_event(headers, body));
        let event = match checked {
            Ok(event) => event,
            Err(refusal) => {
                crate::metrics::record_vendor_webhook(kind, "refused");
                tracing::warn!(provider = %kind, reason = %refusal, "vendor webhook refused");
                return Err(ApiError::from(refusal));
            }
        };
        let records = self
            .inner
            .store
            .as_ref()
            .ok_or_else(|| ApiError::Internal("a gateway taking webhooks has a store".into()))?;
        let customer = event
            .customer
            .clone()
            .filter(|customer| adapter.check_customer_id(customer).is_ok());
        let inbound = super::events::Inbound {
            provider: kind,
            id: event.id.clone(),
            kind: event.kind.clone(),
            customer: customer.clone(),
            known: event.known,
            received: OffsetDateTime::now_utc().unix_timestamp(),
        };
        let body = serde_json::to_vec(&inbound).map_err(|e| ApiError::Internal(e.to_string()))?;
        let new = records
            .receive_vendor_event(kind, &event.id, super::events::INBOX, body)
            .await
            .map_err(|e| ApiError::StoreUnavailable(e.0))?;
        self.inner.inbox_wake.notify_one();
        if let Some(customer) = customer.as_deref() {
            self.forget_customer(kind, customer).await;
        }
        let outcome = match (new, event.known) {
            (false, _) => "duplicate",
            (true, true) => "accepted",
            (true, false) => "unknown_type",
        };
        crate::metrics::record_vendor_webhook(kind, outcome);
        tracing::info!(provider = %kind, event_id = %event.id, event_type = %event.kind, outcome, "vendor webhook");
        Ok(WebhookReceipt {
            object: "vendor_webhook_receipt",
            provider: kind,
            event_id: event.id,
            event_type: event.kind,
            duplicate: !new,
            known_type: event.known,
        })
    }
}
