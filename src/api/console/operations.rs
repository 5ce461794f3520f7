//! The operators' pages: each provider's health, breaker and recent calls, and the
//! reconcile table `creditgate reconcile` prints, made by the same library call.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::views::{millis, wire};
use super::{error_page, html, Frame, Session};
use crate::api::params::Params;
use crate::error::ApiError;
use crate::export::ToolError;
use crate::gateway::Gateway;

pub struct ProviderRow {
    pub id: String,
    pub health: String,
    pub circuit: String,
    pub outbound_rate: String,
    pub attempts: usize,
    pub failed: usize,
    pub failed_percent: String,
    pub p50: String,
    pub p95: String,
}

#[derive(Template)]
#[template(path = "console/providers.html")]
struct ProvidersPage {
    frame: Frame,
    window_minutes: u64,
    providers: Vec<ProviderRow>,
}

/// `/console/providers`: the providers the key may use, as `/v1/providers` and `/readyz`
/// report them, with this replica's vendor attempts of the last few minutes.
pub(super) async fn providers(State(gateway): State<Gateway>, session: Session) -> Response {
    let allowed = session.caller.providers.as_ref();
    let providers = gateway
        .providers()
        .into_iter()
        .filter(|p| allowed.is_none_or(|a| a.contains(&p.id)))
        .map(|p| {
            let recent = gateway.recent_calls(p.id);
            let none = || "–".to_owned();
            ProviderRow {
                id: p.id.to_string(),
                health: wire(&p.health),
                circuit: wire(&p.circuit),
                outbound_rate: format!("{} per {} s", p.outbound_rate.requests, p.outbound_rate.per_secs),
                attempts: recent.attempts,
                failed: recent.failed,
                failed_percent: recent.failed_percent().map_or_else(none, |p| format!("{p}%")),
                p50: recent.p50.map_or_else(none, millis),
                p95: recent.p95.map_or_else(none, millis),
            }
        })
        .collect();
    let page = ProvidersPage {
        frame: session.frame("Providers", "providers"),
        window_minutes: crate::upstream::RECENT_WINDOW.as_secs() / 60,
        providers,
    };
    html(StatusCode::OK, &page)
}

pub struct UnitRow {
    pub unit: String,
    pub left: String,
    pub right: String,
    pub right_migrated: String,
}

pub struct DifferenceRow {
    pub what: String,
    pub left: String,
    pub right: String,
}

pub struct Report {
    pub units: Vec<UnitRow>,
    pub matched_grants: usize,
    pub differences: Vec<DifferenceRow>,
}

#[derive(Template)]
#[template(path = "console/reconcile.html")]
struct ReconcilePage {
    frame: Frame,
    source: String,
    target: String,
    unit_map: String,
    report: Option<Result<Report, String>>,
}

/// `/console/reconcile?source=&target=[&unit_map=FROM=TO,…]`: both sides of a migration
/// compared, read-only, with the key's rights (a customer it may not read is refused).
pub(super) async fn reconcile(State(gateway): State<Gateway>, session: Session, RawQuery(raw): RawQuery) -> Response {
    let asked = (|| {
        let mut p = Params::parse(raw.as_deref());
        let source = p.take("source")?.unwrap_or_default().trim().to_owned();
        let target = p.take("target")?.unwrap_or_default().trim().to_owned();
        let unit_map = p.take("unit_map")?.unwrap_or_default().trim().to_owned();
        p.finish()?;
        Ok::<_, ApiError>((source, target, unit_map))
    })();
    let (source, target, unit_map) = match asked {
        Ok(asked) => asked,
        Err(e) => return error_page(&session, &e),
    };
    let report = if source.is_empty() || target.is_empty() {
        None
    } else {
        Some(compare(&gateway, &session, &source, &target, &unit_map).await)
    };
    let page = ReconcilePage {
        frame: session.frame("Reconcile", "reconcile"),
        source,
        target,
        unit_map,
        report,
    };
    html(StatusCode::OK, &page)
}

/// `FROM=TO` pairs, separated by commas or spaces.
fn parse_unit_map(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    text.split([',', ' '])
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok((from.to_owned(), to.to_owned())),
            _ => Err(format!("`{item}` is not FROM=TO (e.g. credits=USD)")),
        })
        .collect()
}

async fn compare(
    gateway: &Gateway,
    session: &Session,
    source: &str,
    target: &str,
    unit_map: &str,
) -> Result<Report, String> {
    let unit_map = parse_unit_map(unit_map)?;
    let pairs = [crate::migrate::Pair {
        from: source.to_owned(),
        to: target.to_owned(),
    }];
    let report = crate::migrate::reconcile_as(gateway, &session.caller, &pairs, &unit_map)
        .await
        .map_err(|e| match e {
            ToolError::Api { what, error } => format!("{what}: {} ({})", error, error.type_and_code().1),
            other => other.to_string(),
        })?;
    Ok(Report {
        units: report
            .balances
            .iter()
            .map(|b| UnitRow {
                unit: b.unit.clone(),
                left: b.left.to_string(),
                right: b.right.to_string(),
                right_migrated: b.right_migrated.to_string(),
            })
            .collect(),
        matched_grants: report.matched_grants,
        differences: report
            .differences
            .iter()
            .map(|d| DifferenceRow {
                what: d.what.clone(),
                left: d.left.clone(),
                right: d.right.clone(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_maps_read_pairs_and_name_a_bad_one() {
        let map = parse_unit_map("credits=USD, points=EUR").unwrap();
        assert_eq!(map.get("credits").map(String::as_str), Some("USD"));
        assert_eq!(map.len(), 2);
        assert!(parse_unit_map("").unwrap().is_empty());
        assert!(parse_unit_map("credits").unwrap_err().contains("`credits`"));
    }
}
