//! Console sessions (README.md, "Console"). Signing in with an API key gives a token that
//! names the key by its id (the first 16 hex digits of its SHA-256, never the key), the
//! instant the sign-in ends and a random nonce (a token per sign-in), signed with a key
//! derived from `cursor_secret`: every replica that shares the config accepts it, and it
//! says nothing a browser could turn back into the key. The signature also covers the
//! key's whole digest, so a key replaced in the config ends its sessions. CSRF tokens are
//! signatures over the value they are bound to.
//!
//! Signing out ends the token itself, not only the browser's cookie: its id is kept where
//! every replica and the next start see it ([`SignedOut`]) until the token expires anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{Caller, Gateway};
use crate::quota::Admission;
use crate::secret::Secret;
use crate::shared::records::Records;
use crate::shared::{blocking, lock, SharedState};
use crate::store::{DiskStore, StoreError};

/// What signs console sessions and CSRF tokens.
pub struct Sessions {
    mac: Hmac<Sha256>,
    lifetime: Duration,
    /// `[console] secure_cookie`.
    pub secure_cookie: bool,
    signed_out: SignedOut,
}

/// Where sessions signed out before their tokens expire are kept, until they expire.
pub enum SignedOut {
    /// In Redis (`[redis]`): every replica refuses a session signed out on any of them.
    Shared(SharedState),
    /// In the store on disk: a restart still refuses them.
    Disk(Arc<DiskStore>),
    /// Neither is open (no key may write, no webhooks, no Redis): this process's memory.
    /// Its sessions are then signed with a key of this process alone, so a restart, which
    /// forgets the list, ends every session instead of bringing signed-out ones back.
    Memory(Mutex<HashMap<String, u64>>),
}

impl SignedOut {
    /// Redis when the gateway shares it, else the store on disk when one is open, else memory.
    pub fn kept_in(shared: Option<&SharedState>, records: Option<&Records>) -> SignedOut {
        match (shared, records) {
            (Some(shared), _) | (None, Some(Records::Shared(shared))) => SignedOut::Shared(shared.clone()),
            (None, Some(Records::Disk(store))) => SignedOut::Disk(Arc::clone(store)),
            (None, None) => SignedOut::Memory(Mutex::default()),
        }
    }

    async fn add(&self, id: String, expires_unix: u64) -> Result<(), StoreError> {
        match self {
            SignedOut::Shared(shared) => Ok(shared.sign_out_session(&id, expires_unix).await?),
            SignedOut::Disk(store) => {
                let store = Arc::clone(store);
                blocking(move || store.sign_out_session(&id, expires_unix)).await
            }
            SignedOut::Memory(ids) => {
                let mut ids = lock(ids);
                let now = now_unix();
                ids.retain(|_, expires| *expires > now);
                ids.insert(id, expires_unix);
                Ok(())
            }
        }
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        match self {
            SignedOut::Shared(shared) => Ok(shared.session_signed_out(id).await?),
            SignedOut::Disk(store) => {
                let (store, id) = (Arc::clone(store), id.to_owned());
                blocking(move || store.session_signed_out(&id)).await
            }
            SignedOut::Memory(ids) => Ok(lock(ids).contains_key(id)),
        }
    }
}

/// A session's id where sign-outs are kept: a digest of its token, not the token.
fn session_id(token: &str) -> String {
    crate::hex::lower(&Sha256::digest(token.as_bytes())[..16])
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
    pub fn new(cursor_secret: &Secret, config: &crate::config::ConsoleConfig, signed_out: SignedOut) -> Sessions {
        // Its own key: a console signature is never a valid cursor signature, nor the reverse.
        let mut derive =
            Hmac::<Sha256>::new_from_slice(cursor_secret.expose().as_bytes()).expect("HMAC takes any key length");
        derive.update(b"creditgate console sessions v1");
        if matches!(signed_out, SignedOut::Memory(_)) {
            derive.update(nonce().as_bytes());
        }
        let key = derive.finalize().into_bytes();
        Sessions {
            mac: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length"),
            lifetime: Duration::from_secs(config.session_minutes * 60),
            secure_cookie: config.secure_cookie,
            signed_out,
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

    /// The signature of a session token: the key's id, the expiry and the nonce it shows,
    /// and the key's whole digest.
    fn session_tag(&self, key_id: &str, expires: &str, nonce: &str, key_digest: &[u8]) -> Hmac<Sha256> {
        self.tag(&[
            b"session",
            key_id.as_bytes(),
            expires.as_bytes(),
            nonce.as_bytes(),
            key_digest,
        ])
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
        // The nonce makes each sign-in a token of its own, so signing out ends only that one.
        let nonce = nonce();
        let tag = sessions
            .session_tag(&key.id, &expires, &nonce, &key.digest)
            .finalize()
            .into_bytes();
        Some(SignedIn {
            token: format!("{}.{expires}.{nonce}.{}", key.id, URL_SAFE_NO_PAD.encode(tag)),
            expires_unix,
            lifetime: sessions.lifetime,
        })
    }

    /// The caller a session token belongs to, with its key's quota verdict for this request
    /// (a console page counts like an API request); `None` when the token is forged,
    /// expired, signed out, or its key is no longer configured. An error when whether it
    /// was signed out cannot be read (Redis or the store does not answer).
    pub async fn resume_session(&self, token: &str) -> Result<Option<(Arc<Caller>, Admission)>, StoreError> {
        let Some((sessions, key, _)) = self.session_key(token) else {
            return Ok(None);
        };
        if sessions.signed_out.contains(&session_id(token)).await? {
            return Ok(None);
        }
        Ok(Some((Arc::clone(&key.caller), self.admit(key).await)))
    }

    /// Ends session `token` everywhere: resuming it is refused from now on, on every replica
    /// and after a restart, until it would have expired anyway. A token that is not a valid
    /// session is left alone.
    pub async fn sign_out(&self, token: &str) -> Result<(), StoreError> {
        let Some((sessions, _, expires)) = self.session_key(token) else {
            return Ok(());
        };
        sessions.signed_out.add(session_id(token), expires).await
    }

    /// The signer, the key and the expiry (Unix seconds) of a well-signed, unexpired
    /// session token.
    fn session_key(&self, token: &str) -> Option<(&Sessions, &super::keys::ApiKey, u64)> {
        let sessions = self.sessions()?;
        let mut parts = token.splitn(4, '.');
        let (id, expires, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let expires_unix = expires.parse::<u64>().ok()?;
        if expires_unix <= now_unix() {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let key = self.inner.api_keys.with_id(id).find(|key| {
            sessions
                .session_tag(id, expires, nonce, &key.digest)
                .verify_slice(&tag)
                .is_ok()
        })?;
        Some((sessions, key, expires_unix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// A store on disk in a fresh directory for `name`.
    fn on_disk(name: &str) -> SignedOut {
        let dir = std::env::temp_dir().join(format!("creditgate-sessions-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        SignedOut::Disk(Arc::new(DiskStore::open(&dir.join("store.redb")).unwrap()))
    }

    fn sessions(secret: &str, signed_out: SignedOut) -> Sessions {
        Sessions::new(
            &Secret::new(secret),
            &crate::config::ConsoleConfig::default(),
            signed_out,
        )
    }

    #[test]
    fn a_csrf_token_fits_only_the_value_it_was_made_for() {
        let s = sessions(SECRET, on_disk("csrf"));
        let token = s.csrf_token("session-a");
        assert!(s.csrf_matches("session-a", &token));
        assert!(!s.csrf_matches("session-b", &token));
        assert!(!s.csrf_matches("session-a", ""));
        assert!(!s.csrf_matches("session-a", "not base64 !"));
        let same = sessions(SECRET, on_disk("csrf-same"));
        assert!(
            same.csrf_matches("session-a", &token),
            "another replica, or the next start"
        );
        let other = sessions("another secret of at least 32 bytes!", on_disk("csrf-other"));
        assert!(!other.csrf_matches("session-a", &token), "bound to the secret too");
    }

    #[test]
    fn with_sign_outs_kept_in_memory_a_restart_ends_every_session() {
        let before = sessions(SECRET, SignedOut::Memory(Mutex::default()));
        let token = before.csrf_token("session-a");
        assert!(before.csrf_matches("session-a", &token));
        let after = sessions(SECRET, SignedOut::Memory(Mutex::default()));
        assert!(!after.csrf_matches("session-a", &token));
    }

    #[tokio::test]
    async fn a_sign_out_is_kept_until_its_token_expires() {
        let later = now_unix() + 3600;
        for (name, signed_out) in [
            ("memory", SignedOut::Memory(Mutex::default())),
            ("disk", on_disk("kept")),
        ] {
            signed_out.add(session_id("a.1.x"), later).await.unwrap();
            assert!(signed_out.contains(&session_id("a.1.x")).await.unwrap(), "{name}");
            assert!(!signed_out.contains(&session_id("a.1.y")).await.unwrap(), "{name}");
            // Expired entries go: from memory at the next sign-out, from disk at the purge.
            signed_out.add(session_id("b.1.x"), now_unix()).await.unwrap();
            if let SignedOut::Disk(store) = &signed_out {
                store.purge(SystemTime::now()).unwrap();
            } else {
                signed_out.add(session_id("c.1.x"), later).await.unwrap();
            }
            assert!(!signed_out.contains(&session_id("b.1.x")).await.unwrap(), "{name}");
            assert!(signed_out.contains(&session_id("a.1.x")).await.unwrap(), "{name}");
        }
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 22);
    }
}
