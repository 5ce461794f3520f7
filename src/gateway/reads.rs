//! The read endpoints: grants, ledger entries, one grant, balances.

use super::listing::{GrantsEndpoint, LedgerEndpoint, ListEndpoint, ListPage};
use super::targets::{gather, target_customer};
use super::{Caller, Gateway};
use crate::error::ApiError;
use crate::model::{quoted, Capability, CreditBalance, CreditGrant, GrantStatus, LedgerEntry, ProviderKind};
use crate::paging::Limit;
use crate::providers::GrantIncludes;
use crate::upstream::{CacheUse, CallScope};

/// `GET /v1/credit_grants` parameters.
#[derive(Debug, Clone, Default)]
pub struct GrantsQuery {
    pub customer: Option<String>,
    pub provider: Option<ProviderKind>,
    pub status: Option<GrantStatus>,
    pub limit: Limit,
    pub cursor: Option<String>,
    pub include_raw: bool,
}

/// `GET /v1/credit_ledger_entries` parameters.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    pub customer: String,
    /// `<provider>:<vendor grant id>`.
    pub grant: Option<String>,
    pub provider: Option<ProviderKind>,
    pub limit: Limit,
    pub cursor: Option<String>,
    pub include_raw: bool,
}

/// `GET /v1/credit_balances` parameters.
#[derive(Debug, Clone, Default)]
pub struct BalancesQuery {
    pub customer: String,
    pub provider: Option<ProviderKind>,
    /// `require=all`: an alias's answer is all its providers' or an error, never partial.
    pub require_all: bool,
    /// `as_of`: each balance as it stood at that instant, summed from the ledger.
    pub as_of: Option<crate::model::Timestamp>,
}

impl Gateway {
    pub async fn list_credit_grants(
        &self,
        caller: &Caller,
        query: &GrantsQuery,
        cache: &CacheUse,
    ) -> Result<ListPage<CreditGrant>, ApiError> {
        let limit = query.limit.get();
        let reach = self.targets(
            caller,
            query.customer.as_deref(),
            query.provider,
            Capability::CreditGrants,
        )?;
        let scope = Self::cursor_scope(
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
        self.list(&endpoint, reach, scope, limit, query.cursor.as_deref(), cache)
            .await
    }

    pub async fn list_ledger_entries(
        &self,
        caller: &Caller,
        query: &LedgerQuery,
        cache: &CacheUse,
    ) -> Result<ListPage<LedgerEntry>, ApiError> {
        let limit = query.limit.get();
        let grant = match &query.grant {
            None => None,
            Some(g) => Some(self.grant_target(caller, g, "grant", Capability::LedgerByGrant)?),
        };
        // A grant narrows the listing to its provider.
        let provider = match (&grant, query.provider) {
            (Some((adapter, _)), Some(p)) if adapter.kind() != p => {
                return Err(ApiError::invalid_param(
                    "provider",
                    format!(
                        "provider {p} conflicts with grant {}",
                        quoted(query.grant.as_deref().unwrap_or(""))
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
        let reach = self.targets(caller, Some(&query.customer), provider, capability)?;
        let scope = Self::cursor_scope(
            caller,
            LedgerEndpoint::NAME,
            Some(&query.customer),
            &[
                ("provider", query.provider.map(|p| p.as_str())),
                ("grant", query.grant.as_deref()),
            ],
        );
        let endpoint = LedgerEndpoint {
            grant_id: grant.map(|(_, id)| id.to_owned()),
            include_raw: query.include_raw,
        };
        self.list(&endpoint, reach, scope, limit, query.cursor.as_deref(), cache)
            .await
    }

    pub async fn get_credit_grant(
        &self,
        caller: &Caller,
        id: &str,
        include: GrantIncludes,
        cache: &CacheUse,
    ) -> Result<CreditGrant, ApiError> {
        let (adapter, vendor_id) = self.grant_target(caller, id, "id", Capability::GrantLookup)?;
        if include.ledger {
            adapter.require(Capability::LedgerByGrant)?;
        }
        let scope = CallScope::new(cache);
        if caller.customers.is_none() {
            return adapter.get_grant(scope, vendor_id, include).await;
        }
        // A key limited to some customers learns nothing about other customers' grants: one
        // that is not theirs is answered exactly as one that does not exist, and its ledger
        // is not read. The owner is known only from the vendor's answer.
        let bare = GrantIncludes {
            ledger: false,
            ..include
        };
        let grant = adapter.get_grant(scope, vendor_id, bare).await?;
        let owner = grant
            .customer
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .map(|(_, id)| id);
        if !owner.is_some_and(|owner| self.may_see_customer(caller, adapter.kind(), owner)) {
            return Err(ApiError::grant_not_found(adapter.kind(), vendor_id));
        }
        if !include.ledger {
            return Ok(grant);
        }
        // The grant's own vendor answers are read again from this request's cache.
        adapter.get_grant(scope, vendor_id, include).await
    }

    pub async fn credit_balances(
        &self,
        caller: &Caller,
        query: &BalancesQuery,
        cache: &CacheUse,
    ) -> Result<ListPage<CreditBalance>, ApiError> {
        // A balance in the past is summed from the ledger.
        let capability = match query.as_of {
            Some(_) => Capability::CreditLedger,
            None => Capability::CreditBalances,
        };
        let reach = self.targets(caller, Some(&query.customer), query.provider, capability)?;
        let gathered = gather(reach, query.require_all, |target| async move {
            match query.as_of {
                Some(at) => self.balances_at(&target, at, cache).await,
                None => {
                    let customer_id = target_customer(&target)?;
                    let scope = CallScope::new(cache).about(Some(&customer_id));
                    target.adapter.balances(scope, &customer_id).await
                }
            }
        })
        .await?;
        Ok(ListPage::of_balances(gathered))
    }
}
