//! Vendor fidelity (issue 12): vendor answers generated at random from the vendors' own
//! OpenAPI specs (`specs/`, read at test time, so a spec change is caught) are served by
//! mock vendors and read through the whole gateway. Each answer must end as a page that
//! validates against creditgate's own OpenAPI schema, or as a 502 whose reason is one of
//! those README.md lists ("Vendor answers creditgate refuses"). Seeds are fixed; a failing
//! payload is printed whole; the outcome counts per endpoint are printed.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{json, Map, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Client requests per endpoint; each makes one or more vendor answers.
const REQUESTS: usize = 1000;

/// The reasons README.md lists for refusing a vendor answer no model could hold.
const FAIR_REASONS: [&str; 11] = [
    "is not a decimal number",
    "cannot be represented exactly",
    "is not a whole number",
    "is not an RFC 3339 timestamp",
    "an item without an id cannot be listed",
    "is not one creditgate can express as money",
    "monetary amount without `monetary`",
    "overflows",
    "has no amount creditgate can read",
    "paging loop stopped",
    "cannot name an item in a URL",
];

/// A small deterministic generator (xorshift64*): the same seed, the same payloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn load(file: &str) -> Arc<Value> {
    let text = std::fs::read_to_string(format!("{}/specs/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    Arc::new(serde_json::from_str(&text).unwrap())
}

/// Follows a local `$ref`; `None` for a reference the trimmed spec leaves dangling.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The JSON body schema of `method path`'s 200 answer.
fn answer_schema(doc: &Value, path: &str, method: &str) -> Value {
    let mut answer = &doc["paths"][path][method]["responses"]["200"];
    if let Some(reference) = answer["$ref"].as_str() {
        answer = resolve(doc, reference).unwrap();
    }
    let schema = answer["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "no JSON 200 answer for {method} {path}");
    schema
}

fn number(text: &str) -> Value {
    Value::Number(text.parse().unwrap())
}

/// Text for a string the spec gives no format: mostly numbers (vendors put amounts in
/// such strings), then names and codes, and now and then empty, blank or unicode text.
fn text(rng: &mut Rng) -> Value {
    let n = rng.next() % 100_000;
    let roll = rng.below(100);
    let text = match roll {
        0..=49 => rng
            .pick(&[
                format!("{n}"),
                format!("{}.{:02}", n, n % 100),
                format!("-{n}.5"),
                "0".into(),
            ])
            .clone(),
        50..=69 => format!("gen_{n}"),
        70..=79 => rng.pick(&["USD", "credits", "API calls"]).to_string(),
        80..=84 => String::new(),
        85..=89 => " ".into(),
        90..=94 => "Ünïcødé ✓ 日本".into(),
        _ => "0.000000001".into(),
    };
    json!(text)
}

/// A string the spec gives no format. Where the field's name says what vendors put in it
/// (a date, an amount) that is what it holds most of the time; otherwise, and now and then
/// regardless, any text.
fn unformatted(name: &str, rng: &mut Rng) -> Value {
    let lower = name.to_ascii_lowercase();
    let dated = lower.contains("date") || lower.ends_with("at") || lower.contains("time");
    let amount = ["amount", "balance", "cost", "price", "quantity", "value"]
        .iter()
        .any(|word| lower.contains(word));
    if dated && rng.chance(85) {
        timestamp(rng, lower.contains("date"))
    } else if amount && rng.chance(85) {
        json!(format!("{}.{:02}", rng.next() % 100_000, rng.next() % 100))
    } else {
        text(rng)
    }
}

fn timestamp(rng: &mut Rng, date_only: bool) -> Value {
    let (year, month, day) = (1970 + rng.below(130), 1 + rng.below(12), 1 + rng.below(28));
    if date_only {
        return json!(format!("{year:04}-{month:02}-{day:02}"));
    }
    let offset = rng.pick(&["Z", "+00:00", "+05:30", "-08:00"]);
    let fraction = rng.pick(&["", ".5", ".123456"]);
    json!(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}{offset}",
        rng.below(24),
        rng.below(60),
        rng.below(60)
    ))
}

/// A value the schema allows: optional fields present or absent, nulls where nullable,
/// every enum value plus unknown ones, either branch of `anyOf`/`oneOf` (expanded or not),
/// extra properties, boundary numbers.
fn generate(doc: &Value, schema: &Value, rng: &mut Rng, depth: usize, name: &str) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        return match resolve(doc, reference) {
            Some(target) => generate(doc, target, rng, depth + 1, name),
            // A dangling reference (Stripe's `customer`, `invoice`): the unexpanded id.
            None => json!(format!("obj_{}", rng.next() % 10_000)),
        };
    }
    if schema["nullable"] == true && rng.chance(15) {
        return Value::Null;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema[key].as_array() {
            let branch = rng.pick(branches).clone();
            return generate(doc, &branch, rng, depth + 1, name);
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in parts {
            match generate(doc, part, rng, depth + 1, name) {
                Value::Object(fields) => merged.extend(fields),
                other if parts.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    if let Some(values) = schema["enum"].as_array() {
        if values.iter().all(Value::is_string) && rng.chance(10) {
            return json!("zz_value_the_spec_adds_later");
        }
        return rng.pick(values).clone();
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => rng.pick(types).as_str().unwrap_or("string").to_owned(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "null" => Value::Null,
        "boolean" => json!(rng.chance(50)),
        "integer" => {
            let (lo, hi) = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
            let candidates = [
                0,
                1,
                -1,
                50,
                1000 + (rng.next() % 1_000_000) as i64,
                1_726_619_434,
                9_007_199_254_740_993,
                i64::MAX,
            ];
            let n = *rng.pick(&candidates);
            json!(n.clamp(lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX)))
        }
        "number" => {
            let ordinary = [
                "0",
                "1",
                "-1.5",
                "12.345678901",
                "100",
                "0.5",
                "1234567.89",
                "-21528918.92616178",
            ];
            let text = match rng.below(100) {
                // Beyond what 28 significant digits hold: a listed reason, kept rare.
                0..=2 => "99999999999999999999999999999999",
                3..=5 => "0.000000000000000000000000000001",
                _ => *rng.pick(&ordinary),
            };
            number(text)
        }
        "array" => {
            let len = *rng.pick(&[0, 1, 1, 2, 2, 3]);
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array((0..len).map(|_| generate(doc, &items, rng, depth + 1, name)).collect())
        }
        "object" => {
            let mut object = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    if required.contains(&name.as_str()) || rng.chance(60) {
                        let value = if name == "id" && property["type"] == "string" && rng.chance(90) {
                            // Ids are mostly unique, as a vendor's are; now and then any text.
                            json!(format!("id_{}", rng.next() % 1_000_000_000))
                        } else {
                            generate(doc, property, rng, depth + 1, name)
                        };
                        object.insert(name.clone(), value);
                    }
                }
            }
            if rng.chance(20) {
                object.insert("x_property_the_spec_adds_later".into(), text(rng));
            }
            Value::Object(object)
        }
        _ => match schema["format"].as_str() {
            Some("date-time") => timestamp(rng, false),
            Some("date") => timestamp(rng, true),
            Some("uuid") => json!(format!("00000000-0000-4000-8000-{:012}", rng.next() % 1_000_000)),
            _ => unformatted(name, rng),
        },
    }
}

/// Serves a fresh generated answer to every request, and remembers the last ones.
struct Generated {
    doc: Arc<Value>,
    schema: Value,
    seed: u64,
    calls: AtomicU64,
    served: Arc<Mutex<Vec<Value>>>,
}

impl Respond for Generated {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut rng = Rng(self.seed ^ (call + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let payload = generate(&self.doc, &self.schema, &mut rng, 0, "");
        self.served.lock().unwrap().push(payload.clone());
        ResponseTemplate::new(200).set_body_json(payload)
    }
}

/// A mock path served from a spec: (vendor server, HTTP method, path regex, spec path,
/// spec method).
type MockSpec = (
    fn(&Harness) -> &MockServer,
    &'static str,
    String,
    &'static str,
    &'static str,
);

fn mock(
    server: fn(&Harness) -> &MockServer,
    verb: &'static str,
    regex: &str,
    spec_path: &'static str,
    spec_method: &'static str,
) -> MockSpec {
    (server, verb, regex.to_owned(), spec_path, spec_method)
}

/// One vendor endpoint creditgate reads, the mock paths it answers and the client requests
/// that read it.
struct Endpoint {
    name: &'static str,
    spec: Arc<Value>,
    mocks: Vec<MockSpec>,
    requests: Vec<String>,
}

fn stripe(h: &Harness) -> &MockServer {
    &h.stripe
}
fn metronome(h: &Harness) -> &MockServer {
    &h.metronome
}
fn sequence(h: &Harness) -> &MockServer {
    &h.sequence
}
fn togai(h: &Harness) -> &MockServer {
    &h.togai
}
fn vayu(h: &Harness) -> &MockServer {
    &h.vayu
}

fn endpoints() -> Vec<Endpoint> {
    let (s, m, q) = (
        load("stripe/stripe-billing-credits.trimmed.json"),
        load("metronome/list-credits.openapi.json"),
        load("sequence/sequence-credits.trimmed.json"),
    );
    let (t, v) = (
        load("togai/togai-credits-wallet.trimmed.json"),
        load("vayu/vayu-credits.trimmed.json"),
    );
    let summary = mock(
        stripe,
        "GET",
        "^/v1/billing/credit_balance_summary$",
        "/v1/billing/credit_balance_summary",
        "get",
    );
    let seq_balances = mock(
        sequence,
        "GET",
        "^/api/credits/[^/]+/balances$",
        "/credits/{customerId}/balances",
        "get",
    );
    let togai_credit = mock(togai, "GET", "^/credits/[^/]+$", "/credits/{credit_id}", "get");
    let togai_list = mock(togai, "GET", "^/credits$", "/credits", "get");
    let metronome_list = mock(
        metronome,
        "POST",
        "^/v1/contracts/customerCredits/list$",
        "/v1/contracts/customerCredits/list",
        "post",
    );
    let seq_customer = format!("sequence:{SEQUENCE_CUSTOMER}");
    let metronome_customer = format!("metronome:{METRONOME_CUSTOMER}");
    vec![
        Endpoint {
            name: "stripe GET /v1/billing/credit_grants",
            spec: s.clone(),
            mocks: vec![(
                stripe,
                "GET",
                "^/v1/billing/credit_grants$".into(),
                "/v1/billing/credit_grants",
                "get",
            )],
            requests: vec!["/v1/credit_grants?customer=stripe:cus_1&limit=20".into()],
        },
        Endpoint {
            name: "stripe GET /v1/billing/credit_grants/{id} (+ summary)",
            spec: s.clone(),
            mocks: vec![
                (
                    stripe,
                    "GET",
                    "^/v1/billing/credit_grants/[^/]+$".into(),
                    "/v1/billing/credit_grants/{id}",
                    "get",
                ),
                summary.clone(),
            ],
            requests: vec!["/v1/credit_grants/stripe:credgr_1".into()],
        },
        Endpoint {
            name: "stripe GET /v1/billing/credit_balance_transactions",
            spec: s.clone(),
            mocks: vec![(
                stripe,
                "GET",
                "^/v1/billing/credit_balance_transactions$".into(),
                "/v1/billing/credit_balance_transactions",
                "get",
            )],
            requests: vec!["/v1/credit_ledger_entries?customer=stripe:cus_1&limit=20".into()],
        },
        Endpoint {
            name: "stripe GET /v1/billing/credit_balance_summary",
            spec: s,
            mocks: vec![summary],
            requests: vec!["/v1/credit_balances?customer=stripe:cus_1".into()],
        },
        Endpoint {
            name: "metronome POST /v1/contracts/customerCredits/list",
            spec: m,
            mocks: vec![metronome_list],
            requests: vec![
                format!("/v1/credit_grants?customer={metronome_customer}&limit=20"),
                format!("/v1/credit_ledger_entries?customer={metronome_customer}&limit=20"),
                format!("/v1/credit_balances?customer={metronome_customer}"),
            ],
        },
        Endpoint {
            name: "sequence GET /credits",
            spec: q.clone(),
            mocks: vec![(sequence, "GET", "^/api/credits$".into(), "/credits", "get")],
            requests: vec!["/v1/credit_grants?provider=sequence&limit=20".into()],
        },
        Endpoint {
            name: "sequence GET /credits/{id}",
            spec: q.clone(),
            mocks: vec![
                (
                    sequence,
                    "GET",
                    "^/api/credits/[0-9a-f-]{36}$".into(),
                    "/credits/{id}",
                    "get",
                ),
                seq_balances.clone(),
            ],
            requests: vec!["/v1/credit_grants/sequence:00000000-0000-4000-9000-000000000001".into()],
        },
        Endpoint {
            name: "sequence GET /credits/{customerId}/grants (+ balances)",
            spec: q.clone(),
            mocks: vec![
                (
                    sequence,
                    "GET",
                    "^/api/credits/[^/]+/grants$".into(),
                    "/credits/{customerId}/grants",
                    "get",
                ),
                seq_balances.clone(),
            ],
            requests: vec![format!("/v1/credit_grants?customer={seq_customer}")],
        },
        Endpoint {
            name: "sequence GET /credits/{customerId}/balances",
            spec: q,
            mocks: vec![seq_balances],
            requests: vec![
                format!("/v1/credit_ledger_entries?customer={seq_customer}&limit=20"),
                format!("/v1/credit_balances?customer={seq_customer}"),
            ],
        },
        Endpoint {
            name: "togai GET /credits",
            spec: t.clone(),
            mocks: vec![togai_list.clone()],
            requests: vec![
                "/v1/credit_grants?customer=togai:ACC001&limit=20".into(),
                "/v1/credit_grants?provider=togai&limit=20".into(),
            ],
        },
        Endpoint {
            name: "togai GET /credits/{credit_id} (+ the list it fans out from)",
            spec: t.clone(),
            mocks: vec![togai_list, togai_credit],
            requests: vec![
                "/v1/credit_grants/togai:cred.1".into(),
                "/v1/credit_ledger_entries?customer=togai:ACC001&limit=20".into(),
            ],
        },
        Endpoint {
            name: "togai GET /accounts/{account_id}/credit_balance",
            spec: t,
            mocks: vec![(
                togai,
                "GET",
                "^/accounts/[^/]+/credit_balance$".into(),
                "/accounts/{account_id}/credit_balance",
                "get",
            )],
            requests: vec!["/v1/credit_balances?customer=togai:ACC001".into()],
        },
        Endpoint {
            name: "vayu GET /credits",
            spec: v,
            mocks: vec![(vayu, "GET", "^/credits$".into(), "/credits", "get")],
            requests: vec![
                format!("/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}&limit=20"),
                format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"),
            ],
        },
    ]
}

/// A gateway over the mocks that asks the vendor every time (no cache, no retries), with
/// Vayu's login answered.
async fn uncached_harness() -> Harness {
    let h = Harness::with(Options {
        upstream: "cache_ttl_secs = { stripe = 0, metronome = 0, sequence = 0, togai = 0, vayu = 0 }\n\
                   retry = { max_attempts = 1 }",
        ..Options::unlimited()
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "tok"})))
        .mount(&h.vayu)
        .await;
    h
}

/// creditgate's own 200 schema for a client request's route.
fn contract_schema(document: &Value, url: &str) -> Value {
    let route = url.split('?').next().unwrap();
    let route = if route.starts_with("/v1/credit_grants/") {
        "/v1/credit_grants/{id}"
    } else {
        route
    };
    let mut schema =
        document["paths"][route]["get"]["responses"]["200"]["content"]["application/json"]["schema"].clone();
    schema["components"] = document["components"].clone();
    schema
}

#[derive(Default, Debug)]
struct Tally {
    payloads: u64,
    normalized: usize,
    fair: BTreeMap<&'static str, usize>,
    failed: usize,
    problems: BTreeMap<String, usize>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_vendor_answers_normalize_or_are_refused_for_a_listed_reason() {
    let document = creditgate::api::openapi_document();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (e, endpoint) in endpoints().into_iter().enumerate() {
        let h = uncached_harness().await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut responders = Vec::new();
        for (m, (server, verb, regex, spec_path, spec_method)) in endpoint.mocks.iter().enumerate() {
            let responder = Arc::new(Generated {
                doc: endpoint.spec.clone(),
                schema: answer_schema(&endpoint.spec, spec_path, spec_method),
                seed: 0x5EED_0000 + (e as u64) * 1000 + m as u64,
                calls: AtomicU64::new(0),
                served: served.clone(),
            });
            responders.push(responder.clone());
            Mock::given(method(*verb))
                .and(path_regex(regex.as_str()))
                .respond_with(SharedResponder(responder))
                .mount(server(&h))
                .await;
        }
        let mut tally = Tally::default();
        for url in &endpoint.requests {
            let validator = jsonschema::validator_for(&contract_schema(&document, url)).unwrap();
            for _ in 0..REQUESTS {
                served.lock().unwrap().clear();
                let r = h.get(url).await;
                let message = r.body["error"]["message"].as_str().unwrap_or("");
                let outcome = match (r.status, r.code()) {
                    (200, _) => {
                        let errors: Vec<String> = validator
                            .iter_errors(&r.body)
                            .map(|e| format!("{e} at {}", e.instance_path()))
                            .collect();
                        if errors.is_empty() {
                            tally.normalized += 1;
                            None
                        } else {
                            Some(format!("emitted a contract violation: {errors:?}\n{}", r.body))
                        }
                    }
                    (502, "upstream_invalid_response") => match FAIR_REASONS.iter().find(|f| message.contains(*f)) {
                        Some(reason) => {
                            *tally.fair.entry(reason).or_default() += 1;
                            None
                        }
                        None => Some(format!("a 502 for no listed reason: {message}")),
                    },
                    (status, code) => Some(format!("answered {status} {code}: {}", r.body)),
                };
                if let Some(problem) = outcome {
                    tally.failed += 1;
                    let kind: String = problem.chars().take(160).collect();
                    *tally.problems.entry(kind).or_default() += 1;
                    if failures.len() < 2 {
                        let payloads = serde_json::to_string_pretty(&*served.lock().unwrap()).unwrap();
                        failures.push(format!(
                            "{}: GET {url} {problem}\nvendor answers:\n{payloads}",
                            endpoint.name
                        ));
                    }
                }
            }
        }
        tally.payloads = responders.iter().map(|r| r.calls.load(Ordering::Relaxed)).sum();
        report.push((endpoint.name, tally));
    }
    println!("generated vendor answers, per endpoint:");
    for (name, tally) in &report {
        let holdable = tally.normalized + tally.failed;
        println!(
            "  {name}: {} payloads; client answers: {} of {holdable} a model could hold normalized ({:.2}%), \
             {} refused for a listed reason {:?}, {} other",
            tally.payloads,
            tally.normalized,
            100.0 * tally.normalized as f64 / holdable.max(1) as f64,
            tally.fair.values().sum::<usize>(),
            tally.fair,
            tally.failed
        );
        for (problem, count) in &tally.problems {
            println!("      {count} × {problem}");
        }
    }
    for (name, tally) in &report {
        let holdable = tally.normalized + tally.failed;
        assert!(
            tally.failed * 1000 <= holdable,
            "{name}: {} of {holdable} answers a model could hold were not normalized (more than 0.1%):\n{}",
            tally.failed,
            failures.join("\n\n")
        );
        assert!(
            tally.payloads >= REQUESTS as u64,
            "{name}: only {} payloads",
            tally.payloads
        );
        // An adapter that refused everything (even for a listed reason) would pass the
        // checks above: most generated answers are ones a model can hold, and at least a
        // tenth of every endpoint's must come back normalized (each is a quarter or more
        // with these seeds).
        assert!(
            tally.normalized * 10 >= holdable + tally.fair.values().sum::<usize>(),
            "{name}: only {} of {} answers normalized",
            tally.normalized,
            holdable + tally.fair.values().sum::<usize>()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Lets the test read a responder's call count after wiremock took it.
struct SharedResponder(Arc<Generated>);

impl Respond for SharedResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

/// Bytes no spec allows (cut-off JSON, binary, wrong shapes) from every endpoint: always a
/// 502 in the contract's format, never a panic or a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_vendor_bytes_are_a_502_never_a_panic() {
    struct Garbage(AtomicU64);
    impl Respond for Garbage {
        fn respond(&self, _request: &Request) -> ResponseTemplate {
            let call = self.0.fetch_add(1, Ordering::Relaxed);
            let mut rng = Rng(0xBAD_5EED ^ (call + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let fragments: [&[u8]; 8] = [
                b"{",
                b"}",
                b"[",
                b"\"data\":",
                b"null",
                b"-1e999",
                b"\"\\ud800\"",
                b"\xff\xfe",
            ];
            let mut body = Vec::new();
            for _ in 0..rng.below(40) {
                if rng.chance(50) {
                    body.extend_from_slice(fragments[rng.below(fragments.len())]);
                } else {
                    body.push(rng.next() as u8);
                }
            }
            ResponseTemplate::new(200).set_body_raw(body, "application/json")
        }
    }
    for endpoint in endpoints() {
        let h = uncached_harness().await;
        for (server, verb, regex, _, _) in &endpoint.mocks {
            Mock::given(method(*verb))
                .and(path_regex(regex.as_str()))
                .respond_with(Garbage(AtomicU64::new(0)))
                .mount(server(&h))
                .await;
        }
        for url in &endpoint.requests {
            for _ in 0..100 {
                let r = h.get(url).await;
                assert_eq!(
                    (r.status, r.code()),
                    (502, "upstream_invalid_response"),
                    "{}: {url}: {}",
                    endpoint.name,
                    r.body
                );
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 2000, failure_persistence: None, ..Default::default() })]

    /// Any text as a cursor is refused as a cursor (400), never a panic.
    #[test]
    fn any_cursor_text_is_refused_cleanly(text in ".{0,300}") {
        let codec = creditgate::paging::CursorCodec::new(&creditgate::secret::Secret::new("a-cursor-secret-of-at-least-32-bytes"));
        let scope = creditgate::paging::CursorScope {
            tenant: "t".into(),
            endpoint: "e".into(),
            customer: "c".into(),
            filters: String::new(),
        };
        let refused = codec.decode(&scope, &text).unwrap_err();
        proptest::prop_assert_eq!(refused.type_and_code().1, "invalid_cursor");
    }

    /// Any text as a vendor amount: a value that reads back the same, or a refusal, never a
    /// panic. A decimal's own text always reads back exactly, and minor units with an
    /// exponent a decimal can hold are always exact: those assertions run on every case.
    #[test]
    fn any_amount_text_is_exact_or_refused(
        text in "[-+0-9.eE]{0,40}|.{0,40}",
        mantissa in proptest::num::i64::ANY,
        scale in 0u32..=28,
        minor in proptest::num::i64::ANY,
        exponent in 0u32..40,
    ) {
        use creditgate::model::money::parse_exact_decimal;
        if let Ok(value) = parse_exact_decimal(&text) {
            proptest::prop_assert_eq!(parse_exact_decimal(&value.to_string()), Ok(value));
        }
        let decimal = rust_decimal::Decimal::new(mantissa, scale);
        proptest::prop_assert_eq!(parse_exact_decimal(&decimal.to_string()), Ok(decimal));
        let money = creditgate::model::Money::from_minor_units(rust_decimal::Decimal::from(minor), "usd", exponent);
        if exponent <= 19 {
            let money = money.map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let back = money.value * rust_decimal::Decimal::from(10u64.pow(exponent));
            proptest::prop_assert_eq!(back, rust_decimal::Decimal::from(minor));
        }
    }
}

/// Any query string on every `/v1` route: an answer in the contract's format, never a panic.
#[test]
fn any_query_string_gets_a_contract_answer() {
    use proptest::prelude::*;
    let (runtime, h) = harness_on_runtime(Options::unlimited());
    let names = [
        "customer", "provider", "status", "limit", "cursor", "include", "grant", "x", "",
    ];
    let pair = (
        proptest::sample::select(names.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    );
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 500,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&proptest::collection::vec(pair, 0..5), |pairs| {
            let query: String = pairs
                .iter()
                .map(|(name, value)| {
                    let value: String = value.iter().map(|b| format!("%{b:02X}")).collect();
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("&");
            for route in [
                "/v1/credit_grants",
                "/v1/credit_ledger_entries",
                "/v1/credit_balances",
                "/v1/credit_grants/stripe:credgr_1",
            ] {
                let r = runtime.block_on(h.get(&format!("{route}?{query}")));
                prop_assert!(
                    r.status != 500 && r.body["error"].is_object() || r.status < 300,
                    "{route}?{query}: {} {}",
                    r.status,
                    r.body
                );
            }
            Ok(())
        })
        .unwrap();
}
