//! What a write request brings: its `Idempotency-Key`, its body (parsed strictly), the
//! fingerprint that says whether two requests under one key are the same, and the key the
//! vendor sees.

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::Fingerprint;

/// The longest `Idempotency-Key` taken (Stripe's limit).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Parses a write body strictly: JSON first (a syntax error, trailing text), then the
/// shape, where an unknown field or a wrong type names its path.
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ApiError::InvalidRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {e}"),
            param: None,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::InvalidRequest {
                code: "invalid_parameter",
                message: format!("the body does not fit: {inner}"),
                param: None,
            }
        } else {
            ApiError::invalid_field(&path, format!("{path}: {inner}"))
        }
    })
}

/// What makes two requests under one key "the same": the operation, the path's id and the
/// body as JSON (re-serialized, so key order and spacing do not matter).
pub(super) fn fingerprint(operation: &str, path_id: &str, body: &[u8]) -> Fingerprint {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut digest = Sha256::new();
    for part in [operation, path_id, canonical.as_str()] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    Fingerprint(digest.finalize().into())
}

/// The key the vendor sees: derived from the tenant and the client's key, so two tenants
/// using one key never collide at the vendor, and the client's key is not sent on; and from
/// the key's generation (the writes under it refused before, `Reservation::Fresh`), so a
/// corrected retry after a refusal reaches the vendor as a new request. Generation 0 is the
/// tenant and key alone, as before generations existed.
pub(super) fn vendor_key(tenant: &str, key: &str, generation: u32) -> String {
    let seed = match generation {
        0 => format!("{tenant}\u{0}{key}"),
        n => format!("{tenant}\u{0}{key}\u{0}{n}"),
    };
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("cg-{hex}")
}

/// Checks the client's `Idempotency-Key`: required, 1 to 255 printable ASCII characters.
pub fn check_idempotency_key(key: Option<&str>) -> Result<&str, ApiError> {
    let key = key.ok_or_else(|| ApiError::InvalidRequest {
        code: "idempotency_key_required",
        message: "every write needs an `Idempotency-Key` header: a unique value per intended write, \
                  sent again unchanged when retrying it"
            .into(),
        param: Some("Idempotency-Key".into()),
    })?;
    let printable = key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
        return Err(ApiError::InvalidRequest {
            code: "invalid_idempotency_key",
            message: format!(
                "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters without spaces"
            ),
            param: Some("Idempotency-Key".into()),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::write::NewGrantInput;

    #[test]
    fn vendor_keys_differ_by_tenant_and_hide_the_client_key() {
        let a = vendor_key("acme", "k1", 0);
        assert_eq!(a, vendor_key("acme", "k1", 0));
        assert_ne!(a, vendor_key("globex", "k1", 0));
        assert_ne!(a, vendor_key("acme", "k1", 1));
        assert!(a.starts_with("cg-") && a.len() == 35 && !a.contains("k1"), "{a}");
    }

    #[test]
    fn fingerprints_ignore_key_order_and_spacing_but_not_values() {
        let a = fingerprint("create", "", br#"{"a":1,"b":{"c":"x"}}"#);
        assert_eq!(a, fingerprint("create", "", br#"{ "b": {"c": "x"}, "a": 1 }"#));
        assert_ne!(a, fingerprint("create", "", br#"{"a":2,"b":{"c":"x"}}"#));
        assert_ne!(a, fingerprint("void", "", br#"{"a":1,"b":{"c":"x"}}"#));
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(check_idempotency_key(Some("order-42")).is_ok());
        let code = |k: Option<&str>| check_idempotency_key(k).unwrap_err().type_and_code().1;
        assert_eq!(code(None), "idempotency_key_required");
        assert_eq!(code(Some("")), "invalid_idempotency_key");
        assert_eq!(code(Some("has space")), "invalid_idempotency_key");
        assert_eq!(code(Some(&"k".repeat(256))), "invalid_idempotency_key");
    }

    #[test]
    fn bodies_name_the_field_that_does_not_fit() {
        let err = parse_body::<NewGrantInput>(br#"{"customer":"c","amount":{"value":5,"unit":"USD"}}"#).unwrap_err();
        assert_eq!(err.body().error.param.as_deref(), Some("amount.value"));
        let err = parse_body::<NewGrantInput>(b"{nope").unwrap_err();
        assert_eq!(err.type_and_code().1, "invalid_json");
        let err =
            parse_body::<NewGrantInput>(br#"{"customer":"c","amount":{"value":"5","unit":"USD"}} x"#).unwrap_err();
        assert_eq!(err.type_and_code().1, "invalid_json");
    }
}
