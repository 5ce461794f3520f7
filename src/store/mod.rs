//! Idempotency records for writes (`gateway::writes` stands on them). Stripe's semantics: the same tenant, key and
//! request within [`RETENTION`] replays the first answer; the same key with another request
//! is refused; the same key while the first is in flight is refused; a write whose outcome
//! is unknown (a timeout after the request left, a crash mid-write) is never sent again
//! blindly: the next attempt is told so and must look at the vendor first.
//!
//! [`DiskStore`] keeps the records in an embedded redb database so they survive a restart,
//! each decision in one write transaction (redb serializes those), so two requests racing
//! on one key cannot both be told to write. Replicas sharing Redis keep the same records
//! there instead (`shared::records`, which also dispatches between the two).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

/// `[store]`: where the write path keeps its idempotency records.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The embedded database file (created if absent). Records must outlive a restart, so
    /// keep it on a persistent disk; one gateway process opens it at a time.
    pub path: std::path::PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: "creditgate-store.redb".into(),
        }
    }
}

/// How long a finished write's answer is replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");

/// How long a claim on a vendor entry is kept (see [`DiskStore::claim`]). A look for an
/// earlier write considers the entries made since that write's first attempt, and an
/// unknown outcome can be retried for as long as its record lives: a month covers any
/// retry a client makes in earnest.
pub const CLAIM_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Vendor entries claimed by a write: `provider NUL customer NUL entry` → unix seconds.
const CLAIMS: TableDefinition<&str, u64> = TableDefinition::new("claims");

/// Vendor events received by webhook: `provider NUL event id` → unix seconds received.
const VENDOR_EVENTS: TableDefinition<&str, u64> = TableDefinition::new("vendor_events");

/// How long events are kept unless `[events] retention_days` says otherwise.
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How long a vendor event's id is kept, to know a redelivery for what it is: past the
/// longest retry window of any vendor (Stripe and Metronome retry for three days).
pub const VENDOR_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The claims table's key prefix of one customer at one provider.
fn claims_prefix(provider: &str, customer: &str) -> String {
    format!("{provider}\u{0}{customer}\u{0}")
}

/// SHA-256 of what a write asks for (method, path and canonical body), without the tenant
/// or the key: two requests under one key are "the same" when their fingerprints are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

/// A finished write's answer, replayed as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What the store says to a write about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key is new (or its record expired): it is now reserved for this write, which
    /// must end in [`DiskStore::complete`], [`DiskStore::mark_unknown`] or
    /// [`DiskStore::release`]. `generation` counts the earlier writes under this key that
    /// were refused and released: each gets a vendor-side key of its own, since a vendor
    /// may keep a refused request's answer under its key (Stripe does).
    Fresh { generation: u32 },
    /// The same request finished before: answer this, with `Idempotent-Replayed: true`.
    Replay(StoredAnswer),
    /// The same request is being written now: `409 idempotency_key_in_use`.
    InUse,
    /// Another request used this key: `409 idempotency_key_reused`.
    Reused,
    /// The same request was sent before and its outcome is unknown. The key is reserved
    /// again for this attempt, which must look at the vendor for the earlier write before
    /// writing anything. `since` is when the first attempt was reserved: the earlier write,
    /// if it happened, happened after it.
    OutcomeUnknown { since: SystemTime, generation: u32 },
    /// The same request was sent before and its outcome is unknown, but the attempt ended
    /// (or its process stopped) less than the vendor's settle window ago: it may still land
    /// at the vendor, so a look now could miss it and write again. Nothing changes; the
    /// client is told to come back at `until` (`409 write_outcome_settling`).
    Settling { until: SystemTime },
}

#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct StoreError(pub String);

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError(e.to_string())
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

#[derive(Debug, Clone, Serialize, Deserialize)]
enum State {
    /// Being written by the process that started as `boot`.
    InFlight {
        boot: u64,
    },
    Done {
        answer: StoredAnswer,
    },
    Unknown,
    /// Refused for certain (nothing happened): the key is free again, and the next write
    /// under it is the next generation.
    Released,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    fingerprint: Fingerprint,
    /// Unix seconds of the last change.
    at: u64,
    /// Unix seconds of the first attempt's reservation.
    started: u64,
    state: State,
    /// See [`Reservation::Fresh`]; records written before it existed are generation 0.
    #[serde(default)]
    generation: u32,
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// When an unknown outcome's write can no longer land: `settle` after the record's last
/// change (records keep whole seconds, so one more is waited).
fn settled(record: &Record, settle: Duration) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(record.at.saturating_add(1)) + settle
}

/// One key per tenant: a NUL cannot occur in either part as the API takes them.
fn record_key(tenant: &str, key: &str) -> String {
    format!("{tenant}\u{0}{key}")
}

/// Idempotency records in an embedded redb file.
pub struct DiskStore {
    db: Database,
    /// How long a record is kept after its last change; `None`: for as long as the file
    /// (a migration plan's records, which guard its writes for as long as it can be run).
    retention: Option<Duration>,
    /// This process's start, so an in-flight record left by a crashed one reads as unknown.
    boot: u64,
    /// How long events are kept (`[events] retention_days`).
    event_retention: Duration,
    /// Vendor events waiting for the group commit (`events.rs`), started on first use.
    intake: std::sync::OnceLock<std::sync::mpsc::Sender<intake::Intake>>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore").field("boot", &self.boot).finish()
    }
}

impl DiskStore {
    /// Opens the store at `path`, or creates it whole (`files::create_atomically`: a kill
    /// at any instant leaves no store or a valid one). A symlink at `path` is refused.
    pub fn open(path: &Path) -> Result<DiskStore, StoreError> {
        Self::open_with(path, Some(RETENTION))
    }

    /// [`Self::open`] for records that never expire (a migration plan's, kept beside it).
    pub fn open_keeping_everything(path: &Path) -> Result<DiskStore, StoreError> {
        Self::open_with(path, None)
    }

    fn open_with(path: &Path, retention: Option<Duration>) -> Result<DiskStore, StoreError> {
        let file = match crate::files::open_existing(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::files::create_atomically(path, |file| {
                let db = Database::builder()
                    .create_file(file.try_clone()?)
                    .map_err(std::io::Error::other)?;
                Self::create_tables(&db).map_err(|e| std::io::Error::other(e.0))
            })
            .map_err(|e| StoreError(e.to_string()))?,
            Err(e) => return Err(StoreError(e.to_string())),
        };
        let db = Database::builder().create_file(file)?;
        Self::create_tables(&db)?;
        let boot = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(DiskStore {
            db,
            retention,
            boot,
            event_retention: DEFAULT_EVENT_RETENTION,
            intake: std::sync::OnceLock::new(),
        })
    }

    /// The store, keeping events for `kept` (from when each was recorded).
    pub fn keeping_events_for(self, kept: Duration) -> DiskStore {
        DiskStore {
            event_retention: kept,
            ..self
        }
    }

    /// Whether `record` is still kept at `now`.
    fn keeps(&self, record: &Record, now: SystemTime) -> bool {
        self.retention
            .is_none_or(|kept| unix(now).saturating_sub(record.at) < kept.as_secs())
    }

    fn create_tables(db: &Database) -> Result<(), StoreError> {
        let txn = db.begin_write()?;
        txn.open_table(RECORDS)?;
        txn.open_table(CLAIMS)?;
        txn.open_table(VENDOR_EVENTS)?;
        events::create_tables(&txn)?;
        sessions::create_tables(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// Changes the record under (`tenant`, `key`) in one write transaction.
    fn update<T>(
        &self,
        tenant: &str,
        key: &str,
        change: impl FnOnce(Option<Record>) -> (Option<Record>, T),
    ) -> Result<T, StoreError> {
        let id = record_key(tenant, key);
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut table = txn.open_table(RECORDS)?;
            // A record that cannot be read is an error, never an absent record: reading it
            // as absent could let a write happen twice.
            let current = table
                .get(id.as_str())?
                .map(|bytes| serde_json::from_slice::<Record>(bytes.value()))
                .transpose()
                .map_err(|e| StoreError(format!("the record of key `{key}` cannot be read: {e}")))?;
            let (next, outcome) = change(current);
            match next {
                Some(record) => {
                    let bytes = serde_json::to_vec(&record).map_err(|e| StoreError(e.to_string()))?;
                    table.insert(id.as_str(), bytes.as_slice())?;
                }
                None => {
                    table.remove(id.as_str())?;
                }
            }
            outcome
        };
        txn.commit()?;
        Ok(outcome)
    }

    /// Sets the state of a record this process reserved; a missing record is an error
    /// (the caller did not reserve the key).
    fn finish(&self, tenant: &str, key: &str, state: State, now: SystemTime) -> Result<(), StoreError> {
        let found = self.update(tenant, key, |current| match current {
            Some(record) => (
                Some(Record {
                    at: unix(now),
                    state,
                    ..record
                }),
                true,
            ),
            None => (None, false),
        })?;
        if found {
            Ok(())
        } else {
            Err(StoreError(format!("no reservation for key `{key}`")))
        }
    }
}

impl DiskStore {
    /// `settle`: how long after an attempt with an unknown outcome ended its write may
    /// still land at the vendor (`[upstream] write_settle_ms`); until then the key settles.
    pub fn reserve(
        &self,
        tenant: &str,
        key: &str,
        fingerprint: Fingerprint,
        now: SystemTime,
        settle: Duration,
    ) -> Result<Reservation, StoreError> {
        let boot = self.boot;
        let reserved = Record {
            fingerprint,
            at: unix(now),
            started: unix(now),
            state: State::InFlight { boot },
            generation: 0,
        };
        self.update(tenant, key, |current| {
            let live = current.filter(|r| self.keeps(r, now));
            match live {
                None => (Some(reserved), Reservation::Fresh { generation: 0 }),
                // Released: free for any request, as the next generation.
                Some(record) if matches!(record.state, State::Released) => {
                    let generation = record.generation.saturating_add(1);
                    let next = Record { generation, ..reserved };
                    (Some(next), Reservation::Fresh { generation })
                }
                Some(record) if record.fingerprint != fingerprint => (Some(record), Reservation::Reused),
                Some(record) => match &record.state {
                    State::Done { answer } => {
                        let answer = answer.clone();
                        (Some(record), Reservation::Replay(answer))
                    }
                    State::InFlight { boot: b } if *b == boot => (Some(record), Reservation::InUse),
                    // `at` is when the attempt was marked unknown, or reserved by a process
                    // that stopped; records keep whole seconds, so one more is waited.
                    State::InFlight { .. } | State::Unknown if now < settled(&record, settle) => {
                        let until = settled(&record, settle);
                        (Some(record), Reservation::Settling { until })
                    }
                    // Left in flight by a process that stopped, or unknown: it may have
                    // happened. This attempt holds the key while it looks.
                    State::InFlight { .. } | State::Unknown | State::Released => {
                        let since = UNIX_EPOCH + Duration::from_secs(record.started);
                        let generation = record.generation;
                        let again = Record {
                            started: record.started,
                            generation,
                            ..reserved
                        };
                        (Some(again), Reservation::OutcomeUnknown { since, generation })
                    }
                },
            }
        })
    }

    pub fn complete(&self, tenant: &str, key: &str, answer: &StoredAnswer, now: SystemTime) -> Result<(), StoreError> {
        let state = State::Done { answer: answer.clone() };
        self.finish(tenant, key, state, now)
    }

    pub fn mark_unknown(&self, tenant: &str, key: &str, now: SystemTime) -> Result<(), StoreError> {
        self.finish(tenant, key, State::Unknown, now)
    }

    /// The reserved write certainly did not happen: the key is free for any request, and
    /// the next one is the next generation.
    pub fn release(&self, tenant: &str, key: &str, now: SystemTime) -> Result<(), StoreError> {
        self.finish(tenant, key, State::Released, now)
    }

    /// The entries of `customer` at `provider` that writes have claimed (see [`Self::claim`]).
    pub fn claims(&self, provider: &str, customer: &str) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let prefix = claims_prefix(provider, customer);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CLAIMS)?;
        let mut claimed = std::collections::BTreeSet::new();
        for item in table.range(prefix.as_str()..)? {
            let (key, _) = item?;
            match key.value().strip_prefix(prefix.as_str()) {
                Some(entry) => claimed.insert(entry.to_owned()),
                None => break,
            };
        }
        Ok(claimed)
    }

    /// Records that a write took vendor entry `entry` of `customer` as its own, so that no
    /// other write's look takes it too (Vayu's entries carry nothing that says whose they are).
    pub fn claim(&self, provider: &str, customer: &str, entry: &str, now: SystemTime) -> Result<(), StoreError> {
        let key = format!("{}{entry}", claims_prefix(provider, customer));
        let txn = self.db.begin_write()?;
        txn.open_table(CLAIMS)?.insert(key.as_str(), unix(now))?;
        txn.commit()?;
        Ok(())
    }

    pub fn purge(&self, now: SystemTime) -> Result<usize, StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut claims = txn.open_table(CLAIMS)?;
            claims.retain(|_, at| unix(now).saturating_sub(at) < CLAIM_RETENTION.as_secs())?;
            let mut events = txn.open_table(VENDOR_EVENTS)?;
            events.retain(|_, at| unix(now).saturating_sub(at) < VENDOR_EVENT_RETENTION.as_secs())?;
        }
        Self::purge_events(&txn, now, self.event_retention)?;
        sessions::purge(&txn, now)?;
        let removed = {
            let mut table = txn.open_table(RECORDS)?;
            let before = table.len()?;
            // A record that cannot be read is kept: it is reported when its key is used.
            table.retain(|_, bytes| serde_json::from_slice::<Record>(bytes).map_or(true, |r| self.keeps(&r, now)))?;
            before - table.len()?
        };
        txn.commit()?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}

mod events;
mod intake;
mod sessions;
pub use events::{Claimed, NewEvent};
pub use intake::Received;

#[cfg(test)]
mod tests;
