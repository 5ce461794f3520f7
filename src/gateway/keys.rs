//! Gateway API keys: who is asking, and whether their key's quota lets them in. The config
//! holds only each key's SHA-256; one scan in constant time finds the caller and its quota.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::model::ProviderKind;
use crate::quota::{KeyLimiter, KeyQuota};

/// Who is asking: the key's name, its tenant (cursors are bound to it) and what it may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_name: String,
    pub tenant: String,
    pub providers: Option<Vec<ProviderKind>>,
    pub customers: Option<Vec<String>>,
    /// The key has the `write` scope.
    pub may_write: bool,
}

impl Caller {
    /// A caller that may see everything (library use without API keys).
    pub fn unrestricted(tenant: &str) -> Caller {
        Caller {
            key_name: tenant.to_owned(),
            tenant: tenant.to_owned(),
            providers: None,
            customers: None,
            may_write: true,
        }
    }
}

#[derive(Debug)]
pub(super) struct ApiKey {
    pub digest: [u8; 32],
    /// The key's id in shared state: the first 16 hex digits of its SHA-256, the same on
    /// every replica and never the key itself.
    pub id: String,
    /// Shared, so admitting a request clones a pointer, not the key's strings.
    pub caller: Arc<Caller>,
    pub quota: KeyQuota,
    /// This process's count of the quota (the only one without Redis, or while Redis is
    /// unavailable).
    pub limiter: KeyLimiter,
    /// This replica's batch of the key's quota, with `[redis]`.
    pub lease: crate::shared::leases::QuotaLease,
}

/// The configured API keys.
#[derive(Debug)]
pub struct ApiKeys(Vec<ApiKey>);

impl ApiKeys {
    /// Every key's name, as configured.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|k| k.caller.key_name.as_str()).collect()
    }

    /// The keys of a validated config (digests are 64 hex characters).
    pub fn from_config(config: &Config) -> ApiKeys {
        let keys = config
            .api_keys
            .iter()
            .map(|k| ApiKey {
                digest: hex_digest(&k.key_sha256),
                id: k.key_sha256.chars().take(16).collect::<String>().to_ascii_lowercase(),
                quota: k.quota(&config.inbound),
                caller: Arc::new(Caller {
                    key_name: k.name.clone(),
                    tenant: k.tenant.clone().unwrap_or_else(|| k.name.clone()),
                    providers: k.providers.clone(),
                    customers: k.customers.clone(),
                    may_write: k.scopes.contains(&crate::config::Scope::Write),
                }),
                limiter: KeyLimiter::new(k.quota(&config.inbound)),
                lease: Default::default(),
            })
            .collect();
        ApiKeys(keys)
    }

    /// The keys whose id is `id` (one, unless two digests share their first 16 digits).
    pub(super) fn with_id<'k: 'i, 'i>(&'k self, id: &'i str) -> impl Iterator<Item = &'k ApiKey> + 'i {
        self.0.iter().filter(move |key| key.id == id)
    }

    /// The key presented, if it is one of these. Every configured digest is compared in
    /// constant time, with no early exit, so timing says nothing about which key matched.
    pub(super) fn find(&self, presented_key: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(presented_key.as_bytes()).into();
        let mut found = None;
        for key in &self.0 {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found
    }
}

/// A 64-character hex digest as bytes (checked by `Config::validate`; a bad pair of
/// characters reads as 0 rather than failing here).
fn hex_digest(hex: &str) -> [u8; 32] {
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = std::str::from_utf8(pair)
            .ok()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .unwrap_or(0);
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_decode() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let digest = hex_digest(hex);
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"test")));
    }
}
