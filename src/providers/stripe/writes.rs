//! Stripe's writes: `POST /v1/billing/credit_grants` (form-encoded, amounts in the
//! currency's minor units), `/{id}/void` and `/{id}/expire`. Each carries the vendor
//! idempotency key as `Idempotency-Key`: Stripe answers a repeated key with the first
//! answer for 24 hours, so after an unknown outcome the same request is simply sent again.

use async_trait::async_trait;

use time::OffsetDateTime;

use super::{Adapter, StripeGrant, PROVIDER};
use crate::providers::provider::{CreateGrants, EndGrants, GrantFields};
use crate::error::ApiError;
use crate::model::write::NewGrant;
use crate::model::{CreditGrant, GrantCategory, UnitType};
use crate::providers::writes::{refuse, whole_priority, GrantEnd, WriteContext};
use crate::upstream::UpstreamRequest;

/// Stripe's documented metadata limits: 50 keys, keys up to 40 characters, values up to 500.
const METADATA_KEYS: usize = 50;
const METADATA_KEY_CHARS: usize = 40;
const METADATA_VALUE_CHARS: usize = 500;
/// `name`'s `maxLength` in the spec.
const NAME_CHARS: usize = 100;

impl Adapter {

    fn minor_units(&self, grant: &NewGrant) -> Result<i64, ApiError> {
        let exponent = self.facts.exponent(&grant.amount.unit);
        grant.amount.to_minor_units(exponent).ok_or_else(|| {
            refuse(
                PROVIDER,
                "amount.value",
                format!(
                    "{} {} is not a whole number of Stripe's minor units ({exponent} decimal places)",
                    grant.amount.value, grant.amount.unit
                ),
            )
        })
    }

    /// The form Stripe's create takes, fields in a fixed order.
    fn create_form(&self, customer_id: &str, grant: &NewGrant) -> Result<Vec<(String, String)>, ApiError> {
        let mut form: Vec<(String, String)> = vec![
            ("customer".into(), customer_id.into()),
            ("amount[type]".into(), "monetary".into()),
            (
                "amount[monetary][currency]".into(),
                grant.amount.unit.to_ascii_lowercase(),
            ),
            ("amount[monetary][value]".into(), self.minor_units(grant)?.to_string()),
            (
                "applicability_config[scope][price_type]".into(),
                self.facts.api.balance_scope_price_type.clone(),
            ),
        ];
        if let Some(category) = grant.category {
            let category = match category {
                GrantCategory::Paid => "paid",
                GrantCategory::Promotional => "promotional",
            };
            form.push(("category".into(), category.into()));
        }
        if let Some(name) = &grant.name {
            form.push(("name".into(), name.clone()));
        }
        if let Some(priority) = grant.priority {
            form.push(("priority".into(), priority.normalize().to_string()));
        }
        if let Some(at) = grant.effective_at {
            form.push(("effective_at".into(), at.unix_timestamp().to_string()));
        }
        if let Some(at) = grant.expires_at {
            form.push(("expires_at".into(), at.unix_timestamp().to_string()));
        }
        for (key, value) in &grant.metadata {
            form.push((format!("metadata[{key}]"), value.clone()));
        }
        Ok(form)
    }

    /// A form POST to `segments` with the secret, the pinned version and `Idempotency-Key`,
    /// answered by a grant.
    async fn post_grant(
        &self,
        cx: &WriteContext<'_>,
        segments: &[&str],
        form: &[(String, String)],
    ) -> Result<CreditGrant, ApiError> {
        let url = self.base.url(segments)?;
        let request = UpstreamRequest::post_form(PROVIDER, url, form)
            .sensitive_header("authorization", &format!("Bearer {}", self.base.secret.expose()))
            .header("stripe-version", &self.api_version)
            .header("idempotency-key", cx.vendor_key);
        let response = self.base.write_authorized(cx, request).await?;
        let grant: StripeGrant = response.json()?;
        Ok(self.map_grant(grant, None, OffsetDateTime::now_utc())?)
    }

    fn customer_not_found_in(&self, error: ApiError) -> ApiError {
        match error {
            ApiError::Upstream(e) => self.customer_not_found(e),
            other => other,
        }
    }
}

#[async_trait]
impl CreateGrants for Adapter {
    /// Metadata, an integer priority and its category.
    fn keeps(&self) -> GrantFields {
        GrantFields {
            metadata: true,
            priority: true,
            category: true,
        }
    }

    /// Stripe's rules for a new grant: a currency amount in whole minor units, priority an
    /// integer from 0 to 100, name and metadata within Stripe's limits.
    fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        if grant.amount.unit_type != UnitType::Currency {
            return Err(refuse(
                PROVIDER,
                "amount.unit",
                format!(
                    "billing credits are monetary; `{}` is not a currency",
                    grant.amount.unit
                ),
            ));
        }
        self.minor_units(grant)?;
        if let Some(priority) = grant.priority {
            whole_priority(PROVIDER, priority, (0, 100), "priority is an integer from 0 (first) to 100")?;
        }
        if grant.name.as_deref().is_some_and(|n| n.chars().count() > NAME_CHARS) {
            return Err(refuse(PROVIDER, "name", format!("at most {NAME_CHARS} characters")));
        }
        if grant.metadata.len() > METADATA_KEYS {
            return Err(refuse(PROVIDER, "metadata", format!("at most {METADATA_KEYS} keys")));
        }
        if let Some(key) = grant.metadata.keys().find(|k| k.contains(['[', ']'])) {
            return Err(refuse(
                PROVIDER,
                "metadata",
                format!(
                    "key {} holds `[` or `]`, which Stripe's metadata keys cannot",
                    crate::model::quoted(key)
                ),
            ));
        }
        if let Some((key, _)) = grant.metadata.iter().find(|(k, v)| {
            k.is_empty() || k.chars().count() > METADATA_KEY_CHARS || v.chars().count() > METADATA_VALUE_CHARS
        }) {
            return Err(refuse(
                PROVIDER,
                "metadata",
                format!(
                    "key {} is empty or too long, or its value is (keys up to {METADATA_KEY_CHARS} characters, \
                     values up to {METADATA_VALUE_CHARS})",
                    crate::model::quoted(key)
                ),
            ));
        }
        Ok(())
    }

    async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        let form = self.create_form(customer_id, grant)?;
        self.post_grant(cx, &["v1", "billing", "credit_grants"], &form)
            .await
            .map_err(|e| self.customer_not_found_in(e))
    }

    /// Stripe needs no look: the same `Idempotency-Key` sent again gets the first answer.
    async fn find_created_grant(&self, _cx: &WriteContext<'_>, _customer_id: &str) -> Result<Option<CreditGrant>, ApiError> {
        Ok(None)
    }
}

#[async_trait]
impl EndGrants for Adapter {
    async fn end_grant(&self, cx: &WriteContext<'_>, current: &CreditGrant, end: GrantEnd) -> Result<CreditGrant, ApiError> {
        let id = current.provider_id.as_str();
        self.post_grant(cx, &["v1", "billing", "credit_grants", id, end.as_str()], &[])
            .await
            .map_err(|e| match e {
                ApiError::Upstream(e) => ApiError::grant_lookup(e, id),
                other => other,
            })
    }
}

