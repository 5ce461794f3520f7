//! Stripe's webhooks: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=…]`, the hex of
//! HMAC-SHA256 over `"{t}.{raw body}"` keyed with the endpoint's `whsec_…` secret as is;
//! valid if any `v1` matches (several while a rolled secret is live); refused when signed
//! more than 300 s ago (stripe-node's default; a future `t` passes, as there). The event's
//! `id` (`evt_…`) names it; `data.object.customer` is the customer.

use axum::http::HeaderMap;
use time::OffsetDateTime;

use super::Adapter;
use crate::model::event::EventType;
use crate::providers::webhooks::{
    check_age, hex_matches, hmac_sha256, json_body, one_header, text_at, ReceiveWebhooks, VendorEvent, WebhookRefusal,
};

const TOLERANCE_SECS: i64 = 300;

/// The credit events Stripe sends (API version 2025-03-31.basil on).
const CREDIT_EVENTS: [&str; 4] = [
    "billing.credit_grant.created",
    "billing.credit_grant.updated",
    "billing.credit_balance_transaction.created",
    "billing.alert.triggered",
];

impl ReceiveWebhooks for Adapter {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<(), WebhookRefusal> {
        let Some(secret) = &self.webhook_secret else {
            return Err(WebhookRefusal::Signature("no webhook_secret is configured".into()));
        };
        let header = one_header(headers, "stripe-signature")?;
        let mut t = None;
        let mut signatures = Vec::new();
        for item in header.split(',') {
            match item.trim().split_once('=') {
                Some(("t", value)) => t = value.parse::<i64>().ok(),
                Some(("v1", value)) => signatures.push(value),
                _ => {}
            }
        }
        let (Some(t), false) = (t, signatures.is_empty()) else {
            return Err(WebhookRefusal::Signature(
                "`Stripe-Signature` needs a `t` and at least one `v1`".into(),
            ));
        };
        let expected = hmac_sha256(secret, &[t.to_string().as_bytes(), b".", body]);
        if !signatures.iter().any(|s| hex_matches(s, &expected)) {
            return Err(WebhookRefusal::Signature(
                "no `v1` signature matches the body with this endpoint's secret".into(),
            ));
        }
        check_age("stripe", t, now, TOLERANCE_SECS, false)
    }

    fn read_event(&self, _headers: &HeaderMap, body: &[u8]) -> Result<VendorEvent, WebhookRefusal> {
        let event = json_body(body)?;
        let id = text_at(&event, "/id").ok_or_else(|| WebhookRefusal::Malformed("the event has no `id`".into()))?;
        let kind = text_at(&event, "/type").unwrap_or_default();
        // A grant event carries the grant; a balance transaction names its grant (an id, or
        // the grant itself when expanded) but not the customer.
        let (grant, grant_event) = match kind {
            "billing.credit_grant.created" => (text_at(&event, "/data/object/id"), Some(EventType::GrantCreated)),
            "billing.credit_grant.updated" => (text_at(&event, "/data/object/id"), Some(EventType::GrantUpdated)),
            _ => (
                text_at(&event, "/data/object/credit_grant").or_else(|| text_at(&event, "/data/object/credit_grant/id")),
                None,
            ),
        };
        Ok(VendorEvent {
            id: id.to_owned(),
            kind: kind.to_owned(),
            customer: text_at(&event, "/data/object/customer")
                .or_else(|| text_at(&event, "/data/object/credit_grant/customer"))
                .map(str::to_owned),
            known: CREDIT_EVENTS.contains(&kind),
            grant: grant.map(str::to_owned),
            grant_event,
        })
    }

    /// Yes: every balance transaction is pushed (`billing.credit_balance_transaction.created`).
    fn pushes_balance_changes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// WEBHOOKS.md's example, worked from stripe-node's formula.
    #[test]
    fn the_worked_example_verifies_and_any_change_does_not() {
        let secret = Secret::new("whsec_test_secret");
        let body = br#"{"id":"evt_1","object":"event","type":"billing.credit_grant.created"}"#;
        let mac = hmac_sha256(&secret, &[b"1700000000", b".", body]);
        assert!(hex_matches(
            "9c27614f4b20ed761f3696c7a3d1151a1ad47f1eaace36713b68e892e0595c50",
            &mac
        ));
        let other = hmac_sha256(&secret, &[b"1700000001", b".", body]);
        assert!(!hex_matches(
            "9c27614f4b20ed761f3696c7a3d1151a1ad47f1eaace36713b68e892e0595c50",
            &other
        ));
    }
}
