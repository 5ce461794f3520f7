//! `POST /v1/vendor_webhooks/{provider}`: a vendor's push, believed only once its
//! signature checks out (README.md, "Events"). A delivery is answered 2xx only after its
//! event is durably recorded and queued to be read, so the vendor retries anything
//! creditgate did not keep; a redelivery is recorded once. Every verified delivery drops
//! the customer's cached reads, on every replica, so a read after a vendor-side change is
//! fresh.
//!
//! A worker ([`Gateway::read_vendor_events`]) then reads what each queued event is about:
//! the grant it names (to learn the customer when the payload does not say, and to record
//! `credit_grant.created`/`updated` of the grant as `/v1` serves it when the event is about
//! the grant itself), then the customer's balances where an endpoint or an alert watches
//! them (`gateway::events`).

use std::time::Duration;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Gateway;
use crate::error::{ApiError, ErrorCode};
use crate::events::Emit;
use crate::model::event::EventSource;
use crate::model::ProviderKind;
use crate::providers::webhooks::VendorEvent;
use crate::upstream::{CacheUse, CallScope};

/// The queue vendor events wait on to be read.
pub(super) const INBOX: &str = "vendor_inbox";

/// How long a vendor event whose customer cannot be read is retried before it is dropped.
const INBOX_GIVE_UP: Duration = Duration::from_secs(24 * 60 * 60);

/// A verified vendor event, queued to be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Inbound {
    pub provider: ProviderKind,
    /// The event as the vendor's dialect read it (its customer only if well formed).
    pub event: VendorEvent,
    /// Unix seconds it was received.
    pub received: i64,
}

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
        let mut event = event;
        event.customer = event
            .customer
            .filter(|customer| adapter.check_customer_id(customer).is_ok());
        let inbound = Inbound {
            provider: kind,
            event,
            received: OffsetDateTime::now_utc().unix_timestamp(),
        };
        let body = serde_json::to_vec(&inbound).map_err(|e| ApiError::Internal(e.to_string()))?;
        let Inbound { event, .. } = inbound;
        let new = records
            .receive_vendor_event(kind, &event.id, INBOX, body)
            .await
            .map_err(|e| ApiError::StoreUnavailable(e.0))?;
        self.inner.inbox_wake.notify_one();
        if let Some(customer) = event.customer.as_deref() {
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

    /// Takes queued vendor events and reads what they are about, until `stop` says so.
    pub(super) async fn read_vendor_events(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Ok(log) = self.event_log() else { return };
        let lease = Duration::from_secs(60);
        while !*stop.borrow() {
            let claimed = match log.records().claim_due(INBOX, lease, 8).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "queued vendor events could not be read");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = self.inner.inbox_wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let reads = claimed.into_iter().map(|item| async move {
                let retry_in = match serde_json::from_slice::<Inbound>(&item.body) {
                    Ok(inbound) => self.read_vendor_event(&inbound).await,
                    Err(e) => {
                        tracing::error!(error = %e, "a queued vendor event is unreadable; dropped");
                        None
                    }
                };
                let settled = log
                    .records()
                    .settle(INBOX, &item.item, retry_in, None, log.config().retention())
                    .await;
                if let Err(e) = settled {
                    tracing::warn!(error = %e, "a vendor event's reading was not recorded; it is read again");
                }
            });
            futures_util::future::join_all(reads).await;
        }
    }

    /// Reads what one vendor event is about; `Some(wait)` to try again after `wait`.
    async fn read_vendor_event(&self, inbound: &Inbound) -> Option<Duration> {
        if !inbound.event.known {
            return None;
        }
        match self.read_pushed(inbound).await {
            Ok(()) => None,
            Err(e) => {
                let age = OffsetDateTime::now_utc().unix_timestamp() - inbound.received;
                if u64::try_from(age).unwrap_or(0) > INBOX_GIVE_UP.as_secs() {
                    tracing::error!(provider = %inbound.provider, event = %inbound.event.id, error = %e, "a vendor event could not be read for a day; dropped");
                    None
                } else {
                    tracing::warn!(provider = %inbound.provider, event = %inbound.event.id, error = %e, "a vendor event could not be read; tried again");
                    Some(Duration::from_secs(5))
                }
            }
        }
    }

    /// The grant a vendor event is about, read again (its event recorded when the vendor
    /// event is about the grant itself), then the customer's balances where watched.
    async fn read_pushed(&self, inbound: &Inbound) -> Result<(), ApiError> {
        let log = self.event_log()?;
        let adapter = self
            .adapter(inbound.provider)
            .ok_or_else(|| ApiError::Internal(format!("provider {} vanished", inbound.provider)))?;
        let source = EventSource::VendorWebhook {
            vendor_event_id: inbound.event.id.clone(),
            vendor_event_type: inbound.event.kind.clone(),
        };
        let mut customer = inbound.event.customer.clone();
        let needs_grant = inbound.event.grant_event.is_some() || customer.is_none();
        if let (Some(grant_id), true, true) = (&inbound.event.grant, needs_grant, adapter.grant_lookup().is_some()) {
            let cache = CacheUse::new(true);
            let grant = match adapter
                .get_grant(
                    CallScope::new(&cache),
                    grant_id,
                    crate::providers::GrantIncludes::default(),
                )
                .await
            {
                Ok(grant) => grant,
                // Gone since (Sequence deletes): nothing left to read.
                Err(ApiError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            if customer.is_none() {
                customer = grant.vendor_customer_id().map(str::to_owned);
                if let Some(found) = customer.as_deref() {
                    self.forget_customer(inbound.provider, found).await;
                }
            }
            if let (Some(event_type), Some(found)) = (inbound.event.grant_event, customer.as_deref()) {
                let json = serde_json::to_vec(&grant).map_err(|e| ApiError::Internal(e.to_string()))?;
                if let Some(object) = super::events::raw(json) {
                    let emit = Emit {
                        event_type,
                        provider: inbound.provider,
                        customer_id: found.to_owned(),
                        object,
                        source: source.clone(),
                        cause: format!(
                            "vendor\u{0}{}\u{0}{}\u{0}{}",
                            inbound.provider,
                            inbound.event.id,
                            event_type.as_str()
                        ),
                        guard: None,
                        alert: None,
                    };
                    log.record(vec![emit])
                        .await
                        .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
                }
            }
        }
        let Some(customer) = customer else { return Ok(()) };
        if self.balances_watched(inbound.provider, &customer).await {
            self.record_balances(inbound.provider, &customer, source).await?;
        }
        Ok(())
    }
}
