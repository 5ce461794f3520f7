//! creditgate's configuration: TOML, unknown keys refused with their path, secrets only by
//! reference (`env:NAME` or `file:/path`), never written in the file itself.

use std::fmt;
use std::path::Path;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::model::ProviderKind;
use crate::providers::ProvidersConfig;
use crate::quota::{InboundConfig, KeyQuota};
use crate::secret::SecretRef;
use crate::upstream::UpstreamConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

/// A gateway API key: the app sends the key, the config holds only its SHA-256.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

/// `[customers.<alias>]` tables, in file order.
#[derive(Debug, Clone, Default)]
pub struct CustomerAliases(pub Vec<(String, CustomerMap)>);

impl CustomerAliases {
    pub fn get(&self, alias: &str) -> Option<&CustomerMap> {
        self.0.iter().find(|(name, _)| name == alias).map(|(_, map)| map)
    }
}

/// One customer's ids at its providers, in file order (lists concatenate in this order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerMap(pub Vec<(ProviderKind, String)>);

impl<'de> Deserialize<'de> for CustomerAliases {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CustomerAliases;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of customer aliases")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((alias, ids)) = map.next_entry::<String, CustomerMap>()? {
                    out.push((alias, ids));
                }
                Ok(CustomerAliases(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for CustomerMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CustomerMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of `<provider> = \"<vendor customer id>\"`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(ProviderKind, String)> = Vec::new();
                while let Some((provider, id)) = map.next_entry::<String, String>()? {
                    let kind = provider.parse::<ProviderKind>().map_err(serde::de::Error::custom)?;
                    out.push((kind, id));
                }
                Ok(CustomerMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A configuration problem, naming the key it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("config error at `{key}`: {message}")]
    Invalid { key: String, message: String },
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
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::at("<document>", e.message().to_owned()))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::at(
                if key == "." { "<document>".into() } else { key },
                inner.message().to_owned(),
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
        let mut config = Config::from_toml_str(&text)?;
        if let Ok(listen) = std::env::var("CREDITGATE_LISTEN") {
            config.listen = listen;
        }
        Ok(config)
    }

    /// Lifts creditgate's own limits on what it sends and accepts (each vendor's documented
    /// pace, the per-key quotas): for simulators and mocks without rate limits, which tests
    /// and benchmarks send far more than any vendor allows.
    pub fn unthrottle(&mut self) {
        self.upstream.unpaced();
        self.inbound.requests_per_second = 1_000_000;
        self.inbound.burst = 1_000_000;
    }

    /// Checks what the types cannot: key digests, unique names, aliases naming configured
    /// providers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::at(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8080", self.listen),
            ));
        }
        if self.inbound.max_in_flight == 0 {
            return Err(ConfigError::at("inbound.max_in_flight", "must be at least 1"));
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
}

impl JsonSchema for CustomerAliases {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CustomerAliases".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "`[customers.<alias>]`: each alias maps providers to that customer's id there; lists concatenate in file order",
            "additionalProperties": generator.subschema_for::<CustomerMap>(),
        })
    }
}

impl JsonSchema for CustomerMap {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CustomerMap".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "`<provider> = \"<vendor customer id>\"`, in list order",
            "propertyNames": generator.subschema_for::<ProviderKind>(),
            "additionalProperties": {"type": "string"},
        })
    }
}

/// The config file's JSON Schema, derived from the types the parser reads (checked in as
/// `schemas/config.schema.json`; a test keeps the two equal).
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<Config>().to_value();
    drop_null_types(&mut schema);
    schema
}

/// TOML has no null (an absent key is how an option is left unset): the null that schemars
/// allows for every `Option` is taken out of types, enums and `anyOf` choices throughout.
fn drop_null_types(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".into(), only);
                }
            }
            if let Some(serde_json::Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            let null = serde_json::json!({"type": "null"});
            if let Some(serde_json::Value::Array(choices)) = map.get_mut("anyOf") {
                choices.retain(|c| *c != null);
                if let [only] = choices.as_slice() {
                    if let serde_json::Value::Object(inner) = only.clone() {
                        map.remove("anyOf");
                        map.extend(inner);
                    }
                }
            }
            map.values_mut().for_each(drop_null_types);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_null_types),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGN_EXAMPLE: &str = r#"
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

[customers.acme]
stripe = "cus_123"
vayu = "65f0c0ffee0123456789abcd"
"#;

    #[test]
    fn the_design_example_parses() {
        let c = Config::from_toml_str(DESIGN_EXAMPLE).unwrap();
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
        let text = DESIGN_EXAMPLE.replace(
            "stripe = \"cus_123\"\nvayu = \"65f0c0ffee0123456789abcd\"",
            "vayu = \"65f0c0ffee0123456789abcd\"\nstripe = \"cus_123\"",
        );
        let c = Config::from_toml_str(&text).unwrap();
        let order: Vec<_> = c.customers.get("acme").unwrap().0.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, vec![ProviderKind::Vayu, ProviderKind::Stripe]);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let text = DESIGN_EXAMPLE.replace("unit = \"USD\"", "unit = \"USD\"\npage_sise = 10");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("providers.vayu"), "{err}");
        assert!(err.contains("page_sise"), "{err}");
        let err = Config::from_toml_str(&format!("{DESIGN_EXAMPLE}\nlisten_addr = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn plaintext_secrets_are_refused_without_echoing_them() {
        let text = DESIGN_EXAMPLE.replace("env:STRIPE_API_KEY", "sk_live_supersecret");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("providers.stripe.secret"), "{err}");
        assert!(!err.contains("supersecret"), "{err}");
    }

    #[test]
    fn aliases_must_name_configured_providers() {
        let text = DESIGN_EXAMPLE.replace(
            "[providers.vayu]\nsecret = \"env:VAYU_REFRESH_TOKEN\"\nunit = \"USD\"\n",
            "",
        );
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("customers.acme.vayu"), "{err}");
        let text = DESIGN_EXAMPLE.replace("vayu = \"65f0", "paypal = \"65f0");
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("unknown provider `paypal`"), "{err}");
    }

    #[test]
    fn key_digests_are_checked() {
        let text = DESIGN_EXAMPLE.replace(
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
        assert!(DESIGN_EXAMPLE.contains(header), "{header}");
        DESIGN_EXAMPLE.replace(header, &format!("{header}\nzz_unknown_key = 1"))
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
            accepted_keys(&format!("zz_unknown_key = 1\n{DESIGN_EXAMPLE}")),
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
            accepted_keys(&format!("{DESIGN_EXAMPLE}\n[upstream]\nzz_unknown_key = 1\n")),
            schema_keys(&top["upstream"])
        );
        assert_eq!(
            accepted_keys(&unknown_in("[providers.togai]")),
            schema_keys(&providers["togai"])
        );
        assert_eq!(
            accepted_keys(&format!("{DESIGN_EXAMPLE}\n[inbound]\nzz_unknown_key = 1\n")),
            schema_keys(&top["inbound"])
        );
        assert_eq!(
            accepted_keys(&format!("{DESIGN_EXAMPLE}\n[upstream.retry]\nzz_unknown_key = 1\n")),
            schema_keys(&top["upstream"]["properties"]["retry"])
        );
        assert_eq!(
            accepted_keys(&format!("{DESIGN_EXAMPLE}\n[upstream.breaker]\nzz_unknown_key = 1\n")),
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
