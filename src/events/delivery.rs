//! Delivery to endpoints: one worker per endpoint, so a slow or dead one never delays
//! another. Each takes the deliveries due on its queue (a lease: an attempt cut short by a
//! crash, here or at another replica, is due again when the lease ends), sends each as a
//! signed `POST` and records the attempt with the event. Anything but a 2xx is retried
//! with exponential backoff and jitter until the retry window has passed since the first
//! attempt; every attempt carries the same `webhook-id` (the event id), so receivers
//! dedupe on it. Redirects are not followed (a 3xx is a failure, as the spec says).

use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::{Endpoint, EventLog};
use crate::model::Timestamp;

/// How often a worker looks for due deliveries when nothing woke it (retries coming due,
/// events another replica recorded).
const POLL: Duration = Duration::from_millis(200);
/// Attempts kept per delivery (the first and the latest ones).
const KEPT_ATTEMPTS: usize = 20;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; retried at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: the retry window passed (or the event expired first).
    Failed,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: Timestamp,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed without an answer (timeout, refused connection…).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// An event's delivery to one endpoint, as `GET /v1/events/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryState {
    #[schemars(extend("const" = "event_delivery"))]
    pub object: String,
    /// The endpoint's id (`we_…`).
    pub endpoint: String,
    pub url: String,
    pub status: DeliveryStatus,
    /// How many attempts were made in all.
    pub attempt_count: u32,
    /// The first attempt and the latest ones.
    pub attempts: Vec<Attempt>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub next_attempt_at: Option<Timestamp>,
    /// When the current retry window began: the first attempt, or the first after a
    /// redelivery.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub window_started_at: Option<Timestamp>,
}

impl DeliveryState {
    /// A delivery not yet tried.
    pub fn pending(endpoint: &Endpoint) -> DeliveryState {
        DeliveryState {
            object: "event_delivery".into(),
            endpoint: endpoint.id.clone(),
            url: endpoint.url.to_string(),
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            attempts: Vec::new(),
            next_attempt_at: None,
            window_started_at: None,
        }
    }

    fn push(&mut self, attempt: Attempt) {
        self.attempt_count = self.attempt_count.saturating_add(1);
        if self.attempts.len() >= KEPT_ATTEMPTS {
            // The first attempt stays, then the latest ones.
            self.attempts.remove(1);
        }
        self.attempts.push(attempt);
    }
}

/// Starts one worker per endpoint; each runs until `stop` says so, then waits for its
/// attempts in flight (each bounded by `attempt_timeout_ms`).
pub fn spawn_workers(
    log: &EventLog,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let config = log.config();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_millis(config.attempt_timeout_ms))
        .timeout(Duration::from_millis(config.attempt_timeout_ms))
        .user_agent(concat!("creditgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the webhook client: {e}"))?;
    Ok(log
        .endpoints()
        .iter()
        .map(|endpoint| tokio::spawn(run(log.clone(), Arc::clone(endpoint), client.clone(), stop.clone())))
        .collect())
}

async fn run(
    log: EventLog,
    endpoint: Arc<Endpoint>,
    client: reqwest::Client,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let config = log.config().clone();
    let slots = Arc::new(Semaphore::new(config.max_in_flight_per_endpoint));
    let wake = log.wake(&endpoint.id);
    // A claimed delivery is handed out again if not settled within its attempt and a margin.
    let lease = Duration::from_millis(config.attempt_timeout_ms) + Duration::from_secs(10);
    let mut in_flight = tokio::task::JoinSet::new();
    while !*stop.borrow() {
        while in_flight.try_join_next().is_some() {}
        // Take only as many as there are free slots, so none waits leased.
        let free = match Arc::clone(&slots).acquire_owned().await {
            Ok(permit) => {
                let free = slots.available_permits() + 1;
                drop(permit);
                free
            }
            Err(_) => break,
        };
        let claimed = match log.records().claim_due(&endpoint.id, lease, free).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(endpoint = %endpoint.id, error = %e, "due deliveries could not be read");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            let woken = async {
                match &wake {
                    Some(wake) => wake.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        for item in claimed {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let (log, endpoint, client) = (log.clone(), Arc::clone(&endpoint), client.clone());
            in_flight.spawn(async move {
                deliver(&log, &endpoint, &client, &item.item).await;
                drop(permit);
            });
        }
    }
    // Attempts already sent finish and are recorded; nothing new starts.
    while in_flight.join_next().await.is_some() {}
}

/// One attempt at delivering event `id` to `endpoint`, and its record.
async fn deliver(log: &EventLog, endpoint: &Endpoint, client: &reqwest::Client, id: &str) {
    let records = log.records();
    let config = log.config();
    let retention = config.retention();
    let body = match records.event(id).await {
        Ok(body) => body,
        Err(e) => {
            // The lease runs out and the delivery is tried again.
            tracing::warn!(event = id, error = %e, "an event to deliver could not be read");
            return;
        }
    };
    let mut state = match records.deliveries(id).await {
        Ok(states) => states
            .into_iter()
            .find(|(endpoint_id, _)| *endpoint_id == endpoint.id)
            .and_then(|(_, bytes)| serde_json::from_slice::<DeliveryState>(&bytes).ok())
            .unwrap_or_else(|| DeliveryState::pending(endpoint)),
        Err(e) => {
            tracing::warn!(event = id, error = %e, "a delivery's state could not be read");
            return;
        }
    };
    let retry_in = match body {
        None => {
            // Expired before it could be delivered.
            state.status = DeliveryStatus::Failed;
            None
        }
        Some(body) => {
            let attempt = send(endpoint, client, id, body).await;
            let delivered = attempt.status_code.is_some_and(|s| (200..300).contains(&s));
            // A delivery done or given up and then redelivered starts a new window.
            if state.status != DeliveryStatus::Pending || state.window_started_at.is_none() {
                state.window_started_at = Some(attempt.at);
                state.status = DeliveryStatus::Pending;
            }
            let first = state.window_started_at.unwrap_or(attempt.at);
            state.push(attempt);
            let window = Duration::from_secs(config.retry_window_hours.saturating_mul(3_600));
            let elapsed = (OffsetDateTime::now_utc() - first).unsigned_abs();
            if delivered {
                state.status = DeliveryStatus::Delivered;
                crate::metrics::record_delivery("delivered");
                None
            } else if elapsed >= window {
                state.status = DeliveryStatus::Failed;
                crate::metrics::record_delivery("failed");
                tracing::warn!(event = id, endpoint = %endpoint.id, attempts = state.attempt_count, "delivery given up");
                None
            } else {
                crate::metrics::record_delivery("retry");
                Some(backoff(config, state.attempt_count))
            }
        }
    };
    state.next_attempt_at = retry_in.map(|d| OffsetDateTime::now_utc() + d);
    let bytes = match serde_json::to_vec(&state) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "a delivery state does not serialize");
            return;
        }
    };
    if let Err(e) = records
        .settle(&endpoint.id, id, retry_in, Some((id, &endpoint.id, bytes)), retention)
        .await
    {
        // The lease runs out and the delivery is made again: at least once.
        tracing::warn!(event = id, error = %e, "a delivery's outcome could not be recorded");
    }
}

/// Sends one signed attempt.
async fn send(endpoint: &Endpoint, client: &reqwest::Client, id: &str, body: Vec<u8>) -> Attempt {
    let at = OffsetDateTime::now_utc();
    let timestamp = at.unix_timestamp();
    let signature = endpoint.key.sign(id, timestamp, &body);
    let started = Instant::now();
    let result = client
        .post(endpoint.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(answer) => Attempt {
            at,
            status_code: Some(answer.status().as_u16()),
            error: None,
            duration_ms,
        },
        Err(e) => Attempt {
            at,
            status_code: None,
            error: Some(describe(e)),
            duration_ms,
        },
    }
}

/// What went wrong, without the URL (it may hold a token in its query).
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer within attempt_timeout_ms".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.without_url().to_string()
    }
}

/// The wait before retry number `attempts` (1 after the first attempt): doubling from
/// `first_retry_ms`, capped, minus up to half of it at random.
fn backoff(config: &super::EventsConfig, attempts: u32) -> Duration {
    let doubled = config
        .first_retry_ms
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(32));
    let wait = doubled.min(config.max_retry_interval_ms).max(1);
    let jitter = super::random_u64() % (wait / 2 + 1);
    Duration::from_millis(wait - jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_with_jitter_up_to_the_cap() {
        let config = super::super::EventsConfig {
            first_retry_ms: 1_000,
            max_retry_interval_ms: 10_000,
            ..Default::default()
        };
        for _ in 0..50 {
            let first = backoff(&config, 1).as_millis();
            assert!((500..=1_000).contains(&first), "{first}");
            let third = backoff(&config, 3).as_millis();
            assert!((2_000..=4_000).contains(&third), "{third}");
            let late = backoff(&config, 40).as_millis();
            assert!((5_000..=10_000).contains(&late), "{late}");
        }
    }
}
