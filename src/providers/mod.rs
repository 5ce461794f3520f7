//! Vendor adapters, one directory each, behind one interface ([`CreditsProvider`]).
//!
//! [`base`] holds what every adapter shares (the vendor client, base URL, credential, page
//! size, and the common tables of `providers/<vendor>.toml`); a vendor's directory holds
//! only its dialect: paths, auth, paging style, enum tables, mapping into the model, and
//! which jobs of [`CreditsProvider`] it implements. The vendors are listed once, in
//! [`crate::model::for_each_vendor`]; the modules, the `[providers]` config table and the
//! adapters are made from that list here. See ARCHITECTURE.md, "Adding a vendor".

pub mod base;
pub mod ids;
pub mod provider;
pub mod urls;
pub mod webhooks;
pub mod writes;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::model::{CreditGrant, GrantStatus, LedgerEntry, ProviderKind};
use crate::paging::{AssembledPage, PageAssembler, Position, VendorPager};
use crate::upstream::{CallScope, UpstreamClient};
pub use base::{ConfigProblem, EndpointConfig, Environment, VendorBase};
pub use provider::CreditsProvider;

/// Makes, from the registry: one module per vendor (`providers/<vendor>/`, whose adapter is
/// `<vendor>::Adapter`, implementing [`base::Dialect`] and [`CreditsProvider`]), the
/// `[providers]` config table, the adapters built from it, and each vendor's id facts.
macro_rules! vendor_modules {
    ($($variant:ident $module:ident,)+) => {
        $(pub mod $module;)+

        /// `[providers.<vendor>]`. Only configured providers are served.
        #[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct ProvidersConfig {
            $(pub $module: Option<<$module::Adapter as base::Dialect>::Config>,)+
        }

        impl ProvidersConfig {
            /// Configured providers, in the fixed order creditgate lists them.
            pub fn configured(&self) -> Vec<ProviderKind> {
                let mut kinds = Vec::new();
                $(if self.$module.is_some() {
                    kinds.push(ProviderKind::$variant);
                })+
                kinds
            }

            /// Builds every configured adapter, in creditgate's fixed provider order. An
            /// error names the provider and the key inside its table.
            /// Every configured adapter, or the problem of each vendor that could not be
            /// built.
            pub fn build(
                &self,
                upstream: &UpstreamClient,
            ) -> Result<Vec<Box<dyn CreditsProvider>>, Vec<(ProviderKind, ConfigProblem)>> {
                let mut adapters: Vec<Box<dyn CreditsProvider>> = Vec::new();
                let mut problems = Vec::new();
                $(if let Some(config) = &self.$module {
                    match base::build::<$module::Adapter>(config, upstream) {
                        Ok(adapter) => adapters.push(Box::new(adapter)),
                        Err(e) => problems.extend(e.into_iter().map(|e| (ProviderKind::$variant, e))),
                    }
                })+
                if problems.is_empty() { Ok(adapters) } else { Err(problems) }
            }
        }

        /// A vendor's id shapes, from its compiled-in provider file (for the published
        /// document, which does not depend on a config). `None` only if that file does not
        /// parse, which the adapters' own tests rule out.
        pub fn id_facts(kind: ProviderKind) -> Option<ids::IdFacts> {
            use base::Dialect;
            match kind {
                $(ProviderKind::$variant => $module::Adapter::provider_file().map(|f| f.common.ids).ok(),)+
            }
        }
    };
}
crate::model::for_each_vendor!(vendor_modules);

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

/// A vendor list page read once: its items typed in the same pass as the page when their
/// own JSON is not kept, or kept raw, then typed one by one, with `include=raw`. `raw` and
/// `typed` take the items out of the page as either type, with whatever else of the page
/// the caller needs (`Rest`: its `has_more`, its cursor).
pub fn read_page<RawPage, TypedPage, T, Rest>(
    response: &crate::upstream::UpstreamResponse,
    field: &str,
    include_raw: bool,
    raw: impl FnOnce(RawPage) -> (Vec<Box<RawValue>>, Rest),
    typed: impl FnOnce(TypedPage) -> (Vec<T>, Rest),
) -> Result<(Vec<WithRaw<T>>, Rest), crate::error::UpstreamError>
where
    RawPage: serde::de::DeserializeOwned,
    TypedPage: serde::de::DeserializeOwned,
    T: serde::de::DeserializeOwned,
{
    if include_raw {
        let (items, rest) = raw(response.json()?);
        Ok((parse_items(response.provider, field, items, true)?, rest))
    } else {
        let (items, rest) = typed(response.json()?);
        Ok((items.into_iter().map(|item| (item, None)).collect(), rest))
    }
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
    /// The whole ledger in one walk, each vendor page read once (a balance history): every
    /// entry from `position`, and `next` set only when there were more than `limit`.
    pub whole: bool,
}

impl LedgerListRequest<'_> {
    /// The client page this request asks for, assembled from `pager`'s vendor pages.
    pub async fn page_from<P: VendorPager<Item = LedgerEntry>>(
        &self,
        pager: &P,
        provider: ProviderKind,
    ) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        self.assemble(PageAssembler::new(pager, provider)).await
    }

    /// What this request asks of `assembler`: one page, or the whole ledger.
    pub async fn assemble<P: VendorPager<Item = LedgerEntry>>(
        &self,
        assembler: PageAssembler<'_, P>,
    ) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        if self.whole {
            assembler.collect(self.limit).await
        } else {
            assembler.page(self.position.clone(), self.limit).await
        }
    }
}
