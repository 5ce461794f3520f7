//! Sequence's credits API, version 2024-07-30 (`sequence-credits.trimmed.json`): Basic
//! `clientId:clientSecret`, the `Sequence-Version` header, an account-wide `GET /credits`
//! paged by `after`/`before` with `pagination.{after,before,totalResultSize}` and `limit`
//! 1..=100, unpaginated per-customer grants and balances. Its quirk: amounts are JSON
//! numbers in grant lists and strings in balances.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::book::{uuid, Book, Customer, Ended, Written};
use super::{
    date, json, major, minor_units, normalized, now_unix, number, parse_time, query_pairs, query_value, rfc3339_millis,
    SimState, Truth, VendorError,
};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Sequence;
const VERSION: &str = "2024-07-30";
const CURRENCY: &str = "GBP";
const EXPONENT: u32 = 2;
/// The simulated Sequence account (`sequenceAccountId`).
pub const ACCOUNT: &str = "dce9ae85-d8d0-42b4-bcad-f221a64363c6";

/// Where the API sits under the simulator's address, the simulator's credential, and the
/// keys of `[providers.sequence]` beyond the common ones (for the demo's config).
pub(super) const BASE_PATH: &str = "/api";
pub(super) fn credential(seed: u64) -> String {
    format!("sim_client_{seed:x}:sim-client-secret-{seed:x}")
}
pub(super) fn demo_config() -> String {
    format!("sequence_account_id = \"{ACCOUNT}\"\n")
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/api/credits", get(list_grants).post(create_grant))
        .route("/api/credits/{id}", get(get_grant).delete(delete_grant))
        .route("/api/credits/{id}/grants", get(customer_grants))
        .route("/api/credits/{id}/balances", get(customer_balances))
}

pub(super) fn customer_id(seed: u64, index: usize) -> String {
    uuid(seed, &[0x5C, index as u64])
}

fn grant_id(seed: u64, customer: usize, k: usize) -> String {
    uuid(seed, &[0x56, customer as u64, k as u64])
}

fn transaction_id(seed: u64, customer: usize, j: usize) -> String {
    uuid(seed, &[0x57, customer as u64, j as u64])
}

pub(super) fn error(error: VendorError) -> Response {
    match error {
        VendorError::Unauthorized => message(StatusCode::UNAUTHORIZED, "Unauthorized"),
        VendorError::RateLimited => message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        VendorError::Internal => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "error": text }))
}

/// Basic credentials, then the API version (absent means the account's default).
fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok());
    if given.as_deref() != Some(state.credential.as_bytes()) {
        return Err(error(VendorError::Unauthorized));
    }
    match headers.get("sequence-version").map(|v| v.to_str().unwrap_or("")) {
        None | Some(VERSION) => Ok(()),
        Some(other) => Err(message(
            StatusCode::BAD_REQUEST,
            &format!("Unsupported Sequence-Version '{other}'"),
        )),
    }
}

fn money(minor: i64) -> Decimal {
    major(minor, EXPONENT)
}

/// A grant's name, effective date and expiry date (the last day it can be used).
fn grant_fields(c: &Customer, k: usize) -> (String, String, String) {
    let w = c.grants[k].written.as_deref();
    (
        w.and_then(|w| w.name.clone())
            .unwrap_or_else(|| format!("Simulated grant {k}")),
        date(w.and_then(|w| w.effective_at).unwrap_or(c.grant_at(k))),
        w.and_then(|w| w.expires_at)
            .map_or_else(|| "2099-12-31".to_owned(), date),
    )
}

/// `CreditGrant`, amounts as numbers.
fn grant_json(seed: u64, c: &Customer, k: usize) -> Value {
    let g = &c.grants[k];
    let (name, effective, expiry) = grant_fields(c, k);
    json!({
        "id": grant_id(seed, c.index, k), "sequenceAccountId": ACCOUNT, "customerId": customer_id(seed, c.index),
        "name": name, "creditUnitType": "CURRENCY", "currency": CURRENCY,
        "amount": number(money(g.amount)), "costOfCredit": number(money(g.amount)),
        "effectiveDate": effective, "expiryDate": expiry,
        "createdAt": rfc3339_millis(c.grant_at(k)), "integrationIds": []
    })
}

/// Whether grant `k` still exists (a `DELETE` removes it).
fn listed(c: &Customer, k: usize) -> bool {
    c.grants[k].ended.is_none_or(|(how, _)| how != Ended::Deleted)
}

/// Every grant of the account: customers in order, each customer's grants in order.
fn account_grants(book: &Book) -> Vec<(usize, usize)> {
    book.customers
        .iter()
        .flat_map(|c| (0..c.grants.len()).filter(|&k| listed(c, k)).map(move |k| (c.index, k)))
        .collect()
}

/// Tokens are the base64 of the grant id at the page boundary.
fn token(seed: u64, (c, k): (usize, usize)) -> String {
    STANDARD.encode(grant_id(seed, c, k))
}

async fn list_grants(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let pairs = query_pairs(q.as_deref());
    let limit = match query_value(&pairs, "limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return message(StatusCode::BAD_REQUEST, "limit must be between 1 and 100 (inclusive)"),
    };
    let seed = state.seed;
    let book = state.book();
    let all = account_grants(&book);
    let position = |param: &str| -> Result<Option<usize>, Response> {
        let Some(t) = query_value(&pairs, param) else {
            return Ok(None);
        };
        all.iter().position(|&g| token(seed, g) == t).map(Some).ok_or_else(|| {
            message(
                StatusCode::BAD_REQUEST,
                &format!("Invalid pagination token in '{param}'"),
            )
        })
    };
    let (start, end) = match (position("after"), position("before")) {
        (Err(e), _) | (_, Err(e)) => return e,
        (Ok(Some(after)), _) => (after + 1, (after + 1 + limit).min(all.len())),
        (Ok(None), Ok(Some(before))) => (before.saturating_sub(limit), before),
        (Ok(None), Ok(None)) => (0, limit.min(all.len())),
    };
    let items: Vec<Value> = all[start..end]
        .iter()
        .map(|&(c, k)| grant_json(seed, &book.customers[c], k))
        .collect();
    let mut pagination = json!({ "totalResultSize": all.len() });
    if end < all.len() && end > start {
        pagination["after"] = json!(token(seed, all[end - 1]));
    }
    if start > 0 && end > start {
        pagination["before"] = json!(token(seed, all[start]));
    }
    json(StatusCode::OK, json!({ "items": items, "pagination": pagination }))
}

fn find_grant(seed: u64, book: &Book, id: &str) -> Option<(usize, usize)> {
    account_grants(book)
        .into_iter()
        .find(|&(c, k)| grant_id(seed, c, k) == id)
}

async fn get_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let book = state.book();
    match find_grant(state.seed, &book, &id) {
        Some((c, k)) => json(StatusCode::OK, grant_json(state.seed, &book.customers[c], k)),
        None => message(StatusCode::NOT_FOUND, &format!("Credit grant {id} not found")),
    }
}

fn customer(state: &SimState, headers: &HeaderMap, id: &str) -> Result<usize, Response> {
    authorize(state, headers)?;
    state
        .customer_index(id)
        .ok_or_else(|| message(StatusCode::NOT_FOUND, &format!("Customer {id} not found")))
}

/// `CreditGrantsResponse`: `CreditGrantResponseItem`s, amounts as numbers.
async fn customer_grants(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let index = match customer(&state, &headers, &id) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let book = state.book();
    let c = &book.customers[index];
    let seed = state.seed;
    let items: Vec<Value> = c
        .grants
        .iter()
        .enumerate()
        .filter(|&(k, _)| listed(c, k))
        .map(|(k, g)| {
            let (name, issued, expiry) = grant_fields(c, k);
            json!({"id": grant_id(seed, c.index, k), "name": name,
                   "grantAmount": number(money(g.amount)), "balance": number(money(g.remaining)),
                   "issueDate": issued, "expiryDate": expiry})
        })
        .collect();
    json(StatusCode::OK, json!({ "items": items }))
}

/// `CreditBalancesReply`: one cash balance with its grants and transactions, amounts as strings.
async fn customer_balances(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let index = match customer(&state, &headers, &id) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let book = state.book();
    let c = &book.customers[index];
    if !(0..c.grants.len()).any(|k| listed(c, k)) {
        return json(StatusCode::OK, json!({ "items": [] }));
    }
    let seed = state.seed;
    let grants: Vec<Value> = c
        .grants
        .iter()
        .enumerate()
        .filter(|&(k, _)| listed(c, k))
        .map(|(k, g)| {
            let (_, effective, expiry) = grant_fields(c, k);
            json!({"id": grant_id(seed, c.index, k), "sequenceAccountId": ACCOUNT, "customerId": customer_id(seed, c.index),
                   "type": "CASH", "currency": CURRENCY, "name": CURRENCY,
                   "originalAmount": money(g.amount).to_string(), "currentBalance": money(g.remaining).to_string(),
                   "expiryDate": expiry, "costOfCredit": money(g.amount).to_string(),
                   "effectiveDate": effective, "createdAt": rfc3339_millis(c.grant_at(k))})
        })
        .collect();
    let transactions: Vec<Value> = c
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| listed(c, e.grant as usize))
        .map(|(j, e)| {
            let kind = if e.signed() >= 0 { "CREDIT" } else { "DEBIT" };
            json!({"id": transaction_id(seed, c.index, j), "grantId": grant_id(seed, c.index, e.grant as usize),
                   "reason": "simulated", "type": kind,
                   "amount": money(e.amount).to_string(), "date": date(c.entry_at(j))})
        })
        .collect();
    json(
        StatusCode::OK,
        json!({"items": [{
            "id": uuid(seed, &[0x5B, c.index as u64]), "type": "CASH", "name": "Credits",
            "balance": money(c.balance()).to_string(), "grants": grants, "transactions": transactions
        }]}),
    )
}

// ---- writes (no idempotency mechanism: a request sent twice makes two grants) ----

async fn create_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return message(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    for required in [
        "sequenceAccountId",
        "customerId",
        "name",
        "creditUnitType",
        "currency",
        "amount",
    ] {
        if body[required].is_null() {
            return message(StatusCode::BAD_REQUEST, &format!("{required} is required"));
        }
    }
    if body["sequenceAccountId"] != ACCOUNT {
        return message(StatusCode::BAD_REQUEST, "Unknown sequenceAccountId");
    }
    if body["creditUnitType"] != "CURRENCY" || body["currency"] != CURRENCY {
        return message(
            StatusCode::BAD_REQUEST,
            &format!("The simulated account grants {CURRENCY} only"),
        );
    }
    let amount = minor_units(&body["amount"], EXPONENT);
    let Some(amount) = amount else {
        return message(StatusCode::BAD_REQUEST, "amount must be positive, in whole pence");
    };
    let day = |field: &'static str| body[field].as_str().map(|d| parse_time(d).ok_or(field));
    let (effective_at, expires_at) = match (day("effectiveDate").transpose(), day("expiryDate").transpose()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(field), _) | (_, Err(field)) => {
            return message(StatusCode::BAD_REQUEST, &format!("{field} must be YYYY-MM-DD"))
        }
    };
    let Some(index) = body["customerId"].as_str().and_then(|id| state.customer_index(id)) else {
        return message(StatusCode::BAD_REQUEST, "Unknown customerId");
    };
    let written = Written {
        name: body["name"].as_str().map(str::to_owned),
        priority: None,
        effective_at,
        expires_at,
        metadata: Default::default(),
        key: None,
    };
    let mut book = state.book_mut();
    let c = &mut book.customers[index];
    let k = c.add_grant(amount, false, written, now_unix());
    let answer = grant_json(state.seed, c, k);
    drop(book);
    state.answer_write(json(StatusCode::CREATED, answer))
}

async fn delete_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let mut book = state.book_mut();
    let Some((c, k)) = find_grant(state.seed, &book, &id) else {
        return message(StatusCode::NOT_FOUND, &format!("Credit grant {id} not found"));
    };
    let answer = grant_json(state.seed, &book.customers[c], k);
    book.customers[c].end_grant(k, Ended::Deleted, now_unix());
    drop(book);
    state.answer_write(json(StatusCode::OK, answer))
}

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let seed = book.seed;
    let mut truth = Truth::default();
    for (k, g) in c.grants.iter().enumerate().filter(|&(k, _)| listed(c, k)) {
        let id = normalized(VENDOR, &grant_id(seed, index, k));
        truth.grants.insert(id.clone(), (money(g.amount), CURRENCY.to_owned()));
        let ids = c.by_grant[k]
            .iter()
            .map(|&j| normalized(VENDOR, &transaction_id(seed, index, j as usize)))
            .collect();
        truth.ledger_by_grant.insert(id, ids);
    }
    for (j, e) in c
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| listed(c, e.grant as usize))
    {
        truth.ledger.insert(
            normalized(VENDOR, &transaction_id(seed, index, j)),
            (money(e.signed()), CURRENCY.to_owned()),
        );
    }
    if (0..c.grants.len()).any(|k| listed(c, k)) {
        truth.balances.insert(CURRENCY.to_owned(), money(c.balance()));
    }
    truth
}

/// No webhook about credits (see `push.rs`).
pub(super) fn push(_seed: u64, _c: &Customer, _j: usize, _secret: &str) -> Vec<crate::push::Push> {
    Vec::new()
}
