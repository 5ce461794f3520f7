//! Vayu: a credit ledger per customer (`Grant`/`Deduct` entries with a running
//! `balanceAfterEntry`), no grants, no currency (the spec named in `providers/vayu.toml`).
//!
//! Auth is a refresh token exchanged at `POST /login` for an access token that lasts an
//! hour; it is cached until shortly before expiry and refreshed once on a 401, with
//! concurrent requests sharing one refresh.

use async_trait::async_trait;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

use super::base::{provider_config, vendor_item_id, vendor_timestamp, Dialect, VendorBase};
use super::{map_items, read_page, ConfigProblem, LedgerListRequest};
use crate::providers::provider::{CreditsProvider, ListLedger, ReadBalances, AdjustLedger};
use crate::error::{ApiError, UpstreamError};
use crate::model::money::de_exact_decimal;
use crate::model::{
    qualified_id, CreditBalance, ExternalRef, LedgerEntry, LedgerEntryType, Money, ProviderKind, Timestamp, UnitType,
    BALANCE_OBJECT, LEDGER_ENTRY_OBJECT,
};
use crate::paging::{AssembledPage, HasMore, PageAssembler, VendorPage, VendorPager};
use crate::secret::Secret;
use crate::upstream::{CallScope, UpstreamRequest, UpstreamResponse};
use crate::vendor_enum;

mod webhooks;
mod writes;

const PROVIDER: ProviderKind = ProviderKind::Vayu;

/// Where Vayu's next-page cursor comes from.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VayuNextCursor {
    /// The last entry's id (the spec's response has no cursor).
    LastEntryId,
    /// `nextCursor`/`hasMore` in the response.
    Response,
}

provider_config! {
    /// `[providers.vayu]`; its secret is the refresh token `POST /login` takes.
    pub struct VayuConfig {
        /// Unit of Vayu credits (default `credits`); a 3-letter code is taken as a currency.
        pub unit: Option<String>,
        pub unit_type: Option<UnitType>,
        pub next_cursor: Option<VayuNextCursor>,
        /// Vayu's webhook public key (PEM), by reference: with it,
        /// `POST /v1/vendor_webhooks/vayu` takes Vayu's signed deliveries.
        pub webhook_public_key: Option<crate::secret::SecretRef>,
        /// The names of the headers Vayu signs with, where they differ from the defaults.
        pub webhook_headers: Option<webhooks::VayuWebhookHeaders>,
    }
}

/// Vayu's own tables in `providers/vayu.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VayuFacts {
    pub auth: VayuAuthFacts,
    pub ledger: VayuLedgerFacts,
    pub enums: VayuEnums,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VayuAuthFacts {
    pub access_token_lifetime_secs: u64,
    pub refresh_margin_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VayuLedgerFacts {
    pub next_cursor: VayuNextCursor,
    pub default_unit: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VayuEnums {
    pub entry_type: HashMap<String, LedgerEntryType>,
}

// ---- Vayu's wire shapes ----

vendor_enum! {
    /// `CreditLedgerEntry.type` (the spec names the schema `BillingCycleStatus`).
    pub enum VayuEntryType { Grant = "Grant", Deduct = "Deduct" }
}

#[derive(Debug, Deserialize)]
struct LoginResponse {
    #[serde(rename = "accessToken")]
    access_token: String,
}

#[derive(Debug, Deserialize)]
struct LedgerPage<E> {
    /// Typed in one pass, or each entry's raw JSON first where `include=raw` keeps it.
    entries: Vec<E>,
    /// Not in the spec's credits response; read if Vayu ever sends it (its /customers does).
    #[serde(rename = "hasMore")]
    has_more: Option<bool>,
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VayuEntry {
    id: String,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "type")]
    kind: VayuEntryType,
    #[serde(deserialize_with = "de_exact_decimal")]
    amount: Decimal,
    #[serde(rename = "balanceAfterEntry", deserialize_with = "de_exact_decimal")]
    balance_after_entry: Decimal,
    #[serde(rename = "invoiceId")]
    invoice_id: Option<String>,
    #[serde(rename = "erpId")]
    erp_id: Option<String>,
    #[serde(rename = "contractId")]
    contract_id: Option<String>,
    #[serde(rename = "integrationEntities", default)]
    integration_entities: Vec<VayuIntegrationEntity>,
}

#[derive(Debug, Deserialize)]
struct VayuIntegrationEntity {
    #[serde(rename = "integrationProvider")]
    integration_provider: String,
    #[serde(rename = "integrationExternalId")]
    integration_external_id: String,
}

/// A cached access token and the generation it belongs to (so a 401 on an old token
/// does not throw away a newer one another request already fetched).
#[derive(Debug, Clone)]
struct AccessToken {
    value: Secret,
    refresh_at: Instant,
    generation: u64,
}

/// Talks to one Vayu account.
#[derive(Debug)]
pub struct Adapter {
    /// Its secret is the refresh token `POST /login` takes.
    pub(super) base: VendorBase,
    next_cursor: VayuNextCursor,
    unit: String,
    unit_type: UnitType,
    facts: VayuFacts,
    /// Held across a login, so concurrent requests wait for one refresh instead of each
    /// logging in.
    token: Mutex<Option<AccessToken>>,
    webhooks: Option<webhooks::VayuWebhooks>,
}

impl Dialect for Adapter {
    const KIND: ProviderKind = PROVIDER;
    const PROVIDER_FILE: &'static str = include_str!("../../../providers/vayu.toml");
    type Config = VayuConfig;
    type Facts = VayuFacts;

    fn assemble(base: VendorBase, facts: VayuFacts, config: &VayuConfig) -> Result<Self, ConfigProblem> {
        let unit = config.unit.clone().unwrap_or_else(|| facts.ledger.default_unit.clone());
        if unit.trim().is_empty() {
            return Err(("unit".to_owned(), "unit cannot be empty".to_owned()));
        }
        let unit_type = config.unit_type.unwrap_or(UnitType::for_unit(&unit));
        let unit = match unit_type {
            UnitType::Currency => unit.to_ascii_uppercase(),
            UnitType::Custom => unit,
        };
        Ok(Adapter {
            base,
            next_cursor: config.next_cursor.unwrap_or(facts.ledger.next_cursor),
            unit,
            unit_type,
            facts,
            token: Mutex::new(None),
            webhooks: webhooks::VayuWebhooks::from_config(
                config.webhook_public_key.as_ref(),
                config.webhook_headers.as_ref(),
            )?,
        })
    }
}

impl Adapter {
    fn money(&self, value: Decimal) -> Money {
        Money {
            value,
            unit: self.unit.clone(),
            unit_type: self.unit_type,
        }
    }

    /// The cached access token, logging in first if there is none or it is about to expire.
    async fn access_token(&self, scope: CallScope<'_>) -> Result<AccessToken, ApiError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref().filter(|t| t.refresh_at > Instant::now()) {
            return Ok(token.clone());
        }
        let generation = slot.as_ref().map_or(1, |t| t.generation + 1);
        let fresh = self.login(scope, generation).await?;
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the token a 401 was answered with, unless another request already replaced it.
    async fn invalidate(&self, generation: u64) {
        let mut slot = self.token.lock().await;
        if let Some(current) = slot.as_mut().filter(|t| t.generation == generation) {
            current.refresh_at = Instant::now();
        }
    }

    async fn login(&self, scope: CallScope<'_>, generation: u64) -> Result<AccessToken, ApiError> {
        let url = self.base.url(&["login"])?;
        let body = serde_json::json!({ "refreshToken": self.base.secret.expose() });
        let response = self
            .base
            .client
            .send(scope, UpstreamRequest::post_json(PROVIDER, url, &body))
            .await?;
        let response = match response.status.as_u16() {
            400 | 401 | 403 => {
                return Err(UpstreamError::AuthFailed {
                    provider: PROVIDER,
                    status: response.status.as_u16(),
                }
                .into())
            }
            _ => response.error_for_status()?,
        };
        let login: LoginResponse = response.json()?;
        if login.access_token.is_empty() {
            return Err(UpstreamError::invalid(PROVIDER, "login returned an empty accessToken").into());
        }
        let lifetime = token_lifetime(&login.access_token, self.facts.auth.access_token_lifetime_secs);
        let margin = Duration::from_secs(self.facts.auth.refresh_margin_secs);
        Ok(AccessToken {
            value: Secret::new(login.access_token),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
            generation,
        })
    }

    /// An authenticated GET; on 401 the token is refreshed once and the call repeated.
    async fn authed_get(&self, scope: CallScope<'_>, url: Url) -> Result<UpstreamResponse, ApiError> {
        let token = self.access_token(scope).await?;
        let response = self.send_with(scope, &url, &token).await?;
        if response.status.as_u16() != 401 {
            return Ok(response.error_for_status()?);
        }
        self.invalidate(token.generation).await;
        let token = self.access_token(scope).await?;
        Ok(self.send_with(scope, &url, &token).await?.error_for_status()?)
    }

    async fn send_with(
        &self,
        scope: CallScope<'_>,
        url: &Url,
        token: &AccessToken,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let request = UpstreamRequest::get(PROVIDER, url.clone())
            .sensitive_header("authorization", &format!("Bearer {}", token.value.expose()));
        self.base.client.send(scope, request).await
    }

    fn map_entry(
        &self,
        e: VayuEntry,
        customer_id: &str,
        raw: Option<Box<RawValue>>,
    ) -> Result<LedgerEntry, UpstreamError> {
        let created_at = vendor_timestamp(PROVIDER, &format!("entry {} createdAt", e.id), &e.created_at)?;
        let entry_type = self
            .facts
            .enums
            .entry_type
            .get(e.kind.as_str())
            .copied()
            .unwrap_or(LedgerEntryType::Unknown);
        // The spec does not say whether a Deduct's amount is negative; the sign comes from
        // the type, so either way a deduction lowers the balance.
        let amount = entry_type.signed(e.amount);
        let mut external_refs: Vec<ExternalRef> = e
            .integration_entities
            .into_iter()
            .map(|i| ExternalRef {
                system: i.integration_provider,
                id: i.integration_external_id,
            })
            .collect();
        if let Some(erp) = e.erp_id {
            external_refs.push(ExternalRef {
                system: "erp".into(),
                id: erp,
            });
        }
        Ok(LedgerEntry {
            object: LEDGER_ENTRY_OBJECT,
            id: vendor_item_id(PROVIDER, "id", &e.id)?,
            provider: PROVIDER,
            customer: Some(qualified_id(PROVIDER, customer_id)),
            grant: None,
            entry_type,
            provider_type: e.kind.as_str().to_owned(),
            amount: self.money(amount),
            balance_after: Some(self.money(e.balance_after_entry)),
            effective_at: Some(created_at),
            created_at: Some(created_at),
            invoice_id: e.invoice_id,
            contract_id: e.contract_id,
            external_refs,
            raw,
            provider_id: e.id,
        })
    }

}

/// `GET /credits?customerId=&limit=&cursor=`.
struct VayuLedgerPager<'a> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    customer_id: &'a str,
    include_raw: bool,
}

impl VendorPager for VayuLedgerPager<'_> {
    type Item = LedgerEntry;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<LedgerEntry>, ApiError> {
        let adapter = self.adapter;
        let mut url = adapter.base.url(&["credits"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("customerId", self.customer_id);
            query.append_pair("limit", &adapter.base.page_size.to_string());
            if let Some(cursor) = token {
                query.append_pair("cursor", cursor);
            }
        }
        let response = adapter.authed_get(self.scope, url).await?;
        let (entries, (has_more, next_cursor)) = read_page(
            &response,
            "entries",
            self.include_raw,
            |p: LedgerPage<Box<RawValue>>| (p.entries, (p.has_more, p.next_cursor)),
            |p: LedgerPage<VayuEntry>| (p.entries, (p.has_more, p.next_cursor)),
        )?;
        let page = LedgerPage {
            entries,
            has_more,
            next_cursor,
        };
        let full = page.entries.len() >= adapter.base.page_size;
        let items = map_items("entries", page.entries, |e, raw| {
            adapter.map_entry(e, self.customer_id, raw)
        })?;
        let (has_more, next_token) = match adapter.next_cursor {
            VayuNextCursor::Response => (
                if page.has_more.unwrap_or(false) {
                    HasMore::Yes
                } else {
                    HasMore::No
                },
                page.next_cursor,
            ),
            VayuNextCursor::LastEntryId => {
                let has_more = match page.has_more {
                    Some(true) => HasMore::Yes,
                    Some(false) => HasMore::No,
                    None if full => HasMore::Maybe,
                    None => HasMore::No,
                };
                (has_more, items.last().map(|e| e.provider_id.clone()))
            }
        };
        Ok(VendorPage {
            items,
            has_more,
            next_token,
            prev_token: None,
        })
    }

    fn item_key(&self, item: &LedgerEntry) -> Option<String> {
        match self.adapter.next_cursor {
            VayuNextCursor::LastEntryId => Some(item.provider_id.clone()),
            VayuNextCursor::Response => None,
        }
    }
}

/// How long an access token lasts: the JWT's `exp` when it has one, else the documented hour.
fn token_lifetime(token: &str, default_secs: u64) -> Duration {
    let default = Duration::from_secs(default_secs);
    let exp = token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|claims| claims.get("exp").and_then(|e| e.as_u64()));
    let Some(exp) = exp else { return default };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Duration::from_secs(exp.saturating_sub(now)).min(default)
}

/// A ledger and a balance per customer; Vayu has no grants. Writes: `POST /credits/grant`
/// and `/credits/deduct` (empty answers, no idempotency): ledger adjustments only.
impl CreditsProvider for Adapter {
    fn base(&self) -> &VendorBase {
        &self.base
    }
    fn credit_ledger(&self) -> Option<&dyn ListLedger> {
        Some(self)
    }
    fn credit_balances(&self) -> Option<&dyn ReadBalances> {
        Some(self)
    }
    fn ledger_adjustments(&self) -> Option<&dyn AdjustLedger> {
        Some(self)
    }
    fn webhooks(&self) -> Option<&dyn crate::providers::webhooks::ReceiveWebhooks> {
        self.webhooks.is_some().then_some(self as _)
    }
    /// An earlier write is found again only by an entry of its type and amount.
    fn finds_writes_by_content(&self) -> bool {
        true
    }
}

#[async_trait]
impl ListLedger for Adapter {
    async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        let pager = VayuLedgerPager {
            adapter: self,
            scope: request.scope,
            customer_id: request.customer_id,
            include_raw: request.include_raw,
        };
        request.page_from(&pager, PROVIDER).await
    }
}

#[async_trait]
impl ReadBalances for Adapter {
    /// The balance after the newest entry (latest `createdAt`; the spec does not state the
    /// list order, so the whole ledger is read). No entries: a zero balance.
    async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        let pager = VayuLedgerPager {
            adapter: self,
            scope,
            customer_id,
            include_raw: false,
        };
        let mut newest: Option<(Timestamp, Money)> = None;
        PageAssembler::new(&pager, PROVIDER)
            .walk(|entry| {
                let (Some(at), Some(balance)) = (entry.created_at, entry.balance_after) else {
                    return;
                };
                if newest.as_ref().is_none_or(|(t, _)| at >= *t) {
                    newest = Some((at, balance));
                }
            })
            .await?;
        let available = newest.map(|(_, m)| m).unwrap_or_else(|| self.money(Decimal::ZERO));
        Ok(vec![CreditBalance {
            object: BALANCE_OBJECT,
            provider: PROVIDER,
            customer: qualified_id(PROVIDER, customer_id),
            unit: self.unit.clone(),
            unit_type: self.unit_type,
            available,
            pending: None,
            as_of: OffsetDateTime::now_utc(),
        }])
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_facts_parse_and_cover_every_spec_enum_value() {
        let file = Adapter::provider_file().unwrap();
        let facts = &file.dialect;
        for kind in VayuEntryType::KNOWN {
            assert!(facts.enums.entry_type.contains_key(*kind), "{kind}");
        }
        assert_eq!(file.common.paging.max_page_size, 1000);
    }

    #[test]
    fn token_lifetime_reads_jwt_exp() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let jwt = format!(
            "{}.{}.sig",
            engine.encode("{}"),
            engine.encode(format!("{{\"exp\":{}}}", now + 600))
        );
        let lifetime = token_lifetime(&jwt, 3600);
        assert!(
            lifetime <= Duration::from_secs(600) && lifetime >= Duration::from_secs(590),
            "{lifetime:?}"
        );
        assert_eq!(token_lifetime("opaque-token", 3600), Duration::from_secs(3600));
        let expired = format!("a.{}.b", engine.encode(format!("{{\"exp\":{}}}", now - 10)));
        assert_eq!(token_lifetime(&expired, 3600), Duration::ZERO);
    }
}
