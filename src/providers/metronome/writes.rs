//! Metronome's writes, on the contracts API (`specs/metronome/WRITES.md`):
//! `customerCredits/create` with `uniqueness_key` (a reused key
//! is a 409, resolved to the credit the key made), `customerCredits/updateEndDate` (a
//! contracts credit has no void: ending it now is its expiry) and
//! `addManualBalanceLedgerEntry` (a manual entry on one credit's current segment; its
//! `reason` carries creditgate's marker). Amounts are JSON numbers in the credit type's
//! unit: cents for USD.

use async_trait::async_trait;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{read_credits, Include, Adapter, MetronomeCredit, MetronomeLedgerEntry, PROVIDER};
use crate::providers::WithRaw;
use crate::providers::provider::{CreateGrants, EndGrants, AdjustLedger, GrantFields};
use crate::error::{ApiError, UpstreamError};
use crate::model::money::json_number;
use crate::model::write::{Adjustment, Direction, LedgerAdjustment, NewGrant};
use crate::model::{CreditGrant, Money};
use crate::paging::PageAssembler;
use crate::providers::writes::{exact_as_json_number, refuse, GrantEnd, WriteContext};
use crate::upstream::{CallScope, UpstreamRequest};

#[derive(Debug, Deserialize)]
struct Created {
    data: super::IdOnly,
}

fn rfc3339(at: OffsetDateTime) -> Result<String, ApiError> {
    at.format(&Rfc3339)
        .map_err(|e| ApiError::Internal(format!("cannot format a time: {e}")))
}

impl Adapter {
    /// The amount in the credit type's unit (cents for USD), or the 400 that says why not.
    fn credit_units(&self, field: &'static str, amount: &Money) -> Result<Decimal, ApiError> {
        let (name, fiat) = self
            .facts
            .credit_types
            .iter()
            .find(|(_, fiat)| fiat.currency.eq_ignore_ascii_case(&amount.unit))
            .ok_or_else(|| {
                let known: Vec<&str> = self.facts.credit_types.values().map(|f| f.currency.as_str()).collect();
                refuse(
                    PROVIDER,
                    field,
                    format!(
                        "creditgate writes Metronome's fiat credit types only ({}); `{}` is not one",
                        known.join(", "),
                        amount.unit
                    ),
                )
            })?;
        let units = amount.to_minor_units(fiat.exponent).ok_or_else(|| {
            refuse(
                PROVIDER,
                "amount.value",
                format!("{} {} is not a whole number of {name}", amount.value, amount.unit),
            )
        })?;
        Ok(Decimal::from(units))
    }

    fn write_request(&self, path: &[&str], body: &Value) -> Result<UpstreamRequest, ApiError> {
        let url = self.base.url(path)?;
        Ok(UpstreamRequest::post_json(PROVIDER, url, body)
            .sensitive_header("authorization", &format!("Bearer {}", self.base.secret.expose())))
    }

    /// One credit of `customer_id`, with its balance and, with `ledgers`, its ledger.
    async fn find_credit(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        credit_id: &str,
        ledgers: bool,
    ) -> Result<Option<WithRaw<MetronomeCredit<MetronomeLedgerEntry>>>, ApiError> {
        let include = Include { balance: true, ledgers };
        let response = self
            .list_credits(scope, customer_id, Some(credit_id), include, None)
            .await?;
        let (credits, _) = read_credits::<MetronomeLedgerEntry>(&response, false)?;
        Ok(credits.into_iter().find(|(c, _)| c.id == credit_id))
    }

    /// One credit, as a grant, or `grant_not_found`.
    pub async fn credit(
        &self,
        scope: CallScope<'_>,
        customer_id: &str,
        credit_id: &str,
    ) -> Result<CreditGrant, ApiError> {
        let (credit, raw) = self
            .find_credit(scope, customer_id, credit_id, false)
            .await?
            .ok_or_else(|| ApiError::grant_not_found(PROVIDER, credit_id))?;
        Ok(self.map_credit(credit, customer_id, raw, OffsetDateTime::now_utc())?)
    }

    fn credit_id(adjustment: &Adjustment) -> Result<&str, ApiError> {
        adjustment
            .grant
            .as_deref()
            .and_then(|g| g.split_once(':'))
            .map(|(_, id)| id)
            .ok_or_else(|| refuse(PROVIDER, "grant", "a manual ledger entry is booked on a credit"))
    }

}

#[async_trait]
impl CreateGrants for Adapter {
    /// Custom fields (its metadata) and a priority; no category.
    fn keeps(&self) -> GrantFields {
        GrantFields {
            metadata: true,
            priority: true,
            category: false,
        }
    }

    /// Metronome's rules for a new credit: a fiat credit type, a priority (required), an
    /// end (every schedule item has one), no category.
    fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        let units = self.credit_units("amount.unit", &grant.amount)?;
        exact_as_json_number(PROVIDER, "amount.value", units)?;
        if grant.priority.is_none() {
            return Err(refuse(
                PROVIDER,
                "priority",
                "a credit needs a priority (lower applies first)",
            ));
        }
        if grant.expires_at.is_none() {
            return Err(refuse(
                PROVIDER,
                "expires_at",
                "a credit's access schedule needs an end",
            ));
        }
        if grant.category.is_some() {
            return Err(refuse(PROVIDER, "category", "credits have no category; leave it out"));
        }
        Ok(())
    }

    async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        let product_id = self.credit_product_id.as_deref().ok_or(ApiError::Unsupported {
            provider: PROVIDER,
            capability: crate::model::Capability::CreateGrants,
        })?;
        let priority = grant
            .priority
            .ok_or_else(|| refuse(PROVIDER, "priority", "a credit needs a priority"))?;
        let ending = grant
            .expires_at
            .ok_or_else(|| refuse(PROVIDER, "expires_at", "a credit's access schedule needs an end"))?;
        let starting = grant.effective_at.unwrap_or(cx.since);
        let mut body = json!({
            "customer_id": customer_id,
            "product_id": product_id,
            "priority": json_number(priority),
            "access_schedule": {"schedule_items": [{
                "amount": json_number(self.credit_units("amount.unit", &grant.amount)?),
                "starting_at": rfc3339(starting)?,
                "ending_before": rfc3339(ending)?,
            }]},
            "uniqueness_key": cx.vendor_key,
        });
        if let Some(name) = &grant.name {
            body["name"] = json!(name);
        }
        if !grant.metadata.is_empty() {
            body["custom_fields"] = json!(grant.metadata);
        }
        let request = self.write_request(&["v1", "contracts", "customerCredits", "create"], &body)?;
        let id = match self.base.write_authorized(cx, request).await {
            Ok(response) => response.json::<Created>()?.data.id,
            // The key made a credit before: that credit is this write's.
            Err(UpstreamError::Conflict { .. }) => {
                return self.find_created_grant(cx, customer_id).await?.ok_or_else(|| {
                    UpstreamError::invalid(
                        PROVIDER,
                        "409 for a reused uniqueness_key, but no credit of the customer carries it",
                    )
                    .into()
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.credit(cx.scope, customer_id, &id).await
    }

    /// The customer's credit whose `uniqueness_key` is this write's, if any.
    async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError> {
        // The customer's credits through the same pager and loop guard as the grant list;
        // a mapped credit carries its key in `metadata.uniqueness_key`.
        let pager = self.grant_pager(cx.scope, customer_id, false);
        let mut found = None;
        PageAssembler::new(&pager, PROVIDER)
            .walk(|grant| {
                let ours = grant.metadata.get("uniqueness_key").and_then(|k| k.as_str()) == Some(cx.vendor_key);
                if ours && found.is_none() {
                    found = Some(grant);
                }
            })
            .await?;
        Ok(found)
    }
}

#[async_trait]
impl EndGrants for Adapter {
    /// A credit is found through its customer.
    fn check_end(&self, customer_id: Option<&str>) -> Result<(), ApiError> {
        match customer_id {
            Some(_) => Ok(()),
            None => Err(refuse(
                PROVIDER,
                "customer",
                "a credit is found through its customer: send the grant's `customer`",
            )),
        }
    }

    async fn current_grant(
        &self,
        scope: CallScope<'_>,
        grant_id: &str,
        customer_id: Option<&str>,
    ) -> Result<CreditGrant, ApiError> {
        let customer_id = customer_id.ok_or_else(|| ApiError::Internal("a Metronome credit is read through its customer".into()))?;
        self.credit(scope, customer_id, grant_id).await
    }

    /// Expiry: `updateEndDate` to now, then the credit read back.
    async fn end_grant(
        &self,
        cx: &WriteContext<'_>,
        current: &CreditGrant,
        _end: GrantEnd,
    ) -> Result<CreditGrant, ApiError> {
        let customer_id = current
            .vendor_customer_id()
            .ok_or_else(|| ApiError::Internal("a Metronome credit without its customer".into()))?;
        let body = json!({
            "customer_id": customer_id,
            "credit_id": current.provider_id,
            "access_ending_before": rfc3339(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or(cx.since))?,
        });
        let request = self.write_request(&["v1", "contracts", "customerCredits", "updateEndDate"], &body)?;
        self.base.write_authorized(cx, request).await?;
        self.credit(cx.scope, customer_id, &current.provider_id).await
    }
}

#[async_trait]
impl AdjustLedger for Adapter {
    /// A manual entry needs the credit it is booked on and a current segment of it.
    fn check_adjustment(&self, adjustment: &Adjustment) -> Result<(), ApiError> {
        if adjustment.grant.is_none() {
            return Err(refuse(
                PROVIDER,
                "grant",
                "a manual ledger entry is booked on a credit: name it in `grant`",
            ));
        }
        let units = self.credit_units("amount.unit", &adjustment.amount)?;
        exact_as_json_number(PROVIDER, "amount.value", units)?;
        Ok(())
    }

    async fn adjust(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<LedgerAdjustment, ApiError> {
        let credit_id = Self::credit_id(adjustment)?;
        let (credit, _) = self
            .find_credit(cx.scope, customer_id, credit_id, false)
            .await?
            .ok_or_else(|| ApiError::grant_not_found(PROVIDER, credit_id))?;
        let now = OffsetDateTime::now_utc();
        let items = credit
            .access_schedule
            .as_ref()
            .map_or(&[][..], |s| &s.schedule_items[..]);
        let segment = items
            .iter()
            .find(|item| {
                let start = crate::model::parse_vendor_timestamp(&item.starting_at);
                let end = crate::model::parse_vendor_timestamp(&item.ending_before);
                matches!((start, end), (Ok(s), Ok(e)) if s <= now && now < e)
            })
            .or(items.last())
            .and_then(|item| item.id.clone())
            .ok_or_else(|| {
                refuse(
                    PROVIDER,
                    "grant",
                    format!("credit {credit_id} has no segment to book on"),
                )
            })?;
        let units = self.credit_units("amount.unit", &adjustment.amount)?;
        let signed = match adjustment.direction {
            Direction::Credit => units,
            Direction::Debit => -units,
        };
        let reason = match &adjustment.reason {
            Some(reason) => format!("{reason} {}", cx.marker()),
            None => cx.marker(),
        };
        let body = json!({
            "customer_id": customer_id,
            "id": credit_id,
            "segment_id": segment,
            "amount": json_number(signed),
            "reason": reason,
            // Dated at the write, not at the segment's start (Metronome's default).
            "timestamp": rfc3339(now)?,
        });
        let request = self.write_request(&["v1", "contracts", "addManualBalanceLedgerEntry"], &body)?;
        self.base.write_authorized(cx, request).await?;
        let entry = self
            .find_adjustment(cx, customer_id, adjustment)
            .await?
            .and_then(|a| a.entry);
        Ok(LedgerAdjustment::of(PROVIDER, customer_id, adjustment, entry))
    }

    /// The credit's manual entry whose reason carries this write's marker, if any.
    async fn find_adjustment(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        adjustment: &Adjustment,
    ) -> Result<Option<LedgerAdjustment>, ApiError> {
        let credit_id = Self::credit_id(adjustment)?;
        let Some((credit, _)) = self.find_credit(cx.scope, customer_id, credit_id, true).await? else {
            return Ok(None);
        };
        let marker = cx.marker();
        let Some(position) = credit
            .ledger
            .iter()
            .position(|e| e.reason.as_deref().is_some_and(|r| r.contains(&marker)))
        else {
            return Ok(None);
        };
        let entry = self.map_ledger(credit, customer_id)?.into_iter().nth(position);
        Ok(Some(LedgerAdjustment::of(PROVIDER, customer_id, adjustment, entry)))
    }
}

