//! Console sessions signed out before they expire (`gateway::sessions`): a session's id
//! and the Unix second its token would have expired. A token is refused while its id is
//! here; once the token has expired on its own the entry is purged.

use std::time::SystemTime;

use redb::TableDefinition;

use super::{unix, DiskStore, StoreError};

/// Signed-out sessions: session id → Unix seconds when its token expires.
const SIGNED_OUT: TableDefinition<&str, u64> = TableDefinition::new("signed_out_sessions");

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SIGNED_OUT)?;
    Ok(())
}

/// Drops the entries whose tokens have expired by `now`.
pub(super) fn purge(txn: &redb::WriteTransaction, now: SystemTime) -> Result<(), StoreError> {
    txn.open_table(SIGNED_OUT)?.retain(|_, expires| expires > unix(now))?;
    Ok(())
}

impl DiskStore {
    /// Records that session `id`, whose token expires at `expires_unix`, was signed out.
    pub fn sign_out_session(&self, id: &str, expires_unix: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(SIGNED_OUT)?.insert(id, expires_unix)?;
        txn.commit()?;
        Ok(())
    }

    /// Whether session `id` was signed out.
    pub fn session_signed_out(&self, id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(SIGNED_OUT)?.get(id)?.is_some())
    }
}
