//! Signing in and out of the console: the sign-in form (with a CSRF cookie of its own, as
//! there is no session yet), the session cookie it gives, and signing out.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{
    cookie, failure_page, html, posted_form, redirect, routes, set_cookie, Frame, Session, SESSION_COOKIE,
    SIGN_IN_COOKIE,
};
use crate::api::params::Params;
use crate::gateway::sessions::nonce;
use crate::gateway::Gateway;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    frame: Frame,
    next: String,
    problem: Option<String>,
}

/// Where to go after signing in: a console page, never another site.
fn next_page(next: Option<String>) -> String {
    next.filter(|n| n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| routes::CUSTOMERS.to_owned())
}

/// The sign-in form, with a fresh CSRF cookie and the token bound to it.
fn sign_in_form(gateway: &Gateway, headers: &HeaderMap, next: String, problem: Option<String>) -> Response {
    let Some(sessions) = gateway.sessions() else {
        return crate::api::no_such_route().into_response();
    };
    let value = nonce();
    let page = SignInPage {
        frame: Frame {
            title: "Sign in".into(),
            section: "",
            key_name: None,
            may_write: false,
            csrf: sessions.csrf_token(&value),
        },
        next,
        problem: problem.clone(),
    };
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = html(status, &page);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(gateway, headers, SIGN_IN_COOKIE, &value, 3600),
    );
    response
}

pub(super) async fn form(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let next = Params::parse(raw.as_deref()).take("next").ok().flatten();
    sign_in_form(&gateway, &headers, next_page(next), None)
}

/// Signs in with the key typed in the form: a session cookie, then the page asked for.
pub(super) async fn sign_in(State(gateway): State<Gateway>, request: Request) -> Response {
    let headers = request.headers().clone();
    let bound_to = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if bound_to.is_empty() {
        return sign_in_form(
            &gateway,
            &headers,
            routes::CUSTOMERS.into(),
            Some("Your browser did not send the sign-in form's cookie; allow cookies for this site.".into()),
        );
    }
    let mut form = match posted_form(&gateway, request, &bound_to).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let key = form.take("key").ok().flatten().unwrap_or_default();
    let next = next_page(form.take("next").ok().flatten());
    let Some(signed_in) = gateway.sign_in(key.trim()) else {
        return sign_in_form(
            &gateway,
            &headers,
            next,
            Some("That is not an API key of this gateway.".into()),
        );
    };
    let mut response = redirect(&next);
    let cookie = set_cookie(
        &gateway,
        &headers,
        SESSION_COOKIE,
        &signed_in.token,
        signed_in.lifetime.as_secs(),
    );
    response.headers_mut().append(header::SET_COOKIE, cookie);
    // The sign-in form's cookie has done its work.
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&gateway, &headers, SIGN_IN_COOKIE, "", 0),
    );
    response
}

pub(super) async fn sign_out(State(gateway): State<Gateway>, session: Session, request: Request) -> Response {
    let headers = request.headers().clone();
    if let Err(refused) = posted_form(&gateway, request, &session.token).await {
        return refused;
    }
    if let Err(e) = gateway.sign_out(&session.token).await {
        tracing::warn!(error = %e, "console: a sign-out could not be recorded");
        return failure_page(
            Some(&session),
            StatusCode::SERVICE_UNAVAILABLE,
            "Not signed out",
            "The sign-out could not be recorded (the gateway's store does not answer), so this \
             session is still valid: sign out again shortly.",
        );
    }
    let mut response = redirect(routes::SIGN_IN);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&gateway, &headers, SESSION_COOKIE, "", 0),
    );
    response
}
