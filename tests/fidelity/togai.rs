//! The Togai endpoints creditgate reads, for its fidelity tests (`tests/common/fidelity/`).

use crate::common::fidelity::{load, mock, Endpoint};

pub fn endpoints() -> Vec<Endpoint> {
    let spec = load("togai/togai-credits-wallet.trimmed.json");
    let list = mock("togai", "GET", "^/credits$", "/credits", "get");
    vec![
        Endpoint {
            name: "togai GET /credits",
            seed: 9,
            spec: spec.clone(),
            mocks: vec![list.clone()],
            fixed: vec![],
            requests: vec![
                "/v1/credit_grants?customer=togai:ACC001&limit=20".into(),
                "/v1/credit_grants?provider=togai&limit=20".into(),
            ],
        },
        Endpoint {
            name: "togai GET /credits/{credit_id} (+ the list it fans out from)",
            seed: 10,
            spec: spec.clone(),
            mocks: vec![
                list,
                mock("togai", "GET", "^/credits/[^/]+$", "/credits/{credit_id}", "get"),
            ],
            fixed: vec![],
            requests: vec![
                "/v1/credit_grants/togai:cred.1".into(),
                "/v1/credit_ledger_entries?customer=togai:ACC001&limit=20".into(),
            ],
        },
        Endpoint {
            name: "togai GET /accounts/{account_id}/credit_balance",
            seed: 11,
            spec,
            mocks: vec![mock(
                "togai",
                "GET",
                "^/accounts/[^/]+/credit_balance$",
                "/accounts/{account_id}/credit_balance",
                "get",
            )],
            fixed: vec![],
            requests: vec!["/v1/credit_balances?customer=togai:ACC001".into()],
        },
    ]
}
