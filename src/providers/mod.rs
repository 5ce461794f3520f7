//! Vendor adapters, one file each, dispatched through the closed [`Adapter`] enum.
//!
//! [`base`] holds what every adapter shares (the vendor client, base URL, credential, page
//! size, and the common tables of `providers/<vendor>.toml`); a vendor file holds only its
//! dialect: paths, auth, paging style, enum tables and mapping into the model. See
//! ARCHITECTURE.md, "Adding a vendor".

pub mod base;
pub mod ids;
pub mod metronome;
pub mod sequence;
pub mod stripe;
pub mod togai;
pub mod vayu;
pub mod writes;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::model::{Capabilities, Capability, CreditBalance, CreditGrant, GrantStatus, LedgerEntry, ProviderKind};
use crate::paging::{AssembledPage, PageAssembler, Position, VendorPager};
use crate::upstream::lane::VendorLane;
use crate::upstream::{CallScope, UpstreamClient};
pub use base::{ConfigProblem, EndpointConfig, Environment, VendorBase};
pub use metronome::{MetronomeAdapter, MetronomeConfig};
pub use sequence::{SequenceAdapter, SequenceConfig};
pub use stripe::{StripeAdapter, StripeConfig};
pub use togai::{TogaiAdapter, TogaiConfig};
pub use vayu::{VayuAdapter, VayuConfig};

/// A vendor's id shapes, from its compiled-in provider file (for the published document,
/// which does not depend on a config). `None` only if that file does not parse, which the
/// adapters' own tests rule out.
pub fn id_facts(kind: ProviderKind) -> Option<ids::IdFacts> {
    use base::Dialect;
    let common = match kind {
        ProviderKind::Stripe => StripeAdapter::provider_file().map(|f| f.common),
        ProviderKind::Metronome => MetronomeAdapter::provider_file().map(|f| f.common),
        ProviderKind::Sequence => SequenceAdapter::provider_file().map(|f| f.common),
        ProviderKind::Togai => TogaiAdapter::provider_file().map(|f| f.common),
        ProviderKind::Vayu => VayuAdapter::provider_file().map(|f| f.common),
    };
    common.map(|c| c.ids).ok()
}

/// `[providers.<vendor>]`. Only configured providers are served.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    pub stripe: Option<StripeConfig>,
    pub metronome: Option<MetronomeConfig>,
    pub sequence: Option<SequenceConfig>,
    pub togai: Option<TogaiConfig>,
    pub vayu: Option<VayuConfig>,
}

impl ProvidersConfig {
    /// Configured providers, in the fixed order creditgate lists them.
    pub fn configured(&self) -> Vec<ProviderKind> {
        let ProvidersConfig {
            stripe,
            metronome,
            sequence,
            togai,
            vayu,
        } = self;
        [
            (ProviderKind::Stripe, stripe.is_some()),
            (ProviderKind::Metronome, metronome.is_some()),
            (ProviderKind::Sequence, sequence.is_some()),
            (ProviderKind::Togai, togai.is_some()),
            (ProviderKind::Vayu, vayu.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, on)| on.then_some(kind))
        .collect()
    }
}

impl ProvidersConfig {
    /// Builds every configured adapter, in creditgate's fixed provider order. An error names
    /// the provider and the key inside its table.
    pub fn build(&self, upstream: &UpstreamClient) -> Result<Vec<Adapter>, (ProviderKind, ConfigProblem)> {
        let ProvidersConfig {
            stripe,
            metronome,
            sequence,
            togai,
            vayu,
        } = self;
        let mut adapters = Vec::new();
        add(&mut adapters, stripe, upstream, Adapter::Stripe)?;
        add(&mut adapters, metronome, upstream, Adapter::Metronome)?;
        add(&mut adapters, sequence, upstream, Adapter::Sequence)?;
        add(&mut adapters, togai, upstream, Adapter::Togai)?;
        add(&mut adapters, vayu, upstream, Adapter::Vayu)?;
        Ok(adapters)
    }
}

/// Builds one vendor's adapter, if its table is configured, and adds it to `adapters`.
fn add<D: base::Dialect>(
    adapters: &mut Vec<Adapter>,
    config: &Option<D::Config>,
    upstream: &UpstreamClient,
    wrap: fn(D) -> Adapter,
) -> Result<(), (ProviderKind, ConfigProblem)> {
    if let Some(config) = config {
        adapters.push(wrap(base::build::<D>(config, upstream).map_err(|e| (D::KIND, e))?));
    }
    Ok(())
}

/// A typed vendor item next to its raw JSON (kept only with `include=raw`).
pub type WithRaw<T> = (T, Option<Box<RawValue>>);

/// Parses each raw item of a vendor list; a bad item names its index.
/// With `keep_raw`, the vendor's own JSON is returned next to the typed item.
pub fn parse_items<T: serde::de::DeserializeOwned>(
    provider: ProviderKind,
    field: &str,
    raws: Vec<Box<RawValue>>,
    keep_raw: bool,
) -> Result<Vec<WithRaw<T>>, crate::error::UpstreamError> {
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let item = crate::upstream::parse_json_slice::<T>(provider, raw.get().as_bytes()).map_err(|e| match e {
                crate::error::UpstreamError::InvalidResponse { provider, detail } => {
                    crate::error::UpstreamError::InvalidResponse {
                        provider,
                        detail: format!("{field}[{i}]: {detail}"),
                    }
                }
                other => other,
            })?;
            Ok((item, keep_raw.then_some(raw)))
        })
        .collect()
}

/// Maps each parsed item of a vendor list; an item that cannot be mapped (an empty id, a
/// bad date) is named by its index in `field`, so one bad item is reported as such.
pub fn map_items<T, U>(
    field: &str,
    items: Vec<WithRaw<T>>,
    mut map: impl FnMut(T, Option<Box<RawValue>>) -> Result<U, crate::error::UpstreamError>,
) -> Result<Vec<U>, crate::error::UpstreamError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, (item, raw))| map(item, raw).map_err(|e| e.within(&format!("{field}[{i}]"))))
        .collect()
}

/// What a grant lookup adds to the grant.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrantIncludes {
    /// Every ledger entry of the grant (needs `ledger_by_grant`).
    pub ledger: bool,
    /// The vendor's own JSON.
    pub raw: bool,
}

/// A request for one page of grants.
#[derive(Debug, Clone)]
pub struct GrantListRequest<'a> {
    pub scope: CallScope<'a>,
    /// `None` lists the whole vendor account (needs `account_wide_grants`).
    pub customer_id: Option<&'a str>,
    pub status: Option<GrantStatus>,
    pub include_raw: bool,
    pub position: Position,
    pub limit: usize,
}

impl GrantListRequest<'_> {
    /// Whether a grant passes the `status` filter (applied by the assembler, since no
    /// vendor filters grants by creditgate's normalized status).
    pub fn keeps(&self, grant: &CreditGrant) -> bool {
        self.status.is_none_or(|s| grant.status == s)
    }

    /// The client page this request asks for, assembled from `pager`'s vendor pages with
    /// the `status` filter applied.
    pub async fn page_from<P: VendorPager<Item = CreditGrant>>(
        &self,
        pager: &P,
        provider: ProviderKind,
    ) -> Result<AssembledPage<CreditGrant>, ApiError> {
        let keep = |g: &CreditGrant| self.keeps(g);
        PageAssembler::new(pager, provider)
            .with_filter(&keep)
            .page(self.position.clone(), self.limit)
            .await
    }
}

/// A request for one page of ledger entries.
#[derive(Debug, Clone)]
pub struct LedgerListRequest<'a> {
    pub scope: CallScope<'a>,
    pub customer_id: &'a str,
    pub grant_id: Option<&'a str>,
    pub include_raw: bool,
    pub position: Position,
    pub limit: usize,
}

impl LedgerListRequest<'_> {
    /// The client page this request asks for, assembled from `pager`'s vendor pages.
    pub async fn page_from<P: VendorPager<Item = LedgerEntry>>(
        &self,
        pager: &P,
        provider: ProviderKind,
    ) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        PageAssembler::new(pager, provider)
            .page(self.position.clone(), self.limit)
            .await
    }
}

/// A configured provider.
#[derive(Debug)]
pub enum Adapter {
    Stripe(StripeAdapter),
    Metronome(MetronomeAdapter),
    Togai(TogaiAdapter),
    Sequence(SequenceAdapter),
    Vayu(VayuAdapter),
}

impl Adapter {
    /// What every adapter shares.
    pub fn base(&self) -> &VendorBase {
        match self {
            Adapter::Stripe(a) => &a.base,
            Adapter::Metronome(a) => &a.base,
            Adapter::Togai(a) => &a.base,
            Adapter::Sequence(a) => &a.base,
            Adapter::Vayu(a) => &a.base,
        }
    }

    pub fn kind(&self) -> ProviderKind {
        self.base().kind
    }

    /// The adapter's outbound lane: its pace, breaker and bulkhead.
    pub fn lane(&self) -> &VendorLane {
        self.base().client.lane()
    }

    pub fn capabilities(&self) -> Capabilities {
        self.base().facts.capabilities
    }

    /// How the vendor pages, for `/v1/providers`.
    pub fn paging_style(&self) -> &str {
        &self.base().facts.paging.style
    }

    /// A 501 unless the provider has `capability`.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if self.capabilities().has(capability) {
            Ok(())
        } else {
            Err(ApiError::Unsupported {
                provider: self.kind(),
                capability,
            })
        }
    }

    pub fn check_customer_id(&self, id: &str) -> Result<(), String> {
        self.base().facts.ids.customer.check(id)
    }

    pub fn check_grant_id(&self, id: &str) -> Result<(), String> {
        match &self.base().facts.ids.grant {
            Some(shape) => shape.check(id),
            None => Err(format!("{} has no credit grants", self.kind())),
        }
    }

    pub async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        match self {
            Adapter::Stripe(a) => a.list_grants(request).await,
            Adapter::Metronome(a) => a.list_grants(request).await,
            Adapter::Togai(a) => a.list_grants(request).await,
            Adapter::Sequence(a) => a.list_grants(request).await,
            Adapter::Vayu(_) => Err(ApiError::Unsupported {
                provider: self.kind(),
                capability: Capability::CreditGrants,
            }),
        }
    }

    pub async fn get_grant(
        &self,
        scope: CallScope<'_>,
        id: &str,
        include: GrantIncludes,
    ) -> Result<CreditGrant, ApiError> {
        match self {
            Adapter::Stripe(a) => a.get_grant(scope, id, include).await,
            Adapter::Togai(a) => a.get_grant(scope, id, include).await,
            Adapter::Sequence(a) => a.get_grant(scope, id, include).await,
            Adapter::Metronome(_) | Adapter::Vayu(_) => Err(ApiError::Unsupported {
                provider: self.kind(),
                capability: Capability::GrantLookup,
            }),
        }
    }

    pub async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        match self {
            Adapter::Stripe(a) => a.list_ledger(request).await,
            Adapter::Metronome(a) => a.list_ledger(request).await,
            Adapter::Togai(a) => a.list_ledger(request).await,
            Adapter::Sequence(a) => a.list_ledger(request).await,
            Adapter::Vayu(a) => a.list_ledger(request).await,
        }
    }

    pub async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        match self {
            Adapter::Stripe(a) => a.balances(scope, customer_id).await,
            Adapter::Metronome(a) => a.balances(scope, customer_id).await,
            Adapter::Togai(a) => a.balances(scope, customer_id).await,
            Adapter::Sequence(a) => a.balances(scope, customer_id).await,
            Adapter::Vayu(a) => a.balances(scope, customer_id).await,
        }
    }
}
