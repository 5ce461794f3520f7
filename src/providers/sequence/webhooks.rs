//! Sequence's webhooks: `Sequence-Signature: t=<unix ms>,s=<hex>`, the hex of HMAC-SHA256
//! over `"{t}.{raw body}"` keyed with the policy's webhook secret, the whole `whsec_…`
//! string as is (Sequence does not say; README.md, "Events"). Sequence states no tolerance:
//! creditgate refuses a `t` more than 5 minutes from now either way. A delivery carries no
//! id, so it is named by a digest of its type, resource id and body; Sequence documents no
//! credit events (its credits are read, not pushed), so every type is acknowledged and
//! counted, and a customer's own events (`CUSTOMER_*`) drop that customer's cached reads.

use axum::http::HeaderMap;
use time::OffsetDateTime;

use super::Adapter;
use crate::providers::webhooks::{
    check_age, digest_id, hex_matches, hmac_sha256, json_body, one_header, text_at, ReceiveWebhooks, VendorEvent,
    WebhookRefusal,
};

const TOLERANCE_SECS: i64 = 5 * 60;

impl ReceiveWebhooks for Adapter {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<(), WebhookRefusal> {
        let Some(secret) = &self.webhook_secret else {
            return Err(WebhookRefusal::Signature("no webhook_secret is configured".into()));
        };
        let header = one_header(headers, "sequence-signature")?;
        let mut t = None;
        let mut signature = None;
        for item in header.split(',') {
            match item.trim().split_once('=') {
                Some(("t", value)) => t = Some(value),
                Some(("s", value)) => signature = Some(value),
                _ => {}
            }
        }
        let (Some(t), Some(signature)) = (t, signature) else {
            return Err(WebhookRefusal::Signature("`Sequence-Signature` needs a `t` and an `s`".into()));
        };
        let expected = hmac_sha256(secret, &[t.as_bytes(), b".", body]);
        if !hex_matches(signature, &expected) {
            return Err(WebhookRefusal::Signature(
                "`Sequence-Signature` does not match the body with this policy's secret".into(),
            ));
        }
        let millis: i64 = t
            .parse()
            .map_err(|_| WebhookRefusal::Signature("`t` is not a time in milliseconds".into()))?;
        check_age("sequence", millis.div_euclid(1000), now, TOLERANCE_SECS, true)
    }

    fn read_event(&self, _headers: &HeaderMap, body: &[u8]) -> Result<VendorEvent, WebhookRefusal> {
        let event = json_body(body)?;
        let kind = text_at(&event, "/notificationType")
            .ok_or_else(|| WebhookRefusal::Malformed("the delivery has no `notificationType`".into()))?;
        let resource = text_at(&event, "/resourceId").unwrap_or_default();
        let customer = kind.starts_with("CUSTOMER_").then_some(resource).filter(|r| !r.is_empty());
        Ok(VendorEvent {
            id: digest_id(&[kind.as_bytes(), resource.as_bytes(), body]),
            kind: kind.to_owned(),
            customer: customer.map(str::to_owned),
            known: false,
            grant: None,
            grant_event: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// WEBHOOKS.md's example, worked from Sequence's documented formula.
    #[test]
    fn the_worked_example_verifies() {
        let body = br#"{"notificationType":"CUSTOMER_CREATED","sequenceAccountId":"c4602d51-0fb4-4b48-b689-6ba28f540d1e"}"#;
        let mac = hmac_sha256(
            &Secret::new("whsec_UserSubmittedSecret1234567890abc"),
            &[b"1748866120822", b".", body],
        );
        assert!(hex_matches(
            "3f19167485fe2a747bf31e006351aee5b52d19e2bb093ba0154a3a9cd4b3552c",
            &mac
        ));
    }
}
