//! What client generators need of the OpenAPI document beyond what `openapi.rs` states
//! (README.md, "HTTP API v1"): an `operationId` and a tag on every operation, the 405 every
//! route can answer, the ops routes' answers, and string enums as `enum` (schemars writes
//! an enum with documented variants as a `oneOf` of `const`s, which generators read as the
//! first variant only).

use serde_json::{json, Map, Value};

/// Every operation: (path, method, operationId, tag).
const OPERATIONS: [(&str, &str, &str, &str); 21] = [
    ("/v1/providers", "get", "listProviders", "providers"),
    ("/v1/credit_grants", "get", "listCreditGrants", "credit grants"),
    ("/v1/credit_grants", "post", "createCreditGrant", "credit grants"),
    ("/v1/credit_grants/{id}", "get", "getCreditGrant", "credit grants"),
    (
        "/v1/credit_grants/{id}/void",
        "post",
        "voidCreditGrant",
        "credit grants",
    ),
    (
        "/v1/credit_grants/{id}/expire",
        "post",
        "expireCreditGrant",
        "credit grants",
    ),
    (
        "/v1/credit_ledger_entries",
        "get",
        "listCreditLedgerEntries",
        "credit ledger",
    ),
    (
        "/v1/credit_ledger_entries",
        "post",
        "createCreditLedgerEntry",
        "credit ledger",
    ),
    ("/v1/credit_balances", "get", "listCreditBalances", "credit balances"),
    (
        "/v1/credit_balance_history",
        "get",
        "getCreditBalanceHistory",
        "credit balances",
    ),
    (
        "/v1/vendor_webhooks/{provider}",
        "post",
        "receiveVendorWebhook",
        "vendor webhooks",
    ),
    ("/v1/events", "get", "listEvents", "events"),
    ("/v1/events/{id}", "get", "getEvent", "events"),
    ("/v1/events/{id}/redeliver", "post", "redeliverEvent", "events"),
    ("/v1/balance_alerts", "get", "listBalanceAlerts", "events"),
    ("/v1/balance_alerts", "post", "createBalanceAlert", "events"),
    ("/v1/balance_alerts/{id}", "delete", "deleteBalanceAlert", "events"),
    ("/healthz", "get", "getHealth", "operations"),
    ("/readyz", "get", "getReadiness", "operations"),
    ("/metrics", "get", "getMetrics", "operations"),
    ("/openapi.json", "get", "getOpenApiDocument", "operations"),
];

/// An error answer: the shared `Error` body, its codes stated in the description and, for
/// machines, in `x-creditgate-codes`.
pub(super) fn error_answer(codes: &[&str], headers: Value) -> Value {
    json!({"description": format!("error: {}", codes.join(", ")), "headers": headers,
           "x-creditgate-codes": codes,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The ops routes, with their answers.
pub(super) fn ops_paths() -> Map<String, Value> {
    let ok = |summary: &str, content: Value| json!({"get": {"summary": summary, "responses": {"200": {"description": "OK", "content": content}}}});
    let json_body = |schema: Value| json!({"application/json": {"schema": schema}});
    let provider_state = json!({"type": "object", "required": ["id", "health", "circuit"], "properties": {
        "id": {"$ref": "#/components/schemas/Provider"},
        "health": {"$ref": "#/components/schemas/Outcome"},
        "circuit": {"$ref": "#/components/schemas/CircuitState"}}});
    let mut paths = Map::new();
    paths.insert(
        "/healthz".into(),
        ok(
            "Liveness",
            json_body(json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}})),
        ),
    );
    paths.insert("/readyz".into(), {
        let body = json_body(
            json!({"type": "object", "required": ["status", "redis", "providers"], "properties": {
                "status": {"type": "string", "enum": ["ready", "draining"]},
                "redis": {"type": "string", "enum": ["not_configured", "degraded", "ok"]},
                "providers": {"type": "array", "items": provider_state}}}),
        );
        let mut readiness = ok(
            "Readiness, with each provider's last call outcome; 503 while the process stops",
            body.clone(),
        );
        readiness["get"]["responses"]["503"] =
            json!({"description": "draining: the process is stopping", "content": body});
        readiness
    });
    paths.insert(
        "/metrics".into(),
        ok(
            "Prometheus metrics, in the text exposition format",
            json!({"text/plain": {"schema": {"type": "string"}}}),
        ),
    );
    paths.insert(
        "/openapi.json".into(),
        ok("This document", json_body(json!({"type": "object"}))),
    );
    paths
}

/// Adds what generators need to `document` (see the module documentation).
pub(super) fn for_generators(document: &mut Value) {
    if let Some(paths) = document["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if let Some((_, _, id, tag)) = OPERATIONS.iter().find(|(p, m, _, _)| p == path && m == method) {
                    operation["operationId"] = json!(id);
                    operation["tags"] = json!([tag]);
                }
                operation["responses"]["405"] = error_answer(
                    &["method_not_allowed"],
                    json!({"X-Request-Id": {"required": true, "schema": {"type": "string"}},
                           "Allow": {"description": "the methods the route takes", "required": true, "schema": {"type": "string"}}}),
                );
            }
        }
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            consts_to_enum(schema);
        }
    }
}

/// `{"oneOf": [{"const": "a", "description": …}, …]}` → `{"type": "string", "enum": ["a", …]}`,
/// each variant's description kept as a line of the schema's.
fn consts_to_enum(schema: &mut Value) {
    let Some(variants) = schema["oneOf"].as_array() else {
        return;
    };
    let consts: Option<Vec<(String, String)>> = variants
        .iter()
        .map(|v| {
            let value = v["const"].as_str()?.to_owned();
            Some((value, v["description"].as_str().unwrap_or_default().to_owned()))
        })
        .collect();
    let Some(consts) = consts else { return };
    let mut description = schema["description"].as_str().unwrap_or_default().to_owned();
    for (value, text) in &consts {
        description += &format!("\n- `{value}`: {text}");
    }
    let values: Vec<&str> = consts.iter().map(|(v, _)| v.as_str()).collect();
    *schema = json!({"type": "string", "enum": values, "description": description.trim_start()});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_oneof_of_consts_becomes_an_enum_keeping_each_description() {
        let mut schema = json!({"description": "How.", "oneOf": [
            {"const": "a", "description": "first", "type": "string"},
            {"const": "b", "type": "string"}]});
        consts_to_enum(&mut schema);
        assert_eq!(schema["enum"], json!(["a", "b"]));
        assert_eq!(schema["description"], "How.\n- `a`: first\n- `b`: ");
        let mut mixed = json!({"oneOf": [{"const": "a"}, {"type": "integer"}]});
        consts_to_enum(&mut mixed);
        assert!(mixed["oneOf"].is_array(), "left as it is");
    }
}
