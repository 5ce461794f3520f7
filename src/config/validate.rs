//! What the config's types cannot say: bounds, unique keys, aliases naming configured
//! providers. Each problem names its key's path.

use super::{Config, ConfigError};

impl Config {
    /// Checks what the types cannot: key digests, unique names, aliases naming configured
    /// providers. Every problem is reported, not only the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(ConfigError::at(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8080", self.listen),
            ));
        }
        match serde_json::to_value(self) {
            Ok(numbers) => problems.extend(super::bounds::check(&numbers, &super::schema::json_schema())),
            Err(e) => problems.push(ConfigError::at("<document>", e.to_string())),
        }
        problems.extend(self.check_bounds().err());
        if let Some(telemetry) = &self.telemetry {
            problems.extend(check_telemetry(telemetry).err());
        }
        if self.api_keys.is_empty() {
            problems.push(ConfigError::at(
                "api_keys",
                "at least one [[api_keys]] entry is needed: without one no request can be authenticated",
            ));
        }
        for (i, key) in self.api_keys.iter().enumerate() {
            let is_hex = key.key_sha256.len() == 64 && key.key_sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_hex {
                problems.push(ConfigError::at(
                    format!("api_keys[{i}].key_sha256"),
                    "expected the 64-character hex SHA-256 of the key (e.g. `printf %s KEY | sha256sum`)",
                ));
            }
            if self.api_keys[..i]
                .iter()
                .any(|k| k.key_sha256.eq_ignore_ascii_case(&key.key_sha256))
            {
                problems.push(ConfigError::at(
                    format!("api_keys[{i}].key_sha256"),
                    "the same key as an earlier entry: each key must have one set of permissions",
                ));
            }
            if self.api_keys[..i].iter().any(|k| k.name == key.name) {
                problems.push(ConfigError::at(
                    format!("api_keys[{i}].name"),
                    format!("duplicate key name `{}`", key.name),
                ));
            }
        }
        let configured = self.providers.configured();
        for (alias, map) in &self.customers.0 {
            if alias.contains(':') {
                problems.push(ConfigError::at(
                    format!("customers.{alias}"),
                    "an alias cannot contain `:` (that form means `<provider>:<vendor id>`)",
                ));
            }
            for (provider, _) in &map.0 {
                if !configured.contains(provider) {
                    problems.push(ConfigError::at(
                        format!("customers.{alias}.{provider}"),
                        format!("provider {provider} is not configured under [providers.{provider}]"),
                    ));
                }
            }
        }
        ConfigError::all(problems)
    }

    /// Bounds across keys (each key's own bounds are its type's, checked by `bounds.rs`).
    fn check_bounds(&self) -> Result<(), ConfigError> {
        let up = &self.upstream;
        if let Some((provider, ms)) = up
            .write_settle_ms
            .iter()
            .find(|(_, ms)| **ms < up.attempt_timeout_ms.saturating_mul(2))
        {
            return Err(ConfigError::at(
                format!("upstream.write_settle_ms.{provider}"),
                format!(
                    "{ms} ms is too short: a write may land until well after its attempt timed out; \
                     give at least twice upstream.attempt_timeout_ms ({} ms)",
                    up.attempt_timeout_ms.saturating_mul(2)
                ),
            ));
        }
        Ok(())
    }
}

/// `[telemetry]`: its own problems, and headers (credentials, usually) only over TLS or to
/// this machine.
fn check_telemetry(telemetry: &crate::telemetry::TelemetryConfig) -> Result<(), ConfigError> {
    if let Some((key, problem)) = telemetry.problem() {
        return Err(ConfigError::at(format!("telemetry.{key}"), problem));
    }
    let url = telemetry
        .traces_url()
        .map_err(|e| ConfigError::at("telemetry.endpoint", e))?;
    if !telemetry.headers.is_empty() && url.scheme() == "http" && !crate::providers::urls::is_loopback(&url) {
        return Err(ConfigError::at(
            "telemetry.endpoint",
            "the export headers would travel unencrypted: use https://, or http:// only to this machine",
        ));
    }
    Ok(())
}
