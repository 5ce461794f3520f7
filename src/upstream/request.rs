//! A vendor request and answer, independent of the HTTP transport that carries them, and
//! reading what vendors send: JSON bodies (a wrong shape names the field), `Retry-After`,
//! and their error bodies mapped to the contract's codes.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::UpstreamError;
use crate::model::ProviderKind;

/// A vendor request, independent of the HTTP transport that sends it.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub provider: ProviderKind,
    pub method: Method,
    pub url: Url,
    /// Auth and vendor headers; auth values are marked sensitive by the adapters.
    pub headers: HeaderMap,
    /// The body, for POSTs: JSON (login, Metronome lists, most writes) or a form (Stripe's
    /// writes), with its content type.
    pub body: Option<(&'static str, Vec<u8>)>,
    /// A read that may be cached and retried: every GET, and POSTs that only read. A write
    /// is never retried: it goes through [`super::VendorClient::write`].
    pub idempotent_read: bool,
}

impl UpstreamRequest {
    pub fn get(provider: ProviderKind, url: Url) -> Self {
        UpstreamRequest {
            provider,
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotent_read: true,
        }
    }

    pub fn post_json(provider: ProviderKind, url: Url, body: &serde_json::Value) -> Self {
        UpstreamRequest {
            provider,
            method: Method::POST,
            url,
            headers: HeaderMap::new(),
            body: Some(("application/json", serde_json::to_vec(body).unwrap_or_default())),
            idempotent_read: false,
        }
    }

    /// A form-encoded POST (`application/x-www-form-urlencoded`), pairs in the given order.
    pub fn post_form(provider: ProviderKind, url: Url, pairs: &[(String, String)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        UpstreamRequest {
            provider,
            method: Method::POST,
            url,
            headers: HeaderMap::new(),
            body: Some(("application/x-www-form-urlencoded", body.into_bytes())),
            idempotent_read: false,
        }
    }

    /// A request with another method and no body (a `DELETE`).
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self.idempotent_read = false;
        self
    }

    /// Marks a POST that only reads (Metronome's list calls) as cacheable.
    pub fn idempotent_read(mut self) -> Self {
        self.idempotent_read = true;
        self
    }

    /// Adds a header whose value never appears in `Debug` output.
    pub fn sensitive_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.insert(name, v);
        }
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// A vendor answer, body fully read (and capped).
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub provider: ProviderKind,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl UpstreamResponse {
    /// Maps a non-2xx status to the contract's codes; 2xx passes through.
    pub fn error_for_status(self) -> Result<UpstreamResponse, UpstreamError> {
        let provider = self.provider;
        let status = self.status;
        if status.is_success() {
            return Ok(self);
        }
        let (vendor_code, param, message) = vendor_error_fields(&self.body);
        Err(match status.as_u16() {
            401 | 403 => UpstreamError::AuthFailed {
                provider,
                status: status.as_u16(),
            },
            404 | 410 => UpstreamError::NotFound {
                provider,
                message: message.unwrap_or_else(|| "not found".into()),
            },
            409 => UpstreamError::Conflict {
                provider,
                message: message.unwrap_or_else(|| "conflict".into()),
            },
            408 | 504 => UpstreamError::Timeout { provider },
            429 => UpstreamError::RateLimited {
                provider,
                retry_after: retry_after_secs(&self.headers),
            },
            500..=599 => UpstreamError::ServerError {
                provider,
                status: status.as_u16(),
            },
            other => UpstreamError::Rejected {
                provider,
                status: other,
                vendor_code,
                param,
                message: message.unwrap_or_else(|| "no message".into()),
            },
        })
    }

    /// Parses a JSON body into a vendor struct; a wrong shape names the field that broke.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, UpstreamError> {
        parse_vendor_json(self.provider, &self.headers, &self.body)
    }
}

/// Parses vendor JSON, refusing non-JSON content types and naming the path of a bad field.
pub fn parse_vendor_json<T: DeserializeOwned>(
    provider: ProviderKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, UpstreamError> {
    if let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) {
        if !ct.to_ascii_lowercase().contains("json") {
            return Err(UpstreamError::invalid(
                provider,
                format!("expected a JSON body, got content type `{ct}`"),
            ));
        }
    }
    parse_json_slice(provider, body)
}

/// Deserializes `body`, reporting the JSON path of the first field that did not fit.
/// Path tracking costs on every field, so it only runs again once a plain parse failed.
pub fn parse_json_slice<T: DeserializeOwned>(provider: ProviderKind, body: &[u8]) -> Result<T, UpstreamError> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("at `{path}`: {inner}")
        };
        UpstreamError::invalid(provider, detail)
    })
}

/// `Retry-After` in seconds (the delta form; an HTTP date is treated as 1 s).
pub fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    Some(value.trim().parse::<u64>().unwrap_or(1))
}

/// Pulls `code`, `param` and `message` out of the usual vendor error bodies:
/// Stripe's `{"error":{...}}` and the flat `{"code","message"}` most others use.
fn vendor_error_fields(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None, None);
    };
    let obj = match value.get("error") {
        Some(inner @ serde_json::Value::Object(_)) => inner,
        _ => &value,
    };
    let text = |key: &str| {
        obj.get(key)
            .and_then(|v| v.as_str())
            .map(|s| s.chars().take(300).collect::<String>())
    };
    let message = text("message").or_else(|| value.get("error").and_then(|v| v.as_str()).map(str::to_owned));
    (text("code"), text("param"), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> UpstreamResponse {
        UpstreamResponse {
            provider: ProviderKind::Stripe,
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_contract_codes() {
        let code = |s: u16| response(s, "{}").error_for_status().unwrap_err().type_and_code().1;
        assert_eq!(code(401), "upstream_auth_failed");
        assert_eq!(code(403), "upstream_auth_failed");
        assert_eq!(code(429), "upstream_rate_limited");
        assert_eq!(code(500), "upstream_server_error");
        assert_eq!(code(503), "upstream_server_error");
        assert_eq!(code(504), "upstream_timeout");
        assert_eq!(code(400), "upstream_request_rejected");
        assert_eq!(code(404), "resource_not_found");
        assert!(response(200, "{}").error_for_status().is_ok());
    }

    #[test]
    fn stripe_error_bodies_are_read() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"customer","message":"No such customer: 'cus_x'"}}"#;
        match response(400, body).error_for_status().unwrap_err() {
            UpstreamError::Rejected {
                vendor_code,
                param,
                message,
                ..
            } => {
                assert_eq!(vendor_code.as_deref(), Some("resource_missing"));
                assert_eq!(param.as_deref(), Some("customer"));
                assert_eq!(message, "No such customer: 'cus_x'");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Page {
            data: Vec<Item>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Item {
            id: String,
        }
        let err = parse_json_slice::<Page>(ProviderKind::Stripe, br#"{"data":[{"id":"a"},{"id":5}]}"#).unwrap_err();
        assert!(err.to_string().contains("data[1].id"), "{err}");
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        let err = parse_vendor_json::<Page>(ProviderKind::Stripe, &headers, b"<html>").unwrap_err();
        assert!(err.to_string().contains("text/html"));
    }

    #[test]
    fn retry_after_is_read() {
        let mut r = response(429, "{}");
        r.headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(r.error_for_status().unwrap_err().retry_after(), Some(7));
        assert_eq!(
            response(429, "{}").error_for_status().unwrap_err().retry_after(),
            Some(1)
        );
    }
}
