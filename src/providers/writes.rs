//! What the write path asks of every adapter, and the pieces vendors' write dialects share.
//! Each vendor's writes are in `providers/<vendor>/writes.rs`, implementing the write jobs of
//! [`super::CreditsProvider`].
//!
//! A write reaches the vendor once ([`crate::upstream::VendorClient::write`]). When its
//! outcome is unknown, the next attempt under the same idempotency key first asks the
//! adapter to find the earlier write at the vendor (`find_*`): by the vendor's own
//! idempotency mechanism where it has one, else by a marker creditgate wrote into the
//! object, else by what the write changed.

use time::OffsetDateTime;

use crate::error::ApiError;
use crate::model::write::InvalidField;
use crate::model::{Capability, ProviderKind, Timestamp};
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
    /// where [`super::CreditsProvider::finds_writes_by_content`]; empty elsewhere).
    pub claimed: &'a std::collections::BTreeSet<String>,
    /// What this write's vendor calls did, recorded by [`super::VendorBase::write_authorized`].
    pub sent: &'a SentWrites,
}

/// Whether any vendor call of one write may have changed something (never lowered once
/// raised): then a failure after it (an answer that cannot be read, a read-back that
/// fails) is an unknown outcome, never a write that did not happen.
#[derive(Debug, Default)]
pub struct SentWrites(std::sync::atomic::AtomicBool);

impl SentWrites {
    /// Records one vendor write's outcome.
    pub fn record(&self, outcome: &Result<crate::upstream::UpstreamResponse, crate::error::UpstreamError>) {
        if crate::upstream::write_may_have_applied(outcome) {
            self.0.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    pub fn may_have_applied(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
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

/// A grant's `priority` as the whole number from `min` to `max` a vendor takes; otherwise a
/// 400 on `priority` saying `rule` and the value given.
pub fn whole_priority(
    provider: ProviderKind,
    priority: rust_decimal::Decimal,
    (min, max): (i64, i64),
    rule: &str,
) -> Result<i64, ApiError> {
    use rust_decimal::prelude::ToPrimitive;
    priority
        .fract()
        .is_zero()
        .then(|| priority.to_i64())
        .flatten()
        .filter(|p| (min..=max).contains(p))
        .ok_or_else(|| refuse(provider, "priority", format!("{rule}, got {priority}")))
}

/// A 400 naming the body field a vendor cannot take.
pub fn refuse(provider: ProviderKind, field: &'static str, message: impl std::fmt::Display) -> ApiError {
    ApiError::from(InvalidField {
        field,
        message: format!("{provider}: {message}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn a_priority_is_whole_and_within_its_bounds() {
        let check = |p: Decimal| whole_priority(ProviderKind::Lago, p, (1, 50), "from 1 to 50");
        assert_eq!(check(Decimal::new(1, 0)).unwrap(), 1);
        assert_eq!(check(Decimal::new(5000, 2)).unwrap(), 50, "50.00 is whole");
        for refused in [Decimal::ZERO, Decimal::new(51, 0), Decimal::new(15, 1), Decimal::MAX] {
            let err = check(refused).unwrap_err().to_string();
            assert!(err.contains("from 1 to 50, got"), "{err}");
        }
    }
}
