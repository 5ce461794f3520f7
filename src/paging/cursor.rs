//! The opaque client cursor: base64url( version ‖ JSON payload ‖ HMAC-SHA256 ).
//!
//! The payload binds the position to the tenant, endpoint, customer scope and a hash of the
//! filters, so a cursor cannot be replayed by another tenant or with other filters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::ProviderKind;
use crate::secret::Secret;

/// Bumped whenever the payload layout changes; older cursors are then refused cleanly.
pub const CURSOR_VERSION: u8 = 1;
/// Cursors longer than this are refused before any decoding work.
pub const MAX_CURSOR_LEN: usize = 4096;
const TAG_LEN: usize = 32;

/// Where a walk stands at one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// Resume `offset` raw items into the vendor page fetched with `token`
    /// (`None`: the vendor's first page).
    Forward { token: Option<String>, offset: usize },
    /// The page that ends right before the item whose vendor key is `before`
    /// (item-keyed vendors).
    Backward { before: String },
    /// The page that ends right before raw item `offset` of the vendor page fetched with
    /// `token` (`None` offset: the end of that page). For vendors that page backwards
    /// with opaque tokens.
    Before {
        token: Option<String>,
        offset: Option<usize>,
    },
}

impl Position {
    pub const START: Position = Position::Forward { token: None, offset: 0 };
}

/// What a cursor is bound to: it is only valid for the same values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorScope {
    #[serde(rename = "t")]
    pub tenant: String,
    #[serde(rename = "e")]
    pub endpoint: String,
    /// The customer reference as the client wrote it, or `*` for account-wide lists.
    #[serde(rename = "c")]
    pub customer: String,
    /// [`filter_hash`] of the other filters.
    #[serde(rename = "f")]
    pub filters: String,
}

/// An events cursor: the scope, and the id to go on before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyPayload {
    #[serde(rename = "s")]
    scope: CursorScope,
    #[serde(rename = "k")]
    before: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[serde(rename = "s")]
    scope: CursorScope,
    #[serde(rename = "p")]
    provider: ProviderKind,
    #[serde(rename = "x")]
    position: Position,
}

/// Hash of the filters a cursor was made for. The hash is order-sensitive, so each endpoint
/// passes its filters in one fixed order.
pub fn filter_hash(filters: &[(&str, Option<&str>)]) -> String {
    let mut hasher = Sha256::new();
    for (name, value) in filters {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        if let Some(v) = value {
            hasher.update(b"+");
            hasher.update(v.as_bytes());
        }
        hasher.update(b"\n");
    }
    crate::hex::lower(&hasher.finalize()[..12])
}

/// Signs and verifies cursors with the gateway's cursor secret.
#[derive(Clone)]
pub struct CursorCodec {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(****)")
    }
}

impl CursorCodec {
    pub fn new(secret: &Secret) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
        CursorCodec { mac }
    }

    pub fn encode(&self, scope: &CursorScope, provider: ProviderKind, position: &Position) -> String {
        self.sign(&Payload {
            scope: scope.clone(),
            provider,
            position: position.clone(),
        })
    }

    /// A cursor over creditgate's own records (events): the key to go on before.
    pub fn encode_key(&self, scope: &CursorScope, before: &str) -> String {
        self.sign(&KeyPayload {
            scope: scope.clone(),
            before: before.to_owned(),
        })
    }

    /// Verifies a cursor made by [`Self::encode_key`] for `expected`: the key it holds.
    pub fn decode_key(&self, expected: &CursorScope, cursor: &str) -> Result<String, ApiError> {
        let payload: KeyPayload = self.verify(cursor)?;
        check_scope(&payload.scope, expected)?;
        Ok(payload.before)
    }

    fn sign<T: Serialize>(&self, payload: &T) -> String {
        let mut bytes = vec![CURSOR_VERSION];
        bytes.extend(serde_json::to_vec(payload).expect("cursor payload serializes"));
        let mut mac = self.mac.clone();
        mac.update(&bytes);
        bytes.extend(mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Verifies a client cursor and checks it was made for `expected`.
    pub fn decode(&self, expected: &CursorScope, cursor: &str) -> Result<(ProviderKind, Position), ApiError> {
        let payload: Payload = self.verify(cursor)?;
        check_scope(&payload.scope, expected)?;
        Ok((payload.provider, payload.position))
    }

    /// The payload of a cursor this gateway signed.
    fn verify<T: serde::de::DeserializeOwned>(&self, cursor: &str) -> Result<T, ApiError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(ApiError::invalid_cursor("cursor is too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| ApiError::invalid_cursor("cursor is not a creditgate cursor"))?;
        if bytes.len() < 1 + TAG_LEN {
            return Err(ApiError::invalid_cursor("cursor is not a creditgate cursor"));
        }
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let mut mac = self.mac.clone();
        mac.update(signed);
        mac.verify_slice(tag).map_err(|_| {
            ApiError::invalid_cursor("cursor signature does not match: it was altered or made by another gateway")
        })?;
        if signed[0] != CURSOR_VERSION {
            return Err(ApiError::invalid_cursor(format!(
                "cursor version {} is not supported; start the listing again",
                signed[0]
            )));
        }
        serde_json::from_slice(&signed[1..]).map_err(|_| ApiError::invalid_cursor("cursor payload is unreadable"))
    }
}

/// Refuses a cursor made for another tenant, endpoint or filters.
fn check_scope(scope: &CursorScope, expected: &CursorScope) -> Result<(), ApiError> {
    if scope.tenant != expected.tenant {
        return Err(ApiError::invalid_cursor("cursor was issued to another tenant"));
    }
    if scope.endpoint != expected.endpoint {
        return Err(ApiError::invalid_cursor(format!(
            "cursor was issued for /v1/{}, not /v1/{}",
            scope.endpoint, expected.endpoint
        )));
    }
    if scope.customer != expected.customer || scope.filters != expected.filters {
        return Err(ApiError::invalid_cursor(
            "cursor was issued for other filters (customer, provider, status, type or grant); repeat the original filters or drop the cursor",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> CursorScope {
        CursorScope {
            tenant: "billing-app".into(),
            endpoint: "credit_grants".into(),
            customer: "stripe:cus_1".into(),
            filters: filter_hash(&[("status", Some("active"))]),
        }
    }

    #[test]
    fn round_trips() {
        let codec = CursorCodec::new(&Secret::new("k"));
        let pos = Position::Forward {
            token: Some("credgr_9".into()),
            offset: 3,
        };
        let c = codec.encode(&scope(), ProviderKind::Stripe, &pos);
        assert_eq!(codec.decode(&scope(), &c).unwrap(), (ProviderKind::Stripe, pos));
    }

    #[test]
    fn binds_tenant_endpoint_customer_and_filters() {
        let codec = CursorCodec::new(&Secret::new("k"));
        let c = codec.encode(&scope(), ProviderKind::Stripe, &Position::START);
        let mut other = scope();
        other.tenant = "other".into();
        assert!(codec
            .decode(&other, &c)
            .unwrap_err()
            .to_string()
            .contains("another tenant"));
        let mut other = scope();
        other.endpoint = "credit_ledger_entries".into();
        assert!(codec.decode(&other, &c).is_err());
        let mut other = scope();
        other.customer = "stripe:cus_2".into();
        assert!(codec.decode(&other, &c).is_err());
        let mut other = scope();
        other.filters = filter_hash(&[("status", Some("expired"))]);
        assert!(codec.decode(&other, &c).is_err());
    }

    #[test]
    fn another_secret_is_refused() {
        let c = CursorCodec::new(&Secret::new("k1")).encode(&scope(), ProviderKind::Stripe, &Position::START);
        let err = CursorCodec::new(&Secret::new("k2")).decode(&scope(), &c).unwrap_err();
        assert_eq!(err.type_and_code().1, "invalid_cursor");
    }

    #[test]
    fn filter_hash_distinguishes_absent_from_empty() {
        assert_ne!(filter_hash(&[("status", None)]), filter_hash(&[("status", Some(""))]));
    }

    #[test]
    fn garbage_is_refused() {
        let codec = CursorCodec::new(&Secret::new("k"));
        for bad in ["", "abc", "!!!!", &"A".repeat(5000)] {
            assert_eq!(
                codec.decode(&scope(), bad).unwrap_err().type_and_code().1,
                "invalid_cursor"
            );
        }
    }
}
