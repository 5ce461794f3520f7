//! Console sessions signed out, seen by every replica (`gateway::sessions`): one key per
//! session, `<prefix>:signed_out:<session id>`, that Redis expires once the token has
//! expired on its own (plus [`CLOCK_SKEW`], since each replica checks expiry by its own
//! clock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{SharedError, SharedState};

/// How long past a token's expiry its sign-out is kept, for replicas whose clocks are late.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

impl SharedState {
    /// Records that session `id`, whose token expires at `expires_unix`, was signed out.
    pub async fn sign_out_session(&self, id: &str, expires_unix: u64) -> Result<(), SharedError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let kept = expires_unix.saturating_sub(now) + CLOCK_SKEW.as_secs();
        let mut connection = self.inner.manager.clone();
        let command = redis::cmd("SET")
            .arg(self.key("signed_out", id))
            .arg(1)
            .arg("EX")
            .arg(kept)
            .clone();
        self.call("sign out", command.query_async::<()>(&mut connection)).await
    }

    /// Whether session `id` was signed out.
    pub async fn session_signed_out(&self, id: &str) -> Result<bool, SharedError> {
        let mut connection = self.inner.manager.clone();
        let command = redis::cmd("EXISTS").arg(self.key("signed_out", id)).clone();
        let found: u64 = self.call("session", command.query_async(&mut connection)).await?;
        Ok(found > 0)
    }
}
