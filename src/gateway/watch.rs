//! Watchers (README.md, "Events"): at a vendor that pushes no event for every balance
//! movement (or whose pushes creditgate is not set up to take), the balances that matter
//! are read every `[events] watch_interval_secs`, and a `credit_balance.updated` (and any
//! `credit_balance.low`) recorded when one changed. The balances that matter: those of a
//! customer with an alert, or named in an endpoint's `customers` that takes balance events
//! (an endpoint taking every customer's cannot be watched by polling: creditgate does not
//! list a vendor's customers).
//!
//! Each watched balance is an item on a shared work queue, due once per interval: with
//! replicas, one of them reads it each time, under a lease of one interval.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Gateway;
use crate::model::event::{EventSource, EventType};
use crate::model::ProviderKind;

/// The queue of watched balances: items `<provider>:<vendor customer id>`.
const WATCH: &str = "balance_watch";

impl Gateway {
    /// Whether `provider`'s balance changes reach creditgate only by reading them.
    fn watched_vendor(&self, provider: ProviderKind) -> bool {
        self.adapter(provider).is_some_and(|adapter| {
            adapter.credit_balances().is_some()
                && adapter.webhooks().is_none_or(|hooks| !hooks.pushes_balance_changes())
        })
    }

    /// The (provider, vendor customer id) pairs to watch now.
    async fn watched_customers(&self) -> BTreeSet<(ProviderKind, String)> {
        let mut watched = BTreeSet::new();
        let Ok(log) = self.event_log() else { return watched };
        let split = |qualified: &str| -> Option<(ProviderKind, String)> {
            let (provider, id) = qualified.split_once(':')?;
            Some((provider.parse().ok()?, id.to_owned()))
        };
        match self.alerts_of_everyone().await {
            Ok(alerts) => watched.extend(alerts.iter().filter_map(|a| split(&a.customer))),
            Err(e) => tracing::warn!(error = %e, "the alerts to watch could not be read"),
        }
        for endpoint in log.endpoints() {
            let takes_balances = endpoint
                .types
                .as_ref()
                .is_none_or(|t| t.contains(&EventType::BalanceUpdated) || t.contains(&EventType::BalanceLow));
            if let (true, Some(customers)) = (takes_balances, &endpoint.customers) {
                watched.extend(customers.iter().filter_map(|c| split(c)));
            }
        }
        watched.retain(|(provider, _)| self.watched_vendor(*provider));
        watched
    }

    /// Reads the watched balances, each once per interval, until `stop` says so.
    pub(super) async fn watch_balances(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Ok(log) = self.event_log() else { return };
        let interval = Duration::from_secs(log.config().watch_interval_secs.max(1));
        let mut synced: Option<Instant> = None;
        while !*stop.borrow() {
            // What to watch changes as alerts come and go: queued again once an interval
            // (an item already queued stays as it is).
            if synced.is_none_or(|at| at.elapsed() >= interval) {
                synced = Some(Instant::now());
                for (provider, customer) in self.watched_customers().await {
                    if let Err(e) = log
                        .records()
                        .enqueue(WATCH, &format!("{provider}:{customer}"), b"")
                        .await
                    {
                        tracing::warn!(error = %e, "a watched balance could not be queued");
                    }
                }
            }
            let claimed = log.records().claim_due(WATCH, interval, 16).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "watched balances could not be read");
                Vec::new()
            });
            if claimed.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(250).min(interval)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let watched = self.watched_customers().await;
            let reads = claimed.into_iter().map(|item| {
                let watched = &watched;
                async move {
                    let target = item
                        .item
                        .split_once(':')
                        .and_then(|(p, id)| Some((p.parse::<ProviderKind>().ok()?, id.to_owned())));
                    let next = match target.filter(|t| watched.contains(t)) {
                        Some((provider, customer)) => {
                            if let Err(e) = self.record_balances(provider, &customer, EventSource::Watch).await {
                                tracing::warn!(%provider, error = %e, "a watched balance could not be read");
                            }
                            Some(interval)
                        }
                        // No longer watched: off the queue.
                        None => None,
                    };
                    let settled = log
                        .records()
                        .settle(WATCH, &item.item, next, None, log.config().retention())
                        .await;
                    if let Err(e) = settled {
                        tracing::warn!(error = %e, "a watched balance's next read was not scheduled");
                    }
                }
            });
            futures_util::future::join_all(reads).await;
        }
    }
}
