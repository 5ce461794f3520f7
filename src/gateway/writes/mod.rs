//! The write endpoints, exactly once: create a grant, void or expire one, book a manual
//! ledger entry (README.md, "Writes").
//!
//! Every write runs the same way. The caller's key must have the `write` scope; the body
//! is parsed strictly and checked (the vendor's own rules too) before anything is stored or
//! sent. Then the idempotency store decides, atomically, under (tenant, `Idempotency-Key`)
//! and a fingerprint of the request: replay the first answer, refuse (409), write, or,
//! when an earlier attempt's outcome is unknown, look for that write at the vendor first.
//! The vendor call runs in a task of its own, so a client that hangs up cannot leave the
//! record in flight forever. A written change drops the customer's cached reads.

use std::sync::Arc;
use std::time::SystemTime;

mod input;
mod ops;

use super::targets::CustomerRef;
use super::{Caller, Gateway};
use crate::error::{ApiError, UpstreamError};
use crate::model::write::{AdjustmentInput, EndGrantInput, NewGrantInput};
use crate::model::{quoted, Capability, ProviderKind};
use crate::providers::writes::{GrantEnd, WriteContext};
use crate::providers::Adapter;
use crate::shared::records::Records;
use crate::store::{Fingerprint, Reservation, StoredAnswer};
use crate::upstream::{CacheUse, CallScope};
pub use input::{check_idempotency_key, MAX_IDEMPOTENCY_KEY_CHARS};
use input::{fingerprint, parse_body, vendor_key};
use ops::{audit, find, perform, vendor_part, Op};

/// A write's answer: the JSON body, and whether it replays an earlier request's.
#[derive(Debug, Clone)]
pub struct WriteAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    pub replayed: bool,
}

impl Gateway {
    /// `POST /v1/credit_grants`.
    pub async fn create_grant(
        &self,
        caller: &Arc<Caller>,
        key: Option<&str>,
        body: &[u8],
    ) -> Result<WriteAnswer, ApiError> {
        let key = Self::may_write(caller, key)?;
        let (adapter, customer_id, grant) = self.new_grant(caller, body)?;
        let op = Op::Create {
            provider: adapter.kind(),
            customer_id,
            grant,
        };
        self.exactly_once(caller, key, fingerprint("create", "", body), op)
            .await
    }

    /// Everything [`Self::create_grant`] checks before it writes, and nothing more:
    /// whether `body` would be taken (a dry run; Togai's unit is looked up).
    pub async fn check_new_grant(&self, caller: &Caller, body: &[u8]) -> Result<(), ApiError> {
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
        body: &[u8],
    ) -> Result<(&Adapter, String, crate::model::write::NewGrant), ApiError> {
        let grant = parse_body::<NewGrantInput>(body)?.check()?;
        let (adapter, customer_id) =
            self.write_target(caller, &grant.customer, grant.provider, Capability::CreateGrants)?;
        adapter.check_new_grant(&grant)?;
        Ok((adapter, customer_id, grant))
    }

    /// `POST /v1/credit_grants/{id}/void` and `/expire`. The body is optional.
    pub async fn end_grant(
        &self,
        caller: &Arc<Caller>,
        key: Option<&str>,
        id: &str,
        end: GrantEnd,
        body: &[u8],
    ) -> Result<WriteAnswer, ApiError> {
        let key = Self::may_write(caller, key)?;
        let input: EndGrantInput = if body.iter().all(u8::is_ascii_whitespace) {
            EndGrantInput::default()
        } else {
            parse_body(body)?
        };
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
                .current_grant(CallScope::new(&cache), grant_id, customer_id.as_deref())
                .await?;
            let owner = grant.customer.as_deref().map(vendor_part);
            if !owner.is_some_and(|c| self.may_see_customer(caller, adapter.kind(), &c)) {
                return Err(ApiError::grant_not_found(adapter.kind(), grant_id));
            }
        }
        let op = Op::End {
            provider: adapter.kind(),
            grant_id: grant_id.to_owned(),
            customer_id,
            end,
        };
        self.exactly_once(caller, key, fingerprint(end.as_str(), id, body), op)
            .await
    }

    /// `POST /v1/credit_ledger_entries`.
    pub async fn adjust_ledger(
        &self,
        caller: &Arc<Caller>,
        key: Option<&str>,
        body: &[u8],
    ) -> Result<WriteAnswer, ApiError> {
        let key = Self::may_write(caller, key)?;
        let adjustment = parse_body::<AdjustmentInput>(body)?.check()?;
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
        self.exactly_once(caller, key, fingerprint("adjust", "", body), op)
            .await
    }

    /// A 403 unless the caller's key has the `write` scope: checked before anything else
    /// about a write, so a read-only key learns nothing more.
    pub fn require_write(caller: &Caller) -> Result<(), ApiError> {
        if caller.may_write {
            Ok(())
        } else {
            Err(ApiError::Permission {
                code: "write_not_allowed",
                message: "this API key may only read; writes need a key with the `write` scope".into(),
                provider: None,
            })
        }
    }

    /// The `write` scope first, then the key.
    fn may_write<'k>(caller: &Caller, key: Option<&'k str>) -> Result<&'k str, ApiError> {
        Self::require_write(caller)?;
        check_idempotency_key(key)
    }

    /// The one provider a write goes to, and the customer's id there: `provider:id`, or an
    /// alias with `provider` when it spans several.
    fn write_target(
        &self,
        caller: &Caller,
        customer: &str,
        provider: Option<ProviderKind>,
        capability: Capability,
    ) -> Result<(&Adapter, String), ApiError> {
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

    fn store(&self) -> Result<&Records, ApiError> {
        self.inner.store.as_ref().ok_or_else(|| {
            ApiError::Internal("no idempotency store: the gateway was built without a key that may write".into())
        })
    }

    /// Runs `op` under the caller's key exactly once (see the module's comment).
    async fn exactly_once(
        &self,
        caller: &Arc<Caller>,
        key: &str,
        fingerprint: Fingerprint,
        op: Op,
    ) -> Result<WriteAnswer, ApiError> {
        let store = self.store()?;
        let now = SystemTime::now();
        self.purge_hourly(store, now);
        let reservation = store
            .reserve(&caller.tenant, key, fingerprint, now)
            .await
            .map_err(unavailable)?;
        let (provider, operation) = (op.provider(), op.name());
        let since = match reservation {
            Reservation::Replay(answer) => {
                crate::metrics::record_write(provider, operation, "replayed");
                return Ok(WriteAnswer {
                    status: answer.status,
                    body: answer.body,
                    replayed: true,
                });
            }
            Reservation::InUse => {
                crate::metrics::record_write(provider, operation, "conflict");
                return Err(ApiError::Conflict {
                    code: "idempotency_key_in_use",
                    message: "a request with this Idempotency-Key is still being written; retry once it has finished"
                        .into(),
                });
            }
            Reservation::Reused => {
                crate::metrics::record_write(provider, operation, "conflict");
                return Err(ApiError::Conflict {
                    code: "idempotency_key_reused",
                    message: "this Idempotency-Key was used for another request in the last 24 hours; \
                              use a new key for a new write"
                        .into(),
                });
            }
            Reservation::Fresh => None,
            Reservation::OutcomeUnknown { since } => Some(since),
        };
        // The vendor call and the record's update run to the end even if the client
        // hangs up: an abandoned record would block the key until it expired.
        let gateway = self.clone();
        let caller = Arc::clone(caller);
        let key = key.to_owned();
        // A write outside an HTTP request (a tool) gets an id of its own for its audit line.
        let request_id = crate::request_id::current().unwrap_or_else(crate::request_id::generate);
        let task = tokio::spawn(crate::request_id::run_with(request_id, async move {
            gateway
                .write_once(&caller, &key, op, since.unwrap_or(now), since.is_some())
                .await
        }));
        task.await
            .map_err(|e| ApiError::Internal(format!("the write task failed: {e}")))?
    }

    /// Removes expired records at most once an hour, in the background (the records of a
    /// day of writes stay; the file does not grow without end).
    fn purge_hourly(&self, store: &Records, now: SystemTime) {
        use std::sync::atomic::Ordering;
        let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let last = &self.inner.last_purge;
        let previous = last.load(Ordering::Acquire);
        let due = previous == 0 || secs.saturating_sub(previous) >= 3_600;
        if due
            && last
                .compare_exchange(previous, secs, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            && previous != 0
        {
            store.purge_in_background(now);
        }
    }

    /// The reserved write: look for an earlier attempt's effect if its outcome was unknown,
    /// else (or if none is found) write; then record the outcome.
    async fn write_once(
        &self,
        caller: &Caller,
        key: &str,
        op: Op,
        since: SystemTime,
        after_unknown: bool,
    ) -> Result<WriteAnswer, ApiError> {
        let store = self.store()?;
        // With Redis, the key's lease is renewed while the vendor call runs.
        let _holding = store.hold(&caller.tenant, key);
        let adapter = self
            .inner
            .adapters
            .iter()
            .find(|a| a.kind() == op.provider())
            .ok_or_else(|| ApiError::Internal(format!("provider {} vanished", op.provider())))?;
        let cache = CacheUse::new(true);
        let vendor_key = vendor_key(&caller.tenant, key);
        let cx = WriteContext {
            scope: CallScope::new(&cache).about(op.customer_id()),
            vendor_key: &vendor_key,
            since: time::OffsetDateTime::from(since),
        };
        let mut found = false;
        let result = async {
            if after_unknown {
                if let Some(done) = find(adapter, &cx, &op).await? {
                    found = true;
                    return Ok(done);
                }
            }
            perform(adapter, &cx, &op).await
        }
        .await;
        let tenant = &caller.tenant;
        let outcome = match result {
            Ok(done) => {
                let answer = StoredAnswer {
                    status: 200,
                    body: done.body,
                };
                if let Err(e) = store.complete(tenant, key, &answer).await {
                    // The write happened: answer it. The record stays in flight, so a
                    // retry is refused until it reads as unknown and looks: after a
                    // restart (disk), or once its lease has run out (Redis).
                    tracing::error!(error = %e, "write done but its idempotency record was not updated");
                }
                if let Some(customer) = &done.customer_id {
                    self.forget_customer(op.provider(), customer).await;
                }
                let outcome = if found { "found" } else { "written" };
                audit(caller, key, &op, done.vendor_id.as_deref(), outcome);
                return Ok(WriteAnswer {
                    status: answer.status,
                    body: answer.body,
                    replayed: false,
                });
            }
            Err(e) => e,
        };
        // A write that may have happened keeps its record (as unknown, so the next attempt
        // looks first); one that certainly did not frees the key. A failure after the
        // vendor accepted the write (its answer unreadable, the read-back failed) is an
        // unknown outcome too: the write happened, and a retry must find it, not repeat it.
        let outcome = match outcome {
            ApiError::Upstream(UpstreamError::OutcomeUnknown { .. }) => outcome,
            other if cache.write_may_have_applied() => ApiError::Upstream(UpstreamError::OutcomeUnknown {
                provider: op.provider(),
                detail: format!("it accepted the write, but then: {other}"),
            }),
            other => other,
        };
        let unknown = after_unknown || matches!(outcome, ApiError::Upstream(UpstreamError::OutcomeUnknown { .. }));
        let recorded = if unknown {
            store.mark_unknown(tenant, key).await
        } else {
            store.release(tenant, key).await
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "a failed write's idempotency record was not updated");
        }
        audit(caller, key, &op, None, if unknown { "unknown" } else { "failed" });
        Err(outcome)
    }
}

/// The idempotency records cannot be read or written: 503, since writing without them
/// could write twice.
fn unavailable(e: crate::store::StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}
