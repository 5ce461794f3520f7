//! Balances in the past: a customer's balance as it stood at an instant, and its history
//! over a window (README.md, "Balance history"), both from the customer's ledger.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use super::{LedgerEntry, LedgerEntryType, Money, ProviderKind, Timestamp, UnitType, QUALIFIED_ID_PATTERN};

pub const HISTORY_OBJECT: &str = "credit_balance_history";

/// The step of a balance history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
        }
    }

    pub fn length(self) -> time::Duration {
        match self {
            Interval::Hour => time::Duration::HOUR,
            Interval::Day => time::Duration::DAY,
            Interval::Week => time::Duration::WEEK,
        }
    }

    /// The start of the interval `at` falls in, in UTC: the hour, the day, or the week
    /// (from Monday).
    pub fn floor(self, at: Timestamp) -> Timestamp {
        let at = at.to_offset(time::UtcOffset::UTC);
        let day = at.replace_time(time::Time::MIDNIGHT);
        match self {
            Interval::Hour => day + time::Duration::hours(i64::from(at.hour())),
            Interval::Day => day,
            Interval::Week => day - time::Duration::days(i64::from(at.weekday().number_days_from_monday())),
        }
    }
}

impl FromStr for Interval {
    type Err = String;

    fn from_str(text: &str) -> Result<Interval, String> {
        match text {
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            other => Err(format!(
                "interval is `hour`, `day` or `week`, not {}",
                super::quoted(other)
            )),
        }
    }
}

/// One interval of a history: the balance at its start (as `as_of` that instant answers
/// it), and what moved it after the start, up to and including the next start.
/// `available` at the next start is this `available` + `granted` − `used` − `expired` +
/// `other`, exactly.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HistoryPoint {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub start: Timestamp,
    /// The balance at `start`: every ledger entry dated at or before it, summed.
    pub available: Money,
    /// Entries of type `grant` in the interval.
    pub granted: Money,
    /// Entries of type `debit`, as a positive amount.
    pub used: Money,
    /// Entries of type `expiration`, as a positive amount.
    pub expired: Money,
    /// Every other entry (voids, adjustments, reinstatements, rollovers), signed.
    pub other: Money,
}

/// One provider's part of a history.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProviderHistory {
    pub provider: ProviderKind,
    #[schemars(regex(pattern = QUALIFIED_ID_PATTERN))]
    pub customer: String,
    pub points: Vec<HistoryPoint>,
}

/// The instants a ledger is summed at, and the ledger, summed in one pass per unit.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Each entry's instant (`effective_at`, else `created_at`), type and signed amount.
    entries: Vec<(Timestamp, LedgerEntryType, Money)>,
}

/// Why a ledger cannot be summed at past instants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    #[error("ledger entry {0} has no date: it cannot be placed in time")]
    Undated(String),
    #[error("the sum of the ledger in {0} overflows")]
    Overflow(String),
}

impl Timeline {
    pub fn new(ledger: impl IntoIterator<Item = LedgerEntry>) -> Result<Timeline, TimelineError> {
        let mut timeline = Timeline::default();
        timeline.extend(ledger)?;
        Ok(timeline.sorted())
    }

    /// Adds entries (a page of a ledger read page by page: only their instant, type and
    /// amount are kept); [`Self::sorted`] once they are all in.
    pub fn extend(&mut self, ledger: impl IntoIterator<Item = LedgerEntry>) -> Result<(), TimelineError> {
        for e in ledger {
            let at = e.effective_at.or(e.created_at).ok_or(TimelineError::Undated(e.id))?;
            self.entries.push((at, e.entry_type, e.amount));
        }
        Ok(())
    }

    /// In order of time, whatever order the vendor listed them in.
    pub fn sorted(mut self) -> Timeline {
        self.entries.sort_by_key(|(at, _, _)| *at);
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every unit the ledger has entries in, in first-seen order of time.
    pub fn units(&self) -> Vec<(String, UnitType)> {
        let mut units: Vec<(String, UnitType)> = Vec::new();
        for (_, _, money) in &self.entries {
            if !units.iter().any(|(u, _)| *u == money.unit) {
                units.push((money.unit.clone(), money.unit_type));
            }
        }
        units
    }

    /// The balance in `unit` at `at`: every entry dated at or before it.
    pub fn balance_at(&self, unit: &str, unit_type: UnitType, at: Timestamp) -> Result<Money, TimelineError> {
        let mut total = Decimal::ZERO;
        for (_, _, money) in self.entries.iter().take_while(|(t, _, _)| *t <= at) {
            if money.unit == unit {
                total = total
                    .checked_add(money.value)
                    .ok_or_else(|| TimelineError::Overflow(unit.to_owned()))?;
            }
        }
        Ok(money_in(total, unit, unit_type))
    }

    /// The points of `unit` from `from`, one per `interval`, while their start is before
    /// `to`. A point's `available` is [`Self::balance_at`] its start; its movements are the
    /// entries dated after its start, up to and including the next start.
    pub fn points(
        &self,
        unit: &str,
        unit_type: UnitType,
        from: Timestamp,
        to: Timestamp,
        interval: Interval,
    ) -> Result<Vec<HistoryPoint>, TimelineError> {
        let overflow = || TimelineError::Overflow(unit.to_owned());
        let add = |a: Decimal, b: Decimal| a.checked_add(b).ok_or_else(overflow);
        let in_unit = |(_, _, money): &&(Timestamp, LedgerEntryType, Money)| money.unit == unit;
        let mut entries = self.entries.iter().filter(in_unit).peekable();
        let mut available = Decimal::ZERO;
        while let Some((_, _, money)) = entries.next_if(|(at, _, _)| *at <= from) {
            available = add(available, money.value)?;
        }
        let mut points = Vec::new();
        let mut start = from;
        while start < to {
            let end = start + interval.length();
            let (mut granted, mut used, mut expired, mut other) =
                (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
            let opening = available;
            while let Some((_, kind, money)) = entries.next_if(|(at, _, _)| *at <= end) {
                let value = money.value;
                match kind {
                    LedgerEntryType::Grant => granted = add(granted, value)?,
                    LedgerEntryType::Debit => used = add(used, -value)?,
                    LedgerEntryType::Expiration => expired = add(expired, -value)?,
                    _ => other = add(other, value)?,
                }
                available = add(available, value)?;
            }
            points.push(HistoryPoint {
                start,
                available: money_in(opening, unit, unit_type),
                granted: money_in(granted, unit, unit_type),
                used: money_in(used, unit, unit_type),
                expired: money_in(expired, unit, unit_type),
                other: money_in(other, unit, unit_type),
            });
            start = end;
        }
        Ok(points)
    }
}

fn money_in(value: Decimal, unit: &str, unit_type: UnitType) -> Money {
    Money {
        value,
        unit: unit.to_owned(),
        unit_type,
    }
}

/// Several providers' points of one unit and window, added point by point.
pub fn sum_points(parts: &[&[HistoryPoint]]) -> Result<Vec<HistoryPoint>, TimelineError> {
    let Some(first) = parts.first() else {
        return Ok(Vec::new());
    };
    let mut total: Vec<HistoryPoint> = first.to_vec();
    for part in &parts[1..] {
        for (sum, point) in total.iter_mut().zip(part.iter()) {
            for (into, from) in [
                (&mut sum.available, &point.available),
                (&mut sum.granted, &point.granted),
                (&mut sum.used, &point.used),
                (&mut sum.expired, &point.expired),
                (&mut sum.other, &point.other),
            ] {
                into.value = into
                    .value
                    .checked_add(from.value)
                    .ok_or_else(|| TimelineError::Overflow(into.unit.clone()))?;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn entry(id: &str, at: Timestamp, kind: LedgerEntryType, value: Decimal, unit: &str) -> LedgerEntry {
        LedgerEntry {
            object: super::super::LEDGER_ENTRY_OBJECT,
            id: format!("stripe:{id}"),
            provider: ProviderKind::Stripe,
            provider_id: id.into(),
            customer: None,
            grant: None,
            entry_type: kind,
            provider_type: String::new(),
            amount: Money::in_unit(value, unit),
            balance_after: None,
            effective_at: Some(at),
            created_at: None,
            invoice_id: None,
            contract_id: None,
            external_refs: Vec::new(),
            raw: None,
        }
    }

    #[test]
    fn an_instant_floors_to_its_hour_day_and_week_in_utc() {
        let at = time::macros::datetime!(2026-12-03 14:35:10.5 +02:00); // a Thursday, 12:35 UTC
        assert_eq!(Interval::Hour.floor(at), time::macros::datetime!(2026-12-03 12:00 UTC));
        assert_eq!(Interval::Day.floor(at), time::macros::datetime!(2026-12-03 00:00 UTC));
        assert_eq!(Interval::Week.floor(at), time::macros::datetime!(2026-11-30 00:00 UTC));
        let midnight = time::macros::datetime!(2026-11-30 00:00 UTC);
        assert_eq!(Interval::Week.floor(midnight), midnight);
    }

    #[test]
    fn a_timeline_sums_each_unit_at_any_instant_whatever_order_the_entries_came_in() {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        let hour = time::Duration::HOUR;
        let newest_first = vec![
            entry(
                "e4",
                t0 + hour * 3,
                LedgerEntryType::Expiration,
                Decimal::new(-5, 0),
                "USD",
            ),
            entry(
                "e3",
                t0 + hour * 2,
                LedgerEntryType::Debit,
                Decimal::new(-250, 2),
                "USD",
            ),
            entry("e2", t0 + hour, LedgerEntryType::Grant, Decimal::new(7, 0), "EUR"),
            entry("e1", t0 + hour, LedgerEntryType::Grant, Decimal::new(1000, 2), "USD"),
        ];
        let timeline = Timeline::new(newest_first).unwrap();
        // Units in the order of their first entry (at one instant, the vendor's order).
        assert_eq!(
            timeline.units(),
            [
                ("EUR".to_owned(), UnitType::Currency),
                ("USD".to_owned(), UnitType::Currency)
            ]
        );
        let usd = |at| timeline.balance_at("USD", UnitType::Currency, at).unwrap().value;
        assert_eq!(usd(t0), Decimal::ZERO);
        assert_eq!(
            usd(t0 + hour),
            Decimal::new(1000, 2),
            "an entry counts from its instant on"
        );
        assert_eq!(usd(t0 + hour * 2 + time::Duration::SECOND), Decimal::new(750, 2));
        assert_eq!(usd(t0 + hour * 4), Decimal::new(250, 2));
        let points = timeline
            .points("USD", UnitType::Currency, t0, t0 + hour * 4, Interval::Hour)
            .unwrap();
        let available: Vec<Decimal> = points.iter().map(|p| p.available.value).collect();
        // Each start's balance counts the entries at that start.
        assert_eq!(
            available,
            [
                Decimal::ZERO,
                Decimal::new(1000, 2),
                Decimal::new(750, 2),
                Decimal::new(250, 2)
            ]
        );
        assert_eq!(points[0].granted.value, Decimal::new(1000, 2));
        assert_eq!(points[1].used.value, Decimal::new(250, 2));
        assert_eq!(points[2].expired.value, Decimal::new(5, 0));
        let summed = sum_points(&[&points, &points]).unwrap();
        assert_eq!(summed[1].available.value, Decimal::new(2000, 2));
        let mut undated = entry("e5", t0, LedgerEntryType::Grant, Decimal::ONE, "USD");
        undated.effective_at = None;
        assert_eq!(
            Timeline::new([undated]).unwrap_err(),
            TimelineError::Undated("stripe:e5".into())
        );
    }
}
