//! One write as a value ([`Op`]), so it can run in a task of its own, and the two things
//! the write path does with it: look for its effect at the vendor after an unknown outcome
//! ([`find`]) and do it ([`perform`]); with the audit line every write ends in.

use super::super::Caller;
use crate::error::ApiError;
use crate::model::event::EventType;
use crate::model::write::{Adjustment, NewGrant};
use crate::model::{qualified_id, quoted, ProviderKind};
use crate::providers::writes::{GrantEnd, WriteContext};
use crate::providers::CreditsProvider;

/// One write, owned, so it can run in a task of its own.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Create {
        provider: ProviderKind,
        customer_id: String,
        grant: NewGrant,
    },
    End {
        provider: ProviderKind,
        grant_id: String,
        customer_id: Option<String>,
        end: GrantEnd,
    },
    Adjust {
        provider: ProviderKind,
        customer_id: String,
        adjustment: Adjustment,
    },
}

impl Op {
    pub fn provider(&self) -> ProviderKind {
        match self {
            Op::Create { provider, .. } | Op::End { provider, .. } | Op::Adjust { provider, .. } => *provider,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "create",
            Op::End { end, .. } => end.as_str(),
            Op::Adjust { .. } => "adjust",
        }
    }

    pub fn customer_id(&self) -> Option<&str> {
        match self {
            Op::Create { customer_id, .. } | Op::Adjust { customer_id, .. } => Some(customer_id),
            Op::End { customer_id, .. } => customer_id.as_deref(),
        }
    }
}

/// What a write did at the vendor: the answer's body, the vendor id it wrote (for the
/// audit line) and whose credits changed (for the caches).
pub(super) struct Done {
    pub body: Vec<u8>,
    pub vendor_id: Option<String>,
    pub customer_id: Option<String>,
}

fn serialize<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("cannot serialize the answer: {e}")))
}

impl Done {
    /// The event a write's answer makes: the grant it created or ended, the ledger entry it
    /// booked (when the vendor's ledger shows it).
    pub fn changed(&self, op: &Op) -> Option<(EventType, Vec<u8>)> {
        match op {
            Op::Create { .. } => Some((EventType::GrantCreated, self.body.clone())),
            Op::End { .. } => Some((EventType::GrantUpdated, self.body.clone())),
            Op::Adjust { .. } => {
                let answer: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
                let entry = answer.get("entry").filter(|e| !e.is_null())?;
                Some((EventType::LedgerEntryCreated, serde_json::to_vec(entry).ok()?))
            }
        }
    }
}

/// Looks at the vendor for the effect of an earlier attempt whose outcome is unknown.
pub(super) async fn find(
    adapter: &dyn CreditsProvider,
    cx: &WriteContext<'_>,
    op: &Op,
) -> Result<Option<Done>, ApiError> {
    match op {
        Op::Create { customer_id, .. } => {
            let found = adapter.find_created_grant(cx, customer_id).await?;
            found.map(|g| grant_done(&g)).transpose()
        }
        Op::End {
            grant_id,
            customer_id,
            end,
            ..
        } => {
            let found = adapter
                .find_ended_grant(cx, grant_id, customer_id.as_deref(), *end)
                .await?;
            found.map(|g| grant_done(&g)).transpose()
        }
        Op::Adjust {
            customer_id,
            adjustment,
            ..
        } => {
            let found = adapter.find_adjustment(cx, customer_id, adjustment).await?;
            found
                .map(|a| {
                    Ok(Done {
                        body: serialize(&a)?,
                        vendor_id: a.entry.as_ref().map(|e| e.provider_id.clone()),
                        customer_id: Some(customer_id.clone()),
                    })
                })
                .transpose()
        }
    }
}

pub(super) async fn perform(adapter: &dyn CreditsProvider, cx: &WriteContext<'_>, op: &Op) -> Result<Done, ApiError> {
    match op {
        Op::Create { customer_id, grant, .. } => grant_done(&adapter.create_grant(cx, customer_id, grant).await?),
        Op::End {
            grant_id,
            customer_id,
            end,
            ..
        } => grant_done(&adapter.end_grant(cx, grant_id, customer_id.as_deref(), *end).await?),
        Op::Adjust {
            customer_id,
            adjustment,
            ..
        } => {
            let a = adapter.adjust(cx, customer_id, adjustment).await?;
            Ok(Done {
                body: serialize(&a)?,
                vendor_id: a.entry.as_ref().map(|e| e.provider_id.clone()),
                customer_id: Some(customer_id.clone()),
            })
        }
    }
}

fn grant_done(grant: &crate::model::CreditGrant) -> Result<Done, ApiError> {
    Ok(Done {
        body: serialize(grant)?,
        vendor_id: Some(grant.provider_id.clone()),
        customer_id: grant.vendor_customer_id().map(str::to_owned),
    })
}

/// The write's one structured log line, and its count.
pub(super) fn audit(caller: &Caller, key: &str, op: &Op, vendor_id: Option<&str>, outcome: &'static str) {
    let provider = op.provider();
    crate::metrics::record_write(provider, op.name(), outcome);
    tracing::info!(
        target: "creditgate::audit",
        tenant = %caller.tenant,
        key_name = %caller.key_name,
        request_id = crate::request_id::current().as_deref().unwrap_or("-"),
        vendor = %provider,
        operation = op.name(),
        customer = op.customer_id().map(|c| qualified_id(provider, c)).as_deref().unwrap_or("-"),
        vendor_id = vendor_id.unwrap_or("-"),
        idempotency_key = %quoted(key),
        outcome,
        "write"
    );
}
