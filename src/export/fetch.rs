//! One page of an export: a section (grants, ledger, balances) of one customer, as the
//! `/v1` listing answers it. Each vendor answer is read once, so none fills the vendor
//! cache ([`CacheUse::walk`]).

use super::{Section, ToolError};
use crate::error::ApiError;
use crate::gateway::{BalancesQuery, Caller, Gateway, GrantsQuery, LedgerQuery};
use crate::model::{CreditBalance, CreditGrant, LedgerEntry};
use crate::paging::Limit;
use crate::upstream::CacheUse;

/// Which page to fetch.
pub(super) struct Position {
    pub customer: String,
    pub section: Section,
    pub cursor: Option<String>,
}

pub(super) enum Items {
    Grants(Vec<CreditGrant>),
    Ledger(Vec<LedgerEntry>),
    Balances(Vec<CreditBalance>),
}

/// One page and where the list goes on (`None`: the section is done).
pub(super) struct Fetched {
    pub items: Items,
    pub next: Option<String>,
}

/// One page of one section of one customer, as `/v1` lists it.
pub(super) async fn fetch(gateway: &Gateway, caller: &Caller, at: &Position) -> Result<Fetched, ToolError> {
    let customer = &at.customer;
    let failed = |what: &str| {
        let what = format!("{what} of {customer}");
        move |error| ToolError::Api { what, error }
    };
    match at.section {
        Section::Grants => {
            let query = GrantsQuery {
                customer: Some(customer.clone()),
                limit: Limit::MAX,
                cursor: at.cursor.clone(),
                ..GrantsQuery::default()
            };
            match gateway.list_credit_grants(caller, &query, &CacheUse::walk()).await {
                Ok(page) => Ok(Fetched {
                    items: Items::Grants(page.data),
                    next: page.next_cursor,
                }),
                // A customer whose only provider has no grants (Vayu): nothing to write.
                Err(ApiError::Unsupported { .. }) => Ok(Fetched {
                    items: Items::Grants(Vec::new()),
                    next: None,
                }),
                Err(error) => Err(failed("grants")(error)),
            }
        }
        Section::Ledger => {
            let query = LedgerQuery {
                customer: customer.clone(),
                limit: Limit::MAX,
                cursor: at.cursor.clone(),
                ..LedgerQuery::default()
            };
            let page = gateway
                .list_ledger_entries(caller, &query, &CacheUse::walk())
                .await
                .map_err(failed("ledger"))?;
            Ok(Fetched {
                items: Items::Ledger(page.data),
                next: page.next_cursor,
            })
        }
        Section::Balances => {
            let query = BalancesQuery {
                customer: customer.clone(),
                provider: None,
                // The tools need every provider's answer or an error, never part of it.
                require_all: true,
                as_of: None,
            };
            let page = gateway
                .credit_balances(caller, &query, &CacheUse::walk())
                .await
                .map_err(failed("balances"))?;
            Ok(Fetched {
                items: Items::Balances(page.data),
                next: None,
            })
        }
    }
}
