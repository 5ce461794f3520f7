//! Low-balance alerts (README.md, "Events"): `POST/GET/DELETE /v1/balance_alerts`, and
//! what a balance read does with them. An alert's state (`armed`: the balance was last seen
//! at or above the threshold; `below`) is kept with the event log as a guard, so
//! `credit_balance.low` is recorded in the same step that moves the state from `armed` to
//! `below`: once per downward crossing, whichever replica saw it. A balance back at or
//! above the threshold arms it again. A unit missing from the vendor's answer reads as a
//! zero balance.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::listing::ListPage;
use super::{Caller, Gateway};
use crate::error::{ApiError, ErrorCode};
use crate::events::Emit;
use crate::model::event::{BalanceAlert, EventSource, EventType, NewBalanceAlertInput};
use crate::model::money::{Money, UnitType};
use crate::model::{qualified_id, Capability, CreditBalance, ProviderKind, BALANCE_OBJECT};
use crate::upstream::{CacheUse, CallScope};

const ARMED: &str = "armed";
const BELOW: &str = "below";

/// Where an alert's state is kept.
fn state_key(id: &str) -> String {
    format!("alert\u{0}{id}")
}

fn state(available: Decimal, threshold: Decimal) -> &'static str {
    if available < threshold {
        BELOW
    } else {
        ARMED
    }
}

fn unavailable(e: crate::store::StoreError) -> ApiError {
    ApiError::StoreUnavailable(e.to_string())
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::AlertNotFound,
        message: format!("no balance alert {}", crate::model::quoted(id)),
        provider: None,
    }
}

/// `customer`'s balance in `unit` among `balances`, or a zero one where the vendor listed
/// none in that unit.
fn balance_in(balances: &[CreditBalance], provider: ProviderKind, customer: &str, unit: &str) -> CreditBalance {
    balances
        .iter()
        .find(|b| b.unit.eq_ignore_ascii_case(unit))
        .cloned()
        .unwrap_or_else(|| CreditBalance {
            object: BALANCE_OBJECT,
            provider,
            customer: customer.to_owned(),
            unit: unit.to_owned(),
            unit_type: UnitType::for_unit(unit),
            available: Money {
                value: Decimal::ZERO,
                unit: unit.to_owned(),
                unit_type: UnitType::for_unit(unit),
            },
            pending: None,
            as_of: time::OffsetDateTime::now_utc(),
        })
}

fn parse(json: &[u8]) -> Result<BalanceAlert, ApiError> {
    serde_json::from_slice(json).map_err(|e| ApiError::Internal(format!("a kept alert is unreadable: {e}")))
}

impl Gateway {
    /// The alerts of `customer` (`<provider>:<id>`).
    pub(super) async fn alerts_of(&self, customer: &str) -> Result<Vec<BalanceAlert>, ApiError> {
        let log = self.event_log()?;
        let kept = log.records().alerts(Some(customer)).await.map_err(unavailable)?;
        kept.iter().map(|json| parse(json)).collect()
    }

    /// Every alert.
    pub(super) async fn alerts_of_everyone(&self) -> Result<Vec<BalanceAlert>, ApiError> {
        let log = self.event_log()?;
        let kept = log.records().alerts(None).await.map_err(unavailable)?;
        kept.iter().map(|json| parse(json)).collect()
    }

    /// What a fresh read of `customer_id`'s balances does to its alerts: the
    /// `credit_balance.low` events of those that went below (each recorded only if its state
    /// was not `below` already), and the alerts to arm again.
    pub(super) fn alert_changes(
        alerts: &[BalanceAlert],
        balances: &[CreditBalance],
        customer_id: &str,
        source: &EventSource,
    ) -> (Vec<Emit>, Vec<String>) {
        let (mut fired, mut armed) = (Vec::new(), Vec::new());
        for alert in alerts {
            let balance = balance_in(balances, alert.provider, &alert.customer, &alert.unit);
            if state(balance.available.value, alert.threshold) == ARMED {
                armed.push(state_key(&alert.id));
                continue;
            }
            let Some(object) = serde_json::to_string(&balance)
                .ok()
                .and_then(|json| serde_json::value::RawValue::from_string(json).ok())
            else {
                continue;
            };
            fired.push(Emit {
                event_type: EventType::BalanceLow,
                provider: alert.provider,
                customer_id: customer_id.to_owned(),
                object,
                source: source.clone(),
                cause: format!("alert\u{0}{}\u{0}{}", alert.id, crate::events::random_u64()),
                guard: Some((state_key(&alert.id), BELOW.to_owned())),
                alert: Some(alert.clone()),
            });
        }
        (fired, armed)
    }

    /// Arms again the alerts whose balance is back at or above their threshold.
    pub(super) async fn arm(&self, keys: Vec<String>) -> Result<(), ApiError> {
        let log = self.event_log()?;
        for key in keys {
            log.records().set_guard(&key, Some(ARMED)).await.map_err(unavailable)?;
        }
        Ok(())
    }

    /// `POST /v1/balance_alerts`: the alert, its state taken from a fresh read of the
    /// balance (so one already below fires only after it has been back above).
    pub async fn create_alert(&self, caller: &Caller, input: NewBalanceAlertInput) -> Result<BalanceAlert, ApiError> {
        let log = self.event_log()?;
        let (unit, threshold) = input.check()?;
        let (adapter, customer_id) =
            self.write_target(caller, &input.customer, input.provider, Capability::CreditBalances)?;
        let cache = CacheUse::new(true);
        let balances = adapter
            .balances(CallScope::new(&cache).about(Some(&customer_id)), &customer_id)
            .await?;
        let provider = adapter.kind();
        let customer = qualified_id(provider, &customer_id);
        let alert = BalanceAlert {
            object: "balance_alert".into(),
            id: format!("alrt_{:016x}", crate::events::random_u64()),
            provider,
            customer: customer.clone(),
            unit,
            threshold,
            created: time::OffsetDateTime::now_utc(),
        };
        let now = balance_in(&balances, provider, &customer, &alert.unit);
        let records = log.records();
        records
            .set_guard(&state_key(&alert.id), Some(state(now.available.value, threshold)))
            .await
            .map_err(unavailable)?;
        let json = serde_json::to_vec(&alert).map_err(|e| ApiError::Internal(e.to_string()))?;
        records
            .put_alert(&alert.id, &customer, json)
            .await
            .map_err(unavailable)?;
        Ok(alert)
    }

    /// `GET /v1/balance_alerts?customer=`: the alerts the caller may see, oldest first.
    pub async fn list_alerts(
        &self,
        caller: &Arc<Caller>,
        customer: Option<&str>,
    ) -> Result<ListPage<BalanceAlert>, ApiError> {
        let alerts = match customer {
            None => self.alerts_of_everyone().await?,
            Some(text) => {
                let customer = super::targets::CustomerRef::parse(text, "customer")?;
                let mut alerts = Vec::new();
                for (provider, id) in self.customer_ids(&customer)? {
                    alerts.extend(self.alerts_of(&qualified_id(provider, &id)).await?);
                }
                alerts
            }
        };
        let mut alerts: Vec<BalanceAlert> = alerts.into_iter().filter(|a| self.may_see_alert(caller, a)).collect();
        alerts.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(ListPage::new(alerts, None, None, Vec::new()))
    }

    /// `DELETE /v1/balance_alerts/{id}`: the alert, gone.
    pub async fn delete_alert(&self, caller: &Caller, id: &str) -> Result<BalanceAlert, ApiError> {
        let log = self.event_log()?;
        let alert = self
            .alerts_of_everyone()
            .await?
            .into_iter()
            .find(|a| a.id == id && self.may_see_alert(caller, a))
            .ok_or_else(|| not_found(id))?;
        log.records()
            .delete_alert(&alert.id, &alert.customer, &state_key(&alert.id))
            .await
            .map_err(unavailable)?;
        Ok(alert)
    }

    fn may_see_alert(&self, caller: &Caller, alert: &BalanceAlert) -> bool {
        self.may_see_qualified(caller, alert.provider, &alert.customer)
    }
}
