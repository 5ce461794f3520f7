//! Secrets (vendor keys, the cursor key) that must never reach logs, errors or `Debug`.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// A secret value. `Debug` and `Display` print a fixed mask, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }

    /// The raw value, for the one place that sends it (an auth header, a login body).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible identifier of the secret: cache keys and rate-limit buckets
    /// are per credential, and this lets them say which without holding the secret.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk_live_abcdef123456");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(format!("{s}"), "****");
        assert!(!format!("{:?}", Some(&s)).contains("abcdef"));
        assert_eq!(s.expose(), "sk_live_abcdef123456");
    }

    #[test]
    fn fingerprint_is_stable_and_distinct() {
        let a = Secret::new("one");
        assert_eq!(a.fingerprint(), Secret::new("one").fingerprint());
        assert_ne!(a.fingerprint(), Secret::new("two").fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
    }
}
