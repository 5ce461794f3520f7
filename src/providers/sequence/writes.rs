//! Sequence's writes: `POST /credits` (JSON, amounts in major units) and
//! `DELETE /credits/{id}`, its void. Sequence has no idempotency mechanism, no expiry call
//! and no metadata, so creditgate marks a grant it creates by ending its name with the
//! write's marker (`[cg-…]`), and after an unknown outcome looks for a grant of the
//! customer carrying it before writing again.

use async_trait::async_trait;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{Adapter, SequenceGrant, PROVIDER};
use crate::providers::provider::{CreateGrants, EndGrants, GrantFields};
use crate::error::ApiError;
use crate::model::money::json_number;
use crate::model::write::NewGrant;
use crate::model::{CreditGrant, GrantStatus, Timestamp, UnitType};
use crate::providers::writes::{exact_as_json_number, refuse, utc_day, GrantEnd, WriteContext};
use crate::upstream::UpstreamRequest;

/// `expiryDate` is the last day the grant can be used: the day before `expires_at`, which
/// must be a UTC midnight.
fn expiry_date(expires_at: Timestamp) -> Result<String, ApiError> {
    utc_day(PROVIDER, "expires_at", expires_at)?;
    let last_day = expires_at
        .checked_sub(Duration::days(1))
        .ok_or_else(|| refuse(PROVIDER, "expires_at", "the time is out of range"))?;
    utc_day(PROVIDER, "expires_at", last_day)
}

impl Adapter {

    fn write_request(&self, request: UpstreamRequest) -> UpstreamRequest {
        request
            .sensitive_header("authorization", &format!("Basic {}", self.basic.expose()))
            .header("sequence-version", &self.facts.api.version)
    }

}

#[async_trait]
impl CreateGrants for Adapter {
    /// None: a name, an amount and dates.
    fn keeps(&self) -> GrantFields {
        GrantFields::default()
    }

    /// Sequence's rules for a new grant: a currency, whole days, no priority, category or
    /// metadata (a Sequence grant has none of them).
    fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        if grant.amount.unit_type != UnitType::Currency {
            return Err(refuse(
                PROVIDER,
                "amount.unit",
                "creditgate creates cash grants (a currency); usage-metric grants need a metric id",
            ));
        }
        let currencies = &self.facts.currencies.accepted;
        if !currencies.iter().any(|c| c.eq_ignore_ascii_case(&grant.amount.unit)) {
            return Err(refuse(
                PROVIDER,
                "amount.unit",
                format!(
                    "`{}` is not one of the currencies Sequence takes ({})",
                    grant.amount.unit,
                    currencies.join(", ")
                ),
            ));
        }
        exact_as_json_number(PROVIDER, "amount.value", grant.amount.value)?;
        if let Some(at) = grant.effective_at {
            utc_day(PROVIDER, "effective_at", at)?;
        }
        if let Some(at) = grant.expires_at {
            expiry_date(at)?;
        }
        let none = [
            ("priority", grant.priority.is_some()),
            ("category", grant.category.is_some()),
            ("metadata", !grant.metadata.is_empty()),
        ];
        if let Some((field, _)) = none.into_iter().find(|(_, given)| *given) {
            return Err(refuse(PROVIDER, field, format!("grants have no {field}; leave it out")));
        }
        Ok(())
    }

    async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        let account = self.sequence_account_id.as_deref().ok_or(ApiError::Unsupported {
            provider: PROVIDER,
            capability: crate::model::Capability::CreateGrants,
        })?;
        let name = format!("{} {}", grant.name.as_deref().unwrap_or("Credits"), cx.marker());
        let mut body = json!({
            "sequenceAccountId": account,
            "customerId": customer_id,
            "name": name,
            "creditUnitType": "CURRENCY",
            "currency": grant.amount.unit,
            "amount": json_number(grant.amount.value),
        });
        if let Some(at) = grant.effective_at {
            body["effectiveDate"] = json!(utc_day(PROVIDER, "effective_at", at)?);
        }
        if let Some(at) = grant.expires_at {
            // `expiryDate` is the last day the grant can be used: the day before it ends.
            body["expiryDate"] = json!(expiry_date(at)?);
        }
        let url = self.base.url(&["credits"])?;
        let request = self.write_request(UpstreamRequest::post_json(PROVIDER, url, &body));
        let created: SequenceGrant = self.base.write_authorized(cx, request).await?.json()?;
        let amount = created.amount;
        Ok(self.map_grant(created, None, Some(amount), OffsetDateTime::now_utc())?)
    }

    /// The customer's grant whose name carries this write's marker, if any.
    async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError> {
        let marker = cx.marker();
        let grants = self.customer_grants(cx.scope, customer_id, false).await?;
        Ok(grants
            .into_iter()
            .find(|g| g.name.as_deref().is_some_and(|n| n.ends_with(&marker))))
    }
}

#[async_trait]
impl EndGrants for Adapter {
    /// Void: `DELETE /credits/{id}`, answered by the grant as it was; it is `voided` now.
    async fn end_grant(
        &self,
        cx: &WriteContext<'_>,
        current: &CreditGrant,
        _end: GrantEnd,
    ) -> Result<CreditGrant, ApiError> {
        let url = self.base.url(&["credits", &current.provider_id])?;
        let request = self.write_request(UpstreamRequest::get(PROVIDER, url).with_method(axum::http::Method::DELETE));
        let deleted: SequenceGrant = self
            .base
            .write_authorized(cx, request)
            .await
            .map_err(|e| ApiError::grant_lookup(e, &current.provider_id))?
            .json()?;
        let mut grant = self.map_grant(deleted, None, None, OffsetDateTime::now_utc())?;
        grant.status = GrantStatus::Voided;
        grant.balance = Some(grant.amount.zero_like());
        Ok(grant)
    }
}

