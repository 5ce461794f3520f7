//! creditgate's own OpenAPI 3.1 document. The component schemas are derived with schemars
//! from the types the handlers serialize (the same derive that gives the config its JSON
//! Schema; OpenAPI 3.1 schemas are JSON Schema 2020-12). The paths are written here, next
//! to the routes: their query strings are parsed by hand (`params.rs`) to refuse unknown
//! and repeated parameters, so no derive sees them. `schemas/openapi.json` is this document
//! checked in; a test fails when the two drift, and another checks each schema against
//! what the serializers emit.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::error::ErrorBody;
use crate::gateway::{ProviderInfo, Skipped};
use crate::model::{CreditBalance, CreditGrant, GrantStatus, LedgerEntry};

fn list_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"], "description": "null exactly when has_more is false"},
            "previous_cursor": {"type": ["string", "null"], "description": "present where the vendor pages backwards"},
            "skipped": {"type": "array", "items": {"$ref": "#/components/schemas/Skipped"}}
        }
    })
}

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn common_list_params() -> Vec<Value> {
    vec![
        param(
            "customer",
            "`<provider>:<vendor id>` or a customer alias from the config",
            json!({"type": "string"}),
        ),
        param(
            "provider",
            "restrict to one provider",
            json!({"$ref": "#/components/schemas/Provider"}),
        ),
        param(
            "limit",
            "page size",
            json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
        ),
        param(
            "cursor",
            "next_cursor or previous_cursor of an earlier page, with the same filters",
            json!({"type": "string"}),
        ),
        param(
            "include",
            "`raw` adds the vendor's own object",
            json!({"type": "string", "enum": ["raw"]}),
        ),
    ]
}

fn responses(ok: &str) -> Value {
    let int = |description: &str| json!({"description": description, "schema": {"type": "integer"}});
    let quota = json!({
        "RateLimit-Limit": int("the key's burst"),
        "RateLimit-Remaining": int("requests the key may still send now"),
        "RateLimit-Reset": int("seconds until the full burst is available again")
    });
    let mut waiting = quota.clone();
    waiting["Retry-After"] = int("seconds to wait before trying again");
    let error = |headers: &Value| json!({"description": "error", "headers": headers, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let plain_error = error(&quota);
    json!({
        "200": {"description": "OK", "headers": quota, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{ok}")}}}},
        "400": plain_error, "401": error(&json!({})), "403": plain_error, "404": plain_error, "429": error(&waiting),
        "501": plain_error, "502": plain_error, "503": error(&waiting), "504": plain_error
    })
}

fn get(summary: &str, parameters: Vec<Value>, ok: &str) -> Value {
    json!({"get": {"summary": summary, "security": [{"bearer": []}], "parameters": parameters, "responses": responses(ok)}})
}

/// The component schemas, derived with schemars from the types the handlers serialize (a
/// field, its type, its doc comment and whether it is always present come from the code),
/// plus the list envelope around each.
fn component_schemas() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    generator.subschema_for::<CreditGrant>();
    generator.subschema_for::<LedgerEntry>();
    generator.subschema_for::<CreditBalance>();
    generator.subschema_for::<ProviderInfo>();
    generator.subschema_for::<Skipped>();
    generator.subschema_for::<GrantStatus>();
    generator.subschema_for::<ErrorBody>();
    let mut schemas = generator.take_definitions(true);
    for (list, item) in [
        ("CreditGrantList", "CreditGrant"),
        ("CreditLedgerEntryList", "CreditLedgerEntry"),
        ("CreditBalanceList", "CreditBalance"),
        ("ProviderList", "ProviderInfo"),
    ] {
        schemas.insert(list.to_owned(), list_of(item));
    }
    schemas
}

/// The OpenAPI 3.1 document for HTTP API v1.
pub fn openapi_document() -> Value {
    let schemas = component_schemas();
    let mut grant_params = common_list_params();
    grant_params.push(param(
        "status",
        "only grants in this status",
        json!({"$ref": "#/components/schemas/GrantStatus"}),
    ));
    let mut ledger_params = common_list_params();
    ledger_params.push(param(
        "grant",
        "only entries of this grant (`<provider>:<vendor grant id>`)",
        json!({"type": "string"}),
    ));
    let balance_params = common_list_params().into_iter().take(2).collect();
    let grant_by_id = json!({"get": {
        "summary": "One credit grant",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "`<provider>:<vendor grant id>`"},
            param("include", "`ledger` adds the grant's entries, `raw` the vendor object", json!({"type": "string", "example": "ledger,raw"}))
        ],
        "responses": responses("CreditGrant")
    }});
    let plain =
        |description: &str| json!({"get": {"summary": description, "responses": {"200": {"description": "OK"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "creditgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One credits API in front of many billing vendors: credit grants, ledger entries and balances in one normalized model."
        },
        "paths": {
            "/v1/providers": get("Configured providers, their capabilities and health", vec![], "ProviderList"),
            "/v1/credit_grants": get("Credit grants (buckets)", grant_params, "CreditGrantList"),
            "/v1/credit_grants/{id}": grant_by_id,
            "/v1/credit_ledger_entries": get("Credit ledger entries (transactions)", ledger_params, "CreditLedgerEntryList"),
            "/v1/credit_balances": get("Balances per provider and unit", balance_params, "CreditBalanceList"),
            "/healthz": plain("Liveness"),
            "/readyz": plain("Readiness, with each provider's last call outcome"),
            "/metrics": plain("Prometheus metrics"),
            "/openapi.json": plain("This document")
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a creditgate API key from the config"}},
            "schemas": schemas
        }
    })
}
