//! Metronome's `POST /v1/contracts/customerCredits/list` (`list-credits.openapi.yaml`):
//! Bearer auth, a JSON body with `limit` 1..=25 and `next_page` (null on the last page, no
//! `has_more`), ledgers and balances only when asked for, `{"message"}` error bodies.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::book::{uuid, Book, Customer, EntryKind};
use super::{bearer, json, major, normalized, rfc3339_millis, SimState, Truth, VendorError};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Metronome;
const MAX_LIMIT: u64 = 25;
const USD_CENTS_ID: &str = "2714e483-4ff1-48e4-9e25-ac732e8f24f2";

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/v1/contracts/customerCredits/list", post(list_credits))
}

pub(super) fn customer_id(seed: u64, index: usize) -> String {
    uuid(seed, &[0x4D45, index as u64])
}

fn credit_id(seed: u64, customer: usize, k: usize) -> String {
    uuid(seed, &[0x4D43, customer as u64, k as u64])
}

/// Every third customer's credits are in a custom credit type, the others in USD cents.
fn credit_type(customer: usize) -> (&'static str, &'static str) {
    if customer % 3 == 2 {
        ("a1c3b1e5-1d2f-4c6e-9b7a-5e2f3d4c5b6a", "API credits")
    } else {
        (USD_CENTS_ID, "USD (cents)")
    }
}

/// (normalized unit, exponent from the credit type's amounts to it)
fn unit(customer: usize) -> (&'static str, u32) {
    match credit_type(customer).1 {
        "USD (cents)" => ("USD", 2),
        other => (other, 0),
    }
}

pub(super) fn error(error: VendorError) -> Response {
    match error {
        VendorError::Unauthorized => message(StatusCode::UNAUTHORIZED, "Unauthorized"),
        VendorError::RateLimited => message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        VendorError::Internal => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    json(status, json!({ "message": text }))
}

fn credit_json(seed: u64, c: &Customer, k: usize, include_ledger: bool, include_balance: bool) -> Value {
    let g = &c.grants[k];
    let id = credit_id(seed, c.index, k);
    let segment = uuid(seed, &[0x5E6, c.index as u64, k as u64]);
    let (type_id, type_name) = credit_type(c.index);
    let mut credit = json!({
        "id": id, "type": "CREDIT", "name": format!("Simulated credit {k}"), "priority": 100 + k,
        "product": {"id": "2e30f074-d04c-412e-a134-851ebfa5ceb2", "name": "Simulated product"},
        "access_schedule": {
            "credit_type": {"id": type_id, "name": type_name},
            "schedule_items": [{"id": segment, "amount": g.amount,
                                "starting_at": rfc3339_millis(c.grant_at(k)), "ending_before": "2099-01-01T00:00:00.000Z"}]
        },
        "applicable_product_ids": ["2e30f074-d04c-412e-a134-851ebfa5ceb2"],
        "uniqueness_key": format!("sim-{}-{k}", c.index),
        "custom_fields": {"simulated": "true"}
    });
    if include_balance {
        credit["balance"] = json!(g.remaining);
    }
    if include_ledger {
        let ledger: Vec<Value> = c.by_grant[k]
            .iter()
            .map(|&j| {
                let e = &c.entries[j as usize];
                let at = rfc3339_millis(c.entry_at(j as usize));
                match e.kind {
                    EntryKind::Grant => json!({"type": "CREDIT_SEGMENT_START", "timestamp": at,
                                                "amount": e.amount, "segment_id": segment}),
                    // Deductions lower the balance: Metronome sends them negative.
                    EntryKind::Debit => json!({"type": "CREDIT_AUTOMATED_INVOICE_DEDUCTION", "timestamp": at,
                                                "amount": -e.amount, "segment_id": segment,
                                                "invoice_id": uuid(seed, &[0x1A, c.index as u64, j as u64])}),
                }
            })
            .collect();
        credit["ledger"] = Value::Array(ledger);
    }
    credit
}

fn page_token(customer: usize, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{customer}:{offset}"))
}

fn parse_token(token: &str) -> Option<(usize, usize)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (customer, offset) = text.split_once(':')?;
    Some((customer.parse().ok()?, offset.parse().ok()?))
}

async fn list_credits(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if bearer(&headers) != Some(state.credential.as_str()) {
        return error(VendorError::Unauthorized);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return message(StatusCode::BAD_REQUEST, "Request body must be valid JSON");
    };
    let Some(customer) = body["customer_id"].as_str() else {
        return message(
            StatusCode::BAD_REQUEST,
            "body must have required property 'customer_id'",
        );
    };
    let limit = match &body["limit"] {
        Value::Null => MAX_LIMIT,
        value => match value.as_u64() {
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return message(StatusCode::BAD_REQUEST, "body/limit must be <= 25 and >= 1"),
        },
    } as usize;
    let Some(index) = state.customer_index(customer) else {
        return message(StatusCode::NOT_FOUND, &format!("Customer {customer} not found"));
    };
    let c = &state.book.customers[index];
    let seed = state.book.seed;
    let mut credits: Vec<usize> = (0..c.grants.len()).collect();
    if let Some(wanted) = body["credit_id"].as_str() {
        credits.retain(|&k| credit_id(seed, index, k) == wanted);
    }
    let start = match body["next_page"].as_str() {
        None => 0,
        Some(token) => match parse_token(token) {
            Some((i, offset)) if i == index && offset <= credits.len() => offset,
            _ => return message(StatusCode::BAD_REQUEST, "Invalid next_page token"),
        },
    };
    let end = (start + limit).min(credits.len());
    let include_ledgers = body["include_ledgers"] == true;
    let include_balance = body["include_balance"] == true;
    let data: Vec<Value> = credits[start..end]
        .iter()
        .map(|&k| credit_json(seed, c, k, include_ledgers, include_balance))
        .collect();
    let next_page = if end < credits.len() {
        json!(page_token(index, end))
    } else {
        Value::Null
    };
    json(StatusCode::OK, json!({ "data": data, "next_page": next_page }))
}

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let (unit, exponent) = unit(index);
    let mut truth = Truth::default();
    for (k, g) in c.grants.iter().enumerate() {
        let credit = credit_id(book.seed, index, k);
        let id = normalized(VENDOR, &credit);
        truth
            .grants
            .insert(id.clone(), (major(g.amount, exponent), unit.to_owned()));
        let mut ids = Vec::new();
        for (i, &j) in c.by_grant[k].iter().enumerate() {
            let entry_id = normalized(VENDOR, &format!("{credit}.{i}"));
            let amount = major(c.entries[j as usize].signed(), exponent);
            truth.ledger.insert(entry_id.clone(), (amount, unit.to_owned()));
            ids.push(entry_id);
        }
        truth.ledger_by_grant.insert(id, ids);
    }
    if !c.grants.is_empty() {
        truth.balances.insert(unit.to_owned(), major(c.balance(), exponent));
    }
    truth
}
