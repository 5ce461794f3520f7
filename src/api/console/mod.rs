//! The web console at `/console` (README.md, "Console"): server-rendered HTML over the same
//! [`Gateway`] calls the API makes, for the people who look rather than call. Signing in
//! with an API key gives a session cookie ([`crate::gateway::sessions`]); every page then
//! runs with exactly that key's rights and quota. Every form carries a CSRF token bound to
//! the session (the sign-in form's, to a cookie of its own), and every page works without
//! JavaScript: the one script only adds local times on hover.
//!
//! The pages are in [`customer`] (the search, a customer), [`events`] (alert forms, an
//! event) and [`operations`] (providers, reconcile); what they show is formatted in
//! [`views`].

mod customer;
mod events;
mod operations;
mod rows;
mod sign_in;
mod views;

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::params::Params;
use crate::error::ApiError;
use crate::gateway::{Caller, Gateway};

/// The session cookie: the signed token, never the API key.
const SESSION_COOKIE: &str = "creditgate_session";
/// The sign-in form's CSRF cookie: a random value its token is bound to.
const SIGN_IN_COOKIE: &str = "creditgate_sign_in";
/// The largest form the console takes.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Every console route, as metrics label them.
pub(super) mod routes {
    pub const HOME: &str = "/console";
    pub const SIGN_IN: &str = "/console/sign-in";
    pub const SIGN_OUT: &str = "/console/sign-out";
    pub const CUSTOMERS: &str = "/console/customers";
    pub const CUSTOMER: &str = "/console/customer";
    pub const ALERTS: &str = "/console/alerts";
    pub const ALERT_DELETE: &str = "/console/alerts/delete";
    pub const EVENT: &str = "/console/events/{id}";
    pub const PROVIDERS: &str = "/console/providers";
    pub const RECONCILE: &str = "/console/reconcile";
    pub const STYLE: &str = "/console/assets/console.css";
    pub const SCRIPT: &str = "/console/assets/console.js";
    pub const ALL: [&str; 12] = [
        HOME,
        SIGN_IN,
        SIGN_OUT,
        CUSTOMERS,
        CUSTOMER,
        ALERTS,
        ALERT_DELETE,
        EVENT,
        PROVIDERS,
        RECONCILE,
        STYLE,
        SCRIPT,
    ];
}

/// The console's routes; none when `[console] enabled = false`.
pub(super) fn router() -> Router<Gateway> {
    Router::new()
        .route(routes::HOME, get(home))
        .route(routes::SIGN_IN, get(sign_in::form).post(sign_in::sign_in))
        .route(routes::SIGN_OUT, post(sign_in::sign_out))
        .route(routes::CUSTOMERS, get(customer::search))
        .route(routes::CUSTOMER, get(customer::page))
        .route(routes::ALERTS, post(events::create_alert))
        .route(routes::ALERT_DELETE, post(events::delete_alert))
        .route(routes::EVENT, get(events::event_page))
        .route(routes::PROVIDERS, get(operations::providers))
        .route(routes::RECONCILE, get(operations::reconcile))
        .route(routes::STYLE, get(style))
        .route(routes::SCRIPT, get(script))
}

/// What every page's frame shows: the title, the signed-in key and its sign-out form.
pub(super) struct Frame {
    pub title: String,
    /// The navigation entry that is current.
    pub section: &'static str,
    /// The signed-in key's name; `None` on the sign-in page.
    pub key_name: Option<String>,
    pub may_write: bool,
    /// The session's CSRF token, for every form on the page.
    pub csrf: String,
}

/// A signed-in visitor: the key's caller, and the session's CSRF token.
pub(super) struct Session {
    pub caller: Arc<Caller>,
    token: String,
    pub csrf: String,
}

impl Session {
    /// The session's token, which its forms' CSRF tokens are bound to.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn frame(&self, title: impl Into<String>, section: &'static str) -> Frame {
        Frame {
            title: title.into(),
            section,
            key_name: Some(self.caller.key_name.clone()),
            may_write: self.caller.may_write,
            csrf: self.csrf.clone(),
        }
    }
}

impl FromRequestParts<Gateway> for Session {
    type Rejection = Response;

    /// The session cookie's caller, admitted by its key's quota; otherwise the sign-in page
    /// (coming back here after it), or a 429 page.
    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Session, Response> {
        let Some(sessions) = gateway.sessions() else {
            return Err(super::no_such_route().into_response());
        };
        let token = cookie(&parts.headers, SESSION_COOKIE);
        let resumed = match &token {
            Some(token) => gateway.resume_session(token).await.map_err(|e| {
                tracing::warn!(error = %e, "console: cannot tell whether a session was signed out");
                failure_page(
                    None,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sessions unavailable",
                    "The gateway cannot read its signed-out sessions just now (its store does not answer); \
                     try again shortly.",
                )
            })?,
            None => None,
        };
        let (Some(token), Some((caller, admission))) = (token, resumed) else {
            let back = parts.uri.path_and_query().map_or(routes::CUSTOMERS, |p| p.as_str());
            let back = if parts.method == axum::http::Method::GET {
                back
            } else {
                routes::CUSTOMERS
            };
            return Err(redirect(&views::link(routes::SIGN_IN, &[("next", back)])));
        };
        if !admission.allowed {
            crate::metrics::record_rate_limited(&caller.key_name);
            let mut page = failure_page(
                None,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                &format!(
                    "This API key's quota is used up; try again in {} s.",
                    admission.retry_after_secs
                ),
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(admission.retry_after_secs));
            return Err(page);
        }
        let csrf = sessions.csrf_token(&token);
        Ok(Session { caller, token, csrf })
    }
}

/// `name`'s value among the request's cookies.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// A cookie for the console's paths only, never readable by scripts nor sent cross-site;
/// `Secure` when the request came over TLS (as its proxy says) or the config asks.
fn set_cookie(gateway: &Gateway, headers: &HeaderMap, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    let over_tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let secure = over_tls || gateway.sessions().is_some_and(|s| s.secure_cookie);
    let text = format!(
        "{name}={value}; Path={}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        routes::HOME,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("creditgate_invalid=1"))
}

/// A rendered page with the headers every console page carries: no caching (pages hold a
/// customer's data), no framing, no scripts or styles but the console's own.
pub(super) fn html(status: StatusCode, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => return ApiError::Internal(format!("cannot render a console page: {e}")).into_response(),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// 303 to `to` (a console path).
pub(super) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "console/failure.html")]
struct FailurePage {
    frame: Frame,
    status: u16,
    heading: String,
    message: String,
    code: Option<&'static str>,
}

/// A page saying what went wrong, with the status the API would have answered.
pub(super) fn failure_page(session: Option<&Session>, status: StatusCode, heading: &str, message: &str) -> Response {
    let frame = match session {
        Some(session) => session.frame(heading, ""),
        None => Frame {
            title: heading.to_owned(),
            section: "",
            key_name: None,
            may_write: false,
            csrf: String::new(),
        },
    };
    let page = FailurePage {
        frame,
        status: status.as_u16(),
        heading: heading.to_owned(),
        message: message.to_owned(),
        code: None,
    };
    html(status, &page)
}

/// An API error as a page: its status, code and message, as the API would say them.
pub(super) fn error_page(session: &Session, error: &ApiError) -> Response {
    let (_, code) = error.type_and_code();
    let page = FailurePage {
        frame: session.frame("Refused", ""),
        status: error.status().as_u16(),
        heading: "The gateway refused this".to_owned(),
        message: error.to_string(),
        code: Some(code),
    };
    html(error.status(), &page)
}

/// A form posted to the console, read whole within the server's body timeout and parsed
/// strictly; refused unless it comes from this origin and carries the CSRF token bound to
/// `bound_to`.
pub(super) async fn posted_form(gateway: &Gateway, request: Request, bound_to: &str) -> Result<Params, Response> {
    let refused = |message: &str| failure_page(None, StatusCode::FORBIDDEN, "Form refused", message);
    let (parts, body) = request.into_parts();
    // A browser names the page's origin on every POST; one from another site is refused
    // even before its token is looked at.
    if let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let same = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        if !same {
            return Err(refused("This form was sent from another site."));
        }
    }
    let read = tokio::time::timeout(gateway.body_read_timeout(), axum::body::to_bytes(body, MAX_FORM_BYTES)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(failure_page(
                None,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The console takes forms of at most 16 KiB.",
            ))
        }
        Err(_) => {
            return Err(failure_page(
                None,
                StatusCode::REQUEST_TIMEOUT,
                "Form too slow",
                "The form did not arrive in time.",
            ))
        }
    };
    let mut form = Params::parse(std::str::from_utf8(&bytes).ok());
    let token = form.take("csrf").ok().flatten().unwrap_or_default();
    let sessions = gateway
        .sessions()
        .ok_or_else(|| super::no_such_route().into_response())?;
    if !sessions.csrf_matches(bound_to, &token) {
        return Err(refused(
            "The form's CSRF token is missing or does not belong to this session. Reload the page and send it again.",
        ));
    }
    Ok(form)
}

async fn home(session: Result<Session, Response>) -> Response {
    match session {
        Ok(_) => redirect(routes::CUSTOMERS),
        Err(_) => redirect(routes::SIGN_IN),
    }
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("console.css"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("console.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
