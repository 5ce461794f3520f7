//! Paging one listing across its providers: limit and cursor binding, and the
//! concatenation of providers in config order, each in its native order. The cursor
//! remembers which provider the walk is in and where inside it.

use std::future::Future;

use serde::Serialize;

use super::targets::{Reach, Target};
use super::{Caller, Gateway};
use crate::error::ApiError;
use crate::model::{Capability, CreditGrant, GrantStatus, LedgerEntry, ProviderKind};
use crate::paging::{concat_page, filter_hash, AssembledPage, ConcatSource, CursorScope, Position};
use crate::providers::{CreditsProvider, GrantListRequest, LedgerListRequest};
use crate::upstream::{CacheUse, CallScope};

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
    /// A provider that should have answered failed and was left out (`X-Partial: true`):
    /// the answer is never kept, since that provider may answer the next request.
    #[serde(skip)]
    pub partial: bool,
}

impl<T> ListPage<T> {
    pub(super) fn new(
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
            partial: false,
        }
    }
}

/// A provider left out of a multi-provider answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Skipped {
    pub provider: ProviderKind,
    pub code: &'static str,
    pub message: String,
}

/// The providers of one listing, as parts of a concatenation.
struct TargetPages<'a, E> {
    endpoint: &'a E,
    targets: &'a [Target<'a>],
    cache: &'a CacheUse,
}

impl<E: ListEndpoint> ConcatSource for TargetPages<'_, E> {
    type Item = E::Item;

    fn parts(&self) -> usize {
        self.targets.len()
    }

    async fn page(&self, part: usize, position: Position, limit: usize) -> Result<AssembledPage<E::Item>, ApiError> {
        let target = self
            .targets
            .get(part)
            .ok_or_else(|| ApiError::Internal(format!("listing part {part} does not exist")))?;
        let scope = CallScope::new(self.cache).about(target.customer_id.as_deref());
        self.endpoint
            .provider_page(target.adapter, scope, position, limit)
            .await
    }
}

/// One list endpoint, for the code that pages across providers.
pub(super) trait ListEndpoint: Sync {
    type Item: Send;
    const NAME: &'static str;
    const CAPABILITY: Capability;
    /// One page from one provider; `scope.customer` is the customer's id there (`None`:
    /// the whole vendor account).
    fn provider_page<'a>(
        &'a self,
        adapter: &'a dyn CreditsProvider,
        scope: CallScope<'a>,
        position: Position,
        limit: usize,
    ) -> impl Future<Output = Result<AssembledPage<Self::Item>, ApiError>> + Send + 'a;
}

pub(super) struct GrantsEndpoint {
    pub status: Option<GrantStatus>,
    pub include_raw: bool,
}

impl ListEndpoint for GrantsEndpoint {
    type Item = CreditGrant;
    const NAME: &'static str = "credit_grants";
    const CAPABILITY: Capability = Capability::CreditGrants;

    async fn provider_page<'a>(
        &'a self,
        adapter: &'a dyn CreditsProvider,
        scope: CallScope<'a>,
        position: Position,
        limit: usize,
    ) -> Result<AssembledPage<CreditGrant>, ApiError> {
        adapter
            .list_grants(&GrantListRequest {
                scope,
                customer_id: scope.customer,
                status: self.status,
                include_raw: self.include_raw,
                position,
                limit,
            })
            .await
    }
}

pub(super) struct LedgerEndpoint {
    pub grant_id: Option<String>,
    pub include_raw: bool,
}

impl ListEndpoint for LedgerEndpoint {
    type Item = LedgerEntry;
    const NAME: &'static str = "credit_ledger_entries";
    const CAPABILITY: Capability = Capability::CreditLedger;

    async fn provider_page<'a>(
        &'a self,
        adapter: &'a dyn CreditsProvider,
        scope: CallScope<'a>,
        position: Position,
        limit: usize,
    ) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        let customer_id = scope
            .customer
            .ok_or_else(|| ApiError::Internal("ledger target without a customer".into()))?;
        adapter
            .list_ledger(&LedgerListRequest {
                scope,
                customer_id,
                grant_id: self.grant_id.as_deref(),
                include_raw: self.include_raw,
                position,
                limit,
                whole: false,
            })
            .await
    }
}

impl Gateway {
    /// Pages across `targets` in order: each provider in its native order, the cursor
    /// remembering which provider the walk is in and where inside it.
    pub(super) async fn list<E: ListEndpoint>(
        &self,
        endpoint: &E,
        reach: Reach<'_>,
        scope: CursorScope,
        limit: usize,
        cursor: Option<&str>,
        cache: &CacheUse,
    ) -> Result<ListPage<E::Item>, ApiError> {
        let Reach { targets, skipped } = reach;
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
            cache,
        };
        let page = concat_page(&source, (start, position), limit).await?;
        let encode = |(part, position): (usize, Position)| {
            let provider = targets.get(part).map(|t| t.adapter.kind()).ok_or_else(|| {
                ApiError::Internal(format!("page position in listing part {part}, which does not exist"))
            })?;
            Ok::<_, ApiError>(codec.encode(&scope, provider, &position))
        };
        let next = page.next.map(encode).transpose()?;
        // `previous_cursor` is present (maybe null) exactly where backward paging exists.
        let previous = match targets.as_slice() {
            [only] if only.adapter.capabilities().backward_paging => Some(page.previous.map(encode).transpose()?),
            _ => None,
        };
        Ok(ListPage::new(page.items, next, previous, skipped))
    }

    pub(super) fn cursor_scope(
        caller: &Caller,
        endpoint: &str,
        customer: Option<&str>,
        filters: &[(&str, Option<&str>)],
    ) -> CursorScope {
        CursorScope {
            tenant: caller.tenant.clone(),
            endpoint: endpoint.to_owned(),
            customer: customer.unwrap_or("*").to_owned(),
            filters: filter_hash(filters),
        }
    }
}
