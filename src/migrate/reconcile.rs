//! `creditgate reconcile`: both sides of a migration compared.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::{api, grants_of, migrated_from, Pair, Plan};
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

/// Compares each live left grant's remainder with the right grant migrated from it, and
/// the left balance per unit with what the right holds in migrated grants.
pub async fn reconcile(
    gateway: &Gateway,
    pairs: &[Pair],
    unit_map: &BTreeMap<String, String>,
) -> Result<Reconciliation, ToolError> {
    reconcile_as(gateway, &tool_caller(), pairs, unit_map).await
}

/// [`reconcile`] with what `caller`'s key may read (the console's reconcile page).
pub async fn reconcile_as(
    gateway: &Gateway,
    caller: &crate::gateway::Caller,
    pairs: &[Pair],
    unit_map: &BTreeMap<String, String>,
) -> Result<Reconciliation, ToolError> {
    let mut differences = Vec::new();
    let mut balances: BTreeMap<String, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    let mut matched = 0;
    for pair in pairs {
        let left = grants_of(gateway, caller, &pair.from).await?;
        let right = grants_of(gateway, caller, &pair.to).await?;
        let migrated: BTreeMap<String, &CreditGrant> = right
            .iter()
            .filter(|g| !g.status.has_ended())
            .filter_map(|g| migrated_from(g).map(|s| (s, g)))
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
            for b in balances_of(gateway, caller, customer).await? {
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
    Ok(compared(balances, matched, differences, ""))
}

/// A customer's balances, fresh from the vendors.
async fn balances_of(
    gateway: &Gateway,
    caller: &crate::gateway::Caller,
    customer: &str,
) -> Result<Vec<crate::model::CreditBalance>, ToolError> {
    let query = BalancesQuery {
        customer: customer.to_owned(),
        provider: None,
        // The tools need every provider's answer or an error, never part of it.
        require_all: true,
        as_of: None,
    };
    let page = gateway
        .credit_balances(caller, &query, &CacheUse::new(true))
        .await
        .map_err(api(format!("balances of {customer}")))?;
    Ok(page.data)
}

/// The report: per unit, `left` (the source's balance, or what was planned) must equal
/// what the migrated grants hold; each unit that differs is one more difference.
fn compared(
    balances: BTreeMap<String, (Decimal, Decimal, Decimal)>,
    matched_grants: usize,
    mut differences: Vec<Difference>,
    left_is: &str,
) -> Reconciliation {
    for (unit, (left, _, moved)) in &balances {
        if left != moved {
            differences.push(Difference {
                what: format!("balance in {unit}"),
                left: format!("{left}{left_is}"),
                right: format!("{moved} in migrated grants"),
            });
        }
    }
    Reconciliation {
        balances: balances
            .into_iter()
            .map(|(unit, (left, right, right_migrated))| UnitBalances {
                unit,
                left,
                right,
                right_migrated,
            })
            .collect(),
        matched_grants,
        differences,
    }
}

/// `reconcile --plan`: the finished state of an applied plan. For each item, the target
/// holds a grant migrated from the item's source grant with exactly the planned amount,
/// and the source grant has ended (voided, expired, nothing left, or gone: a Sequence void
/// deletes it). Per unit, the planned total is compared with what the migrated grants hold.
pub async fn reconcile_plan(gateway: &Gateway, plan: &Plan) -> Result<Reconciliation, ToolError> {
    let caller = tool_caller();
    let mut differences = Vec::new();
    let mut matched = 0;
    // unit → (planned, the targets' whole balances, held in the migrated grants)
    let mut balances: BTreeMap<String, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    let mut customers: BTreeMap<String, Vec<CreditGrant>> = BTreeMap::new();
    for item in &plan.items {
        let target = item.create.customer.as_str();
        for customer in [target, item.source_customer.as_str()] {
            if !customers.contains_key(customer) {
                let grants = grants_of(gateway, &caller, customer).await?;
                customers.insert(customer.to_owned(), grants);
            }
        }
        let amount = &item.create.amount;
        let planned: Decimal = amount
            .value
            .parse()
            .map_err(|_| ToolError::Input(format!("item for {}: no amount", item.source_grant)))?;
        let unit = amount.unit.to_ascii_uppercase();
        balances.entry(unit.clone()).or_default().0 += planned;
        let migrated = customers[target]
            .iter()
            .find(|g| !g.status.has_ended() && migrated_from(g).as_deref() == Some(item.source_grant.as_str()));
        let held = migrated.and_then(|g| g.balance.as_ref());
        if let Some(held) = held {
            balances.entry(held.unit.clone()).or_default().2 += held.value;
        }
        let source = customers[item.source_customer.as_str()]
            .iter()
            .find(|g| g.id == item.source_grant);
        let left_in_source = source
            .filter(|g| {
                matches!(
                    g.status,
                    GrantStatus::Active | GrantStatus::Pending | GrantStatus::Unknown
                )
            })
            .and_then(|g| g.balance.as_ref())
            .filter(|b| b.value > Decimal::ZERO);
        let mut agrees = true;
        match held {
            Some(held) if held.value == planned && held.unit == unit => {}
            Some(held) => {
                agrees = false;
                differences.push(Difference {
                    what: item.source_grant.clone(),
                    left: format!("planned {planned} {unit}"),
                    right: format!("{} {} in {}", held.value, held.unit, migrated.map_or("", |g| &g.id)),
                });
            }
            None => {
                agrees = false;
                differences.push(Difference {
                    what: item.source_grant.clone(),
                    left: format!("planned {planned} {unit}"),
                    right: "no migrated grant".into(),
                });
            }
        }
        if let Some(left) = left_in_source {
            agrees = false;
            differences.push(Difference {
                what: item.source_grant.clone(),
                left: format!("still holds {} {} (not ended)", left.value, left.unit),
                right: "ended".into(),
            });
        }
        matched += usize::from(agrees);
    }
    let targets: std::collections::BTreeSet<&str> = plan.items.iter().map(|i| i.create.customer.as_str()).collect();
    for customer in targets {
        for b in balances_of(gateway, &caller, customer).await? {
            balances.entry(b.unit).or_default().1 += b.available.value;
        }
    }
    Ok(compared(balances, matched, differences, " planned"))
}
