//! The fidelity checks a vendor's conformance tests run on its endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::{answer_schema, Endpoint, Generated, Rng, SharedResponder};
use crate::common::*;

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

/// A gateway over the mocks that asks the vendor every time (no cache, no retries), with
/// the endpoint's fixed answers mounted.
async fn uncached_harness(endpoint: &Endpoint) -> Harness {
    let no_cache: Vec<String> = creditgate::model::ProviderKind::ALL
        .iter()
        .map(|p| format!("{p} = 0"))
        .collect();
    let upstream = format!(
        "cache_ttl_secs = {{ {} }}\nretry = {{ max_attempts = 1 }}",
        no_cache.join(", ")
    );
    let h = Harness::with(Options {
        upstream: upstream.leak(),
        ..Options::unlimited()
    })
    .await;
    for (vendor, verb, at, body) in &endpoint.fixed {
        Mock::given(method(*verb))
            .and(path(*at))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(h.mock(vendor))
            .await;
    }
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

/// Each endpoint's generated answers end as a page valid against creditgate's own OpenAPI
/// schema, or as a 502 for a reason README.md lists ("Vendor answers creditgate
/// refuses"); a tenth of them at least normalize. A failing payload is printed whole; the
/// outcome counts per endpoint are printed.
pub async fn generated_answers_normalize_or_are_refused_for_a_listed_reason(endpoints: Vec<Endpoint>) {
    let document = creditgate::api::openapi_document();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for endpoint in endpoints {
        let h = uncached_harness(&endpoint).await;
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut responders = Vec::new();
        for (m, (server, verb, regex, spec_path, spec_method)) in endpoint.mocks.iter().enumerate() {
            let responder = Arc::new(Generated {
                doc: endpoint.spec.clone(),
                schema: answer_schema(&endpoint.spec, spec_path, spec_method),
                seed: 0x5EED_0000 + endpoint.seed * 1000 + m as u64,
                calls: AtomicU64::new(0),
                served: served.clone(),
            });
            responders.push(responder.clone());
            Mock::given(method(*verb))
                .and(path_regex(regex.as_str()))
                .respond_with(SharedResponder(responder))
                .mount(h.mock(server))
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

/// Bytes no spec allows (cut-off JSON, binary, wrong shapes) from every endpoint: always a
/// 502 in the contract's format, never a panic or a 500.
pub async fn arbitrary_bytes_are_a_502_never_a_panic(endpoints: Vec<Endpoint>) {
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
    for endpoint in endpoints {
        let h = uncached_harness(&endpoint).await;
        for (server, verb, regex, _, _) in &endpoint.mocks {
            Mock::given(method(*verb))
                .and(path_regex(regex.as_str()))
                .respond_with(Garbage(AtomicU64::new(0)))
                .mount(h.mock(server))
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
