//! `creditgate migrate plan | apply` and `creditgate reconcile`: moving a customer's
//! remaining credits from one vendor to another through the write path (README.md,
//! "Migrating between vendors").
//!
//! - [`plan`] reads every grant of each source customer and, for each one with something
//!   left, writes the `POST /v1/credit_grants` body that would recreate the remainder at the
//!   target, checked by the target's own rules ([`Gateway::check_new_grant`]). What cannot
//!   be carried is listed with the reason; nothing is dropped or rounded.
//! - [`apply`] sends each body through [`Gateway::create_grant`] with an `Idempotency-Key`
//!   made from the plan item, its records in a store beside the plan, so a rerun after any
//!   interruption replays what was done and creates nothing twice.
//! - [`reconcile`] compares both sides: each migrated grant's remaining amount, matched by
//!   the source grant id the plan wrote into the target grant.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::export::{tool_caller, Progress, ToolError};
mod reconcile;

use crate::gateway::{Caller, Gateway, GrantsQuery};
use crate::model::{CreditGrant, GrantStatus, ProviderKind};
use crate::paging::MAX_LIMIT;
use crate::providers::writes::GrantEnd;
use crate::providers::GrantIncludes;
use crate::upstream::CacheUse;
pub use reconcile::{reconcile, Difference, Reconciliation};

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
    pub create: Value,
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

/// The provider a customer reference names (an alias must map to exactly one).
fn provider_of(gateway: &Gateway, reference: &str) -> Result<ProviderKind, ToolError> {
    let providers = gateway
        .customer_providers(reference)
        .map_err(api(format!("customer {reference}")))?;
    match providers.as_slice() {
        [one] => Ok(*one),
        _ => Err(ToolError::Input(format!(
            "customer {reference} is at several providers: name one as `provider:id`"
        ))),
    }
}

/// Every grant of a customer, each with what remains of it (looked up by id where the
/// list does not say).
pub(crate) async fn grants_of(
    gateway: &Gateway,
    caller: &Caller,
    customer: &str,
) -> Result<Vec<CreditGrant>, ToolError> {
    let mut grants = Vec::new();
    let mut cursor = None;
    loop {
        let query = GrantsQuery {
            customer: Some(customer.to_owned()),
            limit: Some(MAX_LIMIT),
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

fn key_for(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("migrate-{hex}")
}

/// Builds the plan; see the module comment.
pub async fn plan(
    gateway: &Gateway,
    pairs: &[Pair],
    unit_map: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<Plan, ToolError> {
    let caller = tool_caller();
    let mut items = Vec::new();
    let mut unmapped = Vec::new();
    for pair in pairs {
        let target = provider_of(gateway, &pair.to)?;
        let takes_metadata = matches!(target, ProviderKind::Stripe | ProviderKind::Metronome);
        let takes_priority = target != ProviderKind::Sequence;
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
            let mut create = json!({
                "customer": pair.to,
                "amount": {"value": remaining.value.to_string(), "unit": unit},
            });
            if takes_metadata {
                create["name"] = json!(name);
                create["metadata"] = json!({ SOURCE_KEY: grant.id });
            } else {
                create["name"] = json!(format!("{name} [from {}]", grant.id));
            }
            if let (true, Some(priority)) = (takes_priority, grant.priority) {
                create["priority"] = json!(priority.normalize().to_string());
            }
            if let Some(at) = grant.effective_at.filter(|at| *at > time::OffsetDateTime::now_utc()) {
                create["effective_at"] = json!(at.format(&time::format_description::well_known::Rfc3339).ok());
            }
            if let Some(at) = grant.expires_at {
                create["expires_at"] = json!(at.format(&time::format_description::well_known::Rfc3339).ok());
            }
            if let Some(category) = grant.category.filter(|_| matches!(target, ProviderKind::Stripe)) {
                create["category"] = json!(category);
            }
            // The target's own rules decide: their refusal is the reason.
            if let Err(e) = gateway.check_new_grant(&caller, create.to_string().as_bytes()).await {
                refuse(e.to_string());
                continue;
            }
            let key = key_for(&[&grant.id, &pair.to, &create.to_string()]);
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
        if !item.create.is_object() || item.create["customer"].as_str().is_none() {
            return Err(ToolError::Input(format!(
                "item for {}: `create` is not a grant body",
                item.source_grant
            )));
        }
        let expected = key_for(&[
            &item.source_grant,
            item.create["customer"].as_str().unwrap_or_default(),
            &item.create.to_string(),
        ]);
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

/// What happened to one plan item.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub source_grant: String,
    /// The grant at the target.
    pub target_grant: Option<String>,
    /// Created now, or replayed (done by an earlier run).
    pub replayed: bool,
    /// The source grant voided or expired (`--void-source`).
    pub source_ended: bool,
    pub error: Option<String>,
}

/// Runs a plan; see the module comment. `gateway` must have an idempotency store (the
/// command keeps it beside the plan).
pub async fn apply(gateway: &Gateway, plan: &Plan, void_source: bool, progress: &dyn Progress) -> Vec<Applied> {
    let caller = std::sync::Arc::new(tool_caller());
    let mut outcomes = Vec::new();
    for item in &plan.items {
        let mut outcome = Applied {
            source_grant: item.source_grant.clone(),
            target_grant: None,
            replayed: false,
            source_ended: false,
            error: None,
        };
        match gateway
            .create_grant(&caller, Some(&item.key), item.create.to_string().as_bytes())
            .await
        {
            Ok(answer) => {
                outcome.replayed = answer.replayed;
                outcome.target_grant = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned));
            }
            Err(e) => outcome.error = Some(format!("create: {e}")),
        }
        if void_source && outcome.error.is_none() {
            if let Err(e) = end_source(gateway, &caller, item).await {
                outcome.error = Some(format!("ending the source grant: {e}"));
            } else {
                outcome.source_ended = true;
            }
        }
        progress.advance(1);
        outcomes.push(outcome);
    }
    outcomes
}

/// Voids the source grant, or expires it where the source cannot void.
async fn end_source(gateway: &Gateway, caller: &std::sync::Arc<Caller>, item: &PlanItem) -> Result<(), ApiError> {
    let provider: ProviderKind = item
        .source_grant
        .split_once(':')
        .and_then(|(p, _)| p.parse().ok())
        .ok_or_else(|| ApiError::invalid_param("source_grant", "not a creditgate grant id"))?;
    let caps = gateway
        .providers()
        .into_iter()
        .find(|p| p.id == provider)
        .map(|p| p.capabilities)
        .unwrap_or_default();
    let end = if caps.void_grants {
        GrantEnd::Void
    } else {
        GrantEnd::Expire
    };
    let body = json!({"customer": item.source_customer}).to_string();
    let key = key_for(&[&item.key, end.as_str()]);
    gateway
        .end_grant(caller, Some(&key), &item.source_grant, end, body.as_bytes())
        .await
        .map(|_| ())
}
