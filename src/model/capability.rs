//! What a vendor may or may not offer. `GET /v1/providers` shows the flags, and asking a
//! provider for something it lacks is a 501 that names the capability.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Something a vendor may or may not offer; a missing one is a 501 that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// List a customer's grants.
    CreditGrants,
    /// List every grant in the vendor account (no customer).
    AccountWideGrants,
    /// Fetch one grant by id.
    GrantLookup,
    /// List a customer's ledger entries.
    CreditLedger,
    /// List the ledger entries of one grant.
    LedgerByGrant,
    /// A customer's balances.
    CreditBalances,
    /// `previous_cursor` on lists.
    BackwardPaging,
    /// Create a grant (`POST /v1/credit_grants`).
    CreateGrants,
    /// Void a grant: what is left of it is withdrawn.
    VoidGrants,
    /// Expire a grant now.
    ExpireGrants,
    /// Record a manual credit or debit on a customer's ledger.
    LedgerAdjustments,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::CreditGrants => "credit_grants",
            Capability::AccountWideGrants => "account_wide_grants",
            Capability::GrantLookup => "grant_lookup",
            Capability::CreditLedger => "credit_ledger",
            Capability::LedgerByGrant => "ledger_by_grant",
            Capability::CreditBalances => "credit_balances",
            Capability::BackwardPaging => "backward_paging",
            Capability::CreateGrants => "create_grants",
            Capability::VoidGrants => "void_grants",
            Capability::ExpireGrants => "expire_grants",
            Capability::LedgerAdjustments => "ledger_adjustments",
        })
    }
}

/// What a configured provider can do, as `GET /v1/providers` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    pub credit_grants: bool,
    pub account_wide_grants: bool,
    pub grant_lookup: bool,
    pub credit_ledger: bool,
    pub ledger_by_grant: bool,
    pub credit_balances: bool,
    pub backward_paging: bool,
    pub create_grants: bool,
    pub void_grants: bool,
    pub expire_grants: bool,
    pub ledger_adjustments: bool,
}

impl Capabilities {
    pub fn has(&self, capability: Capability) -> bool {
        let Capabilities {
            credit_grants,
            account_wide_grants,
            grant_lookup,
            credit_ledger,
            ledger_by_grant,
            credit_balances,
            backward_paging,
            create_grants,
            void_grants,
            expire_grants,
            ledger_adjustments,
        } = *self;
        match capability {
            Capability::CreditGrants => credit_grants,
            Capability::AccountWideGrants => account_wide_grants,
            Capability::GrantLookup => grant_lookup,
            Capability::CreditLedger => credit_ledger,
            Capability::LedgerByGrant => ledger_by_grant,
            Capability::CreditBalances => credit_balances,
            Capability::BackwardPaging => backward_paging,
            Capability::CreateGrants => create_grants,
            Capability::VoidGrants => void_grants,
            Capability::ExpireGrants => expire_grants,
            Capability::LedgerAdjustments => ledger_adjustments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_flags_answer_by_name() {
        let caps = Capabilities {
            credit_ledger: true,
            ..Capabilities::default()
        };
        assert!(caps.has(Capability::CreditLedger));
        assert!(!caps.has(Capability::CreditGrants));
    }
}
