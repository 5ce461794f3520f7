//! A grant's normalized status, from one function of facts the vendor sends in the grant
//! record itself (README.md, "Grant status").

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{quoted, Timestamp};

/// Normalized grant status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Pending,
    Depleted,
    Expired,
    Voided,
    Unknown,
}

impl GrantStatus {
    pub const ALL: [GrantStatus; 6] = [
        GrantStatus::Active,
        GrantStatus::Pending,
        GrantStatus::Depleted,
        GrantStatus::Expired,
        GrantStatus::Voided,
        GrantStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Pending => "pending",
            GrantStatus::Depleted => "depleted",
            GrantStatus::Expired => "expired",
            GrantStatus::Voided => "voided",
            GrantStatus::Unknown => "unknown",
        }
    }
}

/// What a grant's status is made of: facts the vendor sends in the grant record itself, the
/// same in every endpoint that returns the grant. A remaining balance that only some
/// endpoints fetch (Stripe's by-id summary, Sequence's per-customer list) is not one of
/// them, so a grant has one status whichever endpoint returned it and a `status` filter is
/// exact (README.md, "Grant status").
#[derive(Debug, Clone, Copy, Default)]
pub struct GrantFacts {
    /// Voided, by the vendor's word or a `voided_at`.
    pub voided: bool,
    /// The vendor says it has expired.
    pub expired: bool,
    /// Nothing is left, by the vendor's word or a remaining amount in the grant record.
    pub consumed: bool,
    pub effective_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

impl GrantStatus {
    /// Voided or expired: the grant has ended, whichever way.
    pub fn has_ended(self) -> bool {
        matches!(self, GrantStatus::Voided | GrantStatus::Expired)
    }

    /// The one status function: voided, else expired, else pending, else depleted, else
    /// active.
    pub fn of(facts: &GrantFacts, now: Timestamp) -> GrantStatus {
        if facts.voided {
            GrantStatus::Voided
        } else if facts.expired || facts.expires_at.is_some_and(|t| t <= now) {
            GrantStatus::Expired
        } else if facts.effective_at.is_some_and(|t| t > now) {
            GrantStatus::Pending
        } else if facts.consumed {
            GrantStatus::Depleted
        } else {
            GrantStatus::Active
        }
    }
}

impl FromStr for GrantStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantStatus::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            format!(
                "unknown status {} (expected one of active, pending, depleted, expired, voided, unknown)",
                quoted(s)
            )
        })
    }
}
