//! The `/v1` endpoint handlers: each parses its query strictly, asks the [`Gateway`] and
//! answers JSON through [`respond`], which serves a kept answer when there is one (with its
//! `ETag`, a `304` for `If-None-Match`, the compressed form `Accept-Encoding` asks for) and
//! keeps what it computed. The client's cache wishes travel explicitly: [`CacheControl`]
//! reads `Cache-Control`, the handler passes it to the gateway, and `X-Cache:
//! hit|miss|bypass` says what the caches did (absent when no vendor answer was involved).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::params::Params;
use super::routes;
use crate::error::{ApiError, ErrorCode};
use crate::gateway::answers::{Answer, AnswerKey, Coding, MIN_COMPRESSED_BYTES};
use crate::gateway::{Caller, Gateway, GrantsQuery, LedgerQuery, ListPage, WriteAnswer, WriteBody, WriteScope};
use crate::providers::writes::GrantEnd;
use crate::providers::GrantIncludes;
use crate::upstream::CacheUse;

/// The caller the authenticate layer admitted.
pub struct Authed(pub Arc<Caller>);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Arc<Caller>>()
            .cloned()
            .map(Authed)
            .ok_or_else(|| ApiError::Internal("a /v1 route is missing the authenticate layer".into()))
    }
}

/// `Cache-Control: no-cache` asks for fresh vendor answers; the tally of what the cache did
/// for this request starts empty.
pub struct CacheControl(pub CacheUse);

impl<S: Send + Sync> FromRequestParts<S> for CacheControl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let no_cache = parts
            .headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|directive| directive.trim().eq_ignore_ascii_case("no-cache"));
        Ok(CacheControl(CacheUse::new(no_cache)))
    }
}

/// The `{id}` path segment, with a contract error instead of axum's plain-text rejection.
pub struct GrantIdPath(String);

impl<S: Send + Sync> FromRequestParts<S> for GrantIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| GrantIdPath(id))
            .map_err(|e| ApiError::invalid_param("id", format!("the grant id in the path is not valid: {e}")))
    }
}

/// What the client says about the form of its answer: `If-None-Match` and the content
/// codings it accepts (`Accept-Encoding`; Brotli preferred over gzip at equal weight).
pub struct Negotiation {
    if_none_match: Option<String>,
    coding: Option<Coding>,
}

impl<S: Send + Sync> FromRequestParts<S> for Negotiation {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let text = |name| {
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        let coding = text(header::ACCEPT_ENCODING).and_then(|accepted| {
            accepted
                .split(',')
                .filter_map(|item| {
                    let mut parts = item.split(';').map(str::trim);
                    let coding = match parts.next()?.to_ascii_lowercase().as_str() {
                        "br" => Coding::Brotli,
                        "gzip" | "x-gzip" => Coding::Gzip,
                        _ => return None,
                    };
                    let weight = parts
                        .find_map(|p| p.strip_prefix("q="))
                        .map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
                    (weight > 0.0).then_some((weight, coding == Coding::Brotli, coding))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .map(|(_, _, coding)| coding)
        });
        Ok(Negotiation {
            if_none_match: text(header::IF_NONE_MATCH),
            coding,
        })
    }
}

/// A data endpoint's answer. From the answer cache when it holds one for exactly this
/// caller and request (and the client did not ask for fresh answers); otherwise computed,
/// then kept for as long as the vendor answers it was made from may be. Either way: a
/// strong `ETag`, `304` when `If-None-Match` names it, the compressed form the client
/// accepts (made once per answer), and `X-Cache`. An error is never kept.
pub(super) async fn respond<T: DataAnswer, F>(
    gateway: &Gateway,
    key: AnswerKey,
    cache: &CacheUse,
    wants: &Negotiation,
    compute: impl FnOnce() -> F,
) -> Response
where
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let span = crate::telemetry::cache_span("answer", key.route());
    if cache.bypass() {
        crate::telemetry::record_cache_outcome(&span, "bypass");
    } else if let Some(answer) = tracing::Instrument::instrument(gateway.answers().get(&key), span.clone()).await {
        crate::telemetry::record_cache_outcome(&span, "hit");
        cache.note_answer_hit();
        crate::metrics::record_answer_cache(key.route(), "hit");
        return send(&answer, wants, cache, false);
    } else {
        crate::telemetry::record_cache_outcome(&span, "miss");
    }
    drop(span);
    crate::metrics::record_answer_cache(key.route(), "miss");
    // Made and boxed only here: a hit's future stays small (it is moved through every layer).
    let computed = Box::pin(compute()).await.and_then(|answer| {
        let body =
            serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(format!("cannot serialize the answer: {e}")))?;
        Ok((body, answer.is_partial()))
    });
    let (body, partial) = match computed {
        Ok(computed) => computed,
        Err(e) => return with_x_cache(e.into_response(), cache),
    };
    cache.commit().await;
    let answer = Answer::new(body);
    let answer = match cache.reusable().filter(|_| !partial) {
        Some((ttl, about)) => gateway.answers().insert(key, answer, ttl, about).await,
        None => Arc::new(answer),
    };
    send(&answer, wants, cache, partial)
}

/// What a data endpoint answers: serialized, and kept unless it is partial.
pub(super) trait DataAnswer: Serialize {
    /// It leaves out a provider that failed (`X-Partial: true`), so it is never kept: that
    /// provider may answer the next request.
    fn is_partial(&self) -> bool {
        false
    }
}

impl<T: Serialize> DataAnswer for ListPage<T> {
    fn is_partial(&self) -> bool {
        self.partial
    }
}

impl DataAnswer for crate::model::CreditGrant {}

fn send(answer: &Answer, wants: &Negotiation, cache: &CacheUse, partial: bool) -> Response {
    let not_modified = wants.if_none_match.as_deref().is_some_and(|tags| answer.matches(tags));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let coding = wants.coding.filter(|_| answer.body.len() >= MIN_COMPRESSED_BYTES);
        let mut response = match coding {
            Some(coding) => Body::from(answer.encoded(coding)).into_response(),
            None => Body::from(answer.body.clone()).into_response(),
        };
        let headers = response.headers_mut();
        // The answer leaves with about a dozen headers (these, `X-Cache`, the quota's, the
        // request id, the length): room for them at once, instead of a rehash on the way.
        headers.reserve(ANSWER_HEADERS);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(coding) = coding {
            headers.insert(header::CONTENT_ENCODING, coding.header());
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, answer.etag.clone());
    if partial {
        headers.insert(X_PARTIAL, HeaderValue::from_static("true"));
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    with_x_cache(response, cache)
}

/// How many headers an answer ends with, at most, on its way out.
const ANSWER_HEADERS: usize = 12;
const X_PARTIAL: header::HeaderName = header::HeaderName::from_static("x-partial");
const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

/// `X-Cache` when a vendor answer (or a kept client answer) was involved.
fn with_x_cache(mut response: Response, cache: &CacheUse) -> Response {
    if let Some(verdict) = cache.verdict() {
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static(verdict.as_str()));
    }
    response
}

pub async fn list_providers(State(gateway): State<Gateway>, Authed(_caller): Authed) -> Json<serde_json::Value> {
    let data = gateway.providers();
    Json(json!({"object": "list", "data": data, "has_more": false, "next_cursor": null}))
}

pub async fn list_grants(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    wants: Negotiation,
    RawQuery(raw): RawQuery,
) -> Response {
    let key = AnswerKey::new(&caller, routes::GRANTS, String::new(), raw.clone());
    let result = || async {
        let mut p = Params::parse(raw.as_deref());
        let query = GrantsQuery {
            customer: p.take("customer")?,
            provider: p.take_parsed("provider")?,
            status: p.take_parsed("status")?,
            limit: p.take_parsed("limit")?.unwrap_or_default(),
            cursor: p.take("cursor")?,
            include_raw: !p.take_include(&["raw"])?.is_empty(),
        };
        p.finish()?;
        gateway.list_credit_grants(&caller, &query, &cache).await
    };
    respond(&gateway, key, &cache, &wants, result).await
}

pub async fn get_grant(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    wants: Negotiation,
    GrantIdPath(id): GrantIdPath,
    RawQuery(raw): RawQuery,
) -> Response {
    let key = AnswerKey::new(&caller, routes::GRANT, id.clone(), raw.clone());
    let result = || async {
        let mut p = Params::parse(raw.as_deref());
        let include = p.take_include(&["ledger", "raw"])?;
        p.finish()?;
        let has = |name: &str| include.iter().any(|i| i == name);
        let include = GrantIncludes {
            ledger: has("ledger"),
            raw: has("raw"),
        };
        gateway.get_credit_grant(&caller, &id, include, &cache).await
    };
    respond(&gateway, key, &cache, &wants, result).await
}

pub async fn list_ledger_entries(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    wants: Negotiation,
    RawQuery(raw): RawQuery,
) -> Response {
    let key = AnswerKey::new(&caller, routes::LEDGER, String::new(), raw.clone());
    let result = || async {
        let mut p = Params::parse(raw.as_deref());
        let query = LedgerQuery {
            customer: p.take_required("customer")?,
            grant: p.take("grant")?,
            provider: p.take_parsed("provider")?,
            limit: p.take_parsed("limit")?.unwrap_or_default(),
            cursor: p.take("cursor")?,
            include_raw: !p.take_include(&["raw"])?.is_empty(),
        };
        p.finish()?;
        gateway.list_ledger_entries(&caller, &query, &cache).await
    };
    respond(&gateway, key, &cache, &wants, result).await
}

/// The largest write body taken; a grant with its metadata is a few KiB.
pub const MAX_WRITE_BODY_BYTES: usize = 64 * 1024;

/// A write's request, read only once the caller's key is known to have the `write`
/// scope: that scope, its `Idempotency-Key` header and its body.
async fn write_request(
    caller: &Arc<Caller>,
    request: axum::extract::Request,
) -> Result<(WriteScope<'_>, Option<String>, axum::body::Bytes), ApiError> {
    let scope = Gateway::write_scope(caller)?;
    let mut keys = request.headers().get_all("idempotency-key").iter();
    let key = match (keys.next(), keys.next()) {
        (None, _) => None,
        (Some(value), None) => Some(
            value
                .to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::InvalidRequest {
                    code: ErrorCode::InvalidIdempotencyKey,
                    message: "`Idempotency-Key` must be printable ASCII".into(),
                    param: Some("Idempotency-Key".into()),
                })?,
        ),
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest {
                code: ErrorCode::InvalidIdempotencyKey,
                message: "send exactly one `Idempotency-Key` header".into(),
                param: Some("Idempotency-Key".into()),
            })
        }
    };
    // Already read whole by the router's `authenticate`.
    let body = axum::body::to_bytes(request.into_body(), MAX_WRITE_BODY_BYTES)
        .await
        .map_err(|_| body_too_large())?;
    Ok((scope, key, body))
}

pub(super) fn body_too_large() -> ApiError {
    ApiError::InvalidRequest {
        code: ErrorCode::BodyTooLarge,
        message: format!("a write body is at most {MAX_WRITE_BODY_BYTES} bytes"),
        param: None,
    }
}

/// A write's answer: its JSON, and `Idempotent-Replayed: true` when it is an earlier
/// request's answer replayed.
fn written(result: Result<WriteAnswer, ApiError>) -> Response {
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => return e.into_response(),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Body::from(answer.body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if answer.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

pub async fn create_grant(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    request: axum::extract::Request,
) -> Response {
    let result = async {
        let (scope, key, body) = write_request(&caller, request).await?;
        let writer = scope.with_key(key.as_deref())?;
        gateway.create_grant(writer, WriteBody::parse(&body)?).await
    };
    written(result.await)
}

async fn end_grant(
    gateway: Gateway,
    caller: Arc<Caller>,
    id: String,
    end: GrantEnd,
    request: axum::extract::Request,
) -> Response {
    let result = async {
        let (scope, key, body) = write_request(&caller, request).await?;
        let writer = scope.with_key(key.as_deref())?;
        gateway
            .end_grant(writer, &id, end, WriteBody::parse_optional(&body)?)
            .await
    };
    written(result.await)
}

pub async fn void_grant(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    GrantIdPath(id): GrantIdPath,
    request: axum::extract::Request,
) -> Response {
    end_grant(gateway, caller, id, GrantEnd::Void, request).await
}

pub async fn expire_grant(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    GrantIdPath(id): GrantIdPath,
    request: axum::extract::Request,
) -> Response {
    end_grant(gateway, caller, id, GrantEnd::Expire, request).await
}

pub async fn adjust_ledger(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    request: axum::extract::Request,
) -> Response {
    let result = async {
        let (scope, key, body) = write_request(&caller, request).await?;
        let writer = scope.with_key(key.as_deref())?;
        gateway.adjust_ledger(writer, WriteBody::parse(&body)?).await
    };
    written(result.await)
}
