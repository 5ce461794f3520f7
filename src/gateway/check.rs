//! What `creditgate check-config` says of a configured gateway: a summary per provider
//! (where calls go, what it can do, what it takes in), and `--probe`, one authenticated read
//! per vendor with its latency, so that a wrong credential shows before the first request.

use std::time::{Duration, Instant};

use super::{BalancesQuery, Caller, Gateway, GrantsQuery};
use crate::error::{ApiError, ErrorCode};
use crate::model::{Capabilities, ProviderKind};
use crate::upstream::CacheUse;

/// One configured provider, as `check-config` shows it.
#[derive(Debug, Clone)]
pub struct ProviderSummary {
    pub provider: ProviderKind,
    pub base_url: String,
    pub capabilities: Capabilities,
    /// Its signed webhooks are taken (a `webhook_secret` or public key is set).
    pub takes_webhooks: bool,
}

/// What a probe read, and how long it took.
#[derive(Debug, Clone)]
pub struct Probe {
    pub what: String,
    pub elapsed: Duration,
}

impl Gateway {
    /// Every configured provider, in order.
    pub fn provider_summaries(&self) -> Vec<ProviderSummary> {
        self.inner
            .adapters
            .iter()
            .map(|adapter| ProviderSummary {
                provider: adapter.kind(),
                base_url: adapter.base().base_url().to_string(),
                capabilities: adapter.capabilities(),
                takes_webhooks: adapter.webhooks().is_some(),
            })
            .collect()
    }

    /// One read at `provider` with its credential, fresh: its account-wide grants (one),
    /// or, where it lists none without a customer, the balances of the first alias's
    /// customer there.
    pub async fn probe(&self, provider: ProviderKind) -> Result<Probe, ApiError> {
        let caller = Caller::unrestricted("creditgate-check");
        let started = Instant::now();
        let query = GrantsQuery {
            provider: Some(provider),
            limit: "1".parse().map_err(ApiError::Internal)?,
            ..Default::default()
        };
        match self.list_credit_grants(&caller, &query, &CacheUse::new(true)).await {
            Ok(_) => {
                return Ok(Probe {
                    what: "its account's grants (one)".into(),
                    elapsed: started.elapsed(),
                })
            }
            Err(e) if e.code() != ErrorCode::UnsupportedByProvider && e.code() != ErrorCode::InvalidParameter => {
                return Err(e)
            }
            Err(_) => {}
        }
        let customer = self
            .inner
            .customers
            .0
            .iter()
            .find_map(|(_, map)| map.0.iter().find(|(p, _)| *p == provider).map(|(_, id)| id.clone()))
            .ok_or_else(|| {
                ApiError::Internal(format!(
                    "{provider} lists no grants without a customer, and no [customers] alias names one there to read"
                ))
            })?;
        let started = Instant::now();
        let query = BalancesQuery {
            customer: format!("{provider}:{customer}"),
            provider: Some(provider),
            require_all: true,
            as_of: None,
        };
        self.credit_balances(&caller, &query, &CacheUse::new(true)).await?;
        Ok(Probe {
            what: format!("the balances of {provider}:{customer}"),
            elapsed: started.elapsed(),
        })
    }
}
