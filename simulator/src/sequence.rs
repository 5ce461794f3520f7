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

use super::book::{uuid, Book, Customer, EntryKind};
use super::{
    date, json, major, normalized, number, query_pairs, query_value, rfc3339_millis, SimState, Truth, VendorError,
};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Sequence;
const VERSION: &str = "2024-07-30";
const CURRENCY: &str = "GBP";
const EXPONENT: u32 = 2;
const ACCOUNT: &str = "dce9ae85-d8d0-42b4-bcad-f221a64363c6";

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/api/credits", get(list_grants))
        .route("/api/credits/{id}", get(get_grant))
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

/// `CreditGrant`, amounts as numbers.
fn grant_json(seed: u64, c: &Customer, k: usize) -> Value {
    let g = &c.grants[k];
    json!({
        "id": grant_id(seed, c.index, k), "sequenceAccountId": ACCOUNT, "customerId": customer_id(seed, c.index),
        "name": format!("Simulated grant {k}"), "creditUnitType": "CURRENCY", "currency": CURRENCY,
        "amount": number(money(g.amount)), "costOfCredit": number(money(g.amount)),
        "effectiveDate": date(c.grant_at(k)), "expiryDate": "2099-12-31",
        "createdAt": rfc3339_millis(c.grant_at(k)), "integrationIds": []
    })
}

/// Every grant of the account: customers in order, each customer's grants in order.
fn account_grants(state: &SimState) -> Vec<(usize, usize)> {
    state
        .book
        .customers
        .iter()
        .flat_map(|c| (0..c.grants.len()).map(move |k| (c.index, k)))
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
    let seed = state.book.seed;
    let all = account_grants(&state);
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
        .map(|&(c, k)| grant_json(seed, &state.book.customers[c], k))
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

fn find_grant(state: &SimState, id: &str) -> Option<(usize, usize)> {
    account_grants(state)
        .into_iter()
        .find(|&(c, k)| grant_id(state.book.seed, c, k) == id)
}

async fn get_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    match find_grant(&state, &id) {
        Some((c, k)) => json(StatusCode::OK, grant_json(state.book.seed, &state.book.customers[c], k)),
        None => message(StatusCode::NOT_FOUND, &format!("Credit grant {id} not found")),
    }
}

fn customer<'a>(state: &'a SimState, headers: &HeaderMap, id: &str) -> Result<&'a Customer, Response> {
    authorize(state, headers)?;
    state
        .customer_index(id)
        .map(|i| &state.book.customers[i])
        .ok_or_else(|| message(StatusCode::NOT_FOUND, &format!("Customer {id} not found")))
}

/// `CreditGrantsResponse`: `CreditGrantResponseItem`s, amounts as numbers.
async fn customer_grants(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match customer(&state, &headers, &id) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let seed = state.book.seed;
    let items: Vec<Value> = c
        .grants
        .iter()
        .enumerate()
        .map(|(k, g)| {
            json!({"id": grant_id(seed, c.index, k), "name": format!("Simulated grant {k}"),
                   "grantAmount": number(money(g.amount)), "balance": number(money(g.remaining)),
                   "issueDate": date(c.grant_at(k)), "expiryDate": "2099-12-31"})
        })
        .collect();
    json(StatusCode::OK, json!({ "items": items }))
}

/// `CreditBalancesReply`: one cash balance with its grants and transactions, amounts as strings.
async fn customer_balances(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match customer(&state, &headers, &id) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if c.grants.is_empty() {
        return json(StatusCode::OK, json!({ "items": [] }));
    }
    let seed = state.book.seed;
    let grants: Vec<Value> = c
        .grants
        .iter()
        .enumerate()
        .map(|(k, g)| {
            json!({"id": grant_id(seed, c.index, k), "sequenceAccountId": ACCOUNT, "customerId": customer_id(seed, c.index),
                   "type": "CASH", "currency": CURRENCY, "name": CURRENCY,
                   "originalAmount": money(g.amount).to_string(), "currentBalance": money(g.remaining).to_string(),
                   "expiryDate": "2099-12-31", "costOfCredit": money(g.amount).to_string(),
                   "effectiveDate": date(c.grant_at(k)), "createdAt": rfc3339_millis(c.grant_at(k))})
        })
        .collect();
    let transactions: Vec<Value> = c
        .entries
        .iter()
        .enumerate()
        .map(|(j, e)| {
            json!({"id": transaction_id(seed, c.index, j), "grantId": grant_id(seed, c.index, e.grant as usize),
                   "reason": "simulated", "type": match e.kind { EntryKind::Grant => "CREDIT", EntryKind::Debit => "DEBIT" },
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

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let seed = book.seed;
    let mut truth = Truth::default();
    for (k, g) in c.grants.iter().enumerate() {
        let id = normalized(VENDOR, &grant_id(seed, index, k));
        truth.grants.insert(id.clone(), (money(g.amount), CURRENCY.to_owned()));
        let ids = c.by_grant[k]
            .iter()
            .map(|&j| normalized(VENDOR, &transaction_id(seed, index, j as usize)))
            .collect();
        truth.ledger_by_grant.insert(id, ids);
    }
    for (j, e) in c.entries.iter().enumerate() {
        truth.ledger.insert(
            normalized(VENDOR, &transaction_id(seed, index, j)),
            (money(e.signed()), CURRENCY.to_owned()),
        );
    }
    if !c.grants.is_empty() {
        truth.balances.insert(CURRENCY.to_owned(), money(c.balance()));
    }
    truth
}
