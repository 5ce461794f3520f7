//! Writes refused before any vendor call: bad input naming its field, a read-only key,
//! the write capabilities each vendor shows, and the documented answers of each write.

mod common;

use common::writing::*;
use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_no_vendor_sees_anything() {
    let h = Harness::new().await;
    let stripe = "stripe:cus_1";
    let metronome = format!("metronome:{METRONOME_CUSTOMER}");
    let sequence = format!("sequence:{SEQUENCE_CUSTOMER}");
    let usd = |v: &str| json!({"value": v, "unit": "USD"});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("0.001")}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "1.5", "unit": "JPY"}}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("-5")}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("0")}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": 5, "unit": "USD"}}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "5", "unit": "API calls"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "priority": "101"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "colour": "red"}),
            "",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "effective_at": "2027-01-01T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": "stripe:", "amount": usd("5")}),
            "customer",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": "acme", "amount": usd("5")}),
            "provider",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": metronome, "amount": usd("5"), "priority": "1"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": metronome, "amount": usd("5"), "expires_at": "2030-01-01T00:00:00Z"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "GBP"}, "priority": "1"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "GBP"}, "expires_at": "2030-01-01T12:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "expires_at": "9999-12-31T23:59:59-23:00"}),
            "expires_at",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": {"value": "5", "unit": "EUR"}, "direction": "credit"}),
            "amount.unit",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": metronome, "amount": usd("5"), "direction": "credit"}),
            "grant",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": usd("5"), "direction": "sideways"}),
            "direction",
        ),
        // Issue 24, item 12: what the vendors would refuse, refused here first.
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "HUF"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": sequence, "amount": {"value": "5", "unit": "KWD"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "5", "unit": "XYZ"}}),
            "amount.unit",
        ),
        (
            "/v1/credit_ledger_entries",
            json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": usd("12345678901234567890"), "direction": "debit"}),
            "amount.value",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "metadata": {"a[b]": "x"}}),
            "metadata",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "priority": "1e2"}),
            "priority",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "expires_at": "0000-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": usd("5"), "expires_at": "2030-06-30T23:59:60Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": metronome, "amount": usd("5"), "priority": "1", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": "togai:ACC001", "amount": usd("5"), "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": stripe, "amount": {"value": "5", "unit": " "}}),
            "amount.unit",
        ),
        (
            "/v1/credit_grants",
            json!({"customer": " ", "amount": usd("5")}),
            "customer",
        ),
    ];
    for (n, (route, body, field)) in cases.into_iter().enumerate() {
        let r = post(&h, route, &format!("bad-{n}"), body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_request_error", "{body}");
        if !field.is_empty() {
            assert_eq!(r.body["error"]["param"], field, "{body}: {}", r.body);
        }
    }
    // Unsupported where the vendor lacks the operation: a 501 naming it.
    let r = post(
        &h,
        "/v1/credit_grants/sequence:00000000-0000-4000-9000-000000000001/expire",
        "e-1",
        json!({}),
    )
    .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("expire_grants"));
    let r = post(
        &h,
        "/v1/credit_grants",
        "e-2",
        json!({"customer": format!("vayu:{VAYU_CUSTOMER}"), "amount": usd("1")}),
    )
    .await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"), "{}", r.body);

    // No Idempotency-Key; a bad one; not JSON.
    let grant = json!({"customer": stripe, "amount": usd("5")}).to_string();
    let r = h.post_as("/v1/credit_grants", WRITER_KEY, None, &grant).await;
    assert_eq!((r.status, r.code()), (400, "idempotency_key_required"));
    let r = h
        .post_as("/v1/credit_grants", WRITER_KEY, Some(&"k".repeat(300)), &grant)
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_idempotency_key"));
    let r = h
        .post_as("/v1/credit_grants", WRITER_KEY, Some("j-1"), "{not json")
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"));
    assert_eq!(all_requests(&h).await, 0, "no vendor saw any of it");
}

#[tokio::test]
async fn a_read_only_key_is_refused_before_anything_else() {
    let h = Harness::new().await;
    // Even without an Idempotency-Key and with a body that is not JSON: the scope comes first.
    for (key, body) in [
        (
            Some("k"),
            r#"{"customer":"stripe:cus_1","amount":{"value":"1","unit":"USD"}}"#,
        ),
        (None, "nope"),
    ] {
        for path in [
            "/v1/credit_grants",
            "/v1/credit_ledger_entries",
            "/v1/credit_grants/stripe:credgr_1/void",
        ] {
            let r = h.post_as(path, API_KEY, key, body).await;
            assert_eq!((r.status, r.code()), (403, "write_not_allowed"), "{path}: {}", r.body);
            assert_eq!(r.body["error"]["type"], "permission_error");
        }
    }
    assert_eq!(all_requests(&h).await, 0);
}

#[tokio::test]
async fn providers_say_which_writes_each_vendor_takes() {
    let h = Harness::new().await;
    let r = h.get("/v1/providers").await;
    let caps = |i: usize| {
        let c = &r.body["data"][i]["capabilities"];
        [
            c["create_grants"].as_bool().unwrap(),
            c["void_grants"].as_bool().unwrap(),
            c["expire_grants"].as_bool().unwrap(),
            c["ledger_adjustments"].as_bool().unwrap(),
        ]
    };
    assert_eq!(caps(0), [true, true, true, false], "stripe");
    assert_eq!(caps(1), [true, false, true, true], "metronome");
    assert_eq!(caps(2), [true, true, false, false], "sequence");
    assert_eq!(caps(3), [true, true, false, false], "togai");
    assert_eq!(caps(4), [false, false, false, true], "vayu");
    assert_eq!(caps(5), [true, true, false, false], "lago");
}

/// Each answer a write gives is one its operation documents, with a body its schema takes.
#[tokio::test]
async fn write_answers_are_the_documented_ones() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(2)))
        .up_to_n_times(1)
        .mount(&h.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&h.stripe)
        .await;
    let document = creditgate::api::openapi_document();
    let operation = &document["paths"]["/v1/credit_grants"]["post"];
    let check = |value: &Value, schema: &Value| {
        let mut root = schema.clone();
        root["components"] = document["components"].clone();
        let validator = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{value}: {errors:?}");
    };
    let grant = json!({"customer": "stripe:cus_1", "amount": {"value": "10.02", "unit": "USD"}, "priority": "5"});
    check(
        &grant,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    );
    let answers = [
        post(&h, "/v1/credit_grants", "d-1", grant.clone()).await,
        post(&h, "/v1/credit_grants", "d-1", grant.clone()).await,
        post(
            &h,
            "/v1/credit_grants",
            "d-1",
            json!({"customer": "stripe:cus_1", "amount": {"value": "1", "unit": "USD"}}),
        )
        .await,
        post(&h, "/v1/credit_grants", "d-2", grant.clone()).await,
        h.post_as("/v1/credit_grants", API_KEY, Some("d-3"), &grant.to_string())
            .await,
        h.post_as("/v1/credit_grants", WRITER_KEY, None, &grant.to_string())
            .await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 409, 502, 403, 400]);
    for r in &answers {
        let answer = &operation["responses"][r.status.to_string()];
        assert!(answer.is_object(), "{} is not documented", r.status);
        if r.status >= 400 {
            let codes = answer["x-creditgate-codes"].as_array().unwrap();
            assert!(
                codes.contains(&json!(r.code())),
                "{} is not among {}'s codes",
                r.code(),
                r.status
            );
        }
        check(&r.body, &answer["content"]["application/json"]["schema"]);
        for (name, header) in answer["headers"].as_object().unwrap() {
            if header["required"] == true {
                assert!(r.headers.contains_key(name.as_str()), "{} without {name}", r.status);
            }
        }
    }
}

/// A vendor refusing a write as a conflict with what it holds answers `409
/// upstream_conflict`, and nothing is kept as written: the same key may be tried again.
#[tokio::test]
async fn a_vendor_conflict_is_a_409_upstream_conflict_and_the_key_may_be_tried_again() {
    let h = Harness::new().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"error": {"type": "invalid_request_error", "message": "conflicting grant"}})),
        )
        .up_to_n_times(1)
        .mount(&h.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_grant(2)))
        .mount(&h.stripe)
        .await;
    let grant = json!({"customer": "stripe:cus_1", "amount": {"value": "10.02", "unit": "USD"}});
    let refused = post(&h, "/v1/credit_grants", "conflict-1", grant.clone()).await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "upstream_conflict"),
        "{}",
        refused.body
    );
    let again = post(&h, "/v1/credit_grants", "conflict-1", grant).await;
    assert_eq!(again.status, 200, "{}", again.body);
}
