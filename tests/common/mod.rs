//! Test harness: a real gateway whose Stripe and Vayu base URLs point at wiremock servers,
//! driven through the real router.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use creditgate::{Config, Gateway};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

pub const API_KEY: &str = "cg_test_app_key";
pub const OTHER_TENANT_KEY: &str = "cg_test_other_tenant_key";
pub const STRIPE_ONLY_KEY: &str = "cg_test_stripe_only_key";
/// A key with the `write` scope (the others may only read).
pub const WRITER_KEY: &str = "cg_test_writer_key";
pub const METRONOME_PRODUCT: &str = "2e30f074-d04c-412e-a134-851ebfa5ceb2";
pub const SEQUENCE_ACCOUNT: &str = "dce9ae85-d8d0-42b4-bcad-f221a64363c6";
pub const STRIPE_SECRET: &str = "sk_test_51HarnessSecretValue";
pub const VAYU_REFRESH: &str = "vayu-refresh-token-harness-secret";
pub const VAYU_CUSTOMER: &str = "65f0c0ffee0123456789abcd";

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The real router, driven in-process: a client of the gateway's HTTP API.
pub struct Api {
    pub app: axum::Router,
    pub key: &'static str,
}

pub struct Harness {
    pub api: Api,
    pub gateway: Gateway,
    pub stripe: MockServer,
    pub vayu: MockServer,
    pub togai: MockServer,
    pub metronome: MockServer,
    pub sequence: MockServer,
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Default)]
pub struct Options {
    pub stripe_page_size: Option<usize>,
    pub vayu_page_size: Option<usize>,
    /// Vayu's configured unit; `None` leaves the default (custom `credits`).
    pub vayu_unit: Option<&'static str>,
    /// Body of an `[upstream]` table.
    pub upstream: &'static str,
    /// Body of an `[inbound]` table.
    pub inbound: &'static str,
    /// Body of a `[server]` table.
    pub server: &'static str,
    /// Lines added to the `app` key's `[[api_keys]]` entry (its own quota).
    pub app_key: &'static str,
    /// Points Stripe somewhere other than its mock.
    pub stripe_base_url: Option<String>,
    /// Points Vayu somewhere other than its mock.
    pub vayu_base_url: Option<String>,
    pub togai_page_size: Option<usize>,
    pub metronome_page_size: Option<usize>,
    pub sequence_page_size: Option<usize>,
    pub togai_concurrency: Option<usize>,
}

impl Options {
    pub fn new() -> Options {
        Options {
            vayu_unit: Some("USD"),
            ..Options::default()
        }
    }

    /// No key quota in the way: for tests that send thousands of requests.
    pub fn unlimited() -> Options {
        Options {
            inbound: "requests_per_second = 1000000\nburst = 1000000",
            ..Options::new()
        }
    }
}

/// A harness on a runtime of its own, for property tests that drive it from synchronous
/// code (`runtime.block_on(h.get(..))`).
pub fn harness_on_runtime(options: Options) -> (tokio::runtime::Runtime, Harness) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = runtime.block_on(Harness::with(options));
    (runtime, h)
}

pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

impl Harness {
    pub async fn new() -> Harness {
        Harness::with(Options::new()).await
    }

    pub async fn with(options: Options) -> Harness {
        let stripe = MockServer::start().await;
        let vayu = MockServer::start().await;
        let togai = MockServer::start().await;
        let metronome = MockServer::start().await;
        let sequence = MockServer::start().await;
        let dir = std::env::temp_dir().join(format!(
            "creditgate-test-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, value) in [
            ("cursor", "cursor-secret-for-the-test-harness-0123456789"),
            ("stripe", STRIPE_SECRET),
            ("vayu", VAYU_REFRESH),
            ("togai", "togai-secret"),
            ("metronome", METRONOME_KEY),
            ("sequence", SEQUENCE_CREDENTIALS),
        ] {
            std::fs::write(dir.join(name), value).unwrap();
        }
        let page = |p: Option<usize>| p.map(|n| format!("page_size = {n}\n")).unwrap_or_default();
        let d = dir.display();
        let text = format!(
            r#"
listen = "127.0.0.1:0"
cursor_secret = "file:{d}/cursor"

[[api_keys]]
name = "app"
key_sha256 = "{app}"
{app_key}

[[api_keys]]
name = "other-app"
tenant = "other-tenant"
key_sha256 = "{other}"

[[api_keys]]
name = "stripe-only"
key_sha256 = "{stripe_only}"
providers = ["stripe"]
customers = ["stripe:cus_1"]

[[api_keys]]
name = "writer"
key_sha256 = "{writer}"
scopes = ["read", "write"]

[store]
path = "{d}/store.redb"

[providers.stripe]
base_url = "{stripe_url}"
secret = "file:{d}/stripe"
{stripe_page}
[providers.metronome]
base_url = "{metronome_url}"
secret = "file:{d}/metronome"
credit_product_id = "{METRONOME_PRODUCT}"
{metronome_page}
[providers.sequence]
base_url = "{sequence_url}/api"
secret = "file:{d}/sequence"
sequence_account_id = "{SEQUENCE_ACCOUNT}"
{sequence_page}
[providers.togai]
base_url = "{togai_url}"
secret = "file:{d}/togai"
{togai_page}{togai_concurrency}

[providers.vayu]
base_url = "{vayu_url}"
secret = "file:{d}/vayu"
{vayu_unit}{vayu_page}
[upstream]
{upstream}

[inbound]
{inbound}

[server]
{server}

[customers.acme]
stripe = "cus_1"
vayu = "{VAYU_CUSTOMER}"

[customers.everywhere]
stripe = "cus_1"
metronome = "{METRONOME_CUSTOMER}"
sequence = "{SEQUENCE_CUSTOMER}"
togai = "ACC001"
vayu = "{VAYU_CUSTOMER}"

[customers.vayu_first]
vayu = "{VAYU_CUSTOMER}"
stripe = "cus_1"
"#,
            app = sha256_hex(API_KEY),
            other = sha256_hex(OTHER_TENANT_KEY),
            stripe_only = sha256_hex(STRIPE_ONLY_KEY),
            writer = sha256_hex(WRITER_KEY),
            stripe_url = options.stripe_base_url.clone().unwrap_or_else(|| stripe.uri()),
            app_key = options.app_key,
            inbound = options.inbound,
            server = options.server,
            vayu_url = options.vayu_base_url.clone().unwrap_or_else(|| vayu.uri()),
            stripe_page = page(options.stripe_page_size),
            vayu_page = page(options.vayu_page_size),
            vayu_unit = options
                .vayu_unit
                .map(|u| format!("unit = \"{u}\"\n"))
                .unwrap_or_default(),
            upstream = options.upstream,
            togai_url = togai.uri(),
            metronome_url = metronome.uri(),
            sequence_url = sequence.uri(),
            sequence_page = page(options.sequence_page_size),
            metronome_page = page(options.metronome_page_size),
            togai_page = page(options.togai_page_size),
            togai_concurrency = options
                .togai_concurrency
                .map(|n| format!("fan_out_concurrency = {n}\n"))
                .unwrap_or_default(),
        );
        let mut config = Config::from_toml_str(&text).unwrap();
        // The mocks have no rate limits, so the gateway does not pace its calls at the
        // vendors' documented rates unless a test sets `outbound_rate` itself.
        if !options.upstream.contains("outbound_rate") {
            config.upstream.unpaced();
        }
        let gateway = Gateway::from_config(&config).unwrap();
        Harness {
            api: Api::new(creditgate::api::router(gateway.clone()), API_KEY),
            gateway,
            stripe,
            vayu,
            togai,
            metronome,
            sequence,
            dir,
        }
    }

    pub async fn stripe_requests(&self) -> Vec<wiremock::Request> {
        self.stripe.received_requests().await.unwrap_or_default()
    }

    pub async fn vayu_requests(&self) -> Vec<wiremock::Request> {
        self.vayu.received_requests().await.unwrap_or_default()
    }
}

impl Api {
    pub fn new(app: axum::Router, key: &'static str) -> Api {
        Api { app, key }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.get_as(path, Some(self.key), &[]).await
    }

    pub async fn get_as(&self, path: &str, key: Option<&str>, headers: &[(&str, &str)]) -> TestResponse {
        let mut request = Request::get(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// Sends a request through the router and reads the whole answer.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        TestResponse { status, headers, body }
    }

    /// `POST path` with `body` (JSON text) as `key`, with an `Idempotency-Key` when given.
    pub async fn post_as(&self, path: &str, key: &str, idempotency_key: Option<&str>, body: &str) -> TestResponse {
        let mut request = Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        if let Some(k) = idempotency_key {
            request = request.header("idempotency-key", k);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap()).await
    }

    /// Follows `next_cursor` to the end; returns every page.
    pub async fn walk(&self, path: &str) -> Vec<TestResponse> {
        let mut pages = Vec::new();
        let mut url = path.to_owned();
        for _ in 0..1000 {
            let page = self.get(&url).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert_eq!(
                page.body["has_more"].as_bool().unwrap(),
                !page.body["next_cursor"].is_null()
            );
            let next = page.body["next_cursor"].as_str().map(str::to_owned);
            pages.push(page);
            match next {
                Some(cursor) => url = format!("{path}&cursor={cursor}"),
                None => return pages,
            }
        }
        panic!("walk did not end");
    }
}

impl std::ops::Deref for Harness {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A query parameter of a recorded request.
pub fn query(request: &wiremock::Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn ids(page: &TestResponse) -> Vec<String> {
    page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

// ---- Stripe ----

/// `GET /v1/billing/credit_balance_summary` for `cus_1`: 12.50 USD.
pub fn stripe_summary() -> Value {
    json!({"object": "billing.credit_balance_summary", "customer": "cus_1", "livemode": false,
           "balances": [{"available_balance": {"monetary": {"currency": "usd", "value": 1250}, "type": "monetary"},
                         "ledger_balance": {"monetary": {"currency": "usd", "value": 1250}, "type": "monetary"}}]})
}

pub fn stripe_grant(i: usize) -> Value {
    json!({
        "id": format!("credgr_{i:04}"), "object": "billing.credit_grant",
        "amount": {"monetary": {"currency": "usd", "value": 1000 + i}, "type": "monetary"},
        "applicability_config": {"scope": {"price_type": "metered"}}, "category": if i % 2 == 0 { "paid" } else { "promotional" },
        "created": 1726619434 + i, "customer": "cus_1", "customer_account": null, "effective_at": 1726619434,
        "expires_at": null, "livemode": false, "metadata": {"n": i.to_string()}, "name": format!("Grant {i}"),
        "priority": 50, "test_clock": null, "updated": 1726619434, "voided_at": null
    })
}

pub fn stripe_txn(i: usize) -> Value {
    json!({
        "id": format!("cbtxn_{i:04}"), "object": "billing.credit_balance_transaction", "created": 1726619524 + i,
        "credit": null, "credit_grant": "credgr_0001",
        "debit": {"amount": {"monetary": {"currency": "usd", "value": 100 + i}, "type": "monetary"},
                  "credits_applied": {"invoice": format!("in_{i}"), "invoice_line_item": "il_1"}, "type": "credits_applied"},
        "effective_at": 1729211351, "livemode": false, "test_clock": null, "type": "debit"
    })
}

/// Serves a Stripe list like Stripe: `limit`, `starting_after`, `ending_before`, `has_more`.
pub struct StripeList {
    pub items: Vec<Value>,
    pub url: &'static str,
}

impl Respond for StripeList {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let limit: usize = query(request, "limit").and_then(|l| l.parse().ok()).unwrap_or(10);
        let position = |id: &str| {
            self.items
                .iter()
                .position(|i| i["id"] == id)
                .expect("cursor names a known id")
        };
        let (data, has_more): (Vec<Value>, bool) = if let Some(after) = query(request, "starting_after") {
            let start = position(&after) + 1;
            let end = (start + limit).min(self.items.len());
            (self.items[start..end].to_vec(), end < self.items.len())
        } else if let Some(before) = query(request, "ending_before") {
            let end = position(&before);
            let start = end.saturating_sub(limit);
            (self.items[start..end].to_vec(), start > 0)
        } else {
            let end = limit.min(self.items.len());
            (self.items[..end].to_vec(), end < self.items.len())
        };
        ResponseTemplate::new(200)
            .set_body_json(json!({"object": "list", "url": self.url, "has_more": has_more, "data": data}))
    }
}

// ---- Vayu ----

pub fn vayu_entry(i: usize) -> Value {
    json!({
        "id": format!("65f0c0ffee01234567{i:06x}"), "createdAt": format!("2024-03-{:02}T10:00:00.000Z", 1 + i % 28),
        "type": if i % 3 == 0 { "Grant" } else { "Deduct" }, "amount": 10 + i, "balanceAfterEntry": 1000 + i,
        "integrationEntities": []
    })
}

/// Serves `GET /credits` like the spec: `cursor` = last entry id, `limit`, no next cursor.
pub struct VayuLedger {
    pub entries: Vec<Value>,
}

impl Respond for VayuLedger {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let limit: usize = query(request, "limit").and_then(|l| l.parse().ok()).unwrap_or(10);
        let start = match query(request, "cursor") {
            Some(c) => {
                self.entries
                    .iter()
                    .position(|e| e["id"] == c.as_str())
                    .expect("known cursor")
                    + 1
            }
            None => 0,
        };
        let end = (start + limit).min(self.entries.len());
        ResponseTemplate::new(200).set_body_json(json!({"entries": self.entries[start.min(end)..end]}))
    }
}

// ---- Togai ----

pub const TOGAI_KEY: &str = "togai-secret";

pub fn togai_credit(i: usize) -> Value {
    json!({
        "id": format!("cred.{i:04}.x"), "customerId": "7VcRw9xZDIqsC5E", "accountId": "ACC001",
        "purpose": format!("Credit {i}"), "effectiveFrom": "2020-07-04", "effectiveUntil": "2031-07-04",
        "status": "ACTIVE", "creditAmount": 1000 + i, "creditUnit": "USD", "holdAmount": 0, "consumedAmount": i,
        "priority": 1, "createdAt": "2020-07-04 12:00:00+00:00"
    })
}

/// `i`'s transactions: `i % 3` of them (so some credits have none).
pub fn togai_transactions(i: usize) -> Vec<Value> {
    (0..i % 3)
        .map(|t| {
            json!({"id": format!("ctx.{i:04}.{t}"), "creditId": format!("cred.{i:04}.x"),
                   "transactionType": if t == 0 { "CREDITED" } else { "DEBITED" }, "amount": 10 * (t + 1),
                   "createdAt": "2021-01-01 00:00:00+00:00"})
        })
        .collect()
}

/// Serves `GET /credits` like Togai: `pageSize`, `nextToken`, and, with `trailing_token`,
/// a token on the last page that leads to an empty page.
pub struct TogaiCredits {
    pub credits: Vec<Value>,
    pub trailing_token: bool,
}

impl Respond for TogaiCredits {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let size: usize = query(request, "pageSize").and_then(|l| l.parse().ok()).unwrap_or(10);
        let start: usize = query(request, "nextToken")
            .map(|t| t.trim_start_matches("tok").parse().unwrap())
            .unwrap_or(0);
        let end = (start + size).min(self.credits.len());
        let data = &self.credits[start.min(end)..end];
        let token = if end < self.credits.len() || (self.trailing_token && start < self.credits.len()) {
            json!(format!("tok{end}"))
        } else {
            Value::Null
        };
        let mut body = json!({"data": data});
        if !token.is_null() {
            body["nextToken"] = token;
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

// ---- Metronome ----

pub const METRONOME_KEY: &str = "metronome-bearer-secret";
pub const METRONOME_CUSTOMER: &str = "13117714-3f05-48e5-a6e9-a66093f13b4d";

pub fn metronome_credit(i: usize) -> Value {
    json!({
        "id": format!("00000000-0000-4000-8000-{i:012}"), "type": "CREDIT", "name": format!("Credit {i}"), "priority": 100,
        "product": {"id": "2e30f074-d04c-412e-a134-851ebfa5ceb2", "name": "My product A"},
        "access_schedule": {"credit_type": {"id": "2714e483-4ff1-48e4-9e25-ac732e8f24f2", "name": "USD (cents)"},
            "schedule_items": [{"id": "2d45952c-5a6e-43a9-8aab-f61ee21be81a", "amount": 1000 + i,
                                "starting_at": "2024-01-01T00:00:00.000Z", "ending_before": "2099-01-01T00:00:00.000Z"}]},
        "balance": 500 + i,
        "ledger": (0..i % 3).map(|t| json!({"type": if t == 0 { "CREDIT_SEGMENT_START" } else { "CREDIT_AUTOMATED_INVOICE_DEDUCTION" },
            "timestamp": "2024-01-01T00:00:00.000Z", "amount": 100, "segment_id": "2d45952c-5a6e-43a9-8aab-f61ee21be81a",
            "invoice_id": "525b9759-7bbd-4a05-aab1-d7c43c976b57"})).collect::<Vec<_>>()
    })
}

/// Serves `POST /v1/contracts/customerCredits/list` like Metronome: body `limit` and
/// `next_page`; `next_page` null at the end; ledgers and balances only when asked for.
pub struct MetronomeCredits {
    pub credits: Vec<Value>,
}

impl Respond for MetronomeCredits {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let limit = body["limit"].as_u64().unwrap() as usize;
        if !(1..=25).contains(&limit) {
            return ResponseTemplate::new(400).set_body_json(json!({"message": "limit must be between 1 and 25"}));
        }
        let start: usize = body["next_page"]
            .as_str()
            .map_or(0, |t| t.trim_start_matches("p").parse().unwrap());
        let mut credits: Vec<Value> = self.credits.clone();
        if let Some(id) = body["credit_id"].as_str() {
            credits.retain(|c| c["id"] == id);
        }
        let end = (start + limit).min(credits.len());
        let data: Vec<Value> = credits[start.min(end)..end]
            .iter()
            .map(|c| {
                let mut c = c.clone();
                let object = c.as_object_mut().unwrap();
                if body["include_ledgers"] != true {
                    object.remove("ledger");
                }
                if body["include_balance"] != true {
                    object.remove("balance");
                }
                c
            })
            .collect();
        let next = if end < credits.len() {
            json!(format!("p{end}"))
        } else {
            Value::Null
        };
        ResponseTemplate::new(200).set_body_json(json!({"data": data, "next_page": next}))
    }
}

// ---- Sequence ----

pub const SEQUENCE_CREDENTIALS: &str = "seq_client_id:seq-client-secret";
pub const SEQUENCE_CUSTOMER: &str = "61b083e0-1faa-47ca-9aeb-6205da8f6c47";

pub fn sequence_grant(i: usize) -> Value {
    json!({
        "id": format!("00000000-0000-4000-9000-{i:012}"), "sequenceAccountId": "dce9ae85-d8d0-42b4-bcad-f221a64363c6",
        "customerId": SEQUENCE_CUSTOMER, "name": format!("Grant {i}"), "creditUnitType": "CURRENCY", "currency": "GBP",
        "amount": 10 + i, "costOfCredit": 10, "effectiveDate": "2023-01-01", "expiryDate": "2099-01-31",
        "createdAt": "2022-10-07T14:12:08.826121Z", "integrationIds": []
    })
}

/// Serves `GET /api/credits` like Sequence: `limit`, `after`, `before`, and
/// `pagination.{after,before,totalResultSize}` (tokens here are `c<index>`).
pub struct SequenceCredits {
    pub grants: Vec<Value>,
}

impl Respond for SequenceCredits {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let limit: usize = query(request, "limit").and_then(|l| l.parse().ok()).unwrap_or(20);
        let index = |t: String| t.trim_start_matches('c').parse::<usize>().unwrap();
        let n = self.grants.len();
        let (start, end) = match (query(request, "after").map(index), query(request, "before").map(index)) {
            (Some(after), _) => (after, (after + limit).min(n)),
            (None, Some(before)) => (before.saturating_sub(limit), before),
            (None, None) => (0, limit.min(n)),
        };
        let mut pagination = json!({"totalResultSize": n});
        if end < n {
            pagination["after"] = json!(format!("c{end}"));
        }
        if start > 0 {
            pagination["before"] = json!(format!("c{start}"));
        }
        ResponseTemplate::new(200).set_body_json(json!({"items": self.grants[start..end], "pagination": pagination}))
    }
}

/// `GET /credits/{id}`: the credit with its transactions (credit `i` has `i % 3`).
pub struct TogaiCreditDetails {
    pub delay: std::time::Duration,
}

impl Respond for TogaiCreditDetails {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let id = request.url.path().trim_start_matches("/credits/");
        let i: usize = id.trim_start_matches("cred.").trim_end_matches(".x").parse().unwrap();
        let mut credit = togai_credit(i);
        credit["transactions"] = json!(togai_transactions(i));
        ResponseTemplate::new(200).set_delay(self.delay).set_body_json(credit)
    }
}

pub async fn mount_stripe_grants(h: &Harness, n: usize) {
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(StripeList {
            items: (0..n).map(stripe_grant).collect(),
            url: "/v1/billing/credit_grants",
        })
        .mount(&h.stripe)
        .await;
}

pub async fn mount_vayu(h: &Harness, n: usize) {
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "tok"})))
        .mount(&h.vayu)
        .await;
    Mock::given(method("GET"))
        .and(path("/credits"))
        .respond_with(VayuLedger {
            entries: (0..n).map(vayu_entry).collect(),
        })
        .mount(&h.vayu)
        .await;
}

/// Mounts a small data set at every vendor for `[customers.everywhere]`.
pub async fn mount_all_five(h: &Harness) {
    Mock::given(path("/v1/billing/credit_balance_transactions"))
        .respond_with(StripeList {
            items: (0..3).map(stripe_txn).collect(),
            url: "/v1/billing/credit_balance_transactions",
        })
        .mount(&h.stripe)
        .await;
    mount_stripe_grants(h, 2).await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stripe/credit_balance_summary.stripe-mock.json")),
        )
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/contracts/customerCredits/list"))
        .respond_with(MetronomeCredits {
            credits: (0..4).map(metronome_credit).collect(),
        })
        .mount(&h.metronome)
        .await;
    let seq_grant = "00000000-0000-4000-9000-000000000001";
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{
            "id": "GBP", "type": "CASH", "name": "GBP", "balance": "7",
            "grants": [{"id": seq_grant, "customerId": SEQUENCE_CUSTOMER, "type": "CASH", "currency": "GBP", "name": "GBP",
                        "originalAmount": "10", "currentBalance": "7", "costOfCredit": "10", "createdAt": "2024-01-01T00:00:00Z",
                        "sequenceAccountId": "a507e782-d26b-4d34-92b9-aacd1667e1f0"}],
            "transactions": [{"id": "s1", "grantId": seq_grant, "type": "CREDIT", "amount": "10", "date": "2024-01-01"},
                             {"id": "s2", "grantId": seq_grant, "type": "DEBIT", "amount": "3", "date": "2024-01-02"}]}]})))
        .mount(&h.sequence)
        .await;
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/grants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{
            "id": seq_grant, "name": "Welcome", "grantAmount": 10, "balance": 7, "issueDate": "2024-01-01"}]})))
        .mount(&h.sequence)
        .await;
    Mock::given(path("/credits"))
        .respond_with(TogaiCredits {
            credits: (0..3).map(togai_credit).collect(),
            trailing_token: true,
        })
        .mount(&h.togai)
        .await;
    Mock::given(wiremock::matchers::path_regex(r"^/credits/cred\.[0-9]{4}\.x$"))
        .respond_with(TogaiCreditDetails {
            delay: std::time::Duration::ZERO,
        })
        .mount(&h.togai)
        .await;
    Mock::given(path("/accounts/ACC001/credit_balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("togai/credit_balance.spec-example.json")))
        .mount(&h.togai)
        .await;
    mount_vayu(h, 2).await;
}
