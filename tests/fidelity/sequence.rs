//! The Sequence endpoints creditgate reads, for its fidelity tests (`tests/common/fidelity/`).

use crate::common::fidelity::{load, mock, Endpoint};
use crate::common::SEQUENCE_CUSTOMER;

pub fn endpoints() -> Vec<Endpoint> {
    let spec = load("sequence/sequence-credits.trimmed.json");
    let customer = format!("sequence:{SEQUENCE_CUSTOMER}");
    let balances = mock(
        "sequence",
        "GET",
        "^/api/credits/[^/]+/balances$",
        "/credits/{customerId}/balances",
        "get",
    );
    vec![
        Endpoint {
            name: "sequence GET /credits",
            seed: 5,
            spec: spec.clone(),
            mocks: vec![mock("sequence", "GET", "^/api/credits$", "/credits", "get")],
            fixed: vec![],
            requests: vec!["/v1/credit_grants?provider=sequence&limit=20".into()],
        },
        Endpoint {
            name: "sequence GET /credits/{id}",
            seed: 6,
            spec: spec.clone(),
            mocks: vec![
                mock(
                    "sequence",
                    "GET",
                    "^/api/credits/[0-9a-f-]{36}$",
                    "/credits/{id}",
                    "get",
                ),
                balances.clone(),
            ],
            fixed: vec![],
            requests: vec!["/v1/credit_grants/sequence:00000000-0000-4000-9000-000000000001".into()],
        },
        Endpoint {
            name: "sequence GET /credits/{customerId}/grants (+ balances)",
            seed: 7,
            spec: spec.clone(),
            mocks: vec![
                mock(
                    "sequence",
                    "GET",
                    "^/api/credits/[^/]+/grants$",
                    "/credits/{customerId}/grants",
                    "get",
                ),
                balances.clone(),
            ],
            fixed: vec![],
            requests: vec![format!("/v1/credit_grants?customer={customer}")],
        },
        Endpoint {
            name: "sequence GET /credits/{customerId}/balances",
            seed: 8,
            spec,
            mocks: vec![balances],
            fixed: vec![],
            requests: vec![
                format!("/v1/credit_ledger_entries?customer={customer}&limit=20"),
                format!("/v1/credit_balances?customer={customer}"),
            ],
        },
    ]
}
