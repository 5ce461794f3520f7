//! `GET /v1/credit_balances` (now, or `as_of` an instant) and `GET /v1/credit_balance_history`.

use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::handlers::{respond, Authed, CacheControl, DataAnswer, Negotiation};
use super::params::Params;
use super::routes;
use crate::error::ApiError;
use crate::gateway::answers::AnswerKey;
use crate::gateway::{BalanceHistory, BalancesQuery, Gateway, HistoryQuery};
use crate::model::Timestamp;

pub async fn list_balances(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    wants: Negotiation,
    RawQuery(raw): RawQuery,
) -> Response {
    let key = AnswerKey::new(&caller, routes::BALANCES, String::new(), raw.clone());
    let result = || async {
        let mut p = Params::parse(raw.as_deref());
        let query = BalancesQuery {
            customer: p.take_required("customer")?,
            provider: p.take_parsed("provider")?,
            require_all: take_require_all(&mut p)?,
            as_of: p.take("as_of")?.map(|t| past_instant("as_of", &t)).transpose()?,
        };
        p.finish()?;
        gateway.credit_balances(&caller, &query, &cache).await
    };
    respond(&gateway, key, &cache, &wants, result).await
}

pub async fn balance_history(
    State(gateway): State<Gateway>,
    Authed(caller): Authed,
    CacheControl(cache): CacheControl,
    wants: Negotiation,
    RawQuery(raw): RawQuery,
) -> Response {
    let key = AnswerKey::new(&caller, routes::HISTORY, String::new(), raw.clone());
    let result = || async {
        let mut p = Params::parse(raw.as_deref());
        let query = HistoryQuery {
            customer: p.take_required("customer")?,
            provider: p.take_parsed("provider")?,
            unit: p.take_required("unit")?,
            from: past_instant("from", &p.take_required("from")?)?,
            to: past_instant("to", &p.take_required("to")?)?,
            interval: p
                .take_parsed("interval")?
                .unwrap_or(crate::model::history::Interval::Day),
            require_all: take_require_all(&mut p)?,
        };
        p.finish()?;
        if query.from >= query.to {
            return Err(ApiError::invalid_param("to", "to must be after from"));
        }
        gateway.balance_history(&caller, &query, &cache).await
    };
    respond(&gateway, key, &cache, &wants, result).await
}

impl DataAnswer for BalanceHistory {
    fn is_partial(&self) -> bool {
        self.partial
    }
}

/// `require=all`: an alias's answer holds every provider's or is an error.
fn take_require_all(p: &mut Params) -> Result<bool, ApiError> {
    match p.take("require")?.as_deref() {
        None => Ok(false),
        Some("all") => Ok(true),
        Some(other) => Err(ApiError::invalid_param(
            "require",
            format!("require is `all` or absent, not {}", crate::model::quoted(other)),
        )),
    }
}

/// An RFC 3339 instant (`2026-12-01T00:00:00Z`, any offset), in UTC, not in the future: a
/// balance that has not happened yet cannot be read from a ledger.
fn past_instant(name: &str, text: &str) -> Result<Timestamp, ApiError> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ApiError::invalid_param(
                name,
                format!(
                    "{name} is an RFC 3339 instant like 2026-12-01T00:00:00Z, not {}",
                    crate::model::quoted(text)
                ),
            )
        })?
        .to_offset(time::UtcOffset::UTC);
    if at > time::OffsetDateTime::now_utc() {
        return Err(ApiError::invalid_param(name, format!("{name} is in the future")));
    }
    Ok(at)
}

/// `as_of` on `GET /v1/credit_balances`, for the OpenAPI document: name, required,
/// description, schema.
pub(super) fn as_of_param() -> (&'static str, bool, &'static str, serde_json::Value) {
    (
        "as_of",
        false,
        "each balance as it stood at this instant (RFC 3339, not in the future), summed from the \
         customer's ledger at each provider: one balance per unit its ledger has entries in, \
         `pending` null. Reads at most 100,000 entries per provider (past that, \
         `400 invalid_parameter`); README.md, \"Balance history\", says how precise each vendor is",
        instant_schema(),
    )
}

/// The rule across `as_of`'s value that its schema cannot say (`x-creditgate-rules`).
pub(super) const AS_OF_RULE: (&str, &[&str], &str) = (
    "past-instant",
    &["as_of"],
    "`as_of` must be a real instant (RFC 3339), not in the future; otherwise `400 invalid_parameter` (`as_of`)",
);

/// The rules across the history's parameters that their schemas cannot say.
pub(super) const HISTORY_RULES: [(&str, &[&str], &str); 3] = [
    (
        "past-instant",
        &["from", "to"],
        "`from` and `to` must be real instants (RFC 3339), not in the future; otherwise `400 invalid_parameter` \
         naming the one",
    ),
    (
        "from-before-to",
        &["from", "to"],
        "`to` must be after `from`; otherwise `400 invalid_parameter` (`to`)",
    ),
    (
        "at-most-points",
        &["from", "to", "interval"],
        "`from`..`to` by `interval` (`day` when absent) is at most 1,000 points; otherwise `400 invalid_parameter` \
         (`interval`)",
    ),
];

/// An RFC 3339 instant, as the parameters that take one state it.
fn instant_schema() -> serde_json::Value {
    serde_json::json!({"type": "string", "format": "date-time",
                       "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"})
}

/// The parameters of `GET /v1/credit_balance_history` beside the balance list's
/// `customer`, `provider` and `require`, for the OpenAPI document.
pub(super) fn history_params() -> Vec<(&'static str, bool, &'static str, serde_json::Value)> {
    use serde_json::json;
    let instant = instant_schema();
    vec![
        (
            "unit",
            true,
            "the unit (`USD`, or a custom unit): only its entries count",
            json!({"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$"}),
        ),
        ("from", true, "the first point's start (RFC 3339)", instant.clone()),
        (
            "to",
            true,
            "points start before this instant (RFC 3339, after `from`, not in the future)",
            instant,
        ),
        (
            "interval",
            false,
            "the step between points, `day` when absent; at most 1,000 points",
            json!({"type": "string", "enum": ["hour", "day", "week"]}),
        ),
    ]
}
