//! The console in a real browser: headless Chromium driven through ChromeDriver (both
//! Debian's, installed by `scripts/install-browser.sh`) over a gateway on a loopback port.
//! Signs in, finds the demo alias, checks that the balances shown are
//! `/v1/credit_balances`' and the chart's points the history API's, runs axe-core on every
//! page (no serious or critical violation), posts a form without its CSRF token, creates an
//! alert that then fires, and signs in again with a restricted read-only key. A screenshot
//! of each page is saved under `target/console-screenshots/` for a person to look at.

mod common;

use std::time::Duration;

use common::process::KillOnDrop;
use common::receiver::Receiver;
use common::world::{World, SUPPORT_KEY};
use common::Api;
use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const WITHIN: Duration = Duration::from_secs(20);

/// ChromeDriver on a free loopback port, and a headless Chromium session through it.
async fn browser() -> (KillOnDrop, Client, tempdir::Dir) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver (scripts/install-browser.sh installs it)");
    let driver = KillOnDrop(driver);
    let profile = tempdir::Dir::new();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1800",
        &format!("--user-data-dir={}", profile.0.display()),
    ];
    let capabilities = json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
    let capabilities = capabilities.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client, profile),
            Err(e) => {
                assert!(started.elapsed() < WITHIN, "no browser session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A directory removed when dropped, for the browser's profile.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("creditgate-chromium-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The gateway's application served on a loopback port, for the browser.
async fn serve(gateway: &creditgate::Gateway) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = creditgate::api::app(gateway.clone());
    let limits = creditgate::config::ServerConfig::default();
    tokio::spawn(async move { creditgate::api::serve(listener, app, &limits, std::future::pending()).await });
    format!("http://{address}")
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WITHIN)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn type_into(c: &Client, css: &str, text: &str) {
    wait_for(c, css).await.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    wait_for(c, css).await.click().await.unwrap();
}

async fn script(c: &Client, js: &str) -> Value {
    c.execute(js, Vec::new()).await.unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// Saves the page as `target/console-screenshots/<name>.png`.
async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// axe-core on the current page: no violation of serious or critical impact.
async fn accessible(c: &Client, page: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser/node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&path).expect("axe-core (scripts/install-browser.sh installs it)");
    script(c, &format!("{axe}\nreturn true;")).await;
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
                .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                        nodes: v.nodes.map(n => n.target.join(' '))}))))
                .catch(e => done([{id: 'axe-failed', impact: 'critical', help: String(e)}]));",
            Vec::new(),
        )
        .await
        .unwrap();
    let serious: Vec<&Value> = found
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "{page}: {serious:#?}");
}

async fn sign_in(c: &Client, base: &str, key: &str) {
    c.goto(&format!("{base}/console")).await.unwrap();
    type_into(c, "#key", key).await;
    click(c, "form.stack button").await;
    wait_for(c, "#key-name").await;
}

/// Checks the chart's points against `/v1/credit_balance_history` for the customer, unit
/// and window the chart says it shows; answers how many points there are.
async fn chart_against_api(c: &Client, api: &Api) -> usize {
    let chart = script(
        c,
        "const svg = document.querySelector('#chart');
         return {from: svg.dataset.from, to: svg.dataset.to, interval: svg.dataset.interval, unit: svg.dataset.unit,
                 customer: document.querySelector('#customer').textContent,
                 points: Array.from(svg.querySelectorAll('circle.point')).map(p => [p.dataset.start, p.dataset.available])};",
    )
    .await;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for name in ["customer", "unit", "from", "to", "interval"] {
        query.append_pair(name, chart[name].as_str().unwrap());
    }
    let history = api.get(&format!("/v1/credit_balance_history?{}", query.finish())).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let expected: Vec<Value> = history.body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["start"], p["available"]["value"]]))
        .collect();
    assert_eq!(
        chart["points"].as_array().unwrap(),
        &expected,
        "the chart's points are the API's"
    );
    expected.len()
}

/// `(provider, unit) -> available` as `/v1/credit_balances` answers it.
async fn api_balances(api: &Api, customer: &str) -> Vec<(String, String, String)> {
    let answer = api.get(&format!("/v1/credit_balances?customer={customer}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut rows: Vec<_> = answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (text(&b["provider"]), text(&b["unit"]), text(&b["available"]["value"]))
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn the_console_in_a_browser_shows_what_the_api_answers_and_keeps_a_keys_limits() {
    let mut w = World::start(31, 2, 120, None).await;
    let receiver = Receiver::start().await;
    let support = w.support_key_toml();
    let extra = format!(
        "{}{}{support}",
        common::eventing::FAST_RETRIES,
        receiver.endpoint_toml(w.demo.dir(), "events = [\"credit_balance.low\"]")
    );
    let gateway = w.with_events(&extra);
    let base = serve(&gateway).await;
    let (_driver, c, _profile) = browser().await;

    // Signing in, from the sign-in page the console sends a visitor to.
    c.goto(&format!("{base}/console/customers")).await.unwrap();
    wait_for(&c, "#key").await;
    screenshot(&c, "sign-in").await;
    accessible(&c, "sign-in").await;
    sign_in(&c, &base, DEMO_API_KEY).await;
    assert!(c.current_url().await.unwrap().path().ends_with("/console/customers"));
    accessible(&c, "customers").await;

    // The demo alias, found by its name.
    type_into(&c, "#q", "acme").await;
    click(&c, "form[role=search] button").await;
    wait_for(&c, "#balances").await;
    let shown = script(
        &c,
        "return Array.from(document.querySelectorAll('#balances tbody tr[data-provider]'))
                .map(r => [r.dataset.provider, r.dataset.unit, r.querySelector('.available').textContent]);",
    )
    .await;
    let mut shown: Vec<(String, String, String)> = serde_json::from_value(shown).unwrap();
    shown.sort();
    assert_eq!(
        shown,
        api_balances(&w.api, "acme").await,
        "the balances shown are the API's"
    );
    assert!(shown.len() >= 6, "{shown:?}");

    // The chart's points are the history API's, for the window it says it shows: the last
    // 30 days, then the day the simulated ledgers start on, by hour, chosen in the form.
    assert_eq!(chart_against_api(&c, &w.api).await, 30, "30 days by day");
    // Date inputs take their value as the browser's locale writes dates: set it directly.
    script(
        &c,
        "document.querySelector('#from').value = '2024-01-01'; document.querySelector('#to').value = '2024-01-01';
         document.querySelector('#interval').value = 'hour'; return true;",
    )
    .await;
    click(&c, "#history-form button").await;
    wait_for(&c, "#chart[data-interval=hour]").await;
    assert_eq!(chart_against_api(&c, &w.api).await, 24, "a day by hour");
    screenshot(&c, "customer").await;
    accessible(&c, "customer").await;

    // One customer at Stripe: an alert made in the console fires.
    let customer = w.customer(Vendor::Stripe, 0);
    c.goto(&format!("{base}/console/customer?customer={customer}"))
        .await
        .unwrap();
    wait_for(&c, "#new-alert").await;
    let start = api_balances(&w.api, &customer).await;
    let start: rust_decimal::Decimal = start.iter().find(|(_, u, _)| u == "USD").unwrap().2.parse().unwrap();
    let threshold = start + rust_decimal::Decimal::from(5);
    // First without its CSRF token (removed from the page): refused.
    script(
        &c,
        "document.querySelector('#new-alert input[name=csrf]').remove(); return true;",
    )
    .await;
    type_into(&c, "#alert-threshold", "1.00").await;
    click(&c, "#new-alert button").await;
    let refused = wait_for(&c, "p.problem").await.text().await.unwrap();
    assert!(refused.contains("CSRF token"), "{refused}");
    let none = w.api.get(&format!("/v1/balance_alerts?customer={customer}")).await;
    assert_eq!(none.body["data"], json!([]));
    c.goto(&format!("{base}/console/customer?customer={customer}"))
        .await
        .unwrap();
    type_into(&c, "#alert-threshold", &threshold.to_string()).await;
    click(&c, "#new-alert button").await;
    let listed = wait_for(&c, "#alert-list tbody code").await.text().await.unwrap();
    let alerts = w.api.get(&format!("/v1/balance_alerts?customer={customer}")).await;
    assert_eq!(alerts.body["data"][0]["id"], listed.as_str(), "{}", alerts.body);
    assert_eq!(alerts.body["data"][0]["threshold"], threshold.to_string());
    // Above the threshold, then below it: the alert fires, to the endpoint.
    let (_, big) = common::eventing::credit(&w, Vendor::Stripe, "console-big", "10.00").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let void = format!("/v1/credit_grants/{}/void", big["id"].as_str().unwrap());
    let voided = w.api.post_as(&void, DEMO_API_KEY, Some("console-void"), "").await;
    assert_eq!(voided.status, 200, "{}", voided.body);
    let fired = receiver
        .wait_for(WITHIN, |e| e["type"] == "credit_balance.low")
        .await
        .expect("the alert made in the console fired");
    assert_eq!(fired["data"]["alert"]["id"], listed.as_str());
    // The customer's events, and one with its delivery.
    c.goto(&format!("{base}/console/customer?customer={customer}"))
        .await
        .unwrap();
    wait_for(&c, "#events tbody a").await;
    let low = script(
        &c,
        "const row = Array.from(document.querySelectorAll('#events tbody tr'))
             .find(r => r.cells[1] && r.cells[1].textContent === 'credit_balance.low');
         return row ? row.querySelector('a').getAttribute('href') : null;",
    )
    .await;
    let low = low.as_str().expect("the alert's event is listed");
    assert!(low.contains(fired["id"].as_str().unwrap()), "{low}");
    // Its delivery to the receiver, shown as made once the gateway has recorded it.
    let started = std::time::Instant::now();
    loop {
        c.goto(&format!("{base}{low}")).await.unwrap();
        wait_for(&c, "#deliveries").await;
        if c.find(Locator::Css("#deliveries .status.delivered")).await.is_ok() {
            break;
        }
        assert!(started.elapsed() < WITHIN, "the delivery is never shown as made");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    screenshot(&c, "event").await;
    accessible(&c, "event").await;

    // Providers and reconcile.
    c.goto(&format!("{base}/console/providers")).await.unwrap();
    let rows = wait_for(&c, "#providers")
        .await
        .find_all(Locator::Css("tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 6);
    screenshot(&c, "providers").await;
    accessible(&c, "providers").await;
    c.goto(&format!("{base}/console/reconcile")).await.unwrap();
    type_into(&c, "#source", &customer).await;
    let target = w.customer(Vendor::Togai, 0);
    type_into(&c, "#target", &target).await;
    click(&c, "form.inline button").await;
    let summary = wait_for(&c, "#reconcile-summary").await.text().await.unwrap();
    assert!(summary.contains("migrated grants agree"), "{summary}");
    screenshot(&c, "reconcile").await;
    accessible(&c, "reconcile").await;

    // A restricted read-only key: its customer only, and no write form.
    click(&c, "form.who button").await;
    wait_for(&c, "#key").await;
    sign_in(&c, &base, SUPPORT_KEY).await;
    let theirs = w.customer(Vendor::Stripe, 1);
    let links = script(
        &c,
        "return Array.from(document.querySelectorAll('main a')).map(a => a.textContent);",
    )
    .await;
    assert_eq!(
        links,
        json!([theirs]),
        "the customers page lists only what the key may read"
    );
    c.goto(&format!("{base}/console/customer?customer={theirs}"))
        .await
        .unwrap();
    wait_for(&c, "#balances").await;
    assert!(c.find(Locator::Css("#new-alert")).await.is_err(), "no write form");
    assert!(c.find(Locator::Css("form.delete-alert")).await.is_err());
    c.goto(&format!("{base}/console/customer?customer=acme")).await.unwrap();
    let code = wait_for(&c, "#error-code").await.text().await.unwrap();
    let api = w
        .api
        .get_as("/v1/credit_balances?customer=acme", Some(SUPPORT_KEY), &[])
        .await;
    assert_eq!(code, api.code(), "refused as the API refuses it");
    assert_eq!(api.status, 403);
    c.close().await.unwrap();
}
