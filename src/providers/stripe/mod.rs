//! Stripe Billing credits: credit grants, credit balance transactions and the credit
//! balance summary (the spec named in `providers/stripe.toml`).
//!
//! Stripe pages by object id (`starting_after` / `ending_before`), so cursors are item
//! keys and lists page backwards too. Amounts are integer minor units.

use async_trait::async_trait;

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::base::{provider_config, vendor_item_id, Dialect, RateFacts, VendorBase};
use super::{map_items, read_page, ConfigProblem, GrantIncludes, GrantListRequest, LedgerListRequest};
use crate::providers::provider::{CreditsProvider, ListGrants, LookUpGrant, ListLedger, ReadBalances, CreateGrants, EndGrants};
use crate::error::{ApiError, ErrorCode, UpstreamError};
use crate::model::money::de_exact_decimal;
use crate::model::{
    from_unix, qualified_id, quoted, CreditBalance, CreditGrant, GrantCategory, GrantFacts, GrantStatus, LedgerEntry,
    LedgerEntryType, Money, ProviderKind, BALANCE_OBJECT, GRANT_OBJECT, LEDGER_ENTRY_OBJECT,
};
use crate::paging::{AssembledPage, BackwardPage, HasMore, PageAssembler, VendorPage, VendorPager};
use crate::secret::Secret;
use crate::upstream::lane::OutboundRate;
use crate::upstream::{CallScope, UpstreamResponse};
use crate::vendor_enum;

mod webhooks;
mod writes;

const PROVIDER: ProviderKind = ProviderKind::Stripe;

provider_config! {
    /// `[providers.stripe]`.
    pub struct StripeConfig {
        /// Overrides the pinned `Stripe-Version`.
        pub api_version: Option<String>,
        /// The webhook endpoint's signing secret (`whsec_…`), by reference: with it,
        /// `POST /v1/vendor_webhooks/stripe` takes Stripe's signed deliveries.
        pub webhook_secret: Option<crate::secret::SecretRef>,
    }
}

/// Stripe's own tables in `providers/stripe.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeFacts {
    pub api: StripeApiFacts,
    pub currencies: StripeCurrencies,
    pub enums: StripeEnums,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeApiFacts {
    pub version: String,
    pub balance_scope_price_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeCurrencies {
    pub zero_decimal: Vec<String>,
    pub three_decimal: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeEnums {
    pub transaction_type: HashMap<String, LedgerEntryType>,
    pub category: HashMap<String, GrantCategory>,
}

impl StripeFacts {
    /// Decimal places of a currency's minor unit in Stripe's API.
    pub fn exponent(&self, currency: &str) -> u32 {
        let lower = currency.to_ascii_lowercase();
        if self.currencies.zero_decimal.contains(&lower) {
            0
        } else if self.currencies.three_decimal.contains(&lower) {
            3
        } else {
            2
        }
    }
}

// ---- Stripe's wire shapes (unknown fields ignored) ----

vendor_enum! {
    /// `billing.credit_grant.category`.
    pub enum StripeCategory { Paid = "paid", Promotional = "promotional" }
}

vendor_enum! {
    /// `billing_credit_grants_resource_amount.type`.
    pub enum StripeAmountType { Monetary = "monetary" }
}

vendor_enum! {
    /// `billing.credit_balance_transaction.type`.
    pub enum StripeTransactionType { Credit = "credit", Debit = "debit" }
}

vendor_enum! {
    /// `billing_credit_grants_resource_balance_credit.type`.
    pub enum StripeCreditType {
        CreditsApplicationInvoiceVoided = "credits_application_invoice_voided",
        CreditsGranted = "credits_granted",
    }
}

vendor_enum! {
    /// `billing_credit_grants_resource_balance_debit.type`.
    pub enum StripeDebitType {
        CreditsApplied = "credits_applied",
        CreditsExpired = "credits_expired",
        CreditsVoided = "credits_voided",
    }
}

/// A list answer; its items typed in the same pass, or raw (see [`read_page`]).
#[derive(Debug, Deserialize)]
struct StripeList<E> {
    data: Vec<E>,
    has_more: bool,
}

#[derive(Debug, Deserialize)]
struct StripeAmount {
    #[serde(rename = "type")]
    kind: StripeAmountType,
    monetary: Option<StripeMonetary>,
}

#[derive(Debug, Deserialize)]
struct StripeMonetary {
    currency: String,
    #[serde(deserialize_with = "de_exact_decimal")]
    value: Decimal,
}

#[derive(Debug, Deserialize)]
struct StripeGrant {
    id: String,
    amount: StripeAmount,
    category: StripeCategory,
    created: i64,
    #[serde(deserialize_with = "de_expandable_id")]
    customer: String,
    effective_at: Option<i64>,
    expires_at: Option<i64>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
    name: Option<String>,
    priority: Option<i64>,
    voided_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct StripeTransaction {
    id: String,
    created: i64,
    credit: Option<StripeCredit>,
    #[serde(deserialize_with = "de_expandable_id_opt", default)]
    credit_grant: Option<String>,
    debit: Option<StripeDebit>,
    effective_at: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<StripeTransactionType>,
}

#[derive(Debug, Deserialize)]
struct StripeCredit {
    amount: StripeAmount,
    #[serde(rename = "type")]
    kind: StripeCreditType,
    credits_application_invoice_voided: Option<StripeInvoiceRef>,
}

#[derive(Debug, Deserialize)]
struct StripeDebit {
    amount: StripeAmount,
    #[serde(rename = "type")]
    kind: StripeDebitType,
    credits_applied: Option<StripeInvoiceRef>,
}

#[derive(Debug, Deserialize)]
struct StripeInvoiceRef {
    #[serde(deserialize_with = "de_expandable_id")]
    invoice: String,
}

#[derive(Debug, Deserialize)]
struct StripeBalanceSummary {
    balances: Vec<StripeCreditBalance>,
}

#[derive(Debug, Deserialize)]
struct StripeCreditBalance {
    available_balance: StripeAmount,
}

/// Stripe's expandable fields: an id string, or the object (with its `id`) when expanded.
fn expandable_id(value: serde_json::Value) -> Result<Option<String>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(id) => Ok(Some(id)),
        serde_json::Value::Object(map) => match map.get("id") {
            Some(serde_json::Value::String(id)) => Ok(Some(id.clone())),
            _ => Err("expanded object has no string `id`".into()),
        },
        other => Err(format!("expected an id or an object, got {other}")),
    }
}

fn de_expandable_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    expandable_id(serde_json::Value::deserialize(d)?)
        .and_then(|id| id.ok_or_else(|| "expected an id, got null".to_owned()))
        .map_err(serde::de::Error::custom)
}

fn de_expandable_id_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    expandable_id(serde_json::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

// ---- the adapter ----

/// Test-mode keys get Stripe's lower test-mode rate limit.
fn is_test_mode_key(key: &str) -> bool {
    key.starts_with("sk_test_") || key.starts_with("rk_test_")
}

/// Stripe's secret and restricted keys (`sk_`, `rk_`) read credits; a publishable key
/// (`pk_`) or anything else is refused before the first request would be.
fn check_secret_key(key: &str) -> Result<(), ConfigProblem> {
    if ["sk_live_", "sk_test_", "rk_live_", "rk_test_"].iter().any(|p| key.starts_with(p)) {
        return Ok(());
    }
    let what = if key.starts_with("pk_") {
        "a publishable key (pk_…), which cannot read credits"
    } else {
        "not a Stripe secret key"
    };
    Err((
        "secret".to_owned(),
        format!("this is {what}: give a secret key (sk_live_…, sk_test_…) or a restricted key (rk_…)"),
    ))
}

/// Talks to one Stripe account.
#[derive(Debug)]
pub struct Adapter {
    pub(super) base: VendorBase,
    api_version: String,
    facts: StripeFacts,
    webhook_secret: Option<Secret>,
}

impl Dialect for Adapter {
    const KIND: ProviderKind = PROVIDER;
    const PROVIDER_FILE: &'static str = include_str!("../../../providers/stripe.toml");
    type Config = StripeConfig;
    type Facts = StripeFacts;

    fn documented_rate(rate: &RateFacts, secret: &Secret) -> OutboundRate {
        rate.rate(is_test_mode_key(secret.expose()))
    }

    fn assemble(base: VendorBase, facts: StripeFacts, config: &StripeConfig) -> Result<Self, ConfigProblem> {
        check_secret_key(base.secret.expose())?;
        Ok(Adapter {
            base,
            api_version: config.api_version.clone().unwrap_or_else(|| facts.api.version.clone()),
            facts,
            webhook_secret: crate::providers::webhooks::resolve_webhook_secret(config.webhook_secret.as_ref())?,
        })
    }
}

impl Adapter {
    async fn get(
        &self,
        scope: CallScope<'_>,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut url = self.base.url(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let version = [("stripe-version", self.api_version.as_str())];
        self.base.bearer_get(scope, url, &version).await
    }

    /// One page of a Stripe list endpoint. `extra` are the endpoint's filters.
    async fn list_page(
        &self,
        scope: CallScope<'_>,
        resource: &str,
        extra: &[(&str, &str)],
        cursor: Option<(&str, &str)>,
    ) -> Result<UpstreamResponse, ApiError> {
        let limit = self.base.page_size.to_string();
        let mut query: Vec<(&str, &str)> = extra.to_vec();
        query.push(("limit", &limit));
        if let Some(pair) = cursor {
            query.push(pair);
        }
        self.get(scope, &["v1", "billing", resource], &query)
            .await
            .map_err(|e| self.customer_not_found(e))
    }

    /// Stripe answers an unknown customer with 400 `resource_missing` on `customer`.
    fn customer_not_found(&self, error: UpstreamError) -> ApiError {
        match &error {
            UpstreamError::Rejected {
                vendor_code: Some(code),
                param: Some(param),
                message,
                ..
            } if code == "resource_missing" && param == "customer" => ApiError::NotFound {
                code: ErrorCode::CustomerNotFound,
                message: format!("stripe: {message}"),
                provider: Some(PROVIDER),
            },
            _ => error.into(),
        }
    }

    fn money(&self, amount: &StripeAmount) -> Result<Money, UpstreamError> {
        match (&amount.kind, &amount.monetary) {
            (StripeAmountType::Monetary, Some(m)) => {
                Money::from_minor_units(m.value, &m.currency, self.facts.exponent(&m.currency))
                    .map_err(|e| UpstreamError::invalid(PROVIDER, e.to_string()))
            }
            (StripeAmountType::Monetary, None) => {
                Err(UpstreamError::invalid(PROVIDER, "monetary amount without `monetary`"))
            }
            (StripeAmountType::Unknown(kind), _) => Err(UpstreamError::invalid(
                PROVIDER,
                format!("amount type `{kind}` is not one creditgate can express as money"),
            )),
        }
    }

    fn map_grant(
        &self,
        g: StripeGrant,
        raw: Option<Box<RawValue>>,
        now: OffsetDateTime,
    ) -> Result<CreditGrant, UpstreamError> {
        let effective_at = g.effective_at.and_then(from_unix);
        let expires_at = g.expires_at.and_then(from_unix);
        // Stripe's grant object carries no remaining amount: a Stripe grant is never
        // `depleted`; its `balance` (by id) says what is left.
        let facts = GrantFacts {
            voided: g.voided_at.is_some(),
            effective_at,
            expires_at,
            ..GrantFacts::default()
        };
        let status = GrantStatus::of(&facts, now);
        Ok(CreditGrant {
            object: GRANT_OBJECT,
            id: vendor_item_id(PROVIDER, "id", &g.id)?,
            provider: PROVIDER,
            customer: Some(vendor_item_id(PROVIDER, "customer", &g.customer)?),
            name: g.name,
            category: self.facts.enums.category.get(g.category.as_str()).copied(),
            amount: self.money(&g.amount)?,
            balance: None,
            status,
            priority: g.priority.map(Decimal::from),
            effective_at,
            expires_at,
            created_at: from_unix(g.created),
            external_refs: Vec::new(),
            metadata: g.metadata,
            ledger: None,
            raw,
            provider_id: g.id,
        })
    }

    fn map_transaction(
        &self,
        t: StripeTransaction,
        customer_id: &str,
        raw: Option<Box<RawValue>>,
    ) -> Result<LedgerEntry, UpstreamError> {
        let (provider_type, amount, invoice_id) = match (&t.kind, &t.credit, &t.debit) {
            (Some(StripeTransactionType::Credit), Some(c), _) => (
                format!("credit.{}", c.kind.as_str()),
                self.money(&c.amount)?,
                c.credits_application_invoice_voided.as_ref().map(|i| i.invoice.clone()),
            ),
            (Some(StripeTransactionType::Debit), _, Some(d)) => (
                format!("debit.{}", d.kind.as_str()),
                self.money(&d.amount)?.negated(),
                d.credits_applied.as_ref().map(|i| i.invoice.clone()),
            ),
            (Some(StripeTransactionType::Credit), None, _) | (Some(StripeTransactionType::Debit), _, None) => {
                return Err(UpstreamError::invalid(
                    PROVIDER,
                    format!(
                        "transaction {}: of type `{kind}` without its `{kind}` object, so it has no amount creditgate can read",
                        quoted(&t.id),
                        kind = t.kind.as_ref().map(|k| k.as_str()).unwrap_or("")
                    ),
                ))
            }
            // A type Stripe adds later (or null): keep the net movement, typed `unknown`.
            (kind, credit, debit) => {
                let plus = credit.as_ref().map(|c| self.money(&c.amount)).transpose()?;
                let minus = debit.as_ref().map(|d| self.money(&d.amount)).transpose()?;
                let amount = match (plus, minus) {
                    (Some(p), Some(m)) if p.unit == m.unit => Money {
                        value: p.value - m.value,
                        ..p
                    },
                    (Some(p), None) => p,
                    (None, Some(m)) => m.negated(),
                    _ => {
                        return Err(UpstreamError::invalid(
                            PROVIDER,
                            format!("transaction {} has no amount creditgate can read", quoted(&t.id)),
                        ))
                    }
                };
                (
                    kind.as_ref().map(|k| k.as_str()).unwrap_or("null").to_owned(),
                    amount,
                    None,
                )
            }
        };
        let entry_type = self
            .facts
            .enums
            .transaction_type
            .get(&provider_type)
            .copied()
            .unwrap_or(LedgerEntryType::Unknown);
        Ok(LedgerEntry {
            object: LEDGER_ENTRY_OBJECT,
            id: vendor_item_id(PROVIDER, "id", &t.id)?,
            provider: PROVIDER,
            customer: Some(qualified_id(PROVIDER, customer_id)),
            grant: t
                .credit_grant
                .as_deref()
                .map(|g| vendor_item_id(PROVIDER, "credit_grant", g))
                .transpose()?,
            entry_type,
            provider_type,
            amount,
            balance_after: None,
            effective_at: t.effective_at.and_then(from_unix),
            created_at: from_unix(t.created),
            invoice_id,
            contract_id: None,
            external_refs: Vec::new(),
            raw,
            provider_id: t.id,
        })
    }

    fn ledger_pager<'a>(
        &'a self,
        scope: CallScope<'a>,
        customer_id: &str,
        grant_id: Option<&str>,
        include_raw: bool,
    ) -> StripeListPager<'a, ParseTransaction> {
        let mut filters = vec![("customer", customer_id.to_owned())];
        if let Some(grant) = grant_id {
            filters.push(("credit_grant", grant.to_owned()));
        }
        StripeListPager {
            adapter: self,
            scope,
            resource: "credit_balance_transactions",
            filters,
            parse: ParseTransaction {
                customer_id: customer_id.to_owned(),
            },
            include_raw,
        }
    }

}

/// Turns a Stripe list answer into normalized objects, and whether more follow.
trait ParseItem: Sync {
    type Item: Send;
    fn parse(
        &self,
        adapter: &Adapter,
        response: &UpstreamResponse,
        include_raw: bool,
    ) -> Result<(Vec<Self::Item>, bool), UpstreamError>;
    fn key(item: &Self::Item) -> &str;
}

struct ParseGrant {
    now: OffsetDateTime,
}

impl ParseItem for ParseGrant {
    type Item = CreditGrant;
    fn parse(
        &self,
        adapter: &Adapter,
        response: &UpstreamResponse,
        include_raw: bool,
    ) -> Result<(Vec<CreditGrant>, bool), UpstreamError> {
        let (items, has_more) = read_page(
            response,
            "data",
            include_raw,
            |p: StripeList<Box<RawValue>>| (p.data, p.has_more),
            |p: StripeList<StripeGrant>| (p.data, p.has_more),
        )?;
        let grants = map_items("data", items, |g, raw| adapter.map_grant(g, raw, self.now))?;
        Ok((grants, has_more))
    }
    fn key(item: &CreditGrant) -> &str {
        &item.provider_id
    }
}

struct ParseTransaction {
    customer_id: String,
}

impl ParseItem for ParseTransaction {
    type Item = LedgerEntry;
    fn parse(
        &self,
        adapter: &Adapter,
        response: &UpstreamResponse,
        include_raw: bool,
    ) -> Result<(Vec<LedgerEntry>, bool), UpstreamError> {
        let (items, has_more) = read_page(
            response,
            "data",
            include_raw,
            |p: StripeList<Box<RawValue>>| (p.data, p.has_more),
            |p: StripeList<StripeTransaction>| (p.data, p.has_more),
        )?;
        let entries = map_items("data", items, |t, raw| {
            adapter.map_transaction(t, &self.customer_id, raw)
        })?;
        Ok((entries, has_more))
    }
    fn key(item: &LedgerEntry) -> &str {
        &item.provider_id
    }
}

/// A Stripe list endpoint bound to its filters: `starting_after`/`ending_before` by id.
struct StripeListPager<'a, P: ParseItem> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    resource: &'static str,
    filters: Vec<(&'static str, String)>,
    parse: P,
    include_raw: bool,
}

impl<P: ParseItem> StripeListPager<'_, P> {
    async fn list_from(&self, cursor: Option<(&str, &str)>) -> Result<(Vec<P::Item>, bool), ApiError> {
        let filters: Vec<(&str, &str)> = self.filters.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = self
            .adapter
            .list_page(self.scope, self.resource, &filters, cursor)
            .await?;
        Ok(self.parse.parse(self.adapter, &response, self.include_raw)?)
    }
}

impl<P: ParseItem> VendorPager for StripeListPager<'_, P> {
    type Item = P::Item;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<P::Item>, ApiError> {
        let (items, has_more) = self.list_from(token.map(|t| ("starting_after", t))).await?;
        let next_token = items.last().map(|i| P::key(i).to_owned());
        Ok(VendorPage {
            items,
            has_more: if has_more { HasMore::Yes } else { HasMore::No },
            next_token,
            prev_token: None,
        })
    }

    fn item_key(&self, item: &P::Item) -> Option<String> {
        Some(P::key(item).to_owned())
    }

    fn pages_backward(&self) -> bool {
        true
    }

    async fn vendor_page_before(&self, before: &str) -> Result<BackwardPage<P::Item>, ApiError> {
        let (items, more_before) = self.list_from(Some(("ending_before", before))).await?;
        Ok(BackwardPage { items, more_before })
    }
}

/// Every read creditgate offers; lists page backwards (`ending_before`). Writes:
/// `POST /v1/billing/credit_grants` (form-encoded, `Idempotency-Key`), `/{id}/void` and
/// `/{id}/expire`. Stripe has no manual ledger entry.
impl CreditsProvider for Adapter {
    fn base(&self) -> &VendorBase {
        &self.base
    }
    fn credit_grants(&self) -> Option<&dyn ListGrants> {
        Some(self)
    }
    fn account_wide_grants(&self) -> Option<&dyn ListGrants> {
        Some(self)
    }
    fn grant_lookup(&self) -> Option<&dyn LookUpGrant> {
        Some(self)
    }
    fn credit_ledger(&self) -> Option<&dyn ListLedger> {
        Some(self)
    }
    fn ledger_by_grant(&self) -> Option<&dyn ListLedger> {
        Some(self)
    }
    fn credit_balances(&self) -> Option<&dyn ReadBalances> {
        Some(self)
    }
    fn backward_paging(&self) -> bool {
        true
    }
    fn create_grants(&self) -> Option<&dyn CreateGrants> {
        Some(self)
    }
    fn void_grants(&self) -> Option<&dyn EndGrants> {
        Some(self)
    }
    fn expire_grants(&self) -> Option<&dyn EndGrants> {
        Some(self)
    }
    fn webhooks(&self) -> Option<&dyn crate::providers::webhooks::ReceiveWebhooks> {
        self.webhook_secret.is_some().then_some(self as _)
    }
}

#[async_trait]
impl ListGrants for Adapter {
    async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        let pager = StripeListPager {
            adapter: self,
            scope: request.scope,
            resource: "credit_grants",
            filters: request
                .customer_id
                .map(|c| vec![("customer", c.to_owned())])
                .unwrap_or_default(),
            parse: ParseGrant {
                now: OffsetDateTime::now_utc(),
            },
            include_raw: request.include_raw,
        };
        request.page_from(&pager, PROVIDER).await
    }
}

#[async_trait]
impl LookUpGrant for Adapter {
    /// One grant, with its remaining balance (from the balance summary filtered to it)
    /// and, with `include_ledger`, all its transactions.
    async fn get_grant(
        &self,
        scope: CallScope<'_>,
        id: &str,
        include: GrantIncludes,
    ) -> Result<CreditGrant, ApiError> {
        let response = self
            .get(scope, &["v1", "billing", "credit_grants", id], &[])
            .await
            .map_err(|e| ApiError::grant_lookup(e, id))?;
        let raw: Box<RawValue> = response.json()?;
        let grant: StripeGrant = self.base.parse(raw.get().as_bytes())?;
        let customer_id = grant.customer.clone();
        let mut grant = self.map_grant(grant, include.raw.then_some(raw), OffsetDateTime::now_utc())?;
        // The grant named its customer: what follows is about them.
        let scope = scope.about(Some(&customer_id));

        let summary: StripeBalanceSummary = self
            .get(
                scope,
                &["v1", "billing", "credit_balance_summary"],
                &[
                    ("customer", &customer_id),
                    ("filter[type]", "credit_grant"),
                    ("filter[credit_grant]", id),
                ],
            )
            .await?
            .json()?;
        let balance = summary
            .balances
            .iter()
            .map(|b| self.money(&b.available_balance))
            .find(|m| m.as_ref().map_or(true, |m| m.unit == grant.amount.unit))
            .transpose()?
            .unwrap_or_else(|| grant.amount.zero_like());
        grant.balance = Some(balance);

        if include.ledger {
            let pager = self.ledger_pager(scope, &customer_id, Some(id), include.raw);
            let mut entries = Vec::new();
            PageAssembler::new(&pager, PROVIDER).walk(|e| entries.push(e)).await?;
            grant.ledger = Some(entries);
        }
        Ok(grant)
    }
}

#[async_trait]
impl ListLedger for Adapter {
    async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        // Stripe's transaction filter does not say whether the grant is the customer's:
        // the grant is looked up first (cached like any read), and one that is not theirs
        // is not found, whoever's it is.
        if let Some(grant_id) = request.grant_id {
            let response = self
                .get(request.scope, &["v1", "billing", "credit_grants", grant_id], &[])
                .await
                .map_err(|e| ApiError::grant_lookup(e, grant_id))?;
            let grant: StripeGrant = response.json()?;
            if grant.customer != request.customer_id {
                return Err(ApiError::grant_not_found(PROVIDER, grant_id));
            }
        }
        let pager = self.ledger_pager(
            request.scope,
            request.customer_id,
            request.grant_id,
            request.include_raw,
        );
        request.page_from(&pager, PROVIDER).await
    }
}

#[async_trait]
impl ReadBalances for Adapter {
    /// Available balances per currency, for grants that apply to all metered prices.
    async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        let summary: StripeBalanceSummary = self
            .get(
                scope,
                &["v1", "billing", "credit_balance_summary"],
                &[
                    ("customer", customer_id),
                    ("filter[type]", "applicability_scope"),
                    (
                        "filter[applicability_scope][price_type]",
                        &self.facts.api.balance_scope_price_type,
                    ),
                ],
            )
            .await
            .map_err(|e| self.customer_not_found(e))?
            .json()?;
        let as_of = OffsetDateTime::now_utc();
        summary
            .balances
            .iter()
            .map(|b| {
                let available = self.money(&b.available_balance)?;
                Ok(CreditBalance {
                    object: BALANCE_OBJECT,
                    provider: PROVIDER,
                    customer: qualified_id(PROVIDER, customer_id),
                    unit: available.unit.clone(),
                    unit_type: available.unit_type,
                    available,
                    pending: None,
                    as_of,
                })
            })
            .collect()
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_mode_keys_get_the_test_mode_rate() {
        let facts = Adapter::provider_file().unwrap().common.rate_limit;
        let rate = |key: &str| Adapter::documented_rate(&facts, &Secret::new(key)).requests;
        assert_eq!(rate("sk_test_51Habc"), 25);
        assert_eq!(rate("rk_test_51Habc"), 25);
        assert_eq!(rate("sk_live_51Habc"), 100);
        assert_eq!(rate("rk_live_51Habc"), 100);
    }

    #[test]
    fn only_secret_and_restricted_keys_are_taken() {
        for key in ["sk_live_1", "sk_test_1", "rk_live_1", "rk_test_1"] {
            assert!(check_secret_key(key).is_ok(), "{key}");
        }
        let (key, message) = check_secret_key("pk_test_1").unwrap_err();
        assert_eq!(key, "secret");
        assert!(message.contains("publishable") && !message.contains("pk_test_1"), "{message}");
        assert!(check_secret_key("whsec_1").is_err());
    }

    #[test]
    fn embedded_facts_parse_and_cover_every_spec_enum_value() {
        let facts = Adapter::provider_file().unwrap().dialect;
        for credit in StripeCreditType::KNOWN {
            assert!(
                facts.enums.transaction_type.contains_key(&format!("credit.{credit}")),
                "credit.{credit}"
            );
        }
        for debit in StripeDebitType::KNOWN {
            assert!(
                facts.enums.transaction_type.contains_key(&format!("debit.{debit}")),
                "debit.{debit}"
            );
        }
        for category in StripeCategory::KNOWN {
            assert!(facts.enums.category.contains_key(*category), "{category}");
        }
        assert_eq!(facts.exponent("JPY"), 0);
        assert_eq!(facts.exponent("krw"), 0);
        assert_eq!(facts.exponent("bhd"), 3);
        assert_eq!(facts.exponent("kwd"), 3);
        assert_eq!(facts.exponent("usd"), 2);
        assert_eq!(facts.exponent("isk"), 2);
    }
}
