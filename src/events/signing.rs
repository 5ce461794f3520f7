//! Standard Webhooks signatures (README.md, "Events"): `webhook-signature: v1,<base64>` of
//! HMAC-SHA256 over `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the
//! base64-decoded part of the endpoint's `whsec_…` secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// The spec's bounds on a secret's random bytes.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// An endpoint's signing key, decoded from `whsec_…`; never shown.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// The key of a `whsec_` + base64 secret of 24 to 64 bytes.
    pub fn from_whsec(secret: &Secret) -> Result<SigningKey, String> {
        let Some(encoded) = secret.expose().strip_prefix("whsec_") else {
            return Err("a webhook secret is `whsec_` followed by base64 (make one with \
                        `echo whsec_$(openssl rand -base64 32)`)"
                .into());
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after `whsec_` is not base64".to_owned())?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(format!(
                "the secret holds {} bytes; Standard Webhooks asks for 24 to 64 random bytes",
                key.len()
            ));
        }
        Ok(SigningKey(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// `v1,<base64>` for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    /// Whether any `v1` signature of `header` (space-separated) is this key's over the
    /// message, in constant time. The timestamp's age is the caller's to check.
    pub fn verify(&self, header: &str, id: &str, timestamp: i64, body: &[u8]) -> bool {
        let expected = self.mac(id, timestamp, body);
        header.split(' ').any(|signature| {
            signature
                .strip_prefix("v1,")
                .and_then(|b64| STANDARD.decode(b64).ok())
                .is_some_and(|presented| bool::from(presented.ct_eq(&expected)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference libraries' test vector (STANDARD-WEBHOOKS.md).
    #[test]
    fn the_reference_vector_signs_and_verifies() {
        let key = SigningKey::from_whsec(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(key.verify(
            &format!("v1a,xyz {signature}"),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body
        ));
        assert!(!key.verify(&signature, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body));
        assert!(!key.verify(&signature, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b"{}"));
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_the_right_size() {
        assert!(SigningKey::from_whsec(&Secret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).is_err());
        assert!(SigningKey::from_whsec(&Secret::new("whsec_!!!")).is_err());
        assert!(SigningKey::from_whsec(&Secret::new("whsec_c2hvcnQ=")).is_err());
        let key = SigningKey::from_whsec(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).unwrap();
        assert_eq!(format!("{key:?}"), "SigningKey(..)");
    }
}
