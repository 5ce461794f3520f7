//! `creditgate reconcile`: both sides of a migration compared.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::{api, grants_of, Pair, SOURCE_KEY};
use crate::export::{tool_caller, ToolError};
use crate::gateway::{BalancesQuery, Gateway};
use crate::model::{CreditGrant, GrantStatus};
use crate::upstream::CacheUse;

/// One disagreement between the two sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The source grant, or the unit for a balance line.
    pub what: String,
    pub left: String,
    pub right: String,
}

/// One unit's balances on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct UnitBalances {
    pub unit: String,
    /// The source's balance (its unit mapped to the target's).
    pub left: Decimal,
    /// The target's whole balance, credits it held before included.
    pub right: Decimal,
    /// What the target holds in grants migrated from the source.
    pub right_migrated: Decimal,
}

/// Both sides of a migration, compared.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub balances: Vec<UnitBalances>,
    pub matched_grants: usize,
    pub differences: Vec<Difference>,
}

/// The source grant id a migrated grant carries (metadata, or its name's suffix).
fn source_of(grant: &CreditGrant) -> Option<String> {
    if let Some(id) = grant.metadata.get(SOURCE_KEY).and_then(|v| v.as_str()) {
        return Some(id.to_owned());
    }
    let name = grant.name.as_deref()?;
    let start = name.find("[from ")? + "[from ".len();
    let end = name[start..].find(']')? + start;
    Some(name[start..end].to_owned())
}

/// Compares each live left grant's remainder with the right grant migrated from it, and
/// the left balance per unit with what the right holds in migrated grants.
pub async fn reconcile(
    gateway: &Gateway,
    pairs: &[Pair],
    unit_map: &BTreeMap<String, String>,
) -> Result<Reconciliation, ToolError> {
    let caller = tool_caller();
    let mut differences = Vec::new();
    let mut balances: BTreeMap<String, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    let mut matched = 0;
    for pair in pairs {
        let left = grants_of(gateway, &caller, &pair.from).await?;
        let right = grants_of(gateway, &caller, &pair.to).await?;
        let migrated: BTreeMap<String, &CreditGrant> = right
            .iter()
            .filter(|g| !matches!(g.status, GrantStatus::Voided | GrantStatus::Expired))
            .filter_map(|g| source_of(g).map(|s| (s, g)))
            .collect();
        for grant in &left {
            let live = matches!(grant.status, GrantStatus::Active | GrantStatus::Pending);
            let remaining = grant.balance.as_ref().filter(|_| live);
            let Some(remaining) = remaining.filter(|b| b.value > Decimal::ZERO) else {
                continue;
            };
            let unit = unit_map.get(&remaining.unit).unwrap_or(&remaining.unit);
            match migrated.get(&grant.id).and_then(|g| g.balance.as_ref()) {
                Some(theirs) if theirs.value == remaining.value && &theirs.unit == unit => matched += 1,
                Some(theirs) => differences.push(Difference {
                    what: grant.id.clone(),
                    left: format!("{} {}", remaining.value, remaining.unit),
                    right: format!("{} {}", theirs.value, theirs.unit),
                }),
                None => differences.push(Difference {
                    what: grant.id.clone(),
                    left: format!("{} {}", remaining.value, remaining.unit),
                    right: "no migrated grant".into(),
                }),
            }
        }
        for (side, customer) in [(0, &pair.from), (1, &pair.to)] {
            let query = BalancesQuery {
                customer: Some(customer.clone()),
                provider: None,
            };
            let page = gateway
                .credit_balances(&caller, &query, &CacheUse::new(true))
                .await
                .map_err(api(format!("balances of {customer}")))?;
            for b in page.data {
                let unit = if side == 0 {
                    unit_map.get(&b.unit).cloned().unwrap_or(b.unit)
                } else {
                    b.unit
                };
                let entry = balances.entry(unit).or_default();
                if side == 0 {
                    entry.0 += b.available.value;
                } else {
                    entry.1 += b.available.value;
                }
            }
        }
        for g in migrated.values() {
            if let Some(b) = &g.balance {
                balances.entry(b.unit.clone()).or_default().2 += b.value;
            }
        }
    }
    for (unit, (left, _, moved)) in &balances {
        if left != moved {
            differences.push(Difference {
                what: format!("balance in {unit}"),
                left: left.to_string(),
                right: format!("{moved} in migrated grants"),
            });
        }
    }
    Ok(Reconciliation {
        balances: balances
            .into_iter()
            .map(|(unit, (left, right, right_migrated))| UnitBalances {
                unit,
                left,
                right,
                right_migrated,
            })
            .collect(),
        matched_grants: matched,
        differences,
    })
}
