//! Any body a client may send to a write endpoint gets a documented answer, and a refusal
//! writes nothing.

mod common;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Any body a client may send to a write endpoint gets an answer its operation documents,
/// never a 500, and an answer refusing the request (4xx, 501) means no vendor saw a write.
/// Bodies are mostly well-formed with a few fields off, so that they reach every step:
/// parsing, the checks, the vendor's rules, the vendor call (mocks that accept writes).
#[test]
fn any_write_body_gets_a_documented_answer_and_a_refusal_writes_nothing() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let (runtime, h) = harness_on_runtime(Options::unlimited());
    runtime.block_on(async {
        mount_all_five(&h).await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/credit_grants"))
            .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
            .mount(&h.stripe)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/billing/credit_grants/credgr_0001"))
            .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
            .mount(&h.stripe)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/billing/credit_grants/credgr_0001/void"))
            .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(1)))
            .mount(&h.stripe)
            .await;
        Mock::given(method("POST"))
            .and(path("/login"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "tok"})))
            .mount(&h.vayu)
            .await;
        Mock::given(method("POST"))
            .and(path("/credits/grant"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&h.vayu)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/contracts/customerCredits/create"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"data": {"id": "00000000-0000-4000-8000-000000000001"}})),
            )
            .mount(&h.metronome)
            .await;
    });
    let document = creditgate::api::openapi_document();
    let metronome = format!("metronome:{METRONOME_CUSTOMER}");
    let customers = prop_oneof![
        4 => Just(json!("stripe:cus_1")),
        2 => Just(json!(metronome.clone())),
        2 => Just(json!(format!("sequence:{SEQUENCE_CUSTOMER}"))),
        2 => Just(json!("togai:ACC001")),
        3 => Just(json!(format!("vayu:{VAYU_CUSTOMER}"))),
        1 => Just(json!("acme")),
        1 => Just(json!("nobody")),
        1 => Just(json!("stripe:")),
        1 => Just(json!(5)),
        1 => "[ -~]{0,12}".prop_map(Value::from),
    ];
    let values = prop_oneof![
        6 => Just(json!("12.50")),
        3 => Just(json!("1")),
        1 => Just(json!("0.001")),
        1 => Just(json!("-3")),
        1 => Just(json!("1e3")),
        1 => Just(json!("")),
        1 => Just(json!(7.5)),
        1 => "[0-9.]{1,8}".prop_map(Value::from),
    ];
    let units = prop_oneof![6 => Just(json!("USD")), 1 => Just(json!("jpy")), 1 => Just(json!("GBP")), 1 => Just(json!("credits")), 1 => Just(json!(""))];
    let times = prop_oneof![
        Just(json!("2026-01-01T00:00:00Z")),
        Just(json!("2031-01-01T00:00:00Z")),
        Just(json!("2027-06-01T12:30:00Z")),
        Just(json!("yesterday")),
    ];
    let rare = |s: BoxedStrategy<Value>| proptest::option::weighted(0.3, s).boxed();
    let fields = (
        customers,
        (values, units).prop_map(|(v, u)| json!({"value": v, "unit": u})),
        rare(prop_oneof![Just(json!("50")), Just(json!("0.5")), Just(json!("101"))].boxed()),
        rare(times.clone().boxed()),
        rare(times.boxed()),
        prop_oneof![5 => Just(json!("credit")), 3 => Just(json!("debit")), 1 => Just(json!("up"))],
        rare(
            prop_oneof![
                Just(json!(metronome.replace("13117714", "00000000"))),
                Just(json!("stripe:credgr_1"))
            ]
            .boxed(),
        ),
        proptest::bool::weighted(0.1),
    );
    let cases = (0..3usize, fields, proptest::bool::weighted(0.9)).prop_map(
        |(route, (customer, amount, priority, effective, expires, direction, grant, surprise), with_key)| {
            let mut body = serde_json::Map::new();
            let (template, url) = match route {
                0 => {
                    body.insert("customer".into(), customer);
                    body.insert("amount".into(), amount);
                    for (key, value) in [
                        ("priority", priority),
                        ("effective_at", effective),
                        ("expires_at", expires),
                    ] {
                        if let Some(v) = value {
                            body.insert(key.into(), v);
                        }
                    }
                    ("/v1/credit_grants", "/v1/credit_grants")
                }
                1 => {
                    body.insert("customer".into(), customer);
                    body.insert("amount".into(), amount);
                    body.insert("direction".into(), direction);
                    if let Some(g) = grant {
                        body.insert("grant".into(), g);
                    }
                    ("/v1/credit_ledger_entries", "/v1/credit_ledger_entries")
                }
                _ => {
                    if priority.is_some() {
                        body.insert("customer".into(), customer);
                    }
                    (
                        "/v1/credit_grants/{id}/void",
                        "/v1/credit_grants/stripe:credgr_0001/void",
                    )
                }
            };
            if surprise {
                body.insert("surprise".into(), json!(true));
            }
            (template, url, Value::Object(body), with_key)
        },
    );
    let writes_seen = || {
        runtime.block_on(async {
            let mut n = 0;
            for server in [&h.stripe, &h.metronome, &h.sequence, &h.togai, &h.vayu] {
                let requests = server.received_requests().await.unwrap_or_default();
                n += requests
                    .iter()
                    .filter(|r| {
                        r.method.as_str() != "GET" && !r.url.path().ends_with("/list") && r.url.path() != "/login"
                    })
                    .count();
            }
            n
        })
    };
    let counter = std::cell::Cell::new(0);
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&cases, |(template, url, body, with_key)| {
            counter.set(counter.get() + 1);
            let key = with_key.then(|| format!("prop-{}", counter.get()));
            let before = writes_seen();
            let r = runtime.block_on(h.post_as(url, WRITER_KEY, key.as_deref(), &body.to_string()));
            *statuses.borrow_mut().entry(r.status).or_default() += 1;
            let operation = &document["paths"][template]["post"];
            let answer = &operation["responses"][r.status.to_string()];
            prop_assert!(
                answer.is_object(),
                "{url} {body}: undocumented {}: {}",
                r.status,
                r.body
            );
            prop_assert!(r.status != 500, "{url} {body}: {}", r.body);
            let mut root = answer["content"]["application/json"]["schema"].clone();
            root["components"] = document["components"].clone();
            let validator = jsonschema::validator_for(&root).unwrap();
            prop_assert!(
                validator.is_valid(&r.body),
                "{url} {body}: {} breaks its schema: {}",
                r.status,
                r.body
            );
            if (400..500).contains(&r.status) && r.status != 404 || r.status == 501 {
                prop_assert_eq!(
                    writes_seen(),
                    before,
                    "{} {}: refused with {} after a vendor write",
                    url,
                    body,
                    r.status
                );
            }
            Ok(())
        })
        .unwrap();
    // The cases reached the vendors, not only the checks.
    let statuses = statuses.into_inner();
    assert!(statuses.get(&200).copied().unwrap_or(0) >= 50, "{statuses:?}");
    assert!(statuses.get(&400).copied().unwrap_or(0) >= 30, "{statuses:?}");
}
