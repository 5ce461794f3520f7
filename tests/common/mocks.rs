//! Vendor answers for the wiremock servers of [`super::Harness`]: each vendor's fixtures
//! and the responders that page them in its dialect.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Respond, ResponseTemplate};

use super::*;

// ---- Stripe ----

/// `GET /v1/billing/credit_balance_summary` for `cus_1`: 12.50 USD.
pub fn stripe_summary() -> Value {
    json!({"object": "billing.credit_balance_summary", "customer": "cus_1", "livemode": false,
           "balances": [{"available_balance": {"monetary": {"currency": "usd", "value": 1250}, "type": "monetary"},
                         "ledger_balance": {"monetary": {"currency": "usd", "value": 1250}, "type": "monetary"}}]})
}

pub fn stripe_grant(i: usize) -> Value {
    json!({
        "id": format!("credgr_{i:04}"), "object": "billing.credit_grant",
        "amount": {"monetary": {"currency": "usd", "value": 1000 + i}, "type": "monetary"},
        "applicability_config": {"scope": {"price_type": "metered"}}, "category": if i % 2 == 0 { "paid" } else { "promotional" },
        "created": 1726619434 + i, "customer": "cus_1", "customer_account": null, "effective_at": 1726619434,
        "expires_at": null, "livemode": false, "metadata": {"n": i.to_string()}, "name": format!("Grant {i}"),
        "priority": 50, "test_clock": null, "updated": 1726619434, "voided_at": null
    })
}

pub fn stripe_txn(i: usize) -> Value {
    json!({
        "id": format!("cbtxn_{i:04}"), "object": "billing.credit_balance_transaction", "created": 1726619524 + i,
        "credit": null, "credit_grant": "credgr_0001",
        "debit": {"amount": {"monetary": {"currency": "usd", "value": 100 + i}, "type": "monetary"},
                  "credits_applied": {"invoice": format!("in_{i}"), "invoice_line_item": "il_1"}, "type": "credits_applied"},
        "effective_at": 1729211351, "livemode": false, "test_clock": null, "type": "debit"
    })
}

/// Serves a Stripe list like Stripe: `limit`, `starting_after`, `ending_before`, `has_more`.
pub struct StripeList {
    pub items: Vec<Value>,
    pub url: &'static str,
}

impl Respond for StripeList {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let limit: usize = query(request, "limit").and_then(|l| l.parse().ok()).unwrap_or(10);
        let position = |id: &str| {
            self.items
                .iter()
                .position(|i| i["id"] == id)
                .expect("cursor names a known id")
        };
        let (data, has_more): (Vec<Value>, bool) = if let Some(after) = query(request, "starting_after") {
            let start = position(&after) + 1;
            let end = (start + limit).min(self.items.len());
            (self.items[start..end].to_vec(), end < self.items.len())
        } else if let Some(before) = query(request, "ending_before") {
            let end = position(&before);
            let start = end.saturating_sub(limit);
            (self.items[start..end].to_vec(), start > 0)
        } else {
            let end = limit.min(self.items.len());
            (self.items[..end].to_vec(), end < self.items.len())
        };
        ResponseTemplate::new(200)
            .set_body_json(json!({"object": "list", "url": self.url, "has_more": has_more, "data": data}))
    }
}

// ---- Vayu ----

pub fn vayu_entry(i: usize) -> Value {
    json!({
        "id": format!("65f0c0ffee01234567{i:06x}"), "createdAt": format!("2024-03-{:02}T10:00:00.000Z", 1 + i % 28),
        "type": if i % 3 == 0 { "Grant" } else { "Deduct" }, "amount": 10 + i, "balanceAfterEntry": 1000 + i,
        "integrationEntities": []
    })
}

/// Serves `GET /credits` like the spec: `cursor` = last entry id, `limit`, no next cursor.
pub struct VayuLedger {
    pub entries: Vec<Value>,
}

impl Respond for VayuLedger {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let limit: usize = query(request, "limit").and_then(|l| l.parse().ok()).unwrap_or(10);
        let start = match query(request, "cursor") {
            Some(c) => {
                self.entries
                    .iter()
                    .position(|e| e["id"] == c.as_str())
                    .expect("known cursor")
                    + 1
            }
            None => 0,
        };
        let end = (start + limit).min(self.entries.len());
        ResponseTemplate::new(200).set_body_json(json!({"entries": self.entries[start.min(end)..end]}))
    }
}

// ---- Togai ----

pub const TOGAI_KEY: &str = "togai-secret";

pub fn togai_credit(i: usize) -> Value {
    json!({
        "id": format!("cred.{i:04}.x"), "customerId": "7VcRw9xZDIqsC5E", "accountId": "ACC001",
        "purpose": format!("Credit {i}"), "effectiveFrom": "2020-07-04", "effectiveUntil": "2031-07-04",
        "status": "ACTIVE", "creditAmount": 1000 + i, "creditUnit": "USD", "holdAmount": 0, "consumedAmount": i,
        "priority": 1, "createdAt": "2020-07-04 12:00:00+00:00"
    })
}

/// `i`'s transactions: `i % 3` of them (so some credits have none).
pub fn togai_transactions(i: usize) -> Vec<Value> {
    (0..i % 3)
        .map(|t| {
            json!({"id": format!("ctx.{i:04}.{t}"), "creditId": format!("cred.{i:04}.x"),
                   "transactionType": if t == 0 { "CREDITED" } else { "DEBITED" }, "amount": 10 * (t + 1),
                   "createdAt": "2021-01-01 00:00:00+00:00"})
        })
        .collect()
}

/// Serves `GET /credits` like Togai: `pageSize`, `nextToken`, and, with `trailing_token`,
/// a token on the last page that leads to an empty page.
pub struct TogaiCredits {
    pub credits: Vec<Value>,
    pub trailing_token: bool,
}

impl Respond for TogaiCredits {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let size: usize = query(request, "pageSize").and_then(|l| l.parse().ok()).unwrap_or(10);
        let start: usize = query(request, "nextToken")
            .map(|t| t.trim_start_matches("tok").parse().unwrap())
            .unwrap_or(0);
        let end = (start + size).min(self.credits.len());
        let data = &self.credits[start.min(end)..end];
        let token = if end < self.credits.len() || (self.trailing_token && start < self.credits.len()) {
            json!(format!("tok{end}"))
        } else {
            Value::Null
        };
        let mut body = json!({"data": data});
        if !token.is_null() {
            body["nextToken"] = token;
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

// ---- Metronome ----

pub const METRONOME_KEY: &str = "metronome-bearer-secret";
pub const METRONOME_CUSTOMER: &str = "13117714-3f05-48e5-a6e9-a66093f13b4d";

pub fn metronome_credit(i: usize) -> Value {
    json!({
        "id": format!("00000000-0000-4000-8000-{i:012}"), "type": "CREDIT", "name": format!("Credit {i}"), "priority": 100,
        "product": {"id": "2e30f074-d04c-412e-a134-851ebfa5ceb2", "name": "My product A"},
        "access_schedule": {"credit_type": {"id": "2714e483-4ff1-48e4-9e25-ac732e8f24f2", "name": "USD (cents)"},
            "schedule_items": [{"id": "2d45952c-5a6e-43a9-8aab-f61ee21be81a", "amount": 1000 + i,
                                "starting_at": "2024-01-01T00:00:00.000Z", "ending_before": "2099-01-01T00:00:00.000Z"}]},
        "balance": 500 + i,
        "ledger": (0..i % 3).map(|t| json!({"type": if t == 0 { "CREDIT_SEGMENT_START" } else { "CREDIT_AUTOMATED_INVOICE_DEDUCTION" },
            "timestamp": "2024-01-01T00:00:00.000Z", "amount": 100, "segment_id": "2d45952c-5a6e-43a9-8aab-f61ee21be81a",
            "invoice_id": "525b9759-7bbd-4a05-aab1-d7c43c976b57"})).collect::<Vec<_>>()
    })
}

/// Serves `POST /v1/contracts/customerCredits/list` like Metronome: body `limit` and
/// `next_page`; `next_page` null at the end; ledgers and balances only when asked for.
pub struct MetronomeCredits {
    pub credits: Vec<Value>,
}

impl Respond for MetronomeCredits {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let limit = body["limit"].as_u64().unwrap() as usize;
        if !(1..=25).contains(&limit) {
            return ResponseTemplate::new(400).set_body_json(json!({"message": "limit must be between 1 and 25"}));
        }
        let start: usize = body["next_page"]
            .as_str()
            .map_or(0, |t| t.trim_start_matches("p").parse().unwrap());
        let mut credits: Vec<Value> = self.credits.clone();
        if let Some(id) = body["credit_id"].as_str() {
            credits.retain(|c| c["id"] == id);
        }
        let end = (start + limit).min(credits.len());
        let data: Vec<Value> = credits[start.min(end)..end]
            .iter()
            .map(|c| {
                let mut c = c.clone();
                let object = c.as_object_mut().unwrap();
                if body["include_ledgers"] != true {
                    object.remove("ledger");
                }
                if body["include_balance"] != true {
                    object.remove("balance");
                }
                c
            })
            .collect();
        let next = if end < credits.len() {
            json!(format!("p{end}"))
        } else {
            Value::Null
        };
        ResponseTemplate::new(200).set_body_json(json!({"data": data, "next_page": next}))
    }
}

// ---- Sequence ----

pub const SEQUENCE_CREDENTIALS: &str = "seq_client_id:seq-client-secret";
pub const SEQUENCE_CUSTOMER: &str = "61b083e0-1faa-47ca-9aeb-6205da8f6c47";

pub fn sequence_grant(i: usize) -> Value {
    json!({
        "id": format!("00000000-0000-4000-9000-{i:012}"), "sequenceAccountId": "dce9ae85-d8d0-42b4-bcad-f221a64363c6",
        "customerId": SEQUENCE_CUSTOMER, "name": format!("Grant {i}"), "creditUnitType": "CURRENCY", "currency": "GBP",
        "amount": 10 + i, "costOfCredit": 10, "effectiveDate": "2023-01-01", "expiryDate": "2099-01-31",
        "createdAt": "2022-10-07T14:12:08.826121Z", "integrationIds": []
    })
}

/// Serves `GET /api/credits` like Sequence: `limit`, `after`, `before`, and
/// `pagination.{after,before,totalResultSize}` (tokens here are `c<index>`).
pub struct SequenceCredits {
    pub grants: Vec<Value>,
}

impl Respond for SequenceCredits {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let limit: usize = query(request, "limit").and_then(|l| l.parse().ok()).unwrap_or(20);
        let index = |t: String| t.trim_start_matches('c').parse::<usize>().unwrap();
        let n = self.grants.len();
        let (start, end) = match (query(request, "after").map(index), query(request, "before").map(index)) {
            (Some(after), _) => (after, (after + limit).min(n)),
            (None, Some(before)) => (before.saturating_sub(limit), before),
            (None, None) => (0, limit.min(n)),
        };
        let mut pagination = json!({"totalResultSize": n});
        if end < n {
            pagination["after"] = json!(format!("c{end}"));
        }
        if start > 0 {
            pagination["before"] = json!(format!("c{start}"));
        }
        ResponseTemplate::new(200).set_body_json(json!({"items": self.grants[start..end], "pagination": pagination}))
    }
}

/// `GET /credits/{id}`: the credit with its transactions (credit `i` has `i % 3`).
pub struct TogaiCreditDetails {
    pub delay: std::time::Duration,
}

impl Respond for TogaiCreditDetails {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let id = request.url.path().trim_start_matches("/credits/");
        let i: usize = id.trim_start_matches("cred.").trim_end_matches(".x").parse().unwrap();
        let mut credit = togai_credit(i);
        credit["transactions"] = json!(togai_transactions(i));
        ResponseTemplate::new(200).set_delay(self.delay).set_body_json(credit)
    }
}

pub async fn mount_stripe_grants(h: &Harness, n: usize) {
    Mock::given(method("GET"))
        .and(path("/v1/billing/credit_grants"))
        .respond_with(StripeList {
            items: (0..n).map(stripe_grant).collect(),
            url: "/v1/billing/credit_grants",
        })
        .mount(&h.stripe)
        .await;
}

pub async fn mount_vayu(h: &Harness, n: usize) {
    Mock::given(method("POST"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"accessToken": "tok"})))
        .mount(&h.vayu)
        .await;
    Mock::given(method("GET"))
        .and(path("/credits"))
        .respond_with(VayuLedger {
            entries: (0..n).map(vayu_entry).collect(),
        })
        .mount(&h.vayu)
        .await;
}

/// Mounts a small data set at every vendor for `[customers.everywhere]`.
pub async fn mount_all_five(h: &Harness) {
    Mock::given(path("/v1/billing/credit_balance_transactions"))
        .respond_with(StripeList {
            items: (0..3).map(stripe_txn).collect(),
            url: "/v1/billing/credit_balance_transactions",
        })
        .mount(&h.stripe)
        .await;
    mount_stripe_grants(h, 2).await;
    Mock::given(path("/v1/billing/credit_balance_summary"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stripe/credit_balance_summary.stripe-mock.json")),
        )
        .mount(&h.stripe)
        .await;
    Mock::given(path("/v1/contracts/customerCredits/list"))
        .respond_with(MetronomeCredits {
            credits: (0..4).map(metronome_credit).collect(),
        })
        .mount(&h.metronome)
        .await;
    let seq_grant = "00000000-0000-4000-9000-000000000001";
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/balances")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{
            "id": "GBP", "type": "CASH", "name": "GBP", "balance": "7",
            "grants": [{"id": seq_grant, "customerId": SEQUENCE_CUSTOMER, "type": "CASH", "currency": "GBP", "name": "GBP",
                        "originalAmount": "10", "currentBalance": "7", "costOfCredit": "10", "createdAt": "2024-01-01T00:00:00Z",
                        "sequenceAccountId": "a507e782-d26b-4d34-92b9-aacd1667e1f0"}],
            "transactions": [{"id": "s1", "grantId": seq_grant, "type": "CREDIT", "amount": "10", "date": "2024-01-01"},
                             {"id": "s2", "grantId": seq_grant, "type": "DEBIT", "amount": "3", "date": "2024-01-02"}]}]})))
        .mount(&h.sequence)
        .await;
    Mock::given(path(format!("/api/credits/{SEQUENCE_CUSTOMER}/grants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{
            "id": seq_grant, "name": "Welcome", "grantAmount": 10, "balance": 7, "issueDate": "2024-01-01"}]})))
        .mount(&h.sequence)
        .await;
    Mock::given(path("/credits"))
        .respond_with(TogaiCredits {
            credits: (0..3).map(togai_credit).collect(),
            trailing_token: true,
        })
        .mount(&h.togai)
        .await;
    Mock::given(wiremock::matchers::path_regex(r"^/credits/cred\.[0-9]{4}\.x$"))
        .respond_with(TogaiCreditDetails {
            delay: std::time::Duration::ZERO,
        })
        .mount(&h.togai)
        .await;
    Mock::given(path("/accounts/ACC001/credit_balance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("togai/credit_balance.spec-example.json")))
        .mount(&h.togai)
        .await;
    mount_vayu(h, 2).await;
}

/// Every mock vendor fails the test if it is called at all.
pub async fn forbid_vendor_calls(h: &Harness) {
    for server in [&h.stripe, &h.metronome, &h.sequence, &h.togai, &h.vayu] {
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(server)
            .await;
    }
}
