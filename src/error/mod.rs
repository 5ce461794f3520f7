//! Every error a client of creditgate can get, and the one place each becomes an HTTP
//! answer in the contract's JSON error format (ARCHITECTURE.md, "Errors").
//!
//! [`ApiError`] is what handlers return; vendor failures arrive as [`UpstreamError`] and are
//! wrapped with `?`. Status, `type`, `code` and `Retry-After` for both are decided here.

mod code;
mod upstream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{Capability, ProviderKind};
pub use code::ErrorCode;
pub use upstream::UpstreamError;

/// Every error a client of creditgate can get.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: bad input, refused before any vendor call.
    #[error("{message}")]
    InvalidRequest {
        code: ErrorCode,
        message: String,
        param: Option<String>,
    },
    /// 408: a write's body did not arrive within `[server] body_read_timeout_ms`.
    #[error("the request body did not arrive within {timeout_ms} ms")]
    BodyTimeout { timeout_ms: u64 },
    /// 401: no or wrong gateway API key.
    #[error("{message}")]
    Authentication { code: ErrorCode, message: String },
    /// 403: the key may not see this provider or customer.
    #[error("{message}")]
    Permission {
        code: ErrorCode,
        message: String,
        provider: Option<ProviderKind>,
    },
    /// 404.
    #[error("{message}")]
    NotFound {
        code: ErrorCode,
        message: String,
        provider: Option<ProviderKind>,
    },
    /// 409: an `Idempotency-Key` used for another request, or by one still in flight.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// 409: the same write's earlier attempt has an unknown outcome and may still land at
    /// the vendor; the client comes back once it cannot (`Retry-After`).
    #[error(
        "an earlier attempt with this Idempotency-Key has an unknown outcome and may still land at {provider}; \
         retry after {retry_after_secs} s, when creditgate can look for it before writing again"
    )]
    OutcomeSettling {
        provider: ProviderKind,
        retry_after_secs: u64,
    },
    /// 409: another write to the same customer is running at a vendor where creditgate
    /// finds a write again by what it changed (Vayu), so writes there go one at a time.
    #[error(
        "another write to this customer at {provider} is still running, and writes there go one at a time; \
         retry after {retry_after_secs} s"
    )]
    CustomerBusy {
        provider: ProviderKind,
        retry_after_secs: u64,
    },
    /// 429: the gateway's own inbound limit.
    #[error("rate limit exceeded; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 501: the vendor lacks a capability; the message says which.
    #[error("{provider} does not support {capability}")]
    Unsupported {
        provider: ProviderKind,
        capability: Capability,
    },
    /// 502/503/504: the vendor failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// 500: a bug in creditgate.
    #[error("internal error: {0}")]
    Internal(String),
    /// 503: the idempotency records cannot be read or written, so no write is attempted.
    #[error("the idempotency store is unavailable: {0}")]
    StoreUnavailable(String),
}

impl From<crate::model::write::InvalidField> for ApiError {
    fn from(e: crate::model::write::InvalidField) -> Self {
        ApiError::invalid_field(e.field, e.to_string())
    }
}

impl ApiError {
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            code: ErrorCode::InvalidParameter,
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    /// A body field that is not valid: the field's JSON path is the `param`.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            code: ErrorCode::InvalidParameter,
            message: message.into(),
            param: Some(field.to_owned()),
        }
    }

    pub fn invalid_cursor(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            code: ErrorCode::InvalidCursor,
            message: message.into(),
            param: Some("cursor".to_owned()),
        }
    }

    pub fn unknown_customer(alias: &str) -> Self {
        ApiError::InvalidRequest {
            code: ErrorCode::UnknownCustomer,
            message: format!(
                "customer {} is neither `<provider>:<vendor id>` nor an alias in the customer map",
                crate::model::quoted(alias)
            ),
            param: Some("customer".to_owned()),
        }
    }

    pub fn grant_not_found(provider: ProviderKind, id: &str) -> Self {
        ApiError::NotFound {
            code: ErrorCode::GrantNotFound,
            message: format!("{provider} has no credit grant {}", crate::model::quoted(id)),
            provider: Some(provider),
        }
    }

    /// A failed lookup of grant `id`: the vendor's 404 is `grant_not_found`, any other
    /// failure stays what it was.
    pub fn grant_lookup(error: UpstreamError, id: &str) -> Self {
        match error {
            UpstreamError::NotFound { provider, .. } => ApiError::grant_not_found(provider, id),
            other => other.into(),
        }
    }

    /// Whether this is one provider failing to answer (its vendor down, slow, refusing or
    /// without the customer), as opposed to a problem with the request itself.
    pub fn is_a_providers_failure(&self) -> bool {
        matches!(
            self,
            ApiError::Upstream(_) | ApiError::NotFound { .. } | ApiError::Unsupported { .. }
        )
    }

    /// The HTTP status: the code's.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// Which error exactly.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest { code, .. }
            | ApiError::Authentication { code, .. }
            | ApiError::Permission { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. } => *code,
            ApiError::BodyTimeout { .. } => ErrorCode::RequestBodyTimeout,
            ApiError::OutcomeSettling { .. } => ErrorCode::WriteOutcomeSettling,
            ApiError::CustomerBusy { .. } => ErrorCode::CustomerWriteInProgress,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unsupported { .. } => ErrorCode::UnsupportedByProvider,
            ApiError::Upstream(e) => e.code(),
            ApiError::Internal(_) => ErrorCode::InternalError,
            ApiError::StoreUnavailable(_) => ErrorCode::IdempotencyStoreUnavailable,
        }
    }

    /// The contract's `type` and `code`.
    pub fn type_and_code(&self) -> (ErrorType, &'static str) {
        let code = self.code();
        (code.kind(), code.as_str())
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    fn provider(&self) -> Option<ProviderKind> {
        match self {
            ApiError::Permission { provider, .. } | ApiError::NotFound { provider, .. } => *provider,
            ApiError::Unsupported { provider, .. }
            | ApiError::OutcomeSettling { provider, .. }
            | ApiError::CustomerBusy { provider, .. } => Some(*provider),
            ApiError::Upstream(e) => Some(e.provider()),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs }
            | ApiError::OutcomeSettling { retry_after_secs, .. }
            | ApiError::CustomerBusy { retry_after_secs, .. } => Some(*retry_after_secs),
            ApiError::StoreUnavailable(_) => Some(1),
            ApiError::Upstream(e) => e.retry_after(),
            _ => None,
        }
    }

    /// The body the contract specifies, with the current request id.
    pub fn body(&self) -> ErrorBody {
        let (kind, code) = self.type_and_code();
        ErrorBody {
            error: ErrorDetail {
                kind,
                code,
                message: self.to_string(),
                param: self.param().map(str::to_owned),
                provider: self.provider(),
                request_id: crate::request_id::current().unwrap_or_default(),
            },
        }
    }
}

/// The class of an error, the contract's `type`; `code` says which error exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// 400: bad input, refused before any vendor call.
    #[serde(rename = "invalid_request_error")]
    InvalidRequest,
    /// 401.
    #[serde(rename = "authentication_error")]
    Authentication,
    /// 403.
    #[serde(rename = "permission_error")]
    Permission,
    /// 404.
    #[serde(rename = "not_found_error")]
    NotFound,
    /// 409: the `Idempotency-Key` was used for another request, or is in use.
    #[serde(rename = "idempotency_error")]
    Idempotency,
    /// 429: the key's quota.
    #[serde(rename = "rate_limit_error")]
    RateLimit,
    /// 501: the vendor lacks the capability.
    #[serde(rename = "unsupported_error")]
    Unsupported,
    /// 502: the vendor failed or answered something creditgate cannot read.
    UpstreamError,
    /// 503: the vendor cannot be asked now.
    UpstreamUnavailable,
    /// 504.
    UpstreamTimeout,
    /// 500: a bug in creditgate.
    #[serde(rename = "api_error")]
    Api,
}

/// `{"error":{"type","code","message","param"?,"provider"?,"request_id"}}`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// Which error exactly (README.md lists the codes).
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    pub request_id: String,
}

/// At most this many "request failed" lines a second; the rest are counted, and the next
/// line written says how many were left out. A vendor outage under load is a handful of
/// lines a second, not one per request.
static FAILURE_LOG: LogThrottle = LogThrottle::new(20);

/// A per-second cap on one kind of log line, without a lock.
struct LogThrottle {
    per_second: u32,
    /// The second (since the process's first line) the count is for, and the count, packed
    /// as `second << 32 | count` so one atomic holds both.
    window: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    const fn new(per_second: u32) -> Self {
        LogThrottle {
            per_second,
            window: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one written)` when a line may be written now.
    fn admit(&self) -> Option<u64> {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let second = EPOCH.get_or_init(Instant::now).elapsed().as_secs() & 0xFFFF_FFFF;
        let admitted = self
            .window
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                let (window, count) = (packed >> 32, packed & 0xFFFF_FFFF);
                if window != second {
                    Some(second << 32 | 1)
                } else if count < u64::from(self.per_second) {
                    Some(packed + 1)
                } else {
                    None
                }
            })
            .is_ok();
        if admitted {
            Some(self.suppressed.swap(0, Ordering::AcqRel))
        } else {
            self.suppressed.fetch_add(1, Ordering::AcqRel);
            None
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            if let Some(suppressed) = FAILURE_LOG.admit() {
                tracing::warn!(
                    status = status.as_u16(),
                    error = %self,
                    suppressed_before = suppressed,
                    "request failed"
                );
            }
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after() {
            response.headers_mut().insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}

/// Whole seconds, rounded up: what `Retry-After` and `RateLimit-Reset` say.
pub fn ceil_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_body_has_the_contract_shape() {
        let body = crate::request_id::run_with("req_1".into(), async {
            serde_json::to_value(ApiError::invalid_param("limit", "limit must be between 1 and 500").body()).unwrap()
        })
        .await;
        assert_eq!(
            body,
            serde_json::json!({"error":{"type":"invalid_request_error","code":"invalid_parameter",
                "message":"limit must be between 1 and 500","param":"limit","request_id":"req_1"}})
        );
    }

    #[test]
    fn unsupported_names_the_capability() {
        let e = ApiError::Unsupported {
            provider: ProviderKind::Vayu,
            capability: Capability::CreditGrants,
        };
        assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(e.to_string(), "vayu does not support credit_grants");
        assert_eq!(e.type_and_code(), (ErrorType::Unsupported, "unsupported_by_provider"));
        assert_eq!(
            serde_json::to_value(ErrorType::Unsupported).unwrap(),
            "unsupported_error"
        );
    }

    /// Issue 17, defect 7: one WARN line per failed request wrote 182 MB in 20 s.
    #[test]
    fn the_failure_log_writes_at_most_its_cap_a_second_and_counts_the_rest() {
        let throttle = LogThrottle::new(20);
        let admitted: Vec<u64> = (0..1000).filter_map(|_| throttle.admit()).collect();
        // The loop may straddle a second boundary: at most two windows' worth.
        assert!((20..=40).contains(&admitted.len()), "{}", admitted.len());
        let left_out = 1000 - admitted.len() as u64;
        let reported: u64 = admitted.iter().sum();
        assert_eq!(reported + throttle.suppressed.load(Ordering::Acquire), left_out);
    }
}
