//! Local stand-ins for the vendors creditgate speaks to, faithful to their OpenAPI
//! specs (listed in creditgate's README, "Vendors"): paths, auth, paging style and page
//! limits, quirks, error bodies and rate limits. A crate of its own, so the gateway
//! library holds no fake vendor.
//!
//! They serve the test suite, `creditgate serve --demo` and the benchmarks from one
//! deterministic [`book::Book`] per seed. One file per vendor renders that book in the
//! vendor's dialect; this file holds what they share: options, the fault knobs, the rate
//! window, and the ground truth the end-to-end tests compare the gateway against.

// Handlers return the vendor's error answer as their `Err`: a `Response` is large, but a
// simulator builds one per request, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

pub mod book;
pub mod demo;
mod push;

use std::collections::BTreeMap;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rust_decimal::Decimal;
use serde_json::Value;

use book::{Book, SplitMix};

/// Makes, from the list of simulated vendors (`Variant module`, the same names as
/// creditgate's registry, `creditgate::model::for_each_vendor`): the modules, [`Vendor`],
/// and its dispatch to each module's `routes`, `customer_id`, `error`, `truth`, `push`,
/// `credential`, `BASE_PATH` and `demo_config`. The rate a simulator enforces is read from
/// the vendor's own `providers/<vendor>.toml`, the file creditgate paces itself by.
macro_rules! simulated_vendors {
    ($($variant:ident $module:ident,)+) => {
        $(mod $module;)+

        /// The vendors simulated.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Vendor {
            $($variant,)+
        }

        impl Vendor {
            pub const ALL: [Vendor; [$(stringify!($variant)),+].len()] = [$(Vendor::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Vendor::$variant => stringify!($module),)+
                }
            }

            fn routes(self) -> Router<Arc<SimState>> {
                match self {
                    $(Vendor::$variant => $module::routes(),)+
                }
            }

            fn customer_id(self, seed: u64, index: usize) -> String {
                match self {
                    $(Vendor::$variant => $module::customer_id(seed, index),)+
                }
            }

            fn error(self, error: VendorError) -> Response {
                match self {
                    $(Vendor::$variant => $module::error(error),)+
                }
            }

            fn truth(self, book: &Book, index: usize) -> Truth {
                match self {
                    $(Vendor::$variant => $module::truth(book, index),)+
                }
            }

            /// The signed webhooks the vendor sends for ledger entry `j` of `c`.
            fn push(self, seed: u64, c: &book::Customer, j: usize, secret: &str) -> Vec<push::Push> {
                match self {
                    $(Vendor::$variant => $module::push(seed, c, j, secret),)+
                }
            }

            fn credential(self, seed: u64) -> String {
                match self {
                    $(Vendor::$variant => $module::credential(seed),)+
                }
            }

            /// Where the vendor's API sits under its host (Sequence's is under `/api`).
            pub fn base_path(self) -> &'static str {
                match self {
                    $(Vendor::$variant => $module::BASE_PATH,)+
                }
            }

            /// The vendor's own keys of a creditgate `[providers.<vendor>]` table over the
            /// simulator, as TOML lines.
            pub fn demo_config(self) -> String {
                match self {
                    $(Vendor::$variant => $module::demo_config(),)+
                }
            }

            /// `providers/<vendor>.toml`, creditgate's facts about the vendor.
            fn provider_file(self) -> &'static str {
                match self {
                    $(Vendor::$variant => include_str!(concat!("../../providers/", stringify!($module), ".toml")),)+
                }
            }
        }
    };
}

simulated_vendors! {
    Stripe stripe,
    Metronome metronome,
    Sequence sequence,
    Togai togai,
    Vayu vayu,
    Lago lago,
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Vendor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Vendor::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Vendor::ALL.iter().map(|v| v.as_str()).collect();
            format!("unknown vendor `{s}` (expected one of {})", names.join(", "))
        })
    }
}

/// How a simulator is sized and how badly it behaves.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    pub customers: usize,
    pub entries_per_customer: usize,
    /// Grants per customer; one to three, drawn from the seed, when `None`.
    pub grants_per_customer: Option<usize>,
    pub rate_limit: RateLimit,
    pub faults: Faults,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            seed: 1,
            customers: 5,
            entries_per_customer: 40,
            grants_per_customer: None,
            rate_limit: RateLimit::Vendor,
            faults: Faults::default(),
        }
    }
}

/// Requests a second the simulator accepts from its credential before answering 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// The vendor's documented rate.
    Vendor,
    PerSecond(u32),
    Off,
}

/// Fault knobs. Rates are fractions of requests in `0.0..=1.0`, drawn from a generator
/// seeded by the simulator's seed, so a run's faults are reproducible.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added before every answer.
    pub latency: Duration,
    /// Answered with the vendor's 500 body.
    pub error_rate: f64,
    /// Answered with the vendor's 429 body, as if over the rate limit.
    pub rate_limited_rate: f64,
    /// Answered 200 with the real body cut in half.
    pub malformed_rate: f64,
    /// The first this many writes are applied, then their connection is dropped without
    /// an answer: the client cannot tell whether they happened.
    pub write_drops: u32,
}

/// The errors every vendor has its own body for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VendorError {
    Unauthorized,
    RateLimited,
    Internal,
}

/// What one simulator instance knows: its vendor, data, options and counters.
#[derive(Debug)]
struct SimState {
    vendor: Vendor,
    /// Read by every list; changed by writes.
    book: RwLock<Book>,
    seed: u64,
    options: SimOptions,
    credential: String,
    window: RateWindow,
    requests: AtomicU64,
    /// Vayu's issued access tokens and their expiry (unix seconds).
    sessions: Mutex<BTreeMap<String, i64>>,
    /// Stripe's idempotency keys and what they were first used for.
    replays: Mutex<HashMap<String, Replay>>,
    /// Writes still to drop (see [`Faults::write_drops`]).
    write_drops: AtomicU32,
    /// Writes still to apply late, and how late (see [`Simulator::delay_next_writes`]).
    late_writes: Mutex<(u32, Duration)>,
    /// Writes still to refuse with a 500, unapplied (see [`Simulator::fail_next_writes`]).
    failing_writes: AtomicU32,
}

impl SimState {
    fn book(&self) -> RwLockReadGuard<'_, Book> {
        self.book.read().unwrap_or_else(|p| p.into_inner())
    }

    fn book_mut(&self) -> RwLockWriteGuard<'_, Book> {
        self.book.write().unwrap_or_else(|p| p.into_inner())
    }

    fn customer_index(&self, id: &str) -> Option<usize> {
        (0..self.book().customers.len()).find(|&i| self.vendor.customer_id(self.seed, i) == id)
    }

    /// Whether `request` is a write to refuse unapplied (see [`Simulator::fail_next_writes`]).
    fn failing_write(&self, request: &Request) -> bool {
        is_write(request)
            && self
                .failing_writes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
    }

    /// How late to apply `request` if it is a write and writes are being delayed.
    fn late_write(&self, request: &Request) -> Option<Duration> {
        let mut late = self.late_writes.lock().unwrap_or_else(|p| p.into_inner());
        if !is_write(request) || late.0 == 0 {
            return None;
        }
        late.0 -= 1;
        Some(late.1)
    }

    /// The answer to an applied write, or, while [`Faults::write_drops`] lasts, none: the
    /// body fails before its first byte, so the connection is dropped.
    fn answer_write(&self, response: Response) -> Response {
        let drop = self
            .write_drops
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !drop {
            return response;
        }
        let failing = futures_util::stream::once(async {
            Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped after the write"))
        });
        Response::new(Body::from_stream(failing))
    }
}

/// A request made under an idempotency key: its body and its answer.
#[derive(Debug, Clone)]
struct Replay {
    body: Vec<u8>,
    status: StatusCode,
    answer: Value,
}

/// Now, as unix seconds: when a write happens.
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A fixed one-second window: the simplest faithful model of "N requests a second".
#[derive(Debug)]
struct RateWindow {
    per_second: Option<u32>,
    started: Instant,
    /// (second since start, requests in it)
    current: Mutex<(u64, u32)>,
    /// Requests refused with 429 for the rate.
    refused: AtomicU64,
    /// When the latest requests arrived (at most [`ARRIVALS_KEPT`]), to measure the
    /// busiest second.
    arrivals: Mutex<VecDeque<Instant>>,
}

/// Arrivals a rate window remembers.
const ARRIVALS_KEPT: usize = 100_000;

impl RateWindow {
    fn new(per_second: Option<u32>) -> RateWindow {
        RateWindow {
            per_second,
            started: Instant::now(),
            current: Mutex::new((0, 0)),
            refused: AtomicU64::new(0),
            arrivals: Mutex::new(VecDeque::new()),
        }
    }

    /// The most requests that arrived within any one second (sliding), among the latest
    /// [`ARRIVALS_KEPT`].
    fn busiest_second(&self) -> usize {
        let arrivals = self.arrivals.lock().expect("arrivals lock");
        let mut busiest = 0;
        let mut start = 0;
        for (end, at) in arrivals.iter().enumerate() {
            while at.duration_since(arrivals[start]) >= Duration::from_secs(1) {
                start += 1;
            }
            busiest = busiest.max(end + 1 - start);
        }
        busiest
    }

    /// Takes one request; `Err(seconds to wait)` when the window is full.
    fn take(&self) -> Result<(), u64> {
        let Some(limit) = self.per_second else {
            return Ok(());
        };
        {
            let mut arrivals = self.arrivals.lock().expect("arrivals lock");
            if arrivals.len() == ARRIVALS_KEPT {
                arrivals.pop_front();
            }
            arrivals.push_back(Instant::now());
        }
        let second = self.started.elapsed().as_secs();
        let mut current = self.current.lock().expect("rate window lock");
        if current.0 != second {
            *current = (second, 0);
        }
        if current.1 >= limit {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(1);
        }
        current.1 += 1;
        Ok(())
    }
}

/// A vendor simulator: build it, ask it for its credential and customer ids, then serve it.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<SimState>,
}

impl Simulator {
    pub fn new(vendor: Vendor, options: SimOptions) -> Simulator {
        let book = Book::generate_with(
            options.seed,
            options.customers,
            options.entries_per_customer,
            options.grants_per_customer,
        );
        let per_second = match options.rate_limit {
            RateLimit::Vendor => Some(documented_rate(vendor)),
            RateLimit::PerSecond(n) => Some(n),
            RateLimit::Off => None,
        };
        Simulator {
            state: Arc::new(SimState {
                vendor,
                credential: vendor.credential(options.seed),
                book: RwLock::new(book),
                seed: options.seed,
                write_drops: AtomicU32::new(options.faults.write_drops),
                late_writes: Mutex::new((0, Duration::ZERO)),
                failing_writes: AtomicU32::new(0),
                options,
                window: RateWindow::new(per_second),
                requests: AtomicU64::new(0),
                sessions: Mutex::new(BTreeMap::new()),
                replays: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn vendor(&self) -> Vendor {
        self.state.vendor
    }

    /// The secret the gateway must be configured with: Stripe's secret key, Metronome's and
    /// Togai's bearer tokens, Sequence's `clientId:clientSecret`, Vayu's refresh token.
    pub fn credential(&self) -> &str {
        &self.state.credential
    }

    /// The vendor's id of simulated customer `index` (Togai: the account id).
    pub fn customer_id(&self, index: usize) -> String {
        self.state.vendor.customer_id(self.state.seed, index)
    }

    /// The next `n` writes are applied, then their connection is dropped (see
    /// [`Faults::write_drops`]).
    pub fn drop_next_writes(&self, n: u32) {
        self.state.write_drops.store(n, Ordering::Release);
    }

    /// The next `n` writes wait `delay` before they are applied and answered: a client
    /// that gave up on them meanwhile cannot tell whether they happened, and they land
    /// after it gave up, as a vendor under load may apply a request late.
    pub fn delay_next_writes(&self, n: u32, delay: Duration) {
        *self.state.late_writes.lock().unwrap_or_else(|p| p.into_inner()) = (n, delay);
    }

    /// The next `n` writes are answered with the vendor's 500 and not applied: the client
    /// cannot tell them from writes that happened.
    pub fn fail_next_writes(&self, n: u32) {
        self.state.failing_writes.store(n, Ordering::Release);
    }

    /// Grants of customer `index` made by writes (ended ones included).
    pub fn written_grants(&self, index: usize) -> usize {
        self.state
            .book()
            .customer(index)
            .map_or(0, |c| c.grants.iter().filter(|g| g.written.is_some()).count())
    }

    /// Requests refused with 429 because they came faster than the rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.state.window.refused.load(Ordering::Relaxed)
    }

    /// Forgets the arrivals and refusals counted so far (a test's warm-up).
    pub fn reset_rate_counts(&self) {
        let window = &self.state.window;
        window.arrivals.lock().expect("arrivals lock").clear();
        window.refused.store(0, Ordering::Relaxed);
    }

    /// With a rate limit: the most requests that arrived within any one second.
    pub fn busiest_second(&self) -> usize {
        self.state.window.busiest_second()
    }

    /// Requests answered so far (faults and refusals included).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The vendor's API, with its rate limit and the fault knobs in front.
    pub fn router(&self) -> Router {
        self.state
            .vendor
            .routes()
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(self.state.clone(), misbehave))
            .with_state(self.state.clone())
    }

    /// Serves on `addr` (port 0 picks a free one) in the background; returns where.
    pub async fn spawn(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RunningSimulator { addr, task })
    }

    /// What the gateway should answer for customer `index`: the simulator's own ledger in
    /// the normalized ids, units and signs.
    pub fn truth(&self, index: usize) -> Truth {
        let book = &*self.state.book();
        self.state.vendor.truth(book, index)
    }
}

/// A simulator serving in the background; dropping it stops it.
#[derive(Debug)]
pub struct RunningSimulator {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSimulator {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Normalized ids → (exact amount, unit), and unit → balance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    /// Empty for vendors without grants (Vayu).
    pub grants: BTreeMap<String, (Decimal, String)>,
    /// Signed amounts: positive raises the balance.
    pub ledger: BTreeMap<String, (Decimal, String)>,
    /// Per grant: the ids of its ledger entries.
    pub ledger_by_grant: BTreeMap<String, Vec<String>>,
    pub balances: BTreeMap<String, Decimal>,
}

/// Requests a second the vendor documents per credential, from `[rate_limit]` of its
/// provider file (the simulator's key is a test-mode key where the vendor has a lower rate
/// for those, as Stripe does).
fn documented_rate(vendor: Vendor) -> u32 {
    let file: toml::Table = toml::from_str(vendor.provider_file()).expect("the provider files parse");
    let rate = &file["rate_limit"];
    let number = |name: &str| rate.get(name).and_then(toml::Value::as_integer);
    let requests = number("test_mode_requests")
        .or(number("requests"))
        .expect("[rate_limit] requests");
    let per_secs = number("per_secs").expect("[rate_limit] per_secs").max(1);
    u32::try_from(requests / per_secs).unwrap_or(u32::MAX).max(1)
}

/// Every vendor's writes are a `POST` or `DELETE`; its reads by `POST` are lists and logins.
fn is_write(request: &Request) -> bool {
    let (method, path) = (request.method(), request.uri().path());
    method == axum::http::Method::DELETE
        || (method == axum::http::Method::POST && !path.ends_with("/list") && path != "/login")
}

/// The rate window and the fault knobs, in front of every route.
async fn misbehave(State(state): State<Arc<SimState>>, request: Request, next: Next) -> Response {
    let n = state.requests.fetch_add(1, Ordering::Relaxed);
    let faults = &state.options.faults;
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if let Err(wait) = state.window.take() {
        let mut response = state.vendor.error(VendorError::RateLimited);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let mut dice = SplitMix::new(book::mix(state.options.seed, &[n, 0xFA17]));
    if dice.unit() < faults.rate_limited_rate {
        return state.vendor.error(VendorError::RateLimited);
    }
    if dice.unit() < faults.error_rate {
        return state.vendor.error(VendorError::Internal);
    }
    let malformed = dice.unit() < faults.malformed_rate;
    if state.failing_write(&request) {
        return state.vendor.error(VendorError::Internal);
    }
    let response = match state.late_write(&request) {
        // Applied even if the client hangs up meanwhile, as a vendor would.
        Some(delay) => {
            let late = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                next.run(request).await
            });
            match late.await {
                Ok(response) => response,
                Err(_) => return state.vendor.error(VendorError::Internal),
            }
        }
        None => next.run(request).await,
    };
    if !malformed {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    let mut response = Response::from_parts(parts, Body::from(cut));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"message": "Not Found"})),
    )
        .into_response()
}

// ---- helpers the vendor files share ----

/// A JSON response with a status.
fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The query string's pairs, decoded, in order.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `Authorization: Bearer <token>`'s token.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// An exact decimal as a JSON number (serde_json keeps every digit with
/// `arbitrary_precision`).
fn number(value: Decimal) -> Value {
    Value::Number(value.to_string().parse().expect("a decimal is a JSON number"))
}

/// A positive JSON number as a whole count of `10^-exponent` units (pence, cents), or
/// `None` if it is not positive or finer than that.
fn minor_units(value: &Value, exponent: u32) -> Option<i64> {
    let value: Decimal = value.as_number()?.to_string().parse().ok()?;
    let minor = value.checked_mul(Decimal::from(10i64.checked_pow(exponent)?))?;
    (minor.fract().is_zero() && minor > Decimal::ZERO)
        .then(|| minor.normalize().to_string().parse().ok())
        .flatten()
}

/// `minor` in units of `10^-exponent`.
fn major(minor: i64, exponent: u32) -> Decimal {
    Decimal::new(minor, exponent)
}

/// RFC 3339 with milliseconds, in UTC (`2024-01-01T00:00:00.000Z`).
fn rfc3339_millis(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).expect("simulated times are in range");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Unix seconds of an RFC 3339 time, or of a `YYYY-MM-DD` day's midnight (UTC).
fn parse_time(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339))
        .ok()
        .map(|t| t.unix_timestamp())
}

/// `YYYY-MM-DD` of a unix time.
fn date(unix: i64) -> String {
    rfc3339_millis(unix)[..10].to_owned()
}

/// The normalized id of a vendor object.
fn normalized(vendor: Vendor, id: &str) -> String {
    format!("{}:{id}", vendor.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_admits_the_limit_then_refuses() {
        let window = RateWindow::new(Some(3));
        assert!((0..3).all(|_| window.take().is_ok()));
        assert_eq!(window.take(), Err(1));
        assert!(RateWindow::new(None).take().is_ok());
    }

    #[test]
    fn numbers_and_times_render_exactly() {
        assert_eq!(number(major(1234, 2)).to_string(), "12.34");
        assert_eq!(number(major(5, 3)).to_string(), "0.005");
        assert_eq!(rfc3339_millis(book::EPOCH), "2024-01-01T00:00:00.000Z");
        assert_eq!(date(book::EPOCH + 86_400 * 31), "2024-02-01");
    }

    #[test]
    fn every_vendor_has_distinct_customers_that_resolve_back() {
        for vendor in Vendor::ALL {
            let sim = Simulator::new(vendor, SimOptions::default());
            let ids: std::collections::BTreeSet<String> = (0..5).map(|i| sim.customer_id(i)).collect();
            assert_eq!(ids.len(), 5, "{vendor}");
            assert_eq!(sim.state.customer_index(&sim.customer_id(3)), Some(3));
            assert_eq!(sim.state.customer_index("nobody"), None);
        }
    }

    /// The rates come from creditgate's provider files: a test-mode key's where the vendor
    /// has one (Stripe), per second (Sequence documents 1,500 a minute).
    #[test]
    fn simulators_enforce_the_rate_in_the_provider_files() {
        let rates: Vec<(Vendor, u32)> = Vendor::ALL.into_iter().map(|v| (v, documented_rate(v))).collect();
        assert_eq!(
            rates,
            [
                (Vendor::Stripe, 25),
                (Vendor::Metronome, 100),
                (Vendor::Sequence, 25),
                (Vendor::Togai, 10),
                (Vendor::Vayu, 500),
                (Vendor::Lago, 50)
            ]
        );
    }
}
