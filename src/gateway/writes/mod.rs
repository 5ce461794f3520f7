//! The write endpoints, exactly once: create a grant, void or expire one, book a manual
//! ledger entry (README.md, "Writes").
//!
//! Every write runs the same way. The caller's key must have the `write` scope; the body
//! is parsed strictly and checked (the vendor's own rules too) before anything is stored or
//! sent. Then the idempotency store decides, atomically, under (tenant, `Idempotency-Key`)
//! and a fingerprint of the request: replay the first answer, refuse (409), write, or,
//! when an earlier attempt's outcome is unknown and has settled, look for that write at the
//! vendor first (`once.rs`). The decision and the vendor call run in a task of their own,
//! so a client that hangs up cannot leave the record in flight. A written change drops the
//! customer's cached reads.

use std::sync::Arc;

mod input;
mod once;
mod ops;

use super::targets::CustomerRef;
use super::{Caller, Gateway};
use crate::error::{ApiError, ErrorCode};
use crate::model::write::{AdjustmentInput, EndGrantInput, NewGrant, NewGrantInput};
use crate::model::{quoted, Capability, ProviderKind};
use crate::providers::writes::GrantEnd;
use crate::providers::CreditsProvider;
use crate::upstream::{CacheUse, CallScope};
pub use input::{check_idempotency_key, WriteBody, MAX_IDEMPOTENCY_KEY_CHARS};
use ops::Op;

/// A write's answer: the JSON body, and whether it replays an earlier request's.
#[derive(Debug, Clone)]
pub struct WriteAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    pub replayed: bool,
}

/// A caller whose key has the `write` scope: made only by [`Gateway::write_scope`], the
/// one place that scope is checked.
#[derive(Debug, Clone, Copy)]
pub struct WriteScope<'a>(&'a Arc<Caller>);

impl<'a> WriteScope<'a> {
    /// The write's `Idempotency-Key`, checked: required, 1 to 255 printable ASCII
    /// characters.
    pub fn with_key(self, key: Option<&'a str>) -> Result<Writer<'a>, ApiError> {
        Ok(Writer {
            caller: self.0,
            key: check_idempotency_key(key)?,
        })
    }
}

/// Who writes, under which `Idempotency-Key`, both checked: what every write method takes.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    caller: &'a Arc<Caller>,
    key: &'a str,
}

impl Gateway {
    /// A 403 unless the caller's key has the `write` scope: checked before anything else
    /// about a write, so a read-only key learns nothing more.
    pub fn write_scope(caller: &Arc<Caller>) -> Result<WriteScope<'_>, ApiError> {
        if caller.may_write {
            Ok(WriteScope(caller))
        } else {
            Err(ApiError::Permission {
                code: ErrorCode::WriteNotAllowed,
                message: "this API key may only read; writes need a key with the `write` scope".into(),
                provider: None,
            })
        }
    }

    /// `POST /v1/credit_grants`.
    pub async fn create_grant(
        &self,
        writer: Writer<'_>,
        body: WriteBody<NewGrantInput>,
    ) -> Result<WriteAnswer, ApiError> {
        let fingerprint = body.fingerprint("create", "");
        let (adapter, customer_id, grant) = self.new_grant(writer.caller, body.into_input())?;
        let op = Op::Create {
            provider: adapter.kind(),
            customer_id,
            grant,
        };
        self.exactly_once(writer.caller, writer.key, fingerprint, op).await
    }

    /// Everything [`Self::create_grant`] checks before it writes, and nothing more:
    /// whether `body` would be taken (a dry run; Togai's unit is looked up).
    pub async fn check_new_grant(&self, caller: &Caller, body: NewGrantInput) -> Result<(), ApiError> {
        let (adapter, customer_id, grant) = self.new_grant(caller, body)?;
        let cache = CacheUse::new(false);
        adapter
            .check_new_grant_at_vendor(CallScope::new(&cache).about(Some(&customer_id)), &customer_id, &grant)
            .await
    }

    /// A create's body, parsed and checked (the vendor's rules too), with the provider and
    /// the customer's id there.
    fn new_grant(
        &self,
        caller: &Caller,
        body: NewGrantInput,
    ) -> Result<(&dyn CreditsProvider, String, NewGrant), ApiError> {
        let grant = body.check()?;
        let (adapter, customer_id) =
            self.write_target(caller, &grant.customer, grant.provider, Capability::CreateGrants)?;
        adapter.check_new_grant(&grant)?;
        Ok((adapter, customer_id, grant))
    }

    /// `POST /v1/credit_grants/{id}/void` and `/expire`. The body is optional.
    pub async fn end_grant(
        &self,
        writer: Writer<'_>,
        id: &str,
        end: GrantEnd,
        body: WriteBody<EndGrantInput>,
    ) -> Result<WriteAnswer, ApiError> {
        let Writer { caller, key } = writer;
        let fingerprint = body.fingerprint(end.as_str(), id);
        let input = body.into_input();
        let (adapter, grant_id) = self.grant_target(caller, id, "id", end.capability())?;
        let customer_id = match &input.customer {
            Some(customer) => Some(
                self.write_target(caller, customer, Some(adapter.kind()), end.capability())?
                    .1,
            ),
            None => None,
        };
        adapter.check_end(end, customer_id.as_deref())?;
        if caller.customers.is_some() {
            // A key restricted to some customers learns nothing of another's grant.
            let cache = CacheUse::new(true);
            let grant = adapter
                .current_grant(end, CallScope::new(&cache), grant_id, customer_id.as_deref())
                .await?;
            let owner = grant.vendor_customer_id();
            if !owner.is_some_and(|c| self.may_see_customer(caller, adapter.kind(), c)) {
                return Err(ApiError::grant_not_found(adapter.kind(), grant_id));
            }
        }
        let op = Op::End {
            provider: adapter.kind(),
            grant_id: grant_id.to_owned(),
            customer_id,
            end,
        };
        self.exactly_once(caller, key, fingerprint, op).await
    }

    /// `POST /v1/credit_ledger_entries`.
    pub async fn adjust_ledger(
        &self,
        writer: Writer<'_>,
        body: WriteBody<AdjustmentInput>,
    ) -> Result<WriteAnswer, ApiError> {
        let Writer { caller, key } = writer;
        let fingerprint = body.fingerprint("adjust", "");
        let adjustment = body.into_input().check()?;
        let (adapter, customer_id) = self.write_target(
            caller,
            &adjustment.customer,
            adjustment.provider,
            Capability::LedgerAdjustments,
        )?;
        if let Some(grant) = &adjustment.grant {
            let (grant_adapter, _) = self.grant_target(caller, grant, "grant", Capability::LedgerAdjustments)?;
            if grant_adapter.kind() != adapter.kind() {
                return Err(ApiError::invalid_field(
                    "grant",
                    format!(
                        "grant {} is not at {}, the customer's provider",
                        quoted(grant),
                        adapter.kind()
                    ),
                ));
            }
        }
        adapter.check_adjustment(&adjustment)?;
        let op = Op::Adjust {
            provider: adapter.kind(),
            customer_id,
            adjustment,
        };
        self.exactly_once(caller, key, fingerprint, op).await
    }

    /// The one provider a write goes to, and the customer's id there: `provider:id`, or an
    /// alias with `provider` when it spans several.
    pub(super) fn write_target(
        &self,
        caller: &Caller,
        customer: &str,
        provider: Option<ProviderKind>,
        capability: Capability,
    ) -> Result<(&dyn CreditsProvider, String), ApiError> {
        let (kind, id) = match CustomerRef::parse(customer, "customer")? {
            CustomerRef::Qualified { provider: kind, id } => {
                if let Some(p) = provider.filter(|p| *p != kind) {
                    return Err(ApiError::invalid_field(
                        "provider",
                        format!("provider {p} conflicts with customer {}", quoted(customer)),
                    ));
                }
                (kind, id)
            }
            alias @ CustomerRef::Alias(_) => {
                let ids = self.customer_ids(&alias)?;
                let chosen: Vec<_> = ids
                    .into_iter()
                    .filter(|(p, _)| provider.is_none_or(|want| *p == want))
                    .collect();
                match chosen.as_slice() {
                    [(kind, id)] => (*kind, id.clone()),
                    [] => {
                        return Err(ApiError::invalid_field(
                            "provider",
                            format!(
                                "customer {} has no id at {}",
                                quoted(customer),
                                provider.map_or("any provider".into(), |p| p.to_string())
                            ),
                        ))
                    }
                    _ => {
                        return Err(ApiError::invalid_field(
                            "provider",
                            format!(
                                "customer {} is at several providers: name the one to write to",
                                quoted(customer)
                            ),
                        ))
                    }
                }
            }
        };
        let adapter = self.configured(caller, kind, "customer")?;
        adapter
            .check_customer_id(&id)
            .map_err(|e| ApiError::invalid_field("customer", e))?;
        if !self.may_see_customer(caller, kind, &id) {
            return Err(Self::customer_not_allowed(customer));
        }
        adapter.require(capability)?;
        Ok((adapter, id))
    }
}
