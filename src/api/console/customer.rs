//! The customer pages: the search, and one customer (balances, the burn-down chart, grants,
//! the ledger, alerts and events). Every figure comes from the gateway call the matching
//! API endpoint makes, with the session's caller, so the page shows what that key would
//! read. The alerts' forms and the event page are in `events.rs` beside it.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use time::OffsetDateTime;

use super::rows::{
    alert_row, balance_row, entry_row, event_row, grant_row, history_view, skipped_note, AlertRow, BalanceRow,
    EntryRow, EventRow, GrantRow, History, Paged,
};
use super::views::link;
use super::{error_page, html, redirect, routes, Frame, Session};
use crate::api::params::Params;
use crate::error::ApiError;
use crate::gateway::{BalancesQuery, EventsQuery, Gateway, GrantsQuery, HistoryQuery, LedgerQuery};
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
    /// One of [`WINDOWS`] up to now, unless `between` is given.
    pub window: &'static str,
    /// `from` and `to` (whole UTC days, `to` included) with the interval, which choose the
    /// chart's window instead.
    pub between: Option<(time::Date, time::Date, Interval)>,
    pub grants_cursor: Option<String>,
    pub ledger_cursor: Option<String>,
}

/// A `YYYY-MM-DD` day, as a date input sends it.
fn day(p: &mut Params, name: &str) -> Result<Option<time::Date>, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    p.take(name)?
        .filter(|d| !d.is_empty())
        .map(|d| {
            time::Date::parse(&d, format)
                .map_err(|_| ApiError::invalid_param(name, format!("{name} is a day like 2026-12-01")))
        })
        .transpose()
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
        let between = match (day(&mut p, "from")?, day(&mut p, "to")?) {
            (None, None) => {
                // The form always sends its interval; without days it has no use.
                p.take("interval")?;
                None
            }
            (Some(from), Some(to)) => Some((from, to, p.take_parsed("interval")?.unwrap_or(Interval::Day))),
            _ => return Err(ApiError::invalid_param("to", "give both from and to, or neither")),
        };
        let view = CustomerView {
            customer,
            unit,
            window,
            between,
            grants_cursor: p.take("grants")?,
            ledger_cursor: p.take("ledger")?,
        };
        p.finish()?;
        Ok(view)
    }

    /// The chart's history query at `now`: its window up to `now`, or the days asked for.
    fn history_query(&self, unit: &str, now: OffsetDateTime) -> HistoryQuery {
        let (from, to, interval) = match self.between {
            Some((from, to, interval)) => {
                let start = from.midnight().assume_utc();
                let end = to.next_day().map_or(now, |d| d.midnight().assume_utc()).min(now);
                (start, end, interval)
            }
            None => {
                let (_, _, interval, points) = WINDOWS
                    .iter()
                    .find(|(name, ..)| *name == self.window)
                    .copied()
                    .unwrap_or(WINDOWS[1]);
                let latest = interval.floor(now);
                (latest - interval.length() * (points as i32 - 1), now, interval)
            }
        };
        HistoryQuery {
            customer: self.customer.clone(),
            provider: None,
            unit: unit.to_owned(),
            from,
            to,
            interval,
            require_all: false,
        }
    }

    /// One page of the list whose cursor is `param`, now at `current` (and whose section
    /// has that id), with links to its first page and its next.
    fn paged<T, R>(
        &self,
        (param, current): (&str, &Option<String>),
        page: Result<crate::gateway::ListPage<T>, ApiError>,
        row: fn(&T) -> R,
    ) -> Result<Paged<R>, String> {
        let page = page.map_err(|e| e.to_string())?;
        let at = |cursor: &str| format!("{}#{param}", self.link_with(&[(param, cursor)]));
        Ok(Paged {
            rows: page.data.iter().map(row).collect(),
            first: current.as_ref().map(|_| at("")),
            next: page.next_cursor.as_deref().map(at),
            skipped: page.skipped.iter().map(skipped_note).collect(),
        })
    }

    /// `from`, `to` and `interval` as the form shows them (empty without them).
    fn between_fields(&self) -> [String; 3] {
        match self.between {
            Some((from, to, interval)) => [from.to_string(), to.to_string(), interval.as_str().to_owned()],
            None => Default::default(),
        }
    }

    /// This page's link with `changes` made (an empty value leaves a parameter out).
    fn link_with(&self, changes: &[(&str, &str)]) -> String {
        let between = self.between_fields();
        let mut params: Vec<(&str, &str)> = vec![
            ("customer", &self.customer),
            ("unit", self.unit.as_deref().unwrap_or("")),
            ("window", self.window),
            ("from", &between[0]),
            ("to", &between[1]),
            ("interval", &between[2]),
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
    /// The `from`, `to` and `interval` fields' values.
    between: [String; 3],
    history: Option<Result<History, String>>,
    grants: Result<Paged<GrantRow>, String>,
    ledger: Result<Paged<EntryRow>, String>,
    alerts: Result<Vec<AlertRow>, String>,
    events: Result<Vec<EventRow>, String>,
}

/// `/console/customer?customer=…[&unit][&window | &from&to[&interval]][&grants][&ledger]`.
pub(super) async fn page(State(gateway): State<Gateway>, session: Session, RawQuery(raw): RawQuery) -> Response {
    let view = match CustomerView::parse(raw.as_deref()) {
        Ok(view) => view,
        Err(e) => return error_page(&session, &e),
    };
    let cache = CacheUse::new(false);
    match customer_page(&gateway, &session, &view, &cache, OffsetDateTime::now_utc()).await {
        Ok(page) => {
            // The vendor answers it was made from are kept, as an API answer's are.
            cache.commit().await;
            html(StatusCode::OK, &page)
        }
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
    cache: &CacheUse,
    now: OffsetDateTime,
) -> Result<CustomerPage, ApiError> {
    let caller = &session.caller;
    let ids: Vec<String> = gateway
        .customer_at_providers(&view.customer)?
        .into_iter()
        .map(|(p, id)| crate::model::qualified_id(p, &id))
        .collect();
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
        gateway.credit_balances(caller, &balances_query, cache),
        gateway.list_credit_grants(caller, &grants_query, cache),
        gateway.list_ledger_entries(caller, &ledger_query, cache),
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
    let history = if unit.is_empty() {
        None
    } else {
        let query = view.history_query(&unit, now);
        let answer = if query.from < query.to {
            gateway
                .balance_history(caller, &query, cache)
                .await
                .map_err(|e| e.to_string())
        } else {
            Err("the window ends before it starts: `to` must be on or after `from`, and not in the future".into())
        };
        Some(answer.map(|h| history_view(&h)))
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
        between: view.between_fields(),
        history,
        grants: view.paged(("grants", &view.grants_cursor), grants, grant_row),
        ledger: view.paged(("ledger", &view.ledger_cursor), ledger, entry_row),
        alerts: alerts
            .map(|page| page.data.iter().map(alert_row).collect())
            .map_err(|e| e.to_string()),
        events: events
            .map(|page| page.data.iter().map(event_row).collect())
            .map_err(|e| e.to_string()),
    })
}
