//! Exactly once: the idempotency store's decision under (tenant, `Idempotency-Key`), the
//! write itself in a task of its own, and the record of how it ended (README.md, "Writes").
//!
//! A reservation whose outcome is unknown settles first (`[upstream] write_settle_ms`): the
//! earlier attempt may still land at the vendor, so nobody looks for it, or writes again,
//! until it cannot. Where a write is found again only by what it changed (Vayu), writes to a
//! customer go one at a time and each claims the entry it took (`shared::serial`).

use std::sync::Arc;
use std::time::SystemTime;

use super::input::vendor_key;
use super::ops::{audit, find, perform, Op};
use super::{Caller, Gateway, WriteAnswer};
use crate::error::{ApiError, ErrorCode, UpstreamError};
use crate::model::ProviderKind;
use crate::providers::writes::{SentWrites, WriteContext};
use crate::providers::CreditsProvider;
use crate::shared::records::Records;
use crate::shared::serial::SERIAL_WAIT;
use crate::store::{Fingerprint, Reservation, StoredAnswer};
use crate::upstream::{CacheUse, CallScope};

impl Gateway {
    fn store(&self) -> Result<&Records, ApiError> {
        self.inner.store.as_ref().ok_or_else(|| {
            ApiError::Internal("no idempotency store: the gateway was built without a key that may write".into())
        })
    }

    /// Runs `op` under the caller's key exactly once (see the module's comment).
    ///
    /// Everything from the reservation on runs in a task of its own, to the end, even if
    /// the client hangs up: a reservation whose request was dropped before its write ran
    /// would hold the key in flight until the process stopped.
    pub(super) async fn exactly_once(
        &self,
        caller: &Arc<Caller>,
        key: &str,
        fingerprint: Fingerprint,
        op: Op,
    ) -> Result<WriteAnswer, ApiError> {
        let gateway = self.clone();
        let caller = Arc::clone(caller);
        let key = key.to_owned();
        // A write outside an HTTP request (a tool) gets an id of its own for its audit line.
        let request_id = crate::request_id::current().unwrap_or_else(crate::request_id::generate);
        // The task is a child of the request's span, in a `write` span of its own.
        let span = crate::telemetry::write_span(op.name(), op.provider().as_str());
        let task = tokio::spawn(tracing::Instrument::instrument(
            crate::request_id::run_with(request_id, async move {
                gateway.reserve_and_write(&caller, &key, fingerprint, op).await
            }),
            span,
        ));
        task.await
            .map_err(|e| ApiError::Internal(format!("the write task failed: {e}")))?
    }

    /// The store's decision under the key, and the write if it is this attempt's to make.
    async fn reserve_and_write(
        &self,
        caller: &Caller,
        key: &str,
        fingerprint: Fingerprint,
        op: Op,
    ) -> Result<WriteAnswer, ApiError> {
        let store = self.store()?;
        let (provider, operation) = (op.provider(), op.name());
        let adapter = self.writing_adapter(provider)?;
        // Where a write is found again by what it changed, writes to the customer go one at
        // a time (the turn is held to the end of the write and its read-back).
        let turn = match op.customer_id() {
            Some(customer) if adapter.finds_writes_by_content() => {
                let turn = self
                    .inner
                    .customer_locks
                    .turn(store, provider, customer, SERIAL_WAIT)
                    .await
                    .map_err(unavailable)?;
                match turn {
                    Some(turn) => Some(turn),
                    None => {
                        crate::telemetry::record_idempotency("customer_busy");
                        crate::metrics::record_write(provider, operation, "conflict");
                        return Err(ApiError::CustomerBusy {
                            provider,
                            retry_after_secs: 1,
                        });
                    }
                }
            }
            _ => None,
        };
        let now = SystemTime::now();
        self.purge_hourly(store, now);
        let settle = self.inner.write_settle.get(&provider).copied().unwrap_or_default();
        let reservation = store
            .reserve(&caller.tenant, key, fingerprint, now, settle)
            .await
            .map_err(unavailable)?;
        crate::telemetry::record_idempotency(idempotency_outcome(&reservation));
        let (since, generation) = match reservation {
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
                    code: ErrorCode::IdempotencyKeyInUse,
                    message: "a request with this Idempotency-Key is still being written; retry once it has finished"
                        .into(),
                });
            }
            Reservation::Reused => {
                crate::metrics::record_write(provider, operation, "conflict");
                return Err(ApiError::Conflict {
                    code: ErrorCode::IdempotencyKeyReused,
                    message: "this Idempotency-Key was used for another request in the last 24 hours; \
                              use a new key for a new write"
                        .into(),
                });
            }
            Reservation::Settling { until } => {
                crate::metrics::record_write(provider, operation, "settling");
                return Err(ApiError::OutcomeSettling {
                    provider,
                    retry_after_secs: crate::error::ceil_secs(until.duration_since(now).unwrap_or_default()),
                });
            }
            Reservation::Fresh { generation } => (None, generation),
            Reservation::OutcomeUnknown { since, generation } => (Some(since), generation),
        };
        let claims = turn.is_some();
        let result = self
            .write_once(
                caller,
                key,
                op,
                (since.unwrap_or(now), generation),
                since.is_some(),
                claims,
            )
            .await;
        drop(turn);
        result
    }

    /// The configured adapter a reserved write goes to.
    fn writing_adapter(&self, provider: ProviderKind) -> Result<&dyn CreditsProvider, ApiError> {
        self.adapter(provider)
            .ok_or_else(|| ApiError::Internal(format!("provider {provider} vanished")))
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
        (since, generation): (SystemTime, u32),
        after_unknown: bool,
        claims: bool,
    ) -> Result<WriteAnswer, ApiError> {
        let store = self.store()?;
        // With Redis, the key's lease is renewed while the vendor call runs.
        let _holding = store.hold(&caller.tenant, key);
        let adapter = self.writing_adapter(op.provider())?;
        let cache = CacheUse::new(true);
        let vendor_key = vendor_key(&caller.tenant, key, generation);
        let claimed = match (claims, op.customer_id()) {
            (true, Some(customer)) => {
                let claimed = store.claims(op.provider(), customer).await;
                match claimed {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        self.release_or_keep(store, caller, key, after_unknown).await;
                        return Err(unavailable(e));
                    }
                }
            }
            _ => Default::default(),
        };
        let sent = SentWrites::default();
        let cx = WriteContext {
            scope: CallScope::new(&cache).about(op.customer_id()),
            vendor_key: &vendor_key,
            since: time::OffsetDateTime::from(since),
            claimed: &claimed,
            sent: &sent,
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
                if let (true, Some(customer), Some(entry)) = (claims, op.customer_id(), done.vendor_id.as_deref()) {
                    if let Err(e) = store.claim(op.provider(), customer, entry).await {
                        // The record below still replays this answer; only another key's
                        // look could now take this entry.
                        tracing::error!(error = %e, "a write's entry was not claimed");
                    }
                }
                // The event is recorded before the write's record is completed: a crash
                // between the two finds the write again, and its event is not recorded twice.
                self.record_write_events(
                    op.provider(),
                    done.customer_id.as_deref(),
                    done.changed(&op),
                    &vendor_key,
                )
                .await;
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
                    self.until_replicas_read_invalidations().await;
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
            other if sent.may_have_applied() => ApiError::Upstream(UpstreamError::OutcomeUnknown {
                provider: op.provider(),
                detail: format!("it accepted the write, but then: {other}"),
            }),
            other => other,
        };
        let unknown = after_unknown || matches!(outcome, ApiError::Upstream(UpstreamError::OutcomeUnknown { .. }));
        self.release_or_keep(store, caller, key, unknown).await;
        audit(caller, key, &op, None, if unknown { "unknown" } else { "failed" });
        Err(outcome)
    }

    /// Ends a reservation whose write did not succeed: kept as an unknown outcome when the
    /// write may have happened (now or in an earlier attempt), else the key is freed.
    async fn release_or_keep(&self, store: &Records, caller: &Caller, key: &str, unknown: bool) {
        let recorded = if unknown {
            store.mark_unknown(&caller.tenant, key).await
        } else {
            store.release(&caller.tenant, key).await
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "a failed write's idempotency record was not updated");
        }
    }
}

/// The idempotency records cannot be read or written: 503, since writing without them
/// could write twice.
fn unavailable(e: crate::store::StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

/// How the key was met, as the `write` span's `idempotency` names it.
fn idempotency_outcome(reservation: &Reservation) -> &'static str {
    match reservation {
        Reservation::Fresh { .. } => "new",
        Reservation::Replay(_) => "replayed",
        Reservation::InUse => "in_use",
        Reservation::Reused => "reused",
        Reservation::OutcomeUnknown { .. } => "outcome_unknown",
        Reservation::Settling { .. } => "settling",
    }
}

impl Gateway {
    /// With `[redis]`: returns once a read sent to any replica reflects the invalidations
    /// published so far; a write answers after it.
    pub(in crate::gateway) async fn until_replicas_read_invalidations(&self) {
        if let Some(shared) = self.shared_state() {
            shared.until_replicas_read_invalidations().await;
        }
    }
}
