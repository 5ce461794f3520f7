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
}

impl ConfigError {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Parses TOML; an unknown or bad key is reported with its dotted path.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let de =
            toml::Deserializer::parse(text).map_err(|e| ConfigError::at("<document>", syntax::located(text, &e)))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::at(
                if key == "." { "<document>".into() } else { key },
                syntax::located(text, &inner),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a file, then applies environment overrides (`CREDITGATE_LISTEN`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        // A relative `file:` secret is next to the config, wherever the process runs.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut config = crate::secret::relative_to(dir, || Config::from_toml_str(&text))?;
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
mod tests {
    use super::*;

    const EXAMPLE_CONFIG: &str = r#"
listen = "127.0.0.1:8080"
cursor_secret = "env:CREDITGATE_CURSOR_SECRET"   # "env:NAME" or "file:/path"

[[api_keys]]
name = "billing-app"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[providers.stripe]
base_url = "https://api.stripe.com"
secret = "env:STRIPE_API_KEY"

[providers.metronome]
secret = "env:METRONOME_TOKEN"

[providers.sequence]
secret = "env:SEQUENCE_CREDENTIALS"   # clientId:clientSecret

[providers.togai]
secret = "env:TOGAI_API_KEY"

[providers.vayu]
secret = "env:VAYU_REFRESH_TOKEN"
unit = "USD"

[providers.lago]
secret = "env:LAGO_API_KEY"

[customers.acme]
stripe = "cus_123"
vayu = "65f0c0ffee0123456789abcd"
"#;

    #[test]
    fn the_design_example_parses() {
        let c = Config::from_toml_str(EXAMPLE_CONFIG).unwrap();
        assert_eq!(c.providers.configured(), ProviderKind::ALL.to_vec());
        assert_eq!(c.cursor_secret, SecretRef::Env("CREDITGATE_CURSOR_SECRET".into()));
        assert_eq!(c.providers.vayu.as_ref().unwrap().unit.as_deref(), Some("USD"));
        let acme = c.customers.get("acme").unwrap();
        assert_eq!(
            acme.0,
            vec![
                (ProviderKind::Stripe, "cus_123".to_owned()),
                (ProviderKind::Vayu, "65f0c0ffee0123456789abcd".to_owned())
            ]
        );
    }

    #[test]
    fn customer_maps_keep_file_order() {
        let text = EXAMPLE_CONFIG.replace(
            "stripe = \"cus_123\"\nvayu = \"65f0c0ffee0123456789abcd\"",
            "vayu = \"65f0c0ffee0123456789abcd\"\nstripe = \"cus_123\"",
        );
        let c = Config::from_toml_str(&text).unwrap();
        let order: Vec<_> = c.customers.get("acme").unwrap().0.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, vec![ProviderKind::Vayu, ProviderKind::Stripe]);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let text = EXAMPLE_CONFIG.replace("unit = \"USD\"", "unit = \"USD\"\npage_sise = 10");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("providers.vayu"), "{err}");
        assert!(err.contains("page_sise"), "{err}");
        let err = Config::from_toml_str(&format!("{EXAMPLE_CONFIG}\nlisten_addr = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn relative_secret_files_are_next_to_the_config() {
        let dir = std::env::temp_dir().join(format!("creditgate-relative-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        let path = dir.join("gateway.toml");
        let keys = "[[api_keys]]\nname = \"a\"\nkey_sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n";
        let text =
            format!("cursor_secret = \"file:keys/cursor\"\n{keys}[providers.vayu]\nsecret = \"file:/abs/vayu\"\n");
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.cursor_secret, SecretRef::File(dir.join("keys/cursor")));
        assert_eq!(
            config.providers.vayu.unwrap().secret,
            SecretRef::File("/abs/vayu".into())
        );
        // Parsed text alone (no file): as written.
        let config = Config::from_toml_str(&text).unwrap();
        assert_eq!(config.cursor_secret, SecretRef::File("keys/cursor".into()));
    }

    #[test]
    fn toml_errors_say_their_line_and_column_and_a_duplicate_key_its_name() {
        let err = Config::from_toml_str("listen = \"a\"\nlisten = \"b\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2, column 1: duplicate key `listen`"), "{err}");
        let err = Config::from_toml_str("cursor_secret = \"env:X\"\n[providers.stripe\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2, column"), "{err}");
    }

    #[test]
    fn plaintext_secrets_are_refused_without_echoing_them() {
        let text = EXAMPLE_CONFIG.replace("env:STRIPE_API_KEY", "sk_live_supersecret");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("providers.stripe.secret"), "{err}");
        assert!(!err.contains("supersecret"), "{err}");
    }

    #[test]
    fn aliases_must_name_configured_providers() {
        let text = EXAMPLE_CONFIG.replace(
            "[providers.vayu]\nsecret = \"env:VAYU_REFRESH_TOKEN\"\nunit = \"USD\"\n",
            "",
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("customers.acme.vayu"), "{err}");
        let text = EXAMPLE_CONFIG.replace("vayu = \"65f0", "paypal = \"65f0");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("unknown provider `paypal`"), "{err}");
    }

    #[test]
    fn key_digests_are_checked() {
        let text = EXAMPLE_CONFIG.replace(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "9f86d08188",
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("api_keys[0].key_sha256"), "{err}");
    }

    /// The keys serde accepts where `text` has its one `zz_unknown_key`, read from serde's
    /// own "unknown field ..., expected one of ..." message.
    fn accepted_keys(text: &str) -> Vec<String> {
        let err = Config::from_toml_str(text).unwrap_err().to_string();
        let list = err.split("expected one of ").nth(1).unwrap_or_else(|| panic!("{err}"));
        let mut keys: Vec<String> = list.split(", ").map(|k| k.trim_matches('`').to_owned()).collect();
        keys.sort();
        keys
    }

    /// The design example with an unknown key inside the table `header`.
    fn unknown_in(header: &str) -> String {
        assert!(EXAMPLE_CONFIG.contains(header), "{header}");
        EXAMPLE_CONFIG.replace(header, &format!("{header}\nzz_unknown_key = 1"))
    }

    fn schema_keys(schema: &serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn json_schema_lists_exactly_the_accepted_keys() {
        let schema = json_schema();
        let top = &schema["properties"];
        let providers = &top["providers"]["properties"];
        assert_eq!(
            accepted_keys(&format!("zz_unknown_key = 1\n{EXAMPLE_CONFIG}")),
            schema_keys(&schema)
        );
        assert_eq!(
            accepted_keys(&unknown_in("[[api_keys]]")),
            schema_keys(&top["api_keys"]["items"])
        );
        assert_eq!(
            accepted_keys(&unknown_in("[providers.stripe]")),
            schema_keys(&providers["stripe"])
        );
        assert_eq!(
            accepted_keys(&unknown_in("[providers.metronome]")),
            schema_keys(&providers["metronome"])
        );
        assert_eq!(
            accepted_keys(&unknown_in("[providers.vayu]")),
            schema_keys(&providers["vayu"])
        );
        assert_eq!(
            accepted_keys(&format!("{EXAMPLE_CONFIG}\n[upstream]\nzz_unknown_key = 1\n")),
            schema_keys(&top["upstream"])
        );
        assert_eq!(
            accepted_keys(&unknown_in("[providers.togai]")),
            schema_keys(&providers["togai"])
        );
        assert_eq!(
            accepted_keys(&format!("{EXAMPLE_CONFIG}\n[inbound]\nzz_unknown_key = 1\n")),
            schema_keys(&top["inbound"])
        );
        assert_eq!(
            accepted_keys(&format!("{EXAMPLE_CONFIG}\n[upstream.retry]\nzz_unknown_key = 1\n")),
            schema_keys(&top["upstream"]["properties"]["retry"])
        );
        assert_eq!(
            accepted_keys(&format!("{EXAMPLE_CONFIG}\n[upstream.breaker]\nzz_unknown_key = 1\n")),
            schema_keys(&top["upstream"]["properties"]["breaker"])
        );
        let mut kinds: Vec<String> = ProviderKind::ALL.iter().map(|p| p.as_str().to_owned()).collect();
        kinds.sort();
        assert_eq!(schema_keys(&top["providers"]), kinds);
    }

    #[test]
    fn checked_in_json_schema_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/config.schema.json");
        let checked_in: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(
            checked_in == json_schema(),
            "schemas/config.schema.json is stale: run `cargo run -- config-schema > schemas/config.schema.json`"
        );
    }
}
