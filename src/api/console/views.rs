//! What the console's pages show, formatted once: instants in UTC (the local time is added on
//! hover by the page's script), values as the API serializes them (decimal strings, enum
//! names), links with their query encoded, and the burn-down chart's geometry.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::history::HistoryPoint;
use crate::model::Timestamp;

/// A path with its query parameters encoded; empty values are left out.
pub fn link(path: &str, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// An instant as the page shows it: RFC 3339 for `<time datetime>` (and the script), and
/// `2026-12-01 14:03:07 UTC` for people.
#[derive(Debug, Clone)]
pub struct Instant {
    pub iso: String,
    pub shown: String,
}

pub fn instant(at: Timestamp) -> Instant {
    let at = at.to_offset(time::UtcOffset::UTC);
    let iso = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let shown = at
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default();
    Instant { iso, shown }
}

pub fn maybe_instant(at: Option<Timestamp>) -> Option<Instant> {
    at.map(instant)
}

/// A value as the API serializes it: an enum's wire name, a decimal's exact string.
pub fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A value as the API serializes it, indented for reading, parts kept as raw JSON included
/// (numbers keep their digits: `serde_json` reads them exactly).
pub fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

/// A duration in milliseconds with one decimal (`12.3 ms`).
pub fn millis(d: std::time::Duration) -> String {
    let micros = d.as_micros();
    format!("{}.{} ms", micros / 1000, (micros % 1000) / 100)
}

/// The burn-down chart: one point per history point, placed on a fixed canvas. The values
/// are exact; only their positions are rounded, in whole units of the canvas.
#[derive(Debug, Clone)]
pub struct Chart {
    pub width: i64,
    pub height: i64,
    /// The plot's edges on the canvas: its axes and labels are placed from them.
    pub left: i64,
    pub right: i64,
    pub top_y: i64,
    pub bottom_y: i64,
    /// `x,y x,y …` for the line.
    pub line: String,
    pub points: Vec<ChartPoint>,
    /// The highest and lowest values on the vertical axis.
    pub top: String,
    pub bottom: String,
    /// Where zero is, when it is inside the axis.
    pub zero_y: Option<i64>,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct ChartPoint {
    pub x: i64,
    pub y: i64,
    pub start: Instant,
    pub available: String,
}

/// Margins around the plot, in canvas units: left for the value labels, bottom for dates.
const LEFT: i64 = 90;
const RIGHT: i64 = 10;
const TOP: i64 = 10;
const BOTTOM: i64 = 30;

pub fn chart(points: &[HistoryPoint]) -> Chart {
    let (width, height) = (720, 260);
    let values: Vec<Decimal> = points.iter().map(|p| p.available.value).collect();
    let max = values.iter().copied().max().unwrap_or_default().max(Decimal::ZERO);
    let min = values.iter().copied().min().unwrap_or_default().min(Decimal::ZERO);
    let plot_w = width - LEFT - RIGHT;
    let plot_h = height - TOP - BOTTOM;
    let span = max - min;
    let y_of = |v: Decimal| -> i64 {
        if span.is_zero() {
            return TOP + plot_h;
        }
        let from_top = (max - v)
            .checked_mul(Decimal::from(plot_h))
            .and_then(|d| d.checked_div(span))
            .unwrap_or_default();
        TOP + i64::try_from(from_top.round()).unwrap_or(0)
    };
    let last_index = (points.len().max(2) - 1) as i64;
    let placed: Vec<ChartPoint> = points
        .iter()
        .enumerate()
        .map(|(i, p)| ChartPoint {
            x: LEFT + (i as i64) * plot_w / last_index,
            y: y_of(p.available.value),
            start: instant(p.start),
            available: p.available.value.to_string(),
        })
        .collect();
    let line = placed
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    Chart {
        width,
        height,
        left: LEFT,
        right: width - RIGHT,
        top_y: TOP,
        bottom_y: TOP + plot_h,
        line,
        zero_y: (min < Decimal::ZERO).then(|| y_of(Decimal::ZERO)),
        top: max.to_string(),
        bottom: min.to_string(),
        first: points.first().map(|p| instant(p.start)),
        last: points.last().map(|p| instant(p.start)),
        points: placed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Money;

    fn point(day: i64, value: &str) -> HistoryPoint {
        let money = |v: &str| Money::custom(v.parse().unwrap(), "credits");
        HistoryPoint {
            start: time::macros::datetime!(2026-11-01 00:00 UTC) + time::Duration::days(day),
            available: money(value),
            granted: money("0"),
            used: money("0"),
            expired: money("0"),
            other: money("0"),
        }
    }

    #[test]
    fn the_chart_spans_zero_to_the_highest_value_and_keeps_each_value_exact() {
        let chart = chart(&[point(0, "100.50"), point(1, "50.25"), point(2, "0.00")]);
        assert_eq!(
            (chart.left, chart.right, chart.top_y, chart.bottom_y),
            (90, 710, 10, 230)
        );
        assert_eq!(chart.top, "100.50");
        assert_eq!(chart.bottom, "0.00");
        let ys: Vec<i64> = chart.points.iter().map(|p| p.y).collect();
        assert_eq!(ys, [TOP, TOP + 110, TOP + 220]);
        let xs: Vec<i64> = chart.points.iter().map(|p| p.x).collect();
        assert_eq!(xs, [LEFT, LEFT + 310, LEFT + 620]);
        assert_eq!(chart.points[1].available, "50.25");
        assert_eq!(chart.points[1].start.iso, "2026-11-02T00:00:00Z");
        assert_eq!(
            chart.line,
            format!("{LEFT},{TOP} {},{} {},{}", LEFT + 310, TOP + 110, LEFT + 620, TOP + 220)
        );
        assert_eq!(chart.zero_y, None);
    }

    #[test]
    fn a_negative_balance_puts_zero_inside_the_axis_and_a_flat_history_draws_a_line() {
        let chart = chart(&[point(0, "10"), point(1, "-10")]);
        assert_eq!(chart.zero_y, Some(TOP + 110));
        let flat = super::chart(&[point(0, "0"), point(1, "0")]);
        assert!(flat.points.iter().all(|p| p.y == TOP + 220));
        let one = super::chart(&[point(0, "5")]);
        assert_eq!(one.points.len(), 1);
        assert!(super::chart(&[]).points.is_empty());
    }

    #[test]
    fn pretty_indents_raw_parts_and_keeps_numbers_exact() {
        let raw =
            serde_json::value::RawValue::from_string(r#"{"value":"1.10","n":12345678901234567890.5}"#.into()).unwrap();
        let text = pretty(&serde_json::json!({"object": raw}));
        assert!(text.contains("\n    \"value\": \"1.10\""), "{text}");
        assert!(text.contains("12345678901234567890.5"), "{text}");
    }

    #[test]
    fn links_encode_their_values() {
        assert_eq!(
            link("/console/customer", &[("customer", "stripe:cus 1&x"), ("unit", "")]),
            "/console/customer?customer=stripe%3Acus+1%26x"
        );
        assert_eq!(link("/console/providers", &[]), "/console/providers");
    }
}
