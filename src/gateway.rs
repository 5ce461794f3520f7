//! `creditgate::Gateway`: the library the HTTP server and the CLI are thin layers over.
//! It resolves customers, checks permissions and capabilities, validates ids before any
//! vendor call, binds cursors to the caller and concatenates providers in config order.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Config, ConfigError, CustomerAliases};
use crate::error::ApiError;
use crate::inbound::{Admission, KeyLimiter};
use crate::model::{CreditBalance, CreditGrant, GrantStatus, LedgerEntry, ProviderKind};
use crate::paging::{
    concat_page, filter_hash, AssembledPage, ConcatSource, CursorCodec, CursorScope, Position, DEFAULT_LIMIT,
    MAX_LIMIT, MIN_LIMIT,
};
use crate::providers::{
    Adapter, Capabilities, Capability, GrantListRequest, LedgerListRequest, MetronomeAdapter, SequenceAdapter,
    StripeAdapter, TogaiAdapter, VayuAdapter,
};
use crate::upstream::breaker::CircuitState;
use crate::upstream::lane::OutboundRate;
use crate::upstream::{cache, Outcome, UpstreamClient};

/// The gateway: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Configured providers, in creditgate's fixed provider order.
    adapters: Vec<Adapter>,
    customers: CustomerAliases,
    cursors: CursorCodec,
    api_keys: Vec<ApiKey>,
    upstream: UpstreamClient,
    max_in_flight: usize,
}

#[derive(Debug)]
struct ApiKey {
    digest: [u8; 32],
    caller: Caller,
    limiter: KeyLimiter,
}

/// Who is asking: the key's name, its tenant (cursors are bound to it) and what it may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_name: String,
    pub tenant: String,
    pub providers: Option<Vec<ProviderKind>>,
    pub customers: Option<Vec<String>>,
}

impl Caller {
    /// A caller that may see everything (library use without API keys).
    pub fn unrestricted(tenant: &str) -> Caller {
        Caller {
            key_name: tenant.to_owned(),
            tenant: tenant.to_owned(),
            providers: None,
            customers: None,
        }
    }
}

/// `GET /v1/credit_grants` parameters.
#[derive(Debug, Clone, Default)]
pub struct GrantsQuery {
    pub customer: Option<String>,
    pub provider: Option<ProviderKind>,
    pub status: Option<GrantStatus>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub include_raw: bool,
}

/// `GET /v1/credit_ledger_entries` parameters.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    pub customer: Option<String>,
    /// `<provider>:<vendor grant id>`.
    pub grant: Option<String>,
    pub provider: Option<ProviderKind>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub include_raw: bool,
}

/// `GET /v1/credit_balances` parameters.
#[derive(Debug, Clone, Default)]
pub struct BalancesQuery {
    pub customer: Option<String>,
    pub provider: Option<ProviderKind>,
}

/// The contract's list envelope.
#[derive(Debug, Serialize)]
pub struct ListPage<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    /// Present (possibly null) only where the vendor can page backwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_cursor: Option<Option<String>>,
    /// Providers of a multi-provider customer that were left out, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl<T> ListPage<T> {
    fn new(
        data: Vec<T>,
        next_cursor: Option<String>,
        previous_cursor: Option<Option<String>>,
        skipped: Vec<Skipped>,
    ) -> Self {
        ListPage {
            object: "list",
            has_more: next_cursor.is_some(),
            data,
            next_cursor,
            previous_cursor,
            skipped,
        }
    }
}

/// A provider left out of a multi-provider answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub provider: ProviderKind,
    pub code: &'static str,
    pub message: String,
}

/// `GET /v1/providers` entry.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderInfo {
    pub object: &'static str,
    pub id: ProviderKind,
    pub capabilities: Capabilities,
    pub paging: String,
    pub health: Outcome,
    pub circuit: CircuitState,
    pub outbound_rate: OutboundRate,
}

/// One provider a request will reach, with the customer's id there.
struct Target<'a> {
    adapter: &'a Adapter,
    customer_id: Option<String>,
}

/// The providers of one listing, as parts of a concatenation.
struct TargetPages<'a, E> {
    endpoint: &'a E,
    targets: &'a [Target<'a>],
}

impl<E: ListEndpoint> ConcatSource for TargetPages<'_, E> {
    type Item = E::Item;

    fn parts(&self) -> usize {
        self.targets.len()
    }

    async fn page(&self, part: usize, position: Position, limit: usize) -> Result<AssembledPage<E::Item>, ApiError> {
        let target = &self.targets[part];
        let customer = target.customer_id.as_deref();
        let fetch = self.endpoint.fetch(target.adapter, customer, position, limit);
        cache::about_customer(target.adapter.kind(), customer, fetch).await
    }
}

/// One list endpoint, for the code that pages across providers.
trait ListEndpoint: Sync {
    type Item: Send;
    const NAME: &'static str;
    const CAPABILITY: Capability;
    fn fetch<'a>(
        &'a self,
        adapter: &'a Adapter,
        customer_id: Option<&'a str>,
        position: Position,
        limit: usize,
    ) -> impl Future<Output = Result<AssembledPage<Self::Item>, ApiError>> + Send + 'a;
}

struct GrantsEndpoint {
    status: Option<GrantStatus>,
    include_raw: bool,
}

impl ListEndpoint for GrantsEndpoint {
    type Item = CreditGrant;
    const NAME: &'static str = "credit_grants";
    const CAPABILITY: Capability = Capability::CreditGrants;

    async fn fetch<'a>(
        &'a self,
        adapter: &'a Adapter,
        customer_id: Option<&'a str>,
        position: Position,
        limit: usize,
    ) -> Result<AssembledPage<CreditGrant>, ApiError> {
        adapter
            .list_grants(&GrantListRequest {
                customer_id,
                status: self.status,
                include_raw: self.include_raw,
                position,
                limit,
            })
            .await
    }
}

struct LedgerEndpoint {
    grant_id: Option<String>,
    include_raw: bool,
}

impl ListEndpoint for LedgerEndpoint {
    type Item = LedgerEntry;
    const NAME: &'static str = "credit_ledger_entries";
    const CAPABILITY: Capability = Capability::CreditLedger;

    async fn fetch<'a>(
        &'a self,
        adapter: &'a Adapter,
        customer_id: Option<&'a str>,
        position: Position,
        limit: usize,
    ) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        let customer_id = customer_id.ok_or_else(|| ApiError::Internal("ledger target without a customer".into()))?;
        adapter
            .list_ledger(&LedgerListRequest {
                customer_id,
                grant_id: self.grant_id.as_deref(),
                include_raw: self.include_raw,
                position,
                limit,
            })
            .await
    }
}

impl Gateway {
    /// Builds every configured adapter, resolving secrets; errors name the config key.
    pub fn from_config(config: &Config) -> Result<Gateway, ConfigError> {
        config.validate()?;
        let upstream = UpstreamClient::new(&config.upstream).map_err(|e| ConfigError::at("upstream", e))?;
        let cursor_secret = config
            .cursor_secret
            .resolve()
            .map_err(|e| ConfigError::at("cursor_secret", e))?;
        let providers = &config.providers;
        let mut adapters = Vec::new();
        let at = |provider: &str, (key, message): (String, String)| {
            ConfigError::at(format!("providers.{provider}.{key}"), message)
        };
        let secret = |provider: &str, r: &crate::config::SecretRef| {
            r.resolve()
                .map_err(|e| ConfigError::at(format!("providers.{provider}.secret"), e))
        };
        if let Some(c) = &providers.stripe {
            let adapter =
                StripeAdapter::new(c, secret("stripe", &c.secret)?, upstream.clone()).map_err(|e| at("stripe", e))?;
            adapters.push(Adapter::Stripe(adapter));
        }
        if let Some(c) = &providers.metronome {
            let secret = secret("metronome", &c.secret)?;
            let adapter = MetronomeAdapter::new(c, secret, upstream.clone()).map_err(|e| at("metronome", e))?;
            adapters.push(Adapter::Metronome(adapter));
        }
        if let Some(c) = &providers.sequence {
            let secret = secret("sequence", &c.secret)?;
            let adapter = SequenceAdapter::new(c, secret, upstream.clone()).map_err(|e| at("sequence", e))?;
            adapters.push(Adapter::Sequence(adapter));
        }
        if let Some(c) = &providers.togai {
            let adapter =
                TogaiAdapter::new(c, secret("togai", &c.secret)?, upstream.clone()).map_err(|e| at("togai", e))?;
            adapters.push(Adapter::Togai(adapter));
        }
        if let Some(c) = &providers.vayu {
            let adapter =
                VayuAdapter::new(c, secret("vayu", &c.secret)?, upstream.clone()).map_err(|e| at("vayu", e))?;
            adapters.push(Adapter::Vayu(adapter));
        }
        for (alias, map) in &config.customers.0 {
            for (provider, id) in &map.0 {
                let adapter = adapters
                    .iter()
                    .find(|a| a.kind() == *provider)
                    .expect("validated above");
                adapter
                    .check_customer_id(id)
                    .map_err(|e| ConfigError::at(format!("customers.{alias}.{provider}"), e))?;
            }
        }
        let api_keys = config
            .api_keys
            .iter()
            .map(|k| {
                let mut digest = [0u8; 32];
                for (i, byte) in digest.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&k.key_sha256[2 * i..2 * i + 2], 16).expect("validated hex");
                }
                ApiKey {
                    digest,
                    caller: Caller {
                        key_name: k.name.clone(),
                        tenant: k.tenant.clone().unwrap_or_else(|| k.name.clone()),
                        providers: k.providers.clone(),
                        customers: k.customers.clone(),
                    },
                    limiter: KeyLimiter::new(k.quota(&config.inbound)),
                }
            })
            .collect();
        Ok(Gateway {
            inner: Arc::new(Inner {
                adapters,
                customers: config.customers.clone(),
                cursors: CursorCodec::new(&cursor_secret),
                api_keys,
                upstream,
                max_in_flight: config.inbound.max_in_flight,
            }),
        })
    }

    /// The caller a presented API key belongs to. Every configured digest is compared in
    /// constant time, with no early exit, so timing says nothing about which key matched.
    pub fn authenticate(&self, presented_key: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(presented_key.as_bytes()).into();
        let mut found = None;
        for key in &self.inner.api_keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(&key.caller);
            }
        }
        found.cloned()
    }

    /// Counts one request against the caller's key quota (`None` for a caller without a
    /// configured key: library use).
    pub fn admit(&self, caller: &Caller) -> Option<Admission> {
        self.inner
            .api_keys
            .iter()
            .find(|k| k.caller.key_name == caller.key_name)
            .map(|k| k.limiter.admit())
    }

    /// Drops every cached vendor answer about `customer` (`<provider>:<id>` or an alias), for
    /// a write path to call once it has changed that customer's credits.
    pub fn invalidate_customer(&self, customer: &str) -> Result<(), ApiError> {
        let ids: Vec<(ProviderKind, String)> = match customer.split_once(':') {
            Some((prefix, id)) => {
                let kind = prefix
                    .parse()
                    .map_err(|e: String| ApiError::invalid_param("customer", e))?;
                vec![(kind, id.to_owned())]
            }
            None => self
                .inner
                .customers
                .get(customer)
                .ok_or_else(|| ApiError::unknown_customer(customer))?
                .0
                .clone(),
        };
        for (provider, id) in ids {
            self.inner.upstream.invalidate_customer(provider, &id);
        }
        Ok(())
    }

    /// Client requests served at once (`[inbound] max_in_flight`).
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
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

    fn adapter(&self, provider: ProviderKind) -> Option<&Adapter> {
        self.inner.adapters.iter().find(|a| a.kind() == provider)
    }

    /// The adapter for a provider named by the client in `param`.
    fn configured(&self, caller: &Caller, provider: ProviderKind, param: &str) -> Result<&Adapter, ApiError> {
        let adapter = self.adapter(provider).ok_or_else(|| {
            ApiError::invalid_param(param, format!("provider {provider} is not configured in this gateway"))
        })?;
        if caller
            .providers
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(&provider))
        {
            return Err(ApiError::Permission {
                code: "provider_not_allowed",
                message: format!("this API key may not use provider {provider}"),
                provider: Some(provider),
            });
        }
        Ok(adapter)
    }

    fn may_see_customer(&self, caller: &Caller, provider: ProviderKind, id: &str) -> bool {
        let Some(allowed) = &caller.customers else { return true };
        let qualified = crate::model::qualified_id(provider, id);
        allowed.iter().any(|entry| {
            *entry == qualified
                || self
                    .inner
                    .customers
                    .get(entry)
                    .is_some_and(|map| map.0.iter().any(|(p, i)| *p == provider && i == id))
        })
    }

    fn customer_not_allowed(customer: &str) -> ApiError {
        ApiError::Permission {
            code: "customer_not_allowed",
            message: format!("this API key may not read customer `{customer}`"),
            provider: None,
        }
    }

    /// Resolves `customer=` (a `<provider>:<id>` reference or an alias) and `provider=` into
    /// the providers to call, in config order; a provider lacking `capability` is a 501 when
    /// it is the only one and a `skipped` note when the customer spans several.
    fn targets(
        &self,
        caller: &Caller,
        customer: Option<&str>,
        provider: Option<ProviderKind>,
        capability: Capability,
    ) -> Result<(Vec<Target<'_>>, Vec<Skipped>), ApiError> {
        if let Some(p) = provider {
            self.configured(caller, p, "provider")?;
        }
        let Some(customer) = customer else {
            let Some(p) = provider else {
                return Err(ApiError::invalid_param(
                    "customer",
                    "customer is required (or provider, to list a whole vendor account)",
                ));
            };
            let adapter = self.configured(caller, p, "provider")?;
            if caller.customers.is_some() {
                return Err(Self::customer_not_allowed("*"));
            }
            adapter.require(Capability::AccountWideGrants)?;
            return Ok((
                vec![Target {
                    adapter,
                    customer_id: None,
                }],
                Vec::new(),
            ));
        };
        if customer.is_empty() {
            return Err(ApiError::invalid_param("customer", "customer cannot be empty"));
        }
        if let Some((prefix, id)) = customer.split_once(':') {
            let kind: ProviderKind = prefix
                .parse()
                .map_err(|e: String| ApiError::invalid_param("customer", e))?;
            if provider.is_some_and(|p| p != kind) {
                return Err(ApiError::invalid_param(
                    "provider",
                    format!("provider {} conflicts with customer `{customer}`", provider.unwrap()),
                ));
            }
            let adapter = self.configured(caller, kind, "customer")?;
            adapter
                .check_customer_id(id)
                .map_err(|e| ApiError::invalid_param("customer", e))?;
            if !self.may_see_customer(caller, kind, id) {
                return Err(Self::customer_not_allowed(customer));
            }
            adapter.require(capability)?;
            return Ok((
                vec![Target {
                    adapter,
                    customer_id: Some(id.to_owned()),
                }],
                Vec::new(),
            ));
        }
        let map = self
            .inner
            .customers
            .get(customer)
            .ok_or_else(|| ApiError::unknown_customer(customer))?;
        let entries: Vec<_> = map
            .0
            .iter()
            .filter(|(p, _)| provider.is_none_or(|want| *p == want))
            .collect();
        if entries.is_empty() {
            return Err(ApiError::invalid_param(
                "provider",
                format!(
                    "customer `{customer}` has no id at {}",
                    provider.map_or("any provider".into(), |p| p.to_string())
                ),
            ));
        }
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for (kind, id) in entries {
            if !self.may_see_customer(caller, *kind, id) {
                return Err(Self::customer_not_allowed(customer));
            }
            let adapter = match self.configured(caller, *kind, "customer") {
                Ok(adapter) => adapter,
                Err(e) if map.0.len() > 1 && provider.is_none() => {
                    skipped.push(Skipped {
                        provider: *kind,
                        code: e.type_and_code().1,
                        message: e.to_string(),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            match adapter.require(capability) {
                Ok(()) => targets.push(Target {
                    adapter,
                    customer_id: Some(id.clone()),
                }),
                Err(e) if map.0.len() > 1 && provider.is_none() => skipped.push(Skipped {
                    provider: *kind,
                    code: e.type_and_code().1,
                    message: e.to_string(),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok((targets, skipped))
    }

    fn limit(limit: Option<usize>) -> Result<usize, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(MIN_LIMIT..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_param(
                "limit",
                format!("limit must be between {MIN_LIMIT} and {MAX_LIMIT}, got {limit}"),
            ));
        }
        Ok(limit)
    }

    /// Pages across `targets` in order: each provider in its native order, the cursor
    /// remembering which provider the walk is in and where inside it.
    async fn list<E: ListEndpoint>(
        &self,
        endpoint: &E,
        targets: Vec<Target<'_>>,
        skipped: Vec<Skipped>,
        scope: CursorScope,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ListPage<E::Item>, ApiError> {
        let codec = &self.inner.cursors;
        let (start, position) = match cursor {
            None => (0, Position::START),
            Some(text) => {
                let (provider, position) = codec.decode(&scope, text)?;
                let index = targets
                    .iter()
                    .position(|t| t.adapter.kind() == provider)
                    .ok_or_else(|| {
                        ApiError::invalid_cursor(format!(
                            "cursor points into {provider}, which this listing does not include"
                        ))
                    })?;
                (index, position)
            }
        };
        let source = TargetPages {
            endpoint,
            targets: &targets,
        };
        let page = concat_page(&source, (start, position), limit).await?;
        let encode =
            |(part, position): (usize, Position)| codec.encode(&scope, targets[part].adapter.kind(), &position);
        let next = page.next.map(encode);
        // `previous_cursor` is present (maybe null) exactly where backward paging exists.
        let previous = (targets.len() == 1 && targets[0].adapter.capabilities().backward_paging)
            .then(|| page.previous.map(encode));
        Ok(ListPage::new(page.items, next, previous, skipped))
    }

    fn scope(caller: &Caller, endpoint: &str, customer: Option<&str>, filters: &[(&str, Option<&str>)]) -> CursorScope {
        CursorScope {
            tenant: caller.tenant.clone(),
            endpoint: endpoint.to_owned(),
            customer: customer.unwrap_or("*").to_owned(),
            filters: filter_hash(filters),
        }
    }

    pub async fn list_credit_grants(
        &self,
        caller: &Caller,
        query: &GrantsQuery,
    ) -> Result<ListPage<CreditGrant>, ApiError> {
        let limit = Self::limit(query.limit)?;
        let (targets, skipped) = self.targets(
            caller,
            query.customer.as_deref(),
            query.provider,
            Capability::CreditGrants,
        )?;
        let scope = Self::scope(
            caller,
            GrantsEndpoint::NAME,
            query.customer.as_deref(),
            &[
                ("provider", query.provider.map(|p| p.as_str())),
                ("status", query.status.map(|s| s.as_str())),
            ],
        );
        let endpoint = GrantsEndpoint {
            status: query.status,
            include_raw: query.include_raw,
        };
        self.list(&endpoint, targets, skipped, scope, limit, query.cursor.as_deref())
            .await
    }

    pub async fn list_ledger_entries(
        &self,
        caller: &Caller,
        query: &LedgerQuery,
    ) -> Result<ListPage<LedgerEntry>, ApiError> {
        let limit = Self::limit(query.limit)?;
        if query.customer.is_none() {
            return Err(ApiError::invalid_param("customer", "customer is required"));
        }
        let grant = match &query.grant {
            None => None,
            Some(g) => Some(self.parse_grant_id(caller, g, "grant", Capability::LedgerByGrant)?),
        };
        // A grant narrows the listing to its provider.
        let provider = match (&grant, query.provider) {
            (Some((adapter, _)), Some(p)) if adapter.kind() != p => {
                return Err(ApiError::invalid_param(
                    "provider",
                    format!(
                        "provider {p} conflicts with grant `{}`",
                        query.grant.as_deref().unwrap_or("")
                    ),
                ))
            }
            (Some((adapter, _)), _) => Some(adapter.kind()),
            (None, p) => p,
        };
        let capability = if grant.is_some() {
            Capability::LedgerByGrant
        } else {
            LedgerEndpoint::CAPABILITY
        };
        let (targets, skipped) = self.targets(caller, query.customer.as_deref(), provider, capability)?;
        let scope = Self::scope(
            caller,
            LedgerEndpoint::NAME,
            query.customer.as_deref(),
            &[
                ("provider", query.provider.map(|p| p.as_str())),
                ("grant", query.grant.as_deref()),
            ],
        );
        let endpoint = LedgerEndpoint {
            grant_id: grant.map(|(_, id)| id.to_owned()),
            include_raw: query.include_raw,
        };
        self.list(&endpoint, targets, skipped, scope, limit, query.cursor.as_deref())
            .await
    }

    /// `<provider>:<vendor grant id>` → the adapter and the vendor id, checked for shape,
    /// from a provider that has `capability`.
    fn parse_grant_id<'a>(
        &self,
        caller: &Caller,
        id: &'a str,
        param: &str,
        capability: Capability,
    ) -> Result<(&Adapter, &'a str), ApiError> {
        let (prefix, vendor_id) = id.split_once(':').ok_or_else(|| {
            ApiError::invalid_param(
                param,
                format!("`{id}` is not a creditgate grant id (`<provider>:<vendor id>`)"),
            )
        })?;
        let kind: ProviderKind = prefix.parse().map_err(|e: String| ApiError::invalid_param(param, e))?;
        let adapter = self.configured(caller, kind, param)?;
        adapter.require(capability)?;
        adapter
            .check_grant_id(vendor_id)
            .map_err(|e| ApiError::invalid_param(param, e))?;
        Ok((adapter, vendor_id))
    }

    pub async fn get_credit_grant(
        &self,
        caller: &Caller,
        id: &str,
        include_ledger: bool,
        include_raw: bool,
    ) -> Result<CreditGrant, ApiError> {
        let (adapter, vendor_id) = self.parse_grant_id(caller, id, "id", Capability::GrantLookup)?;
        if include_ledger {
            adapter.require(Capability::LedgerByGrant)?;
        }
        let grant = adapter.get_grant(vendor_id, include_ledger, include_raw).await?;
        if caller.customers.is_some() {
            let owner = grant
                .customer
                .as_deref()
                .and_then(|c| c.split_once(':'))
                .map(|(_, id)| id)
                .unwrap_or("");
            if !self.may_see_customer(caller, adapter.kind(), owner) {
                return Err(Self::customer_not_allowed(grant.customer.as_deref().unwrap_or("?")));
            }
        }
        Ok(grant)
    }

    pub async fn credit_balances(
        &self,
        caller: &Caller,
        query: &BalancesQuery,
    ) -> Result<ListPage<CreditBalance>, ApiError> {
        if query.customer.is_none() {
            return Err(ApiError::invalid_param("customer", "customer is required"));
        }
        let (targets, skipped) = self.targets(
            caller,
            query.customer.as_deref(),
            query.provider,
            Capability::CreditBalances,
        )?;
        let mut data = Vec::new();
        for target in targets {
            let customer_id = target
                .customer_id
                .as_deref()
                .ok_or_else(|| ApiError::Internal("balance target without a customer".into()))?;
            let balances = target.adapter.balances(customer_id);
            data.extend(cache::about_customer(target.adapter.kind(), Some(customer_id), balances).await?);
        }
        Ok(ListPage::new(data, None, None, skipped))
    }
}
