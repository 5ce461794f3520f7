//! The last outcome of each vendor's calls, for `/v1/providers` and `/readyz`: one atomic
//! per provider, so recording a vendor call takes no lock.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::model::ProviderKind;

#[derive(Debug, Default)]
pub struct HealthBoard {
    /// Indexed by the provider's position in [`ProviderKind::ALL`].
    last: [AtomicU8; ProviderKind::ALL.len()],
}

/// How a vendor's most recent call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No call yet.
    Unknown,
    /// The vendor answered (2xx, or a 4xx about the request itself).
    Ok,
    /// 5xx, 429, auth failure, timeout or no connection.
    Failing,
}

impl HealthBoard {
    fn slot(&self, provider: ProviderKind) -> Option<&AtomicU8> {
        let index = ProviderKind::ALL.iter().position(|p| *p == provider)?;
        self.last.get(index)
    }

    pub(super) fn record(&self, provider: ProviderKind, status: u16) {
        let outcome = match status {
            200..=399 | 400 | 404 | 409 | 422 => Outcome::Ok,
            _ => Outcome::Failing,
        };
        if let Some(slot) = self.slot(provider) {
            slot.store(outcome as u8, Ordering::Relaxed);
        }
    }

    pub fn outcome(&self, provider: ProviderKind) -> Outcome {
        match self.slot(provider).map(|slot| slot.load(Ordering::Relaxed)) {
            Some(n) if n == Outcome::Ok as u8 => Outcome::Ok,
            Some(n) if n == Outcome::Failing as u8 => Outcome::Failing,
            _ => Outcome::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_keeps_its_last_outcome() {
        let board = HealthBoard::default();
        assert_eq!(board.outcome(ProviderKind::Togai), Outcome::Unknown);
        board.record(ProviderKind::Togai, 503);
        board.record(ProviderKind::Stripe, 200);
        assert_eq!(board.outcome(ProviderKind::Togai), Outcome::Failing);
        assert_eq!(board.outcome(ProviderKind::Stripe), Outcome::Ok);
        board.record(ProviderKind::Togai, 404);
        assert_eq!(
            board.outcome(ProviderKind::Togai),
            Outcome::Ok,
            "a 404 is about the request"
        );
        assert_eq!(board.outcome(ProviderKind::Vayu), Outcome::Unknown);
    }
}
