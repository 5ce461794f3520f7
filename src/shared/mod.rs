//! State that several gateway replicas share through Redis (`[redis]`, README "Several
//! replicas"): key quotas and vendor pacing ([`limits`]), write idempotency records
//! ([`records`]), cache invalidation ([`invalidation`]), the event log with its queues
//! ([`events`]) and the console's signed-out sessions. Without `[redis]` none of this
//! exists and every replica keeps its own state, as a single process needs.
//!
//! Every Redis call waits at most `[redis] timeout_ms`. A call that fails or does not
//! answer in time marks the connection degraded (a warning once, the
//! `creditgate_redis_degraded` gauge, `/readyz`): reads then go on with each replica's own
//! limits, writes are refused with 503, since a record that cannot be read could let a write
//! happen twice. The next call that succeeds clears it; the connection manager reconnects on
//! its own, so no restart is needed.
//!
//! Time in every script is Redis's own `TIME`, so replicas with skewed clocks agree.

pub mod events;
pub mod invalidation;
pub mod leases;
pub mod limits;
pub mod queues;
pub mod records;
pub mod serial;
mod sessions;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::secret::SecretRef;

/// `[redis]`: the Redis server the replicas share.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// The server's URL (`redis://[:password@]host:port[/db]`, or `rediss://` for TLS), as a
    /// secret reference: it may hold a password.
    pub url: SecretRef,
    /// The longest wait for any one Redis call; past it the call counts as failed and the
    /// gateway works degraded (see the module's comment).
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1))]
    pub timeout_ms: u64,
    /// Prefix of every key and channel creditgate uses, so that several deployments can
    /// share one server.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_timeout_ms() -> u64 {
    50
}

fn default_key_prefix() -> String {
    "creditgate".into()
}

impl RedisConfig {
    /// Whether the URL resolves and reads as a Redis URL, without connecting.
    pub fn check(&self) -> Result<(), String> {
        let url = self.url.resolve()?;
        redis::Client::open(url.expose())
            .map(|_| ())
            .map_err(|e| format!("not a Redis URL: {e}"))
    }
}

/// A Redis call that failed or did not answer in time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("redis {operation}: {detail}")]
pub struct SharedError {
    pub operation: &'static str,
    pub detail: String,
}

/// The connection to the shared Redis, cheap to clone.
#[derive(Clone)]
pub struct SharedState {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: ConnectionManager,
    scripts: Scripts,
    prefix: String,
    timeout: Duration,
    degraded: AtomicBool,
    invalidations: invalidation::Applied,
}

impl std::fmt::Debug for SharedState {
    // The URL may hold a password: only the prefix and the timeout are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

impl SharedState {
    /// Checks the URL; no connection is made until the first call, so a gateway starts
    /// (degraded) while Redis is down. Must run inside the tokio runtime.
    pub fn new(config: &RedisConfig) -> Result<SharedState, String> {
        let url = config.url.resolve()?;
        // redis-rs's messages about a URL do not repeat it, so they cannot leak a password.
        let client = redis::Client::open(url.expose()).map_err(|e| format!("not a Redis URL: {e}"))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err("the Redis connection must be made inside the runtime".into());
        }
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| format!("cannot set up the Redis connection: {e}"))?;
        Ok(SharedState {
            inner: Arc::new(Inner {
                client,
                manager,
                prefix: config.key_prefix.clone(),
                timeout,
                scripts: Scripts::new(),
                degraded: AtomicBool::new(false),
                invalidations: invalidation::Applied::new(),
            }),
        })
    }

    /// Whether the last Redis call failed (`/readyz`, the logs, the gauge).
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded.load(Ordering::Relaxed)
    }

    /// The longest wait for one call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// `<prefix>:<kind>:<id>`, every key in one hash slot (`{prefix}`) so that the scripts
    /// may touch several.
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{{{}}}:{kind}:{id}", self.inner.prefix)
    }

    /// Runs one Redis call within the timeout, and keeps the degraded flag up to date.
    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedError> {
        let outcome = match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.inner.timeout.as_millis())),
        };
        match outcome {
            Ok(value) => {
                if self.inner.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(operation, "redis answers again: shared limits and writes are back");
                    crate::metrics::set_redis_degraded(false);
                }
                Ok(value)
            }
            Err(detail) => {
                crate::metrics::record_redis_error(operation);
                if !self.inner.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        operation,
                        error = %detail,
                        "redis unavailable: degraded (each replica limits on its own, writes answer 503)"
                    );
                    crate::metrics::set_redis_degraded(true);
                }
                Err(SharedError { operation, detail })
            }
        }
    }

    /// Runs `script` on the shared connection.
    async fn run_script<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, SharedError> {
        let mut connection = self.inner.manager.clone();
        self.call(operation, invocation.invoke_async(&mut connection)).await
    }
}

/// Every Lua script creditgate runs, hashed once: `EVALSHA` sends the hash, and the
/// script itself only when Redis does not know it yet (after a restart).
struct Scripts {
    lease_quota: redis::Script,
    pace: redis::Script,
    pause: redis::Script,
    reserve: redis::Script,
    finish: redis::Script,
    publish: redis::Script,
    claim: redis::Script,
    lock: redis::Script,
    append: redis::Script,
    enqueue: redis::Script,
    claim_due: redis::Script,
    settle: redis::Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            lease_quota: redis::Script::new(limits::LEASE_QUOTA),
            pace: redis::Script::new(limits::PACE),
            pause: redis::Script::new(limits::PAUSE),
            reserve: redis::Script::new(records::RESERVE),
            finish: redis::Script::new(records::FINISH),
            publish: redis::Script::new(invalidation::PUBLISH),
            claim: redis::Script::new(serial::CLAIM),
            lock: redis::Script::new(serial::LOCK),
            append: redis::Script::new(events::APPEND),
            enqueue: redis::Script::new(queues::ENQUEUE),
            claim_due: redis::Script::new(queues::CLAIM_DUE),
            settle: redis::Script::new(queues::SETTLE),
        }
    }
}

/// Runs a call on the disk store off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, crate::store::StoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| crate::store::StoreError(e.to_string()))?
}

/// State of this process's own behind a mutex; a panic while it was held leaves it as it was.
pub(crate) fn lock<T>(state: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Microseconds as a `Duration`, from a script's integer answer (negative reads as zero).
fn micros(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_a_secret_reference_and_the_rest_has_defaults() {
        let config: RedisConfig = toml::from_str("url = \"env:CREDITGATE_REDIS_URL\"").unwrap();
        assert_eq!(config.url, SecretRef::Env("CREDITGATE_REDIS_URL".into()));
        assert_eq!((config.timeout_ms, config.key_prefix.as_str()), (50, "creditgate"));
        // A URL written into the file may hold a password: refused, and not echoed (the
        // config loader reports the message, never toml's copy of the line).
        let error = toml::from_str::<RedisConfig>("url = \"redis://:hunter2@db:6379\"").unwrap_err();
        assert!(error.message().contains("env:NAME"), "{}", error.message());
        assert!(!error.message().contains("hunter2"), "{}", error.message());
        assert!(toml::from_str::<RedisConfig>("url = \"env:X\"\ntimeout = 5").is_err());
    }

    #[tokio::test]
    async fn the_connection_never_shows_its_url() {
        let dir = std::env::temp_dir().join(format!("creditgate-redis-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("url"), "redis://:hunter2@127.0.0.1:1").unwrap();
        let config = RedisConfig {
            url: SecretRef::File(dir.join("url")),
            timeout_ms: 50,
            key_prefix: "t".into(),
        };
        config.check().unwrap();
        let shared = SharedState::new(&config).unwrap();
        assert!(!format!("{shared:?}").contains("hunter2"));
        // Nothing listens on port 1: the call fails within the timeout, and says so.
        let started = std::time::Instant::now();
        let error = shared
            .lease_quota(
                "k",
                crate::quota::KeyQuota {
                    requests_per_second: 1,
                    burst: 1,
                },
                1,
                0,
            )
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert!(shared.is_degraded());
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
