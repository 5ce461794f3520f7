//! Events out: the log every change to a customer's credits is recorded in, and its
//! delivery to the apps' endpoints, signed per Standard Webhooks (README.md, "Events").
//!
//! - [`EventsConfig`] (`[events]`) and [`EndpointConfig`] (`[[webhook_endpoints]]`);
//! - [`EventLog`]: records events (each cause once) with the deliveries they owe, in one
//!   atomic step, and wakes the endpoints' workers;
//! - [`signing`]: the `webhook-signature` of one attempt;
//! - [`delivery`]: one worker per endpoint, at least once, retried with backoff for the
//!   configured window; the state of every delivery is kept with the event.

pub mod delivery;
pub mod signing;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::model::event::{event_id, Event, EventData, EventSource, EventType, EVENT_OBJECT};
use crate::model::ProviderKind;
use crate::secret::SecretRef;
use crate::shared::records::Records;
use crate::store::{NewEvent, StoreError};

/// `[events]`: how long events are kept and how deliveries are retried.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// How long `GET /v1/events` keeps an event, from when it was recorded.
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: u64,
    /// How long a delivery is retried after its first attempt before it is given up.
    #[schemars(range(min = 1))]
    pub retry_window_hours: u64,
    /// The wait before the first retry; each retry after waits twice as long, up to
    /// `max_retry_interval_ms`, with random jitter of up to half the wait.
    #[schemars(range(min = 1))]
    pub first_retry_ms: u64,
    #[schemars(range(min = 1))]
    pub max_retry_interval_ms: u64,
    /// The longest one delivery attempt may take (connect, send, and the answer's head);
    /// past it the attempt failed and is retried.
    #[schemars(range(min = 1))]
    pub attempt_timeout_ms: u64,
    /// Attempts in flight at once to one endpoint.
    #[schemars(range(min = 1, max = 1024))]
    pub max_in_flight_per_endpoint: usize,
    /// How often creditgate reads the watched balances at a vendor that pushes no event for
    /// every balance movement (README.md, "Events", says which).
    #[schemars(range(min = 1))]
    pub watch_interval_secs: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            retention_days: 30,
            retry_window_hours: 72,
            first_retry_ms: 5_000,
            max_retry_interval_ms: 3_600_000,
            attempt_timeout_ms: 15_000,
            max_in_flight_per_endpoint: 16,
            watch_interval_secs: 60,
        }
    }
}

impl EventsConfig {
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_days.saturating_mul(24 * 60 * 60))
    }
}

/// `[[webhook_endpoints]]`: an app's URL that receives events.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `https://…` (plain `http://` only to this machine).
    pub url: String,
    /// The endpoint's signing secret, `whsec_` + base64 of 24 to 64 random bytes, as a
    /// secret reference.
    pub secret: SecretRef,
    /// The event types it receives; every type when absent.
    #[serde(default)]
    pub events: Option<Vec<EventType>>,
    /// The customers whose events it receives (`provider:id` or an alias); every
    /// customer's when absent.
    #[serde(default)]
    pub customers: Option<Vec<String>>,
}

/// An endpoint as the log and its worker use it: its config checked and resolved.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `we_` + 16 hex digits of its URL's SHA-256: stable across restarts, so its queue and
    /// the state of its deliveries are found again.
    pub id: String,
    pub url: url::Url,
    pub key: signing::SigningKey,
    pub types: Option<BTreeSet<EventType>>,
    /// `<provider>:<id>` each.
    pub customers: Option<BTreeSet<String>>,
}

impl Endpoint {
    /// The endpoint of `config`, with its customers already resolved to `<provider>:<id>`.
    pub fn new(config: &EndpointConfig, customers: Option<BTreeSet<String>>) -> Result<Endpoint, (String, String)> {
        let url = url::Url::parse(&config.url).map_err(|e| ("url".to_owned(), format!("not a URL: {e}")))?;
        let secure = url.scheme() == "https" || (url.scheme() == "http" && crate::providers::urls::is_loopback(&url));
        if !secure {
            return Err((
                "url".into(),
                "events carry customers' balances: use https:// (plain http:// only to this machine)".into(),
            ));
        }
        let secret = config.secret.resolve().map_err(|e| ("secret".to_owned(), e))?;
        let key = signing::SigningKey::from_whsec(&secret).map_err(|e| ("secret".to_owned(), e))?;
        let digest = Sha256::digest(config.url.as_bytes());
        let id = format!(
            "we_{}",
            digest[..8].iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        Ok(Endpoint {
            id,
            url,
            key,
            types: config.events.as_ref().map(|t| t.iter().copied().collect()),
            customers,
        })
    }

    /// Whether it takes events of `event_type` about `customer` (`<provider>:<id>`).
    pub fn wants(&self, event_type: EventType, customer: &str) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(&event_type))
            && self.customers.as_ref().is_none_or(|c| c.contains(customer))
    }
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct Emit {
    pub event_type: EventType,
    pub provider: ProviderKind,
    /// The vendor's customer id.
    pub customer_id: String,
    /// The normalized object's JSON, exactly as `/v1` serves it.
    pub object: Box<serde_json::value::RawValue>,
    pub source: EventSource,
    /// What caused it, so that the same cause recorded twice (a retried write, a vendor
    /// event read again after a crash) is one event.
    pub cause: String,
    /// `(key, value)`: record it only if `value` is not the one last recorded under `key`
    /// (a balance: an event only when it changed).
    pub guard: Option<(String, String)>,
    /// The alert that fired (`credit_balance.low`).
    pub alert: Option<crate::model::event::BalanceAlert>,
}

/// The event log of a serving gateway, and the endpoints its events go to.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    records: Records,
    endpoints: Vec<Arc<Endpoint>>,
    config: EventsConfig,
    /// One per endpoint, by id: rung when an event for it is recorded here.
    wake: BTreeMap<String, Arc<Notify>>,
}

impl EventLog {
    pub fn new(records: Records, endpoints: Vec<Endpoint>, config: EventsConfig) -> EventLog {
        let wake = endpoints
            .iter()
            .map(|e| (e.id.clone(), Arc::new(Notify::new())))
            .collect();
        EventLog {
            inner: Arc::new(Inner {
                records,
                endpoints: endpoints.into_iter().map(Arc::new).collect(),
                config,
                wake,
            }),
        }
    }

    pub fn records(&self) -> &Records {
        &self.inner.records
    }

    pub fn config(&self) -> &EventsConfig {
        &self.inner.config
    }

    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.inner.endpoints
    }

    /// Whether some endpoint takes events of `event_type` about `customer`
    /// (`<provider>:<id>`).
    pub fn wanted(&self, event_type: EventType, customer: &str) -> bool {
        self.inner.endpoints.iter().any(|e| e.wants(event_type, customer))
    }

    /// Records `events`, each once per cause, with a delivery to every endpoint that wants
    /// it; answers the events recorded now.
    pub async fn record(&self, events: Vec<Emit>) -> Result<Vec<Event>, StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut built = Vec::with_capacity(events.len());
        let mut rows = Vec::with_capacity(events.len());
        for emit in events {
            let customer = crate::model::qualified_id(emit.provider, &emit.customer_id);
            let event = Event {
                object: EVENT_OBJECT.to_owned(),
                id: event_id(millis, random_u64()),
                event_type: emit.event_type,
                created: now,
                provider: emit.provider,
                customer: customer.clone(),
                data: EventData {
                    object: emit.object,
                    alert: emit.alert,
                },
                source: emit.source,
            };
            let json =
                serde_json::to_vec(&event).map_err(|e| StoreError(format!("an event does not serialize: {e}")))?;
            let deliver_to = self
                .inner
                .endpoints
                .iter()
                .filter(|e| e.wants(event.event_type, &customer))
                .map(|e| e.id.clone())
                .collect();
            rows.push(NewEvent {
                id: event.id.clone(),
                customer,
                source: emit.cause,
                json,
                deliver_to,
                guard: emit.guard,
            });
            built.push(event);
        }
        let recorded = self
            .inner
            .records
            .append_events(rows.clone(), self.inner.config.retention())
            .await?;
        let mut out = Vec::new();
        for ((event, row), new) in built.into_iter().zip(rows).zip(recorded) {
            if !new {
                continue;
            }
            crate::metrics::record_event(event.event_type.as_str());
            for endpoint in &row.deliver_to {
                if let Some(wake) = self.inner.wake.get(endpoint) {
                    wake.notify_one();
                }
            }
            out.push(event);
        }
        Ok(out)
    }

    /// Queues event `id` again for `endpoint` (a redelivery), and wakes its worker.
    pub async fn redeliver(&self, id: &str, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.inner.records.enqueue(&endpoint.id, id, b"").await?;
        if let Some(wake) = self.inner.wake.get(&endpoint.id) {
            wake.notify_one();
        }
        Ok(())
    }

    /// The signal rung when an event for endpoint `id` is recorded by this process.
    fn wake(&self, id: &str) -> Option<Arc<Notify>> {
        self.inner.wake.get(id).cloned()
    }
}

/// 64 random bits from the system's source.
pub fn random_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    // The system's random source does not fail on Linux; a zero value would still be a
    // valid (if less unique) id.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    u64::from_be_bytes(bytes)
}
