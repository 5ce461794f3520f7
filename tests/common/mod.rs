//! Test harness: a real gateway whose Stripe and Vayu base URLs point at wiremock servers,
//! driven through the real application.
#![allow(dead_code)]

pub mod conformance;
pub mod eventing;
pub mod faults;
pub mod fidelity;
mod mocks;
pub mod process;
pub mod receiver;
pub mod stripe;
pub mod world;
pub mod writing;

pub use mocks::*;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use creditgate::{Config, Gateway};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use wiremock::MockServer;

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
/// The webhook signing secret of every vendor that signs, with [`Options::webhook_secrets`].
pub const WEBHOOK_SECRET: &str = "whsec_harness_webhook_secret";

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The real application (`creditgate::api::app`), driven in-process: a client of the
/// gateway's HTTP API.
pub struct Api {
    pub app: AnyApp,
    pub key: &'static str,
}

/// An HTTP application of any type, as [`Api`] drives it.
pub type AnyApp = tower::util::BoxCloneSyncService<Request<Body>, axum::response::Response, std::convert::Infallible>;

pub struct Harness {
    pub api: Api,
    pub gateway: Gateway,
    pub stripe: MockServer,
    pub vayu: MockServer,
    pub togai: MockServer,
    pub metronome: MockServer,
    pub sequence: MockServer,
    /// A mock server for every other vendor of the registry, by name (see [`OTHER_VENDORS`]).
    pub others: std::collections::BTreeMap<&'static str, MockServer>,
    dir: std::path::PathBuf,
}

/// The vendors the harness names (its fields, their secrets and config tables). Every other
/// vendor of the registry gets a mock server in `others` and a `[providers.<vendor>]` table
/// made from its simulator's demo settings (base path, own keys) with
/// [`harness_secret`], so a new vendor is served here without an edit to this file.
const NAMED_VENDORS: [&str; 5] = ["stripe", "metronome", "sequence", "togai", "vayu"];

/// The vendors beyond [`NAMED_VENDORS`].
pub fn other_vendors() -> Vec<creditgate_sim::Vendor> {
    creditgate_sim::Vendor::ALL
        .into_iter()
        .filter(|v| !NAMED_VENDORS.contains(&v.as_str()))
        .collect()
}

/// The credential the harness configures for a vendor of `others`.
pub fn harness_secret(vendor: &str) -> String {
    format!("harness-secret-{vendor}")
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
    /// [`WEBHOOK_SECRET`] as every `webhook_secret`; Vayu's key `fixtures/vayu/webhook-test-key.pub.pem`.
    pub webhook_secrets: bool,
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
            ("whsec", WEBHOOK_SECRET),
        ] {
            std::fs::write(dir.join(name), value).unwrap();
        }
        let page = |p: Option<usize>| p.map(|n| format!("page_size = {n}\n")).unwrap_or_default();
        let d = dir.display();
        let (webhook, vayu_webhook) = match options.webhook_secrets {
            true => (
                format!("webhook_secret = \"file:{d}/whsec\"\n"),
                format!("webhook_public_key = \"file:{FIXTURES}/vayu/webhook-test-key.pub.pem\"\n"),
            ),
            false => Default::default(),
        };
        let mut others = std::collections::BTreeMap::new();
        let mut other_tables = String::new();
        for vendor in other_vendors() {
            let server = MockServer::start().await;
            std::fs::write(dir.join(vendor.as_str()), harness_secret(vendor.as_str())).unwrap();
            other_tables += &format!(
                "\n[providers.{vendor}]\nbase_url = \"{}{}\"\nsecret = \"file:{d}/{vendor}\"\n{}{}",
                server.uri(),
                vendor.base_path(),
                vendor.demo_config(),
                if vendor.as_str() == "lago" {
                    webhook.as_str()
                } else {
                    ""
                }
            );
            others.insert(vendor.as_str(), server);
        }
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
{webhook}{stripe_page}
[providers.metronome]
base_url = "{metronome_url}"
secret = "file:{d}/metronome"
credit_product_id = "{METRONOME_PRODUCT}"
{webhook}{metronome_page}
[providers.sequence]
base_url = "{sequence_url}/api"
secret = "file:{d}/sequence"
sequence_account_id = "{SEQUENCE_ACCOUNT}"
{webhook}{sequence_page}
[providers.togai]
base_url = "{togai_url}"
secret = "file:{d}/togai"
{togai_page}{togai_concurrency}

[providers.vayu]
base_url = "{vayu_url}"
secret = "file:{d}/vayu"
{vayu_unit}{vayu_page}{vayu_webhook}
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
{other_tables}"#,
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
            api: Api::new(creditgate::api::app(gateway.clone()), API_KEY),
            gateway,
            stripe,
            vayu,
            togai,
            metronome,
            sequence,
            others,
            dir,
        }
    }

    /// The mock server of `vendor` (`stripe`, ...), named or not.
    pub fn mock(&self, vendor: &str) -> &MockServer {
        match vendor {
            "stripe" => &self.stripe,
            "metronome" => &self.metronome,
            "sequence" => &self.sequence,
            "togai" => &self.togai,
            "vayu" => &self.vayu,
            other => &self.others[other],
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
    /// A client of `app`: `creditgate::api::app`, or any other service over requests (the
    /// bare router, or an empty one standing in while a gateway is rebuilt).
    pub fn new<S>(app: S, key: &'static str) -> Api
    where
        S: tower::Service<Request<Body>, Response = axum::response::Response, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        Api {
            app: AnyApp::new(app),
            key,
        }
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

    /// Sends a request through the application and reads the whole answer.
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
