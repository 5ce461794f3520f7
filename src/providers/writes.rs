//! What the write path asks of every adapter, and the pieces vendors' write dialects share.
//! Each vendor's writes are in `providers/<vendor>/writes.rs`; [`super::Adapter`] dispatches.
//!
//! A write reaches the vendor once ([`crate::upstream::VendorClient::write`]). When its
//! outcome is unknown, the next attempt under the same idempotency key first asks the
//! adapter to find the earlier write at the vendor (`find_*`): by the vendor's own
//! idempotency mechanism where it has one, else by a marker creditgate wrote into the
//! object, else by what the write changed.

use time::OffsetDateTime;

use super::{Adapter, GrantIncludes};
use crate::error::{ApiError, UpstreamError};
use crate::model::write::{Adjustment, InvalidField, LedgerAdjustment, NewGrant};
use crate::model::{Capability, CreditGrant, ProviderKind, Timestamp};
use crate::upstream::CallScope;

/// The parts of a write every vendor call needs.
#[derive(Debug, Clone, Copy)]
pub struct WriteContext<'a> {
    /// For reads made during the write (always fresh: the scope bypasses the cache).
    pub scope: CallScope<'a>,
    /// The client's idempotency key as the vendor sees it: derived from the tenant and the
    /// key, so two tenants' keys never collide at the vendor.
    pub vendor_key: &'a str,
    /// When the first attempt of this write started: an earlier write, if it happened,
    /// happened after this.
    pub since: OffsetDateTime,
    /// Vendor entries other writes took as theirs, which a look must never take (only kept
    /// where [`Adapter::finds_writes_by_content`]; empty elsewhere).
    pub claimed: &'a std::collections::BTreeSet<String>,
}

impl WriteContext<'_> {
    /// The marker creditgate writes into a vendor text field (a name, a reason) where the
    /// vendor has no idempotency mechanism, so the write can be found again.
    pub fn marker(&self) -> String {
        format!("[{}]", self.vendor_key)
    }
}

/// How a grant is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantEnd {
    /// What is left is withdrawn.
    Void,
    /// The grant expires now.
    Expire,
}

impl GrantEnd {
    pub fn capability(self) -> Capability {
        match self {
            GrantEnd::Void => Capability::VoidGrants,
            GrantEnd::Expire => Capability::ExpireGrants,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantEnd::Void => "void",
            GrantEnd::Expire => "expire",
        }
    }

    /// A 501 unless this is the one way `provider` ends grants.
    pub fn only(self, supported: GrantEnd, provider: ProviderKind) -> Result<(), ApiError> {
        if self == supported {
            Ok(())
        } else {
            Err(ApiError::Unsupported {
                provider,
                capability: self.capability(),
            })
        }
    }
}

/// `YYYY-MM-DD` of a time that must fall on a UTC midnight, for vendors whose dates are
/// whole days (Togai, Sequence); any other time is a 400 naming `field`.
pub fn utc_day(provider: ProviderKind, field: &'static str, at: Timestamp) -> Result<String, ApiError> {
    // Times reaching here were parsed into UTC already (`parse_vendor_timestamp`).
    let at = at
        .checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(|| refuse(provider, field, "the time is out of range"))?;
    if at.time() != time::Time::MIDNIGHT {
        return Err(refuse(provider, field, "dates are whole days: give a UTC midnight"));
    }
    Ok(format!("{:04}-{:02}-{:02}", at.year(), at.month() as u8, at.day()))
}

/// At most this many significant digits go to a vendor as a JSON number: what every JSON
/// parser holds exactly, a double (IEEE 754) included. The JSON-number vendors' specs give
/// no precision (`type: number`), so creditgate refuses what a double would round.
pub const JSON_NUMBER_DIGITS: usize = 15;

/// A 400 naming `field` unless `value` can be sent as a JSON number exactly (see
/// [`JSON_NUMBER_DIGITS`]).
pub fn exact_as_json_number(
    provider: ProviderKind,
    field: &'static str,
    value: rust_decimal::Decimal,
) -> Result<(), ApiError> {
    let digits = value.normalize().mantissa().unsigned_abs().to_string().len();
    if digits > JSON_NUMBER_DIGITS {
        return Err(refuse(
            provider,
            field,
            format!(
                "{value} has {digits} significant digits; amounts go as JSON numbers, exact to {JSON_NUMBER_DIGITS}"
            ),
        ));
    }
    Ok(())
}

/// A 400 naming the body field a vendor cannot take.
pub fn refuse(provider: ProviderKind, field: &'static str, message: impl std::fmt::Display) -> ApiError {
    ApiError::from(InvalidField {
        field,
        message: format!("{provider}: {message}"),
    })
}

/// The write path's calls (see the module comment); a vendor without the capability was refused
/// with a 501 before any of these is called, so those arms are the same 501.
impl Adapter {
    fn unsupported(&self, capability: Capability) -> ApiError {
        ApiError::Unsupported {
            provider: self.kind(),
            capability,
        }
    }

    /// Whether an earlier write is found again only by what it changed (Vayu: an entry of
    /// that type and amount), so that another write to the customer could be taken for it:
    /// such writes go one at a time per customer, and each claims the entry it took
    /// (`shared::serial`).
    pub fn finds_writes_by_content(&self) -> bool {
        match self {
            Adapter::Vayu(_) => true,
            Adapter::Stripe(_) | Adapter::Metronome(_) | Adapter::Togai(_) | Adapter::Sequence(_) => false,
        }
    }

    /// Whether voiding a grant deletes it and its ledger from every read (Sequence's void
    /// is a `DELETE`): `migrate apply --void-source` exports such customers first.
    pub fn void_deletes_history(&self) -> bool {
        match self {
            Adapter::Sequence(_) => true,
            Adapter::Stripe(_) | Adapter::Metronome(_) | Adapter::Togai(_) | Adapter::Vayu(_) => false,
        }
    }

    /// The vendor's own rules for a new grant, on top of the vendor-independent ones.
    pub fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        match self {
            Adapter::Stripe(a) => a.check_new_grant(grant),
            Adapter::Metronome(a) => a.check_new_grant(grant),
            Adapter::Togai(a) => a.check_new_grant(grant),
            Adapter::Sequence(a) => a.check_new_grant(grant),
            Adapter::Vayu(_) => Err(self.unsupported(Capability::CreateGrants)),
        }
    }

    /// The vendor's rules that need a look at the vendor (Togai: the account's unit).
    pub async fn check_new_grant_at_vendor(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<(), ApiError> {
        match self {
            Adapter::Togai(a) => a.check_unit(scope, customer_id, &grant.amount.unit).await,
            _ => Ok(()),
        }
    }

    pub async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        match self {
            Adapter::Stripe(a) => a.create_grant(cx, customer_id, grant).await,
            Adapter::Metronome(a) => a.create_grant(cx, customer_id, grant).await,
            Adapter::Togai(a) => a.create_grant(cx, customer_id, grant).await,
            Adapter::Sequence(a) => a.create_grant(cx, customer_id, grant).await,
            Adapter::Vayu(_) => Err(self.unsupported(Capability::CreateGrants)),
        }
    }

    /// The grant an earlier attempt of this create made, if it made one. Stripe needs no
    /// look: the same `Idempotency-Key` sent again gets the first answer.
    pub async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError> {
        match self {
            Adapter::Stripe(_) => Ok(None),
            Adapter::Metronome(a) => a.find_created_grant(cx, customer_id).await,
            Adapter::Togai(a) => a.find_created_grant(cx, customer_id).await,
            Adapter::Sequence(a) => a.find_created_grant(cx, customer_id).await,
            Adapter::Vayu(_) => Err(self.unsupported(Capability::CreateGrants)),
        }
    }

    /// What ending a grant needs from the request, beyond the grant id.
    pub fn check_end(&self, end: GrantEnd, customer_id: Option<&str>) -> Result<(), ApiError> {
        match self {
            Adapter::Metronome(_) if customer_id.is_none() => Err(refuse(
                self.kind(),
                "customer",
                "a credit is found through its customer: send the grant's `customer`",
            )),
            _ => self.require(end.capability()),
        }
    }

    /// The grant as the vendor has it now, read fresh.
    pub async fn current_grant(
        &self,
        scope: CallScope<'_>,
        grant_id: &str,
        customer_id: Option<&str>,
    ) -> Result<CreditGrant, ApiError> {
        match (self, customer_id) {
            (Adapter::Metronome(a), Some(customer_id)) => a.credit(scope, customer_id, grant_id).await,
            _ => self.get_grant(scope, grant_id, GrantIncludes::default()).await,
        }
    }

    /// Ends a grant: the grant is read first; one already ended this way is answered as it
    /// is, without a write.
    pub async fn end_grant(
        &self,
        cx: &WriteContext<'_>,
        grant_id: &str,
        customer_id: Option<&str>,
        end: GrantEnd,
    ) -> Result<CreditGrant, ApiError> {
        let current = self.current_grant(cx.scope, grant_id, customer_id).await?;
        // Ended already, either way: answered as it is, without a write (README.md).
        if current.status.has_ended() {
            return Ok(current);
        }
        let ended = match self {
            Adapter::Stripe(a) => a.end_grant(cx, grant_id, end).await,
            Adapter::Metronome(a) => a.end_grant(cx, &current, end).await,
            Adapter::Togai(a) => a.end_grant(cx, grant_id, end).await,
            Adapter::Sequence(a) => a.end_grant(cx, &current, end).await,
            Adapter::Vayu(_) => Err(self.unsupported(end.capability())),
        };
        match ended {
            // Refused, perhaps because another request ended it meanwhile (two voids at
            // once): if it has ended now, that is the answer.
            Err(ApiError::Upstream(UpstreamError::Rejected { .. } | UpstreamError::Conflict { .. })) => {
                let now = self.current_grant(cx.scope, grant_id, customer_id).await?;
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
    ) -> Result<Option<CreditGrant>, ApiError> {
        let current = self.current_grant(cx.scope, grant_id, customer_id).await?;
        Ok(current.status.has_ended().then_some(current))
    }

    /// The vendor's own rules for a manual ledger entry.
    pub fn check_adjustment(&self, adjustment: &Adjustment) -> Result<(), ApiError> {
        match self {
            Adapter::Metronome(a) => a.check_adjustment(adjustment),
            Adapter::Vayu(a) => a.check_adjustment(adjustment),
            _ => Err(self.unsupported(Capability::LedgerAdjustments)),
        }
    }

    pub async fn adjust(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<LedgerAdjustment, ApiError> {
        match self {
            Adapter::Metronome(a) => a.adjust(cx, customer_id, adjustment).await,
            Adapter::Vayu(a) => a.adjust(cx, customer_id, adjustment).await,
            _ => Err(self.unsupported(Capability::LedgerAdjustments)),
        }
    }

    /// The entry an earlier attempt of this adjustment booked, if it booked one.
    pub async fn find_adjustment(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<Option<LedgerAdjustment>, ApiError> {
        match self {
            Adapter::Metronome(a) => a.find_adjustment(cx, customer_id, adjustment).await,
            Adapter::Vayu(a) => a.find_adjustment(cx, customer_id, adjustment).await,
            _ => Err(self.unsupported(Capability::LedgerAdjustments)),
        }
    }
}
