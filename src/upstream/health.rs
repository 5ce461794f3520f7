//! The last outcome of each vendor's calls, for `/v1/providers` and `/readyz`.

use crate::model::ProviderKind;

#[derive(Debug, Default)]
pub struct HealthBoard {
    last: std::sync::Mutex<std::collections::HashMap<ProviderKind, Outcome>>,
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
    pub(super) fn record(&self, provider: ProviderKind, status: u16) {
        let outcome = match status {
            200..=399 | 400 | 404 | 409 | 422 => Outcome::Ok,
            _ => Outcome::Failing,
        };
        if let Ok(mut last) = self.last.lock() {
            last.insert(provider, outcome);
        }
    }

    pub fn outcome(&self, provider: ProviderKind) -> Outcome {
        self.last
            .lock()
            .ok()
            .and_then(|last| last.get(&provider).copied())
            .unwrap_or(Outcome::Unknown)
    }
}
