//! The bodies of the write endpoints (`POST /v1/credit_grants`, `.../{id}/void|expire`,
//! `POST /v1/credit_ledger_entries`), parsed strictly and checked with everything that does
//! not depend on the vendor, so a bad request is refused before any vendor call. Vendor
//! rules (which units it takes, its priority range) are the adapter's to check on top.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod currency;

use super::money::parse_exact_decimal;
use super::{parse_vendor_timestamp, GrantCategory, LedgerEntry, Money, ProviderKind, Timestamp, UnitType};
use currency::{minor_unit_exponent, ISO_4217};

/// A time in a write body: RFC 3339 (or a `YYYY-MM-DD` date, its UTC midnight), from the
/// Unix epoch on (no vendor takes an earlier one), without a leap second (`23:59:60`, which
/// no vendor stores).
fn client_time(field: &'static str, text: &str) -> Result<Timestamp, InvalidField> {
    if text.get(16..19) == Some(":60") {
        return Err(invalid(field, "a leap second (`:60`) is not a time any vendor stores"));
    }
    let at = parse_vendor_timestamp(text).map_err(|e| invalid(field, e))?;
    if at < time::OffsetDateTime::UNIX_EPOCH {
        return Err(invalid(
            field,
            format!("{} is before 1970-01-01T00:00:00Z", super::quoted(text)),
        ));
    }
    Ok(at)
}

/// An amount as the client writes it: the value as a decimal string (`"12.50"`), never a
/// JSON number, so no float touches it.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AmountInput")]
pub struct AmountInput {
    /// Positive, no finer than a currency's minor unit (`0.001 USD` is refused, not rounded).
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?$"))]
    pub value: String,
    /// A currency code (ISO 4217) or a custom unit; not blank.
    #[schemars(regex(pattern = r"\S"))]
    pub unit: String,
    /// `currency` or `custom`; from the unit's shape when absent (three letters: currency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_type: Option<UnitType>,
}

/// `POST /v1/credit_grants` as sent; unknown fields are refused.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewCreditGrant")]
pub struct NewGrantInput {
    /// `<provider>:<vendor customer id>`, or an alias with `provider`; not blank.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub customer: String,
    /// Which provider, when `customer` is an alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    pub amount: AmountInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<GrantCategory>,
    /// The vendor's priority, as an exact decimal string (Stripe: an integer 0-100).
    #[schemars(regex(pattern = r"^-?[0-9]+(\.[0-9]+)?$"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// RFC 3339, from 1970 on, no leap second; Togai and Sequence take whole days (a UTC
    /// midnight).
    #[schemars(extend("format" = "date-time"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_at: Option<String>,
    /// RFC 3339, after `effective_at` (or, without it, in the future); required at
    /// Metronome.
    #[schemars(extend("format" = "date-time"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A new grant that passed every check that does not depend on the vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrant {
    pub customer: String,
    pub provider: Option<ProviderKind>,
    /// Positive, no finer than a currency's minor unit.
    pub amount: Money,
    pub name: Option<String>,
    pub category: Option<GrantCategory>,
    pub priority: Option<Decimal>,
    pub effective_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub metadata: BTreeMap<String, String>,
}

/// Why a new grant is refused: the field (as a JSON path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        message: message.into(),
    }
}

impl NewGrantInput {
    /// Checks the request: a customer, a positive amount no finer than its currency's minor
    /// unit, a unit, exact decimals, RFC 3339 times with the expiry after the start.
    pub fn check(self) -> Result<NewGrant, InvalidField> {
        check_customer(&self.customer)?;
        let amount = self.amount.check()?;
        let priority = self.priority.as_deref().map(check_priority).transpose()?;
        let time = |field: &'static str, text: Option<&str>| text.map(|t| client_time(field, t)).transpose();
        let effective_at = time("effective_at", self.effective_at.as_deref())?;
        let expires_at = time("expires_at", self.expires_at.as_deref())?;
        match (effective_at, expires_at) {
            (Some(start), Some(end)) if end <= start => {
                return Err(invalid("expires_at", "must be after effective_at"));
            }
            // Without a start the grant starts now: an expiry already past would be a
            // backwards interval at the vendor.
            (None, Some(end)) if end <= time::OffsetDateTime::now_utc() => {
                return Err(invalid(
                    "expires_at",
                    "is in the past; a grant without effective_at starts now",
                ));
            }
            _ => {}
        }
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(invalid("name", "name cannot be blank (leave it out instead)"));
        }
        Ok(NewGrant {
            customer: self.customer,
            provider: self.provider,
            amount,
            name: self.name,
            category: self.category,
            priority,
            effective_at,
            expires_at,
            metadata: self.metadata,
        })
    }
}

/// A priority in plain decimal notation (`50`, `-1`, `0.5`), as the schema's pattern says:
/// no exponent, no `+`.
fn check_priority(text: &str) -> Result<Decimal, InvalidField> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(invalid(
            "priority",
            format!("{} is not a plain decimal (`50`, `-1`, `0.5`)", super::quoted(text)),
        ));
    }
    parse_exact_decimal(text).map_err(|e| invalid("priority", e.to_string()))
}

fn check_customer(customer: &str) -> Result<(), InvalidField> {
    if customer.trim().is_empty() {
        return Err(invalid("customer", "customer is required"));
    }
    Ok(())
}

impl AmountInput {
    /// A positive amount in a unit, no finer than a currency's minor unit, never rounded.
    pub fn check(self) -> Result<Money, InvalidField> {
        let unit = self.unit.trim().to_owned();
        if unit.is_empty() {
            return Err(invalid("amount.unit", "a unit is required (`USD`, or a custom unit)"));
        }
        // Plain decimal notation only, as the published schema says: no sign, no exponent.
        let plain = self
            .value
            .split_once('.')
            .map_or(self.value.as_str(), |(whole, _)| whole);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let fraction_ok = self.value.split_once('.').is_none_or(|(_, f)| digits(f));
        if !digits(plain) || !fraction_ok {
            let message = if self.value.starts_with('-') {
                format!("must be positive, got {}", self.value)
            } else {
                format!(
                    "{} is not a plain decimal (digits, then optionally `.` and digits)",
                    super::quoted(&self.value)
                )
            };
            return Err(invalid("amount.value", message));
        }
        let value = parse_exact_decimal(&self.value).map_err(|e| invalid("amount.value", e.to_string()))?;
        if value <= Decimal::ZERO {
            return Err(invalid("amount.value", format!("must be positive, got {value}")));
        }
        let unit_type = self.unit_type.unwrap_or_else(|| UnitType::for_unit(&unit));
        match unit_type {
            // A currency unit must have a currency code's shape, the one `for_unit` reads.
            UnitType::Currency if UnitType::for_unit(&unit) != UnitType::Currency => Err(invalid(
                "amount.unit",
                format!("`{unit}` is not an ISO 4217 currency code"),
            )),
            UnitType::Currency if !ISO_4217.contains(&unit.to_ascii_uppercase().as_str()) => Err(invalid(
                "amount.unit",
                format!("`{unit}` is not an ISO 4217 currency code"),
            )),
            UnitType::Currency => {
                let code = unit.to_ascii_uppercase();
                let exponent = minor_unit_exponent(&code);
                if value.normalize().scale() > exponent {
                    return Err(invalid(
                        "amount.value",
                        format!("{value} {code} is finer than the currency's minor unit ({exponent} decimal places)"),
                    ));
                }
                Ok(Money::currency(value, &code))
            }
            UnitType::Custom => Ok(Money::custom(value, &unit)),
        }
    }
}

/// `POST /v1/credit_grants/{id}/void` and `/expire`: the body is optional; `customer` is
/// needed where the vendor cannot find a grant by its id alone (Metronome).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EndCreditGrant")]
pub struct EndGrantInput {
    /// The grant's customer (`<provider>:<id>`); required at Metronome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

/// Which way a manual ledger entry moves the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Credit,
    Debit,
}

/// `POST /v1/credit_ledger_entries` as sent; unknown fields are refused.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewCreditLedgerAdjustment")]
pub struct AdjustmentInput {
    /// `<provider>:<vendor customer id>`, or an alias with `provider`; not blank.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    /// Positive; `direction` says which way it moves the balance.
    pub amount: AmountInput,
    pub direction: Direction,
    /// `<provider>:<grant id>`: the grant the entry is booked on, where the vendor books
    /// entries on grants (Metronome).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A manual ledger entry that passed every check that does not depend on the vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    pub customer: String,
    pub provider: Option<ProviderKind>,
    pub amount: Money,
    pub direction: Direction,
    pub grant: Option<String>,
    pub reason: Option<String>,
}

impl AdjustmentInput {
    pub fn check(self) -> Result<Adjustment, InvalidField> {
        check_customer(&self.customer)?;
        if self.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(invalid("reason", "reason cannot be blank (leave it out instead)"));
        }
        if self.grant.as_deref().is_some_and(|g| g.trim().is_empty()) {
            return Err(invalid("grant", "grant cannot be blank (leave it out instead)"));
        }
        Ok(Adjustment {
            customer: self.customer,
            provider: self.provider,
            amount: self.amount.check()?,
            direction: self.direction,
            grant: self.grant,
            reason: self.reason,
        })
    }
}

/// The answer to `POST /v1/credit_ledger_entries`: what was booked, and the vendor's ledger
/// entry for it when the vendor's ledger shows it (Vayu answers a write with an empty body,
/// so the entry is read back; `null` if the ledger does not show it yet).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "CreditLedgerAdjustment")]
pub struct LedgerAdjustment {
    #[schemars(extend("const" = "credit_ledger_adjustment"))]
    pub object: &'static str,
    pub provider: ProviderKind,
    pub customer: String,
    pub direction: Direction,
    /// Positive, as sent.
    pub amount: Money,
    pub grant: Option<String>,
    pub reason: Option<String>,
    pub entry: Option<LedgerEntry>,
}

pub const ADJUSTMENT_OBJECT: &str = "credit_ledger_adjustment";

impl LedgerAdjustment {
    /// What `adjustment` booked for `customer_id` at `provider`, with the vendor's entry.
    pub fn of(provider: ProviderKind, customer_id: &str, adjustment: &Adjustment, entry: Option<LedgerEntry>) -> Self {
        LedgerAdjustment {
            object: ADJUSTMENT_OBJECT,
            provider,
            customer: super::qualified_id(provider, customer_id),
            direction: adjustment.direction,
            amount: adjustment.amount.clone(),
            grant: adjustment.grant.clone(),
            reason: adjustment.reason.clone(),
            entry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(body: serde_json::Value) -> Result<NewGrant, String> {
        let input: NewGrantInput = serde_json::from_value(body).map_err(|e| e.to_string())?;
        input.check().map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_grant_is_exact_and_upper_cases_its_currency() {
        let grant = input(
            json!({"customer": "stripe:cus_1", "amount": {"value": "12.50", "unit": "usd"},
            "priority": "0.5", "effective_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01"}),
        )
        .unwrap();
        assert_eq!(grant.amount.value.to_string(), "12.50");
        assert_eq!(
            (grant.amount.unit.as_str(), grant.amount.unit_type),
            ("USD", UnitType::Currency)
        );
        assert_eq!(grant.priority.unwrap().to_string(), "0.5");
        let custom = input(json!({"customer": "acme", "amount": {"value": "0.001", "unit": "API calls"}})).unwrap();
        assert_eq!(custom.amount.unit_type, UnitType::Custom);
    }

    #[test]
    fn bad_input_is_refused_naming_the_field_and_never_rounded() {
        let cases = [
            (
                json!({"customer": "c", "amount": {"value": "0.001", "unit": "USD"}}),
                "amount.value: 0.001 USD is finer",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1.5", "unit": "JPY"}}),
                "amount.value: 1.5 JPY is finer",
            ),
            (
                json!({"customer": "c", "amount": {"value": "0", "unit": "USD"}}),
                "amount.value: must be positive",
            ),
            (
                json!({"customer": "c", "amount": {"value": "-5", "unit": "USD"}}),
                "amount.value: must be positive",
            ),
            (
                json!({"customer": "c", "amount": {"value": "ten", "unit": "USD"}}),
                "amount.value: `ten` is not a plain decimal",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1e3", "unit": "USD"}}),
                "amount.value: `1e3` is not a plain decimal",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1.", "unit": "USD"}}),
                "amount.value: `1.` is not a plain decimal",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1", "unit": "US$", "unit_type": "currency"}}),
                "amount.unit",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1", "unit": " "}}),
                "amount.unit: a unit is required",
            ),
            (
                json!({"customer": " ", "amount": {"value": "1", "unit": "USD"}}),
                "customer: customer is required",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1", "unit": "USD"}, "effective_at": "2027-01-01", "expires_at": "2026-01-01"}),
                "expires_at: must be after effective_at",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1", "unit": "USD"}, "expires_at": "soon"}),
                "expires_at:",
            ),
            (
                json!({"customer": "c", "amount": {"value": "1", "unit": "USD"}, "colour": "red"}),
                "unknown field `colour`",
            ),
        ];
        for (body, expected) in cases {
            let err = input(body.clone()).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
        // Three decimals are a whole fils in Bahraini dinars.
        assert!(input(json!({"customer": "c", "amount": {"value": "1.005", "unit": "BHD"}})).is_ok());
    }
}
