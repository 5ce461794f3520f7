//! The Lago endpoints creditgate reads, for its fidelity tests (`tests/common/fidelity/`).

use crate::common::fidelity::{load, mock, Endpoint};

const WALLET: &str = "1a901a90-1a90-1a90-1a90-1a901a901a90";

pub fn endpoints() -> Vec<Endpoint> {
    let spec = load("lago/lago-credits.trimmed.json");
    let wallets = mock("lago", "GET", "^/api/v1/wallets$", "/wallets", "get");
    vec![
        Endpoint {
            name: "lago GET /wallets",
            seed: 21,
            spec: spec.clone(),
            mocks: vec![wallets.clone()],
            fixed: vec![],
            requests: vec![
                "/v1/credit_grants?customer=lago:cust_1&limit=20".into(),
                "/v1/credit_balances?customer=lago:cust_1".into(),
            ],
        },
        Endpoint {
            name: "lago GET /wallets/{lago_id}",
            seed: 22,
            spec: spec.clone(),
            mocks: vec![mock(
                "lago",
                "GET",
                "^/api/v1/wallets/[^/]+$",
                "/wallets/{lago_id}",
                "get",
            )],
            fixed: vec![],
            requests: vec![format!("/v1/credit_grants/lago:{WALLET}")],
        },
        Endpoint {
            name: "lago GET /wallets/{lago_id}/wallet_transactions (+ the wallets it walks)",
            seed: 23,
            spec,
            mocks: vec![
                wallets,
                mock(
                    "lago",
                    "GET",
                    "^/api/v1/wallets/[^/]+/wallet_transactions$",
                    "/wallets/{lago_id}/wallet_transactions",
                    "get",
                ),
            ],
            fixed: vec![],
            requests: vec!["/v1/credit_ledger_entries?customer=lago:cust_1&limit=20".into()],
        },
    ]
}
