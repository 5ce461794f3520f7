//! The simulators on their own, over HTTP: each vendor's auth, page limits, quirks, error
//! bodies, rate limit and fault knobs, and data that stays consistent at a million entries.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use creditgate_sim::Vendor;
use creditgate_sim::{Faults, RateLimit, RunningSimulator, SimOptions, Simulator};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

fn options() -> SimOptions {
    SimOptions {
        seed: 3,
        customers: 3,
        entries_per_customer: 30,
        grants_per_customer: None,
        rate_limit: RateLimit::Off,
        faults: Faults::default(),
    }
}

struct Running {
    sim: Simulator,
    server: RunningSimulator,
    http: Client,
}

async fn start(vendor: Vendor, options: SimOptions) -> Running {
    let sim = Simulator::new(vendor, options);
    let server = sim.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    Running {
        sim,
        server,
        http: Client::new(),
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// A request with the vendor's auth, as the gateway sends it (Vayu logs in first).
    async fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        let credential = self.sim.credential();
        match self.sim.vendor() {
            Vendor::Sequence => request
                .header(
                    "authorization",
                    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credential)),
                )
                .header("sequence-version", "2024-07-30"),
            Vendor::Vayu => {
                let login: Value = self
                    .http
                    .post(self.url("/login"))
                    .json_body(&json!({ "refreshToken": credential }))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .map(|b| serde_json::from_slice(&b).unwrap())
                    .unwrap();
                request.bearer_auth(login["accessToken"].as_str().unwrap())
            }
            _ => request.bearer_auth(credential),
        }
    }

    /// The vendor's simplest list call for customer 0, with `page` as its page size.
    async fn list(&self, page: usize, authed: bool) -> Response {
        let c = self.sim.customer_id(0);
        let get = |path: String| self.http.get(self.url(&path));
        let request = match self.sim.vendor() {
            Vendor::Stripe => get(format!(
                "/v1/billing/credit_balance_transactions?customer={c}&limit={page}"
            )),
            Vendor::Metronome => self
                .http
                .post(self.url("/v1/contracts/customerCredits/list"))
                .json_body(&json!({"customer_id": c, "limit": page})),
            Vendor::Sequence => get(format!("/api/credits?limit={page}")),
            Vendor::Togai => get(format!("/credits?account_id={c}&pageSize={page}")),
            Vendor::Vayu => get(format!("/credits?customerId={c}&limit={page}")),
            Vendor::Lago => get(format!("/api/v1/wallets?external_customer_id={c}&per_page={page}")),
        };
        let request = if authed { self.authed(request).await } else { request };
        request.send().await.unwrap()
    }
}

async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

/// A JSON request body (creditgate's reqwest is built without its `json` feature).
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(body.to_string())
    }
}

/// Each vendor's error body: Stripe `{"error": {type, message}}`, Vayu `{type, code,
/// message}`, Sequence `{"error"}`, Metronome and Togai `{"message"}`, Lago `{status, error}`.
fn assert_vendor_error(vendor: Vendor, body: &Value, kind: &str) {
    match vendor {
        Vendor::Stripe => {
            assert!(
                body["error"]["type"].is_string() && body["error"]["message"].is_string(),
                "{body}"
            );
            if kind == "rate" {
                assert_eq!(body["error"]["code"], "rate_limit");
            }
        }
        Vendor::Vayu => {
            let expected = match kind {
                "auth" => "authentication_error",
                "rate" => "rate_limit_error",
                "limit" => "invalid_request_error",
                _ => "api_error",
            };
            assert_eq!(body["type"], expected, "{body}");
            assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
        }
        Vendor::Sequence => assert!(body["error"].is_string(), "{body}"),
        Vendor::Metronome | Vendor::Togai => assert!(body["message"].is_string(), "{body}"),
        Vendor::Lago => assert!(body["status"].is_u64() && body["error"].is_string(), "{body}"),
    }
}

/// `None`: no maximum (Lago).
fn max_page(vendor: Vendor) -> Option<usize> {
    match vendor {
        Vendor::Stripe | Vendor::Sequence => Some(100),
        Vendor::Metronome => Some(25),
        Vendor::Togai => Some(50),
        Vendor::Vayu => Some(1000),
        Vendor::Lago => None,
    }
}

#[tokio::test]
async fn each_simulator_checks_its_vendors_auth_and_page_limit() {
    for vendor in Vendor::ALL {
        let s = start(vendor, options()).await;
        let (status, body) = read(s.list(5, true).await).await;
        assert_eq!(status, 200, "{vendor}: {body}");

        let (status, body) = read(s.list(5, false).await).await;
        assert_eq!(status, 401, "{vendor}");
        assert_vendor_error(vendor, &body, "auth");

        let wrong = s.http.get(s.url("/credits")).bearer_auth("not-the-key");
        let (status, _) = read(wrong.send().await.unwrap()).await;
        assert!(status == 401 || status == 404 || status == 405, "{vendor}: {status}");

        let (status, _) = read(s.list(max_page(vendor).unwrap_or(10_000), true).await).await;
        assert_eq!(status, 200, "{vendor} at its maximum page size (or any, without one)");
        let Some(max) = max_page(vendor) else { continue };
        let (status, body) = read(s.list(max + 1, true).await).await;
        assert_eq!(status, 400, "{vendor} over its maximum page size: {body}");
        assert_vendor_error(vendor, &body, "limit");
    }
}

#[tokio::test]
async fn each_simulator_answers_its_vendors_429_over_the_rate_limit() {
    for vendor in Vendor::ALL {
        let s = start(
            vendor,
            SimOptions {
                rate_limit: RateLimit::PerSecond(3),
                ..options()
            },
        )
        .await;
        let mut ok = 0;
        let mut limited = 0;
        // Vayu's login counts too; ten calls fit in well under a second, so at most two
        // one-second windows (six requests) pass.
        for _ in 0..10 {
            let response = s.list(5, vendor != Vendor::Vayu).await;
            match response.status().as_u16() {
                429 => {
                    assert!(response.headers().contains_key("retry-after"));
                    let (_, body) = read(response).await;
                    assert_vendor_error(vendor, &body, "rate");
                    limited += 1;
                }
                _ => ok += 1,
            }
        }
        assert!(ok <= 6 && limited >= 4, "{vendor}: {ok} passed, {limited} limited");
    }
}

#[tokio::test]
async fn fault_knobs_give_vendor_errors_rate_limits_broken_bodies_and_latency() {
    let faulty = |vendor, faults: Faults| start(vendor, SimOptions { faults, ..options() });
    let always = |knob: fn(&mut Faults)| {
        let mut faults = Faults::default();
        knob(&mut faults);
        faults
    };
    for vendor in Vendor::ALL {
        let s = faulty(vendor, always(|f| f.error_rate = 1.0)).await;
        let (status, body500) = read(s.list(5, false).await).await;
        assert_eq!(status, 500, "{vendor}");
        assert_vendor_error(vendor, &body500, "internal");

        let s = faulty(vendor, always(|f| f.rate_limited_rate = 1.0)).await;
        let (status, body429) = read(s.list(5, false).await).await;
        assert_eq!(status, 429, "{vendor}");
        assert_vendor_error(vendor, &body429, "rate");

        // Vayu's login would be cut too; the other four show it on their list call.
        if vendor != Vendor::Vayu {
            let s = faulty(vendor, always(|f| f.malformed_rate = 1.0)).await;
            let response = s.list(5, true).await;
            assert_eq!(response.status(), 200);
            let bytes = response.bytes().await.unwrap();
            assert!(!bytes.is_empty());
            assert!(
                serde_json::from_slice::<Value>(&bytes).is_err(),
                "{vendor}: body should be cut"
            );
        }
    }
    let s = start(
        Vendor::Togai,
        SimOptions {
            faults: Faults {
                latency: Duration::from_millis(150),
                ..Faults::default()
            },
            ..options()
        },
    )
    .await;
    let started = Instant::now();
    assert_eq!(s.list(5, true).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn faults_are_drawn_reproducibly_from_the_seed() {
    let statuses = |seed| async move {
        let s = start(
            Vendor::Stripe,
            SimOptions {
                seed,
                faults: Faults {
                    error_rate: 0.5,
                    ..Faults::default()
                },
                ..options()
            },
        )
        .await;
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(s.list(3, true).await.status().as_u16());
        }
        out
    };
    let a = statuses(3).await;
    assert_eq!(a, statuses(3).await);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn togai_offers_a_token_on_its_last_page_that_leads_to_an_empty_page() {
    let s = start(Vendor::Togai, options()).await;
    let c = s.sim.customer_id(0);
    let grants = s.sim.truth(0).grants.len();
    let first = s
        .authed(s.http.get(s.url(&format!("/credits?account_id={c}&pageSize=50"))))
        .await;
    let (_, page) = read(first.send().await.unwrap()).await;
    assert_eq!(page["data"].as_array().unwrap().len(), grants);
    let token = page["nextToken"].as_str().expect("the quirk: a token on the last page");
    let next = s
        .authed(
            s.http
                .get(s.url(&format!("/credits?account_id={c}&pageSize=50&nextToken={token}"))),
        )
        .await;
    let (_, page) = read(next.send().await.unwrap()).await;
    assert_eq!(page["data"], json!([]));
    assert!(page.get("nextToken").is_none());
}

#[tokio::test]
async fn metronome_ends_with_a_null_next_page_and_sends_ledgers_only_when_asked() {
    let s = start(Vendor::Metronome, options()).await;
    let c = s.sim.customer_id(0);
    let request = s
        .http
        .post(s.url("/v1/contracts/customerCredits/list"))
        .json_body(&json!({"customer_id": c, "limit": 25}));
    let (_, page) = read(s.authed(request).await.send().await.unwrap()).await;
    assert!(page["next_page"].is_null() && page.as_object().unwrap().contains_key("next_page"));
    assert!(page["data"][0].get("ledger").is_none() && page["data"][0].get("balance").is_none());
    let request = s
        .http
        .post(s.url("/v1/contracts/customerCredits/list"))
        .json_body(&json!({"customer_id": c, "limit": 1, "include_ledgers": true, "include_balance": true}));
    let (_, page) = read(s.authed(request).await.send().await.unwrap()).await;
    assert!(page["data"][0]["ledger"].is_array() && page["data"][0]["balance"].is_number());
}

#[tokio::test]
async fn sequence_mixes_numbers_in_grant_lists_and_strings_in_balances() {
    let s = start(Vendor::Sequence, options()).await;
    let c = s.sim.customer_id(0);
    let (_, list) = read(s.list(100, true).await).await;
    assert!(list["items"][0]["amount"].is_number(), "{list}");
    assert_eq!(
        list["pagination"]["totalResultSize"],
        json!(list["items"].as_array().unwrap().len())
    );
    let request = s.http.get(s.url(&format!("/api/credits/{c}/balances")));
    let (_, balances) = read(s.authed(request).await.send().await.unwrap()).await;
    assert!(balances["items"][0]["balance"].is_string(), "{balances}");
    assert!(balances["items"][0]["transactions"][0]["amount"].is_string());
    let basic = base64::engine::general_purpose::STANDARD.encode(s.sim.credential());
    let wrong_version = s
        .http
        .get(s.url("/api/credits"))
        .header("authorization", format!("Basic {basic}"))
        .header("sequence-version", "1999-01-01");
    assert_eq!(wrong_version.send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn stripe_amounts_are_minor_units_of_each_currency() {
    let s = start(Vendor::Stripe, options()).await;
    let (_, page) = read(s.list(1, true).await).await;
    let item = &page["data"][0];
    let minor = item["debit"]["amount"]["monetary"]["value"].as_i64().unwrap();
    assert_eq!(item["debit"]["amount"]["monetary"]["currency"], "usd");
    let truth = s.sim.truth(0);
    let id = format!("stripe:{}", item["id"].as_str().unwrap());
    assert_eq!(truth.ledger[&id].0, -rust_decimal::Decimal::new(minor, 2));
    assert_eq!(page["has_more"], true);
}

#[tokio::test]
async fn vayu_pages_carry_no_next_cursor_and_expired_or_unknown_tokens_are_refused() {
    let s = start(Vendor::Vayu, options()).await;
    let (status, page) = read(s.list(10, true).await).await;
    assert_eq!(status, 200);
    assert_eq!(page.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["entries"]);
    let bad = s
        .http
        .get(s.url(&format!("/credits?customerId={}", s.sim.customer_id(0))));
    let (status, body401) = read(bad.bearer_auth("forged.token.value").send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_vendor_error(Vendor::Vayu, &body401, "auth");
    let login = s
        .http
        .post(s.url("/login"))
        .json_body(&json!({"refreshToken": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
}

#[tokio::test]
async fn a_million_entry_ledger_is_served_page_by_page_and_stays_consistent() {
    let s = start(
        Vendor::Vayu,
        SimOptions {
            customers: 1,
            entries_per_customer: 1_000_000,
            ..options()
        },
    )
    .await;
    let c = s.sim.customer_id(0);
    let truth = s.sim.truth(0);
    assert_eq!(truth.ledger.len(), 1_000_000);
    let sum: rust_decimal::Decimal = truth.ledger.values().map(|(v, _)| *v).sum();
    assert_eq!(sum, truth.balances["USD"]);
    // The last page, reached with the id of the 999,989th entry as the cursor.
    let cursor = format!("{:08x}{:016x}", 0, 999_989);
    let request = s
        .http
        .get(s.url(&format!("/credits?customerId={c}&limit=1000&cursor={cursor}")));
    let (_, page) = read(s.authed(request).await.send().await.unwrap()).await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 10);
    let last: rust_decimal::Decimal = entries[9]["balanceAfterEntry"].to_string().parse().unwrap();
    assert_eq!(last, truth.balances["USD"]);
}

#[tokio::test]
async fn the_same_seed_serves_the_same_bytes_and_another_seed_other_data() {
    let page = |seed| async move {
        let s = start(Vendor::Stripe, SimOptions { seed, ..options() }).await;
        s.list(20, true).await.text().await.unwrap()
    };
    let a = page(11).await;
    assert_eq!(a, page(11).await);
    assert_ne!(a, page(12).await);
}

#[tokio::test]
async fn the_demo_keeps_its_secrets_in_a_private_directory_that_goes_with_it() {
    let demo = creditgate_sim::demo::Demo::start(&options()).await.unwrap();
    let dir = demo.dir().to_path_buf();
    let config = std::fs::read_to_string(demo.write_config("127.0.0.1:8080", Some(7)).unwrap()).unwrap();
    for vendor in Vendor::ALL {
        let secret = dir.join(format!("{vendor}.secret"));
        assert!(
            config.contains(&format!("secret = \"file:{}\"", secret.display())),
            "{config}"
        );
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            demo.simulator(vendor).credential()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{vendor}: only the owner may read it");
        }
        assert!(
            !config.contains(demo.simulator(vendor).credential()),
            "no secret inline"
        );
    }
    assert_eq!(config.matches("page_size = 7").count(), Vendor::ALL.len());
    drop(demo);
    assert!(!dir.exists(), "the demo's directory is removed with it");
}
