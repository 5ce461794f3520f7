//! `creditgate::Gateway`: the library the HTTP server and the CLI are thin layers over.
//! It authenticates callers, resolves customers, checks permissions and capabilities,
//! validates ids before any vendor call, binds cursors to the caller and concatenates
//! providers in config order. One file per job:
//!
//! - [`keys`]: API keys, callers and their quotas;
//! - [`targets`]: customer and grant references, permissions, which providers to call;
//! - [`listing`]: paging a listing across providers, limits and cursors;
//! - [`reads`]: the read endpoints;
//! - [`answers`]: whole client answers, cached with their `ETag` and compressed forms;
//! - [`writes`]: the write endpoints, exactly once over the idempotency store.

mod alerts;
pub mod answers;
mod check;
mod events;
mod history;
mod keys;
mod listing;
mod reads;
pub mod sessions;
mod targets;
mod timelines;
mod watch;
mod webhooks;
mod writes;

use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, ConfigError, CustomerAliases};
use crate::error::ApiError;
use crate::model::{Capabilities, ProviderKind};
use crate::paging::CursorCodec;
use crate::providers::provider::GrantFields;
use crate::providers::CreditsProvider;
use crate::quota::Admission;
use crate::shared::invalidation::Invalidated;
use crate::shared::records::Records;
use crate::shared::SharedState;
use crate::store::DiskStore;
use crate::upstream::breaker::CircuitState;
use crate::upstream::lane::OutboundRate;

/// Where a gateway's idempotency records are kept.
#[derive(Debug, Clone, Copy)]
enum Store<'a> {
    /// `[store] path` (or Redis with `[redis]`), for 24 hours.
    Config(&'a std::path::Path),
    /// Beside a migration plan, for good.
    Plan(&'a std::path::Path),
    /// [`Store::Config`] if a key may write, a vendor's webhooks are taken or events go to
    /// endpoints (all keep records); none otherwise.
    IfNeeded(&'a std::path::Path),
}

/// The signal that stops the event workers, and their tasks.
type EventWorkers = (tokio::sync::watch::Sender<bool>, Vec<tokio::task::JoinHandle<()>>);

/// The shortest cursor signing key accepted: a short one could be guessed, and cursors forged.
pub const MIN_CURSOR_SECRET_BYTES: usize = 32;
use crate::upstream::{Outcome, UpstreamClient};
pub use check::{Probe, ProviderSummary};
pub use events::{EventWithDeliveries, EventsQuery};
pub use history::{BalanceHistory, HistoryQuery, MAX_HISTORY_ENTRIES, MAX_HISTORY_POINTS};
pub use keys::Caller;
pub use listing::{ListPage, Skipped};
pub use reads::{BalancesQuery, GrantsQuery, LedgerQuery};
pub use targets::{CustomerRef, GrantRef};
pub use webhooks::WebhookReceipt;
pub use writes::{check_idempotency_key, WriteAnswer, WriteBody, WriteScope, Writer, MAX_IDEMPOTENCY_KEY_CHARS};

/// The gateway: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Configured providers, in creditgate's fixed provider order.
    adapters: Vec<Box<dyn CreditsProvider>>,
    customers: CustomerAliases,
    cursors: CursorCodec,
    api_keys: keys::ApiKeys,
    /// Console sessions; `None` with `[console] enabled = false`.
    sessions: Option<sessions::Sessions>,
    upstream: UpstreamClient,
    answers: answers::AnswerCache,
    max_in_flight: usize,
    /// `[server] body_read_timeout_ms`.
    body_read_timeout: std::time::Duration,
    /// Idempotency records; only opened when a key may write.
    store: Option<Records>,
    /// The event log, when the store is open for a serving gateway.
    events: Option<crate::events::EventLog>,
    /// Rung when a vendor event is queued here, for the reader of vendor events.
    inbox_wake: tokio::sync::Notify,
    /// The running event workers: the signal that stops them, and their tasks.
    event_workers: std::sync::Mutex<Option<EventWorkers>>,
    /// With `[redis]`: the state shared with the other replicas.
    shared: Option<SharedState>,
    /// Writes that must go one at a time per customer (`shared::serial`).
    customer_locks: crate::shared::serial::CustomerLocks,
    /// Per provider: how long an unknown outcome settles before anyone looks for it.
    write_settle: std::collections::BTreeMap<ProviderKind, std::time::Duration>,
    /// Unix seconds of the last purge of expired records.
    last_purge: std::sync::atomic::AtomicU64,
    /// Set once the process is stopping: `/readyz` answers 503 while connections drain.
    draining: std::sync::atomic::AtomicBool,
}

/// `GET /v1/providers` entry.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProviderInfo {
    #[schemars(extend("const" = "provider"))]
    pub object: &'static str,
    pub id: ProviderKind,
    pub capabilities: Capabilities,
    /// How the vendor pages.
    pub paging: String,
    /// How the vendor's most recent call went.
    pub health: Outcome,
    pub circuit: CircuitState,
    /// The pace creditgate keeps to at this vendor, per credential.
    pub outbound_rate: OutboundRate,
}

impl Gateway {
    /// Builds every configured adapter, resolving secrets; errors name the config key.
    pub fn from_config(config: &Config) -> Result<Gateway, ConfigError> {
        Self::build(config, Some(Store::IfNeeded(&config.store.path)))
    }

    /// A gateway whose idempotency records live at `store` whatever the config's keys may
    /// do, and never expire: for `migrate apply`, which keeps its records beside its plan
    /// for as long as the plan can be run (on disk, even with `[redis]`).
    pub fn with_store_at(config: &Config, store: &std::path::Path) -> Result<Gateway, ConfigError> {
        Self::build(config, Some(Store::Plan(store)))
    }

    /// A gateway for tools that read as their own caller: no idempotency store, and the
    /// Redis connection of `[redis]` (inside the runtime) for the shared vendor pace.
    pub fn for_tools(config: &Config) -> Result<Gateway, ConfigError> {
        Self::build(config, None)
    }

    /// Everything [`Self::from_config`] checks, without opening the idempotency store (a
    /// running gateway holds it; only one process may): its directory must exist. For
    /// `creditgate check-config`.
    pub fn check_config(config: &Config) -> Result<Gateway, ConfigError> {
        let (gateway, mut problems) = match Self::build_with(config, None, false) {
            Ok(gateway) => (Some(gateway), Vec::new()),
            Err(e) => (None, vec![e]),
        };
        problems.extend(events::endpoints(config).err());
        if let Some(redis) = &config.redis {
            problems.extend(redis.check().err().map(|e| ConfigError::at("redis.url", e)));
        }
        if let Some(telemetry) = &config.telemetry {
            for (name, secret) in &telemetry.headers {
                if let Err(e) = secret.resolve() {
                    problems.push(ConfigError::at(format!("telemetry.headers.{name}"), e));
                }
            }
        }
        let takes_webhooks = gateway
            .as_ref()
            .is_some_and(|g| g.inner.adapters.iter().any(|a| a.webhooks().is_some()));
        if config.any_key_may_write() || takes_webhooks || !config.webhook_endpoints.is_empty() {
            let path = &config.store.path;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) {
                problems.push(ConfigError::at(
                    "store.path",
                    format!("{}: its directory does not exist", path.display()),
                ));
            }
        }
        ConfigError::all(problems)?;
        gateway.ok_or_else(|| ConfigError::at("<document>", "the gateway could not be built"))
    }

    fn build(config: &Config, store_at: Option<Store<'_>>) -> Result<Gateway, ConfigError> {
        Self::build_with(config, store_at, true)
    }

    /// `connect`: set up the Redis connection of `[redis]` (inside the runtime).
    fn build_with(config: &Config, store_at: Option<Store<'_>>, connect: bool) -> Result<Gateway, ConfigError> {
        // Every problem at once: the config's own, then the cursor key's, every vendor's and
        // every alias's.
        let mut problems: Vec<ConfigError> = config.validate().err().into_iter().collect();
        let shared = match &config.redis {
            Some(redis) if connect => Some(SharedState::new(redis).map_err(|e| ConfigError::at("redis.url", e))?),
            _ => None,
        };
        let mut upstream = UpstreamClient::new(&config.upstream).map_err(|e| ConfigError::at("upstream", e))?;
        if let Some(shared) = &shared {
            upstream = upstream.with_shared(shared.clone());
        }
        let cursor_secret = match config.cursor_secret.resolve() {
            Ok(secret) if secret.expose().len() < MIN_CURSOR_SECRET_BYTES => {
                problems.push(ConfigError::at(
                    "cursor_secret",
                    format!(
                        "the cursor signing key must be at least {MIN_CURSOR_SECRET_BYTES} bytes (got {}); \
                         make one with `openssl rand -hex 32`",
                        secret.expose().len()
                    ),
                ));
                None
            }
            Ok(secret) => Some(secret),
            Err(e) => {
                problems.push(ConfigError::at("cursor_secret", e));
                None
            }
        };
        let adapters = config.providers.build(&upstream).unwrap_or_else(|failed| {
            problems.extend(failed.into_iter().map(|(provider, (key, message))| {
                let key = if key.is_empty() {
                    format!("providers.{provider}")
                } else {
                    format!("providers.{provider}.{key}")
                };
                ConfigError::at(key, message)
            }));
            Vec::new()
        });
        for (alias, map) in &config.customers.0 {
            for (provider, id) in &map.0 {
                // A vendor that could not be built has its problem reported already.
                if let Some(adapter) = adapters.iter().find(|a| a.kind() == *provider) {
                    if let Err(e) = adapter.check_customer_id(id) {
                        problems.push(ConfigError::at(format!("customers.{alias}.{provider}"), e));
                    }
                }
            }
        }
        ConfigError::all(problems)?;
        let Some(cursor_secret) = cursor_secret else {
            return Err(ConfigError::at("cursor_secret", "not resolved"));
        };
        let store_at = match store_at {
            Some(Store::IfNeeded(path)) => (config.any_key_may_write()
                || adapters.iter().any(|a| a.webhooks().is_some())
                || !config.webhook_endpoints.is_empty())
            .then_some(Store::Config(path)),
            other => other,
        };
        // Replicas sharing Redis share their records there; `[store]` is then unused. A
        // plan's records stay beside the plan, kept for good.
        let store = match (store_at, &shared) {
            (Some(Store::Config(_)), Some(shared)) => Some(Records::Shared(shared.clone())),
            (Some(at), _) => {
                let (path, open): (_, fn(&std::path::Path) -> _) = match at {
                    Store::Config(path) | Store::IfNeeded(path) => (path, DiskStore::open),
                    Store::Plan(path) => (path, DiskStore::open_keeping_everything),
                };
                let at = |e: crate::store::StoreError| ConfigError::Store {
                    path: path.display().to_string(),
                    message: e.0,
                };
                let store = open(path).map_err(at)?.keeping_events_for(config.events.retention());
                let purged = store.purge(std::time::SystemTime::now()).map_err(at)?;
                tracing::debug!(purged, "expired idempotency records removed");
                Some(Records::Disk(Arc::new(store)))
            }
            (None, _) => None,
        };
        // Events are a serving gateway's: not a migration plan's records, nor the tools'.
        let events = match (store_at, &store) {
            (Some(Store::Config(_)), Some(records)) => Some(events::event_log(config, records)?),
            _ => None,
        };
        let gateway = Gateway {
            inner: Arc::new(Inner {
                adapters,
                customers: config.customers.clone(),
                cursors: CursorCodec::new(&cursor_secret),
                sessions: config.console.enabled.then(|| {
                    let signed_out = sessions::SignedOut::kept_in(shared.as_ref(), store.as_ref());
                    sessions::Sessions::new(&cursor_secret, &config.console, signed_out)
                }),
                api_keys: keys::ApiKeys::from_config(config),
                upstream,
                answers: answers::AnswerCache::new(config.upstream.cache_max_bytes),
                max_in_flight: config.inbound.max_in_flight,
                body_read_timeout: std::time::Duration::from_millis(config.server.body_read_timeout_ms),
                store,
                events,
                inbox_wake: tokio::sync::Notify::new(),
                event_workers: Default::default(),
                shared: shared.clone(),
                customer_locks: Default::default(),
                write_settle: ProviderKind::ALL
                    .into_iter()
                    .map(|p| (p, config.upstream.write_settle(p)))
                    .collect(),
                last_purge: Default::default(),
                draining: Default::default(),
            }),
        };
        if let Some(shared) = shared {
            // The subscriber holds the gateway weakly: it stops once the gateway is gone.
            let weak = Arc::downgrade(&gateway.inner);
            shared.subscribe_invalidations(Arc::new(move |what| {
                let Some(inner) = weak.upgrade() else {
                    return false;
                };
                match what {
                    Invalidated::Customer { provider, customer } => {
                        inner.upstream.invalidate_customer(provider, &customer);
                        inner.answers.invalidate_customer(provider, &customer);
                    }
                    Invalidated::Everything => {
                        inner.upstream.invalidate_all();
                        inner.answers.invalidate_all();
                    }
                    Invalidated::Nothing => {}
                }
                true
            }));
        }
        Ok(gateway)
    }

    /// The Redis connection replicas share, when `[redis]` is configured.
    pub fn shared_state(&self) -> Option<&SharedState> {
        self.inner.shared.as_ref()
    }

    /// The cache of whole client answers (see [`answers`]).
    pub fn answers(&self) -> &answers::AnswerCache {
        &self.inner.answers
    }

    /// The caller a presented API key belongs to, and its quota verdict for this request
    /// (see [`keys::ApiKeys::authenticate`]).
    /// With `[redis]` the quota is counted there, over every replica; while Redis is
    /// unavailable each replica counts on its own.
    pub async fn authenticate(&self, presented_key: &str) -> Option<(Arc<Caller>, Admission)> {
        let key = self.inner.api_keys.find(presented_key)?;
        Some((Arc::clone(&key.caller), self.admit(key).await))
    }

    /// `key`'s quota verdict for one more request.
    async fn admit(&self, key: &keys::ApiKey) -> Admission {
        match &self.inner.shared {
            Some(shared) => match key.lease.admit(shared, &key.id, key.quota).await {
                Ok(admission) => {
                    shared.ensure_fresh().await;
                    admission
                }
                Err(_) => key.limiter.check(),
            },
            None => key.limiter.check(),
        }
    }

    /// The process is stopping: from now on it is not ready for new traffic.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Drops every cached vendor answer about `customer` (`<provider>:<id>` or an alias), for
    /// a write path to call once it has changed that customer's credits, on every replica.
    pub async fn invalidate_customer(&self, customer: &str) -> Result<(), ApiError> {
        let customer = CustomerRef::parse(customer, "customer")?;
        for (provider, id) in self.customer_ids(&customer)? {
            self.forget_customer(provider, &id).await;
        }
        self.until_replicas_read_invalidations().await;
        Ok(())
    }

    /// Drops what this replica caches about `customer` at `provider`, then tells the others.
    async fn forget_customer(&self, provider: ProviderKind, customer: &str) {
        self.inner.upstream.invalidate_customer(provider, customer);
        self.inner.answers.invalidate_customer(provider, customer);
        if let Some(shared) = &self.inner.shared {
            if let Err(e) = shared.publish_invalidation(provider, customer).await {
                tracing::warn!(error = %e, %provider, "other replicas were not told of a write; they may answer from their cache until it expires");
            }
        }
    }

    /// The providers a customer reference (`provider:id` or an alias) names, each with the
    /// customer's id there, in config order.
    pub fn customer_at_providers(&self, customer: &str) -> Result<Vec<(ProviderKind, String)>, ApiError> {
        let customer = CustomerRef::parse(customer, "customer")?;
        self.customer_ids(&customer)
    }

    /// Whether voiding a grant at `provider` deletes its history (see
    /// [`Adapter::void_deletes_history`]).
    pub fn void_deletes_history(&self, provider: ProviderKind) -> bool {
        self.adapter(provider).is_some_and(|a| a.void_deletes_history())
    }

    /// The optional fields of a new grant `provider` keeps; `None` where it creates none.
    pub fn new_grant_fields(&self, provider: ProviderKind) -> Option<GrantFields> {
        self.adapter(provider)?.create_grants().map(|c| c.keeps())
    }

    /// Client requests served at once (`[inbound] max_in_flight`).
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    /// The longest a write's body may take to arrive.
    pub fn body_read_timeout(&self) -> std::time::Duration {
        self.inner.body_read_timeout
    }

    /// The configured API keys' names (for the metrics' series).
    pub fn key_names(&self) -> Vec<&str> {
        self.inner.api_keys.names()
    }

    /// `provider`'s vendor attempts over the last few minutes in this process.
    pub fn recent_calls(&self, provider: ProviderKind) -> crate::upstream::RecentCalls {
        self.inner.upstream.health().recent(provider)
    }

    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.inner
            .adapters
            .iter()
            .map(|a| ProviderInfo {
                object: "provider",
                id: a.kind(),
                capabilities: a.capabilities(),
                paging: a.paging_style().to_owned(),
                health: self.inner.upstream.health().outcome(a.kind()),
                circuit: a.lane().breaker.state(),
                outbound_rate: a.lane().rate,
            })
            .collect()
    }
}
