//! The customer pages: the search, and one customer (balances, the burn-down chart, grants,
//! the ledger, alerts and events). Every figure comes from the gateway call the matching
//! API endpoint makes, with the session's caller, so the page shows what that key would
//! read. The alerts' forms and the event page are in `events.rs` beside it.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use time::OffsetDateTime;

use super::views::{instant, link, maybe_instant, wire, Chart, Instant};
use super::{error_page, html, redirect, routes, Frame, Session};
use crate::api::params::Params;
use crate::error::ApiError;
use crate::gateway::{BalancesQuery, EventsQuery, Gateway, GrantsQuery, HistoryQuery, LedgerQuery};
use crate::model::event::{BalanceAlert, Event};
use crate::model::history::Interval;
use crate::paging::Limit;
use crate::upstream::CacheUse;

/// Rows per page of grants and of the ledger, and events shown.
const PAGE_ROWS: usize = 50;
const EVENT_ROWS: usize = 20;

#[derive(Template)]
#[template(path = "console/customers.html")]
struct SearchPage {
    frame: Frame,
    query: String,
    aliases: Vec<(String, Vec<String>)>,
    /// The `<provider>:<id>` customers the key is limited to, beside its aliases.
    listed: Vec<String>,
}

/// `/console/customers?q=`: a customer by alias or `provider:id` (straight to its page), or
/// the aliases the key may read.
pub(super) async fn search(State(gateway): State<Gateway>, session: Session, RawQuery(raw): RawQuery) -> Response {
    let query = Params::parse(raw.as_deref())
        .take("q")
        .ok()
        .flatten()
        .unwrap_or_default();
    let query = query.trim().to_owned();
    if !query.is_empty() {
        return redirect(&link(routes::CUSTOMER, &[("customer", &query)]));
    }
    let listed = session
        .caller
        .customers
        .iter()
        .flatten()
        .filter(|c| c.contains(':'))
        .cloned()
        .collect();
    let page = SearchPage {
        frame: session.frame("Customers", "customers"),
        query,
        aliases: gateway.visible_aliases(&session.caller),
        listed,
    };
    html(StatusCode::OK, &page)
}

/// The burn-down chart's windows: (name, label, interval, points).
const WINDOWS: [(&str, &str, Interval, i64); 4] = [
    ("7d", "7 days, by hour", Interval::Hour, 7 * 24),
    ("30d", "30 days, by day", Interval::Day, 30),
    ("90d", "90 days, by day", Interval::Day, 90),
    ("365d", "a year, by day", Interval::Day, 365),
];

/// What the customer page asks for: its query string, parsed strictly.
pub struct CustomerView {
    pub customer: String,
    pub unit: Option<String>,
    pub window: &'static str,
    pub grants_cursor: Option<String>,
    pub ledger_cursor: Option<String>,
}

impl CustomerView {
    fn parse(raw: Option<&str>) -> Result<CustomerView, ApiError> {
        let mut p = Params::parse(raw);
        let customer = p.take_required("customer")?.trim().to_owned();
        let unit = p.take("unit")?.filter(|u| !u.is_empty());
        let window = match p.take("window")? {
            None => "30d",
            Some(w) => WINDOWS
                .iter()
                .find(|(name, ..)| *name == w)
                .map(|(name, ..)| *name)
                .ok_or_else(|| ApiError::invalid_param("window", "window is one of 7d, 30d, 90d, 365d"))?,
        };
        let view = CustomerView {
            customer,
            unit,
            window,
            grants_cursor: p.take("grants")?,
            ledger_cursor: p.take("ledger")?,
        };
        p.finish()?;
        Ok(view)
    }

    /// One page of the list whose cursor is `param` (and whose section has that id), with
    /// links to its first page and its next.
    fn paged<T, R>(
        &self,
        param: &str,
        page: Result<crate::gateway::ListPage<T>, ApiError>,
        row: fn(&T) -> R,
    ) -> Result<Paged<R>, String> {
        let page = page.map_err(|e| e.to_string())?;
        let at = |cursor: &str| format!("{}#{param}", self.link_with(&[(param, cursor)]));
        let current = match param {
            "grants" => &self.grants_cursor,
            _ => &self.ledger_cursor,
        };
        Ok(Paged {
            rows: page.data.iter().map(row).collect(),
            first: current.as_ref().map(|_| at("")),
            next: page.next_cursor.as_deref().map(at),
            skipped: page.skipped.iter().map(skipped_note).collect(),
        })
    }

    /// This page's link with `changes` made (an empty value leaves a parameter out).
    fn link_with(&self, changes: &[(&str, &str)]) -> String {
        let mut params: Vec<(&str, &str)> = vec![
            ("customer", &self.customer),
            ("unit", self.unit.as_deref().unwrap_or("")),
            ("window", self.window),
            ("grants", self.grants_cursor.as_deref().unwrap_or("")),
            ("ledger", self.ledger_cursor.as_deref().unwrap_or("")),
        ];
        for (name, value) in changes {
            if let Some(slot) = params.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value;
            }
        }
        link(routes::CUSTOMER, &params)
    }
}

pub struct BalanceRow {
    pub provider: String,
    pub customer: String,
    pub unit: String,
    pub available: String,
    pub pending: Option<String>,
    pub as_of: Instant,
}

pub struct GrantRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub amount: String,
    pub balance: Option<String>,
    pub unit: String,
    pub effective_at: Option<Instant>,
    pub expires_at: Option<Instant>,
}

pub struct EntryRow {
    pub at: Option<Instant>,
    pub provider: String,
    pub entry_type: String,
    pub amount: String,
    pub unit: String,
    pub balance_after: Option<String>,
    pub grant: String,
}

pub struct AlertRow {
    pub id: String,
    pub customer: String,
    pub unit: String,
    pub threshold: String,
    pub created: Instant,
}

pub struct EventRow {
    pub id: String,
    pub link: String,
    pub event_type: String,
    pub customer: String,
    pub created: Instant,
}

/// One page of a list: its rows, and the links to the first and the next page.
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub first: Option<String>,
    pub next: Option<String>,
    pub skipped: Vec<String>,
}

/// The burn-down chart and its points as a table, with the window it covers.
pub struct History {
    pub chart: Chart,
    pub from: String,
    pub to: String,
    pub interval: String,
    pub rows: Vec<HistoryRow>,
}

pub struct HistoryRow {
    pub start: Instant,
    pub available: String,
    pub granted: String,
    pub used: String,
    pub expired: String,
    pub other: String,
}

#[derive(Template)]
#[template(path = "console/customer.html")]
pub struct CustomerPage {
    frame: Frame,
    customer: String,
    /// The providers an alert may be set at (`<provider>:<id>`), for an alias.
    ids: Vec<String>,
    balances: Result<Vec<BalanceRow>, String>,
    balance_notes: Vec<String>,
    units: Vec<String>,
    unit: String,
    window: &'static str,
    windows: Vec<(&'static str, &'static str)>,
    history: Option<Result<History, String>>,
    grants: Result<Paged<GrantRow>, String>,
    ledger: Result<Paged<EntryRow>, String>,
    alerts: Result<Vec<AlertRow>, String>,
    events: Result<Vec<EventRow>, String>,
}

/// `/console/customer?customer=…[&unit][&window][&grants][&ledger]`.
pub(super) async fn page(State(gateway): State<Gateway>, session: Session, RawQuery(raw): RawQuery) -> Response {
    let view = match CustomerView::parse(raw.as_deref()) {
        Ok(view) => view,
        Err(e) => return error_page(&session, &e),
    };
    match customer_page(&gateway, &session, &view, OffsetDateTime::now_utc()).await {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => error_page(&session, &e),
    }
}

/// The customer page's content at `now`: its parts read at once, then the chart for the
/// unit shown. A customer the key may not read, or that does not exist, is an error; a part
/// that fails shows its error in its place.
pub async fn customer_page(
    gateway: &Gateway,
    session: &Session,
    view: &CustomerView,
    now: OffsetDateTime,
) -> Result<CustomerPage, ApiError> {
    let caller = &session.caller;
    let ids: Vec<String> = gateway
        .customer_at_providers(&view.customer)?
        .into_iter()
        .map(|(p, id)| crate::model::qualified_id(p, &id))
        .collect();
    let cache = CacheUse::new(false);
    let balances_query = BalancesQuery {
        customer: view.customer.clone(),
        ..BalancesQuery::default()
    };
    let grants_query = GrantsQuery {
        customer: Some(view.customer.clone()),
        limit: Limit::clamped(PAGE_ROWS),
        cursor: view.grants_cursor.clone(),
        ..GrantsQuery::default()
    };
    let ledger_query = LedgerQuery {
        customer: view.customer.clone(),
        limit: Limit::clamped(PAGE_ROWS),
        cursor: view.ledger_cursor.clone(),
        ..LedgerQuery::default()
    };
    let events_query = EventsQuery {
        customer: Some(view.customer.clone()),
        event_type: None,
        limit: Limit::clamped(EVENT_ROWS),
        cursor: None,
    };
    let (balances, grants, ledger, alerts, events) = tokio::join!(
        gateway.credit_balances(caller, &balances_query, &cache),
        gateway.list_credit_grants(caller, &grants_query, &cache),
        gateway.list_ledger_entries(caller, &ledger_query, &cache),
        gateway.list_alerts(caller, Some(&view.customer)),
        gateway.list_events(caller, &events_query),
    );
    // The customer itself is out of reach: the page has nothing to show.
    let balances = balances?;
    let mut units: Vec<String> = balances.data.iter().map(|b| b.unit.clone()).collect();
    units.sort();
    // The chart shows the unit most providers hold the customer's credits in (the first in
    // order on a tie), unless asked for another.
    let most_held = units
        .chunk_by(|a, b| a == b)
        .rev()
        .max_by_key(|same| same.len())
        .and_then(|same| same.first().cloned());
    units.dedup();
    let unit = view.unit.clone().or(most_held).unwrap_or_default();
    let (_, _, interval, points) = WINDOWS
        .iter()
        .find(|(name, ..)| *name == view.window)
        .copied()
        .unwrap_or(WINDOWS[1]);
    let history = if unit.is_empty() {
        None
    } else {
        let step = interval.length();
        let latest = interval.floor(now);
        let query = HistoryQuery {
            customer: view.customer.clone(),
            provider: None,
            unit: unit.clone(),
            from: latest - step * (points as i32 - 1),
            to: now,
            interval,
            require_all: false,
        };
        Some(
            gateway
                .balance_history(caller, &query, &cache)
                .await
                .map(|h| history_view(&h))
                .map_err(|e| e.to_string()),
        )
    };
    Ok(CustomerPage {
        frame: session.frame(format!("Customer {}", view.customer), "customers"),
        customer: view.customer.clone(),
        ids,
        balance_notes: balances.skipped.iter().map(skipped_note).collect(),
        balances: Ok(balances.data.iter().map(balance_row).collect()),
        units,
        unit,
        window: view.window,
        windows: WINDOWS.iter().map(|(name, label, ..)| (*name, *label)).collect(),
        history,
        grants: view.paged("grants", grants, grant_row),
        ledger: view.paged("ledger", ledger, entry_row),
        alerts: alerts
            .map(|page| page.data.iter().map(alert_row).collect())
            .map_err(|e| e.to_string()),
        events: events
            .map(|page| page.data.iter().map(event_row).collect())
            .map_err(|e| e.to_string()),
    })
}

fn skipped_note(s: &crate::gateway::Skipped) -> String {
    format!("{} left out ({}): {}", s.provider, s.code, s.message)
}

fn balance_row(b: &crate::model::CreditBalance) -> BalanceRow {
    BalanceRow {
        provider: b.provider.to_string(),
        customer: b.customer.clone(),
        unit: b.unit.clone(),
        available: b.available.value.to_string(),
        pending: b.pending.as_ref().map(|p| p.value.to_string()),
        as_of: instant(b.as_of),
    }
}

fn grant_row(g: &crate::model::CreditGrant) -> GrantRow {
    GrantRow {
        id: g.id.clone(),
        name: g.name.clone().unwrap_or_default(),
        status: wire(&g.status),
        amount: g.amount.value.to_string(),
        balance: g.balance.as_ref().map(|b| b.value.to_string()),
        unit: g.amount.unit.clone(),
        effective_at: maybe_instant(g.effective_at),
        expires_at: maybe_instant(g.expires_at),
    }
}

fn entry_row(e: &crate::model::LedgerEntry) -> EntryRow {
    EntryRow {
        at: maybe_instant(e.effective_at.or(e.created_at)),
        provider: e.provider.to_string(),
        entry_type: wire(&e.entry_type),
        amount: e.amount.value.to_string(),
        unit: e.amount.unit.clone(),
        balance_after: e.balance_after.as_ref().map(|b| b.value.to_string()),
        grant: e.grant.clone().unwrap_or_default(),
    }
}

fn alert_row(a: &BalanceAlert) -> AlertRow {
    AlertRow {
        id: a.id.clone(),
        customer: a.customer.clone(),
        unit: a.unit.clone(),
        threshold: a.threshold.to_string(),
        created: instant(a.created),
    }
}

pub(super) fn event_row(e: &Event) -> EventRow {
    EventRow {
        id: e.id.clone(),
        link: routes::EVENT.replace("{id}", &e.id),
        event_type: wire(&e.event_type),
        customer: e.customer.clone(),
        created: instant(e.created),
    }
}

fn history_view(h: &crate::gateway::BalanceHistory) -> History {
    let iso = |t| instant(t).iso;
    History {
        chart: super::views::chart(&h.points),
        from: iso(h.from),
        to: iso(h.to),
        interval: wire(&h.interval),
        rows: h
            .points
            .iter()
            .map(|p| HistoryRow {
                start: instant(p.start),
                available: p.available.value.to_string(),
                granted: p.granted.value.to_string(),
                used: p.used.value.to_string(),
                expired: p.expired.value.to_string(),
                other: p.other.value.to_string(),
            })
            .collect(),
    }
}
