//! The Stripe endpoints creditgate reads, for its fidelity tests (`tests/common/fidelity/`):
//! each with its spec, the mock paths that answer it and the client requests that read it.

use crate::common::fidelity::{load, mock, Endpoint};

pub fn endpoints() -> Vec<Endpoint> {
    let spec = load("stripe/stripe-billing-credits.trimmed.json");
    let summary = mock(
        "stripe",
        "GET",
        "^/v1/billing/credit_balance_summary$",
        "/v1/billing/credit_balance_summary",
        "get",
    );
    vec![
        Endpoint {
            name: "stripe GET /v1/billing/credit_grants",
            seed: 0,
            spec: spec.clone(),
            mocks: vec![mock(
                "stripe",
                "GET",
                "^/v1/billing/credit_grants$",
                "/v1/billing/credit_grants",
                "get",
            )],
            fixed: vec![],
            requests: vec!["/v1/credit_grants?customer=stripe:cus_1&limit=20".into()],
        },
        Endpoint {
            name: "stripe GET /v1/billing/credit_grants/{id} (+ summary)",
            seed: 1,
            spec: spec.clone(),
            mocks: vec![
                mock(
                    "stripe",
                    "GET",
                    "^/v1/billing/credit_grants/[^/]+$",
                    "/v1/billing/credit_grants/{id}",
                    "get",
                ),
                summary.clone(),
            ],
            fixed: vec![],
            requests: vec!["/v1/credit_grants/stripe:credgr_1".into()],
        },
        Endpoint {
            name: "stripe GET /v1/billing/credit_balance_transactions",
            seed: 2,
            spec: spec.clone(),
            mocks: vec![mock(
                "stripe",
                "GET",
                "^/v1/billing/credit_balance_transactions$",
                "/v1/billing/credit_balance_transactions",
                "get",
            )],
            fixed: vec![],
            requests: vec!["/v1/credit_ledger_entries?customer=stripe:cus_1&limit=20".into()],
        },
        Endpoint {
            name: "stripe GET /v1/billing/credit_balance_summary",
            seed: 3,
            spec,
            mocks: vec![summary],
            fixed: vec![],
            requests: vec!["/v1/credit_balances?customer=stripe:cus_1".into()],
        },
    ]
}
