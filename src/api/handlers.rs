//! The `/v1` endpoint handlers: each parses its query strictly, asks the [`Gateway`] and
//! answers JSON. The client's cache wishes travel explicitly: [`CacheControl`] reads
//! `Cache-Control`, the handler passes it to the gateway, and [`answer`] reports what the
//! cache did in `X-Cache: hit|miss|bypass` (absent when no vendor answer was involved).

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::params::Params;
use crate::error::ApiError;
use crate::gateway::{BalancesQuery, Caller, Gateway, GrantsQuery, LedgerQuery};
use crate::providers::GrantIncludes;
use crate::upstream::CacheUse;

/// The caller the authenticate layer admitted.
pub struct Authed(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
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

/// The JSON answer (or the error), with `X-Cache` when a vendor answer was involved. The
/// vendor answers behind a success are stored in the cache now; a failure stores none.
async fn answer<T: Serialize>(result: Result<T, ApiError>, cache: &CacheUse) -> Response {
    let mut response = match result {
        Ok(body) => {
            cache.commit().await;
            Json(body).into_response()
        }
        Err(e) => e.into_response(),
    };
    if let Some(verdict) = cache.verdict() {
        response
            .headers_mut()
            .insert("x-cache", HeaderValue::from_static(verdict.as_str()));
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
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let mut p = Params::parse(raw.as_deref());
        let query = GrantsQuery {
            customer: p.take("customer")?,
            provider: p.take_parsed("provider")?,
            status: p.take_parsed("status")?,
            limit: p.take_limit()?,
            cursor: p.take("cursor")?,
            include_raw: !p.take_include(&["raw"])?.is_empty(),
        };
        p.finish()?;
        gateway.list_credit_grants(&caller, &query, &cache).await
    };
    answer(result.await, &cache).await
}

pub async fn get_grant(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    GrantIdPath(id): GrantIdPath,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
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
    answer(result.await, &cache).await
}

pub async fn list_ledger_entries(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let mut p = Params::parse(raw.as_deref());
        let query = LedgerQuery {
            customer: p.take("customer")?,
            grant: p.take("grant")?,
            provider: p.take_parsed("provider")?,
            limit: p.take_limit()?,
            cursor: p.take("cursor")?,
            include_raw: !p.take_include(&["raw"])?.is_empty(),
        };
        p.finish()?;
        gateway.list_ledger_entries(&caller, &query, &cache).await
    };
    answer(result.await, &cache).await
}

pub async fn list_balances(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let mut p = Params::parse(raw.as_deref());
        let query = BalancesQuery {
            customer: p.take("customer")?,
            provider: p.take_parsed("provider")?,
        };
        p.finish()?;
        gateway.credit_balances(&caller, &query, &cache).await
    };
    answer(result.await, &cache).await
}
