//! The Metronome endpoint creditgate reads, for its fidelity tests (`tests/common/fidelity/`).

use crate::common::fidelity::{load, mock, Endpoint};
use crate::common::METRONOME_CUSTOMER;

pub fn endpoints() -> Vec<Endpoint> {
    let customer = format!("metronome:{METRONOME_CUSTOMER}");
    vec![Endpoint {
        name: "metronome POST /v1/contracts/customerCredits/list",
        seed: 4,
        spec: load("metronome/list-credits.openapi.json"),
        mocks: vec![mock(
            "metronome",
            "POST",
            "^/v1/contracts/customerCredits/list$",
            "/v1/contracts/customerCredits/list",
            "post",
        )],
        fixed: vec![],
        requests: vec![
            format!("/v1/credit_grants?customer={customer}&limit=20"),
            format!("/v1/credit_ledger_entries?customer={customer}&limit=20"),
            format!("/v1/credit_balances?customer={customer}"),
        ],
    }]
}
