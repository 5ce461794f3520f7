//! Metronome (contracts): a customer's credits with their access schedules, balances and
//! ledgers, all from `POST /v1/contracts/customerCredits/list`
//! (the spec named in `providers/metronome.toml`).
//!
//! Paging is a `next_page` token in the JSON body, null at the end, at most 25 credits a
//! page. Ledger entries live inside each credit (`include_ledgers`) and have no ids of
//! their own: an entry's id is its credit's id and its position in that credit's ledger.

use async_trait::async_trait;

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::base::{provider_config, vendor_item_id, vendor_timestamp, Dialect, VendorBase};
use super::{map_items, parse_items, read_page, ConfigProblem, GrantListRequest, LedgerListRequest, WithRaw};
use crate::providers::provider::{CreditsProvider, ListGrants, ListLedger, ReadBalances, CreateGrants, EndGrants, AdjustLedger};
use crate::error::{ApiError, UpstreamError};
use crate::model::money::{de_exact_decimal, de_exact_decimal_opt};
use crate::model::{
    qualified_id, CreditBalance, CreditGrant, ExternalRef, GrantFacts, GrantStatus, LedgerEntry, LedgerEntryType,
    Money, ProviderKind, Timestamp, BALANCE_OBJECT, GRANT_OBJECT, LEDGER_ENTRY_OBJECT,
};
use crate::paging::{AssembledPage, HasMore, PageAssembler, VendorPage, VendorPager};
use crate::upstream::{CallScope, UpstreamRequest};
use crate::vendor_enum;

mod webhooks;
mod writes;

const PROVIDER: ProviderKind = ProviderKind::Metronome;

/// Metronome's own tables in `providers/metronome.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetronomeFacts {
    pub credit_types: HashMap<String, FiatCreditType>,
    pub credit_types_default: DefaultCreditType,
    pub enums: MetronomeEnums,
}

/// A credit type that is a currency in minor units.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiatCreditType {
    pub currency: String,
    pub exponent: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultCreditType {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetronomeEnums {
    pub ledger_type: HashMap<String, LedgerEntryType>,
}

// ---- Metronome's wire shapes ----

vendor_enum! {
    /// Every `CreditLedger` entry type in the spec (the `oneOf` members).
    pub enum MetronomeCreditLedgerType {
        SegmentStart = "CREDIT_SEGMENT_START",
        AutomatedInvoiceDeduction = "CREDIT_AUTOMATED_INVOICE_DEDUCTION",
        Expiration = "CREDIT_EXPIRATION",
        Canceled = "CREDIT_CANCELED",
        Credited = "CREDIT_CREDITED",
        Manual = "CREDIT_MANUAL",
        SeatBasedAdjustment = "CREDIT_SEAT_BASED_ADJUSTMENT",
        Rollover = "CREDIT_ROLLOVER",
    }
}

/// `customerCredits/list`'s answer, its credits as `C`: typed in the same parse as the page,
/// or each kept raw to be typed one by one when its own JSON is kept (`include=raw`).
#[derive(Debug, Deserialize)]
struct CreditList<C = Box<RawValue>> {
    data: Vec<C>,
    next_page: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Product {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct CreditType {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ScheduleItem {
    id: Option<String>,
    #[serde(deserialize_with = "de_exact_decimal")]
    amount: Decimal,
    starting_at: String,
    ending_before: String,
}

#[derive(Debug, Deserialize)]
struct AccessSchedule {
    credit_type: Option<CreditType>,
    schedule_items: Vec<ScheduleItem>,
}

/// A credit; its ledger's entries as `L`, typed with the credit, or each kept raw.
#[derive(Debug, Deserialize)]
struct MetronomeCredit<L = Box<RawValue>> {
    id: String,
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "de_exact_decimal_opt")]
    priority: Option<Decimal>,
    product: Product,
    contract: Option<IdOnly>,
    access_schedule: Option<AccessSchedule>,
    #[serde(default = "Vec::new")]
    ledger: Vec<L>,
    #[serde(default, deserialize_with = "de_exact_decimal_opt")]
    balance: Option<Decimal>,
    rate_type: Option<String>,
    recurring_credit_id: Option<String>,
    uniqueness_key: Option<String>,
    netsuite_sales_order_id: Option<String>,
    salesforce_opportunity_id: Option<String>,
    custom_fields: Option<BTreeMap<String, String>>,
}

/// One member of the `CreditLedger` (or commit ledger) `oneOf`: the union of their fields.
#[derive(Debug, Deserialize)]
struct MetronomeLedgerEntry {
    #[serde(rename = "type")]
    kind: MetronomeCreditLedgerType,
    timestamp: String,
    #[serde(deserialize_with = "de_exact_decimal")]
    amount: Decimal,
    invoice_id: Option<String>,
    contract_id: Option<String>,
    /// Manual entries' reason (creditgate's marker finds its own entries by it).
    reason: Option<String>,
}

provider_config! {
    /// `[providers.metronome]`.
    pub struct MetronomeConfig {
        /// The product new credits are for (`customerCredits/create` requires one). Without
        /// it, creditgate does not create Metronome credits (`create_grants` is off).
        pub credit_product_id: Option<String>,
        /// The webhook signing secret, by reference: with it,
        /// `POST /v1/vendor_webhooks/metronome` takes Metronome's signed deliveries (the destination's secret).
        pub webhook_secret: Option<crate::secret::SecretRef>,
    }
}

/// Talks to one Metronome account.
#[derive(Debug)]
pub struct Adapter {
    pub(super) base: VendorBase,
    facts: MetronomeFacts,
    credit_product_id: Option<String>,
    webhook_secret: Option<crate::secret::Secret>,
}

/// What `customerCredits/list` should include besides the credits.
#[derive(Debug, Clone, Copy)]
struct Include {
    balance: bool,
    ledgers: bool,
}

impl Dialect for Adapter {
    const KIND: ProviderKind = PROVIDER;
    const PROVIDER_FILE: &'static str = include_str!("../../../providers/metronome.toml");
    type Config = MetronomeConfig;
    type Facts = MetronomeFacts;

    fn assemble(base: VendorBase, facts: MetronomeFacts, config: &MetronomeConfig) -> Result<Self, ConfigProblem> {
        let credit_product_id = config.credit_product_id.clone();
        if credit_product_id.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(("credit_product_id".into(), "cannot be empty".into()));
        }
        Ok(Adapter {
            base,
            facts,
            credit_product_id,
            webhook_secret: crate::providers::webhooks::resolve_webhook_secret(config.webhook_secret.as_ref())?,
        })
    }
}

impl Adapter {
    /// One page of `POST /v1/contracts/customerCredits/list`.
    async fn list_credits(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        credit_id: Option<&str>,
        include: Include,
        token: Option<&str>,
    ) -> Result<crate::upstream::UpstreamResponse, ApiError> {
        let mut body = json!({
            "customer_id": customer_id,
            "limit": self.base.page_size,
            "include_balance": include.balance,
            "include_ledgers": include.ledgers,
        });
        if let Some(credit) = credit_id {
            body["credit_id"] = json!(credit);
        }
        if let Some(token) = token {
            body["next_page"] = json!(token);
        }
        let url = self.base.url(&["v1", "contracts", "customerCredits", "list"])?;
        let request = UpstreamRequest::post_json(PROVIDER, url, &body)
            .idempotent_read()
            .sensitive_header("authorization", &format!("Bearer {}", self.base.secret.expose()));
        Ok(self.base.send_authorized(scope, request).await?)
    }

    /// Amounts in a credit type: fiat types (USD (cents)) to major units, others custom.
    fn money(&self, amount: Decimal, credit_type: &str) -> Result<Money, UpstreamError> {
        match self.facts.credit_types.get(credit_type) {
            Some(fiat) => Money::from_minor_decimal(amount, &fiat.currency, fiat.exponent)
                .map_err(|e| UpstreamError::invalid(PROVIDER, e.to_string())),
            None => Ok(Money::custom(amount, credit_type)),
        }
    }

    fn credit_type<'c, L>(&'c self, credit: &'c MetronomeCredit<L>) -> &'c str {
        credit
            .access_schedule
            .as_ref()
            .and_then(|s| s.credit_type.as_ref())
            .map_or(self.facts.credit_types_default.name.as_str(), |t| t.name.as_str())
    }

    fn map_credit<L>(
        &self,
        c: MetronomeCredit<L>,
        customer_id: &str,
        raw: Option<Box<RawValue>>,
        now: OffsetDateTime,
    ) -> Result<CreditGrant, UpstreamError> {
        let unit = self.credit_type(&c).to_owned();
        let items = c.access_schedule.as_ref().map_or(&[][..], |s| &s.schedule_items[..]);
        let mut granted = Decimal::ZERO;
        let (mut effective_at, mut expires_at): (Option<Timestamp>, Option<Timestamp>) = (None, None);
        for item in items {
            granted = granted.checked_add(item.amount).ok_or_else(|| {
                UpstreamError::invalid(PROVIDER, format!("credit {}: schedule total overflows", c.id))
            })?;
            let start = vendor_timestamp(PROVIDER, "starting_at", &item.starting_at)?;
            let end = vendor_timestamp(PROVIDER, "ending_before", &item.ending_before)?;
            effective_at = Some(effective_at.map_or(start, |t| t.min(start)));
            expires_at = Some(expires_at.map_or(end, |t| t.max(end)));
        }
        let balance = c.balance.map(|b| self.money(b, &unit)).transpose()?;
        // Metronome sends the balance in every credit creditgate lists (include_balance).
        let facts = GrantFacts {
            consumed: balance.as_ref().is_some_and(|b| b.value <= Decimal::ZERO),
            effective_at,
            expires_at,
            ..GrantFacts::default()
        };
        let status = GrantStatus::of(&facts, now);
        let mut metadata = BTreeMap::new();
        metadata.insert("product_id".to_owned(), c.product.id.into());
        metadata.insert("product_name".to_owned(), c.product.name.into());
        let optional = [
            ("contract_id", c.contract.map(|k| k.id)),
            ("description", c.description),
            ("rate_type", c.rate_type),
            ("recurring_credit_id", c.recurring_credit_id),
            ("uniqueness_key", c.uniqueness_key),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                metadata.insert(key.to_owned(), v.into());
            }
        }
        if let Some(fields) = c.custom_fields {
            metadata.insert("custom_fields".to_owned(), json!(fields));
        }
        let external_refs = [
            ("netsuite_sales_order", c.netsuite_sales_order_id),
            ("salesforce_opportunity", c.salesforce_opportunity_id),
        ]
        .into_iter()
        .filter_map(|(system, id)| {
            id.map(|id| ExternalRef {
                system: system.into(),
                id,
            })
        })
        .collect();
        Ok(CreditGrant {
            object: GRANT_OBJECT,
            id: vendor_item_id(PROVIDER, "id", &c.id)?,
            provider: PROVIDER,
            customer: Some(qualified_id(PROVIDER, customer_id)),
            name: c.name,
            category: None,
            amount: self.money(granted, &unit)?,
            balance,
            status,
            priority: c.priority,
            effective_at,
            expires_at,
            created_at: None,
            external_refs,
            metadata,
            ledger: None,
            raw,
            provider_id: c.id,
        })
    }

    /// A credit's ledger as entries, ids `<credit id>.<position>`.
    fn map_ledger<L: LedgerItem>(
        &self,
        c: MetronomeCredit<L>,
        customer_id: &str,
    ) -> Result<Vec<LedgerEntry>, UpstreamError> {
        let unit = self.credit_type(&c).to_owned();
        let contract = c.contract.as_ref().map(|k| k.id.clone());
        L::typed(c.ledger, &c.id)?
            .into_iter()
            .enumerate()
            .map(|(i, (e, raw))| {
                let provider_id = format!("{}.{i}", c.id);
                let entry_type = self
                    .facts
                    .enums
                    .ledger_type
                    .get(e.kind.as_str())
                    .copied()
                    .unwrap_or(LedgerEntryType::Unknown);
                let at = vendor_timestamp(PROVIDER, "timestamp", &e.timestamp)?;
                Ok(LedgerEntry {
                    object: LEDGER_ENTRY_OBJECT,
                    id: vendor_item_id(PROVIDER, "id", &provider_id)?,
                    provider: PROVIDER,
                    customer: Some(qualified_id(PROVIDER, customer_id)),
                    grant: Some(vendor_item_id(PROVIDER, "id", &c.id)?),
                    entry_type,
                    provider_type: e.kind.as_str().to_owned(),
                    amount: self.money(entry_type.signed(e.amount), &unit)?,
                    balance_after: None,
                    effective_at: Some(at),
                    created_at: Some(at),
                    invoice_id: e.invoice_id,
                    contract_id: e.contract_id.or_else(|| contract.clone()),
                    external_refs: Vec::new(),
                    raw,
                    provider_id,
                })
            })
            .collect()
    }

    fn grant_pager<'a>(
        &'a self,
        scope: CallScope<'a>,
        customer_id: &'a str,
        include_raw: bool,
    ) -> CreditPager<'a, CreditGrant> {
        let now = OffsetDateTime::now_utc();
        CreditPager {
            adapter: self,
            scope,
            customer_id,
            credit_id: None,
            include: Include {
                balance: true,
                ledgers: false,
            },
            keep_raw: include_raw,
            map: Box::new(move |adapter, credits| {
                map_items("data", credits, |c, raw| adapter.map_credit(c, customer_id, raw, now))
            }),
        }
    }

}

/// A credit's ledger entry as listed: typed with the list, or raw (`include=raw`), typed here.
trait LedgerItem: serde::de::DeserializeOwned + Send {
    fn typed(items: Vec<Self>, credit_id: &str) -> Result<Vec<WithRaw<MetronomeLedgerEntry>>, UpstreamError>;
}

impl LedgerItem for MetronomeLedgerEntry {
    fn typed(items: Vec<Self>, _credit_id: &str) -> Result<Vec<WithRaw<MetronomeLedgerEntry>>, UpstreamError> {
        Ok(items.into_iter().map(|e| (e, None)).collect())
    }
}

impl LedgerItem for Box<RawValue> {
    fn typed(items: Vec<Self>, credit_id: &str) -> Result<Vec<WithRaw<MetronomeLedgerEntry>>, UpstreamError> {
        parse_items(PROVIDER, &format!("credit {credit_id} ledger"), items, true)
    }
}

/// A page's credits, each with its own JSON where kept.
fn read_credits<L: LedgerItem>(
    response: &crate::upstream::UpstreamResponse,
    keep_raw: bool,
) -> Result<(Credits<L>, Option<String>), UpstreamError> {
    read_page(
        response,
        "data",
        keep_raw,
        |page: CreditList| (page.data, page.next_page),
        |page: CreditList<MetronomeCredit<L>>| (page.data, page.next_page),
    )
}

type Credits<L = Box<RawValue>> = Vec<WithRaw<MetronomeCredit<L>>>;
type MapCredits<'a, T, L> = Box<dyn Fn(&Adapter, Credits<L>) -> Result<Vec<T>, UpstreamError> + Send + Sync + 'a>;

/// `customerCredits/list` for one customer, paged by `next_page`; `map` turns each page of
/// credits into grants or into their ledger entries (`L`: as the ledger is read).
struct CreditPager<'a, T, L = Box<RawValue>> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    customer_id: &'a str,
    credit_id: Option<&'a str>,
    include: Include,
    keep_raw: bool,
    map: MapCredits<'a, T, L>,
}

impl<T: Send, L: LedgerItem> VendorPager for CreditPager<'_, T, L> {
    type Item = T;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<T>, ApiError> {
        let response = self
            .adapter
            .list_credits(self.scope, self.customer_id, self.credit_id, self.include, token)
            .await?;
        let (credits, next_page) = read_credits::<L>(&response, self.keep_raw)?;
        let next_token = next_page.filter(|t| !t.is_empty());
        // Asked for one credit of this customer and given none on the only page: it is not
        // theirs, or does not exist.
        let only_page = token.is_none() && next_token.is_none();
        if let Some(credit_id) = self.credit_id.filter(|_| only_page && credits.is_empty()) {
            return Err(ApiError::grant_not_found(PROVIDER, credit_id));
        }
        Ok(VendorPage {
            items: (self.map)(self.adapter, credits)?,
            has_more: if next_token.is_some() {
                HasMore::Yes
            } else {
                HasMore::No
            },
            next_token,
            prev_token: None,
        })
    }

    fn item_key(&self, _item: &T) -> Option<String> {
        None
    }
}

/// Credits are listed per customer only, and the list call needs the customer, so a credit
/// cannot be fetched by its id alone, nor the whole account listed. Writes (contracts
/// API): `customerCredits/create` (`uniqueness_key`), `updateEndDate` (ending a credit now
/// is its expiry; a contracts credit has no void), `addManualBalanceLedgerEntry`. Creating
/// needs `credit_product_id`; without it there are no creates.
impl CreditsProvider for Adapter {
    fn base(&self) -> &VendorBase {
        &self.base
    }
    fn credit_grants(&self) -> Option<&dyn ListGrants> {
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
    fn create_grants(&self) -> Option<&dyn CreateGrants> {
        self.credit_product_id.is_some().then_some(self)
    }
    fn expire_grants(&self) -> Option<&dyn EndGrants> {
        Some(self)
    }
    fn ledger_adjustments(&self) -> Option<&dyn AdjustLedger> {
        Some(self)
    }
    fn webhooks(&self) -> Option<&dyn crate::providers::webhooks::ReceiveWebhooks> {
        self.webhook_secret.is_some().then_some(self as _)
    }
}

#[async_trait]
impl ListGrants for Adapter {
    async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        let customer_id = request
            .customer_id
            .ok_or_else(|| ApiError::Internal("metronome grants need a customer".into()))?;
        let pager = self.grant_pager(request.scope, customer_id, request.include_raw);
        request.page_from(&pager, PROVIDER).await
    }
}

#[async_trait]
impl ListLedger for Adapter {
    async fn list_ledger(&self, request: &LedgerListRequest<'_>) -> Result<AssembledPage<LedgerEntry>, ApiError> {
        // The ledger's entries typed with the credits, unless their own JSON is kept.
        if request.include_raw {
            request.page_from(&self.ledger_pager::<Box<RawValue>>(request), PROVIDER).await
        } else {
            request.page_from(&self.ledger_pager::<MetronomeLedgerEntry>(request), PROVIDER).await
        }
    }
}

impl Adapter {
    /// The credits of a ledger request, with their ledgers read as `L`, as entries.
    fn ledger_pager<'a, L: LedgerItem>(&'a self, request: &LedgerListRequest<'a>) -> CreditPager<'a, LedgerEntry, L> {
        let customer_id = request.customer_id;
        CreditPager {
            adapter: self,
            scope: request.scope,
            customer_id,
            credit_id: request.grant_id,
            include: Include {
                balance: false,
                ledgers: true,
            },
            keep_raw: false,
            map: Box::new(move |adapter, credits| {
                let mut entries = Vec::new();
                for (credit, _) in credits {
                    entries.extend(adapter.map_ledger(credit, customer_id)?);
                }
                Ok(entries)
            }),
        }
    }
}

#[async_trait]
impl ReadBalances for Adapter {
    /// The sum of the credits' current balances, per credit type (in first-seen order).
    async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        let pager = self.grant_pager(scope, customer_id, false);
        let mut totals: Vec<Money> = Vec::new();
        let mut overflow = false;
        PageAssembler::new(&pager, PROVIDER)
            .walk(|grant| {
                let Some(balance) = grant.balance else { return };
                match totals.iter_mut().find(|t| t.unit == balance.unit) {
                    Some(total) => match total.value.checked_add(balance.value) {
                        Some(sum) => total.value = sum,
                        None => overflow = true,
                    },
                    None => totals.push(balance),
                }
            })
            .await?;
        if overflow {
            return Err(UpstreamError::invalid(PROVIDER, "balance total overflows").into());
        }
        let as_of = OffsetDateTime::now_utc();
        Ok(totals
            .into_iter()
            .map(|available| CreditBalance {
                object: BALANCE_OBJECT,
                provider: PROVIDER,
                customer: qualified_id(PROVIDER, customer_id),
                unit: available.unit.clone(),
                unit_type: available.unit_type,
                available,
                pending: None,
                as_of,
            })
            .collect())
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_facts_parse_and_cover_every_spec_ledger_type() {
        let file = Adapter::provider_file().unwrap();
        let facts = &file.dialect;
        for kind in MetronomeCreditLedgerType::KNOWN {
            assert!(facts.enums.ledger_type.contains_key(*kind), "{kind}");
        }
        assert!(facts.credit_types.contains_key(&facts.credit_types_default.name));
        assert_eq!(file.common.paging.max_page_size, 25);
    }
}
