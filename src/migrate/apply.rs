//! `creditgate migrate apply`: a plan's creates, each exactly once however often it is
//! run, and `--void-source` (README.md, "Migrating between vendors").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{key_for, listed_grants, migrated_from, Plan, PlanItem};
use crate::error::ApiError;
use crate::export::{tool_caller, Progress, ToolError};
use crate::gateway::{Caller, Gateway, WriteAnswer, WriteBody};
use crate::model::write::EndGrantInput;
use crate::model::ProviderKind;
use crate::providers::writes::GrantEnd;

/// What happened to one plan item.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub source_grant: String,
    /// The grant at the target.
    pub target_grant: Option<String>,
    /// Done by an earlier run: replayed from the plan's records, or found at the target
    /// carrying the source grant's id.
    pub replayed: bool,
    /// The source grant voided or expired (`--void-source`).
    pub source_ended: bool,
    pub error: Option<String>,
}

/// How [`apply`] runs a plan.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// End each source grant once its target grant is confirmed.
    pub void_source: bool,
    /// Where the history of source customers whose void deletes it (Sequence) is exported,
    /// before any of their grants is ended.
    pub history: PathBuf,
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub items: Vec<Applied>,
    /// The export of the customers whose history a void deletes, when one was needed.
    pub history: Option<(PathBuf, Vec<String>)>,
}

/// Runs a plan; see the module comment. `gateway` must have an idempotency store (the
/// command keeps it beside the plan). Before each create, the target is looked at for a
/// grant already carrying the item's source grant id, so a rerun never makes an item twice
/// whatever happened to the records.
pub async fn apply(
    gateway: &Gateway,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, ToolError> {
    let caller = std::sync::Arc::new(tool_caller());
    let history = if options.void_source {
        keep_history(gateway, plan, &options.history, progress).await?
    } else {
        None
    };
    let mut migrated: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut outcomes = Vec::new();
    for item in &plan.items {
        let mut outcome = Applied {
            source_grant: item.source_grant.clone(),
            target_grant: None,
            replayed: false,
            source_ended: false,
            error: None,
        };
        let target = item.create.customer.clone();
        if !migrated.contains_key(&target) {
            let found = migrated_grants(gateway, &caller, &target).await;
            migrated.insert(target.clone(), found.unwrap_or_default());
        }
        let earlier = migrated.get(&target).and_then(|m| m.get(&item.source_grant));
        match earlier {
            Some(id) => {
                outcome.replayed = true;
                outcome.target_grant = Some(id.clone());
            }
            None => match create(gateway, &caller, item).await {
                Ok(answer) => {
                    outcome.replayed = answer.replayed;
                    outcome.target_grant = serde_json::from_slice::<Value>(&answer.body)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned));
                }
                Err(e) => outcome.error = Some(format!("create: {e}")),
            },
        }
        if options.void_source && outcome.error.is_none() {
            if let Err(e) = end_source(gateway, &caller, item).await {
                outcome.error = Some(format!("ending the source grant: {e}"));
            } else {
                outcome.source_ended = true;
            }
        }
        progress.advance(1);
        outcomes.push(outcome);
    }
    Ok(ApplyReport {
        items: outcomes,
        history,
    })
}

/// Source grant id → target grant id, for the grants at `customer` that carry a migration's
/// marker. A target that cannot be listed yields none: the create's own records still
/// stand between a rerun and a second grant.
async fn migrated_grants(
    gateway: &Gateway,
    caller: &Caller,
    customer: &str,
) -> Result<BTreeMap<String, String>, ToolError> {
    let grants = listed_grants(gateway, caller, customer).await?;
    Ok(grants
        .iter()
        .filter_map(|g| migrated_from(g).map(|source| (source, g.id.clone())))
        .collect())
}

/// Exports the whole history of the plan's source customers at vendors whose void deletes
/// it, before anything is ended; an export already there is kept (or resumed, if cut).
async fn keep_history(
    gateway: &Gateway,
    plan: &Plan,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Option<(PathBuf, Vec<String>)>, ToolError> {
    let mut customers: Vec<String> = Vec::new();
    for item in &plan.items {
        let deletes = source_provider(item).is_ok_and(|p| gateway.void_deletes_history(p));
        if deletes && !customers.contains(&item.source_customer) {
            customers.push(item.source_customer.clone());
        }
    }
    if customers.is_empty() {
        return Ok(None);
    }
    let exists = std::fs::symlink_metadata(out).is_ok();
    let cut = std::fs::symlink_metadata(crate::export::checkpoint_path(out)).is_ok();
    if !exists || cut {
        let request = crate::export::ExportRequest {
            customers: crate::export::Customers::Listed(customers.clone()),
            out: out.to_owned(),
            format: crate::export::Format::Ndjson,
            resume: cut,
        };
        crate::export::export(gateway, &request, progress).await?;
    }
    Ok(Some((out.to_owned(), customers)))
}

/// The provider of an item's source grant.
fn source_provider(item: &PlanItem) -> Result<ProviderKind, ApiError> {
    item.source_grant
        .split_once(':')
        .and_then(|(p, _)| p.parse().ok())
        .ok_or_else(|| ApiError::invalid_param("source_grant", "not a creditgate grant id"))
}

/// Voids the source grant, or expires it where the source cannot void.
async fn end_source(gateway: &Gateway, caller: &std::sync::Arc<Caller>, item: &PlanItem) -> Result<(), ApiError> {
    let provider = source_provider(item)?;
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
    let body = WriteBody::built(EndGrantInput {
        customer: Some(item.source_customer.clone()),
    })?;
    let key = key_for(&[&item.key, end.as_str()]);
    let writer = Gateway::write_scope(caller)?.with_key(Some(&key))?;
    gateway
        .end_grant(writer, &item.source_grant, end, body)
        .await
        .map(|_| ())
}

/// Creates the item's grant at the target, under its key.
async fn create(gateway: &Gateway, caller: &std::sync::Arc<Caller>, item: &PlanItem) -> Result<WriteAnswer, ApiError> {
    let writer = Gateway::write_scope(caller)?.with_key(Some(&item.key))?;
    gateway
        .create_grant(writer, WriteBody::built(item.create.clone())?)
        .await
}
