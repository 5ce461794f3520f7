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

use super::book::{uuid, Book, Customer, Ended, EntryKind, Written};
use super::{bearer, json, major, normalized, now_unix, parse_time, rfc3339_millis, SimState, Truth, VendorError};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Metronome;
const MAX_LIMIT: u64 = 25;
const USD_CENTS_ID: &str = "2714e483-4ff1-48e4-9e25-ac732e8f24f2";
/// The simulated product credits are for.
pub(super) const PRODUCT_ID: &str = "2e30f074-d04c-412e-a134-851ebfa5ceb2";

/// Where the API sits under the simulator's address, the simulator's credential, and the
/// keys of `[providers.metronome]` beyond the common ones (for the demo's config).
pub(super) const BASE_PATH: &str = "";
pub(super) fn credential(seed: u64) -> String {
    format!("metronome-sim-token-{seed:x}")
}
pub(super) fn demo_config() -> String {
    format!("credit_product_id = \"{PRODUCT_ID}\"\n")
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1/contracts/customerCredits/list", post(list_credits))
        .route("/v1/contracts/customerCredits/create", post(create_credit))
        .route("/v1/contracts/customerCredits/updateEndDate", post(update_end_date))
        .route("/v1/contracts/addManualBalanceLedgerEntry", post(add_manual_entry))
        .route("/v1/contracts/customerBalances/getNetBalance", post(net_balance))
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

/// The end of time in the simulated schedules: an access schedule without an end.
const NO_END: i64 = 4_070_908_800; // 2099-01-01T00:00:00Z

/// A credit's one access schedule item: from its start to before its end (unix seconds).
fn schedule(c: &Customer, k: usize) -> (i64, i64) {
    let g = &c.grants[k];
    let w = g.written.as_deref();
    let starting = w.and_then(|w| w.effective_at).unwrap_or(c.grant_at(k));
    let ending = match (g.ended, w.and_then(|w| w.expires_at)) {
        (Some((_, at)), _) | (None, Some(at)) => at,
        (None, None) => NO_END,
    };
    (starting, ending)
}

fn credit_json(seed: u64, c: &Customer, k: usize, include_ledger: bool, include_balance: bool) -> Value {
    let g = &c.grants[k];
    let id = credit_id(seed, c.index, k);
    let segment = uuid(seed, &[0x5E6, c.index as u64, k as u64]);
    let (type_id, type_name) = credit_type(c.index);
    let w = g.written.as_deref();
    let (starting, ending) = schedule(c, k);
    let ending = rfc3339_millis(ending);
    let mut credit = json!({
        "id": id, "type": "CREDIT", "name": format!("Simulated credit {k}"), "priority": 100 + k,
        "product": {"id": PRODUCT_ID, "name": "Simulated product"},
        "access_schedule": {
            "credit_type": {"id": type_id, "name": type_name},
            "schedule_items": [{"id": segment, "amount": g.amount,
                                "starting_at": rfc3339_millis(starting), "ending_before": ending}]
        },
        "applicable_product_ids": [PRODUCT_ID],
        "uniqueness_key": format!("sim-{}-{k}", c.index),
        "custom_fields": {"simulated": "true"}
    });
    if let Some(w) = w {
        credit["name"] = json!(w.name);
        credit["uniqueness_key"] = json!(w.key);
        credit["custom_fields"] = json!(w.metadata);
        if let Some(p) = w.priority.as_deref().and_then(|p| p.parse::<serde_json::Number>().ok()) {
            credit["priority"] = Value::Number(p);
        }
    }
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
                    EntryKind::Void | EntryKind::Expire => json!({"type": "CREDIT_EXPIRATION", "timestamp": at,
                                                "amount": -e.amount, "segment_id": segment}),
                    EntryKind::ManualCredit | EntryKind::ManualDebit => {
                        json!({"type": "CREDIT_MANUAL", "timestamp": at,
                                                "amount": e.signed(), "reason": c.note(e).unwrap_or_default()})
                    }
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
    let book = state.book();
    let c = &book.customers[index];
    let seed = state.seed;
    let mut credits: Vec<usize> = (0..c.grants.len()).collect();
    if let Some(wanted) = body["credit_id"].as_str() {
        credits.retain(|&k| credit_id(seed, index, k) == wanted);
    }
    // Only credits whose access schedule covers the date.
    if let Some(text) = body["covering_date"].as_str() {
        let Some(at) = parse_time(text) else {
            return message(
                StatusCode::BAD_REQUEST,
                "body/covering_date must match format \"date-time\"",
            );
        };
        credits.retain(|&k| {
            let (start, end) = schedule(c, k);
            start <= at && at < end
        });
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

/// `getNetBalance`: what the customer's credits of one credit type (USD cents when none is
/// named) hold now, summed over the credits whose schedule covers now.
async fn net_balance(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (body, index) = match customer_input(&state, &headers, &body) {
        Ok(input) => input,
        Err(refused) => return refused,
    };
    let wanted = body["credit_type_id"].as_str().unwrap_or(USD_CENTS_ID).to_owned();
    let book = state.book();
    let c = &book.customers[index];
    let now = now_unix();
    let balance: i64 = if credit_type(index).0 == wanted {
        (0..c.grants.len())
            .filter(|&k| {
                let (start, end) = schedule(c, k);
                start <= now && now < end
            })
            // Negative segment balances (from manual entries) count as zero.
            .map(|k| c.grants[k].remaining.max(0))
            .sum()
    } else {
        0
    };
    json(
        StatusCode::OK,
        json!({"data": {"balance": balance, "credit_type_id": wanted}}),
    )
}

/// Bearer auth and a JSON body with a known `customer_id`: the body and the customer index
/// (the writes and `getNetBalance`).
fn customer_input(state: &SimState, headers: &HeaderMap, body: &[u8]) -> Result<(Value, usize), Response> {
    if bearer(headers) != Some(state.credential.as_str()) {
        return Err(error(VendorError::Unauthorized));
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(message(StatusCode::BAD_REQUEST, "Request body must be valid JSON"));
    };
    let Some(customer) = body["customer_id"].as_str() else {
        return Err(message(
            StatusCode::BAD_REQUEST,
            "body must have required property 'customer_id'",
        ));
    };
    let index = state
        .customer_index(customer)
        .ok_or_else(|| message(StatusCode::NOT_FOUND, &format!("Customer {customer} not found")))?;
    Ok((body, index))
}

/// The index of credit `id` of customer `index`.
fn find_credit(state: &SimState, book: &Book, index: usize, id: &str) -> Option<usize> {
    (0..book.customers[index].grants.len()).find(|&k| credit_id(state.seed, index, k) == id)
}

/// A whole number of the credit type's units (cents for USD).
fn whole(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

async fn create_credit(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (body, index) = match customer_input(&state, &headers, &body) {
        Ok(input) => input,
        Err(e) => return e,
    };
    for required in ["product_id", "priority", "access_schedule"] {
        if body[required].is_null() {
            return message(
                StatusCode::BAD_REQUEST,
                &format!("body must have required property '{required}'"),
            );
        }
    }
    let Some(priority) = body["priority"].as_number().map(|n| n.to_string()) else {
        return message(StatusCode::BAD_REQUEST, "body/priority must be number");
    };
    let schedule = &body["access_schedule"];
    let (type_id, _) = credit_type(index);
    if let Some(asked) = schedule["credit_type_id"].as_str() {
        if asked != type_id {
            return message(
                StatusCode::BAD_REQUEST,
                "credit_type_id does not match the customer's credits",
            );
        }
    } else if type_id != USD_CENTS_ID {
        return message(
            StatusCode::BAD_REQUEST,
            "this customer's credits are not in USD: credit_type_id is required",
        );
    }
    let items = schedule["schedule_items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [item] = items else {
        return message(StatusCode::BAD_REQUEST, "the simulator takes exactly one schedule item");
    };
    let (Some(amount), Some(start), Some(end)) = (
        whole(&item["amount"]).filter(|a| *a > 0),
        item["starting_at"].as_str().and_then(parse_time),
        item["ending_before"].as_str().and_then(parse_time),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "schedule item needs a positive whole amount, starting_at and ending_before",
        );
    };
    let key = body["uniqueness_key"].as_str().map(str::to_owned);
    let mut book = state.book_mut();
    let customer = &mut book.customers[index];
    if key.is_some()
        && customer
            .grants
            .iter()
            .any(|g| g.written.as_ref().is_some_and(|w| w.key == key))
    {
        return message(
            StatusCode::CONFLICT,
            "A commit or credit with the provided uniqueness key already exists",
        );
    }
    let written = Written {
        name: body["name"].as_str().map(str::to_owned),
        priority: Some(priority),
        effective_at: Some(start),
        expires_at: Some(end),
        metadata: serde_json::from_value(body["custom_fields"].clone()).unwrap_or_default(),
        key,
    };
    let k = customer.add_grant(amount, false, written, now_unix());
    let id = credit_id(state.seed, index, k);
    drop(book);
    state.answer_write(json(StatusCode::OK, json!({"data": {"id": id}})))
}

async fn update_end_date(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (body, index) = match customer_input(&state, &headers, &body) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (Some(id), Some(end)) = (
        body["credit_id"].as_str(),
        body["access_ending_before"].as_str().and_then(parse_time),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "body must have credit_id and access_ending_before",
        );
    };
    let mut book = state.book_mut();
    let Some(k) = find_credit(&state, &book, index, id) else {
        return message(StatusCode::NOT_FOUND, &format!("Credit {id} not found"));
    };
    let customer = &mut book.customers[index];
    if end <= now_unix() {
        customer.end_grant(k, Ended::Expired, end);
    } else {
        let grant = &mut customer.grants[k];
        grant.written.get_or_insert_with(Default::default).expires_at = Some(end);
    }
    drop(book);
    state.answer_write(json(StatusCode::OK, json!({"data": {"id": id}})))
}

async fn add_manual_entry(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (body, index) = match customer_input(&state, &headers, &body) {
        Ok(input) => input,
        Err(e) => return e,
    };
    let (Some(id), Some(segment), Some(amount), Some(reason)) = (
        body["id"].as_str(),
        body["segment_id"].as_str(),
        whole(&body["amount"]),
        body["reason"].as_str(),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "body must have id, segment_id, a whole amount and reason",
        );
    };
    let mut book = state.book_mut();
    let Some(k) = find_credit(&state, &book, index, id) else {
        return message(StatusCode::NOT_FOUND, &format!("Credit {id} not found"));
    };
    if segment != uuid(state.seed, &[0x5E6, index as u64, k as u64]) {
        return message(StatusCode::BAD_REQUEST, "segment_id is not a segment of this credit");
    }
    if let Err(e) = book.customers[index].adjust(k, amount, Some(reason.to_owned()), now_unix()) {
        return message(StatusCode::BAD_REQUEST, &format!("Balance cannot go negative: {e}"));
    }
    drop(book);
    state.answer_write(json(StatusCode::OK, json!({})))
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

/// Metronome's system notifications for ledger entry `j` of `c` (fields at the top, no
/// `properties`): `credit.create` for a new credit, `credit.archive` when one ends,
/// `credit.edit` for a manual entry; usage pushes nothing (Metronome has no event per
/// draw-down). Signed: hex HMAC-SHA256 of `"{X-Metronome-Date}\n{body}"`.
pub(super) fn push(seed: u64, c: &Customer, j: usize, secret: &str) -> Vec<crate::push::Push> {
    let e = &c.entries[j];
    let kind = match e.kind {
        EntryKind::Grant => "credit.create",
        EntryKind::Void | EntryKind::Expire => "credit.archive",
        EntryKind::ManualCredit | EntryKind::ManualDebit => "credit.edit",
        EntryKind::Debit => return Vec::new(),
    };
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap_or_default();
    let body = json!({"id": uuid(seed, &[0x5E7, c.index as u64, j as u64]), "type": kind,
                      "customer_id": customer_id(seed, c.index), "credit_id": credit_id(seed, c.index, e.grant as usize),
                      "timestamp": rfc3339_millis(now_unix())})
    .to_string();
    let signature = crate::push::hex(&crate::push::hmac(secret, &[date.as_bytes(), b"\n", body.as_bytes()]));
    vec![crate::push::Push {
        headers: vec![("x-metronome-date", date), ("metronome-webhook-signature", signature)],
        body,
    }]
}
