//! Fidelity at the edges of every vendor at once: any cursor text, any amount text and any
//! query string get a contract answer, never a panic. Each vendor's answers generated from
//! its spec are its conformance tests (`tests/common/fidelity/`).

mod common;

use common::*;

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 2000, failure_persistence: None, ..Default::default() })]

    /// Any text as a cursor is refused as a cursor (400), never a panic.
    #[test]
    fn any_cursor_text_is_refused_cleanly(text in ".{0,300}") {
        let codec = creditgate::paging::CursorCodec::new(&creditgate::secret::Secret::new("a-cursor-secret-of-at-least-32-bytes"));
        let scope = creditgate::paging::CursorScope {
            tenant: "t".into(),
            endpoint: "e".into(),
            customer: "c".into(),
            filters: String::new(),
        };
        let refused = codec.decode(&scope, &text).unwrap_err();
        proptest::prop_assert_eq!(refused.type_and_code().1, "invalid_cursor");
    }

    /// Any text as a vendor amount: a value that reads back the same, or a refusal, never a
    /// panic. A decimal's own text always reads back exactly, and minor units with an
    /// exponent a decimal can hold are always exact: those assertions run on every case.
    #[test]
    fn any_amount_text_is_exact_or_refused(
        text in "[-+0-9.eE]{0,40}|.{0,40}",
        mantissa in proptest::num::i64::ANY,
        scale in 0u32..=28,
        minor in proptest::num::i64::ANY,
        exponent in 0u32..40,
    ) {
        use creditgate::model::money::parse_exact_decimal;
        if let Ok(value) = parse_exact_decimal(&text) {
            proptest::prop_assert_eq!(parse_exact_decimal(&value.to_string()), Ok(value));
        }
        let decimal = rust_decimal::Decimal::new(mantissa, scale);
        proptest::prop_assert_eq!(parse_exact_decimal(&decimal.to_string()), Ok(decimal));
        let money = creditgate::model::Money::from_minor_units(rust_decimal::Decimal::from(minor), "usd", exponent);
        if exponent <= 19 {
            let money = money.map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let back = money.value * rust_decimal::Decimal::from(10u64.pow(exponent));
            proptest::prop_assert_eq!(back, rust_decimal::Decimal::from(minor));
        }
    }
}

/// Any query string on every `/v1` route: an answer in the contract's format, never a panic.
#[test]
fn any_query_string_gets_a_contract_answer() {
    use proptest::prelude::*;
    let (runtime, h) = harness_on_runtime(Options::unlimited());
    let names = [
        "customer", "provider", "status", "limit", "cursor", "include", "grant", "x", "",
    ];
    let pair = (
        proptest::sample::select(names.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    );
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 500,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&proptest::collection::vec(pair, 0..5), |pairs| {
            let query: String = pairs
                .iter()
                .map(|(name, value)| {
                    let value: String = value.iter().map(|b| format!("%{b:02X}")).collect();
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("&");
            for route in [
                "/v1/credit_grants",
                "/v1/credit_ledger_entries",
                "/v1/credit_balances",
                "/v1/credit_grants/stripe:credgr_1",
            ] {
                let r = runtime.block_on(h.get(&format!("{route}?{query}")));
                prop_assert!(
                    r.status != 500 && r.body["error"].is_object() || r.status < 300,
                    "{route}?{query}: {} {}",
                    r.status,
                    r.body
                );
            }
            Ok(())
        })
        .unwrap();
}
