//! `schemas/openapi.json` is the generated document, and its schemas describe exactly the
//! fields the serializers emit. Regenerate with `cargo run -- openapi > schemas/openapi.json`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

#[test]
fn checked_in_openapi_matches_the_code() {
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/schemas/openapi.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    assert!(
        checked_in == creditgate::api::openapi_document(),
        "schemas/openapi.json is stale: run `cargo run -- openapi > schemas/openapi.json`"
    );
}

fn schema(name: &str) -> Value {
    creditgate::api::openapi_document()["components"]["schemas"][name].clone()
}

/// Every key the object has is a documented property, and every required property is there.
fn assert_matches_schema(name: &str, object: &Value) {
    let schema = schema(name);
    let documented: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let present: BTreeSet<&str> = object.as_object().unwrap().keys().map(String::as_str).collect();
    let undocumented: Vec<_> = present.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "{name}: fields not in the OpenAPI schema: {undocumented:?}"
    );
    for required in schema["required"].as_array().unwrap() {
        assert!(
            present.contains(required.as_str().unwrap()),
            "{name}: required `{required}` missing from {object}"
        );
    }
}

#[tokio::test]
async fn responses_have_exactly_the_documented_fields() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_grants/credgr_0001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stripe/credit_balance_summary.stripe-mock.json")),
        )
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_balance_transactions"))
        .respond_with(StripeList {
            items: vec![stripe_txn(0)],
            url: "/v1/billing/credit_balance_transactions",
        })
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/billing/credit_grants"))
        .respond_with(StripeList {
            items: vec![stripe_grant(0)],
            url: "/v1/billing/credit_grants",
        })
        .mount(&h.stripe)
        .await;

    let grant = h.get("/v1/credit_grants/stripe:credgr_0001?include=ledger,raw").await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    assert_matches_schema("CreditGrant", &grant.body);
    assert_matches_schema("Money", &grant.body["amount"]);
    assert_matches_schema("CreditLedgerEntry", &grant.body["ledger"][0]);

    let list = h.get("/v1/credit_grants?customer=acme").await;
    assert_matches_schema("CreditGrantList", &list.body);
    assert_matches_schema("Skipped", &list.body["skipped"][0]);
    let entries = h
        .get("/v1/credit_ledger_entries?customer=stripe:cus_1&include=raw")
        .await;
    assert_matches_schema("CreditLedgerEntryList", &entries.body);
    assert_matches_schema("CreditLedgerEntry", &entries.body["data"][0]);
    let balances = h.get("/v1/credit_balances?customer=stripe:cus_1").await;
    assert_matches_schema("CreditBalanceList", &balances.body);
    assert_matches_schema("CreditBalance", &balances.body["data"][0]);
    let providers = h.get("/v1/providers").await;
    assert_matches_schema("ProviderList", &providers.body);
    assert_matches_schema("ProviderInfo", &providers.body["data"][0]);
    let capabilities = &schema("ProviderInfo");
    assert!(capabilities["properties"]["capabilities"].is_object());
    let error = h.get("/v1/credit_grants?customer=stripe:cus_1&limit=0").await;
    assert_matches_schema("Error", &error.body);
    let detail = &schema("Error")["properties"]["error"];
    let documented: BTreeSet<&str> = detail["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in error.body["error"].as_object().unwrap().keys() {
        assert!(documented.contains(key.as_str()), "error.{key} undocumented");
    }
    assert_eq!(json!(documented.len()), json!(6));
}

/// Issue 17, defect 8: the published document must state every constraint the server
/// enforces. Requests are generated from `/openapi.json` alone (each parameter's schema:
/// enums, bounds, patterns, required or not), sent to the gateway over mock vendors, and
/// every answer must be one the document lists for that operation: a documented status,
/// a body valid against that status's schema, its headers. A `400 invalid_parameter` must
/// be explained by one of the operation's `x-creditgate-rules`; `unknown_customer` only by
/// an alias the config lacks, `invalid_cursor` only by a cursor no earlier page gave.
#[test]
fn requests_the_document_allows_get_only_documented_answers() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let (runtime, h) = harness_on_runtime(Options::unlimited());
    runtime.block_on(mount_all_five(&h));
    let document = creditgate::api::openapi_document();
    let components = document["components"].clone();
    // The configured aliases and the providers each maps to (tests/common).
    let aliases: Vec<(&str, Vec<&str>)> = vec![
        ("acme", vec!["stripe", "vayu"]),
        ("everywhere", vec!["stripe", "metronome", "sequence", "togai", "vayu"]),
        ("vayu_first", vec!["vayu", "stripe"]),
    ];
    let validator = |schema: &Value| {
        let mut root = schema.clone();
        root["components"] = components.clone();
        jsonschema::validator_for(&root).unwrap()
    };
    let tally: std::cell::RefCell<BTreeMap<String, usize>> = Default::default();
    for (route, item) in document["paths"].as_object().unwrap() {
        if !route.starts_with("/v1/") {
            continue;
        }
        // Writes are checked in tests/writes.rs.
        let Some(operation) = item.get("get") else {
            continue;
        };
        let parameters: Vec<Value> = operation["parameters"].as_array().unwrap().clone();
        let strategies: Vec<BoxedStrategy<Option<String>>> = parameters
            .iter()
            .map(|p| {
                let values = value_strategy(p, &components, &aliases);
                if p["required"] == true {
                    values.prop_map(Some).boxed()
                } else {
                    proptest::option::of(values).boxed()
                }
            })
            .collect();
        let mut runner = TestRunner::new(Config {
            cases: 150,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategies, |values| {
                let (url, sent) = request_url(route, &parameters, &values);
                let r = runtime.block_on(h.get(&url));
                let status = r.status.to_string();
                let answer = &operation["responses"][&status];
                prop_assert!(
                    answer.is_object(),
                    "{url}: status {status} is not documented: {}",
                    r.body
                );
                let body_schema = &answer["content"]["application/json"]["schema"];
                let errors: Vec<String> = validator(body_schema)
                    .iter_errors(&r.body)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                prop_assert!(
                    errors.is_empty(),
                    "{url}: {status} body breaks its schema: {errors:?}\n{}",
                    r.body
                );
                if r.status >= 400 {
                    let codes = answer["x-creditgate-codes"].as_array().unwrap();
                    prop_assert!(
                        codes.contains(&json!(r.code())),
                        "{url}: {} is not among {status}'s codes {codes:?}",
                        r.code()
                    );
                }
                for (name, header) in answer["headers"].as_object().unwrap() {
                    if header["required"] == true {
                        prop_assert!(r.headers.contains_key(name.as_str()), "{url}: {status} without {name}");
                    }
                }
                if r.status == 400 {
                    let explained = match r.code() {
                        "invalid_parameter" => operation["x-creditgate-rules"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|rule| rule_broken(rule, &sent, &aliases)),
                        "unknown_customer" => sent
                            .get("customer")
                            .is_some_and(|c| !c.contains(':') && !aliases.iter().any(|(a, _)| a == c)),
                        "invalid_cursor" => sent.contains_key("cursor"),
                        _ => false,
                    };
                    prop_assert!(
                        explained,
                        "{url}: the document allows this request, the server refused it: {}",
                        r.body
                    );
                }
                *tally
                    .borrow_mut()
                    .entry(format!("{route} {status} {}", r.code()))
                    .or_default() += 1;
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{route}: {e}"));
    }
    let tally = tally.into_inner();
    println!("answers to generated requests:");
    for (outcome, count) in &tally {
        println!("  {count:>4}  {outcome}");
    }
    // The generator reaches answers beyond refusals.
    assert!(tally.keys().any(|k| k.contains(" 200 ")), "{tally:?}");
}

/// Values for one parameter from its schema alone, plus the configured aliases as
/// examples (random aliases are almost never configured).
fn value_strategy(
    parameter: &Value,
    components: &Value,
    aliases: &[(&str, Vec<&str>)],
) -> proptest::strategy::BoxedStrategy<String> {
    use proptest::prelude::*;
    let mut schema = parameter["schema"].clone();
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        schema = components["schemas"][name].clone();
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        return proptest::sample::select(values).boxed();
    }
    // An array parameter (`style: form, explode: false`): some of its values, comma-joined.
    if let Some(values) = schema["items"]["enum"].as_array() {
        assert_eq!(
            (&parameter["style"], &parameter["explode"]),
            (&json!("form"), &json!(false))
        );
        let values: Vec<String> = values.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        return proptest::sample::subsequence(values.clone(), 1..=values.len())
            .prop_shuffle()
            .prop_map(|chosen| chosen.join(","))
            .boxed();
    }
    if schema["type"] == "integer" {
        let (min, max) = (schema["minimum"].as_i64().unwrap(), schema["maximum"].as_i64().unwrap());
        return (min..=max).prop_map(|n| n.to_string()).boxed();
    }
    let pattern = schema["pattern"].as_str().unwrap().to_owned();
    // proptest generates from the pattern without its anchors and lookaheads; the full
    // pattern (and the length bounds) then filter what it made.
    let generating = pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .replace("(?!\\.+$)", "");
    let check = jsonschema::validator_for(&schema).unwrap();
    let generated = proptest::string::string_regex(&generating)
        .unwrap()
        .prop_filter("matches the parameter's schema", move |s| check.is_valid(&json!(s)));
    if parameter["name"] == "customer" {
        let known: Vec<String> = aliases.iter().map(|(a, _)| (*a).to_owned()).collect();
        return prop_oneof![3 => generated, 1 => proptest::sample::select(known)].boxed();
    }
    generated.boxed()
}

/// The URL for one generated request, and the query parameters it sent.
fn request_url(route: &str, parameters: &[Value], values: &[Option<String>]) -> (String, BTreeMap<String, String>) {
    let mut path = route.to_owned();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut sent = BTreeMap::new();
    for (p, value) in parameters.iter().zip(values) {
        let (Some(value), Some(name)) = (value, p["name"].as_str()) else {
            continue;
        };
        if p["in"] == "path" {
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            path = path.replace(&format!("{{{name}}}"), &encoded);
        } else {
            query.append_pair(name, value);
            sent.insert(name.to_owned(), value.clone());
        }
    }
    let query = query.finish();
    (
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        },
        sent,
    )
}

/// Whether the generated parameters break one documented rule.
/// An RFC 3339 instant, if the text is one.
fn instant(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn rule_broken(rule: &Value, sent: &BTreeMap<String, String>, aliases: &[(&str, Vec<&str>)]) -> bool {
    let params: Vec<&str> = rule["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let providers = |name: &str| -> Option<Vec<String>> {
        let value = sent.get(name)?;
        Some(match (name, value.split_once(':')) {
            ("provider", _) => vec![value.clone()],
            (_, Some((provider, _))) => vec![provider.to_owned()],
            (_, None) => aliases
                .iter()
                .find(|(a, _)| a == value)
                .map(|(_, ps)| ps.iter().map(|p| (*p).to_owned()).collect())
                .unwrap_or_default(),
        })
    };
    match rule["rule"].as_str().unwrap() {
        "customer-or-provider" => params.iter().all(|p| !sent.contains_key(*p)),
        "same-provider" => match (providers(params[0]), providers(params[1])) {
            (Some(a), Some(b)) => !a.iter().any(|p| b.contains(p)),
            _ => false,
        },
        "past-instant" => params
            .iter()
            .any(|p| sent.get(*p).is_some_and(|v| instant(v).is_none_or(|t| t > now()))),
        "from-before-to" => match (
            sent.get("from").and_then(|v| instant(v)),
            sent.get("to").and_then(|v| instant(v)),
        ) {
            (Some(from), Some(to)) => to <= from,
            _ => false,
        },
        "at-most-points" => match (
            sent.get("from").and_then(|v| instant(v)),
            sent.get("to").and_then(|v| instant(v)),
        ) {
            (Some(from), Some(to)) => {
                let step = match sent.get("interval").map(String::as_str) {
                    Some("hour") => 3_600,
                    Some("week") => 7 * 86_400,
                    _ => 86_400,
                };
                ((to - from).whole_seconds() + step - 1) / step > 1_000
            }
            _ => false,
        },
        other => panic!("a rule this test does not know: {other}"),
    }
}

/// What client generators need (openapi-python-client, openapi-typescript): a unique
/// `operationId` and a tag on every operation, no `oneOf` of `const`s (read as its first
/// variant), one shared `Error` body for every error answer with its codes stated, 405 on
/// every operation, a body schema on every 200, and no `default` in a request body (which
/// makes a field required in TypeScript).
#[test]
fn the_document_is_one_client_generators_read_whole() {
    let document = creditgate::api::openapi_document();
    let mut ids = std::collections::BTreeSet::new();
    for (route, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {route}: no operationId"));
            assert!(ids.insert(id.to_owned()), "{id} twice");
            assert_eq!(operation["tags"].as_array().map(Vec::len), Some(1), "{method} {route}");
            for (status, answer) in operation["responses"].as_object().unwrap() {
                // `/readyz` answers 503 with its own body while the process stops: not an error.
                if status.as_str() >= "400" && route != "/readyz" {
                    assert_eq!(
                        answer["content"]["application/json"]["schema"],
                        json!({"$ref": "#/components/schemas/Error"}),
                        "{method} {route} {status}"
                    );
                    assert!(answer["x-creditgate-codes"].as_array().is_some_and(|c| !c.is_empty()));
                }
            }
            assert!(operation["responses"]["405"].is_object(), "{method} {route}: no 405");
            let ok = &operation["responses"]["200"]["content"];
            assert!(
                ok.as_object()
                    .is_some_and(|c| c.values().all(|m| m["schema"].is_object())),
                "{method} {route}: {ok}"
            );
        }
    }
    fn walk(value: &Value, at: &str, check: &dyn Fn(&Value, &str)) {
        check(value, at);
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, &format!("{at}/{k}"), check)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{at}/{i}"), check)),
            _ => {}
        }
    }
    walk(&document, "", &|value, at| {
        let consts = value["oneOf"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| s.get("const").is_some()));
        assert!(!consts, "{at}: a oneOf of consts");
    });
    for body in ["NewCreditGrant", "EndCreditGrant", "NewCreditLedgerAdjustment"] {
        assert!(document["components"]["schemas"][body].is_object(), "{body}");
        walk(&document["components"]["schemas"][body], body, &|value, at| {
            assert!(value.get("default").is_none(), "{at}: a default in a request body");
        });
    }
}
