//! Events (README.md, "Events"): what creditgate records of every change it sees, and the
//! API over them. Sources:
//!
//! - its own writes: the grant created or ended, the ledger entry booked, recorded before
//!   the write's idempotency record is completed, under the write's key (a retry that
//!   finds the write again records nothing twice);
//! - vendor webhooks (`gateway::webhooks`): the grant a push is about, read again;
//! - after either, when an endpoint takes the customer's balance events or an alert
//!   watches them (`gateway::alerts`), the balances are read again and a
//!   `credit_balance.updated` recorded for each that differs from the one seen last (once
//!   across replicas: the balance seen is kept with the log, and compared and replaced in
//!   the same step).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::listing::ListPage;
use super::targets::CustomerRef;
use super::{Caller, Gateway};
use crate::config::{Config, ConfigError};
use crate::error::{ApiError, ErrorCode};
use crate::events::delivery::DeliveryState;
use crate::events::{Emit, Endpoint, EventLog};
use crate::model::event::{Event, EventSource, EventType};
use crate::model::{qualified_id, ProviderKind};
use crate::paging::{filter_hash, CursorScope, Limit};
use crate::shared::records::Records;
use crate::upstream::{CacheUse, CallScope};

/// `GET /v1/events` parameters.
#[derive(Debug, Clone, Default)]
pub struct EventsQuery {
    pub customer: Option<String>,
    pub event_type: Option<EventType>,
    pub limit: Limit,
    pub cursor: Option<String>,
}

/// `GET /v1/events/{id}`: the event and its delivery to each endpoint.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EventWithDeliveries {
    #[serde(flatten)]
    pub event: Event,
    pub deliveries: Vec<DeliveryState>,
}

/// `config`'s endpoints, checked (their URL, secret and customers): what `check-config`
/// checks, and what the event log delivers to. Every endpoint's problem is reported.
pub(super) fn endpoints(config: &Config) -> Result<Vec<Endpoint>, ConfigError> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut problems = Vec::new();
    for (i, endpoint) in config.webhook_endpoints.iter().enumerate() {
        let at = |key: &str| format!("webhook_endpoints[{i}].{key}");
        let built = endpoint_customers(config, endpoint.customers.as_deref())
            .map_err(|e| ConfigError::at(at("customers"), e))
            .and_then(|customers| {
                Endpoint::new(endpoint, customers).map_err(|(key, message)| ConfigError::at(at(&key), message))
            });
        match built {
            Ok(built) if endpoints.iter().any(|e| e.id == built.id) => {
                problems.push(ConfigError::at(at("url"), "the same URL as an earlier endpoint"));
            }
            Ok(built) => endpoints.push(built),
            Err(e) => problems.push(e),
        }
    }
    ConfigError::all(problems)?;
    Ok(endpoints)
}

/// An endpoint's `customers`, each as `<provider>:<id>` (an alias as all of its ids).
fn endpoint_customers(config: &Config, list: Option<&[String]>) -> Result<Option<BTreeSet<String>>, String> {
    let Some(list) = list else { return Ok(None) };
    let mut resolved = BTreeSet::new();
    for text in list {
        match CustomerRef::parse(text, "customers").map_err(|e| e.to_string())? {
            CustomerRef::Qualified { provider, id } => {
                resolved.insert(qualified_id(provider, &id));
            }
            CustomerRef::Alias(alias) => {
                let map = config
                    .customers
                    .get(&alias)
                    .ok_or_else(|| format!("no customer alias `{alias}` in [customers]"))?;
                resolved.extend(map.0.iter().map(|(p, id)| qualified_id(*p, id)));
            }
        }
    }
    Ok(Some(resolved))
}

/// The event log of `config`'s endpoints over `records`.
pub(super) fn event_log(config: &Config, records: &Records) -> Result<EventLog, ConfigError> {
    Ok(EventLog::new(
        records.clone(),
        endpoints(config)?,
        config.events.clone(),
    ))
}

pub(super) fn raw(json: Vec<u8>) -> Option<Box<serde_json::value::RawValue>> {
    String::from_utf8(json)
        .ok()
        .and_then(|text| serde_json::value::RawValue::from_string(text).ok())
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::EventNotFound,
        message: format!(
            "no event {} (events are kept for [events] retention_days)",
            crate::model::quoted(id)
        ),
        provider: None,
    }
}

impl Gateway {
    pub(super) fn event_log(&self) -> Result<&EventLog, ApiError> {
        self.inner.events.as_ref().ok_or_else(|| ApiError::NotFound {
            code: ErrorCode::EventsNotConfigured,
            message: "this gateway records no events: it has no key that may write, no vendor webhooks and no \
                      [[webhook_endpoints]] (README.md, \"Events\")"
                .into(),
            provider: None,
        })
    }

    /// Records what a successful write changed, under `cause` (the write's tenant, key and
    /// generation), then reads the customer's balances again in the background.
    pub(super) async fn record_write_events(
        &self,
        provider: ProviderKind,
        customer_id: Option<&str>,
        changed: Option<(EventType, Vec<u8>)>,
        cause: &str,
    ) {
        let (Some(log), Some(customer_id)) = (&self.inner.events, customer_id) else {
            return;
        };
        let source = EventSource::Write {
            request_id: crate::request_id::current().unwrap_or_default(),
        };
        if let Some((event_type, Some(object))) = changed.map(|(t, json)| (t, raw(json))) {
            let emit = Emit {
                event_type,
                provider,
                customer_id: customer_id.to_owned(),
                object,
                source: source.clone(),
                cause: format!("write\u{0}{cause}\u{0}{}", event_type.as_str()),
                guard: None,
                alert: None,
            };
            if let Err(e) = log.record(vec![emit]).await {
                tracing::error!(error = %e, "a write's event was not recorded");
            }
        }
        if !self.balances_watched(provider, customer_id).await {
            return;
        }
        let gateway = self.clone();
        let customer_id = customer_id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = gateway.record_balances(provider, &customer_id, source).await {
                tracing::warn!(error = %e, %provider, "balances after a write were not read");
            }
        });
    }

    /// Whether anything watches `customer_id`'s balances at `provider`: an endpoint taking
    /// its balance events, or an alert.
    pub(super) async fn balances_watched(&self, provider: ProviderKind, customer_id: &str) -> bool {
        let Some(log) = &self.inner.events else { return false };
        let customer = qualified_id(provider, customer_id);
        if log.wanted(EventType::BalanceUpdated, &customer) {
            return true;
        }
        match self.alerts_of(&customer).await {
            Ok(alerts) => !alerts.is_empty(),
            // Unknown: read them, rather than miss an alert.
            Err(_) => true,
        }
    }

    /// Reads `customer_id`'s balances at `provider` fresh, and records a
    /// `credit_balance.updated` for each that differs from the one seen last, and a
    /// `credit_balance.low` for each alert that went below its threshold.
    pub(super) async fn record_balances(
        &self,
        provider: ProviderKind,
        customer_id: &str,
        source: EventSource,
    ) -> Result<(), ApiError> {
        let log = self.event_log()?;
        let adapter = self
            .adapter(provider)
            .ok_or_else(|| ApiError::Internal(format!("provider {provider} vanished")))?;
        if adapter.credit_balances().is_none() {
            return Ok(());
        }
        let cache = CacheUse::new(true);
        let balances = adapter
            .balances(CallScope::new(&cache).about(Some(customer_id)), customer_id)
            .await?;
        let alerts = self.alerts_of(&qualified_id(provider, customer_id)).await?;
        let (mut emits, armed) = Self::alert_changes(&alerts, &balances, customer_id, &source);
        for balance in balances {
            let json = serde_json::to_vec(&balance).map_err(|e| ApiError::Internal(e.to_string()))?;
            let Some(object) = raw(json) else { continue };
            let guard_key = format!("balance\u{0}{}\u{0}{}", balance.customer, balance.unit);
            let value = balance.available.value.normalize().to_string();
            emits.push(Emit {
                event_type: EventType::BalanceUpdated,
                provider,
                customer_id: customer_id.to_owned(),
                object,
                source: source.clone(),
                cause: format!("balance\u{0}{}", crate::events::random_u64()),
                guard: Some((guard_key, value)),
                alert: None,
            });
        }
        let recorded = log
            .record(emits)
            .await
            .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
        // A balance seen to change (a watcher's read, say) makes what is cached of the
        // customer stale: reads after it are fresh.
        if recorded.iter().any(|e| e.event_type == EventType::BalanceUpdated) {
            self.forget_customer(provider, customer_id).await;
        }
        self.arm(armed).await
    }

    /// Starts the workers of the event log: one per endpoint, the reader of vendor events
    /// and the watcher of balances. For the server; tools start none.
    pub fn start_event_workers(&self) -> Result<(), String> {
        let Some(log) = &self.inner.events else {
            return Ok(());
        };
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let mut handles = crate::events::delivery::spawn_workers(log, &stopping)?;
        let (gateway, reading) = (self.clone(), stopping.clone());
        handles.push(tokio::spawn(async move { gateway.read_vendor_events(reading).await }));
        let gateway = self.clone();
        handles.push(tokio::spawn(async move { gateway.watch_balances(stopping).await }));
        let mut workers = self.inner.event_workers.lock().unwrap_or_else(|e| e.into_inner());
        *workers = Some((stop, handles));
        Ok(())
    }

    /// Stops the event workers once their work in hand is done (an attempt in flight ends
    /// within `attempt_timeout_ms`; what is not done stays queued for the next start).
    pub async fn stop_event_workers(&self) {
        let workers = self
            .inner
            .event_workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, handles)) = workers {
            let _ = stop.send(true);
            for handle in handles {
                let _ = handle.await;
            }
        }
    }

    /// `GET /v1/events`: newest first, the events the caller may see.
    pub async fn list_events(&self, caller: &Arc<Caller>, query: &EventsQuery) -> Result<ListPage<Event>, ApiError> {
        let log = self.event_log()?;
        let customers = match query.customer.as_deref() {
            None => None,
            Some(text) => {
                let customer = CustomerRef::parse(text, "customer")?;
                let ids = self.customer_ids(&customer)?;
                if !ids.iter().all(|(p, id)| self.may_see_customer(caller, *p, id)) {
                    return Err(ApiError::Permission {
                        code: ErrorCode::CustomerNotAllowed,
                        message: format!("this API key may not read customer {}", crate::model::quoted(text)),
                        provider: None,
                    });
                }
                Some(ids.iter().map(|(p, id)| qualified_id(*p, id)).collect())
            }
        };
        let scope = CursorScope {
            tenant: caller.tenant.clone(),
            endpoint: "events".into(),
            customer: query.customer.clone().unwrap_or_else(|| "*".into()),
            filters: filter_hash(&[("type", query.event_type.map(|t| t.as_str()))]),
        };
        let before = query
            .cursor
            .as_deref()
            .map(|c| self.inner.cursors.decode_key(&scope, c))
            .transpose()?;
        let gateway = self.clone();
        let (caller_kept, wanted) = (Arc::clone(caller), query.event_type);
        let keep: crate::shared::events::Keep = Arc::new(move |json: &[u8]| {
            #[derive(Deserialize)]
            struct Head {
                #[serde(rename = "type")]
                event_type: EventType,
                provider: ProviderKind,
                customer: String,
            }
            let Ok(head) = serde_json::from_slice::<Head>(json) else {
                return false;
            };
            wanted.is_none_or(|t| t == head.event_type)
                && gateway.may_see_qualified(&caller_kept, head.provider, &head.customer)
        });
        let scan = log
            .records()
            .list_events(customers, before, query.limit.get(), keep)
            .await
            .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
        let data = scan
            .events
            .iter()
            .map(|json| serde_json::from_slice::<Event>(json))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::Internal(format!("a recorded event is unreadable: {e}")))?;
        let next = scan
            .next_before
            .map(|before| self.inner.cursors.encode_key(&scope, &before));
        Ok(ListPage::new(data, next, None, Vec::new()))
    }

    /// `GET /v1/events/{id}`, with its deliveries.
    pub async fn event(&self, caller: &Caller, id: &str) -> Result<EventWithDeliveries, ApiError> {
        let log = self.event_log()?;
        let unavailable = |e: crate::store::StoreError| ApiError::StoreUnavailable(e.to_string());
        let json = log
            .records()
            .event(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| not_found(id))?;
        let event: Event = serde_json::from_slice(&json)
            .map_err(|e| ApiError::Internal(format!("a recorded event is unreadable: {e}")))?;
        if !self.may_see_qualified(caller, event.provider, &event.customer) {
            return Err(not_found(id));
        }
        let mut deliveries: Vec<DeliveryState> = log
            .records()
            .deliveries(id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect();
        // An endpoint the event is queued for but not yet tried shows as pending.
        for endpoint in log.endpoints() {
            if endpoint.wants(event.event_type, &event.customer)
                && !deliveries.iter().any(|d| d.endpoint == endpoint.id)
            {
                deliveries.push(DeliveryState::pending(endpoint));
            }
        }
        Ok(EventWithDeliveries { event, deliveries })
    }

    /// `POST /v1/events/{id}/redeliver`: the event again, to every endpoint that takes it.
    pub async fn redeliver_event(&self, caller: &Caller, id: &str) -> Result<EventWithDeliveries, ApiError> {
        let log = self.event_log()?;
        let found = self.event(caller, id).await?;
        for endpoint in log.endpoints() {
            if found.deliveries.iter().any(|d| d.endpoint == endpoint.id) {
                log.redeliver(id, endpoint)
                    .await
                    .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
            }
        }
        self.event(caller, id).await
    }
}
