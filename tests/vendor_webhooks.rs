//! `POST /v1/vendor_webhooks/{provider}`: each vendor's signature scheme, signed here with
//! the `hmac` crate directly (not creditgate's code); every refusal records nothing; a
//! redelivery is one event; a verified delivery drops the customer's cached reads.

mod common;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

fn hmac(parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn deliver(h: &Harness, provider: &str, headers: &[(&str, String)], body: &str) -> TestResponse {
    let mut request = axum::http::Request::post(format!("/v1/vendor_webhooks/{provider}"));
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    h.api
        .send(request.body(axum::body::Body::from(body.to_owned())).unwrap())
        .await
}

/// Headers of one delivery.
type Headers = Vec<(&'static str, String)>;

fn stripe_headers(t: i64, body: &str) -> Headers {
    let signature = hex(&hmac(&[t.to_string().as_bytes(), b".", body.as_bytes()]));
    vec![("stripe-signature", format!("t={t},v1={signature}"))]
}

fn stripe_event(id: &str) -> String {
    json!({"id": id, "object": "event", "type": "billing.credit_balance_transaction.created", "created": now(),
           "data": {"object": {"id": "cbtxn_1", "object": "billing.credit_balance_transaction", "customer": "cus_1"}}})
    .to_string()
}

async fn harness() -> Harness {
    Harness::with(Options {
        webhook_secrets: true,
        ..Options::new()
    })
    .await
}

#[tokio::test]
async fn a_signed_stripe_event_is_recorded_once_and_drops_the_customers_cached_reads() {
    let h = harness().await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_summary()))
        .mount(&h.stripe)
        .await;
    let balances = "/v1/credit_balances?customer=stripe:cus_1";
    assert_eq!(h.get(balances).await.status, 200);
    assert_eq!(h.get(balances).await.status, 200);
    assert_eq!(h.stripe_requests().await.len(), 1, "the second read is cached");

    let body = stripe_event("evt_1");
    let first = deliver(&h, "stripe", &stripe_headers(now(), &body), &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body,
        json!({"object": "vendor_webhook_receipt", "provider": "stripe", "event_id": "evt_1",
               "event_type": "billing.credit_balance_transaction.created", "duplicate": false, "known_type": true})
    );
    assert_eq!(h.get(balances).await.status, 200);
    assert_eq!(
        h.stripe_requests().await.len(),
        2,
        "the event dropped the cached balance"
    );

    // Stripe retries: the same event again, signed again, is one event.
    let again = deliver(&h, "stripe", &stripe_headers(now(), &body), &body).await;
    assert_eq!((again.status, &again.body["duplicate"]), (200, &json!(true)));
}

#[tokio::test]
async fn every_refusal_records_nothing() {
    let h = harness().await;
    let body = stripe_event("evt_refused");
    let t = now();
    let mut wrong_key = stripe_headers(t, &body);
    wrong_key[0].1 = format!("t={t},v1={}", hex(&[7u8; 32]));
    let altered = body.replace("cus_1", "cus_2");
    let stale = stripe_headers(t - 301, &body);
    let cases: Vec<(&str, Headers, &str, u16, &str)> = vec![
        ("stripe", vec![], &body, 400, "invalid_webhook_signature"),
        ("stripe", wrong_key, &body, 400, "invalid_webhook_signature"),
        (
            "stripe",
            stripe_headers(t, &body),
            &altered,
            400,
            "invalid_webhook_signature",
        ),
        ("stripe", stale, &body, 400, "stale_webhook_timestamp"),
        ("paypal", stripe_headers(t, &body), &body, 404, "unknown_provider"),
        ("togai", stripe_headers(t, &body), &body, 404, "webhooks_not_configured"),
    ];
    for (provider, headers, sent, status, code) in cases {
        let r = deliver(&h, provider, &headers, sent).await;
        assert_eq!((r.status, r.code()), (status, code), "{provider}: {}", r.body);
    }
    let big = format!("{{\"id\": \"evt_big\", \"pad\": \"{}\"}}", "x".repeat(600 * 1024));
    let r = deliver(&h, "stripe", &stripe_headers(t, &big), &big).await;
    assert_eq!((r.status, r.code()), (400, "body_too_large"));
    // None of them was recorded: the event, properly signed, is new.
    let r = deliver(&h, "stripe", &stripe_headers(now(), &body), &body).await;
    assert_eq!((r.status, &r.body["duplicate"]), (200, &json!(false)), "{}", r.body);
}

#[tokio::test]
async fn metronome_signs_its_date_header_and_body() {
    let h = harness().await;
    let body = json!({"id": "b2c9e307-624e-4e7d-a5a4-1b74107d78c4", "type": "credit.segment.end",
                      "properties": {"customer_id": METRONOME_CUSTOMER}})
    .to_string();
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let sign = |date: &str| hex(&hmac(&[date.as_bytes(), b"\n", body.as_bytes()]));
    let date = time::OffsetDateTime::now_utc().format(format).unwrap();
    let r = deliver(
        &h,
        "metronome",
        &[
            ("x-metronome-date", date.clone()),
            ("metronome-webhook-signature", sign(&date)),
        ],
        &body,
    )
    .await;
    assert_eq!((r.status, &r.body["known_type"]), (200, &json!(true)), "{}", r.body);
    // An older delivery signs `Date` instead; ten minutes old is past the tolerance.
    let old = (time::OffsetDateTime::now_utc() - time::Duration::minutes(10))
        .format(format)
        .unwrap();
    let r = deliver(
        &h,
        "metronome",
        &[("date", old.clone()), ("metronome-webhook-signature", sign(&old))],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "stale_webhook_timestamp"), "{}", r.body);
}

#[tokio::test]
async fn sequence_signs_milliseconds_and_has_no_event_id() {
    let h = harness().await;
    let body = json!({"notificationType": "CUSTOMER_UPDATED", "sequenceAccountId": SEQUENCE_ACCOUNT,
                      "resourceId": SEQUENCE_CUSTOMER})
    .to_string();
    let t = (now() * 1000 + 123).to_string();
    let signature = hex(&hmac(&[t.as_bytes(), b".", body.as_bytes()]));
    let headers = [("sequence-signature", format!("t={t},s={signature}"))];
    let r = deliver(&h, "sequence", &headers, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["duplicate"], &r.body["known_type"]),
        (&json!(false), &json!(false))
    );
    // The same delivery again: named by its content, one event.
    let r = deliver(&h, "sequence", &headers, &body).await;
    assert_eq!(r.body["duplicate"], true);
}

#[tokio::test]
async fn lago_signs_the_body_in_hmac_mode_and_names_deliveries_by_their_unique_key() {
    let h = harness().await;
    let body = json!({"webhook_type": "wallet_transaction.created", "object_type": "wallet_transaction",
                      "organization_id": "c0c0c0c0-0000-4000-8000-000000000000",
                      "wallet_transaction": {"lago_id": "t-1", "wallet": {"external_customer_id": "cust_1"}}})
    .to_string();
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac(&[body.as_bytes()]));
    let headers = |algorithm: &str, key: &str| -> Headers {
        vec![
            ("x-lago-signature", signature.clone()),
            ("x-lago-signature-algorithm", algorithm.to_owned()),
            ("x-lago-unique-key", key.to_owned()),
        ]
    };
    let r = deliver(&h, "lago", &headers("hmac", "d-1"), &body).await;
    assert_eq!((r.status, &r.body["event_id"]), (200, &json!("d-1")), "{}", r.body);
    let r = deliver(&h, "lago", &headers("hmac", "d-1"), &body).await;
    assert_eq!(r.body["duplicate"], true);
    let r = deliver(&h, "lago", &headers("jwt", "d-2"), &body).await;
    assert_eq!((r.status, r.code()), (400, "invalid_webhook_signature"));
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("hmac"),
        "{}",
        r.body
    );
}

/// Vayu signs `{timestamp}.{body}` with its RSA key; signed here with ring and the test key
/// pair of `fixtures/vayu/`.
#[tokio::test]
async fn vayu_signs_with_rsa_and_a_wrong_key_or_version_is_refused() {
    let h = harness().await;
    let pem = std::fs::read_to_string(format!(
        "{}/fixtures/vayu/webhook-test-key.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&base64::engine::general_purpose::STANDARD.decode(der).unwrap())
        .unwrap();
    let sign = |message: &[u8]| {
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            message,
            &mut signature,
        )
        .unwrap();
        base64::engine::general_purpose::STANDARD.encode(signature)
    };
    let body = json!({"eventType": "Overage", "customerId": VAYU_CUSTOMER}).to_string();
    let t = now().to_string();
    let signature = sign(format!("{t}.{body}").as_bytes());
    let headers = |version: &str, signature: &str| -> Headers {
        vec![
            ("x-timestamp", t.clone()),
            ("x-signature", signature.to_owned()),
            ("x-signature-version", version.to_owned()),
        ]
    };
    let r = deliver(&h, "vayu", &headers("v1", &signature), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["event_type"], &r.body["known_type"]),
        (&json!("Overage"), &json!(false))
    );
    let r = deliver(&h, "vayu", &headers("v2", &signature), &body).await;
    assert_eq!((r.status, r.code()), (400, "invalid_webhook_signature"));
    let other = sign(format!("{t}.{}", body.replace("Overage", "TierCrossed")).as_bytes());
    let r = deliver(&h, "vayu", &headers("v1", &other), &body).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_webhook_signature"),
        "a signature over other bytes"
    );
}

#[tokio::test]
async fn without_a_secret_no_delivery_is_believed() {
    let h = Harness::new().await;
    let body = stripe_event("evt_unconfigured");
    let r = deliver(&h, "stripe", &stripe_headers(now(), &body), &body).await;
    assert_eq!((r.status, r.code()), (404, "webhooks_not_configured"), "{}", r.body);
}
