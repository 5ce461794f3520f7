//! What the config's types cannot say: bounds, unique keys, aliases naming configured
//! providers. Each problem names its key's path.

use super::{Config, ConfigError};

impl Config {
    /// Checks what the types cannot: key digests, unique names, aliases naming configured
    /// providers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::at(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8080", self.listen),
            ));
        }
        self.check_bounds()?;
        if self.api_keys.is_empty() {
            return Err(ConfigError::at(
                "api_keys",
                "at least one [[api_keys]] entry is needed: without one no request can be authenticated",
            ));
        }
        for (i, key) in self.api_keys.iter().enumerate() {
            let is_hex = key.key_sha256.len() == 64 && key.key_sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_hex {
                return Err(ConfigError::at(
                    format!("api_keys[{i}].key_sha256"),
                    "expected the 64-character hex SHA-256 of the key (e.g. `printf %s KEY | sha256sum`)",
                ));
            }
            key.quota(&self.inbound)
                .check()
                .map_err(|e| ConfigError::at(format!("api_keys[{i}]"), e))?;
            if self.api_keys[..i]
                .iter()
                .any(|k| k.key_sha256.eq_ignore_ascii_case(&key.key_sha256))
            {
                return Err(ConfigError::at(
                    format!("api_keys[{i}].key_sha256"),
                    "the same key as an earlier entry: each key must have one set of permissions",
                ));
            }
            if self.api_keys[..i].iter().any(|k| k.name == key.name) {
                return Err(ConfigError::at(
                    format!("api_keys[{i}].name"),
                    format!("duplicate key name `{}`", key.name),
                ));
            }
        }
        let configured = self.providers.configured();
        for (alias, map) in &self.customers.0 {
            if alias.contains(':') {
                return Err(ConfigError::at(
                    format!("customers.{alias}"),
                    "an alias cannot contain `:` (that form means `<provider>:<vendor id>`)",
                ));
            }
            for (provider, _) in &map.0 {
                if !configured.contains(provider) {
                    return Err(ConfigError::at(
                        format!("customers.{alias}.{provider}"),
                        format!("provider {provider} is not configured under [providers.{provider}]"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Numbers that must be at least 1 (a 0 timeout, window or cap would stop everything
    /// or nothing), and the one percentage.
    fn check_bounds(&self) -> Result<(), ConfigError> {
        let (up, breaker, retry, server) = (
            &self.upstream,
            &self.upstream.breaker,
            &self.upstream.retry,
            &self.server,
        );
        let at_least_one: [(&str, u64); 16] = [
            (
                "inbound.requests_per_second",
                u64::from(self.inbound.requests_per_second),
            ),
            ("inbound.burst", u64::from(self.inbound.burst)),
            ("inbound.max_in_flight", self.inbound.max_in_flight as u64),
            ("server.header_read_timeout_ms", server.header_read_timeout_ms),
            ("server.max_connections", server.max_connections as u64),
            ("server.body_read_timeout_ms", server.body_read_timeout_ms),
            ("upstream.connect_timeout_ms", up.connect_timeout_ms),
            ("upstream.attempt_timeout_ms", up.attempt_timeout_ms),
            ("upstream.deadline_ms", up.deadline_ms),
            (
                "upstream.max_concurrency_per_vendor",
                up.max_concurrency_per_vendor as u64,
            ),
            ("upstream.max_body_bytes", up.max_body_bytes as u64),
            ("upstream.retry.max_attempts", u64::from(retry.max_attempts)),
            (
                "upstream.breaker.consecutive_failures",
                u64::from(breaker.consecutive_failures),
            ),
            (
                "upstream.breaker.failure_rate_percent",
                u64::from(breaker.failure_rate_percent),
            ),
            ("upstream.breaker.window", u64::from(breaker.window)),
            ("upstream.breaker.open_ms", breaker.open_ms),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::at(*key, "must be at least 1"));
        }
        if breaker.failure_rate_percent > 100 {
            return Err(ConfigError::at(
                "upstream.breaker.failure_rate_percent",
                format!("a percentage is at most 100, got {}", breaker.failure_rate_percent),
            ));
        }
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
        if server.worker_threads == Some(0) {
            return Err(ConfigError::at("server.worker_threads", "must be at least 1"));
        }
        if server.max_request_head_bytes < 8192 {
            return Err(ConfigError::at(
                "server.max_request_head_bytes",
                "must be at least 8192",
            ));
        }
        Ok(())
    }
}
