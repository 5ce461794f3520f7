//! The rows the customer and event pages show, made from the model once: every value as
//! the API serializes it, every instant in UTC (`views.rs`).

use super::routes;
use super::views::{instant, maybe_instant, wire, Chart, Instant};
use crate::model::event::{BalanceAlert, Event};

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
    /// Providers left out of the sum, and why.
    pub skipped: Vec<String>,
}

pub struct HistoryRow {
    pub start: Instant,
    pub available: String,
    pub granted: String,
    pub used: String,
    pub expired: String,
    pub other: String,
}

pub(super) fn skipped_note(s: &crate::gateway::Skipped) -> String {
    format!("{} left out ({}): {}", s.provider, s.code, s.message)
}

pub(super) fn balance_row(b: &crate::model::CreditBalance) -> BalanceRow {
    BalanceRow {
        provider: b.provider.to_string(),
        customer: b.customer.clone(),
        unit: b.unit.clone(),
        available: b.available.value.to_string(),
        pending: b.pending.as_ref().map(|p| p.value.to_string()),
        as_of: instant(b.as_of),
    }
}

pub(super) fn grant_row(g: &crate::model::CreditGrant) -> GrantRow {
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

pub(super) fn entry_row(e: &crate::model::LedgerEntry) -> EntryRow {
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

pub(super) fn alert_row(a: &BalanceAlert) -> AlertRow {
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

pub(super) fn history_view(h: &crate::gateway::BalanceHistory) -> History {
    let iso = |t| instant(t).iso;
    History {
        chart: super::views::chart(&h.points),
        from: iso(h.from),
        to: iso(h.to),
        interval: wire(&h.interval),
        skipped: h.skipped.iter().map(skipped_note).collect(),
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
