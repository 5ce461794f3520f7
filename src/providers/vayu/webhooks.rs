//! Vayu's webhooks: an RSA-SHA256 signature (PKCS#1 v1.5, base64) over
//! `"{timestamp}.{raw body}"`, verified with the public key Vayu provides (there is no
//! shared secret). Vayu's docs confirm the scheme; the header names (`X-Timestamp`,
//! `X-Signature`, `X-Signature-Version: v1`) are from its brief, not its stored docs, so
//! each is configurable. Vayu states no tolerance: creditgate refuses a timestamp more
//! than 5 minutes from now either way, and a signature version other than `v1`. A
//! delivery carries no id, so it is named by a digest of its timestamp and body; Vayu
//! documents no credit events (its credits are read), so every type is acknowledged and
//! counted, and one naming a `customerId` drops that customer's cached reads.

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Adapter;
use crate::providers::webhooks::{
    check_age, digest_id, json_body, one_header, text_at, ReceiveWebhooks, VendorEvent, WebhookRefusal,
};
use crate::providers::ConfigProblem;
use crate::secret::SecretRef;

const TOLERANCE_SECS: i64 = 5 * 60;

/// The header names of Vayu's deliveries (`[providers.vayu] webhook_headers`); unconfirmed
/// by Vayu's stored docs, so each can be changed.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct VayuWebhookHeaders {
    /// The signed time, in Unix seconds.
    pub timestamp: String,
    /// The base64 signature.
    pub signature: String,
    /// The scheme's version (`v1`); a delivery without it is taken as `v1`.
    pub version: String,
}

impl Default for VayuWebhookHeaders {
    fn default() -> Self {
        VayuWebhookHeaders {
            timestamp: "x-timestamp".into(),
            signature: "x-signature".into(),
            version: "x-signature-version".into(),
        }
    }
}

/// What verifies Vayu's deliveries: its RSA public key (PKCS#1 `RSAPublicKey` DER) and the
/// header names.
#[derive(Debug)]
pub(super) struct VayuWebhooks {
    key: Vec<u8>,
    headers: VayuWebhookHeaders,
}

impl VayuWebhooks {
    /// From `[providers.vayu] webhook_public_key` (a PEM file by reference, `PUBLIC KEY` or
    /// `RSA PUBLIC KEY`) and `webhook_headers`.
    pub(super) fn from_config(
        key: Option<&SecretRef>,
        headers: Option<&VayuWebhookHeaders>,
    ) -> Result<Option<VayuWebhooks>, ConfigProblem> {
        let Some(key) = key else {
            return Ok(None);
        };
        let problem = |e: String| ("webhook_public_key".to_owned(), e);
        let pem = key.resolve().map_err(problem)?;
        let key = rsa_public_key(pem.expose()).map_err(problem)?;
        Ok(Some(VayuWebhooks {
            key,
            headers: headers.cloned().unwrap_or_default(),
        }))
    }
}

/// The PKCS#1 `RSAPublicKey` DER of a PEM public key.
fn rsa_public_key(pem: &str) -> Result<Vec<u8>, String> {
    let block = |label: &str| {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = pem.find(&begin)? + begin.len();
        let stop = pem[start..].find(&end)? + start;
        Some(pem[start..stop].split_whitespace().collect::<String>())
    };
    let not_rsa = || "not an RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`)".to_owned();
    if let Some(body) = block("RSA PUBLIC KEY") {
        return STANDARD.decode(body).map_err(|_| not_rsa());
    }
    let der = STANDARD.decode(block("PUBLIC KEY").ok_or_else(not_rsa)?).map_err(|_| not_rsa())?;
    spki_rsa_key(&der).map(<[u8]>::to_vec).ok_or_else(not_rsa)
}

/// One DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `rsaEncryption`, 1.2.840.113549.1.1.1, as a DER object identifier.
const RSA_ENCRYPTION: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The `RSAPublicKey` inside a `SubjectPublicKeyInfo` whose algorithm is RSA.
fn spki_rsa_key(der: &[u8]) -> Option<&[u8]> {
    let (0x30, spki, _) = der_element(der)? else {
        return None;
    };
    let (0x30, algorithm, rest) = der_element(spki)? else {
        return None;
    };
    if !algorithm.starts_with(&RSA_ENCRYPTION) {
        return None;
    }
    let (0x03, bits, _) = der_element(rest)? else {
        return None;
    };
    match bits.split_first()? {
        (0, key) => Some(key),
        _ => None,
    }
}

impl ReceiveWebhooks for Adapter {
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: OffsetDateTime) -> Result<(), WebhookRefusal> {
        let Some(hooks) = &self.webhooks else {
            return Err(WebhookRefusal::Signature("no webhook_public_key is configured".into()));
        };
        let names = &hooks.headers;
        if headers.contains_key(names.version.as_str()) {
            let version = one_header(headers, &names.version)?;
            if version != "v1" {
                return Err(WebhookRefusal::Signature(format!(
                    "signature version `{version}` is not one creditgate knows (v1)"
                )));
            }
        }
        let timestamp = one_header(headers, &names.timestamp)?;
        let signature = STANDARD
            .decode(one_header(headers, &names.signature)?.trim())
            .map_err(|_| WebhookRefusal::Signature(format!("`{}` is not base64", names.signature)))?;
        let message = [timestamp.as_bytes(), b".", body].concat();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &hooks.key)
            .verify(&message, &signature)
            .map_err(|_| {
                WebhookRefusal::Signature("the signature does not match the timestamp and body with Vayu's key".into())
            })?;
        let signed_at: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookRefusal::Signature(format!("`{}` is not Unix seconds", names.timestamp)))?;
        check_age("vayu", signed_at, now, TOLERANCE_SECS, true)
    }

    fn read_event(&self, headers: &HeaderMap, body: &[u8]) -> Result<VendorEvent, WebhookRefusal> {
        let event = json_body(body)?;
        let timestamp = self
            .webhooks
            .as_ref()
            .and_then(|h| headers.get(h.headers.timestamp.as_str()))
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        let kind = text_at(&event, "/eventType").or_else(|| text_at(&event, "/type")).unwrap_or_default();
        Ok(VendorEvent {
            id: digest_id(&[&timestamp, body]),
            kind: kind.to_owned(),
            customer: text_at(&event, "/customerId").map(str::to_owned),
            known: false,
            grant: None,
            grant_event: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_public_key_gives_its_rsa_key_and_anything_else_is_refused() {
        let pem = include_str!("../../../fixtures/vayu/webhook-test-key.pub.pem");
        let key = rsa_public_key(pem).unwrap();
        // An RSAPublicKey is a SEQUENCE of the modulus and the exponent.
        let (tag, content, rest) = der_element(&key).unwrap();
        assert_eq!((tag, rest.len()), (0x30, 0));
        assert!(content.len() > 256);
        assert!(rsa_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        assert!(rsa_public_key("not a key").is_err());
    }
}
