//! Exact money: `rust_decimal` values in major units, serialized as decimal strings.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

/// Whether a unit is an ISO 4217 currency or a vendor-defined credit unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitType {
    Currency,
    Custom,
}

/// `{"value":"12.50","unit":"USD","unit_type":"currency"}`. `value` is in major units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Money {
    /// A decimal string in major units, never a float; the scale is kept ("12.50").
    #[schemars(with = "String", regex(pattern = r"^-?[0-9]+(\.[0-9]+)?$"), example = &"12.50")]
    pub value: Decimal,
    /// An ISO 4217 code (upper case) or a custom unit.
    #[schemars(example = &"USD")]
    pub unit: String,
    pub unit_type: UnitType,
}

/// Why a vendor amount could not become exact money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount `{0}` is not a decimal number")]
    NotANumber(String),
    #[error("amount `{0}` cannot be represented exactly (more than 28 significant digits)")]
    Inexact(String),
    #[error("minor-unit amount `{0}` is not a whole number")]
    FractionalMinorUnits(String),
}

impl Money {
    /// A currency amount in major units; the code is upper-cased (Stripe sends `usd`).
    pub fn currency(value: Decimal, code: &str) -> Money {
        Money {
            value,
            unit: code.to_ascii_uppercase(),
            unit_type: UnitType::Currency,
        }
    }

    /// An amount of a vendor-defined unit (credits, tokens, a Metronome credit type...).
    pub fn custom(value: Decimal, unit: &str) -> Money {
        Money {
            value,
            unit: unit.to_owned(),
            unit_type: UnitType::Custom,
        }
    }

    /// Integer minor units (cents, fils, yen) to major units with `exponent` decimals.
    /// The result keeps the currency's scale: 1250 cents is "12.50", 1000 JPY is "1000".
    pub fn from_minor_units(minor: Decimal, code: &str, exponent: u32) -> Result<Money, MoneyError> {
        if !minor.fract().is_zero() {
            return Err(MoneyError::FractionalMinorUnits(minor.to_string()));
        }
        Money::from_minor_decimal(minor.trunc(), code, exponent)
    }

    /// Minor units that may carry a fraction (Metronome's cents can): divided by
    /// 10^`exponent` exactly, by moving the decimal point.
    pub fn from_minor_decimal(minor: Decimal, code: &str, exponent: u32) -> Result<Money, MoneyError> {
        let mut value = minor;
        value
            .set_scale(minor.scale() + exponent)
            .map_err(|_| MoneyError::Inexact(minor.to_string()))?;
        Ok(Money::currency(value, code))
    }

    /// An amount in a unit named by the vendor: a three-letter code is taken as a currency
    /// (upper-cased), anything else as a custom unit.
    pub fn in_unit(value: Decimal, unit: &str) -> Money {
        match UnitType::for_unit(unit) {
            UnitType::Currency => Money::currency(value, unit),
            UnitType::Custom => Money::custom(value, unit),
        }
    }

    /// The amount as an integer count of `10^-exponent` units (cents for USD), exactly;
    /// `None` if it is finer than that or does not fit an `i64`.
    pub fn to_minor_units(&self, exponent: u32) -> Option<i64> {
        let minor = self.value.checked_mul(Decimal::from(10i64.checked_pow(exponent)?))?;
        if !minor.fract().is_zero() {
            return None;
        }
        minor.trunc().normalize().to_string().parse().ok()
    }

    pub fn zero_like(&self) -> Money {
        Money {
            value: Decimal::ZERO,
            unit: self.unit.clone(),
            unit_type: self.unit_type,
        }
    }

    pub fn negated(mut self) -> Money {
        self.value = -self.value;
        self
    }
}

/// Parses a decimal written as text (a JSON number's own digits or a string), refusing to
/// round: a value rust_decimal cannot hold exactly is an error, never a silent approximation.
pub fn parse_exact_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let text = text.trim();
    let valid_chars = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !valid_chars {
        return Err(MoneyError::NotANumber(text.to_owned()));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|e| match e {
        rust_decimal::Error::ErrorString(m) if !m.contains("overflow") => MoneyError::NotANumber(text.to_owned()),
        _ => MoneyError::Inexact(text.to_owned()),
    })
}

/// A JSON value (number or decimal string) as an exact decimal. serde_json is built with
/// `arbitrary_precision`, so a number's text reaches here with every digit the vendor sent.
pub fn decimal_from_json(value: &serde_json::Value) -> Result<Decimal, MoneyError> {
    match value {
        serde_json::Value::Number(n) => parse_exact_decimal(&n.to_string()),
        serde_json::Value::String(s) => parse_exact_decimal(s),
        other => Err(MoneyError::NotANumber(other.to_string())),
    }
}

/// serde `deserialize_with` for vendor amounts given as JSON numbers or decimal strings.
pub fn de_exact_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    decimal_from_json(&value).map_err(serde::de::Error::custom)
}

/// Like [`de_exact_decimal`], for optional fields (absent or null is `None`).
pub fn de_exact_decimal_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => decimal_from_json(&v).map(Some).map_err(serde::de::Error::custom),
    }
}

impl UnitType {
    /// A three-letter alphabetic unit (`USD`, `gbp`) is a currency; anything else is custom.
    pub fn for_unit(unit: &str) -> UnitType {
        if unit.len() == 3 && unit.bytes().all(|b| b.is_ascii_alphabetic()) {
            UnitType::Currency
        } else {
            UnitType::Custom
        }
    }
}

impl FromStr for UnitType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "currency" => Ok(UnitType::Currency),
            "custom" => Ok(UnitType::Custom),
            other => Err(format!(
                "unknown unit_type {} (expected currency or custom)",
                super::quoted(other)
            )),
        }
    }
}

/// A decimal as a JSON number with every digit kept (serde_json's `arbitrary_precision`).
pub fn json_number(value: Decimal) -> serde_json::Value {
    value
        .normalize()
        .to_string()
        .parse::<serde_json::Number>()
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn minor_units_keep_the_currency_scale() {
        let usd = Money::from_minor_units(d("1250"), "usd", 2).unwrap();
        assert_eq!(
            serde_json::to_value(&usd).unwrap(),
            serde_json::json!({"value":"12.50","unit":"USD","unit_type":"currency"})
        );
        let jpy = Money::from_minor_units(d("1000"), "jpy", 0).unwrap();
        assert_eq!(jpy.value.to_string(), "1000");
        let bhd = Money::from_minor_units(d("1005"), "bhd", 3).unwrap();
        assert_eq!(bhd.value.to_string(), "1.005");
        let neg = Money::from_minor_units(d("-7"), "usd", 2).unwrap();
        assert_eq!(neg.value.to_string(), "-0.07");
    }

    #[test]
    fn fractional_cents_divide_exactly() {
        assert_eq!(
            Money::from_minor_decimal(d("10000000"), "USD", 2)
                .unwrap()
                .value
                .to_string(),
            "100000.00"
        );
        assert_eq!(
            Money::from_minor_decimal(d("0.5"), "USD", 2).unwrap().value.to_string(),
            "0.005"
        );
        assert_eq!(
            Money::from_minor_decimal(d("-1234.5678"), "USD", 2)
                .unwrap()
                .value
                .to_string(),
            "-12.345678"
        );
        assert!(Money::from_minor_decimal(d("0.12345678901234567890123456"), "USD", 3).is_err());
    }

    #[test]
    fn huge_minor_amounts_stay_exact() {
        let big = Money::from_minor_units(d("123456789012345678901234"), "usd", 2).unwrap();
        assert_eq!(big.value.to_string(), "1234567890123456789012.34");
    }

    #[test]
    fn units_named_by_vendors() {
        assert_eq!(Money::in_unit(d("1"), "gbp"), Money::currency(d("1"), "GBP"));
        assert_eq!(Money::in_unit(d("1"), "credits").unit_type, UnitType::Custom);
        assert_eq!(Money::in_unit(d("1"), "API Calls").unit, "API Calls");
    }

    #[test]
    fn fractional_minor_units_are_refused() {
        assert!(matches!(
            Money::from_minor_units(d("12.5"), "usd", 2),
            Err(MoneyError::FractionalMinorUnits(_))
        ));
    }

    #[test]
    fn exact_parsing_never_rounds() {
        assert_eq!(parse_exact_decimal("0.1").unwrap().to_string(), "0.1");
        assert_eq!(parse_exact_decimal("12.50").unwrap().to_string(), "12.50");
        assert_eq!(parse_exact_decimal("1e3").unwrap(), d("1000"));
        assert_eq!(
            parse_exact_decimal("79228162514264337593543950335")
                .unwrap()
                .to_string(),
            "79228162514264337593543950335"
        );
        assert!(matches!(
            parse_exact_decimal("792281625142643375935439503351"),
            Err(MoneyError::Inexact(_))
        ));
        assert!(matches!(
            parse_exact_decimal("0.12345678901234567890123456789"),
            Err(MoneyError::Inexact(_))
        ));
        assert!(matches!(parse_exact_decimal("abc"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(parse_exact_decimal(""), Err(MoneyError::NotANumber(_))));
    }

    #[test]
    fn json_numbers_keep_every_digit() {
        let v: serde_json::Value = serde_json::from_str("12345678901234567890123.45").unwrap();
        assert_eq!(decimal_from_json(&v).unwrap().to_string(), "12345678901234567890123.45");
        let s = serde_json::Value::String("0.30".into());
        assert_eq!(decimal_from_json(&s).unwrap().to_string(), "0.30");
        assert!(decimal_from_json(&serde_json::Value::Bool(true)).is_err());
    }
}
