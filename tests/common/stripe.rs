//! What the Stripe tests share: the pinned API version and the mocks of its grant list and
//! single objects.

use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::*;

pub const VERSION: &str = "2026-09-30.endive";

pub async fn mount_grants(h: &Harness, items: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants"))
        .and(header("authorization", format!("Bearer {STRIPE_SECRET}").as_str()))
        .and(header("stripe-version", VERSION))
        .respond_with(StripeList {
            items,
            url: "/v1/billing/credit_grants",
        })
        .mount(&h.stripe)
        .await;
}

pub async fn mount_body(h: &Harness, at: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.stripe)
        .await;
}
