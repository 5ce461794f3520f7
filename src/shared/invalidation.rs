//! A write's cache invalidation, on every replica. The writing replica drops its own
//! cached answers, then one script numbers the invalidation (an `INCR`) and publishes it.
//! Each replica's subscriber applies what it receives and records the highest number
//! applied.
//!
//! Read-after-write across replicas, without a Redis call per request: a replica serves
//! a request from its caches only within [`FRESH_FOR`] of *sending* a read of the current
//! number that it then caught up with (a poller reads it every [`POLL_EVERY`] while
//! requests come; a quota batch's script reads it too). Catching up waits for the
//! subscriber, at most the Redis timeout, and failing that drops the whole cache. A writer
//! answers only [`FRESH_FOR`] after its number was made
//! ([`SharedState::until_replicas_read_invalidations`]; a vendor's webhook or a watcher
//! that drops a customer's cache does not wait: no client read is ordered after it). So a read sent to replica B after
//! a write on replica A answered is served from a read of the number sent after the number
//! was made: B has applied the write's invalidation. When no such read is recent, the
//! request reads the number itself first.
//!
//! A subscriber that (re)connects drops the whole cache first: what was published while it
//! was away is lost.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{watch, Notify};

use super::{lock, SharedError, SharedState};
use crate::model::ProviderKind;

/// How long a read of the invalidation number, once caught up with, lets a replica serve
/// from its caches (from when the read was sent); also how long a writer waits before
/// answering.
pub const FRESH_FOR: Duration = Duration::from_millis(20);
/// How often the poller reads the number while requests come.
const POLL_EVERY: Duration = Duration::from_millis(4);
/// The poller stops reading after this long without a request, until the next one.
const IDLE_AFTER: Duration = Duration::from_secs(1);

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
    /// Until when the caches may be served from without reading the number (see the
    /// module's comment).
    fresh_until: Mutex<Option<Instant>>,
    /// When a request last asked, for the poller to rest while none come.
    last_asked: Mutex<Option<Instant>>,
    asked: Notify,
}

impl Applied {
    pub(super) fn new() -> Applied {
        Applied {
            seq: watch::channel(0).0,
            apply: OnceLock::new(),
            fresh_until: Mutex::new(None),
            last_asked: Mutex::new(None),
            asked: Notify::new(),
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

    /// A request asks whether the caches are fresh now; wakes the poller if it rests.
    fn is_fresh(&self, now: Instant) -> bool {
        if idle(lock(&self.last_asked).replace(now), now) {
            self.asked.notify_one();
        }
        lock(&self.fresh_until).is_some_and(|until| now < until)
    }

    /// Caught up with a number read by a call sent at `sent`.
    fn fresh_from(&self, sent: Instant) {
        let mut until = lock(&self.fresh_until);
        let candidate = sent + FRESH_FOR;
        if until.is_none_or(|u| u < candidate) {
            *until = Some(candidate);
        }
    }

    fn is_idle(&self, now: Instant) -> bool {
        idle(*lock(&self.last_asked), now)
    }
}

/// No request since `last` for longer than [`IDLE_AFTER`] (or none yet).
fn idle(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.duration_since(last) > IDLE_AFTER)
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

    /// Returns once every replica serves from its caches only under a read of the
    /// invalidation number made after the ones published so far: a write answers after
    /// this, so that a read sent anywhere after its answer reflects it (module comment).
    pub async fn until_replicas_read_invalidations(&self) {
        tokio::time::sleep(FRESH_FOR + Duration::from_millis(1)).await;
    }

    /// Starts this replica's subscriber, which applies every replica's invalidations with
    /// `apply` until `apply` answers `false`. Call once.
    pub fn subscribe_invalidations(&self, apply: Apply) {
        if self.inner.invalidations.apply.set(apply).is_err() {
            return;
        }
        let poller = self.clone();
        tokio::spawn(async move { poller.poll_freshness().await });
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
        let seq = self.read_invalidation_seq().await?;
        let applied = &self.inner.invalidations;
        if !applied.apply(Invalidated::Everything) {
            return Ok(());
        }
        applied.applied_up_to(seq);
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

    /// Makes sure this replica's caches hold every invalidation a write answered before now
    /// made: at once when a read of the number is recent enough, else after reading it.
    /// While Redis does not answer, the caches are served as they are (degraded).
    pub async fn ensure_fresh(&self) {
        let applied = &self.inner.invalidations;
        if !applied.is_fresh(Instant::now()) {
            self.refresh().await;
        }
    }

    /// Reads the number and catches up with it.
    async fn refresh(&self) {
        let sent = Instant::now();
        if let Ok(seq) = self.read_invalidation_seq().await {
            self.observed(sent, seq).await;
        }
    }

    async fn read_invalidation_seq(&self) -> Result<u64, SharedError> {
        let mut connection = self.inner.manager.clone();
        let key = self.invalidation_seq_key();
        let seq: Option<u64> = self
            .call(
                "invalidations",
                redis::cmd("GET").arg(&key).query_async(&mut connection),
            )
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// The invalidation number `seq`, read by a call sent at `sent`: once this replica has
    /// applied it, its caches are fresh until `sent` + [`FRESH_FOR`].
    pub(super) async fn observed(&self, sent: Instant, seq: u64) {
        self.catch_up(seq).await;
        self.inner.invalidations.fresh_from(sent);
    }

    /// Reads the number every [`POLL_EVERY`] while requests come, so that they find the
    /// caches fresh; rests while none come, and ends with the gateway.
    async fn poll_freshness(&self) {
        let applied = &self.inner.invalidations;
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            if !applied.apply(Invalidated::Nothing) {
                return;
            }
            if applied.is_idle(Instant::now()) {
                // Woken by the next request, or after a while to see whether the gateway is gone.
                let _ = tokio::time::timeout(IDLE_AFTER, applied.asked.notified()).await;
                continue;
            }
            self.refresh().await;
        }
    }

    /// Makes sure this replica applied every invalidation up to `seq`: waits for the
    /// subscriber at most the Redis timeout, then drops the whole cache instead.
    async fn catch_up(&self, seq: u64) {
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
