//! Togai's credits API (`togai-credits-wallet.trimmed.yaml`): Bearer auth, `GET /credits`
//! paged by `nextToken` with `pageSize` ≤ 50 (50 by default), credits' transactions only in
//! `GET /credits/{credit_id}`, the account balance, `{"message"}` error bodies. Its quirk:
//! the last page still carries a `nextToken`, which leads to an empty page.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::book::{Book, Customer, Ended, EntryKind, Written};
use super::{
    bearer, date, json, major, minor_units, normalized, now_unix, number, parse_time, query_pairs, query_value,
    SimState, Truth, VendorError,
};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Togai;
const MAX_PAGE_SIZE: usize = 50;
const UNIT: &str = "USD";
const EXPONENT: u32 = 2;

/// Where the API sits under the simulator's address, the simulator's credential, and the
/// keys of `[providers.togai]` beyond the common ones (for the demo's config).
pub(super) const BASE_PATH: &str = "";
pub(super) fn credential(seed: u64) -> String {
    format!("togai-sim-key-{seed:x}")
}
pub(super) fn demo_config() -> String {
    String::new()
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/credits", get(list_credits).post(create_credits))
        .route("/credits/{credit_id}", get(credit_details))
        .route("/credits/{credit_id}/void", post(void_credit))
        .route("/accounts/{account_id}/credit_balance", get(credit_balance))
}

pub(super) fn customer_id(_seed: u64, index: usize) -> String {
    format!("ACC-SIM-{index:04}")
}

fn credit_id(customer: usize, k: usize) -> String {
    format!("cred.sim{customer:04}.{k}")
}

fn transaction_id(customer: usize, j: usize) -> String {
    format!("ctx.sim{customer:04}.{j}")
}

pub(super) fn error(error: VendorError) -> Response {
    match error {
        VendorError::Unauthorized => message(StatusCode::UNAUTHORIZED, "Invalid API key"),
        VendorError::RateLimited => message(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        VendorError::Internal => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "message": text }))
}

fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    if bearer(headers) == Some(state.credential.as_str()) {
        Ok(())
    } else {
        Err(error(VendorError::Unauthorized))
    }
}

fn money(minor: i64) -> Decimal {
    major(minor, EXPONENT)
}

/// Togai's timestamps: `2020-07-04 12:00:00+00:00`.
fn togai_time(unix: i64) -> String {
    let t = super::rfc3339_millis(unix);
    format!("{} {}+00:00", &t[..10], &t[11..19])
}

fn credit_json(c: &Customer, k: usize) -> Value {
    let g = &c.grants[k];
    let status = match g.ended {
        Some((Ended::Voided | Ended::Deleted, _)) => "VOIDED",
        Some((Ended::Expired, _)) => "EXPIRED",
        None if g.remaining == 0 => "CONSUMED",
        None => "ACTIVE",
    };
    let mut credit = json!({
        "id": credit_id(c.index, k), "customerId": format!("CUST-SIM-{:04}", c.index), "accountId": customer_id(0, c.index),
        "purpose": if g.promotional { "PROMOTIONAL" } else { "PREPAID_CREDIT" },
        "effectiveFrom": date(c.grant_at(k)), "effectiveUntil": "2099-12-31",
        "status": status,
        "creditAmount": number(money(g.amount)), "creditUnit": UNIT, "holdAmount": 0,
        "consumedAmount": number(money(g.amount - g.remaining)), "priority": 1 + k,
        "createdAt": togai_time(c.grant_at(k)), "applicableEntityIds": []
    });
    if let Some(w) = &g.written {
        credit["purpose"] = json!(w.name);
        credit["effectiveFrom"] = json!(w.effective_at.map(date));
        credit["effectiveUntil"] = json!(w.expires_at.map(date));
        credit["idempotencyKey"] = json!(w.key);
        if let Some(p) = w.priority.as_deref().and_then(|p| p.parse::<serde_json::Number>().ok()) {
            credit["priority"] = Value::Number(p);
        }
    }
    credit
}

/// Tokens name the listing (one account, or all) and where the next page starts.
fn page_token(scope: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{scope}|{offset}"))
}

async fn list_credits(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let pairs = query_pairs(q.as_deref());
    let size = match query_value(&pairs, "pageSize").map(str::parse::<usize>) {
        None => MAX_PAGE_SIZE,
        Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        Some(_) => return message(StatusCode::BAD_REQUEST, "pageSize must be between 1 and 50"),
    };
    let account = query_value(&pairs, "account_id");
    let book = state.book();
    let customers: Vec<&Customer> = match account {
        None => book.customers.iter().collect(),
        Some(id) => match state.customer_index(id) {
            Some(i) => vec![&book.customers[i]],
            None => return message(StatusCode::NOT_FOUND, &format!("Account with id {id} not found")),
        },
    };
    let credits: Vec<(&Customer, usize)> = customers
        .into_iter()
        .flat_map(|c| (0..c.grants.len()).map(move |k| (c, k)))
        .collect();
    let scope = account.unwrap_or("*");
    let start = match query_value(&pairs, "nextToken") {
        None => 0,
        Some(token) => {
            let parsed = URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| {
                    let (s, o) = t.rsplit_once('|')?;
                    (s == scope).then(|| o.parse::<usize>().ok()).flatten()
                });
            match parsed {
                Some(offset) if offset <= credits.len() => offset,
                _ => return message(StatusCode::BAD_REQUEST, "Invalid nextToken"),
            }
        }
    };
    let end = (start + size).min(credits.len());
    let data: Vec<Value> = credits[start..end].iter().map(|&(c, k)| credit_json(c, k)).collect();
    let mut body = json!({ "data": data });
    // The quirk: a page that returned credits always offers a next token, even the last.
    if end > start {
        body["nextToken"] = json!(page_token(scope, end));
    }
    json(StatusCode::OK, body)
}

fn find_credit(book: &Book, id: &str) -> Option<(usize, usize)> {
    let (customer, k) = id.strip_prefix("cred.sim")?.split_once('.')?;
    let c = book.customer(customer.parse().ok()?)?;
    let k: usize = k.parse().ok()?;
    (k < c.grants.len() && credit_id(c.index, k) == id).then_some((c.index, k))
}

async fn credit_details(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let book = state.book();
    let Some((index, k)) = find_credit(&book, &id) else {
        return message(StatusCode::NOT_FOUND, &format!("Credit with id {id} not found"));
    };
    let c = &book.customers[index];
    let mut credit = credit_json(c, k);
    let transactions: Vec<Value> = c.by_grant[k]
        .iter()
        .map(|&j| {
            let e = &c.entries[j as usize];
            let (kind, invoice) = match e.kind {
                EntryKind::Grant | EntryKind::ManualCredit => ("CREDITED", Value::Null),
                EntryKind::Debit | EntryKind::ManualDebit => ("DEBITED", json!(format!("inv.sim{:04}.{j}", c.index))),
                EntryKind::Void => ("VOIDED", Value::Null),
                EntryKind::Expire => ("EXPIRED", Value::Null),
            };
            let mut t = json!({"id": transaction_id(c.index, j as usize), "creditId": credit_id(c.index, k),
                               "transactionType": kind, "amount": number(money(e.amount)),
                               "createdAt": togai_time(c.entry_at(j as usize))});
            if !invoice.is_null() {
                t["invoiceId"] = invoice;
            }
            t
        })
        .collect();
    credit["transactions"] = Value::Array(transactions);
    json(StatusCode::OK, credit)
}

async fn credit_balance(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let Some(index) = state.customer_index(&id) else {
        return message(StatusCode::NOT_FOUND, &format!("Account with id {id} not found"));
    };
    let book = state.book();
    let c = &book.customers[index];
    let active: i64 = c.grants.iter().map(|g| g.amount).sum();
    let last = c
        .entries
        .len()
        .checked_sub(1)
        .map_or(super::book::EPOCH, |j| c.entry_at(j));
    json(
        StatusCode::OK,
        json!({"activeCredits": number(money(active)), "availableBalance": number(money(c.balance())),
               "runningBalance": number(money(c.balance())), "inapplicableCredits": 0,
               "unit": UNIT, "lastUpdatedAt": togai_time(last)}),
    )
}

// ---- writes ----

/// One `CreditRequest`, checked: the account, the amount in cents and what is written.
fn credit_request(state: &SimState, request: &Value) -> Result<(usize, i64, Written), Response> {
    let bad = |text: &str| message(StatusCode::BAD_REQUEST, text);
    for required in ["accountId", "effectiveFrom", "priority", "purpose"] {
        if request[required].is_null() {
            return Err(bad(&format!("{required} is required")));
        }
    }
    let account = request["accountId"].as_str().unwrap_or_default();
    let index = state
        .customer_index(account)
        .ok_or_else(|| message(StatusCode::NOT_FOUND, &format!("Account with id {account} not found")))?;
    let amount = minor_units(&request["creditAmount"], EXPONENT)
        .ok_or_else(|| bad("creditAmount must be positive, in whole cents"))?;
    let priority = request["priority"]
        .as_i64()
        .ok_or_else(|| bad("priority must be an integer"))?;
    let day = |field: &str| -> Result<Option<i64>, Response> {
        match request[field].as_str() {
            None => Ok(None),
            Some(d) => parse_time(d)
                .map(Some)
                .ok_or_else(|| bad(&format!("{field} must be a date"))),
        }
    };
    let written = Written {
        name: request["purpose"].as_str().map(str::to_owned),
        priority: Some(priority.to_string()),
        effective_at: day("effectiveFrom")?,
        expires_at: day("effectiveUntil")?,
        metadata: Default::default(),
        key: request["idempotencyKey"].as_str().map(str::to_owned),
    };
    Ok((index, amount, written))
}

async fn create_credits(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let Some(requests) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["creditRequests"].as_array().cloned())
    else {
        return message(StatusCode::BAD_REQUEST, "creditRequests is required");
    };
    let mut checked = Vec::new();
    for request in &requests {
        match credit_request(&state, request) {
            Ok(one) => checked.push(one),
            Err(e) => return e,
        }
    }
    let mut book = state.book_mut();
    // A key names one credit: a request reusing it is refused.
    let used = |key: &Option<String>| {
        key.is_some()
            && book
                .customers
                .iter()
                .flat_map(|c| c.grants.iter())
                .any(|g| g.written.as_ref().is_some_and(|w| w.key == *key))
    };
    if let Some((_, _, w)) = checked.iter().find(|(_, _, w)| used(&w.key)) {
        let key = w.key.clone().unwrap_or_default();
        return message(
            StatusCode::CONFLICT,
            &format!("Credit with idempotencyKey {key} already exists"),
        );
    }
    let mut credits = Vec::new();
    for (index, amount, written) in checked {
        let c = &mut book.customers[index];
        let k = c.add_grant(amount, false, written, now_unix());
        credits.push(credit_json(c, k));
    }
    drop(book);
    state.answer_write(json(StatusCode::OK, json!({ "credits": credits })))
}

async fn void_credit(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let mut book = state.book_mut();
    let Some((index, k)) = find_credit(&book, &id) else {
        return message(StatusCode::NOT_FOUND, &format!("Credit with id {id} not found"));
    };
    let c = &mut book.customers[index];
    if c.grants[k].ended.is_some() {
        return message(
            StatusCode::BAD_REQUEST,
            &format!("Credit {id} is already voided or expired"),
        );
    }
    c.end_grant(k, Ended::Voided, now_unix());
    let answer = credit_json(c, k);
    drop(book);
    state.answer_write(json(StatusCode::OK, answer))
}

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let mut truth = Truth::default();
    for (k, g) in c.grants.iter().enumerate() {
        let id = normalized(VENDOR, &credit_id(index, k));
        truth.grants.insert(id.clone(), (money(g.amount), UNIT.to_owned()));
        let ids = c.by_grant[k]
            .iter()
            .map(|&j| normalized(VENDOR, &transaction_id(index, j as usize)))
            .collect();
        truth.ledger_by_grant.insert(id, ids);
    }
    for (j, e) in c.entries.iter().enumerate() {
        truth.ledger.insert(
            normalized(VENDOR, &transaction_id(index, j)),
            (money(e.signed()), UNIT.to_owned()),
        );
    }
    // Togai answers a balance even for an account without credits.
    truth.balances.insert(UNIT.to_owned(), money(c.balance()));
    truth
}

/// No webhook about credits (see `push.rs`).
pub(super) fn push(_seed: u64, _c: &Customer, _j: usize, _secret: &str) -> Vec<crate::push::Push> {
    Vec::new()
}
