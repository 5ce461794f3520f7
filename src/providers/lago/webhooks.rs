//! Lago's webhooks, in its `hmac` mode: `X-Lago-Signature` is the base64 of HMAC-SHA256
//! over the raw body, keyed with the organization's HMAC key (a UUID string, as is), with
//! `X-Lago-Signature-Algorithm: hmac`. Lago's default `jwt` mode (an RS256 JWT over the
//! body, checked against the instance's public key) is refused with a message saying to
//! switch the endpoint to `hmac`. Lago signs no time, so no delivery is stale; each one
//! carries `X-Lago-Unique-Key`, the same on every retry, which names it. The customer is
//! the `external_customer_id` of the object, or of the wallet a transaction embeds.

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::Adapter;
use crate::model::event::EventType;
use crate::providers::webhooks::{hmac_sha256, json_body, one_header, text_at, ReceiveWebhooks, VendorEvent, WebhookRefusal};

fn about_credits(kind: &str) -> bool {
    kind.starts_with("wallet.") || kind.starts_with("wallet_transaction.") || kind == "alert.triggered"
}

impl ReceiveWebhooks for Adapter {
    fn verify(&self, headers: &HeaderMap, body: &[u8], _now: OffsetDateTime) -> Result<(), WebhookRefusal> {
        let Some(secret) = &self.webhook_secret else {
            return Err(WebhookRefusal::Signature("no webhook_secret is configured".into()));
        };
        let algorithm = one_header(headers, "x-lago-signature-algorithm")?;
        if algorithm != "hmac" {
            return Err(WebhookRefusal::Signature(format!(
                "creditgate verifies Lago's `hmac` signatures, not `{algorithm}`: set the webhook endpoint's signature_algo to hmac"
            )));
        }
        let presented = STANDARD
            .decode(one_header(headers, "x-lago-signature")?.trim())
            .map_err(|_| WebhookRefusal::Signature("`X-Lago-Signature` is not base64".into()))?;
        let expected = hmac_sha256(secret, &[body]);
        if presented.len() != expected.len() || !bool::from(presented.as_slice().ct_eq(&expected)) {
            return Err(WebhookRefusal::Signature(
                "`X-Lago-Signature` does not match the body with the organization's HMAC key".into(),
            ));
        }
        Ok(())
    }

    fn read_event(&self, headers: &HeaderMap, body: &[u8]) -> Result<VendorEvent, WebhookRefusal> {
        let id = one_header(headers, "x-lago-unique-key").map_err(|e| WebhookRefusal::Malformed(e.to_string()))?;
        let event = json_body(body)?;
        let kind = text_at(&event, "/webhook_type").unwrap_or_default();
        let object = text_at(&event, "/object_type").unwrap_or_default();
        let customer = text_at(&event, &format!("/{object}/external_customer_id"))
            .or_else(|| text_at(&event, &format!("/{object}/wallet/external_customer_id")));
        // A wallet is a grant: its own events carry it, a transaction names it.
        let grant = text_at(&event, "/wallet/lago_id").or_else(|| text_at(&event, "/wallet_transaction/lago_wallet_id"));
        let grant_event = match kind {
            "wallet.created" => Some(EventType::GrantCreated),
            "wallet.updated" | "wallet.terminated" => Some(EventType::GrantUpdated),
            _ => None,
        };
        Ok(VendorEvent {
            id: id.to_owned(),
            kind: kind.to_owned(),
            customer: customer.map(str::to_owned),
            known: about_credits(kind),
            grant: grant.map(str::to_owned),
            grant_event,
        })
    }

    /// Yes: every wallet transaction is pushed (`wallet_transaction.created`).
    fn pushes_balance_changes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// NOTES.md's example, worked from lago-api's formula.
    #[test]
    fn the_worked_example_verifies() {
        let mac = hmac_sha256(
            &Secret::new("5f794d50-085a-4db6-8d15-286e518b7225"),
            &[br#"{"webhook_type":"wallet_transaction.created","object_type":"wallet_transaction"}"#],
        );
        assert_eq!(STANDARD.encode(mac), "GN5oAKrXPp07zEqO0Udo+fDlRFF3px7x/TKvy3DEJT8=");
    }
}
