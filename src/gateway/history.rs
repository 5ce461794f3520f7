//! Balances in the past (README.md, "Balance history"): `GET /v1/credit_balances?as_of=`
//! and `GET /v1/credit_balance_history`. Every vendor's ledger sums to its balance, so a
//! customer's ledger at a provider, read whole in one walk of the vendor's pages (its
//! vendor answers cached and dropped with the customer's like any read), is summed at the past
//! instants asked for. The read is bounded: [`MAX_HISTORY_ENTRIES`] entries per provider,
//! [`MAX_HISTORY_POINTS`] points.

use std::sync::Arc;

use serde::Serialize;

use super::listing::{ListPage, Skipped};
use super::targets::{gather, target_customer, Gathered, Target};
use super::{Caller, Gateway};
use crate::error::ApiError;
use crate::model::history::{
    sum_points, HistoryPoint, Interval, ProviderHistory, Timeline, TimelineError, HISTORY_OBJECT,
};
use crate::model::{qualified_id, Capability, CreditBalance, Money, ProviderKind, Timestamp, BALANCE_OBJECT};
use crate::paging::Position;
use crate::providers::LedgerListRequest;
use crate::upstream::{CacheUse, CallScope};

/// The most ledger entries read at one provider for a balance in the past.
pub const MAX_HISTORY_ENTRIES: usize = 100_000;
/// The most points of one history.
pub const MAX_HISTORY_POINTS: i64 = 1_000;

/// `GET /v1/credit_balance_history` parameters.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub customer: String,
    pub provider: Option<ProviderKind>,
    pub unit: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub interval: Interval,
    pub require_all: bool,
}

/// A customer's balance in one unit over a window: summed over its providers, and each
/// provider's.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BalanceHistory {
    #[schemars(extend("const" = "credit_balance_history"))]
    pub object: &'static str,
    /// As asked: `<provider>:<id>` or an alias.
    pub customer: String,
    pub unit: String,
    pub interval: Interval,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub from: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub to: Timestamp,
    /// Every provider's points, added.
    pub points: Vec<HistoryPoint>,
    pub providers: Vec<ProviderHistory>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// A provider that should have answered was left out: never kept in the answer cache.
    #[serde(skip)]
    pub partial: bool,
}

fn timeline_error(provider: ProviderKind, e: TimelineError) -> ApiError {
    crate::error::UpstreamError::invalid(provider, e.to_string()).into()
}

impl Gateway {
    /// A target customer's whole ledger as a timeline: kept from an earlier request
    /// (`timelines.rs`) unless the client asked for fresh answers, or read in one walk of
    /// the vendor's pages (each read once, through the vendor cache) and kept as long as
    /// the vendor answers it was read from may be. Refused past [`MAX_HISTORY_ENTRIES`]
    /// entries.
    async fn timeline(
        &self,
        target: &Target<'_>,
        customer_id: &str,
        cache: &CacheUse,
    ) -> Result<Arc<Timeline>, ApiError> {
        let provider = target.adapter.kind();
        let kept = self.answers().timelines();
        if !cache.bypass() {
            if let Some(timeline) = kept.get(provider, customer_id).await {
                cache.note_answer_hit();
                return Ok(timeline);
            }
        }
        let generation = kept.generation();
        let request = LedgerListRequest {
            scope: CallScope::new(cache).about(Some(customer_id)),
            customer_id,
            grant_id: None,
            include_raw: false,
            position: Position::START,
            limit: MAX_HISTORY_ENTRIES,
            whole: true,
        };
        let ledger = target.adapter.list_ledger(&request).await?;
        if ledger.next.is_some() || ledger.items.len() > MAX_HISTORY_ENTRIES {
            return Err(ApiError::invalid_param(
                "customer",
                format!(
                    "{} has more than {MAX_HISTORY_ENTRIES} ledger entries at {provider}: a balance in the past is \
                     summed from the whole ledger, which is not read past that many",
                    qualified_id(provider, customer_id)
                ),
            ));
        }
        let mut timeline = Timeline::default();
        timeline.extend(ledger.items).map_err(|e| timeline_error(provider, e))?;
        let timeline = Arc::new(timeline.sorted());
        if let Some((ttl, _)) = cache.reusable() {
            kept.keep(provider, customer_id, Arc::clone(&timeline), ttl, generation)
                .await;
        }
        Ok(timeline)
    }

    /// `GET /v1/credit_balances?as_of=`: each of a target's balances, one per unit its
    /// ledger has entries in, as it stood at `at`.
    pub(super) async fn balances_at(
        &self,
        target: &Target<'_>,
        at: Timestamp,
        cache: &CacheUse,
    ) -> Result<Vec<CreditBalance>, ApiError> {
        let provider = target.adapter.kind();
        let customer_id = target_customer(target)?;
        let timeline = self.timeline(target, &customer_id, cache).await?;
        timeline
            .units()
            .into_iter()
            .map(|(unit, unit_type)| {
                let available = timeline
                    .balance_at(&unit, unit_type, at)
                    .map_err(|e| timeline_error(provider, e))?;
                Ok(CreditBalance {
                    object: BALANCE_OBJECT,
                    provider,
                    customer: qualified_id(provider, &customer_id),
                    unit,
                    unit_type,
                    available,
                    pending: None,
                    as_of: at,
                })
            })
            .collect()
    }

    /// `GET /v1/credit_balance_history`.
    pub async fn balance_history(
        &self,
        caller: &Caller,
        query: &HistoryQuery,
        cache: &CacheUse,
    ) -> Result<BalanceHistory, ApiError> {
        let (window, step) = (
            (query.to - query.from).whole_seconds(),
            query.interval.length().whole_seconds(),
        );
        let points = (window + step - 1) / step;
        if points > MAX_HISTORY_POINTS {
            return Err(ApiError::invalid_param(
                "interval",
                format!(
                    "from..to by {} is {points} points; at most {MAX_HISTORY_POINTS}: use a longer interval or a \
                     shorter window",
                    query.interval.as_str()
                ),
            ));
        }
        let unit = &Money::in_unit(rust_decimal::Decimal::ZERO, &query.unit);
        let reach = self.targets(caller, Some(&query.customer), query.provider, Capability::CreditLedger)?;
        let gathered = gather(reach, query.require_all, |target| async move {
            let provider = target.adapter.kind();
            let customer_id = target_customer(&target)?;
            let timeline = self.timeline(&target, &customer_id, cache).await?;
            let points = timeline
                .points(&unit.unit, unit.unit_type, query.from, query.to, query.interval)
                .map_err(|e| timeline_error(provider, e))?;
            Ok(ProviderHistory {
                provider,
                customer: qualified_id(provider, &customer_id),
                points,
            })
        })
        .await?;
        let parts: Vec<&[HistoryPoint]> = gathered.answers.iter().map(|p| p.points.as_slice()).collect();
        let points = sum_points(&parts).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(BalanceHistory {
            object: HISTORY_OBJECT,
            customer: query.customer.clone(),
            unit: unit.unit.clone(),
            interval: query.interval,
            from: query.from,
            to: query.to,
            points,
            providers: gathered.answers,
            skipped: gathered.skipped,
            partial: gathered.partial,
        })
    }
}

impl ListPage<CreditBalance> {
    /// The balances a [`gather`] collected.
    pub(super) fn of_balances(gathered: Gathered<Vec<CreditBalance>>) -> Self {
        ListPage {
            partial: gathered.partial,
            ..ListPage::new(
                gathered.answers.into_iter().flatten().collect(),
                None,
                None,
                gathered.skipped,
            )
        }
    }
}
