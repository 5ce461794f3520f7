//! Lago: prepaid credits in **wallets** (the spec named in `providers/lago.toml`).
//!
//! How Lago's model maps to creditgate's (README.md, "Lago"):
//!
//! - **A grant is a wallet.** The wallet is what carries a name, a priority, an expiry, a
//!   status and a balance of its own at Lago; its top-ups and grants are transactions on
//!   it. `amount` is what the wallet has received net of voided credits
//!   (`credits_balance + consumed_credits`: Lago keeps no "originally granted" figure).
//!   A terminated wallet is `expired` when its `expiration_at` had passed when it was
//!   terminated (Lago's clock terminates expired wallets) and `voided` otherwise; its balance
//!   is zero, since Lago no longer applies it.
//! - **A ledger entry is a settled wallet transaction**: `granted` and `purchased` credits
//!   raise the balance, `invoiced` (usage) and `voided` lower it. Pending and failed
//!   transactions have not moved the balance and are not listed; a purchase appears once its
//!   payment settles it. A customer's ledger is their wallets' ledgers, wallet by wallet.
//! - **Money, exactly**: a wallet counts credits, and `rate_amount` is the value of one
//!   credit in the wallet's currency. creditgate reports every amount in that currency,
//!   `credits × rate_amount`, as an exact decimal (never Lago's rounded cents), so wallets
//!   with different rates add up; a balance is per currency.
//!
//! Lago pages by page number; [`paging`] walks those lists by place instead, so that items
//! created or removed during a walk neither repeat nor go missing.

use async_trait::async_trait;

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::base::{provider_config, vendor_item_id, vendor_path_id, vendor_timestamp, Dialect, VendorBase};
use super::{map_items, read_page, ConfigProblem, GrantIncludes, GrantListRequest, LedgerListRequest};
use crate::error::{ApiError, UpstreamError};
use crate::model::money::de_exact_decimal;
use crate::model::{
    qualified_id, CreditBalance, CreditGrant, GrantStatus, LedgerEntry, LedgerEntryType, Money, ProviderKind,
    Timestamp, UnitType, BALANCE_OBJECT, GRANT_OBJECT, LEDGER_ENTRY_OBJECT,
};
use crate::paging::{AssembledPage, BackwardPage, HasMore, PageAssembler, VendorPage, VendorPager};
use crate::providers::provider::{
    CreateGrants, CreditsProvider, EndGrants, ListGrants, ListLedger, LookUpGrant, ReadBalances,
};
use crate::upstream::CallScope;
use crate::vendor_enum;

pub mod paging;
mod webhooks;
mod writes;

use paging::{Key, NumberedList, NumberedPage, NumberedPager, Place};

const PROVIDER: ProviderKind = ProviderKind::Lago;

provider_config! {
    /// `[providers.lago]`; its secret is a Lago API key. For a self-hosted Lago, `base_url`
    /// is the API origin plus `/api/v1`.
    pub struct LagoConfig {
        /// The webhook signing secret, by reference: with it,
        /// `POST /v1/vendor_webhooks/lago` takes Lago's signed deliveries (the organization's HMAC key; the endpoint's `signature_algo` must be `hmac`).
        pub webhook_secret: Option<crate::secret::SecretRef>,
    }
}

/// Lago's own tables in `providers/lago.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagoFacts {
    pub enums: LagoEnums,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagoEnums {
    /// `transaction_status` -> normalized entry type.
    pub entry_type: HashMap<String, LedgerEntryType>,
}

// ---- Lago's wire shapes ----

vendor_enum! {
    /// `WalletObject.status`.
    pub enum WalletStatus { Active = "active", Terminated = "terminated" }
}

vendor_enum! {
    /// `WalletTransactionObject.transaction_status`.
    pub enum TransactionStatus { Purchased = "purchased", Granted = "granted", Voided = "voided", Invoiced = "invoiced" }
}

vendor_enum! {
    /// `WalletTransactionObject.transaction_type`.
    pub enum TransactionType { Inbound = "inbound", Outbound = "outbound" }
}

/// `PaginationMeta`, the fields creditgate reads. The spec bounds neither number: a
/// `next_page` only says whether a page follows, and `total_count` is only a hint where a
/// list ends (a negative one is taken as zero).
#[derive(Debug, Deserialize)]
struct Meta {
    next_page: Option<i64>,
    total_count: i64,
}

impl Meta {
    fn total_count(&self) -> u64 {
        u64::try_from(self.total_count).unwrap_or(0)
    }
}

/// `WalletsPaginated`.
#[derive(Debug, Deserialize)]
struct WalletsPage<E> {
    /// Typed in the same pass, or raw (see [`read_page`]).
    wallets: Vec<E>,
    meta: Meta,
}

/// `WalletTransactionsPaginated`.
#[derive(Debug, Deserialize)]
struct TransactionsPage<E> {
    /// Typed in the same pass, or raw (see [`read_page`]).
    wallet_transactions: Vec<E>,
    meta: Meta,
}

/// `Wallet`: one wallet in its envelope.
#[derive(Debug, Deserialize)]
struct WalletEnvelope {
    wallet: Box<RawValue>,
}

/// `WalletObject`, the fields creditgate reads.
#[derive(Debug, Clone, Deserialize)]
struct LagoWallet {
    lago_id: String,
    external_customer_id: String,
    status: WalletStatus,
    currency: String,
    name: Option<String>,
    #[serde(default)]
    code: Option<String>,
    priority: Option<i64>,
    #[serde(deserialize_with = "de_exact_decimal")]
    rate_amount: Decimal,
    #[serde(deserialize_with = "de_exact_decimal")]
    credits_balance: Decimal,
    #[serde(deserialize_with = "de_exact_decimal")]
    consumed_credits: Decimal,
    created_at: String,
    expiration_at: Option<String>,
    terminated_at: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, Option<String>>>,
}

/// `WalletTransactionObject`, the fields creditgate reads (its `lago_wallet_id` is the
/// wallet it was listed under, whose terms value it).
#[derive(Debug, Deserialize)]
struct LagoTransaction {
    lago_id: String,
    lago_invoice_id: Option<String>,
    status: String,
    transaction_status: TransactionStatus,
    transaction_type: TransactionType,
    #[serde(deserialize_with = "de_exact_decimal")]
    credit_amount: Decimal,
    settled_at: Option<String>,
    created_at: String,
}

/// What a wallet's transactions need to become ledger entries: its value and owner.
#[derive(Debug, Clone)]
struct WalletTerms {
    id: String,
    customer_id: String,
    rate: Decimal,
    currency: String,
    /// The wallet's `code`: creditgate's write key on the wallets it creates.
    code: Option<String>,
}

/// Talks to one Lago organization.
#[derive(Debug)]
pub struct Adapter {
    pub(super) base: VendorBase,
    facts: LagoFacts,
    webhook_secret: Option<crate::secret::Secret>,
}

impl Dialect for Adapter {
    const KIND: ProviderKind = PROVIDER;
    const PROVIDER_FILE: &'static str = include_str!("../../../providers/lago.toml");
    type Config = LagoConfig;
    type Facts = LagoFacts;

    fn assemble(base: VendorBase, facts: LagoFacts, config: &LagoConfig) -> Result<Self, ConfigProblem> {
        Ok(Adapter {
            base,
            facts,
            webhook_secret: crate::providers::webhooks::resolve_webhook_secret(config.webhook_secret.as_ref())?,
        })
    }
}

/// `credits × rate`, exactly, or a 502 when it does not fit a decimal.
fn value_of(credits: Decimal, rate: Decimal, what: &str) -> Result<Decimal, UpstreamError> {
    credits
        .checked_mul(rate)
        .map(|v| v.normalize())
        .ok_or_else(|| UpstreamError::invalid(PROVIDER, format!("{what}: credits × rate_amount overflows")))
}

fn money(value: Decimal, currency: &str) -> Money {
    Money {
        value,
        unit: currency.to_ascii_uppercase(),
        unit_type: UnitType::Currency,
    }
}

impl Adapter {
    async fn get(&self, scope: CallScope<'_>, url: url::Url) -> Result<crate::upstream::UpstreamResponse, ApiError> {
        Ok(self.base.bearer_get(scope, url, &[]).await?)
    }

    /// `url` with `extra` and the page asked for.
    fn paged(mut url: url::Url, page: u64, per_page: u64, extra: &[(&str, &str)]) -> url::Url {
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in extra {
                query.append_pair(name, value);
            }
            query.append_pair("page", &page.to_string());
            query.append_pair("per_page", &per_page.to_string());
        }
        url
    }

    /// `GET /wallets?external_customer_id=` page `page`.
    async fn wallets_page(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        (page, per_page): (u64, u64),
        keep_raw: bool,
    ) -> Result<(Vec<(LagoWallet, Option<Box<RawValue>>)>, Meta), ApiError> {
        let url = Self::paged(self.base.url(&["wallets"])?, page, per_page, &[("external_customer_id", customer_id)]);
        let response = self.get(scope, url).await?;
        Ok(read_page(
            &response,
            "wallets",
            keep_raw,
            |p: WalletsPage<Box<RawValue>>| (p.wallets, p.meta),
            |p: WalletsPage<LagoWallet>| (p.wallets, p.meta),
        )?)
    }

    /// Every wallet of a customer, in Lago's order (a customer has a handful).
    async fn all_wallets(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<WalletTerms>, ApiError> {
        let list = WalletList {
            adapter: self,
            scope,
            customer_id,
            include_raw: false,
            now: OffsetDateTime::now_utc(),
        };
        let pager = NumberedPager::new(&list, PROVIDER);
        let mut wallets = Vec::new();
        PageAssembler::new(&pager, PROVIDER)
            .walk(|(_, terms)| wallets.push(terms))
            .await?;
        Ok(wallets)
    }

    /// `GET /wallets/{lago_id}`.
    async fn wallet(
        &self,
        scope: CallScope<'_>,
        id: &str,
        keep_raw: bool,
    ) -> Result<(LagoWallet, Option<Box<RawValue>>), ApiError> {
        vendor_path_id(PROVIDER, "lago_id", id)?;
        let response = self.get(scope, self.base.url(&["wallets", id])?).await?;
        let envelope: WalletEnvelope = response.json()?;
        let raw = envelope.wallet;
        let wallet: LagoWallet = crate::upstream::parse_json_slice(PROVIDER, raw.get().as_bytes())
            .map_err(|e| e.within("wallet"))?;
        Ok((wallet, keep_raw.then_some(raw)))
    }

    fn terms(&self, w: &LagoWallet) -> Result<WalletTerms, UpstreamError> {
        vendor_item_id(PROVIDER, "lago_id", &w.lago_id)?;
        Ok(WalletTerms {
            id: w.lago_id.clone(),
            customer_id: w.external_customer_id.clone(),
            rate: w.rate_amount,
            currency: w.currency.to_ascii_uppercase(),
            code: w.code.clone(),
        })
    }

    fn map_wallet(
        &self,
        w: LagoWallet,
        raw: Option<Box<RawValue>>,
        now: OffsetDateTime,
    ) -> Result<CreditGrant, UpstreamError> {
        let id = vendor_item_id(PROVIDER, "lago_id", &w.lago_id)?;
        let customer = vendor_item_id(PROVIDER, "external_customer_id", &w.external_customer_id)?;
        let time = |field: &str, text: &Option<String>| -> Result<Option<Timestamp>, UpstreamError> {
            text.as_deref().map(|t| vendor_timestamp(PROVIDER, field, t)).transpose()
        };
        let created_at = vendor_timestamp(PROVIDER, "created_at", &w.created_at)?;
        let expires_at = time("expiration_at", &w.expiration_at)?;
        let terminated_at = time("terminated_at", &w.terminated_at)?;
        let status = wallet_status(&w, expires_at, terminated_at, now);
        let received = w
            .credits_balance
            .checked_add(w.consumed_credits)
            .ok_or_else(|| UpstreamError::invalid(PROVIDER, "credits_balance + consumed_credits overflows"))?;
        let amount = value_of(received, w.rate_amount, "amount")?;
        let balance = if status.has_ended() {
            Decimal::ZERO
        } else {
            value_of(w.credits_balance, w.rate_amount, "credits_balance")?
        };
        let metadata = w
            .metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.map_or(serde_json::Value::Null, serde_json::Value::String)))
            .collect();
        Ok(CreditGrant {
            object: GRANT_OBJECT,
            id,
            provider: PROVIDER,
            provider_id: w.lago_id,
            customer: Some(customer),
            name: w.name,
            category: None,
            amount: money(amount, &w.currency),
            balance: Some(money(balance, &w.currency)),
            status,
            priority: w.priority.map(Decimal::from),
            effective_at: Some(created_at),
            expires_at,
            created_at: Some(created_at),
            external_refs: Vec::new(),
            metadata,
            ledger: None,
            raw,
        })
    }

    fn map_transaction(
        &self,
        t: LagoTransaction,
        wallet: &WalletTerms,
        raw: Option<Box<RawValue>>,
    ) -> Result<LedgerEntry, UpstreamError> {
        let id = vendor_item_id(PROVIDER, "lago_id", &t.lago_id)?;
        let created_at = vendor_timestamp(PROVIDER, "created_at", &t.created_at)?;
        let settled_at = t
            .settled_at
            .as_deref()
            .map(|s| vendor_timestamp(PROVIDER, "settled_at", s))
            .transpose()?;
        let status = t.transaction_status.as_str();
        let entry_type = self
            .facts
            .enums
            .entry_type
            .get(status)
            .copied()
            .unwrap_or(LedgerEntryType::Unknown);
        let value = value_of(t.credit_amount.abs(), wallet.rate, "credit_amount")?;
        // The direction is Lago's `transaction_type`, whatever the status.
        let signed = match t.transaction_type {
            TransactionType::Outbound => -value,
            TransactionType::Inbound | TransactionType::Unknown(_) => value,
        };
        Ok(LedgerEntry {
            object: LEDGER_ENTRY_OBJECT,
            id: id.clone(),
            provider: PROVIDER,
            customer: Some(qualified_id(PROVIDER, &wallet.customer_id)),
            grant: Some(qualified_id(PROVIDER, &wallet.id)),
            entry_type,
            provider_type: status.to_owned(),
            amount: money(signed, &wallet.currency),
            balance_after: None,
            effective_at: Some(settled_at.unwrap_or(created_at)),
            created_at: Some(created_at),
            invoice_id: t.lago_invoice_id,
            contract_id: None,
            external_refs: Vec::new(),
            raw,
            provider_id: t.lago_id,
        })
    }
}

/// A wallet's status: see the module documentation.
fn wallet_status(
    w: &LagoWallet,
    expires_at: Option<Timestamp>,
    terminated_at: Option<Timestamp>,
    now: OffsetDateTime,
) -> GrantStatus {
    match w.status {
        WalletStatus::Terminated => {
            let ended_at = terminated_at.unwrap_or(now);
            if expires_at.is_some_and(|e| e <= ended_at) {
                GrantStatus::Expired
            } else {
                GrantStatus::Voided
            }
        }
        WalletStatus::Active if expires_at.is_some_and(|e| e <= now) => GrantStatus::Expired,
        WalletStatus::Active if w.credits_balance <= Decimal::ZERO => GrantStatus::Depleted,
        WalletStatus::Active => GrantStatus::Active,
        WalletStatus::Unknown(_) => GrantStatus::Unknown,
    }
}

fn place_of(at: Option<Timestamp>, id: &str) -> Place<'_> {
    Place {
        at: at.map_or(i64::MIN, |t| t.unix_timestamp()),
        id,
    }
}

/// A customer's wallets (`GET /wallets?external_customer_id=`), as grants with their terms.
struct WalletList<'a> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    customer_id: &'a str,
    include_raw: bool,
    now: OffsetDateTime,
}

impl NumberedList for WalletList<'_> {
    type Item = (CreditGrant, WalletTerms);

    async fn fetch(&self, page: u64, per_page: u64) -> Result<NumberedPage<Self::Item>, ApiError> {
        let adapter = self.adapter;
        let (wallets, meta) = adapter
            .wallets_page(self.scope, self.customer_id, (page, per_page), self.include_raw)
            .await?;
        let items = map_items("wallets", wallets, |w, raw| {
            let terms = adapter.terms(&w)?;
            Ok((adapter.map_wallet(w, raw, self.now)?, terms))
        })?;
        Ok(NumberedPage {
            items,
            next_page: meta.next_page.is_some(),
            total_count: meta.total_count(),
        })
    }

    fn per_page(&self) -> u64 {
        self.adapter.base.page_size as u64
    }

    fn place<'i>(&self, item: &'i Self::Item) -> Place<'i> {
        place_of(item.0.created_at, &item.0.provider_id)
    }
}

/// The wallets as grants alone, for the grants list.
struct GrantList<'a>(WalletList<'a>);

impl NumberedList for GrantList<'_> {
    type Item = CreditGrant;

    async fn fetch(&self, page: u64, per_page: u64) -> Result<NumberedPage<CreditGrant>, ApiError> {
        let page = self.0.fetch(page, per_page).await?;
        Ok(NumberedPage {
            items: page.items.into_iter().map(|(grant, _)| grant).collect(),
            next_page: page.next_page,
            total_count: page.total_count,
        })
    }

    fn per_page(&self) -> u64 {
        self.0.per_page()
    }

    fn place<'i>(&self, item: &'i CreditGrant) -> Place<'i> {
        place_of(item.created_at, &item.provider_id)
    }
}

/// One wallet's settled transactions (`GET /wallets/{lago_id}/wallet_transactions`).
struct TransactionList<'a> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    wallet: &'a WalletTerms,
    include_raw: bool,
}

impl NumberedList for TransactionList<'_> {
    type Item = LedgerEntry;

    async fn fetch(&self, page: u64, per_page: u64) -> Result<NumberedPage<LedgerEntry>, ApiError> {
        let adapter = self.adapter;
        vendor_path_id(PROVIDER, "lago_id", &self.wallet.id)?;
        let base = adapter.base.url(&["wallets", &self.wallet.id, "wallet_transactions"])?;
        let url = Adapter::paged(base, page, per_page, &[("status", "settled")]);
        let response = adapter.get(self.scope, url).await?;
        let (parsed, meta) = read_page(
            &response,
            "wallet_transactions",
            self.include_raw,
            |p: TransactionsPage<Box<RawValue>>| (p.wallet_transactions, p.meta),
            |p: TransactionsPage<LagoTransaction>| (p.wallet_transactions, p.meta),
        )?;
        // Asked for settled ones only; a proxy or an older Lago that ignores the filter
        // must not put a pending purchase in the ledger.
        let settled = parsed.into_iter().filter(|(t, _)| t.status == "settled").collect();
        let items = map_items("wallet_transactions", settled, |t, raw| {
            adapter.map_transaction(t, self.wallet, raw)
        })?;
        Ok(NumberedPage {
            items,
            next_page: meta.next_page.is_some(),
            total_count: meta.total_count(),
        })
    }

    fn per_page(&self) -> u64 {
        self.adapter.base.page_size as u64
    }

    fn place<'i>(&self, item: &'i LedgerEntry) -> Place<'i> {
        place_of(item.created_at, &item.provider_id)
    }
}

/// An offset no list reaches: Lago answers its page empty with `total_count`, which is where
/// a walk from a list's end begins.
const PAST_THE_END: u64 = 1 << 40;

/// A customer's ledger: each wallet's transactions in turn, in the order Lago lists the
/// wallets. A token is `<wallet lago_id>|<key in that wallet's list>` (an empty key: the
/// wallet's start).
struct CustomerLedger<'a> {
    adapter: &'a Adapter,
    scope: CallScope<'a>,
    wallets: Vec<WalletTerms>,
    include_raw: bool,
    keys: std::sync::Mutex<HashMap<String, String>>,
}

impl<'a> CustomerLedger<'a> {
    fn list(&'a self, wallet: &'a WalletTerms) -> TransactionList<'a> {
        TransactionList {
            adapter: self.adapter,
            scope: self.scope,
            wallet,
            include_raw: self.include_raw,
        }
    }

    /// The wallet a token names, by its index in the list.
    fn wallet_at(&self, token: &str) -> Result<(usize, Option<Key>), ApiError> {
        let bad = || ApiError::invalid_cursor("the cursor's wallet position is malformed");
        let (wallet, key) = token.split_once('|').ok_or_else(bad)?;
        let key = (!key.is_empty()).then(|| Key::decode(key)).transpose()?;
        let index = self.wallets.iter().position(|w| w.id == wallet).ok_or_else(|| {
            ApiError::invalid_cursor("the cursor names a wallet the customer no longer has: start the walk again")
        })?;
        Ok((index, key))
    }

    fn remember(&self, wallet: &WalletTerms, items: Vec<(LedgerEntry, Key)>) -> Vec<LedgerEntry> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        items
            .into_iter()
            .map(|(entry, key)| {
                keys.insert(entry.provider_id.clone(), format!("{}|{}", wallet.id, key.encode()));
                entry
            })
            .collect()
    }

    /// Whether any wallet before `index` holds a transaction.
    async fn any_before(&self, index: usize) -> Result<bool, ApiError> {
        for wallet in self.wallets[..index].iter().rev() {
            if !self.list(wallet).fetch(1, 1).await?.items.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl VendorPager for CustomerLedger<'_> {
    type Item = LedgerEntry;

    async fn vendor_page(&self, token: Option<&str>) -> Result<VendorPage<LedgerEntry>, ApiError> {
        let (index, key) = match token {
            None => (0, None),
            Some(token) => self.wallet_at(token)?,
        };
        let Some(wallet) = self.wallets.get(index) else {
            return Ok(VendorPage::whole(Vec::new()));
        };
        let step = paging::forward(&self.list(wallet), PROVIDER, key.as_ref()).await?;
        let (has_more, next_token) = match step.next {
            Some(next) => (HasMore::Yes, Some(format!("{}|{}", wallet.id, next.encode()))),
            None => match self.wallets.get(index + 1) {
                // The following wallets may hold nothing.
                Some(following) => (HasMore::Maybe, Some(format!("{}|", following.id))),
                None => (HasMore::No, None),
            },
        };
        Ok(VendorPage {
            items: self.remember(wallet, step.items),
            has_more,
            next_token,
            prev_token: None,
        })
    }

    fn item_key(&self, item: &LedgerEntry) -> Option<String> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(&item.provider_id).cloned()
    }

    fn pages_backward(&self) -> bool {
        true
    }

    async fn vendor_page_before(&self, before: &str) -> Result<BackwardPage<LedgerEntry>, ApiError> {
        let (mut index, key) = self.wallet_at(before)?;
        let Some(key) = key else {
            return Err(ApiError::invalid_cursor("the cursor's wallet position is malformed"));
        };
        let (items, more_here) = paging::backward(&self.list(&self.wallets[index]), PROVIDER, &key).await?;
        if !items.is_empty() {
            let more_before = more_here || self.any_before(index).await?;
            return Ok(BackwardPage {
                items: self.remember(&self.wallets[index], items),
                more_before,
            });
        }
        // Nothing before it in its wallet: the last page of the nearest earlier wallet
        // that holds anything.
        while index > 0 {
            index -= 1;
            let wallet = &self.wallets[index];
            let (items, more_here) = paging::backward(&self.list(wallet), PROVIDER, &Key::end(PAST_THE_END)).await?;
            if !items.is_empty() {
                let more_before = more_here || self.any_before(index).await?;
                return Ok(BackwardPage {
                    items: self.remember(wallet, items),
                    more_before,
                });
            }
        }
        Ok(BackwardPage {
            items: Vec::new(),
            more_before: false,
        })
    }
}

/// Grants, the ledger and balances by customer, one grant by id with its ledger; pages both
/// ways; creates and voids grants (`writes.rs`). No account-wide list: Lago lists wallets
/// only by `external_customer_id`. No expiry: Lago expires a wallet only by its own hourly
/// clock, not on request. No manual entries: a wallet's top-ups are its grant's.
impl CreditsProvider for Adapter {
    fn base(&self) -> &VendorBase {
        &self.base
    }
    fn credit_grants(&self) -> Option<&dyn ListGrants> {
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
    fn webhooks(&self) -> Option<&dyn crate::providers::webhooks::ReceiveWebhooks> {
        self.webhook_secret.is_some().then_some(self as _)
    }
}

#[async_trait]
impl ListGrants for Adapter {
    async fn list_grants(&self, request: &GrantListRequest<'_>) -> Result<AssembledPage<CreditGrant>, ApiError> {
        let Some(customer_id) = request.customer_id else {
            return Err(ApiError::Internal("Lago lists wallets only by customer".into()));
        };
        let list = GrantList(WalletList {
            adapter: self,
            scope: request.scope,
            customer_id,
            include_raw: request.include_raw,
            now: OffsetDateTime::now_utc(),
        });
        request.page_from(&NumberedPager::new(&list, PROVIDER), PROVIDER).await
    }
}

#[async_trait]
impl LookUpGrant for Adapter {
    async fn get_grant(&self, scope: CallScope<'_>, id: &str, include: GrantIncludes) -> Result<CreditGrant, ApiError> {
        let (wallet, raw) = self.wallet(scope, id, include.raw).await?;
        let terms = self.terms(&wallet)?;
        let mut grant = self.map_wallet(wallet, raw, OffsetDateTime::now_utc())?;
        if include.ledger {
            let list = TransactionList {
                adapter: self,
                scope,
                wallet: &terms,
                include_raw: false,
            };
            let pager = NumberedPager::new(&list, PROVIDER);
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
        let wallets = match request.grant_id {
            Some(grant_id) => {
                let (wallet, _) = self.wallet(request.scope, grant_id, false).await?;
                if wallet.external_customer_id != request.customer_id {
                    return Err(UpstreamError::NotFound {
                        provider: PROVIDER,
                        message: format!("wallet {grant_id} does not belong to customer {}", request.customer_id),
                    }
                    .into());
                }
                vec![self.terms(&wallet)?]
            }
            None => self.all_wallets(request.scope, request.customer_id).await?,
        };
        let pager = CustomerLedger {
            adapter: self,
            scope: request.scope,
            wallets,
            include_raw: request.include_raw,
            keys: std::sync::Mutex::new(HashMap::new()),
        };
        request.page_from(&pager, PROVIDER).await
    }
}

#[async_trait]
impl ReadBalances for Adapter {
    /// One balance per currency of the customer's wallets: the settled `credits_balance` of
    /// each wallet still in force, times its rate. A customer without wallets has none.
    async fn balances(&self, scope: CallScope<'_>, customer_id: &str) -> Result<Vec<CreditBalance>, ApiError> {
        let list = GrantList(WalletList {
            adapter: self,
            scope,
            customer_id,
            include_raw: false,
            now: OffsetDateTime::now_utc(),
        });
        let pager = NumberedPager::new(&list, PROVIDER);
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut overflow = false;
        PageAssembler::new(&pager, PROVIDER)
            .walk(|grant| {
                let Some(balance) = grant.balance else { return };
                let total = totals.entry(balance.unit).or_default();
                match total.checked_add(balance.value) {
                    Some(sum) => *total = sum,
                    None => overflow = true,
                }
            })
            .await?;
        if overflow {
            return Err(UpstreamError::invalid(PROVIDER, "the wallets' balances overflow a decimal").into());
        }
        let as_of = OffsetDateTime::now_utc();
        Ok(totals
            .into_iter()
            .map(|(currency, value)| CreditBalance {
                object: BALANCE_OBJECT,
                provider: PROVIDER,
                customer: qualified_id(PROVIDER, customer_id),
                unit: currency.clone(),
                unit_type: UnitType::Currency,
                available: money(value, &currency),
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
    fn embedded_facts_parse_and_cover_every_spec_enum_value() {
        let file = Adapter::provider_file().unwrap();
        for status in TransactionStatus::KNOWN {
            assert!(file.dialect.enums.entry_type.contains_key(*status), "{status}");
        }
        assert_eq!(file.common.paging.page_size, 100);
    }
}
