//! The console's sessions and forms over HTTP, without a browser (that is
//! `tests/console_browser.rs`): signing in, the cookie's flags, a forged or foreign session,
//! CSRF tokens, the origin check, a read-only key's forms, and the console turned off.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::world::{World, SUPPORT_KEY};
use common::{Api, TestResponse};
use creditgate_sim::Vendor;

fn text(response: &TestResponse) -> &str {
    response.body.as_str().unwrap_or("")
}

/// The value of `name="<field>" value="…"` in a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).map(|i| i + marker.len()).expect(name);
    page[start..].split('"').next().unwrap().to_owned()
}

/// `name=value` of the `Set-Cookie` that sets `name`.
fn cookie(response: &TestResponse, name: &str) -> Option<String> {
    response
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

async fn get(api: &Api, path: &str, cookie: &str) -> TestResponse {
    let request = Request::get(path).header("cookie", cookie).body(Body::empty()).unwrap();
    api.send(request).await
}

async fn post(api: &Api, path: &str, cookie: &str, form: &str, extra: &[(&str, &str)]) -> TestResponse {
    let mut request = Request::post(path)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    api.send(request.body(Body::from(form.to_owned())).unwrap()).await
}

/// Signs in with `key`: the session cookie (`name=value`) and its `Set-Cookie` line.
async fn sign_in(api: &Api, key: &str) -> (String, String) {
    let form_page = get(api, "/console/sign-in", "").await;
    assert_eq!(form_page.status, 200);
    let pre = cookie(&form_page, "creditgate_sign_in").expect("the sign-in form's cookie");
    let csrf = field(text(&form_page), "csrf");
    let body = format!("csrf={csrf}&next=%2Fconsole%2Fproviders&key={key}");
    let signed = post(api, "/console/sign-in", cookie_pair(&pre), &body, &[]).await;
    assert_eq!(signed.status, 303, "{}", text(&signed));
    assert_eq!(signed.headers["location"], "/console/providers");
    let set = cookie(&signed, "creditgate_session").expect("a session cookie");
    (cookie_pair(&set).to_owned(), set)
}

#[tokio::test]
async fn a_session_is_a_signed_cookie_that_never_holds_the_key() {
    let w = World::start(3, 2, 3, None).await;
    let (session, set) = sign_in(&w.api, creditgate_sim::demo::DEMO_API_KEY).await;
    assert!(!set.contains(creditgate_sim::demo::DEMO_API_KEY), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(set.contains(flag), "{flag}: {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let page = get(&w.api, "/console/providers", &session).await;
    assert_eq!(page.status, 200);
    // What the API would refuse is refused as a page with its code, never a bare rejection.
    for (path, status, code) in [
        ("/console/events/%FF%FE", 400, "invalid_parameter"),
        (
            "/console/events/evt_0000000000000000000000000000",
            404,
            "event_not_found",
        ),
        ("/console/customer?customer=acme&window=2d", 400, "invalid_parameter"),
        (
            "/console/customer?customer=acme&from=2026-01-01",
            400,
            "invalid_parameter",
        ),
        ("/console/customer?customer=nobody", 400, "unknown_customer"),
        ("/console/customer?customer=acme&extra=1", 400, "invalid_parameter"),
    ] {
        let refused = get(&w.api, path, &session).await;
        assert_eq!(refused.status, status, "{path}: {}", text(&refused));
        assert!(
            text(&refused).contains(&format!("id=\"error-code\">{code}<")),
            "{path}: {}",
            text(&refused)
        );
    }
    // A window from days past or beyond the history's bound still renders, saying so.
    let far = get(
        &w.api,
        "/console/customer?customer=acme&from=1990-01-01&to=2026-01-01&interval=hour",
        &session,
    )
    .await;
    assert_eq!(far.status, 200);
    assert!(text(&far).contains("id=\"history-problem\""), "{}", text(&far));
    assert!(text(&page).contains("id=\"key-name\">demo<"), "{}", text(&page));
    for (header, value) in [
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
        ("content-type", "text/html; charset=utf-8"),
    ] {
        assert_eq!(page.headers[header], value);
    }
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    // Without a session, or with one altered or of another secret: the sign-in page, which
    // brings the visitor back.
    let tampered = format!("{}x", &session[..session.len() - 1]);
    for cookie in ["", "creditgate_session=garbage", tampered.as_str()] {
        let refused = get(&w.api, "/console/customer?customer=acme", cookie).await;
        assert_eq!(refused.status, 303, "{cookie}");
        assert_eq!(
            refused.headers["location"],
            "/console/sign-in?next=%2Fconsole%2Fcustomer%3Fcustomer%3Dacme"
        );
    }
    // Behind a TLS proxy the cookie is Secure.
    let form_page = w
        .api
        .send(
            Request::get("/console/sign-in")
                .header("x-forwarded-proto", "https")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(cookie(&form_page, "creditgate_sign_in").unwrap().contains("; Secure"));
}

#[tokio::test]
async fn a_wrong_key_or_a_sign_in_without_its_token_gets_no_session() {
    let w = World::start(4, 1, 2, None).await;
    let form_page = get(&w.api, "/console/sign-in?next=https://evil.example/", "").await;
    let pre = cookie_pair(&cookie(&form_page, "creditgate_sign_in").unwrap()).to_owned();
    let csrf = field(text(&form_page), "csrf");
    assert_eq!(
        field(text(&form_page), "next"),
        "/console/customers",
        "no way off the console"
    );
    let wrong = post(
        &w.api,
        "/console/sign-in",
        &pre,
        &format!("csrf={csrf}&key=cg_nope"),
        &[],
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(text(&wrong).contains("not an API key of this gateway"));
    assert!(cookie(&wrong, "creditgate_session").is_none());
    let key = creditgate_sim::demo::DEMO_API_KEY;
    for (cookie, form) in [
        (pre.as_str(), format!("key={key}")),
        (pre.as_str(), format!("csrf=AAAA&key={key}")),
        ("creditgate_sign_in=another", format!("csrf={csrf}&key={key}")),
    ] {
        let refused = post(&w.api, "/console/sign-in", cookie, &form, &[]).await;
        assert_eq!(refused.status, 403, "{form}: {}", text(&refused));
        assert!(cookie_pair_absent(&refused));
    }
    // Posted from another site, even with the right token.
    let foreign = post(
        &w.api,
        "/console/sign-in",
        &pre,
        &format!("csrf={csrf}&key={key}"),
        &[("origin", "https://evil.example"), ("host", "127.0.0.1:8080")],
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert!(text(&foreign).contains("another site"));
}

fn cookie_pair_absent(response: &TestResponse) -> bool {
    cookie(response, "creditgate_session").is_none()
}

#[tokio::test]
async fn forms_need_the_sessions_token_and_a_read_only_key_gets_no_writes() {
    let mut w = World::start(5, 2, 3, None).await;
    let extra = w.support_key_toml();
    let _gateway = w.with_events(&extra);
    let (session, _) = sign_in(&w.api, creditgate_sim::demo::DEMO_API_KEY).await;
    let customer = w.customer(Vendor::Stripe, 0);
    let page = get(&w.api, &format!("/console/customer?customer={customer}"), &session).await;
    assert_eq!(page.status, 200, "{}", text(&page));
    assert!(text(&page).contains("id=\"new-alert\""));
    let csrf = field(text(&page), "csrf");
    let form = |token: &str| format!("csrf={token}&customer={customer}&unit=USD&threshold=1.00");
    let missing = post(&w.api, "/console/alerts", &session, &form(""), &[]).await;
    assert_eq!(missing.status, 403);
    assert!(text(&missing).contains("CSRF token"));
    // A token of another session is refused too.
    let (other, _) = sign_in(&w.api, SUPPORT_KEY).await;
    let other_page = get(&w.api, "/console/providers", &other).await;
    let foreign_token = field(text(&other_page), "csrf");
    assert_ne!(foreign_token, csrf);
    let foreign = post(&w.api, "/console/alerts", &session, &form(&foreign_token), &[]).await;
    assert_eq!(foreign.status, 403);
    let alerts = w.api.get(&format!("/v1/balance_alerts?customer={customer}")).await;
    assert_eq!(alerts.body["data"], serde_json::json!([]), "nothing was created");
    let made = post(&w.api, "/console/alerts", &session, &form(&csrf), &[]).await;
    assert_eq!(made.status, 303, "{}", text(&made));
    let alerts = w.api.get(&format!("/v1/balance_alerts?customer={customer}")).await;
    assert_eq!(alerts.body["data"][0]["threshold"], "1.00", "{}", alerts.body);
    // The read-only key: no write form, and a write posted anyway is the API's 403.
    let theirs = w.customer(Vendor::Stripe, 1);
    let page = get(&w.api, &format!("/console/customer?customer={theirs}"), &other).await;
    assert_eq!(page.status, 200, "{}", text(&page));
    assert!(!text(&page).contains("id=\"new-alert\""));
    assert!(!text(&page).contains("delete-alert"));
    let body = format!("csrf={foreign_token}&customer={theirs}&unit=USD&threshold=1.00");
    let refused = post(&w.api, "/console/alerts", &other, &body, &[]).await;
    assert_eq!(refused.status, 403);
    assert!(
        text(&refused).contains("id=\"error-code\">write_not_allowed<"),
        "{}",
        text(&refused)
    );
    // And another customer's page is refused as the API refuses it.
    let api_answer = w
        .api
        .get_as(
            &format!("/v1/credit_balances?customer={customer}"),
            Some(SUPPORT_KEY),
            &[],
        )
        .await;
    let page = get(&w.api, &format!("/console/customer?customer={customer}"), &other).await;
    assert_eq!(page.status, api_answer.status);
    assert!(text(&page).contains(&format!("id=\"error-code\">{}<", api_answer.code())));
    // Signing out takes the token too, and ends the cookie.
    let out = post(&w.api, "/console/sign-out", &other, "", &[]).await;
    assert_eq!(out.status, 403);
    let out = post(
        &w.api,
        "/console/sign-out",
        &other,
        &format!("csrf={foreign_token}"),
        &[],
    )
    .await;
    assert_eq!(out.status, 303);
    assert!(cookie(&out, "creditgate_session").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn signing_out_ends_that_token_for_good_and_no_other() {
    let mut w = World::start(7, 1, 2, None).await;
    let (first, _) = sign_in(&w.api, creditgate_sim::demo::DEMO_API_KEY).await;
    let (second, _) = sign_in(&w.api, creditgate_sim::demo::DEMO_API_KEY).await;
    assert_ne!(first, second, "a token per sign-in");
    let page = get(&w.api, "/console/providers", &first).await;
    assert_eq!(page.status, 200);
    let csrf = field(text(&page), "csrf");
    let out = post(&w.api, "/console/sign-out", &first, &format!("csrf={csrf}"), &[]).await;
    assert_eq!(out.status, 303, "{}", text(&out));
    // The token itself has ended: sent again (a copied cookie), it gets the sign-in page,
    // after a restart too (the sign-out is kept in the store).
    for restarted in [false, true] {
        if restarted {
            w.restart();
        }
        let again = get(&w.api, "/console/providers", &first).await;
        assert_eq!(again.status, 303, "restarted: {restarted}");
        let location = again.headers["location"].to_str().unwrap();
        assert!(location.starts_with("/console/sign-in?"), "{location}");
        // The same key's other sign-in goes on.
        assert_eq!(get(&w.api, "/console/providers", &second).await.status, 200);
    }
}

#[tokio::test]
async fn the_console_turned_off_is_not_there() {
    let mut w = World::start(6, 1, 2, None).await;
    let _gateway = w.with_events_and("", |config| config.console.enabled = false);
    for path in ["/console", "/console/sign-in", "/console/customers"] {
        let answer = w.api.get_as(path, None, &[]).await;
        assert_eq!((answer.status, answer.code()), (404, "route_not_found"), "{path}");
    }
}
