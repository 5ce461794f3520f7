//! A write's cache invalidation, on every replica. The writing replica drops its own
//! cached answers, then one script numbers the invalidation (an `INCR`) and publishes it.
//! Each replica's subscriber applies what it receives and records the highest number
//! applied. Every quota check reads the current number in the same script
//! ([`super::limits`]); a replica that has not yet applied it waits for its subscriber (at
//! most the Redis timeout) and, failing that, drops its whole cache. So a read on replica B
//! sent after a write on replica A answered never sees the cache from before the write.
//!
//! A subscriber that (re)connects drops the whole cache first: what was published while it
//! was away is lost.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::{SharedError, SharedState};
use crate::model::ProviderKind;

/// What to drop from a replica's caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidated {
    /// Everything cached about one customer at one provider.
    Customer { provider: ProviderKind, customer: String },
    /// Everything (invalidations may have been missed).
    Everything,
    /// Nothing: only asks whether the caches still exist.
    Nothing,
}

/// Drops what it is told to from the replica's caches; answers `false` once the caches are
/// gone (the gateway was dropped), which stops the subscriber.
pub type Apply = Arc<dyn Fn(Invalidated) -> bool + Send + Sync>;

/// KEYS: the sequence. ARGV: channel, message. Answers the new number.
pub(super) const PUBLISH: &str = r"
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], seq .. ' ' .. ARGV[2])
return seq
";

/// The highest invalidation number this replica applied, and how to apply one.
pub(super) struct Applied {
    seq: watch::Sender<u64>,
    apply: OnceLock<Apply>,
}

impl Applied {
    pub(super) fn new() -> Applied {
        Applied {
            seq: watch::channel(0).0,
            apply: OnceLock::new(),
        }
    }

    fn apply(&self, what: Invalidated) -> bool {
        self.apply.get().is_none_or(|apply| apply(what))
    }

    fn applied_up_to(&self, seq: u64) {
        self.seq.send_if_modified(|current| {
            let newer = seq > *current;
            if newer {
                *current = seq;
            }
            newer
        });
    }
}

impl SharedState {
    pub(super) fn invalidation_seq_key(&self) -> String {
        self.key("invalidations", "seq")
    }

    fn channel(&self) -> String {
        self.key("invalidations", "channel")
    }

    /// Tells every replica to drop what it caches about `customer` at `provider`.
    pub async fn publish_invalidation(&self, provider: ProviderKind, customer: &str) -> Result<(), SharedError> {
        let mut invocation = self.inner.scripts.publish.prepare_invoke();
        invocation
            .key(self.invalidation_seq_key())
            .arg(self.channel())
            .arg(format!("{} {customer}", provider.as_str()));
        // Not marked applied here: earlier numbers from other replicas may still be on their
        // way to this replica's subscriber, which receives this one too, after them.
        let _seq: i64 = self.run_script("publish", &invocation).await?;
        Ok(())
    }

    /// Starts this replica's subscriber, which applies every replica's invalidations with
    /// `apply` until `apply` answers `false`. Call once.
    pub fn subscribe_invalidations(&self, apply: Apply) {
        if self.inner.invalidations.apply.set(apply).is_err() {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = shared.listen().await {
                    tracing::debug!(error = %e, "invalidation subscriber disconnected; reconnecting");
                }
                // The next subscription drops the whole cache once it is made.
                if !shared.inner.invalidations.apply(Invalidated::Nothing) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    /// One subscription, until it breaks or the gateway is gone.
    async fn listen(&self) -> Result<(), SharedError> {
        let connect = async {
            let mut pubsub = self.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(self.channel()).await?;
            Ok(pubsub)
        };
        let pubsub = self.call("subscribe", connect).await?;
        // Subscribed: anything published from now on arrives. What was published before
        // may have been missed, so the whole cache goes, up to the current number.
        let mut connection = self.inner.manager.clone();
        let key = self.invalidation_seq_key();
        let seq: Option<u64> = self
            .call("subscribe", redis::cmd("GET").arg(&key).query_async(&mut connection))
            .await?;
        let applied = &self.inner.invalidations;
        if !applied.apply(Invalidated::Everything) {
            return Ok(());
        }
        applied.applied_up_to(seq.unwrap_or(0));
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Ok(text) = message.get_payload::<String>() else {
                continue;
            };
            let mut parts = text.splitn(3, ' ');
            let (Some(seq), Some(provider), Some(customer)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let what = match provider.parse::<ProviderKind>() {
                Ok(provider) => Invalidated::Customer {
                    provider,
                    customer: customer.to_owned(),
                },
                Err(_) => Invalidated::Everything,
            };
            if !applied.apply(what) {
                return Ok(());
            }
            applied.applied_up_to(seq.parse().unwrap_or(0));
        }
        Err(SharedError {
            operation: "subscribe",
            detail: "the subscription ended".into(),
        })
    }

    /// Makes sure this replica applied every invalidation up to `seq` (read from Redis in
    /// the same script as the request's quota): waits for the subscriber at most the Redis
    /// timeout, then drops the whole cache instead.
    pub async fn catch_up(&self, seq: u64) {
        let applied = &self.inner.invalidations;
        if *applied.seq.borrow() >= seq {
            return;
        }
        let mut current = applied.seq.subscribe();
        let caught_up = tokio::time::timeout(self.inner.timeout, current.wait_for(|v| *v >= seq)).await;
        if !matches!(caught_up, Ok(Ok(_))) {
            tracing::debug!(seq, "invalidations not yet received; dropping the whole cache");
            applied.apply(Invalidated::Everything);
            applied.applied_up_to(seq);
        }
    }
}
