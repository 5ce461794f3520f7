//! The vendor endpoints creditgate reads, for `tests/vendor_fidelity.rs`: each with its spec,
//! the mock paths that answer it and the client requests that read it.

use std::sync::Arc;

use wiremock::MockServer;

use super::load;
use serde_json::Value;

use crate::common::*;

/// A mock path served from a spec: (vendor server, HTTP method, path regex, spec path,
/// spec method).
pub type MockSpec = (
    fn(&Harness) -> &MockServer,
    &'static str,
    String,
    &'static str,
    &'static str,
);

pub fn mock(
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
pub struct Endpoint {
    pub name: &'static str,
    pub spec: Arc<Value>,
    pub mocks: Vec<MockSpec>,
    pub requests: Vec<String>,
}

pub fn stripe(h: &Harness) -> &MockServer {
    &h.stripe
}
pub fn metronome(h: &Harness) -> &MockServer {
    &h.metronome
}
pub fn sequence(h: &Harness) -> &MockServer {
    &h.sequence
}
pub fn togai(h: &Harness) -> &MockServer {
    &h.togai
}
pub fn vayu(h: &Harness) -> &MockServer {
    &h.vayu
}

pub fn endpoints() -> Vec<Endpoint> {
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
