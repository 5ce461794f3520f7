//! creditgate's events: one shape for every change to a customer's credits, whatever told
//! creditgate of it (README.md, "Events"). `data.object` is the normalized object exactly as
//! `/v1` serves it.

use serde::{Deserialize, Serialize};

use super::{ProviderKind, Timestamp};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub enum EventType {
    /// A grant was made.
    #[serde(rename = "credit_grant.created")]
    GrantCreated,
    /// A grant's status, balance or dates changed (a void, an expiry).
    #[serde(rename = "credit_grant.updated")]
    GrantUpdated,
    /// An entry was booked on the customer's ledger.
    #[serde(rename = "credit_ledger_entry.created")]
    LedgerEntryCreated,
    /// A balance differs from the one creditgate saw last.
    #[serde(rename = "credit_balance.updated")]
    BalanceUpdated,
    /// A balance went from at or above an alert's threshold to below it.
    #[serde(rename = "credit_balance.low")]
    BalanceLow,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::GrantCreated,
        EventType::GrantUpdated,
        EventType::LedgerEntryCreated,
        EventType::BalanceUpdated,
        EventType::BalanceLow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::GrantCreated => "credit_grant.created",
            EventType::GrantUpdated => "credit_grant.updated",
            EventType::LedgerEntryCreated => "credit_ledger_entry.created",
            EventType::BalanceUpdated => "credit_balance.updated",
            EventType::BalanceLow => "credit_balance.low",
        }
    }
}

impl std::str::FromStr for EventType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            format!(
                "{} is not an event type; use one of {}",
                super::quoted(text),
                known.join(", ")
            )
        })
    }
}

/// What told creditgate of the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventSource {
    /// A vendor's signed push (`POST /v1/vendor_webhooks/{provider}`).
    VendorWebhook {
        /// The vendor's event id (or a digest where it sends none).
        vendor_event_id: String,
        /// The vendor's own event type.
        vendor_event_type: String,
    },
    /// A write through creditgate.
    Write {
        /// The write's request id.
        request_id: String,
    },
    /// creditgate's own look at the vendor (a watcher, or the balance read after a change).
    Watch,
}

/// `data`: the object the event is about.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventData {
    /// A `credit_grant`, `credit_ledger_entry` or `credit_balance`, exactly as `/v1` serves
    /// it.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub object: Box<serde_json::value::RawValue>,
    /// The alert that fired (`credit_balance.low` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<BalanceAlert>,
}

/// A low-balance alert: `credit_balance.low` when the available balance of `customer` in
/// `unit` goes from at or above `threshold` to below it; once per crossing, armed again
/// once the balance is back at or above it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BalanceAlert {
    #[schemars(extend("const" = "balance_alert"))]
    pub object: String,
    /// `alrt_` + 16 hex digits.
    pub id: String,
    pub provider: ProviderKind,
    /// `<provider>:<vendor customer id>`.
    #[schemars(regex(pattern = super::QUALIFIED_ID_PATTERN))]
    pub customer: String,
    /// The balance's unit, as `/v1/credit_balances` names it (`USD`, a custom unit).
    pub unit: String,
    /// A decimal string, exact.
    #[schemars(with = "String", regex(pattern = r"^[0-9]+(\.[0-9]+)?$"), example = &"10.00")]
    pub threshold: rust_decimal::Decimal,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created: Timestamp,
}

/// `POST /v1/balance_alerts` as sent; unknown fields are refused.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewBalanceAlert")]
pub struct NewBalanceAlertInput {
    /// `<provider>:<vendor customer id>`, or an alias with `provider`.
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub customer: String,
    /// Which provider, when `customer` is an alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    /// The balance's unit (`USD`, a custom unit).
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    pub unit: String,
    /// A decimal string, zero or more (`"10.00"`): the alert fires when the available
    /// balance goes below it.
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?$"))]
    pub threshold: String,
}

impl NewBalanceAlertInput {
    /// The unit, trimmed, and the threshold, exact; the field at fault when either is not.
    pub fn check(&self) -> Result<(String, rust_decimal::Decimal), super::write::InvalidField> {
        let invalid = |field: &'static str, message: String| super::write::InvalidField { field, message };
        let unit = self.unit.trim();
        if unit.is_empty() {
            return Err(invalid("unit", "a unit is required (`USD`, or a custom unit)".into()));
        }
        let plain = !self.threshold.is_empty()
            && self.threshold.split('.').count() <= 2
            && self
                .threshold
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        if !plain {
            return Err(invalid(
                "threshold",
                format!(
                    "{} is not a plain decimal of zero or more",
                    super::quoted(&self.threshold)
                ),
            ));
        }
        let threshold =
            super::money::parse_exact_decimal(&self.threshold).map_err(|e| invalid("threshold", e.to_string()))?;
        Ok((unit.to_owned(), threshold))
    }
}

/// One event, as `/v1/events` lists it and as endpoints receive it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    #[schemars(extend("const" = "event"))]
    pub object: String,
    /// `evt_` + 12 hex digits of the milliseconds it was recorded at + 16 random ones:
    /// ids sort by when they were recorded.
    #[schemars(regex(pattern = r"^evt_[0-9a-f]{28}$"))]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When creditgate recorded it.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub created: Timestamp,
    pub provider: ProviderKind,
    /// `<provider>:<vendor customer id>`.
    #[schemars(regex(pattern = super::QUALIFIED_ID_PATTERN))]
    pub customer: String,
    pub data: EventData,
    pub source: EventSource,
}

pub const EVENT_OBJECT: &str = "event";

/// The milliseconds an event id says it was recorded at, if it is one.
pub fn event_id_millis(id: &str) -> Option<u64> {
    let hex = id.strip_prefix("evt_")?;
    if hex.len() != 28 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u64::from_str_radix(&hex[..12], 16).ok()
}

/// An event id for `millis` with the 64 random bits `random`.
pub fn event_id(millis: u64, random: u64) -> String {
    format!("evt_{:012x}{random:016x}", millis & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_time_and_sort_by_it() {
        let a = event_id(1_700_000_000_000, u64::MAX);
        let b = event_id(1_700_000_000_001, 0);
        assert!(a < b);
        assert_eq!(event_id_millis(&a), Some(1_700_000_000_000));
        assert_eq!(event_id_millis("evt_zz"), None);
        assert_eq!(event_id_millis(&a.to_uppercase()), None);
    }

    #[test]
    fn thresholds_are_plain_exact_decimals() {
        let input = |threshold: &str| NewBalanceAlertInput {
            customer: "stripe:cus_1".into(),
            provider: None,
            unit: " USD ".into(),
            threshold: threshold.into(),
        };
        assert_eq!(
            input("10.50").check().unwrap(),
            ("USD".into(), rust_decimal::Decimal::new(1050, 2))
        );
        assert!(input("0").check().is_ok());
        for bad in ["", "-1", "1e3", "1.", ".5", "1.2.3", "ten"] {
            assert_eq!(input(bad).check().unwrap_err().field, "threshold", "{bad}");
        }
        let blank = NewBalanceAlertInput {
            unit: " ".into(),
            ..input("1")
        };
        assert_eq!(blank.check().unwrap_err().field, "unit");
    }

    #[test]
    fn types_read_back_from_their_names() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("credit_grant.deleted".parse::<EventType>().is_err());
    }
}
