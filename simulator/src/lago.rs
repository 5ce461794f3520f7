//! Lago's wallets API (`specs/lago/lago-credits.trimmed.yaml` and `specs/lago/NOTES.md`):
//! Bearer auth under `/api/v1`; `GET /wallets?external_customer_id=` and
//! `GET /wallets/{lago_id}/wallet_transactions` paged by page number (`page`, `per_page`
//! 100 by default and no maximum, `meta.next_page`/`total_count`), newest first
//! (`created_at` desc, then `lago_id` asc); `{"status", "error", "code"}` error bodies; 50
//! requests a second. Writes: `POST /wallets` (a unique `code` among a customer's active
//! wallets, 422 on reuse), `POST /wallet_transactions` (granted and voided credits, a
//! `metadata` list of `{key, value}`), `DELETE /wallets/{lago_id}` (terminates; writes no
//! transaction). No idempotency key anywhere.
//!
//! A wallet is a grant of the book, its transactions the grant's entries. The book counts
//! money in cents; a wallet counts credits worth `rate_amount` each, so a wallet's credits
//! are its cents / 100 / rate (the generated wallets' rates are 1 and 0.5). A written
//! wallet keeps its rate among its written metadata, under [`RATE_KEY`], which is never
//! shown. Every customer's first wallet also holds one pending purchase (not settled, so not
//! in the ledger), for the `status` filter to matter.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::book::{self, Book, Customer, Ended, EntryKind, Written};
use super::{
    bearer, json, major, normalized, now_unix, parse_time, query_pairs, query_value, rfc3339_millis, SimState, Truth,
    VendorError,
};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Lago;
const CURRENCY: &str = "USD";
const EXPONENT: u32 = 2;
const DEFAULT_PER_PAGE: u64 = 100;
/// Where a written wallet keeps its rate in the book (not shown as metadata).
const RATE_KEY: &str = "\u{0}rate_amount";
/// Active wallets a customer may hold (lago-api's `MAXIMUM_WALLETS_PER_CUSTOMER`).
const MAX_ACTIVE_WALLETS: usize = 6;

pub(super) const BASE_PATH: &str = "/api/v1";
pub(super) fn credential(seed: u64) -> String {
    format!("lago-sim-key-{seed:x}")
}
pub(super) fn demo_config() -> String {
    String::new()
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/api/v1/wallets", get(list_wallets).post(create_wallet))
        .route("/api/v1/wallets/{lago_id}", get(get_wallet).delete(terminate_wallet))
        .route("/api/v1/wallets/{lago_id}/wallet_transactions", get(list_transactions))
        .route("/api/v1/wallet_transactions", post(create_transactions))
}

pub(super) fn customer_id(_seed: u64, index: usize) -> String {
    format!("cust_sim_{index:04}")
}

fn wallet_id(seed: u64, customer: usize, k: usize) -> String {
    book::uuid(seed, &[customer as u64, k as u64, 0x1A60])
}

fn transaction_id(seed: u64, customer: usize, j: usize) -> String {
    book::uuid(seed, &[customer as u64, j as u64, 0x7A7A])
}

fn pending_id(seed: u64, customer: usize) -> String {
    book::uuid(seed, &[customer as u64, 0x9E9D])
}

pub(super) fn error(error: VendorError) -> Response {
    match error {
        VendorError::Unauthorized => failure(StatusCode::UNAUTHORIZED, None),
        VendorError::RateLimited => failure(StatusCode::TOO_MANY_REQUESTS, None),
        VendorError::Internal => failure(StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

/// Lago's error body: `{"status", "error"}`, with a `code` where the spec gives one.
fn failure(status: StatusCode, code: Option<&str>) -> Response {
    let mut body = json!({"status": status.as_u16(), "error": status.canonical_reason().unwrap_or("Error")});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    json(status, body)
}

fn not_found(what: &str) -> Response {
    failure(StatusCode::NOT_FOUND, Some(&format!("{what}_not_found")))
}

/// A 422 with `error_details` for one field.
fn invalid(field: &str, problem: &str) -> Response {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
               "error_details": {field: [problem]}}),
    )
}

fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    if bearer(headers) == Some(state.credential.as_str()) {
        Ok(())
    } else {
        Err(error(VendorError::Unauthorized))
    }
}

/// Lago's timestamps: `2022-04-29T08:59:51Z`.
fn lago_time(unix: i64) -> String {
    let t = rfc3339_millis(unix);
    format!("{}Z", &t[..19])
}

fn cents(minor: i64) -> Decimal {
    major(minor, EXPONENT)
}

/// The value of one credit of wallet `k`.
fn rate(c: &Customer, k: usize) -> Decimal {
    let written = c.grants[k].written.as_ref().and_then(|w| w.metadata.get(RATE_KEY));
    match written.and_then(|r| r.parse().ok()) {
        Some(rate) => rate,
        None if k % 2 == 1 => Decimal::new(5, 1),
        None => Decimal::ONE,
    }
}

/// Cents of money as credits of wallet `k`.
fn credits(c: &Customer, k: usize, minor: i64) -> Decimal {
    (cents(minor) / rate(c, k)).normalize()
}

fn text(value: Decimal) -> Value {
    json!(value.normalize().to_string())
}

/// Whether wallet `k` was terminated.
fn terminated(c: &Customer, k: usize) -> Option<i64> {
    c.grants[k].ended.map(|(_, at)| at)
}

/// Cents consumed from wallet `k` (its usage).
fn consumed(c: &Customer, k: usize) -> i64 {
    c.by_grant[k]
        .iter()
        .map(|&j| &c.entries[j as usize])
        .filter(|e| e.kind == EntryKind::Debit)
        .map(|e| e.amount)
        .sum()
}

/// The entries of wallet `k` Lago lists: all but a wallet's creation without credits.
fn listed(c: &Customer, k: usize) -> impl Iterator<Item = usize> + '_ {
    c.by_grant[k].iter().map(|&j| j as usize).filter(|&j| c.entries[j].amount != 0)
}

fn wallet_json(seed: u64, c: &Customer, k: usize) -> Value {
    let g = &c.grants[k];
    let balance = g.remaining;
    let written = g.written.as_deref();
    let name = written.and_then(|w| w.name.clone()).unwrap_or_else(|| {
        if g.promotional {
            "Promotional credits".to_owned()
        } else {
            "Prepaid credits".to_owned()
        }
    });
    let code = written
        .and_then(|w| w.key.clone())
        .unwrap_or_else(|| format!("wallet_{k}"));
    let priority = written
        .and_then(|w| w.priority.as_deref())
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or((1 + k as i64).min(50));
    let metadata: serde_json::Map<String, Value> = written
        .map(|w| {
            w.metadata
                .iter()
                .filter(|(key, _)| *key != RATE_KEY)
                .map(|(key, value)| (key.clone(), json!(value)))
                .collect()
        })
        .unwrap_or_default();
    let last_consumed = c.by_grant[k]
        .iter()
        .rev()
        .find(|&&j| c.entries[j as usize].kind == EntryKind::Debit)
        .map(|&j| lago_time(c.entry_at(j as usize)));
    json!({
        "lago_id": wallet_id(seed, c.index, k),
        "lago_customer_id": book::uuid(seed, &[c.index as u64, 0xC057]),
        "external_customer_id": customer_id(seed, c.index),
        "status": if terminated(c, k).is_some() { "terminated" } else { "active" },
        "currency": CURRENCY,
        "name": name,
        "code": code,
        "priority": priority,
        "rate_amount": text(rate(c, k)),
        "credits_balance": text(credits(c, k, balance)),
        "balance_cents": balance,
        "consumed_credits": text(credits(c, k, consumed(c, k))),
        "consumed_amount_cents": consumed(c, k),
        "created_at": lago_time(c.grant_at(k)),
        "expiration_at": written.and_then(|w| w.expires_at).map(lago_time),
        "last_balance_sync_at": Value::Null,
        "last_consumed_credit_at": last_consumed,
        "terminated_at": terminated(c, k).map(lago_time),
        "invoice_requires_successful_payment": false,
        "ongoing_balance_cents": balance,
        "ongoing_usage_balance_cents": 0,
        "credits_ongoing_balance": text(credits(c, k, balance)),
        "credits_ongoing_usage_balance": "0",
        "recurring_transaction_rules": [],
        "applies_to": {"fee_types": [], "billable_metric_codes": []},
        "metadata": if metadata.is_empty() { Value::Null } else { Value::Object(metadata) },
    })
}

/// One transaction: `(created_at, lago_id, body)`, for sorting and paging.
type Row = (i64, String, Value);

/// A wallet transaction before its JSON is made: the book's entry, or the pending purchase
/// of a customer's first wallet. A page makes the JSON of its own transactions only.
#[derive(Debug, Clone, Copy)]
enum Transaction {
    Entry(usize),
    Pending,
}

impl Transaction {
    /// `(transaction_status, transaction_type, status)`, which the list filters on.
    fn kinds(self, c: &Customer) -> (&'static str, &'static str, &'static str) {
        let Transaction::Entry(j) = self else {
            return ("purchased", "inbound", "pending");
        };
        let e = &c.entries[j];
        let (transaction_status, transaction_type) = match e.kind {
            EntryKind::Grant if !c.grants[e.grant as usize].promotional => ("purchased", "inbound"),
            EntryKind::Grant | EntryKind::ManualCredit => ("granted", "inbound"),
            EntryKind::Debit => ("invoiced", "outbound"),
            EntryKind::Void | EntryKind::Expire | EntryKind::ManualDebit => ("voided", "outbound"),
        };
        (transaction_status, transaction_type, "settled")
    }

    /// When it was made: Lago lists the newest first.
    fn at(self, c: &Customer) -> i64 {
        match self {
            Transaction::Entry(j) => c.entry_at(j),
            Transaction::Pending => c.entry_at(c.entries.len()) + book::ENTRY_SPACING,
        }
    }

    /// Its `lago_id`, which orders transactions made at the same instant.
    fn id(self, seed: u64, c: &Customer) -> String {
        match self {
            Transaction::Entry(j) => transaction_id(seed, c.index, j),
            Transaction::Pending => pending_id(seed, c.index),
        }
    }

    fn json(self, seed: u64, c: &Customer) -> Value {
        match self {
            Transaction::Entry(j) => transaction_row(seed, c, j).2,
            Transaction::Pending => pending_row(seed, c).2,
        }
    }
}

fn transaction_row(seed: u64, c: &Customer, j: usize) -> Row {
    let e = &c.entries[j];
    let k = e.grant as usize;
    let (transaction_status, transaction_type, _) = Transaction::Entry(j).kinds(c);
    let invoice = matches!(transaction_status, "purchased" | "invoiced")
        .then(|| book::uuid(seed, &[c.index as u64, j as u64, 0x1A7]));
    let at = c.entry_at(j);
    let metadata: Vec<Value> = c
        .note(e)
        .map(|n| vec![json!({"key": "reason", "value": n})])
        .unwrap_or_default();
    let id = transaction_id(seed, c.index, j);
    let body = transaction_json(
        &id,
        &wallet_id(seed, c.index, k),
        (transaction_status, transaction_type, "settled"),
        (credits(c, k, e.amount), cents(e.amount)),
        invoice,
        at,
        metadata,
    );
    (at, id, body)
}

fn transaction_json(
    id: &str,
    wallet: &str,
    (transaction_status, transaction_type, status): (&str, &str, &str),
    (credit_amount, amount): (Decimal, Decimal),
    invoice: Option<String>,
    at: i64,
    metadata: Vec<Value>,
) -> Value {
    json!({
        "lago_id": id, "lago_wallet_id": wallet, "lago_invoice_id": invoice,
        "lago_credit_note_id": null, "lago_voided_invoice_id": null,
        "status": status, "source": "manual", "transaction_status": transaction_status,
        "transaction_type": transaction_type,
        "credit_amount": text(credit_amount), "amount": text(amount),
        "remaining_amount_cents": null, "remaining_credit_amount": null, "priority": 50,
        "invoice_requires_successful_payment": false,
        "settled_at": (status == "settled").then(|| lago_time(at)), "failed_at": null,
        "created_at": lago_time(at), "metadata": metadata, "name": null, "payment_method": null,
    })
}

/// The pending purchase of a customer's first wallet.
fn pending_row(seed: u64, c: &Customer) -> Row {
    let (at, id) = (Transaction::Pending.at(c), Transaction::Pending.id(seed, c));
    let invoice = Some(book::uuid(seed, &[c.index as u64, 0x1A8]));
    let body = transaction_json(
        &id,
        &wallet_id(seed, c.index, 0),
        ("purchased", "inbound", "pending"),
        (credits(c, 0, 1_000), cents(1_000)),
        invoice,
        at,
        Vec::new(),
    );
    (at, id, body)
}

/// Newest first, then by `lago_id`: Lago's order.
fn lago_order(rows: &mut [Row]) {
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
}

/// `page` and `per_page` of the query (Lago takes anything below 1, or not a number, as
/// the default), and the page's rows with Lago's `meta`.
fn paginate<R>(pairs: &[(String, String)], rows: Vec<R>) -> (Vec<R>, Value) {
    let number = |name: &str| query_value(pairs, name).and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0);
    let page = number("page").unwrap_or(1);
    let per_page = number("per_page").unwrap_or(DEFAULT_PER_PAGE);
    let total = rows.len() as u64;
    let total_pages = total.div_ceil(per_page);
    let start = page.saturating_sub(1).saturating_mul(per_page);
    let items: Vec<R> = rows
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .collect();
    let meta = json!({
        "current_page": if total == 0 { 0 } else { page },
        "next_page": (page < total_pages).then_some(page + 1),
        "prev_page": (page > 1 && total > 0).then(|| (page - 1).min(total_pages)),
        "total_pages": total_pages,
        "total_count": total,
    });
    (items, meta)
}

fn find_wallet(seed: u64, book: &Book, id: &str) -> Option<(usize, usize)> {
    book.customers
        .iter()
        .find_map(|c| (0..c.grants.len()).find(|&k| wallet_id(seed, c.index, k) == id).map(|k| (c.index, k)))
}

async fn list_wallets(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let pairs = query_pairs(q.as_deref());
    let Some(index) = query_value(&pairs, "external_customer_id").and_then(|id| state.customer_index(id)) else {
        return not_found("customer");
    };
    let book = state.book();
    let c = &book.customers[index];
    let currency = query_value(&pairs, "currency");
    let mut rows: Vec<Row> = (0..c.grants.len())
        .filter(|_| currency.is_none_or(|cur| cur == CURRENCY))
        .map(|k| (c.grant_at(k), wallet_id(state.seed, index, k), wallet_json(state.seed, c, k)))
        .collect();
    lago_order(&mut rows);
    let (wallets, meta) = paginate(&pairs, rows);
    let wallets: Vec<Value> = wallets.into_iter().map(|(_, _, body)| body).collect();
    json(StatusCode::OK, json!({"wallets": wallets, "meta": meta}))
}

async fn get_wallet(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let book = state.book();
    match find_wallet(state.seed, &book, &id) {
        Some((index, k)) => json(StatusCode::OK, json!({"wallet": wallet_json(state.seed, &book.customers[index], k)})),
        None => not_found("wallet"),
    }
}

async fn list_transactions(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let pairs = query_pairs(q.as_deref());
    let book = state.book();
    let Some((index, k)) = find_wallet(state.seed, &book, &id) else {
        return not_found("wallet");
    };
    let c = &book.customers[index];
    let mut listed: Vec<Transaction> = listed(c, k).map(Transaction::Entry).collect();
    if k == 0 {
        listed.push(Transaction::Pending);
    }
    let filters = [
        query_value(&pairs, "transaction_status"),
        query_value(&pairs, "transaction_type"),
        query_value(&pairs, "status"),
    ];
    let mut rows: Vec<(i64, Transaction)> = listed
        .into_iter()
        .filter(|t| {
            let (transaction_status, transaction_type, status) = t.kinds(c);
            [transaction_status, transaction_type, status]
                .iter()
                .zip(&filters)
                .all(|(value, wanted)| wanted.is_none_or(|w| w == *value))
        })
        .map(|t| (t.at(c), t))
        .collect();
    // Lago's order, with ids made only where two share an instant: a page makes the JSON of
    // its own transactions, not of the whole wallet's.
    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
    for same_instant in rows.chunk_by_mut(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        same_instant.sort_by_cached_key(|(_, t)| t.id(state.seed, c));
    }
    let (page, meta) = paginate(&pairs, rows);
    let transactions: Vec<Value> = page.into_iter().map(|(_, t)| t.json(state.seed, c)).collect();
    json(StatusCode::OK, json!({"wallet_transactions": transactions, "meta": meta}))
}

// ---- writes ----

/// A positive credit amount (a decimal string or number) worth whole cents at `rate`:
/// `(credits, cents)`. Lago itself keeps five decimals of credits; the book keeps cents.
fn credit_amount(value: &Value, rate: Decimal, field: &str) -> Result<Option<(Decimal, i64)>, Response> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(invalid(field, "invalid_value")),
    };
    let credits: Decimal = text.parse().map_err(|_| invalid(field, "invalid_value"))?;
    if credits.is_zero() {
        return Ok(None);
    }
    let money = credits.checked_mul(rate).and_then(|m| m.checked_mul(Decimal::from(100)));
    match money {
        Some(m) if credits > Decimal::ZERO && m.fract().is_zero() => {
            let minor: i64 = m.normalize().to_string().parse().map_err(|_| invalid(field, "invalid_value"))?;
            Ok(Some((credits, minor)))
        }
        _ => Err(invalid(field, "invalid_value")),
    }
}

/// `[{key, value}]` as a map.
fn metadata_pairs(value: &Value) -> std::collections::BTreeMap<String, String> {
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p["key"].as_str()?.to_owned(), p["value"].as_str().unwrap_or("").to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

async fn create_wallet(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let Some(wallet) = serde_json::from_slice::<Value>(&body).ok().map(|b| b["wallet"].clone()).filter(Value::is_object)
    else {
        return failure(StatusCode::BAD_REQUEST, None);
    };
    for required in ["rate_amount", "currency", "external_customer_id"] {
        if wallet[required].is_null() {
            return invalid(required, "value_is_mandatory");
        }
    }
    let Some(index) = wallet["external_customer_id"].as_str().and_then(|id| state.customer_index(id)) else {
        return not_found("customer");
    };
    if wallet["currency"].as_str() != Some(CURRENCY) {
        return invalid("currency", "currencies_does_not_match");
    }
    let rate = match wallet["rate_amount"].as_str().map(str::parse::<Decimal>) {
        Some(Ok(rate)) if rate > Decimal::ZERO => rate,
        _ => return invalid("rate_amount", "invalid_value"),
    };
    let granted = match credit_amount(&wallet["granted_credits"], rate, "granted_credits") {
        Ok(granted) => granted,
        Err(e) => return e,
    };
    if !wallet["paid_credits"].is_null() {
        // Paid credits wait for an invoice's payment; the simulator grants only.
        return invalid("paid_credits", "not_simulated");
    }
    let priority = match &wallet["priority"] {
        Value::Null => 50,
        Value::Number(n) => match n.as_i64() {
            Some(p @ 1..=50) => p,
            _ => return invalid("priority", "invalid_value"),
        },
        _ => return invalid("priority", "invalid_value"),
    };
    let expires_at = match wallet["expiration_at"].as_str() {
        None => None,
        Some(t) => match parse_time(t) {
            Some(at) => Some(at),
            None => return invalid("expiration_at", "invalid_date"),
        },
    };
    let mut book = state.book_mut();
    let c = &mut book.customers[index];
    let active = (0..c.grants.len()).filter(|&k| terminated(c, k).is_none());
    let code = wallet["code"].as_str().map(str::to_owned);
    if code.is_some() && active.clone().any(|k| c.grants[k].written.as_ref().is_some_and(|w| w.key == code)) {
        return invalid("code", "value_already_exist");
    }
    if active.count() >= MAX_ACTIVE_WALLETS {
        return invalid("customer", "wallet_limit_reached");
    }
    let metadata = [(RATE_KEY.to_owned(), rate.normalize().to_string())].into();
    let written = Written {
        name: wallet["name"].as_str().map(str::to_owned),
        priority: Some(priority.to_string()),
        effective_at: None,
        expires_at,
        metadata,
        key: code,
    };
    // A wallet created without credits is a grant of nothing in the book, whose entry of
    // zero is never listed.
    let k = c.add_grant(granted.map_or(0, |(_, minor)| minor), true, written, now_unix());
    let answer = json!({"wallet": wallet_json(state.seed, c, k)});
    drop(book);
    state.answer_write(json(StatusCode::OK, answer))
}

async fn create_transactions(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let Some(request) = serde_json::from_slice::<Value>(&body)
        .ok()
        .map(|b| b["wallet_transaction"].clone())
        .filter(Value::is_object)
    else {
        return failure(StatusCode::BAD_REQUEST, None);
    };
    let Some(wallet) = request["wallet_id"].as_str() else {
        return invalid("wallet_id", "value_is_mandatory");
    };
    let mut book = state.book_mut();
    let Some((index, k)) = find_wallet(state.seed, &book, wallet) else {
        return not_found("wallet");
    };
    let c = &mut book.customers[index];
    if terminated(c, k).is_some() {
        return invalid("wallet_id", "wallet_is_terminated");
    }
    if !request["paid_credits"].is_null() {
        return invalid("paid_credits", "not_simulated");
    }
    let rate = rate(c, k);
    let amounts = credit_amount(&request["granted_credits"], rate, "granted_credits")
        .and_then(|g| Ok((g, credit_amount(&request["voided_credits"], rate, "voided_credits")?)));
    let (granted, voided) = match amounts {
        Ok(both) => both,
        Err(e) => return e,
    };
    if voided.is_some_and(|(_, minor)| minor > c.grants[k].remaining) {
        return invalid("voided_credits", "insufficient_credits");
    }
    let metadata = metadata_pairs(&request["metadata"]);
    let note = (!metadata.is_empty()).then(|| serde_json::to_string(&metadata).unwrap_or_default());
    let now = now_unix();
    let mut rows = Vec::new();
    for signed in [granted.map(|(_, m)| m), voided.map(|(_, m)| -m)].into_iter().flatten() {
        let j = match c.adjust(k, signed, note.clone(), now) {
            Ok(j) => j,
            Err(_) => return invalid("voided_credits", "insufficient_credits"),
        };
        let (_, id, mut body) = transaction_row(state.seed, c, j);
        body["metadata"] = Value::Array(
            metadata
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect(),
        );
        rows.push((id, body));
    }
    let answer = json!({"wallet_transactions": rows.into_iter().map(|(_, b)| b).collect::<Vec<_>>()});
    drop(book);
    state.answer_write(json(StatusCode::OK, answer))
}

async fn terminate_wallet(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let mut book = state.book_mut();
    let Some((index, k)) = find_wallet(state.seed, &book, &id) else {
        return not_found("wallet");
    };
    let c = &mut book.customers[index];
    if terminated(c, k).is_some() {
        return invalid("wallet", "wallet_is_terminated");
    }
    // Lago terminates without a transaction: what is left stays in `credits_balance`,
    // unusable.
    c.grants[k].ended = Some((Ended::Deleted, now_unix()));
    let answer = json!({"wallet": wallet_json(state.seed, c, k)});
    drop(book);
    state.answer_write(json(StatusCode::OK, answer))
}

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let seed = book.seed;
    let mut truth = Truth::default();
    let mut balance = Decimal::ZERO;
    for (k, g) in c.grants.iter().enumerate() {
        let id = normalized(VENDOR, &wallet_id(seed, index, k));
        // What the wallet received net of voided credits: its balance plus its usage.
        truth
            .grants
            .insert(id.clone(), (cents(g.remaining + consumed(c, k)), CURRENCY.to_owned()));
        let ids = listed(c, k)
            .map(|j| normalized(VENDOR, &transaction_id(seed, index, j)))
            .collect();
        truth.ledger_by_grant.insert(id, ids);
        if terminated(c, k).is_none() {
            balance += cents(g.remaining);
        }
    }
    for (j, e) in c.entries.iter().enumerate().filter(|(_, e)| e.amount != 0) {
        truth
            .ledger
            .insert(normalized(VENDOR, &transaction_id(seed, index, j)), (cents(e.signed()), CURRENCY.to_owned()));
    }
    if !c.grants.is_empty() {
        truth.balances.insert(CURRENCY.to_owned(), balance);
    }
    truth
}

/// Lago's webhooks for ledger entry `j` of `c`, in its `hmac` mode: `wallet.created` for a
/// new wallet, and `wallet_transaction.created` (the wallet embedded) for every entry.
/// `X-Lago-Signature` is the base64 HMAC-SHA256 of the body; `X-Lago-Unique-Key` names the
/// delivery.
pub(super) fn push(seed: u64, c: &Customer, j: usize, secret: &str) -> Vec<crate::push::Push> {
    use base64::Engine;
    let e = &c.entries[j];
    let k = e.grant as usize;
    let organization = book::uuid(seed, &[0x0A6]);
    let mut bodies = Vec::new();
    if e.kind == EntryKind::Grant {
        bodies.push(json!({"webhook_type": "wallet.created", "object_type": "wallet",
                           "organization_id": organization, "wallet": wallet_json(seed, c, k)}));
    }
    let mut transaction = transaction_row(seed, c, j).2;
    transaction["wallet"] = json!({"lago_id": wallet_id(seed, c.index, k), "external_customer_id": customer_id(seed, c.index)});
    bodies.push(json!({"webhook_type": "wallet_transaction.created", "object_type": "wallet_transaction",
                       "organization_id": organization, "wallet_transaction": transaction}));
    bodies
        .into_iter()
        .enumerate()
        .map(|(n, body)| {
            let body = body.to_string();
            let signature = base64::engine::general_purpose::STANDARD.encode(crate::push::hmac(secret, &[body.as_bytes()]));
            crate::push::Push {
                headers: vec![
                    ("x-lago-signature", signature),
                    ("x-lago-signature-algorithm", "hmac".to_owned()),
                    ("x-lago-unique-key", book::uuid(seed, &[0xDE1, c.index as u64, j as u64, n as u64])),
                ],
                body,
            }
        })
        .collect()
}
