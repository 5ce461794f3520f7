//! Metronome's webhooks: `Metronome-Webhook-Signature: <hex>`, the hex of HMAC-SHA256 over
//! `"{date}\n{raw body}"` keyed with the destination's secret as is, where `{date}` is the
//! `X-Metronome-Date` header exactly as received (`Date` on older deliveries, read when the
//! first is absent); refused more than 5 minutes from now either way (metronome-node). The
//! notification's `id` names it; the customer is `properties.customer_id`, or
//! `customer_id` at the top for system notifications, which have no `properties`.

use axum::http::HeaderMap;
use time::OffsetDateTime;

use super::Adapter;
use crate::providers::webhooks::{
    check_age, hex_matches, hmac_sha256, json_body, one_header, text_at, ReceiveWebhooks, VendorEvent, WebhookRefusal,
};

const TOLERANCE_SECS: i64 = 5 * 60;

/// `Mon, 02 Jan 2006 22:04:05 GMT` (an HTTP date).
const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Whether a notification type is about credits: credit and commit lifecycle, and the
/// balance alerts.
fn about_credits(kind: &str) -> bool {
    kind.starts_with("credit.") || kind.starts_with("commit.") || kind.starts_with("alerts.low_")
}

impl ReceiveWebhooks for Adapter {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<(), WebhookRefusal> {
        let Some(secret) = &self.webhook_secret else {
            return Err(WebhookRefusal::Signature("no webhook_secret is configured".into()));
        };
        let date = if headers.contains_key("x-metronome-date") {
            one_header(headers, "x-metronome-date")?
        } else {
            one_header(headers, "date")?
        };
        let signature = one_header(headers, "metronome-webhook-signature")?;
        let expected = hmac_sha256(secret, &[date.as_bytes(), b"\n", body]);
        if !hex_matches(signature.trim(), &expected) {
            return Err(WebhookRefusal::Signature(
                "`Metronome-Webhook-Signature` does not match the date and body with this destination's secret".into(),
            ));
        }
        let signed_at = time::PrimitiveDateTime::parse(date, HTTP_DATE)
            .map_err(|_| WebhookRefusal::Signature(format!("the signed date `{date}` is not an HTTP date")))?
            .assume_utc();
        check_age("metronome", signed_at.unix_timestamp(), now, TOLERANCE_SECS, true)
    }

    fn read_event(&self, _headers: &HeaderMap, body: &[u8]) -> Result<VendorEvent, WebhookRefusal> {
        let event = json_body(body)?;
        let id = text_at(&event, "/id").ok_or_else(|| WebhookRefusal::Malformed("the notification has no `id`".into()))?;
        let kind = text_at(&event, "/type").unwrap_or_default();
        let customer = text_at(&event, "/properties/customer_id").or_else(|| text_at(&event, "/customer_id"));
        Ok(VendorEvent {
            id: id.to_owned(),
            kind: kind.to_owned(),
            customer: customer.map(str::to_owned),
            known: about_credits(kind),
            grant: None,
            grant_event: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// metronome-node's own test vector (WEBHOOKS.md).
    #[test]
    fn the_sdks_vector_verifies() {
        let body = "{\n  \"id\": \"b2c9e307-624e-4e7d-a5a4-1b74107d78c4\",\n  \"type\": \"widget_created\",\n  \"properties\": {\n    \"customer_id\": \"5f794d50-085a-4db6-8d15-286e518b7225\",\n    \"widget_id\": \"0891458d-b6f0-4fdd-a41e-380aae1a1e38\"\n  }\n}";
        let date = "Mon, 02 Jan 2006 22:04:05 GMT";
        let mac = hmac_sha256(
            &Secret::new("correct-horse-battery-staple"),
            &[date.as_bytes(), b"\n", body.as_bytes()],
        );
        assert!(hex_matches(
            "b82652fa2246cf1d8a27e591f155c865f68b46c19b9213fd9c052f2419b4742b",
            &mac
        ));
        let parsed = time::PrimitiveDateTime::parse(date, HTTP_DATE).unwrap().assume_utc();
        assert_eq!(parsed.unix_timestamp(), 1_136_239_445);
    }
}
