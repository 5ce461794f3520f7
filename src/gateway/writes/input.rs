//! What a write request brings: its `Idempotency-Key`, its body (parsed strictly), the
//! fingerprint that says whether two requests under one key are the same, and the key the
//! vendor sees.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::store::Fingerprint;

/// The longest `Idempotency-Key` taken (Stripe's limit).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// A write body, parsed once, at the edge: its JSON text becomes a tree (which the
/// fingerprint reads) and the tree becomes `T`, which the write path carries to the end.
/// The migration tools build `T` in code ([`Self::built`]) and never write JSON text.
#[derive(Debug, Clone)]
pub struct WriteBody<T> {
    input: T,
    /// The body as canonical JSON (keys sorted, no spacing): what makes two requests under
    /// one key "the same".
    canonical: String,
}

impl<T: DeserializeOwned> WriteBody<T> {
    /// Parses a body strictly: JSON first (a syntax error, trailing text), then the shape,
    /// where an unknown field or a wrong type names its path.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let tree: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequest {
            code: ErrorCode::InvalidJson,
            message: format!("the body is not valid JSON: {e}"),
            param: None,
        })?;
        let input = serde_path_to_error::deserialize(&tree).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ApiError::InvalidRequest {
                    code: ErrorCode::InvalidParameter,
                    message: format!("the body does not fit: {inner}"),
                    param: None,
                }
            } else {
                ApiError::invalid_field(&path, format!("{path}: {inner}"))
            }
        })?;
        Ok(WriteBody {
            input,
            canonical: tree.to_string(),
        })
    }
}

impl<T: DeserializeOwned + Default> WriteBody<T> {
    /// [`Self::parse`] for a body that may be left out (empty or only whitespace).
    pub fn parse_optional(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(WriteBody {
                input: T::default(),
                canonical: String::new(),
            });
        }
        Self::parse(body)
    }
}

impl<T: Serialize> WriteBody<T> {
    /// A body built in code, fingerprinted as the same body sent as JSON would be.
    pub fn built(input: T) -> Result<Self, ApiError> {
        let tree = serde_json::to_value(&input)
            .map_err(|e| ApiError::Internal(format!("a write body does not serialize: {e}")))?;
        Ok(WriteBody {
            input,
            canonical: tree.to_string(),
        })
    }
}

impl<T> WriteBody<T> {
    pub fn input(&self) -> &T {
        &self.input
    }

    pub fn into_input(self) -> T {
        self.input
    }

    /// What makes two requests under one key "the same": the operation, the path's id and
    /// the body as canonical JSON (so key order and spacing do not matter).
    pub(super) fn fingerprint(&self, operation: &str, path_id: &str) -> Fingerprint {
        let mut digest = Sha256::new();
        for part in [operation, path_id, self.canonical.as_str()] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        Fingerprint(digest.finalize().into())
    }
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
    format!("cg-{}", crate::hex::lower(&digest[..16]))
}

/// Checks the client's `Idempotency-Key`: required, 1 to 255 printable ASCII characters.
pub fn check_idempotency_key(key: Option<&str>) -> Result<&str, ApiError> {
    let key = key.ok_or_else(|| ApiError::InvalidRequest {
        code: ErrorCode::IdempotencyKeyRequired,
        message: "every write needs an `Idempotency-Key` header: a unique value per intended write, \
                  sent again unchanged when retrying it"
            .into(),
        param: Some("Idempotency-Key".into()),
    })?;
    let printable = key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
        return Err(ApiError::InvalidRequest {
            code: ErrorCode::InvalidIdempotencyKey,
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

    fn grant(json: &str) -> WriteBody<NewGrantInput> {
        WriteBody::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn fingerprints_ignore_key_order_and_spacing_but_not_values() {
        let a = grant(r#"{"customer":"c","amount":{"value":"1","unit":"USD"}}"#).fingerprint("create", "");
        let b = grant(r#"{ "amount": {"unit": "USD", "value": "1"}, "customer": "c" }"#).fingerprint("create", "");
        assert_eq!(a, b);
        let other = grant(r#"{"customer":"c","amount":{"value":"2","unit":"USD"}}"#).fingerprint("create", "");
        assert_ne!(a, other);
        let void = grant(r#"{"customer":"c","amount":{"value":"1","unit":"USD"}}"#).fingerprint("void", "");
        assert_ne!(a, void);
    }

    /// A body the migration tools build is the same request as that body sent as JSON, so
    /// a retry either way under one key replays rather than conflicts.
    #[test]
    fn a_built_body_fingerprints_as_the_same_body_sent() {
        let sent = grant(r#"{"customer":"stripe:cus_1","amount":{"value":"5","unit":"USD"},"name":"x"}"#);
        let built = WriteBody::built(sent.input().clone()).unwrap();
        assert_eq!(built.fingerprint("create", ""), sent.fingerprint("create", ""));
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
        let parse = |body: &[u8]| WriteBody::<NewGrantInput>::parse(body).unwrap_err();
        let err = parse(br#"{"customer":"c","amount":{"value":5,"unit":"USD"}}"#);
        assert_eq!(err.body().error.param.as_deref(), Some("amount.value"));
        assert_eq!(parse(b"{nope").type_and_code().1, "invalid_json");
        let err = parse(br#"{"customer":"c","amount":{"value":"5","unit":"USD"}} x"#);
        assert_eq!(err.type_and_code().1, "invalid_json");
    }
}
