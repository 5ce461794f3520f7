//! Stripe's billing credits API (`stripe-billing-credits.trimmed.json`): secret-key auth
//! (Bearer or Basic), `limit` 1..=100 with `starting_after`/`ending_before` and `has_more`,
//! newest first, amounts in the currency's minor units, `{"error": {...}}` bodies.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

use super::book::{Book, Customer, Ended, EntryKind, Written};
use super::{json, major, normalized, now_unix, query_pairs, query_value, SimState, Truth, VendorError};
use crate::Vendor;

const VENDOR: Vendor = Vendor::Stripe;

/// Customers cycle through a two-, a zero- and a three-decimal currency.
const CURRENCIES: [(&str, u32); 4] = [("usd", 2), ("eur", 2), ("jpy", 0), ("kwd", 3)];

fn currency(customer: usize) -> (&'static str, u32) {
    CURRENCIES[customer % CURRENCIES.len()]
}

/// Where the API sits under the simulator's address, the simulator's credential, and the
/// keys of `[providers.stripe]` beyond the common ones (for the demo's config).
pub(super) const BASE_PATH: &str = "";
pub(super) fn credential(seed: u64) -> String {
    format!("sk_test_sim{seed:016x}")
}
pub(super) fn demo_config() -> String {
    String::new()
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1/billing/credit_grants", get(list_grants).post(create_grant))
        .route("/v1/billing/credit_grants/{id}", get(get_grant))
        .route("/v1/billing/credit_grants/{id}/void", post(void_grant))
        .route("/v1/billing/credit_grants/{id}/expire", post(expire_grant))
        .route("/v1/billing/credit_balance_transactions", get(list_transactions))
        .route("/v1/billing/credit_balance_transactions/{id}", get(get_transaction))
        .route("/v1/billing/credit_balance_summary", get(balance_summary))
        .layer(axum::middleware::map_response(with_request_id))
}

/// Every Stripe answer carries `Request-Id` (`req_…`), as Stripe's do.
async fn with_request_id(mut response: Response) -> Response {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = format!("req_sim{:014}", NEXT.fetch_add(1, Ordering::Relaxed));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

pub(super) fn customer_id(_seed: u64, index: usize) -> String {
    format!("cus_sim{index:06}")
}

fn grant_id(customer: usize, k: usize) -> String {
    format!("credgr_sim{customer:06}x{k:02}")
}

fn transaction_id(customer: usize, j: usize) -> String {
    format!("cbtxn_sim{customer:06}x{j:08}")
}

/// `(customer, n)` from an id made by [`grant_id`] or [`transaction_id`].
fn parse_id(id: &str, prefix: &str) -> Option<(usize, usize)> {
    let (customer, n) = id.strip_prefix(prefix)?.split_once('x')?;
    Some((customer.parse().ok()?, n.parse().ok()?))
}

pub(super) fn error(error: VendorError) -> Response {
    match error {
        VendorError::Unauthorized => stripe_error(
            StatusCode::UNAUTHORIZED,
            json!({"type": "invalid_request_error", "message": "Invalid API Key provided."}),
        ),
        VendorError::RateLimited => stripe_error(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"type": "invalid_request_error", "code": "rate_limit",
                   "message": "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."}),
        ),
        VendorError::Internal => stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"type": "api_error", "message": "An unknown error occurred"}),
        ),
    }
}

fn stripe_error(status: StatusCode, error: Value) -> Response {
    let should_retry = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::INTERNAL_SERVER_ERROR
    );
    let mut response = json(status, json!({ "error": error }));
    if should_retry {
        response
            .headers_mut()
            .insert("stripe-should-retry", axum::http::HeaderValue::from_static("true"));
    }
    response
}

fn invalid(param: &str, message: String) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        json!({"type": "invalid_request_error", "param": param, "message": message}),
    )
}

fn missing(param: &str, message: String) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        json!({"type": "invalid_request_error", "code": "resource_missing", "param": param, "message": message,
               "doc_url": "https://stripe.com/docs/error-codes/resource-missing"}),
    )
}

/// Stripe takes the secret key as a Bearer token or as Basic auth's user name.
fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    let key = match header {
        Some(h) if h.starts_with("Bearer ") => Some(h["Bearer ".len()..].to_owned()),
        Some(h) if h.starts_with("Basic ") => base64::engine::general_purpose::STANDARD
            .decode(&h["Basic ".len()..])
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(|pair| pair.split(':').next().unwrap_or_default().to_owned()),
        _ => None,
    };
    match key {
        Some(key) if key == state.credential => Ok(()),
        Some(key) => {
            let tail: String = key
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Err(stripe_error(
                StatusCode::UNAUTHORIZED,
                json!({"type": "invalid_request_error",
                       "message": format!("Invalid API Key provided: sk_test_****{tail}")}),
            ))
        }
        None => Err(stripe_error(
            StatusCode::UNAUTHORIZED,
            json!({"type": "invalid_request_error",
                   "message": "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."}),
        )),
    }
}

/// `limit`, `starting_after` and `ending_before` of a list request.
struct ListParams {
    limit: usize,
    starting_after: Option<String>,
    ending_before: Option<String>,
}

fn list_params(pairs: &[(String, String)]) -> Result<ListParams, Response> {
    let limit = match query_value(pairs, "limit") {
        None => 10,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n as usize,
            Ok(n) if n < 1 => {
                return Err(invalid(
                    "limit",
                    "This value must be greater than or equal to 1.".into(),
                ))
            }
            Ok(_) => return Err(invalid("limit", "This value must be less than or equal to 100.".into())),
            Err(_) => return Err(invalid("limit", format!("Invalid integer: {text}"))),
        },
    };
    Ok(ListParams {
        limit,
        starting_after: query_value(pairs, "starting_after").map(str::to_owned),
        ending_before: query_value(pairs, "ending_before").map(str::to_owned),
    })
}

/// Which positions of a `total`-long list (in list order) a page holds, and `has_more`.
/// `position` finds a cursor object's position in the list.
fn page_range(
    total: usize,
    params: &ListParams,
    position: impl Fn(&str) -> Option<usize>,
    object: &str,
) -> Result<(std::ops::Range<usize>, bool), Response> {
    let find = |id: &str, param: &str| position(id).ok_or_else(|| missing(param, format!("No such {object}: '{id}'")));
    if let Some(after) = &params.starting_after {
        let start = find(after, "starting_after")? + 1;
        let end = (start + params.limit).min(total);
        Ok((start..end, end < total))
    } else if let Some(before) = &params.ending_before {
        let end = find(before, "ending_before")?;
        let start = end.saturating_sub(params.limit);
        Ok((start..end, start > 0))
    } else {
        let end = params.limit.min(total);
        Ok((0..end, end < total))
    }
}

fn list_body(url: &str, data: Vec<Value>, has_more: bool) -> Response {
    json(
        StatusCode::OK,
        json!({"object": "list", "url": url, "has_more": has_more, "data": data}),
    )
}

fn customer_param(state: &SimState, pairs: &[(String, String)], required: bool) -> Result<Option<usize>, Response> {
    match query_value(pairs, "customer") {
        None if required => Err(invalid("customer", "Missing required param: customer.".into())),
        None => Ok(None),
        Some(id) => state
            .customer_index(id)
            .map(Some)
            .ok_or_else(|| missing("customer", format!("No such customer: '{id}'"))),
    }
}

fn monetary(customer: usize, amount: i64) -> Value {
    json!({"monetary": {"currency": currency(customer).0, "value": amount}, "type": "monetary"})
}

fn grant_json(c: &Customer, k: usize) -> Value {
    let g = &c.grants[k];
    let created = c.grant_at(k);
    let mut grant = json!({
        "id": grant_id(c.index, k), "object": "billing.credit_grant",
        "amount": monetary(c.index, g.amount),
        "applicability_config": {"scope": {"price_type": "metered"}},
        "category": if g.promotional { "promotional" } else { "paid" },
        "created": created, "customer": customer_id(0, c.index), "customer_account": null,
        "effective_at": created, "expires_at": null, "livemode": false,
        "metadata": {"simulated": "true"}, "name": format!("Simulated grant {k}"),
        "priority": 50, "test_clock": null, "updated": created, "voided_at": null
    });
    if let Some(w) = &g.written {
        grant["name"] = json!(w.name);
        grant["metadata"] = json!(w.metadata);
        grant["effective_at"] = json!(w.effective_at.unwrap_or(created));
        grant["expires_at"] = json!(w.expires_at);
        if let Some(priority) = &w.priority {
            grant["priority"] = json!(priority.parse::<i64>().unwrap_or(50));
        }
    }
    match g.ended {
        Some((Ended::Voided | Ended::Deleted, at)) => {
            grant["voided_at"] = json!(at);
            grant["updated"] = json!(at);
        }
        Some((Ended::Expired, at)) => {
            grant["expires_at"] = json!(at);
            grant["updated"] = json!(at);
        }
        None => {}
    }
    grant
}

/// A credit balance transaction as Stripe's spec shapes it. Typed rather than built as a
/// `serde_json::Value`: lists of these are the simulator's hottest path (an export reads
/// every one), and a `Value` per entry cost most of its CPU time.
#[derive(serde::Serialize)]
struct Transaction {
    id: String,
    object: &'static str,
    created: i64,
    credit: Option<Movement>,
    credit_grant: String,
    debit: Option<Movement>,
    effective_at: i64,
    livemode: bool,
    test_clock: Option<()>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The `credit` or `debit` half of a transaction.
#[derive(serde::Serialize)]
struct Movement {
    amount: Monetary,
    #[serde(skip_serializing_if = "Option::is_none")]
    credits_application_invoice_voided: Option<Option<()>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credits_applied: Option<Option<Applied>>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(serde::Serialize)]
struct Applied {
    invoice: String,
    invoice_line_item: String,
}

#[derive(serde::Serialize)]
struct Monetary {
    monetary: MonetaryValue,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(serde::Serialize)]
struct MonetaryValue {
    currency: &'static str,
    value: i64,
}

fn transaction(c: &Customer, j: usize) -> Transaction {
    let e = &c.entries[j];
    let amount = Monetary {
        monetary: MonetaryValue {
            currency: currency(c.index).0,
            value: e.amount,
        },
        kind: "monetary",
    };
    let granted = |amount| Movement {
        amount,
        credits_application_invoice_voided: Some(None),
        credits_applied: None,
        kind: "credits_granted",
    };
    let taken = |amount, applied, kind| Movement {
        amount,
        credits_application_invoice_voided: None,
        credits_applied: Some(applied),
        kind,
    };
    let (credit, debit) = match e.kind {
        EntryKind::Grant | EntryKind::ManualCredit => (Some(granted(amount)), None),
        EntryKind::Debit | EntryKind::ManualDebit => {
            let applied = Applied {
                invoice: format!("in_sim{j}"),
                invoice_line_item: format!("il_sim{j}"),
            };
            (None, Some(taken(amount, Some(applied), "credits_applied")))
        }
        EntryKind::Void => (None, Some(taken(amount, None, "credits_voided"))),
        EntryKind::Expire => (None, Some(taken(amount, None, "credits_expired"))),
    };
    Transaction {
        id: transaction_id(c.index, j),
        object: "billing.credit_balance_transaction",
        created: c.entry_at(j),
        kind: if credit.is_some() { "credit" } else { "debit" },
        credit,
        credit_grant: grant_id(c.index, e.grant as usize),
        debit,
        effective_at: c.entry_at(j),
        livemode: false,
        test_clock: None,
    }
}

fn transaction_json(c: &Customer, j: usize) -> Value {
    serde_json::to_value(transaction(c, j)).unwrap_or(Value::Null)
}

/// A list answer of typed items, serialized once.
fn typed_list_body<T: serde::Serialize>(url: &str, data: &[T], has_more: bool) -> Response {
    #[derive(serde::Serialize)]
    struct List<'a, T> {
        object: &'static str,
        url: &'a str,
        has_more: bool,
        data: &'a [T],
    }
    let list = List {
        object: "list",
        url,
        has_more,
        data,
    };
    match serde_json::to_vec(&list) {
        Ok(bytes) => axum::response::IntoResponse::into_response((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )),
        Err(_) => axum::response::IntoResponse::into_response(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Every grant, newest first (across customers, or of one).
fn grant_list(book: &Book, customer: Option<usize>) -> Vec<(usize, usize)> {
    let customers: Vec<&Customer> = match customer {
        Some(i) => vec![&book.customers[i]],
        None => book.customers.iter().collect(),
    };
    let mut grants: Vec<(i64, usize, usize)> = customers
        .iter()
        .flat_map(|c| (0..c.grants.len()).map(|k| (c.grant_at(k), c.index, k)))
        .collect();
    grants.sort_by(|a, b| b.cmp(a));
    grants.into_iter().map(|(_, c, k)| (c, k)).collect()
}

async fn list_grants(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let run = || -> Result<Response, Response> {
        authorize(&state, &headers)?;
        let pairs = query_pairs(q.as_deref());
        let params = list_params(&pairs)?;
        let customer = customer_param(&state, &pairs, false)?;
        let book = state.book();
        let list = grant_list(&book, customer);
        let position = |id: &str| {
            let key = parse_id(id, "credgr_sim")?;
            list.iter().position(|g| *g == key)
        };
        let (range, has_more) = page_range(list.len(), &params, position, "credit grant")?;
        let data = list[range]
            .iter()
            .map(|&(c, k)| grant_json(&book.customers[c], k))
            .collect();
        Ok(list_body("/v1/billing/credit_grants", data, has_more))
    };
    run().unwrap_or_else(|e| e)
}

fn find_grant(book: &Book, id: &str) -> Option<(usize, usize)> {
    let (c, k) = parse_id(id, "credgr_sim")?;
    (book.customer(c)?.grants.len() > k && grant_id(c, k) == id).then_some((c, k))
}

fn no_such_grant(id: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        json!({"type": "invalid_request_error", "code": "resource_missing", "param": "id",
               "message": format!("No such credit grant: '{id}'")}),
    )
}

async fn get_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let book = state.book();
    match find_grant(&book, &id) {
        Some((c, k)) => json(StatusCode::OK, grant_json(&book.customers[c], k)),
        None => no_such_grant(&id),
    }
}

async fn list_transactions(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let run = || -> Result<Response, Response> {
        authorize(&state, &headers)?;
        let pairs = query_pairs(q.as_deref());
        let params = list_params(&pairs)?;
        let index = customer_param(&state, &pairs, true)?.expect("required");
        let book = state.book();
        let c = &book.customers[index];
        // List order is newest first. `filtered` holds one grant's entries, oldest first;
        // without it every entry is listed and entry `j` is simply index `j`.
        let filtered: Option<&[u32]> = match query_value(&pairs, "credit_grant") {
            Some(grant) => match find_grant(&book, grant) {
                Some((gc, k)) if gc == index => Some(&c.by_grant[k]),
                _ => return Err(missing("credit_grant", format!("No such credit grant: '{grant}'"))),
            },
            None => None,
        };
        let total = filtered.map_or(c.entries.len(), <[u32]>::len);
        let entry_at = |p: usize| {
            let i = total - 1 - p;
            filtered.map_or(i, |f| f[i] as usize)
        };
        let position = |id: &str| {
            let (ic, j) = parse_id(id, "cbtxn_sim")?;
            let i = match filtered {
                Some(f) => f.binary_search(&u32::try_from(j).ok()?).ok()?,
                None => (j < total).then_some(j)?,
            };
            (ic == index).then_some(total - 1 - i)
        };
        let (range, has_more) = page_range(total, &params, position, "credit balance transaction")?;
        let data: Vec<Transaction> = range.map(|p| transaction(c, entry_at(p))).collect();
        Ok(typed_list_body(
            "/v1/billing/credit_balance_transactions",
            &data,
            has_more,
        ))
    };
    run().unwrap_or_else(|e| e)
}

async fn get_transaction(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let book = state.book();
    let found = parse_id(&id, "cbtxn_sim")
        .and_then(|(c, j)| book.customer(c).filter(|c| j < c.entries.len()).map(|c| (c, j)))
        .filter(|(c, j)| transaction_id(c.index, *j) == id);
    match found {
        Some((c, j)) => json(StatusCode::OK, transaction_json(c, j)),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            json!({"type": "invalid_request_error", "code": "resource_missing", "param": "id",
                   "message": format!("No such credit balance transaction: '{id}'")}),
        ),
    }
}

async fn balance_summary(State(state): State<Arc<SimState>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let run = || -> Result<Response, Response> {
        authorize(&state, &headers)?;
        let pairs = query_pairs(q.as_deref());
        let index = customer_param(&state, &pairs, true)?.expect("required");
        let book = state.book();
        let c = &book.customers[index];
        let available = match query_value(&pairs, "filter[type]") {
            Some("applicability_scope") => match query_value(&pairs, "filter[applicability_scope][price_type]") {
                Some("metered") => c.balance(),
                _ => {
                    return Err(invalid(
                        "filter[applicability_scope]",
                        "Must provide price_type or prices.".into(),
                    ))
                }
            },
            Some("credit_grant") => {
                match query_value(&pairs, "filter[credit_grant]").and_then(|g| find_grant(&book, g)) {
                    Some((gc, k)) if gc == index => c.grants[k].remaining,
                    _ => {
                        return Err(missing(
                            "filter[credit_grant]",
                            "No such credit grant for this customer.".into(),
                        ))
                    }
                }
            }
            Some(other) => {
                return Err(invalid(
                    "filter[type]",
                    format!("Invalid filter[type]: must be one of applicability_scope or credit_grant, got {other}"),
                ))
            }
            None => return Err(invalid("filter", "Missing required param: filter.".into())),
        };
        let balances: Vec<Value> = if c.grants.is_empty() {
            Vec::new()
        } else {
            vec![json!({"available_balance": monetary(index, available), "ledger_balance": monetary(index, available)})]
        };
        Ok(json(
            StatusCode::OK,
            json!({"object": "billing.credit_balance_summary", "balances": balances,
                   "customer": customer_id(0, index), "customer_account": null, "livemode": false}),
        ))
    };
    run().unwrap_or_else(|e| e)
}

// ---- writes ----

/// Stripe's `Idempotency-Key`: a key seen before with the same body replays its first
/// answer (`Idempotent-Replayed: true`); with another body it is refused. Otherwise `apply`
/// runs and its answer is kept for the key.
fn idempotent(state: &SimState, headers: &HeaderMap, body: &[u8], apply: impl FnOnce() -> Response) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(key) = key else { return apply() };
    let mut replays = state.replays.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(first) = replays.get(&key) {
        if first.body != body {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                json!({"type": "idempotency_error",
                       "message": format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.")}),
            );
        }
        let mut response = json(first.status, first.answer.clone());
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return response;
    }
    let response = apply();
    // Only a request that was executed is kept (Stripe keeps no 429 or 500, and no
    // validation error: those answers carry no body to keep).
    if response.status().is_success() || response.status() == StatusCode::BAD_REQUEST {
        if let Some(answer) = response.extensions().get::<Value>().cloned() {
            let replay = super::Replay {
                body: body.to_vec(),
                status: response.status(),
                answer,
            };
            replays.insert(key, replay);
        }
    }
    response
}

/// A JSON answer that also carries its body for [`idempotent`] to keep.
fn kept(status: StatusCode, body: Value) -> Response {
    let mut response = json(status, body.clone());
    response.extensions_mut().insert(body);
    response
}

/// A request whose parameters failed validation: Stripe keeps no result for its key (only
/// requests that started executing are kept), so a corrected retry under it runs.
fn kept_invalid(param: &str, message: String) -> Response {
    let body = json!({"error": {"type": "invalid_request_error", "param": param, "message": message}});
    json(StatusCode::BAD_REQUEST, body)
}

/// A request that started executing and was refused on what Stripe holds (an unknown
/// customer, a grant already ended): its answer is kept under the key.
fn refused_executing(code: Option<&str>, param: &str, message: String) -> Response {
    let mut body = json!({"error": {"type": "invalid_request_error", "param": param, "message": message}});
    if let Some(code) = code {
        body["error"]["code"] = json!(code);
    }
    kept(StatusCode::BAD_REQUEST, body)
}

async fn create_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| query_value(&form, name).map(str::to_owned);
    let response = idempotent(&state, &headers, &body, || {
        let Some(customer) = field("customer") else {
            return kept_invalid("customer", "Missing required param: customer.".into());
        };
        let Some(index) = state.customer_index(&customer) else {
            return refused_executing(
                Some("resource_missing"),
                "customer",
                format!("No such customer: '{customer}'"),
            );
        };
        if field("applicability_config[scope][price_type]").as_deref() != Some("metered") {
            return kept_invalid(
                "applicability_config",
                "Missing required param: applicability_config[scope][price_type].".into(),
            );
        }
        if field("amount[type]").as_deref() != Some("monetary") {
            return kept_invalid("amount[type]", "Missing required param: amount[type].".into());
        }
        let currency_code = currency(index).0;
        if field("amount[monetary][currency]").as_deref() != Some(currency_code) {
            return kept_invalid(
                "amount[monetary][currency]",
                format!("The customer's credits are in {currency_code}."),
            );
        }
        let value = match field("amount[monetary][value]").map(|v| v.parse::<i64>()) {
            Some(Ok(v)) if v > 0 => v,
            _ => return kept_invalid("amount[monetary][value]", "Must be a positive integer.".into()),
        };
        let int = |name: &str| field(name).map(|v| v.parse::<i64>());
        let priority = match int("priority") {
            None => None,
            Some(Ok(p)) if (0..=100).contains(&p) => Some(p.to_string()),
            Some(_) => return kept_invalid("priority", "Must be an integer from 0 to 100.".into()),
        };
        let promotional = match field("category").as_deref() {
            None | Some("paid") => false,
            Some("promotional") => true,
            Some(other) => return kept_invalid("category", format!("Invalid category: {other}")),
        };
        let time = |name: &str| {
            int(name)
                .map(|r| r.map_err(|_| kept_invalid(name, "Invalid integer.".into())))
                .transpose()
        };
        let (effective_at, expires_at) = match (time("effective_at"), time("expires_at")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let metadata = form
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), v.clone())))
            .collect();
        let written = Written {
            name: field("name"),
            priority,
            effective_at,
            expires_at,
            metadata,
            key: None,
        };
        let mut book = state.book_mut();
        let c = &mut book.customers[index];
        let k = c.add_grant(value, promotional, written, now_unix());
        kept(StatusCode::OK, grant_json(c, k))
    });
    state.answer_write(response)
}

async fn end_grant(state: &SimState, headers: &HeaderMap, id: &str, how: Ended) -> Response {
    if let Err(e) = authorize(state, headers) {
        return e;
    }
    let response = idempotent(state, headers, id.as_bytes(), || {
        let mut book = state.book_mut();
        let Some((c, k)) = find_grant(&book, id) else {
            return no_such_grant(id);
        };
        let customer = &mut book.customers[c];
        if customer.grants[k].ended.is_some() {
            return refused_executing(
                None,
                "id",
                format!("The credit grant {id} has already been voided or expired."),
            );
        }
        customer.end_grant(k, how, now_unix());
        kept(StatusCode::OK, grant_json(customer, k))
    });
    state.answer_write(response)
}

async fn void_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    end_grant(&state, &headers, &id, Ended::Voided).await
}

async fn expire_grant(State(state): State<Arc<SimState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    end_grant(&state, &headers, &id, Ended::Expired).await
}

pub(super) fn truth(book: &Book, index: usize) -> Truth {
    let c = &book.customers[index];
    let (code, exponent) = currency(index);
    let unit = code.to_uppercase();
    let mut truth = Truth::default();
    for (k, g) in c.grants.iter().enumerate() {
        let id = normalized(VENDOR, &grant_id(index, k));
        truth
            .grants
            .insert(id.clone(), (major(g.amount, exponent), unit.clone()));
        let ids = c.by_grant[k]
            .iter()
            .map(|&j| normalized(VENDOR, &transaction_id(index, j as usize)))
            .collect();
        truth.ledger_by_grant.insert(id, ids);
    }
    for (j, e) in c.entries.iter().enumerate() {
        truth.ledger.insert(
            normalized(VENDOR, &transaction_id(index, j)),
            (major(e.signed(), exponent), unit.clone()),
        );
    }
    if !c.grants.is_empty() {
        truth.balances.insert(unit, major(c.balance(), exponent));
    }
    truth
}

/// Stripe's events for ledger entry `j` of `c`: `billing.credit_grant.created` or
/// `.updated` when it made or ended a grant, and `billing.credit_balance_transaction.created`
/// for every entry; `Stripe-Signature: t=…,v1=<hex HMAC-SHA256 of "{t}.{body}">`.
pub(super) fn push(_seed: u64, c: &Customer, j: usize, secret: &str) -> Vec<crate::push::Push> {
    let e = &c.entries[j];
    let k = e.grant as usize;
    let mut events = Vec::new();
    match e.kind {
        EntryKind::Grant => events.push(("g", "billing.credit_grant.created", grant_json(c, k))),
        EntryKind::Void | EntryKind::Expire => events.push(("g", "billing.credit_grant.updated", grant_json(c, k))),
        _ => {}
    }
    events.push(("t", "billing.credit_balance_transaction.created", transaction_json(c, j)));
    let t = now_unix();
    events
        .into_iter()
        .map(|(suffix, kind, object)| {
            let body = json!({"id": format!("evt_sim{:06}x{j:08}{suffix}", c.index), "object": "event",
                              "api_version": "2025-03-31.basil", "created": t, "livemode": false,
                              "type": kind, "data": {"object": object}})
            .to_string();
            let signature = crate::push::hex(&crate::push::hmac(secret, &[t.to_string().as_bytes(), b".", body.as_bytes()]));
            crate::push::Push {
                headers: vec![("stripe-signature", format!("t={t},v1={signature}"))],
                body,
            }
        })
        .collect()
}
