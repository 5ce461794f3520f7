//! Sequence: credit grants account-wide (`GET /credits`, paged both ways) and per customer
//! (`/credits/{customerId}/grants` and `/balances`, unpaginated), ledger entries from the
//! balances' transactions (the spec named in `providers/sequence.toml`).
//!
//! Amounts arrive as JSON numbers in some payloads and decimal strings in others; both are
//! read from their exact text, and a value that cannot be held exactly is an error.

use async_trait::async_trait;

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};
use url::Url;

use super::base::{provider_config, vendor_item_id, vendor_timestamp, Dialect, VendorBase};
use super::{map_items, parse_items, ConfigProblem, GrantIncludes, GrantListRequest, LedgerListRequest, WithRaw};
use crate::providers::provider::{CreditsProvider, ListGrants, LookUpGrant, ListLedger, ReadBalances, CreateGrants, EndGrants};
use crate::error::{ApiError, UpstreamError};
use crate::model::money::{de_exact_decimal, de_exact_decimal_opt};
use crate::model::{
    qualified_id, CreditBalance, CreditGrant, ExternalRef, GrantFacts, GrantStatus, LedgerEntry, LedgerEntryType,
    Money, ProviderKind, Timestamp, UnitType, BALANCE_OBJECT, GRANT_OBJECT, LEDGER_ENTRY_OBJECT,
};
use crate::paging::{AssembledPage, HasMore, PageAssembler, VendorPage, VendorPager};
use crate::secret::Secret;
use crate::upstream::{CallScope, UpstreamRequest, UpstreamResponse};
use crate::vendor_enum;

mod webhooks;
mod writes;

const PROVIDER: ProviderKind = ProviderKind::Sequence;

/// Sequence's own tables in `providers/sequence.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceFacts {
    pub api: SequenceApiFacts,
    pub ledger: SequenceLedgerFacts,
    pub enums: SequenceEnums,
    pub currencies: SequenceCurrencies,
}

/// The currencies Sequence takes for a grant (its spec's `Currency` enum).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceCurrencies {
    pub accepted: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceApiFacts {
    pub version: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceLedgerFacts {
    pub default_unit: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceEnums {
    pub transaction_type: HashMap<String, LedgerEntryType>,
}

// ---- Sequence's wire shapes ----

vendor_enum! {
    /// `CreditUnitType` (account-wide grants).
    pub enum SequenceCreditUnitType { Currency = "CURRENCY", Metric = "METRIC" }
}

vendor_enum! {
    /// `CreditType` (balances).
    pub enum SequenceCreditType { Cash = "CASH", Usage = "USAGE" }
}

vendor_enum! {
    /// `CreditTransactionType`.
    pub enum SequenceTransactionType { Debit = "DEBIT", Credit = "CREDIT" }
}

#[derive(Debug, Deserialize)]
struct GrantList {
    items: Vec<Box<RawValue>>,
    pagination: Pagination,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    after: Option<String>,
    before: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IntegrationId {
    service: String,
    id: String,
}

/// `CreditGrant`: `GET /credits` items and `GET /credits/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SequenceGrant {
    id: String,
    customer_id: String,
    name: String,
    credit_unit_type: SequenceCreditUnitType,
    currency: Option<String>,
    metric_id: Option<String>,
    #[serde(deserialize_with = "de_exact_decimal")]
    amount: Decimal,
    #[serde(default, deserialize_with = "de_exact_decimal_opt")]
    cost_of_credit: Option<Decimal>,
    tax_rate_id: Option<String>,
    effective_date: Option<String>,
    expiry_date: Option<String>,
    created_at: String,
    credit_note_id: Option<String>,
    #[serde(default)]
    integration_ids: Vec<IntegrationId>,
}

#[derive(Debug, Deserialize)]
struct CustomerGrants {
    items: Vec<Box<RawValue>>,
}

/// `CreditGrantResponseItem`: `GET /credits/{customerId}/grants` items.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerGrant {
    id: String,
    name: String,
    #[serde(deserialize_with = "de_exact_decimal")]
    grant_amount: Decimal,
    #[serde(deserialize_with = "de_exact_decimal")]
    balance: Decimal,
    issue_date: String,
    expiry_date: Option<String>,
}

/// `GET /credits/{customerId}/balances`, its transactions as `T`: typed in the same parse
/// (a ledger), kept raw (a ledger with `include=raw`), or skipped unread (balances, grants).
#[derive(Debug, Deserialize)]
struct Balances<T = IgnoredAny> {
    items: Vec<UnitBalance<T>>,
}

/// `CreditBalance`: one unit (a currency, or a usage metric) and its grants and transactions.
#[derive(Debug, Deserialize)]
struct UnitBalance<T = IgnoredAny> {
    id: String,
    #[serde(rename = "type")]
    kind: SequenceCreditType,
    name: String,
    #[serde(deserialize_with = "de_exact_decimal")]
    balance: Decimal,
    grants: Vec<BalanceGrant>,
    transactions: Vec<T>,
}

/// `CreditGrant2`, inside a balance.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceGrant {
    id: String,
    currency: Option<String>,
    #[serde(deserialize_with = "de_exact_decimal")]
    current_balance: Decimal,
    effective_date: Option<String>,
    created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SequenceTransaction {
    id: Option<String>,
    grant_id: String,
    invoice_id: Option<String>,
    billing_run_id: Option<String>,
    #[serde(rename = "type")]
    kind: SequenceTransactionType,
    #[serde(deserialize_with = "de_exact_decimal")]
    amount: Decimal,
    date: String,
}

impl<T> UnitBalance<T> {
    /// Cash balances are in a currency: the spec says `id`/`name` carry the code, but its
    /// own example has a UUID `id`, the name "Credits" and the code only on the grants, so
    /// the first three-letter code among the grants' `currency`, `name` and `id` is used.
    /// Usage balances (and cash ones without any code) are a custom unit named by `name`.
    fn money(&self, value: Decimal) -> Money {
        let is_code = |s: &&str| UnitType::for_unit(s) == UnitType::Currency;
        let code = match self.kind {
            SequenceCreditType::Cash => self
                .grants
                .iter()
                .filter_map(|g| g.currency.as_deref())
                .chain([self.name.as_str(), self.id.as_str()])
                .find(is_code),
            SequenceCreditType::Usage | SequenceCreditType::Unknown(_) => None,
        };
        match code {
            Some(code) => Money::currency(value, code),
            None => Money::custom(value, &self.name),
        }
    }
}

provider_config! {
    /// `[providers.sequence]`; the secret is `clientId:clientSecret`.
    pub struct SequenceConfig {
        /// The Sequence account new grants are made in (`sequenceAccountId`, required by
        /// `POST /credits`). Without it, creditgate does not create Sequence grants
        /// (`create_grants` is off).
        pub sequence_account_id: Option<String>,
        /// The webhook signing secret, by reference: with it,
        /// `POST /v1/vendor_webhooks/sequence` takes Sequence's signed deliveries (the notification policy's `webhookSecret`).
        pub webhook_secret: Option<crate::secret::SecretRef>,
    }
}

/// Talks to one Sequence account.
#[derive(Debug)]
pub struct Adapter {
    pub(super) base: VendorBase,
    /// `base64(clientId:clientSecret)`, the Basic credentials.
    basic: Secret,
    facts: SequenceFacts,
    sequence_account_id: Option<String>,
    webhook_secret: Option<Secret>,
}

impl Dialect for Adapter {
    const KIND: ProviderKind = PROVIDER;
    const PROVIDER_FILE: &'static str = include_str!("../../../providers/sequence.toml");
    type Config = SequenceConfig;
    type Facts = SequenceFacts;

    fn assemble(base: VendorBase, facts: SequenceFacts, config: &SequenceConfig) -> Result<Self, ConfigProblem> {
        let sequence_account_id = config.sequence_account_id.clone();
        if sequence_account_id.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return Err(("sequence_account_id".into(), "cannot be empty".into()));
        }
        let credentials = base.secret.expose();
        if !credentials.contains(':') {
            return Err((
                "secret".into(),
                "Sequence credentials are `clientId:clientSecret` (the separating `:` is missing)".into(),
            ));
        }
        let basic = Secret::new(base64::engine::general_purpose::STANDARD.encode(credentials));
        Ok(Adapter {
            base,
            basic,
            facts,
            sequence_account_id,
            webhook_secret: crate::providers::webhooks::resolve_webhook_secret(config.webhook_secret.as_ref())?,
        })
    }
}

/// Sequence's `expiryDate` is the last day a grant can be consumed: it expires at the end
/// of that day.
fn end_of_day(field: &str, date: &str) -> Result<Timestamp, UpstreamError> {
    vendor_timestamp(PROVIDER, field, date)?
        .checked_add(Duration::days(1))
        .ok_or_else(|| UpstreamError::invalid(PROVIDER, format!("{field}: {date} is the last day there is")))
}

/// Sequence's account-wide grant list carries no balance, so its status is its dates
/// alone: a Sequence grant is never `depleted`; its `balance` says what is left.
fn date_status(effective_at: Option<Timestamp>, expires_at: Option<Timestamp>, now: OffsetDateTime) -> GrantStatus {
    let facts = GrantFacts {
        effective_at,
        expires_at,
        ..GrantFacts::default()
    };
    GrantStatus::of(&facts, now)
}

impl Adapter {
    async fn get(&self, scope: CallScope<'_>, url: Url) -> Result<UpstreamResponse, UpstreamError> {
        let request = UpstreamRequest::get(PROVIDER, url)
            .sensitive_header("authorization", &format!("Basic {}", self.basic.expose()))
            .header("sequence-version", &self.facts.api.version);
        self.base.send_authorized(scope, request).await
    }

    async fn balances_of<T: DeserializeOwned>(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
    ) -> Result<Balances<T>, ApiError> {
        let url = self.base.url(&["credits", customer_id, "balances"])?;
        Ok(self.get(scope, url).await?.json()?)
    }

    fn map_grant(
        &self,
        g: SequenceGrant,
        raw: Option<Box<RawValue>>,
        balance: Option<Decimal>,
        now: OffsetDateTime,
    ) -> Result<CreditGrant, UpstreamError> {
        let unit = match g.credit_unit_type {
            SequenceCreditUnitType::Currency => g.currency.clone(),
            _ => g.metric_id.clone(),
        }
        .unwrap_or_else(|| self.facts.ledger.default_unit.clone());
        let money = |value| match g.credit_unit_type {
            SequenceCreditUnitType::Currency => Money::currency(value, &unit),
            _ => Money::custom(value, &unit),
        };
        let effective_at = g
            .effective_date
            .as_deref()
            .map(|d| vendor_timestamp(PROVIDER, "effectiveDate", d))
            .transpose()?;
        let expires_at = g
            .expiry_date
            .as_deref()
            .map(|d| end_of_day("expiryDate", d))
            .transpose()?;
        let mut metadata = BTreeMap::new();
        let optional = [
            ("credit_note_id", g.credit_note_id),
            ("tax_rate_id", g.tax_rate_id),
            ("metric_id", g.metric_id),
            ("cost_of_credit", g.cost_of_credit.map(|c| c.to_string())),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                metadata.insert(key.to_owned(), v.into());
            }
        }
        Ok(CreditGrant {
            object: GRANT_OBJECT,
            id: vendor_item_id(PROVIDER, "id", &g.id)?,
            provider: PROVIDER,
            customer: Some(vendor_item_id(PROVIDER, "customerId", &g.customer_id)?),
            name: Some(g.name),
            category: None,
            amount: money(g.amount),
            balance: balance.map(money),
            status: date_status(effective_at, expires_at, now),
            priority: None,
            effective_at,
            expires_at,
            created_at: Some(vendor_timestamp(PROVIDER, "createdAt", &g.created_at)?),
            external_refs: g
                .integration_ids
                .into_iter()
                .map(|i| ExternalRef {
                    system: i.service,
                    id: i.id,
                })
                .collect(),
            metadata,
            ledger: None,
            raw,
            provider_id: g.id,
        })
    }

    /// `/credits/{customerId}/grants` in its order, each grant's unit and dates completed
    /// from `/credits/{customerId}/balances` (the grants list carries no unit).
    async fn customer_grants(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        include_raw: bool,
    ) -> Result<Vec<CreditGrant>, ApiError> {
        let url = self.base.url(&["credits", customer_id, "grants"])?;
        let list: CustomerGrants = self.get(scope, url).await?.json()?;
        let balances: Balances = self.balances_of(scope, customer_id).await?;
        let mut known: HashMap<&str, (&UnitBalance, &BalanceGrant)> = HashMap::new();
        for unit in &balances.items {
            for grant in &unit.grants {
                known.insert(&grant.id, (unit, grant));
            }
        }
        let now = OffsetDateTime::now_utc();
        let mut grants = Vec::new();
        for (g, raw) in parse_items::<CustomerGrant>(PROVIDER, "items", list.items, include_raw)? {
            let found = known.get(g.id.as_str()).copied();
            let money = |value| match found {
                Some((unit, _)) => unit.money(value),
                None => Money::custom(value, &self.facts.ledger.default_unit),
            };
            let effective = found
                .and_then(|(_, b)| b.effective_date.as_deref())
                .unwrap_or(&g.issue_date);
            let effective_at = Some(vendor_timestamp(PROVIDER, "effectiveDate", effective)?);
            let expires_at = g
                .expiry_date
                .as_deref()
                .map(|d| end_of_day("expiryDate", d))
                .transpose()?;
            let created_at = found
                .and_then(|(_, b)| b.created_at.as_deref())
                .map(|c| vendor_timestamp(PROVIDER, "createdAt", c))
                .transpose()?;
            let mut metadata = BTreeMap::new();
            metadata.insert("issue_date".to_owned(), g.issue_date.clone().into());
            grants.push(CreditGrant {
                object: GRANT_OBJECT,
                id: vendor_item_id(PROVIDER, "id", &g.id)?,
                provider: PROVIDER,
                customer: Some(qualified_id(PROVIDER, customer_id)),
                name: Some(g.name),
                category: None,
                amount: money(g.grant_amount),
                balance: Some(money(g.balance)),
                status: date_status(effective_at, expires_at, now),
                priority: None,
                effective_at,
                expires_at,
                created_at,
                external_refs: Vec::new(),
                metadata,
                ledger: None,
                raw,
                provider_id: g.id,
            });
        }
        Ok(grants)
    }

    /// Every transaction of the customer's balances, unit by unit, in Sequence's order.
    fn ledger_from<T: Transaction>(
        &self,
        balances: Balances<T>,
        customer_id: &str,
        keep_raw: bool,
    ) -> Result<Vec<LedgerEntry>, UpstreamError> {
        let mut entries = Vec::new();
        for mut unit in balances.items {
            let transactions = std::mem::take(&mut unit.transactions);
            for (i, (t, raw)) in T::typed(transactions, &unit.id, keep_raw)?.into_iter().enumerate() {
                let entry_type = self
                    .facts
                    .enums
                    .transaction_type
                    .get(t.kind.as_str())
                    .copied()
                    .unwrap_or(LedgerEntryType::Unknown);
                // Transactions may come without an id: then the grant, date and position name it.
                let provider_id = t.id.unwrap_or_else(|| format!("{}.{}.{i}", t.grant_id, t.date));
                let at = vendor_timestamp(PROVIDER, "date", &t.date)?;
                let mut external_refs = Vec::new();
                if let Some(run) = t.billing_run_id {
                    external_refs.push(ExternalRef {
                        system: "sequence_billing_run".into(),
                        id: run,
                    });
                }
                entries.push(LedgerEntry {
                    object: LEDGER_ENTRY_OBJECT,
                    id: vendor_item_id(PROVIDER, "id", &provider_id)?,
                    provider: PROVIDER,
                    customer: Some(qualified_id(PROVIDER, customer_id)),
                    grant: Some(vendor_item_id(PROVIDER, "grantId", &t.grant_id)?),
                    entry_type,
                    provider_type: t.kind.as_str().to_owned(),
                    amount: unit.money(entry_type.signed(t.amount)),
                    balance_after: None,
                    effective_at: Some(at),
                    created_at: Some(at),
                    invoice_id: t.invoice_id,
                    contract_id: None,
                    external_refs,
                    raw,
                    provider_id,
                });
            }
        }
        Ok(entries)
    }

}

/// A list Sequence returns whole: creditgate pages it itself. Its one page can be fetched
/// again, so it pages backwards too.
struct WholeList<F>(F);

impl<T, F, Fut> VendorPager for WholeList<F>
where
    T: Send,
    F: Fn() -> Fut + Sync,
    Fut: std::future::Future<Output = Result<Vec<T>, ApiError>> + Send,
{
    type Item = T;

    async fn vendor_page(&self, _token: Option<&str>) -> Result<VendorPage<T>, ApiError> {
        Ok(VendorPage::whole((self.0)().await?))
    }

    fn item_key(&self, _item: &T) -> Option<String> {
        None
    }

    fn pages_backward(&self) -> bool {
        true
    }
}

/// `GET /credits`: every grant in the Sequence account. Tokens say which way they page:
/// `a:<after>` and `b:<before>`.
struct AccountGrantPager<'a> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    include_raw: bool,
    now: OffsetDateTime,
}

impl VendorPager for AccountGrantPager<'_> {
    type Item = CreditGrant;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<CreditGrant>, ApiError> {
        let adapter = self.adapter;
        let mut url = adapter.base.url(&["credits"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &adapter.base.page_size.to_string());
            if let Some(token) = token {
                if let Some(after) = token.strip_prefix("a:") {
                    query.append_pair("after", after);
                } else if let Some(before) = token.strip_prefix("b:") {
                    query.append_pair("before", before);
                } else {
                    return Err(ApiError::invalid_cursor("cursor holds an unknown Sequence page token"));
                }
            }
        }
        let list: GrantList = adapter.get(self.scope, url).await?.json()?;
        let items = map_items(
            "items",
            parse_items::<SequenceGrant>(PROVIDER, "items", list.items, self.include_raw)?,
            |g, raw| adapter.map_grant(g, raw, None, self.now),
        )?;
        let next_token = list
            .pagination
            .after
            .filter(|a| !a.is_empty())
            .map(|a| format!("a:{a}"));
        Ok(VendorPage {
            items,
            has_more: if next_token.is_some() {
                HasMore::Yes
            } else {
                HasMore::No
            },
            next_token,
            prev_token: list
                .pagination
                .before
                .filter(|b| !b.is_empty())
                .map(|b| format!("b:{b}")),
        })
    }

    fn item_key(&self, _item: &CreditGrant) -> Option<String> {
        None
    }

    fn pages_backward(&self) -> bool {
        true
    }
}

/// Every read creditgate offers; `GET /credits` pages both ways. Writes: `POST /credits`
/// and `DELETE /credits/{id}` (its void); no expiry call, no manual ledger entry, no
/// idempotency mechanism. Creating needs `sequence_account_id`; without it there are no
/// creates.
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
        self.sequence_account_id.is_some().then_some(self)
    }
    fn void_grants(&self) -> Option<&dyn EndGrants> {
        Some(self)
    }
    /// Sequence's void is a `DELETE`: the grant and its ledger leave every read.
    fn webhooks(&self) -> Option<&dyn crate::providers::webhooks::ReceiveWebhooks> {
        self.webhook_secret.is_some().then_some(self as _)
    }
    fn void_deletes_history(&self) -> bool {
        true
    }
}

#[async_trait]
impl ListGrants for Adapter {
    async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        match request.customer_id {
            Some(customer_id) => {
                let pager = WholeList(|| self.customer_grants(request.scope, customer_id, request.include_raw));
                request.page_from(&pager, PROVIDER).await
            }
            None => {
                let pager = AccountGrantPager {
                    adapter: self,
                    scope: request.scope,
                    include_raw: request.include_raw,
                    now: OffsetDateTime::now_utc(),
                };
                request.page_from(&pager, PROVIDER).await
            }
        }
    }
}

#[async_trait]
impl LookUpGrant for Adapter {
    /// `GET /credits/{id}`, with the remaining balance (and ledger) from the customer's
    /// balances.
    async fn get_grant(
        &self,
        scope: CallScope<'_>,
        id: &str,
        include: GrantIncludes,
    ) -> Result<CreditGrant, ApiError> {
        let response = self
            .get(scope, self.base.url(&["credits", id])?)
            .await
            .map_err(|e| ApiError::grant_lookup(e, id))?;
        let raw: Box<RawValue> = response.json()?;
        let grant: SequenceGrant = self.base.parse(raw.get().as_bytes())?;
        let customer_id = grant.customer_id.clone();
        vendor_item_id(PROVIDER, "customerId", &customer_id)?;
        // The grant named its customer: its balances are about them, their transactions
        // read only for its ledger (typed in the same parse unless kept raw).
        let scope = scope.about(Some(&customer_id));
        let (balance, ledger) = match (include.ledger, include.raw) {
            (false, _) => {
                let balances: Balances = self.balances_of(scope, &customer_id).await?;
                (current_balance(&balances, id), None)
            }
            (true, true) => self.grant_ledger::<Box<RawValue>>(scope, &customer_id, id, true).await?,
            (true, false) => self.grant_ledger::<SequenceTransaction>(scope, &customer_id, id, false).await?,
        };
        let mut mapped = self.map_grant(grant, include.raw.then_some(raw), balance, OffsetDateTime::now_utc())?;
        mapped.ledger = ledger;
        Ok(mapped)
    }
}

/// Grant `id`'s current balance among a customer's balances.
fn current_balance<T>(balances: &Balances<T>, id: &str) -> Option<Decimal> {
    balances
        .items
        .iter()
        .flat_map(|u| u.grants.iter())
        .find(|g| g.id == id)
        .map(|g| g.current_balance)
}

#[async_trait]
impl ListLedger for Adapter {
    async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        // The transactions typed with the balances, unless their own JSON is kept.
        let pager = WholeList(|| async move {
            if request.include_raw {
                self.whole_ledger::<Box<RawValue>>(request).await
            } else {
                self.whole_ledger::<SequenceTransaction>(request).await
            }
        });
        let grant_ref = request.grant_id.map(|g| qualified_id(PROVIDER, g));
        let keep = move |e: &LedgerEntry| grant_ref.is_none() || e.grant == grant_ref;
        request
            .assemble(PageAssembler::new(&pager, PROVIDER).with_filter(&keep))
            .await
    }
}

impl Adapter {
    /// The customer's ledger (one grant's, with `grant_id`), its transactions read as `T`.
    async fn whole_ledger<T: Transaction>(&self, request: &LedgerListRequest<'_>) -> Result<Vec<LedgerEntry>, ApiError> {
        let balances: Balances<T> = self.balances_of(request.scope, request.customer_id).await?;
        // A grant that is not among the customer's is not found, whoever's it is.
        if let Some(grant) = request.grant_id {
            if !balances.items.iter().flat_map(|u| &u.grants).any(|g| g.id == grant) {
                return Err(ApiError::grant_not_found(PROVIDER, grant));
            }
        }
        Ok(self.ledger_from(balances, request.customer_id, request.include_raw)?)
    }

    /// Grant `id`'s current balance and its ledger, from its customer's balances with their
    /// transactions read as `T`.
    async fn grant_ledger<T: Transaction>(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        id: &str,
        keep_raw: bool,
    ) -> Result<(Option<Decimal>, Option<Vec<LedgerEntry>>), ApiError> {
        let balances: Balances<T> = self.balances_of(scope, customer_id).await?;
        let balance = current_balance(&balances, id);
        let grant_ref = qualified_id(PROVIDER, id);
        let entries = self.ledger_from(balances, customer_id, keep_raw)?;
        let ledger = entries
            .into_iter()
            .filter(|e| e.grant.as_deref() == Some(&grant_ref))
            .collect();
        Ok((balance, Some(ledger)))
    }
}

/// A balance's transaction as read: typed with the balances, or raw, typed here (and kept
/// with `keep_raw`).
trait Transaction: DeserializeOwned + Send {
    fn typed(items: Vec<Self>, unit_id: &str, keep_raw: bool) -> Result<Vec<WithRaw<SequenceTransaction>>, UpstreamError>;
}

impl Transaction for SequenceTransaction {
    fn typed(items: Vec<Self>, _unit: &str, _keep_raw: bool) -> Result<Vec<WithRaw<SequenceTransaction>>, UpstreamError> {
        Ok(items.into_iter().map(|t| (t, None)).collect())
    }
}

impl Transaction for Box<RawValue> {
    fn typed(items: Vec<Self>, unit_id: &str, keep_raw: bool) -> Result<Vec<WithRaw<SequenceTransaction>>, UpstreamError> {
        parse_items(PROVIDER, &format!("balance {unit_id} transactions"), items, keep_raw)
    }
}

#[async_trait]
impl ReadBalances for Adapter {
    async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        let balances: Balances = self.balances_of(scope, customer_id).await?;
        let as_of = OffsetDateTime::now_utc();
        Ok(balances
            .items
            .iter()
            .map(|unit| {
                let available = unit.money(unit.balance);
                CreditBalance {
                    object: BALANCE_OBJECT,
                    provider: PROVIDER,
                    customer: qualified_id(PROVIDER, customer_id),
                    unit: available.unit.clone(),
                    unit_type: available.unit_type,
                    available,
                    pending: None,
                    as_of,
                }
            })
            .collect())
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_facts_parse_and_cover_every_spec_enum_value() {
        let facts = Adapter::provider_file().unwrap().dialect;
        for kind in SequenceTransactionType::KNOWN {
            assert!(facts.enums.transaction_type.contains_key(*kind), "{kind}");
        }
        assert_eq!(facts.api.version, "2024-07-30");
        // The currencies a grant may be in are exactly the spec's `Currency` enum.
        let spec: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/specs/sequence/sequence-credits.trimmed.json"
        )))
        .unwrap();
        let listed: Vec<&str> = spec["components"]["schemas"]["Currency"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(facts.currencies.accepted, listed);
    }

    #[test]
    fn expiry_is_the_end_of_the_last_day() {
        let t = end_of_day("expiryDate", "2024-01-02").unwrap();
        assert_eq!(
            t.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "2024-01-03T00:00:00Z"
        );
        // The last representable day has no midnight after it: a 502, not a panic.
        assert!(end_of_day("expiryDate", "9999-12-31").is_err());
    }
}
