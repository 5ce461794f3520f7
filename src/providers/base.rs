//! What every adapter is made of, written once: the facts every provider file states, the
//! config keys every `[providers.<vendor>]` table takes, and [`VendorBase`], which holds the
//! adapter's vendor client, base URL, credential and page size. A vendor file implements
//! [`Dialect`] and keeps only its own dialect (ARCHITECTURE.md, "Adding a vendor").

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use super::ids::IdFacts;
pub use super::urls::{join_segments, parse_base_url};
use super::writes::WriteContext;
use crate::error::UpstreamError;
use crate::model::{parse_vendor_timestamp, qualified_id, ProviderKind, Timestamp};
use crate::secret::{Secret, SecretRef};
use crate::upstream::lane::OutboundRate;
use crate::upstream::{
    parse_json_slice, CallScope, UpstreamClient, UpstreamRequest, UpstreamResponse, VendorClient, VendorEndpoints,
};

/// A config problem in one `[providers.<vendor>]` table: the key (relative to the table)
/// and what is wrong with it.
pub type ConfigProblem = (String, String);

/// Base URLs a vendor documents.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BaseUrls {
    pub production: String,
    pub sandbox: String,
}

/// Which of a vendor's documented hosts to use when no `base_url` is configured.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Production,
    Sandbox,
}

impl BaseUrls {
    pub fn pick(&self, environment: Environment) -> &str {
        match environment {
            Environment::Production => &self.production,
            Environment::Sandbox => &self.sandbox,
        }
    }
}

/// How long a vendor's answers may be served from the cache.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CacheFacts {
    pub ttl_secs: u64,
}

/// Every call creditgate makes to the vendor (`[endpoints]`), as metrics label them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EndpointFacts {
    pub calls: Vec<String>,
}

/// The request rate a vendor documents per credential (`[rate_limit]`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateFacts {
    pub requests: u32,
    pub per_secs: u32,
    /// A lower rate for test-mode credentials (Stripe's `sk_test_` keys).
    #[serde(default)]
    pub test_mode_requests: Option<u32>,
}

impl RateFacts {
    pub fn rate(&self, test_mode: bool) -> OutboundRate {
        let requests = match self.test_mode_requests {
            Some(test) if test_mode => test,
            _ => self.requests,
        };
        OutboundRate {
            requests,
            per_secs: self.per_secs,
        }
    }
}

/// A vendor's paging facts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PagingFacts {
    /// How the vendor pages, for the README's table and `/v1/providers`.
    pub style: String,
    /// The vendor's own maximum page size.
    pub max_page_size: usize,
    /// The size creditgate asks for (cursor offsets assume it stays the same).
    pub page_size: usize,
}

/// The tables every `providers/<vendor>.toml` has, whatever the vendor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonFacts {
    pub base_urls: BaseUrls,
    pub paging: PagingFacts,
    pub cache: CacheFacts,
    pub rate_limit: RateFacts,
    pub ids: IdFacts,
    pub endpoints: EndpointFacts,
}

/// The tables [`CommonFacts`] reads; every other table of a provider file is the vendor's.
const COMMON_TABLES: [&str; 6] = ["base_urls", "paging", "cache", "rate_limit", "ids", "endpoints"];

/// A provider file split in two: what every vendor states, and the vendor's own tables `V`
/// (unknown tables are refused on both sides).
#[derive(Debug, Clone)]
pub struct ProviderFile<V> {
    pub common: CommonFacts,
    pub dialect: V,
}

impl<V: DeserializeOwned> ProviderFile<V> {
    pub fn parse(text: &str) -> Result<ProviderFile<V>, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut common = toml::Table::new();
        for name in COMMON_TABLES {
            if let Some(value) = table.remove(name) {
                common.insert(name.to_owned(), value);
            }
        }
        Ok(ProviderFile {
            common: common.try_into().map_err(|e: toml::de::Error| e.to_string())?,
            dialect: table.try_into().map_err(|e: toml::de::Error| e.to_string())?,
        })
    }
}

/// The keys every `[providers.<vendor>]` table has.
#[derive(Debug, Clone, Copy)]
pub struct EndpointKeys<'a> {
    pub secret: &'a SecretRef,
    pub base_url: Option<&'a str>,
    pub environment: Environment,
    pub page_size: Option<usize>,
}

/// A `[providers.<vendor>]` table.
pub trait ProviderConfig {
    fn endpoint_keys(&self) -> EndpointKeys<'_>;
}

/// Declares a vendor's `[providers.<vendor>]` struct: the keys every provider takes
/// (`secret`, `base_url`, `environment`, `page_size`), then the vendor's own. Written as a
/// macro because `deny_unknown_fields` cannot see through a flattened struct.
macro_rules! provider_config {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The vendor credential, by reference: `env:NAME` or `file:/path`.
            pub secret: $crate::secret::SecretRef,
            /// Any http(s) base URL: the vendor, a proxy, a simulator, a test mock.
            #[schemars(url)]
            pub base_url: Option<String>,
            /// Which documented host to use when `base_url` is absent.
            #[serde(default)]
            pub environment: $crate::providers::base::Environment,
            /// At most the vendor's own maximum page size.
            #[schemars(range(min = 1))]
            pub page_size: Option<usize>,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::providers::base::ProviderConfig for $name {
            fn endpoint_keys(&self) -> $crate::providers::base::EndpointKeys<'_> {
                $crate::providers::base::EndpointKeys {
                    secret: &self.secret,
                    base_url: self.base_url.as_deref(),
                    environment: self.environment,
                    page_size: self.page_size,
                }
            }
        }
    };
}
pub(crate) use provider_config;

provider_config! {
    /// `[providers.<vendor>]` for vendors that take only the common keys.
    pub struct EndpointConfig {}
}

/// One vendor's dialect: everything [`build`] needs to make its adapter.
pub trait Dialect: Sized {
    const KIND: ProviderKind;
    /// `providers/<vendor>.toml`, compiled in.
    const PROVIDER_FILE: &'static str;
    /// The vendor's `[providers.<vendor>]` table.
    type Config: ProviderConfig;
    /// The vendor's own tables of its provider file.
    type Facts: DeserializeOwned;

    /// The vendor's documented rate for this credential.
    fn documented_rate(rate: &RateFacts, _secret: &Secret) -> OutboundRate {
        rate.rate(false)
    }

    /// The adapter, from the shared base and the vendor's own facts and config.
    fn assemble(base: VendorBase, facts: Self::Facts, config: &Self::Config) -> Result<Self, ConfigProblem>;

    /// The vendor's provider file, parsed.
    fn provider_file() -> Result<ProviderFile<Self::Facts>, String> {
        ProviderFile::parse(Self::PROVIDER_FILE).map_err(|e| format!("providers/{}.toml is not valid: {e}", Self::KIND))
    }
}

/// Builds a vendor's adapter from its config table: the provider file, the secret, the
/// base URL and page size (all three checked, each problem reported), and the credential's
/// lane.
pub fn build<D: Dialect>(config: &D::Config, upstream: &UpstreamClient) -> Result<D, Vec<ConfigProblem>> {
    let file = D::provider_file().map_err(|e| vec![(String::new(), e)])?;
    let keys = config.endpoint_keys();
    let secret = keys.secret.resolve().map_err(|e| ("secret".to_owned(), e));
    let base = parse_base_url(
        keys.base_url
            .unwrap_or_else(|| file.common.base_urls.pick(keys.environment)),
    )
    .map_err(|e| ("base_url".to_owned(), e));
    let page_size = resolve_page_size(&file.common.paging, keys.page_size).map_err(|e| ("page_size".to_owned(), e));
    let (secret, base, page_size) = match (secret, base, page_size) {
        (Ok(secret), Ok(base), Ok(page_size)) => (secret, base, page_size),
        (secret, base, page_size) => {
            return Err([secret.err(), base.err(), page_size.err()]
                .into_iter()
                .flatten()
                .collect());
        }
    };
    let endpoints = VendorEndpoints::parse(&file.common.endpoints.calls)
        .map_err(|e| vec![(String::new(), format!("providers/{}.toml [endpoints]: {e}", D::KIND))])?;
    let client = upstream.for_vendor(
        D::KIND,
        &secret,
        D::documented_rate(&file.common.rate_limit, &secret),
        file.common.cache.ttl_secs,
        endpoints,
    );
    let base = VendorBase {
        kind: D::KIND,
        client,
        base,
        secret,
        page_size,
        facts: file.common,
    };
    D::assemble(base, file.dialect, config).map_err(|e| vec![e])
}

/// What every adapter holds.
#[derive(Debug)]
pub struct VendorBase {
    pub kind: ProviderKind,
    /// The vendor client bound to this credential's lane.
    pub client: VendorClient,
    base: Url,
    /// The configured credential, sent only by the vendor file's auth code.
    pub secret: Secret,
    /// The page size creditgate asks the vendor for.
    pub page_size: usize,
    pub facts: CommonFacts,
}

impl VendorBase {
    /// The base URL calls go to (for `check-config`'s summary).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    /// A segment that is empty or only dots (which URL handling would resolve away instead
    /// of encoding) is refused: ids reach here from clients and from vendors alike.
    pub fn url(&self, segments: &[&str]) -> Result<Url, UpstreamError> {
        join_segments(&self.base, segments).map_err(|e| UpstreamError::invalid(self.kind, e))
    }

    /// A GET of `url` with the configured secret as a Bearer token, the vendor's `headers`
    /// besides; a non-2xx answer is an error.
    pub async fn bearer_get(
        &self,
        scope: CallScope<'_>,
        url: Url,
        headers: &[(&'static str, &str)],
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut request = UpstreamRequest::get(self.kind, url)
            .sensitive_header("authorization", &format!("Bearer {}", self.secret.expose()));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.send_authorized(scope, request).await
    }

    /// Sends `request` (its auth header already set) and maps a non-2xx status.
    pub async fn send_authorized(
        &self,
        scope: CallScope<'_>,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, UpstreamError> {
        self.client.send(scope, request).await?.error_for_status()
    }

    /// Sends a write (its auth header already set) once, never cached or retried (see
    /// [`crate::upstream::VendorClient::write`]), and maps a non-2xx status.
    pub async fn write_authorized(
        &self,
        cx: &WriteContext<'_>,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, UpstreamError> {
        self.write_once(cx, request).await?.error_for_status()
    }

    /// Sends a write once, its status not judged: the one way an adapter writes, since it
    /// records in `cx` whether the write may have changed something (see
    /// [`super::writes::SentWrites`]).
    pub async fn write_once(
        &self,
        cx: &WriteContext<'_>,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let outcome = self.client.write(cx.scope, request).await;
        cx.sent.record(&outcome);
        outcome
    }

    /// Parses a vendor JSON document; a wrong shape names the field.
    pub fn parse<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, UpstreamError> {
        parse_json_slice(self.kind, body)
    }
}

/// Resolves the page size from config, refusing sizes the vendor would refuse.
pub fn resolve_page_size(paging: &PagingFacts, configured: Option<usize>) -> Result<usize, String> {
    let size = configured.unwrap_or(paging.page_size);
    if size == 0 || size > paging.max_page_size {
        return Err(format!(
            "page_size must be between 1 and {} (the vendor's maximum), got {size}",
            paging.max_page_size
        ));
    }
    Ok(size)
}

/// `<provider>:<id>` for an id that came from the vendor. One that names nothing (empty or
/// blank) is an invalid response naming `field`, never an id like `togai:`: an item without
/// a name can be neither paged past nor looked up.
pub fn vendor_item_id(provider: ProviderKind, field: &str, id: &str) -> Result<String, UpstreamError> {
    if id.trim().is_empty() {
        return Err(UpstreamError::invalid(
            provider,
            format!("`{field}` is empty: an item without an id cannot be listed"),
        ));
    }
    Ok(qualified_id(provider, id))
}

/// An id from the vendor that a follow-up call puts in its URL path: named like
/// [`vendor_item_id`], and refused when it is only dots, which no URL can carry.
pub fn vendor_path_id(provider: ProviderKind, field: &str, id: &str) -> Result<(), UpstreamError> {
    vendor_item_id(provider, field, id)?;
    if id.bytes().all(|b| b == b'.') {
        return Err(UpstreamError::invalid(
            provider,
            format!(
                "`{field}` {} is only dots: it cannot name an item in a URL",
                crate::model::quoted(id)
            ),
        ));
    }
    Ok(())
}

/// A vendor timestamp normalized to UTC; a bad one is an invalid response naming the field.
pub fn vendor_timestamp(provider: ProviderKind, field: &str, text: &str) -> Result<Timestamp, UpstreamError> {
    parse_vendor_timestamp(text).map_err(|e| UpstreamError::invalid(provider, format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_files_split_into_common_and_dialect_tables() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Dialect {
            ledger: toml::Table,
        }
        let text = r#"
[base_urls]
production = "https://p"
sandbox = "https://s"
[paging]
style = "x"
max_page_size = 5
page_size = 5
[cache]
ttl_secs = 1
[rate_limit]
requests = 1
per_secs = 1
[ids.customer]
charset = "hex"
describe = "an id"
[endpoints]
calls = ["GET /credits"]
[ledger]
unit = "credits"
"#;
        let file = ProviderFile::<Dialect>::parse(text).unwrap();
        assert_eq!(file.common.paging.page_size, 5);
        assert!(file.dialect.ledger.contains_key("unit"));
        let err = ProviderFile::<Dialect>::parse(&format!("{text}\n[surprise]\nx = 1\n")).unwrap_err();
        assert!(err.contains("surprise"), "{err}");
    }
}
