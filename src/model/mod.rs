//! The normalized model every vendor maps into (README.md, "Normalized model").

pub mod capability;
pub mod event;
pub mod history;
pub mod money;
mod provider;
mod status;
pub mod write;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub use capability::{Capabilities, Capability};
pub use money::{Money, MoneyError, UnitType};
pub(crate) use provider::for_each_vendor;
pub use provider::{ProviderKind, QUALIFIED_ID_PATTERN};
pub use status::{GrantFacts, GrantStatus};

/// Defines a vendor enum that deserializes from the vendor's string and keeps values it
/// does not know in `Unknown(String)`: a value the vendor adds tomorrow never fails a page.
#[macro_export]
macro_rules! vendor_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($variant,)+
            Unknown(String),
        }

        impl $name {
            /// The vendor's own spelling of the value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(other) => other,
                }
            }

            /// Every value the vendor's spec lists.
            #[allow(dead_code)]
            pub const KNOWN: &'static [&'static str] = &[$($text),+];
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

/// Client or vendor text quoted in a message: in backticks, cut to its first 64 characters
/// (with its full length said) so that a huge value is never echoed whole.
pub fn quoted(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        None => format!("`{text}`"),
        Some((cut, _)) => format!("`{}…` ({} bytes)", &text[..cut], text.len()),
    }
}

/// Normalized grant category; a vendor category outside these becomes `null`
/// (the vendor's value stays in `raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantCategory {
    Paid,
    Promotional,
}

/// Normalized ledger entry type. `provider_type` on the entry always keeps the vendor's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerEntryType {
    Grant,
    Debit,
    Expiration,
    Void,
    Adjustment,
    Reinstatement,
    Rollover,
    Unknown,
}

impl LedgerEntryType {
    /// The signed amount for an entry of this type: grants and reinstatements raise the
    /// balance, debits, expirations and voids lower it, whatever sign the vendor wrote;
    /// adjustments, rollovers and unknown types keep the vendor's sign.
    pub fn signed(self, amount: rust_decimal::Decimal) -> rust_decimal::Decimal {
        match self {
            LedgerEntryType::Grant | LedgerEntryType::Reinstatement => amount.abs(),
            LedgerEntryType::Debit | LedgerEntryType::Expiration | LedgerEntryType::Void => -amount.abs(),
            LedgerEntryType::Adjustment | LedgerEntryType::Rollover | LedgerEntryType::Unknown => amount,
        }
    }
}

/// An id of the same thing in another system (an ERP, a CRM, the vendor's invoice tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ExternalRef {
    pub system: String,
    pub id: String,
}

/// RFC 3339 UTC timestamps, as the contract writes them.
pub type Timestamp = OffsetDateTime;

/// A credit grant (bucket).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CreditGrant {
    #[schemars(extend("const" = "credit_grant"))]
    pub object: &'static str,
    /// `<provider>:<vendor id>`.
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub id: String,
    pub provider: ProviderKind,
    #[schemars(length(min = 1))]
    pub provider_id: String,
    /// `<provider>:<vendor customer id>`.
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub customer: Option<String>,
    pub name: Option<String>,
    pub category: Option<GrantCategory>,
    /// What was originally granted.
    pub amount: Money,
    /// What remains; null when the vendor does not say on this call.
    pub balance: Option<Money>,
    pub status: GrantStatus,
    /// The vendor's own priority as an exact decimal string: Stripe's are integers, but
    /// Metronome's and Togai's are numbers that may have fractions (`"0.5"`). Lower applies
    /// first at Metronome and Stripe.
    #[schemars(with = "Option<String>", regex(pattern = r"^-?[0-9]+(\.[0-9]+)?$"), example = &"50")]
    pub priority: Option<rust_decimal::Decimal>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub effective_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub expires_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub created_at: Option<Timestamp>,
    pub external_refs: Vec<ExternalRef>,
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The grant's ledger entries, only with `include=ledger`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Vec<LedgerEntry>>,
    /// The vendor's own object, only with `include=raw`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub raw: Option<Box<RawValue>>,
}

impl CreditGrant {
    /// The vendor's id of the grant's customer: `customer` without its `<provider>:`.
    pub fn vendor_customer_id(&self) -> Option<&str> {
        self.customer
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .map(|(_, id)| id)
    }
}

/// One movement on a customer's credits (a transaction).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "CreditLedgerEntry")]
pub struct LedgerEntry {
    #[schemars(extend("const" = "credit_ledger_entry"))]
    pub object: &'static str,
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub id: String,
    pub provider: ProviderKind,
    #[schemars(length(min = 1))]
    pub provider_id: String,
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub customer: Option<String>,
    /// `<provider>:<vendor grant id>` of the grant it moved, where the vendor has grants.
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub grant: Option<String>,
    #[serde(rename = "type")]
    pub entry_type: LedgerEntryType,
    /// The vendor's own enum value, always kept.
    pub provider_type: String,
    /// Signed: positive raises the balance.
    pub amount: Money,
    pub balance_after: Option<Money>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub effective_at: Option<Timestamp>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub created_at: Option<Timestamp>,
    pub invoice_id: Option<String>,
    pub contract_id: Option<String>,
    pub external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub raw: Option<Box<RawValue>>,
}

/// A customer's balance at one provider in one unit.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CreditBalance {
    #[schemars(extend("const" = "credit_balance"))]
    pub object: &'static str,
    pub provider: ProviderKind,
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub customer: String,
    pub unit: String,
    pub unit_type: UnitType,
    pub available: Money,
    /// Credits granted but not yet usable, where the vendor says.
    pub pending: Option<Money>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub as_of: Timestamp,
}

pub const GRANT_OBJECT: &str = "credit_grant";
pub const LEDGER_ENTRY_OBJECT: &str = "credit_ledger_entry";
pub const BALANCE_OBJECT: &str = "credit_balance";

/// `<provider>:<vendor id>`, the form of every id and customer reference creditgate returns.
pub fn qualified_id(provider: ProviderKind, vendor_id: &str) -> String {
    format!("{provider}:{vendor_id}")
}

/// Unix seconds (as Stripe sends them) to a UTC timestamp.
pub fn from_unix(seconds: i64) -> Option<Timestamp> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// An RFC 3339 vendor timestamp, normalized to UTC; a bare date becomes midnight UTC.
/// A space instead of the `T` (`2020-07-04 12:00:00+00:00`, as Togai writes) is accepted.
pub fn parse_vendor_timestamp(text: &str) -> Result<Timestamp, String> {
    use time::format_description::well_known::Rfc3339;
    let spaced = text.len() > 10 && text.as_bytes()[10] == b' ';
    let normalized = if spaced {
        format!("{}T{}", &text[..10], &text[11..])
    } else {
        text.to_owned()
    };
    if let Ok(t) = OffsetDateTime::parse(&normalized, &Rfc3339) {
        // `9999-12-31T23:59:59-23:00` is year 10000 in UTC: refused (`to_offset` panics).
        return t
            .checked_to_offset(time::UtcOffset::UTC)
            .ok_or_else(|| format!("{} is outside the years 0000 to 9999 in UTC", quoted(text)));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &date_format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("{} is not an RFC 3339 timestamp or a YYYY-MM-DD date", quoted(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    vendor_enum! {
        enum Color { Red = "red", Blue = "blue" }
    }

    #[test]
    fn vendor_enums_keep_unknown_values() {
        let c: Color = serde_json::from_str("\"green\"").unwrap();
        assert_eq!(c, Color::Unknown("green".into()));
        assert_eq!(c.as_str(), "green");
        let r: Color = serde_json::from_str("\"red\"").unwrap();
        assert_eq!(r, Color::Red);
        assert_eq!(Color::KNOWN, &["red", "blue"]);
    }

    #[test]
    fn timestamps_normalize_to_utc() {
        // Valid RFC 3339 whose UTC form is in year 10000: refused, not a panic.
        let err = parse_vendor_timestamp("9999-12-31T23:59:59-23:00").unwrap_err();
        assert!(err.contains("outside the years"), "{err}");
        let t = parse_vendor_timestamp("2024-03-12T12:00:00+02:00").unwrap();
        let out = t.format(&time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(out, "2024-03-12T10:00:00Z");
        let t = parse_vendor_timestamp("2020-07-04 12:00:00+00:00").unwrap();
        assert_eq!(
            t.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "2020-07-04T12:00:00Z"
        );
        let t = parse_vendor_timestamp("2022-10-07T14:12:08.826121Z").unwrap();
        assert_eq!(
            t.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "2022-10-07T14:12:08.826121Z"
        );
        let d = parse_vendor_timestamp("2024-03-12").unwrap();
        assert_eq!(
            d.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "2024-03-12T00:00:00Z"
        );
        assert!(parse_vendor_timestamp("yesterday").is_err());
    }

    #[test]
    fn signs_follow_the_entry_type() {
        let five = rust_decimal::Decimal::new(5, 0);
        assert_eq!(LedgerEntryType::Grant.signed(-five), five);
        assert_eq!(LedgerEntryType::Reinstatement.signed(five), five);
        assert_eq!(LedgerEntryType::Debit.signed(five), -five);
        assert_eq!(LedgerEntryType::Expiration.signed(-five), -five);
        assert_eq!(LedgerEntryType::Void.signed(five), -five);
        assert_eq!(LedgerEntryType::Adjustment.signed(-five), -five);
        assert_eq!(LedgerEntryType::Unknown.signed(five), five);
    }
}
