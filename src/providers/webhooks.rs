//! Vendor webhooks in: what a vendor's push must prove before creditgate believes it, and
//! what creditgate reads from it (README.md, "Events"). Each vendor that signs its
//! deliveries implements [`ReceiveWebhooks`] in its own `webhooks.rs`; the gateway records
//! each event once (`Records::record_vendor_event`) and drops the customer's cached reads.
//!
//! A vendor's signature is the only authentication of this route, so nothing is read from
//! a body before its signature is checked, and a timestamp outside the vendor's tolerance
//! is refused like a wrong signature: a replayed old delivery proves nothing.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{ApiError, ErrorCode};
use crate::secret::{Secret, SecretRef};

/// Why a delivery is refused; nothing of it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefusal {
    /// No signature, a wrong one, or one over other bytes than those received.
    #[error("{0}")]
    Signature(String),
    /// A signed time outside the vendor's tolerance.
    #[error("the delivery was signed {age_secs} s from now, outside the {tolerance_secs} s {vendor} allows")]
    Stale {
        vendor: &'static str,
        age_secs: i64,
        tolerance_secs: i64,
    },
    /// Signed, but not an event creditgate can read (not JSON, no id).
    #[error("{0}")]
    Malformed(String),
}

impl From<WebhookRefusal> for ApiError {
    fn from(refusal: WebhookRefusal) -> Self {
        let code = match refusal {
            WebhookRefusal::Signature(_) => ErrorCode::InvalidWebhookSignature,
            WebhookRefusal::Stale { .. } => ErrorCode::StaleWebhookTimestamp,
            WebhookRefusal::Malformed(_) => ErrorCode::InvalidJson,
        };
        ApiError::InvalidRequest {
            code,
            message: refusal.to_string(),
            param: None,
        }
    }
}

/// One vendor event, as creditgate records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VendorEvent {
    /// What makes two deliveries one event: the vendor's event id where it sends one, else
    /// a digest of what it sent (see each vendor's `webhooks.rs`).
    pub id: String,
    /// The vendor's own event type.
    pub kind: String,
    /// The customer it concerns, as the vendor names them (its id in creditgate's
    /// `<provider>:<id>`), where the payload says.
    pub customer: Option<String>,
    /// Whether the type is one about credits that creditgate knows; others are
    /// acknowledged and counted.
    pub known: bool,
    /// The vendor's id of the grant it concerns, where the payload names one (a grant
    /// event, a transaction of a grant): creditgate reads the grant to learn the customer
    /// when the payload does not say.
    pub grant: Option<String>,
    /// The event to record of the grant itself (read again, as `/v1` serves it), when the
    /// vendor event is about the grant: `credit_grant.created` or `credit_grant.updated`.
    pub grant_event: Option<crate::model::event::EventType>,
}

/// A vendor whose deliveries creditgate can authenticate.
pub trait ReceiveWebhooks: Send + Sync {
    /// Whether `body`, with `headers`, is a delivery the vendor signed, at `now`.
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<(), WebhookRefusal>;
    /// The event in a verified delivery.
    fn read_event(&self, headers: &HeaderMap, body: &[u8]) -> Result<VendorEvent, WebhookRefusal>;
    /// Whether the vendor pushes an event for every movement of a balance (usage
    /// included). Where it does not, creditgate watches the balances that matter by polling
    /// (`[events] watch_interval_secs`).
    fn pushes_balance_changes(&self) -> bool {
        false
    }
}

/// A vendor's `webhook_secret` from its config table, resolved at start-up.
pub fn resolve_webhook_secret(reference: Option<&SecretRef>) -> Result<Option<Secret>, super::ConfigProblem> {
    reference
        .map(|r| r.resolve().map_err(|e| ("webhook_secret".to_owned(), e)))
        .transpose()
}

/// HMAC-SHA256 of `parts`, in order, keyed with `secret`'s UTF-8 bytes (every vendor here
/// uses its secret as is, never base64-decoded).
pub fn hmac_sha256(secret: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `presented` is the lowercase or uppercase hex of `expected`, in constant time.
pub fn hex_matches(presented: &str, expected: &[u8; 32]) -> bool {
    let mut decoded = [0u8; 32];
    if presented.len() != 64 {
        return false;
    }
    for (i, pair) in presented.as_bytes().chunks(2).enumerate() {
        let Ok(text) = std::str::from_utf8(pair) else {
            return false;
        };
        let Ok(byte) = u8::from_str_radix(text, 16) else {
            return false;
        };
        decoded[i] = byte;
    }
    decoded.ct_eq(expected).into()
}

/// The one value of header `name`, as text; a missing, repeated or non-text header is a
/// signature refusal naming it.
pub fn one_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, WebhookRefusal> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(WebhookRefusal::Signature(format!("send exactly one `{name}` header")));
    };
    value
        .to_str()
        .map_err(|_| WebhookRefusal::Signature(format!("`{name}` is not text")))
}

/// Refuses a signed time more than `tolerance_secs` before `now` (and, where `future` is
/// set, after it).
pub fn check_age(
    vendor: &'static str,
    signed_at: i64,
    now: OffsetDateTime,
    tolerance_secs: i64,
    future: bool,
) -> Result<(), WebhookRefusal> {
    let age = now.unix_timestamp().saturating_sub(signed_at);
    if age > tolerance_secs || (future && -age > tolerance_secs) {
        return Err(WebhookRefusal::Stale {
            vendor,
            age_secs: age,
            tolerance_secs,
        });
    }
    Ok(())
}

/// A verified body as JSON.
pub fn json_body(body: &[u8]) -> Result<serde_json::Value, WebhookRefusal> {
    serde_json::from_slice(body).map_err(|e| WebhookRefusal::Malformed(format!("the event is not JSON: {e}")))
}

/// A digest naming a delivery that carries no id of its own.
pub fn digest_id(parts: &[&[u8]]) -> String {
    use sha2::Digest;
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    crate::hex::lower(&hash.finalize())
}

/// A text field of a JSON value by pointer, if it is a non-blank string.
pub fn text_at<'v>(value: &'v serde_json::Value, pointer: &str) -> Option<&'v str> {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_compared_whole_and_in_either_case() {
        let mac = hmac_sha256(&Secret::new("k"), &[b"a", b"b"]);
        let hex = crate::hex::lower(&mac);
        assert!(hex_matches(&hex, &mac));
        assert!(hex_matches(&hex.to_uppercase(), &mac));
        assert!(!hex_matches(&hex[..62], &mac));
        assert!(!hex_matches(&format!("{}zz", &hex[..62]), &mac));
        assert_eq!(mac, hmac_sha256(&Secret::new("k"), &[b"ab"]));
    }

    #[test]
    fn ages_past_the_tolerance_are_refused() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        assert!(check_age("x", 1_000_000 - 300, now, 300, false).is_ok());
        assert!(check_age("x", 1_000_000 - 301, now, 300, false).is_err());
        assert!(check_age("x", 1_000_000 + 10_000, now, 300, false).is_ok());
        assert!(check_age("x", 1_000_000 + 301, now, 300, true).is_err());
    }
}
