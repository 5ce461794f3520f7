//! [`ErrorCode`]: every `code` a client can get, each with its one `type` and HTTP status.
//! An error's status is its code's, so a code cannot be answered with two statuses, and
//! the OpenAPI document lists the codes of each status from here.

use axum::http::StatusCode;

use super::ErrorType;

/// Declares [`ErrorCode`]: `Variant = "code" => ErrorType, STATUS`.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal => $kind:ident, $status:ident;)+) => {
        /// Which error exactly: the contract's `code` (README.md lists them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order README.md's table lists them.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)+
                }
            }

            /// The contract's `type`.
            pub fn kind(self) -> ErrorType {
                match self {
                    $(ErrorCode::$variant => ErrorType::$kind,)+
                }
            }

            /// The HTTP status every answer with this code has.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    /// A query parameter or body field that does not fit (`param` names it).
    InvalidParameter = "invalid_parameter" => InvalidRequest, BAD_REQUEST;
    InvalidCursor = "invalid_cursor" => InvalidRequest, BAD_REQUEST;
    UnknownCustomer = "unknown_customer" => InvalidRequest, BAD_REQUEST;
    IdempotencyKeyRequired = "idempotency_key_required" => InvalidRequest, BAD_REQUEST;
    InvalidIdempotencyKey = "invalid_idempotency_key" => InvalidRequest, BAD_REQUEST;
    InvalidJson = "invalid_json" => InvalidRequest, BAD_REQUEST;
    BodyTooLarge = "body_too_large" => InvalidRequest, BAD_REQUEST;
    /// A vendor webhook without a valid signature from that vendor.
    InvalidWebhookSignature = "invalid_webhook_signature" => InvalidRequest, BAD_REQUEST;
    /// A vendor webhook signed outside the vendor's time tolerance.
    StaleWebhookTimestamp = "stale_webhook_timestamp" => InvalidRequest, BAD_REQUEST;
    MissingApiKey = "missing_api_key" => Authentication, UNAUTHORIZED;
    InvalidApiKey = "invalid_api_key" => Authentication, UNAUTHORIZED;
    ProviderNotAllowed = "provider_not_allowed" => Permission, FORBIDDEN;
    CustomerNotAllowed = "customer_not_allowed" => Permission, FORBIDDEN;
    WriteNotAllowed = "write_not_allowed" => Permission, FORBIDDEN;
    GrantNotFound = "grant_not_found" => NotFound, NOT_FOUND;
    CustomerNotFound = "customer_not_found" => NotFound, NOT_FOUND;
    /// The vendor has no such object.
    ResourceNotFound = "resource_not_found" => NotFound, NOT_FOUND;
    RouteNotFound = "route_not_found" => NotFound, NOT_FOUND;
    /// A vendor webhook for a provider that is not configured.
    UnknownProvider = "unknown_provider" => NotFound, NOT_FOUND;
    /// A vendor webhook for a provider without a way to verify it (no secret configured,
    /// or a vendor that signs nothing).
    WebhooksNotConfigured = "webhooks_not_configured" => NotFound, NOT_FOUND;
    /// No such event is kept.
    EventNotFound = "event_not_found" => NotFound, NOT_FOUND;
    /// No such balance alert.
    AlertNotFound = "alert_not_found" => NotFound, NOT_FOUND;
    /// The gateway records no events (nothing it is configured for makes any).
    EventsNotConfigured = "events_not_configured" => NotFound, NOT_FOUND;
    MethodNotAllowed = "method_not_allowed" => InvalidRequest, METHOD_NOT_ALLOWED;
    RequestBodyTimeout = "request_body_timeout" => InvalidRequest, REQUEST_TIMEOUT;
    IdempotencyKeyReused = "idempotency_key_reused" => Idempotency, CONFLICT;
    IdempotencyKeyInUse = "idempotency_key_in_use" => Idempotency, CONFLICT;
    WriteOutcomeSettling = "write_outcome_settling" => Idempotency, CONFLICT;
    CustomerWriteInProgress = "customer_write_in_progress" => Idempotency, CONFLICT;
    /// The vendor refused the write as a conflict with what it holds.
    UpstreamConflict = "upstream_conflict" => InvalidRequest, CONFLICT;
    RateLimited = "rate_limited" => RateLimit, TOO_MANY_REQUESTS;
    InternalError = "internal_error" => Api, INTERNAL_SERVER_ERROR;
    UnsupportedByProvider = "unsupported_by_provider" => Unsupported, NOT_IMPLEMENTED;
    UpstreamInvalidResponse = "upstream_invalid_response" => UpstreamError, BAD_GATEWAY;
    UpstreamServerError = "upstream_server_error" => UpstreamError, BAD_GATEWAY;
    UpstreamAuthFailed = "upstream_auth_failed" => UpstreamError, BAD_GATEWAY;
    UpstreamRequestRejected = "upstream_request_rejected" => UpstreamError, BAD_GATEWAY;
    UpstreamOutcomeUnknown = "upstream_outcome_unknown" => UpstreamError, BAD_GATEWAY;
    UpstreamRateLimited = "upstream_rate_limited" => UpstreamUnavailable, SERVICE_UNAVAILABLE;
    CircuitOpen = "circuit_open" => UpstreamUnavailable, SERVICE_UNAVAILABLE;
    UpstreamSaturated = "upstream_saturated" => UpstreamUnavailable, SERVICE_UNAVAILABLE;
    UpstreamUnreachable = "upstream_unreachable" => UpstreamUnavailable, SERVICE_UNAVAILABLE;
    IdempotencyStoreUnavailable = "idempotency_store_unavailable" => Api, SERVICE_UNAVAILABLE;
    UpstreamTimeout = "upstream_timeout" => UpstreamTimeout, GATEWAY_TIMEOUT;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_words() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{text}");
        }
    }

    /// README.md's error table has a row `| status | type | codes |` naming every code
    /// with the status and type it is answered with.
    #[test]
    fn the_readme_lists_every_code_with_its_status_and_type() {
        let readme = include_str!("../../README.md");
        for code in ErrorCode::ALL {
            let kind = serde_json::to_value(code.kind()).unwrap();
            let row = format!("| {} | {} |", code.status().as_u16(), kind.as_str().unwrap());
            let listed = readme.lines().any(|line| {
                line.starts_with(&row)
                    && line
                        .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                        .any(|word| word == code.as_str())
            });
            assert!(listed, "README.md has no row `{row} ...` naming {code}");
        }
    }
}
