//! Vendor adapters, one file each, dispatched through the closed [`Adapter`] enum.
//! No vendor logic lives outside its own file; the facts each adapter relies on (URLs,
//! page sizes, id shapes, enum tables) live in `providers/<vendor>.toml`.

pub mod metronome;
pub mod sequence;
pub mod stripe;
pub mod togai;
pub mod vayu;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::model::{
    parse_vendor_timestamp, CreditBalance, CreditGrant, GrantStatus, LedgerEntry, ProviderKind, Timestamp,
};
use crate::paging::{AssembledPage, Position};
use crate::upstream::lane::{OutboundRate, VendorLane};
use crate::upstream::{parse_json_slice, UpstreamError};

pub use metronome::MetronomeAdapter;
pub use sequence::SequenceAdapter;
pub use stripe::StripeAdapter;
pub use togai::TogaiAdapter;
pub use vayu::VayuAdapter;

/// Something a vendor may or may not offer; a missing one is a 501 that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// List a customer's grants.
    CreditGrants,
    /// List every grant in the vendor account (no customer).
    AccountWideGrants,
    /// Fetch one grant by id.
    GrantLookup,
    /// List a customer's ledger entries.
    CreditLedger,
    /// List the ledger entries of one grant.
    LedgerByGrant,
    /// A customer's balances.
    CreditBalances,
    /// `previous_cursor` on lists.
    BackwardPaging,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::CreditGrants => "credit_grants",
            Capability::AccountWideGrants => "account_wide_grants",
            Capability::GrantLookup => "grant_lookup",
            Capability::CreditLedger => "credit_ledger",
            Capability::LedgerByGrant => "ledger_by_grant",
            Capability::CreditBalances => "credit_balances",
            Capability::BackwardPaging => "backward_paging",
        })
    }
}

/// What a configured provider can do, as `GET /v1/providers` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Capabilities {
    pub credit_grants: bool,
    pub account_wide_grants: bool,
    pub grant_lookup: bool,
    pub credit_ledger: bool,
    pub ledger_by_grant: bool,
    pub credit_balances: bool,
    pub backward_paging: bool,
}

impl Capabilities {
    pub fn has(&self, capability: Capability) -> bool {
        let Capabilities {
            credit_grants,
            account_wide_grants,
            grant_lookup,
            credit_ledger,
            ledger_by_grant,
            credit_balances,
            backward_paging,
        } = *self;
        match capability {
            Capability::CreditGrants => credit_grants,
            Capability::AccountWideGrants => account_wide_grants,
            Capability::GrantLookup => grant_lookup,
            Capability::CreditLedger => credit_ledger,
            Capability::LedgerByGrant => ledger_by_grant,
            Capability::CreditBalances => credit_balances,
            Capability::BackwardPaging => backward_paging,
        }
    }
}

/// The shape of a vendor id, checked before any call so a client id can never reach a
/// different vendor path.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdShape {
    /// Required prefix (`cus_`, `credgr_`).
    #[serde(default)]
    pub prefix: String,
    pub charset: IdCharset,
    /// Exact length of the part after the prefix.
    pub length: Option<usize>,
    #[serde(default = "default_max_id_len")]
    pub max_length: usize,
    /// What the id is, for messages ("a Stripe customer id").
    pub describe: String,
}

fn default_max_id_len() -> usize {
    255
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdCharset {
    /// ASCII letters, digits and `_`.
    Alphanumeric,
    /// Hex digits.
    Hex,
    /// A UUID: 8-4-4-4-12 hex digits.
    Uuid,
    /// ASCII letters, digits, `_`, `-` and `.` (Togai's `cred.1znQx9jiIXw.r44fc`).
    Token,
}

impl IdShape {
    pub fn check(&self, id: &str) -> Result<(), String> {
        let fail = || match self.length {
            Some(n) => format!(
                "`{id}` is not {}: expected {}{n} {} characters",
                self.describe,
                self.prefix,
                self.charset_name()
            ),
            None => format!(
                "`{id}` is not {}: expected `{}` followed by {} characters",
                self.describe,
                self.prefix,
                self.charset_name()
            ),
        };
        let Some(rest) = id.strip_prefix(self.prefix.as_str()) else {
            return Err(fail());
        };
        // `.` and `..` would be resolved away by URL path handling, not encoded.
        if rest.bytes().all(|b| b == b'.') {
            return Err(fail());
        }
        let charset_ok = match self.charset {
            IdCharset::Uuid => {
                let groups: Vec<&str> = rest.split('-').collect();
                groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
                    && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
            }
            charset => rest.bytes().all(|b| match charset {
                IdCharset::Alphanumeric => b.is_ascii_alphanumeric() || b == b'_',
                IdCharset::Hex => b.is_ascii_hexdigit(),
                IdCharset::Token => b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'),
                IdCharset::Uuid => unreachable!("matched above"),
            }),
        };
        let length_ok = match self.length {
            Some(n) => rest.len() == n,
            None => !rest.is_empty() && id.len() <= self.max_length,
        };
        if charset_ok && length_ok {
            Ok(())
        } else {
            Err(fail())
        }
    }

    fn charset_name(&self) -> &'static str {
        match self.charset {
            IdCharset::Alphanumeric => "alphanumeric",
            IdCharset::Hex => "hex",
            IdCharset::Uuid => "UUID",
            IdCharset::Token => "letter, digit, `_`, `-` or `.`",
        }
    }
}

/// Base URLs a vendor documents.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BaseUrls {
    pub production: String,
    pub sandbox: String,
}

/// Which of a vendor's documented hosts to use when no `base_url` is configured.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
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

/// The shapes of a vendor's ids (`[ids.customer]`, `[ids.grant]` in its provider file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdFacts {
    pub customer: IdShape,
    /// Absent for a vendor without grants.
    #[serde(default)]
    pub grant: Option<IdShape>,
}

/// How long a vendor's answers may be served from the cache.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CacheFacts {
    pub ttl_secs: u64,
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

/// Each vendor's cache TTL from its provider file (before `[upstream.cache_ttl_secs]`).
pub fn cache_ttls() -> std::collections::BTreeMap<ProviderKind, u64> {
    ProviderKind::ALL
        .into_iter()
        .map(|kind| {
            let facts = match kind {
                ProviderKind::Stripe => stripe::StripeFacts::embedded().cache,
                ProviderKind::Metronome => metronome::MetronomeFacts::embedded().cache,
                ProviderKind::Sequence => sequence::SequenceFacts::embedded().cache,
                ProviderKind::Togai => togai::TogaiFacts::embedded().cache,
                ProviderKind::Vayu => vayu::VayuFacts::embedded().cache,
            };
            (kind, facts.ttl_secs)
        })
        .collect()
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

/// Where to reach a vendor and how big a page to ask for: the configured `base_url` (else
/// the vendor's documented host for the environment) and `page_size`, both checked.
/// Errors name the config key, relative to `[providers.<vendor>]`.
pub fn resolve_endpoint(
    base_urls: &BaseUrls,
    paging: &PagingFacts,
    base_url: Option<&str>,
    environment: Environment,
    page_size: Option<usize>,
) -> Result<(url::Url, usize), (String, String)> {
    let base = parse_base_url(base_url.unwrap_or_else(|| base_urls.pick(environment)))
        .map_err(|e| ("base_url".to_owned(), e))?;
    let page_size = resolve_page_size(paging, page_size).map_err(|e| ("page_size".to_owned(), e))?;
    Ok((base, page_size))
}

/// Parses a base URL so that path segments can be appended to it.
pub fn parse_base_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` is not an http(s) base URL"));
    }
    Ok(url)
}

/// Appends percent-encoded path segments to a base URL: an id is always one segment.
/// Ids are shape-checked before they get here; a `.`/`..` segment (which URL handling
/// would resolve instead of encoding) is refused again here as a last line of defence.
pub fn join_segments(base: &url::Url, segments: &[&str]) -> url::Url {
    assert!(
        segments.iter().all(|s| !s.is_empty() && !s.bytes().all(|b| b == b'.')),
        "path segments are checked ids, never empty or dots"
    );
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().expect("base URLs are checked at start-up");
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// A typed vendor item next to its raw JSON (kept only with `include=raw`).
pub type WithRaw<T> = (T, Option<Box<RawValue>>);

/// Parses each raw item of a vendor list; a bad item names its index.
/// With `keep_raw`, the vendor's own JSON is returned next to the typed item.
pub fn parse_items<T: serde::de::DeserializeOwned>(
    provider: ProviderKind,
    field: &str,
    raws: Vec<Box<RawValue>>,
    keep_raw: bool,
) -> Result<Vec<WithRaw<T>>, UpstreamError> {
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let item = parse_json_slice::<T>(provider, raw.get().as_bytes()).map_err(|e| match e {
                UpstreamError::InvalidResponse { provider, detail } => UpstreamError::InvalidResponse {
                    provider,
                    detail: format!("{field}[{i}]: {detail}"),
                },
                other => other,
            })?;
            Ok((item, keep_raw.then_some(raw)))
        })
        .collect()
}

/// A vendor timestamp normalized to UTC; a bad one is an invalid response naming the field.
pub fn vendor_timestamp(provider: ProviderKind, field: &str, text: &str) -> Result<Timestamp, UpstreamError> {
    parse_vendor_timestamp(text).map_err(|e| UpstreamError::invalid(provider, format!("{field}: {e}")))
}

/// A request for one page of grants.
#[derive(Debug, Clone)]
pub struct GrantListRequest<'a> {
    /// `None` lists the whole vendor account (needs `account_wide_grants`).
    pub customer_id: Option<&'a str>,
    pub status: Option<GrantStatus>,
    pub include_raw: bool,
    pub position: Position,
    pub limit: usize,
}

impl GrantListRequest<'_> {
    /// Whether a grant passes the `status` filter (applied by the assembler, since no
    /// vendor filters grants by creditgate's normalized status).
    pub fn keeps(&self, grant: &CreditGrant) -> bool {
        self.status.is_none_or(|s| grant.status == s)
    }
}

/// A request for one page of ledger entries.
#[derive(Debug, Clone)]
pub struct LedgerListRequest<'a> {
    pub customer_id: &'a str,
    pub grant_id: Option<&'a str>,
    pub include_raw: bool,
    pub position: Position,
    pub limit: usize,
}

/// A configured provider.
#[derive(Debug)]
pub enum Adapter {
    Stripe(StripeAdapter),
    Metronome(MetronomeAdapter),
    Togai(TogaiAdapter),
    Sequence(SequenceAdapter),
    Vayu(VayuAdapter),
}

impl Adapter {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Adapter::Stripe(_) => ProviderKind::Stripe,
            Adapter::Metronome(_) => ProviderKind::Metronome,
            Adapter::Togai(_) => ProviderKind::Togai,
            Adapter::Sequence(_) => ProviderKind::Sequence,
            Adapter::Vayu(_) => ProviderKind::Vayu,
        }
    }

    /// The adapter's outbound lane: its pace, breaker and bulkhead.
    pub fn lane(&self) -> &VendorLane {
        match self {
            Adapter::Stripe(a) => a.client.lane(),
            Adapter::Metronome(a) => a.client.lane(),
            Adapter::Togai(a) => a.client.lane(),
            Adapter::Sequence(a) => a.client.lane(),
            Adapter::Vayu(a) => a.client.lane(),
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        match self {
            Adapter::Stripe(a) => a.capabilities(),
            Adapter::Metronome(a) => a.capabilities(),
            Adapter::Togai(a) => a.capabilities(),
            Adapter::Sequence(a) => a.capabilities(),
            Adapter::Vayu(a) => a.capabilities(),
        }
    }

    fn shared_facts(&self) -> (&PagingFacts, &IdFacts) {
        match self {
            Adapter::Stripe(a) => a.shared_facts(),
            Adapter::Metronome(a) => a.shared_facts(),
            Adapter::Togai(a) => a.shared_facts(),
            Adapter::Sequence(a) => a.shared_facts(),
            Adapter::Vayu(a) => a.shared_facts(),
        }
    }

    /// How the vendor pages, for `/v1/providers`.
    pub fn paging_style(&self) -> &str {
        &self.shared_facts().0.style
    }

    /// A 501 unless the provider has `capability`.
    pub fn require(&self, capability: Capability) -> Result<(), ApiError> {
        if self.capabilities().has(capability) {
            Ok(())
        } else {
            Err(ApiError::Unsupported {
                provider: self.kind(),
                capability,
            })
        }
    }

    pub fn check_customer_id(&self, id: &str) -> Result<(), String> {
        self.shared_facts().1.customer.check(id)
    }

    pub fn check_grant_id(&self, id: &str) -> Result<(), String> {
        match &self.shared_facts().1.grant {
            Some(shape) => shape.check(id),
            None => Err(format!("{} has no credit grants", self.kind())),
        }
    }

    pub async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        match self {
            Adapter::Stripe(a) => a.list_grants(request).await,
            Adapter::Metronome(a) => a.list_grants(request).await,
            Adapter::Togai(a) => a.list_grants(request).await,
            Adapter::Sequence(a) => a.list_grants(request).await,
            Adapter::Vayu(_) => Err(self.require(Capability::CreditGrants).unwrap_err()),
        }
    }

    pub async fn get_grant(&self, id: &str, include_ledger: bool, include_raw: bool) -> Result<CreditGrant, ApiError> {
        match self {
            Adapter::Stripe(a) => a.get_grant(id, include_ledger, include_raw).await,
            Adapter::Togai(a) => a.get_grant(id, include_ledger, include_raw).await,
            Adapter::Sequence(a) => a.get_grant(id, include_ledger, include_raw).await,
            Adapter::Metronome(_) | Adapter::Vayu(_) => Err(self.require(Capability::GrantLookup).unwrap_err()),
        }
    }

    pub async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        match self {
            Adapter::Stripe(a) => a.list_ledger(request).await,
            Adapter::Metronome(a) => a.list_ledger(request).await,
            Adapter::Togai(a) => a.list_ledger(request).await,
            Adapter::Sequence(a) => a.list_ledger(request).await,
            Adapter::Vayu(a) => a.list_ledger(request).await,
        }
    }

    pub async fn balances(&self, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        match self {
            Adapter::Stripe(a) => a.balances(customer_id).await,
            Adapter::Metronome(a) => a.balances(customer_id).await,
            Adapter::Togai(a) => a.balances(customer_id).await,
            Adapter::Sequence(a) => a.balances(customer_id).await,
            Adapter::Vayu(a) => a.balances(customer_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        let cus = IdShape {
            prefix: "cus_".into(),
            charset: IdCharset::Alphanumeric,
            length: None,
            max_length: 255,
            describe: "a Stripe customer id".into(),
        };
        assert!(cus.check("cus_123abc").is_ok());
        assert!(cus.check("cus_").is_err());
        assert!(cus.check("cus_../../v1/charges").is_err());
        assert!(cus
            .check("65f0c0ffee0123456789abcd")
            .unwrap_err()
            .contains("Stripe customer id"));
        let hex = IdShape {
            prefix: String::new(),
            charset: IdCharset::Hex,
            length: Some(24),
            max_length: 24,
            describe: "a Vayu customer id".into(),
        };
        assert!(hex.check("65f0c0ffee0123456789abcd").is_ok());
        assert!(hex.check("65f0c0ffee0123456789abc").is_err());
        assert!(hex.check("65f0c0ffee0123456789abcz").is_err());
        let uuid = IdShape {
            prefix: String::new(),
            charset: IdCharset::Uuid,
            length: None,
            max_length: 36,
            describe: "a Metronome customer id".into(),
        };
        assert!(uuid.check("13117714-3f05-48e5-a6e9-a66093f13b4d").is_ok());
        assert!(uuid.check("13117714-3f05-48e5-a6e9-a66093f13b4").is_err());
        assert!(uuid.check("13117714_3f05_48e5_a6e9_a66093f13b4d").is_err());
        let token = IdShape {
            charset: IdCharset::Token,
            describe: "a Togai credit id".into(),
            ..uuid
        };
        assert!(token.check("cred.1znqBOVcai0.0tBFz").is_ok());
        assert!(token.check("cred/../x").is_err());
        assert!(token.check("..").is_err(), "URL handling would resolve `..` away");
        assert!(token.check(".").is_err());
    }

    #[test]
    #[should_panic(expected = "never empty or dots")]
    fn dot_segments_never_reach_a_url() {
        join_segments(&parse_base_url("http://127.0.0.1:9/").unwrap(), &["credits", ".."]);
    }

    #[test]
    fn segments_are_percent_encoded() {
        let base = parse_base_url("http://127.0.0.1:9/api/").unwrap();
        let url = join_segments(&base, &["v1", "x/../y?z"]);
        assert_eq!(url.as_str(), "http://127.0.0.1:9/api/v1/x%2F..%2Fy%3Fz");
    }

    #[test]
    fn capability_flags_answer_by_name() {
        let caps = Capabilities {
            credit_ledger: true,
            ..Capabilities::default()
        };
        assert!(caps.has(Capability::CreditLedger));
        assert!(!caps.has(Capability::CreditGrants));
    }
}
