//! The Vayu endpoint creditgate reads, for its fidelity tests (`tests/common/fidelity/`),
//! behind Vayu's login.

use serde_json::json;

use crate::common::fidelity::{load, mock, Endpoint};
use crate::common::VAYU_CUSTOMER;

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint {
        name: "vayu GET /credits",
        seed: 12,
        spec: load("vayu/vayu-credits.trimmed.json"),
        mocks: vec![mock("vayu", "GET", "^/credits$", "/credits", "get")],
        fixed: vec![("vayu", "POST", "/login", json!({"accessToken": "tok"}))],
        requests: vec![
            format!("/v1/credit_ledger_entries?customer=vayu:{VAYU_CUSTOMER}&limit=20"),
            format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"),
        ],
    }]
}
