//! Togai's writes: `POST /credits` (`creditRequests[]`, each with an `idempotencyKey`
//! Togai keeps on the credit, which is how a write whose outcome is unknown is found
//! again) and `POST /credits/{id}/void`. Togai has no expiry call and no manual ledger
//! entry. A credit is in its account's unit, which the request cannot choose, so the
//! account's unit is read first and a grant in another unit refused.

use async_trait::async_trait;

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{Adapter, TogaiCredit, TogaiCreditBalance, TogaiList, PROVIDER};
use crate::providers::provider::{CreateGrants, EndGrants, GrantFields};
use crate::error::{ApiError, UpstreamError};
use crate::model::write::NewGrant;
use crate::model::CreditGrant;
use crate::providers::writes::{refuse, utc_day, whole_priority, GrantEnd, WriteContext};
use crate::upstream::{CallScope, UpstreamRequest};

#[derive(Debug, Deserialize)]
struct Created {
    credits: Vec<TogaiCredit>,
}

impl Adapter {
    /// Refuses a unit other than the account's.
    async fn check_unit(&self, scope: CallScope<'_>, account_id: &str, unit: &str) -> Result<(), ApiError> {
        let url = self.base.url(&["accounts", account_id, "credit_balance"])?;
        let balance: TogaiCreditBalance = self.base.bearer_get(scope, url, &[]).await?.json()?;
        if balance.unit.eq_ignore_ascii_case(unit) {
            Ok(())
        } else {
            Err(refuse(
                PROVIDER,
                "amount.unit",
                format!("account {account_id}'s credits are in {}, not {unit}", balance.unit),
            ))
        }
    }


    fn post(&self, path: &[&str], body: Option<&Value>) -> Result<UpstreamRequest, ApiError> {
        let url = self.base.url(path)?;
        let request = match body {
            Some(body) => UpstreamRequest::post_json(PROVIDER, url, body),
            None => UpstreamRequest::get(PROVIDER, url).with_method(axum::http::Method::POST),
        };
        Ok(request.sensitive_header("authorization", &format!("Bearer {}", self.base.secret.expose())))
    }

}

#[async_trait]
impl CreateGrants for Adapter {
    /// A priority; no metadata, no category.
    fn keeps(&self) -> GrantFields {
        GrantFields {
            metadata: false,
            priority: true,
            category: false,
        }
    }

    /// Togai's rules for a new credit: an integer priority, whole days, no category or
    /// metadata (a credit has neither).
    fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        crate::providers::writes::exact_as_json_number(PROVIDER, "amount.value", grant.amount.value)?;
        if let Some(priority) = grant.priority {
            whole_priority(PROVIDER, priority, (0, i64::from(i32::MAX)), "priority is a whole number")?;
        }
        if let Some(at) = grant.effective_at {
            utc_day(PROVIDER, "effective_at", at)?;
        }
        if let Some(at) = grant.expires_at {
            utc_day(PROVIDER, "expires_at", at)?;
        }
        if grant.category.is_some() {
            return Err(refuse(PROVIDER, "category", "credits have no category; leave it out"));
        }
        if !grant.metadata.is_empty() {
            return Err(refuse(PROVIDER, "metadata", "credits have no metadata; leave it out"));
        }
        Ok(())
    }

    /// A credit is in its account's unit: refuses another (one read of the account's
    /// balance, the only vendor call made to check a write).
    async fn check_at_vendor(&self, scope: CallScope<'_>, account_id: &str, grant: &NewGrant) -> Result<(), ApiError> {
        self.check_unit(scope, account_id, &grant.amount.unit).await
    }

    async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        account_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        self.check_unit(cx.scope, account_id, &grant.amount.unit).await?;
        let mut request = json!({
            "accountId": account_id,
            "purpose": grant.name.as_deref().unwrap_or("credits"),
            "effectiveFrom": utc_day(PROVIDER, "effective_at", grant.effective_at.unwrap_or(cx.since.replace_time(time::Time::MIDNIGHT)))?,
            "creditAmount": crate::model::money::json_number(grant.amount.value),
            "idempotencyKey": cx.vendor_key,
        });
        if let Some(at) = grant.expires_at {
            request["effectiveUntil"] = json!(utc_day(PROVIDER, "expires_at", at)?);
        }
        if let Some(priority) = grant.priority {
            request["priority"] = crate::model::money::json_number(priority);
        } else {
            // Required by the spec; Togai's own examples use 1.
            request["priority"] = json!(1);
        }
        let body = json!({ "creditRequests": [request] });
        let response = self
            .base
            .write_authorized(cx, self.post(&["credits"], Some(&body))?)
            .await?;
        let created: Created = response.json()?;
        let credit = created
            .credits
            .into_iter()
            .next()
            .ok_or_else(|| UpstreamError::invalid(PROVIDER, "`credits` is empty"))?;
        Ok(self.map_credit(credit, None, OffsetDateTime::now_utc())?)
    }

    /// The account's credit carrying this write's `idempotencyKey`, if any.
    async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        account_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError> {
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let list: TogaiList<TogaiCredit> = self
                .list_credits(cx.scope, Some(account_id), token.as_deref())
                .await?
                .json()?;
            let next = list.next_token;
            for credit in list.data {
                if credit.idempotency_key.as_deref() == Some(cx.vendor_key) {
                    return Ok(Some(self.map_credit(credit, None, OffsetDateTime::now_utc())?));
                }
            }
            match next {
                Some(t) if seen.insert(t.clone()) => token = Some(t),
                _ => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl EndGrants for Adapter {
    /// Void: `POST /credits/{id}/void`, answered by the credit.
    async fn end_grant(&self, cx: &WriteContext<'_>, current: &CreditGrant, _end: GrantEnd) -> Result<CreditGrant, ApiError> {
        let id = current.provider_id.as_str();
        let response = self
            .base
            .write_authorized(cx, self.post(&["credits", id, "void"], None)?)
            .await
            .map_err(|e| ApiError::grant_lookup(e, id))?;
        let credit: TogaiCredit = response.json()?;
        Ok(self.map_credit(credit, None, OffsetDateTime::now_utc())?)
    }
}

