//! The replicas of `tests/replicas.rs`: a `redis-server` of the test's own and several
//! `creditgate serve` processes over the demo's simulators, sharing it.

use creditgate_sim::demo::{Demo, DEMO_API_KEY};
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own, keeping its data in an append-only file so that a
/// restart finds the records again (as a production Redis for creditgate should).
pub struct Redis {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl Redis {
    pub fn start(name: &str) -> Redis {
        ensure_redis_installed();
        let dir = std::env::temp_dir().join(format!("creditgate-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let mut redis = Redis { child: None, port, dir };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and data directory, and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The tests of this file measure rates and windows: run one at a time, so that one's load
/// (the quota test's hammering) is not another's jitter. (`cargo test` runs a binary's
/// tests on threads; `.config/nextest.toml` puts them in a group of one for nextest.)
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// `redis-server` must be on the machine: `scripts/test.sh` (the README's test command)
/// installs it with scripts/install-redis.sh; a test installs nothing itself.
pub fn ensure_redis_installed() {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "redis-server is missing: run `bash scripts/test.sh` (or scripts/install-redis.sh) first"
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `creditgate serve` process; its log (warnings and up) is kept for the test to read.
pub struct Replica {
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<String>>,
}

impl Replica {
    pub fn start(config: &Path) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_creditgate"))
            .args(["serve", "--config"])
            .arg(config)
            .env("CREDITGATE_LISTEN", "127.0.0.1:0")
            .env("CREDITGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("creditgate serve starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.trim().strip_prefix("creditgate listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the replica did not start: {}", log.lock().unwrap()));
        Replica { child, base, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Five simulators, a config over them sharing `redis` (plus `extra` TOML), and `n`
/// replicas serving it.
pub struct Cluster {
    pub demo: Demo,
    pub replicas: Vec<Replica>,
    pub http: reqwest::Client,
    pub _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory for this process and `name`.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("creditgate-replicas-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Redis timeout for the tests that measure shared counting rather than outages: on a
/// loaded 2-core CI machine a Redis answer can take longer than the default 50 ms, and a
/// replica then (correctly) falls back to counting on its own.
pub const PATIENT: Option<u64> = Some(1000);

/// `extra`: more TOML; `timeout_ms`: `[redis] timeout_ms`, the default when `None`.
pub async fn cluster(
    name: &str,
    redis: &Redis,
    rate_limit: RateLimit,
    extra: &str,
    timeout_ms: Option<u64>,
    n: usize,
) -> Cluster {
    let options = SimOptions {
        seed: 16,
        customers: 2,
        entries_per_customer: 6,
        rate_limit,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    let temp = TempDir::new(name);
    let dir = temp.0.clone();
    std::fs::write(dir.join("redis-url"), redis.url()).unwrap();
    let timeout = timeout_ms.map(|ms| format!("timeout_ms = {ms}\n")).unwrap_or_default();
    let config = format!(
        "{}\n{extra}\n[redis]\nurl = \"file:{}\"\n{timeout}",
        demo.config_toml("127.0.0.1:0", None),
        dir.join("redis-url").display()
    );
    let path = dir.join("creditgate.toml");
    std::fs::write(&path, config).unwrap();
    let replicas = (0..n).map(|_| Replica::start(&path)).collect();
    Cluster {
        demo,
        replicas,
        http: reqwest::Client::new(),
        _dir: temp,
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Cluster {
    pub fn customer(&self, vendor: Vendor) -> String {
        format!("{vendor}:{}", self.demo.simulator(vendor).customer_id(0))
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .header("authorization", format!("Bearer {DEMO_API_KEY}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Answer { status, headers, body }
    }

    pub async fn get(&self, replica: usize, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.replicas[replica].base)))
            .await
    }

    pub async fn post(&self, replica: usize, path: &str, key: &str, body: &Value) -> Answer {
        let request = self
            .http
            .post(format!("{}{path}", self.replicas[replica].base))
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request).await
    }

    pub async fn balance(&self, replica: usize, vendor: Vendor) -> Decimal {
        let page = self
            .get(
                replica,
                &format!("/v1/credit_balances?customer={}", self.customer(vendor)),
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body["data"][0]["available"]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub fn new_grant(&self, vendor: Vendor, value: &str) -> Value {
        let unit = if vendor == Vendor::Sequence { "GBP" } else { "USD" };
        json!({
            "customer": self.customer(vendor),
            "amount": {"value": value, "unit": unit},
            "name": "Replicated credits",
            "expires_at": "2031-01-01T00:00:00Z",
        })
    }

    pub async fn readyz(&self, replica: usize) -> Value {
        self.get(replica, "/readyz").await.body
    }

    /// A browser of the console: cookies sent by hand, redirects not followed.
    pub fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs in to the console of `replica` with the demo key: the session cookie, `name=value`.
    pub async fn console_sign_in(&self, replica: usize) -> String {
        let base = &self.replicas[replica].base;
        let form = Self::browser()
            .get(format!("{base}/console/sign-in"))
            .send()
            .await
            .unwrap();
        let form_cookie = set_cookie(&form, "creditgate_sign_in");
        let csrf = form_field(&form.text().await.unwrap(), "csrf");
        let form = format!("csrf={csrf}&next=%2Fconsole%2Fproviders&key={DEMO_API_KEY}");
        let signed = self
            .console_post(replica, "/console/sign-in", &form_cookie, &form)
            .await;
        assert_eq!(signed.status(), 303);
        set_cookie(&signed, "creditgate_session")
    }

    /// Posts `form` to the console's `path` on `replica` with `cookie` (`name=value`).
    pub async fn console_post(&self, replica: usize, path: &str, cookie: &str, form: &str) -> reqwest::Response {
        Self::browser()
            .post(format!("{}{path}", self.replicas[replica].base))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap()
    }
}

/// `name=value` of the `Set-Cookie` of `response` that sets `name`.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    let line = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"));
    line.split(';').next().unwrap().to_owned()
}

/// The value of `name="<field>" value="…"` in a page.
pub fn form_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).map(|i| i + marker.len()).expect(name);
    page[start..].split('"').next().unwrap().to_owned()
}
