//! creditgate's configuration: TOML, unknown keys refused with their path, secrets only by
//! reference (`env:NAME` or `file:/path`), never written in the file itself.

mod bounds;
mod customers;
mod schema;
mod syntax;
mod validate;

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::ProviderKind;
use crate::providers::ProvidersConfig;
use crate::quota::{InboundConfig, KeyQuota};
use crate::secret::SecretRef;
use crate::upstream::UpstreamConfig;
pub use customers::{CustomerAliases, CustomerMap};
pub use schema::json_schema;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[schemars(title = "creditgate configuration")]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the server binds (`CREDITGATE_LISTEN` overrides it).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Key that signs pagination cursors.
    pub cursor_secret: SecretRef,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    #[serde(default)]
    pub providers: ProvidersConfig,
    /// Customer aliases, each mapping to ids at several providers, in file order.
    #[serde(default)]
    pub customers: CustomerAliases,
    #[serde(default)]
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub inbound: InboundConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: crate::store::StoreConfig,
    /// State shared by several replicas; absent, each process keeps its own.
    #[serde(default)]
    pub redis: Option<crate::shared::RedisConfig>,
    /// How long events are kept and how their deliveries are retried.
    #[serde(default)]
    pub events: crate::events::EventsConfig,
    /// The apps' URLs that receive events, signed per Standard Webhooks.
    #[serde(default)]
    pub webhook_endpoints: Vec<crate::events::EndpointConfig>,
    /// Traces exported over OTLP; absent, none are.
    #[serde(default)]
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
    /// The web console at `/console`.
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// `[console]`: the web console people sign in to with an API key (README.md, "Console").
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve `/console`; `false` answers its pages 404 like any unknown route.
    pub enabled: bool,
    /// How long a sign-in lasts; the session cookie and its signature expire together.
    #[schemars(range(min = 5, max = 10080))]
    pub session_minutes: u64,
    /// Mark the session cookie `Secure` even when the request does not say it came over
    /// TLS (`X-Forwarded-Proto: https` from a proxy sets it anyway).
    pub secure_cookie: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            session_minutes: 480,
            secure_cookie: false,
        }
    }
}

/// `[server]`: bounds on client connections, so that no client can hold the server's
/// sockets or memory (README.md, "Connections").
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// A connection that has not sent a whole request head this long after it opened, or
    /// after its previous answer (an idle keep-alive connection), is closed.
    #[schemars(range(min = 1))]
    pub header_read_timeout_ms: u64,
    /// Connections open at once. One more closes the oldest idle connection, or is closed
    /// itself when every open one has a request in progress. Keep it below the process's
    /// file descriptor limit (`ulimit -n`).
    #[schemars(range(min = 1))]
    pub max_connections: usize,
    /// A connection's read buffer, which bounds a request head; a larger head gets 431.
    #[schemars(range(min = 8192))]
    pub max_request_head_bytes: usize,
    /// The longest a write's body may take to arrive, from when its request was admitted;
    /// past it the answer is 408 `request_body_timeout` and the connection is closed. The
    /// body is read before the request takes one of `[inbound] max_in_flight`, so slow
    /// senders cannot hold the gateway's capacity.
    #[schemars(range(min = 1))]
    pub body_read_timeout_ms: u64,
    /// Threads serving requests; one per core when absent.
    #[schemars(range(min = 1))]
    pub worker_threads: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout_ms: 10_000,
            max_connections: 4_096,
            max_request_head_bytes: 64 * 1024,
            body_read_timeout_ms: 10_000,
            worker_threads: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

/// A gateway API key: the app sends the key, the config holds only its SHA-256.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    /// Hex SHA-256 of the key (`printf %s KEY | sha256sum`).
    #[schemars(regex(pattern = r"^[0-9a-fA-F]{64}$"))]
    pub key_sha256: String,
    /// Cursors are bound to the tenant; defaults to `name`.
    pub tenant: Option<String>,
    /// Providers this key may reach (all when absent).
    pub providers: Option<Vec<ProviderKind>>,
    /// Customers this key may read: aliases or `<provider>:<id>` (all when absent).
    pub customers: Option<Vec<String>>,
    /// This key's quota; `[inbound]`'s when absent.
    #[schemars(range(min = 1))]
    pub requests_per_second: Option<u32>,
    #[schemars(range(min = 1))]
    pub burst: Option<u32>,
    /// What the key may do: `read` (the default) and `write` (create, void and expire
    /// grants, ledger adjustments). A write key may also read.
    #[serde(default = "read_only")]
    pub scopes: Vec<Scope>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

fn read_only() -> Vec<Scope> {
    vec![Scope::Read]
}

impl ApiKeyConfig {
    /// The key's own quota, else the `[inbound]` default.
    pub fn quota(&self, inbound: &InboundConfig) -> KeyQuota {
        KeyQuota {
            requests_per_second: self.requests_per_second.unwrap_or(inbound.requests_per_second),
            burst: self.burst.unwrap_or(inbound.burst),
        }
    }
}

/// A configuration problem, naming the key it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("config error at `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// The idempotency store (`[store] path`, or a plan's records) cannot be opened.
    #[error("the idempotency store {path} cannot be opened: {message}")]
    Store { path: String, message: String },
    /// Every problem found, when there is more than one (each on a line of its own).
    #[error("{} problems:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// `problems` as one error: none is `Ok`, one is itself, more are [`Self::Several`]
    /// (a `Several` among them is flattened).
    pub fn all(problems: Vec<ConfigError>) -> Result<(), ConfigError> {
        let mut flat: Vec<ConfigError> = problems
            .into_iter()
            .flat_map(|p| match p {
                ConfigError::Several(inner) => inner,
                one => vec![one],
            })
            .collect();
        match flat.len() {
            0 => Ok(()),
            1 => Err(flat.remove(0)),
            _ => Err(ConfigError::Several(flat)),
        }
    }
}

impl Config {
    /// Parses TOML and validates it; an unknown or bad key is reported with its dotted path.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let config = Self::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML into the types, without [`Self::validate`].
    fn parse(text: &str) -> Result<Config, ConfigError> {
        let de =
            toml::Deserializer::parse(text).map_err(|e| ConfigError::at("<document>", syntax::located(text, &e)))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let first = ConfigError::at(
                if key == "." { "<document>".into() } else { key.clone() },
                syntax::located(text, &inner),
            );
            // serde stops at the first problem; every other unknown key (a typo, usually)
            // is reported with it.
            let file = toml::from_str::<toml::Table>(text)
                .ok()
                .and_then(|t| serde_json::to_value(t).ok())
                .unwrap_or_default();
            let mut all: Vec<ConfigError> = schema::unknown_keys(&file, &schema::json_schema())
                .into_iter()
                .filter(|(path, _)| *path != key)
                .map(|(path, expected)| {
                    let message = format!("unknown key, expected one of: {}", expected.join(", "));
                    ConfigError::at(path, message)
                })
                .collect();
            if all.is_empty() {
                return first;
            }
            all.insert(0, first);
            ConfigError::Several(all)
        })?;
        Ok(config)
    }

    /// Reads a file, then applies environment overrides (`CREDITGATE_LISTEN`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config = Self::load_unvalidated(path)?;
        config.validate()?;
        Ok(config)
    }

    /// [`Self::load`] without [`Self::validate`]: for `check-config`, which reports the
    /// validation's problems together with every other (`Gateway::check_config`).
    pub fn load_unvalidated(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        // A relative `file:` secret is next to the config, wherever the process runs.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut config = crate::secret::relative_to(dir, || Config::parse(&text))?;
        if let Ok(listen) = std::env::var("CREDITGATE_LISTEN") {
            config.listen = listen;
        }
        Ok(config)
    }

    /// Lifts creditgate's own limits on what it sends and accepts (each vendor's documented
    /// pace, the per-key quotas): for simulators and mocks without rate limits, which tests
    /// and benchmarks send far more than any vendor allows.
    /// Whether some key has the `write` scope (then the idempotency store is needed).
    pub fn any_key_may_write(&self) -> bool {
        self.api_keys.iter().any(|k| k.scopes.contains(&Scope::Write))
    }

    pub fn unthrottle(&mut self) {
        self.upstream.unpaced();
        self.inbound.requests_per_second = 1_000_000;
        self.inbound.burst = 1_000_000;
    }
}

#[cfg(test)]
mod tests;
