//! [`CreditsProvider`], the one interface every vendor implements, and the calls the gateway
//! makes through it.
//!
//! A vendor states what it supports by what it implements: each capability is one method
//! returning the vendor's implementation of that job (`Some(self)`), or `None` by default,
//! which callers turn into a 501 naming the capability. `GET /v1/providers` shows
//! [`capabilities`](dyn CreditsProvider::capabilities), read from the same methods, so what
//! is advertised is what is implemented. A vendor whose writes depend on config (Metronome's
//! `credit_product_id`) answers `None` when it is missing.
//!
//! Dispatch is through trait objects (`Box<dyn CreditsProvider>`), not a closed enum: an
//! enum would need a delegating `match` per method, written again for every job a vendor
//! gains, and a forgotten arm is exactly the silent 501 this design removes. The cost is one
//! boxed future per vendor call (`async_trait`), nothing beside a network round trip.

use async_trait::async_trait;

use super::base::VendorBase;
use super::writes::{GrantEnd, WriteContext};
use super::{GrantIncludes, GrantListRequest, LedgerListRequest};
use crate::error::{ApiError, UpstreamError};
use crate::model::write::{Adjustment, LedgerAdjustment, NewGrant};
use crate::model::{Capabilities, Capability, CreditBalance, CreditGrant, LedgerEntry, ProviderKind};
use crate::paging::AssembledPage;
use crate::upstream::lane::VendorLane;
use crate::upstream::CallScope;

/// One vendor, as the gateway sees it. Each capability method is named after the
/// [`Capability`] it grants; its default, `None`, is "unsupported".
pub trait CreditsProvider: Send + Sync + std::fmt::Debug {
    /// What every adapter holds: the vendor client, base URL, credential and facts.
    fn base(&self) -> &VendorBase;

    /// A customer's grants.
    fn credit_grants(&self) -> Option<&dyn ListGrants> {
        None
    }
    /// Every grant of the vendor account (a request without a customer).
    fn account_wide_grants(&self) -> Option<&dyn ListGrants> {
        None
    }
    /// One grant by its id alone.
    fn grant_lookup(&self) -> Option<&dyn LookUpGrant> {
        None
    }
    /// A customer's ledger.
    fn credit_ledger(&self) -> Option<&dyn ListLedger> {
        None
    }
    /// The ledger of one grant (a ledger request with a `grant`).
    fn ledger_by_grant(&self) -> Option<&dyn ListLedger> {
        None
    }
    /// A customer's balances.
    fn credit_balances(&self) -> Option<&dyn ReadBalances> {
        None
    }
    /// Whether its lists page backwards (`previous_cursor`): a property of its pagers.
    fn backward_paging(&self) -> bool {
        false
    }
    /// `POST /v1/credit_grants`.
    fn create_grants(&self) -> Option<&dyn CreateGrants> {
        None
    }
    /// `POST /v1/credit_grants/{id}/void`.
    fn void_grants(&self) -> Option<&dyn EndGrants> {
        None
    }
    /// `POST /v1/credit_grants/{id}/expire`.
    fn expire_grants(&self) -> Option<&dyn EndGrants> {
        None
    }
    /// `POST /v1/credit_ledger_entries`.
    fn ledger_adjustments(&self) -> Option<&dyn AdjustLedger> {
        None
    }

    /// Whether an earlier write is found again only by what it changed (Vayu: an entry of
    /// that type and amount), so that another write to the customer could be taken for it:
    /// such writes go one at a time per customer, and each claims the entry it took
    /// (`shared::serial`).
    fn finds_writes_by_content(&self) -> bool {
        false
    }
    /// Whether voiding a grant deletes it and its ledger from every read (Sequence's void
    /// is a `DELETE`): `migrate apply --void-source` exports such customers first.
    fn void_deletes_history(&self) -> bool {
        false
    }
    /// `POST /v1/vendor_webhooks/{provider}`: how the vendor's deliveries are verified and
    /// read (`None`: the vendor signs nothing, or no secret is configured).
    fn webhooks(&self) -> Option<&dyn super::webhooks::ReceiveWebhooks> {
        None
    }
}

/// Lists grants: a customer's (`customer_id` set) or, where the vendor answers
/// [`CreditsProvider::account_wide_grants`], the whole account's.
#[async_trait]
pub trait ListGrants: Send + Sync {
    async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError>;
}

/// Fetches one grant by its vendor id.
#[async_trait]
pub trait LookUpGrant: Send + Sync {
    async fn get_grant(&self, scope: CallScope<'_>, id: &str, include: GrantIncludes) -> Result<CreditGrant, ApiError>;
}

/// Lists ledger entries: a customer's, or one grant's where the vendor answers
/// [`CreditsProvider::ledger_by_grant`].
#[async_trait]
pub trait ListLedger: Send + Sync {
    async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError>;
}

/// Reads a customer's balances, one per unit.
#[async_trait]
pub trait ReadBalances: Send + Sync {
    async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError>;
}

/// The optional fields of a new grant a vendor keeps, beyond its amount, name and dates:
/// what a migration to it can carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantFields {
    /// `metadata`, returned on reads (where creditgate's migration marker can live).
    pub metadata: bool,
    pub priority: bool,
    pub category: bool,
}

/// Creates grants (see `providers/writes.rs` for how an earlier write is found again).
#[async_trait]
pub trait CreateGrants: Send + Sync {
    /// Which optional fields of a new grant the vendor keeps.
    fn keeps(&self) -> GrantFields;
    /// The vendor's own rules for a new grant, on top of the vendor-independent ones.
    fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError>;
    /// The vendor's rules that need a look at the vendor (Togai: the account's unit).
    async fn check_at_vendor(
        &self,
        _scope: CallScope<'_>,
        _customer_id: &str,
        _grant: &NewGrant,
    ) -> Result<(), ApiError> {
        Ok(())
    }
    async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError>;
    /// The grant an earlier attempt of this create made, if it made one.
    async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError>;
}

/// Ends grants, by void or expiry (which one the vendor supports is said by which of
/// [`CreditsProvider::void_grants`] and [`CreditsProvider::expire_grants`] answer).
#[async_trait]
pub trait EndGrants: Send + Sync {
    /// What ending a grant needs from the request, beyond the grant id.
    fn check_end(&self, _customer_id: Option<&str>) -> Result<(), ApiError> {
        Ok(())
    }
    /// The grant as the vendor has it now, read fresh, for a vendor without
    /// [`CreditsProvider::grant_lookup`] (where there is one, it is used instead).
    async fn current_grant(
        &self,
        _scope: CallScope<'_>,
        _grant_id: &str,
        _customer_id: Option<&str>,
    ) -> Result<CreditGrant, ApiError> {
        Err(ApiError::Internal(
            "a vendor that ends grants reads them by id or implements EndGrants::current_grant".into(),
        ))
    }
    /// Ends `current`, which has not ended yet, the `end` way: always one the vendor offers,
    /// since a call reaches this job only through the capability of that end.
    async fn end_grant(
        &self,
        cx: &WriteContext<'_>,
        current: &CreditGrant,
        end: GrantEnd,
    ) -> Result<CreditGrant, ApiError>;
}

/// Books manual credits and debits on a customer's ledger.
#[async_trait]
pub trait AdjustLedger: Send + Sync {
    /// The vendor's own rules for a manual ledger entry.
    fn check_adjustment(&self, adjustment: &Adjustment) -> Result<(), ApiError>;
    async fn adjust(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<LedgerAdjustment, ApiError>;
    /// The entry an earlier attempt of this adjustment booked, if it booked one.
    async fn find_adjustment(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<Option<LedgerAdjustment>, ApiError>;
}

/// The gateway's calls: each finds the job's implementation or answers the 501 naming the
/// capability, so no caller matches on vendors.
impl dyn CreditsProvider + '_ {
    pub fn kind(&self) -> ProviderKind {
        self.base().kind
    }

    /// The adapter's outbound lane: its pace, breaker and bulkhead.
    pub fn lane(&self) -> &VendorLane {
        self.base().client.lane()
    }

    /// What `GET /v1/providers` shows, read from the capability methods.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            credit_grants: self.credit_grants().is_some(),
            account_wide_grants: self.account_wide_grants().is_some(),
            grant_lookup: self.grant_lookup().is_some(),
            credit_ledger: self.credit_ledger().is_some(),
            ledger_by_grant: self.ledger_by_grant().is_some(),
            credit_balances: self.credit_balances().is_some(),
            backward_paging: self.backward_paging(),
            create_grants: self.create_grants().is_some(),
            void_grants: self.void_grants().is_some(),
            expire_grants: self.expire_grants().is_some(),
            ledger_adjustments: self.ledger_adjustments().is_some(),
        }
    }

    /// A 501 unless the provider has `capability`.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if self.capabilities().has(capability) {
            Ok(())
        } else {
            Err(self.unsupported(capability))
        }
    }

    fn unsupported(&self, capability: Capability) -> ApiError {
        ApiError::Unsupported {
            provider: self.kind(),
            capability,
        }
    }

    /// `job`, or the 501 naming `capability`.
    fn job<'s, T: ?Sized>(&'s self, job: Option<&'s T>, capability: Capability) -> Result<&'s T, ApiError> {
        job.ok_or_else(|| self.unsupported(capability))
    }

    /// How the vendor pages, for `/v1/providers`.
    pub fn paging_style(&self) -> &str {
        &self.base().facts.paging.style
    }

    pub fn check_customer_id(&self, id: &str) -> Result<(), String> {
        self.base().facts.ids.customer.check(id)
    }

    pub fn check_grant_id(&self, id: &str) -> Result<(), String> {
        match &self.base().facts.ids.grant {
            Some(shape) => shape.check(id),
            None => Err(format!("{} has no credit grants", self.kind())),
        }
    }

    pub async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        let lister = match request.customer_id {
            Some(_) => self.job(self.credit_grants(), Capability::CreditGrants)?,
            None => self.job(self.account_wide_grants(), Capability::AccountWideGrants)?,
        };
        lister.list_grants(request).await
    }

    pub async fn get_grant(
        &self,
        scope: CallScope<'_>,
        id: &str,
        include: GrantIncludes,
    ) -> Result<CreditGrant, ApiError> {
        let lookup = self.job(self.grant_lookup(), Capability::GrantLookup)?;
        lookup.get_grant(scope, id, include).await
    }

    pub async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        let lister = match request.grant_id {
            None => self.job(self.credit_ledger(), Capability::CreditLedger)?,
            Some(_) => self.job(self.ledger_by_grant(), Capability::LedgerByGrant)?,
        };
        lister.list_ledger(request).await
    }

    pub async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        let reader = self.job(self.credit_balances(), Capability::CreditBalances)?;
        reader.balances(scope, customer_id).await
    }

    fn creator(&self) -> Result<&dyn CreateGrants, ApiError> {
        self.job(self.create_grants(), Capability::CreateGrants)
    }

    /// The vendor's own rules for a new grant, on top of the vendor-independent ones.
    pub fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        self.creator()?.check_new_grant(grant)
    }

    /// The vendor's rules for a new grant that need a look at the vendor.
    pub async fn check_new_grant_at_vendor(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<(), ApiError> {
        self.creator()?.check_at_vendor(scope, customer_id, grant).await
    }

    pub async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        self.creator()?.create_grant(cx, customer_id, grant).await
    }

    /// The grant an earlier attempt of this create made, if it made one.
    pub async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError> {
        self.creator()?.find_created_grant(cx, customer_id).await
    }

    fn ender(&self, end: GrantEnd) -> Result<&dyn EndGrants, ApiError> {
        let job = match end {
            GrantEnd::Void => self.void_grants(),
            GrantEnd::Expire => self.expire_grants(),
        };
        self.job(job, end.capability())
    }

    /// What ending a grant needs from the request, beyond the grant id.
    pub fn check_end(&self, end: GrantEnd, customer_id: Option<&str>) -> Result<(), ApiError> {
        self.ender(end)?.check_end(customer_id)
    }

    /// The grant as the vendor has it now, read fresh by the job that would end it.
    pub async fn current_grant(
        &self,
        end: GrantEnd,
        scope: CallScope<'_>,
        grant_id: &str,
        customer_id: Option<&str>,
    ) -> Result<CreditGrant, ApiError> {
        let ender = self.ender(end)?;
        match self.grant_lookup() {
            Some(lookup) => lookup.get_grant(scope, grant_id, GrantIncludes::default()).await,
            None => ender.current_grant(scope, grant_id, customer_id).await,
        }
    }

    /// Ends a grant: the grant is read first; one already ended (either way) is answered as
    /// it is, without a write (README.md).
    pub async fn end_grant(
        &self,
        cx: &WriteContext<'_>,
        grant_id: &str,
        customer_id: Option<&str>,
        end: GrantEnd,
    ) -> Result<CreditGrant, ApiError> {
        let ender = self.ender(end)?;
        let current = self.current_grant(end, cx.scope, grant_id, customer_id).await?;
        if current.status.has_ended() {
            return Ok(current);
        }
        let ended = ender.end_grant(cx, &current, end).await;
        match ended {
            // Refused, perhaps because another request ended it meanwhile (two voids at
            // once): if it has ended now, that is the answer.
            Err(ApiError::Upstream(UpstreamError::Rejected { .. } | UpstreamError::Conflict { .. })) => {
                let now = self.current_grant(end, cx.scope, grant_id, customer_id).await?;
                if now.status.has_ended() {
                    Ok(now)
                } else {
                    ended
                }
            }
            other => other,
        }
    }

    /// The grant, if it has ended (an earlier attempt ended it, or it had ended already:
    /// either way it is answered as it is).
    pub async fn find_ended_grant(
        &self,
        cx: &WriteContext<'_>,
        grant_id: &str,
        customer_id: Option<&str>,
        end: GrantEnd,
    ) -> Result<Option<CreditGrant>, ApiError> {
        let current = self.current_grant(end, cx.scope, grant_id, customer_id).await?;
        Ok(current.status.has_ended().then_some(current))
    }

    fn adjuster(&self) -> Result<&dyn AdjustLedger, ApiError> {
        self.job(self.ledger_adjustments(), Capability::LedgerAdjustments)
    }

    /// The vendor's own rules for a manual ledger entry.
    pub fn check_adjustment(&self, adjustment: &Adjustment) -> Result<(), ApiError> {
        self.adjuster()?.check_adjustment(adjustment)
    }

    pub async fn adjust(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<LedgerAdjustment, ApiError> {
        self.adjuster()?.adjust(cx, customer_id, adjustment).await
    }

    /// The entry an earlier attempt of this adjustment booked, if it booked one.
    pub async fn find_adjustment(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<Option<LedgerAdjustment>, ApiError> {
        self.adjuster()?.find_adjustment(cx, customer_id, adjustment).await
    }
}
