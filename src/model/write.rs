//! The body of `POST /v1/credit_grants` (issue 14, in progress: no endpoint takes it yet),
//! parsed strictly and checked with everything that does not depend on the vendor, so a bad
//! request is refused before any vendor call. Vendor rules (which units it takes, its
//! priority range) are the adapter's to check on top.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::money::parse_exact_decimal;
use super::{parse_vendor_timestamp, GrantCategory, Timestamp, UnitType};

/// Decimal places of an ISO 4217 currency's minor unit: an amount finer than that is
/// refused (`0.001 USD`), never rounded. Currencies not listed have 2.
pub fn minor_unit_exponent(code: &str) -> u32 {
    const NONE: [&str; 17] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
        "XPF",
    ];
    const THREE: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    const FOUR: [&str; 2] = ["CLF", "UYW"];
    let code = code.to_ascii_uppercase();
    if NONE.contains(&code.as_str()) {
        0
    } else if THREE.contains(&code.as_str()) {
        3
    } else if FOUR.contains(&code.as_str()) {
        4
    } else {
        2
    }
}

/// The amount of a new grant as the client writes it: the value as a decimal string.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountInput {
    pub value: String,
    pub unit: String,
    /// `currency` or `custom`; from the unit's shape when absent (three letters: currency).
    pub unit_type: Option<UnitType>,
}

/// `POST /v1/credit_grants` as sent; unknown fields are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGrantInput {
    pub customer: String,
    pub amount: AmountInput,
    pub name: Option<String>,
    pub category: Option<GrantCategory>,
    pub priority: Option<String>,
    pub effective_at: Option<String>,
    pub expires_at: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A new grant that passed every check that does not depend on the vendor.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrant {
    pub customer: String,
    pub value: Decimal,
    pub unit: String,
    pub unit_type: UnitType,
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
        if self.customer.trim().is_empty() {
            return Err(invalid("customer", "customer is required"));
        }
        let unit = self.amount.unit.trim().to_owned();
        if unit.is_empty() {
            return Err(invalid("amount.unit", "a unit is required (`USD`, or a custom unit)"));
        }
        let value = parse_exact_decimal(&self.amount.value).map_err(|e| invalid("amount.value", e.to_string()))?;
        if value <= Decimal::ZERO {
            return Err(invalid("amount.value", format!("must be positive, got {value}")));
        }
        let unit_type = self.amount.unit_type.unwrap_or_else(|| UnitType::for_unit(&unit));
        let unit = match unit_type {
            // A currency unit must have a currency code's shape, the one `for_unit` reads.
            UnitType::Currency if UnitType::for_unit(&unit) != UnitType::Currency => {
                return Err(invalid(
                    "amount.unit",
                    format!("`{unit}` is not an ISO 4217 currency code"),
                ));
            }
            UnitType::Currency => {
                let code = unit.to_ascii_uppercase();
                let exponent = minor_unit_exponent(&code);
                if value.normalize().scale() > exponent {
                    return Err(invalid(
                        "amount.value",
                        format!("{value} {code} is finer than the currency's minor unit ({exponent} decimal places)"),
                    ));
                }
                code
            }
            UnitType::Custom => unit,
        };
        let priority = self
            .priority
            .as_deref()
            .map(parse_exact_decimal)
            .transpose()
            .map_err(|e| invalid("priority", e.to_string()))?;
        let time = |field: &'static str, text: Option<&str>| {
            text.map(|t| parse_vendor_timestamp(t).map_err(|e| invalid(field, e)))
                .transpose()
        };
        let effective_at = time("effective_at", self.effective_at.as_deref())?;
        let expires_at = time("expires_at", self.expires_at.as_deref())?;
        if let (Some(start), Some(end)) = (effective_at, expires_at) {
            if end <= start {
                return Err(invalid("expires_at", "must be after effective_at"));
            }
        }
        Ok(NewGrant {
            customer: self.customer,
            value,
            unit,
            unit_type,
            name: self.name,
            category: self.category,
            priority,
            effective_at,
            expires_at,
            metadata: self.metadata,
        })
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
        assert_eq!(grant.value.to_string(), "12.50");
        assert_eq!((grant.unit.as_str(), grant.unit_type), ("USD", UnitType::Currency));
        assert_eq!(grant.priority.unwrap().to_string(), "0.5");
        let custom = input(json!({"customer": "acme", "amount": {"value": "0.001", "unit": "API calls"}})).unwrap();
        assert_eq!(custom.unit_type, UnitType::Custom);
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
                "amount.value: amount `ten`",
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
