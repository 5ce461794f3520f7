//! Vayu's writes: `POST /credits/grant` and `POST /credits/deduct`, a customer's ledger
//! moved up or down. Both answer an empty 200 and Vayu has no idempotency mechanism, so
//! the entry is read back from the ledger: the newest entry of that type and amount
//! created since the write began (a minute of clock skew allowed). The same look, after an
//! unknown outcome, decides whether the earlier attempt happened before writing again.
//! Writes to one customer go one at a time and never take an entry another write claimed
//! (`shared::serial`); an identical adjustment made outside creditgate in that window would
//! still be taken for it (README.md, "Writes").

use async_trait::async_trait;

use serde_json::json;
use time::Duration;

use super::{Adapter, VayuLedgerPager, PROVIDER};
use crate::providers::provider::AdjustLedger;
use crate::error::ApiError;
use crate::model::money::json_number;
use crate::model::write::{Adjustment, Direction, LedgerAdjustment};
use crate::model::{LedgerEntry, LedgerEntryType};
use crate::paging::PageAssembler;
use crate::providers::writes::{exact_as_json_number, refuse, WriteContext};
use crate::upstream::UpstreamRequest;

/// How far Vayu's clock may be behind creditgate's when looking for an entry.
const CLOCK_SKEW: Duration = Duration::minutes(1);

impl Adapter {

    /// The newest entry of the adjustment's type and amount created since the write began
    /// that no other write has claimed.
    async fn find_entry(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<Option<LedgerEntry>, ApiError> {
        let (kind, signed) = match adjustment.direction {
            Direction::Credit => (LedgerEntryType::Grant, adjustment.amount.value),
            Direction::Debit => (LedgerEntryType::Debit, -adjustment.amount.value),
        };
        let after = cx.since - CLOCK_SKEW;
        let pager = VayuLedgerPager {
            adapter: self,
            scope: cx.scope,
            customer_id,
            include_raw: false,
        };
        let mut newest: Option<LedgerEntry> = None;
        PageAssembler::new(&pager, PROVIDER)
            .walk(|e| {
                let matches = e.entry_type == kind
                    && e.amount.value == signed
                    && e.created_at.is_some_and(|at| at >= after)
                    && !cx.claimed.contains(&e.provider_id);
                if matches && newest.as_ref().is_none_or(|n| n.created_at < e.created_at) {
                    newest = Some(e);
                }
            })
            .await?;
        Ok(newest)
    }

}

#[async_trait]
impl AdjustLedger for Adapter {
    /// Vayu's rules: the account's one unit; no grant (Vayu has none) and no reason.
    fn check_adjustment(&self, adjustment: &Adjustment) -> Result<(), ApiError> {
        if !adjustment.amount.unit.eq_ignore_ascii_case(&self.unit) {
            return Err(refuse(
                PROVIDER,
                "amount.unit",
                format!("credits are in {}, not {}", self.unit, adjustment.amount.unit),
            ));
        }
        exact_as_json_number(PROVIDER, "amount.value", adjustment.amount.value)?;
        if adjustment.grant.is_some() {
            return Err(refuse(PROVIDER, "grant", "a ledger has no grants; leave it out"));
        }
        if adjustment.reason.is_some() {
            return Err(refuse(PROVIDER, "reason", "entries carry no reason; leave it out"));
        }
        Ok(())
    }

    async fn adjust(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<LedgerAdjustment, ApiError> {
        let path = match adjustment.direction {
            Direction::Credit => "grant",
            Direction::Debit => "deduct",
        };
        let url = self.base.url(&["credits", path])?;
        let body = json!({ "creditAmount": json_number(adjustment.amount.value), "customerId": customer_id });
        let mut token = self.access_token(cx.scope).await?;
        for attempt in 0..2 {
            let request = UpstreamRequest::post_json(PROVIDER, url.clone(), &body)
                .sensitive_header("authorization", &format!("Bearer {}", token.value.expose()));
            let response = self.base.write_once(cx, request).await?;
            // A 401 was not applied: refresh the token once and send again.
            if response.status.as_u16() == 401 && attempt == 0 {
                self.invalidate(token.generation).await;
                token = self.access_token(cx.scope).await?;
                continue;
            }
            response.error_for_status()?;
            break;
        }
        let entry = self.find_entry(cx, customer_id, adjustment).await?;
        Ok(LedgerAdjustment::of(PROVIDER, customer_id, adjustment, entry))
    }

    /// The entry an earlier attempt booked, if the ledger shows one.
    async fn find_adjustment(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<Option<LedgerAdjustment>, ApiError> {
        let entry = self.find_entry(cx, customer_id, adjustment).await?;
        Ok(entry.map(|e| LedgerAdjustment::of(PROVIDER, customer_id, adjustment, Some(e))))
    }
}

