//! Console sessions (README.md, "Console"). Signing in with an API key gives a token that
//! names the key by its id (the first 16 hex digits of its SHA-256, never the key) and the
//! instant the sign-in ends, signed with a key derived from `cursor_secret`: every replica
//! that shares the config accepts it, and it says nothing a browser could turn back into the
//! key. The signature also covers the key's whole digest, so a key replaced in the config
//! ends its sessions. CSRF tokens are signatures over the value they are bound to.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Caller, Gateway};
use crate::quota::Admission;
use crate::secret::Secret;

/// What signs console sessions and CSRF tokens.
pub struct Sessions {
    mac: Hmac<Sha256>,
    lifetime: Duration,
    /// `[console] secure_cookie`.
    pub secure_cookie: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions(****)")
    }
}

/// A sign-in: the token for the cookie, and when it ends (Unix seconds).
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub expires_unix: u64,
    pub lifetime: Duration,
}

impl Sessions {
    pub fn new(cursor_secret: &Secret, config: &crate::config::ConsoleConfig) -> Sessions {
        // Its own key: a console signature is never a valid cursor signature, nor the reverse.
        let mut derive =
            Hmac::<Sha256>::new_from_slice(cursor_secret.expose().as_bytes()).expect("HMAC takes any key length");
        derive.update(b"creditgate console sessions v1");
        let key = derive.finalize().into_bytes();
        Sessions {
            mac: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length"),
            lifetime: Duration::from_secs(config.session_minutes * 60),
            secure_cookie: config.secure_cookie,
        }
    }

    /// The signature over `parts`, each ended by a NUL so that no two lists sign alike.
    fn tag(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
            mac.update(&[0]);
        }
        mac
    }

    /// A token bound to `value` (a session token, or a sign-in form's nonce).
    pub fn csrf_token(&self, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(&[b"csrf", value.as_bytes()]).finalize().into_bytes())
    }

    /// Whether `presented` is the CSRF token bound to `value`; compared in constant time.
    pub fn csrf_matches(&self, value: &str, presented: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        self.tag(&[b"csrf", value.as_bytes()]).verify_slice(&tag).is_ok()
    }
}

/// A fresh random value for a sign-in form's CSRF cookie.
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Gateway {
    /// The console's signer; `None` when `[console] enabled = false`.
    pub fn sessions(&self) -> Option<&Sessions> {
        self.inner.sessions.as_ref()
    }

    /// Signs in with a presented API key: a session token for it, or `None` when the key is
    /// not one of the configured keys (or the console is off).
    pub fn sign_in(&self, presented_key: &str) -> Option<SignedIn> {
        let sessions = self.sessions()?;
        let key = self.inner.api_keys.find(presented_key)?;
        let expires_unix = now_unix() + sessions.lifetime.as_secs();
        let expires = expires_unix.to_string();
        let tag = sessions
            .tag(&[b"session", key.id.as_bytes(), expires.as_bytes(), &key.digest])
            .finalize()
            .into_bytes();
        Some(SignedIn {
            token: format!("{}.{expires}.{}", key.id, URL_SAFE_NO_PAD.encode(tag)),
            expires_unix,
            lifetime: sessions.lifetime,
        })
    }

    /// The caller a session token belongs to, with its key's quota verdict for this request
    /// (a console page counts like an API request); `None` when the token is forged,
    /// expired, or its key is no longer configured.
    pub async fn resume_session(&self, token: &str) -> Option<(Arc<Caller>, Admission)> {
        let sessions = self.sessions()?;
        let mut parts = token.splitn(3, '.');
        let (id, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if expires.parse::<u64>().ok()? <= now_unix() {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let key = self.inner.api_keys.with_id(id).find(|key| {
            sessions
                .tag(&[b"session", id.as_bytes(), expires.as_bytes(), &key.digest])
                .verify_slice(&tag)
                .is_ok()
        })?;
        Some((Arc::clone(&key.caller), self.admit(key).await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(
            &Secret::new("0123456789abcdef0123456789abcdef"),
            &crate::config::ConsoleConfig::default(),
        )
    }

    #[test]
    fn a_csrf_token_fits_only_the_value_it_was_made_for() {
        let s = sessions();
        let token = s.csrf_token("session-a");
        assert!(s.csrf_matches("session-a", &token));
        assert!(!s.csrf_matches("session-b", &token));
        assert!(!s.csrf_matches("session-a", ""));
        assert!(!s.csrf_matches("session-a", "not base64 !"));
        let other = Sessions::new(
            &Secret::new("another secret of at least 32 bytes!"),
            &crate::config::ConsoleConfig::default(),
        );
        assert!(!other.csrf_matches("session-a", &token), "bound to the secret too");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 22);
    }
}
