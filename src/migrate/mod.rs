//! `creditgate migrate plan | apply` and `creditgate reconcile`: moving a customer's
//! remaining credits from one vendor to another through the write path (README.md,
//! "Migrating between vendors").
//!
//! - [`plan`] reads every grant of each source customer and, for each one with something
//!   left, writes the `POST /v1/credit_grants` body that would recreate the remainder at the
//!   target, checked by the target's own rules ([`Gateway::check_new_grant`]). What cannot
//!   be carried is listed with the reason; nothing is dropped or rounded.
//! - [`apply`] (`apply.rs`) sends each body through [`Gateway::create_grant`] with an
//!   `Idempotency-Key` made from the plan item, its records kept for good beside the plan,
//!   after looking at the target for a grant already carrying the item's source id, so a
//!   rerun creates nothing twice.
//! - [`reconcile`] compares both sides: each migrated grant's remaining amount, matched by
//!   the source grant id the plan wrote into the target grant; [`reconcile_plan`] checks
//!   an applied plan's finished state.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::export::{tool_caller, Progress, ToolError};
mod apply;
mod reconcile;

use crate::gateway::{Caller, Gateway, GrantsQuery};
use crate::model::write::{AmountInput, NewGrantInput};
use crate::model::{CreditGrant, GrantStatus, ProviderKind};
use crate::paging::Limit;
use crate::providers::GrantIncludes;
use crate::upstream::CacheUse;
pub use apply::{apply, Applied, ApplyOptions, ApplyReport};
pub use reconcile::{reconcile, reconcile_as, reconcile_plan, Difference, Reconciliation};

/// The metadata key (and, where the target has no metadata, the name suffix) carrying the
/// source grant's id on a migrated grant.
pub const SOURCE_KEY: &str = "creditgate_source_grant";

/// One customer to move: from a reference at the source to one at the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub from: String,
    pub to: String,
}

/// A migration plan, as written to its file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    pub pairs: Vec<Pair>,
    /// Source unit → target unit, where they differ.
    pub unit_map: BTreeMap<String, String>,
    pub items: Vec<PlanItem>,
    /// Source grants that will not be carried, and why.
    pub unmapped: Vec<Unmapped>,
}

/// One grant to create at the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanItem {
    pub source_grant: String,
    pub source_customer: String,
    /// The `POST /v1/credit_grants` body.
    pub create: NewGrantInput,
    /// The `Idempotency-Key` the create is sent with.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unmapped {
    pub source_grant: String,
    pub reason: String,
}

const PLAN_VERSION: u32 = 1;

pub(crate) fn api(what: String) -> impl FnOnce(ApiError) -> ToolError {
    move |error| ToolError::Api { what, error }
}

/// The one provider a customer reference names, and the customer's id there (an alias
/// must map to exactly one provider: a migration moves credits between two customers).
fn one_customer(gateway: &Gateway, reference: &str) -> Result<(ProviderKind, String), ToolError> {
    let at = gateway
        .customer_at_providers(reference)
        .map_err(api(format!("customer {reference}")))?;
    match <[_; 1]>::try_from(at) {
        Ok([one]) => Ok(one),
        Err(_) => Err(ToolError::Input(format!(
            "customer {reference} is at several providers: name the one to migrate as `provider:id`"
        ))),
    }
}

/// The two sides of `pair`, refused when they are the same customer at the same provider.
fn sides(gateway: &Gateway, pair: &Pair) -> Result<(ProviderKind, ProviderKind), ToolError> {
    let (source, source_id) = one_customer(gateway, &pair.from)?;
    let (target, target_id) = one_customer(gateway, &pair.to)?;
    if (source, &source_id) == (target, &target_id) {
        return Err(ToolError::Input(format!(
            "{} and {} are the same customer at {source}: a migration needs two",
            pair.from, pair.to
        )));
    }
    Ok((source, target))
}

/// The source grant id a migrated grant carries: its metadata, or else the last
/// `[from <id>]` in its name (a grant migrated twice names its whole chain, the immediate
/// source last).
pub fn migrated_from(grant: &CreditGrant) -> Option<String> {
    if let Some(id) = grant.metadata.get(SOURCE_KEY).and_then(|v| v.as_str()) {
        return Some(id.to_owned());
    }
    let name = grant.name.as_deref()?;
    let start = name.rfind(FROM_MARKER)? + FROM_MARKER.len();
    let end = name[start..].find(']')? + start;
    Some(name[start..end].to_owned())
}

/// How a grant's name says where it was migrated from, where the target has no metadata.
const FROM_MARKER: &str = "[from ";

/// Every grant of a customer, each with what remains of it (looked up by id where the
/// list does not say).
pub(crate) async fn grants_of(
    gateway: &Gateway,
    caller: &Caller,
    customer: &str,
) -> Result<Vec<CreditGrant>, ToolError> {
    let mut grants = listed_grants(gateway, caller, customer).await?;
    for grant in grants.iter_mut().filter(|g| g.balance.is_none()) {
        if let Ok(full) = gateway
            .get_credit_grant(caller, &grant.id, GrantIncludes::default(), &CacheUse::new(true))
            .await
        {
            grant.balance = full.balance;
        }
    }
    Ok(grants)
}

/// Every grant of a customer, as listed.
async fn listed_grants(gateway: &Gateway, caller: &Caller, customer: &str) -> Result<Vec<CreditGrant>, ToolError> {
    let mut grants = Vec::new();
    let mut cursor = None;
    loop {
        let query = GrantsQuery {
            customer: Some(customer.to_owned()),
            limit: Limit::MAX,
            cursor,
            ..GrantsQuery::default()
        };
        let page = gateway
            .list_credit_grants(caller, &query, &CacheUse::new(true))
            .await
            .map_err(api(format!("grants of {customer}")))?;
        grants.extend(page.data);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(grants)
}

fn key_for(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("migrate-{hex}")
}

/// What [`plan`] carries beyond the pairs.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Source unit → target unit, where they differ.
    pub unit_map: BTreeMap<String, String>,
    /// Carry grants that are themselves the product of a migration (they carry its
    /// marker); left out otherwise, so a migration is never planned back or twice.
    pub include_migrated: bool,
}

/// Builds the plan; see the module comment.
pub async fn plan(
    gateway: &Gateway,
    pairs: &[Pair],
    options: &PlanOptions,
    progress: &dyn Progress,
) -> Result<Plan, ToolError> {
    let caller = tool_caller();
    let unit_map = &options.unit_map;
    let mut items = Vec::new();
    let mut unmapped = Vec::new();
    for pair in pairs {
        sides(gateway, pair)?;
    }
    for pair in pairs {
        let (_, target) = sides(gateway, pair)?;
        let keeps = gateway.new_grant_fields(target).unwrap_or_default();
        for grant in grants_of(gateway, &caller, &pair.from).await? {
            progress.advance(1);
            let mut refuse = |reason: String| {
                unmapped.push(Unmapped {
                    source_grant: grant.id.clone(),
                    reason,
                })
            };
            match grant.status {
                GrantStatus::Expired | GrantStatus::Voided | GrantStatus::Depleted => {
                    refuse(format!("the grant is {}", grant.status.as_str()));
                    continue;
                }
                GrantStatus::Active | GrantStatus::Pending | GrantStatus::Unknown => {}
            }
            if let Some(from) = migrated_from(&grant).filter(|_| !options.include_migrated) {
                refuse(format!(
                    "it was migrated from {from}; pass --include-migrated to carry it again"
                ));
                continue;
            }
            let Some(remaining) = grant.balance.clone() else {
                refuse("the vendor does not say what remains of it".into());
                continue;
            };
            if remaining.value <= Decimal::ZERO {
                refuse("nothing remains of it".into());
                continue;
            }
            let unit = unit_map
                .get(&remaining.unit)
                .cloned()
                .unwrap_or_else(|| remaining.unit.clone());
            let name = grant.name.clone().unwrap_or_else(|| "Migrated credits".into());
            let rfc3339 = |at: time::OffsetDateTime| at.format(&time::format_description::well_known::Rfc3339).ok();
            let (name, metadata) = if keeps.metadata {
                (name, BTreeMap::from([(SOURCE_KEY.to_owned(), grant.id.clone())]))
            } else {
                (format!("{name} {FROM_MARKER}{}]", grant.id), BTreeMap::new())
            };
            let create = NewGrantInput {
                customer: pair.to.clone(),
                provider: None,
                amount: AmountInput {
                    value: remaining.value.to_string(),
                    unit,
                    unit_type: None,
                },
                name: Some(name),
                category: grant.category.filter(|_| keeps.category),
                priority: grant
                    .priority
                    .filter(|_| keeps.priority)
                    .map(|p| p.normalize().to_string()),
                effective_at: grant
                    .effective_at
                    .filter(|at| *at > time::OffsetDateTime::now_utc())
                    .and_then(rfc3339),
                expires_at: grant.expires_at.and_then(rfc3339),
                metadata,
            };
            // The target's own rules decide: their refusal is the reason.
            if let Err(e) = gateway.check_new_grant(&caller, create.clone()).await {
                refuse(e.to_string());
                continue;
            }
            let key = key_for(&[&grant.id, &pair.to, &canonical(&create)?]);
            items.push(PlanItem {
                source_grant: grant.id.clone(),
                source_customer: pair.from.clone(),
                create,
                key,
            });
        }
    }
    Ok(Plan {
        version: PLAN_VERSION,
        pairs: pairs.to_vec(),
        unit_map: unit_map.clone(),
        items,
        unmapped,
    })
}

/// A create body as canonical JSON (keys sorted, absent fields left out): what an item's
/// key is derived from, the same text for the same body however it was made.
fn canonical(create: &NewGrantInput) -> Result<String, ToolError> {
    serde_json::to_value(create)
        .map(|tree| tree.to_string())
        .map_err(|e| ToolError::Input(format!("a create body does not serialize: {e}")))
}

/// Reads a plan file, refusing one edited into something `apply` cannot trust.
pub fn read_plan(text: &str) -> Result<Plan, ToolError> {
    let plan: Plan = serde_json::from_str(text).map_err(|e| ToolError::Input(format!("not a migration plan: {e}")))?;
    if plan.version != PLAN_VERSION {
        return Err(ToolError::Input(format!(
            "plan version {} is not {PLAN_VERSION}",
            plan.version
        )));
    }
    let mut keys = std::collections::HashSet::new();
    for item in &plan.items {
        let expected = key_for(&[&item.source_grant, &item.create.customer, &canonical(&item.create)?]);
        if item.key != expected {
            return Err(ToolError::Input(format!(
                "item for {}: its key does not match its content (edited by hand?); make the plan again",
                item.source_grant
            )));
        }
        if !keys.insert(&item.key) {
            return Err(ToolError::Input(format!(
                "item for {} appears twice",
                item.source_grant
            )));
        }
    }
    Ok(plan)
}
