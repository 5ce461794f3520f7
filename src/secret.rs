//! Secrets (vendor keys, the cursor key) that must never reach logs, errors or `Debug`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
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

/// A reference to a secret: `env:NAME` or `file:/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

thread_local! {
    /// The directory relative `file:` paths are read from while a config file is parsed
    /// (see [`relative_to`]).
    static BASE_DIR: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Runs `parse` with relative `file:` references taken relative to `dir` (the config
/// file's directory), not to the process's working directory.
pub fn relative_to<T>(dir: &std::path::Path, parse: impl FnOnce() -> T) -> T {
    let previous = BASE_DIR.with(|base| base.replace(Some(dir.to_path_buf())));
    let parsed = parse();
    BASE_DIR.with(|base| *base.borrow_mut() = previous);
    parsed
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if let Some(name) = text.strip_prefix("env:").filter(|n| !n.is_empty()) {
            Ok(SecretRef::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            let base = BASE_DIR
                .with(|base| base.borrow().clone())
                .filter(|_| path.is_relative());
            Ok(SecretRef::File(base.map_or(path.clone(), |dir| dir.join(&path))))
        } else {
            // The value itself is never echoed: it may be a real secret pasted by mistake.
            Err(serde::de::Error::custom(
                "secrets are given as `env:NAME` or `file:/path`, never written in the config",
            ))
        }
    }
}

/// The reference as written (`env:NAME`, `file:/path`): never the secret itself.
impl serde::Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SecretRef::Env(name) => s.serialize_str(&format!("env:{name}")),
            SecretRef::File(path) => s.serialize_str(&format!("file:{}", path.display())),
        }
    }
}

impl schemars::JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(env:.+|file:.+)$",
            "description": "env:NAME or file:/path; never the secret itself",
        })
    }
}

impl SecretRef {
    /// Reads the secret; a missing variable or file is an error naming it (never the value).
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(_) => Err(format!("environment variable {name} is not set")),
            },
            SecretRef::File(path) => match read_capped(path) {
                Ok(v) if !v.trim().is_empty() => {
                    warn_if_others_may_read(path);
                    Ok(Secret::new(v.trim()))
                }
                Ok(_) => Err(format!("secret file {} is empty", path.display())),
                Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
            },
        }
    }
}

/// A secret file that its group or others may read is taken, with a warning saying so.
fn warn_if_others_may_read(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "a secret file other users may read: `chmod 600` it"
                );
            }
        }
    }
}

/// The longest secret file read: far above any vendor credential, and a bound on what a
/// mistaken path (`/dev/zero`, a log file) costs.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A secret file's text, refusing one over [`MAX_SECRET_FILE_BYTES`] without reading the rest.
fn read_capped(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB, too large for a secret",
            MAX_SECRET_FILE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("it is not UTF-8 text"))
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

    #[test]
    fn secrets_resolve_from_env_and_file() {
        let dir = std::env::temp_dir().join(format!("creditgate-secret-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        assert_eq!(SecretRef::File(dir.clone()).resolve().unwrap().expose(), "from-file");
        std::fs::remove_file(&dir).unwrap();
        assert!(SecretRef::File(dir).resolve().unwrap_err().contains("cannot read"));
        assert!(SecretRef::Env("CREDITGATE_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err()
            .contains("not set"));
    }
}
