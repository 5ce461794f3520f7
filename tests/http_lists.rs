//! Lists over the HTTP API with mock vendors: cursors bound to what they page, aliases
//! concatenating providers with one cursor, balances and partial answers across an alias,
//! one customer across all five vendors, and a vendor slow or unreachable.

mod common;

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{any, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn cursors_are_bound_to_tenant_filters_and_integrity() {
    let h = Harness::with(Options {
        stripe_page_size: Some(2),
        ..Options::new()
    })
    .await;
    let cursor = {
        let _guard = Mock::given(path("/v1/billing/credit_grants"))
            .respond_with(StripeList {
                items: (0..5).map(stripe_grant).collect(),
                url: "/v1/billing/credit_grants",
            })
            .mount_as_scoped(&h.stripe)
            .await;
        let page = h.get("/v1/credit_grants?customer=stripe:cus_1&limit=2").await;
        page.body["next_cursor"].as_str().unwrap().to_owned()
    };
    forbid_vendor_calls(&h).await;

    let mut tampered = cursor.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let r = h
        .get(&format!("/v1/credit_grants?customer=stripe:cus_1&cursor={tampered}"))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));

    let r = h
        .get_as(
            &format!("/v1/credit_grants?customer=stripe:cus_1&cursor={cursor}"),
            Some(OTHER_TENANT_KEY),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("another tenant"));

    let r = h
        .get(&format!(
            "/v1/credit_grants?customer=stripe:cus_1&status=active&cursor={cursor}"
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));
    let r = h.get(&format!("/v1/credit_grants?customer=acme&cursor={cursor}")).await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));
    let r = h
        .get(&format!(
            "/v1/credit_ledger_entries?customer=stripe:cus_1&cursor={cursor}"
        ))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_cursor"));
}

#[tokio::test]
async fn an_alias_concatenates_providers_in_config_order_with_one_cursor() {
    let h = Harness::with(Options {
        stripe_page_size: Some(2),
        vayu_page_size: Some(3),
        ..Options::new()
    })
    .await;
    Mock::given(path("/v1/billing/credit_balance_transactions"))
        .respond_with(StripeList {
            items: (0..5).map(stripe_txn).collect(),
            url: "/v1/billing/credit_balance_transactions",
        })
        .mount(&h.stripe)
        .await;
    mount_vayu(&h, 4).await;

    let stripe_ids: Vec<String> = (0..5).map(|i| format!("stripe:cbtxn_{i:04}")).collect();
    let vayu_ids: Vec<String> = (0..4).map(|i| format!("vayu:65f0c0ffee01234567{i:06x}")).collect();
    for limit in [1, 2, 3, 4, 5, 7, 9, 500] {
        let pages = h
            .walk(&format!("/v1/credit_ledger_entries?customer=acme&limit={limit}"))
            .await;
        let all: Vec<String> = pages.iter().flat_map(ids).collect();
        assert_eq!(all, [stripe_ids.clone(), vayu_ids.clone()].concat(), "limit {limit}");
        assert!(pages
            .iter()
            .all(|p| !p.body.as_object().unwrap().contains_key("previous_cursor")));
    }
    let pages = h.walk("/v1/credit_ledger_entries?customer=vayu_first&limit=3").await;
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(all, [vayu_ids.clone(), stripe_ids.clone()].concat());

    let only_vayu = h
        .walk("/v1/credit_ledger_entries?customer=acme&provider=vayu&limit=2")
        .await;
    assert_eq!(only_vayu.iter().flat_map(ids).collect::<Vec<_>>(), vayu_ids);
}

#[tokio::test]
async fn an_alias_skips_providers_without_the_capability_with_a_note() {
    let h = Harness::new().await;
    mount_stripe_grants(&h, 2).await;
    let r = h.get("/v1/credit_grants?customer=acme").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r), vec!["stripe:credgr_0000", "stripe:credgr_0001"]);
    assert_eq!(
        r.body["skipped"],
        json!([{"provider": "vayu", "code": "unsupported_by_provider", "message": "vayu does not support credit_grants"}])
    );
    let r = h.get("/v1/credit_grants?customer=acme&provider=vayu").await;
    assert_eq!((r.status, r.code()), (501, "unsupported_by_provider"));
}

#[tokio::test]
async fn balances_for_an_alias_cover_every_provider() {
    let h = Harness::new().await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "billing.credit_balance_summary", "customer": "cus_1", "customer_account": null, "livemode": false,
            "balances": [{"available_balance": {"monetary": {"currency": "eur", "value": 999}, "type": "monetary"},
                          "ledger_balance": {"monetary": {"currency": "eur", "value": 999}, "type": "monetary"}}]})))
        .mount(&h.stripe)
        .await;
    mount_vayu(&h, 3).await;
    let r = h.get("/v1/credit_balances?customer=acme").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows: Vec<(Value, Value)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["provider"].clone(), b["available"]["value"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![(json!("stripe"), json!("9.99")), (json!("vayu"), json!("1002"))]
    );
    assert_eq!(r.body["has_more"], false);
}

/// One vendor of an alias down: the others' balances are answered, the failed provider is
/// named in `skipped` with its code, `X-Partial: true` says so, and the partial answer is
/// not kept; `require=all` asks for all or nothing.
#[tokio::test]
async fn an_alias_answers_what_it_can_when_one_vendor_is_down() {
    let h = Harness::with(Options {
        stripe_base_url: Some("http://127.0.0.1:1".into()),
        upstream: "connect_timeout_ms = 300\n[upstream.retry]\nmax_attempts = 1",
        ..Options::new()
    })
    .await;
    mount_vayu(&h, 3).await;
    let r = h.get("/v1/credit_balances?customer=acme").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["x-partial"], "true");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body["data"][0]["provider"], "vayu");
    assert_eq!(r.body["skipped"][0]["provider"], "stripe", "{}", r.body);
    assert_eq!(r.body["skipped"][0]["code"], "upstream_unreachable", "{}", r.body);
    // Not kept: asked again, it is computed again (and still partial).
    let again = h.get("/v1/credit_balances?customer=acme").await;
    assert_eq!(again.headers["x-partial"], "true");
    assert_ne!(again.headers["x-cache"], "hit");
    // All or nothing.
    let all = h.get("/v1/credit_balances?customer=acme&require=all").await;
    assert_eq!((all.status, all.code()), (503, "upstream_unreachable"), "{}", all.body);
    let bad = h.get("/v1/credit_balances?customer=acme&require=some").await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_parameter"));
    // One provider asked alone is still its own answer.
    let alone = h.get("/v1/credit_balances?customer=stripe:cus_1").await;
    assert_eq!((alone.status, alone.code()), (503, "upstream_unreachable"));
    // A whole answer says nothing of being partial.
    let vayu = h
        .get(&format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"))
        .await;
    assert_eq!(vayu.status, 200);
    assert!(vayu.headers.get("x-partial").is_none());
}

#[tokio::test]
async fn a_slow_vendor_is_a_504_within_the_request_timeout() {
    let h = Harness::with(Options {
        upstream: "attempt_timeout_ms = 300",
        ..Options::new()
    })
    .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)))
        .mount(&h.stripe)
        .await;
    let started = std::time::Instant::now();
    let r = h.get("/v1/credit_grants?customer=stripe:cus_1").await;
    assert_eq!((r.status, r.code()), (504, "upstream_timeout"), "{}", r.body);
    assert_eq!(r.body["error"]["type"], "upstream_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_vendor_is_a_503() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let h = Harness::with(Options {
        vayu_base_url: Some(format!("http://{closed}")),
        upstream: "connect_timeout_ms = 500",
        ..Options::new()
    })
    .await;
    let r = h
        .get(&format!("/v1/credit_balances?customer=vayu:{VAYU_CUSTOMER}"))
        .await;
    assert_eq!((r.status, r.code()), (503, "upstream_unreachable"), "{}", r.body);
    assert_eq!(r.body["error"]["provider"], "vayu");
}

#[tokio::test]
async fn one_customer_across_all_five_vendors() {
    let h = Harness::with(Options {
        stripe_page_size: Some(2),
        metronome_page_size: Some(2),
        togai_page_size: Some(2),
        vayu_page_size: Some(2),
        ..Options::new()
    })
    .await;
    mount_all_five(&h).await;

    let mut expected: Vec<String> = (0..3).map(|i| format!("stripe:cbtxn_{i:04}")).collect();
    for i in 0..4usize {
        for t in 0..i % 3 {
            expected.push(format!("metronome:00000000-0000-4000-8000-{i:012}.{t}"));
        }
    }
    expected.extend(["sequence:s1".to_owned(), "sequence:s2".to_owned()]);
    for i in 0..3usize {
        for t in 0..i % 3 {
            expected.push(format!("togai:ctx.{i:04}.{t}"));
        }
    }
    expected.extend((0..2).map(|i| format!("vayu:65f0c0ffee01234567{i:06x}")));
    for limit in [1, 2, 3, 5, 8, 500] {
        let pages = h
            .walk(&format!("/v1/credit_ledger_entries?customer=everywhere&limit={limit}"))
            .await;
        assert_eq!(
            pages.iter().flat_map(ids).collect::<Vec<_>>(),
            expected,
            "limit {limit}"
        );
        assert!(pages.iter().all(|p| !ids(p).is_empty()), "limit {limit}: no empty page");
    }

    let grants = h.get("/v1/credit_grants?customer=everywhere&limit=500").await;
    assert_eq!(grants.status, 200, "{}", grants.body);
    let providers: Vec<&str> = grants.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        [
            "stripe",
            "stripe",
            "metronome",
            "metronome",
            "metronome",
            "metronome",
            "sequence",
            "togai",
            "togai",
            "togai"
        ]
    );
    assert_eq!(grants.body["skipped"][0]["provider"], "vayu");

    let balances = h.get("/v1/credit_balances?customer=everywhere").await;
    assert_eq!(balances.status, 200, "{}", balances.body);
    let rows: Vec<(String, String)> = balances.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["provider"].as_str().unwrap().to_owned(),
                b["available"]["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |p: &str, v: &str| (p.to_owned(), v.to_owned());
    assert_eq!(
        rows,
        vec![
            row("stripe", "1119727.21"),
            row("metronome", "20.06"),
            row("sequence", "7"),
            row("togai", "800"),
            row("vayu", "1001")
        ]
    );
}
