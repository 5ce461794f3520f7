//! Vayu's credits API (`vayu-credits.trimmed.yaml`, seed 000): `POST /login` trades the
//! refresh token for a one-hour access token; `GET /credits?customerId=` (24 hex digits)
//! with `limit` 1..=1000 (10 by default) and `cursor`, oldest first, with a running
//! `balanceAfterEntry`. Its quirk: the answer holds no next cursor; the cursor is the last
//! entry's id. Errors are its typed `{type, code, message}` bodies.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::book::{mix, Book, Customer, EntryKind, Written};
use super::{
    bearer, json, major, minor_units, normalized, now_unix, number, query_pairs, query_value, rfc3339_millis, SimState,
    Truth, VendorError,
};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Vayu;
/// The unit the gateway is configured with for the simulator (Vayu's ledger has none).
pub const UNIT: &str = "USD";
const EXPONENT: u32 = 2;
const TOKEN_LIFETIME_SECS: i64 = 3_600;

/// Where the API sits under the simulator's address, the simulator's credential, and the
/// keys of `[providers.vayu]` beyond the common ones (for the demo's config).
pub(super) const BASE_PATH: &str = "";
pub(super) fn credential(seed: u64) -> String {
    format!("vayu-sim-refresh-{seed:x}")
}
pub(super) fn demo_config() -> String {
    format!("unit = \"{UNIT}\"\n")
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/login", post(login))
        .route("/credits", get(list_entries))
        .route("/credits/grant", post(grant_credits))
        .route("/credits/deduct", post(deduct_credits))
}

pub(super) fn customer_id(seed: u64, index: usize) -> String {
    format!(
        "{:08x}{:016x}",
        0x5eed_0000 + index as u32,
        mix(seed, &[0x7A, index as u64])
    )
}

/// 24 hex digits: the customer's number, then the entry's.
fn entry_id(customer: usize, j: usize) -> String {
    format!("{customer:08x}{j:016x}")
}

pub(super) fn error(error: VendorError) -> Response {
    match error {
        VendorError::Unauthorized => typed(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "authentication_failed",
            "Invalid or expired token",
        ),
        VendorError::RateLimited => typed(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            "Too many requests",
        ),
        VendorError::Internal => typed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "Something went wrong",
        ),
    }
}

fn typed(status: StatusCode, kind: &str, code: &str, text: &str) -> Response {
    json(status, json!({"type": kind, "code": code, "message": text}))
}

fn invalid(param: &str, text: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({"type": "invalid_request_error", "code": "invalid_parameter", "message": text, "param": param}),
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A JWT-shaped access token whose `exp` says when it stops working (the gateway reads it).
async fn login(State(state): State<Arc<SimState>>, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(refresh) = body["refreshToken"].as_str() else {
        return invalid("refreshToken", "refreshToken is required");
    };
    if refresh != state.credential {
        return error(VendorError::Unauthorized);
    }
    let expires = now() + TOKEN_LIFETIME_SECS;
    let mut sessions = state.sessions.lock().expect("sessions lock");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "simulator", "exp": expires, "n": sessions.len()}).to_string());
    let signature = URL_SAFE_NO_PAD.encode(mix(state.seed, &[sessions.len() as u64]).to_be_bytes());
    let token = format!("{header}.{claims}.{signature}");
    sessions.retain(|_, &mut exp| exp > now());
    sessions.insert(token.clone(), expires);
    json(StatusCode::OK, json!({ "accessToken": token }))
}

fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    let sessions = state.sessions.lock().expect("sessions lock");
    match bearer(headers).and_then(|t| sessions.get(t)) {
        Some(&expires) if expires > now() => Ok(()),
        _ => Err(error(VendorError::Unauthorized)),
    }
}

fn money(minor: i64) -> Decimal {
    major(minor, EXPONENT)
}

/// A credit ledger entry as Vayu's spec shapes it. Typed rather than built as a
/// `serde_json::Value`: lists of these are the simulator's hottest path (an export reads
/// every one, and Vayu's balance the whole ledger again), and a `Value` per entry cost most
/// of its CPU time.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: String,
    created_at: String,
    #[serde(rename = "type")]
    kind: &'static str,
    amount: serde_json::Number,
    balance_after_entry: serde_json::Number,
    integration_entities: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice_id: Option<String>,
}

/// A decimal as a JSON number, its digits exactly as written.
fn exact(value: Decimal) -> serde_json::Number {
    match number(value) {
        Value::Number(n) => n,
        _ => serde_json::Number::from(0),
    }
}

fn entry(c: &Customer, j: usize) -> Entry {
    let e = &c.entries[j];
    Entry {
        id: entry_id(c.index, j),
        created_at: rfc3339_millis(c.entry_at(j)),
        kind: if e.signed() >= 0 { "Grant" } else { "Deduct" },
        amount: exact(money(e.amount)),
        balance_after_entry: exact(money(e.balance_after)),
        integration_entities: [],
        invoice_id: (e.kind == EntryKind::Debit).then(|| format!("inv_sim_{}_{j}", c.index)),
    }
}

async fn list_entries(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let pairs = query_pairs(q.as_deref());
    let customer = query_value(&pairs, "customerId").unwrap_or("");
    if customer.len() != 24 || !customer.bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid("customerId", "customerId must match pattern ^[0-9a-fA-F]{24}$");
    }
    let limit = match query_value(&pairs, "limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return invalid("limit", "limit must be a number between 1 and 1000"),
    };
    let book = state.book();
    let Some(c) = state.customer_index(customer).map(|i| &book.customers[i]) else {
        return json(StatusCode::OK, json!({ "entries": [] }));
    };
    let start = match query_value(&pairs, "cursor") {
        None => 0,
        Some(cursor) => {
            let parsed = (cursor.len() == 24)
                .then(|| {
                    let owner = usize::from_str_radix(&cursor[..8], 16).ok()?;
                    let j = usize::from_str_radix(&cursor[8..], 16).ok()?;
                    (owner == c.index && j < c.entries.len()).then_some(j + 1)
                })
                .flatten();
            match parsed {
                Some(start) => start,
                None => return invalid("cursor", "cursor does not name an entry of this customer"),
            }
        }
    };
    let end = (start + limit).min(c.entries.len());
    #[derive(serde::Serialize)]
    struct Entries {
        entries: Vec<Entry>,
    }
    let entries = Entries {
        entries: (start..end).map(|j| entry(c, j)).collect(),
    };
    match serde_json::to_vec(&entries) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

// ---- writes: an empty 200, and no idempotency mechanism ----

/// `GrantCreditsRequest` / `DeductCreditsRequest`: the customer and the amount in cents.
fn adjustment(state: &SimState, headers: &HeaderMap, body: &[u8]) -> Result<(usize, i64), Response> {
    authorize(state, headers)?;
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let customer = body["customerId"].as_str().unwrap_or("");
    if customer.len() != 24 || !customer.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("customerId", "customerId must match pattern ^[0-9a-fA-F]{24}$"));
    }
    let amount = minor_units(&body["creditAmount"], EXPONENT)
        .ok_or_else(|| invalid("creditAmount", "creditAmount must be a positive number of whole cents"))?;
    let index = state
        .customer_index(customer)
        .ok_or_else(|| invalid("customerId", "customer not found"))?;
    Ok((index, amount))
}

async fn grant_credits(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (index, amount) = match adjustment(&state, &headers, &body) {
        Ok(input) => input,
        Err(e) => return e,
    };
    state.book_mut().customers[index].add_grant(amount, false, Written::default(), now_unix());
    state.answer_write(StatusCode::OK.into_response())
}

async fn deduct_credits(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (index, amount) = match adjustment(&state, &headers, &body) {
        Ok(input) => input,
        Err(e) => return e,
    };
    if let Err(e) = state.book_mut().customers[index].deduct(amount, now_unix()) {
        return invalid("creditAmount", &e);
    }
    state.answer_write(StatusCode::OK.into_response())
}

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let mut truth = Truth::default();
    for (j, e) in c.entries.iter().enumerate() {
        truth.ledger.insert(
            normalized(VENDOR, &entry_id(index, j)),
            (money(e.signed()), UNIT.to_owned()),
        );
    }
    truth.balances.insert(UNIT.to_owned(), money(c.balance()));
    truth
}

/// No webhook about credits (see `push.rs`).
pub(super) fn push(_seed: u64, _c: &Customer, _j: usize, _secret: &str) -> Vec<crate::push::Push> {
    Vec::new()
}
