//! Lago's writes. **A grant is a wallet**, so creating one is `POST /wallets` with the
//! amount as granted (free, settled at once) credits at a rate of 1: one credit is one unit
//! of the wallet's currency, and the wallet's amount is the grant's. Voiding it is
//! `POST /wallet_transactions` with the wallet's remaining credits as `voided_credits`,
//! then `DELETE /wallets/{lago_id}`, which terminates it.
//!
//! Lago has no idempotency key on any write. A wallet creditgate creates carries the
//! write's key as its `code`, which Lago keeps unique among a customer's active wallets:
//! after an unknown outcome, the customer's wallets are searched for that code before
//! anything is written again, and a second `POST` with it would be refused (422) while
//! the first wallet is active. A void is made safe by state instead: it voids what the
//! wallet holds when it is read, so an attempt repeated after the first voided the
//! credits voids nothing more (the voided transaction carries the key in its `metadata`,
//! `creditgate_op`, for people reading Lago's own screens) and only terminates.

use async_trait::async_trait;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{Adapter, WalletEnvelope, PROVIDER};
use crate::error::{ApiError, UpstreamError};
use crate::model::write::NewGrant;
use crate::model::{CreditGrant, GrantStatus, Timestamp, UnitType};
use crate::providers::provider::{CreateGrants, EndGrants, GrantFields};
use crate::providers::writes::{refuse, whole_priority, GrantEnd, WriteContext};
use crate::upstream::UpstreamRequest;

/// The key of the `metadata` pair that names the creditgate write on a transaction.
const OPERATION_KEY: &str = "creditgate_op";
/// Lago keeps five decimals of credits and rounds finer amounts down.
const CREDIT_DECIMALS: u32 = 5;

/// `{"wallet_transactions": [..]}`, the fields creditgate reads.
#[derive(Debug, Deserialize)]
struct Transactions {
    wallet_transactions: Vec<Value>,
}

/// RFC 3339 in UTC, whole seconds, as Lago writes its times.
fn lago_time(at: Timestamp) -> Result<String, ApiError> {
    let at = at
        .checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(|| refuse(PROVIDER, "expires_at", "the time is out of range"))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

/// A wallet's priority: a whole number from 1 (applied first) to 50.
fn wallet_priority(priority: Decimal) -> Result<i64, ApiError> {
    whole_priority(PROVIDER, priority, (1, 50), "a wallet's priority is a whole number from 1 to 50")
}

impl Adapter {
    fn write_request(&self, request: UpstreamRequest) -> UpstreamRequest {
        request.sensitive_header("authorization", &format!("Bearer {}", self.base.secret.expose()))
    }
}

#[async_trait]
impl CreateGrants for Adapter {
    /// A priority (1 to 50); a wallet takes no metadata on creation and has no category.
    fn keeps(&self) -> GrantFields {
        GrantFields {
            metadata: false,
            priority: true,
            category: false,
        }
    }

    /// Lago's rules for a new wallet: a currency (credits are worth one unit of it), an
    /// amount Lago keeps exactly (five decimals), a whole priority from 1 to 50, an expiry
    /// in whole seconds, no start date (a wallet is in force from its creation), no
    /// category, no metadata.
    fn check_new_grant(&self, grant: &NewGrant) -> Result<(), ApiError> {
        if grant.amount.unit_type != UnitType::Currency {
            return Err(refuse(
                PROVIDER,
                "amount.unit",
                "a wallet is in a currency; give an ISO 4217 code",
            ));
        }
        if grant.amount.value.normalize().scale() > CREDIT_DECIMALS {
            return Err(refuse(
                PROVIDER,
                "amount.value",
                format!("Lago keeps {CREDIT_DECIMALS} decimals of credits"),
            ));
        }
        if let Some(priority) = grant.priority {
            wallet_priority(priority)?;
        }
        if let Some(at) = grant.expires_at {
            if at.nanosecond() != 0 {
                return Err(refuse(PROVIDER, "expires_at", "Lago keeps whole seconds"));
            }
        }
        let none = [
            ("effective_at", grant.effective_at.is_some()),
            ("category", grant.category.is_some()),
            ("metadata", !grant.metadata.is_empty()),
        ];
        if let Some((field, _)) = none.into_iter().find(|(_, given)| *given) {
            return Err(refuse(
                PROVIDER,
                field,
                format!("a new wallet takes no {field}; leave it out"),
            ));
        }
        Ok(())
    }

    /// `POST /wallets`, answered by the wallet.
    async fn create_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
        grant: &NewGrant,
    ) -> Result<CreditGrant, ApiError> {
        let mut wallet = json!({
            "external_customer_id": customer_id,
            "currency": grant.amount.unit.to_ascii_uppercase(),
            "rate_amount": "1",
            "granted_credits": grant.amount.value.normalize().to_string(),
            "code": cx.vendor_key,
            "name": grant.name.as_deref().unwrap_or("Credits"),
        });
        if let Some(priority) = grant.priority {
            wallet["priority"] = json!(wallet_priority(priority)?);
        }
        if let Some(at) = grant.expires_at {
            wallet["expiration_at"] = json!(lago_time(at)?);
        }
        let url = self.base.url(&["wallets"])?;
        let request = self.write_request(UpstreamRequest::post_json(PROVIDER, url, &json!({ "wallet": wallet })));
        let created: WalletEnvelope = self.base.write_authorized(cx, request).await?.json()?;
        let wallet = crate::upstream::parse_json_slice(PROVIDER, created.wallet.get().as_bytes())
            .map_err(|e| e.within("wallet"))?;
        Ok(self.map_wallet(wallet, None, OffsetDateTime::now_utc())?)
    }

    /// The customer's wallet whose `code` is this write's key, if any.
    async fn find_created_grant(
        &self,
        cx: &WriteContext<'_>,
        customer_id: &str,
    ) -> Result<Option<CreditGrant>, ApiError> {
        let wallets = self.all_wallets(cx.scope, customer_id).await?;
        let Some(found) = wallets.into_iter().find(|w| w.code.as_deref() == Some(cx.vendor_key)) else {
            return Ok(None);
        };
        let (wallet, _) = self.wallet(cx.scope, &found.id, false).await?;
        Ok(Some(self.map_wallet(wallet, None, OffsetDateTime::now_utc())?))
    }
}

#[async_trait]
impl EndGrants for Adapter {
    /// Void: the wallet's remaining credits voided, then the wallet terminated.
    async fn end_grant(&self, cx: &WriteContext<'_>, current: &CreditGrant, _end: GrantEnd) -> Result<CreditGrant, ApiError> {
        let id = current.provider_id.as_str();
        let (wallet, _) = self.wallet(cx.scope, id, false).await?;
        if wallet.credits_balance > Decimal::ZERO {
            let body = json!({"wallet_transaction": {
                "wallet_id": id,
                "voided_credits": wallet.credits_balance.normalize().to_string(),
                "metadata": [{"key": OPERATION_KEY, "value": cx.vendor_key}],
            }});
            let url = self.base.url(&["wallet_transactions"])?;
            let request = self.write_request(UpstreamRequest::post_json(PROVIDER, url, &body));
            let voided: Transactions = self
                .base
                .write_authorized(cx, request)
                .await
                .map_err(|e| ApiError::grant_lookup(e, id))?
                .json()?;
            if voided.wallet_transactions.is_empty() {
                return Err(UpstreamError::invalid(PROVIDER, "`wallet_transactions` is empty after a void").into());
            }
        }
        let url = self.base.url(&["wallets", id])?;
        let request = self.write_request(UpstreamRequest::get(PROVIDER, url).with_method(axum::http::Method::DELETE));
        let terminated: WalletEnvelope = self
            .base
            .write_authorized(cx, request)
            .await
            .map_err(|e| ApiError::grant_lookup(e, id))?
            .json()?;
        let wallet = crate::upstream::parse_json_slice(PROVIDER, terminated.wallet.get().as_bytes())
            .map_err(|e| e.within("wallet"))?;
        let grant = self.map_wallet(wallet, None, OffsetDateTime::now_utc())?;
        if grant.status != GrantStatus::Voided {
            return Err(UpstreamError::invalid(
                PROVIDER,
                format!("the wallet is {} after its termination", grant.status.as_str()),
            )
            .into());
        }
        Ok(grant)
    }
}
