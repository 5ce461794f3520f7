//! How a vendor call failed, in terms the contract has codes for: the `code` and
//! `Retry-After` each variant becomes (the parent module writes the answer).

use axum::http::StatusCode;

use super::{ErrorCode, ErrorType};
use crate::model::ProviderKind;

/// How a vendor call failed, in terms the contract has codes for.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("{provider} returned an invalid response: {detail}")]
    InvalidResponse { provider: ProviderKind, detail: String },
    #[error("{provider} answered with HTTP {status}")]
    ServerError { provider: ProviderKind, status: u16 },
    #[error("{provider} rejected creditgate's credentials (HTTP {status})")]
    AuthFailed { provider: ProviderKind, status: u16 },
    #[error("{provider} is rate limiting creditgate")]
    RateLimited {
        provider: ProviderKind,
        retry_after: Option<u64>,
    },
    #[error("{provider} could not be reached: {detail}")]
    Unreachable { provider: ProviderKind, detail: String },
    #[error("{provider} did not answer in time")]
    Timeout { provider: ProviderKind },
    #[error("{provider} is failing; creditgate stopped calling it for {retry_after} s (circuit open)")]
    CircuitOpen { provider: ProviderKind, retry_after: u64 },
    #[error("{provider} already has {limit} calls in flight from creditgate")]
    Saturated { provider: ProviderKind, limit: usize },
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    Rejected {
        provider: ProviderKind,
        status: u16,
        vendor_code: Option<String>,
        param: Option<String>,
        message: String,
    },
    #[error("{provider} has no such object: {message}")]
    NotFound { provider: ProviderKind, message: String },
    /// The vendor's 409: the request conflicts with the object's state there.
    #[error("{provider} refused the request as a conflict with what it holds: {message}")]
    Conflict { provider: ProviderKind, message: String },
    /// A write was sent and no answer says whether it happened (a timeout, a reset, a 5xx).
    #[error(
        "{provider} may or may not have applied the write ({detail}); retry with the same \
         Idempotency-Key: creditgate looks for the earlier write at {provider} before writing again"
    )]
    OutcomeUnknown { provider: ProviderKind, detail: String },
}

impl UpstreamError {
    pub fn provider(&self) -> ProviderKind {
        match self {
            UpstreamError::InvalidResponse { provider, .. }
            | UpstreamError::ServerError { provider, .. }
            | UpstreamError::AuthFailed { provider, .. }
            | UpstreamError::RateLimited { provider, .. }
            | UpstreamError::Unreachable { provider, .. }
            | UpstreamError::Timeout { provider }
            | UpstreamError::CircuitOpen { provider, .. }
            | UpstreamError::Saturated { provider, .. }
            | UpstreamError::Rejected { provider, .. }
            | UpstreamError::Conflict { provider, .. }
            | UpstreamError::NotFound { provider, .. }
            | UpstreamError::OutcomeUnknown { provider, .. } => *provider,
        }
    }

    pub fn invalid(provider: ProviderKind, detail: impl Into<String>) -> Self {
        UpstreamError::InvalidResponse {
            provider,
            detail: detail.into(),
        }
    }

    /// An invalid response found inside `place` (`data[3]`) says so; other errors are kept.
    pub fn within(self, place: &str) -> Self {
        match self {
            UpstreamError::InvalidResponse { provider, detail } => UpstreamError::InvalidResponse {
                provider,
                detail: format!("{place}: {detail}"),
            },
            other => other,
        }
    }
}

impl UpstreamError {
    /// Which error exactly; its status and `type` are the code's.
    pub fn code(&self) -> ErrorCode {
        match self {
            UpstreamError::InvalidResponse { .. } => ErrorCode::UpstreamInvalidResponse,
            UpstreamError::ServerError { .. } => ErrorCode::UpstreamServerError,
            UpstreamError::AuthFailed { .. } => ErrorCode::UpstreamAuthFailed,
            UpstreamError::Rejected { .. } => ErrorCode::UpstreamRequestRejected,
            UpstreamError::RateLimited { .. } => ErrorCode::UpstreamRateLimited,
            UpstreamError::Unreachable { .. } => ErrorCode::UpstreamUnreachable,
            UpstreamError::Timeout { .. } => ErrorCode::UpstreamTimeout,
            UpstreamError::CircuitOpen { .. } => ErrorCode::CircuitOpen,
            UpstreamError::Saturated { .. } => ErrorCode::UpstreamSaturated,
            UpstreamError::NotFound { .. } => ErrorCode::ResourceNotFound,
            UpstreamError::Conflict { .. } => ErrorCode::UpstreamConflict,
            UpstreamError::OutcomeUnknown { .. } => ErrorCode::UpstreamOutcomeUnknown,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    pub fn type_and_code(&self) -> (ErrorType, &'static str) {
        let code = self.code();
        (code.kind(), code.as_str())
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            UpstreamError::RateLimited { retry_after, .. } => Some(retry_after.unwrap_or(1).max(1)),
            UpstreamError::CircuitOpen { retry_after, .. } => Some((*retry_after).max(1)),
            UpstreamError::Saturated { .. } => Some(1),
            _ => None,
        }
    }
}
