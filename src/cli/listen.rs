//! `creditgate listen` (like `stripe listen`): a local receiver for creditgate's events. It
//! verifies each delivery's Standard Webhooks signature (`webhook-id`, `webhook-timestamp`
//! within 5 minutes either way, `webhook-signature`) with the endpoint's secret and prints
//! one line per event; with `--json`, the event itself. A delivery that does not verify is
//! answered 400 and reported on stderr.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use creditgate::events::signing::SigningKey;
use creditgate::secret::SecretRef;
use serde_json::Value;

/// The spec's tolerance on `webhook-timestamp`, both ways.
const TOLERANCE_SECS: i64 = 5 * 60;

struct Listener {
    key: SigningKey,
    json: bool,
}

/// `--secret`: `file:/path` or `env:NAME`, never the secret itself (it would stay in the
/// shell's history).
pub fn parse_secret_ref(text: &str) -> Result<SecretRef, String> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|e| e.to_string())
}

/// Receives on `listen` until Ctrl-C or SIGTERM.
pub async fn listen(listen: &str, secret: &SecretRef, json: bool) -> Result<(), String> {
    let secret = secret.resolve().map_err(|e| format!("--secret: {e}"))?;
    let key = SigningKey::from_whsec(&secret).map_err(|e| format!("--secret: {e}"))?;
    let listener = super::bind(listen).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    super::banner(&format!(
        "creditgate listen: receiving events on http://{addr}/ (signatures checked); Ctrl-C stops\n"
    ));
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(Arc::new(Listener { key, json }));
    axum::serve(listener, app)
        .with_graceful_shutdown(super::stop_signal())
        .await
        .map_err(|e| e.to_string())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("no `{name}` header"))
}

/// Whether the delivery is one the endpoint's secret signed, recently.
fn verify(key: &SigningKey, headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let id = header(headers, "webhook-id")?;
    let timestamp: i64 = header(headers, "webhook-timestamp")?
        .parse()
        .map_err(|_| "`webhook-timestamp` is not a number".to_owned())?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(format!("`webhook-timestamp` is {} s from now", now - timestamp));
    }
    if !key.verify(header(headers, "webhook-signature")?, id, timestamp, body) {
        return Err("no `v1` signature matches this secret".into());
    }
    Ok(id.to_owned())
}

async fn receive(State(listener): State<Arc<Listener>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = match verify(&listener.key, &headers, &body) {
        Ok(id) => id,
        Err(why) => {
            eprintln!("refused a delivery: {why}");
            return StatusCode::BAD_REQUEST;
        }
    };
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        eprintln!("{id}: not JSON");
        return StatusCode::BAD_REQUEST;
    };
    let line = if listener.json {
        event.to_string()
    } else {
        describe(&event)
    };
    super::banner(&(line + "\n"));
    StatusCode::NO_CONTENT
}

/// `<created>  <type>  <customer>  <what>  <id>`.
fn describe(event: &Value) -> String {
    let object = &event["data"]["object"];
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let money = |m: &Value| format!("{} {}", text(&m["value"]), text(&m["unit"]));
    let what = match event["type"].as_str().unwrap_or_default() {
        "credit_balance.updated" => format!("available {}", money(&object["available"])),
        "credit_balance.low" => format!(
            "available {} below {} (alert {})",
            money(&object["available"]),
            text(&event["data"]["alert"]["threshold"]),
            text(&event["data"]["alert"]["id"])
        ),
        "credit_ledger_entry.created" => format!("{} {}", text(&object["type"]), money(&object["amount"])),
        _ => format!(
            "{} {} {}",
            text(&object["id"]),
            text(&object["status"]),
            money(&object["amount"])
        ),
    };
    format!(
        "{}  {:<28} {}  {what}  {}",
        text(&event["created"]),
        text(&event["type"]),
        text(&event["customer"]),
        text(&event["id"])
    )
}
