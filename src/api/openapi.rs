//! creditgate's own OpenAPI document, built here next to the routes it describes.
//! `schemas/openapi.json` is this document checked in; a test fails when the two drift,
//! and another checks each schema's properties against what the serializers emit.

use serde_json::{json, Value};

fn money() -> Value {
    json!({
        "type": "object",
        "description": "Exact money in major units; value is a decimal string, never a float.",
        "required": ["value", "unit", "unit_type"],
        "properties": {
            "value": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "example": "12.50"},
            "unit": {"type": "string", "description": "ISO 4217 code (upper case) or a custom unit", "example": "USD"},
            "unit_type": {"type": "string", "enum": ["currency", "custom"]}
        }
    })
}

fn nullable(reference: &str) -> Value {
    json!({"oneOf": [{"$ref": reference}, {"type": "null"}]})
}

fn timestamp() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}

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

/// The OpenAPI 3.1 document for HTTP API v1.
pub fn openapi_document() -> Value {
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
            "schemas": {
                "Provider": {"type": "string", "enum": ["stripe", "metronome", "sequence", "togai", "vayu"]},
                "GrantStatus": {"type": "string", "enum": ["active", "pending", "depleted", "expired", "voided", "unknown"]},
                "Money": money(),
                "ExternalRef": {"type": "object", "required": ["system", "id"], "properties": {"system": {"type": "string"}, "id": {"type": "string"}}},
                "CreditGrant": {
                    "type": "object",
                    "required": ["object", "id", "provider", "provider_id", "customer", "name", "category", "amount", "balance", "status",
                                 "priority", "effective_at", "expires_at", "created_at", "external_refs", "metadata"],
                    "properties": {
                        "object": {"const": "credit_grant"},
                        "id": {"type": "string", "description": "`<provider>:<vendor id>`"},
                        "provider": {"$ref": "#/components/schemas/Provider"},
                        "provider_id": {"type": "string"},
                        "customer": {"type": ["string", "null"]},
                        "name": {"type": ["string", "null"]},
                        "category": {"type": ["string", "null"], "enum": ["paid", "promotional", null]},
                        "amount": {"$ref": "#/components/schemas/Money"},
                        "balance": nullable("#/components/schemas/Money"),
                        "status": {"$ref": "#/components/schemas/GrantStatus"},
                        "priority": {"type": ["number", "null"]},
                        "effective_at": timestamp(),
                        "expires_at": timestamp(),
                        "created_at": timestamp(),
                        "external_refs": {"type": "array", "items": {"$ref": "#/components/schemas/ExternalRef"}},
                        "metadata": {"type": "object"},
                        "ledger": {"type": "array", "items": {"$ref": "#/components/schemas/CreditLedgerEntry"}, "description": "with include=ledger"},
                        "raw": {"type": "object", "description": "with include=raw"}
                    }
                },
                "CreditLedgerEntry": {
                    "type": "object",
                    "required": ["object", "id", "provider", "provider_id", "customer", "grant", "type", "provider_type", "amount",
                                 "balance_after", "effective_at", "created_at", "invoice_id", "contract_id", "external_refs"],
                    "properties": {
                        "object": {"const": "credit_ledger_entry"},
                        "id": {"type": "string"},
                        "provider": {"$ref": "#/components/schemas/Provider"},
                        "provider_id": {"type": "string"},
                        "customer": {"type": ["string", "null"]},
                        "grant": {"type": ["string", "null"]},
                        "type": {"type": "string", "enum": ["grant", "debit", "expiration", "void", "adjustment", "reinstatement", "rollover", "unknown"]},
                        "provider_type": {"type": "string", "description": "the vendor's own value, always kept"},
                        "amount": {"$ref": "#/components/schemas/Money"},
                        "balance_after": nullable("#/components/schemas/Money"),
                        "effective_at": timestamp(),
                        "created_at": timestamp(),
                        "invoice_id": {"type": ["string", "null"]},
                        "contract_id": {"type": ["string", "null"]},
                        "external_refs": {"type": "array", "items": {"$ref": "#/components/schemas/ExternalRef"}},
                        "raw": {"type": "object", "description": "with include=raw"}
                    }
                },
                "CreditBalance": {
                    "type": "object",
                    "required": ["object", "provider", "customer", "unit", "unit_type", "available", "pending", "as_of"],
                    "properties": {
                        "object": {"const": "credit_balance"},
                        "provider": {"$ref": "#/components/schemas/Provider"},
                        "customer": {"type": "string"},
                        "unit": {"type": "string"},
                        "unit_type": {"type": "string", "enum": ["currency", "custom"]},
                        "available": {"$ref": "#/components/schemas/Money"},
                        "pending": nullable("#/components/schemas/Money"),
                        "as_of": {"type": "string", "format": "date-time"}
                    }
                },
                "ProviderInfo": {
                    "type": "object",
                    "required": ["object", "id", "capabilities", "paging", "health", "circuit", "outbound_rate"],
                    "properties": {
                        "object": {"const": "provider"},
                        "id": {"$ref": "#/components/schemas/Provider"},
                        "capabilities": {"type": "object", "additionalProperties": {"type": "boolean"}},
                        "paging": {"type": "string"},
                        "health": {"type": "string", "enum": ["unknown", "ok", "failing"]},
                        "circuit": {"type": "string", "enum": ["closed", "open", "half_open"]},
                        "outbound_rate": {
                            "type": "object", "required": ["requests", "per_secs"],
                            "description": "the pace creditgate keeps to at this vendor, per credential",
                            "properties": {"requests": {"type": "integer"}, "per_secs": {"type": "integer"}}
                        }
                    }
                },
                "Skipped": {
                    "type": "object",
                    "required": ["provider", "code", "message"],
                    "properties": {"provider": {"$ref": "#/components/schemas/Provider"}, "code": {"type": "string"}, "message": {"type": "string"}}
                },
                "CreditGrantList": list_of("CreditGrant"),
                "CreditLedgerEntryList": list_of("CreditLedgerEntry"),
                "CreditBalanceList": list_of("CreditBalance"),
                "ProviderList": list_of("ProviderInfo"),
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["type", "code", "message", "request_id"],
                        "properties": {
                            "type": {"type": "string", "enum": ["invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                                                                "rate_limit_error", "unsupported_error", "upstream_error", "upstream_unavailable",
                                                                "upstream_timeout", "api_error"]},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "param": {"type": "string"},
                            "provider": {"$ref": "#/components/schemas/Provider"},
                            "request_id": {"type": "string"}
                        }
                    }}
                }
            }
        }
    })
}
